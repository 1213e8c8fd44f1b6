"""The source interface of Algorithm 1: what every dataset reader yields, and frames from provenance.

A source (RH20T, BridgeData V2, a user's own) is anything with a ``name`` and an ``items()``
iterator of ``SourceItem`` (a candidate clip: instruction(s), subject, frame count, provenance) or
``SourceReject`` (a clip that cannot even be listed: missing timestamps, unreadable text). Frames are
not read while listing; ``read_frames`` reads them from the provenance, so the build can decide to
skip a clip (multi-action instruction) before paying for decoding, and feature extraction can decode
from a provenance-only store (``--image-size 0``).

Provenance kinds:
    ``{"kind": "video", "path": ".../color.mp4", ...}``  an mp4, ``n_source_frames`` frames
    ``{"kind": "jpgs", "path": ".../images0", ...}``     a folder of ``im_<k>.jpg``
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from roboact.datasets.video import FrameError, decode_video, list_jpgs, read_jpgs


@dataclass
class SourceItem:
    """A candidate clip, before action parsing and frame reading."""

    clip_id: str
    subject: str
    """"Robot" or "Human" (Algorithm 1's subject); the robot configuration goes in provenance."""
    instructions: list[str]
    """Annotations of the clip; the build keeps the clip with the first single-action one."""
    n_source_frames: int
    provenance: dict[str, Any]
    task: str = ""
    """Task id when the source has one (RH20T ``task_0001``); else the build uses the instruction."""
    file: str = ""
    """The file a rejection of this clip should name (video or annotation file)."""


@dataclass
class SourceReject:
    """A clip that cannot be listed; written to ``rejected.jsonl`` with file and reason."""

    clip_id: str
    file: str
    reason: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A dataset reader Algorithm 1 can consume."""

    name: str

    def items(self) -> Iterator[SourceItem | SourceReject]: ...


def read_frames(
    provenance: dict[str, Any], n: int, image_size: int | None, total: int | None = None
) -> tuple[np.ndarray, list[int]]:
    """``n`` uniformly sampled frames of the clip a provenance points to, and their indices.

    Raises:
        FrameError: as ``decode_video`` / ``read_jpgs``; ``missing_file`` when the provenance has no
            readable path (for example a simulated clip whose frames only live in the store).
    """
    kind = provenance.get("kind")
    path = provenance.get("path")
    if not path:
        raise FrameError("missing_file", f"provenance {provenance!r} names no file to read frames from")
    if kind == "video":
        return decode_video(path, n, image_size, total=total)
    if kind == "jpgs":
        files = list_jpgs(path)
        if not files:
            raise FrameError("missing_file", f"{path}: no im_<k>.jpg files")
        return read_jpgs(files, n, image_size)
    raise FrameError("missing_file", f"{path}: provenance kind {kind!r} has no frame reader")
