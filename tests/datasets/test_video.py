"""Frame reading: uniform sampling from real mp4 files and jpg folders; every failure a FrameError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.sources import read_frames
from roboact.datasets.video import FrameError, count_video_frames, decode_video, list_jpgs, read_jpgs

from tests.datasets.trees import level, write_jpgs, write_mp4


def _levels(frames: np.ndarray) -> list[int]:
    return [int(round(f.mean())) for f in frames]


def test_decode_returns_the_uniformly_sampled_frames(tmp_path: Path) -> None:
    video = tmp_path / "color.mp4"
    write_mp4(video, 25)
    assert count_video_frames(video) == 25
    frames, indices = decode_video(video, 8, image_size=32)
    assert indices == uniform_indices(25, 8)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    assert np.allclose(_levels(frames), [level(i) for i in indices], atol=3)


def test_native_size_keeps_the_video_resolution(tmp_path: Path) -> None:
    video = tmp_path / "color.mp4"
    write_mp4(video, 6)
    frames, _ = decode_video(video, 2, image_size=None)
    assert frames.shape == (2, 48, 64, 3)


def test_truncated_video_is_reported_as_truncated(tmp_path: Path) -> None:
    video = tmp_path / "color.mp4"
    write_mp4(video, 30)
    with pytest.raises(FrameError) as err:
        decode_video(video, 4, image_size=16, total=60)  # the timestamps promise more frames
    assert err.value.reason == "truncated_video" and str(video) in str(err.value)


def test_too_few_frames_and_missing_files(tmp_path: Path) -> None:
    video = tmp_path / "short.mp4"
    write_mp4(video, 3)
    with pytest.raises(FrameError) as err:
        decode_video(video, 16)
    assert err.value.reason == "too_few_frames"
    with pytest.raises(FrameError) as err:
        decode_video(tmp_path / "nope.mp4", 4)
    assert err.value.reason == "missing_file"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_random_bytes_as_mp4_give_a_frame_error(tmp_path: Path, data: bytes) -> None:
    video = tmp_path / "color.mp4"
    video.write_bytes(data)
    with pytest.raises(FrameError) as err:
        decode_video(video, 4, image_size=16)
    assert err.value.reason in {"corrupt_video", "too_few_frames", "truncated_video"}
    assert str(video) in str(err.value)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.05, 0.95))
def test_a_cut_real_mp4_gives_a_frame_error_or_frames(tmp_path: Path, cut: float) -> None:
    video = tmp_path / "cut.mp4"
    if not video.exists():
        write_mp4(tmp_path / "whole.mp4", 20)
    whole = (tmp_path / "whole.mp4").read_bytes()
    video.write_bytes(whole[: int(len(whole) * cut)])
    try:
        frames, _ = decode_video(video, 4, image_size=16, total=20)
    except FrameError as err:
        assert err.reason in {"corrupt_video", "truncated_video", "too_few_frames"}
    else:
        assert frames.shape == (4, 16, 16, 3)


def test_jpg_folder_sampling_orders_by_frame_number(tmp_path: Path) -> None:
    folder = tmp_path / "images0"
    write_jpgs(folder, 12)
    files = list_jpgs(folder)
    assert [f.name for f in files[:3]] == ["im_0.jpg", "im_1.jpg", "im_2.jpg"] and files[
        -1
    ].name == "im_11.jpg"
    frames, indices = read_jpgs(files, 4, image_size=24)
    assert indices == uniform_indices(12, 4) and frames.shape == (4, 24, 24, 3)
    assert np.allclose(_levels(frames), [level(i) for i in indices], atol=3)
    same, _ = read_frames({"kind": "jpgs", "path": str(folder)}, 4, 24)
    assert np.array_equal(same, frames)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048))
def test_random_bytes_as_jpg_give_unreadable_image(tmp_path: Path, data: bytes) -> None:
    folder = tmp_path / "images0"
    write_jpgs(folder, 2) if not folder.exists() else None
    (folder / "im_1.jpg").write_bytes(data)
    with pytest.raises(FrameError) as err:
        read_jpgs(list_jpgs(folder), 2, image_size=8)
    assert err.value.reason == "unreadable_image" and "im_1.jpg" in str(err.value)


def test_provenance_without_a_file_is_a_clear_error() -> None:
    with pytest.raises(FrameError, match="names no file"):
        read_frames({"kind": "sim"}, 4, 16)
