"""What a sweep leaves behind: results table (CSV, Markdown), plots and the best train config."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from roboact.config import config_from_dict, config_to_dict, save_config

from .train_config import TrainConfig

logger = logging.getLogger(__name__)


def trial_rows(grid: Any, metric: str, mode: str, max_reports: int = 0) -> list[dict[str, Any]]:
    """One row per trial: parameters, best and last metric, reports, status, finish time.

    Status: ``done``, ``stopped`` (ASHA ended it before ``max_reports``) or ``error``.
    """
    rows = []
    for result in grid:
        history = result.metrics_dataframe
        values = []
        if history is not None and metric in history:
            values = [float(v) for v in history[metric].tolist() if v == v]
        best = (max if mode == "max" else min)(values) if values else float("nan")
        last = result.metrics or {}
        reports = int(last.get("training_iteration", len(values)))
        status = "error" if result.error is not None else "done"
        if status == "done" and max_reports and reports < max_reports:
            status = "stopped"
        params = {k: v for k, v in (result.config or {}).items() if isinstance(v, int | float | str | bool)}
        rows.append(
            {
                "trial_id": last.get("trial_id", Path(result.path).name if result.path else "?"),
                **params,
                f"best {metric}": best,
                f"last {metric}": float(last.get(metric, float("nan"))),
                "reports": reports,
                "step": last.get("step"),
                "status": status,
                "finished_at": float(last.get("timestamp", 0.0)),
            }
        )
    rows.sort(key=lambda r: r["finished_at"])
    return rows


def _markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no trials)"
    keys = [k for k in rows[0] if k != "finished_at"]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def _plots(rows: list[dict[str, Any]], params: list[str], metric: str, mode: str, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ys = [r[f"best {metric}"] for r in rows]
    paths = []
    if params:
        cols = min(4, len(params))
        nrows = math.ceil(len(params) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 3.2 * nrows), squeeze=False)
        for ax, key in zip(axes.flat, params, strict=False):
            ax.scatter([r[key] for r in rows], ys)
            values = [r[key] for r in rows if isinstance(r[key], int | float)]
            if values and min(values) > 0 and max(values) / min(values) > 20:
                ax.set_xscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel(metric)
        for ax in list(axes.flat)[len(params) :]:
            ax.axis("off")
        fig.tight_layout()
        path = out / "weight_vs_metric.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(str(path))
    best, running = [], float("-inf") if mode == "max" else float("inf")
    for y in ys:
        if y == y:
            running = max(running, y) if mode == "max" else min(running, y)
        best.append(running)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(range(1, len(best) + 1), best, marker="o")
    ax.set_xlabel("trials finished")
    ax.set_ylabel(f"best {metric} so far")
    fig.tight_layout()
    path = out / "best_so_far.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(str(path))
    return paths


def best_result(grid: Any, metric: str, mode: str) -> Any:
    """The trial with the best value of ``metric`` over all its reports; ties go to the first trial
    by path. Why not ``ResultGrid.get_best_result``: on small validation sets trials tie (12 clips
    give accuracies in steps of 1/12), and Ray breaks ties by result order, which differs between a
    sweep and its resumed rerun, so the "best config" of one sweep changed when it was resumed."""
    scored = []
    for result in grid:
        df = result.metrics_dataframe
        if result.error is not None or df is None or metric not in df or df[metric].dropna().empty:
            continue
        value = float(df[metric].max() if mode == "max" else df[metric].min())
        scored.append((-value if mode == "max" else value, str(result.path), result))
    if not scored:
        return grid.get_best_result(metric=metric, mode=mode, scope="all")  # Ray's own error message
    return min(scored, key=lambda item: item[:2])[2]


def write_sweep_outputs(
    grid: Any, sc: Any, base: TrainConfig, sweep_dir: Path, experiment_path: str, max_reports: int = 0
) -> dict:
    """Results table, plots and ``best_train_config.yaml``; returns their paths and the best trial."""
    import csv

    from .tune import apply_params

    rows = trial_rows(grid, sc.metric, sc.mode, max_reports)
    params = list(sc.space)
    csv_path = sweep_dir / "results.csv"
    keys = list(rows[0]) if rows else []
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    md_path = sweep_dir / "results.md"
    head = f"Sweep {sweep_dir.name}: {len(rows)} trials, metric {sc.metric} ({sc.mode}), search {sc.search}, "
    md_path.write_text(head + f"scheduler {sc.scheduler}\n\n" + _markdown(rows) + "\n")
    plots = _plots(rows, params, sc.metric, sc.mode, sweep_dir / "plots") if rows else []
    best = best_result(grid, sc.metric, sc.mode)
    best_params = {k: v for k, v in best.config.items() if k in params}
    best_cfg = apply_params(config_to_dict(base), best_params)
    best_cfg = config_from_dict(TrainConfig, {**config_to_dict(best_cfg), "name": None, "storage_path": None})
    best_path = save_config(best_cfg, sweep_dir, "best_train_config.yaml")
    history = best.metrics_dataframe
    best_metric = float(history[sc.metric].max() if sc.mode == "max" else history[sc.metric].min())
    logger.info("sweep %s: best %s = %.4f with %s", sweep_dir.name, sc.metric, best_metric, best_params)
    return {
        "sweep_dir": str(sweep_dir),
        "results_csv": str(csv_path),
        "results_md": str(md_path),
        "plots": plots,
        "best_config": str(best_path),
        "best_params": best_params,
        "best_metric": best_metric,
        "n_trials": len(rows),
        "n_errors": sum(r["status"] == "error" for r in rows),
        "experiment_path": experiment_path,
    }
