"""RH20T and BridgeData V2 readers on tiny trees in the real formats; random bytes never crash them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roboact.datasets.bridge import BridgeError, BridgeSource, parse_lang
from roboact.datasets.rh20t import RH20TError, RH20TSource
from roboact.datasets.sources import SourceItem, SourceReject

from tests.datasets.trees import make_bridge, write_mp4, write_rh20t_scene, write_traj


def _split(items):
    items = list(items)
    return [i for i in items if isinstance(i, SourceItem)], [i for i in items if isinstance(i, SourceReject)]


def test_rh20t_lists_every_camera_of_robot_and_human_scenes(rh20t_tree) -> None:
    root, _ = rh20t_tree
    items, rejects = _split(RH20TSource(root).items())
    assert len(items) == 6 and not rejects  # the corrupt mp4 is only found when decoded
    human = [i for i in items if i.subject == "Human"]
    assert len(human) == 1 and human[0].clip_id.endswith("_human_cam_036422060215")
    robot = next(i for i in items if i.provenance["camera"] == "104122062295" and i.task == "task_0001")
    assert robot.subject == "Robot" and robot.n_source_frames == 24
    assert robot.instructions == ["Pick up the block"]
    assert robot.provenance["robot_config"] == "cfg_0001" and robot.provenance["metadata"]["rating"] == 9
    assert len({i.clip_id for i in items}) == len(items)


def test_rh20t_camera_setting_and_task_description_option(rh20t_tree, tmp_path: Path) -> None:
    root, _ = rh20t_tree
    items, _ = _split(RH20TSource(root, cameras=["104122062295"]).items())
    assert {i.provenance["camera"] for i in items} == {"104122062295"} and len(items) == 2
    moved = tmp_path / "descriptions.json"
    (root / "task_description.json").rename(moved)
    with pytest.raises(RH20TError, match="--task-descriptions"):
        RH20TSource(root)
    items, _ = _split(RH20TSource(root, task_descriptions=moved).items())
    assert len(items) == 6


def test_rh20t_missing_or_empty_timestamps_are_rejected_with_file_and_reason(tmp_path: Path) -> None:
    root = tmp_path / "rh"
    root.mkdir()
    (root / "task_description.json").write_text(
        json.dumps({"task_0001": {"task_description_english": "Lift the box"}})
    )
    scene = write_rh20t_scene(root, "task_0001", cams={"1": 8, "2": 8, "3": 8})
    (scene / "cam_1" / "timestamps.npy").unlink()
    np.save(scene / "cam_2" / "timestamps.npy", np.array({"color": []}, dtype=object), allow_pickle=True)
    write_rh20t_scene(root, "task_0009", cams={"4": 8})  # no description for this task
    items, rejects = _split(RH20TSource(root).items())
    assert [i.provenance["camera"] for i in items] == ["3"]
    reasons = {r.clip_id.rsplit("_", 1)[-1]: (r.reason, Path(r.file).name) for r in rejects}
    assert reasons == {
        "1": ("missing_timestamps", "timestamps.npy"),
        "2": ("empty_timestamps", "timestamps.npy"),
        "4": ("missing_instruction", "task_description.json"),
    }


def test_rh20t_bad_roots_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RH20TError, match="not a directory"):
        RH20TSource(tmp_path / "missing")
    (tmp_path / "task_description.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(RH20TError, match="not UTF-8"):
        RH20TSource(tmp_path)
    (tmp_path / "task_description.json").write_text("{}")
    with pytest.raises(RH20TError, match="no RH20T scene folders"):
        list(RH20TSource(tmp_path).items())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=512))
def test_random_bytes_as_timestamps_are_rejected_not_raised(tmp_path: Path, data: bytes) -> None:
    root = tmp_path / "rh"
    if not root.exists():
        root.mkdir()
        (root / "task_description.json").write_text(json.dumps({"task_0001": "Lift the box"}))
        write_rh20t_scene(root, "task_0001", cams={"1": 4})
    stamps = next(root.rglob("timestamps.npy"))
    stamps.write_bytes(data)
    items, rejects = _split(RH20TSource(root).items())
    assert len(items) + len(rejects) == 1
    if rejects:
        assert rejects[0].reason in {"bad_timestamps", "empty_timestamps"}


def test_bridge_lists_trajectories_and_rejects_bad_annotations(bridge_tree) -> None:
    root, _ = bridge_tree
    items, rejects = _split(BridgeSource(root).items())
    assert {r.reason for r in rejects} == {"bad_text_encoding", "empty_instruction", "missing_instruction"}
    assert all(Path(r.file).name == "lang.txt" for r in rejects)
    traj1 = next(i for i in items if i.clip_id.endswith("traj1"))
    assert traj1.instructions == ["take the carrot out of the pot and put it on the plate", "move the carrot"]
    assert traj1.subject == "Robot" and traj1.n_source_frames == 20 and traj1.provenance["kind"] == "jpgs"
    assert "/" not in traj1.clip_id


def test_bridge_lang_ignores_confidence_and_blank_lines() -> None:
    assert parse_lang(b"put the cup in the sink\r\n\nopen the door\nconfidence: 0.9\n") == [
        "put the cup in the sink",
        "open the door",
    ]
    with pytest.raises(UnicodeDecodeError):
        parse_lang(b"\xff\xfe")


def test_bridge_empty_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BridgeError, match="no traj_group"):
        BridgeSource(tmp_path).trajectories()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_as_lang_txt_give_an_item_or_a_reject(tmp_path: Path, data: bytes) -> None:
    traj = tmp_path / "raw" / "traj_group0" / "traj0"
    if not traj.exists():
        write_traj(traj, b"x", 3)
    (traj / "lang.txt").write_bytes(data)
    items, rejects = _split(BridgeSource(tmp_path).items())
    assert len(items) + len(rejects) == 1
    if items:
        assert items[0].instructions and all(line.strip() for line in items[0].instructions)


def test_trees_use_real_file_formats(tmp_path: Path) -> None:
    """The fixture's files open with the real decoders (guards the tests' own assumptions)."""
    import av
    from PIL import Image

    write_mp4(tmp_path / "v.mp4", 5)
    with av.open(str(tmp_path / "v.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    make_bridge(tmp_path / "b")
    jpg = next((tmp_path / "b").rglob("im_0.jpg"))
    assert Image.open(jpg).format == "JPEG"
