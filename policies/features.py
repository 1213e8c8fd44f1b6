"""Frozen visual features for the policy head (paper Sec. III-C, Fig. 2; ablation A6 of Sec. IV-C).

A *feature spec* names what the policy sees of the camera image; the same head is trained on each,
which gives the paper's comparison rows:

- ``embedded`` or ``open_clip:<arch>:<ckpt>``: the frozen encoder's features of the current frame
  (the "CLIP" row and ablation A6, "only original CLIP frame features").
- ``roboact:<model_dir>``: RoboAct-CLIP's visual representation ``RoboActCLIP.encode_video`` (Eq. 24,
  the concatenated subject/object/action branches, 3E values) over a rolling window of the last
  ``n`` frames' encoder features, ``n = config.n_frames`` of that model, encoder = ``config.encoder``.
  Ablations A1-A5 are ``roboact:<dir of the matching checkpoint>``. ``model_dir`` may be an
  ``s3://`` / ``gs://`` URI (a fit's ``--runs-root`` in a bucket): each node stages it once, so a
  head trained on it loads on any node of a cluster, where a driver's local folder would not exist.

Options follow an ``@``: ``SPEC@k=3,stride=2``. ``k`` (frame specs only, default 1) concatenates the
last ``k`` frames' features, oldest first; ``stride`` (default 1) spaces the window's frames
``stride`` control steps apart (a RoboAct-CLIP window of 16 consecutive 20 Hz steps spans 0.8 s,
while its training clips span a whole atomic action; ``stride`` widens the window). At the start of
an episode the window is padded by repeating the first frame, so step ``t`` sees frames
``max(0, t - (n-1-i)*stride)`` for ``i = 0..n-1``. ``FeatureExtractor.episode`` (all frames of a
demo at once, for training) and ``reset``/``step`` (one frame at a time, for rollouts) compute the
same numbers.

``history`` and ``every`` (any spec, default 1) are the *head's* input history: the policy sees the
spec's features of the last ``history`` steps, ``every`` steps apart, oldest first, padded the same
way. Why apart from ``k``: the same head for every encoder row (issue #14) needs a history that
means one thing for every spec; a RoboAct-CLIP row's ``k`` is fixed by its model. For a frame spec
with ``k=1``, ``history=3,every=4`` gives the same numbers as ``k=3,stride=4``.
"""

from __future__ import annotations

import copy
import logging
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_OPTION_RE = re.compile(r"^[a-z_]+=\d+(,[a-z_]+=\d+)*$")
_OPTIONS = ("k", "stride", "history", "every")


HISTORY_RE = re.compile(r"^history=[1-9]\d*(,every=[1-9]\d*)?$")
"""a head history on its own (``history=H[,every=S]``), as ``bench paper`` and ``policy train`` take it"""


def with_head_history(spec: str, head_history: str) -> str:
    """``spec`` with a head history appended to its ``@`` options; unchanged when ``head_history`` is
    empty or ``spec`` names its own history (what a user wrote in the spec wins)."""
    if not head_history or re.search(r"[@,]history=", spec):
        return spec
    return f"{spec},{head_history}" if "@" in spec else f"{spec}@{head_history}"


@dataclass(frozen=True)
class FeatureSpec:
    """A parsed ``--features`` value."""

    kind: str
    """'frames' (encoder features of the last k frames) or 'roboact' (RoboAct-CLIP encode_video)"""
    encoder: str
    """frozen image encoder spec (for 'roboact', the one recorded in the model's config)"""
    model_dir: str | None = None
    """RoboAct-CLIP checkpoint directory ('roboact' only)"""
    k: int = 1
    """frames in the window: frames k for 'frames', the model's n_frames for 'roboact'"""
    stride: int = 1
    """control steps between the window's frames"""
    text: str = ""
    """the spec as given (recorded in checkpoints and cache keys)"""
    history: int = 1
    """steps of the spec's features the head sees (its own input history), oldest first"""
    every: int = 1
    """control steps between the history's entries"""

    @classmethod
    def parse(cls, spec: str) -> FeatureSpec:
        """Parse ``embedded``, ``open_clip:<arch>:<ckpt>`` or ``roboact:<model_dir>`` [+ ``@k=..,stride=..``].

        For ``roboact:`` this reads the model's ``config.json`` (to learn ``n_frames`` and the
        encoder) but not its weights.
        """
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"feature spec must be a non-empty string, got {spec!r}")
        text = spec.strip()
        base, opts = text, {}
        if "@" in text:
            head, tail = text.rsplit("@", 1)
            if not _OPTION_RE.match(tail):
                raise ValueError(
                    f"feature spec {spec!r}: options after '@' must look like k=3,stride=2, got {tail!r}"
                )
            base = head
            for item in tail.split(","):
                key, value = item.split("=")
                if key not in _OPTIONS:
                    raise ValueError(
                        f"feature spec {spec!r}: unknown option {key!r} (known: {', '.join(_OPTIONS)})"
                    )
                opts[key] = int(value)
        for key in ("stride", "history", "every"):
            if opts.get(key, 1) < 1:
                raise ValueError(f"feature spec {spec!r}: {key} must be >= 1, got {opts[key]}")
        stride = opts.get("stride", 1)
        hist = {"history": opts.get("history", 1), "every": opts.get("every", 1)}
        if base.startswith("roboact:"):
            model_dir = base[len("roboact:") :]
            if not model_dir:
                raise ValueError(f"feature spec {spec!r}: 'roboact:' needs a model directory")
            if "k" in opts:
                raise ValueError(
                    f"feature spec {spec!r}: k is fixed by the model's n_frames for roboact specs"
                )
            local_dir = _staged_model_dir(model_dir)
            n_frames, encoder = _read_model_config(local_dir)
            return cls("roboact", encoder, str(local_dir), n_frames, stride, text, **hist)
        if base == "embedded" or base.startswith("open_clip:"):
            if base.startswith("open_clip:") and len(base.split(":", 2)) < 3:
                raise ValueError(f"feature spec {spec!r}: expected open_clip:<arch>:<checkpoint path>")
            k = opts.get("k", 1)
            if k < 1:
                raise ValueError(f"feature spec {spec!r}: k must be >= 1, got {k}")
            return cls("frames", base, None, k, stride, text, **hist)
        raise ValueError(
            f"unknown feature spec {spec!r}: expected 'embedded', 'open_clip:<arch>:<ckpt>' or "
            "'roboact:<model_dir>'"
            " (optionally with @k=..,stride=..,history=..,every=..)"
        )

    def window_indices(self, t: int) -> list[int]:
        """Frame indices of step ``t``'s window, oldest first, padded with frame 0 at episode start."""
        return _padded_indices(t, self.k, self.stride)

    def history_indices(self, t: int) -> list[int]:
        """Steps whose features step ``t``'s head input holds, oldest first, padded with step 0."""
        return _padded_indices(t, self.history, self.every)


def _padded_indices(t: int, n: int, spacing: int) -> list[int]:
    """``n`` indices ``spacing`` apart ending at ``t``, oldest first, clamped at 0 (episode start)."""
    return [max(0, t - (n - 1 - i) * spacing) for i in range(n)]


def _push_and_take(buffer: deque[np.ndarray], item: np.ndarray, n: int, spacing: int) -> list[np.ndarray]:
    """Streaming twin of ``_padded_indices``: add step ``t``'s ``item`` (an episode's first item fills
    the buffer, the padding) and return the ``n`` items ``spacing`` steps apart ending at it."""
    if not buffer:
        buffer.extend([item] * buffer.maxlen)  # type: ignore[operator]
    else:
        buffer.append(item)
    return [buffer[-1 - (n - 1 - i) * spacing] for i in range(n)]


def model_dir_of(spec: str) -> str | None:
    """The model directory a ``roboact:`` spec names, as written (a path or a URI); None for other
    specs. Reads nothing, so a driver can check where a head's model lives before staging it."""
    base = spec.strip().rsplit("@", 1)[0]
    if not base.startswith("roboact:"):
        return None
    return base[len("roboact:") :] or None


def _staged_model_dir(model_dir: str) -> Path:
    """A local folder holding ``model_dir``: itself, or this node's copy of a URI."""
    from roboact.storage import is_remote, local_copy

    return local_copy(model_dir) if is_remote(model_dir) else Path(model_dir)


def _read_model_config(model_dir: Path) -> tuple[int, str]:
    from roboact.policies.jsonfile import read_json

    cfg = read_json(
        model_dir / "config.json", ("n_frames", "encoder"), "not a RoboAct-CLIP checkpoint directory"
    )
    return int(cfg["n_frames"]), str(cfg["encoder"])


class FeatureExtractor:
    """Computes a spec's features, for whole episodes (training) or one frame at a time (rollouts)."""

    def __init__(
        self, spec: FeatureSpec, image_size: int = 128, device: str = "cpu", batch_size: int = 32
    ) -> None:
        import torch
        from roboact.models.encoders import create_encoder

        self.spec, self.image_size, self.device, self.batch_size = spec, image_size, device, batch_size
        self.encoder = create_encoder(spec=spec.encoder, image_size=image_size, device=device)
        self.model: Any = None
        if spec.kind == "roboact":
            from roboact.models.modeling_roboact import RoboActCLIP

            self.model = RoboActCLIP.from_pretrained(spec.model_dir, device=device).eval()
            if self.model.config.visual_dim != self.encoder.image_dim:
                raise ValueError(
                    f"{spec.model_dir}: model visual_dim {self.model.config.visual_dim} != encoder "
                    f"{spec.encoder!r} image_dim {self.encoder.image_dim}"
                )
            with torch.no_grad():
                probe = torch.zeros(1, spec.k, self.encoder.image_dim, device=device)
                self.base_dim = int(self.model.encode_video(probe).shape[-1])  # 3E (Eq. 24)
        else:
            self.base_dim = int(self.encoder.image_dim) * spec.k
        self.dim = self.base_dim * spec.history
        self._history: deque[np.ndarray] = deque(maxlen=(spec.k - 1) * spec.stride + 1)
        self._past: deque[np.ndarray] = deque(maxlen=(spec.history - 1) * spec.every + 1)
        self._t = 0

    # -- frame features ---------------------------------------------------------------------
    def encode_frames(self, images: np.ndarray) -> np.ndarray:
        """Encoder features of uint8 images (T, H, W, 3) -> float32 (T, Dv), in batches."""
        import torch

        images = _check_images(images)
        out = []
        with torch.no_grad():
            for i in range(0, len(images), self.batch_size):
                feats = self.encoder.encode_images(images[i : i + self.batch_size])
                out.append(feats.detach().float().cpu().numpy())
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.encoder.image_dim), np.float32)

    def _windows_to_features(self, windows: np.ndarray) -> np.ndarray:
        """(B, k, Dv) windows -> (B, dim) policy features."""
        import torch

        if self.spec.kind == "frames":
            return windows.reshape(len(windows), -1).astype(np.float32)
        out = []
        for i in range(0, len(windows), 256):
            batch = torch.from_numpy(np.ascontiguousarray(windows[i : i + 256])).to(self.device)
            out.append(self.model.encode_video(batch).float().cpu().numpy())  # (B, 3E), Eq. (24)
        return np.concatenate(out, axis=0)

    # -- whole episodes (training) ---------------------------------------------------------
    def episode(self, images: np.ndarray) -> np.ndarray:
        """Features of every step of one episode: uint8 (T, H, W, 3) -> float32 (T, dim)."""
        frame_feats = self.encode_frames(images)  # (T, Dv)
        return self.episode_from_frame_features(frame_feats)

    def episode_from_frame_features(self, frame_feats: np.ndarray) -> np.ndarray:
        """Windows over precomputed encoder features (T, Dv) -> (T, dim)."""
        idx = np.array([self.spec.window_indices(t) for t in range(len(frame_feats))], dtype=np.int64)
        if len(idx) == 0:
            return np.zeros((0, self.dim), np.float32)
        base = self._windows_to_features(frame_feats[idx])  # (T, k, Dv) -> (T, base_dim)
        if self.spec.history == 1:
            return base
        past = np.array([self.spec.history_indices(t) for t in range(len(base))], dtype=np.int64)
        return base[past].reshape(len(base), -1)  # (T, history, base_dim) -> (T, dim)

    def sibling(self) -> FeatureExtractor:
        """The same encoder (and model) with a window of its own: one per camera of a head."""
        other = copy.copy(self)
        other._history = deque(maxlen=self._history.maxlen)
        other._past = deque(maxlen=self._past.maxlen)
        other._t = 0
        return other

    # -- one frame at a time (rollouts) ----------------------------------------------------
    def reset(self) -> None:
        """Forget the window: the next ``step`` starts a new episode."""
        self._history.clear()
        self._past.clear()
        self._t = 0

    def step(self, image: np.ndarray) -> np.ndarray:
        """Features of the current frame given the frames since ``reset``: uint8 (H, W, 3) -> (dim,)."""
        feat = self.encode_frames(np.asarray(image)[None])[0]
        window = np.stack(_push_and_take(self._history, feat, self.spec.k, self.spec.stride))
        self._t += 1
        base = self._windows_to_features(window[None])[0]
        if self.spec.history == 1:
            return base
        return np.concatenate(_push_and_take(self._past, base, self.spec.history, self.spec.every))


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) uint8, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got dtype {images.dtype}")
    return images
