"""BridgeData V2 raw reader (Sec. III-A source 2): jpg trajectories with language annotations.

Layout (FACTS.md, "Data formats")::

    <root>/.../raw/<collection>/.../traj_group<N>/traj<M>/
        images0/im_0.jpg, im_1.jpg, ...     the over-the-shoulder camera (one clip)
        lang.txt                            instruction line(s), then "confidence: x"
        obs_dict.pkl, policy_out.pkl        states and actions (not needed by Algorithm 1)

Every instruction line of ``lang.txt`` is an annotation of the same trajectory; the ``confidence:``
line is ignored. The build keeps the clip with the first annotation that is a single action (all
annotations stay in provenance), so a re-annotated trajectory is one video, not several. Subject is
always "Robot" (WidowX). ``cameras`` picks other image folders (``images1``...); default ``images0``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from roboact.datasets.sources import SourceItem, SourceReject
from roboact.datasets.video import list_jpgs

logger = logging.getLogger(__name__)

_GROUP = re.compile(r"^traj_group\d+$")
_TRAJ = re.compile(r"^traj\d+$")


class BridgeError(ValueError):
    """The BridgeData V2 root itself is unusable (not a directory, no trajectories)."""


def parse_lang(data: bytes, path: Path | str = "lang.txt") -> list[str]:
    """Instruction lines of a ``lang.txt``; raises ``UnicodeDecodeError`` on non-UTF-8 bytes."""
    text = data.decode("utf-8")
    lines = []
    for line in text.replace("\r", "\n").split("\n"):
        line = line.strip().strip("\ufeff").strip()
        if not line or line.lower().startswith("confidence"):
            continue
        lines.append(line)
    return lines


@dataclass
class BridgeSource:
    """Lists BridgeData V2 raw trajectories (one clip per trajectory and camera folder)."""

    root: Path
    cameras: list[str] | None = field(default=None)
    """Image folders to use (``images0``, ``images1``, ...); None = ``images0``."""
    name: str = "bridge"

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise BridgeError(f"{self.root}: BridgeData V2 root is not a directory")
        self.cameras = list(self.cameras) if self.cameras else ["images0"]

    def trajectories(self) -> list[Path]:
        trajs = sorted(
            t
            for g in self.root.rglob("traj_group*")
            if g.is_dir() and _GROUP.match(g.name)
            for t in g.iterdir()
            if t.is_dir() and _TRAJ.match(t.name)
        )
        if not trajs:
            raise BridgeError(f"{self.root}: no traj_group*/traj* folders (BridgeData V2 raw layout)")
        return trajs

    def items(self) -> Iterator[SourceItem | SourceReject]:
        for traj in self.trajectories():
            rel = traj.relative_to(self.root).as_posix()
            lang = traj / "lang.txt"
            for camera in self.cameras or ["images0"]:
                clip_id = "bridge_" + rel.replace("/", "__") + ("" if camera == "images0" else f"__{camera}")
                if not lang.is_file():
                    yield SourceReject(clip_id, str(lang), "missing_instruction", "no lang.txt")
                    continue
                try:
                    instructions = parse_lang(lang.read_bytes(), lang)
                except UnicodeDecodeError as err:
                    yield SourceReject(
                        clip_id, str(lang), "bad_text_encoding", f"not UTF-8 (byte {err.start})"
                    )
                    continue
                if not instructions:
                    yield SourceReject(clip_id, str(lang), "empty_instruction", "no instruction line")
                    continue
                folder = traj / camera
                files = list_jpgs(folder) if folder.is_dir() else []
                if not files:
                    yield SourceReject(clip_id, str(folder), "missing_images", "no im_<k>.jpg frames")
                    continue
                yield SourceItem(
                    clip_id=clip_id,
                    subject="Robot",
                    instructions=instructions,
                    n_source_frames=len(files),
                    provenance={
                        "kind": "jpgs",
                        "path": str(folder),
                        "episode": "bridge_" + rel.replace("/", "__"),  # the trajectory, every camera
                        "camera": camera,
                        "trajectory": str(traj),
                        "annotations": instructions,
                        "robot_config": "widowx",
                    },
                    file=str(folder),
                )
