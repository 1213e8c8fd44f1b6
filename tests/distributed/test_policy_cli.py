"""`roboact policy train` takes dotted key=value overrides like every other command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from roboact.cli import app


@pytest.fixture
def captured(monkeypatch):
    """train_policy replaced by a recorder: the CLI's config is checked without Ray or training."""
    import roboact.distributed.policy as policy_mod

    seen = {}

    def fake_train(demos, features, out, config=None, **kwargs):
        seen["cfg"], seen["features"] = config, features
        return {"final_loss": 0.0}

    monkeypatch.setattr(policy_mod, "train_policy", fake_train)
    return seen


def _args(tmp_path):
    from .policy_fixtures import write_demo_file

    demos = tmp_path / "d.h5"
    if not demos.exists():
        write_demo_file(demos, demos_per_task=1, steps=3, image_size=16)
    return ["policy", "train", "--demos", str(demos), "--features", "embedded", "--out", str(tmp_path / "o")]


def test_positional_overrides_reach_the_config_and_the_old_set_option_is_gone(captured, tmp_path):
    res = CliRunner().invoke(app, [*_args(tmp_path), "lr=3e-4", "cameras=[agentview,robot0_eye_in_hand]"])
    assert res.exit_code == 0, res.output
    assert captured["cfg"].lr == pytest.approx(3e-4)
    assert captured["cfg"].cameras == ["agentview", "robot0_eye_in_hand"]
    res = CliRunner().invoke(app, [*_args(tmp_path), "chunk=4"])
    assert res.exit_code == 0, res.output
    assert captured["cfg"].chunk == 4
    res = CliRunner().invoke(app, [*_args(tmp_path), "--set", "chunk=3"])  # one override syntax (#16)
    assert res.exit_code == 2 and "No such option: --set" in res.output


def test_an_unknown_override_key_is_named_before_anything_trains(captured, tmp_path):
    res = CliRunner().invoke(app, [*_args(tmp_path), "lrr=3e-4"])
    assert res.exit_code != 0 and "lrr" in res.output
    assert "cfg" not in captured


def test_the_command_s_default_head_sees_a_history_and_runs_chunks_of_five(captured, tmp_path):
    res = CliRunner().invoke(app, _args(tmp_path))
    assert res.exit_code == 0, res.output
    assert captured["features"] == "embedded@history=3,every=4" and captured["cfg"].chunk == 5
    # a spec naming its own history keeps it; history='' and chunk=1 give the current step's head
    res = CliRunner().invoke(
        app, [*_args(tmp_path)[:-4], "--features", "embedded@k=2,history=2", *_args(tmp_path)[-2:]]
    )
    assert res.exit_code == 0, res.output
    assert captured["features"] == "embedded@k=2,history=2"
    res = CliRunner().invoke(app, [*_args(tmp_path), "history=", "chunk=1"])
    assert res.exit_code == 0, res.output
    assert captured["features"] == "embedded" and captured["cfg"].chunk == 1
    res = CliRunner().invoke(app, [*_args(tmp_path), "history=3"])
    assert res.exit_code == 2 and "history=H[,every=S]" in res.output


def _add_wrist_view(path) -> None:
    """Give every demo of ``path`` a second camera, as ``sim demos`` records LIBERO's wrist view."""
    import h5py
    import numpy as np

    with h5py.File(path, "a") as h5:
        for demo in h5["data"].values():
            frames = demo["obs/agentview_rgb"]
            demo["obs/robot0_eye_in_hand_rgb"] = np.zeros(frames.shape, np.uint8)


def test_the_head_sees_every_view_the_demos_recorded_unless_cameras_names_them(captured, tmp_path):
    res = CliRunner().invoke(app, _args(tmp_path))
    assert res.exit_code == 0, res.output
    assert captured["cfg"].cameras == ["agentview"]  # Kitchen-like demos: the one view there is
    _add_wrist_view(tmp_path / "d.h5")
    res = CliRunner().invoke(app, _args(tmp_path))
    assert res.exit_code == 0, res.output
    assert captured["cfg"].cameras == ["agentview", "robot0_eye_in_hand"]
    res = CliRunner().invoke(app, [*_args(tmp_path), "cameras=[agentview]"])
    assert res.exit_code == 0, res.output
    assert captured["cfg"].cameras == ["agentview"]
    res = CliRunner().invoke(app, [*_args(tmp_path), "cameras=[robot0_eye_in_hand]"])
    assert res.exit_code == 2 and "start with 'agentview'" in res.output
