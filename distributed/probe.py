"""Linear probe of a feature store: how much of each factor the frozen frame features already carry.

Why: when a RoboAct-CLIP fit misses a factor (``sim_medium``'s object, issue #15), the probe says
whether the frozen encoder's features hold that factor at all (then the fit is what to change) or
not (then the encoder, its image size or the camera is). It is the linear-probe evaluation open_clip
and CortexBench run on frozen features: a logistic regression (scikit-learn) on the training part,
scored on a held-out part of the same named split, with the same bootstrap intervals as
``roboact eval recognition`` (``models.metrics``).

Each clip is one vector: the mean of its frame features beside its last-minus-first frame
difference (the start-end delta of Eq. 6), so an action that lives in how frames change is visible
to a linear model too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from roboact.models.metrics import accuracy_ci

from roboact import storage
from roboact.constants import FACTORS

__all__ = ["ProbeConfig", "clip_vectors", "linear_probe", "probe_markdown", "run_eval_probe"]


def clip_vectors(frame_feats: np.ndarray) -> np.ndarray:
    """(N, n, D) frame features -> (N, 2D): the frame mean beside the last-minus-first difference."""
    if frame_feats.ndim != 3 or frame_feats.shape[1] < 2:
        raise ValueError(f"probe: need (clips, frames >= 2, dim) features, got shape {frame_feats.shape}")
    return np.concatenate([frame_feats.mean(axis=1), frame_feats[:, -1] - frame_feats[:, 0]], axis=1)


def linear_probe(
    features: str,
    split: str = "random",
    part: str = "test",
    c: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit one logistic regression per factor on ``split``'s train part, score it on ``part``.

    Returns ``{"n_train", "n", "split", "part", "factors": {factor: Estimate.to_dict() | None},
    "skipped": {factor: why}}``. A factor is skipped (``None``) when the training part has a single
    class of it (nothing to learn) or none of the held-out part's classes (a ``heldout_<subject>``
    split's subject: a 0 there would be a property of the split, not of the features).
    """
    from roboact.datasets.stores import FeatureStore
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if c <= 0:
        raise ValueError(f"probe: c (inverse regularisation strength) must be > 0, got {c}")
    if part == "train":
        raise ValueError("probe: --part train would score the probe on the clips it was fitted on")
    with FeatureStore(storage.staged_input(features)) as store:
        train, held = store.split_arrays(split, "train"), store.split_arrays(split, part)
    x_train, x_held = clip_vectors(train["frame_feats"]), clip_vectors(held["frame_feats"])
    factors: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for factor in FACTORS:
        seen = np.unique(train[factor])
        if len(seen) < 2:
            skipped[factor] = "one class in train"
        elif not np.isin(held[factor], seen).any():
            skipped[factor] = f"{part} classes unseen in train"
        if factor in skipped:
            factors[factor] = None
            continue
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
        probe.fit(x_train, train[factor])
        factors[factor] = accuracy_ci(probe.predict(x_held), held[factor], seed=seed).to_dict()
    return {
        "n_train": len(x_train), "n": len(x_held), "split": split, "part": part, "factors": factors,
        "skipped": skipped,
    }  # fmt: skip


def probe_markdown(result: dict[str, Any]) -> str:
    """One row per factor: probe accuracy (%) with its bootstrap 95 % interval."""
    lines = [
        f"Linear probe, {result['split']}/{result['part']}: {result['n']} clips "
        f"(trained on {result['n_train']})",
        "",
        "| factor | accuracy % [95 % CI] |",
        "|---|---|",
    ]
    for factor, est in result["factors"].items():
        if est is None:
            cell = result["skipped"][factor]
        else:
            cell = f"{100 * est['value']:.2f} [{100 * est['low']:.2f}, {100 * est['high']:.2f}]"
        lines.append(f"| {factor} | {cell} |")
    return "\n".join(lines)


@dataclass
class ProbeConfig:
    """``roboact eval probe``: which feature store, which split, how strongly regularised."""

    features: str = ""
    """feature store (HDF5): a path or an s3:// / gs:// URI"""
    split: str = "random"
    """named split of the store; the probe is fitted on its train part"""
    part: str = "test"
    """val or test: the part it is scored on"""
    c: float = 1.0
    """inverse L2 strength of the logistic regression (scikit-learn's C)"""
    seed: int = 0
    """seed of the solver and of the bootstrap intervals"""


def run_eval_probe(cfg: ProbeConfig) -> dict[str, Any]:
    """``roboact eval probe`` as a function: the probe's result plus its markdown table."""
    from roboact.stage import require

    require(cfg.features, "--features", "features")
    result = linear_probe(cfg.features, split=cfg.split, part=cfg.part, c=cfg.c, seed=cfg.seed)
    return {**result, "markdown": probe_markdown(result)}
