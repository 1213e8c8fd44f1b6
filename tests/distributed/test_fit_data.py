"""What a fit ships to its workers: recombination targets from the training part only (issue #15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from roboact.datasets.stores import FeatureStore
from roboact.distributed.fit_data import load_fit_data

from roboact.constants import FACTORS
from tests.distributed.conftest import build_feature_store


def test_recombination_targets_are_the_training_parts_triplets_only(tmp_path: Path) -> None:
    """With one clip per (s, a, o), a test clip's triplet occurs nowhere else: it must not be a target."""
    path = build_feature_store(tmp_path, per_triplet=1)
    data = load_fit_data(path, "random")
    train = {tuple(int(x) for x in row) for row in np.stack([data["train"][f] for f in FACTORS], axis=1)}
    targets = [tuple(int(x) for x in row) for row in data["recomb_triplets"]]
    assert set(targets) == train and len(targets) == len(train)
    with FeatureStore(path) as store:
        all_triplets, _, all_text = store.recombination()
        test = store.split_arrays("random", "test")
    test_only = {tuple(int(x) for x in row) for row in np.stack([test[f] for f in FACTORS], axis=1)}
    assert test_only and not test_only & set(targets)
    assert len(all_triplets) > len(targets)
    # each kept target keeps its own caption feature
    index = {tuple(int(x) for x in row): k for k, row in enumerate(all_triplets)}
    for row, text in zip(targets, data["recomb_text"], strict=True):
        assert np.array_equal(text, all_text[index[row]])
