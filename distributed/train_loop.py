"""The per-worker Ray Train loop of a RoboAct-CLIP fit, and its plain-torch pieces.

``train_loop_per_worker`` is what every DDP rank runs (Ray's pattern: plain PyTorch, with
``prepare_model`` adding DDP and ``ray.train.report`` closing each interval). Everything else here is
plain torch so the benchmark and tests can run the same step without Ray.

Checkpoint directory (one per ``checkpoint_every`` steps, written by rank 0, uploaded by Ray to
``storage_path``)::

    model/                 RoboActCLIP.save_pretrained output (config.json, model.safetensors);
                           the feature banks (Eq. 15-17) are buffers inside it
    train_state.pt         optimizer and GradScaler state, step, epoch (torch.save, weights_only-loadable)
    train_config.json      the TrainConfig of the run

A checkpoint is written whole into a temporary directory and handed to Ray, which registers it
only once its upload finished, so ``ray.train.get_checkpoint()`` never names a half-written one. A
registered checkpoint can still become unreadable later (a truncated file on a full disk): resume
then falls back to the newest readable one (``restore_newest_readable``), logging each skipped
checkpoint and why, and reports their count as ``resume_skipped``.

Every rank calls ``ray.train.report`` at the same steps (it is a barrier); all ranks report their
PID, node and a digest of their feature banks, so the driver can see that banks stay identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from roboact.config import config_from_dict
from roboact.constants import FACTORS, acc_metric

from .fit_data import ARRAY_KEYS
from .train_config import TrainConfig, lr_at, total_steps

logger = logging.getLogger(__name__)

MODEL_SUBDIR = "model"
STATE_FILE = "train_state.pt"


# --------------------------------------------------------------------------------------------------
# plain torch pieces
def build_model(model_cfg: dict[str, Any], data: dict[str, Any]) -> Any:
    """RoboActCLIP with its recombination targets (Eq. 18-19) and class-name texts set from ``data``."""
    from roboact.models.configuration_roboact import RoboActConfig
    from roboact.models.modeling_roboact import RoboActCLIP

    model = RoboActCLIP(RoboActConfig.from_dict(model_cfg))
    cfg = model.config
    if cfg.use_disentanglement and cfg.use_recombination and len(data["recomb_triplets"]):
        model.set_recombination_targets(
            torch.tensor(np.array(data["recomb_triplets"]), dtype=torch.long),
            torch.tensor(np.array(data["recomb_text"])),
        )
    model.set_class_text_features({f: torch.tensor(np.array(data["class_text"][f])) for f in FACTORS})
    return model


def tensors(arrays: dict[str, np.ndarray]) -> TensorDataset:
    """A TensorDataset in ``ARRAY_KEYS`` order."""
    return TensorDataset(*(torch.tensor(np.array(arrays[k])) for k in ARRAY_KEYS))


def make_loader(
    arrays: dict[str, np.ndarray], batch_size: int, rank: int, world: int, seed: int
) -> tuple[DataLoader, DistributedSampler]:
    """This rank's shard: a seeded DistributedSampler, so a resumed epoch replays the same order."""
    dataset = tensors(arrays)
    sampler = DistributedSampler(
        dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False
    )
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler), sampler


def as_batch(row: list[torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in zip(ARRAY_KEYS, row, strict=True)}


class StepRunner:
    """One optimizer step of Eq. 27 with schedule, clipping and (GPU) mixed precision."""

    def __init__(
        self, model: Any, forward_fn: Any, cfg: TrainConfig, total: int, device: torch.device
    ) -> None:
        self.model, self.forward_fn, self.cfg, self.total, self.device = model, forward_fn, cfg, total, device
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        self.amp = bool(cfg.optim.amp and device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)

    def step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        lr = lr_at(step, self.cfg.optim, self.total)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            losses = self.model.compute_loss(batch, step=step, forward_fn=self.forward_fn)  # Eq. (27) + banks
        if not torch.isfinite(losses["loss"]):
            # Stop before the step: the weights (and so any checkpoint) stay finite.
            bad = sorted(k for k, v in losses.items() if not torch.isfinite(v.detach()).all())
            raise FloatingPointError(
                f"non-finite loss at step {step} (terms {bad}, lr {lr:.3g}); the weights were not "
                "updated; check the features for NaN/inf or lower optim.lr"
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        grad_norm = float("nan")
        if self.cfg.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["lr"], out["grad_norm"] = lr, grad_norm
        return out


@torch.no_grad()
def evaluate_arrays(
    model: Any,
    arrays: dict[str, np.ndarray],
    device: torch.device,
    rank: int = 0,
    world: int = 1,
    batch_size: int = 256,
) -> dict[str, float]:
    """Top-1 accuracy per factor from the auxiliary heads and by text matching, over this rank's
    strided shard, summed across ranks (so every rank returns the same numbers).

    Per-clip correctness comes from ``models.metrics.correct``, the function the evaluation's
    accuracies and intervals use; only the sum across DDP ranks is done here.
    """
    from roboact.models.metrics import SOURCES, correct

    idx = np.arange(len(arrays["action"]))[rank::world]
    hits = torch.zeros(len(FACTORS), len(SOURCES), dtype=torch.float64)
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        preds = model.predict(torch.as_tensor(arrays["frame_feats"][rows]).to(device))
        for i, f in enumerate(FACTORS):
            for j, source in enumerate(SOURCES):
                if source in preds[f]:
                    hits[i, j] += float(correct(preds[f][source], np.asarray(arrays[f][rows])).sum())
    hits = hits.to(device)
    count = torch.tensor([float(len(idx))], dtype=torch.float64, device=device)
    if world > 1 and dist.is_available() and dist.is_initialized():
        dist.all_reduce(hits)
        dist.all_reduce(count)
    n = max(1.0, float(count))
    out: dict[str, float] = {}
    for i, f in enumerate(FACTORS):
        if model.config.use_aux:
            out[acc_metric("val", f)] = float(hits[i, 0]) / n
        if model.has_class_text:
            out[acc_metric("val", f, "text")] = float(hits[i, 1]) / n
    return out


def bank_digest(model: Any) -> str:
    """SHA-1 of the three feature banks (Eq. 15-17); equal digests = identical banks."""
    digest = hashlib.sha1()
    for f in FACTORS:
        bank = getattr(model, f"bank_{f}", None)
        if bank is not None:
            digest.update(bank.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(
    directory: Path, model: Any, runner: StepRunner, step: int, epoch: int, cfg: dict
) -> Path:
    model.save_pretrained(directory / MODEL_SUBDIR)
    torch.save(
        {
            "optimizer": runner.optimizer.state_dict(),
            "scaler": runner.scaler.state_dict(),
            "step": step,
            "epoch": epoch,
        },
        directory / STATE_FILE,
    )
    (directory / "train_config.json").write_text(json.dumps(cfg, indent=2, default=str))
    return directory


def read_checkpoint(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint's weights and train state into memory without touching the model, so an
    unreadable checkpoint (a truncated file) is found before anything has been half-restored."""
    from safetensors.torch import load_file

    state_dict = load_file(str(directory / MODEL_SUBDIR / "model.safetensors"))
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
    missing = sorted({"optimizer", "scaler", "step"} - set(state))
    if missing:
        raise ValueError(f"{directory / STATE_FILE} lacks {missing}")
    return state_dict, state


def apply_checkpoint(
    model: Any, runner: StepRunner | None, state_dict: dict[str, torch.Tensor], state: dict[str, Any]
) -> int:
    """Restore model (banks included), optimizer and scaler from ``read_checkpoint``; return the step."""
    model.load_state_dict(state_dict, strict=True)
    if runner is not None:
        runner.optimizer.load_state_dict(state["optimizer"])
        runner.scaler.load_state_dict(state["scaler"])
    return int(state["step"])


def load_checkpoint(directory: Path, model: Any, runner: StepRunner | None) -> int:
    """Restore model (banks included), optimizer and scaler; return the step to continue from."""
    return apply_checkpoint(model, runner, *read_checkpoint(directory))


def restore_newest_readable(
    candidates: Iterable[tuple[str, Callable[[], AbstractContextManager[str | Path]]]],
    model: Any,
    runner: StepRunner | None,
) -> tuple[int, list[str]]:
    """Restore the first readable checkpoint of ``candidates`` (newest first); return (step, skipped).

    Each candidate is (name, opener), the opener a context manager giving a local directory (Ray's
    ``Checkpoint.as_directory``). An unreadable one (a truncated or missing file: a disk filled up,
    a copy cut short) is logged with its reason and skipped, so a resume loses one checkpoint
    interval instead of failing every restart. ``skipped`` holds ``"name: reason"`` per skipped
    checkpoint. When none is readable the run starts from step 0 with a warning: the unreadable
    checkpoints stay in storage untouched, and starting over loses nothing that was still usable.
    """
    skipped: list[str] = []
    for name, opener in candidates:
        try:
            with opener() as directory:
                state_dict, state = read_checkpoint(Path(directory))
        except Exception as err:  # any read failure means unreadable; the reason is kept
            reason = f"{type(err).__name__}: {str(err).strip()[:300]}"
            logger.warning("checkpoint %s is unreadable (%s); trying an older one", name, reason)
            skipped.append(f"{name}: {reason}")
            continue
        return apply_checkpoint(model, runner, state_dict, state), skipped
    if skipped:
        logger.warning("no readable checkpoint among %d; starting from step 0", len(skipped))
    return 0, skipped


CHECKPOINT_PREFIX = "checkpoint_step"


def checkpoint_name(step: int, taken: Iterable[str] = ()) -> str:
    """``checkpoint_step<step>``, suffixed while the name belongs to an unreadable checkpoint that
    is still in storage (Ray would otherwise write the new one into the old one's folder)."""
    name, taken = f"{CHECKPOINT_PREFIX}{step:07d}", set(taken)
    while name in taken:
        name += "_r"
    return name


def _step_of(name: str) -> int:
    match = re.fullmatch(CHECKPOINT_PREFIX + r"(\d+)(_r)*", name)
    return int(match.group(1)) if match else -1


def ray_checkpoint_candidates(latest: Any) -> list[tuple[str, Callable[[], Any]]]:
    """Ray's latest checkpoint, then the older checkpoints beside it in storage, newest first.

    Only older ones: a folder newer than the checkpoint Ray registered may be an upload that was
    cut short (Ray registers a checkpoint only once its upload finished).
    """
    import pyarrow.fs
    from ray.train import Checkpoint

    parent, _, name = latest.path.rstrip("/").rpartition("/")
    out: list[tuple[str, Callable[[], Any]]] = [(name, latest.as_directory)]
    infos = latest.filesystem.get_file_info(pyarrow.fs.FileSelector(parent, allow_not_found=True))
    older = [
        i.base_name
        for i in infos
        if i.type == pyarrow.fs.FileType.Directory and 0 <= _step_of(i.base_name) < _step_of(name)
    ]
    for other in sorted(older, key=lambda n: (_step_of(n), n), reverse=True):
        ckpt = Checkpoint(path=f"{parent}/{other}", filesystem=latest.filesystem)
        out.append((other, ckpt.as_directory))
    return out


# --------------------------------------------------------------------------------------------------
# the Ray Train worker loop
def _check_same_step(step: int, world: int, device: torch.device) -> None:
    """Every rank restores on its own; if they disagree on the step (one rank could not read a file
    the others could), fail so Ray restarts the group rather than train ranks out of step."""
    if world > 1 and dist.is_available() and dist.is_initialized():
        steps = torch.tensor([step, -step], dtype=torch.int64, device=device)
        dist.all_reduce(steps, op=dist.ReduceOp.MAX)
        if int(steps[0]) != -int(steps[1]):
            raise RuntimeError(
                f"ranks restored different checkpoints (steps {-int(steps[1])}..{int(steps[0])})"
            )


def train_loop_per_worker(loop_config: dict[str, Any]) -> dict[str, Any]:
    """One DDP rank of a fit; ``loop_config`` = {"train": TrainConfig dict, "model": RoboActConfig dict,
    "data": [ObjectRef of the ``load_fit_data`` bundle]}."""
    import ray
    import ray.train
    import ray.train.torch

    cfg = config_from_dict(TrainConfig, loop_config["train"])
    data = ray.get(loop_config["data"][0])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(cfg.seed)  # same initial weights on every rank; recombination sampling differs per rank
    np.random.seed(cfg.seed + rank)

    model = build_model(loop_config["model"], data)
    n_train = len(data["train"]["action"])
    total = total_steps(cfg, n_train)
    per_rank_batch = max(1, cfg.optim.batch_size // world)
    loader, sampler = make_loader(data["train"], per_rank_batch, rank, world, cfg.seed)
    spe = len(loader)

    # prepare_model wraps in DDP when world > 1. Buffers are not broadcast on every forward: they are
    # either constant (recombination targets, class texts) or all-reduced by update_banks.
    wrapped = ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"forward_sync_buffers": False})
    runner = StepRunner(model, wrapped, cfg, total, device)

    start = 0
    resumed_from = -1
    skipped: list[str] = []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        start, skipped = restore_newest_readable(ray_checkpoint_candidates(checkpoint), model, runner)
        _check_same_step(start, world, device)
        resumed_from = start if start > 0 or not skipped else -1
        logger.info("rank %d resumed from step %d", rank, start)
    unreadable = [s.split(":", 1)[0] for s in skipped]

    info = {
        "rank": rank,
        "pid": os.getpid(),
        "node": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
    }
    sums: dict[str, float] = defaultdict(float)
    count = 0
    bank_step = -1
    step = start
    t_interval = time.perf_counter()
    last_metrics: dict[str, Any] = {}
    model.train()

    def report(with_checkpoint: bool) -> None:
        nonlocal sums, count, t_interval, last_metrics
        elapsed = time.perf_counter() - t_interval
        metrics: dict[str, Any] = {f"train/{k}": v / max(1, count) for k, v in sums.items()}
        metrics.update(step=step, epoch=step / spe, total_steps=total, resumed_from=resumed_from)
        metrics.update(resume_skipped=len(skipped))
        metrics["train/step_time_s"] = elapsed / max(1, count)
        metrics["train/samples_per_s"] = count * per_rank_batch * world / max(elapsed, 1e-9)
        if len(data["val"]["action"]):
            model.eval()
            metrics.update(evaluate_arrays(model, data["val"], device, rank, world))
            model.train()
        metrics.update(bank_sha=bank_digest(model), bank_step=bank_step, **info)
        if with_checkpoint:
            with tempfile.TemporaryDirectory() as tmp:
                ckpt = None
                if rank == 0:
                    save_checkpoint(Path(tmp), model, runner, step, step // spe, loop_config["train"])
                    ckpt = ray.train.Checkpoint.from_directory(tmp)
                name = checkpoint_name(step, unreadable)
                ray.train.report(metrics, checkpoint=ckpt, checkpoint_dir_name=name)
        else:
            ray.train.report(metrics)
        last_metrics = metrics
        sums, count, t_interval = defaultdict(float), 0, time.perf_counter()

    if step >= total:  # a finished run rerun: report once more so the result carries metrics
        report(with_checkpoint=True)
    while step < total:
        epoch, skip = divmod(step, spe)
        sampler.set_epoch(epoch)
        for i, row in enumerate(loader):
            if i < skip:
                continue
            if step % model.config.bank_interval == 0 and model.config.use_disentanglement:
                bank_step = step
            for k, v in runner.step(as_batch(row, device), step).items():
                sums[k] += v
            count += 1
            step += 1
            if cfg.step_sleep_s:
                time.sleep(cfg.step_sleep_s)
            ckpt_now = step % cfg.checkpoint_every == 0 or step == total
            if ckpt_now or step % cfg.log_every == 0:
                report(with_checkpoint=ckpt_now)
            if step >= total:
                break
    return {k: v for k, v in last_metrics.items() if isinstance(v, int | float)}
