"""``roboact policy train`` as a config and a function: ``PolicyJobConfig`` and ``run_policy_train``.

Why a module of its own beside ``policy.py``: the job adds only the inputs and outputs (demo files,
checkpoint directory, tasks, cluster address) to ``PolicyTrainConfig``, which stays what a
checkpoint records as its training settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roboact.policies.features import HISTORY_RE

from .policy import PolicyTrainConfig

logger = logging.getLogger(__name__)


@dataclass
class PolicyJobConfig(PolicyTrainConfig):
    """A BC head's training settings (every ``PolicyTrainConfig`` key) and its demos and output.

    Three defaults differ from ``PolicyTrainConfig``'s: the command's are the head measured on the
    README's plain path, while the library keeps the settings ``bench paper`` and ``roboact demo``
    pin for their rows (their recorded results were measured with them).
    """

    cameras: list[str] = field(default_factory=list)
    """demo views the head sees, agentview first; empty = every view the demo files recorded (agent
    view first, then the others by name; ``roboact sim demos`` records LIBERO's wrist view too). Why:
    LIBERO T3 with the same 20 demos and 20 episodes went from 8/20 (agent view) to 14/20 with the
    wrist view (docs/results.md, session 14); Kitchen has one view, so nothing changes there"""

    chunk: int = 5
    """actions predicted per step, run with ACT's temporal ensembling. Why 5 here: with the history
    below, Kitchen's plain path (10 demos per task, 20 episodes each) went from 53/60 (chunk 1) to
    57/60, micro 13/20 -> 20/20, and LIBERO T1/T3 (20 demos) from 20/40 to 23/40 (docs/results.md)"""
    history: str | None = "history=3,every=4"
    """the head's input history, appended to ``features`` unless the spec names its own: the head
    sees its features of the last 3 steps, 4 apart (``history=`` with nothing after it: the current
    step only). Kitchen's plain path: 43/60 without it, 53/60 with it (chunk 1)"""
    demos: list[str] = field(default_factory=list)
    """demo HDF5 files"""
    out: str = ""
    """checkpoint directory to write"""
    tasks: list[str] = field(default_factory=list)
    """task names to train on; empty = all"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    shared_fs: bool = False
    """a local ``out`` lies on a filesystem every node mounts (else refused on a multi-node cluster,
    where BC's read tasks run on other nodes; use an s3:// / gs:// URI or ROBOACT_SHARED_FS=1)"""

    def _check_cameras(self) -> None:
        if self.cameras:  # empty: read from the demo files when the job runs
            super()._check_cameras()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.history and not HISTORY_RE.match(self.history):
            raise ValueError(f"history: expected history=H[,every=S] or '', got {self.history!r}")


def run_policy_train(cfg: PolicyJobConfig) -> dict[str, Any]:
    """Train the BC head ``cfg`` describes and write its checkpoint directory (``train_policy``)."""
    from roboact.policies.features import with_head_history

    from roboact.errors import UserError
    from roboact.stage import as_base, require
    from roboact.storage import is_remote

    from .policy import train_policy

    require(cfg.demos, "--demos", "demos")
    require(cfg.out, "--out", "out")
    for path in cfg.demos:
        if not is_remote(path) and not Path(path).is_file():
            raise UserError(f"--demos: file {path} does not exist")
    features = with_head_history(cfg.features, cfg.history or "")
    if not cfg.cameras:
        from dataclasses import replace

        from .policy_data import recorded_cameras

        cfg = replace(cfg, cameras=recorded_cameras(list(cfg.demos)))
        logger.debug("cameras: %s (every view the demo files recorded)", ",".join(cfg.cameras))
    return train_policy(
        list(cfg.demos), features, cfg.out, iterations=cfg.iterations,
        batch_size=cfg.batch_size, address=cfg.address, tasks=cfg.tasks or None,
        config=as_base(cfg, PolicyTrainConfig), shared_fs=cfg.shared_fs,
    )  # fmt: skip
