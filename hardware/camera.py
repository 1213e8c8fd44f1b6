"""Cameras behind one small interface: Orbbec (the paper's Gemini 336L), any OpenCV camera, a fake.

``pyorbbecsdk2`` (import name ``pyorbbecsdk``) is an optional extra and is imported only when an
Orbbec camera is opened, with a clear error naming the package when it is missing. Every camera
returns RGB ``uint8`` frames resized to ``size`` (the policy's input, 128 px by default).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


class CameraError(RuntimeError):
    """The camera cannot be opened or delivered no frame."""


@dataclass
class CameraConfig:
    """Which camera to open."""

    kind: str = "fake"
    """orbbec, opencv or fake"""
    device: str = "0"
    """OpenCV device index or video path/URL (kind=opencv)"""
    size: int = 128
    """frames are resized to size x size RGB"""
    timeout_ms: int = 200
    """longest wait for one Orbbec frame set"""

    def __post_init__(self) -> None:
        if self.kind not in ("orbbec", "opencv", "fake"):
            raise ValueError(f"CameraConfig.kind must be orbbec, opencv or fake, got {self.kind!r}")
        if self.size < 8:
            raise ValueError(f"CameraConfig.size must be >= 8, got {self.size}")


class Camera(ABC):
    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def read(self) -> np.ndarray:
        """One RGB frame, (size, size, 3) uint8."""

    @abstractmethod
    def close(self) -> None: ...


def _resize(frame: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if frame.shape[:2] != (size, size):
        frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(frame, dtype=np.uint8)


class OpenCVCamera(Camera):
    def __init__(self, cfg: CameraConfig) -> None:
        self.cfg, self.cap = cfg, None

    def open(self) -> None:
        import cv2

        device: int | str = int(self.cfg.device) if self.cfg.device.isdigit() else self.cfg.device
        self.cap = cv2.VideoCapture(device)
        if not self.cap.isOpened():
            raise CameraError(f"OpenCV camera {self.cfg.device!r} cannot be opened")

    def read(self) -> np.ndarray:
        import cv2

        if self.cap is None:
            raise CameraError("OpenCV camera: not open")
        ok, frame = self.cap.read()
        if not ok or frame is None:
            raise CameraError(f"OpenCV camera {self.cfg.device!r}: no frame")
        return _resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.cfg.size)

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


class OrbbecCamera(Camera):
    """Orbbec Gemini (color stream) through pyorbbecsdk2."""

    def __init__(self, cfg: CameraConfig) -> None:
        self.cfg, self.pipeline = cfg, None

    def open(self) -> None:
        try:
            import pyorbbecsdk as ob
        except ImportError as err:
            raise CameraError(
                "Orbbec camera needs the optional package pyorbbecsdk2 (`pip install pyorbbecsdk2`); "
                "or use camera kind 'opencv'"
            ) from err
        self._ob = ob
        self.pipeline = ob.Pipeline()
        config = ob.Config()
        profiles = self.pipeline.get_stream_profile_list(ob.OBSensorType.COLOR_SENSOR)
        config.enable_stream(profiles.get_default_video_stream_profile())
        self.pipeline.start(config)

    def read(self) -> np.ndarray:
        import cv2

        if self.pipeline is None:
            raise CameraError("Orbbec camera: not open")
        frames = self.pipeline.wait_for_frames(self.cfg.timeout_ms)
        color = frames.get_color_frame() if frames is not None else None
        if color is None:
            raise CameraError(f"Orbbec camera: no color frame within {self.cfg.timeout_ms} ms")
        data = np.asanyarray(color.get_data())
        fmt = color.get_format()
        if fmt == self._ob.OBFormat.MJPG:
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        elif fmt == self._ob.OBFormat.RGB:
            rgb = data.reshape(color.get_height(), color.get_width(), 3)
        else:
            raise CameraError(f"Orbbec camera: unsupported color format {fmt}; configure RGB or MJPG")
        return _resize(rgb, self.cfg.size)

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None


class FakeCamera(Camera):
    """Synthetic frames: a gradient whose phase follows the frame counter (so frames differ)."""

    def __init__(self, cfg: CameraConfig | None = None) -> None:
        self.cfg = cfg or CameraConfig()
        self.frames = 0
        s = self.cfg.size
        self._base = (np.add.outer(np.arange(s), np.arange(s)) % 256).astype(np.uint8)

    def open(self) -> None:
        self.frames = 0

    def read(self) -> np.ndarray:
        self.frames += 1
        shift = (self.frames * 3) % 256
        shifted = (self._base.astype(np.uint16) + shift).astype(np.uint8)  # wraps at 256
        return np.stack([self._base, shifted, np.full_like(self._base, shift)], axis=-1)

    def close(self) -> None:
        pass


class SceneCamera(Camera):
    """Frames of a simulated scene's camera (the fake backend's physical scene), at a camera's rate.

    A new frame is rendered at most ``fps`` times a second of wall time; reads in between return the
    newest one, as a 30 fps camera's driver does. Rendering each 8 ms servo tick would cost the
    servo loop several milliseconds on a software renderer.
    """

    def __init__(self, render: Callable[[], np.ndarray], fps: float = 30.0) -> None:
        self._render = render
        self.period = 1.0 / fps
        self._frame: np.ndarray | None = None
        self._t = 0.0

    def open(self) -> None:
        self._frame = None

    def read(self) -> np.ndarray:
        now = time.monotonic()
        if self._frame is None or now - self._t >= self.period:
            self._frame, self._t = self._render(), now
        return self._frame

    def close(self) -> None:
        pass


def make_camera(cfg: CameraConfig) -> Camera:
    return {"orbbec": OrbbecCamera, "opencv": OpenCVCamera, "fake": FakeCamera}[cfg.kind](cfg)
