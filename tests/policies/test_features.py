"""Feature specs and extraction: parsing, padding, streaming == whole-episode features, roboact specs."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.policies.features import FeatureExtractor, FeatureSpec


@pytest.fixture(scope="module")
def roboact_dir(tmp_path_factory):
    """A tiny (untrained) RoboAct-CLIP checkpoint on the embedded encoder's 1280-d features."""
    from roboact.models.configuration_roboact import RoboActConfig
    from roboact.models.modeling_roboact import RoboActCLIP

    cfg = RoboActConfig(
        visual_dim=1280, text_dim=384, embed_dim=8, hidden_dim=16, n_frames=4, transformer_layers=1,
        transformer_heads=2, attn_heads=2, num_subjects=2, num_actions=2, num_objects=2,
    )  # fmt: skip
    d = tmp_path_factory.mktemp("roboact_model")
    RoboActCLIP(cfg).save_pretrained(d)
    return d


def test_parse_frame_specs_and_options():
    assert FeatureSpec.parse("embedded") == FeatureSpec("frames", "embedded", None, 1, 1, "embedded")
    spec = FeatureSpec.parse("embedded@k=3,stride=2")
    assert (spec.kind, spec.encoder, spec.k, spec.stride) == ("frames", "embedded", 3, 2)
    spec = FeatureSpec.parse("open_clip:ViT-B-32:/some/where/ckpt.pt@k=2")
    assert (spec.encoder, spec.k) == ("open_clip:ViT-B-32:/some/where/ckpt.pt", 2)
    spec = FeatureSpec.parse("embedded@history=3,every=4")
    assert (spec.k, spec.history, spec.every) == (1, 3, 4)
    assert spec.history_indices(5) == [0, 1, 5]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "non-empty"),
        ("resnet50", "unknown feature spec"),
        ("embedded@k=0", "k must be >= 1"),
        ("embedded@stride=0", "stride must be >= 1"),
        ("embedded@history=0", "history must be >= 1"),
        ("embedded@every=0", "every must be >= 1"),
        ("embedded@window=3", "unknown option 'window'"),
        ("embedded@k3", "options after '@'"),
        ("open_clip:ViT-B-32", "open_clip:<arch>:<checkpoint path>"),
        ("roboact:", "needs a model directory"),
    ],
)
def test_bad_specs_are_rejected_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        FeatureSpec.parse(spec)


def test_roboact_spec_reads_frames_and_encoder_from_the_model(roboact_dir, tmp_path):
    spec = FeatureSpec.parse(f"roboact:{roboact_dir}@stride=2")
    assert (spec.kind, spec.encoder, spec.k, spec.stride) == ("roboact", "embedded", 4, 2)
    with pytest.raises(FileNotFoundError, match="config.json"):
        FeatureSpec.parse(f"roboact:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="fixed by the model"):
        FeatureSpec.parse(f"roboact:{roboact_dir}@k=2")


def test_window_is_padded_with_the_first_frame():
    spec = FeatureSpec.parse("embedded@k=3,stride=2")
    assert spec.window_indices(0) == [0, 0, 0]
    assert spec.window_indices(3) == [0, 1, 3]
    assert spec.window_indices(7) == [3, 5, 7]


def _frames(n, size=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, size=(n, size, size, 3), dtype=np.uint8)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("which", ["frames", "roboact", "roboact_history"])
def test_streaming_features_equal_whole_episode_features(which, roboact_dir):
    text = {
        "frames": "embedded@k=2,stride=2",
        "roboact": f"roboact:{roboact_dir}@stride=2",
        "roboact_history": f"roboact:{roboact_dir}@stride=2,history=3,every=2",
    }[which]
    ex = FeatureExtractor(FeatureSpec.parse(text), image_size=64)
    images = _frames(6)
    whole = ex.episode(images)
    assert whole.shape == (6, ex.dim) and whole.dtype == np.float32
    ex.reset()
    stream = np.stack([ex.step(img) for img in images])
    np.testing.assert_allclose(stream, whole, rtol=1e-4, atol=1e-4)
    ex.reset()  # a new episode starts a new window
    np.testing.assert_allclose(ex.step(images[3]), ex.episode(images[3:4])[0], rtol=1e-4, atol=1e-4)


@pytest.mark.timeout(120)
def test_frame_spec_concatenates_the_window_of_encoder_features():
    ex = FeatureExtractor(FeatureSpec.parse("embedded@k=2"), image_size=64)
    images = _frames(3, seed=1)
    frame = ex.encode_frames(images)  # (3, 1280)
    feats = ex.episode(images)
    assert ex.dim == 2 * frame.shape[1]
    np.testing.assert_allclose(feats[0], np.concatenate([frame[0], frame[0]]), rtol=1e-5)
    np.testing.assert_allclose(feats[2], np.concatenate([frame[1], frame[2]]), rtol=1e-5)


@pytest.mark.timeout(120)
def test_history_concatenates_the_specs_features_of_past_steps(roboact_dir):
    """``history=3,every=2``: step t's input is the spec's features at t-4, t-2, t (step 0 padding);
    on a frame spec it equals the frame window ``k=3,stride=2``."""
    images = _frames(6, seed=3)
    plain = FeatureExtractor(FeatureSpec.parse(f"roboact:{roboact_dir}"), image_size=64)
    hist = FeatureExtractor(FeatureSpec.parse(f"roboact:{roboact_dir}@history=3,every=2"), image_size=64)
    base, feats = plain.episode(images), hist.episode(images)
    assert hist.dim == 3 * plain.dim == feats.shape[1]
    np.testing.assert_allclose(feats[5], np.concatenate([base[1], base[3], base[5]]), rtol=1e-5)
    np.testing.assert_allclose(feats[1], np.concatenate([base[0], base[0], base[1]]), rtol=1e-5)
    as_history = FeatureExtractor(FeatureSpec.parse("embedded@history=3,every=2"), image_size=64)
    as_window = FeatureExtractor(FeatureSpec.parse("embedded@k=3,stride=2"), image_size=64)
    np.testing.assert_allclose(as_history.episode(images), as_window.episode(images), rtol=1e-5)


def test_roboact_features_are_the_models_video_embedding(roboact_dir):
    import torch
    from roboact.models.modeling_roboact import RoboActCLIP

    ex = FeatureExtractor(FeatureSpec.parse(f"roboact:{roboact_dir}"), image_size=64)
    images = _frames(5, seed=2)
    frame = torch.from_numpy(ex.encode_frames(images))
    model = RoboActCLIP.from_pretrained(roboact_dir)
    window = frame[[1, 2, 3, 4]][None]  # step 4 sees frames 1..4
    expected = model.encode_video(window)[0].numpy()  # (3E,), Eq. (24)
    np.testing.assert_allclose(ex.episode(images)[4], expected, rtol=1e-4, atol=1e-5)
    assert ex.dim == 3 * model.config.embed_dim


def test_encoder_that_does_not_match_the_model_is_rejected(tmp_path):
    from roboact.models.configuration_roboact import RoboActConfig
    from roboact.models.modeling_roboact import RoboActCLIP

    cfg = RoboActConfig(
        visual_dim=64, embed_dim=8, hidden_dim=16, n_frames=2, transformer_heads=2, attn_heads=2,
        num_subjects=2, num_actions=2, num_objects=2,
    )  # fmt: skip
    RoboActCLIP(cfg).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="visual_dim 64"):
        FeatureExtractor(FeatureSpec.parse(f"roboact:{tmp_path}"), image_size=64)
