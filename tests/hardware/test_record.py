"""Recording demonstrations through the arm: the demo layout, sample counts, faults, resuming, devices."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from roboact.distributed.policy_data import read_demos
from roboact.hardware.actor import ArmExecutor
from roboact.hardware.demo_file import EpisodeWriter
from roboact.hardware.judge import AutoJudge
from roboact.hardware.record import record_demos
from roboact.hardware.safety import load_safety_config
from roboact.hardware.teleop import KeyboardTeleop
from roboact.sim_workers.demos import iter_demos
from typer.testing import CliRunner

from roboact.cli import app
from roboact.config import config_to_dict
from roboact.errors import UserError

from .conftest import small_plan

RATE = 125  # the K-1's control rate (hardware/robots/jaka_k1.yaml)


@pytest.mark.timeout(120)
def test_scripted_recording_on_the_sim_arm_writes_demos_the_policy_loader_reads(tmp_path):
    out = tmp_path / "rec.hdf5"
    plan = small_plan(duration_s=0.4)  # two subtasks of 0.4 s: 50 servo ticks each
    summary = record_demos(plan, out, 2, backend="sim", noise=0.005)
    assert summary["fault"] is None and summary["stopped"] is None
    assert summary["samples"] == [100, 100] == [summary["expected_samples"]] * 2  # duration x rate

    demos = list(iter_demos(out))  # the simulators' reader takes the file as it is
    assert [d["success"] for d in demos] == [True, True]
    d = demos[0]
    assert d["actions"].shape == (100, 8) and d["robot_state"].shape == (100, 8)
    assert d["agentview_rgb"].shape == (100, 128, 128, 3) and d["agentview_rgb"].std() > 0
    safety = load_safety_config()
    lo, hi = np.asarray(safety.joint_lower), np.asarray(safety.joint_upper)
    assert (d["actions"][:, :7] >= lo - 1e-9).all() and (d["actions"][:, :7] <= hi + 1e-9).all()
    steps = np.abs(np.diff(d["actions"][:, :7], axis=0)).max()
    assert steps <= safety.max_step + 1e-6  # what was recorded is what the filter let through
    with h5py.File(out, "r") as f:
        grp = f["data/demo_0"]
        assert f.attrs["suite"] == "arm:jaka_k1"
        assert np.bincount(grp["subtask_index"][()]).tolist() == [50, 50]
        assert json.loads(grp.attrs["subtask_success"]) == [True, True]
        assert np.all(np.diff(grp["obs/timestamp"][()]) > 0)

    demo_set = read_demos([out])  # one demo per subtask, sampled at the head's 25 Hz
    assert demo_set.suite == "arm:jaka_k1:joint_target:25hz"
    assert demo_set.tasks == ["open_drawer", "pick_tape"]
    seg = demo_set.demos[0]
    assert len(demo_set.demos) == 4 and seg.actions.shape == (10, 8)
    assert seg.index.tolist() == list(range(0, 50, 5))
    np.testing.assert_allclose(seg.actions[0], d["actions"][4], rtol=0, atol=1e-6)  # end of the period
    assert seg.images().shape == (10, 128, 128, 3)

    again = record_demos(plan, out, 3, backend="sim", noise=0.005)  # a rerun adds only what is missing
    assert again["skipped"] == 2 and again["recorded"] == 1
    assert len(list(iter_demos(out, images=False))) == 3
    with pytest.raises(UserError, match="policy_hz"):  # one file, one head rate
        record_demos(plan, out, 4, backend="sim", policy_hz=12.5)


class _DropOnSecondEpisode(AutoJudge):
    """Drops the fake controller's connections 30 commands into the second episode."""

    def __init__(self, executor: ArmExecutor) -> None:
        super().__init__()
        self.executor, self.episodes = executor, 0

    def prepare_trial(self, label: str, subtasks=()) -> bool:
        self.episodes += 1
        if self.episodes == 2:
            self.executor.inject(f"drop_after={self.executor.fake.commands + 30}")
        return True


@pytest.mark.timeout(120)
def test_a_dropped_connection_ends_the_recording_and_what_was_written_stays_readable(tmp_path):
    out = tmp_path / "rec.hdf5"
    plan = small_plan(duration_s=0.3)
    executor = ArmExecutor("fake", config_to_dict(plan))
    try:
        summary = record_demos(
            plan, out, 3, backend="fake", executor=executor, judge=_DropOnSecondEpisode(executor)
        )
    finally:
        executor.close()
    assert summary["fault"] == "connection_lost" and summary["recorded"] == 2
    demos = list(iter_demos(out))
    assert [d["success"] for d in demos] == [True, False]
    assert len(demos[0]["actions"]) == summary["expected_samples"]
    assert 0 < len(demos[1]["actions"]) < summary["expected_samples"]  # kept up to the fault
    with h5py.File(out, "r") as f:
        assert f["data/demo_1"].attrs["fault"] == "connection_lost"
        assert bool(f["data/demo_1"].attrs["complete"])
    assert {d.name.split(":")[0] for d in read_demos([out]).demos} == {"demo_0"}

    # the faulted episode is recorded again (on the simulated arm: the fake controller's real-time
    # speed checks can trip on a heavily loaded machine, which is not what this checks)
    rerun = record_demos(plan, out, 3, backend="sim")
    assert rerun["fault"] is None and rerun["skipped"] == 1 and rerun["recorded"] == 2
    assert [d["episode_id"] for d in iter_demos(out, images=False)] == [0, 1, 1, 2]


def test_record_on_the_real_arm_needs_an_explicit_camera(tmp_path):
    out = tmp_path / "rec.hdf5"
    res = CliRunner().invoke(app, ["hardware", "record", "--backend", "jaka", "--out", str(out)])
    assert res.exit_code == 2 and "--camera is required with --backend jaka" in res.output
    assert not out.exists()
    with pytest.raises(Exception, match="jaka backend needs a camera named"):
        ArmExecutor("jaka", config_to_dict(small_plan()))  # the Python API refuses as well


def test_keyboard_device_jogs_joints_toggles_the_gripper_and_ends_subtasks():
    r, w = os.pipe()
    with os.fdopen(r, "rb", buffering=0) as stream:
        dev = KeyboardTeleop(7, jog=0.01, stream=stream)
        dev.reset()
        obs = {"joints": np.zeros(7), "gripper": 0.0}
        os.write(w, b"qqj ")
        out = dev.act(obs)
        np.testing.assert_allclose(out, [0.02, 0, 0, 0, 0, 0, -0.01, 1.0])
        assert not dev.done
        os.write(w, b"n")
        dev.act(obs)
        assert dev.done and not dev.aborted
        dev.reset()
        os.write(w, b"x")
        dev.act(obs)
        assert dev.done and dev.aborted
    os.close(w)


def test_frames_written_as_precompressed_chunks_read_back_exactly(tmp_path):
    out = tmp_path / "w.hdf5"
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (130, 16, 16, 3), dtype=np.uint8)  # more than one block
    writer = EpisodeWriter(out, 0, {"suite": "arm:jaka_k1"}, {"task": "t", "env_args": {}})
    for k, frame in enumerate(frames):
        writer.add({"actions": np.full(8, k, np.float32), "obs/agentview_rgb": frame})
    writer.finish({"success": True})
    with h5py.File(out, "r") as f:
        grp = f["data/demo_0"]
        assert grp["obs/agentview_rgb"].compression == "gzip"
        np.testing.assert_array_equal(grp["obs/agentview_rgb"][()], frames)
        assert grp["actions"][()][:, 0].tolist() == list(range(130))
        assert grp.attrs["num_samples"] == 130 and bool(grp.attrs["complete"])
