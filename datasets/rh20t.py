"""RH20T reader (Sec. III-A source 1): robot and human demonstration videos with task descriptions.

Layout (FACTS.md, "Data formats")::

    <root>/task_description.json                  {"task_0001": {"task_description_english": ...}}
    <root>/RH20T_cfg<N>/task_<t>_user_<u>_scene_<s>_cfg_<c>[_human]/
        metadata.json                              finish_time, rating, ...
        cam_<serial>/color.mp4                     one clip per camera
        cam_<serial>/timestamps.npy                pickled dict, .item()["color"]: one stamp per frame

``<root>`` may also be a single ``RH20T_cfg<N>`` folder (the task descriptions are then looked up in
it and its parent, or given by ``task_descriptions``). Subject is "Robot", or "Human" for ``_human``
folders; the robot configuration (``cfg_0001``) is kept in provenance. Each selected camera is one
clip (``cameras=None``: all of them).

``timestamps.npy`` is a pickled object (RH20T's format), so it is loaded with ``allow_pickle=True``:
only read RH20T copies you trust.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from roboact.datasets.sources import SourceItem, SourceReject

logger = logging.getLogger(__name__)

SCENE_RE = re.compile(r"^(task_\d+)_user_(\d+)_scene_(\d+)_cfg_(\d+)(_human)?$")
DESCRIPTION_FILE = "task_description.json"


class RH20TError(ValueError):
    """The RH20T root itself is unusable (no scenes, unreadable task descriptions)."""


@dataclass
class RH20TSource:
    """Lists RH20T clips (one per scene folder and camera)."""

    root: Path
    cameras: list[str] | None = None
    """Camera serials (``036422060215`` or ``cam_036422060215``) to use; None = every camera."""
    task_descriptions: Path | None = None
    """``task_description.json``; default: ``<root>/task_description.json`` (or the parent's)."""
    name: str = "rh20t"

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.root.is_dir():
            raise RH20TError(f"{self.root}: RH20T root is not a directory")
        if self.cameras:
            self.cameras = [c if c.startswith("cam_") else f"cam_{c}" for c in self.cameras]
        self.descriptions = self._load_descriptions()

    def _load_descriptions(self) -> dict[str, str]:
        candidates = (
            [Path(self.task_descriptions)]
            if self.task_descriptions
            else [self.root / DESCRIPTION_FILE, self.root.parent / DESCRIPTION_FILE]
        )
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise RH20TError(
                f"no {DESCRIPTION_FILE} at {', '.join(str(p) for p in candidates)}; "
                "pass its path with --task-descriptions"
            )
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as err:
            raise RH20TError(f"{path}: not UTF-8 text (byte {err.start})") from err
        except json.JSONDecodeError as err:
            raise RH20TError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from err
        if not isinstance(data, dict):
            raise RH20TError(f"{path}: expected an object keyed by task id, got {type(data).__name__}")
        out: dict[str, str] = {}
        for task, value in data.items():
            text = value.get("task_description_english") if isinstance(value, dict) else value
            if isinstance(text, str) and text.strip():
                out[str(task)] = text.strip()
        logger.info("%s: %d task descriptions", path, len(out))
        self.descriptions_path = path
        return out

    def scenes(self) -> list[Path]:
        """Scene folders under the root (sorted, so clip order and ids are stable)."""
        found = [p for p in self.root.glob("RH20T_cfg*/task_*") if p.is_dir()]
        found += [p for p in self.root.glob("task_*") if p.is_dir()]
        scenes = sorted({p for p in found if SCENE_RE.match(p.name)})
        if not scenes:
            raise RH20TError(f"{self.root}: no RH20T scene folders (task_*_user_*_scene_*_cfg_*)")
        return scenes

    def items(self) -> Iterator[SourceItem | SourceReject]:
        for scene in self.scenes():
            yield from self._scene_items(scene)

    def _scene_items(self, scene: Path) -> Iterator[SourceItem | SourceReject]:
        match = SCENE_RE.match(scene.name)
        assert match is not None
        task, user, scene_no, cfg, human = match.groups()
        group = scene.parent.name if scene.parent != self.root else "root"
        metadata = _read_metadata(scene / "metadata.json")
        cams = sorted(p for p in scene.glob("cam_*") if p.is_dir())
        if self.cameras:
            cams = [c for c in cams if c.name in self.cameras]
        for cam in cams:
            clip_id = f"rh20t_{group}_{scene.name}_{cam.name}"
            video, stamps = cam / "color.mp4", cam / "timestamps.npy"
            if task not in self.descriptions:
                yield SourceReject(
                    clip_id,
                    str(self.descriptions_path),
                    "missing_instruction",
                    f"no task_description_english for {task}",
                )
                continue
            if not video.is_file():
                yield SourceReject(clip_id, str(video), "missing_file", "no color.mp4")
                continue
            n_frames, problem = _timestamp_count(stamps)
            if problem:
                yield SourceReject(clip_id, str(stamps), problem[0], problem[1])
                continue
            provenance: dict[str, Any] = {
                "kind": "video",
                "path": str(video),
                "episode": f"rh20t_{group}_{scene.name}",  # the recording: all its cameras share it
                "camera": cam.name[len("cam_") :],
                "robot_config": f"cfg_{cfg}",
                "user": f"user_{user}",
                "scene": f"scene_{scene_no}",
                "scene_dir": str(scene),
                "metadata": metadata,
            }
            yield SourceItem(
                clip_id=clip_id,
                subject="Human" if human else "Robot",
                instructions=[self.descriptions[task]],
                n_source_frames=n_frames,
                provenance=provenance,
                task=task,
                file=str(video),
            )


def _read_metadata(path: Path) -> dict[str, Any] | None:
    """``metadata.json`` of a scene, or None (with a warning) when missing or unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        logger.warning("%s: unreadable metadata (%s); kept the clip without it", path, err)
        return None
    return data if isinstance(data, dict) else None


def _timestamp_count(path: Path) -> tuple[int, tuple[str, str] | None]:
    """Frames listed in ``timestamps.npy`` (``.item()["color"]``), or a (reason, detail) problem."""
    if not path.is_file():
        return 0, ("missing_timestamps", "no timestamps.npy")
    try:
        loaded = np.load(path, allow_pickle=True)
        data = loaded.item() if loaded.dtype == object and loaded.shape == () else loaded
        stamps = data["color"] if isinstance(data, dict) else data
        count = len(stamps)
    except Exception as err:  # noqa: BLE001 - np.load of a pickle can raise nearly anything
        return 0, ("bad_timestamps", f"cannot read timestamps ({type(err).__name__}: {err})"[:300])
    if count == 0:
        return 0, ("empty_timestamps", "timestamps list no frames")
    return int(count), None
