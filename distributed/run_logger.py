"""Metrics of a fit into its run directory, TensorBoard and (optionally) MLflow.

A Ray Train ``UserCallback`` runs in the Train controller, which Ray pins to the driver's node, so
writing into the driver's run directory is safe on a multi-node cluster (workers never touch it).

Files written in ``run_dir``::

    metrics.jsonl      one JSON object per report: rank 0's metrics plus ``workers`` (every rank's
                       pid, node, feature-bank digest) and the checkpoint path when one was saved;
                       ``{"event": "worker_failure", ...}`` rows record worker crashes
    tb/                TensorBoard events (every numeric ``train/*``, ``val/*`` metric by step)

With ``sync_uri`` (the run directory's home when ``--runs-root`` is a bucket) the directory is
uploaded after a report at most every ``sync_every_s`` seconds, and after a worker failure, so a
fit's curves are in the bucket while it runs, not only when the driver's ``mirrored_dir`` exits.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from ray.train import UserCallback

logger = logging.getLogger(__name__)

WORKER_KEYS = ("rank", "pid", "node", "host", "bank_sha", "bank_step")


class RunLogger(UserCallback):
    """Append every report to ``metrics.jsonl``; mirror numeric metrics to TensorBoard / MLflow."""

    def __init__(
        self,
        run_dir: str | Path,
        tensorboard: bool = True,
        mlflow_uri: str | None = None,
        run_name: str = "roboact",
        sync_uri: str | None = None,
        sync_every_s: float = 30.0,
    ) -> None:
        self.run_dir = str(Path(run_dir).absolute())
        self.tensorboard = tensorboard
        self.mlflow_uri = mlflow_uri
        self.run_name = run_name
        self.sync_uri = sync_uri
        self.sync_every_s = sync_every_s
        self._writer: Any = None
        self._mlflow: Any = None
        self._mirror: Any = None

    def __getstate__(self) -> dict[str, Any]:  # shipped to the controller actor: no open handles
        state = self.__dict__.copy()
        state["_writer"] = None
        state["_mlflow"] = None
        state["_mirror"] = None
        return state

    def _sync(self, min_interval_s: float) -> None:
        """Upload what changed in the run directory (nothing without ``sync_uri``); a failed upload
        is a warning, because the driver uploads the whole directory again when the fit ends."""
        if self.sync_uri is None:
            return
        from roboact.storage import Mirror

        if self._mirror is None:
            self._mirror = Mirror(Path(self.run_dir), self.sync_uri)
        try:
            self._mirror.sync(min_interval_s)
        except Exception as err:
            logger.warning("could not upload %s to %s: %s", self.run_dir, self.sync_uri, err)

    def _append(self, row: dict[str, Any]) -> None:
        path = Path(self.run_dir) / "metrics.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        if not metrics:
            return
        row = {k: v for k, v in metrics[0].items() if k not in WORKER_KEYS}
        row["time"] = time.time()
        row["workers"] = [{k: m.get(k) for k in WORKER_KEYS} for m in metrics]
        if checkpoint is not None:
            row["checkpoint"] = checkpoint.path
        self._append(row)
        step = int(row.get("step", 0))
        scalars = {k: float(v) for k, v in row.items() if "/" in k and isinstance(v, int | float)}
        if self.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(Path(self.run_dir) / "tb"))
            for key, value in scalars.items():
                self._writer.add_scalar(key, value, step)
            self._writer.flush()
        if self.mlflow_uri:
            if self._mlflow is None:
                import mlflow

                mlflow.set_tracking_uri(self.mlflow_uri)
                mlflow.set_experiment("roboact")
                mlflow.start_run(run_name=self.run_name)
                self._mlflow = mlflow
            self._mlflow.log_metrics({k.replace("/", "_"): v for k, v in scalars.items()}, step=step)
        self._sync(self.sync_every_s)

    def after_exception(self, run_context: Any, worker_exceptions: dict[int, Exception]) -> None:
        self._append(
            {
                "event": "worker_failure",
                "time": time.time(),
                "errors": {str(rank): repr(err)[:500] for rank, err in worker_exceptions.items()},
            }
        )
        self._sync(0.0)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of ``metrics.jsonl`` (empty when the run has not reported yet)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
