"""Append-only per-episode results (JSONL) and their aggregation with Wilson 95 % intervals.

One line per finished episode, appended and flushed by the driver as each episode returns, keyed
by ``(policy, suite, task, episode, seed)``. A rerun reads the file and skips finished keys; a key
that appears twice (an episode retried after its actor died *after* the result was written) counts
once: the first line wins. A torn last line (driver killed mid-write) is ignored on read.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RESULTS_FILE = "episodes.jsonl"
KEY_FIELDS = ("policy", "suite", "task", "episode", "seed")

Key = tuple[str, str, str, int, int]


def episode_key(record: dict[str, Any]) -> Key:
    try:
        return (
            str(record["policy"]),
            str(record["suite"]),
            str(record["task"]),
            int(record["episode"]),
            int(record["seed"]),
        )
    except KeyError as err:
        raise ValueError(f"episode record lacks key field {err.args[0]!r}: {record}") from None


class ResultsLog:
    """The JSONL file of a run directory; only the driver process writes it."""

    def __init__(self, run_dir: str | Path, name: str = RESULTS_FILE) -> None:
        self.path = Path(run_dir) / name
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def read(self) -> dict[Key, dict[str, Any]]:
        """Finished episodes by key (first occurrence wins)."""
        out: dict[Key, dict[str, Any]] = {}
        if not self.path.exists():
            return out
        with self.path.open() as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    logger.warning("%s:%d: unreadable line skipped (torn write?)", self.path, lineno)
                    continue
                out.setdefault(episode_key(rec), rec)
        return out

    def append(self, record: dict[str, Any]) -> None:
        episode_key(record)  # validate before writing
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at 0 % and 100 % with few episodes).

    scipy's implementation; ``z`` is turned into the confidence level scipy takes, so the default
    is the classic z = 1.96 interval. With no episodes nothing is known: (0, 1).
    """
    from scipy import stats  # here, not at the top: importing scipy.stats costs ~1 s per process

    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(successes, n).proportion_ci(
        confidence_level=2 * stats.norm.cdf(z) - 1, method="wilson"
    )
    return float(ci.low), float(ci.high)


def aggregate(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per (policy, suite, task): episodes, successes, rate, 95 % CI, mean steps, horizon."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[(rec["policy"], rec["suite"], rec["task"])].append(rec)
    out = {}
    for key, recs in sorted(groups.items()):
        n = len(recs)
        k = sum(bool(r["success"]) for r in recs)
        lo, hi = wilson_interval(k, n)
        out[key] = {
            "policy": key[0],
            "suite": key[1],
            "task": key[2],
            "episodes": n,
            "successes": k,
            "rate": k / n if n else 0.0,
            "ci_low": lo,
            "ci_high": hi,
            "mean_steps": sum(r["steps"] for r in recs) / n if n else 0.0,
            "max_steps": max(int(r.get("max_steps", 0)) for r in recs),
        }
    return out
