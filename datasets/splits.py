"""Train/val/test splits of a clip store: random (stratified by action) and held-out subject.

The held-out subject split is the cross-embodiment zero-shot setting the paper does not report:
train on every robot but one, test on that one. It must never leak the held-out subject into
training, which is why it is computed from labels and checked, not hand-listed.
"""

from __future__ import annotations

import random
from collections import defaultdict

from roboact.datasets.stores import ClipStore, StoreError


def random_split(
    store: ClipStore, seed: int = 0, val: float = 0.15, test: float = 0.15
) -> dict[str, list[str]]:
    """Stratified by action so every action appears in train; deterministic for a seed."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val={val}, test={test}: fractions must be in [0, 1) and sum below 1")
    by_action: dict[int, list[str]] = defaultdict(list)
    for clip_id in store.ids():
        by_action[store.label_ids(clip_id)["action"]].append(clip_id)
    rng = random.Random(seed)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for action in sorted(by_action):
        ids = sorted(by_action[action])
        rng.shuffle(ids)
        n_test = int(round(len(ids) * test))
        n_val = int(round(len(ids) * val))
        if len(ids) - n_test - n_val < 1:  # keep at least one training example per action
            n_test, n_val = max(0, min(n_test, len(ids) - 1)), 0
        parts["test"] += ids[:n_test]
        parts["val"] += ids[n_test : n_test + n_val]
        parts["train"] += ids[n_test + n_val :]
    return {k: sorted(v) for k, v in parts.items()}


def heldout_subject_split(
    store: ClipStore, subject: str, seed: int = 0, val: float = 0.15
) -> dict[str, list[str]]:
    """Test = every clip of ``subject``; train/val = the other subjects' clips."""
    names = store.vocab("subject")
    if subject not in names:
        raise StoreError(f"{store.path}: no subject {subject!r} to hold out (have {names})")
    held = names.index(subject)
    test = [i for i in store.ids() if store.label_ids(i)["subject"] == held]
    rest = sorted(i for i in store.ids() if store.label_ids(i)["subject"] != held)
    rng = random.Random(seed)
    rng.shuffle(rest)
    n_val = int(round(len(rest) * val))
    return {"train": sorted(rest[n_val:]), "val": sorted(rest[:n_val]), "test": sorted(test)}


def write_default_splits(store: ClipStore, seed: int = 0) -> list[str]:
    """Write ``random`` and one ``heldout_<subject>`` split per subject; return their names."""
    written = ["random"]
    store.set_split("random", random_split(store, seed=seed))
    subjects = store.vocab("subject")
    if len(subjects) > 1:
        for subject in subjects:
            name = f"heldout_{subject.replace(' ', '_')}"
            store.set_split(name, heldout_subject_split(store, subject, seed=seed))
            written.append(name)
    return written
