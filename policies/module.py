"""The lightweight policy head (paper Sec. III-C, Fig. 2) as an RLlib new-stack ``TorchRLModule``.

Input: one flat observation vector ``[frozen visual features ; normalised robot state ; task one-hot]``
(already normalised by the training pipeline, ``distributed/policy_data.py``). Output: the inputs
of a diagonal Gaussian over the *normalised* action (``[mean ; log_std]``, 2A values), which is what
RLlib's BC loss (MARWIL with ``beta=0``: the negative log-likelihood of the demo action) consumes through
``TorchDiagGaussian``. At run time the policy takes the mean (deterministic), see ``checkpoint.py``.

The MLP follows R3M's evaluation protocol (two hidden layers of 256, ReLU); widths, activation
and the log-std bounds come from ``model_config`` so the head is configurable from YAML.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from torch import nn

logger = logging.getLogger(__name__)

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}
DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "hidden_sizes": [256, 256],
    "activation": "relu",
    "layer_norm": True,
    "log_std_init": -1.0,
    "log_std_min": -5.0,
    "log_std_max": 1.0,
}


def build_mlp(d_in: int, hidden: list[int], d_out: int, activation: str, layer_norm: bool) -> nn.Sequential:
    """Linear [-> LayerNorm] -> act, per hidden width, then a linear output layer."""
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"policy model_config.activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
        )
    layers: list[nn.Module] = []
    d = d_in
    for width in hidden:
        if int(width) < 1:
            raise ValueError(f"policy model_config.hidden_sizes must be positive, got {hidden!r}")
        layers.append(nn.Linear(d, int(width)))
        if layer_norm:
            layers.append(nn.LayerNorm(int(width)))
        layers.append(_ACTIVATIONS[activation]())
        d = int(width)
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class PolicyHeadModule(TorchRLModule):
    """MLP on [features ; state ; task] -> Gaussian over the normalised action.

    The log-std is a learned state-independent vector (as in most BC heads for continuous control):
    it lets the NLL loss of BC settle the scale, while the mean carries all the state dependence.
    """

    def setup(self) -> None:
        cfg = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        obs_dim = int(self.observation_space.shape[0])
        act_dim = int(self.action_space.shape[0])
        self.pi = build_mlp(
            obs_dim, list(cfg["hidden_sizes"]), act_dim, cfg["activation"], bool(cfg["layer_norm"])
        )
        self.log_std = nn.Parameter(torch.full((act_dim,), float(cfg["log_std_init"])))
        self._log_std_bounds = (float(cfg["log_std_min"]), float(cfg["log_std_max"]))

    def _dist_inputs(self, obs: torch.Tensor) -> torch.Tensor:
        mean = self.pi(obs.float())  # (B, A)
        log_std = self.log_std.clamp(*self._log_std_bounds).expand_as(mean)  # (B, A)
        return torch.cat([mean, log_std], dim=-1)  # (B, 2A): TorchDiagGaussian's layout

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: self._dist_inputs(batch[Columns.OBS])}

    @torch.no_grad()
    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the Gaussian mean) for (B, obs_dim) -> (B, A), in normalised units."""
        was = self.training
        self.eval()
        try:
            return self.pi(obs.float())
        finally:
            self.train(was)
