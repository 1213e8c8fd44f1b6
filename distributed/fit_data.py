"""What a fit ships to its workers: the split's arrays, recombination targets and class-name texts.

The driver reads the feature store once and puts this bundle in the Ray object store, so workers on
other nodes never open a path that only the driver's node has (frozen features are small: 200 clips
x 16 frames x 1280 floats is 16 MB).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from roboact.datasets.stores import FeatureStore, StoreError

logger = logging.getLogger(__name__)

ARRAY_KEYS = ("frame_feats", "text_feats", "subject", "action", "object")


def load_fit_data(features: str | Path, split: str) -> dict[str, Any]:
    """Read one split of a feature store into plain numpy arrays.

    Returns:
        ``train`` and ``val`` (dicts of ``ARRAY_KEYS`` arrays; ``val`` may hold zero rows),
        ``recomb_triplets`` (M, 3), ``recomb_text`` (M, Dt), ``class_text`` {factor: (K, Dt)},
        ``vocabs``, ``attrs`` (the store's attributes) and ``split``.

    Raises:
        StoreError: naming the file when the store, the split or a part of it is missing.
    """
    path = Path(features)
    if not path.is_file():
        raise StoreError(f"{path}: no such feature store (data.features)")
    with FeatureStore(path) as store:
        parts = store.get_split(split)
        if not parts.get("train"):
            raise StoreError(f"{path}: split {split!r} has no training clips")
        train = store.arrays(parts["train"])
        val = store.arrays(parts.get("val", []))
        triplets, _, recomb_text = store.recombination()
        out = {
            "train": {k: train[k] for k in ARRAY_KEYS},
            "val": {k: val[k] for k in ARRAY_KEYS},
            "recomb_triplets": np.asarray(triplets, np.int64),
            "recomb_text": np.asarray(recomb_text, np.float32),
            "class_text": store.vocab_text_feats(),
            "vocabs": store.vocabs(),
            "attrs": store.attrs,
            "split": split,
        }
    if not len(out["val"]["action"]):
        logger.warning("%s: split %r has no val part; validation metrics are skipped", path, split)
    logger.info("%s split %r: %d train / %d val clips", path, split, len(train["action"]), len(val["action"]))
    return out


def heldout_recombination(data: dict[str, Any]) -> dict[str, Any]:
    """Drop recombination triplets whose subject never occurs in training (held-out embodiment splits).

    Their bank entries are never filled, so the model would skip them anyway; dropping them keeps the
    held-out subject's captions out of training entirely (a zero-shot test must not see them).
    """
    seen = set(np.unique(data["train"]["subject"]).tolist())
    keep = np.array([int(s) in seen for s in data["recomb_triplets"][:, 0]], dtype=bool)
    return {
        **data,
        "recomb_triplets": data["recomb_triplets"][keep],
        "recomb_text": data["recomb_text"][keep],
    }
