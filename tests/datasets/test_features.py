"""Feature extraction with Ray actors: resumable, cached, recombination targets, splits, derivation."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from roboact.datasets.build import build_store
from roboact.datasets.features import derive_features, extract_features
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.stores import ClipStore, FeatureStore, StoreError
from roboact.models.modeling_roboact import recomb_caption

from roboact.constants import FACTORS
from tests.datasets.test_cli import json_out
from tests.datasets.trees import level

pytestmark = [pytest.mark.ray]


@pytest.fixture
def clip_store(rh20t_tree, tmp_path: Path) -> Path:
    root, _ = rh20t_tree
    out = tmp_path / "clips.h5"
    build_store("rh20t", root, out, frames=8, image_size=16, progress=False)
    return out


@pytest.mark.timeout(240)
def test_extract_resume_cache_and_derive(
    ray_session, clip_store: Path, tmp_path: Path, fake_encoder_factory
) -> None:
    out = tmp_path / "f8.h5"
    first = extract_features(
        clip_store,
        "fake",
        8,
        out,
        workers=2,
        batch_size=1,
        encoder_factory=fake_encoder_factory,
        progress=False,
    )
    with ClipStore(clip_store) as clips, FeatureStore(out) as features:
        assert first["extracted"] == len(clips) == len(features) and not first["failed"]
        assert features.is_current(clips, "fake", 8)
        arrays = features.arrays()
        assert arrays["frame_feats"].shape == (len(clips), 8, 4) and arrays["text_feats"].shape == (
            len(clips),
            6,
        )
        # frame features are the stored frames' grey levels, in the sampled order
        lamp = next(i for i in clips.ids() if "task_0003" in i)
        means = features.h5["clips"][lamp]["frame_feats"][()][:, 0] * 255
        assert np.allclose(means, [level(i) for i in uniform_indices(22, 8)], atol=3)
        for f in FACTORS:
            assert [int(x) for x in arrays[f]] == [clips.label_ids(i)[f] for i in clips.ids()]
        # recombination: the (s, a, o) combinations of the clip store, with Eq. (19) captions
        triplets, captions, text_feats = features.recombination()
        vocabs = clips.vocabs()
        expected = sorted({tuple(clips.label_ids(i)[f] for f in FACTORS) for i in clips.ids()})
        assert [tuple(t) for t in triplets] == expected and text_feats.shape == (len(expected), 6)
        assert captions == [
            recomb_caption(vocabs["subject"][s], vocabs["action"][a], vocabs["object"][o])
            for s, a, o in expected
        ]
        assert {f: len(v) for f, v in features.vocab_text_feats().items()} == {
            f: len(vocabs[f]) for f in FACTORS
        }
        assert features.split_names() == clips.split_names()
        assert features.get_split("heldout_Human") == clips.get_split("heldout_Human")

    again = extract_features(clip_store, "fake", 8, out, encoder_factory=fake_encoder_factory, progress=False)
    assert again["up_to_date"] and again["extracted"] == 0

    # an interrupted extraction: one clip lost, recombination not written yet -> only that clip is redone
    with h5py.File(out, "a") as h5:
        victim = sorted(h5["clips"])[0]
        del h5["clips"][victim]
        del h5["recomb"]
    resumed = extract_features(
        clip_store, "fake", 8, out, workers=1, encoder_factory=fake_encoder_factory, progress=False
    )
    assert resumed["extracted"] == 1 and resumed["skipped"] == first["extracted"] - 1

    # derive 4 frames from 8 == extracting 4 from the 8-frame clip store
    derived = derive_features(out, 4, tmp_path / "f4.h5")
    assert derived["positions"] == uniform_indices(8, 4)
    assert derived["sampling_error"]["max_frames"] <= (22 - 1) / (2 * (8 - 1)) + 1
    with FeatureStore(tmp_path / "f4.h5") as a, ClipStore(clip_store) as clips:
        encoder = fake_encoder_factory()
        want = np.stack(
            [encoder.encode_images(clips.get(i).frames[uniform_indices(8, 4)]).numpy() for i in a.ids()]
        )
        assert np.allclose(a.arrays()["frame_feats"], want, atol=1e-6)  # what extraction at n=4 computes
        assert a.ids() == clips.ids() and a.split_names() == clips.split_names()
        assert np.array_equal(a.recombination()[0], triplets)
    assert derive_features(out, 4, tmp_path / "f4.h5")["up_to_date"]
    with pytest.raises(StoreError, match="can derive 2..8, not 16"):
        derive_features(out, 16, tmp_path / "f16.h5")


def test_more_frames_than_stored_without_sources_is_a_clear_error(
    clip_store: Path, rh20t_tree, tmp_path: Path, fake_encoder_factory
) -> None:
    root, _ = rh20t_tree
    import shutil

    shutil.rmtree(root)
    with pytest.raises(StoreError, match="holds 8 frames per clip, 16 requested"):
        extract_features(clip_store, "fake", 16, tmp_path / "f16.h5", encoder_factory=fake_encoder_factory)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_extracts_a_provenance_only_store_with_the_real_embedded_encoder(
    ray_session, rh20t_tree, tmp_path: Path
) -> None:
    """Frames decoded from the source files at extraction; the corrupt mp4 is recorded, not fatal."""
    from roboact.datasets.sources import read_frames
    from roboact.models.encoders import create_encoder
    from typer.testing import CliRunner

    from roboact.cli import app

    root, expected = rh20t_tree
    store = tmp_path / "prov.h5"
    build_store("rh20t", root, store, frames=4, image_size=0, progress=False)
    out = tmp_path / "emb.h5"
    args = [
        "features",
        "extract",
        "--store",
        str(store),
        "--encoder",
        "embedded",
        "--frames",
        "2",
        "--out",
        str(out),
        "--workers",
        "1",
        "--image-size",
        "32",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json_out(result.stdout)
    assert summary["extracted"] == expected["kept"]
    assert len(summary["failed"]) == 1 and "decode failed" in next(iter(summary["failed"].values()))
    encoder = create_encoder("embedded", image_size=32)
    with FeatureStore(out) as features, ClipStore(store) as clips:
        assert features.attrs["encoder"] == "embedded" and len(features) == expected["kept"]
        assert all(set(ids) <= set(features.ids()) for ids in features.get_split("random").values())
        clip_id = features.ids()[0]
        got = features.h5["clips"][clip_id]["frame_feats"][()]
        record = clips.get(clip_id, with_frames=False)
        frames, _ = read_frames(record.provenance, 2, 32, total=record.n_source_frames)
        assert np.allclose(got, encoder.encode_images(frames).numpy(), atol=1e-4)
    bad = CliRunner().invoke(
        app,
        [
            "features",
            "extract",
            "--store",
            str(store),
            "--encoder",
            "embedded",
            "--frames",
            "2",
            "--out",
            str(tmp_path / "x.h5"),
            "--image-size",
            "8",
        ],
    )
    assert bad.exit_code == 2 and "could not start" in bad.output and "image_size" in bad.output


def test_derive_works_without_the_clip_store(tmp_path: Path) -> None:
    """A feature store moved away from its clip store still derives (keyed by the stored fingerprint)."""
    from tests.datasets.test_stores import filled

    clips = filled(tmp_path / "c.h5", 5)
    src = FeatureStore.open_for_build(tmp_path / "f.h5", clips, "fake", 8, visual_dim=3, text_dim=2)
    for i, clip_id in enumerate(clips.ids()):
        src.add(
            clip_id,
            np.arange(24, dtype=np.float32).reshape(8, 3) + i,
            np.ones(2),
            clips.label_ids(clip_id),
            "c",
        )
    src.set_vocab_text_feats({f: np.zeros((len(clips.vocab(f)), 2)) for f in FACTORS})
    src.set_recombination(np.array([[0, 0, 0]]), ["Robot pick the cube, action is pick"], np.zeros((1, 2)))
    src.set_split("random", {"train": clips.ids()[:3], "test": clips.ids()[3:]})
    src.close()
    clips.close()
    (tmp_path / "c.h5").unlink()
    summary = derive_features(tmp_path / "f.h5", 2, tmp_path / "f2.h5")
    assert summary["derived"] == 5 and summary["sampling_error"] is None and summary["positions"] == [0, 7]
    with FeatureStore(tmp_path / "f2.h5") as out:
        assert out.attrs["n_frames"] == 2 and out.attrs["frame_positions"].tolist() == [0, 7]
        assert np.array_equal(out.arrays()["frame_feats"][0], np.arange(24).reshape(8, 3)[[0, 7]])
        assert out.get_split("random")["test"] == sorted(out.ids())[3:]


@pytest.mark.timeout(240)
def test_an_up_to_date_extraction_follows_rewritten_splits(
    ray_session, clip_store: Path, tmp_path: Path, fake_encoder_factory
) -> None:
    """A rerun build rewrites the clip store's splits (by execution now); the features must follow."""
    out = tmp_path / "f4.h5"
    kwargs = dict(workers=1, batch_size=4, encoder_factory=fake_encoder_factory, progress=False)
    extract_features(clip_store, "fake", 4, out, **kwargs)
    rebuilt = tmp_path / "rebuilt.h5"  # the same clips (a copy: the finished actors may still read the file)
    shutil.copy(clip_store, rebuilt)
    with ClipStore(rebuilt, mode="a") as clips:
        ids = clips.ids()
        new = {"train": ids[1:], "val": [], "test": ids[:1]}
        clips.set_split("random", new)
    again = extract_features(rebuilt, "fake", 4, out, **kwargs)
    assert again["up_to_date"] and again["splits_updated"] and again["extracted"] == 0
    with FeatureStore(out) as features:
        assert features.get_split("random") == new
    third = extract_features(rebuilt, "fake", 4, out, **kwargs)
    assert third["up_to_date"] and not third["splits_updated"]


@pytest.mark.timeout(240)
def test_extracting_some_cameras_keeps_their_clips_and_restricts_the_splits(
    ray_session, clip_store: Path, tmp_path: Path, fake_encoder_factory
) -> None:
    """``--camera``: only that view's clips are encoded, and each split keeps exactly those clips."""
    from roboact.runs import SettingsMismatchError

    cam = "036422060215"
    out = tmp_path / "one_view.h5"
    kwargs = dict(workers=1, batch_size=4, encoder_factory=fake_encoder_factory, progress=False)
    first = extract_features(clip_store, "fake", 4, out, cameras=[cam], **kwargs)
    with ClipStore(clip_store) as clips, FeatureStore(out) as features:
        seen_by = {i: clips.get(i, with_frames=False).provenance["camera"] for i in clips.ids()}
        assert set(seen_by.values()) == {cam, "104122062295"}  # the fixture has two views
        mine = sorted(i for i, c in seen_by.items() if c == cam)
        assert features.ids() == mine and first["extracted"] == len(mine) and first["cameras"] == [cam]
        for name in clips.split_names():
            want = {p: [i for i in ids if seen_by[i] == cam] for p, ids in clips.get_split(name).items()}
            assert features.get_split(name) == want
    again = extract_features(clip_store, "fake", 4, out, cameras=[cam], **kwargs)
    assert again["up_to_date"] and not again["splits_updated"] and again["extracted"] == 0
    with pytest.raises(SettingsMismatchError, match="cameras"):  # all views into the one-view store
        extract_features(clip_store, "fake", 4, out, **kwargs)
    with pytest.raises(StoreError, match=r"no clips from camera\(s\) \['wrist'\]; its cameras: \['0364"):
        extract_features(clip_store, "fake", 4, tmp_path / "none.h5", cameras=["wrist"], **kwargs)
