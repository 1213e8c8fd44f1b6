"""RLlib BC with a remote learner actor (``num_learners=1``): trains through the CLI, the weights come
back to the driver's checkpoint directory, and the checkpoint loads and acts."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from roboact.distributed.policy import PolicyTrainConfig, load_policy
from typer.testing import CliRunner

from .policy_fixtures import ACTION_DIM, STATE_DIM, render, write_demo_file

pytestmark = pytest.mark.ray


def _learner_actors() -> list[dict]:
    """RLlib learner actors this Ray instance ever ran (alive or dead), from the GCS actor table."""
    from ray._private import state

    return [a for a in state.actors().values() if "Learner" in a.get("ActorClassName", "")]


@pytest.mark.timeout(300)
def test_bc_with_one_remote_learner_trains_and_its_checkpoint_acts(ray_session, tmp_path):
    from roboact.cli import app

    demos = write_demo_file(tmp_path / "demos.h5", tasks=["slide"], demos_per_task=2, steps=20, image_size=32)
    before = {a["ActorID"] for a in _learner_actors()}
    out = tmp_path / "ckpt"
    args = ["policy", "train", "--demos", str(demos), "--features", "embedded", "--out", str(out)]
    args += ["--iterations", "30", "--batch-size", "32", "--num-learners", "1"]
    args += ["image_size=32", "lr=3e-3", "log_every=1000"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.rindex("\n{") :])  # the command's last output
    assert summary["iterations"] == 30 and summary["final_loss"] < summary["first_loss"]

    # the gradient updates ran in a learner actor of its own, not in this process
    learners = [a for a in _learner_actors() if a["ActorID"] not in before]
    assert len(learners) == 1 and learners[0]["Pid"] != os.getpid()
    meta = json.loads((out / "policy.json").read_text())
    assert meta["train_config"]["num_learners"] == 1

    policy = load_policy(out)  # written on the driver's side from the learner's weights
    policy.reset()
    state = np.linspace(-0.5, 0.5, STATE_DIM).astype(np.float32)
    action = policy.act({"image": render(state, 32), "state": state, "task": "slide"})
    assert action.shape == (ACTION_DIM,) and np.isfinite(action).all()


def test_learner_settings_are_checked():
    with pytest.raises(ValueError, match="num_learners, cpus_per_learner and gpus_per_learner must be >= 0"):
        PolicyTrainConfig(num_learners=-1)
    from roboact.distributed.policy import _learner_resources

    assert _learner_resources(PolicyTrainConfig())["num_learners"] == 0  # the default: no actor
    remote = _learner_resources(PolicyTrainConfig(num_learners=2, cpus_per_learner=0.5))
    assert remote == {"num_learners": 2, "num_cpus_per_learner": 0.5, "num_gpus_per_learner": 0.0}


def test_remote_learners_that_leave_no_cpu_for_reading_the_data_are_refused(ray_session):
    from roboact.distributed.policy import _learner_resources

    from roboact.errors import UserError

    cpus = ray_session.cluster_resources()["CPU"]
    too_many = int(cpus)  # int(cpus) 1-CPU learners leave less than the 1.5 CPUs reading needs
    message = rf"need {too_many + 1.5:g} CPUs, this Ray cluster has {cpus:g}; lower cpus_per_learner"
    with pytest.raises(UserError, match=message):
        _learner_resources(PolicyTrainConfig(num_learners=too_many, cpus_per_learner=1.0))
    fits = PolicyTrainConfig(num_learners=1, cpus_per_learner=cpus - 1.5)
    assert _learner_resources(fits)["num_cpus_per_learner"] == cpus - 1.5
