"""Episode videos as H.264 mp4 through PyAV (no ffmpeg binary needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_mp4(frames: np.ndarray, path: str | Path, fps: int = 20) -> Path:
    """Write ``(T, H, W, 3)`` uint8 frames; odd sizes are padded to even (H.264 needs even sizes)."""
    import av

    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"{path}: expected (T, H, W, 3) uint8 frames with T > 0, got {frames.shape}")
    h, w = frames.shape[1] + frames.shape[1] % 2, frames.shape[2] + frames.shape[2] % 2
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for img in frames:
            if img.shape[:2] != (h, w):
                img = np.pad(img, ((0, h - img.shape[0]), (0, w - img.shape[1]), (0, 0)))
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out
