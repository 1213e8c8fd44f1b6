"""The paper's simulation tables with our measured rows beside them, and a bar plot.

Paper numbers are copied verbatim from the paper's Table II (LIBERO T1-T4), Table III (unseen
T5/T6) and Table IV (Franka Kitchen) and labelled "paper"; our rows come from a run's
``episodes.jsonl`` and carry the episode count, horizon and a Wilson 95 % CI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from roboact.sim_workers.compare import (
    default_baseline,
    learned_policies,
    paired_markdown,
    paired_table,
    policy_label,
)
from roboact.sim_workers.results import ResultsLog, aggregate

from roboact.paper import PAPER_TABLES  # the paper's Tables II-IV live in roboact.paper

logger = logging.getLogger(__name__)


def build_tables(
    records: list[dict[str, Any]], only_evaluated: bool = False, tables: Sequence[str] | None = None
) -> str:
    """Markdown: each paper table, paper rows first, then one row per evaluated policy ("ours").

    ``only_evaluated`` leaves out the tables none of whose tasks ran (named in one closing line):
    a report with one section per suite then shows each paper table once, where it was measured.
    ``tables`` (e.g. ``["Table III"]``) renders only those tables and names no other as skipped: a
    bench report section that holds one table's episodes says nothing of the tables of its neighbours.
    """
    agg = aggregate(records)
    by_policy: dict[str, dict[str, dict[str, Any]]] = {}
    for (policy, _suite, task), val in agg.items():
        by_policy.setdefault(policy, {})[task] = val
    lines: list[str] = []
    skipped: list[str] = []
    for title, cols, rows in PAPER_TABLES:
        if tables is not None and title.split(":")[0] not in tables:
            continue
        task_cols = [c for c in cols if c != "Overall"]
        ours = {p: v for p, v in by_policy.items() if any(t in v for t in task_cols)}
        if only_evaluated and not ours:
            skipped.append(f"{title.split(':')[0]} ({', '.join(task_cols)})")
            continue
        lines += [
            f"### {title}",
            "",
            "| Source | Encoder / policy | " + " | ".join(cols) + " |",
            "|---|---|" + "---|" * len(cols),
        ]
        for name, vals in rows:
            lines.append(f"| paper | {name} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
        for policy, per_task in sorted(ours.items()):
            cells, k_all, n_all = [], 0, 0
            for c in task_cols:
                if c in per_task:
                    v = per_task[c]
                    k_all, n_all = k_all + v["successes"], n_all + v["episodes"]
                    cells.append(
                        f"{100 * v['rate']:.1f} [{100 * v['ci_low']:.0f}, {100 * v['ci_high']:.0f}] "
                        f"(n={v['episodes']})"
                    )
                else:
                    cells.append("-")
            if "Overall" in cols:
                cells.append(f"{100 * k_all / n_all:.1f}" if n_all else "-")
            horizon = max(v["max_steps"] for v in per_task.values())
            lines.append(f"| ours | {policy_label(policy)} ({horizon} steps) | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("Ours: success rate % [Wilson 95 % CI] (episodes); paper rows copied from the paper.")
    if skipped:
        lines.append(f"Tables with no episodes in this run directory: {'; '.join(skipped)}.")
    return "\n".join(lines) + "\n"


def bar_plot(records: list[dict[str, Any]], path: str | Path) -> Path | None:
    """Per-task success rate with 95 % CI error bars, one bar group per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    agg = aggregate(records)
    if not agg:
        return None
    tasks = sorted({k[2] for k in agg}, key=lambda t: (len(t) > 2, t))
    policies = sorted({k[0] for k in agg})
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(tasks) * max(1, len(policies)) ** 0.5, 3.2))
    width = 0.8 / len(policies)
    x = np.arange(len(tasks))
    for i, pol in enumerate(policies):
        vals, lo, hi = [], [], []
        for t in tasks:
            v = next((val for key, val in agg.items() if key[0] == pol and key[2] == t), None)
            r = v["rate"] if v else 0.0
            vals.append(100 * r)
            lo.append(100 * (r - v["ci_low"]) if v else 0)
            hi.append(100 * (v["ci_high"] - r) if v else 0)
        ax.bar(x + i * width, vals, width, yerr=[lo, hi], capsize=3, label=policy_label(pol))
    ax.set_xticks(x + width * (len(policies) - 1) / 2, tasks)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def paired_section(records: list[dict[str, Any]], baseline: str | None = None) -> str:
    """The paired-comparison table when two or more learned policies ran here, else "".

    One learned head has nothing to be paired with (the expert is a ceiling, not a row of the
    paper's tables); with two or more, every policy in the run (expert included) is compared
    with ``baseline`` (default: the RoboAct-CLIP head, see ``compare.default_baseline``).
    """
    learned = learned_policies(records)
    if len(learned) < 2:
        return ""
    base = baseline or default_baseline(learned)
    return "### Paired comparison\n\n" + paired_markdown(paired_table(records, base))


def render_tables(run_dir: str | Path, only_evaluated: bool = False, baseline: str | None = None) -> str:
    """Write ``tables.md`` and ``success.png`` for a run directory; return the Markdown.

    With two or more learned policies the paired comparison against ``baseline`` (a policy key as
    in ``episodes.jsonl``; default the RoboAct-CLIP head) follows the paper tables.
    """
    run_dir = Path(run_dir)
    records = list(ResultsLog(run_dir).read().values())
    if not records:
        raise FileNotFoundError(f"{run_dir / 'episodes.jsonl'}: no finished episodes to tabulate")
    text = build_tables(records, only_evaluated)
    paired = paired_section(records, baseline)
    if paired:
        text += "\n" + paired
    (run_dir / "tables.md").write_text(text)
    bar_plot(records, run_dir / "success.png")
    return text
