"""Recognition metrics for RoboAct-CLIP (paper Sec. IV-A): the one place accuracy is computed.

Per-factor top-1 accuracy (subject/action/object, from the auxiliary classifiers of Eq. 22 or by
text matching, Eq. 24-25), its bootstrap 95 % confidence interval, the paired difference of two
models on the same clips with its interval, text->video retrieval R@K and confusion matrices. The
train loop (``distributed.train_loop.evaluate_arrays``) and the evaluation
(``distributed.recognition``) both call these, so a number in a training log and the same number
in a results table cannot disagree on how it was computed.

Why bootstrap intervals: the paper reports point accuracies on 199,797 videos; our test parts hold
tens to hundreds of clips, where one clip moves accuracy by a percent or more. A reader needs the
interval to tell a real margin (full model vs an ablation) from resampling noise. Intervals are
percentile bootstrap intervals (``scipy.stats.bootstrap``) with a fixed seed, so a rerun reproduces
them; the percentile method is used because BCa is undefined when every clip is right (accuracy
1.0 is a common result here).

Metric names follow ``roboact.constants.acc_metric`` (``val/action_acc`` for the auxiliary
classifier, ``val/action_acc_text`` for text matching).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from roboact.constants import FACTORS, acc_metric

logger = logging.getLogger(__name__)

SOURCES = ("aux", "text")
"""Where a prediction comes from: the auxiliary classifier (Eq. 22) or text matching."""
RECALL_KS = (1, 5, 10)
CONFIDENCE = 0.95
N_RESAMPLES = 2000
"""Bootstrap resamples: enough for a stable 95 % percentile interval (the 2.5 % tail holds 50)."""


def _numpy(x: Tensor | np.ndarray | Sequence[Any]) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def correct(preds: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> np.ndarray:
    """Per-sample correctness (N,) bool from logits (N, K) or predicted ids (N,), against labels (N,)."""
    p, y = _numpy(preds), _numpy(labels)
    if p.ndim == 2:
        p = p.argmax(axis=-1)
    if p.shape != y.shape:
        raise ValueError(f"accuracy: predictions {tuple(p.shape)} and labels {tuple(y.shape)} differ")
    return p == y


def accuracy(preds: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """Top-1 accuracy in [0, 1] from logits (N, K) or predicted ids (N,), against labels (N,)."""
    hits = correct(preds, labels)
    if hits.size == 0:
        raise ValueError("accuracy: no samples")
    return float(hits.mean())


# --------------------------------------------------------------------------------------------------
# confidence intervals
@dataclass(frozen=True)
class Estimate:
    """A mean over clips with its bootstrap interval (fractions, not percent)."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def pct(self, signed: bool = False) -> str:
        """``"97.50 [95.00, 99.17]"`` (percent); ``signed`` prefixes + on a positive value."""
        fmt = "+.2f" if signed else ".2f"
        return f"{100 * self.value:{fmt}} [{100 * self.low:{fmt}}, {100 * self.high:{fmt}}]"


def bootstrap_mean(
    values: np.ndarray | Sequence[float],
    seed: int = 0,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
) -> Estimate:
    """Mean of per-clip values (N,) with its percentile bootstrap interval (seeded, reproducible)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"bootstrap: need a non-empty 1-d sample, got shape {x.shape}")
    mean = float(x.mean())
    if x.size == 1 or np.all(x == x[0]):  # no spread to resample: the interval is the point
        return Estimate(mean, mean, mean, int(x.size))
    res = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # the percentile interval of a mean always holds the mean up to float rounding; clamp that
    return Estimate(mean, min(low, mean), max(high, mean), int(x.size))


def accuracy_ci(preds: Tensor | np.ndarray, labels: Tensor | np.ndarray, seed: int = 0) -> Estimate:
    """Top-1 accuracy with its bootstrap 95 % interval over clips."""
    hits = correct(preds, labels)
    if hits.size == 0:
        raise ValueError("accuracy: no samples")
    return bootstrap_mean(hits.astype(np.float64), seed=seed)


def paired_difference(
    preds_a: Tensor | np.ndarray,
    preds_b: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    seed: int = 0,
) -> Estimate:
    """Accuracy of model A minus model B on the same clips, with a paired bootstrap interval.

    Paired: each resample draws clips, and both models are scored on the same drawn clips (the
    bootstrap runs over per-clip differences ``correct_a - correct_b``), so the clip-to-clip
    difficulty both models share cancels and the interval is narrower than comparing two
    separate intervals. An interval that excludes 0 is a margin resampling does not explain.
    """
    a, b = correct(preds_a, labels), correct(preds_b, labels)
    if a.size == 0:
        raise ValueError("paired difference: no samples")
    return bootstrap_mean(a.astype(np.float64) - b.astype(np.float64), seed=seed)


# --------------------------------------------------------------------------------------------------
# per-factor reports
Predictions = dict[str, dict[str, np.ndarray]]
"""factor -> source ("aux"/"text") -> predicted class ids (N,)."""


def factor_accuracies(
    predictions: Predictions, labels: dict[str, np.ndarray], seed: int = 0
) -> dict[str, dict[str, Estimate]]:
    """Accuracy with interval for every factor and prediction source present in ``predictions``."""
    return {
        f: {s: accuracy_ci(p, labels[f], seed=seed) for s, p in predictions.get(f, {}).items()}
        for f in FACTORS
        if predictions.get(f)
    }


def shared_source(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """The prediction source both models have for a factor: aux when both have it, else text.

    Why: a model trained without the auxiliary loss has no classifier head, and comparing its text
    matching with the other's classifier would mix two measurements into one difference.
    """
    for source in SOURCES:
        if source in a and source in b:
            return source
    return None


def paired_factor_differences(
    preds_a: Predictions, preds_b: Predictions, labels: dict[str, np.ndarray], seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per factor: ``{"source", "diff": Estimate}`` of A minus B on the same clips (``shared_source``)."""
    out: dict[str, dict[str, Any]] = {}
    for f in FACTORS:
        source = shared_source(preds_a.get(f, {}), preds_b.get(f, {}))
        if source is not None:
            diff = paired_difference(preds_a[f][source], preds_b[f][source], labels[f], seed=seed)
            out[f] = {"source": source, "diff": diff}
    return out


def headline_source(by_source: dict[str, Any]) -> str:
    """The classification a factor is reported by: the auxiliary head when present, else text."""
    return "aux" if "aux" in by_source else "text"


# --------------------------------------------------------------------------------------------------
# retrieval and confusion
def retrieval_recall(
    text_emb: np.ndarray,
    video_emb: np.ndarray,
    query_keys: Sequence[Any],
    video_keys: Sequence[Any],
    ks: Sequence[int] = RECALL_KS,
) -> dict[str, float]:
    """Text->video R@K by cosine similarity (Eq. 24-25); a video is relevant when its key equals the query's.

    R@K = fraction of queries with a relevant video among the K most similar videos; NaN without queries.
    """
    t = np.asarray(text_emb, np.float64)
    v = np.asarray(video_emb, np.float64)
    if t.ndim != 2 or v.ndim != 2 or t.shape[1] != v.shape[1]:
        raise ValueError(f"retrieval: text {t.shape} and video {v.shape} embeddings must be (Q, D), (N, D)")
    if len(query_keys) != len(t) or len(video_keys) != len(v):
        raise ValueError(
            f"retrieval: {len(query_keys)} query keys for {len(t)} texts, "
            f"{len(video_keys)} video keys for {len(v)} videos"
        )
    t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    order = np.argsort(-(t @ v.T), axis=1, kind="stable")  # (Q, N) best first
    vkeys = np.asarray(list(video_keys), dtype=object)
    qkeys = np.asarray(list(query_keys), dtype=object)
    hits = vkeys[order] == qkeys[:, None]  # (Q, N) relevant at rank r
    return {f"R@{k}": float(hits[:, :k].any(axis=1).mean()) if len(hits) else float("nan") for k in ks}


def caption_retrieval(
    text_emb: np.ndarray, video_emb: np.ndarray, captions: Sequence[str], ks: Sequence[int] = RECALL_KS
) -> tuple[dict[str, float], int]:
    """R@K with one query per distinct caption (its first clip's text embedding); returns (R@K, queries).

    Algorithm 1 captions repeat (many clips show one robot doing one action on one object), so a
    query per clip would count the same question many times.
    """
    first: dict[str, int] = {}
    for row, cap in enumerate(captions):
        first.setdefault(cap, row)
    queries = list(first)
    t = np.asarray(text_emb)[[first[q] for q in queries]]
    return retrieval_recall(t, video_emb, queries, list(captions), ks), len(queries)


def confusion_matrix(preds: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = true class, columns = predicted class."""
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (np.asarray(labels, np.int64), np.asarray(preds, np.int64)), 1)
    return out


# --------------------------------------------------------------------------------------------------
# torch-side helpers (model.predict output)
def recognition_accuracies(
    predictions: dict[str, dict[str, Tensor | np.ndarray]],
    labels: dict[str, Tensor | np.ndarray],
    split: str = "val",
) -> dict[str, float]:
    """Accuracies of ``RoboActCLIP.predict`` output, keyed ``val/subject_acc``, ``val/subject_acc_text``."""
    metrics: dict[str, float] = {}
    for factor in FACTORS:
        for source, preds in predictions.get(factor, {}).items():
            metrics[acc_metric(split, factor, source)] = accuracy(preds, labels[factor])
    return metrics


@torch.no_grad()
def predict_batched(model: torch.nn.Module, frame_feats: Tensor, batch_size: int = 256) -> Predictions:
    """``model.predict`` over (N, n, Dv) features in batches, merged to numpy ids per factor and source."""
    chunks: dict[str, dict[str, list[np.ndarray]]] = {}
    for start in range(0, frame_feats.shape[0], batch_size):
        pred = model.predict(frame_feats[start : start + batch_size])
        for factor, by_source in pred.items():
            for source, ids in by_source.items():
                chunks.setdefault(factor, {}).setdefault(source, []).append(_numpy(ids))
    return {f: {s: np.concatenate(v) for s, v in d.items()} for f, d in chunks.items()}


@torch.no_grad()
def evaluate_recognition(
    model: torch.nn.Module,
    frame_feats: Tensor,
    labels: dict[str, Tensor],
    split: str = "val",
    batch_size: int = 256,
) -> dict[str, float]:
    """Run ``model.predict`` in batches over (N, n, Dv) features and return ``recognition_accuracies``."""
    return recognition_accuracies(predict_batched(model, frame_feats, batch_size), labels, split)
