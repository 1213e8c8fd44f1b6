"""Benchmark of the dataset pipeline: decode + uniform sampling, and Ray feature extraction.

Prints, side by side in one run:

1. clips/s of ``decode_video`` (n frames sampled uniformly, only those converted and resized) vs a
   raw PyAV decode of the same files (every frame decoded and converted to RGB, n picked after),
   and their ratio;
2. feature extraction clips/s with 1 and 2 Ray actors (``extract_features``, end to end and
   steady state after the actors are up) vs the raw encoder forward in this process (model
   already loaded, same frames), and their ratios.

Usage::

    .venv/bin/python benchmarks/bench_datasets.py --clips 12 --video-frames 150 --frames 16
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from _cli import parse_args


@dataclass
class Args:
    clips: int = 12
    """synthetic mp4 clips (RH20T layout) decoded and encoded"""
    video_frames: int = 150
    """frames per source video (RH20T scenes run 10-60 s at 10 fps)"""
    width: int = 320
    """source video width (height = 3/4 of it)"""
    frames: int = 16
    """n frames sampled per clip (paper: 16)"""
    image_size: int = 128
    """stored frame side and encoder input size"""
    encoder: str = "embedded"
    """encoder spec for the extraction part"""
    workers: str = "1,2"
    """Ray actor counts to compare"""
    skip_features: bool = False
    """only run the decode part"""
    json_out: str = ""
    """also write the results as JSON here"""


def write_video(path: Path, n: int, width: int, seed: int) -> None:
    """A moving random texture (so the codec has real work), H.264, 10 fps."""
    height = width * 3 // 4
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height, width * 2, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast"}
        for k in range(n):
            shift = (k * 3) % width
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(base[:, shift : shift + width]), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_rh20t(root: Path, args: Args) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "task_description.json").write_text(
        json.dumps({"task_0001": {"task_description_english": "Pick up the cup"}})
    )
    for i in range(args.clips):
        cam = root / "RH20T_cfg1" / f"task_0001_user_0001_scene_{i + 1:04d}_cfg_0001" / "cam_000000000001"
        write_video(cam / "color.mp4", args.video_frames, args.width, seed=i)
        np.save(cam / "timestamps.npy", np.array({"color": list(range(args.video_frames))}, dtype=object))


def raw_decode(path: Path, n: int) -> np.ndarray:
    """The naive reader: decode and convert every frame, then pick n uniformly."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return np.stack([frames[i] for i in idx])


def bench_decode(videos: list[Path], args: Args) -> dict[str, float]:
    from roboact.datasets.video import decode_video

    t0 = time.perf_counter()
    for v in videos:
        raw_decode(v, args.frames)
    raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    for v in videos:
        decode_video(v, args.frames, args.image_size, total=args.video_frames)
    ours = time.perf_counter() - t0
    return {"raw_pyav_clips_s": len(videos) / raw, "roboact_clips_s": len(videos) / ours, "ratio": raw / ours}


def bench_features(store: Path, tmp: Path, args: Args) -> dict[str, object]:
    import torch
    from roboact.datasets.features import extract_features
    from roboact.datasets.sampling import uniform_indices
    from roboact.datasets.stores import ClipStore
    from roboact.models.encoders import create_encoder

    from roboact.cluster import init_ray

    encoder = create_encoder(args.encoder, image_size=args.image_size)
    with ClipStore(store) as clips:
        records = list(clips.iter_records(with_frames=True))
    t0 = time.perf_counter()
    with torch.no_grad():
        for r in records:
            encoder.encode_images(r.frames[uniform_indices(len(r.frames), args.frames)])
            encoder.encode_texts([r.caption])
    raw = len(records) / (time.perf_counter() - t0)
    init_ray()
    out: dict[str, object] = {"raw_encoder_clips_s": raw}
    for w in [int(x) for x in args.workers.split(",")]:
        summary = extract_features(
            store, args.encoder, args.frames, tmp / f"f{w}.h5", workers=w, progress=False
        )
        steady = summary["extracted"] / summary["encode_seconds"]
        out[f"ray_{w}_end_to_end_clips_s"] = summary["clips_per_s"]
        out[f"ray_{w}_steady_clips_s"] = steady
        out[f"ray_{w}_steady_vs_raw"] = steady / raw
    return out


def main() -> None:
    args = parse_args(Args, __doc__)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from roboact.datasets.build import build_store

    tmp = Path(tempfile.mkdtemp(prefix="bench_datasets_"))
    try:
        root = tmp / "RH20T"
        make_rh20t(root, args)
        videos = sorted(root.rglob("color.mp4"))
        dec = bench_decode(videos, args)
        shape = f"{len(videos)} clips x {args.video_frames} frames ({args.width} px)"
        print(f"decode+sample, {shape}, n={args.frames}:")
        print(f"  raw PyAV (all frames to RGB)  {dec['raw_pyav_clips_s']:8.2f} clips/s")
        ours = dec["roboact_clips_s"]
        print(f"  roboact decode_video          {ours:8.2f} clips/s   ratio {dec['ratio']:.2f}x")
        results: dict[str, object] = {"args": dataclasses.asdict(args), "decode": dec}
        if not args.skip_features:
            store = tmp / "clips.h5"
            build_store("rh20t", root, store, frames=args.frames, image_size=args.image_size, progress=False)
            feats = bench_features(store, tmp, args)
            results["features"] = feats
            print(f"feature extraction ({args.encoder}, n={args.frames}, {args.image_size} px):")
            print(f"  raw encoder forward (loaded)  {feats['raw_encoder_clips_s']:8.2f} clips/s")
            for w in [int(x) for x in args.workers.split(",")]:
                steady, ratio = feats[f"ray_{w}_steady_clips_s"], feats[f"ray_{w}_steady_vs_raw"]
                e2e = feats[f"ray_{w}_end_to_end_clips_s"]
                print(
                    f"  Ray {w} worker(s)               {steady:8.2f} clips/s steady ({ratio:.2f}x raw), "
                    f"{e2e:.2f} clips/s end to end incl. actor start"
                )
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
