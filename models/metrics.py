"""Recognition metrics for RoboAct-CLIP (paper Sec. IV-A): subject/action/object accuracy.

Kept apart from the losses: training logs losses, evaluation logs these. Metric names follow
``roboact.constants.acc_metric`` (``val/action_acc`` for the auxiliary classifier,
``val/action_acc_text`` for text matching).
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from roboact.constants import FACTORS, acc_metric

logger = logging.getLogger(__name__)


def accuracy(logits_or_preds: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy in [0, 1] from logits (N, K) or predicted ids (N,), against labels (N,)."""
    preds = logits_or_preds.argmax(dim=-1) if logits_or_preds.ndim == 2 else logits_or_preds
    if preds.shape != labels.shape:
        raise ValueError(
            f"accuracy: predictions {tuple(preds.shape)} and labels {tuple(labels.shape)} differ"
        )
    if labels.numel() == 0:
        raise ValueError("accuracy: no samples")
    return (preds.to(labels.device) == labels).float().mean().item()


def recognition_accuracies(
    predictions: dict[str, dict[str, Tensor]], labels: dict[str, Tensor], split: str = "val"
) -> dict[str, float]:
    """Accuracies of ``RoboActCLIP.predict`` output, keyed ``val/subject_acc``, ``val/subject_acc_text``."""
    metrics: dict[str, float] = {}
    for factor in FACTORS:
        for source, preds in predictions.get(factor, {}).items():
            metrics[acc_metric(split, factor, source)] = accuracy(preds, labels[factor])
    return metrics


@torch.no_grad()
def evaluate_recognition(
    model: torch.nn.Module,
    frame_feats: Tensor,
    labels: dict[str, Tensor],
    split: str = "val",
    batch_size: int = 256,
) -> dict[str, float]:
    """Run ``model.predict`` in batches over (N, n, Dv) features and return ``recognition_accuracies``."""
    chunks: dict[str, dict[str, list[Tensor]]] = {}
    for start in range(0, frame_feats.shape[0], batch_size):
        pred = model.predict(frame_feats[start : start + batch_size])
        for factor, by_source in pred.items():
            for source, ids in by_source.items():
                chunks.setdefault(factor, {}).setdefault(source, []).append(ids.cpu())
    merged = {f: {s: torch.cat(v) for s, v in d.items()} for f, d in chunks.items()}
    return recognition_accuracies(merged, {f: labels[f].cpu() for f in FACTORS}, split)
