"""The built-in policies of the simulator pool, and how a ``--policy`` spec resolves to a policy.

A policy follows ``roboact.policies.Policy`` (``reset()`` and ``act(obs) -> action``); here ``obs`` is
``{"image": (H, W, 3) uint8 upright, "state": (9,) float32 robot state, "task": str}`` (``image`` is
absent when the env renders nothing) and the action is the suite's own (LIBERO OSC_POSE 7-d,
Kitchen joint velocity 9-d). A policy that needs the simulator itself (the scripted expert reads
privileged object poses; ``random``/``zero`` read the action space) also defines
``bind_env(env)``; the pool calls it once per env before the first ``reset()``.

``load_policy(spec)`` resolves, inside each simulator actor:
- ``expert``, ``random``, ``zero``: built-ins;
- a directory holding ``roboact_policy.json`` with ``{"kind": "linear"}``: our tiny numpy
  ``LinearPolicy`` (tests and smoke runs; no pickle, nothing executed from the file);
- any other directory: a trained head, ``roboact.policies.load_checkpoint`` (the same loader
  the arm uses), imported lazily so the pool works without torch;
- ``dagger:<dir>[@beta=p]``: that head, run with the scripted expert labelling every step
  (``sim_workers/dagger.py``; ``roboact sim demos --policy``).

A directory may be an ``s3://`` / ``gs://`` URI: each actor's node stages it once into its local
cache (``roboact.storage.local_copy``) and loads the copy, so nodes need not share a disk.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from roboact.policies.protocol import Policy, needs_env

from roboact.storage import is_dir, is_remote, local_copy

__all__ = ["LinearPolicy", "Policy", "RandomPolicy", "ZeroPolicy", "load_policy", "needs_env", "policy_id"]

logger = logging.getLogger(__name__)

MANIFEST = "roboact_policy.json"


class RandomPolicy:
    """Uniform actions from the env's action space; seeded, so reruns are identical."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.space: Any = None
        self.rng = np.random.default_rng(seed)

    def bind_env(self, env: Any) -> None:
        self.space = env.action_space

    def reset(self) -> None:
        if self.space is None:
            raise RuntimeError("RandomPolicy needs bind_env(env) before reset()")

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high).astype(np.float32)


class ZeroPolicy:
    """All-zero actions (the arm holds still); a baseline that should never succeed."""

    name = "zero"

    def __init__(self) -> None:
        self.dim = 0

    def bind_env(self, env: Any) -> None:
        self.dim = int(env.action_space.shape[0])

    def reset(self) -> None:
        if self.dim == 0:
            raise RuntimeError("ZeroPolicy needs bind_env(env) before reset()")

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        return np.zeros(self.dim, dtype=np.float32)


class LinearPolicy:
    """``action = clip(W @ state + b, -1, 1)``: a tiny checkpointable policy (directory format).

    Exists so the checkpoint-path code path of the pool is exercised without torch or RLlib.
    """

    kind = "linear"

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(
                f"LinearPolicy: weight (A, D) and bias (A,) expected, got {self.weight.shape}, "
                f"{self.bias.shape}"
            )

    def reset(self) -> None:
        return None

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        state = np.asarray(obs["state"], dtype=np.float32)
        if state.shape != (self.weight.shape[1],):
            raise ValueError(
                f"LinearPolicy expects state of shape ({self.weight.shape[1]},), got {state.shape}"
            )
        return np.clip(self.weight @ state + self.bias, -1.0, 1.0)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "weights.npz", weight=self.weight, bias=self.bias)
        (out / MANIFEST).write_text(json.dumps({"kind": self.kind}))
        return out

    @classmethod
    def load(cls, path: str | Path) -> LinearPolicy:
        with np.load(Path(path) / "weights.npz") as data:
            return cls(data["weight"], data["bias"])


def builtin_policies() -> dict[str, Any]:
    from roboact.sim_workers.experts import ExpertPolicy

    return {"expert": ExpertPolicy, "random": RandomPolicy, "zero": ZeroPolicy}


def policy_id(spec: str) -> str:
    """The name results are keyed by: the built-in's name or the checkpoint's absolute path."""
    if spec in ("expert", "random", "zero") or is_remote(spec):
        return spec
    return str(Path(spec).expanduser().resolve())


def check_policy_spec(spec: str) -> None:
    """Fail early (in the driver) for a spec no actor could load."""
    if spec in ("expert", "random", "zero"):
        return
    if spec.startswith("dagger:"):
        from roboact.sim_workers.dagger import parse_dagger_spec

        spec = parse_dagger_spec(spec)[0]
    if is_remote(spec):  # the actors stage it; here only whether it is there
        if not is_dir(spec):
            raise FileNotFoundError(f"--policy {spec}: no such checkpoint directory")
        return
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"--policy {spec}: no such checkpoint directory (or use expert, random, zero)"
        )
    if not path.is_dir():
        raise ValueError(f"--policy {spec}: a policy checkpoint is a directory, got a file")


def policy_cameras(spec: str) -> tuple[str, ...]:
    """The cameras a policy spec sees (a trained head's ``cameras``; the agent view otherwise)."""
    if spec.startswith("dagger:"):
        from roboact.sim_workers.dagger import parse_dagger_spec

        spec = parse_dagger_spec(spec)[0]
    if spec in ("expert", "random", "zero"):
        return ("agentview",)
    path = local_copy(spec) if is_remote(spec) else Path(spec).expanduser()
    if (path / MANIFEST).is_file():
        return ("agentview",)
    from roboact.policies.checkpoint import DEFAULT_CAMERA, read_policy_meta

    return tuple(read_policy_meta(path).get("cameras", [DEFAULT_CAMERA]))


def load_policy(spec: str) -> Any:
    """A ready policy object for a built-in name or a checkpoint directory (see module docstring)."""
    builtins = builtin_policies()
    if spec in builtins:
        return builtins[spec]()
    check_policy_spec(spec)
    if spec.startswith("dagger:"):  # the learned head, labelled step by step by the expert
        from roboact.sim_workers.dagger import ExpertLabelledPolicy, parse_dagger_spec

        directory, beta = parse_dagger_spec(spec)
        return ExpertLabelledPolicy(load_policy(directory), builtins["expert"](labelling=True), beta)
    path = local_copy(spec) if is_remote(spec) else Path(spec).expanduser()  # staged once per node
    manifest = path / MANIFEST
    if manifest.is_file():
        kind = json.loads(manifest.read_text()).get("kind")
        if kind == LinearPolicy.kind:
            return LinearPolicy.load(path)
        raise ValueError(f"{manifest}: unknown policy kind {kind!r} (known: {LinearPolicy.kind})")
    from roboact.policies.checkpoint import load_head  # a trained head (torch, RLlib)

    policy = load_head(path)
    if not isinstance(policy, Policy):
        raise TypeError(f"{path}: loaded object {type(policy).__name__} has no reset()/act(obs)")
    return policy
