"""What remote RLlib learners cost BC on CPU: ``num_learners`` 0 (in the driver) against 1 and more.

Trains the same head on the same synthetic demos (``tests/distributed/policy_fixtures.py``, the
``embedded`` encoder; features cached after the first run so only BC is compared) once per setting,
in one local Ray instance of ``--cpus`` CPUs, and prints the BC time (``bc_seconds`` of the summary:
building the algorithm and its learner actors included) and its mean per iteration.

Usage: ``nice -n 10 .venv/bin/python benchmarks/bench_bc_learners.py [--learners 0,1] [--iterations 200]``
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _cli import parse_args

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    learners: str = "0,1"
    """comma-separated num_learners values"""
    iterations: int = 200
    """BC iterations per run"""
    batch_size: int = 64
    """rows per learner per iteration"""
    demos: int = 4
    """synthetic demos (one task)"""
    steps: int = 50
    """steps per demo"""
    cpus: int = 2
    """CPUs of the local Ray instance"""
    cpus_per_learner: float = 0.5
    """CPUs reserved per remote learner (0.5: one learner and Ray Data's reading fit on 2 CPUs)"""


def main(args: Args) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    sys.path.insert(0, str(REPO / "tests" / "distributed"))
    from policy_fixtures import write_demo_file
    from roboact.distributed.policy import PolicyTrainConfig, train_policy

    from roboact.cluster import init_ray

    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="bench_bc_"))
    demos = write_demo_file(root / "demos.h5", tasks=["slide"], demos_per_task=args.demos, steps=args.steps)
    init_ray(num_cpus=args.cpus)
    out = root / "ckpt"
    cfg = PolicyTrainConfig(image_size=64, log_every=10**6)
    train_policy(
        demos, "embedded", out, iterations=2, batch_size=args.batch_size, config=cfg
    )  # cache features
    rows = []
    for n in (int(v) for v in args.learners.split(",")):
        run = PolicyTrainConfig(
            image_size=64, log_every=10**6, num_learners=n, cpus_per_learner=args.cpus_per_learner
        )
        start = time.perf_counter()
        summary = train_policy(demos, "embedded", out, iterations=args.iterations, batch_size=args.batch_size,
                               config=run)  # fmt: skip
        wall = time.perf_counter() - start
        rows.append((n, summary["bc_seconds"], wall, summary["final_loss"], os.getloadavg()[0]))
        print(f"num_learners={n}: BC {summary['bc_seconds']:.1f} s ({wall:.1f} s wall)", flush=True)
    print(f"\n{args.iterations} iterations x batch {args.batch_size}, {args.demos * args.steps} demo steps")
    print("| num_learners | BC s (build + iterations) | s per iteration | final loss | load avg at end |")
    print("|---|---|---|---|---|")
    for n, bc, _wall, loss, load in rows:
        print(f"| {n} | {bc:.1f} | {bc / args.iterations:.3f} | {loss:.3f} | {load:.1f} |")


if __name__ == "__main__":
    main(parse_args(Args, __doc__))
