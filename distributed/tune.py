"""``sweep``: Ray Tune over RoboAct-CLIP's loss weights and learning rate, each trial a Ray Train fit.

Search spaces are YAML (``tune_configs/sweep_*.yaml``, ``SweepConfig``) over dotted ``TrainConfig``
keys: ``model.lambda_ortho``, ``model.lambda_recomb`` (Eq. 21), ``model.lambda_disent``,
``model.lambda_aux`` (Eq. 27), ``model.alpha_s|alpha_a|alpha_o`` (Eq. 23) and ``optim.lr``.

Train V2 cannot be handed to a ``Tuner`` directly, so each trial is a function trainable that runs
a ``TorchTrainer`` (named after the trial id, stored under ``<storage>/<sweep>/train_runs``) and
forwards its reports to Tune with ``TuneReportCallback``. ASHA stops weak trials early on the
validation action accuracy; Optuna's TPE (Ray Tune's ``OptunaSearch``) is the optional searcher.

Resources are sweep settings: each trial holds ``workers_per_trial`` x (``cpus_per_worker`` CPUs,
``gpus_per_worker`` GPUs) plus a near-zero driver, so the same YAML runs on a CPU-only laptop and,
with ``gpus_per_worker=1``, on GPU nodes. Before launching, one trial is checked against the alive
nodes (``tune_resources.py``): a trial that can never be placed is an error naming the setting,
and ``max_concurrent_trials`` is capped to the trials that fit at once.

Sweep directory (``<runs_root>/<name>/``)::

    sweep_config.yaml, base_train_config.yaml     what ran
    results.csv, results.md                       one row per trial: parameters, metric, status
    plots/weight_vs_metric.png, plots/best_so_far.png
    best_train_config.yaml                        the best trial as a ready-to-use train config
    ray_results/<name>/                           Tune's experiment state (resume) when no storage_path

Paths: ``features`` may be an ``s3://`` / ``gs://`` URI (staged on the driver's node), ``storage_path``
goes to Ray as it is, and a URI ``runs_root`` keeps the sweep directory in object storage (written on
this node, uploaded when the sweep ends or fails; default storage then ``<runs_root>/<name>/ray_results``).
On a cluster with more than one alive node a plain local storage path is refused before launching.

Resume: rerunning with the same name and storage path restores the Tune experiment
(``Tuner.restore``): finished trials are kept, unfinished ones rerun, and their inner Train runs
continue from their own newest checkpoints. A rerun must keep the sweep's settings
(``sweep_settings``, saved in ``settings.json``), and one process at a time holds its lock.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roboact import log, storage
from roboact.config import config_from_dict, config_to_dict, load_config, save_config
from roboact.runs import check_settings, run_lock
from roboact.runs import run_dir as make_run_dir
from roboact.storage import ray_storage as _ray_storage

from .fit_data import heldout_recombination, load_fit_data
from .train_config import TrainConfig, resolve_model_config, total_steps

logger = logging.getLogger(__name__)

SPACE_TYPES = ("uniform", "loguniform", "choice", "grid", "randint")
TUNABLE_PREFIXES = ("model.", "optim.")
MIN_DRIVER_CPUS = 0.01  # Tune rejects an all-zero resource request
RESOURCE_KEYS = {
    "workers": "workers_per_trial",
    "cpus_per_worker": "cpus_per_worker",
    "use_gpu": "gpus_per_worker",
}
"""TrainConfig resource fields the sweep owns -> the SweepConfig field that sets them"""


@dataclass
class SweepConfig:
    """A loss-weight sweep: base train config, search space, searcher, scheduler and resources."""

    train_config: str = "train_default"
    """base TrainConfig (shipped name or YAML path); every trial starts from it"""
    train_overrides: list[str] = field(default_factory=list)
    """dotted overrides of the base (e.g. optim.max_steps=200)"""
    space: dict[str, Any] = field(default_factory=dict)
    """TrainConfig key -> {type: uniform|loguniform|randint, low, high} or {type: choice|grid, values}"""
    metric: str = "val/action_acc"
    """reported metric to optimise"""
    mode: str = "max"
    """max or min"""
    num_samples: int = 16
    """trials (with grid axes: samples per grid point)"""
    search: str = "random"
    """random (Tune's basic variant generator) or optuna (TPE)"""
    scheduler: str = "asha"
    """asha (early stopping) or fifo (run every trial to the end)"""
    grace_period: int = 2
    """reports a trial always gets before ASHA may stop it"""
    reduction_factor: int = 2
    """ASHA keeps 1/reduction_factor of trials at each rung"""
    max_concurrent_trials: int = 1
    """trials running at once (each holds workers_per_trial x cpus_per_worker CPUs)"""
    workers_per_trial: int = 1
    """Ray Train workers of each trial's fit"""
    cpus_per_worker: float = 1.0
    """CPUs per Ray Train worker (fractions let trials share small machines)"""
    gpus_per_worker: float = 0.0
    """GPUs per Ray Train worker: 0 (CPU training, gloo) or 1 (one GPU per DDP rank, NCCL); a trial
    holds workers_per_trial x (cpus_per_worker CPUs + gpus_per_worker GPUs)"""
    check_resources: bool = True
    """check before launching that one trial fits the cluster (else trials wait forever) and cap
    max_concurrent_trials to what fits; false on an autoscaling cluster that adds nodes on demand"""
    trial_driver_cpus: float = 0.0
    """CPUs reserved by each trial's driver function (at least 0.01): near 0 so drivers never starve
    their own Train workers of CPUs (the deadlock of Tune + Train on small machines)"""
    seed: int = 0
    """seed of the searcher"""

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"SweepConfig.mode must be 'max' or 'min', got {self.mode!r}")
        if self.search not in ("random", "optuna"):
            raise ValueError(f"SweepConfig.search must be 'random' or 'optuna', got {self.search!r}")
        if self.scheduler not in ("asha", "fifo"):
            raise ValueError(f"SweepConfig.scheduler must be 'asha' or 'fifo', got {self.scheduler!r}")
        if self.num_samples < 1 or self.max_concurrent_trials < 1 or self.workers_per_trial < 1:
            raise ValueError(
                "SweepConfig: num_samples, max_concurrent_trials, workers_per_trial must be >= 1"
            )
        if not self.cpus_per_worker > 0 or self.trial_driver_cpus < 0:
            raise ValueError(
                f"SweepConfig: cpus_per_worker must be > 0 and trial_driver_cpus >= 0, got "
                f"{self.cpus_per_worker}, {self.trial_driver_cpus}"
            )
        if self.gpus_per_worker not in (0, 1):
            raise ValueError(
                f"SweepConfig.gpus_per_worker must be 0 (CPU) or 1 (one GPU per Train worker), got "
                f"{self.gpus_per_worker}"
            )
        owned = [o.split("=", 1)[0].strip() for o in self.train_overrides]
        owned = [k for k in owned if k in RESOURCE_KEYS]
        if owned:
            fix = ", ".join(f"{RESOURCE_KEYS[k]} instead of {k}" for k in owned)
            raise ValueError(
                f"SweepConfig.train_overrides sets {owned}: a sweep sets its trials' resources itself; "
                f"use the sweep settings ({fix})"
            )
        for key, spec in self.space.items():
            if not key.startswith(TUNABLE_PREFIXES):
                raise ValueError(f"SweepConfig.space key {key!r} must start with one of {TUNABLE_PREFIXES}")
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind not in SPACE_TYPES:
                raise ValueError(
                    f"SweepConfig.space[{key!r}].type must be one of {SPACE_TYPES}, got {kind!r}"
                )
            need = ("values",) if kind in ("choice", "grid") else ("low", "high")
            missing = [n for n in need if n not in spec]
            if missing:
                raise ValueError(f"SweepConfig.space[{key!r}] ({kind}) lacks {missing}")
            if self.search == "optuna" and kind == "grid":
                raise ValueError(f"SweepConfig.space[{key!r}]: grid axes need search=random (Optuna samples)")


def tune_space(space: dict[str, Any]) -> dict[str, Any]:
    """YAML space -> Tune search space (flat dict keyed by dotted TrainConfig keys)."""
    from ray import tune

    out = {}
    for key, spec in space.items():
        kind = spec["type"]
        if kind == "uniform":
            out[key] = tune.uniform(float(spec["low"]), float(spec["high"]))
        elif kind == "loguniform":
            out[key] = tune.loguniform(float(spec["low"]), float(spec["high"]))
        elif kind == "randint":
            out[key] = tune.randint(int(spec["low"]), int(spec["high"]))
        elif kind == "choice":
            out[key] = tune.choice(list(spec["values"]))
        else:
            out[key] = tune.grid_search(list(spec["values"]))
    return out


def apply_params(base: dict[str, Any], params: dict[str, Any]) -> TrainConfig:
    """A TrainConfig from a base dict and ``{"model.lambda_aux": 0.5, "optim.lr": 1e-3}``."""
    data = copy.deepcopy(base)
    for key, value in params.items():
        if not key.startswith(TUNABLE_PREFIXES):
            continue
        section, name = key.split(".", 1)
        data[section][name] = value
    return config_from_dict(TrainConfig, data)


def _trial(config: dict[str, Any], base: dict[str, Any], shared: dict[str, Any]) -> None:
    """One Tune trial: a Ray Train fit whose reports flow to Tune through ``TuneReportCallback``."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from .train import run_trainer

    ctx = tune.get_context()
    trial_id = ctx.get_trial_id()
    cfg = apply_params(base, config)
    cfg = config_from_dict(
        TrainConfig, {**config_to_dict(cfg), "name": trial_id, "storage_path": shared["train_storage"]}
    )
    model_cfg = resolve_model_config(cfg, shared["attrs"], shared["vocabs"]).to_dict()
    trial_dir = Path(ctx.get_trial_dir())
    result = run_trainer(
        cfg,
        trial_dir,
        model_cfg,
        shared["data"],
        extra_callbacks=[TuneReportCallback()],
        ray_storage=shared["train_ray_storage"],
    )
    if result.error is not None:
        raise RuntimeError(f"trial {trial_id}: fit failed: {result.error}") from result.error


def _searcher(sc: SweepConfig, max_concurrent: int | None = None) -> Any:
    """Optuna's TPE through Ray Tune's ``OptunaSearch``, limited to the trials that run at once (TPE
    suggests from finished results; a backlog of suggestions would all be made blind)."""
    if sc.search != "optuna":
        return None
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    return ConcurrencyLimiter(
        OptunaSearch(seed=sc.seed), max_concurrent=max_concurrent or sc.max_concurrent_trials
    )


def _scheduler(sc: SweepConfig, max_reports: int) -> Any:
    if sc.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=max(max_reports, sc.grace_period + 1),
        grace_period=sc.grace_period,
        reduction_factor=sc.reduction_factor,
    )


@dataclass
class TuneJobConfig(SweepConfig):
    """``roboact tune``: a sweep (every ``SweepConfig`` key) and its data, name and places.

    Why a subclass: a sweep YAML is a valid job file as it is, and the sweep fingerprints only its
    ``SweepConfig`` part."""

    features: str = ""
    """feature store (HDF5) every trial trains on: a path or an s3:// / gs:// URI"""
    name: str = "sweep"
    """sweep name; the same name resumes"""
    runs_root: str = "runs"
    """parent of the sweep directory: a folder or an s3:// / gs:// URI"""
    storage_path: str | None = None
    """Tune and Train storage (shared FS or s3://... on a cluster); None = <runs_root>/<name>/ray_results"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    shared_fs: bool = False
    """local paths lie on a filesystem every node mounts (else refused on a multi-node cluster)"""


def run_tune(cfg: TuneJobConfig) -> dict[str, Any]:
    """``roboact tune`` as a function: run (or resume) the sweep ``cfg`` describes."""
    from roboact.stage import as_base, require

    require(cfg.features, "--features", "features")
    return sweep(
        as_base(cfg, SweepConfig),
        cfg.features,
        name=cfg.name,
        storage_path=cfg.storage_path,
        address=cfg.address,
        runs_root=cfg.runs_root,
        shared_fs=cfg.shared_fs,
    )


def sweep(
    sweep_config_path: str | Path | SweepConfig,
    features: str | Path,
    name: str = "sweep",
    storage_path: str | None = None,
    address: str | None = None,
    runs_root: str | Path = "runs",
    overrides: list[str] | None = None,
    shared_fs: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a sweep; write the results table, plots and the best train config.

    Args:
        sweep_config_path: a ``SweepConfig`` YAML (path or shipped name such as ``sweep_smoke``),
            or a loaded ``SweepConfig``.
        features: the feature store to train on.
        name: sweep name; the same name (and storage path) resumes an interrupted sweep.
        storage_path: Tune and Train storage (shared FS or ``s3://...`` on a cluster);
            default ``<runs_root>/<name>/ray_results``.
        address: Ray cluster address (default: local Ray or ``RAY_ADDRESS``).
        runs_root: parent of the sweep directory.
        overrides: dotted ``SweepConfig`` overrides (``num_samples=3``).
        shared_fs: plain local paths lie on a filesystem every node mounts (else a local storage
            path is refused on a multi-node cluster; ``ROBOACT_SHARED_FS=1`` says the same).

    Returns:
        ``{"sweep_dir", "results_csv", "results_md", "plots": [...], "best_config" (YAML path),
        "best_params", "best_metric", "n_trials", "experiment_path"}``.

    Raises:
        SettingsMismatchError: resuming a sweep with other ``sweep_settings`` (naming the field).
        RunLockedError: another process runs a sweep in the same directory.
        UserError: a multi-node cluster and a node-local storage path.
    """
    from ray import tune

    if isinstance(sweep_config_path, SweepConfig):  # a loaded config (run_tune); overrides on top
        sc = sweep_config_path
        if overrides:
            sc = load_config(SweepConfig, None, overrides, preset=config_to_dict(sc))
    else:
        sc = load_config(SweepConfig, sweep_config_path, overrides)
    train_overrides = [*sc.train_overrides, f"data.features={storage.resolve(features)}"]
    base = load_config(TrainConfig, sc.train_config, train_overrides)
    base = config_from_dict(
        TrainConfig,
        {
            **config_to_dict(base),
            "workers": sc.workers_per_trial,
            "cpus_per_worker": sc.cpus_per_worker,
            "use_gpu": sc.gpus_per_worker > 0,
        },
    )
    from roboact.cluster import require_shared_paths

    root = storage.resolve(runs_root)
    remote = storage.join(root, name) if storage.is_remote(root) else None
    default = (
        storage.join(remote, "ray_results") if remote else storage.local_root(root) / name / "ray_results"
    )
    ray_storage = storage.resolve(storage_path or default)
    require_shared_paths({"--storage-path": ray_storage}, address, shared_fs)  # before any mkdir
    sweep_dir = make_run_dir(name, storage.local_root(root)).absolute()
    experiment_path = f"{ray_storage.rstrip('/')}/{name}"
    with run_lock(sweep_dir), storage.mirrored_dir(sweep_dir, remote):
        resuming = tune.Tuner.can_restore(*_ray_storage(experiment_path))
        check_settings(sweep_dir, sweep_settings(sc, base), resuming=resuming, option="--name")
        out = _sweep_locked(sc, base, name, sweep_dir, ray_storage, experiment_path, address)
        return {**out, "sweep_uri": remote} if remote else out


def sweep_settings(sc: SweepConfig, base: TrainConfig) -> dict[str, Any]:
    """What a sweep directory's trials ran with. ``Tuner.restore`` restores the saved search space
    and silently ignores a new one, so a rerun with another space, searcher or base config would
    report the old sweep as the new one (issue #18); resources and concurrency are free to change."""
    from .train import resume_settings

    free = (
        "max_concurrent_trials",
        "trial_driver_cpus",
        "cpus_per_worker",
        "check_resources",
        "train_overrides",
    )  # "train" has them
    return {
        "sweep": {k: v for k, v in config_to_dict(sc).items() if k not in free},
        "train": resume_settings(base),
    }


def _sweep_locked(
    sc: SweepConfig,
    base: TrainConfig,
    name: str,
    sweep_dir: Path,
    storage: str,
    experiment_path: str,
    address: str | None,
) -> dict[str, Any]:
    from ray import tune

    from roboact.cluster import init_ray

    save_config(sc, sweep_dir, "sweep_config.yaml")
    save_config(base, sweep_dir, "base_train_config.yaml")

    data = load_fit_data(base.data.features, base.data.split)
    if base.data.split.startswith("heldout_"):
        data = heldout_recombination(data)
    resolve_model_config(base, data["attrs"], data["vocabs"])  # fail here, not inside every trial
    ray = init_ray(address)
    concurrent = sc.max_concurrent_trials
    if sc.check_resources:  # before any trial starts: one that cannot fit would stay pending forever
        from .tune_resources import check_trial_resources, trial_resources

        concurrent = check_trial_resources(trial_resources(sc), sc.max_concurrent_trials)
    shared = {
        "data": ray.put(data),
        "attrs": data["attrs"],
        "vocabs": data["vocabs"],
        "train_storage": f"{storage.rstrip('/')}/{name}/train_runs",
    }
    # Ray's view of the storage, built once here: a trial runs in a Ray worker, which gets the
    # raylet's environment, not this process's (a gs:// emulator or endpoint set here would be
    # unknown there), so the trials get their Train storage from it too
    storage_path, filesystem = _ray_storage(storage)
    storage_path = storage_path.rstrip("/")
    shared["train_ray_storage"] = (f"{storage_path}/{name}/train_runs", filesystem)
    max_reports = math.ceil(total_steps(base, len(data["train"]["action"])) / base.log_every)
    trainable = tune.with_resources(
        tune.with_parameters(_trial, base=config_to_dict(base), shared=shared),
        {"CPU": max(MIN_DRIVER_CPUS, sc.trial_driver_cpus)},
    )
    path = f"{storage_path}/{name}"  # experiment_path as Ray sees it
    if tune.Tuner.can_restore(path, storage_filesystem=filesystem):
        logger.info("resuming sweep %s from %s", name, experiment_path)
        tuner = tune.Tuner.restore(
            path, trainable=trainable, resume_errored=True, storage_filesystem=filesystem
        )
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=tune_space(sc.space),
            tune_config=tune.TuneConfig(
                metric=sc.metric,
                mode=sc.mode,
                search_alg=_searcher(sc, concurrent),
                scheduler=_scheduler(sc, max_reports),
                num_samples=sc.num_samples,
                max_concurrent_trials=concurrent,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage_path,
                storage_filesystem=filesystem,
                verbose=1 if log.verbose() else 0,
            ),
        )
    grid = tuner.fit()
    from .tune_report import write_sweep_outputs

    return write_sweep_outputs(grid, sc, base, sweep_dir, experiment_path, max_reports)
