"""Ray Train fits on the tiny store: learning, checkpoints, identical banks, worker kill, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from roboact.distributed.cli import register
from roboact.distributed.fit_data import load_fit_data
from roboact.distributed.run_logger import read_metrics
from roboact.distributed.train import TrainConfig, fit, prepare_fit
from roboact.distributed.train_loop import build_model, evaluate_arrays
from typer.testing import CliRunner

from roboact.config import load_config
from tests.waiting import wait_for

from .conftest import tiny_train_config

pytestmark = pytest.mark.ray

LOSS_TERMS = ("clip_loss", "sim_loss", "l2_loss", "recomb_loss", "disent_loss", "aux_loss", "loss")


@pytest.fixture(scope="module")
def two_worker_fit(ray_session, tiny_features, tmp_path_factory):
    """One 2-worker fit through the CLI and the shipped ``train_tiny`` config, shared by the
    assertions below (Ray Train start-up dominates its cost)."""
    root = tmp_path_factory.mktemp("runs")
    app = typer.Typer()
    register(app)
    args = ["train", "--features", str(tiny_features), "--config", "train_tiny", "--name", "fit2"]
    res = CliRunner().invoke(app, [*args, "--runs-root", str(root), "--workers", "2", "optim.max_steps=40"])
    assert res.exit_code == 0, res.output
    # Ray's worker logs may precede the summary on stdout; the summary is the indented JSON block
    # that starts on a line of its own.
    summary = res.output[re.search(r"^\{$", res.output, re.M).start() :]
    printed = json.JSONDecoder().raw_decode(summary)[0]
    out = json.loads((root / "fit2" / "result.json").read_text())
    assert printed["model_dir"] == out["model_dir"] and printed["steps"] == 40
    overrides = [f"data.features={tiny_features}", f"runs_root={root}", "name=fit2", "workers=2"]
    cfg = load_config(TrainConfig, "train_tiny", [*overrides, "optim.max_steps=40"])
    return cfg, out


@pytest.mark.timeout(300)
def test_fit_raises_validation_accuracy_above_the_untrained_model(two_worker_fit):
    cfg, out = two_worker_fit
    config, _, model_cfg, data = prepare_fit(cfg)
    torch.manual_seed(config.seed)  # the fit's initial weights
    untrained = build_model(model_cfg, data).eval()
    before = evaluate_arrays(untrained, data["val"], torch.device("cpu"))["val/action_acc"]
    after = out["metrics"]["val/action_acc"]
    assert after >= 0.8
    assert after > before + 0.2
    for factor in ("subject", "object"):
        assert out["metrics"][f"val/{factor}_acc"] > 1 / 3


@pytest.mark.timeout(60)
def test_a_finished_fit_frees_its_controller_and_gives_ctrl_c_back(two_worker_fit):
    from ray._private import state

    # Ray Train's SIGINT handler held the controller: each fit kept a TrainController and a
    # DatasetManager process alive until the driver exited
    handler = signal.getsignal(signal.SIGINT)
    assert "DataParallelTrainer" not in getattr(handler, "__qualname__", ""), handler

    def alive_controllers() -> list[str]:
        actors = state.actors().values()
        return [
            a["ActorID"] for a in actors if a["ActorClassName"] == "TrainController" and a["State"] == "ALIVE"
        ]

    wait_for(lambda: not alive_controllers(), 30, "the finished fit's TrainController to exit")


@pytest.mark.timeout(300)
def test_fit_writes_checkpoints_a_loadable_model_and_every_loss_term(two_worker_fit):
    from roboact.models.modeling_roboact import RoboActCLIP

    cfg, out = two_worker_fit
    ckpts = sorted(Path(out["storage_path"], out["name"]).glob("checkpoint_step*"))
    assert [p.name for p in ckpts] == ["checkpoint_step0000020", "checkpoint_step0000040"]
    for ckpt in ckpts:
        assert (ckpt / "model" / "model.safetensors").is_file() and (ckpt / "train_state.pt").is_file()
    state = torch.load(ckpts[-1] / "train_state.pt", weights_only=True)
    assert state["step"] == 40 and state["optimizer"]["state"]
    model = RoboActCLIP.from_pretrained(out["model_dir"])
    best = RoboActCLIP.from_pretrained(Path(out["best_checkpoint_dir"]) / "model")
    assert model.config.n_frames == 4 and model.config.num_actions == 4
    assert best.bank_action.abs().sum() > 0  # banks travel inside the checkpoint
    rows = [r for r in read_metrics(out["run_dir"]) if "step" in r]
    assert [r["step"] for r in rows] == [10, 20, 30, 40]
    for term in LOSS_TERMS:
        assert all(np.isfinite(r[f"train/{term}"]) for r in rows), term
    assert all("val/action_acc_text" in r for r in rows)
    assert list(Path(out["run_dir"], "tb").glob("events.out.tfevents.*"))


@pytest.mark.timeout(300)
def test_feature_banks_are_identical_on_both_workers_after_an_update(two_worker_fit):
    _, out = two_worker_fit
    rows = [r for r in read_metrics(out["run_dir"]) if "step" in r]
    for row in rows:
        ranks = sorted(w["rank"] for w in row["workers"])
        assert ranks == [0, 1]
        # bank_interval 5 divides log_every 10: every report directly follows a bank update
        assert {w["bank_step"] for w in row["workers"]} == {row["step"] - 5}
        assert len({w["bank_sha"] for w in row["workers"]}) == 1
        assert len({w["pid"] for w in row["workers"]}) == 2
    assert len({r["workers"][0]["bank_sha"] for r in rows}) == len(rows)  # the banks do change


@pytest.mark.timeout(60)
def test_rerun_of_a_finished_fit_returns_its_result_without_training(two_worker_fit, monkeypatch):
    import roboact.distributed.train as train_mod

    cfg, out = two_worker_fit
    n_rows = len(read_metrics(out["run_dir"]))

    def no_training(*args, **kwargs):
        raise AssertionError("a finished fit started the trainer again")

    monkeypatch.setattr(train_mod, "run_trainer", no_training)
    again = fit(cfg)
    assert again["checkpoint_dir"] == out["checkpoint_dir"]
    assert len(read_metrics(out["run_dir"])) == n_rows


@pytest.mark.timeout(900)
def test_killed_worker_resumes_from_checkpoint_and_rerun_continues_a_stopped_run(
    ray_session, tiny_features, tmp_path
):
    cfg = tiny_train_config(
        tiny_features,
        tmp_path,
        "killed",
        max_steps=40,
        checkpoint_every=10,
        step_sleep_s=0.1,
        max_failures=2,
    )
    run_dir = tmp_path / "killed"
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(fit(cfg)), daemon=True)
    thread.start()
    row = wait_for(
        lambda: next((r for r in read_metrics(run_dir) if r.get("checkpoint") and r["step"] >= 10), None),
        420,
        "the first checkpoint",
    )
    victim = next(w["pid"] for w in row["workers"] if w["rank"] == 1)
    os.kill(victim, signal.SIGKILL)  # a real worker process dies mid-fit
    thread.join(480)
    assert not thread.is_alive() and result, "fit did not finish after the worker was killed"

    rows = read_metrics(run_dir)
    assert any(r.get("event") == "worker_failure" for r in rows)
    resumed = [r for r in rows if r.get("resumed_from", -1) >= 10]
    assert resumed, "no report after the kill came from a restored checkpoint"
    first = resumed[0]
    assert first["step"] > first["resumed_from"] >= row["step"]  # continued, not restarted from 0
    assert victim not in {w["pid"] for w in first["workers"]}
    assert result["metrics"]["step"] == 40
    assert json.loads((run_dir / "result.json").read_text())["steps"] == 40

    # The same command with a larger budget continues the stopped run from its newest checkpoint.
    longer = tiny_train_config(tiny_features, tmp_path, "killed", max_steps=50, checkpoint_every=10)
    out = fit(longer)
    assert out["metrics"]["resumed_from"] == 40 and out["metrics"]["step"] == 50


@pytest.mark.timeout(60)
def test_bad_inputs_name_the_field_or_file(tiny_features, tmp_path):
    from roboact.datasets.stores import StoreError

    with pytest.raises(StoreError, match="no split named 'nope'"):
        load_fit_data(tiny_features, "nope")
    with pytest.raises(StoreError, match="no such feature store"):
        load_fit_data(tmp_path / "missing.h5", "random")
    with pytest.raises(ValueError, match="n_frames"):
        tiny_train_config(tiny_features, tmp_path, "bad", model={"n_frames": 8})
    with pytest.raises(ValueError, match="data.features"):
        prepare_fit(tiny_train_config("", tmp_path, "nofeat"))
