"""What torch's thread count costs BC's local learner, alone and with a busy neighbour process.

Trains the same head on the same synthetic demos (``tests/distributed/policy_fixtures.py``, the
``embedded`` encoder; features cached first so only BC is compared) once per ``bc_threads`` value,
alternating ``--repeats`` times, and prints the mean time per BC iteration of each and their ratio.
With ``--neighbour`` a second process multiplies matrices on torch's default threads the whole
time, the way a second head's BC, a simulator or a test run shares a small machine.

Usage: ``.venv/bin/python benchmarks/bench_bc_threads.py [--threads 1,2] [--neighbour]``
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _cli import parse_args

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    threads: str = "1,2"
    """comma-separated bc_threads values"""
    iterations: int = 300
    """BC iterations per run"""
    batch_size: int = 256
    """rows per iteration (the policy protocol's default)"""
    demos: int = 6
    """synthetic demos (one task)"""
    steps: int = 60
    """steps per demo"""
    repeats: int = 2
    """runs per setting, alternating"""
    neighbour: bool = False
    """run a busy torch process beside the measurements"""


def _busy() -> None:
    import torch

    a = torch.randn(1024, 1024)
    while True:
        a = torch.tanh(a @ a)


def main(args: Args) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    sys.path.insert(0, str(REPO / "tests" / "distributed"))
    from policy_fixtures import write_demo_file
    from roboact.distributed.policy import PolicyTrainConfig, train_policy

    from roboact.cluster import init_ray

    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="bench_bc_threads_"))
    demos = write_demo_file(root / "demos.h5", tasks=["slide"], demos_per_task=args.demos, steps=args.steps)
    init_ray()
    out = root / "ckpt"
    cfg = PolicyTrainConfig(image_size=64, log_every=10**6)
    train_policy(demos, "embedded", out, iterations=2, batch_size=args.batch_size, config=cfg)  # cache
    neighbour = mp.get_context("spawn").Process(target=_busy, daemon=True) if args.neighbour else None
    if neighbour is not None:
        neighbour.start()
    settings = [int(v) for v in args.threads.split(",")]
    per_it: dict[int, list[float]] = {n: [] for n in settings}
    try:
        for _ in range(args.repeats):
            for n in settings:
                run = PolicyTrainConfig(image_size=64, log_every=10**6, bc_threads=n)
                summary = train_policy(
                    demos, "embedded", out, iterations=args.iterations, batch_size=args.batch_size, config=run
                )
                per_it[n].append(1000 * summary["bc_seconds"] / args.iterations)
                print(f"bc_threads={n}: {per_it[n][-1]:.1f} ms per iteration", flush=True)
    finally:
        if neighbour is not None:
            neighbour.terminate()
    base = statistics.mean(per_it[settings[0]])
    print(f"\n{args.iterations} iterations x batch {args.batch_size}, neighbour: {args.neighbour}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(
        f"| bc_threads | ms per BC iteration (mean of {args.repeats}) | ratio to bc_threads={settings[0]} |"
    )
    print("|---|---|---|")
    for n in settings:
        mean = statistics.mean(per_it[n])
        print(f"| {n} | {mean:.1f} | {mean / base:.2f} |")


if __name__ == "__main__":
    main(parse_args(Args, __doc__))
