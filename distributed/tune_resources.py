"""What one sweep trial asks of the cluster, checked against what the cluster has before launching.

Why: a trial is a Ray Train fit whose worker group waits for its placement group. When a worker
needs a GPU and no node has one, or more CPUs than any node has, Tune starts the trial and it stays
PENDING forever with nothing on the console (the reservation can never be met). So the sweep checks
each worker's bundle against every alive node and the trial's total against the whole cluster, and
says which setting to change. More concurrent trials than fit at once is not an error (Tune queues
them); it is capped to what fits, so Optuna suggests from results instead of a backlog of guesses.

An autoscaling cluster (KubeRay with its autoscaler) adds nodes only when a request is pending:
``check_resources: false`` in the sweep config skips the check there.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from roboact.errors import UserError

logger = logging.getLogger(__name__)


class TrialResourceError(UserError):
    """A sweep trial asks for resources this cluster cannot give."""


@dataclass(frozen=True)
class TrialResources:
    """One trial: ``workers`` Ray Train workers of ``cpus`` CPUs and ``gpus`` GPUs each, plus the
    trial driver's ``driver_cpus`` (a fraction, see ``SweepConfig.trial_driver_cpus``)."""

    workers: int
    cpus: float
    gpus: float
    driver_cpus: float

    @property
    def total_cpus(self) -> float:
        return self.workers * self.cpus + self.driver_cpus

    @property
    def total_gpus(self) -> float:
        return self.workers * self.gpus

    def describe(self) -> str:
        gpu = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"{self.workers} worker(s) x ({self.cpus:g} CPU{gpu})"


def alive_node_resources() -> list[dict[str, float]]:
    """``{"CPU": .., "GPU": ..}`` of every alive node of the connected cluster."""
    import ray

    return [
        {"CPU": float(n["Resources"].get("CPU", 0.0)), "GPU": float(n["Resources"].get("GPU", 0.0))}
        for n in ray.nodes()
        if n.get("Alive")
    ]


def fitting_trials(trial: TrialResources, nodes: list[dict[str, float]]) -> int:
    """How many such trials can run at once (workers packed onto nodes, each worker on one node).

    Raises:
        TrialResourceError: not even one trial fits, naming the sweep setting to change.
    """
    totals = {k: sum(n[k] for n in nodes) for k in ("CPU", "GPU")}
    where = f"this cluster has {len(nodes)} node(s) with {totals['CPU']:g} CPUs and {totals['GPU']:g} GPUs"
    if trial.gpus > 0 and totals["GPU"] == 0:
        raise TrialResourceError(
            f"sweep: gpus_per_worker={trial.gpus:g} but {where}; set gpus_per_worker=0 to train on "
            "CPUs, or add GPU nodes (trials would wait for a GPU forever)"
        )
    per_node = [
        min(
            math.floor(n["CPU"] / trial.cpus + 1e-9) if trial.cpus > 0 else math.inf,
            math.floor(n["GPU"] / trial.gpus + 1e-9) if trial.gpus > 0 else math.inf,
        )
        for n in nodes
    ]
    if max(per_node, default=0) < 1:
        biggest = max(nodes, key=lambda n: (n["GPU"], n["CPU"]), default={"CPU": 0.0, "GPU": 0.0})
        raise TrialResourceError(
            f"sweep: each Train worker needs {trial.cpus:g} CPU and {trial.gpus:g} GPU on one node, but "
            f"the largest node has {biggest['CPU']:g} CPUs and {biggest['GPU']:g} GPUs; lower "
            "cpus_per_worker / gpus_per_worker (trials would stay pending forever)"
        )
    slots = sum(min(s, 10**6) for s in per_node)  # worker slots across the cluster
    if slots < trial.workers:
        raise TrialResourceError(
            f"sweep: a trial needs {trial.describe()} but {where} (room for {slots} such worker(s)); "
            "lower workers_per_trial, cpus_per_worker or gpus_per_worker (trials would stay pending forever)"
        )
    return max(1, slots // trial.workers)


def check_trial_resources(trial: TrialResources, max_concurrent: int) -> int:
    """Check ``trial`` against the connected cluster; return the concurrency to run with.

    Returns ``max_concurrent``, or fewer when fewer trials fit at once (logged as a warning).
    """
    fit = fitting_trials(trial, alive_node_resources())
    if max_concurrent > fit:
        logger.warning(
            "sweep: max_concurrent_trials=%d but only %d trial(s) of %s fit on this cluster at once; "
            "running %d at a time",
            max_concurrent,
            fit,
            trial.describe(),
            fit,
        )
        return fit
    return max_concurrent


def trial_resources(sc: Any) -> TrialResources:
    """The ``TrialResources`` of a ``SweepConfig``."""
    return TrialResources(
        workers=int(sc.workers_per_trial),
        cpus=float(sc.cpus_per_worker),
        gpus=float(sc.gpus_per_worker),
        driver_cpus=float(sc.trial_driver_cpus),
    )
