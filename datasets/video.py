"""Frame reading: n uniformly sampled frames of an mp4 (PyAV) or of a folder of jpgs (Pillow).

Only the sampled frames are converted and resized: packets are demuxed and decoded in order (a
decoder cannot skip inter frames), but colour conversion and scaling, most of the per-frame cost,
run only for the n kept frames, and decoding stops after the last one. Frames are resized so the
shorter side is ``image_size`` and centre-cropped to ``image_size`` x ``image_size`` (what square
image encoders expect); ``image_size=None`` keeps the native size.

Every failure is a ``FrameError`` with a short machine-readable ``reason`` (``corrupt_video``,
``truncated_video``, ``too_few_frames``, ``unreadable_image``, ``missing_file``) and a message
naming the file, so a build can skip the clip and record why.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
from roboact.datasets.sampling import uniform_indices

logger = logging.getLogger(__name__)


class FrameError(ValueError):
    """A clip whose frames cannot be read; ``reason`` is a short tag, the message names the file."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _crop_square(array: np.ndarray, size: int) -> np.ndarray:
    h, w = array.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return np.ascontiguousarray(array[top : top + size, left : left + size])


def _scaled_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) with the shorter side = ``size``, aspect kept."""
    if width <= height:
        return size, max(size, round(height * size / width))
    return max(size, round(width * size / height)), size


def count_video_frames(path: str | Path) -> int:
    """Frames of the first video stream: the container's count, else one demux pass (no decoding)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FrameError("missing_file", f"{path}: no such video")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise FrameError("corrupt_video", f"{path}: no video stream")
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for packet in container.demux(stream) if packet.size)
    except FrameError:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError, IndexError, EOFError) as err:
        raise FrameError(
            "corrupt_video", f"{path}: cannot read as video ({type(err).__name__}: {err})"
        ) from err


def decode_video(
    path: str | Path, n: int, image_size: int | None = 128, total: int | None = None
) -> tuple[np.ndarray, list[int]]:
    """``n`` uniformly sampled RGB frames (n, S, S, 3) uint8 and their indices in the video.

    Args:
        path: the mp4 file.
        n: frames to sample (``uniform_indices``: first and last frame included).
        image_size: output side; None keeps the native size (no crop).
        total: frame count of the video when known (RH20T's ``timestamps.npy``); otherwise counted.

    Raises:
        FrameError: missing, corrupt or truncated file, or fewer than ``n`` frames.
    """
    import av

    path = Path(path)
    total = count_video_frames(path) if total is None else int(total)
    try:
        wanted = uniform_indices(total, n)
    except ValueError as err:
        raise FrameError("too_few_frames", f"{path}: {err}") from err
    want = {}
    for k, index in enumerate(wanted):
        want.setdefault(index, []).append(k)
    out: list[np.ndarray | None] = [None] * n
    last = wanted[-1]
    decoded = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise FrameError("corrupt_video", f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                decoded = index + 1
                if index in want:
                    if image_size:
                        w, h = _scaled_size(frame.width, frame.height, image_size)
                        rgb = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
                        rgb = _crop_square(rgb, image_size)
                    else:
                        rgb = frame.to_ndarray(format="rgb24")
                    for k in want[index]:
                        out[k] = rgb
                if index >= last:
                    break
    except FrameError:
        raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError, IndexError, EOFError) as err:
        raise FrameError("corrupt_video", f"{path}: decode failed ({type(err).__name__}: {err})") from err
    if any(f is None for f in out):
        raise FrameError(
            "truncated_video", f"{path}: decoded {decoded} frames, but the clip should have {total}"
        )
    return np.stack(out).astype(np.uint8, copy=False), wanted  # type: ignore[arg-type]


_IM_INDEX = re.compile(r"(\d+)")


def list_jpgs(folder: str | Path) -> list[Path]:
    """``im_<k>.jpg`` files of a BridgeData V2 ``images0`` folder, ordered by k (not by name)."""
    folder = Path(folder)
    files = [p for p in folder.glob("*.jpg") if _IM_INDEX.search(p.stem)]
    return sorted(files, key=lambda p: int(_IM_INDEX.findall(p.stem)[-1]))


def read_jpgs(files: list[Path], n: int, image_size: int | None = 128) -> tuple[np.ndarray, list[int]]:
    """``n`` uniformly sampled frames of an ordered list of image files, and their indices."""
    from PIL import Image, UnidentifiedImageError

    try:
        wanted = uniform_indices(len(files), n)
    except ValueError as err:
        where = files[0].parent if files else "image folder"
        raise FrameError("too_few_frames", f"{where}: {err}") from err
    frames = []
    for index in wanted:
        path = files[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image_size:
                    image = image.resize(_scaled_size(image.width, image.height, image_size), Image.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
        except FileNotFoundError as err:
            raise FrameError("missing_file", f"{path}: image vanished ({err})") from err
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise FrameError(
                "unreadable_image", f"{path}: cannot decode image ({type(err).__name__})"
            ) from err
        frames.append(_crop_square(array, image_size) if image_size else array)
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise FrameError("unreadable_image", f"{files[0].parent}: images differ in size {sorted(shapes)}")
    return np.stack(frames), wanted
