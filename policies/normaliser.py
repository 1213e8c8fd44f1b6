"""How a head's inputs are standardised and its outputs scaled, saved in the checkpoint's ``policy.json``.

Training (``distributed/policy_data.py``: ``fit_normaliser``) fits it on the demos; inference
(``checkpoint.py``) reads it back, so both sides apply the same numbers to the same layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Normaliser:
    """Observation standardisation and action scaling, saved in ``policy.json``."""

    obs_mean: np.ndarray  # (F + D,) over features and robot state
    obs_std: np.ndarray  # (F + D,)
    action_low: np.ndarray  # (A,) per-dimension minimum over the demos
    action_high: np.ndarray  # (A,)
    tasks: list[str]
    obs_clip: float | None = None  # standardised values are clipped to +-obs_clip (None: no clip)

    @property
    def action_center(self) -> np.ndarray:
        return (self.action_high + self.action_low) / 2

    @property
    def action_half_range(self) -> np.ndarray:
        return np.maximum((self.action_high - self.action_low) / 2, 1e-6)

    def obs(self, feats: np.ndarray, states: np.ndarray, tasks: list[str] | str) -> np.ndarray:
        """(T, F), (T, D), task(s) -> (T, F + D [+ n_tasks]) float32; unknown task -> all-zero one-hot."""
        x = (np.concatenate([feats, states], axis=-1) - self.obs_mean) / self.obs_std
        if self.obs_clip is not None:
            x = np.clip(x, -self.obs_clip, self.obs_clip)
        if len(self.tasks) > 1:
            names = [tasks] * len(x) if isinstance(tasks, str) else tasks
            onehot = np.zeros((len(x), len(self.tasks)), np.float32)
            for i, name in enumerate(names):
                if name in self.tasks:
                    onehot[i, self.tasks.index(name)] = 1.0
            x = np.concatenate([x, onehot], axis=-1)
        return x.astype(np.float32)

    def norm_action(self, actions: np.ndarray) -> np.ndarray:
        return ((actions - self.action_center) / self.action_half_range).astype(np.float32)

    def unnorm_action(self, actions: np.ndarray) -> np.ndarray:
        """Back to the suite's units, clipped to the demos' bounds."""
        a = actions * self.action_half_range + self.action_center
        return np.clip(a, self.action_low, self.action_high).astype(np.float32)

    def to_json(self) -> dict:
        return {
            "obs_mean": self.obs_mean.tolist(),
            "obs_std": self.obs_std.tolist(),
            "action_low": self.action_low.tolist(),
            "action_high": self.action_high.tolist(),
            "tasks": list(self.tasks),
            "obs_clip": self.obs_clip,
        }

    @classmethod
    def from_json(cls, data: dict) -> Normaliser:
        arr = {
            k: np.asarray(data[k], dtype=np.float32)
            for k in ("obs_mean", "obs_std", "action_low", "action_high")
        }
        clip = data.get("obs_clip")  # absent in checkpoints written before the clip existed
        return cls(tasks=list(data["tasks"]), obs_clip=None if clip is None else float(clip), **arr)
