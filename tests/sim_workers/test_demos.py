"""Demo collection: robomimic layout, expert success recorded, resumable, readable by iter_demos."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from roboact.sim_workers.demos import (
    DEFAULT_ACTION_NOISE,
    DEMO_SEED_BASE,
    collect_demos,
    iter_demos,
    replay_actions,
    replay_check,
)
from roboact.sim_workers.envs.libero import GRIPPER_DIMS

pytestmark = [pytest.mark.ray, pytest.mark.sim]


@pytest.mark.timeout(300)
def test_demos_layout_resume_and_reader(ray_session, tmp_path):
    out = tmp_path / "demos_kitchen.hdf5"
    s1 = collect_demos("kitchen", "switch", 2, out, workers=2, image_size=32, max_steps=160)
    assert s1["written"] == 2 and s1["skipped"] == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["suite"] == "kitchen" and int(f.attrs["format_version"]) == 1
        assert "switch" in json.loads(f["data"].attrs["env_args"])
        total = sum(int(g.attrs["num_samples"]) for g in f["data"].values())
        assert int(f["data"].attrs["total"]) == total
        g = f["data/demo_0"]
        t = int(g.attrs["num_samples"])
        assert g["actions"].shape == (t, 9) and g["actions"].dtype == np.float32
        assert g["rewards"].shape == (t,) and g["dones"].dtype == np.uint8 and g["dones"][-1] == 1
        assert g["states"].dtype == np.float64 and g["states"].shape[0] == t
        assert g["obs/agentview_rgb"].shape == (t, 32, 32, 3) and g["obs/robot_state"].shape == (t, 9)
    demos = list(iter_demos(out))
    assert sorted(d["episode_id"] for d in demos) == [0, 1] and all(d["task"] == "switch" for d in demos)
    assert s1["tasks"]["switch"]["episodes"] == 2
    assert s1["tasks"]["switch"]["successes"] == sum(d["success"] for d in demos)
    # rerun with one more episode: only the missing one is collected
    s2 = collect_demos("kitchen", "switch", 3, out, workers=2, image_size=32, max_steps=160)
    assert s2["written"] == 1 and s2["skipped"] == 2 and len(list(iter_demos(out, images=False))) == 3
    assert replay_check(out, "demo_0") == 0.0  # the file's first state is the episode's start


@pytest.mark.timeout(400)
@pytest.mark.parametrize(("suite", "task"), [("kitchen", "slide"), ("libero", "T4")])
def test_replayed_demo_actions_reproduce_the_experts_success(ray_session, tmp_path, suite, task):
    """Sanity ladder, rungs 1-2: the recorded actions are in the env's units, the start is the demo's,
    and a rollout renders the very frames the head is trained on (feature parity then follows from
    ``test_streaming_features_equal_whole_episode_features``)."""
    out = tmp_path / f"demos_{suite}.hdf5"
    collect_demos(suite, task, 1, out, workers=1, image_size=24, max_steps=200)
    demo = next(iter_demos(out, images=False))
    assert demo["success"] and demo["seed"] == DEMO_SEED_BASE
    assert demo["starts"] == ("sampled" if suite == "libero" else "seeded")
    with h5py.File(out, "r") as f:
        grp = f["data"][demo["name"]]
        labels, noise = grp["actions"][()], float(grp.attrs["action_noise"])
        executed = grp["executed_actions"][()] if "executed_actions" in grp else labels
    assert noise == DEFAULT_ACTION_NOISE[suite]
    if noise > 0:  # DART: the expert's own action is the label, the env ran it plus noise on the arm
        arm = [i for i in range(labels.shape[1]) if i not in GRIPPER_DIMS]
        assert not np.allclose(executed[:, arm], labels[:, arm])
        np.testing.assert_array_equal(executed[:, list(GRIPPER_DIMS)], labels[:, list(GRIPPER_DIMS)])
    replay = replay_actions(out, demo["name"], images=True)
    assert replay["success"] and replay["steps"] == demo["num_samples"]
    assert replay["max_state_error"] < 1e-6  # the same trajectory, step for step
    assert replay["max_pixel_error"] == 0  # and the same frames: what a rollout shows the policy
