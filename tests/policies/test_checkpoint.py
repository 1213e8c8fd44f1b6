"""The inference side of a head: its checkpoint contract, the loader both runners share, the ensembling.

Checkpoints here are written by hand (a fresh head plus its ``policy.json``), so these tests need
neither Ray nor training; ``tests/distributed/test_policy.py`` covers checkpoints that training writes.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from roboact.policies import HeadPolicy, load_checkpoint
from roboact.policies.normaliser import Normaliser

load_policy = load_checkpoint


def _rollout_actions(policy, images, states, task):
    policy.reset()
    return np.stack(
        [policy.act({"image": i, "state": s, "task": task}) for i, s in zip(images, states, strict=True)]
    )


def test_load_policy_reports_missing_parts(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_policy(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no policy.json"):
        load_policy(tmp_path)
    (tmp_path / "policy.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="format 'something-else'"):
        load_policy(tmp_path)
    (tmp_path / "policy.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_policy(tmp_path)


def _handmade_checkpoint(path, features, feature_dim, state_dim=4, action_dim=3, image_size=64):
    """A checkpoint written without training: a fresh head plus its policy.json (the load contract)."""
    from roboact.policies.module import PolicyHeadModule

    obs_dim = feature_dim + state_dim
    module = PolicyHeadModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
        action_space=gym.spaces.Box(-1, 1, (action_dim,), np.float32),
        model_config={"hidden_sizes": [16]},
    )
    module.save_to_path(str(path / "rl_module"))
    rng = np.random.default_rng(0)
    norm = Normaliser(
        obs_mean=rng.normal(size=obs_dim).astype(np.float32), obs_std=np.full(obs_dim, 2.0, np.float32),
        action_low=np.full(action_dim, -0.5, np.float32), action_high=np.full(action_dim, 0.5, np.float32),
        tasks=["only"],
    )  # fmt: skip
    meta = {  # the first checkpoint format (one head, no "heads"), which load_policy still reads
        "format": "roboact-policy/1", "features": features, "feature_dim": feature_dim,
        "image_size": image_size,
        "state_dim": state_dim, "action_dim": action_dim, "obs_dim": obs_dim, "module_dir": "rl_module",
        "normalisation": norm.to_json(),
    }  # fmt: skip
    (path / "policy.json").write_text(json.dumps(meta))
    return module, norm


@pytest.mark.timeout(300)
def test_roboact_spec_policy_is_built_from_its_checkpoint(tmp_path):
    """A roboact: head loads with the RoboAct-CLIP window and acts as module(norm(features, state))."""
    import torch
    from roboact.models.configuration_roboact import RoboActConfig
    from roboact.models.modeling_roboact import RoboActCLIP
    from roboact.policies.features import FeatureExtractor, FeatureSpec

    model_dir = tmp_path / "model"
    cfg = RoboActConfig(
        visual_dim=1280, embed_dim=8, hidden_dim=16, n_frames=3, transformer_layers=1, transformer_heads=2,
        attn_heads=2, num_subjects=2, num_actions=2, num_objects=2,
    )  # fmt: skip
    RoboActCLIP(cfg).save_pretrained(model_dir)
    spec = f"roboact:{model_dir}"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    module, norm = _handmade_checkpoint(ckpt, spec, feature_dim=24)
    policy = load_policy(ckpt)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 255, size=(4, 64, 64, 3), dtype=np.uint8)
    states = rng.normal(size=(4, 4)).astype(np.float32)
    got = _rollout_actions(policy, images, states, "only")
    feats = FeatureExtractor(FeatureSpec.parse(spec), image_size=64).episode(images)  # (4, 3E)
    want = norm.unnorm_action(module.mean_action(torch.from_numpy(norm.obs(feats, states, "only"))).numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert (got >= -0.5).all() and (got <= 0.5).all()


@pytest.mark.timeout(300)
def test_checkpoint_whose_spec_no_longer_fits_is_rejected(tmp_path):
    _handmade_checkpoint(tmp_path, "embedded", feature_dim=99)
    with pytest.raises(ValueError, match="feature_dim 99"):
        load_policy(tmp_path)


class _ConstantChunks:
    """A head stand-in whose k-th call predicts the chunk [k/10, k/10, ...] (normalised units)."""

    def __init__(self, chunk: int, action_dim: int) -> None:
        self.calls, self.chunk, self.action_dim = 0, chunk, action_dim

    def mean_action(self, x):
        import torch

        self.calls += 1
        return torch.full((1, self.chunk * self.action_dim), self.calls / 10)


def test_temporal_ensembling_averages_pending_predictions_oldest_weighted_most():
    from roboact.policies.normaliser import Normaliser

    class Window:
        dim = 2

        def reset(self):
            pass

        def step(self, image):
            return np.zeros(2, np.float32)

    a = 1
    norm = Normaliser(
        np.zeros(3, np.float32),
        np.ones(3, np.float32),
        np.full(a, -1, np.float32),
        np.full(a, 1, np.float32),
        ["slide"],
    )  # fmt: skip  (unnorm_action is the identity)
    meta = {"state_dim": 1, "action_dim": a, "features": "x", "chunk": 3, "ensemble_decay": 0.5}
    policy = HeadPolicy({"*": (_ConstantChunks(3, a), norm)}, Window(), meta)
    obs = {"image": np.zeros((8, 8, 3), np.uint8), "state": np.zeros(1, np.float32)}
    # step 1: only prediction 1; step 2: predictions 1 (older) and 2; step 3: 1, 2, 3; step 4: 2, 3, 4
    w = np.exp(-0.5 * np.arange(3))
    expected = [1.0, (w[:2] @ [1, 2]) / w[:2].sum(), (w @ [1, 2, 3]) / w.sum(), (w @ [2, 3, 4]) / w.sum()]
    got = [10 * float(policy.act(obs)[0]) for _ in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    policy.reset()  # a new episode forgets the pending chunks
    assert 10 * float(policy.act(obs)[0]) == pytest.approx(5.0)


def _embedded_checkpoint(path):
    from roboact.policies.features import FeatureExtractor, FeatureSpec

    dim = FeatureExtractor(FeatureSpec.parse("embedded"), image_size=64).dim
    return _handmade_checkpoint(path, "embedded", feature_dim=dim)


@pytest.mark.timeout(120)
def test_policies_package_imports_no_trainer_no_runner_and_no_torch():
    """Why the package exists: a runner loads heads without the trainer, and reading a checkpoint's
    metadata (the arm's space check) loads neither torch nor Ray."""
    code = (
        "import sys, roboact.policies\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ray')\n"
        "             or m.startswith(('roboact.distributed', 'roboact.sim_workers', 'roboact.hardware')))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.timeout(300)
def test_simulator_pool_and_arm_load_a_checkpoint_through_the_same_loader(tmp_path):
    from roboact.hardware.policy import load_checkpoint_policy
    from roboact.sim_workers.policy import load_policy as load_sim_policy

    _embedded_checkpoint(tmp_path)
    sim, arm = load_sim_policy(str(tmp_path)), load_checkpoint_policy(str(tmp_path))
    assert type(sim) is HeadPolicy and type(arm) is HeadPolicy
    rng = np.random.default_rng(5)
    images = rng.integers(0, 255, size=(3, 64, 64, 3), dtype=np.uint8)
    states = rng.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        _rollout_actions(sim, images, states, "only"), _rollout_actions(arm, images, states, "only")
    )


@pytest.mark.timeout(300)
def test_checkpoint_naming_the_heads_old_module_path_still_loads(tmp_path):
    """Checkpoints written before the head moved to roboact.policies pickle its old class path."""
    import roboact.distributed.policy_module as old_home
    from roboact.policies.module import PolicyHeadModule

    _embedded_checkpoint(tmp_path)
    pkl = tmp_path / "rl_module" / "class_and_ctor_args.pkl"
    data = pickle.loads(pkl.read_bytes())
    assert data["class"] is PolicyHeadModule
    PolicyHeadModule.__module__ = old_home.__name__  # pickle the class by its old path
    try:
        pkl.write_bytes(pickle.dumps(data))
    finally:
        PolicyHeadModule.__module__ = "roboact.policies.module"
    assert b"roboact.distributed.policy_module" in pkl.read_bytes()
    policy = load_checkpoint(tmp_path)
    action = policy.act({"image": np.zeros((64, 64, 3), np.uint8), "state": np.zeros(4, np.float32)})
    assert action.shape == (3,)


def test_checkpoint_check_names_a_head_whose_module_directory_is_empty(tmp_path):
    """The driver-side check the runners make before their actors load anything."""
    import shutil

    from roboact.policies.checkpoint import check_checkpoint

    _handmade_checkpoint(tmp_path, "embedded", feature_dim=8)
    assert check_checkpoint(tmp_path)["state_dim"] == 4
    shutil.rmtree(tmp_path / "rl_module")
    (tmp_path / "rl_module").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no RLModule checkpoint in rl_module/ \(head '\*'"):
        check_checkpoint(tmp_path)


@pytest.mark.timeout(300)
def test_a_two_camera_head_sees_the_wrist_view_and_names_a_missing_one(tmp_path):
    from roboact.policies.features import FeatureExtractor, FeatureSpec

    dim = FeatureExtractor(FeatureSpec.parse("embedded"), image_size=64).dim
    _handmade_checkpoint(tmp_path, "embedded", feature_dim=2 * dim)
    meta = json.loads((tmp_path / "policy.json").read_text())
    meta["cameras"] = ["agentview", "robot0_eye_in_hand"]
    (tmp_path / "policy.json").write_text(json.dumps(meta))
    policy = load_checkpoint(tmp_path)
    rng = np.random.default_rng(0)
    agent, wrist_a, wrist_b = (rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(3))
    state = np.zeros(4, np.float32)

    def act(wrist):
        policy.reset()
        return policy.act({"image": agent, "images": {"robot0_eye_in_hand": wrist}, "state": state})

    assert not np.allclose(act(wrist_a), act(wrist_b))  # the wrist view reaches the head
    np.testing.assert_allclose(act(wrist_a), act(wrist_a))
    policy.reset()
    with pytest.raises(KeyError, match="robot0_eye_in_hand"):
        policy.act({"image": agent, "state": state})
