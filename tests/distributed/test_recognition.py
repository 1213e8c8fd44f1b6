"""Recognition metrics against hand computations, and the Sec. IV-A ablation and cross-embodiment tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from roboact.datasets.stores import FeatureStore, StoreError
from roboact.distributed.fit_data import load_fit_data
from roboact.distributed.recognition import (
    ablation_markdown,
    accuracy,
    confusion_matrix,
    evaluate_recognition,
    retrieval_recall,
)
from roboact.distributed.train import prepare_fit
from roboact.distributed.train_loop import build_model

from roboact.constants import FACTORS
from roboact.paper import RECOGNITION

from .conftest import tiny_train_config


def test_accuracy_and_confusion_match_a_hand_count():
    preds, labels = np.array([0, 1, 1, 2, 2]), np.array([0, 1, 2, 2, 0])
    assert accuracy(preds, labels) == pytest.approx(3 / 5)
    expected = np.array([[1, 0, 1], [0, 1, 0], [0, 1, 1]])  # rows true, columns predicted
    np.testing.assert_array_equal(confusion_matrix(preds, labels, 3), expected)


def test_retrieval_recall_matches_a_hand_ranking():
    text = np.array([[1.0, 0.0], [0.0, 1.0]])
    video = np.array([[1.0, 0.1], [0.9, 0.5], [0.0, 1.0]])
    # query "a" ranks videos 0, 1, 2 -> video 0 ("a") first: hit at 1.
    # query "b" ranks videos 2, 1, 0 -> video 2 is "a", video 1 is "b": hit at 2.
    out = retrieval_recall(text, video, ["a", "b"], ["a", "b", "a"], ks=(1, 2, 3))
    assert out == {"R@1": 0.5, "R@2": 1.0, "R@3": 1.0}


@pytest.fixture(scope="module")
def untrained_model_dir(tiny_features, tmp_path_factory):
    cfg = tiny_train_config(tiny_features, tmp_path_factory.mktemp("runs"), "evalmodel")
    _, _, model_cfg, data = prepare_fit(cfg)
    torch.manual_seed(3)
    model = build_model(model_cfg, data)
    return model.save_pretrained(tmp_path_factory.mktemp("model") / "model")


def test_evaluate_recognition_equals_a_per_clip_computation(untrained_model_dir, tiny_features, tmp_path):
    from roboact.models.modeling_roboact import RoboActCLIP

    res = evaluate_recognition(untrained_model_dir, tiny_features, "random", "test", out_dir=tmp_path)
    model = RoboActCLIP.from_pretrained(untrained_model_dir).eval()
    with FeatureStore(tiny_features) as store:
        ids = store.get_split("random")["test"]
        arrays = store.arrays(ids)
        captions = [str(store.h5["clips"][i].attrs["caption"]) for i in ids]
    correct = {(f, s): 0 for f in FACTORS for s in ("aux", "text")}
    videos, texts = [], []
    for row in range(len(ids)):  # one clip at a time, plain loops
        frames = torch.as_tensor(arrays["frame_feats"][row : row + 1])
        pred = model.predict(frames)
        for f in FACTORS:
            for s in ("aux", "text"):
                correct[(f, s)] += int(pred[f][s][0]) == int(arrays[f][row])
        with torch.no_grad():
            out = model(frames, torch.as_tensor(arrays["text_feats"][row : row + 1]), recombine=False)
        videos.append(out["video_embed"][0].numpy())
        texts.append(out["text_embed"][0].numpy())
    for f in FACTORS:
        for s in ("aux", "text"):
            assert res["accuracy"][f][s] == pytest.approx(correct[(f, s)] / len(ids))
    hits = {1: 0, 5: 0, 10: 0}
    queries = list(dict.fromkeys(captions))
    for q in queries:
        t = texts[captions.index(q)]
        sims = [float(np.dot(t, v) / (np.linalg.norm(t) * np.linalg.norm(v))) for v in videos]
        ranked = sorted(range(len(videos)), key=lambda j: -sims[j])
        for k in hits:
            hits[k] += any(captions[j] == q for j in ranked[:k])
    for k in hits:
        assert res["retrieval"][f"R@{k}"] == pytest.approx(hits[k] / len(queries))
    assert res["n"] == len(ids) and res["n_queries"] == len(queries)
    for f in FACTORS:
        assert Path(res["confusion"][f]).stat().st_size > 0
        rows = (tmp_path / f"confusion_{f}_aux.csv").read_text().splitlines()[1:]
        assert sum(int(x) for line in rows for x in line.split(",")[1:]) == len(ids)
    assert json.loads((tmp_path / "recognition.json").read_text())["accuracy"] == res["accuracy"]


def test_evaluate_recognition_rejects_a_missing_part_and_wrong_frame_count(
    untrained_model_dir, tiny_features, tmp_path
):
    with pytest.raises(StoreError, match="no split named"):
        evaluate_recognition(untrained_model_dir, tiny_features, "nope", "test", out_dir=tmp_path)
    from .conftest import build_feature_store

    other = build_feature_store(tmp_path / "f6", n_frames=6)
    with pytest.raises(StoreError, match="6-frame features"):
        evaluate_recognition(untrained_model_dir, other, "random", "test", out_dir=tmp_path)


def _result(n: int = 12, right: int = 6, ids: list[str] | None = None) -> dict:
    """An evaluate_recognition-shaped result: the first ``right`` of ``n`` clips correct."""
    from roboact.models.metrics import factor_accuracies

    labels = {f: np.zeros(n, dtype=int) for f in FACTORS}
    preds = {
        f: {s: np.r_[np.zeros(right), np.ones(n - right)].astype(int) for s in ("aux", "text")}
        for f in FACTORS
    }
    est = factor_accuracies(preds, labels)
    return {
        "accuracy": {f: {s: e.value for s, e in by.items()} for f, by in est.items()},
        "ci": {f: {s: e.to_dict() for s, e in by.items()} for f, by in est.items()},
        "retrieval": {"R@1": 0.5, "R@5": 0.75, "R@10": 1.0},
        "clip_ids": ids or [f"c{i}" for i in range(n)],
        "labels": {f: v.tolist() for f, v in labels.items()},
        "predictions": {f: {s: p.tolist() for s, p in d.items()} for f, d in preds.items()},
        "n": n,
        "split": "random",
        "part": "test",
    }


def test_ablation_markdown_puts_ours_with_intervals_beside_the_paper_and_pairs_each_row():
    full, ablated = _result(right=9), _result(right=6)
    md = ablation_markdown([("16 frames", full), ("w/o disentanglement", ablated)])
    lines = md.splitlines()
    assert lines[0].startswith("| Setting | Action (ours) | Action (paper) | Subject (ours)")
    assert lines[0].endswith("| R@1 | R@5 | R@10 |")
    row16 = lines[2].split(" | ")
    assert row16[0] == "| 16 frames" and row16[1].startswith("75.00 [") and row16[2] == "99.49"
    assert lines[3].startswith("| w/o disentanglement | 50.00 [") and "| 73.74 |" in lines[3]
    assert "Sec. IV-A" in md and "Table II" not in md
    paired = [line for line in lines if line.startswith("| w/o disentanglement | +25.00 [")]
    assert len(paired) == 1  # the paired-difference table: 16 frames minus the ablation, 3 of 12 clips
    assert RECOGNITION["32 frames"]["action"] == 99.51


def test_compare_a_model_with_itself_is_zero_and_refuses_other_clips():
    from roboact.distributed.recognition import compare

    res = _result(right=7)
    same = compare(res, res)
    assert {f: d["diff"].value for f, d in same.items()} == {f: 0.0 for f in FACTORS}
    assert all(d["diff"].low <= 0.0 <= d["diff"].high for d in same.values())
    with pytest.raises(ValueError, match="same test clips"):
        compare(res, _result(ids=[f"x{i}" for i in range(12)]))


def test_train_loop_validation_accuracy_equals_the_metrics_module(untrained_model_dir, tiny_features):
    from roboact.distributed.train_loop import evaluate_arrays
    from roboact.models.metrics import accuracy as metric_accuracy
    from roboact.models.metrics import predict_batched
    from roboact.models.modeling_roboact import RoboActCLIP

    model = RoboActCLIP.from_pretrained(untrained_model_dir).eval()
    with FeatureStore(tiny_features) as store:
        arrays = store.arrays(store.get_split("random")["val"])
    out = evaluate_arrays(model, arrays, torch.device("cpu"), batch_size=5)
    preds = predict_batched(model, torch.as_tensor(arrays["frame_feats"]))
    for f in FACTORS:
        assert out[f"val/{f}_acc"] == pytest.approx(metric_accuracy(preds[f]["aux"], arrays[f]))
        assert out[f"val/{f}_acc_text"] == pytest.approx(metric_accuracy(preds[f]["text"], arrays[f]))


def test_heldout_split_drops_the_unseen_subjects_recombination_targets(tiny_features):
    from roboact.distributed.fit_data import heldout_recombination

    data = heldout_recombination(load_fit_data(tiny_features, "heldout_panda"))
    panda = data["vocabs"]["subject"].index("panda")
    assert panda not in set(data["train"]["subject"].tolist())
    assert panda not in set(data["recomb_triplets"][:, 0].tolist())
    assert len(data["recomb_triplets"]) == len(data["recomb_text"]) > 0


def test_eval_recognition_cli_prints_every_factor_and_recall(untrained_model_dir, tiny_features, tmp_path):
    from typer.testing import CliRunner

    from roboact.cli import app  # the console script's root group turns expected errors into exit 2

    args = ["eval", "recognition", "--model", str(untrained_model_dir), "--features", str(tiny_features)]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for word in ("subject", "action", "object", "R@1", "R@10", "95 % CI"):
        assert word in res.output
    bad = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "missing.h5")])
    assert bad.exit_code == 2 and "missing.h5" in bad.output


def _fake_fit(calls: list):
    """Stands in for the Ray fit: records the config and saves an untrained model of the right shape."""

    def fake(cfg, address=None):
        _, run_path, model_cfg, data = prepare_fit(cfg)
        calls.append(cfg)
        torch.manual_seed(0)
        model_dir = build_model(model_cfg, data).save_pretrained(run_path / "model")
        return {"model_dir": str(model_dir), "run_dir": str(run_path)}

    return fake


def test_ablation_fits_trains_every_row_on_one_budget(tiny_features, tmp_path, monkeypatch):
    import roboact.distributed.train as train_mod
    from roboact.distributed.recognition import ablation_fits

    from .conftest import build_feature_store

    calls: list = []
    monkeypatch.setattr(train_mod, "fit", _fake_fit(calls))
    f6 = build_feature_store(tmp_path / "f6", n_frames=6)
    base = tiny_train_config(tiny_features, tmp_path / "runs", None)
    out = ablation_fits([tiny_features, f6], base, name="t2")
    names = ["t2-f4", "t2-f6", "t2-nodisent", "t2-nodiff", "t2-norecomb", "t2-noaux"]
    assert [c.name for c in calls] == names
    assert calls[2].model["use_disentanglement"] is False and calls[2].data.features == str(tiny_features)
    assert calls[3].model["use_diff_transformer"] is False
    assert calls[4].model["use_recombination"] is False and calls[5].model["use_aux"] is False
    assert all(c.data.features == str(tiny_features) for c in calls[3:])
    assert {c.optim.max_steps for c in calls} == {base.optim.max_steps}
    labels = [row[0] for row in out["rows"]]
    assert labels[:3] == ["4 frames", "6 frames", "w/o disentanglement"]  # the reference row first
    text = Path(out["path"]).read_text()
    assert "| w/o disentanglement |" in text and "| 73.74 |" in text and "| 4 frames |" in text
    assert "Paired difference from 4 frames" in text
    assert "| 6 frames | other test clips" not in text  # both stores hold the same clips
    for label in ("w/o Diff-Transformer (A1)", "w/o recombination (A3)", "w/o aux (A4)"):
        assert sum(line.startswith(f"| {label} |") for line in text.splitlines()) == 2  # accuracy + paired
    with pytest.raises(ValueError, match="ablations"):
        ablation_fits([tiny_features], base, name="t3", ablations=["w/o magic"])


def test_cross_embodiment_fits_one_heldout_split_per_subject(tiny_features, tmp_path, monkeypatch):
    import roboact.distributed.train as train_mod
    from roboact.distributed.recognition import cross_embodiment

    calls: list = []
    monkeypatch.setattr(train_mod, "fit", _fake_fit(calls))
    base = tiny_train_config(tiny_features, tmp_path / "runs", None)
    out = cross_embodiment(tiny_features, ["panda", "ur5e"], base, name="x")
    assert [c.data.split for c in calls] == ["heldout_panda", "heldout_ur5e"]
    assert [r["subject"] for r in out["rows"]] == ["panda", "ur5e"]
    assert all(r["n"] == 24 for r in out["rows"])  # every clip of the held-out subject is tested
    assert out["markdown"].count("\n| panda |") == 1
    assert "| **all held-out clips** | 48 |" in out["markdown"]
    pooled = out["pooled"]["action"]
    assert pooled["n"] == 48 and pooled["low"] <= pooled["value"] <= pooled["high"]
    mean = np.mean([r["action_ci"]["value"] for r in out["rows"]])
    assert out["mean_of_embodiments"]["action"] == pytest.approx(mean)
    with pytest.raises(StoreError, match="no heldout split"):
        cross_embodiment(tiny_features, ["kuka"], base, name="x")
