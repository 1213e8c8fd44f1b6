"""``roboact policy train`` as a config and a function: ``PolicyJobConfig`` and ``run_policy_train``.

Why a module of its own beside ``policy.py``: the job adds only the inputs and outputs (demo files,
checkpoint directory, tasks, cluster address) to ``PolicyTrainConfig``, which stays what a
checkpoint records as its training settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .policy import PolicyTrainConfig


@dataclass
class PolicyJobConfig(PolicyTrainConfig):
    """A BC head's training settings (every ``PolicyTrainConfig`` key) and its demos and output."""

    demos: list[str] = field(default_factory=list)
    """demo HDF5 files"""
    out: str = ""
    """checkpoint directory to write"""
    tasks: list[str] = field(default_factory=list)
    """task names to train on; empty = all"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""


def run_policy_train(cfg: PolicyJobConfig) -> dict[str, Any]:
    """Train the BC head ``cfg`` describes and write its checkpoint directory (``train_policy``)."""
    from roboact.errors import UserError
    from roboact.stage import as_base, require
    from roboact.storage import is_remote

    from .policy import train_policy

    require(cfg.demos, "--demos", "demos")
    require(cfg.out, "--out", "out")
    for path in cfg.demos:
        if not is_remote(path) and not Path(path).is_file():
            raise UserError(f"--demos: file {path} does not exist")
    return train_policy(
        list(cfg.demos), cfg.features, cfg.out, iterations=cfg.iterations,
        batch_size=cfg.batch_size, address=cfg.address, tasks=cfg.tasks or None,
        config=as_base(cfg, PolicyTrainConfig),
    )  # fmt: skip
