"""Benchmark of RoboAct-CLIP training and inference throughput on frozen features.

Prints, per frame count n: clips/s of one training step (``compute_loss`` forward + backward +
AdamW step, banks and recombination included) and of ``encode_video`` (inference), with the ratio
to n = 16 (the paper's default). Features are random; only shapes matter for speed.

Usage::

    .venv/bin/python benchmarks/bench_model.py --frames 2,16,32 --batch-size 32 --steps 5
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from _cli import parse_args


@dataclass
class Args:
    frames: str = "2,16,32"
    """frame counts n to measure"""
    preset: str = "roboact_base"
    """model preset (models/model_configs)"""
    batch_size: int = 32
    """clips per step"""
    steps: int = 5
    """timed steps per measurement (after 2 warm-up steps)"""
    repeats: int = 2
    """timed repetitions; the best is reported (the machine is shared)"""
    threads: int = 0
    """torch intra-op threads; 0 = torch's default"""


def measure(n: int, args: Args) -> tuple[float, float, int]:
    from roboact.models import RoboActCLIP, load_model_config

    torch.manual_seed(0)
    cfg = load_model_config(
        args.preset, n_frames=n, num_subjects=8, num_actions=16, num_objects=24, bank_interval=1
    )
    model = RoboActCLIP(cfg)
    trip = torch.stack([torch.randint(0, k, (200,)) for k in (8, 16, 24)], dim=1)
    model.set_recombination_targets(trip, torch.randn(200, cfg.text_dim))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    B = args.batch_size
    batch = {
        "frame_feats": torch.randn(B, n, cfg.visual_dim),
        "text_feats": torch.randn(B, cfg.text_dim),
        "subject": torch.arange(B) % 8,
        "action": torch.arange(B) % 16,
        "object": torch.arange(B) % 24,
    }

    def train_steps(count: int) -> None:
        for step in range(count):
            loss = model.compute_loss(batch, step)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()

    train_steps(2)
    best_train = min(_timed(lambda: train_steps(args.steps)) for _ in range(args.repeats))
    model.encode_video(batch["frame_feats"])
    best_infer = min(
        _timed(lambda: [model.encode_video(batch["frame_feats"]) for _ in range(args.steps)])
        for _ in range(args.repeats)
    )
    params = sum(p.numel() for p in model.parameters())
    return B * args.steps / best_train, B * args.steps / best_infer, params


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(Args, __doc__)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = [int(n) for n in args.frames.split(",")]
    results = {n: measure(n, args) for n in frames}
    ref = results.get(16)
    print(f"preset {args.preset}, batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    print(
        f"{'n':>3} {'params':>10} {'train clips/s':>14} {'vs n=16':>8} {'encode clips/s':>15} {'vs n=16':>8}"
    )
    for n, (train, infer, params) in results.items():
        rt = f"{train / ref[0]:.2f}" if ref else "-"
        ri = f"{infer / ref[1]:.2f}" if ref else "-"
        print(f"{n:>3} {params:>10,} {train:>14.1f} {rt:>8} {infer:>15.1f} {ri:>8}")


if __name__ == "__main__":
    main()
