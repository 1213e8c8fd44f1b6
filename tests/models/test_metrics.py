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
