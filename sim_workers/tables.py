"""The paper's simulation tables with our measured rows beside them, and a bar plot.

Paper numbers are copied verbatim from the paper's Table II (LIBERO T1-T4), Table III (unseen
T5/T6) and Table IV (Franka Kitchen) and labelled "paper"; our rows come from a run's
``episodes.jsonl`` and carry the episode count, horizon and a Wilson 95 % CI.
"""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)

# (title, tasks, rows of (encoder, values..., overall or None)) exactly as printed in the paper.
PAPER_TABLES: list[tuple[str, list[str], list[tuple[str, list[float]]]]] = [
    (
        "Table II: LIBERO success rates (%), same downstream policy",
        ["T1", "T2", "T3", "T4", "Overall"],
        [
            ("R3M", [46.0, 80.0, 58.0, 52.0, 59.0]),
            ("MPI (Small)", [50.0, 74.0, 38.0, 66.0, 57.0]),
            ("MPI (Base)", [62.0, 70.0, 44.0, 82.0, 64.5]),
            ("CLIP", [86.0, 76.0, 22.0, 20.0, 51.0]),
            ("Robotic-CLIP", [88.0, 82.0, 38.0, 46.0, 63.5]),
            ("RoboAct-CLIP (Ours)", [90.0, 84.0, 56.0, 76.0, 76.5]),
            ("- w/o Spatiotemporal Diff-Transformer", [78.0, 72.0, 47.0, 53.0, 62.5]),
            ("- w/o Feature Disentanglement", [88.0, 76.0, 56.0, 60.0, 70.0]),
            ("- w/o Recombination Contrastive Loss", [85.0, 78.0, 53.0, 67.0, 70.8]),
            ("- w/o Auxiliary Classification Loss", [84.0, 80.0, 54.0, 74.0, 73.0]),
            ("- Shorter sequence (n=2)", [74.0, 69.0, 50.0, 62.0, 63.8]),
            ("- Only original CLIP frame features", [88.0, 79.0, 28.0, 32.0, 56.7]),
        ],
    ),
    (
        "Table III: unseen LIBERO tasks, success rates (%)",
        ["T5", "T6"],
        [
            ("R3M", [0.0, 0.0]),
            ("MPI (Small)", [0.0, 0.0]),
            ("MPI (Base)", [0.0, 0.0]),
            ("CLIP", [0.0, 0.0]),
            ("Robotic-CLIP", [0.0, 0.0]),
            ("RoboAct-CLIP (Ours)", [4.0, 16.0]),
        ],
    ),
    (
        "Table IV: Franka Kitchen success rates (%)",
        ["knob", "door", "switch", "micro", "slide", "Overall"],
        [
            ("R3M", [53.6, 49.8, 85.9, 58.7, 98.2, 69.2]),
            ("MPI (Small)", [84.1, 49.5, 88.8, 58.8, 99.4, 76.1]),
            ("MPI (Base)", [88.1, 57.1, 94.0, 54.1, 99.4, 78.5]),
            ("CLIP", [26.9, 12.0, 42.3, 25.1, 86.0, 38.5]),
            ("Robotic-CLIP", [76.0, 42.0, 86.0, 52.0, 94.0, 70.0]),
            ("RoboAct-CLIP (Ours)", [92.0, 68.0, 96.0, 66.0, 99.2, 84.2]),
        ],
    ),
]


def build_tables(records: list[dict[str, Any]], only_evaluated: bool = False) -> str:
    """Markdown: each paper table, paper rows first, then one row per evaluated policy ("ours").

    ``only_evaluated`` leaves out the tables none of whose tasks ran (named in one closing line):
    a report with one section per suite then shows each paper table once, where it was measured.
    """
    agg = aggregate(records)
    by_policy: dict[str, dict[str, dict[str, Any]]] = {}
    for (policy, _suite, task), val in agg.items():
        by_policy.setdefault(policy, {})[task] = val
    lines: list[str] = []
    skipped: list[str] = []
    for title, cols, rows in PAPER_TABLES:
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
