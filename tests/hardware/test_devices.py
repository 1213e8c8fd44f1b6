"""Camera backends and the MuJoCo arm backend."""

from __future__ import annotations

import numpy as np
import pytest
from roboact.hardware.camera import CameraConfig, CameraError, FakeCamera, OpenCVCamera, OrbbecCamera
from roboact.hardware.safety import load_safety_config

CFG = load_safety_config()


def test_fake_camera_frames_are_rgb_and_change():
    cam = FakeCamera(CameraConfig(size=64))
    cam.open()
    a, b = cam.read(), cam.read()
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)


def test_opencv_camera_reads_and_resizes_a_video(tmp_path):
    import cv2

    path = str(tmp_path / "v.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for i in range(3):
        frame = np.zeros((60, 80, 3), np.uint8)
        frame[..., 2] = 200  # red in BGR
        frame[:, : 10 * (i + 1)] = 0
        writer.write(frame)
    writer.release()
    cam = OpenCVCamera(CameraConfig(kind="opencv", device=path, size=32))
    cam.open()
    img = cam.read()
    assert img.shape == (32, 32, 3)
    assert img[..., 0].mean() > img[..., 2].mean()  # converted to RGB
    cam.close()
    with pytest.raises(CameraError, match="cannot be opened"):
        OpenCVCamera(CameraConfig(kind="opencv", device=str(tmp_path / "missing.avi"))).open()


def test_orbbec_without_its_sdk_names_the_package():
    try:
        import pyorbbecsdk  # noqa: F401
    except ImportError:
        with pytest.raises(CameraError, match="pyorbbecsdk2"):
            OrbbecCamera(CameraConfig(kind="orbbec")).open()
    else:
        pytest.skip("an Orbbec SDK is installed; the missing-package message cannot be exercised")


def test_camera_config_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        CameraConfig(kind="webcam")


@pytest.mark.sim
@pytest.mark.timeout(60)
def test_sim_arm_tracks_filtered_commands_and_renders():
    from roboact.hardware.sim_robot import SimRobot

    robot = SimRobot(CFG, image_size=64)
    robot.connect()
    try:
        goal = np.asarray(CFG.home) + np.array([0.3, 0.2, 0, -0.2, 0, 0.2, 0])
        for _ in range(200):
            sent = robot.send_action(np.append(goal, 1.0))
        obs = robot.get_observation()
        np.testing.assert_allclose(obs["joints"], goal, atol=0.01)
        assert obs["gripper"] > 0.9
        assert obs["image"].shape == (64, 64, 3) and obs["image"].std() > 5
        held = robot.send_action(np.full(8, np.nan))
        np.testing.assert_allclose(held[:7], sent[:7])
        robot.move_home()
        np.testing.assert_allclose(robot.joints(), CFG.home, atol=1e-9)
    finally:
        robot.disconnect()
