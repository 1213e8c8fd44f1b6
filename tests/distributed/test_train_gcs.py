"""A fit whose ``storage_path`` is a ``gs://`` URI (issue #16): checkpoints in the bucket, resume from it.

The bucket is gcp-storage-emulator on 127.0.0.1, reached through ``STORAGE_EMULATOR_HOST`` as every
other ``gs://`` path of roboact is; Ray's own GCS client would not reach it (``storage.ray_storage``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from roboact.distributed.train import fit

from roboact import storage
from tests.core import test_storage as storage_fixtures

from .conftest import tiny_train_config

pytestmark = pytest.mark.ray

gcs_endpoint = storage_fixtures.gcs_endpoint  # a loopback GCS server for this module (fixture)
gs = storage_fixtures.gs  # a bucket URI on it, env pointed at it (fixture)


@pytest.mark.timeout(420)
def test_a_fit_keeps_its_checkpoints_in_a_gs_bucket_and_a_fresh_node_continues_from_them(
    ray_session, tiny_features: Path, gs: str, tmp_path: Path
) -> None:
    ray_uri = f"{gs}/ray_results"
    cfg = tiny_train_config(
        tiny_features, tmp_path, "gcsfit", max_steps=20, checkpoint_every=10, workers=1, storage_path=ray_uri
    )
    out = fit(cfg)
    assert out["metrics"]["step"] == 20

    fs, path = storage.filesystem(f"{ray_uri}/gcsfit")
    in_bucket = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, refresh=True)}
    assert "checkpoint_step0000020" in in_bucket, in_bucket
    assert not list(tmp_path.rglob("checkpoint_step*")), "a checkpoint was written to a local folder"

    # A fresh node: the local run directory is gone; the same command with a larger budget
    # continues from the bucket's newest checkpoint instead of starting again.
    shutil.rmtree(tmp_path / "gcsfit")
    longer = tiny_train_config(
        tiny_features, tmp_path, "gcsfit", max_steps=30, checkpoint_every=10, workers=1, storage_path=ray_uri
    )
    again = fit(longer)
    assert again["metrics"]["resumed_from"] == 20 and again["metrics"]["step"] == 30


@pytest.mark.timeout(420)
def test_a_sweep_keeps_its_experiment_in_a_gs_bucket_and_a_rerun_restores_it(
    ray_session, tiny_features: Path, gs: str, tmp_path: Path
) -> None:
    from roboact.distributed.tune import sweep

    ray_uri = f"{gs}/ray_results"
    overrides = ["num_samples=1", "train_overrides=[optim.max_steps=10,log_every=5,checkpoint_every=10]"]

    def run() -> dict:
        return sweep(
            "sweep_smoke",
            tiny_features,
            name="gsweep",
            runs_root=tmp_path,
            storage_path=ray_uri,
            overrides=overrides,
        )

    out = run()
    assert out["n_trials"] == 1 and out["n_errors"] == 0

    fs, path = storage.filesystem(f"{ray_uri}/gsweep")
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, refresh=True)]
    assert any(n.startswith("experiment_state") for n in names), names  # Tune's state is in the bucket
    assert sum(n.startswith("_trial_") or n.startswith("trial_") for n in names) == 1, names
    assert fs.glob(f"{path}/train_runs/*/checkpoint_step*/train_state.pt")  # the trials' checkpoints too

    # A rerun restores the experiment from the bucket instead of running the trials again.
    again = run()
    assert again["n_trials"] == 1 and again["best_params"] == out["best_params"]
