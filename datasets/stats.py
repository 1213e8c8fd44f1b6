"""Table I of the paper from a clip store: videos, tasks, atomic actions, frames, and more.

Counting rules (the paper's Table I, made exact):

- ``videos`` = ``clips``: every kept clip is one source video (one RH20T camera's ``color.mp4``,
  one Bridge ``images0`` folder, one simulated episode).
- ``tasks``: distinct (source, task) pairs; RH20T task ids (``task_0001``), for sources without
  ids (Bridge) the normalised instruction text.
- ``actions`` / ``objects``: distinct action / object labels among the kept clips.
- ``frames``: total frames of the source videos (``n_source_frames``), as the paper counts, not the
  n sampled frames.
- ``subjects``: kept clips per subject label; ``robot_configs``: per robot configuration.
- ``rejected``: skipped clips per reason (``multi_action``, ``no_action``, ``unparsed``, ...).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from roboact.datasets.stores import ClipStore


def store_stats(path: str | Path) -> dict[str, Any]:
    """Table I of the clip store at ``path`` (see the module docstring for the keys)."""
    with ClipStore(path) as store:
        clips = store._clips()
        subjects: Counter[str] = Counter()
        sources: Counter[str] = Counter()
        configs: Counter[str] = Counter()
        tasks: set[tuple[str, str]] = set()
        actions: set[str] = set()
        objects: set[str] = set()
        frames = 0
        for clip_id in store.ids():
            a = clips[clip_id].attrs
            subjects[str(a["subject_name"])] += 1
            sources[str(a["source"])] += 1
            tasks.add((str(a["source"]), str(a.get("task", ""))))
            actions.add(str(a["action_name"]))
            objects.add(str(a["object_name"]))
            frames += int(a.get("n_source_frames", 0))
            config = json.loads(a.get("provenance", "{}")).get("robot_config")
            if config:
                configs[str(config)] += 1
        rejected = Counter(v.get("reason", "unknown") for v in store.rejections().values())
        n = len(store)
        attrs = store.attrs
    return {
        "videos": n,
        "clips": n,
        "tasks": len(tasks),
        "actions": len(actions),
        "objects": len(objects),
        "frames": frames,
        "subjects": dict(sorted(subjects.items())),
        "sources": dict(sorted(sources.items())),
        "robot_configs": dict(sorted(configs.items())),
        "rejected": dict(sorted(rejected.items())),
        "n_frames": int(attrs.get("n_frames", 0)),
        "image_size": int(attrs.get("image_size", 0)),
    }


def format_table(stats: dict[str, Any]) -> str:
    """Table I as text (Item / Count), then per-subject counts and rejections."""
    rows = [
        ("Total Videos", stats["videos"]),
        ("Unique Tasks", stats["tasks"]),
        ("Distinct Atomic Actions", stats["actions"]),
        ("Distinct Objects", stats["objects"]),
        ("Total Frames", stats["frames"]),
    ]
    rows += [(f"Videos: {name}", count) for name, count in stats["subjects"].items()]
    rows += [(f"Rejected: {reason}", count) for reason, count in stats["rejected"].items()]
    width = max(len(r[0]) for r in rows)
    lines = ["TABLE I: Summary of the Processed Dataset", f"{'Item':<{width}}  Count"]
    lines += [f"{item:<{width}}  {count:,}" for item, count in rows]
    return "\n".join(lines)
