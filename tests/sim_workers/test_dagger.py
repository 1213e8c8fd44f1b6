"""DAgger: the learned head runs, the scripted expert labels every step, the labels are trained on."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from roboact.distributed.policy_data import read_demos
from roboact.sim_workers.dagger import ExpertLabelledPolicy, parse_dagger_spec
from roboact.sim_workers.demos import collect_demos
from roboact.sim_workers.policy import LinearPolicy


class Constant:
    def __init__(self, value: float) -> None:
        self.value, self.resets = value, 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs):
        return np.full(3, self.value, np.float32)


def test_spec_gives_directory_and_mixing_probability():
    assert parse_dagger_spec("dagger:/ck") == ("/ck", 0.0)
    assert parse_dagger_spec("dagger:/ck@beta=0.25") == ("/ck", 0.25)
    for bad in ("dagger:", "dagger:/ck@beta=2", "dagger:/ck@gamma=1", "dagger:/ck@beta=x", "/ck"):
        with pytest.raises(ValueError):
            parse_dagger_spec(bad)


def test_head_runs_and_the_expert_labels_every_step():
    p = ExpertLabelledPolicy(Constant(0.5), Constant(-1.0), beta=0.0)
    p.reset()
    executed = [p.act({}) for _ in range(4)]
    assert all(np.all(a == 0.5) for a in executed)
    assert len(p.action_labels) == 4 and all(np.all(a == -1.0) for a in p.action_labels)
    p.reset()
    assert p.action_labels == [] and p.learner.resets == 2 and p.expert.resets == 2


def test_beta_one_executes_the_expert():
    p = ExpertLabelledPolicy(Constant(0.5), Constant(-1.0), beta=1.0)
    p.reset()
    assert all(np.all(p.act({}) == -1.0) for _ in range(3))


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(300)
def test_dagger_episodes_record_expert_labels_and_are_trained_on_even_when_failed(ray_session, tmp_path):
    head = LinearPolicy(np.zeros((9, 9)), np.full(9, 0.1)).save(tmp_path / "head")
    out = tmp_path / "dagger.h5"
    collect_demos(
        "kitchen",
        "slide",
        1,
        out,
        workers=1,
        image_size=32,
        max_steps=6,
        seed_base=200_000,
        policy=f"dagger:{head}",
    )
    with h5py.File(out) as f:
        grp = f["data/demo_0"]
        assert str(grp.attrs["policy"]) == f"dagger:{head.resolve()}"
        assert not grp.attrs["success"]  # 6 steps of a constant action open nothing
        np.testing.assert_allclose(grp["executed_actions"][()], 0.1)  # what ran: the head
        labels = grp["actions"][()]
    assert labels.shape == (6, 9) and np.isfinite(labels).all()
    assert np.abs(labels - 0.1).max() > 0.05  # the expert's own actions, not the head's
    kept = read_demos([out])
    assert len(kept.demos) == 1 and kept.demos[0].relabelled
    np.testing.assert_array_equal(kept.demos[0].actions, labels)
