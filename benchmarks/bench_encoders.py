"""Benchmark of the frozen embedded encoder: ``encode_images`` vs the raw EfficientNet forward.

Prints, side by side per image size: images/s through ``FrozenEncoder.encode_images`` (uint8 in,
validation, resize, normalisation, batching, copy to CPU) and images/s of the raw network forward on
the same already-preprocessed batches, with their ratio (goal >= 0.9: the wrapper costs little).
Also captions/s of ``encode_texts``.

Usage::

    .venv/bin/python benchmarks/bench_encoders.py --sizes 128,224 --images 32 --batch-size 16
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from _cli import parse_args


@dataclass
class Args:
    sizes: str = "128,224"
    """encoder input sizes (square side) to measure"""
    images: int = 32
    """images per measurement"""
    batch_size: int = 16
    """encoder batch size"""
    source_size: int = 0
    """side of the uint8 source images; 0 = the encoder size (no resize)"""
    repeats: int = 3
    """timed repetitions; the best is reported (the machine is shared)"""
    threads: int = 0
    """torch intra-op threads; 0 = torch's default"""
    captions: int = 64
    """captions for the text measurement (0 skips it)"""


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    args = parse_args(Args, __doc__)
    if args.threads:
        torch.set_num_threads(args.threads)
    from roboact.models.encoders import create_encoder

    rng = np.random.default_rng(0)
    print(f"torch threads: {torch.get_num_threads()}, images: {args.images}, batch: {args.batch_size}")
    print(f"{'size':>5} {'encode_images img/s':>20} {'raw forward img/s':>18} {'ratio':>6}")
    enc = None
    for size in (int(s) for s in args.sizes.split(",")):
        enc = create_encoder("embedded", image_size=size)
        side = args.source_size or size
        images = rng.integers(0, 256, (args.images, side, side, 3), dtype=np.uint8)
        batches = [
            enc.preprocess(images[i : i + args.batch_size]) for i in range(0, args.images, args.batch_size)
        ]

        def raw(enc=enc, batches=batches) -> None:
            with torch.no_grad():
                for pixels in batches:
                    enc.forward_images(pixels)

        def wrapped(enc=enc, images=images) -> None:
            enc.encode_images(images, batch_size=args.batch_size)

        raw()  # warm-up
        t_raw, t_wrapped = best_time(raw, args.repeats), best_time(wrapped, args.repeats)
        r_raw, r_wrapped = args.images / t_raw, args.images / t_wrapped
        print(f"{size:>5} {r_wrapped:>20.1f} {r_raw:>18.1f} {r_wrapped / r_raw:>6.2f}")
    if args.captions and enc is not None:
        texts = [f"Robot pick the object {i}, action is pick" for i in range(args.captions)]
        enc.encode_texts(texts[:8])
        t = best_time(lambda: enc.encode_texts(texts), args.repeats)
        print(f"encode_texts: {args.captions / t:.1f} captions/s (batch 64)")


if __name__ == "__main__":
    main()
