"""Table V from the trial store: per-subtask success rates per policy, the paper's numbers beside.

Rates are *conditional*, as in the paper: a subtask's rate is its successes over the trials that
attempted it (a failed subtask ends the trial). This is what the paper's numbers imply: with 30
trials per encoder, RoboAct-CLIP's 66.7 / 60.0 / 58.3 / 71.4 are 20/30, 12/20, 7/12, 5/7, and
the average column is the mean of the four rates (64.1). ``n`` (attempts) is printed beside every
rate; faults (stops, controller errors) count as failures of the subtask in flight. A trial a lost
connection or a timeout ended is not counted: it is interrupted and rerun on resume (the plan's
``retry_connection_faults``, on by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roboact.hardware.trial_store import FAILURE, SUCCESS, TrialStore

from roboact.paper import TABLE_V as PAPER_TABLE_V  # the paper's numbers live in roboact.paper
from roboact.paper import TABLE_V_SUBTASKS as PAPER_SUBTASKS
from roboact.report import escape_markdown


def table_v_dict(store_path: str | Path, plan: str | None = None) -> dict[str, Any]:
    """Measured rates per policy and subtask, plus the paper's table, as plain data."""
    with TrialStore(store_path) as store:
        rows = store.subtask_results(plan)
        trials = [t for t in store.trials(plan) if t["status"] in ("completed", "failed")]
    subtasks: list[str] = []
    stats: dict[str, dict[str, dict[str, int]]] = {}
    for row in rows:
        if row["name"] not in subtasks:
            subtasks.append(row["name"])
        cell = stats.setdefault(row["policy"], {}).setdefault(row["name"], {"success": 0, "attempts": 0})
        if row["outcome"] in (SUCCESS, FAILURE):
            cell["attempts"] += 1
            cell["success"] += row["outcome"] == SUCCESS
    policies: dict[str, Any] = {}
    for policy, cells in stats.items():
        out: dict[str, Any] = {}
        for name in subtasks:
            c = cells.get(name, {"success": 0, "attempts": 0})
            rate = 100.0 * c["success"] / c["attempts"] if c["attempts"] else None
            out[name] = {**c, "rate": rate}
        rates = [v["rate"] for v in out.values() if v["rate"] is not None]
        mine = [t for t in trials if t["policy"] == policy]
        policies[policy] = {
            "backends": sorted({t["backend"] for t in mine if t.get("backend")}),
            "subtasks": out,
            "avg": sum(rates) / len(rates) if rates else None,
            "trials": len(mine),
            "faults": sum(t["status"] == "failed" for t in mine),
        }
    return {
        "subtasks": subtasks,
        "policies": policies,
        "paper": {"subtasks": list(PAPER_SUBTASKS), "rows": PAPER_TABLE_V},
    }


ARMS = {
    "jaka": "the real JAKA arm",
    "fake": "the fake JAKA controller (no arm, no physics)",
    "sim": "the simulated arm (MuJoCo)",
}
"""what each trial backend is, in the words a table title needs"""


def _fmt(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1f}"


def table_v(store_path: str | Path, plan: str | None = None) -> str:
    """Markdown: our measured Table V, then the paper's Table V, clearly labelled."""
    data = table_v_dict(store_path, plan)
    subtasks = data["subtasks"]
    backends = sorted({b for row in data["policies"].values() for b in row["backends"]})
    where = ", ".join(ARMS.get(b, b) for b in backends) or "no arm yet"
    # only trials on the real arm make the paper's "real-world" table; say which arm ran
    real = backends == ["jaka"]
    title = "Table V: real-world manipulation" if real else "Table V protocol, not the real arm:"
    lines = [
        f"### {title} success rates (%), measured on {where}",
        "",
        f"Store: {escape_markdown(store_path)}"
        + (f", plan {escape_markdown(plan)}" if plan else "")
        + ". Rates are successes / attempts of each subtask (a failed subtask ends the trial); n = attempts.",
        "",
        "| Policy | "
        + " | ".join(map(escape_markdown, subtasks))
        + " | Avg. Success | Trials | Ended by fault |",
        "|---|" + "---|" * (len(subtasks) + 3),
    ]
    for policy, row in data["policies"].items():
        cells = [f"{_fmt(row['subtasks'][s]['rate'])} (n={row['subtasks'][s]['attempts']})" for s in subtasks]
        lines.append(
            f"| {escape_markdown(policy)} | "
            + " | ".join(cells)
            + f" | {_fmt(row['avg'])} | {row['trials']} | {row['faults']} |"
        )
    if not data["policies"]:
        lines.append("| (no finished trials) |" + " |" * (len(subtasks) + 3))
    lines += [
        "",
        "### Table V as published (paper Sec. IV.D, JAKA K-1; not measured here)",
        "",
        "| Encoder | " + " | ".join(PAPER_SUBTASKS) + " | Avg. Success |",
        "|---|" + "---|" * (len(PAPER_SUBTASKS) + 1),
    ]
    for name, (rates, avg) in PAPER_TABLE_V.items():
        lines.append(f"| {name} | " + " | ".join(f"{r:.1f}" for r in rates) + f" | {avg:.1f} |")
    return "\n".join(lines) + "\n"
