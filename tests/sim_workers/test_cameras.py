"""A LIBERO wrist view end to end: the env renders it, a demo records it, and the settings say so."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.sim_workers.envs.registry import EnvConfig, env_fingerprint, make_env

WRIST = "robot0_eye_in_hand"


def test_camera_lists_must_start_with_the_agent_view_and_be_distinct():
    assert EnvConfig(cameras=["agentview", WRIST]).cameras == ("agentview", WRIST)  # YAML gives lists
    for bad in ([], [WRIST], ["agentview", "agentview"]):
        with pytest.raises(ValueError, match="cameras"):
            EnvConfig(cameras=bad)


def test_default_cameras_leave_the_resume_fingerprint_as_it_was():
    """Demo files and eval run directories written before cameras existed must still resume."""
    assert "cameras" not in env_fingerprint(EnvConfig())
    assert env_fingerprint(EnvConfig(cameras=("agentview", WRIST)))["cameras"] == ["agentview", WRIST]


@pytest.mark.sim
@pytest.mark.timeout(120)
def test_kitchen_refuses_a_camera_it_does_not_have():
    with pytest.raises(ValueError, match="Kitchen renders one view"):
        make_env("slide", image_size=32, cameras=("agentview", WRIST))


@pytest.mark.sim
@pytest.mark.timeout(300)
def test_a_libero_demo_records_every_camera_and_training_reads_each(tmp_path):
    from roboact.distributed.policy_data import read_demos
    from roboact.sim_workers.demos import _write_demo
    from roboact.sim_workers.eval import rollout
    from roboact.sim_workers.experts import ExpertPolicy

    env = make_env("T1", image_size=32, max_steps=3, cameras=("agentview", WRIST))
    try:
        obs, _ = env.reset(options={"episode": 0})
        assert list(obs["images"]) == ["agentview", WRIST] and obs["image"] is obs["images"]["agentview"]
        # a different view: the wrist camera does not see what the agent view sees
        assert np.abs(obs["images"][WRIST].astype(int) - obs["image"].astype(int)).mean() > 5
        expert = ExpertPolicy()
        expert.bind_env(env)
        result = rollout(env, expert, episode=0, seed=0, record=True)
        job = {"task": "T1", "episode": 0, "seed": 0}
        _write_demo(tmp_path / "d.h5", 0, job, {**result, "success": True}, env.env_args(), "libero")
    finally:
        env.close()
    (demo,) = read_demos([tmp_path / "d.h5"]).demos
    assert demo.images().shape == demo.images(WRIST).shape == (3, 32, 32, 3)
    assert not np.array_equal(demo.images(), demo.images(WRIST))
    with pytest.raises(ValueError, match=r"d\.h5: /data/demo_0 has no obs/frontview_rgb"):
        demo.images("frontview")
