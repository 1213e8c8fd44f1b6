"""The one screen a demo report opens with: headline numbers with their CIs beside the paper's.

A reader of ``roboact demo``'s report wants three answers before any detail: how well did
recognition and the learned policies do, how does that compare with the paper, and what did this
run leave out. Everything here is read back from the stage summaries the run wrote
(``stages/<stage>.json``), so a rerun of ``roboact report`` rebuilds it without recomputing.
Intervals: Wilson 95 % for success rates and accuracies (a proportion over n episodes or n test
clips), the same interval the evaluation tables use.
"""

from __future__ import annotations

from typing import Any

from roboact.paper import RECOGNITION, RECOGNITION_SECTION, TABLE_V, paper_row

# Which paper table a suite's success rates belong to, and the paper row our rows stand beside.
_SUITE_TABLES = {"libero": ("II", "Table II"), "kitchen": ("IV", "Table IV")}
_OURS = "RoboAct-CLIP (Ours)"
_STAGE_NAMES = {
    "data": "data",
    "features": "features",
    "train": "RoboAct-CLIP fit",
    "tune": "loss-weight sweep",
    "recognition": "recognition",
    "sim_demos": "scripted demonstrations",
    "policy": "policy heads",
    "sim_eval": "simulator evaluation",
    "hardware": "hardware trials",
}


def _pct_ci(successes: int, n: int) -> str:
    from roboact.sim_workers.results import wilson_interval

    lo, hi = wilson_interval(successes, n)
    return f"**{100 * successes / n:.1f}** [{100 * lo:.0f}, {100 * hi:.0f}] ({successes}/{n})"


def recognition_rows(stage: dict[str, Any]) -> list[str]:
    """One row per factor: the main model's test accuracy (auxiliary head) beside Sec. IV-A."""
    main = (stage.get("metrics") or {}).get("main") or {}
    n = int(main.get("n") or 0)
    rows = []
    for factor, by_source in (main.get("accuracy") or {}).items():
        acc = by_source.get("aux")
        if acc is None or n == 0:
            continue
        k = round(float(acc) * n)
        paper = RECOGNITION["16 frames"].get(factor)
        rows.append(
            f"| recognition: {factor} accuracy, test clips | {_pct_ci(k, n)} | "
            f"{'-' if paper is None else f'{paper:.2f}'} ({RECOGNITION_SECTION}, 199,797 real videos) |"
        )
    return rows


def policy_rows(stage: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Per suite and head: success pooled over the evaluated tasks, beside the paper's RoboAct-CLIP
    mean over the same tasks; plus the paper tasks that were not evaluated."""
    rows: list[str] = []
    evaluated: dict[str, set[str]] = {}
    for name, m in sorted((stage.get("metrics") or {}).items()):
        if not isinstance(m, dict) or "tasks" not in m:
            continue
        suite = m.get("suite", name.split("/")[0])
        tasks = sorted(m["tasks"])
        evaluated.setdefault(suite, set()).update(tasks)
        k = sum(int(t["successes"]) for t in m["tasks"].values())
        n = sum(int(t["episodes"]) for t in m["tasks"].values())
        if n == 0:
            continue
        key, label = _SUITE_TABLES.get(suite, ("", suite))
        paper = ""
        if key:
            ours = paper_row(key, _OURS)
            vals = [ours[t] for t in tasks if t in ours]
            paper = f"{sum(vals) / len(vals):.1f} ({label}, mean over the same tasks)" if vals else ""
        head = name.split("/", 1)[-1]
        rows.append(
            f"| {label} {', '.join(tasks)}: `{head}` head success, simulated, "
            f"{m.get('max_steps', '?')} steps | {_pct_ci(k, n)} | {paper or '-'} |"
        )
    missing = []
    for suite, (key, label) in _SUITE_TABLES.items():
        left = [t for t in paper_row(key, _OURS) if t != "Overall" and t not in evaluated.get(suite, set())]
        if left:
            missing.append(f"{label} tasks {', '.join(left)}")
    return rows, missing


def hardware_rows(stage: dict[str, Any]) -> list[str]:
    """The trial batch: what ran and on which arm, then each policy's average subtask success; the
    paper's real-arm average beside it only as context (a simulated arm is not the paper's
    experiment)."""
    m = stage.get("metrics") or {}
    trials = m.get("trials", m)  # stage summaries before the learned head held the batch's alone
    backend = trials.get("backend", "?")
    counts = trials.get("counts") or {}
    done, ran = int(counts.get("completed", 0)), int(trials.get("ran", 0))
    arm = "real JAKA arm" if backend == "jaka" else f"{backend} backend, not the real arm"
    paper = TABLE_V[_OURS][1]
    rows = [f"| trial batch `{trials.get('plan', '?')}` ({arm}): trials completed | {done}/{ran} | - |"]
    kinds = m.get("policy_kinds") or {}
    for name, pol in ((m.get("table_v") or {}).get("policies") or {}).items():
        if pol.get("avg") is None:
            continue
        beside = (
            "-" if kinds.get(name) == "scripted" else f"{paper:.1f} (Table V, real arm, RoboAct-CLIP head)"
        )
        rows.append(
            f"| arm ({arm}): `{name}` average subtask success (Table V's Avg.: the mean of its "
            f"subtasks' rates) | **{pol['avg']:.1f}** ({pol['trials']} trials) | {beside} |"
        )
    return rows


def headline_markdown(stages: list[dict[str, Any]], planned: list[str] | None = None) -> list[str]:
    """The headline section: a table of the numbers that matter, then what was not run and why."""
    by_name = {s["stage"]: s for s in stages}
    rows: list[str] = []
    missing: list[str] = []
    if "recognition" in by_name:
        rows += recognition_rows(by_name["recognition"])
    if "sim_eval" in by_name:
        pol, missing = policy_rows(by_name["sim_eval"])
        rows += pol
    if "hardware" in by_name:
        rows += hardware_rows(by_name["hardware"])
    if not rows:
        return []
    lines = [
        "## Headline: ours (measured in this run) beside the paper's",
        "",
        "| what | ours [Wilson 95 % CI] | paper |",
        "|---|---|---|",
        *rows,
        "",
    ]
    not_run = [_STAGE_NAMES.get(s, s) for s in (planned or []) if s not in by_name]
    reasons = []
    if missing:
        reasons.append(
            "not evaluated at this scale: " + "; ".join(missing) + " (the demo's 30-minute budget; "
            "`roboact bench paper` runs every task and row, docs/bench.md)"
        )
    if not_run:
        reasons.append("stages not run (not in `stages`, or not finished): " + ", ".join(not_run))
    reasons.append(
        "paper rows R3M, MPI and Robotic-CLIP are the paper's numbers only: no weights ship with any "
        "registry package and nothing is downloaded"
    )
    lines += ["**Not run, and why:**", "", *[f"- {r}" for r in reasons], ""]
    return lines
