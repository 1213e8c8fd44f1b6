"""Per-episode JSONL: append, dedupe (first wins), torn lines; Wilson intervals; aggregation."""

from __future__ import annotations

import json
import math

import pytest
from roboact.sim_workers.results import ResultsLog, aggregate, wilson_interval


def _rec(ep, success, task="T1", policy="p", steps=10):
    return {
        "policy": policy,
        "suite": "libero",
        "task": task,
        "episode": ep,
        "seed": ep,
        "success": success,
        "steps": steps,
        "max_steps": 200,
    }


def test_wilson_matches_the_closed_form():
    lo, hi = wilson_interval(8, 10)
    z, n, p = 1.96, 10, 0.8
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_log_dedupes_on_episode_key_and_skips_torn_lines(tmp_path):
    log = ResultsLog(tmp_path)
    log.append(_rec(0, True))
    log.append(_rec(1, False))
    log.append(_rec(0, False))  # a duplicate of episode 0: must not count
    with log.path.open("a") as fh:
        fh.write('{"policy": "p", "suite": "lib')  # driver killed mid-write
    got = log.read()
    assert len(got) == 2
    assert got[("p", "libero", "T1", 0, 0)]["success"] is True


def test_append_rejects_records_without_key_fields(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        ResultsLog(tmp_path).append({"policy": "p", "suite": "s", "task": "t", "episode": 0})


def test_aggregate_counts_rates_per_policy_and_task():
    recs = [_rec(i, i < 3) for i in range(4)] + [_rec(0, True, task="T2", steps=30)]
    agg = aggregate(recs)
    t1 = agg[("p", "libero", "T1")]
    assert (t1["episodes"], t1["successes"], t1["rate"]) == (4, 3, 0.75)
    assert (t1["ci_low"], t1["ci_high"]) == pytest.approx(wilson_interval(3, 4))
    assert agg[("p", "libero", "T2")]["mean_steps"] == 30
    assert json.dumps(agg[("p", "libero", "T2")])  # JSON-serialisable summary
