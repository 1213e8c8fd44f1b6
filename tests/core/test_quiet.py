"""Quiet by default: the console shows roboact's progress; Ray and third-party output go to the log.

Before: every command that started Ray printed Ray's INFO/WARNING lines (start-up, token auth),
every line Ray workers printed (Train's per-rank reports, controllers, simulator warnings, EGL
teardown tracebacks), and Ray Train's placement-group cleaner failed once a second because a local
instance served no State API (or it could not tell which local instance was its own).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from roboact import log

RAY_START = (
    "Started a local Ray instance."  # Ray's own INFO line (roboact's says "started a local Ray instance (")
)
RAY_TOKEN = "Token authentication is enabled"  # Ray's WARNING at every local start


@pytest.fixture(autouse=True)
def _restore_logging():
    """setup_logging changes process-wide state: give the next test what it had."""
    import warnings

    loggers = [logging.getLogger(name) for name in ("", "ray", log.WORKER_LOGGER)]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    hooks = (warnings.showwarning, sys.unraisablehook, log._run_log, log._verbose)
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate
    warnings.showwarning, sys.unraisablehook, log._run_log, log._verbose = hooks


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", log.LOG_FILE_ENV)}
    env.update(RAY_USAGE_STATS_ENABLED="0", **extra)
    return env


def _clip_store(tmp_path: Path) -> Path:
    from roboact.datasets.build import build_store

    from tests.datasets.trees import make_rh20t

    make_rh20t(tmp_path / "RH20T")
    store = tmp_path / "clips.h5"
    build_store("rh20t", tmp_path / "RH20T", store, frames=4, image_size=16, progress=False)
    return store


def _extract(store: Path, out: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    args = ["--store", str(store), "--encoder", "embedded", "--frames", "2", "--image-size", "32"]
    cmd = [sys.executable, "-m", "roboact.cli", *flags, "features", "extract", *args, "--workers", "1"]
    return subprocess.run(
        [*cmd, "--out", str(out)], env=env, capture_output=True, text=True, timeout=280, cwd=out.parent
    )


@pytest.mark.timeout(300)
def test_a_command_that_starts_ray_prints_no_ray_lines_unless_verbose(tmp_path: Path) -> None:
    store = _clip_store(tmp_path)
    quiet_log = tmp_path / "quiet.log"
    quiet = _extract(store, tmp_path / "a.h5", _env(tmp_path, ROBOACT_LOG_FILE=str(quiet_log)))
    assert quiet.returncode == 0, quiet.stderr
    console = quiet.stdout + quiet.stderr
    assert "started a local Ray instance (" in console  # roboact's own progress stays
    assert RAY_START not in console and RAY_TOKEN not in console
    assert " -- " not in console  # Ray's own log format: "<time>\tINFO worker.py:2038 -- ..."
    kept = quiet_log.read_text()
    assert RAY_START in kept and "ray._private.worker" in kept  # ... in the log file instead

    loud = _extract(store, tmp_path / "b.h5", _env(tmp_path), "-v")
    assert loud.returncode == 0, loud.stderr
    assert RAY_START in loud.stdout + loud.stderr


def test_console_shows_roboact_and_errors_and_keeps_the_rest_for_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    log.setup_logging(False)
    logging.getLogger("ray.tune").warning("tune says hi")  # before the file: kept in memory
    path = log.log_to_file(tmp_path / log.RUN_LOG_NAME)
    logging.getLogger("roboact.demo").info("stage 3/9: train")
    logging.getLogger("ray.train").info("Reporting training result 4")
    logging.getLogger("ray.train").error("controller failed")
    warnings.warn("Adroit is deprecated", UserWarning, stacklevel=1)  # raised here: a test, not roboact
    err = capsys.readouterr().err
    assert "stage 3/9: train" in err and "controller failed" in err
    assert "Reporting training result" not in err and "tune says hi" not in err and "Adroit" not in err
    text = path.read_text()
    for line in (
        "tune says hi",
        "stage 3/9: train",
        "Reporting training result 4",
        "controller failed",
        "Adroit",
    ):
        assert line in text
    assert text.index("tune says hi") < text.index("stage 3/9")  # what came before the file, first

    log.setup_logging(True)
    logging.getLogger("ray.train").info("Reporting training result 5")
    assert "Reporting training result 5" in capsys.readouterr().err


PROBE = textwrap.dedent(
    """
    import sys
    import time

    from roboact import log

    verbose, path, marker = sys.argv[1] == "-v", sys.argv[2], sys.argv[3]
    log.setup_logging(verbose)
    log.log_to_file(path)
    from roboact.cluster import init_ray

    ray = init_ray(num_cpus=1, object_store_memory=80 * 1024 * 1024)

    @ray.remote(num_cpus=0)
    class Controller:
        def ping(self):
            return True

    @ray.remote(num_cpus=0)
    def cleaner_check(actor_id, marker):
        from ray.train.v2._internal.state.util import is_actor_alive

        print(marker)  # like a Train rank's report
        return is_actor_alive(actor_id=actor_id, timeout=10)  # Ray Train's cleaner's own query

    controller = Controller.remote()
    ray.get(controller.ping.remote())
    alive = ray.get(cleaner_check.remote(controller._actor_id.hex(), marker))
    deadline = time.monotonic() + 30  # worker output is streamed: wait for the line itself
    while marker not in open(path).read() and time.monotonic() < deadline:
        time.sleep(0.2)
    print("ALIVE", alive, flush=True)
    ray.shutdown()
    """
)


@pytest.mark.ray
@pytest.mark.timeout(120)
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_worker_output_and_the_train_cleaner_on_an_instance_init_ray_starts(
    ray_session, tmp_path: Path, verbose: bool
) -> None:
    """What a worker prints reaches the run log (the console only with -v), and Ray Train's
    placement-group cleaner can ask the State API whether its controller lives, from a worker, while
    another local instance (this test session's) runs on the same machine."""
    assert ray_session.is_initialized()  # a second local Ray instance on this machine
    marker = f"Reporting training result {uuid.uuid4().hex}"
    path = tmp_path / log.RUN_LOG_NAME
    flags = ["-v" if verbose else "-q", str(path), marker]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *flags],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ALIVE True" in done.stdout, done.stderr[-3000:]
    assert "ray.worker_output: (cleaner_check pid=" in path.read_text() and marker in path.read_text()
    assert (marker in done.stdout + done.stderr) is verbose
    assert "PlacementGroupCleaner" not in path.read_text()


@pytest.mark.timeout(60)
def test_ray_libraries_own_console_handlers_are_adopted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """``ray``, ``ray.data`` and ``ray.rllib`` print to stderr through handlers of their own."""
    import ray.data  # noqa: F401  (each sets up its logger when imported)
    import ray.rllib  # noqa: F401

    log.setup_logging(False)  # Ray was imported first (as in any test run): adopted right here
    path = log.log_to_file(tmp_path / log.RUN_LOG_NAME)
    consoles = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    for name in ("ray", "ray.data", "ray.rllib"):
        logger = logging.getLogger(name)
        assert logger.propagate, name
        assert not [h for h in logger.handlers if getattr(h, "stream", None) in consoles], name
    capfd.readouterr()
    logging.getLogger("ray.rllib").warning("You are running BC on the new API stack!")
    logging.getLogger("ray.data").info("Starting execution of Dataset")
    logging.getLogger("ray.data").debug("scheduler loop")  # Ray Data's logger is at DEBUG
    err = capfd.readouterr().err
    assert "BC on the new API stack" not in err and "Starting execution" not in err
    text = path.read_text()
    assert "BC on the new API stack" in text and "Starting execution" in text
    assert "scheduler loop" not in text  # debug only with -v


@pytest.mark.timeout(60)
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_the_raylet_s_worker_count_advice_goes_to_the_run_log_and_its_errors_to_the_console(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], verbose: bool
) -> None:
    """The raylet pushes messages to the driver through Ray's error listener, which prints them itself
    (``print_to_stdstream``): its advice about many worker processes is run-log only, its errors
    (a worker killed) still reach the console."""
    import ray._private.worker as ray_worker

    saved = ray_worker.print_to_stdstream
    try:
        log.setup_logging(verbose)
        path = log.log_to_file(tmp_path / log.RUN_LOG_NAME)
        assert log.route_ray_worker_output()
        log.route_ray_worker_output()  # a second stage's init_ray: still one wrapper around Ray's printer
        capfd.readouterr()
        advice = (
            "WARNING: 9 PYTHON worker processes have been started on node: 1a2b with address: 127.0.0.1. "
            "This could be a result of using a large number of actors"
        )
        # unique text: Ray's printer drops a line it printed within the last seconds (its deduplicator)
        died = f"A worker died or was killed while executing task {uuid.uuid4().hex} (verbose={verbose})."
        for line in (advice, died):
            message = {"lines": [line], "pid": "raylet", "is_err": False}
            ray_worker.print_to_stdstream(message, ignore_prefix=False)
        shown = "".join(capfd.readouterr())
    finally:
        ray_worker.print_to_stdstream = saved
    assert died in shown
    assert ("PYTHON worker processes" in shown) is verbose
    assert "PYTHON worker processes" in path.read_text()
