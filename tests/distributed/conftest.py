"""Tiny synthetic feature stores for the distributed tests (no encoder, no simulator).

Features are separable by construction so a few hundred optimizer steps raise accuracy well above
chance: the subject and object set the frames' appearance, the action sets the direction in which
the frames drift over time (so it lives in the frame differences, as in Eq. 6), and the caption's
text feature is the sum of one random vector per factor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from roboact.datasets.splits import write_default_splits
from roboact.datasets.stores import ClipRecord, ClipStore, FeatureStore

from roboact.constants import FACTORS

SUBJECTS = ["panda", "sawyer", "ur5e"]
ACTIONS = ["pick", "push", "open", "lift"]
OBJECTS = ["cube", "drawer", "can"]


def build_feature_store(
    root: str | Path,
    n_frames: int = 4,
    visual_dim: int = 16,
    text_dim: int = 12,
    per_triplet: int = 2,
    noise: float = 0.05,
    seed: int = 0,
) -> Path:
    """Write ``root/clips.h5`` and ``root/features.h5``; return the feature store's path.

    Every (subject, action, object) combination gets ``per_triplet`` clips; splits ``random`` and
    ``heldout_<subject>`` are written as the real pipeline writes them.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    vocab = {"subject": SUBJECTS, "action": ACTIONS, "object": OBJECTS}
    look = {f: rng.normal(size=(len(vocab[f]), visual_dim)) for f in ("subject", "object")}
    drift = rng.normal(size=(len(ACTIONS), visual_dim))
    words = {f: rng.normal(size=(len(vocab[f]), text_dim)) for f in FACTORS}

    clips = ClipStore.open_for_build(root / "clips.h5", source="synthetic", n_frames=n_frames, image_size=0)
    records: list[tuple[str, str]] = []
    for subject in SUBJECTS:
        for action in ACTIONS:
            for obj in OBJECTS:
                for k in range(per_triplet):
                    cid = f"{subject}-{action}-{obj}-{k}"
                    caption = f"Robot {action} {obj}. Action is {action}, Object is {obj}."
                    clips.add(ClipRecord(cid, caption, subject, action, obj, source="synthetic"))
                    records.append((cid, caption))
    write_default_splits(clips, seed=seed)

    feats = FeatureStore.open_for_build(
        root / "features.h5",
        clips,
        encoder="synthetic",
        n_frames=n_frames,
        visual_dim=visual_dim,
        text_dim=text_dim,
    )
    t = np.linspace(0.0, 1.0, n_frames)[:, None]
    for cid, caption in records:
        ids = clips.label_ids(cid)  # class ids as the clip store numbered them
        base = look["subject"][ids["subject"]] + look["object"][ids["object"]]
        frames = (
            base[None]
            + 2.0 * t * drift[ids["action"]][None]
            + noise * rng.normal(size=(n_frames, visual_dim))
        )
        text = sum(words[f][ids[f]] for f in FACTORS) + noise * rng.normal(size=text_dim)
        feats.add(cid, frames, text, ids, caption)
    feats.set_vocab_text_feats({f: words[f].astype(np.float32) for f in FACTORS})
    names = clips.vocabs()
    trips = sorted({tuple(clips.label_ids(cid)[f] for f in FACTORS) for cid, _ in records})
    captions = [f"{names['subject'][s]} {names['action'][a]} the {names['object'][o]}" for s, a, o in trips]
    tfeats = np.stack([words["subject"][s] + words["action"][a] + words["object"][o] for s, a, o in trips])
    feats.set_recombination(np.array(trips), captions, tfeats)
    for split in clips.split_names():
        feats.set_split(split, clips.get_split(split))
    feats.close()
    clips.close()
    return root / "features.h5"


@pytest.fixture(scope="session")
def tiny_features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny 4-frame feature store shared by every test of this folder (read-only)."""
    return build_feature_store(tmp_path_factory.mktemp("tiny_store"))


def tiny_train_config(features: Path, runs_root: Path, name: str, **changes):
    """A fit of a few dozen steps of a very small model on the tiny store."""
    from roboact.distributed.train import DataConfig, OptimConfig, TrainConfig

    optim = OptimConfig(lr=3e-3, batch_size=16, max_steps=changes.pop("max_steps", 40), warmup_steps=5)
    base = dict(
        name=name,
        runs_root=str(runs_root),
        model_preset="roboact_tiny",
        model={"hidden_dim": 32, "embed_dim": 16, "dropout": 0.0, "bank_interval": 5},
        optim=optim,
        data=DataConfig(features=str(features)),
        log_every=10,
        checkpoint_every=20,
        workers=2,
        tensorboard=True,
    )
    base.update(changes)
    return TrainConfig(**base)
