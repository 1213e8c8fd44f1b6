"""The linear probe of frozen features (``roboact eval probe``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from roboact.datasets.stores import FeatureStore
from roboact.distributed.probe import clip_vectors, linear_probe, probe_markdown

from roboact.constants import FACTORS


def test_clip_vectors_hold_the_frame_mean_and_the_start_end_difference():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    v = clip_vectors(x)
    assert v.shape == (2, 8)
    np.testing.assert_allclose(v[:, :4], x.mean(axis=1))
    np.testing.assert_allclose(v[:, 4:], x[:, -1] - x[:, 0])
    with pytest.raises(ValueError, match="frames >= 2"):
        clip_vectors(x[:, :1])


def test_probe_recovers_every_factor_of_a_separable_store_on_held_out_clips(tiny_features):
    """The tiny store is separable by construction (subject/object in the look, action in the drift)."""
    res = linear_probe(str(tiny_features), split="random", part="test")
    with FeatureStore(tiny_features) as store:
        parts = store.get_split("random")
    assert res["n"] == len(parts["test"]) and res["n_train"] == len(parts["train"])
    for factor in FACTORS:
        est = res["factors"][factor]
        assert est["value"] >= 0.9, (factor, est)
        assert est["low"] <= est["value"] <= est["high"]
    md = probe_markdown(res)
    assert all(f"| {f} |" in md for f in FACTORS) and "95 % CI" in md


def test_probe_refuses_scoring_on_its_training_part_and_a_non_positive_c(tiny_features):
    with pytest.raises(ValueError, match="fitted on"):
        linear_probe(str(tiny_features), part="train")
    with pytest.raises(ValueError, match="c .* must be > 0"):
        linear_probe(str(tiny_features), c=0.0)


def test_eval_probe_cli_prints_json_and_names_a_missing_store(tiny_features, tmp_path):
    from typer.testing import CliRunner

    from roboact.cli import app

    res = CliRunner().invoke(app, ["eval", "probe", "--features", str(tiny_features), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out["factors"]) == set(FACTORS) and out["part"] == "test"
    bad = CliRunner().invoke(app, ["eval", "probe", "--features", str(tmp_path / "missing.h5")])
    assert bad.exit_code == 2 and "missing.h5" in bad.output
    none = CliRunner().invoke(app, ["eval", "probe"])
    assert none.exit_code == 2 and "--features" in none.output


def test_probe_on_a_held_out_subject_split_skips_the_subject_it_never_saw(tiny_features):
    """heldout_<subject>: the test subject is absent from train, so its accuracy is not a feature property."""
    res = linear_probe(str(tiny_features), split="heldout_panda", part="test")
    assert res["factors"]["subject"] is None and "unseen" in res["skipped"]["subject"]
    assert res["factors"]["action"]["value"] > 0.5 and res["factors"]["object"] is not None
    assert "| subject | test classes unseen in train |" in probe_markdown(res)
