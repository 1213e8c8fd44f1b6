"""Tune trials per hour against concurrent trials, and what that projects to on a cluster.

Runs the shipped ``sweep_loss_weights`` (Optuna TPE) shrunk to a tiny sweep on a synthetic feature
store, once per concurrency, in one local Ray instance of ``--cpus`` CPUs started by ``init_ray`` (so
Train's placement-group cleaner works as in ``roboact tune``). The scheduler is FIFO so every trial
runs the same steps and trials/hour compares like with like (ASHA would end some early). A trial is
one Ray Train fit: ``workers_per_trial`` x ``cpus_per_worker`` CPUs, plus its start-up.

The projection assumes what a cluster gives and this machine does not: each concurrent trial has its
own cores. It scales the single-trial rate (concurrency 1) by the trials that fit on
``--nodes`` x ``--node-cpus``; on this 2-core machine concurrency 2 shows what sharing cores costs.

Usage: ``nice -n 10 .venv/bin/python benchmarks/bench_tune_scaling.py [--trials 4] [--concurrency 1,2]``
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _cli import parse_args

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    trials: int = 4
    """trials per concurrency setting"""
    steps: int = 20
    """optimizer steps per trial (a report every 5)"""
    concurrency: str = "1,2"
    """comma-separated max_concurrent_trials values"""
    cpus: int = 2
    """CPUs of the local Ray instance"""
    cpus_per_worker: float = 1.0
    """CPUs per trial (one Train worker per trial)"""
    nodes: int = 8
    """cluster size of the projection"""
    node_cpus: int = 16
    """CPUs per node of the projection"""


def run_sweep(features: Path, root: Path, args: Args, concurrent: int) -> dict[str, float]:
    """One tiny sweep; wall seconds, trials, and the trials' own run times."""
    from roboact.distributed.tune import sweep

    overrides = [
        "train_config=train_tiny",
        f"train_overrides=[optim.max_steps={args.steps},log_every=5,checkpoint_every={args.steps}]",
        f"num_samples={args.trials}",
        f"max_concurrent_trials={concurrent}",
        "workers_per_trial=1",
        f"cpus_per_worker={args.cpus_per_worker}",
        "scheduler=fifo",
    ]
    start = time.perf_counter()
    out = sweep("sweep_loss_weights", features, name=f"c{concurrent}", runs_root=root, overrides=overrides)
    wall = time.perf_counter() - start
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(out["experiment_path"])
    trial_s = [float(df["time_total_s"].iloc[-1]) for df in analysis.trial_dataframes.values() if len(df)]
    return {
        "wall_s": wall,
        "trials": out["n_trials"],
        "errors": out["n_errors"],
        "trial_s": statistics.median(trial_s),
    }


def main(args: Args) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    sys.path.insert(0, str(REPO / "tests" / "distributed"))
    from conftest import build_feature_store

    from roboact.cluster import init_ray

    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="bench_tune_"))
    features = build_feature_store(root / "store")
    init_ray(num_cpus=args.cpus)
    rows = []
    for c in (int(v) for v in args.concurrency.split(",")):
        load = os.getloadavg()[0]
        res = run_sweep(features, root, args, c)
        res.update(concurrent=c, load=load, per_hour=3600 * res["trials"] / res["wall_s"])
        rows.append(res)
        print(
            f"concurrency {c}: {res['trials']} trials ({res['errors']} errors) in {res['wall_s']:.1f} s = "
            f"{res['per_hour']:.0f} trials/hour; median trial {res['trial_s']:.1f} s; load {load:.1f}",
            flush=True,
        )
    print("\n| concurrent trials | trials | wall s | trials/hour | median trial s | load avg at start |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrent']} | {r['trials']} | {r['wall_s']:.1f} | {r['per_hour']:.0f} | "
            f"{r['trial_s']:.1f} | {r['load']:.1f} |"
        )
    single = rows[0]
    slots = args.nodes * int(args.node_cpus // args.cpus_per_worker)
    each = 3600 * single["trials"] / single["wall_s"]
    print(
        f"\nprojection: {args.nodes} nodes x {args.node_cpus} CPUs / {args.cpus_per_worker:g} CPU per "
        f"trial = {slots} concurrent trials x {each:.0f} trials/hour each (concurrency "
        f"{single['concurrent']} here) = {slots * each:.0f} trials/hour, if a trial's start-up does "
        "not grow with the cluster"
    )


if __name__ == "__main__":
    main(parse_args(Args, __doc__))
