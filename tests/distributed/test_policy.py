"""RLlib BC policy heads: learning, the checkpoint contract, load_policy, the simulator pool, the CLI."""

from __future__ import annotations

import json

import gymnasium as gym
import h5py
import numpy as np
import pytest
from roboact.distributed.policy import POLICY_FORMAT, load_policy, read_policy_meta, train_policy
from roboact.distributed.policy_data import Normaliser
from typer.testing import CliRunner

from .policy_fixtures import ACTION_DIM, STATE_DIM, write_demo_file

TASKS = ["slide", "micro"]  # Kitchen task names, so the head can run in the Kitchen env adapter


@pytest.fixture(scope="module")
def trained(ray_session, tmp_path_factory):
    """Per-task BC heads trained on 2 tasks x 3 synthetic demos x 30 steps (shared by this module's tests)."""
    root = tmp_path_factory.mktemp("policy")
    demos = write_demo_file(
        root / "demos.h5", tasks=TASKS, demos_per_task=3, steps=30, failed=1, image_size=64
    )
    from roboact.distributed.policy import PolicyTrainConfig

    cfg = PolicyTrainConfig(image_size=64, lr=2e-3, log_every=1000)
    summary = train_policy(demos, "embedded", root / "ckpt", iterations=150, batch_size=64, config=cfg)
    return {"demos": demos, "ckpt": root / "ckpt", "summary": summary}


def _demo(path, name):
    with h5py.File(path) as h5:
        g = h5[f"data/{name}"]
        return g["obs/agentview_rgb"][()], g["obs/robot_state"][()], g["actions"][()], str(g.attrs["task"])


def _rollout_actions(policy, images, states, task):
    policy.reset()
    return np.stack(
        [policy.act({"image": i, "state": s, "task": task}) for i, s in zip(images, states, strict=True)]
    )


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_bc_head_learns_the_demo_actions(trained):
    summary = trained["summary"]
    assert summary["iterations"] == 150 and summary["episodes"] == 6 and summary["steps"] == 180
    assert summary["heads"] == 2  # one per task, the default
    assert summary["skipped"]["failed"] == 1
    assert summary["final_loss"] < summary["first_loss"]  # the BC negative log-likelihood fell
    policy = load_policy(trained["ckpt"])
    errs, base = [], []
    all_actions = np.concatenate([_demo(trained["demos"], f"demo_{k}")[2] for k in range(6)])
    for k in (0, 4):  # one demo of each task, replayed through the streaming policy
        images, states, actions, task = _demo(trained["demos"], f"demo_{k}")
        pred = _rollout_actions(policy, images, states, task)
        assert pred.shape == actions.shape and pred.dtype == np.float32
        errs.append(((pred - actions) ** 2).mean())
        base.append(((all_actions.mean(axis=0) - actions) ** 2).mean())  # the mean-action baseline
    assert np.mean(errs) < 0.5 * np.mean(base), (errs, base)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_checkpoint_is_self_contained_and_rllib_loadable(trained):
    from ray.rllib.core.rl_module.rl_module import RLModule
    from roboact.distributed.policy_module import PolicyHeadModule

    ckpt = trained["ckpt"]
    meta = read_policy_meta(ckpt)
    assert meta["format"] == POLICY_FORMAT and meta["features"] == "embedded"
    assert (meta["state_dim"], meta["action_dim"]) == (STATE_DIM, ACTION_DIM)
    assert sorted(meta["heads"]) == sorted(TASKS)
    assert str(trained["demos"].parent) not in json.dumps(meta)  # nothing points back at the demos
    for task, head in meta["heads"].items():
        assert head["normalisation"]["tasks"] == [task]
        assert head["obs_dim"] == meta["feature_dim"] + STATE_DIM  # no task one-hot in a per-task head
        module = RLModule.from_checkpoint(ckpt / head["module_dir"])
        assert isinstance(module, PolicyHeadModule)
        assert module.observation_space.shape == (head["obs_dim"],)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_reloaded_policy_acts_identically_and_within_the_demo_bounds(trained):
    images, states, actions, task = _demo(trained["demos"], "demo_1")
    images, states = images[:8], states[:8]
    first = _rollout_actions(load_policy(trained["ckpt"]), images, states, task)
    second = _rollout_actions(load_policy(trained["ckpt"]), images, states, task)
    np.testing.assert_array_equal(first, second)
    meta = read_policy_meta(trained["ckpt"])
    norm = meta["heads"][task]["normalisation"]
    low, high = (np.array(norm[k], np.float32) for k in ("action_low", "action_high"))
    assert (first >= low).all() and (first <= high).all()


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_policy_rejects_observations_that_do_not_fit(trained):
    policy = load_policy(trained["ckpt"])
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="has 7 values, the policy was trained on 9"):
        policy.act({"image": image, "state": np.zeros(7, np.float32), "task": "slide"})
    with pytest.raises(KeyError, match="no 'image'"):
        policy.act({"state": np.zeros(STATE_DIM, np.float32), "task": "slide"})
    with pytest.raises(ValueError, match="uint8"):
        policy.act(
            {"image": image.astype(np.float32), "state": np.zeros(STATE_DIM, np.float32), "task": "slide"}
        )
    with pytest.raises(ValueError, match="per-task heads for \\['micro', 'slide'\\], none for task 'T5'"):
        policy.act({"image": image, "state": np.zeros(STATE_DIM, np.float32), "task": "T5"})


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_shared_head_takes_every_task_and_unseen_ones_with_a_zero_one_hot(trained, tmp_path, monkeypatch):
    from roboact.distributed.policy import PolicyTrainConfig

    cfg = PolicyTrainConfig(image_size=64, log_every=1000, heads="shared")
    monkeypatch.chdir(tmp_path)  # a relative --out, as the README's commands use
    summary = train_policy(trained["demos"], "embedded", "ckpt", iterations=5, batch_size=64, config=cfg)
    tmp_path = tmp_path / "ckpt"
    meta = read_policy_meta(tmp_path)
    assert summary["heads"] == 1 and list(meta["heads"]) == ["*"]
    assert meta["heads"]["*"]["obs_dim"] == meta["feature_dim"] + STATE_DIM + len(TASKS)
    policy = load_policy(tmp_path)
    image, state = np.zeros((64, 64, 3), np.uint8), np.zeros(STATE_DIM, np.float32)
    assert policy.act({"image": image, "state": state, "task": "T5"}).shape == (ACTION_DIM,)


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(600)
def test_trained_head_runs_through_the_simulator_pool(trained):
    from roboact.sim_workers.pool import PoolConfig, SimPool

    env = {"image_size": 64, "max_steps": 5, "cheap_render": True, "init_noise": 0.02}
    pool = SimPool(PoolConfig(workers=1, cpus_per_worker=1.0, episode_timeout_s=400, retries=0), env,
                   str(trained["ckpt"]))  # fmt: skip
    results = []
    try:
        jobs = [{"suite": "kitchen", "task": "slide", "episode": 0, "seed": 0}]
        counts = pool.run(jobs, lambda job, result: results.append(result))
    finally:
        pool.shutdown()
    assert counts["failed"] == [] and len(results) == 1
    assert all(r["steps"] == 5 or r["success"] for r in results)
    assert all(r["policy_s"] > 0 for r in results)


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(600)
def test_demo_file_written_by_the_simulator_engineer_is_read(ray_session, tmp_path):
    """The real writer (``roboact sim demos``) and our reader agree on the layout."""
    from roboact.distributed.policy_data import read_demos
    from roboact.sim_workers.demos import collect_demos

    path = tmp_path / "kitchen.hdf5"
    collect_demos("kitchen", ["slide"], episodes=1, out_path=path, workers=1, image_size=48, max_steps=8)
    ds = read_demos([path], only_success=False)  # an 8-step expert episode does not finish the task
    (demo,) = ds.demos
    assert demo.task == "slide" and ds.suite == "kitchen"
    assert demo.actions.shape == (8, 9) and demo.states.shape == (8, 9)
    assert demo.images().shape == (8, 48, 48, 3) and demo.images().dtype == np.uint8


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
    from roboact.distributed.policy_module import PolicyHeadModule

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
    from roboact.distributed.policy_features import FeatureExtractor, FeatureSpec
    from roboact.models.configuration_roboact import RoboActConfig
    from roboact.models.modeling_roboact import RoboActCLIP

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


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_cli_info_and_bad_train_arguments(trained, tmp_path):
    from roboact.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["policy", "info", str(trained["ckpt"])])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["features"] == "embedded" and info["training"]["iterations"] == 150
    assert {name: h["tasks"] for name, h in info["heads"].items()} == {t: [t] for t in TASKS}
    res = runner.invoke(app, ["policy", "info", str(tmp_path)])
    assert res.exit_code == 2 and "no policy.json" in res.output
    args = ["policy", "train", "--demos", str(trained["demos"]), "--out", str(tmp_path / "o")]
    res = runner.invoke(app, [*args, "--features", "resnet50"])
    assert res.exit_code == 2 and "unknown feature spec 'resnet50'" in res.output
    missing = ["policy", "train", "--demos", str(tmp_path / "missing.h5"), "--features", "embedded"]
    res = runner.invoke(app, [*missing, "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "missing.h5 does not exist" in res.output
    res = runner.invoke(app, [*args, "--features", "embedded", "--tasks", "open door"])
    assert res.exit_code == 2 and "no usable demos" in res.output and "'open door'" in res.output


class _ConstantChunks:
    """A head stand-in whose k-th call predicts the chunk [k/10, k/10, ...] (normalised units)."""

    def __init__(self, chunk: int, action_dim: int) -> None:
        self.calls, self.chunk, self.action_dim = 0, chunk, action_dim

    def mean_action(self, x):
        import torch

        self.calls += 1
        return torch.full((1, self.chunk * self.action_dim), self.calls / 10)


def test_temporal_ensembling_averages_pending_predictions_oldest_weighted_most():
    from roboact.distributed.policy import Policy
    from roboact.distributed.policy_data import Normaliser

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
    policy = Policy({"*": (_ConstantChunks(3, a), norm)}, Window(), meta)
    obs = {"image": np.zeros((8, 8, 3), np.uint8), "state": np.zeros(1, np.float32)}
    # step 1: only prediction 1; step 2: predictions 1 (older) and 2; step 3: 1, 2, 3; step 4: 2, 3, 4
    w = np.exp(-0.5 * np.arange(3))
    expected = [1.0, (w[:2] @ [1, 2]) / w[:2].sum(), (w @ [1, 2, 3]) / w.sum(), (w @ [2, 3, 4]) / w.sum()]
    got = [10 * float(policy.act(obs)[0]) for _ in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    policy.reset()  # a new episode forgets the pending chunks
    assert 10 * float(policy.act(obs)[0]) == pytest.approx(5.0)
