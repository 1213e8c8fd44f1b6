"""A regular (non-editable) install exposes every mapped subsystem under one namespace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_regular_install_imports_every_subsystem(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        timeout=280,
        capture_output=True,
    )
    code = "\n".join(
        [
            "import roboact, roboact.models, roboact.datasets, roboact.distributed",
            "import roboact.sim_workers, roboact.hardware, roboact.policies, roboact.control",
            "import roboact.tune_configs",
            "from importlib import resources",
            f"assert roboact.__file__.startswith({str(target)!r}), roboact.__file__",
            "files = resources.files('roboact.tune_configs').iterdir()",
            "print(sorted(p.name for p in files if p.name.endswith('.yaml')))",
        ]
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    shipped = sorted(p.name for p in (REPO / "tune_configs").glob("*.yaml"))
    assert out.stdout.strip() == str(shipped)


def test_every_source_folder_with_modules_is_a_declared_package() -> None:
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            name = ".".join([package, *rel.parts]) if rel.parts else package
            assert name in declared, f"{init.parent} is a package but {name} is not in pyproject packages"
