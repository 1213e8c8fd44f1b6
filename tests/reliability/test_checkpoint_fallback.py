"""A truncated newest checkpoint no longer crashes a resume: it falls back to the newest readable one,
naming the one it skipped (issue #18, finding 3)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from roboact.distributed.train import fit, prepare_fit
from roboact.distributed.train_loop import (
    MODEL_SUBDIR,
    StepRunner,
    build_model,
    checkpoint_name,
    restore_newest_readable,
    save_checkpoint,
)

from tests.distributed.conftest import build_feature_store, tiny_train_config


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.fixture
def tiny(tmp_path):
    cfg = tiny_train_config(build_feature_store(tmp_path / "store"), tmp_path / "runs", "fallback")
    _, _, model_cfg, data = prepare_fit(cfg)

    def make() -> tuple[torch.nn.Module, StepRunner]:
        model = build_model(model_cfg, data)
        return model, StepRunner(model, model, cfg, total=50, device=torch.device("cpu"))

    return make


def _two_checkpoints(make, root: Path) -> dict[int, dict[str, torch.Tensor]]:
    """Checkpoints at steps 10 and 20 with different weights; returns each step's weights."""
    model, runner = make()
    weights = {}
    for step in (10, 20):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(float(step))
        save_checkpoint(root / checkpoint_name(step), model, runner, step, step // 5, {})
        weights[step] = {k: v.clone() for k, v in model.state_dict().items()}
    return weights


def _candidates(root: Path, steps=(20, 10)):
    return [
        (checkpoint_name(s), lambda s=s: contextlib.nullcontext(root / checkpoint_name(s))) for s in steps
    ]


@pytest.mark.parametrize("victim", ["model/model.safetensors", "train_state.pt"])
def test_a_truncated_newest_checkpoint_falls_back_to_the_older_one(tiny, tmp_path, victim, caplog):
    weights = _two_checkpoints(tiny, tmp_path / "ckpts")
    _truncate(tmp_path / "ckpts" / checkpoint_name(20) / victim)
    model, runner = tiny()
    with caplog.at_level("WARNING"):
        step, skipped = restore_newest_readable(_candidates(tmp_path / "ckpts"), model, runner)
    assert step == 10
    assert len(skipped) == 1 and skipped[0].startswith("checkpoint_step0000020: ")
    assert "checkpoint_step0000020 is unreadable" in caplog.text
    assert all(torch.equal(v, weights[10][k]) for k, v in model.state_dict().items())


def test_the_newest_checkpoint_is_used_when_it_is_readable(tiny, tmp_path):
    weights = _two_checkpoints(tiny, tmp_path / "ckpts")
    model, runner = tiny()
    assert restore_newest_readable(_candidates(tmp_path / "ckpts"), model, runner) == (20, [])
    assert all(torch.equal(v, weights[20][k]) for k, v in model.state_dict().items())


def test_with_no_readable_checkpoint_training_starts_over_with_untouched_weights(tiny, tmp_path):
    _two_checkpoints(tiny, tmp_path / "ckpts")
    for step in (10, 20):
        _truncate(tmp_path / "ckpts" / checkpoint_name(step) / MODEL_SUBDIR / "model.safetensors")
    model, runner = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step, skipped = restore_newest_readable(_candidates(tmp_path / "ckpts"), model, runner)
    assert step == 0 and [s.split(":")[0] for s in skipped] == [checkpoint_name(20), checkpoint_name(10)]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_new_checkpoint_never_reuses_the_folder_of_an_unreadable_one():
    assert checkpoint_name(40) == "checkpoint_step0000040"
    assert checkpoint_name(40, ["checkpoint_step0000040"]) == "checkpoint_step0000040_r"
    assert checkpoint_name(40, ["checkpoint_step0000040", "checkpoint_step0000040_r"]).endswith("_r_r")


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_fit_resumes_from_the_older_checkpoint_when_the_newest_is_truncated(ray_session, tmp_path):
    features = build_feature_store(tmp_path / "store")
    first = fit(tiny_train_config(features, tmp_path, "trunc", max_steps=20, checkpoint_every=10, workers=1))
    storage = Path(first["storage_path"], "trunc")
    assert sorted(p.name for p in storage.glob("checkpoint_step*")) == [
        checkpoint_name(10),
        checkpoint_name(20),
    ]
    _truncate(storage / checkpoint_name(20) / MODEL_SUBDIR / "model.safetensors")

    out = fit(tiny_train_config(features, tmp_path, "trunc", max_steps=30, checkpoint_every=10, workers=1))
    assert out["metrics"]["resumed_from"] == 10 and out["metrics"]["resume_skipped"] == 1
    assert out["metrics"]["step"] == 30
    rows = [json.loads(line) for line in (tmp_path / "trunc" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r.get("resumed_from") == 10][0] == 20  # steps 11-20 rerun
    assert (storage / (checkpoint_name(20) + "_r")).is_dir()  # not written into the truncated one's folder
