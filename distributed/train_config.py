"""``TrainConfig``: everything a RoboAct-CLIP fit needs, as one typed, YAML-loadable dataclass.

The model part is a preset name (``models/model_configs/<name>.json``) plus a dict of field
overrides; the fields that describe the data (frame count, feature sizes, class counts, encoder)
are never written by hand: ``resolve_model_config`` reads them from the feature store, so a
config cannot disagree with the features it trains on.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from roboact.config import config_to_dict

# RoboActConfig fields that come from the feature store, never from the train config.
DATA_FIELDS = ("visual_dim", "text_dim", "n_frames", "encoder", "num_subjects", "num_actions", "num_objects")


@dataclass
class OptimConfig:
    """Optimizer, schedule and numerics of a fit."""

    lr: float = 3e-4
    """peak learning rate of AdamW"""
    weight_decay: float = 0.05
    """AdamW weight decay"""
    batch_size: int = 64
    """global batch size, split evenly across workers (so 1 and N workers see the same batches)"""
    epochs: int = 30
    """passes over the training split (ignored when max_steps > 0)"""
    max_steps: int = 0
    """total optimizer steps; 0 = epochs x steps per epoch"""
    warmup_steps: int = 0
    """linear warm-up steps from 0 to lr"""
    cosine: bool = True
    """cosine decay from lr to min_lr_ratio x lr after warm-up (False: constant)"""
    min_lr_ratio: float = 0.0
    """final learning rate as a fraction of lr"""
    grad_clip: float = 1.0
    """max global gradient norm; 0 disables clipping"""
    amp: bool = True
    """mixed precision (float16 autocast + GradScaler) on GPU; ignored on CPU"""

    def __post_init__(self) -> None:
        if (
            self.lr <= 0
            or self.batch_size < 1
            or self.epochs < 1
            or self.max_steps < 0
            or self.warmup_steps < 0
        ):
            raise ValueError(
                f"optim: need lr > 0, batch_size >= 1, epochs >= 1, max_steps >= 0, warmup_steps >= 0; got "
                f"lr={self.lr}, batch_size={self.batch_size}, epochs={self.epochs}, "
                f"max_steps={self.max_steps}, warmup_steps={self.warmup_steps}"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0 or self.grad_clip < 0:
            raise ValueError(
                f"optim: min_lr_ratio in [0, 1] and grad_clip >= 0, got {self.min_lr_ratio}, {self.grad_clip}"
            )


@dataclass
class DataConfig:
    """Which features to train on."""

    features: str = ""
    """path to the feature store (HDF5) written by ``roboact features extract``"""
    split: str = "random"
    """named split of the store: ``random`` or ``heldout_<Subject>`` (cross-embodiment)"""


NAME_AND_PLACE_SETTINGS = (
    "name",
    "runs_root",
    "storage_path",
    "tensorboard",
    "mlflow_uri",
    "max_failures",
    "step_sleep_s",
)
"""TrainConfig fields that name, place or pace a run but never change its weights"""


@dataclass
class TrainConfig:
    """A Ray Train fit of RoboAct-CLIP on frozen features (paper Sec. III-B, Eq. 27)."""

    name: str | None = None
    """run name: ``<runs_root>/<name>/`` and the Ray Train run name; same name = resume; None = timestamp"""
    runs_root: str = "runs"
    """parent of run directories (metrics, TensorBoard, exported model) on the driver's node"""
    model_preset: str = "roboact_base"
    """model preset name (models/model_configs) or JSON path"""
    model: dict[str, Any] = field(default_factory=dict)
    """RoboActConfig field overrides (loss weights, sizes, ablations); data fields come from the store"""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """optimizer and schedule"""
    data: DataConfig = field(default_factory=DataConfig)
    """feature store and split"""
    log_every: int = 10
    """steps between metric reports (train losses, validation accuracy)"""
    checkpoint_every: int = 50
    """steps between checkpoints (a final checkpoint is always written)"""
    keep_checkpoints: int = 2
    """checkpoints kept in storage (the most recent ones)"""
    max_failures: int = 2
    """worker-group restarts from the newest checkpoint (a dead worker or node) before the fit fails;
    -1 = no limit"""
    workers: int = 2
    """Ray Train workers (DDP ranks)"""
    use_gpu: bool = False
    """one GPU per worker (NCCL); CPU workers use gloo"""
    cpus_per_worker: float = 1.0
    """CPUs reserved per worker (fractions let Tune trials share small machines)"""
    seed: int = 0
    """seeds model init, shuffling and recombination sampling"""
    storage_path: str | None = None
    """where Ray writes checkpoints; shared (NFS) or object storage (s3://...) on a cluster;
    None = ``<run_dir>/ray_results`` (single node only)"""
    tensorboard: bool = True
    """write TensorBoard events to ``<run_dir>/tb``"""
    mlflow_uri: str | None = None
    """MLflow tracking URI; None = no MLflow"""
    step_sleep_s: float = 0.0
    """seconds to sleep after each step: only to make a tiny fit slow enough to interrupt in tests/demos"""

    def __post_init__(self) -> None:
        for name in ("log_every", "checkpoint_every", "keep_checkpoints", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_failures < -1:
            raise ValueError(
                f"TrainConfig.max_failures must be >= -1 (-1 = unlimited), got {self.max_failures}"
            )
        if self.cpus_per_worker < 0 or self.step_sleep_s < 0:
            raise ValueError("TrainConfig.cpus_per_worker and step_sleep_s must be >= 0")
        fixed = sorted(set(self.model) & set(DATA_FIELDS))
        if fixed:
            raise ValueError(
                f"TrainConfig.model sets {fixed}: these come from the feature store (extract features with "
                "another frame count/encoder instead)"
            )

    def fingerprint(self) -> str:
        """Hash of everything that changes the result (not name, paths or logging)."""
        data = config_to_dict(self)
        for key in NAME_AND_PLACE_SETTINGS:
            data.pop(key)
        return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_model_config(cfg: TrainConfig, attrs: dict[str, Any], vocabs: dict[str, list[str]]) -> Any:
    """The ``RoboActConfig`` of a fit: preset, then ``cfg.model`` overrides, then the store's data fields."""
    from roboact.models.configuration_roboact import load_model_config

    data = {
        "visual_dim": int(attrs["visual_dim"]),
        "text_dim": int(attrs["text_dim"]),
        "n_frames": int(attrs["n_frames"]),
        "encoder": str(attrs["encoder"]),
        "num_subjects": len(vocabs["subject"]),
        "num_actions": len(vocabs["action"]),
        "num_objects": len(vocabs["object"]),
    }
    try:
        return load_model_config(cfg.model_preset, **{**dict(cfg.model), **data})
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(
            f"model config (preset {cfg.model_preset!r}, overrides {dict(cfg.model)}): {err}"
        ) from err


def steps_per_epoch(n_train: int, batch_size: int, workers: int) -> int:
    """Batches each rank sees per epoch (a DistributedSampler pads ranks to equal length)."""
    per_rank = math.ceil(n_train / workers)
    return max(1, math.ceil(per_rank / max(1, batch_size // workers)))


def total_steps(cfg: TrainConfig, n_train: int) -> int:
    return cfg.optim.max_steps or cfg.optim.epochs * steps_per_epoch(
        n_train, cfg.optim.batch_size, cfg.workers
    )


def lr_at(step: int, optim: OptimConfig, total: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` (or constant)."""
    if optim.warmup_steps and step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    if not optim.cosine:
        return optim.lr
    span = max(1, total - optim.warmup_steps)
    progress = min(1.0, (step - optim.warmup_steps) / span)
    floor = optim.min_lr_ratio * optim.lr
    return floor + (optim.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class TrainJobConfig(TrainConfig):
    """``roboact train``: a fit (every ``TrainConfig`` key) and where it runs.

    Why a subclass: the fit saves and fingerprints only its ``TrainConfig`` part, so where it ran
    never decides whether a rerun may resume it."""

    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    shared_fs: bool = False
    """local paths lie on a filesystem every node mounts (else refused on a multi-node cluster)"""
