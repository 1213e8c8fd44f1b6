"""A 3-trial smoke sweep: results table, plots, best config; a rerun restores instead of restarting."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from roboact.distributed.train import TrainConfig
from roboact.distributed.tune import SweepConfig, apply_params, sweep

from roboact.config import load_config

pytestmark = pytest.mark.ray


@pytest.mark.timeout(600)
def test_three_trial_sweep_writes_table_plots_and_a_usable_best_config(ray_session, tiny_features, tmp_path):
    overrides = ["num_samples=3", "train_overrides=[optim.max_steps=20,log_every=5,checkpoint_every=20]"]
    out = sweep("sweep_smoke", tiny_features, name="smoke", runs_root=tmp_path, overrides=overrides)
    assert out["n_trials"] == 3 and out["n_errors"] == 0
    rows = list(csv.DictReader(Path(out["results_csv"]).open()))
    assert len(rows) == 3
    space = load_config(SweepConfig, "sweep_smoke").space
    for row in rows:
        for key, spec in space.items():
            assert spec["low"] <= float(row[key]) <= spec["high"]
    best_col = [float(r["best val/action_acc"]) for r in rows]
    assert out["best_metric"] == pytest.approx(max(best_col))
    assert Path(out["results_md"]).read_text().count("\n|") == 2 + 3  # header, rule, 3 trials
    assert all(Path(p).stat().st_size > 0 for p in out["plots"]) and len(out["plots"]) == 2

    best = load_config(TrainConfig, out["best_config"])
    for key, value in out["best_params"].items():
        section, name = key.split(".", 1)
        got = best.model[name] if section == "model" else getattr(best.optim, name)
        assert got == pytest.approx(value)
    assert best.data.features == str(Path(tiny_features).absolute()) and best.name is None

    again = sweep("sweep_smoke", tiny_features, name="smoke", runs_root=tmp_path, overrides=overrides)
    assert again["n_trials"] == 3 and again["best_params"] == out["best_params"]


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
