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
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from roboact.bench_plan import (  # noqa: F401  (re-exported: the bench's public names)
    BASELINE,
    EVAL_SEED_OFFSET,
    PAPER_ONLY,
    RESUME_FREE,
    ROWS,
    SCALE_PRESETS,
    TABLES,
    BenchConfig,
    RowSpec,
    TableSpec,
    Unit,
    dependencies,
    load_bench_config,
    plan,
    table_rows,
)
from roboact.policies.features import with_head_history

logger = logging.getLogger(__name__)


class Bench:
    """Runs the plan; the ``do_*`` methods do one unit each and return what its marker records."""

    def __init__(self, cfg: BenchConfig, out_uri: str | None = None) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out).resolve()
        self.units_dir = self.out / "units"
        self.out_uri = out_uri
        """``--out`` when it is a bucket (``cfg.out`` is then this node's working copy)"""
        self.bucket: str | None = None
        """``out_uri`` on a cluster of several nodes with no shared disk (``start_ray``): units hand
        actors the bucket's copies of what earlier units wrote (``Demo.shared``)"""

    # -- paths every unit agrees on --------------------------------------------------------------
    def marker(self, unit: Unit) -> Path:
        return self.units_dir / f"{unit.name}.json"

    def failure(self, unit: Unit) -> Path:
        return self.units_dir / f"{unit.name}.failed.json"

    def policy_dir(self, table: str, row: str) -> Path:
        return self.out / "policy" / table / ROWS[row].slug

    def policy_uri(self, table: str, row: str) -> str:
        """Where a row's heads are written and read from: ``policy_dir``, or its bucket copy."""
        return self.demo().shared(self.policy_dir(table, row))

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
            recognition_frames=[],
            train_config=c.train_config,
            train_overrides=list(c.train_overrides),
            libero_tasks=list(libero),
            kitchen_tasks=list(kitchen),
            demos_per_task=c.demos_per_task,
            eval_episodes=c.eval_episodes,
            max_steps=c.max_steps,
            policy_iterations=c.policy_iterations,
        )
        return Demo(cfg, bucket=self.bucket)

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
        ran: dict[str, float] = {}
        started = False  # Ray starts with the first unit to run: a finished run only rebuilds its report
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
            if not started:
                self.start_ray()
                started = True
            elif not self.cfg.address:
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
        from roboact.cluster import actor_bucket, init_ray
        from roboact.runs import write_versions

        init_ray(self.cfg.address, num_cpus=None if self.cfg.address else max(8, os.cpu_count() or 1))
        self.bucket = actor_bucket(self.out, self.out_uri, self.cfg.shared_fs, "--out")
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
        """The row's ``--features`` spec (``roboact/policies/features.py``)."""
        spec = ROWS[row]
        if spec.fit:
            done = self.read_marker(Unit("fit", row=row))
            if done is None:
                raise FileNotFoundError(
                    f"{self.marker(Unit('fit', row=row))}: the {row} fit has not finished"
                )
            model = self.demo().shared(Path(done["model_dir"]))  # its bucket copy on nodes sharing no disk
            return with_head_history(f"roboact:{model}", self.cfg.head_history)
        frames = f"{self.cfg.encoder}@k={self.demo().main_frames}" if spec.window else self.cfg.encoder
        return with_head_history(frames, self.cfg.head_history)

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
        out_dir = self.policy_dir(t.key, unit.row)  # type: ignore[arg-type]
        if t.trained_on and self.bucket is None:  # same demos and spec: the trained-on table's cache
            src = self.policy_dir(t.trained_on, unit.row) / "feature_cache"  # type: ignore[arg-type]
            if src.is_dir():
                shutil.copytree(src, out_dir / "feature_cache", dirs_exist_ok=True)
        out = train_policy(
            demos=self.demo(t.suite).demos_path(t.suite),
            features=spec,
            out=self.policy_uri(t.key, unit.row),  # type: ignore[arg-type]
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
            policy=self.policy_uri(t.key, unit.row),  # type: ignore[arg-type]
            episodes=c.eval_episodes,
            max_steps=c.max_steps,
            workers=c.workers,
            run_dir=self.eval_dir(t.key),
            address=c.address,
            videos=c.videos if unit.row == BASELINE else 0,
            seed_base=c.seed + EVAL_SEED_OFFSET,
        )
        return {"tasks": tasks, "summary": summary}


def run_bench_paper(
    cfg: BenchConfig, progress: Callable[[Unit], None] | None = None, out_uri: str | None = None
) -> dict[str, Any]:
    """``roboact bench paper`` as a function: check a rerun's settings, then run every unit.

    ``out_uri``: the bucket ``cfg.out`` is a working copy of (``--out s3://...``), which the units
    hand to actors on a cluster with no shared disk. The result adds ``failed``: the names of the
    units that failed (a rerun retries them)."""
    from roboact.errors import UserError

    bench = Bench(cfg, out_uri=out_uri)
    try:
        bench.check_resume()
    except ValueError as err:  # a rerun with other settings: the user's to fix, named field by field
        raise UserError(str(err)) from err
    result = bench.run(progress=progress)
    return {**result, "failed": sorted(p.name for p in bench.units_dir.glob("*.failed.json"))}
