"""A feature store with a non-finite clip is refused where it is read, naming the file and the clip
(issue #18: it trained to exit 0 with 92 % of the weights NaN)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from roboact.datasets.stores import FeatureStore, StoreError
from roboact.distributed.fit_data import load_fit_data

from tests.distributed.conftest import build_feature_store


@pytest.fixture
def poisoned(tmp_path):
    path = build_feature_store(tmp_path)
    with FeatureStore(path) as store:
        victim = store.get_split("random")["train"][3]
    with h5py.File(path, "a") as h5:
        h5[f"clips/{victim}/frame_feats"][1, 2] = np.nan
    return path, victim


def test_training_data_with_a_nan_clip_is_refused_naming_the_clip(poisoned):
    path, victim = poisoned
    with pytest.raises(StoreError, match=rf"{path.name}: non-finite features .*{victim}"):
        load_fit_data(path, "random")


def test_the_same_store_without_the_nan_loads(tmp_path):
    data = load_fit_data(build_feature_store(tmp_path), "random")
    assert np.isfinite(data["train"]["frame_feats"]).all()


def test_a_non_finite_loss_stops_training_before_the_weights_change(tmp_path):
    import torch
    from roboact.distributed.train import prepare_fit
    from roboact.distributed.train_loop import StepRunner, as_batch, build_model, make_loader

    from tests.distributed.conftest import tiny_train_config

    cfg = tiny_train_config(build_feature_store(tmp_path / "store"), tmp_path / "runs", "nan")
    _, _, model_cfg, data = prepare_fit(cfg)
    model = build_model(model_cfg, data)
    runner = StepRunner(model, model, cfg, total=10, device=torch.device("cpu"))
    loader, _ = make_loader(data["train"], 8, 0, 1, cfg.seed)
    batch = as_batch(next(iter(loader)), torch.device("cpu"))
    batch["frame_feats"][0, 0, 0] = float("nan")  # what a NaN clip that slipped past the store does
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(FloatingPointError, match="non-finite loss at step 7"):
        runner.step(batch, 7)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
