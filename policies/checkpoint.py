"""Checkpoints of trained heads: their format, their metadata, and the policy they load into.

A checkpoint directory (written by ``roboact.distributed.policy.train_policy``)::

    <dir>/policy.json     format, feature spec, image size, state/action sizes, per-head
                          normalisation and module directory, suite, tasks, training summary
    <dir>/rl_module/      the RLModule checkpoint of each head (``module.py``)

``load_checkpoint(path_or_uri)`` needs nothing else (plus the RoboAct-CLIP model directory named by
a ``roboact:`` feature spec): it re-creates the frozen encoder from the spec, so the simulators and
the arm run a head exactly as it was trained. It lives apart from the training code so the runners
import no trainer, and ``read_policy_meta`` needs neither torch nor Ray (the arm checks a head's
spaces before anything heavy loads).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from roboact.policies.features import FeatureExtractor, FeatureSpec
from roboact.policies.jsonfile import read_json
from roboact.policies.normaliser import Normaliser

from roboact.storage import is_remote, local_copy

logger = logging.getLogger(__name__)

POLICY_FORMAT = "roboact-policy/2"
READABLE_FORMATS = ("roboact-policy/1", POLICY_FORMAT)
"""/2 adds ``heads`` (one per task, or one shared); /1 checkpoints load as one shared head"""
META_NAME = "policy.json"
MODULE_DIR = "rl_module"
MODULE_ID = "default_policy"
HEAD_MODES = ("per_task", "shared")
SHARED = "*"
DEFAULT_CAMERA = "agentview"
"""the camera a checkpoint without ``cameras`` (all before 2026-12-05) was trained on"""
"""the key of a shared head in a checkpoint's ``heads``"""


class HeadPolicy:
    """Trained head(s) with their feature extractor: ``reset()`` per episode, ``act(obs)`` per step.

    ``obs = {"image": (H, W, 3) uint8 upright, "state": (D,) float32, "task": str}``; ``act`` returns
    the deterministic action (the Gaussian mean) in the suite's units, clipped to the demos' bounds.
    With per-task heads the task name picks the head (an unknown task is refused, naming the trained
    ones); a shared head gives a task not seen in training an all-zero one-hot (warned once).
    """

    def __init__(self, heads: dict[str, tuple[Any, Any]], extractor: Any, meta: dict[str, Any]) -> None:
        self.heads, self.meta = heads, meta
        self.cameras: list[str] = list(meta.get("cameras", [DEFAULT_CAMERA]))
        # one window per camera over one encoder; features concatenated in ``cameras`` order
        self._extractors = [extractor, *(extractor.sibling() for _ in self.cameras[1:])]
        self.state_dim = int(meta["state_dim"])
        self.action_dim = int(meta["action_dim"])
        shared = heads.get(SHARED)
        self.tasks: list[str] = list(shared[1].tasks) if shared else sorted(heads)
        self.features: str = meta["features"]
        self._warned: set[str] = set()
        self.chunk = int(meta.get("chunk", 1))
        self.ensemble_decay = float(meta.get("ensemble_decay", 0.01))
        self._chunks: list[np.ndarray] = []  # the last `chunk` predictions, oldest first, each (chunk, A)

    def reset(self) -> None:
        """Start a new episode (clears the feature window and the pending action chunks)."""
        for extractor in self._extractors:
            extractor.reset()
        self._chunks = []

    @property
    def extractor(self) -> Any:
        """The first camera's extractor (it owns the encoder every camera's window shares)."""
        return self._extractors[0]

    def _ensemble(self, chunk: np.ndarray) -> np.ndarray:
        """ACT's temporal ensembling: average every pending prediction for this step, the oldest
        weighted most (w_i = exp(-m i), i = 0 for the oldest), so the executed actions stay smooth
        while each step still looks at the newest observation."""
        self._chunks = [*self._chunks, chunk][-self.chunk :]
        n = len(self._chunks)
        preds = np.stack([c[n - 1 - i] for i, c in enumerate(self._chunks)])  # oldest first
        w = np.exp(-self.ensemble_decay * np.arange(n))
        return (w[:, None] * preds).sum(axis=0) / w.sum()

    def _head(self, task: str) -> tuple[Any, Any]:
        if SHARED in self.heads:
            if len(self.tasks) > 1 and task not in self.tasks and task not in self._warned:
                self._warned.add(task)
                logger.warning("task %r was not in training (%s): task one-hot is zero", task, self.tasks)
            return self.heads[SHARED]
        if task not in self.heads:
            raise ValueError(
                f"policy has per-task heads for {sorted(self.heads)}, none for task {task!r} "
                "(train with heads=shared for tasks without demos)"
            )
        return self.heads[task]

    def _images(self, obs: dict[str, Any], first: np.ndarray) -> list[np.ndarray]:
        """The head's cameras in training order: ``image`` is the first, ``images[name]`` the rest."""
        if len(self.cameras) == 1:
            return [first]
        named = obs.get("images") or {}
        missing = [cam for cam in self.cameras[1:] if cam not in named]
        if missing:
            raise KeyError(
                f"policy was trained on cameras {self.cameras}; obs['images'] has no {missing} "
                f"(got {sorted(named)}): run the env with cameras={self.cameras}"
            )
        return [first, *(np.asarray(named[cam]) for cam in self.cameras[1:])]

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        import torch

        for key in ("image", "state"):
            if key not in obs:
                raise KeyError(f"policy obs has no {key!r} (got keys {sorted(obs)})")
        state = np.asarray(obs["state"], dtype=np.float32).reshape(-1)
        if state.shape[0] != self.state_dim:
            raise ValueError(
                f"policy obs['state'] has {state.shape[0]} values, the policy was trained on {self.state_dim}"
            )
        image = np.asarray(obs["image"])
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"policy obs['image'] must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
        task = str(obs.get("task", ""))
        module, norm = self._head(task)
        feat = np.concatenate(
            [ex.step(img) for ex, img in zip(self._extractors, self._images(obs, image), strict=True)]
        )  # (F,)
        x = norm.obs(feat[None], state[None], task)  # (1, obs_dim)
        mean = module.mean_action(torch.from_numpy(x))[0].numpy()
        if self.chunk > 1:
            mean = self._ensemble(mean.reshape(self.chunk, self.action_dim))
        return norm.unnorm_action(mean)


def heads_meta(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``heads`` of a checkpoint; a roboact-policy/1 checkpoint is one shared head."""
    if "heads" in meta:
        return meta["heads"]
    return {SHARED: {"module_dir": meta["module_dir"], "normalisation": meta["normalisation"]}}


def read_policy_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's ``policy.json``, checked; raises naming the file and field.

    An ``s3://`` / ``gs://`` checkpoint is staged on this node first (``storage.local_copy``, as
    ``load_checkpoint`` does), so a space check before a run reads the same files the run loads.
    """
    path = local_copy(path) if is_remote(str(path)) else Path(path)
    meta_path = path / META_NAME
    if not path.is_dir():
        raise FileNotFoundError(f"policy checkpoint {path} is not a directory")
    meta = read_json(meta_path, missing="not a roboact policy checkpoint")
    if meta.get("format") not in READABLE_FORMATS:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, expected one of {READABLE_FORMATS}")
    needed = ["features", "image_size", "state_dim", "action_dim"]
    needed += ["heads"] if meta["format"] == POLICY_FORMAT else ["normalisation", "module_dir"]
    for key in needed:
        if key not in meta:
            raise ValueError(f"{meta_path}: missing field {key!r}")
    for name, head in heads_meta(meta).items():
        for key in ("module_dir", "normalisation"):
            if key not in head:
                raise ValueError(f"{meta_path}: head {name!r} has no field {key!r}")
    return meta


def check_checkpoint(path: str | Path) -> dict[str, Any]:
    """``policy.json`` checked, and every head's module directory present and non-empty.

    Why: runners load a head inside their actors, where a truncated ``policy.json`` or a missing
    ``rl_module/`` would surface as an actor error naming no path; checking in the driver names
    the file at fault before anything starts. Raises ``FileNotFoundError`` / ``ValueError``.
    """
    path = Path(path)
    meta = read_policy_meta(path)
    for name, head in heads_meta(meta).items():
        module_dir = path / head["module_dir"]
        if not module_dir.is_dir() or not any(module_dir.iterdir()):
            raise FileNotFoundError(
                f"{path}: no RLModule checkpoint in {head['module_dir']}/ (head {name!r} of policy.json)"
            )
    return meta


def load_head(path: str | Path, device: str = "cpu") -> HeadPolicy:
    """Build the policy of a local checkpoint directory written by ``train_policy`` (self-contained)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    # RLModule.from_checkpoint reads through pyarrow, which wants an absolute path
    path = Path(path).resolve()
    meta = check_checkpoint(path)
    heads: dict[str, tuple[Any, Any]] = {}
    for name, head in heads_meta(meta).items():
        module = RLModule.from_checkpoint(str(path / head["module_dir"]))
        module.eval()
        heads[name] = (module, Normaliser.from_json(head["normalisation"]))
    extractor = FeatureExtractor(
        FeatureSpec.parse(meta["features"]), image_size=int(meta["image_size"]), device=device
    )
    n_cameras = len(meta.get("cameras", [DEFAULT_CAMERA]))
    if extractor.dim * n_cameras != int(meta.get("feature_dim", extractor.dim * n_cameras)):
        raise ValueError(
            f"{path / META_NAME}: feature_dim {meta['feature_dim']} but spec {meta['features']!r} "
            f"now gives {extractor.dim * n_cameras} ({n_cameras} camera(s))"
        )
    return HeadPolicy(heads, extractor, meta)


def load_checkpoint(path: str | Path, device: str = "cpu") -> HeadPolicy:
    """A checkpoint directory or an ``s3://`` / ``gs://`` URI (staged once per node) as a policy."""
    local = local_copy(str(path)) if is_remote(str(path)) else Path(path).expanduser()
    return load_head(local, device=device)
