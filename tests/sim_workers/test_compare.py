"""Paired comparisons: Wilson CI from scipy, pairing on shared episodes, exact McNemar, bootstrap CI."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.sim_workers.compare import (
    default_baseline,
    mcnemar_exact,
    paired_difference_ci,
    paired_markdown,
    paired_table,
)
from roboact.sim_workers.results import wilson_interval
from scipy import stats

BASE = "/runs/x/policy/libero_roboact-clip"
FRAMES = "/runs/x/policy/libero_frame-features"


def _rec(policy, ep, success, task="T1", suite="libero"):
    return {
        "policy": policy,
        "suite": suite,
        "task": task,
        "episode": ep,
        "seed": 1000 + ep,
        "success": success,
    }


def _row(rows, policy, task="overall"):
    return next(r for r in rows if r["policy"] == policy and r["task"] == task)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 4), (8, 10), (50, 50), (17, 50)])
def test_wilson_interval_is_scipys(k, n):
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-4)
    # z=1.96 exactly (the default) is scipy's interval at the matching confidence level
    exact = stats.binomtest(k, n).proportion_ci(
        confidence_level=2 * stats.norm.cdf(1.96) - 1, method="wilson"
    )
    assert wilson_interval(k, n) == pytest.approx((exact.low, exact.high), rel=1e-12)


def test_paired_rows_report_wilson_ci_per_task_and_overall():
    recs = [_rec(BASE, e, e < 3) for e in range(5)] + [_rec(BASE, e, True, task="T3") for e in range(5)]
    rows = paired_table(recs, BASE)
    t1, overall = _row(rows, BASE, "T1"), _row(rows, BASE)
    assert (t1["n"], t1["successes"], t1["rate"]) == (5, 3, 0.6)
    assert (t1["ci_low"], t1["ci_high"]) == pytest.approx(wilson_interval(3, 5))
    assert (overall["n"], overall["successes"]) == (10, 8)
    assert rows[0]["task"] == "overall" and rows[0]["is_baseline"]


def test_pairing_uses_only_the_episodes_both_rows_ran():
    recs = [_rec(BASE, e, True) for e in range(6)]  # baseline: episodes 0-5
    recs += [_rec(FRAMES, e, False) for e in range(3, 10)]  # other: episodes 3-9, three shared
    recs += [_rec(FRAMES, 3, False, suite="kitchen")]  # same task/episode/seed, other suite: not paired
    row = _row(paired_table(recs, BASE), FRAMES)
    assert row["n"] == 8  # its success rate covers all its episodes
    assert row["pairs"] == 3
    assert (row["b"], row["c"]) == (0, 3)
    assert row["diff"] == pytest.approx(-1.0)


def test_a_row_with_no_shared_episode_has_no_difference():
    recs = [_rec(BASE, 0, True), _rec(FRAMES, 1, True)]
    row = _row(paired_table(recs, BASE), FRAMES)
    assert row["pairs"] == 0 and row["diff"] is None and row["p_mcnemar"] is None


def test_exact_mcnemar_on_discordant_pairs():
    # b = 8 (row succeeded where the baseline failed), c = 0, plus concordant pairs that must not count
    recs = [_rec(BASE, e, False) for e in range(8)] + [_rec(FRAMES, e, True) for e in range(8)]
    recs += [_rec(BASE, e, e % 2 == 0) for e in range(8, 20)] + [
        _rec(FRAMES, e, e % 2 == 0) for e in range(8, 20)
    ]
    row = _row(paired_table(recs, BASE), FRAMES)
    assert (row["b"], row["c"], row["pairs"]) == (8, 0, 20)
    assert row["p_mcnemar"] == pytest.approx(2 * 0.5**8)
    assert mcnemar_exact(0, 8) == pytest.approx(2 * 0.5**8)
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pair: no evidence either way


def test_bootstrap_ci_contains_the_point_difference_and_is_reproducible():
    rng = np.random.default_rng(3)
    x, y = rng.random(40) < 0.7, rng.random(40) < 0.4
    lo, hi = paired_difference_ci(x, y)
    assert lo <= np.mean(x) - np.mean(y) <= hi
    assert lo < hi
    assert paired_difference_ci(x, y) == (lo, hi)  # fixed seed


@pytest.mark.parametrize("value", [True, False])
def test_bootstrap_ci_is_the_point_difference_when_all_differences_are_equal(value):
    both = np.full(10, value)
    assert paired_difference_ci(both, both) == (0.0, 0.0)
    assert paired_difference_ci(np.ones(5, bool), np.zeros(5, bool)) == (1.0, 1.0)
    assert paired_difference_ci(np.array([True]), np.array([False])) == (1.0, 1.0)


def test_all_succeed_rows_do_not_crash_and_report_zero_difference():
    recs = [_rec(p, e, True) for p in (BASE, FRAMES) for e in range(10)]
    row = _row(paired_table(recs, BASE), FRAMES)
    assert (row["diff"], row["diff_low"], row["diff_high"], row["p_mcnemar"]) == (0.0, 0.0, 0.0, 1.0)


def test_tasks_filter_and_baseline_by_label():
    recs = [_rec(p, e, True, task=t) for p in (BASE, FRAMES) for e in range(3) for t in ("T1", "T2")]
    rows = paired_table(recs, "libero_roboact-clip", tasks=["T2"])
    assert {r["task"] for r in rows} == {"overall", "T2"}
    assert _row(rows, BASE)["is_baseline"] and _row(rows, FRAMES)["pairs"] == 3


def test_default_baseline_prefers_the_roboact_head_by_label():
    assert default_baseline([FRAMES, BASE, "expert"]) == BASE
    # "roboact" in a parent directory does not count; then the first alphabetically
    assert default_baseline(["/c/roboact/b_head", "/c/roboact/a_head"]) == "/c/roboact/a_head"


def test_markdown_names_the_pairing_and_the_tests():
    recs = [_rec(BASE, e, e < 2) for e in range(4)] + [_rec(FRAMES, e, e < 3) for e in range(4)]
    text = paired_markdown(paired_table(recs, BASE))
    head = text.splitlines()[0]
    assert "paired by suite, task, episode and seed" in head
    assert "Wilson" in head and "bootstrap" in head and "McNemar" in head
    lines = [line for line in text.splitlines() if line.startswith("| overall |")]
    assert lines[0].startswith("| overall | libero_roboact-clip | 50.0 [") and "baseline" in lines[0]
    assert "| 4 | +25.0 [" in lines[1] and "| 1 / 0 | 1 |" in lines[1]
