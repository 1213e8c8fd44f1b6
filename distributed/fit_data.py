"""What a fit ships to its workers: the split's arrays, recombination targets and class-name texts.

The driver reads the feature store once and puts this bundle in the Ray object store, so workers on
other nodes never open a path that only the driver's node has (frozen features are small: 200 clips
x 16 frames x 1280 floats is 16 MB). The store itself may be an ``s3://`` / ``gs://`` URI: the driver
stages it once into its node's cache (``roboact.storage.local_copy``; a rerun reuses the copy while
the object's ETag is unchanged) and reads it like a local file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from roboact.datasets.stores import FeatureStore, StoreError

from roboact import storage
from roboact.constants import FACTORS

logger = logging.getLogger(__name__)

ARRAY_KEYS = ("frame_feats", "text_feats", "subject", "action", "object")


def load_fit_data(features: str | Path, split: str) -> dict[str, Any]:
    """Read one split of a feature store into plain numpy arrays.

    Returns:
        ``train`` and ``val`` (dicts of ``ARRAY_KEYS`` arrays; ``val`` may hold zero rows),
        ``recomb_triplets`` (M, 3) and ``recomb_text`` (M, Dt) of the triplets that occur in the
        training part (``training_triplets``), ``class_text`` {factor: (K, Dt)},
        ``vocabs``, ``attrs`` (the store's attributes) and ``split``.

    Raises:
        StoreError: naming the file when the store, the split or a part of it is missing.
    """
    if storage.is_remote(features):
        try:
            path = storage.local_copy(features)
        except storage.StorageError as err:
            if "no such file" not in str(err):
                raise
            raise StoreError(f"{features}: no such feature store (data.features)") from None
    else:
        path = Path(features)
    if not path.is_file():
        raise StoreError(f"{features}: no such feature store (data.features)")
    with FeatureStore(path) as store:
        parts = store.get_split(split)
        if not parts.get("train"):
            raise StoreError(f"{path}: split {split!r} has no training clips")
        train = store.arrays(parts["train"])
        val = store.arrays(parts.get("val", []))
        triplets, recomb_text = training_triplets(store, train)
        out = {
            "train": {k: train[k] for k in ARRAY_KEYS},
            "val": {k: val[k] for k in ARRAY_KEYS},
            "recomb_triplets": triplets,
            "recomb_text": recomb_text,
            "class_text": store.vocab_text_feats(),
            "vocabs": store.vocabs(),
            "attrs": store.attrs,
            "split": split,
        }
    if not len(out["val"]["action"]):
        logger.warning("%s: split %r has no val part; validation metrics are skipped", features, split)
    logger.info(
        "%s split %r: %d train / %d val clips", features, split, len(train["action"]), len(val["action"])
    )
    return out


def training_triplets(store: FeatureStore, train: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The store's recombination candidates (Eq. 18-19) that occur among the training clips' labels.

    The feature store keeps every label combination of the clip store (computed once per
    extraction); a triplet only seen in val or test must not be a target, or Eq. 20 would train
    the text side on a test clip's caption combination. Returns ``(triplets (M, 3) int64,
    text features (M, Dt) float32)``.
    """
    triplets, _, text = store.recombination()
    triplets = np.asarray(triplets, np.int64).reshape(-1, 3)
    seen = {tuple(int(x) for x in row) for row in np.stack([train[f] for f in FACTORS], axis=1)}
    keep = np.array([tuple(int(x) for x in row) in seen for row in triplets], dtype=bool)
    if len(triplets) and not keep.any():
        raise StoreError(f"{store.path}: no recombination triplet occurs among the training clips")
    return triplets[keep], np.asarray(text, np.float32)[keep]


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
