"""A rerun into an evaluation directory with other env settings is refused, naming the field, so
episodes of different horizons are never pooled into one success rate (issue #18, finding 5)."""

from __future__ import annotations

import pytest
from roboact.sim_workers.eval import evaluate

pytestmark = [pytest.mark.ray, pytest.mark.sim]


def _run(run_dir, episodes, max_steps):
    return evaluate("kitchen", "slide", "zero", episodes, max_steps=max_steps, workers=1, run_dir=run_dir,
                    videos=0, image_size=0)  # fmt: skip


@pytest.mark.timeout(300)
def test_other_horizon_is_refused_and_the_same_settings_resume(ray_session, tmp_path):
    first = _run(tmp_path, 1, 5)
    assert first["ran"] == 1
    with pytest.raises(ValueError, match=r"env.max_steps 5 -> 6"):
        _run(tmp_path, 2, 6)
    again = _run(tmp_path, 2, 5)  # the saved settings: only the new episode runs
    assert again["ran"] == 1 and again["episodes"] == 2


# -- the shared helper ------------------------------------------------------------------------------
def test_a_changed_field_is_refused_naming_it_with_both_values_and_the_way_out(tmp_path):
    from roboact.runs import SettingsMismatchError, check_settings

    check_settings(
        tmp_path, {"suite": "kitchen", "env": {"max_steps": 5, "size": 0}}, resuming=False, option="--x"
    )
    with pytest.raises(SettingsMismatchError) as err:
        check_settings(
            tmp_path, {"suite": "kitchen", "env": {"max_steps": 6, "size": 0}}, resuming=True, option="--x"
        )
    message = str(err.value)
    assert "env.max_steps 5 -> 6" in message and "env.size" not in message and "choose a new --x" in message
    check_settings(
        tmp_path, {"suite": "kitchen", "env": {"max_steps": 5, "size": 0}}, resuming=True, option="--x"
    )


def test_an_output_without_results_takes_the_new_settings(tmp_path):
    from roboact.runs import check_settings

    check_settings(tmp_path, {"seed": 1}, resuming=False, option="--x")
    check_settings(tmp_path, {"seed": 2}, resuming=False, option="--x")  # its results were deleted
    check_settings(tmp_path, {"seed": 2}, resuming=True, option="--x")


def test_an_eval_dir_from_before_fingerprints_is_checked_against_its_eval_config(tmp_path):
    from roboact.sim_workers.envs.registry import EnvConfig
    from roboact.sim_workers.eval import EvalConfig
    from roboact.sim_workers.results import ResultsLog

    from roboact.config import save_config

    save_config(
        EvalConfig(suite="kitchen", tasks=["slide"], env=EnvConfig(max_steps=5)), tmp_path, "eval_config.yaml"
    )
    ResultsLog(tmp_path).append(
        {"policy": "zero", "suite": "kitchen", "task": "slide", "episode": 0, "seed": 0}
    )
    with pytest.raises(ValueError, match=r"env.max_steps 5 -> 6"):
        _run(tmp_path, 2, 6)  # refused before Ray starts


def test_an_eval_rerun_from_another_seed_base_is_refused(tmp_path):
    from roboact.sim_workers.eval import EvalConfig, resume_settings

    from roboact.runs import check_settings

    check_settings(tmp_path, resume_settings(EvalConfig(suite="kitchen")), resuming=False, option="--run-dir")
    (tmp_path / "episodes.jsonl").write_text('{"policy": "zero", "suite": "kitchen", "task": "slide", '
                                             '"episode": 0, "seed": 0}\n')  # fmt: skip
    with pytest.raises(ValueError, match=r"seed_base 0 -> 1000"):
        evaluate("kitchen", "slide", "zero", 1, run_dir=tmp_path, seed_base=1000, image_size=0)


@pytest.mark.timeout(300)
def test_demos_with_other_noise_or_starts_are_refused_and_the_same_settings_resume(ray_session, tmp_path):
    from roboact.sim_workers.demos import collect_demos

    out = tmp_path / "demos.hdf5"
    kw = dict(workers=1, image_size=0, max_steps=5)
    assert collect_demos("kitchen", "slide", 1, out, action_noise=0.0, **kw)["written"] == 1
    with pytest.raises(ValueError, match=r"action_noise 0.0 -> 0.05.*choose a new --out"):
        collect_demos("kitchen", "slide", 2, out, action_noise=0.05, **kw)
    with pytest.raises(ValueError, match=r"starts 'sampled' -> 'init_states'"):
        collect_demos("kitchen", "slide", 2, out, action_noise=0.0, starts="init_states", **kw)
    with pytest.raises(ValueError, match=r"env.max_steps 5 -> 7"):
        collect_demos("kitchen", "slide", 2, out, action_noise=0.0, workers=1, image_size=0, max_steps=7)
    again = collect_demos("kitchen", "slide", 1, out, action_noise=0.0, **kw)
    assert again["written"] == 0 and again["skipped"] == 1


def test_features_at_another_image_size_are_refused_and_the_same_size_is_up_to_date(tmp_path):
    from roboact.datasets.features import extract_features

    from roboact.runs import check_settings
    from tests.distributed.conftest import build_feature_store

    features = build_feature_store(tmp_path)  # as if extracted with encoder "synthetic" at 128 px
    check_settings(features, {"encoder": "synthetic", "frames": 4, "image_size": 128}, resuming=False,
                   option="--out", is_file=True)  # fmt: skip
    with pytest.raises(ValueError, match=r"image_size 128 -> 64"):
        extract_features(tmp_path / "clips.h5", "synthetic", 4, features, image_size=64)
    assert extract_features(tmp_path / "clips.h5", "synthetic", 4, features, image_size=128)["up_to_date"]


def test_a_sim_build_with_another_seed_is_refused_before_any_simulator_starts(tmp_path):
    from roboact.datasets.build import build_store, sim_settings

    from roboact.runs import check_settings

    out = tmp_path / "clips.h5"
    out.touch()  # a store with clips in it
    check_settings(out, sim_settings("sim_tiny", None, None, 0), resuming=False, option="--out", is_file=True)
    with pytest.raises(ValueError, match=r"seed 0 -> 1"):
        build_store("sim", None, out, frames=None, image_size=None, seed=1, config="sim_tiny")


def test_train_refuses_another_learning_rate_but_continues_with_a_larger_step_budget(tmp_path):
    from roboact.distributed.train import fit, prepare_fit, resume_settings

    from roboact.runs import check_settings, settings_diff
    from tests.distributed.conftest import build_feature_store, tiny_train_config

    features = build_feature_store(tmp_path / "store")
    first = tiny_train_config(features, tmp_path, "run", max_steps=20)
    config, run_path, _, _ = prepare_fit(first)
    check_settings(run_path, resume_settings(config), resuming=False, option="--name")
    (run_path / "metrics.jsonl").write_text('{"step": 10}\n')  # it reported (and checkpointed)
    changed = tiny_train_config(features, tmp_path, "run", max_steps=20, seed=3)
    with pytest.raises(ValueError, match=r"seed 0 -> 3.*choose a new --name"):
        fit(changed)
    longer = prepare_fit(tiny_train_config(features, tmp_path, "run", max_steps=50))[0]
    assert settings_diff(resume_settings(config), resume_settings(longer)) == []
    assert settings_diff(resume_settings(config), resume_settings(prepare_fit(changed)[0])) == ["seed 0 -> 3"]


def test_a_sweep_with_another_search_space_is_refused():
    from roboact.distributed.train import TrainConfig
    from roboact.distributed.tune import SweepConfig, sweep_settings

    from roboact.runs import settings_diff

    space = {"model.lambda_ortho": {"type": "uniform", "low": 0.0, "high": 1.0}}
    a = SweepConfig(space=space, max_concurrent_trials=1)
    b = SweepConfig(
        space={"model.lambda_ortho": {**space["model.lambda_ortho"], "high": 2.0}}, max_concurrent_trials=2
    )
    diff = settings_diff(sweep_settings(a, TrainConfig()), sweep_settings(b, TrainConfig()))
    assert diff == ["sweep.space.model.lambda_ortho.high 1.0 -> 2.0"]  # concurrency is free to change
