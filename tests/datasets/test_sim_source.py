"""Simulated multi-embodiment source: config, jobs, captions, scripted controllers, clips, splits.

Simulator tests share module-scoped Panda envs (one per scene, 32 px cameras) because building an
env costs seconds; episodes run without rendering except where frames are checked.
"""

from __future__ import annotations

import numpy as np
import pytest
from roboact.datasets.sim_controllers import ACTIONS
from roboact.datasets.sim_source import (
    MIN_SUBJECTS_PER_ACTION,
    SimActionConfig,
    SimJob,
    SimSourceConfig,
    caption,
    execute_job,
    make_jobs,
    records_for,
)
from roboact.datasets.splits import write_default_splits
from roboact.datasets.stores import ClipRecord, ClipStore

from roboact.config import ConfigError, load_config

CAMERAS = ["agentview", "frontview"]


def test_shipped_small_config_has_six_embodiments_eight_actions_each_by_three_robots():
    cfg = load_config(SimSourceConfig, "sim_small")
    jobs = make_jobs(cfg)
    robots_per_action: dict[str, set[str]] = {}
    for job in jobs:
        robots_per_action.setdefault(job.action, set()).add(job.robot)
    assert len(set(cfg.embodiments)) >= 6
    assert len(robots_per_action) >= 8
    assert all(len(r) >= MIN_SUBJECTS_PER_ACTION for r in robots_per_action.values())
    assert len(cfg.cameras) >= 2 and cfg.n_frames == 32 and cfg.image_size == 128
    ids = [job.clip_id(c) for job in jobs for c in cfg.cameras]
    assert len(ids) == len(set(ids))


def test_large_config_has_thousands_of_clips():
    cfg = load_config(SimSourceConfig, "sim_large")
    assert len(make_jobs(cfg)) * len(cfg.cameras) >= 1000


@pytest.mark.parametrize("name", ["sim_large", "sim_libero"])
def test_libero_scene_actions_are_done_by_at_least_three_embodiments(name):
    from roboact.datasets.sim_scenes import SCENES

    jobs = [j for j in make_jobs(load_config(SimSourceConfig, name)) if SCENES[j.scene].is_libero]
    robots_per_action: dict[str, set[str]] = {}
    for job in jobs:
        robots_per_action.setdefault(job.action, set()).add(job.robot)
    assert robots_per_action and all(len(r) >= MIN_SUBJECTS_PER_ACTION for r in robots_per_action.values())


def test_libero_scene_rejects_actions_it_has_no_script_for():
    with pytest.raises(ValueError, match=r"actions\[0\]: scene 'libero_goal_cheese_bowl'.*'push'"):
        SimSourceConfig(actions=[SimActionConfig(name="push", scene="libero_goal_cheese_bowl")])


def test_bad_config_values_are_rejected_naming_the_field():
    with pytest.raises((ValueError, ConfigError), match="embodiments"):
        SimSourceConfig(embodiments=["R2D2"])
    with pytest.raises(ValueError, match=r"actions\[0\].name"):
        SimSourceConfig(actions=[SimActionConfig(name="juggle")])
    with pytest.raises(ValueError, match="max_steps"):
        SimSourceConfig(n_frames=64, max_steps=32)


def test_job_ids_and_seeds_are_deterministic_and_distinct():
    a = SimJob("Panda", "lift", "cube", "table_cube", 0, base_seed=0)
    b = SimJob("Panda", "lift", "cube", "table_cube", 1, base_seed=0)
    assert a.clip_id("agentview") == "sim-Panda-lift-cube-s000-agentview"
    assert a.seed(0) == SimJob("Panda", "lift", "cube", "table_cube", 0, base_seed=0).seed(0)
    assert len({a.seed(0), a.seed(1), b.seed(0)}) == 3


def test_caption_follows_algorithm_1_with_the_robot_named():
    assert caption("Panda", "pick", "cube") == "Panda robot pick cube. Action is pick, Object is cube."


@pytest.fixture(scope="module")
def envs():
    """Panda envs per scene (32 px cameras), built lazily and shared by this module's tests."""
    from roboact.datasets.sim_scenes import make_env

    cache: dict[str, object] = {}

    def get(scene: str):
        if scene not in cache:
            cache[scene] = make_env("Panda", scene, CAMERAS, 32)
        return cache[scene]

    yield get
    for env in cache.values():
        env.close()


def _cfg(**kw) -> SimSourceConfig:
    base = dict(
        embodiments=["Panda"], cameras=CAMERAS, image_size=32, n_frames=4, max_steps=250, max_attempts=3
    )
    base.update(kw)
    return SimSourceConfig(**base)


@pytest.mark.sim
@pytest.mark.timeout(200)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_scripted_controller_succeeds_on_panda(envs, action):
    spec = ACTIONS[action]
    job = SimJob("Panda", action, spec.object, spec.scene, 0, base_seed=0)
    episode, views, attempts = execute_job(envs(spec.scene), job, _cfg(), render=False)
    assert episode is not None, f"{action}: no success in {attempts} attempts"
    assert episode.success and spec.success is not None
    assert len(episode.actions) + 1 == len(episode.states) == len(episode.eef_pos)
    assert np.abs(episode.actions).max() <= 1.0 + 1e-6


@pytest.mark.sim
@pytest.mark.timeout(200)
def test_pick_brings_the_object_toward_the_robot_where_lift_raises_it_in_place(envs):
    """Pick and lift of one cube in one scene must look different: on sim_medium the two differed by
    3 cm of height and were the commonest action confusion."""
    moved = {}
    for action in ("pick", "lift"):
        job = SimJob("Panda", action, "cube", "table_cube", 0, base_seed=0)
        episode, _, attempts = execute_job(envs("table_cube"), job, _cfg(), render=False)
        assert episode is not None, f"{action}: no success in {attempts} attempts"
        moved[action] = episode.object_pos[-1] - episode.object_pos[0]
    assert moved["pick"][2] > 0.10 and moved["lift"][2] > 0.04  # both raise the cube
    assert moved["pick"][0] < -0.08  # pick brings it toward the robot base (at negative x)
    assert abs(moved["lift"][0]) < 0.03  # lift raises it in place


@pytest.mark.sim
@pytest.mark.timeout(120)
def test_generated_clip_has_labels_caption_frames_and_trajectories(envs):
    cfg = _cfg()
    job = SimJob("Panda", "push", "cube", "table_cube", 0, base_seed=0)
    episode, views, _ = execute_job(envs("table_cube"), job, cfg)
    records = records_for(job, episode, views, "Lift")
    assert [r.clip_id for r in records] == [job.clip_id(c) for c in CAMERAS]
    for record, camera in zip(records, CAMERAS, strict=True):
        assert (record.subject, record.action, record.object) == ("Panda", "push", "cube")
        assert record.caption == "Panda robot push cube. Action is push, Object is cube."
        assert record.frames.shape == (4, 32, 32, 3) and record.frames.dtype == np.uint8
        assert record.frames.std() > 0  # a real image, not a blank buffer
        assert record.provenance["camera"] == camera and record.provenance["robot"] == "Panda"
        assert record.extras["actions"].shape == (len(episode.actions), 7)
        assert record.extras["states"].shape[0] == record.n_source_frames == len(episode.actions) + 1
    assert not np.array_equal(records[0].frames, records[1].frames)  # two distinct views


@pytest.mark.sim
@pytest.mark.timeout(120)
def test_same_seed_gives_identical_frames_and_another_seed_does_not(envs):
    cfg = _cfg()
    env = envs("table_cube")
    job = SimJob("Panda", "lift", "cube", "table_cube", 0, base_seed=0)
    first, views1, _ = execute_job(env, job, cfg)
    other, views_other, _ = execute_job(env, SimJob("Panda", "lift", "cube", "table_cube", 1, 0), cfg)
    again, views2, _ = execute_job(env, job, cfg)
    for a, b in zip(views1, views2, strict=True):
        assert np.array_equal(a["frames"], b["frames"])
    assert np.array_equal(first.states, again.states)
    assert not np.array_equal(views1[0]["frames"], views_other[0]["frames"])


def test_heldout_embodiment_split_never_leaks_the_held_out_robot(tmp_path):
    cfg = load_config(SimSourceConfig, "sim_small", ["clips_per_combination=1"])
    store = ClipStore.open_for_build(tmp_path / "clips.h5", "sim", cfg.n_frames, cfg.image_size)
    for job in make_jobs(cfg):
        for camera in cfg.cameras:
            store.add(
                ClipRecord(
                    clip_id=job.clip_id(camera),
                    caption=caption(job.robot, job.action, job.object),
                    subject=job.robot,
                    action=job.action,
                    object=job.object,
                    source="sim",
                )
            )
    names = write_default_splits(store, seed=0)
    assert "random" in names
    for robot in cfg.embodiments:
        split = store.get_split(f"heldout_{robot}")
        subject = {i: store.get(i, with_frames=False).subject for i in store.ids()}
        assert all(subject[i] != robot for i in split["train"] + split["val"])
        assert split["test"] and all(subject[i] == robot for i in split["test"])
        assert len(split["train"]) + len(split["val"]) + len(split["test"]) == len(store)
    store.close()


def test_object_labels_with_spaces_give_clip_ids_without_spaces():
    job = SimJob("UR5e", "pick", "cream cheese", "libero_goal_cheese_bowl", 2, base_seed=0)
    assert job.clip_id("agentview") == "sim-UR5e-pick-cream_cheese-s002-agentview"


@pytest.mark.sim
@pytest.mark.timeout(240)
def test_libero_scene_clip_has_labels_caption_frames_and_provenance_naming_the_problem():
    """A non-Panda robot (LIBERO ships only its mounted Panda) picks LIBERO's cream cheese."""
    from roboact.datasets.sim_scenes import SCENES, env_label, make_env

    scene = "libero_goal_cheese_bowl"
    cfg = _cfg(embodiments=["UR5e"], max_attempts=2)
    job = SimJob("UR5e", "pick", "cream cheese", scene, 0, base_seed=0)
    env = make_env("UR5e", scene, CAMERAS, 32)
    try:
        assert type(env.robots[0].robot_model).__name__ == "MountedUR5e"
        episode, views, attempts = execute_job(env, job, cfg)
        assert episode is not None, f"no LIBERO pick in {attempts} attempts"
        records = records_for(job, episode, views, env_label(env))
    finally:
        env.close()
    assert episode.object_pos[-1][2] > episode.object_pos[0][2] + 0.10  # lifted, read from the sim
    for record, camera in zip(records, CAMERAS, strict=True):
        assert (record.subject, record.action, record.object) == ("UR5e", "pick", "cream cheese")
        assert record.caption == "UR5e robot pick cream cheese. Action is pick, Object is cream cheese."
        assert record.frames.shape == (cfg.n_frames, 32, 32, 3) and record.frames.dtype == np.uint8
        assert record.frames.std() > 0
        prov = record.provenance
        assert prov["env"] == "LIBERO:libero_goal/put_the_cream_cheese_in_the_bowl"
        assert prov["libero_bddl"] == SCENES[scene].libero_bddl
        assert prov["camera"] == camera and prov["robot"] == "UR5e" and prov["seed"] == job.seed(0)
        assert record.n_source_frames == len(episode.actions) + 1


def test_cli_build_without_frames_keeps_the_config_frame_count(monkeypatch, tmp_path):
    """`roboact data build --source sim` without --frames/--image-size: the config's values."""
    from roboact.datasets import sim_actors
    from typer.testing import CliRunner

    import roboact.cluster
    from roboact.cli import app

    ran: list[SimSourceConfig] = []
    monkeypatch.setattr(roboact.cluster, "init_ray", lambda address=None, **kw: None)
    monkeypatch.setattr(
        sim_actors, "run_pool", lambda jobs, cfg, store, stats, **kw: ran.append(cfg) or stats
    )
    out = tmp_path / "sim.h5"
    result = CliRunner().invoke(
        app, ["data", "build", "--source", "sim", "--out", str(out), "--config", "sim_tiny", "--json"]
    )
    assert result.exit_code == 0, result.output
    tiny = load_config(SimSourceConfig, "sim_tiny")
    assert [(c.n_frames, c.image_size, c.seed) for c in ran] == [(tiny.n_frames, tiny.image_size, tiny.seed)]
    with ClipStore(out) as store:
        assert (store.attrs["n_frames"], store.attrs["image_size"]) == (tiny.n_frames, tiny.image_size)


# --------------------------------------------------------------------------------------------------
# sim_medium: objects that vary independently of actions (issue #15 item 4)
def _grid(cfg: SimSourceConfig) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    objects_of: dict[str, set[str]] = {}
    actions_of: dict[str, set[str]] = {}
    for job in make_jobs(cfg):
        objects_of.setdefault(job.action, set()).add(job.object)
        actions_of.setdefault(job.object, set()).add(job.action)
    return objects_of, actions_of


HINGE_ACTIONS = {"open", "close"}
"""Actions with one object in sim_medium: robosuite 1.4's only articulated object is the door."""


def test_medium_config_grid_has_the_counts_and_objects_that_vary_beside_actions():
    cfg = load_config(SimSourceConfig, "sim_medium")
    jobs = make_jobs(cfg)
    objects_of, actions_of = _grid(cfg)
    assert len(set(cfg.embodiments)) >= 6 and len(objects_of) >= 10
    assert len(jobs) * len(cfg.cameras) >= 1500 and cfg.clips_per_combination >= 3
    assert all(len(a) >= 2 for a in actions_of.values()), actions_of  # each object under >= 2 actions
    varied = {a for a, objs in objects_of.items() if len(objs) >= 3}
    assert varied == set(objects_of) - HINGE_ACTIONS, objects_of  # every other action: >= 3 objects
    assert {"insert", "turn"} <= varied
    # independence on the varied block: every such action meets every object shared by two of them
    shared = set.intersection(*(objects_of[a] for a in varied))
    assert len(shared) >= 2
    robots = {}
    for job in jobs:
        robots.setdefault((job.action, job.object), set()).add(job.robot)
    assert all(len(r) >= MIN_SUBJECTS_PER_ACTION for r in robots.values())
    ids = [job.clip_id(c) for job in jobs for c in cfg.cameras]
    assert len(ids) == len(set(ids))


def test_table_and_stack_object_scenes_are_lift_and_stack_with_another_object():
    from roboact.datasets.sim_scenes import SCENES, TABLE_OBJECTS

    for obj in TABLE_OBJECTS:
        for prefix, env_name in (("table", "Lift"), ("stack", "Stack")):
            spec = SCENES[f"{prefix}_{obj}"]
            assert spec.env_name == env_name and spec.object_model.endswith("Object")
    with pytest.raises(ValueError, match=r"actions\[0\].scene: 'table_sofa' unknown"):
        SimSourceConfig(actions=[SimActionConfig(name="lift", scene="table_sofa")])


@pytest.mark.sim
@pytest.mark.timeout(200)
def test_a_tiny_slice_of_the_medium_config_builds_clips_of_other_objects():
    """Panda, one episode of sim_medium pairs whose object is not the scene's own cube."""
    from roboact.datasets.sim_scenes import make_env

    medium = load_config(SimSourceConfig, "sim_medium")
    wanted = {("lift", "can"), ("push", "bread"), ("stack", "can")}
    cfg = _cfg(cameras=["agentview"], actions=[a for a in medium.actions if (a.name, a.object) in wanted])
    jobs = make_jobs(cfg)
    assert {(j.action, j.object) for j in jobs} == wanted
    built: dict[str, object] = {}
    try:
        for job in jobs:
            env = built.setdefault(job.scene, make_env("Panda", job.scene, cfg.cameras, 32))
            swapped = env.cubeA if job.action == "stack" else env.cube
            assert type(swapped).__name__ == f"{job.object.capitalize()}Object"
            episode, views, attempts = execute_job(env, job, cfg)
            assert episode is not None, f"{job.key}: no success in {attempts} attempts"
            (record,) = records_for(job, episode, views, "Lift")
            assert (record.action, record.object, record.provenance["scene"]) == (
                job.action,
                job.object,
                job.scene,
            )
            assert record.frames.shape == (4, 32, 32, 3) and record.frames.std() > 0
    finally:
        for env in built.values():
            env.close()


@pytest.mark.sim
@pytest.mark.timeout(240)
def test_a_tiny_slice_of_the_medium_config_inserts_and_turns_objects_beyond_the_round_nut():
    """Panda, one episode each of sim_medium's new insert/turn pairs: the square nut onto its own
    peg, the can into its bin compartment, the bread turned on the table (issue #15 item 4)."""
    from roboact.datasets.sim_scenes import make_env, render_state

    medium = load_config(SimSourceConfig, "sim_medium")
    wanted = {("insert", "square nut"), ("insert", "can"), ("turn", "bread")}
    cfg = _cfg(cameras=["agentview"], actions=[a for a in medium.actions if (a.name, a.object) in wanted])
    jobs = make_jobs(cfg)
    assert {(j.action, j.object) for j in jobs} == wanted
    for job in jobs:
        env = make_env("Panda", job.scene, cfg.cameras, 32)
        try:
            episode, views, attempts = execute_job(env, job, cfg)
            assert episode is not None, f"{job.key}: no success in {attempts} attempts"
            (record,) = records_for(job, episode, views, type(env).__name__)
            assert (record.action, record.object) == (job.action, job.object)
            assert record.frames.shape == (4, 32, 32, 3)
            # the clip shows the object moved: its first and last kept frames differ
            first, last = (render_state(env, episode.states[k], "agentview", 32) for k in (0, -1))
            assert np.abs(first.astype(int) - last.astype(int)).sum() > 0
        finally:
            env.close()
