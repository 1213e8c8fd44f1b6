"""``fit``: a Ray Train (DDP) fit of RoboAct-CLIP on a feature store (paper Sec. III-B, Eq. 27).

The same call runs 1-2 CPU workers on a laptop and N GPU workers on a cluster (``address`` /
``RAY_ADDRESS``, ``storage_path`` on shared or object storage). Nothing is shared between nodes
except through Ray: the driver puts the features in the object store, workers write checkpoints to
``storage_path``, the driver's node keeps the run directory.

Run directory (``<runs_root>/<name>/``, on the driver's node; with ``runs_root`` an ``s3://`` or
``gs://`` URI it is written in a per-node working folder and uploaded to ``<runs_root>/<name>/`` when
the fit ends or fails, and a rerun on a fresh node downloads it first, see ``roboact.storage``)::

    config.yaml          the resolved TrainConfig
    model_config.json    the resolved RoboActConfig (data fields filled from the store)
    metrics.jsonl, tb/   every report (see run_logger.py)
    model/               the final model, ``RoboActCLIP.from_pretrained``-loadable
    result.json          final metrics and checkpoint paths; a rerun of a finished run returns it
    ray_results/<name>/  Ray's run storage when storage_path is not given (checkpoint_step*/); with a
                         remote runs_root the default storage is ``<runs_root>/<name>/ray_results``

Paths: ``data.features`` may be a URI (staged once per node, ``storage.local_copy``), ``storage_path``
is handed to Ray as it is (Ray writes ``s3://`` / ``gs://`` through pyarrow). On a cluster with more
than one alive node a plain local ``storage_path`` is refused before launching (``shared_fs``).

Resume: rerunning with the same name and storage_path continues from the newest readable
checkpoint (Ray Train V2 restores its run state; the loop reads ``ray.train.get_checkpoint()`` and
falls back to older ones when it is unreadable, see ``train_loop.restore_newest_readable``); a killed
worker is replaced and the group restarts from the newest checkpoint, up to ``max_failures`` times.
A rerun must keep the settings the run trained with (``resume_settings``, saved in
``settings.json``; a larger step budget is allowed), and one process at a time holds the run
directory's lock.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roboact import storage
from roboact.config import config_to_dict, save_config
from roboact.runs import atomic_replace_dir, atomic_write_text, check_settings, run_lock, write_versions
from roboact.runs import run_dir as make_run_dir

from .fit_data import heldout_recombination, load_fit_data
from .run_logger import RunLogger
from .train_config import (
    NAME_AND_PLACE_SETTINGS,
    DataConfig,
    OptimConfig,
    TrainConfig,
    TrainJobConfig,
    resolve_model_config,
    total_steps,
)
from .train_loop import MODEL_SUBDIR, train_loop_per_worker

__all__ = [
    "DataConfig",
    "OptimConfig",
    "TrainConfig",
    "TrainJobConfig",
    "fit",
    "prepare_fit",
    "run_train",
    "run_trainer",
]

logger = logging.getLogger(__name__)

BEST_METRIC = "val/action_acc"


def _resolve_names(config: TrainConfig) -> tuple[TrainConfig, Path, str]:
    """Fill name and storage_path, make local paths absolute and keep URIs as they are; return
    (config, local run dir, storage_path)."""
    runs_root = storage.resolve(config.runs_root)
    run_path = make_run_dir(config.name, storage.local_root(runs_root)).absolute()
    name = run_path.name
    default = storage.join(runs_root, name, "ray_results") if storage.is_remote(runs_root) else None
    ray_storage = storage.resolve(config.storage_path or default or run_path / "ray_results")
    data = DataConfig(features=storage.resolve(config.data.features), split=config.data.split)
    config = TrainConfig(
        **{
            **config.__dict__,
            "name": name,
            "storage_path": ray_storage,
            "data": data,
            "runs_root": runs_root,
        }
    )
    return config, run_path, ray_storage


def planned_storage(config: TrainConfig) -> str | None:
    """The storage path ``_resolve_names`` will pick, without creating anything; None when it will
    be a URI under a remote ``runs_root``."""
    if config.storage_path:
        return storage.resolve(config.storage_path)
    if storage.is_remote(config.runs_root):
        return None
    return storage.join(storage.resolve(config.runs_root), config.name or "<name>", "ray_results")


def run_uri(config: TrainConfig) -> str | None:
    """Where a resolved config's run directory is kept when ``runs_root`` is a URI (else None)."""
    return storage.join(config.runs_root, config.name or "") if storage.is_remote(config.runs_root) else None


def prepare_fit(config: TrainConfig) -> tuple[TrainConfig, Path, dict[str, Any], dict[str, Any]]:
    """Validate and resolve a config on the driver: (config, run_dir, model config dict, data bundle)."""
    if not config.data.features:
        raise ValueError("TrainConfig.data.features is empty: pass --features F.h5 (or data.features=...)")
    data = load_fit_data(config.data.features, config.data.split)
    if config.data.split.startswith("heldout_"):
        data = heldout_recombination(data)
    config, run_path, _ = _resolve_names(config)
    model_cfg = resolve_model_config(config, data["attrs"], data["vocabs"])
    if config.mlflow_uri:
        try:
            import mlflow  # noqa: F401
        except ImportError as err:
            raise ValueError(
                f"mlflow_uri={config.mlflow_uri!r} but mlflow is not installed (pip install mlflow)"
            ) from err
    return config, run_path, model_cfg.to_dict(), data


def run_trainer(
    config: TrainConfig,
    run_path: Path,
    model_cfg: dict[str, Any],
    data_ref: Any,
    extra_callbacks: list[Any] | None = None,
    sync_uri: str | None = None,
    ray_storage: tuple[str, Any] | None = None,
) -> Any:
    """Build and run the TorchTrainer (Ray must be initialised); return Ray's ``Result``.

    ``sync_uri``: the run directory's remote home; its metrics are uploaded as the fit reports.
    ``ray_storage``: ``storage.ray_storage(config.storage_path)`` built by the caller, for a fit
    started inside a Ray worker (a Tune trial), whose environment may lack the driver's endpoint."""
    import ray.train
    from ray.train.torch import TorchTrainer

    storage_path, storage_filesystem = ray_storage or storage.ray_storage(config.storage_path)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train": config_to_dict(config), "model": model_cfg, "data": [data_ref]},
        scaling_config=ray.train.ScalingConfig(
            num_workers=config.workers,
            use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.cpus_per_worker},
        ),
        run_config=ray.train.RunConfig(
            name=config.name,
            storage_path=storage_path,
            storage_filesystem=storage_filesystem,
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=config.keep_checkpoints),
            callbacks=[
                RunLogger(
                    run_path,
                    config.tensorboard,
                    config.mlflow_uri,
                    config.name or "roboact",
                    sync_uri=sync_uri,
                ),
                *(extra_callbacks or []),
            ],
        ),
    )
    with _sigint_handler_restored():
        return trainer.fit()


@contextmanager
def _sigint_handler_restored() -> Iterator[None]:
    """Put back the Ctrl-C handler ``TrainController`` replaced when ``fit`` ends.

    Why: in the main thread Ray Train installs a SIGINT handler that holds the run's controller
    actor and never removes it, so every finished fit kept its ``TrainController`` and
    ``DatasetManager`` processes alive until the driver exited (one pair per fit of a demo, and on
    a cluster on the driver's node). Restoring the handler drops the last reference to them.
    """
    if threading.current_thread() is not threading.main_thread():  # a Tune trial: none installed
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _best_checkpoint(result: Any) -> Any:
    ranked = [
        (m.get(BEST_METRIC, float("-inf")), m.get("step", 0), c) for c, m in (result.best_checkpoints or [])
    ]
    if not ranked:
        return result.checkpoint
    return max(ranked, key=lambda r: (r[0], r[1]))[2]


def _finished(run_path: Path, config: TrainConfig) -> dict[str, Any] | None:
    path = run_path / "result.json"
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    if (
        done.get("fingerprint") != config.fingerprint()
        or not (run_path / MODEL_SUBDIR / "config.json").is_file()
    ):
        return None
    return done


# Settings that never change a finished checkpoint's weights: names, paths, logging, restarts,
# resources. The step budget is also free: a rerun with more steps continues the run.
_FREE_SETTINGS = (
    *NAME_AND_PLACE_SETTINGS,
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "cpus_per_worker",
)


def resume_settings(config: TrainConfig) -> dict[str, Any]:
    """What a run directory's checkpoints were trained with: a resume with other values would
    continue another run's weights under this one's name (issue #18)."""
    data = config_to_dict(config)
    for key in _FREE_SETTINGS:
        data.pop(key)
    data["optim"] = {k: v for k, v in data["optim"].items() if k not in ("max_steps", "epochs")}
    return data


def run_train(cfg: TrainJobConfig) -> dict[str, Any]:
    """``roboact train`` as a function: fit ``cfg`` (its ``TrainConfig`` part) where it says."""
    from roboact.stage import as_base, require

    require(cfg.data.features, "--features", "data.features")
    return fit(as_base(cfg, TrainConfig), address=cfg.address, shared_fs=cfg.shared_fs)


def fit(config: TrainConfig, address: str | None = None, shared_fs: bool = False) -> dict[str, Any]:
    """Train RoboAct-CLIP with Ray Train; resume a stopped run of the same name.

    Returns:
        ``metrics`` (the last report: ``train/*`` losses of Eq. 27, ``val/<factor>_acc[_text]``),
        ``run_dir``, ``model_dir`` (``<run_dir>/model``, loadable with ``RoboActCLIP.from_pretrained``),
        ``checkpoint_dir`` (newest) and ``best_checkpoint_dir`` (highest val action accuracy; its
        ``model/`` subfolder is also loadable), ``storage_path``, ``name``, ``steps``, ``seconds``;
        with a remote ``runs_root`` also ``run_uri`` and ``model_uri`` (``run_dir`` and ``model_dir``
        then name this node's working copy).

    Args:
        shared_fs: plain local paths lie on a filesystem every node mounts; without it (or
            ``ROBOACT_SHARED_FS=1``) a local ``storage_path`` on a multi-node cluster is refused.

    Raises:
        ValueError / StoreError / StorageError: a bad config, feature store or URI, naming it.
        UserError: a multi-node cluster and a node-local ``storage_path``.
        SettingsMismatchError: the run directory holds a run with other ``resume_settings``.
        RunLockedError: another process is fitting into the same run directory.
        RuntimeError: the fit failed after ``max_failures`` restarts.
    """
    from roboact.cluster import require_shared_paths

    require_shared_paths({"--storage-path": planned_storage(config)}, address, shared_fs)  # before any mkdir
    config, run_path, model_cfg, data = prepare_fit(config)
    remote = run_uri(config)
    with run_lock(run_path), storage.mirrored_dir(run_path, remote):
        resuming = (run_path / "metrics.jsonl").is_file()
        check_settings(run_path, resume_settings(config), resuming=resuming, option="--name")
        out = _fit_locked(config, run_path, model_cfg, data, address)
        if remote is not None:
            out = {**out, "run_uri": remote, "model_uri": storage.join(remote, MODEL_SUBDIR)}
        return out


def _fit_locked(
    config: TrainConfig, run_path: Path, model_cfg: dict[str, Any], data: dict[str, Any], address: str | None
) -> dict[str, Any]:
    from roboact.cluster import init_ray

    done = _finished(run_path, config)
    if done is not None:
        logger.info("%s already finished (result.json matches this config); not training again", run_path)
        return done
    save_config(config, run_path)
    (run_path / "model_config.json").write_text(json.dumps(model_cfg, indent=2, sort_keys=True))
    write_versions(run_path / "versions.json")
    ray = init_ray(address)
    steps = total_steps(config, len(data["train"]["action"]))
    where = f"run dir {run_path}; storage {config.storage_path}"
    logger.info("fit %s: %d steps on %d worker(s); %s", config.name, steps, config.workers, where)
    start = time.perf_counter()
    data_ref = ray.put(data)
    result = run_trainer(config, run_path, model_cfg, data_ref, sync_uri=run_uri(config))
    seconds = time.perf_counter() - start
    if result.error is not None:
        raise RuntimeError(f"fit {config.name} failed (run dir {run_path}): {result.error}") from result.error
    if result.checkpoint is None:
        raise RuntimeError(f"fit {config.name} ended without a checkpoint (storage {config.storage_path})")
    out_model = run_path / MODEL_SUBDIR
    with result.checkpoint.as_directory() as ckpt_dir:
        atomic_replace_dir(Path(ckpt_dir) / MODEL_SUBDIR, out_model)
    best = _best_checkpoint(result)
    metrics = {k: v for k, v in (result.metrics or {}).items() if isinstance(v, int | float | str)}
    if metrics.get("resume_skipped"):
        logger.warning(
            "fit %s: %d unreadable checkpoint(s) skipped on resume, continued from step %s (worker log "
            "names them)",
            config.name,
            metrics["resume_skipped"],
            metrics.get("resumed_from"),
        )
    out = {
        "name": config.name,
        "run_dir": str(run_path),
        "model_dir": str(out_model),
        "checkpoint_dir": result.checkpoint.path,
        "best_checkpoint_dir": best.path if best is not None else result.checkpoint.path,
        "storage_path": config.storage_path,
        "metrics": metrics,
        "steps": steps,
        "seconds": seconds,
        "fingerprint": config.fingerprint(),
    }
    atomic_write_text(run_path / "result.json", json.dumps(out, indent=2, default=str))
    val = {k: round(v, 4) for k, v in metrics.items() if k.startswith("val/") and isinstance(v, float)}
    logger.info("fit %s done in %.1f s: %s", config.name, seconds, val)
    return out
