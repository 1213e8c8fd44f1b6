"""Uniform frame sampling (Sec. III-B: n uniformly sampled frames, n = 16 by default)."""

from __future__ import annotations

import numpy as np


def uniform_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``total`` frames, first and last included.

    Raises:
        ValueError: when the clip has fewer than ``n`` frames (a clip is never padded by repeats,
            because repeated frames would fake zero motion in the Diff-Transformer's Eq. (6)).
    """
    if n < 2:
        raise ValueError(f"n={n}: at least 2 frames are needed for temporal differences (Eq. 6)")
    if total < n:
        raise ValueError(f"clip has {total} frames, fewer than the {n} requested")
    return [int(round(x)) for x in np.linspace(0, total - 1, n)]
