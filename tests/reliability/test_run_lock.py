"""One writer per run directory or output file: a second concurrent run fails at once with one line
naming the output and its lock file, instead of doing all the work twice (issue #18, finding 5)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roboact.runs import RunLockedError, lock_path, run_lock

HOLD = (
    "import sys; from roboact.runs import run_lock; "
    "lock = run_lock(sys.argv[1], is_file=sys.argv[2] == 'file'); lock.__enter__(); "
    "print('held', flush=True); sys.stdin.read()"
)


@pytest.fixture
def holder():
    """Start a process that holds an output's lock until its stdin closes (no sleeps: it says when)."""
    procs: list[subprocess.Popen] = []

    def start(out: Path, is_file: bool = False) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(out), "file" if is_file else "dir"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_second_holder_fails_at_once_naming_the_directory_and_the_lock_file(tmp_path):
    with run_lock(tmp_path):
        with pytest.raises(RunLockedError) as err:
            with run_lock(tmp_path):
                pass
    message = str(err.value)
    assert str(tmp_path) in message and str(lock_path(tmp_path)) in message and "\n" not in message
    with run_lock(tmp_path):  # released: the next run gets it
        pass


def test_the_lock_of_a_killed_run_is_free_again(tmp_path, holder):
    proc = holder(tmp_path)
    with pytest.raises(RunLockedError):
        with run_lock(tmp_path):
            pass
    proc.kill()
    proc.wait()
    with run_lock(tmp_path):  # the OS released it with the process: no stale lock to remove by hand
        pass


def test_sim_eval_into_a_directory_in_use_fails_before_any_episode(tmp_path, holder):
    from roboact.sim_workers.eval import evaluate

    holder(tmp_path)
    with pytest.raises(RunLockedError, match="in use by another roboact run"):
        evaluate(
            "kitchen", "slide", "zero", 1, max_steps=5, workers=1, run_dir=tmp_path, videos=0, image_size=0
        )
    assert not (tmp_path / "episodes.jsonl").exists()


def test_sim_demos_into_a_file_in_use_fails_before_any_episode(tmp_path, holder):
    from roboact.sim_workers.demos import collect_demos

    out = tmp_path / "demos.hdf5"
    holder(out, is_file=True)
    with pytest.raises(RunLockedError, match="demos.hdf5 is in use"):
        collect_demos("kitchen", "slide", 1, out, workers=1, image_size=0, max_steps=5)
    assert not out.exists()


def test_features_build_policy_and_train_take_the_lock_of_their_output(tmp_path, holder):
    from roboact.datasets.build import build_store
    from roboact.datasets.features import extract_features
    from roboact.distributed.policy import train_policy
    from roboact.distributed.train import fit

    from tests.distributed.conftest import build_feature_store, tiny_train_config

    features = build_feature_store(tmp_path / "store")
    holder(features, is_file=True)
    with pytest.raises(RunLockedError, match="features.h5 is in use"):
        extract_features(tmp_path / "store" / "clips.h5", "synthetic", 4, features)
    clips = tmp_path / "new_clips.h5"
    holder(clips, is_file=True)
    with pytest.raises(RunLockedError, match="new_clips.h5 is in use"):
        build_store("sim", None, clips)
    assert not clips.exists()
    policy_dir = tmp_path / "policy"
    holder(policy_dir)
    with pytest.raises(RunLockedError, match="policy is in use"):
        train_policy(tmp_path / "demos.hdf5", "state", policy_dir)
    holder(tmp_path / "runs" / "busy")
    with pytest.raises(RunLockedError, match="busy is in use"):
        fit(tiny_train_config(features, tmp_path / "runs", "busy"))
