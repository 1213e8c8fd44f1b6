"""Paired comparisons of policies evaluated on the same episodes (issue #14, item 5).

Every row of a run directory is evaluated on the same starts: the same (suite, task, episode, seed)
and therefore the same LIBERO init state or Kitchen seed. Comparing two rows by their separate
Wilson intervals throws that pairing away; the paired view asks, on the episodes both rows ran,
how often one succeeded where the other failed. We report, per policy and task (and pooled
"overall"):

- success with a Wilson 95 % CI (all of the row's episodes, :func:`results.wilson_interval`);
- for each non-baseline row, on the episodes it shares with the baseline only: the difference in
  success rate (row - baseline) with a paired bootstrap 95 % CI (``scipy.stats.bootstrap``, BCa,
  fixed seed so a report is reproducible), the discordant counts ``b`` (row succeeded, baseline
  failed) and ``c`` (the reverse), and the exact McNemar p-value: a two-sided binomial test of
  ``b`` out of ``b + c`` against 1/2 (``scipy.stats.binomtest``).

Degenerate cases, by choice rather than by crash: when every paired difference is equal (both rows
succeed, or both fail, on every shared episode; or a single pair) every bootstrap resample has the
same mean, scipy warns and returns NaN, so we return the point difference as both bounds; with no
discordant pairs the McNemar p-value is 1.0 (no evidence either way); with no shared episodes the
difference, its CI and the p-value are ``None``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from roboact.sim_workers.results import wilson_interval
from scipy import stats

OVERALL = "overall"
BUILTIN_POLICIES = ("expert", "random", "zero")
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 9999
CONFIDENCE = 0.95

# (suite, task, episode, seed): what makes two rows' episodes the same start.
PairKey = tuple[str, str, int, int]


def policy_label(policy: str) -> str:
    """A checkpoint's directory name (its full path is the results key), or the built-in's name."""
    return policy if "/" not in policy else Path(policy).name


def learned_policies(records: Iterable[dict[str, Any]]) -> list[str]:
    """Policies in ``records`` that are checkpoints, not the built-in expert/random/zero."""
    return sorted({str(r["policy"]) for r in records} - set(BUILTIN_POLICIES))


def default_baseline(policies: Iterable[str]) -> str:
    """The RoboAct-CLIP row if there is one, else the first policy alphabetically.

    Matched on the label (the checkpoint's directory name), case-insensitively: the full path of
    every head may contain "roboact" (e.g. ``~/.cache/roboact/runs/...``).
    """
    ordered = sorted(policies)
    if not ordered:
        raise ValueError("no policies to choose a baseline from")
    return next((p for p in ordered if "roboact" in policy_label(p).lower()), ordered[0])


def resolve_policy(policies: Iterable[str], name: str) -> str:
    """A policy key from its key or its label (a head's directory name), if that names exactly one."""
    policies = sorted(policies)
    if name in policies:
        return name
    hits = [p for p in policies if policy_label(p) == name]
    if len(hits) != 1:
        raise ValueError(f"baseline {name!r} names {len(hits)} of the policies {policies}")
    return hits[0]


def _outcomes(
    records: Iterable[dict[str, Any]], tasks: Iterable[str] | None
) -> dict[str, dict[PairKey, bool]]:
    """Success by pairing key, per policy (first record of a key wins, as in ``ResultsLog``)."""
    keep = None if tasks is None else set(tasks)
    out: dict[str, dict[PairKey, bool]] = defaultdict(dict)
    for r in records:
        if keep is None or r["task"] in keep:
            key = (str(r["suite"]), str(r["task"]), int(r["episode"]), int(r["seed"]))
            out[str(r["policy"])].setdefault(key, bool(r["success"]))
    return out


def paired_difference_ci(row: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """Paired bootstrap 95 % CI of mean(row - base); the point difference twice when degenerate."""
    diff = row.astype(float) - base.astype(float)
    if diff.size == 0:
        raise ValueError("no paired episodes")
    if np.all(diff == diff[0]):  # every resample has the same mean: no spread to estimate
        return float(diff[0]), float(diff[0])
    res = stats.bootstrap(
        (row.astype(float), base.astype(float)),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b successes of b + c discordant pairs against 1/2."""
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(b, b + c, 0.5).pvalue)


def _success_cells(outcomes: dict[PairKey, bool]) -> dict[str, Any]:
    n, k = len(outcomes), sum(outcomes.values())
    lo, hi = wilson_interval(k, n)
    return {"n": n, "successes": k, "rate": k / n if n else 0.0, "ci_low": lo, "ci_high": hi}


def _paired_cells(row: dict[PairKey, bool], base: dict[PairKey, bool]) -> dict[str, Any]:
    """Difference, CI, discordant counts and McNemar p on the episodes both rows ran."""
    shared = sorted(row.keys() & base.keys())
    out: dict[str, Any] = {"pairs": len(shared), "diff": None, "diff_low": None, "diff_high": None}
    out.update(b=None, c=None, p_mcnemar=None)
    if not shared:
        return out
    x = np.array([row[k] for k in shared])
    y = np.array([base[k] for k in shared])
    b, c = int(np.sum(x & ~y)), int(np.sum(~x & y))
    lo, hi = paired_difference_ci(x, y)
    out.update(diff=float(np.mean(x) - np.mean(y)), diff_low=lo, diff_high=hi, b=b, c=c)
    out["p_mcnemar"] = mcnemar_exact(b, c)
    return out


def _task_order(task: str) -> tuple[bool, str]:
    return (len(task) > 2, task)  # T1..T6 before kitchen names, as in the bar plot


def paired_table(
    records: Iterable[dict[str, Any]], baseline: str, tasks: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """One row per (task, policy), "overall" (pooled over the tasks) first, baseline first in each.

    ``baseline`` is a policy key or its label. Every row: policy, label, task, is_baseline, n,
    successes, rate, ci_low, ci_high; then, on the episodes shared with ``baseline`` (keyed by
    suite, task, episode, seed): pairs, diff (policy - baseline), diff_low, diff_high, b, c,
    p_mcnemar (pairs 0 and the rest ``None`` for the baseline row and rows with no shared episode).
    """
    by_policy = _outcomes(records, tasks)
    baseline = resolve_policy(by_policy, baseline)
    policies = [baseline] + sorted(p for p in by_policy if p != baseline)
    task_names = sorted({k[1] for o in by_policy.values() for k in o}, key=_task_order)
    rows = []
    for task in [OVERALL, *task_names]:
        base = {k: v for k, v in by_policy[baseline].items() if task in (OVERALL, k[1])}
        for policy in policies:
            mine = {k: v for k, v in by_policy[policy].items() if task in (OVERALL, k[1])}
            if not mine:
                continue
            row = {"policy": policy, "label": policy_label(policy), "task": task}
            row.update(is_baseline=policy == baseline, **_success_cells(mine))
            row.update(_paired_cells(mine, {} if policy == baseline else base))
            rows.append(row)
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _diff_cell(row: dict[str, Any]) -> str:
    if row["is_baseline"]:
        return "baseline"
    if row["diff"] is None:
        return "-"
    return f"{100 * row['diff']:+.1f} [{100 * row['diff_low']:+.1f}, {100 * row['diff_high']:+.1f}]"


def paired_markdown(rows: list[dict[str, Any]]) -> str:
    """A compact Markdown table of :func:`paired_table`'s rows, headed by what ran and the tests."""
    if not rows:
        return ""
    base = next(r["label"] for r in rows if r["is_baseline"])
    labels = sorted({r["label"] for r in rows})
    lines = [
        f"Paired comparison of {len(labels)} policies ({', '.join(labels)}) against **{base}**: "
        "episodes paired by suite, task, episode and seed (the same init state / start), only "
        "episodes both rows ran. Success % [Wilson 95 % CI] over all of a row's episodes; "
        "difference in percentage points (row - baseline) on the paired episodes with a paired "
        f"bootstrap 95 % CI (BCa, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}); "
        "b / c = discordant pairs (row only / baseline only succeeded); p = exact McNemar "
        "(two-sided binomial test of b in b + c).",
        "",
        "| task | policy | success % [95 % CI] (n) | pairs | diff pp [95 % CI] | b / c | McNemar p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        success = f"{_pct(r['rate'])} [{_pct(r['ci_low'])}, {_pct(r['ci_high'])}] ({r['n']})"
        bc = "-" if r["b"] is None else f"{r['b']} / {r['c']}"
        p = "-" if r["p_mcnemar"] is None else f"{r['p_mcnemar']:.3g}"
        pairs = "-" if r["is_baseline"] else str(r["pairs"])
        lines.append(f"| {r['task']} | {r['label']} | {success} | {pairs} | {_diff_cell(r)} | {bc} | {p} |")
    return "\n".join(lines) + "\n"
