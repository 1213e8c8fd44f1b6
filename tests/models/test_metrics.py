"""Recognition metrics."""

from __future__ import annotations

import pytest
import torch
from roboact.models.metrics import accuracy, recognition_accuracies


def test_accuracy_from_logits_and_from_ids():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 1])
    assert accuracy(logits, labels) == pytest.approx(0.75)
    assert accuracy(torch.tensor([1, 1, 1, 1]), labels) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="differ"):
        accuracy(torch.tensor([1, 1]), labels)


def test_recognition_accuracies_uses_the_shared_metric_names():
    preds = {
        "action": {"aux": torch.tensor([0, 1]), "text": torch.tensor([0, 0])},
        "subject": {"aux": torch.tensor([1, 1])},
    }
    labels = {"action": torch.tensor([0, 1]), "subject": torch.tensor([1, 0]), "object": torch.tensor([0, 0])}
    assert recognition_accuracies(preds, labels, "test") == {
        "test/action_acc": 1.0,
        "test/action_acc_text": 0.5,
        "test/subject_acc": 0.5,
    }


# --------------------------------------------------------------------------------------------------
# bootstrap intervals, paired differences, retrieval (issue #15 item 5)
import numpy as np  # noqa: E402
from roboact.models.metrics import (  # noqa: E402
    accuracy_ci,
    bootstrap_mean,
    caption_retrieval,
    paired_difference,
    paired_factor_differences,
    retrieval_recall,
)


def _labels_and_preds(n: int, acc: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, size=n)
    preds = labels.copy()
    wrong = rng.permutation(n)[: int(round(n * (1 - acc)))]
    preds[wrong] = (labels[wrong] + 1) % 5
    return labels, preds


def test_accuracy_ci_contains_the_point_estimate_and_narrows_with_more_clips():
    small = accuracy_ci(*reversed(_labels_and_preds(40, 0.8)))
    large = accuracy_ci(*reversed(_labels_and_preds(1000, 0.8)))
    for est in (small, large):
        assert est.low <= est.value <= est.high
        assert est.low < est.value < est.high  # a real interval when clips disagree
    assert small.value == pytest.approx(0.8) and large.value == pytest.approx(0.8)
    assert (large.high - large.low) < 0.5 * (small.high - small.low)
    assert small.n == 40 and large.n == 1000


def test_bootstrap_is_reproducible_for_a_seed_and_degenerate_samples_have_a_point_interval():
    values = np.r_[np.ones(30), np.zeros(10)]
    assert bootstrap_mean(values, seed=3) == bootstrap_mean(values, seed=3)
    perfect = bootstrap_mean(np.ones(25))
    assert (perfect.value, perfect.low, perfect.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_mean([])


def test_paired_difference_of_a_model_with_itself_is_zero_with_an_interval_holding_zero():
    labels, preds = _labels_and_preds(200, 0.7)
    same = paired_difference(preds, preds, labels)
    assert same.value == 0.0 and same.low <= 0.0 <= same.high


def test_paired_difference_sees_a_margin_the_separate_intervals_overlap_on():
    labels, worse = _labels_and_preds(120, 0.75, seed=1)
    better = worse.copy()
    fix = np.flatnonzero(worse != labels)[:12]  # B fixes 12 of A's errors and breaks nothing: +10 points
    better[fix] = labels[fix]
    diff = paired_difference(better, worse, labels)
    assert diff.value == pytest.approx(0.10)
    assert diff.low > 0.0  # the paired interval excludes 0 ...
    a, b = accuracy_ci(better, labels), accuracy_ci(worse, labels)
    assert a.low < b.high  # ... though the two separate intervals overlap


def test_paired_factor_differences_compare_on_the_source_both_models_have():
    labels = {"action": np.array([0, 1, 1, 0])}
    full = {"action": {"aux": np.array([0, 1, 1, 0]), "text": np.array([0, 1, 0, 0])}}
    no_aux = {"action": {"text": np.array([1, 1, 0, 0])}}
    out = paired_factor_differences(full, no_aux, labels)
    assert out["action"]["source"] == "text"
    assert out["action"]["diff"].value == pytest.approx(0.25)


def test_recall_is_monotone_in_k_and_one_for_a_perfect_matcher():
    rng = np.random.default_rng(0)
    keys = [f"c{i % 7}" for i in range(40)]
    video = rng.normal(size=(40, 16))
    text = rng.normal(size=(40, 16))  # unrelated to the videos: recall grows only with k
    recall, n_queries = caption_retrieval(text, video, keys, ks=(1, 5, 10, 40))
    assert n_queries == 7
    values = [recall[f"R@{k}"] for k in (1, 5, 10, 40)]
    assert values == sorted(values) and values[-1] == 1.0
    protos = rng.normal(size=(7, 16))
    perfect_video = np.stack([protos[int(k[1:])] for k in keys])
    perfect, _ = caption_retrieval(perfect_video, perfect_video, keys)
    assert perfect == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0}


def test_retrieval_refuses_mismatched_keys():
    with pytest.raises(ValueError, match="query keys"):
        retrieval_recall(np.ones((2, 3)), np.ones((4, 3)), ["a"], ["a"] * 4)
