"""Ray Train overhead and scaling for RoboAct-CLIP fits, printed side by side in one run.

Measures, on one synthetic feature store (demo-sized by default: 216 clips x 16 frames x 1280-d):
1. a plain torch loop (the same ``StepRunner`` step, no Ray, no DDP): seconds per step;
2. Ray Train, 1 worker: seconds per step inside the worker (from the reports) and wall time with start-up;
3. Ray Train, 2 workers (DDP, gloo): samples/s vs 1 worker;
4. optionally the smoke sweep (``tune_configs/sweep_smoke.yaml``): trials per hour.

Usage: ``.venv/bin/python benchmarks/bench_train.py [--steps 60] [--tune]``
"""

from __future__ import annotations

import json
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
    clips_per_triplet: int = 6
    """clips per (subject, action, object) combination; 36 combinations (6 -> 216 clips)"""
    n_frames: int = 16
    """frames per clip (paper default)"""
    visual_dim: int = 1280
    """frame feature size (the embedded EfficientNet-Lite0 encoder)"""
    text_dim: int = 384
    """text feature size (all-MiniLM-L6-v2)"""
    model_preset: str = "roboact_base"
    """model preset"""
    batch_size: int = 32
    """global batch size"""
    steps: int = 60
    """optimizer steps per measured fit"""
    tune: bool = False
    """also run the 4-trial smoke sweep and report trials/hour"""
    num_cpus: int = 4
    """logical CPUs of the local Ray instance"""
    threads: int = 1
    """torch threads of the plain loop: 1 matches a 1-CPU Ray worker (Ray sets OMP_NUM_THREADS to the
    worker's CPUs); more threads on a busy machine oversubscribe the cores"""


def plain_loop(cfg, steps: int, threads: int) -> float:  # noqa: ANN001
    """Seconds per step of the same step function without Ray, timed like the Ray worker times it.

    The worker reports wall time per step over an interval, data loading included; so does this
    loop (from step 5 on, after warm-up), so the ratio is the cost of Ray Train and DDP alone.
    """
    import torch
    from roboact.distributed.train import prepare_fit
    from roboact.distributed.train_loop import StepRunner, as_batch, build_model, make_loader

    _, _, model_cfg, data = prepare_fit(cfg)
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = build_model(model_cfg, data).train()
    runner = StepRunner(model, model, cfg, steps, torch.device("cpu"))
    loader, sampler = make_loader(data["train"], cfg.optim.batch_size, 0, 1, 0)
    warmup, step, t0 = 5, 0, 0.0
    while step < steps:
        sampler.set_epoch(step)
        for row in loader:
            if step == warmup:
                t0 = time.perf_counter()
            runner.step(as_batch(row, torch.device("cpu")), step)
            step += 1
            if step >= steps:
                break
    return (time.perf_counter() - t0) / (steps - warmup)


def ray_fit(cfg) -> dict:  # noqa: ANN001
    from roboact.distributed.run_logger import read_metrics
    from roboact.distributed.train import fit

    start = time.perf_counter()
    out = fit(cfg)
    wall = time.perf_counter() - start
    rows = [r for r in read_metrics(out["run_dir"]) if "train/step_time_s" in r][
        1:
    ]  # first interval warms up
    return {
        "step_s": statistics.median(r["train/step_time_s"] for r in rows),
        "samples_s": statistics.median(r["train/samples_per_s"] for r in rows),
        "wall_s": wall,
    }


def main() -> None:
    args = parse_args(Args, __doc__)
    sys.path.insert(0, str(REPO / "tests" / "distributed"))
    from conftest import build_feature_store  # the tests' separable synthetic store
    from roboact.distributed.train import DataConfig, OptimConfig, TrainConfig

    from roboact.cluster import init_ray

    root = Path(tempfile.mkdtemp(prefix="bench_train_"))
    features = build_feature_store(
        root / "store",
        n_frames=args.n_frames,
        visual_dim=args.visual_dim,
        text_dim=args.text_dim,
        per_triplet=args.clips_per_triplet,
    )

    def config(name: str, workers: int) -> TrainConfig:
        return TrainConfig(
            name=name,
            runs_root=str(root / "runs"),
            model_preset=args.model_preset,
            optim=OptimConfig(batch_size=args.batch_size, max_steps=args.steps, warmup_steps=5),
            data=DataConfig(features=str(features)),
            log_every=10,
            checkpoint_every=args.steps,
            workers=workers,
            tensorboard=False,
        )

    init_ray(num_cpus=args.num_cpus)
    t_plain = plain_loop(config("plain", 1), args.steps, args.threads)
    one = ray_fit(config("w1", 1))
    two = ray_fit(config("w2", 2))
    results = {
        "plain_step_s": t_plain,
        "ray1_step_s": one["step_s"],
        "ray1_overhead_pct": 100 * (one["step_s"] / t_plain - 1),
        "ray1_samples_s": one["samples_s"],
        "ray2_samples_s": two["samples_s"],
        "ray2_vs_ray1": two["samples_s"] / one["samples_s"],
        "ray1_wall_s": one["wall_s"],
        "ray2_wall_s": two["wall_s"],
    }
    if args.tune:
        from roboact.distributed.tune import sweep

        start = time.perf_counter()
        out = sweep("sweep_smoke", features, name="bench_sweep", runs_root=root / "runs")
        hours = (time.perf_counter() - start) / 3600
        results["tune_trials"] = out["n_trials"]
        results["tune_trials_per_hour"] = out["n_trials"] / hours
    n_clips = 36 * args.clips_per_triplet
    print(
        f"\n{n_clips} clips x {args.n_frames} frames x {args.visual_dim}-d, {args.model_preset}, "
        f"global batch {args.batch_size}, {args.steps} steps"
    )
    print(f"{'':28}{'plain torch':>14}{'Ray 1 worker':>14}{'Ray 2 workers':>15}")
    print(f"{'step time (s)':28}{t_plain:>14.4f}{one['step_s']:>14.4f}{'':>15}")
    plain_sps = args.batch_size / t_plain
    print(f"{'samples/s':28}{plain_sps:>14.1f}{one['samples_s']:>14.1f}{two['samples_s']:>15.1f}")
    print(f"{'wall incl. start-up (s)':28}{'':>14}{one['wall_s']:>14.1f}{two['wall_s']:>15.1f}")
    print(
        f"Ray 1-worker overhead per step: {results['ray1_overhead_pct']:+.1f} %   "
        f"2 vs 1 worker throughput: x{results['ray2_vs_ray1']:.2f}"
    )
    if args.tune:
        print(
            f"smoke sweep: {results['tune_trials']} trials, {results['tune_trials_per_hour']:.0f} trials/hour"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
