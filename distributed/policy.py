"""Policy heads on frozen features, trained with RLlib's BC (new API stack) from demonstrations.

Paper Sec. III-C / Fig. 2: the visual encoder stays frozen and the robot state is concatenated with
its features as the input of a lightweight policy; Sec. IV-B compares encoders "with the same
downstream policy". Here that policy is ``PolicyHeadModule`` (``policy_module.py``) and the encoder
is a feature spec (``policy_features.py``): ``roboact:<dir>`` (RoboAct-CLIP, and A1-A5 as their
checkpoints), ``embedded`` / ``open_clip:...`` (frame features only: the CLIP row, A6).

Pipeline of ``train_policy``: demos (HDF5) -> cached features -> normalised parquet rows ->
``BCConfig`` builder chain -> ``algo.train()`` per gradient update -> checkpoint directory::

    <out>/policy.json          feature spec, image size, normalisation, action bounds, tasks,
                               module config, training summary, package versions
    <out>/rl_module/           the RLModule checkpoint (RLModule.from_checkpoint(<out>/rl_module))
    <out>/offline_data/        the RLlib offline data the head was trained on (parquet)
    <out>/feature_cache/       per (demo file, spec) features (HDF5), reused by reruns
    <out>/tb/                  TensorBoard scalars (train/bc_loss)

Inference lives in ``roboact.policies``: ``load_checkpoint(<out>)`` needs only ``policy.json`` and
``rl_module/`` (plus the RoboAct-CLIP model
directory named by a ``roboact:`` spec): it re-creates the encoder from its spec.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from roboact.policies.checkpoint import (
    DEFAULT_CAMERA,
    META_NAME,
    MODULE_DIR,
    MODULE_ID,
    POLICY_FORMAT,
    SHARED,
    load_checkpoint,
    read_policy_meta,
)

from roboact.runs import locked_output

load_policy = load_checkpoint
"""the inference loader (``roboact.policies``), also reachable from the trainer for scripts"""
__all__ = ["PolicyTrainConfig", "load_policy", "read_policy_meta", "train_policy"]

logger = logging.getLogger(__name__)

HEAD_MODES = ("per_task", "shared")


@dataclass
class PolicyTrainConfig:
    """BC training of one policy head (``tune_configs/policy_default.yaml``)."""

    features: str = "embedded"
    """feature spec: embedded | open_clip:<arch>:<ckpt> | roboact:<model_dir>, options @k=..,stride=.."""
    iterations: int = 8000
    """RLlib training iterations; each is one minibatch gradient update of BC on the local learner.
    Why 8000: 500 underfits (Kitchen door head's action std ~0.23 of the range; door 0/10), 3000
    gave door 2/10, 8000 door 9/10 and micro 6/10 (docs/policy.md); about 2 min per Kitchen head"""
    batch_size: int = 256
    """steps per minibatch (RLlib train_batch_size_per_learner)"""
    lr: float = 1e-3
    """Adam learning rate"""
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])
    """MLP widths (R3M's protocol: 256x256)"""
    activation: str = "relu"
    """relu | gelu | tanh | silu"""
    layer_norm: bool = True
    """LayerNorm after each hidden linear layer"""
    image_size: int = 128
    """encoder input size (pixels); recorded in the checkpoint"""
    only_success: bool = True
    """train on successful demos only"""
    encode_batch: int = 32
    """images per encoder forward pass while extracting features"""
    seed: int = 0
    """torch/numpy seed of the learner"""
    log_every: int = 50
    """iterations between progress log lines and TensorBoard points"""
    chunk: int = 1
    """actions predicted per step (ACT's action chunk); > 1 runs them with temporal ensembling"""
    ensemble_decay: float = 0.01
    """temporal ensembling weight exp(-decay * i), i = 0 for the oldest prediction (ACT's m)"""
    heads: str = "per_task"
    """per_task: one head per task, picked by the task name at run time (R3M's and CortexBench's
    protocol); shared: one head for every task with a task one-hot in its input (needed for the
    zero-shot T5/T6 rows, which have no head of their own)"""
    std_floor: float = 0.1
    """each input block's (features, state) stds are floored at this times the block's mean std,
    so almost-constant dimensions of a few similar demos are not blown up at run time"""
    obs_clip: float | None = 5.0
    """standardised inputs are clipped to +-obs_clip (null: no clip)"""
    num_learners: int = 0
    """0: BC's gradient updates run in this process (no extra reservation; fastest on a small machine);
    >= 1: that many remote learner actors (RLlib's LearnerGroup, DDP when > 1), each reading its own
    share of the offline data and taking a minibatch of batch_size per iteration, so the global batch
    is num_learners x batch_size. On a cluster they land wherever their resources are free"""
    bc_threads: int = 1
    """torch threads of BC's local learner (``num_learners = 0``), set for BC only (feature
    extraction keeps torch's default). Why 1: a head's MLP is small, and two threads per process
    thrash when anything else runs: a Kitchen head's BC iteration took 294 ms with 2 threads and
    91 ms with 1 while another BC ran beside it (``benchmarks/bench_bc_threads.py``)"""
    cpus_per_learner: float = 1.0
    """CPUs reserved by each remote learner actor (num_learners >= 1)"""
    gpus_per_learner: float = 0.0
    """GPUs per learner (remote ones, or the local learner when num_learners = 0)"""
    cameras: list[str] = field(default_factory=lambda: [DEFAULT_CAMERA])
    """demo cameras the head sees, features concatenated in this order; the first is the agent view
    (``obs/agentview_rgb``), others are ``obs/<name>_rgb`` (LIBERO's wrist view:
    ``robot0_eye_in_hand``, recorded with ``roboact sim demos --cameras``)"""

    shuffle_rows: bool = True
    """draw each BC minibatch from the head's rows reshuffled every epoch (Ray Data's
    ``local_shuffle_buffer_size`` = the head's row count; epoch e seeded with ``seed + e``, so a
    rerun repeats the training). Why: RLlib's offline reader otherwise hands the learner the same
    ~rows/batch_size minibatches of *consecutive* rows (2-3 episodes each), in the same order every
    epoch. Kitchen door, 20 demos, same 20 episodes: with frame history (``embedded@k=3,stride=4``)
    RLlib's order scored 0/20 and 20/20 (BC seeds 0, 1), reshuffled rows 20/20 on both; micro
    16/20 against the old defaults' 5/20 (docs/results.md, "Kitchen door: a screen of head
    variants (session 10)"). False: RLlib's own order"""

    def __post_init__(self) -> None:
        self.cameras = list(self.cameras)
        self._check_cameras()
        if self.chunk < 1:
            raise ValueError(f"PolicyTrainConfig.chunk must be >= 1, got {self.chunk}")
        if self.num_learners < 0 or self.cpus_per_learner < 0 or self.gpus_per_learner < 0:
            raise ValueError(
                "PolicyTrainConfig.num_learners, cpus_per_learner and gpus_per_learner must be >= 0, got "
                f"{self.num_learners}, {self.cpus_per_learner}, {self.gpus_per_learner}"
            )
        if self.heads not in HEAD_MODES:
            raise ValueError(f"PolicyTrainConfig.heads must be one of {HEAD_MODES}, got {self.heads!r}")
        if self.std_floor < 0:
            raise ValueError(f"PolicyTrainConfig.std_floor must be >= 0, got {self.std_floor}")
        if self.obs_clip is not None and not self.obs_clip > 0:
            raise ValueError(f"PolicyTrainConfig.obs_clip must be > 0 or null, got {self.obs_clip}")
        if self.ensemble_decay < 0:
            raise ValueError(f"PolicyTrainConfig.ensemble_decay must be >= 0, got {self.ensemble_decay}")
        if self.bc_threads < 1:
            raise ValueError(f"PolicyTrainConfig.bc_threads must be >= 1, got {self.bc_threads}")
        if self.iterations < 1:
            raise ValueError(f"PolicyTrainConfig.iterations must be >= 1, got {self.iterations}")
        if self.batch_size < 1:
            raise ValueError(f"PolicyTrainConfig.batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"PolicyTrainConfig.lr must be > 0, got {self.lr}")
        if not self.hidden_sizes or any(int(h) < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"PolicyTrainConfig.hidden_sizes must be positive widths, got {self.hidden_sizes}"
            )
        if self.image_size < 16:
            raise ValueError(f"PolicyTrainConfig.image_size must be >= 16, got {self.image_size}")

    def _check_cameras(self) -> None:
        cams = self.cameras
        if not cams or cams[0] != DEFAULT_CAMERA or len(set(cams)) != len(cams):
            raise ValueError(
                f"PolicyTrainConfig.cameras must be distinct and start with {DEFAULT_CAMERA!r}, got {cams}"
            )

    @property
    def model_config(self) -> dict[str, Any]:
        return {
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "layer_norm": self.layer_norm,
        }


# ---------------------------------------------------------------------------------------------
# training
def train_policy(
    demos: Path | str | list[Path | str],
    features: str,
    out: Path | str,
    iterations: int | None = None,
    batch_size: int | None = None,
    address: str | None = None,
    tasks: list[str] | None = None,
    config: PolicyTrainConfig | None = None,
    shared_fs: bool = False,
) -> dict[str, Any]:
    """Train a BC policy head on ``features`` of ``demos`` and write a checkpoint directory ``out``.

    ``out`` and each demo file may be a local path or an ``s3://`` / ``gs://`` URI. Why a remote
    ``out`` is trained in a node-local folder and mirrored: RLlib, TensorBoard and the feature cache
    write through the local filesystem. The folder is uploaded after each run, also after an error,
    so the heads that finished are in the bucket and a rerun on any node resumes from them (a fresh
    node first downloads the bucket's copy). Remote demo files are staged once per node.

    Why BC reads its offline data from ``out``'s bucket when ``out`` is a URI: Ray Data's read tasks
    run on any node of the cluster (spread by default), where a driver's local parquet folder does
    not exist. So each head's parquet files are uploaded before its BC starts and read from there.
    For the same reason a local ``out`` is refused on a multi-node cluster unless ``shared_fs``.

    Args:
        demos: one or more demo HDF5 files (layout in ``policy_data.py``).
        features: feature spec (see ``roboact/policies/features.py``); overrides ``config.features``.
        out: checkpoint directory (created; features cached there are reused, and heads an earlier
            run into ``out`` finished with the same settings are kept, the rest replaced).
        iterations, batch_size: override the config's values (None: keep them; default 8000 and 256).
        address: Ray cluster address (None: the running/local instance, or ``RAY_ADDRESS``).
        tasks: train only on demos of these tasks (default: every task in the files).
        config: the remaining settings (defaults: ``PolicyTrainConfig()``).
        shared_fs: a local ``out`` lies on a filesystem every node mounts (``--shared-fs``).

    Returns:
        The training summary (also in ``policy.json``): ``final_loss``, ``first_loss``, ``iterations``,
        ``steps`` (demo steps), ``episodes``, ``seconds`` and per-phase timings.
    """
    from roboact import storage
    from roboact.cluster import require_shared_paths

    require_shared_paths({"--out": str(out)}, address, shared_fs)  # BC's read tasks run on any node
    files = demos if isinstance(demos, list | tuple) else [demos]
    local_demos: list[Path | str] = [storage.local_copy(p) if storage.is_remote(p) else p for p in files]

    def train_into(directory: Path | str, data_uri: str | None = None) -> dict[str, Any]:
        return _train_policy_local(
            local_demos, features, directory, iterations, batch_size, address, tasks, config,
            sources=[str(p) for p in files],  # a staged copy's path differs per node: record URIs
            data_uri=data_uri,
        )  # fmt: skip

    if not storage.is_remote(out):
        return train_into(out)
    local = storage.local_root(str(out))  # this node's working copy of the bucket's directory
    with storage.mirrored_dir(local, str(out)):
        summary = train_into(local, data_uri=storage.join(str(out), OFFLINE_DIR))
    # An upload adds and replaces files but removes none: drop the finished run's head records
    # there too, so a rerun on any node retrains a finished checkpoint, as it does locally.
    records = storage.join(str(out), DONE_DIR)
    if storage.exists(records):
        fs, path = storage.filesystem(records)
        fs.rm(path, recursive=True)
    return summary


@locked_output("out")  # two trainings into one directory would delete each other's heads
def _train_policy_local(
    demos: Path | str | list[Path | str],
    features: str,
    out: Path | str,
    iterations: int | None = None,
    batch_size: int | None = None,
    address: str | None = None,
    tasks: list[str] | None = None,
    config: PolicyTrainConfig | None = None,
    sources: list[str] | None = None,
    data_uri: str | None = None,
) -> dict[str, Any]:
    """``train_policy`` into a local directory ``out`` (its docstring says the rest); ``sources``
    are the demo files as given (URIs of staged copies); ``data_uri``: where BC reads the offline
    data from (``<out URI>/offline_data``; None: the local folder)."""
    import dataclasses
    import shutil

    from roboact.policies.features import FeatureExtractor, FeatureSpec

    from .policy_data import demo_features, fit_normaliser, read_demos, write_offline_data

    cfg = config or PolicyTrainConfig()
    cfg = dataclasses.replace(
        cfg,
        features=features,
        iterations=cfg.iterations if iterations is None else iterations,
        batch_size=cfg.batch_size if batch_size is None else batch_size,
    )
    t_start = time.perf_counter()
    out = Path(out).resolve()  # RLlib saves modules by URI: a relative path has no scheme
    paths = [Path(p) for p in (demos if isinstance(demos, list | tuple) else [demos])]
    spec = FeatureSpec.parse(cfg.features)
    settings = _head_settings(cfg, paths, tasks, sources)  # before reading: a file appended to later retrains
    demo_set = read_demos(paths, tasks=tasks, only_success=cfg.only_success)
    out.mkdir(parents=True, exist_ok=True)

    extractor = FeatureExtractor(spec, image_size=cfg.image_size, batch_size=cfg.encode_batch)
    feats = demo_features(demo_set, extractor, out / "feature_cache", cameras=cfg.cameras)
    feature_dim = extractor.dim * len(cfg.cameras)
    t_feats = time.perf_counter()
    act_dim = int(demo_set.demos[0].actions.shape[1])
    state_dim = int(demo_set.demos[0].states.shape[1])
    groups = _head_groups(demo_set, cfg.heads)
    finished = _finished_heads(out, groups, settings)
    heads: dict[str, Any] = {}
    losses: list[float] = []
    rows = 0
    resumed_bc_s = 0.0  # BC time the interrupted run spent on the heads kept
    for name, subset in groups.items():
        sub = "" if name == SHARED else name
        if name in finished:  # trained by an earlier run with these settings: nothing to redo
            heads[name], head_losses = finished[name]["entry"], finished[name]["losses"]
            logger.info("head %s: already trained (%s); skipping", name, _done_path(out, name))
            losses = head_losses if not losses else [a + b for a, b in zip(losses, head_losses, strict=True)]
            rows += int(heads[name]["steps"])
            resumed_bc_s += float(finished[name].get("bc_seconds", 0.0))
            continue
        norm = fit_normaliser(subset, feats, std_floor=cfg.std_floor, obs_clip=cfg.obs_clip)
        n_rows = write_offline_data(subset, feats, norm, out / OFFLINE_DIR / sub, chunk=cfg.chunk)
        data = _readable_by_every_node(out / OFFLINE_DIR / sub, data_uri, sub)
        obs_dim = feature_dim + state_dim + (len(norm.tasks) if len(norm.tasks) > 1 else 0)
        if len(groups) > 1:
            logger.info("head %s: %d demos, %d steps", name, len(subset.demos), n_rows)
        t_head = time.perf_counter()
        head_losses = _run_bc(
            cfg, data, out / MODULE_DIR / sub, out / "tb" / sub,
            obs_dim, act_dim * cfg.chunk, address, n_rows,
        )  # fmt: skip
        heads[name] = {
            "module_dir": str(Path(MODULE_DIR) / sub) if sub else MODULE_DIR,
            "obs_dim": int(obs_dim),
            "normalisation": norm.to_json(),
            "episodes": len(subset.demos),
            "steps": n_rows,
            "first_loss": head_losses[0],
            "final_loss": head_losses[-1],
        }
        _save_done(out, name, heads[name], head_losses, settings, time.perf_counter() - t_head)
        losses = head_losses if not losses else [a + b for a, b in zip(losses, head_losses, strict=True)]
        rows += n_rows
    losses = [v / len(groups) for v in losses]  # the mean over heads
    t_end = time.perf_counter()
    summary = {
        "final_loss": losses[-1],
        "first_loss": losses[0],
        "iterations": len(losses),
        "batch_size": cfg.batch_size,
        "heads": len(groups),
        "steps": rows,
        "episodes": len(demo_set.demos),
        "skipped": demo_set.skipped,
        "seconds": round(t_end - t_start, 2),
        "feature_seconds": round(t_feats - t_start, 2),
        "bc_seconds": round(t_end - t_feats, 2),
        "resumed_heads": sorted(finished),
        "resumed_bc_seconds": round(resumed_bc_s, 2),
        "loss_curve": losses[:: max(1, len(losses) // 100)],
    }
    from roboact.runs import package_versions

    meta = {
        "format": POLICY_FORMAT,
        "features": spec.text,
        "feature_dim": feature_dim,
        "cameras": list(cfg.cameras),
        "image_size": cfg.image_size,
        "state_dim": state_dim,
        "action_dim": act_dim,
        "chunk": int(cfg.chunk),
        "ensemble_decay": float(cfg.ensemble_decay),
        "suite": demo_set.suite,
        "tasks": list(demo_set.tasks),
        "heads": heads,
        "model_config": cfg.model_config,
        "train_config": dataclasses.asdict(cfg),
        "demos": [{"file": p.name} for p in paths],
        "training": summary,
        "versions": package_versions(),
    }
    (out / META_NAME).write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out / DONE_DIR, ignore_errors=True)  # finished: a rerun trains afresh, as before
    logger.info(
        "policy (%d head%s) written to %s: BC loss %.4f -> %.4f in %.1f s",
        len(groups),
        "s" if len(groups) > 1 else "",
        out,
        losses[0],
        losses[-1],
        summary["seconds"],
    )
    return summary


DONE_DIR = "heads_done"
OFFLINE_DIR = "offline_data"


def _readable_by_every_node(local: Path, data_uri: str | None, sub: str) -> str:
    """Where BC's read tasks find a head's parquet files: ``local`` itself, or (with ``data_uri``)
    its copy in the bucket, which replaces whatever an earlier run left there (an upload removes no
    file, and a stale part would be read as a demo)."""
    if data_uri is None:
        return str(local)
    from roboact import storage

    uri = storage.join(data_uri, sub) if sub else data_uri
    if storage.exists(uri):
        fs, path = storage.filesystem(uri)
        fs.rm(path, recursive=True)
    return storage.upload(local, uri)


def _done_path(out: Path, name: str) -> Path:
    return out / DONE_DIR / f"{'shared' if name == SHARED else name}.json"


def _head_settings(
    cfg: PolicyTrainConfig, paths: list[Path], tasks: list[str] | None, sources: list[str] | None = None
) -> dict[str, Any]:
    """What decides a head's weights: the config (less its logging interval; ``num_learners`` stays,
    it sets the global batch) and the demo files as read (path, size, modification time), so an
    edited demo file retrains. A demo file staged from a bucket is recorded by its URI and remote
    version instead: the staged copy's path and mtime differ on every node."""
    import dataclasses

    from roboact import storage

    train = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "log_every"}
    files: list[dict[str, Any]] = []
    for p, source in zip(paths, sources or [None] * len(paths), strict=True):
        if source is not None and storage.is_remote(source):
            files.append({"file": source, "version": storage.remote_version(source)})
            continue
        st = p.resolve().stat()
        files.append({"file": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {"train": train, "demos": files, "tasks": sorted(tasks) if tasks else None}


def _finished_heads(out: Path, groups: dict[str, Any], settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Heads an interrupted earlier run finished with the same settings; everything else is removed.

    Why per head: a Kitchen checkpoint is five 8000-iteration heads (minutes each idle, an hour on a
    loaded machine); a run stopped in the fifth keeps the first four. A head counts as finished
    only when its record (written after its module was saved) matches ``settings`` and its module
    directory is there. The old ``policy.json`` goes too: until the run ends, the directory is not a
    checkpoint.
    """
    import shutil

    from roboact.runs import settings_diff

    finished: dict[str, dict[str, Any]] = {}
    for name in groups:
        path = _done_path(out, name)
        sub = "" if name == SHARED else name
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        saved = record.get("settings", {})
        same = saved.keys() == settings.keys() and not settings_diff(saved, settings)
        module = out / MODULE_DIR / sub
        if same and module.is_dir() and any(module.iterdir()):
            finished[name] = record
    (out / META_NAME).unlink(missing_ok=True)
    keep = {"" if n == SHARED else n for n in finished}
    module_root, data_root = out / MODULE_DIR, out / OFFLINE_DIR
    if "" in keep:  # one head: its module is the whole rl_module/ directory
        return finished
    for root in (module_root, data_root):
        if root.is_dir() and not keep:
            shutil.rmtree(root)
        elif root.is_dir():
            for child in root.iterdir():
                if child.name not in keep:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
    done_dir = out / DONE_DIR
    if done_dir.is_dir():
        kept_records = {_done_path(out, n) for n in finished}
        for record in done_dir.iterdir():
            if record not in kept_records:
                record.unlink()
    return finished


def _save_done(
    out: Path, name: str, entry: dict[str, Any], losses: list[float], settings: dict[str, Any], bc_s: float
) -> None:
    """Mark a head finished (after its module is saved), for ``_finished_heads`` on a rerun of an
    interrupted run (the records go once ``policy.json`` is written)."""
    from roboact.runs import atomic_write_text

    path = _done_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"settings": settings, "entry": entry, "losses": [float(v) for v in losses], "bc_seconds": bc_s}
    atomic_write_text(path, json.dumps(record, default=str))


def _head_groups(demo_set: Any, mode: str) -> dict[str, Any]:
    """The demos each head trains on: one group per task, or every demo under ``SHARED``."""
    from .policy_data import DemoSet

    if mode == "shared" or len(demo_set.tasks) == 1:
        key = SHARED if mode == "shared" else demo_set.tasks[0]
        return {key: demo_set}
    return {
        task: DemoSet([d for d in demo_set.demos if d.task == task], [task], demo_set.suite, demo_set.skipped)
        for task in demo_set.tasks
    }


def _run_bc(
    cfg: PolicyTrainConfig,
    data_dir: str | Path,
    module_dir: Path,
    tb_dir: Path,
    obs_dim: int,
    act_dim: int,
    address: str | None,
    rows: int,
) -> list[float]:
    """RLlib BC on the ``rows`` parquet rows in ``data_dir`` (a folder or an ``s3://`` / ``gs://``
    URI); saves the module to ``module_dir``; returns the loss per iteration."""
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from roboact.cluster import init_ray

    init_ray(address)
    torch.manual_seed(cfg.seed)
    bc, spec = _bc_config(cfg, data_dir, obs_dim, act_dim, rows)
    algo = bc.build_algo()  # RLlib's own logdir is an empty folder under ~/ray_results
    losses: list[float] = []
    writer = SummaryWriter(str(tb_dir))
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.bc_threads)
    try:
        for it in tqdm(range(cfg.iterations), desc="BC", unit="it", disable=None):
            result = algo.train()
            loss = float(result["learners"][MODULE_ID]["policy_loss"])
            if not np.isfinite(loss):
                raise RuntimeError(f"BC loss became {loss} at iteration {it} (lr={cfg.lr}); try a smaller lr")
            losses.append(loss)
            if it % cfg.log_every == 0 or it == cfg.iterations - 1:
                writer.add_scalar("train/bc_loss", loss, it)
                logger.info("BC iteration %d: loss %.4f", it, loss)
        _save_module(algo, spec, module_dir)
    finally:
        torch.set_num_threads(threads)
        writer.close()
        algo.stop()
    return losses


def _bc_config(
    cfg: PolicyTrainConfig, data_dir: str | Path, obs_dim: int, act_dim: int, rows: int
) -> tuple[Any, Any]:
    """RLlib's ``BCConfig`` for the parquet rows in ``data_dir`` (a folder or a URI) and the module
    spec it trains.

    With ``cfg.shuffle_rows`` Ray Data's local shuffle buffer holds all ``rows`` rows, so every
    epoch is a fresh uniform permutation and each minibatch mixes the head's episodes (without it a
    minibatch is a run of consecutive rows, the same ones every epoch: see ``shuffle_rows``).
    """
    import gymnasium as gym
    from ray.rllib.algorithms.bc import BCConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from roboact.policies.module import PolicyHeadModule

    from .policy_offline import SeededShuffleOfflineData

    obs_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    act_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)  # actions are scaled to [-1, 1]
    spec = RLModuleSpec(
        module_class=PolicyHeadModule,
        observation_space=obs_space,
        action_space=act_space,
        model_config=cfg.model_config,
    )
    shuffle = {"local_shuffle_buffer_size": max(1, int(rows))} if cfg.shuffle_rows else {}
    source, filesystem = _offline_source(data_dir)
    bc = (
        BCConfig()
        .environment(observation_space=obs_space, action_space=act_space)
        .env_runners(num_env_runners=0)
        .learners(**_learner_resources(cfg))
        .rl_module(rl_module_spec=spec)
        .training(lr=cfg.lr, train_batch_size_per_learner=cfg.batch_size)
        .offline_data(
            input_=[source],
            input_read_method="read_parquet",
            input_filesystem=filesystem,
            ignore_final_observation=True,  # BC needs no next observation
            dataset_num_iters_per_learner=1,  # one minibatch per learner per iteration (1: local learner)
            # Without these the OfflinePreLearner map actors ask for a full CPU each (concurrency 2)
            # and starve the learner on 2 CPUs (FACTS: the deadlock).
            map_batches_kwargs={"concurrency": 1, "num_cpus": 0.5},
            iter_batches_kwargs={"prefetch_batches": 1, **shuffle},
            offline_data_class=SeededShuffleOfflineData,  # epoch e shuffled with seed + e
        )
        .reporting(min_time_s_per_iteration=0, min_sample_timesteps_per_iteration=0)
        .debugging(seed=cfg.seed)
    )
    return bc, spec


def _offline_source(data_dir: str | Path) -> tuple[str, Any]:
    """``(path, pyarrow filesystem or None)`` for RLlib's offline reader: a URI is read through a
    filesystem that carries the driver's storage settings to read tasks on every node
    (``storage.arrow_filesystem``)."""
    from roboact import storage

    if not storage.is_remote(data_dir):
        return str(Path(data_dir).resolve()), None  # RLlib reads by URI: a relative path has no scheme
    return storage.arrow_filesystem(data_dir)


# What Ray Data's offline reading holds beside the learners: the OfflinePreLearner map actor (0.5 CPU,
# set in _run_bc) and its ListFiles/ReadFiles tasks (1 CPU each; Ray 2.60 gives ListFiles no setting).
DATA_CPUS = 0.5 + 1.0


def _learner_resources(cfg: PolicyTrainConfig) -> dict[str, Any]:
    """``BCConfig.learners`` settings: the local learner (no reservation) or remote learner actors.

    Raises:
        UserError: remote learners and Ray Data's reading need more CPUs than the cluster has. Why
            check: the learners are placed first, and a read task that can never get its CPU leaves
            BC waiting forever with no error (seen on 2 CPUs with one 1-CPU learner).
    """
    if cfg.num_learners == 0:
        return {"num_learners": 0, "num_gpus_per_learner": cfg.gpus_per_learner}
    import ray

    have = ray.cluster_resources().get("CPU", 0.0) if ray.is_initialized() else float("inf")
    need = cfg.num_learners * cfg.cpus_per_learner + DATA_CPUS
    if need > have:
        from roboact.errors import UserError

        raise UserError(
            f"policy train: num_learners={cfg.num_learners} x cpus_per_learner={cfg.cpus_per_learner:g} "
            f"plus {DATA_CPUS:g} CPUs for reading the offline data need {need:g} CPUs, this Ray cluster has "
            f"{have:g}; lower cpus_per_learner or num_learners, or use num_learners=0 (learn in this process)"
        )
    return {
        "num_learners": cfg.num_learners,
        "num_cpus_per_learner": cfg.cpus_per_learner,
        "num_gpus_per_learner": cfg.gpus_per_learner,
    }


def _save_module(algo: Any, spec: Any, module_dir: Path) -> None:
    """Write the trained module to ``module_dir`` from this process.

    Why not ``learner.module.save_to_path`` on the learner: a remote learner may run on another node,
    whose disk the checkpoint directory is not on (and with several learners each would write the
    same folder). The weights come back through Ray instead and a module built from the same spec
    saves them here; with the local learner this is the same module's state.
    """
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    path = f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}/{MODULE_ID}"
    state = algo.learner_group.get_state(components=path)[COMPONENT_LEARNER][COMPONENT_RL_MODULE][MODULE_ID]
    module = spec.build()
    module.set_state(state)
    module.save_to_path(str(module_dir))
