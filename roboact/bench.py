"""``roboact bench paper``: every comparison row of the paper's Tables II-IV, end to end, resumable.

What runs (issue #14; the paper's Sec. IV-B and IV-C):

- **Rows.** ``roboact-clip`` (the full model), ``A1``-``A5`` (one RoboAct-CLIP fit each with one
  switch off, the same train config and budget as the full fit: A1 ``use_diff_transformer``, A2
  ``use_disentanglement``, A3 ``use_recombination``, A4 ``use_aux`` off, A5 the 2-frame store),
  ``A6`` (frame features of the same n frames, ``<encoder>@k=<n>``) and ``clip-frame`` (the
  encoder's features of the current frame: the paper's "CLIP" row). Each row gets its own heads;
  only the frozen features differ. R3M, MPI and Robotic-CLIP stay the paper's numbers (no weights).
- **Tables.** II: LIBERO T1-T4 with one head per task; III: T5/T6 zero-shot with one ``shared``
  head per row trained on the Table II tasks only; IV: the five Franka Kitchen tasks, one head per
  task. A table runs the paper's rows of that table (II has every row; III and IV have
  RoboAct-CLIP and CLIP only).
- **Same episodes for every row.** Episode k of a task: LIBERO's fixed init state k (mod 50),
  seed ``1000 + seed + k``; Kitchen seed ``1000 + seed + k``. Demonstrations come from disjoint
  seeds (``DEMO_SEED_BASE + seed + k``) and, in LIBERO, freshly sampled placements.

The plan is a list of units (data, features, one fit per model row, demos per suite, heads and
evaluation per table and row). Each unit writes ``<out>/units/<unit>.json`` when it finishes and
is skipped on a rerun; inside a unit, clips, features, fits, demos and episodes are resumable
themselves. A unit that fails writes ``<unit>.failed.json`` (the error, named in the report), the
units that depend on it are left out, the others still run, and a rerun retries it.
The report (``report.md`` / ``report.html``, :mod:`roboact.bench_report`) is rebuilt at the end
of every run from these files only.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 1000
"""evaluation seeds start at seed + 1000 (the demo's convention; demos start at 100000)"""


@dataclass(frozen=True)
class RowSpec:
    """One comparison row: how its frozen features are made."""

    key: str
    """what ``--rows`` names"""
    slug: str
    """its policy directory name, which labels it in the episode logs and tables"""
    paper: str
    """the paper's row name (as in ``sim_workers.tables.PAPER_TABLES``)"""
    model: tuple[tuple[str, Any], ...] = ()
    """RoboActConfig switches of its fit (a model row)"""
    frames: str = "main"
    """feature store of its fit: ``main`` (the paper's 16 frames, or fewer at small scales) or ``2``"""
    fit: bool = True
    """True: features from its own RoboAct-CLIP fit; False: the frozen encoder's frame features"""
    window: bool = False
    """frame rows only: the last n frames (A6) instead of the current frame"""


ROWS: dict[str, RowSpec] = {
    r.key: r
    for r in [
        RowSpec("roboact-clip", "roboact-clip", "RoboAct-CLIP (Ours)"),
        RowSpec(
            "A1",
            "A1-no-diff-transformer",
            "- w/o Spatiotemporal Diff-Transformer",
            (("use_diff_transformer", False),),
        ),
        RowSpec(
            "A2", "A2-no-disentanglement", "- w/o Feature Disentanglement", (("use_disentanglement", False),)
        ),
        RowSpec(
            "A3",
            "A3-no-recombination",
            "- w/o Recombination Contrastive Loss",
            (("use_recombination", False),),
        ),
        RowSpec("A4", "A4-no-aux", "- w/o Auxiliary Classification Loss", (("use_aux", False),)),
        RowSpec("A5", "A5-two-frames", "- Shorter sequence (n=2)", frames="2"),
        RowSpec("A6", "A6-frame-features", "- Only original CLIP frame features", fit=False, window=True),
        RowSpec("clip-frame", "clip-frame", "CLIP", fit=False),
    ]
}
BASELINE = "roboact-clip"
PAPER_ONLY = ("R3M", "MPI (Small)", "MPI (Base)", "Robotic-CLIP")
"""paper rows we cannot run: no weights ship with any registry package and nothing is downloaded"""


@dataclass(frozen=True)
class TableSpec:
    """One of the paper's simulation tables."""

    key: str
    suite: str
    heads: str
    """``per_task`` (one head per task) or ``shared`` (one head with a task one-hot)"""
    rows: tuple[str, ...]
    """the paper's rows of this table that we can run"""
    tasks_field: str
    """the BenchConfig field listing its tasks"""
    trained_on: str | None = None
    """the table whose tasks its heads are trained on (zero-shot tables); None: its own tasks"""


TABLES: dict[str, TableSpec] = {
    "II": TableSpec("II", "libero", "per_task", tuple(ROWS), "table_ii_tasks"),
    "III": TableSpec("III", "libero", "shared", ("roboact-clip", "clip-frame"), "table_iii_tasks", "II"),
    "IV": TableSpec("IV", "kitchen", "per_task", ("roboact-clip", "clip-frame"), "table_iv_tasks"),
}


@dataclass
class BenchConfig:
    """What ``roboact bench paper`` runs; ``scale`` picks the preset, any field can be overridden."""

    scale: str = "machine"
    """tiny (the test, minutes) | machine (2 cores, <= 3 h) | full (the paper's sizes, a cluster)"""
    out: str = "runs/bench_paper"
    """where every unit writes; a rerun with the same directory resumes"""
    rows: list[str] = field(default_factory=lambda: list(ROWS))
    """rows to run (a table runs those of its paper rows that are listed here)"""
    suites: list[str] = field(default_factory=lambda: ["libero", "kitchen"])
    """libero (Tables II and III) and/or kitchen (Table IV)"""
    encoder: str = "embedded"
    """frozen encoder: embedded, or open_clip:<arch>:<checkpoint path> for real CLIP"""
    workers: int = 2
    """Ray workers / simulator actors per unit"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    seed: int = 0
    """seed of every stage (demos from 100000 + seed, evaluation from 1000 + seed)"""
    sim_config: str = "sim_small"
    """simulated atomic-action source the RoboAct-CLIP fits learn from"""
    max_frames: int = 32
    """frames extracted per clip; the fits use 16 (or max_frames if fewer), A5 uses 2"""
    train_config: str = "train_default"
    """train config of every fit (the same budget for the full model and A1-A5)"""
    train_overrides: list[str] = field(default_factory=list)
    """dotted overrides for every fit (for example optim.max_steps=200)"""
    table_ii_tasks: list[str] = field(default_factory=lambda: ["T1", "T2", "T3", "T4"])
    """Table II tasks (LIBERO, per-task heads)"""
    table_iii_tasks: list[str] = field(default_factory=lambda: ["T5", "T6"])
    """Table III tasks (LIBERO, zero-shot with shared heads trained on the Table II tasks)"""
    table_iv_tasks: list[str] = field(default_factory=lambda: ["knob", "door", "switch", "micro", "slide"])
    """Table IV tasks (Franka Kitchen, per-task heads)"""
    demos_per_task: int = 20
    """scripted expert demonstrations per trained task"""
    eval_episodes: int = 10
    """evaluation episodes per task and row (the paper: 50)"""
    max_steps: int = 200
    """evaluation horizon (the paper's 200 steps)"""
    policy_iterations: int = 500
    """BC iterations per head"""
    videos: int = 1
    """mp4s per task, of the RoboAct-CLIP row only (rows share a run directory)"""

    def __post_init__(self) -> None:
        unknown = [r for r in self.rows if r not in ROWS]
        if unknown or not self.rows:
            raise ValueError(f"rows: {unknown or 'none'} unknown/empty; choose from {', '.join(ROWS)}")
        bad = [s for s in self.suites if s not in ("libero", "kitchen")]
        if bad or not self.suites:
            raise ValueError(f"suites: {bad or 'none'} unknown/empty; choose from libero, kitchen")
        for name in ("workers", "demos_per_task", "eval_episodes", "max_steps", "policy_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def tasks(self, table: str) -> list[str]:
        return list(getattr(self, TABLES[table].tasks_field))


SCALE_PRESETS: dict[str, dict[str, Any]] = {
    # 1 task per table, 1 demo, 1 episode, 20 steps, 2 BC iterations, a 40-step fit: minutes.
    "tiny": {
        "sim_config": "sim_demo_tiny",
        "max_frames": 8,
        "train_config": "train_tiny",
        "table_ii_tasks": ["T1"],
        "table_iii_tasks": ["T5"],
        "table_iv_tasks": ["micro"],
        "demos_per_task": 1,
        "eval_episodes": 1,
        "max_steps": 20,
        "policy_iterations": 2,
    },
    # sized from measured unit times for <= 3 h on 2 cores (docs/bench.md, "Sizes and time")
    "machine": {},
    # the paper's protocol: 50 demos and 50 episodes per task, the large source; for a cluster
    "full": {
        "sim_config": "sim_large",
        "demos_per_task": 50,
        "eval_episodes": 50,
        "policy_iterations": 2000,
    },
}
RESUME_FREE = ("out", "rows", "suites", "workers", "address", "videos")
"""fields a rerun may change; every other field decides results and must match the saved config"""


def load_bench_config(path: str | Path | None = None, overrides: list[str] | None = None) -> BenchConfig:
    """Defaults, then the scale's preset, then a YAML file, then dotted overrides (later wins)."""
    from omegaconf import OmegaConf

    from roboact.config import load_config

    scale = OmegaConf.from_dotlist([o for o in overrides or [] if o.startswith("scale=")]).get("scale")
    scale = scale or BenchConfig.scale
    if scale not in SCALE_PRESETS:
        raise ValueError(f"scale={scale!r}: expected one of {', '.join(SCALE_PRESETS)}")
    return load_config(BenchConfig, path, overrides, preset=SCALE_PRESETS[scale])


@dataclass(frozen=True)
class Unit:
    """One resumable piece of the plan."""

    stage: str
    """data | features | fit | demos | heads | eval"""
    table: str | None = None
    row: str | None = None
    suite: str | None = None

    @property
    def name(self) -> str:
        return "__".join(p for p in (self.stage, self.table, self.row, self.suite) if p)


def table_rows(cfg: BenchConfig) -> dict[str, list[str]]:
    """Table -> the rows it runs, for the requested suites and rows (tables with no task left out)."""
    return {
        key: [r for r in cfg.rows if r in t.rows]
        for key, t in TABLES.items()
        if t.suite in cfg.suites and cfg.tasks(key) and any(r in t.rows for r in cfg.rows)
    }


def plan(cfg: BenchConfig) -> list[Unit]:
    """Every unit the config asks for, in the order they run (a unit's inputs come before it)."""
    tables = table_rows(cfg)
    needed = [r for r in ROWS if any(r in rows for rows in tables.values())]
    fits = [r for r in needed if ROWS[r].fit]
    units = [Unit("data"), Unit("features")] if fits else []
    units += [Unit("fit", row=r) for r in fits]
    units += [
        Unit("demos", suite=s) for s in ("libero", "kitchen") if any(TABLES[t].suite == s for t in tables)
    ]
    units += [Unit("heads", table=t, row=r) for t, rows in tables.items() for r in rows]
    units += [Unit("eval", table=t, row=r) for t, rows in tables.items() for r in rows]
    return units


def dependencies(unit: Unit) -> list[Unit]:
    """The units whose outputs ``unit`` reads."""
    if unit.stage == "features":
        return [Unit("data")]
    if unit.stage == "fit":
        return [Unit("features")]
    if unit.stage == "heads":
        deps = [Unit("demos", suite=TABLES[unit.table].suite)]  # type: ignore[index]
        return deps + ([Unit("fit", row=unit.row)] if ROWS[unit.row].fit else [])  # type: ignore[index]
    if unit.stage == "eval":
        return [Unit("heads", table=unit.table, row=unit.row)]
    return []


class Bench:
    """Runs the plan; the ``do_*`` methods do one unit each and return what its marker records."""

    def __init__(self, cfg: BenchConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out).resolve()
        self.units_dir = self.out / "units"

    # -- paths every unit agrees on --------------------------------------------------------------
    def marker(self, unit: Unit) -> Path:
        return self.units_dir / f"{unit.name}.json"

    def failure(self, unit: Unit) -> Path:
        return self.units_dir / f"{unit.name}.failed.json"

    def policy_dir(self, table: str, row: str) -> Path:
        return self.out / "policy" / table / ROWS[row].slug

    def eval_dir(self, table: str) -> Path:
        return self.out / "eval" / table

    def demo(self, suite: str | None = None) -> Any:
        """The demo orchestrator over this bench's directory, for its reusable stage functions."""
        from roboact.demo import Demo, DemoConfig

        c = self.cfg
        libero = c.table_ii_tasks if suite in (None, "libero") and "libero" in c.suites else []
        kitchen = c.table_iv_tasks if suite in (None, "kitchen") and "kitchen" in c.suites else []
        cfg = DemoConfig(
            scale=c.scale,
            run_dir=str(self.out),
            encoder=c.encoder,
            workers=c.workers,
            address=c.address,
            seed=c.seed,
            sim_config=c.sim_config,
            max_frames=c.max_frames,
            table2_frames=[],
            train_config=c.train_config,
            train_overrides=list(c.train_overrides),
            libero_tasks=list(libero),
            kitchen_tasks=list(kitchen),
            demos_per_task=c.demos_per_task,
            eval_episodes=c.eval_episodes,
            max_steps=c.max_steps,
            policy_iterations=c.policy_iterations,
        )
        return Demo(cfg)

    def read_marker(self, unit: Unit) -> dict[str, Any] | None:
        path = self.marker(unit)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err}); delete it to rerun the unit") from err

    # -- running ---------------------------------------------------------------------------------
    def check_resume(self) -> None:
        """Refuse a rerun into ``out`` with other result-deciding settings, naming each field."""
        from omegaconf import OmegaConf

        saved = self.out / "bench_config.yaml"
        if not saved.is_file():
            return
        old = OmegaConf.to_container(OmegaConf.load(saved))
        assert isinstance(old, dict)
        new = asdict(self.cfg)
        diffs = [
            f"{k} {old.get(k)!r} -> {v!r}" for k, v in new.items() if k not in RESUME_FREE and old.get(k) != v
        ]
        if diffs:
            raise ValueError(
                f"{saved}: this directory holds a bench run with other settings ({'; '.join(diffs)}); "
                "use another --out, or rerun with the saved settings to resume"
            )

    def run(self, progress: Callable[[Unit], None] | None = None) -> dict[str, Any]:
        """Run every unfinished unit, then (re)build the report; returns paths and unit times."""
        from roboact.bench_report import build_bench_report
        from roboact.config import save_config

        self.check_resume()
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.cfg, self.out, "bench_config.yaml")
        self.start_ray()
        ran: dict[str, float] = {}
        blocked: set[Unit] = set()
        for unit in plan(self.cfg):
            if self.marker(unit).is_file():
                logger.info("unit %s already done; skipping", unit.name)
                continue
            if any(d in blocked for d in dependencies(unit)):
                blocked.add(unit)
                logger.warning("unit %s left out: an input unit failed", unit.name)
                continue
            if progress:
                progress(unit)
            if ran and not self.cfg.address:
                from roboact.cluster import release_leaked_placement_groups

                release_leaked_placement_groups()  # nothing of ours runs between units
            start = time.perf_counter()
            try:
                result = getattr(self, f"do_{unit.stage}")(unit)
            except Exception as err:  # one row's failure must not cost the other rows: record, go on
                logger.exception("unit %s failed", unit.name)
                self._write(
                    self.failure(unit),
                    {
                        "unit": unit.name,
                        "error": f"{type(err).__name__}: {err}",
                        "traceback": traceback.format_exc()[-4000:],
                    },
                )
                blocked.add(unit)
                continue
            ran[unit.name] = round(time.perf_counter() - start, 1)
            self._write(
                self.marker(unit), {"unit": unit.name, **asdict(unit), "seconds": ran[unit.name], **result}
            )
            self.failure(unit).unlink(missing_ok=True)
        md, html_path = build_bench_report(self)
        return {"out": str(self.out), "report_md": str(md), "report_html": str(html_path), "seconds": ran}

    def start_ray(self) -> None:
        """One Ray instance for every unit (a local one gets room for Train controllers, as the demo)."""
        from roboact.cluster import init_ray
        from roboact.runs import write_versions

        init_ray(self.cfg.address, num_cpus=None if self.cfg.address else max(8, os.cpu_count() or 1))
        write_versions(self.out / "versions.json")

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        """Atomically, so a crash never leaves half a marker."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)

    # -- the units -------------------------------------------------------------------------------
    def do_data(self, unit: Unit) -> dict[str, Any]:
        from roboact.report import write_stage

        summary = self.demo().stage_data()
        write_stage(self.out, "data", summary)  # its report section, as in the demo
        return {"clips": summary["metrics"]["stats"]["videos"]}

    def do_features(self, unit: Unit) -> dict[str, Any]:
        from roboact.report import write_stage

        summary = self.demo().stage_features()
        write_stage(self.out, "features", summary)
        return {"extracted": summary["metrics"]["extracted"]}

    def fit_frames(self, row: str) -> int:
        return 2 if ROWS[row].frames == "2" else self.demo().main_frames

    def do_fit(self, unit: Unit) -> dict[str, Any]:
        """One RoboAct-CLIP fit: the bench's train config, the row's switch off, its feature store."""
        import dataclasses

        from roboact.distributed.train import fit

        spec, demo = ROWS[unit.row], self.demo()  # type: ignore[index]
        frames = self.fit_frames(spec.key)
        base = demo.train_config(spec.key, self.out / "fits", demo.features(frames))
        cfg = dataclasses.replace(base, model={**dict(base.model), **dict(spec.model)})
        result = fit(cfg, address=self.cfg.address)
        val = {k: v for k, v in result["metrics"].items() if k.startswith("val/")}
        return {
            "model_dir": result["model_dir"],
            "frames": frames,
            "switches": dict(spec.model),
            "steps": result["steps"],
            "val": val,
            "train_config": self.cfg.train_config,
        }

    def feature_spec(self, row: str) -> str:
        """The row's ``--features`` spec (``policy_features.py``)."""
        spec = ROWS[row]
        if spec.fit:
            done = self.read_marker(Unit("fit", row=row))
            if done is None:
                raise FileNotFoundError(
                    f"{self.marker(Unit('fit', row=row))}: the {row} fit has not finished"
                )
            return f"roboact:{done['model_dir']}"
        return f"{self.cfg.encoder}@k={self.demo().main_frames}" if spec.window else self.cfg.encoder

    def trained_tasks(self, table: str) -> tuple[list[str], list[str]]:
        """(tasks its heads train on: those with a successful demo, tasks left without a demo)."""
        t = TABLES[table]
        tasks = self.cfg.tasks(t.trained_on or table)
        with_demos = self.demo(t.suite).demo_tasks(t.suite, tasks)
        return with_demos, [x for x in tasks if x not in with_demos]

    def do_demos(self, unit: Unit) -> dict[str, Any]:
        summary = self.demo(unit.suite).stage_sim_demos()
        return {"path": str(self.demo(unit.suite).demos_path(unit.suite)), "summary": summary}

    def do_heads(self, unit: Unit) -> dict[str, Any]:
        import dataclasses

        from roboact.distributed.policy import PolicyTrainConfig, train_policy

        t = TABLES[unit.table]  # type: ignore[index]
        tasks, without = self.trained_tasks(t.key)
        if not tasks:
            raise ValueError(f"{t.suite}: no successful expert demo of {without}; no head can be trained")
        spec = self.feature_spec(unit.row)  # type: ignore[arg-type]
        out = train_policy(
            demos=self.demo(t.suite).demos_path(t.suite),
            features=spec,
            out=self.policy_dir(t.key, unit.row),
            iterations=self.cfg.policy_iterations,
            address=self.cfg.address,
            tasks=tasks,
            config=dataclasses.replace(PolicyTrainConfig(seed=self.cfg.seed), heads=t.heads),
        )
        return {"features": spec, "heads": t.heads, "tasks": tasks, "no_demo": without, "training": out}

    def do_eval(self, unit: Unit) -> dict[str, Any]:
        from roboact.sim_workers.eval import evaluate

        t, c = TABLES[unit.table], self.cfg  # type: ignore[index]
        tasks = c.tasks(t.key)
        if t.heads == "per_task":  # a per-task head exists only for a task with a demo
            heads = self.read_marker(Unit("heads", table=t.key, row=unit.row)) or {}
            tasks = [x for x in tasks if x in heads.get("tasks", [])]
        if not tasks:
            raise ValueError(f"Table {t.key}: no task of {c.tasks(t.key)} has a head of row {unit.row}")
        summary = evaluate(
            suite=t.suite,
            tasks=tasks,
            policy=str(self.policy_dir(t.key, unit.row)),
            episodes=c.eval_episodes,
            max_steps=c.max_steps,
            workers=c.workers,
            run_dir=self.eval_dir(t.key),
            address=c.address,
            videos=c.videos if unit.row == BASELINE else 0,
            seed_base=c.seed + EVAL_SEED_OFFSET,
        )
        return {"tasks": tasks, "summary": summary}
