"""Tiny RH20T and BridgeData V2 trees in their real on-disk formats (FACTS.md, "Data formats").

Videos are real H.264 mp4 files written with PyAV, images real JPEGs written with Pillow. Frame k
of every clip is a flat grey of level ``level(k)``, so a test can tell which frames were sampled.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
from PIL import Image

W, H = 64, 48


def level(k: int) -> int:
    """Grey level of frame k (far enough apart to survive lossy compression)."""
    return (20 + 9 * k) % 240


def write_mp4(path: Path, n_frames: int, fps: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for k in range(n_frames):
            image = np.full((H, W, 3), level(k), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_timestamps(path: Path, n_frames: int) -> None:
    stamps = {"color": [1_650_000_000_000 + 100 * k for k in range(n_frames)], "depth": []}
    np.save(path, np.array(stamps, dtype=object), allow_pickle=True)


def write_rh20t_scene(
    root: Path,
    task: str,
    human: bool = False,
    cams: dict[str, int] | None = None,
    cfg: int = 1,
    scene: int = 1,
) -> Path:
    """One scene folder with one clip per camera (serial -> frame count)."""
    name = f"{task}_user_0001_scene_{scene:04d}_cfg_{cfg:04d}" + ("_human" if human else "")
    folder = root / f"RH20T_cfg{cfg}" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps({"finish_time": 12.5, "rating": 9, "calib": 0}))
    for serial, n in (cams or {"036422060215": 20}).items():
        cam = folder / f"cam_{serial}"
        write_mp4(cam / "color.mp4", n)
        write_timestamps(cam / "timestamps.npy", n)
    return folder


RH20T_TASKS = {
    "task_0001": "Pick up the block",
    "task_0002": "Open the drawer and then put the cup inside",
    "task_0003": "Turn on the desk lamp",
}


def make_rh20t(root: Path) -> dict:
    """A tiny RH20T copy; returns what the tests count by hand.

    task_0001: robot scene with two cameras (20 and 24 frames) + a human scene (18 frames): kept.
    task_0002: multi-action instruction (one camera, 20 frames): rejected as multi_action.
    task_0003: one camera with a corrupt mp4 (timestamps claim 20 frames), one good (22 frames).
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "task_description.json").write_text(
        json.dumps(
            {
                k: {"task_description_english": v, "task_description_chinese": "..."}
                for k, v in RH20T_TASKS.items()
            }
        )
    )
    write_rh20t_scene(root, "task_0001", cams={"036422060215": 20, "104122062295": 24})
    write_rh20t_scene(root, "task_0001", human=True, cams={"036422060215": 18})
    write_rh20t_scene(root, "task_0002", cams={"036422060215": 20})
    scene = write_rh20t_scene(root, "task_0003", cams={"036422060215": 22, "104122062295": 20})
    bad = scene / "cam_104122062295" / "color.mp4"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated: header only
    return {
        "kept": 4,
        "frames": 20 + 24 + 18 + 22,
        "tasks": 2,
        "actions": 2,  # pick, turn on
        "subjects": {"Human": 1, "Robot": 3},
        "rejected": {"multi_action": 1, "corrupt_video": 1},
    }


def write_jpgs(folder: Path, n_frames: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_frames):
        Image.fromarray(np.full((H, W, 3), level(k), np.uint8)).save(folder / f"im_{k}.jpg", quality=95)


def write_traj(traj: Path, lang: bytes | None, n_frames: int) -> None:
    write_jpgs(traj / "images0", n_frames)
    if lang is not None:
        (traj / "lang.txt").write_bytes(lang)
    (traj / "obs_dict.pkl").write_bytes(b"\x80\x04N.")  # pickled None: present, unused
    (traj / "policy_out.pkl").write_bytes(b"\x80\x04N.")


def make_bridge(root: Path) -> dict:
    """A tiny BridgeData V2 raw copy; returns what the tests count by hand."""
    base = (
        root
        / "raw"
        / "rss"
        / "toykitchen2"
        / "put_spoon"
        / "00"
        / "2022-04-20_10-00-00"
        / "raw"
        / "traj_group0"
    )
    write_traj(base / "traj0", b"put the spoon in the pot\nconfidence: 1\n", 18)
    write_traj(
        base / "traj1",
        b"take the carrot out of the pot and put it on the plate\nmove the carrot\nconfidence: 0.8\n",
        20,
    )
    write_traj(base / "traj2", b"pick up the spoon and put it in the sink\nconfidence: 1\n", 16)
    write_traj(base / "traj3", b"\xff\xfe put the \xe9 cup\n", 16)  # not UTF-8
    write_traj(base / "traj4", b"confidence: 1\n", 16)  # no instruction line
    write_traj(base / "traj5", None, 16)  # no lang.txt
    write_traj(base / "traj6", b"open the microwave\n", 17)
    (base / "traj6" / "images0" / "im_16.jpg").write_bytes(b"not a jpeg at all")  # last frame is sampled
    write_traj(base / "traj7", b"flip the pot upright\n", 5)  # fewer frames than n
    return {
        "kept": 2,  # traj0 (place spoon), traj1 via its second annotation (move carrot)
        "frames": 18 + 20,
        "rejected": {
            "multi_action": 1,
            "bad_text_encoding": 1,
            "empty_instruction": 1,
            "missing_instruction": 1,
            "unreadable_image": 1,
            "too_few_frames": 1,
        },
    }
