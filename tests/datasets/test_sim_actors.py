"""Ray simulator actors: a killed actor loses no job and duplicates none; a rerun resumes."""

from __future__ import annotations

import os
import signal

import pytest
from roboact.datasets.sim_actors import make_actor_class, run_pool
from roboact.datasets.sim_source import SimSourceConfig, build_sim_store, make_jobs
from roboact.datasets.stores import ClipStore

from roboact.config import load_config


@pytest.mark.ray
@pytest.mark.sim
@pytest.mark.timeout(300)
def test_killing_an_actor_mid_run_loses_and_duplicates_nothing_and_rerun_resumes(ray_session, tmp_path):
    cfg = load_config(SimSourceConfig, "sim_tiny")
    jobs = make_jobs(cfg)
    expected = sorted(job.clip_id(c) for job in jobs for c in cfg.cameras)
    out = tmp_path / "sim.h5"
    store = ClipStore.open_for_build(out, "sim", cfg.n_frames, cfg.image_size)
    actor_cls = make_actor_class()
    actors = [actor_cls.remote(cfg) for _ in range(2)]
    pids = ray_session.get([a.pid.remote() for a in actors])
    killed: list[int] = []

    def kill_other(result, actors_):
        if not killed:  # after the first finished job, kill the actor that still has jobs queued
            victim = pids[1]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    stats = {"attempts": {}, "failures": {}, "failed_jobs": [], "new_clips": 0}
    run_pool(jobs, cfg, store, stats, actors=actors, on_result=kill_other, progress=False)
    assert killed and stats["resubmitted"] >= 1  # the kill really hit in-flight work
    assert store.ids() == expected  # nothing lost
    assert stats["new_clips"] == len(expected)  # every clip written exactly once
    assert not stats["failed_jobs"]
    store.close()

    summary = build_sim_store(out, "sim_tiny")  # rerun: every job is done, nothing re-simulated
    assert summary["skipped_jobs"] == len(jobs) and summary["new_clips"] == 0
    assert summary["clips"] == len(expected)
    assert summary["splits"] == ["random"]
    with ClipStore(out) as done:
        record = done.get(expected[0])
        assert record.frames.shape == (cfg.n_frames, cfg.image_size, cfg.image_size, 3)
        assert "actions" in record.extras and record.provenance["camera"] in cfg.cameras
