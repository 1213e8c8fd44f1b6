"""The report of ``roboact bench paper``: one headline screen, paired differences, then details.

Built only from what the run wrote (``units/*.json``, ``eval/<table>/episodes.jsonl``, the demo
stages' ``stages/*.json``), so a rebuilt report shows the same numbers:

1. **Headline**: per table and row, our success with its Wilson 95 % CI and episode count beside
   the paper's number for the same tasks (``sim_workers.tables.PAPER_TABLES``, the one home of
   the paper's numbers), then what was not run and why.
2. **Paired differences** to the RoboAct-CLIP row on the shared episodes (``sim_workers.compare``:
   paired bootstrap CI, exact McNemar).
3. **Details**: the demo's sections (data, features, fits, demonstrations, heads, per-task tables
   with every paper row) rendered by ``roboact.report``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from roboact.bench import BASELINE, PAPER_ONLY, ROWS, TABLES, Bench, Unit, table_rows

TITLES = {"II": "Table II", "III": "Table III", "IV": "Table IV"}


def paper_table(key: str) -> tuple[str, dict[str, dict[str, float]]]:
    """The paper's table ``key`` (II, III, IV): its title and row -> task -> value (%)."""
    from roboact.sim_workers.tables import PAPER_TABLES

    for title, cols, rows in PAPER_TABLES:
        if title.startswith(TITLES[key] + ":"):
            return title, {name: dict(zip(cols, vals, strict=True)) for name, vals in rows}
    raise KeyError(f"no paper table {key!r} in sim_workers.tables.PAPER_TABLES")


def paper_mean(key: str, row: str, tasks: list[str]) -> float | None:
    """The paper's mean over ``tasks`` (its "Overall" when they are all of the table's tasks)."""
    values = paper_table(key)[1].get(row)
    if values is None or any(t not in values for t in tasks) or not tasks:
        return None
    return sum(values[t] for t in tasks) / len(tasks)


def row_records(bench: Bench, table: str) -> dict[str, list[dict[str, Any]]]:
    """Row key -> its finished episodes of this table (its policy directory, the configured tasks
    and episode indices only: a larger earlier run in the same directory does not leak in).

    A row's episodes are those whose policy ends in ``policy/<table>/<row>``: the evaluation keys
    them by the head's absolute path, or by its bucket URI on a cluster with no shared disk, and a
    bench directory copied elsewhere keeps its report."""
    from roboact.sim_workers.results import ResultsLog

    log = bench.eval_dir(table)
    records = list(ResultsLog(log).read().values()) if (log / "episodes.jsonl").is_file() else []
    tasks, n = set(bench.cfg.tasks(table)), bench.cfg.eval_episodes
    out: dict[str, list[dict[str, Any]]] = {}
    for row in ROWS:
        tail = "/" + bench.policy_dir(table, row).relative_to(bench.out).as_posix()
        mine = [
            r
            for r in records
            if r["policy"].rstrip("/").endswith(tail) and r["task"] in tasks and int(r["episode"]) < n
        ]
        if mine:
            out[row] = mine
    return out


def _cell(records: list[dict[str, Any]]) -> str:
    from roboact.sim_workers.results import wilson_interval

    n, k = len(records), sum(bool(r["success"]) for r in records)
    lo, hi = wilson_interval(k, n)
    return f"**{100 * k / n:.1f}** [{100 * lo:.1f}, {100 * hi:.1f}] ({k}/{n})"


def why_not_run(bench: Bench, table: str, row: str) -> str:
    """Why a requested row of a table has no episodes: a failed unit, or one still to run."""
    for unit in (
        Unit("eval", table=table, row=row),
        Unit("heads", table=table, row=row),
        Unit("fit", row=row),
    ):
        failed = bench.failure(unit)
        if failed.is_file():
            return f"not run: unit `{unit.name}` failed: {json.loads(failed.read_text())['error']}"
    return "not run yet: rerun the same command to resume"


def _span(values: list[int]) -> str:
    """``3`` or ``0-9`` (or the list when the values have gaps)."""
    if values == list(range(values[0], values[-1] + 1)):
        return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"
    return ", ".join(map(str, values))


def episodes_line(records: list[dict[str, Any]]) -> str:
    """Which episodes a table's rows ran: indices, seeds and (LIBERO) starts, from the records."""
    if not records:
        return "no episodes yet"
    eps = sorted({int(r["episode"]) for r in records})
    seeds = sorted({int(r["seed"]) for r in records})
    inits = sorted({int(r["init_state"]) for r in records if r.get("init_state") is not None})
    starts = sorted({str(r.get("starts")) for r in records if r.get("starts")})
    text = f"episodes {_span(eps)} of each task, seeds {_span(seeds)}"
    if inits:
        text += f", LIBERO fixed init states {_span(inits)} (episode k = init state k)"
    if starts:
        text += f", starts: {', '.join(starts)}"
    horizons = sorted({int(r.get("max_steps", 0)) for r in records})
    return text + f", horizon {'/'.join(map(str, horizons))} steps"


def headline(bench: Bench) -> str:
    """The first screen: per table and row, ours [CI] beside the paper's; then what did not run."""
    c = bench.cfg
    running = table_rows(c)
    lines = [
        "## Headline: success rates, ours beside the paper's",
        "",
        f"Scale `{c.scale}`, encoder `{c.encoder}`, {c.demos_per_task} expert demos per trained task "
        f"(seeds from {100_000 + c.seed}; LIBERO demos from freshly sampled placements, never the "
        f"evaluation's init states), {c.eval_episodes} evaluation episodes per task and row (the paper: "
        f"50), horizon {c.max_steps} steps, {c.policy_iterations} BC iterations per head. Every row of a "
        "table ran the same episodes. **ours**: success % **pooled over the table's tasks run** "
        "[Wilson 95 % CI] (successes/episodes); **paper**: the paper's mean over the same tasks (its "
        "Overall when all ran).",
        "",
    ]
    not_run: list[str] = []
    for key, spec in TABLES.items():
        tasks = c.tasks(key)
        title = paper_table(key)[0]
        if key not in running:
            why = (
                "suite not requested (--suites)" if spec.suite not in c.suites else "no task or row requested"
            )
            not_run.append(f"{title}: {why}")
            continue
        records = row_records(bench, key)
        heads = (
            "one head per task"
            if spec.heads == "per_task"
            else f"one shared head trained on {c.tasks('II')} (zero-shot)"
        )
        lines += [
            f"### {title}",
            "",
            f"Tasks {', '.join(tasks)}; {heads}; {episodes_line([r for v in records.values() for r in v])}.",
            "",
            "| row | paper row | ours: success % [95 % CI] | paper % |",
            "|---|---|---|---|",
        ]
        for row in spec.rows:
            paper = paper_mean(key, ROWS[row].paper, tasks)
            paper_text = "-" if paper is None else f"{paper:.1f}"
            if row in records:
                ours = _cell(records[row])
            elif row in running[key]:
                ours = why_not_run(bench, key, row)
            else:
                ours = "not requested (--rows)"
            label = f"{row} (`{ROWS[row].slug}`)" if row != ROWS[row].slug else row
            lines.append(f"| {label} | {ROWS[row].paper} | {ours} | {paper_text} |")
        for name in PAPER_ONLY:
            paper = paper_mean(key, name, tasks)
            if paper is not None:
                lines.append(f"| - | {name} | paper only: no weights here | {paper:.1f} |")
        no_demo = sorted(
            {
                t
                for r in running[key]
                for t in (bench.read_marker(Unit("heads", table=key, row=r)) or {}).get("no_demo", [])
            }
        )
        if no_demo and spec.heads == "per_task":
            lines += ["", f"Not evaluated: {no_demo} (no successful expert demo, so no head)."]
        lines.append("")
    if not_run:
        lines += ["**Not run:** " + "; ".join(not_run) + ".", ""]
    return "\n".join(lines)


def paired_sections(bench: Bench) -> str:
    """Each table's paired comparison against the RoboAct-CLIP row (two or more rows ran)."""
    from roboact.sim_workers.compare import default_baseline, paired_markdown, paired_table

    out = ["## Paired differences to the RoboAct-CLIP row", ""]
    for key in table_rows(bench.cfg):
        by_row = row_records(bench, key)
        if len(by_row) < 2:
            out += [f"{TITLES[key]}: fewer than two rows have episodes; nothing to pair.", ""]
            continue
        records = [r for rs in by_row.values() for r in rs]
        base = by_row[BASELINE][0]["policy"] if BASELINE in by_row else None
        base = base or default_baseline({r["policy"] for r in records})
        out += [f"### {TITLES[key]}", "", paired_markdown(paired_table(records, base)), ""]
    return "\n".join(out)


def _stage(bench: Bench, name: str, summary: dict[str, Any]) -> None:
    from roboact.report import write_stage

    write_stage(bench.out, name, summary)


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(x) for x in row) + " |" for row in rows])


def detail_stages(bench: Bench) -> None:
    """Write the demo-format sections of the fits, demos, heads and per-task tables."""
    from roboact.bench import plan
    from roboact.sim_workers.tables import bar_plot, build_tables

    c = bench.cfg
    done = {u: bench.read_marker(u) for u in plan(c)}
    fits = [(u, m) for u, m in done.items() if u.stage == "fit" and m]
    if fits:
        header = ["row", "switches", "frames", "steps", "val action acc (%)", "model", "s"]
        rows = [
            [u.row, m["switches"] or "full model", m["frames"], m["steps"],
             f"{100 * m['val'].get('val/action_acc', float('nan')):.1f}",
             f"`{Path(m['model_dir']).relative_to(bench.out)}`", m["seconds"]]
            for u, m in fits
        ]  # fmt: skip
        _stage(bench, "train", {
            "title": "RoboAct-CLIP fits: the full model and A1-A5 (same train config and budget)",
            "what_ran": f"train config `{c.train_config}` {' '.join(c.train_overrides)} for every fit; "
            "A1-A4 switch one RoboActConfig field off, A5 fits the 2-frame store",
            "tables": [{"title": "Fits", "markdown": _md_table(header, rows)}],
        })  # fmt: skip
    demos = [m for u, m in done.items() if u.stage == "demos" and m]
    if demos:
        tables = [t for m in demos for t in m["summary"]["tables"]]
        _stage(bench, "sim_demos", {**demos[0]["summary"], "tables": tables})
    heads = [(u, m) for u, m in done.items() if u.stage == "heads" and m]
    if heads:
        header = ["table", "row", "features", "trained on", "heads", "demos", "iterations"]
        header += ["first loss", "final loss", "s"]
        rows = [
            [u.table, u.row, f"`{m['features'].replace(str(bench.out) + '/', '')}`", ", ".join(m["tasks"]),
             m["heads"], m["training"]["episodes"], m["training"]["iterations"],
             f"{m['training']['first_loss']:.4f}", f"{m['training']['final_loss']:.4f}", m["seconds"]]
            for u, m in heads
        ]  # fmt: skip
        _stage(bench, "policy", {
            "title": "Policy heads: RLlib BC on each row's frozen features",
            "what_ran": "the same head, BC budget and demos for every row of a table; only the features "
            "differ",
            "tables": [{"title": "BC training", "markdown": _md_table(header, rows)}],
        })  # fmt: skip
    tables, figures = [], []
    for key in table_rows(bench.cfg):
        records = [r for rs in row_records(bench, key).values() for r in rs]
        if not records:
            continue
        tables.append(
            {
                "title": f"{TITLES[key]} per task, every paper row",
                "markdown": build_tables(records, only_evaluated=True, tables=[TITLES[key]]),
            }
        )
        plot = bar_plot(records, bench.eval_dir(key) / "bench_success.png")
        if plot:
            figures.append({"title": f"{TITLES[key]} success", "path": str(plot.relative_to(bench.out))})
    if tables:
        videos = sorted(bench.out.glob("eval/*/videos/*.mp4"))[:6]
        _stage(
            bench,
            "sim_eval",
            {
                "title": "Evaluation per task (Tables II-IV)",
                "what_ran": "one Ray actor pool per table and row; episodes appended as they finish",
                "tables": tables,
                "figures": figures,
                "videos": [{"title": p.stem, "path": str(p.relative_to(bench.out))} for p in videos],
            },
        )


def build_bench_report(bench: Bench) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html``: headline, paired differences, then the details."""
    from roboact.report import load_stages, render_html, render_markdown

    c = bench.cfg
    facts = {
        "scale": c.scale,
        "rows": ", ".join(c.rows),
        "suites": ", ".join(c.suites),
        "encoder": c.encoder,
        "seed": c.seed,
        "Ray workers/actors": c.workers,
        "cluster": c.address or "local Ray instance",
    }
    (bench.out / "summary.json").write_text(json.dumps(facts, indent=2))
    detail_stages(bench)
    body = render_markdown(bench.out)
    rest = body.partition("\n")[2]  # everything after render_markdown's own title line
    text = "\n\n".join(
        [
            f"# RoboAct bench paper: {bench.out.name}",
            headline(bench),
            paired_sections(bench),
            "# Details\n" + rest,
        ]
    )
    md = bench.out / "report.md"
    md.write_text(text)
    videos = [v["path"] for s in load_stages(bench.out) for v in s.get("videos", [])]
    html_path = bench.out / "report.html"
    html_path.write_text(render_html(text, f"RoboAct bench paper: {bench.out.name}", videos))
    return md, html_path
