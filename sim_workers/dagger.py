"""DAgger (Ross et al., 2011) with the scripted experts as labellers.

Why: a head cloned from expert demos drifts off the demos' states and stalls there (measured on
Kitchen door: it hovers 2-4 cm from the pre-grasp point, where the expert's demos only ever passed
through; LIBERO T1/T3 likewise stall at the handle / grasp). Our experts are closed-loop on the
simulator's privileged state, so they can say what to do in any state the learned head visits.
``ExpertLabelledPolicy`` runs the learned head while the task's expert watches every step; the
episode is recorded in the demo layout with the expert's actions as labels (``actions``) and the
head's as ``executed_actions``, marked ``labels="expert"`` so ``read_demos`` keeps it even when
the episode failed (its states are exactly the ones the head needs labels for).

The policy spec ``dagger:<checkpoint dir>`` (optionally ``dagger:<dir>@beta=0.3``) selects it in
a simulator actor; ``beta`` is the per-step probability of executing the expert's action instead
of the head's (DAgger's mixing; 0 = pure learner roll-outs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

PREFIX = "dagger:"


def parse_dagger_spec(spec: str) -> tuple[str, float]:
    """``dagger:<dir>[@beta=<p>]`` -> (dir, beta); raises ValueError naming the spec."""
    if not spec.startswith(PREFIX):
        raise ValueError(f"not a DAgger policy spec (dagger:<dir>[@beta=p]): {spec!r}")
    body, _, opts = spec[len(PREFIX) :].partition("@")
    beta = 0.0
    if opts:
        key, _, value = opts.partition("=")
        if key != "beta":
            raise ValueError(f"{spec!r}: unknown option {key!r} (only beta=<p>)")
        try:
            beta = float(value)
        except ValueError as err:
            raise ValueError(f"{spec!r}: beta must be a number, got {value!r}") from err
    if not body:
        raise ValueError(f"{spec!r}: no checkpoint directory after 'dagger:'")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"{spec!r}: beta must be in [0, 1], got {beta}")
    return body, beta


class ExpertLabelledPolicy:
    """Executes the learned head (or, with probability ``beta``, the expert) and keeps the expert's
    action for every step as the label. ``rollout`` records ``action_labels`` as the demo's actions.
    """

    name = "dagger"

    def __init__(self, learner: Any, expert: Any, beta: float = 0.0, seed: int = 0) -> None:
        self.learner, self.expert, self.beta = learner, expert, float(beta)
        self.rng = np.random.default_rng(seed)
        self.action_labels: list[np.ndarray] = []

    def bind_env(self, env: Any) -> None:
        self.expert.bind_env(env)  # the expert reads the live simulator; the head only sees obs
        if callable(getattr(self.learner, "bind_env", None)):
            self.learner.bind_env(env)

    def reset(self) -> None:
        self.learner.reset()
        self.expert.reset()
        self.action_labels = []

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        # the expert acts every step, so its phase machine follows the state the head brings it to
        label = np.asarray(self.expert.act(obs), dtype=np.float32).reshape(-1)
        action = np.asarray(self.learner.act(obs), dtype=np.float32).reshape(-1)
        self.action_labels.append(label)
        if self.beta > 0 and self.rng.random() < self.beta:
            return label
        return action
