"""Clip and feature stores (HDF5), splits and uniform sampling: round trips, resume, clashes, no leaks."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.splits import heldout_subject_split, random_split, write_default_splits
from roboact.datasets.stores import ClipRecord, ClipStore, FeatureStore, StoreError

SUBJECTS = ["Robot", "Human", "UR5e"]
ACTIONS = ["pick", "place", "push", "open"]


def record(i: int, frames: bool = True, n: int = 4) -> ClipRecord:
    s, a = SUBJECTS[i % 3], ACTIONS[i % 4]
    return ClipRecord(
        clip_id=f"clip_{i:03d}",
        caption=f"{s} {a} cube. Action is {a}, Object is cube.",
        subject=s,
        action=a,
        object="cube" if i % 2 else "bowl",
        source="test",
        task=f"task_{i % 5}",
        provenance={"path": f"/data/{i}.mp4", "camera": "cam_1", "frame_indices": [0, 3, 6, 9]},
        n_source_frames=10 + i,
        frames=np.full((n, 8, 8, 3), i, np.uint8) if frames else None,
        extras={"states": np.arange(6, dtype=np.float32).reshape(3, 2)} if i == 0 else {},
    )


def filled(path: Path, count: int = 24) -> ClipStore:
    store = ClipStore.open_for_build(path, "test", n_frames=4, image_size=8)
    for i in range(count):
        store.add(record(i))
    return store


def test_clip_store_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "clips.h5"
    original = [record(i) for i in range(3)]
    with filled(path, 3):
        pass
    with ClipStore(path) as store:
        assert store.ids() == [r.clip_id for r in original] and len(store) == 3
        for want in original:
            got = store.get(want.clip_id)
            assert np.array_equal(got.frames, want.frames)
            assert (got.caption, got.subject, got.action, got.object) == (
                want.caption,
                want.subject,
                want.action,
                want.object,
            )
            assert got.provenance == want.provenance and got.n_source_frames == want.n_source_frames
            labels = store.label_ids(want.clip_id)
            assert store.vocab("action")[labels["action"]] == want.action
        assert np.array_equal(store.get("clip_000").extras["states"], original[0].extras["states"])
        assert store.get("clip_001", with_frames=False).frames is None
        assert store.attrs["n_frames"] == 4 and store.attrs["image_size"] == 8


def test_resume_drops_only_the_incomplete_clip(tmp_path: Path) -> None:
    path = tmp_path / "clips.h5"
    with filled(path, 3):
        pass
    with h5py.File(path, "a") as h5:  # a build killed while writing clip_003
        group = h5["clips"].create_group("clip_003")
        group.create_dataset("frames", data=np.zeros((2, 8, 8, 3), np.uint8))
    with ClipStore(path) as store:
        assert "clip_003" not in store and len(store) == 3
    with ClipStore.open_for_build(path, "test", 4, 8) as store:
        assert "clip_003" not in store.h5["clips"]
        store.add(record(3))
        assert store.ids()[-1] == "clip_003" and len(store) == 4


def test_settings_and_schema_clashes_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "clips.h5"
    with filled(path, 2):
        pass
    with pytest.raises(StoreError, match="other settings"):
        ClipStore.open_for_build(path, "test", n_frames=16, image_size=8)
    with pytest.raises(StoreError, match="schema"):
        FeatureStore(path).ids()
    with pytest.raises(StoreError, match="no such store"):
        ClipStore(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(StoreError, match="cannot open as HDF5"):
        ClipStore(tmp_path / "junk.h5").ids()


def test_bad_records_are_refused_with_the_clip_named(tmp_path: Path) -> None:
    with ClipStore.open_for_build(tmp_path / "c.h5", "test", 4, 8) as store:
        bad = record(0)
        bad.frames = np.zeros((3, 8, 8, 3), np.uint8)
        with pytest.raises(StoreError, match="clip_000 has 3 frames"):
            store.add(bad)
        bad = record(1)
        bad.object = ""
        with pytest.raises(StoreError, match="empty object"):
            store.add(bad)
        bad = record(2)
        bad.clip_id = "a/b"
        with pytest.raises(StoreError, match="invalid clip id"):
            store.add(bad)


def test_rejections_keep_the_latest_entry_and_forget_kept_clips(tmp_path: Path) -> None:
    with ClipStore.open_for_build(tmp_path / "c.h5", "test", 4, 8) as store:
        store.add_rejection({"clip_id": "x", "file": "a.mp4", "reason": "llm_error"})
        store.add_rejection({"clip_id": "x", "file": "a.mp4", "reason": "multi_action"})
        store.add_rejection({"clip_id": "clip_000", "file": "b.mp4", "reason": "llm_error"})
        store.add(record(0))  # retried and kept
        assert {k: v["reason"] for k, v in store.rejections().items()} == {"x": "multi_action"}
        with pytest.raises(StoreError, match="needs clip_id and reason"):
            store.add_rejection({"file": "c"})


def test_random_split_is_stratified_deterministic_and_disjoint(tmp_path: Path) -> None:
    with filled(tmp_path / "c.h5") as store:
        split = random_split(store, seed=3)
        assert split == random_split(store, seed=3)
        parts = [set(v) for v in split.values()]
        assert sum(len(p) for p in parts) == len(store) and set().union(*parts) == set(store.ids())
        train_actions = {store.label_ids(i)["action"] for i in split["train"]}
        assert train_actions == set(range(len(ACTIONS)))


def test_heldout_subject_split_never_leaks_the_subject(tmp_path: Path) -> None:
    with filled(tmp_path / "c.h5") as store:
        names = write_default_splits(store, seed=0)
        assert names == ["random"] + [f"heldout_{s}" for s in store.vocab("subject")]
        human = store.vocab("subject").index("Human")
        split = store.get_split("heldout_Human")
        assert split["test"] and all(store.label_ids(i)["subject"] == human for i in split["test"])
        assert all(store.label_ids(i)["subject"] != human for i in split["train"] + split["val"])
        with pytest.raises(StoreError, match="no subject 'Cat'"):
            heldout_subject_split(store, "Cat")
        with pytest.raises(StoreError, match="unknown clips"):
            store.set_split("bad", {"train": ["nope"]})
        with pytest.raises(StoreError, match="no split named"):
            store.get_split("nope")


def _feature_store(tmp_path: Path, clips: ClipStore) -> FeatureStore:
    features = FeatureStore.open_for_build(tmp_path / "f.h5", clips, "fake", 4, visual_dim=5, text_dim=3)
    for i, clip_id in enumerate(clips.ids()):
        features.add(
            clip_id,
            np.full((4, 5), i, np.float32),
            np.full(3, -i, np.float32),
            clips.label_ids(clip_id),
            "caption",
        )
    return features


def test_feature_store_round_trip_arrays_and_is_current(tmp_path: Path) -> None:
    clips = filled(tmp_path / "c.h5", 6)
    features = _feature_store(tmp_path, clips)
    assert not features.is_current(clips, "fake", 4)  # no recombination targets yet
    features.set_vocab_text_feats(
        {f: np.zeros((len(clips.vocab(f)), 3)) for f in ("subject", "action", "object")}
    )
    features.set_recombination(
        np.array([[0, 0, 0]]), ["Robot pick the cube, action is pick"], np.zeros((1, 3))
    )
    assert features.is_current(clips, "fake", 4) and not features.is_current(clips, "fake", 8)
    arrays = features.arrays()
    assert arrays["frame_feats"].shape == (6, 4, 5) and arrays["text_feats"].shape == (6, 3)
    assert np.array_equal(arrays["frame_feats"][2], np.full((4, 5), 2))
    assert [int(x) for x in arrays["action"]] == [clips.label_ids(i)["action"] for i in clips.ids()]
    triplets, captions, _ = features.recombination()
    assert triplets.tolist() == [[0, 0, 0]] and captions == ["Robot pick the cube, action is pick"]
    clips.add(record(7))  # the clip store changed: the features are stale
    assert not features.is_current(clips, "fake", 4)
    features.close()
    clips.close()


def test_feature_store_refuses_other_keys_and_bad_shapes(tmp_path: Path) -> None:
    with filled(tmp_path / "c.h5", 2) as clips, _feature_store(tmp_path, clips) as features:
        with pytest.raises(StoreError, match="frame_feats shape"):
            features.add("clip_000", np.zeros((3, 5)), np.zeros(3), clips.label_ids("clip_000"), "c")
        with pytest.raises(StoreError, match="non-finite"):
            features.add("clip_000", np.full((4, 5), np.nan), np.zeros(3), clips.label_ids("clip_000"), "c")
        with pytest.raises(StoreError, match="no features for clips"):
            features.arrays(["nope"])
        features.close()
        with pytest.raises(StoreError, match="another clip store/encoder"):
            FeatureStore.open_for_build(tmp_path / "f.h5", clips, "other", 4, 5, 3)


def test_uniform_indices_spread_and_errors() -> None:
    assert uniform_indices(10, 2) == [0, 9]
    assert uniform_indices(16, 16) == list(range(16))
    idx = uniform_indices(100, 16)
    assert idx[0] == 0 and idx[-1] == 99 and idx == sorted(set(idx))
    with pytest.raises(ValueError, match="fewer than the 16"):
        uniform_indices(10, 16)
    with pytest.raises(ValueError, match="at least 2"):
        uniform_indices(10, 1)
