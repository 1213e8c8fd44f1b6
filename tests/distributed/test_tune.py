"""Sweeps: sweep_loss_weights with Optuna + ASHA on CPU (results table, plots, best config, ASHA's
decisions, restore on rerun), trial resources checked against the cluster before launching."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from roboact.distributed.train import TrainConfig
from roboact.distributed.tune import SweepConfig, apply_params, sweep

from roboact.config import load_config

pytestmark = pytest.mark.ray


# sweep_loss_weights (Optuna TPE + ASHA) shrunk to 4 short sequential trials of one CPU worker:
# 20 steps, a report every 5 -> 4 reports; ASHA rungs at reports 1 and 2 (grace 1, factor 2).
# Half a CPU per worker: ASHA ends every trial abruptly (at a rung or at max_t), and the session's
# Ray has no State API, so Train's cleaner cannot free those trials' placement groups until the
# module ends (conftest); 4 x 0.5 leaked CPUs leave room on the session's 4.
LOSS_WEIGHTS_TINY = [
    "train_config=train_tiny",
    "train_overrides=[optim.max_steps=20,log_every=5,checkpoint_every=20]",
    "num_samples=4",
    "max_concurrent_trials=1",
    "workers_per_trial=1",
    "cpus_per_worker=0.5",
    "grace_period=1",
    "reduction_factor=2",
    "metric=train/loss",
    "mode=min",
]


def asha_decisions(histories: list[list[float]], grace: int, factor: int, max_t: int) -> list[bool]:
    """Replay ASHA (one bracket, Ray's rule) over trials run one after another: trial k is stopped
    at the first rung where its metric (negated: lower is better) is below the rung's cutoff, the
    (1 - 1/factor) quantile of what earlier trials recorded there. True = stopped early."""
    import numpy as np

    rungs: dict[int, list[float]] = {}
    milestones = []
    t = grace
    while t < max_t:
        milestones.append(t)
        t *= factor
    out = []
    for history in histories:
        stopped = False
        for milestone in milestones:
            if len(history) < milestone:
                break
            value = -history[milestone - 1]
            recorded = rungs.setdefault(milestone, [])
            cutoff = np.nanpercentile(recorded, (1 - 1 / factor) * 100) if recorded else None
            recorded.append(value)
            if cutoff is not None and value < cutoff:
                stopped = True
                break
        out.append(stopped)
    return out


@pytest.mark.timeout(600)
def test_loss_weight_sweep_runs_optuna_and_asha_on_cpu_writes_outputs_and_restores(
    ray_session, tiny_features, tmp_path
):
    from ray.tune import ExperimentAnalysis

    out = sweep(
        "sweep_loss_weights", tiny_features, name="lw", runs_root=tmp_path, overrides=LOSS_WEIGHTS_TINY
    )
    assert out["n_trials"] == 4 and out["n_errors"] == 0
    rows = list(csv.DictReader(Path(out["results_csv"]).open()))
    assert len(rows) == 4
    sc = load_config(SweepConfig, Path(out["sweep_dir"]) / "sweep_config.yaml")
    assert sc.search == "optuna" and sc.scheduler == "asha" and sc.gpus_per_worker == 0
    for row in rows:  # Optuna's suggestions stay inside the shipped 8-knob space
        for key, spec in sc.space.items():
            assert spec["low"] <= float(row[key]) <= spec["high"]

    # ASHA's decisions, replayed from the recorded losses in trial order, match what Tune did
    analysis = ExperimentAnalysis(out["experiment_path"])
    trials = sorted(analysis.trials, key=lambda t: int(t.experiment_tag.split("_", 1)[0]))  # start order
    histories = [analysis.trial_dataframes[t.trial_id]["train/loss"].tolist() for t in trials]
    expected = asha_decisions(histories, grace=1, factor=2, max_t=4)
    assert [len(h) < 4 for h in histories] == expected
    assert any(expected)  # at least one trial was stopped early, by the rule above
    status = {r["trial_id"]: r["status"] for r in rows}
    assert [status[t.trial_id] == "stopped" for t in trials] == expected

    best_col = [float(r["best train/loss"]) for r in rows]
    assert out["best_metric"] == pytest.approx(min(best_col))
    assert Path(out["results_md"]).read_text().count("\n|") == 2 + 4  # header, rule, 4 trials
    assert all(Path(p).stat().st_size > 0 for p in out["plots"]) and len(out["plots"]) == 2

    best = load_config(TrainConfig, out["best_config"])
    for key, value in out["best_params"].items():
        section, name = key.split(".", 1)
        got = best.model[name] if section == "model" else getattr(best.optim, name)
        assert got == pytest.approx(value)
    assert best.data.features == str(Path(tiny_features).absolute()) and best.name is None
    assert best.use_gpu is False and best.workers == 1

    # a rerun restores the experiment from its storage path instead of running trials again
    again = sweep(
        "sweep_loss_weights", tiny_features, name="lw", runs_root=tmp_path, overrides=LOSS_WEIGHTS_TINY
    )
    assert again["n_trials"] == 4 and again["best_params"] == out["best_params"]


@pytest.mark.timeout(120)
def test_a_sweep_asking_for_gpus_on_a_cpu_cluster_fails_before_any_trial(
    ray_session, tiny_features, tmp_path
):
    from roboact.distributed.tune_resources import TrialResourceError

    if ray_session.cluster_resources().get("GPU"):
        pytest.skip("this machine has GPUs: a GPU sweep would fit")
    with pytest.raises(TrialResourceError, match="gpus_per_worker=1.*0 GPUs.*gpus_per_worker=0"):
        sweep("sweep_smoke", tiny_features, name="gpu", runs_root=tmp_path, overrides=["gpus_per_worker=1"])
    assert not list((tmp_path / "gpu").rglob("experiment_state*"))  # Tune never started


def test_trial_resources_are_checked_against_the_nodes():
    from roboact.distributed.tune_resources import TrialResourceError, TrialResources, fitting_trials

    cpu_nodes = [{"CPU": 8.0, "GPU": 0.0}, {"CPU": 8.0, "GPU": 0.0}]
    gpu_nodes = [{"CPU": 16.0, "GPU": 4.0}, {"CPU": 16.0, "GPU": 4.0}]
    assert fitting_trials(TrialResources(1, 2.0, 0.0, 0.01), cpu_nodes) == 8
    assert fitting_trials(TrialResources(2, 3.0, 0.0, 0.01), cpu_nodes) == 2  # 2 workers per node, 4 slots
    assert fitting_trials(TrialResources(2, 4.0, 1.0, 0.01), gpu_nodes) == 4  # 8 GPU slots
    with pytest.raises(TrialResourceError, match="largest node has 8 CPUs.*cpus_per_worker"):
        fitting_trials(TrialResources(1, 12.0, 0.0, 0.01), cpu_nodes)  # fits the cluster, not a node
    with pytest.raises(TrialResourceError, match="room for 2 such worker.*workers_per_trial"):
        fitting_trials(TrialResources(3, 8.0, 0.0, 0.01), cpu_nodes)
    with pytest.raises(TrialResourceError, match="0 GPUs"):
        fitting_trials(TrialResources(1, 1.0, 1.0, 0.01), cpu_nodes)


def test_sweep_config_owns_trial_resources():
    with pytest.raises(ValueError, match="gpus_per_worker instead of use_gpu"):
        SweepConfig(train_overrides=["optim.max_steps=5", "use_gpu=true"])
    with pytest.raises(ValueError, match="gpus_per_worker must be 0"):
        SweepConfig(gpus_per_worker=0.5)
    with pytest.raises(ValueError, match="cpus_per_worker must be > 0"):
        SweepConfig(cpus_per_worker=0)
    shipped = load_config(SweepConfig, "sweep_loss_weights")  # runs on a CPU-only machine as shipped
    assert shipped.gpus_per_worker == 0 and shipped.search == "optuna" and shipped.scheduler == "asha"


def test_sweep_config_rejects_unknown_keys_and_types():
    with pytest.raises(ValueError, match="must start with"):
        SweepConfig(space={"lr": {"type": "uniform", "low": 0, "high": 1}})
    with pytest.raises(ValueError, match="type must be one of"):
        SweepConfig(space={"optim.lr": {"type": "normal", "low": 0, "high": 1}})
    with pytest.raises(ValueError, match="lacks"):
        SweepConfig(space={"model.alpha_a": {"type": "choice"}})


def test_apply_params_sets_nested_fields_and_validates():
    base = {"model": {"lambda_aux": 1.0}, "optim": {"lr": 1e-3}, "data": {"features": "f.h5"}}
    cfg = apply_params(base, {"model.lambda_aux": 0.5, "optim.lr": 2e-3})
    assert cfg.model["lambda_aux"] == 0.5 and cfg.optim.lr == 2e-3
    assert base["model"]["lambda_aux"] == 1.0  # the base is not mutated
    with pytest.raises(ValueError):
        apply_params(base, {"optim.lr": -1.0})


def test_optuna_searcher_suggests_points_inside_the_yaml_space():
    from roboact.distributed.tune import _searcher, tune_space

    sc = load_config(SweepConfig, "sweep_loss_weights")
    searcher = _searcher(sc)
    assert searcher.set_search_properties(sc.metric, sc.mode, tune_space(sc.space))
    for i in range(3):
        point = searcher.suggest(f"t{i}")
        assert set(point) == set(sc.space)
        for key, spec in sc.space.items():
            assert spec["low"] <= point[key] <= spec["high"]


def test_best_trial_of_tied_trials_does_not_depend_on_result_order():
    import pandas as pd
    from roboact.distributed.tune_report import best_result

    class R:
        def __init__(self, path: str, accs: list[float]) -> None:
            self.path, self.error = path, None
            self.metrics_dataframe = pd.DataFrame({"val/acc": accs})

    trials = [R("t_b", [0.5, 0.75]), R("t_a", [0.75, 0.5]), R("t_c", [0.25])]
    assert best_result(trials, "val/acc", "max").path == "t_a"
    assert best_result(trials[::-1], "val/acc", "max").path == "t_a"
    assert best_result(trials, "val/acc", "min").path == "t_c"
