"""``roboact demo``: the whole system end to end on one machine, then a report of what it measured.

Stages, in order (each writes ``<run>/stages/<stage>.json`` when done and is skipped on a rerun,
and each underlying step is itself resumable, so a crash costs at most the unit in flight):

1. ``data``        simulated multi-embodiment atomic-action clips (Ray simulator actors)
2. ``features``    frozen-encoder features (32 frames once; 16/8/2 derived for the Sec. IV-A recognition rows)
3. ``train``       RoboAct-CLIP fit with Ray Train (2 workers)
4. ``tune``        a smoke Ray Tune sweep over the loss weights
5. ``recognition`` Sec. IV-A recognition rows (frames, w/o disentanglement), held-out embodiment,
                   text-to-video retrieval
6. ``sim_demos``   scripted demonstrations in LIBERO and Franka Kitchen
7. ``policy``      RLlib BC heads on RoboAct-CLIP features and on CLIP(-style) frame features
8. ``sim_eval``    parallel 200-step evaluation with the simulator actor pool (Tables III, IV)
9. ``hardware``    a trial batch through the hardware actor on the simulated arm (Table V)

Then ``report.md`` / ``report.html``. Scales: ``tiny`` (the test), ``small`` (the default, sized
for 2 CPU cores in about half an hour), ``large`` (a cluster or a GPU box).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roboact.paper import TABLE_I
from roboact.report import STAGE_ORDER, build_report, write_stage

logger = logging.getLogger(__name__)

ARM_DEMO_NOISE = 0.01  # rad: the scripted teleop device's goal noise, so the recorded demos differ
ARM_POLICY_HZ = 5.0  # the arm head's rate: the servo loop interpolates at 125 Hz between its targets

ALL_STAGES = STAGE_ORDER  # the report lists stages in pipeline order


@dataclass
class DemoConfig:
    """What ``roboact demo`` runs; ``scale`` picks the preset, any field can be overridden."""

    scale: str = "small"
    """tiny (tests, minutes) | small (2 CPU cores, ~30 min) | large (cluster or GPU box)"""
    run_dir: str = "runs/demo"
    """where every stage writes; rerunning with the same directory resumes"""
    encoder: str = "embedded"
    """frozen encoder spec: embedded, or open_clip:<arch>:<checkpoint path> for real CLIP"""
    workers: int = 2
    """Ray workers/actors per stage"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""
    storage: str | None = None
    """object-store URI (s3://, gs://) that keeps the run: the stages work in ``run_dir`` and the
    whole run directory is uploaded there after every stage (and after a failure); a rerun on a
    machine whose ``run_dir`` is empty downloads it first and resumes"""
    shared_fs: bool = False
    """``run_dir`` lies on a filesystem every node of the cluster mounts. On several nodes the stages
    hand files to actors: without it they hand over ``storage``'s copies (one of the two is required)"""
    seed: int = 0
    """seed of every stage"""
    stages: list[str] = field(default_factory=lambda: list(ALL_STAGES))
    """stages to run, in pipeline order"""
    sim_config: str = "sim_small"
    """simulated-source config (scale presets: sim_tiny / sim_small / sim_large)"""
    max_frames: int = 32
    """frames extracted once; the recognition rows derive fewer frames from these"""
    recognition_frames: list[int] = field(default_factory=lambda: [8, 16, 32])
    """frame counts of the recognition rows (Sec. IV-A: 8, 16, 32)"""
    train_config: str = "train_default"
    """train config (scale presets: train_tiny / train_default)"""
    train_overrides: list[str] = field(default_factory=list)
    """dotted overrides for every fit of the demo (for example optim.epochs=5)"""
    sweep_config: str = "sweep_smoke"
    """Ray Tune search space"""
    sweep_overrides: list[str] = field(default_factory=list)
    """dotted overrides of the sweep config (for example num_samples=2)"""
    recognition_ablations: list[str] = field(default_factory=lambda: ["w/o disentanglement"])
    """ablation fits beside the full model in the recognition stage (labels of
    ``distributed.recognition.ABLATIONS``); the small scale runs the one the paper reports, to stay
    within its budget; ``roboact eval ablations`` and the large scale run all four"""
    heldout_subjects: int = 1
    """cross-embodiment rows: how many embodiments to hold out (0: none, -1: all)"""
    libero_tasks: list[str] = field(default_factory=list)
    """LIBERO tasks for demos and evaluation (the paper's Table II: T1-T4; T5, T6 are Table III's
    unseen tasks). None at the small scale: a LIBERO head needs more demos and evaluation time than
    the 30-minute budget leaves (docs/policy.md); the large scale runs T1-T4"""
    kitchen_tasks: list[str] = field(default_factory=lambda: ["slide", "knob", "switch"])
    """Franka Kitchen tasks for demos and evaluation (the paper's Table IV has knob, door, switch,
    micro, slide). The small scale runs three, so that 10 episodes per task and head fit its budget:
    the three whose heads learn from 10 demos here (door and micro heads scored 0/10 and 2/10 with 10
    demos, docs/results.md)"""
    demos_per_task: int = 10
    """scripted demonstrations per task"""
    eval_episodes: int = 10
    """evaluation episodes per task and policy"""
    max_steps: int = 200
    """evaluation horizon (the paper's 200 steps)"""
    policy_iterations: int = 500
    """RLlib BC training iterations (one minibatch update each) per head (one head per task)"""
    trials_plan: str = "trials_demo"
    """hardware trial plan: its task and first (scripted) policy; the demo adds the learned head"""
    trials_backend: str = "sim"
    """hardware backend of the demo: sim or fake"""
    trial_repetitions: int = 10
    """trials per policy (the scripted operator and the learned head, interleaved)"""
    max_trials: int = 0
    """stop the trial batch after this many trials (0: the whole plan)"""
    arm_demos: int = 10
    """demonstrations recorded through the hardware actor (scripted teleop device) for the arm's
    learned head; 0 runs the scripted operator alone"""
    arm_features: str = "embedded@k=3,stride=2"
    """feature spec of the arm's head: the three latest frames, two policy steps apart (the recipe
    measured in docs/results.md, "Simulated physical arm")"""
    arm_policy_iterations: int = 2000
    """RLlib BC iterations of the arm's head (one shared head, chunks of 5 actions)"""


SCALE_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "sim_config": "sim_demo_tiny",
        "max_frames": 8,
        "recognition_frames": [2, 8],
        "train_config": "train_tiny",
        "sweep_overrides": ["num_samples=2"],  # two trials show the sweep; the tune tests run more
        "heldout_subjects": 1,
        "libero_tasks": [],
        "kitchen_tasks": ["micro"],
        "demos_per_task": 1,
        "eval_episodes": 1,
        "max_steps": 20,
        "policy_iterations": 2,
        "trial_repetitions": 1,
        "max_trials": 2,
        "arm_demos": 1,
        "arm_policy_iterations": 2,
    },
    "small": {},
    "large": {
        "sim_config": "sim_large",
        "heldout_subjects": -1,
        "libero_tasks": ["T1", "T2", "T3", "T4"],
        "kitchen_tasks": ["knob", "door", "switch", "micro", "slide"],
        "demos_per_task": 50,
        "eval_episodes": 50,
        "policy_iterations": 2000,
        "sweep_config": "sweep_loss_weights",
        "recognition_ablations": [
            "w/o disentanglement",
            "w/o Diff-Transformer (A1)",
            "w/o recombination (A3)",
            "w/o aux (A4)",
        ],
    },
}


def load_demo_config(path: str | Path | None = None, overrides: list[str] | None = None) -> DemoConfig:
    """Defaults, then the scale's preset, then a YAML file, then overrides (later wins)."""
    from roboact.config import load_config

    return check_demo_config(load_config(DemoConfig, path, overrides, preset=demo_preset))


def demo_preset(merged: Any) -> dict[str, Any]:
    """The preset of the scale the merged config asks for (``load_config``'s callable preset)."""
    scale = merged.get("scale") or DemoConfig.scale
    if scale not in SCALE_PRESETS:
        raise ValueError(f"scale={scale!r}: expected one of {sorted(SCALE_PRESETS)}")
    return SCALE_PRESETS[scale]


def check_demo_config(cfg: DemoConfig) -> DemoConfig:
    """``cfg`` if its stages are known stages and its ``storage`` a URI; ``ValueError`` otherwise.

    Why ``storage`` here and not only on ``--storage``: a job file or ``storage=...`` sets it too, and
    a local folder there would be silently copied into after every stage instead of kept remotely."""
    from roboact import storage as storage_uris

    unknown = [s for s in cfg.stages if s not in ALL_STAGES]
    if unknown:
        raise ValueError(f"stages {unknown} unknown; expected a subset of {ALL_STAGES}")
    if cfg.storage and not storage_uris.is_remote(cfg.storage):
        raise ValueError(
            f"storage={cfg.storage}: expected an s3:// or gs:// URI (a local folder is run_dir / --run-dir)"
        )
    return cfg


def run_demo(cfg: DemoConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``roboact demo`` as a function: every stage of ``cfg`` in order, then the report.

    ``progress`` is called with each stage's name as it starts."""
    from roboact.errors import UserError

    try:
        check_demo_config(cfg)
    except ValueError as err:
        raise UserError(str(err)) from err
    return Demo(cfg).run_all(progress=progress)


class Demo:
    """Runs the stages in order; each stage method returns the summary written for the report."""

    def __init__(self, cfg: DemoConfig, bucket: str | None = None) -> None:
        self.cfg = cfg
        self.run = Path(cfg.run_dir).resolve()
        self.run.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        """the run's bucket on a cluster of several nodes with no shared disk (``_check_nodes`` sets
        it from ``--storage``; ``bench paper`` passes its ``--out``): stages then hand actors the
        bucket's copies of earlier stages' files (``shared``)"""

    # paths every stage agrees on
    @property
    def clips(self) -> Path:
        return self.run / "data" / "clips.h5"

    def features(self, frames: int) -> Path:
        return self.run / "features" / f"features_{frames}f.h5"

    @property
    def main_model(self) -> Path:
        return self.run / "train" / "main" / "model"

    def shared(self, path: Path) -> str:
        """``path`` (inside the run directory) as every node of the cluster can open it.

        On one node, or with ``--shared-fs``, the path itself. On several nodes with no shared disk,
        its copy in ``--storage``: the run directory is uploaded there after every stage, so what an
        earlier stage wrote is in the bucket under the same relative path, and what an actor or a
        Train worker writes (checkpoints, policy heads) goes there directly.
        """
        if self.bucket is None:
            return str(path)
        from roboact import storage

        return storage.join(self.bucket, path.relative_to(self.run).as_posix())

    def shown(self, path: str) -> str:
        """A run path or its bucket copy as the report names it: relative to the run."""
        for root in filter(None, (self.bucket, str(self.run))):
            if path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1 :]
        return path

    def run_all(self, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        from roboact import storage

        with storage.mirrored_dir(self.run, self.cfg.storage), self._shared_fs_declared():
            return self._run_stages(progress)  # the mirror downloads a remote run first, to resume

    @contextmanager
    def _shared_fs_declared(self) -> Iterator[None]:
        """With ``--shared-fs``, every command a stage calls treats ``--run-dir`` paths as shared.

        Why the environment variable (``ROBOACT_SHARED_FS``) rather than an argument per call: the
        stages reach the fail-fast check through several layers (feature extraction, each fit of
        the recognition table and the cross-embodiment folds, sweeps, BC heads), and one missed
        argument refused a stage on a cluster the user had declared shared (the features stage of
        a `ray job submit` demo on two nodes, tests/core/test_job_submit.py).
        """
        from roboact import storage

        if not self.cfg.shared_fs or storage.shared_fs_declared():
            yield
            return
        os.environ[storage.SHARED_FS_ENV] = "1"
        try:
            yield
        finally:
            os.environ.pop(storage.SHARED_FS_ENV, None)

    def _keep(self) -> None:
        """Send the run directory to ``--storage`` (nothing without it): a finished stage survives
        the machine."""
        if self.cfg.storage:
            from roboact import storage

            storage.upload(self.run, self.cfg.storage)

    def _check_nodes(self) -> None:
        """Stages hand files to actors (the clip store, policy directories, Train's storage): on
        several nodes every node must reach them, through a shared disk or ``--storage``'s bucket."""
        from roboact.cluster import actor_bucket

        self.bucket = actor_bucket(self.run, self.cfg.storage, self.cfg.shared_fs, "--storage")

    def _run_stages(self, progress: Callable[[str], None] | None) -> dict[str, Any]:
        from roboact.cluster import init_ray, release_leaked_placement_groups
        from roboact.config import save_config
        from roboact.log import log_to_file
        from roboact.runs import write_versions

        log_to_file(self.run / "roboact.log")  # Ray's and the workers' lines; uploaded with --storage
        save_config(self.cfg, self.run)
        c = self.cfg
        facts = {
            "scale": c.scale,
            "encoder": c.encoder,
            "seed": c.seed,
            "Ray workers/actors per stage": c.workers,
            "cluster": c.address or "local Ray instance",
            "evaluation horizon (steps)": c.max_steps,
            "evaluation episodes per task and policy": c.eval_episodes,
            "expert demos per task": c.demos_per_task,
            "frames extracted": c.max_frames,
        }
        (self.run / "summary.json").write_text(json.dumps(facts, indent=2))
        # One Ray instance for every stage. Locally, 8 logical CPUs on a 2-core machine leave room
        # for Ray Train controllers, Tune drivers and placement groups that Ray Train fails to free
        # (see docs/demo.md); the stages themselves ask for `workers` CPUs at a time.
        init_ray(self.cfg.address, num_cpus=None if self.cfg.address else max(8, os.cpu_count() or 1))
        self._check_nodes()
        write_versions(self.run / "versions.json")
        times: dict[str, float] = {}
        for stage in ALL_STAGES:
            if stage not in self.cfg.stages:
                continue
            done = self.run / "stages" / f"{stage}.json"
            if done.is_file():
                logger.info("stage %s already done (%s); skipping", stage, done)
                continue
            if progress:
                progress(stage)
            start = time.perf_counter()
            if not self.cfg.address:
                release_leaked_placement_groups()  # nothing runs between stages: free Train's leaks
            summary = getattr(self, f"stage_{stage}")()
            summary["seconds"] = round(time.perf_counter() - start, 1)
            times[stage] = summary["seconds"]
            write_stage(self.run, stage, summary)
            self._keep()
        md, html_path = build_report(self.run)
        self._keep()
        return {
            "run_dir": str(self.run),
            "storage": self.cfg.storage,
            "report_md": str(md),
            "report_html": str(html_path),
            "seconds": times,
        }

    def train_config(self, name: str, runs_root: Path, features: Path, extra: list[str] | None = None) -> Any:
        """The demo's TrainConfig: the scale's train config + the demo's overrides."""
        from roboact.config import load_config
        from roboact.distributed.train_config import TrainConfig

        overrides = [
            f"name={name}",
            f"runs_root={runs_root}",
            f"data.features={features}",
            f"workers={self.cfg.workers}",
            f"seed={self.cfg.seed}",
        ]
        if self.bucket:  # the workers' checkpoints, on whichever node they run
            overrides.append(f"storage_path={self.shared(runs_root / 'ray_results')}")
        return load_config(
            TrainConfig, self.cfg.train_config, overrides + self.cfg.train_overrides + (extra or [])
        )

    @property
    def main_frames(self) -> int:
        """The paper's default of 16 frames, or the largest the scale extracts."""
        return 16 if self.cfg.max_frames >= 16 else self.cfg.max_frames

    # -- 1. data ---------------------------------------------------------------------------------
    def stage_data(self) -> dict[str, Any]:
        from roboact.datasets.sim_source import build_sim_store
        from roboact.datasets.stats import store_stats

        c = self.cfg
        built = build_sim_store(
            out=self.clips,
            config=c.sim_config,
            workers=c.workers,
            address=c.address,
            frames=c.max_frames,
            seed=c.seed,
        )
        stats = store_stats(self.clips)
        return {
            "title": "Data: simulated multi-embodiment atomic-action clips (Algorithm 1 captions, Table I)",
            "what_ran": f"simulated source `{c.sim_config}` ({built['jobs']} episodes over embodiments x "
            "actions x "
            f"seeds, each camera a clip), {c.max_frames} frames per clip, seed {c.seed}, "
            f"{c.workers} simulator actors, only successful executions kept",
            "tables": [
                {"title": "Table I: dataset summary", "markdown": table_i_markdown(stats)},
                {
                    "title": "Clips per subject (embodiment)",
                    "markdown": _counts_markdown("subject", stats["subjects"]),
                },
                {
                    "title": "Scripted-controller successes/attempts, embodiments by actions",
                    "markdown": _attempts_markdown(built.get("attempts", {}), built.get("failures", {})),
                },
            ],
            "metrics": {"stats": stats, "build": built},
        }

    # -- 2. features -----------------------------------------------------------------------------
    def stage_features(self) -> dict[str, Any]:
        from roboact.datasets.features import derive_features, extract_features

        c = self.cfg
        extracted = extract_features(
            store=self.shared(self.clips),  # the encoder actors open it
            encoder=c.encoder,
            frames=c.max_frames,
            out=self.features(c.max_frames),
            workers=c.workers,
            address=c.address,
        )
        derived = {}
        for n in sorted({*c.recognition_frames, self.main_frames, 2} - {c.max_frames}):
            if n < c.max_frames:
                derived[n] = derive_features(self.features(c.max_frames), n, self.features(n))
        rows = [f"| {c.max_frames} | encoded | {extracted['clips']} | {extracted['seconds']} |"]
        rows += [
            f"| {n} | derived from {c.max_frames} | {d.get('clips', '')} | {d.get('seconds', '')} |"
            for n, d in derived.items()
        ]
        return {
            "title": "Features: frozen encoder, extracted once and derived per frame count",
            "what_ran": f"encoder `{c.encoder}`, {c.workers} Ray encoder actors; fewer-frame stores pick "
            "frames uniformly from the extracted ones (no re-encoding)",
            "tables": [
                {
                    "title": "Feature stores",
                    "markdown": "| frames | how | clips | seconds |\n|---|---|---|---|\n" + "\n".join(rows),
                }
            ],
            "metrics": {"extracted": extracted, "derived": derived},
        }

    # -- 3. train --------------------------------------------------------------------------------
    def stage_train(self) -> dict[str, Any]:
        from roboact.distributed.train import fit

        cfg = self.train_config("main", self.run / "train", self.features(self.main_frames))
        result = fit(cfg, address=self.cfg.address)
        figures = []
        curve = _training_curve(Path(result["run_dir"]), self.run / "train" / "training_curve.png")
        if curve:
            figures.append({"title": "Training curves", "path": str(curve.relative_to(self.run))})
        metrics = result["metrics"]
        table = "| metric | value |\n|---|---|\n" + "\n".join(
            f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items()) if isinstance(v, float)
        )
        return {
            "title": "Training: RoboAct-CLIP with Ray Train (DDP)",
            "what_ran": f"{self.main_frames}-frame features, config `{self.cfg.train_config}` "
            f"{' '.join(self.cfg.train_overrides)}, {cfg.workers} workers, {result['steps']} steps, "
            f"seed {cfg.seed}; checkpoint `{Path(result['model_dir']).relative_to(self.run)}`",
            "tables": [
                {
                    "title": "Last reported metrics (each loss term of Eq. 27, validation accuracy)",
                    "markdown": table,
                }
            ],
            "figures": figures,
            "metrics": {"fit": result},
        }

    # -- 4. tune ---------------------------------------------------------------------------------
    def stage_tune(self) -> dict[str, Any]:
        from roboact.distributed.tune import sweep

        result = sweep(
            self.cfg.sweep_config,
            self.features(self.main_frames),
            name="sweep",
            runs_root=self.run / "tune",
            storage_path=self.shared(self.run / "tune" / "ray_results") if self.bucket else None,
            address=self.cfg.address,
            overrides=self.cfg.sweep_overrides,
        )
        return {
            "title": "Hyperparameter sweep: Ray Tune over the loss weights",
            "what_ran": f"search space `{self.cfg.sweep_config}`, {result['n_trials']} trials, metric "
            f"val/action_acc; best config exported to "
            f"`{Path(result['best_config']).relative_to(self.run)}`",
            "tables": [{"title": "Trials", "markdown": Path(result["results_md"]).read_text()}],
            "figures": [
                {"title": Path(p).stem, "path": str(Path(p).relative_to(self.run))}
                for p in result.get("plots", [])
            ],
            "metrics": {"sweep": result},
        }

    # -- 5. recognition --------------------------------------------------------------------------
    def stage_recognition(self) -> dict[str, Any]:
        from roboact.datasets.stores import FeatureStore
        from roboact.distributed.recognition import ablation_fits, cross_embodiment, evaluate_recognition

        c = self.cfg
        root = self.run / "recognition"
        base = self.train_config("ablations", root, self.features(self.main_frames))
        ablations = ablation_fits(
            [self.features(n) for n in sorted(c.recognition_frames)],
            base=base,
            name="ablations",
            address=c.address,
            ablations=c.recognition_ablations,
        )
        main = evaluate_recognition(
            self.main_model, self.features(self.main_frames), out_dir=root / "main_eval"
        )
        with FeatureStore(self.features(self.main_frames)) as store:
            subjects = store.vocab("subject")
        if c.heldout_subjects >= 0:
            subjects = subjects[: c.heldout_subjects]
        tables = [
            {
                "title": "Recognition (paper Sec. IV-A): top-1 accuracy (%), ours beside the paper's",
                "markdown": ablations["markdown"],
            },
            {
                "title": "Main model: accuracy and text-to-video retrieval on the test split",
                "markdown": _recognition_markdown(main),
            },
        ]
        xemb = None
        if subjects:
            xemb_cfg = self.train_config("xemb", root, self.features(self.main_frames))
            xemb = cross_embodiment(
                self.features(self.main_frames), subjects, xemb_cfg, name="xemb", address=c.address
            )
            tables.append(
                {
                    "title": "Cross-embodiment zero-shot (beyond the paper): train without one embodiment, "
                    "test on it",
                    "markdown": xemb["markdown"],
                }
            )
        figures = [
            {"title": f"confusion {k}", "path": str(Path(p).relative_to(self.run))}
            for k, p in sorted(main.get("confusion", {}).items())
        ]
        return {
            "title": "Recognition (paper Sec. IV-A): frame counts, w/o disentanglement, held-out embodiment",
            "what_ran": f"one fit per row with the same budget (`{c.train_config}`), "
            f"frames {sorted(c.recognition_frames)} "
            f"and {', '.join(c.recognition_ablations) or 'no ablation'}; test part of the random split; "
            f"held-out: {subjects}",
            "tables": tables,
            "figures": figures,
            "metrics": {"ablation_rows": ablations["rows"], "main": main, "cross_embodiment": xemb},
        }

    # -- 6. scripted demonstrations --------------------------------------------------------------
    def suites(self) -> list[tuple[str, list[str]]]:
        return [
            (s, t) for s, t in (("libero", self.cfg.libero_tasks), ("kitchen", self.cfg.kitchen_tasks)) if t
        ]

    def demos_path(self, suite: str) -> Path:
        return self.run / "sim" / f"demos_{suite}.h5"

    def demo_tasks(self, suite: str, tasks: list[str]) -> list[str]:
        """The tasks with at least one successful expert demo: BC trains on these.

        A task whose scripted expert failed every demo episode is still evaluated, as a task the
        heads never saw, rather than dropping the whole suite.
        """
        from roboact.sim_workers.demos import demo_stats

        stats = demo_stats(self.demos_path(suite), tasks)
        return [t for t in tasks if stats.get(t, {}).get("successes", 0) > 0]

    def stage_sim_demos(self) -> dict[str, Any]:
        from roboact.sim_workers.demos import DEMO_SEED_BASE, collect_demos

        c = self.cfg
        results, rows = {}, []
        for suite, tasks in self.suites():
            out = collect_demos(
                suite=suite,
                tasks=tasks,
                episodes=c.demos_per_task,
                out_path=self.demos_path(suite),
                workers=c.workers,
                address=c.address,
                seed_base=DEMO_SEED_BASE + c.seed,
                starts="sampled",
            )
            results[suite] = out
            for task, t in out["tasks"].items():
                rows.append(
                    f"| {suite} | {task} | {t['episodes']} | {t['successes']} | {100 * t['rate']:.1f} | "
                    f"{t['mean_steps']:.0f} |"
                )
        table = (
            "| suite | task | episodes | successes | expert success (%) | mean steps |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
        return {
            "title": "Scripted demonstrations (privileged-state experts)",
            "what_ran": f"{c.demos_per_task} expert episodes per task, seeds from {DEMO_SEED_BASE + c.seed}; "
            "LIBERO demos start from placements freshly sampled from each task's init regions, never "
            f"from the 50 fixed init states the evaluation uses; {c.workers} simulator actors",
            "tables": [
                {"title": "Expert success (these episodes are the BC training data)", "markdown": table}
            ],
            "metrics": results,
        }

    # -- 7. policy heads -------------------------------------------------------------------------
    def policy_dir(self, suite: str, head: str) -> str:
        """Where a head is written and read: in the run, or in the bucket on a cluster with no shared
        disk (evaluation actors on every node load it; RLlib's read tasks read its offline data)."""
        return self.shared(self.run / "policy" / f"{suite}_{head}")

    def has_head(self, suite: str, head: str) -> bool:
        from roboact import storage

        return storage.exists(storage.join(self.policy_dir(suite, head), "policy.json"))

    def heads(self) -> dict[str, str]:
        """Policy-head name -> feature spec: RoboAct-CLIP features vs frame features only (A6/CLIP row)."""
        return {"roboact-clip": f"roboact:{self.shared(self.main_model)}", "frame-features": self.cfg.encoder}

    def stage_policy(self) -> dict[str, Any]:
        from roboact.distributed.policy import train_policy

        c = self.cfg
        results, rows, notes = {}, [], []
        for suite, tasks in self.suites():
            trainable = self.demo_tasks(suite, tasks)
            unseen = [t for t in tasks if t not in trainable]
            if unseen:
                notes.append(
                    f"{suite}: no successful expert demo of {unseen}; heads are trained for {trainable} "
                    f"only (one head per task), and {unseen} are not evaluated"
                )
            if not trainable:
                continue
            for head, spec in self.heads().items():
                try:
                    out = train_policy(
                        demos=self.demos_path(suite),
                        features=spec,
                        out=self.policy_dir(suite, head),
                        iterations=c.policy_iterations,
                        address=c.address,
                        tasks=trainable,
                    )
                except ValueError as err:  # demos BC cannot use (e.g. inconsistent shapes): say so, go on
                    notes.append(f"{suite}/{head}: not trained: {err}")
                    continue
                results[f"{suite}/{head}"] = out
                rows.append(
                    f"| {suite} | {head} | `{self.shown(spec)}` | {out['episodes']} | "
                    f"{out['steps']} | {out['iterations']} | {out['first_loss']:.4f} | "
                    f"{out['final_loss']:.4f} | {out['seconds']:.0f} |"
                )
        table = (
            "| suite | head | features | demos | steps | iterations | first BC loss | final BC loss | s |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )
        return {
            "title": "Policy heads: RLlib BC on frozen features + robot state",
            "what_ran": "one MLP head per task, the same head and BC budget for every row; only the frozen "
            "features differ",
            "tables": [{"title": "BC training", "markdown": table}],
            "notes": notes,
            "metrics": results,
        }

    # -- 8. parallel evaluation ------------------------------------------------------------------
    def stage_sim_eval(self) -> dict[str, Any]:
        from roboact.sim_workers.envs.registry import parse_tasks
        from roboact.sim_workers.eval import evaluate
        from roboact.sim_workers.tables import render_tables

        c = self.cfg
        tables, figures, videos, results, unseen = [], [], [], {}, []
        left_out = [
            t
            for suite, tasks in (("libero", c.libero_tasks), ("kitchen", c.kitchen_tasks))
            for t in parse_tasks(suite, None)
            if t not in tasks
        ]
        for suite, tasks in self.suites():
            run = self.run / "sim_eval" / suite
            trained = [h for h in self.heads() if self.has_head(suite, h)]
            if not trained:
                continue
            with_heads = self.demo_tasks(suite, tasks)  # one head per task: no demo, no head
            unseen += [t for t in tasks if t not in with_heads]
            if not with_heads:
                continue
            for head in trained:
                results[f"{suite}/{head}"] = evaluate(
                    suite=suite,
                    tasks=with_heads,
                    policy=self.policy_dir(suite, head),
                    episodes=c.eval_episodes,
                    max_steps=c.max_steps,
                    workers=c.workers,
                    run_dir=run,
                    address=c.address,
                    videos=1,
                    seed_base=c.seed + 1000,
                )
            tables.append(
                {
                    "title": f"{suite}: success rates, ours (measured) beside the paper's",
                    "markdown": render_tables(run, only_evaluated=True),  # each table once, in its suite
                }
            )
            if (run / "success.png").is_file():
                figures.append(
                    {"title": f"{suite} success", "path": str((run / "success.png").relative_to(self.run))}
                )
            videos += [
                {"title": p.stem, "path": str(p.relative_to(self.run))}
                for p in sorted(run.rglob("*.mp4"))[:4]
            ]
        return {
            "title": "Parallel benchmark evaluation (Tables II-IV of the paper)",
            "what_ran": f"{c.eval_episodes} episodes per task and policy, horizon {c.max_steps} steps, "
            f"evaluation "
            f"seeds from {c.seed + 1000} (disjoint from the demos), {c.workers} simulator actors; "
            "R3M, MPI and Robotic-CLIP rows are the paper's (not run: no weights)"
            + (f"; not evaluated: {unseen} (no successful expert demo, so no head)" if unseen else "")
            + (f"; paper tasks not run at this scale: {left_out} (see docs/demo.md)" if left_out else ""),
            "tables": tables,
            "figures": figures,
            "videos": videos,
            "metrics": results,
        }

    # -- 9. hardware: record -> train -> trial batch ----------------------------------------------
    def stage_hardware(self) -> dict[str, Any]:
        """The paper's real-arm protocol (Sec. IV-D) on the simulated arm: demonstrations recorded
        through the hardware actor, a head trained on them, then one scheduled batch that runs the
        scripted operator and that head on the same trial seeds."""
        import dataclasses

        from roboact.hardware.record import SEED_BASE as RECORD_SEED_BASE
        from roboact.hardware.report import table_v, table_v_dict
        from roboact.hardware.trial_plan import PolicySpec, load_plan
        from roboact.hardware.trials import run_trials

        c = self.cfg
        out_dir = self.run / "hardware"
        plan = load_plan(c.trials_plan)
        policies, notes, tables, metrics = [plan.policies[0]], [], [], {}
        head = self._arm_head(out_dir, notes, tables, metrics) if c.arm_demos > 0 else None
        if head is not None:
            policies.append(PolicySpec(name="head", kind="checkpoint", checkpoint=head))
        plan = dataclasses.replace(plan, policies=policies, repetitions=c.trial_repetitions)
        store = out_dir / "trials.sqlite"
        metrics["trials"] = run_trials(
            plan,
            backend=c.trials_backend,
            store_path=store,
            address=c.address,
            max_trials=c.max_trials or None,
        )
        tables.insert(0, {"title": "Results by policy and subtask", "markdown": table_v(store)})
        metrics["table_v"] = table_v_dict(store)
        metrics["policy_kinds"] = {p.name: p.kind for p in plan.policies}  # the paper's row is a learned head
        return {
            "title": "The arm: recorded demos, a learned head, a scheduled trial batch (Table V layout)",
            "what_ran": f"simulated arm (`{c.trials_backend}` backend, the physical drawer-and-tape "
            f"scene; not the real arm): {c.arm_demos} demos recorded through the hardware actor with the "
            f"scripted teleop device (seeds from {RECORD_SEED_BASE:,}), a head trained on them "
            f"(`{c.arm_features}`, {c.arm_policy_iterations} BC iterations, one shared head, chunks of 5), "
            f"then plan `{c.trials_plan}`'s task with the scripted operator and the head, "
            f"{c.trial_repetitions} trials each on the same trial seeds; success judged from the drawer's "
            "opening and the tape's pose; every command through the safety filter; trials written to SQLite "
            "as they finish",
            "tables": tables,
            "notes": notes,
            "metrics": metrics,
        }

    def _arm_head(self, out_dir: Path, notes: list[str], tables: list[dict], metrics: dict) -> str | None:
        """Record the demos and train the arm's head on them; None (with a note) when no head could be
        trained, so the batch still runs the scripted operator."""
        from roboact.distributed.policy import PolicyTrainConfig, train_policy
        from roboact.hardware.record import record_demos

        c = self.cfg
        demos = out_dir / "demos.hdf5"
        head = self.shared(out_dir / "head")  # the arm actor loads it on the arm's node
        rec = record_demos(
            c.trials_plan,
            demos,
            episodes=c.arm_demos,
            backend=c.trials_backend,
            device="scripted",
            noise=ARM_DEMO_NOISE,
            policy_hz=ARM_POLICY_HZ,
        )
        metrics["record"] = rec
        try:
            trained = train_policy(
                demos=demos,
                features=c.arm_features,
                out=head,
                iterations=c.arm_policy_iterations,
                address=c.address,
                config=PolicyTrainConfig(heads="shared", chunk=5),
            )
        except ValueError as err:  # e.g. no demo whose subtasks all succeeded
            notes.append(f"no learned head: {err}; the batch runs the scripted operator only")
            return None
        metrics["policy"] = trained
        samples = rec["samples"]  # of the demos recorded by this call (none when all were there)
        span = f"{min(samples)}-{max(samples)}" if samples else "-"
        tables.append(
            {
                "title": "Recorded demos and the head trained on them",
                "markdown": "| demos (recorded now) | samples per demo (expected) | subtask segments "
                "trained on | BC iterations | first / final BC loss | s |\n|---|---|---|---|---|---|\n"
                f"| {c.arm_demos} ({rec['recorded']}) | {span} ({rec['expected_samples']}) | "
                f"{trained['episodes']} | {trained['iterations']} | "
                f"{trained['first_loss']:.4f} / {trained['final_loss']:.4f} | {trained['seconds']:.0f} |",
            }
        )
        return head


def table_i_markdown(stats: dict[str, Any]) -> str:
    """Table I with our measured counts beside the paper's."""
    names = {
        "videos": "Total Videos",
        "tasks": "Unique Tasks",
        "actions": "Distinct Atomic Actions",
        "frames": "Total Frames",
    }
    rows = [f"| {label} | {stats[key]:,} | {TABLE_I[key]:,} |" for key, label in names.items()]
    return "| Item | Count (ours) | Count (paper) |\n|---|---|---|\n" + "\n".join(rows)


def _counts_markdown(what: str, counts: dict[str, int]) -> str:
    return f"| {what} | clips |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in sorted(counts.items()))


def _attempts_markdown(attempts: dict[str, int], failures: dict[str, int]) -> str:
    """A compact grid, embodiments by actions, each cell ``successes/attempts`` of the scripted
    controller (a cell below 100 % is where the source had to retry or gave up)."""
    pairs = [key.split("/", 1) for key in attempts]
    robots = sorted({r for r, _ in pairs})
    actions = sorted({a for _, a in pairs})
    lines = ["| embodiment | " + " | ".join(actions) + " |", "|---|" + "---|" * len(actions)]
    for robot in robots:
        cells = []
        for action in actions:
            n = attempts.get(f"{robot}/{action}")
            cells.append("-" if n is None else f"{n - failures.get(f'{robot}/{action}', 0)}/{n}")
        lines.append(f"| {robot} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _recognition_markdown(result: dict[str, Any]) -> str:
    acc = result["accuracy"]
    rows = [f"| {f} | {100 * acc[f]['aux']:.2f} | {100 * acc[f]['text']:.2f} |" for f in sorted(acc)]
    r = result.get("retrieval", {})
    lines = [
        "| factor | aux classifier (%) | text matching (%) |",
        "|---|---|---|",
        *rows,
        "",
        f"Text-to-video retrieval on {result['n']} test clips: "
        + ", ".join(f"{k} {100 * v:.1f} %" for k, v in r.items()),
    ]
    return "\n".join(lines)


def _training_curve(fit_dir: Path, out: Path) -> Path | None:
    """Plot the loss terms and validation accuracy from a fit's metrics.jsonl."""
    import json

    path = fit_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "step" in r and "event" not in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key in sorted({k for r in rows for k in r if k.startswith("train/") and k.endswith("loss")}):
        left.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=key[6:])
    for key in sorted({k for r in rows for k in r if k.startswith("val/") and k.endswith("_acc")}):
        right.plot([r["step"] for r in rows if key in r], [r[key] for r in rows if key in r], label=key[4:])
    left.set(xlabel="step", title="loss terms (Eq. 27)")
    right.set(xlabel="step", title="validation accuracy", ylim=(0, 1.02))
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
