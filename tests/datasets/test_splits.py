"""Splits by execution (issue #15 item 1), sorted vocabularies (issue #18 item 8), and the two contracts.

The simulated stores here are written through ``records_for`` (what the simulator actors return) with
a stand-in episode, so they have the exact shape of a built sim store (every camera view of one
episode is its own clip) without running a simulator; tests/reliability/test_determinism.py builds
a real one.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from roboact.datasets.build import build_store
from roboact.datasets.sim_controllers import Episode
from roboact.datasets.sim_source import SimSourceConfig, make_jobs, records_for
from roboact.datasets.splits import (
    clip_episodes,
    episode_of,
    random_split,
    shared_episodes,
    sort_vocabularies,
    write_default_splits,
)
from roboact.datasets.stores import ClipRecord, ClipStore
from typer.testing import CliRunner

from roboact.cli import app
from roboact.config import load_config
from roboact.constants import FACTORS


def _episode() -> Episode:
    states = np.zeros((5, 3))
    return Episode(
        success=True,
        states=states,
        actions=np.zeros((4, 7), np.float32),
        eef_pos=np.zeros((5, 3), np.float32),
        object_pos=np.zeros((5, 3), np.float32),
        info={"seed": 1, "attempt": 0, "frame_steps": [0, 4]},
    )


def sim_store(
    path: Path, config: str = "sim_small", order_seed: int | None = None, episodes: int | None = 1
) -> dict[str, str]:
    """A clip store shaped like a built sim store; returns clip id -> the job (execution) it came from.

    ``order_seed`` shuffles the order clips are written in, as parallel workers deliver them.
    ``episodes`` overrides ``clips_per_combination`` (one episode keeps the store small; None = the
    config's own).
    """
    overrides = [] if episodes is None else [f"clips_per_combination={episodes}"]
    cfg = load_config(SimSourceConfig, config, overrides)
    views = [{"camera": c, "frames": None} for c in cfg.cameras]
    records = [(job.key, r) for job in make_jobs(cfg) for r in records_for(job, _episode(), views, "Lift")]
    if order_seed is not None:
        random.Random(order_seed).shuffle(records)
    with ClipStore.open_for_build(path, "sim", 2, 0) as store:
        for _, record in records:
            store.add(record)
    return {record.clip_id: key for key, record in records}


def test_no_execution_appears_in_two_parts_of_any_split(tmp_path: Path) -> None:
    """Every camera view of one simulated episode lands in the same part, in every default split."""
    job_of = sim_store(tmp_path / "clips.h5")
    with ClipStore(tmp_path / "clips.h5", mode="a") as store:
        names = write_default_splits(store, seed=0)
        assert "random" in names and len(names) == 7  # random + one held-out split per embodiment
        for name in names:
            parts = store.get_split(name)
            assert shared_episodes(parts, job_of) == {}, name
            assert sorted(i for ids in parts.values() for i in ids) == store.ids()
        random_parts = store.get_split("random")
        assert random_parts["test"] and random_parts["val"]
        # still stratified by action: every action has training clips, and test covers every action
        action = {i: store.get(i, with_frames=False).action for i in store.ids()}
        assert {action[i] for i in random_parts["train"]} == set(action.values())
        assert {action[i] for i in random_parts["test"]} == set(action.values())


def test_held_out_subject_split_is_unchanged_in_its_test_part(tmp_path: Path) -> None:
    job_of = sim_store(tmp_path / "clips.h5")
    with ClipStore(tmp_path / "clips.h5", mode="a") as store:
        write_default_splits(store, seed=0)
        parts = store.get_split("heldout_Jaco")
        subject = {i: store.get(i, with_frames=False).subject for i in store.ids()}
        assert parts["test"] == sorted(i for i in store.ids() if subject[i] == "Jaco")
        assert all(subject[i] != "Jaco" for i in parts["train"] + parts["val"])
        assert parts["val"] and shared_episodes(parts, job_of) == {}


def test_split_is_deterministic_for_a_seed_and_changes_with_it(tmp_path: Path) -> None:
    sim_store(tmp_path / "clips.h5")
    with ClipStore(tmp_path / "clips.h5") as store:
        assert random_split(store, seed=3) == random_split(store, seed=3)
        assert random_split(store, seed=3)["test"] != random_split(store, seed=4)["test"]


def test_sources_record_the_execution_of_each_clip(tmp_path: Path, rh20t_tree, bridge_tree) -> None:
    sim_store(tmp_path / "sim.h5", "sim_tiny", episodes=None)
    with ClipStore(tmp_path / "sim.h5") as store:
        assert store.get("sim-Panda-lift-cube-s001-frontview", False).provenance["episode"] == (
            "sim-Panda-lift-cube-s001"
        )
    build_store("rh20t", rh20t_tree[0], tmp_path / "rh.h5", frames=4, image_size=0, progress=False)
    build_store("bridge", bridge_tree[0], tmp_path / "br.h5", frames=4, image_size=0, progress=False)
    for name in ("rh.h5", "br.h5"):
        with ClipStore(tmp_path / name) as store:
            for clip_id in store.ids():
                provenance = store.get(clip_id, with_frames=False).provenance
                assert provenance["episode"] and clip_id.startswith(provenance["episode"])
                # stores built before the field: the same execution is derived from what they hold
                legacy = {k: v for k, v in provenance.items() if k != "episode"}
                assert episode_of(clip_id, legacy) == provenance["episode"]


def test_rh20t_cameras_of_one_recording_are_one_execution(tmp_path: Path, rh20t_tree) -> None:
    build_store("rh20t", rh20t_tree[0], tmp_path / "rh.h5", frames=4, image_size=0, progress=False)
    with ClipStore(tmp_path / "rh.h5") as store:
        episodes = clip_episodes(store)
        by_episode: dict[str, list[str]] = {}
        for clip_id, episode in episodes.items():
            by_episode.setdefault(episode, []).append(clip_id)
        assert any(len(ids) > 1 for ids in by_episode.values())  # the tree has multi-camera scenes
        for ids in by_episode.values():
            scene_dirs = {store.get(i, with_frames=False).provenance["scene_dir"] for i in ids}
            assert len(scene_dirs) == 1


def test_legacy_sim_clip_id_gives_its_episode_and_unknown_clips_stand_alone(tmp_path: Path, caplog) -> None:
    assert episode_of("sim-UR5e-pick-cream_cheese-s002-agentview", {"camera": "agentview"}) == (
        "sim-UR5e-pick-cream_cheese-s002"
    )
    assert episode_of("mine_01", {"camera": "top"}) is None
    with ClipStore.open_for_build(tmp_path / "own.h5", "own", 2, 0) as store:
        store.add(ClipRecord("mine_01", "c", "Robot", "pick", "cup", "own", provenance={"camera": "top"}))
        assert clip_episodes(store) == {"mine_01": "mine_01"}
    assert "name no execution" in caplog.text and "own.h5" in caplog.text


def test_vocabularies_are_sorted_whatever_order_clips_arrived_in(tmp_path: Path) -> None:
    """Two stores of the same clips written in different orders end with identical ids and splits."""
    sim_store(tmp_path / "a.h5", order_seed=1)
    sim_store(tmp_path / "b.h5", order_seed=2)
    with ClipStore(tmp_path / "a.h5", mode="a") as a, ClipStore(tmp_path / "b.h5", mode="a") as b:
        assert a.vocabs() != b.vocabs()  # arrival order decided the class ids
        write_default_splits(a, seed=0)
        write_default_splits(b, seed=0)
        assert a.vocabs() == b.vocabs() and all(v == sorted(v) for v in a.vocabs().values())
        for clip_id in a.ids():
            assert a.label_ids(clip_id) == b.label_ids(clip_id)
            record = a.get(clip_id, with_frames=False)
            names = {f: a.vocab(f)[a.label_ids(clip_id)[f]] for f in FACTORS}
            assert names == record.labels()
        assert {n: a.get_split(n) for n in a.split_names()} == {n: b.get_split(n) for n in b.split_names()}
        assert sort_vocabularies(a) is False  # already sorted: nothing rewritten


def test_cli_clips_and_splits_contracts(tmp_path: Path) -> None:
    job_of = sim_store(tmp_path / "clips.h5")
    with ClipStore(tmp_path / "clips.h5", mode="a") as store:
        write_default_splits(store, seed=0)
        ids = store.ids()
    runner = CliRunner()
    clips = runner.invoke(app, ["data", "clips", str(tmp_path / "clips.h5"), "--json"])
    assert clips.exit_code == 0, clips.output
    rows = json.loads(clips.stdout)
    assert [r["id"] for r in rows] == ids
    assert all(set(r) == {"id", "episode", "subject", "action", "object", "camera"} for r in rows)
    assert all(r["episode"] == job_of[r["id"]] and r["id"].endswith("-" + r["camera"]) for r in rows)
    splits = runner.invoke(app, ["data", "splits", str(tmp_path / "clips.h5"), "--json"])
    assert splits.exit_code == 0, splits.output
    result = json.loads(splits.stdout)
    assert "random" in result and set(result["random"]) == {"train", "val", "test"}
    episode = {r["id"]: r["episode"] for r in rows}
    for parts in result.values():
        assert shared_episodes(parts, episode) == {}


def test_cli_splits_warns_about_a_stored_split_that_shares_an_execution(tmp_path: Path) -> None:
    sim_store(tmp_path / "clips.h5", "sim_tiny", episodes=None)
    with ClipStore(tmp_path / "clips.h5", mode="a") as store:
        store.set_split(
            "random",
            {
                "train": ["sim-Panda-lift-cube-s000-agentview"],
                "test": ["sim-Panda-lift-cube-s000-frontview"],
            },
        )
    result = CliRunner().invoke(app, ["data", "splits", str(tmp_path / "clips.h5"), "--json"])
    assert result.exit_code == 0
    assert "split 'random' puts 1 execution(s) in more than one part" in result.stderr
    assert json.loads(result.stdout)["random"]["test"] == ["sim-Panda-lift-cube-s000-frontview"]


def test_cli_clips_names_a_missing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "clips", str(tmp_path / "nope.h5"), "--json"])
    assert result.exit_code == 2 and "nope.h5" in result.stderr


def test_a_tiny_store_still_gets_train_val_and_test_parts(tmp_path: Path) -> None:
    """The tiny demo's data: two episodes per action; per-action rounding alone leaves val and test empty."""
    job_of = sim_store(tmp_path / "clips.h5", "sim_demo_tiny", episodes=None)
    with ClipStore(tmp_path / "clips.h5", mode="a") as store:
        write_default_splits(store, seed=0)
        parts = store.get_split("random")
        assert all(parts[p] for p in ("train", "val", "test")) and shared_episodes(parts, job_of) == {}
        action = {i: store.get(i, with_frames=False).action for i in store.ids()}
        assert {action[i] for i in parts["train"]} == set(action.values())
        held = store.get_split("heldout_UR5e")  # one episode per action left: all of them train
        assert {action[i] for i in held["train"]} == set(action.values()) and held["test"]


def test_medium_config_split_is_execution_disjoint_and_tests_every_action(tmp_path: Path) -> None:
    """sim_medium (issue #15 item 4) on two of its robots, every pair, episode and camera (660 clips;
    the whole grid takes minutes to write): no execution in two parts; every action is tested.
    Two robots because open/close (one object, the door) have 3 executions per robot, too few for
    the stratified split to send one of them to test."""
    import dataclasses

    cfg = load_config(SimSourceConfig, "sim_medium", ["embodiments=[Jaco,IIWA]"])
    views = [{"camera": c, "frames": None} for c in cfg.cameras]
    job_of = {}
    with ClipStore.open_for_build(tmp_path / "clips.h5", "sim", 2, 0) as store:
        for job in make_jobs(cfg):
            for record in records_for(job, _episode(), views, "Lift"):
                store.add(dataclasses.replace(record, extras={}))
                job_of[record.clip_id] = job.key
        per_robot = len(cfg.actions) * cfg.clips_per_combination * len(cfg.cameras)
        assert len(store) == len(cfg.embodiments) * per_robot
        parts = random_split(store, seed=0)
        assert shared_episodes(parts, job_of) == {}
        action = {i: i.split("-")[2] for i in store.ids()}
        assert {action[i] for i in parts["test"]} == set(action.values())
        assert len(parts["test"]) >= 0.1 * len(store)


def test_small_config_test_part_holds_sixty_clips_even_with_the_known_failures(tmp_path: Path) -> None:
    """The demo's sim_small (issue #15 item 4): >= 60 test clips on the execution-disjoint split,
    without the jobs measured to fail (stack on Jaco, insert on Kinova3 and Jaco)."""
    import dataclasses

    cfg = load_config(SimSourceConfig, "sim_small")
    failing = {("Jaco", "stack"), ("Kinova3", "insert"), ("Jaco", "insert")}
    views = [{"camera": c, "frames": None} for c in cfg.cameras]
    with ClipStore.open_for_build(tmp_path / "clips.h5", "sim", 2, 0) as store:
        for job in make_jobs(cfg):
            if (job.robot, job.action) not in failing:
                for record in records_for(job, _episode(), views, "Lift"):
                    store.add(dataclasses.replace(record, extras={}))
        assert len(random_split(store, seed=cfg.seed)["test"]) >= 60
