"""``roboact sim``: scripted demos, parallel evaluation, tables (paper Sec. IV.B)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from roboact.cli_util import fail
from roboact.stage import (
    ConfigFileOpt,
    Flag,
    OverridesArg,
    PrintConfigOpt,
    resolve,
    split_commas,
    stage_command,
)

SuiteOpt = Annotated[str, typer.Option("--suite", help="libero or kitchen.")]
TasksOpt = Annotated[
    str,
    typer.Option(
        "--tasks",
        help="Comma-separated short names (T1..T6; knob,door,switch,"
        "micro,slide); empty = the suite's paper tasks; 'all'.",
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Simulator actors.")]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Ray cluster address (default: local or RAY_ADDRESS).")
]
ImageOpt = Annotated[
    int, typer.Option("--image-size", min=0, help="Camera resolution in px; 0 = no rendering.")
]


def register(app: typer.Typer) -> None:
    """Add the ``sim`` group to the top-level app."""
    grp = typer.Typer(help="Simulators: scripted demos, parallel evaluation, tables.", no_args_is_help=True)
    demos_stage = stage_command(
        "roboact.sim_workers.demos:SimDemosConfig", "roboact.sim_workers.demos:run_sim_demos"
    )
    grp.command("demos", cls=demos_stage)(demos)
    eval_stage = stage_command(
        "roboact.sim_workers.eval:SimEvalJobConfig", "roboact.sim_workers.eval:run_sim_eval"
    )
    grp.command("eval", cls=eval_stage)(eval_cmd)
    grp.command("table")(table)
    app.add_typer(grp, name="sim")


def demos(
    ctx: typer.Context,
    suite: SuiteOpt = "libero",
    tasks: TasksOpt = "",
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Expert episodes per task.")] = 5,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="HDF5 file or s3:// / gs:// URI (default runs/demos/demos_<suite>.hdf5); a rerun "
            "appends the missing episodes.",
        ),
    ] = None,
    workers: WorkersOpt = 2,
    image_size: ImageOpt = 128,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Expert episode horizon.")] = 300,
    seed_base: Annotated[
        int,
        typer.Option("--seed-base", help="Episode k uses seed seed_base + k (evaluations start at 0)."),
    ] = 100_000,
    starts: Annotated[
        str,
        typer.Option(
            "--starts",
            help="LIBERO starts: sampled (fresh placements from the task's init regions, never the "
            "evaluation's 50 fixed init states) or init_states.",
        ),
    ] = "sampled",
    action_noise: Annotated[
        float | None,
        typer.Option(
            "--action-noise",
            help="DART noise (std, action units) added to the executed arm actions while the clean "
            "expert action is recorded; default per suite (LIBERO 0.1, Kitchen 0).",
        ),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="expert (demonstrations), or dagger:<policy checkpoint>[@beta=p]: DAgger, the learned "
            "head runs and the expert labels every step (use a --seed-base of its own per round).",
        ),
    ] = "expert",
    cameras: Annotated[
        str | None,
        typer.Option(
            "--cameras",
            help="Comma-separated views to record, agentview first, each stored as obs/<name>_rgb "
            "(default: the suite's views: LIBERO agentview,robot0_eye_in_hand; Kitchen agentview).",
        ),
    ] = None,
    address: AddressOpt = None,
    config: ConfigFileOpt = None,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Collect scripted-expert demonstrations (robomimic/LIBERO HDF5 layout), resumable, in parallel."""
    from roboact.sim_workers.demos import SimDemosConfig, check_sim_demos_config, run_sim_demos

    names = ("suite", "episodes", "out", "workers", "image_size", "max_steps", "seed_base", "starts")
    names += ("action_noise", "policy", "address")
    flags = {**{n: n for n in names}, "tasks": ("tasks", split_commas), "cameras": ("cameras", split_commas)}
    cfg = resolve(ctx, SimDemosConfig, flags, check=check_sim_demos_config)
    summary = _sim_demos_mirrored(cfg, run_sim_demos)
    typer.echo(
        f"demos in {summary['path']} ({summary['written']} new, {summary['skipped']} already there, "
        f"{summary['wall_s']:.0f} s)"
    )
    for task, s in summary["tasks"].items():
        typer.echo(
            f"  {task:>7}: expert success {s['successes']}/{s['episodes']} ({100 * s['rate']:.0f} %), "
            f"mean {s['mean_steps']:.0f} steps"
        )
    if summary["failed"]:
        typer.echo(f"{len(summary['failed'])} episodes failed after retries: {summary['failed']}", err=True)


def eval_cmd(
    ctx: typer.Context,
    overrides: OverridesArg = None,
    suite: SuiteOpt = "libero",
    tasks: TasksOpt = "",
    policy: Annotated[
        str, typer.Option("--policy", help="expert | random | zero | policy checkpoint dir.")
    ] = "expert",
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes per task.")] = 50,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Horizon (the paper: 200).")] = 200,
    workers: WorkersOpt = 2,
    run_dir: Annotated[
        str,
        typer.Option(
            "--run-dir",
            help="Results directory or s3:// / gs:// URI (kept current episode by episode); a rerun resumes.",
        ),
    ] = "runs/sim_eval",
    videos: Annotated[int, typer.Option("--videos", help="mp4s per task.")] = 2,
    image_size: ImageOpt = 128,
    seed_base: Annotated[int, typer.Option("--seed-base", help="Episode k uses seed seed_base + k.")] = 0,
    timeout: Annotated[
        float, typer.Option("--episode-timeout", help="Seconds before an episode is retried.")
    ] = 900.0,
    address: AddressOpt = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML of the config keys below (path or shipped name, e.g. eval_libero); its values "
            "replace the options' defaults, an option you type replaces its value.",
        ),
    ] = None,
    shared_fs: Annotated[
        bool,
        typer.Option(
            "--shared-fs",
            help="A local --policy directory lies on a filesystem every node mounts (else refused on a "
            "multi-node cluster; use an s3:// / gs:// URI or ROBOACT_SHARED_FS=1).",
        ),
    ] = False,
    print_config: PrintConfigOpt = False,
) -> None:
    """Evaluate a policy on a Ray actor pool of simulators; per-task success with 95 % CI."""
    from roboact.sim_workers.eval import SimEvalJobConfig, run_sim_eval

    flags: dict[str, Flag] = {n: n for n in ("suite", "policy", "episodes", "seed_base", "videos", "address")}
    flags |= {"tasks": ("tasks", split_commas), "run_dir": "run_dir", "shared_fs": "shared_fs"}
    flags |= {"image_size": "env.image_size", "max_steps": "env.max_steps"}
    flags |= {"workers": "pool.workers", "timeout": "pool.episode_timeout_s"}
    cfg = resolve(ctx, SimEvalJobConfig, flags, overrides=overrides or [])
    run_dir = cfg.run_dir
    try:
        summary = run_sim_eval(cfg)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    for task, s in summary["tasks"].items():
        typer.echo(
            f"{task:>7}: {100 * s['rate']:5.1f} %  [{100 * s['ci_low']:.0f}, {100 * s['ci_high']:.0f}]  "
            f"({s['successes']}/{s['episodes']}, {summary['max_steps']} steps)"
        )
    typer.echo(
        f"overall {100 * summary['overall']:.1f} %; results in {run_dir}/episodes.jsonl, tables in "
        f"{run_dir}/tables.md"
    )
    if summary["failed"]:
        typer.echo(
            f"{len(summary['failed'])} episodes failed after retries: {json.dumps(summary['failed'])}",
            err=True,
        )


def table(
    run_dir: Annotated[str, typer.Argument(help="An eval run directory, or its s3:// / gs:// URI.")],
) -> None:
    """Print the paper's Tables II-IV with this run's rows beside them (writes tables.md, success.png)."""
    from roboact.sim_workers.tables import render_tables

    from roboact import storage

    if storage.is_remote(run_dir) and not storage.is_dir(run_dir):
        fail(f"{run_dir}: no such eval run directory")
    try:
        with storage.mirror(run_dir) as run:  # a URI: read from the bucket, the tables written back
            typer.echo(render_tables(run.path))
    except FileNotFoundError as err:
        fail(str(err))


DEMO_SYNC_S = 30.0
"""least seconds between two uploads of a growing demo file to a bucket"""


def _sim_demos_mirrored(cfg: Any, run: Any) -> dict[str, Any]:
    """``run(cfg)`` with an ``s3://`` / ``gs://`` ``--out`` written to a node-local file and uploaded.

    The demo file is resumed from the bucket's copy and uploaded after each written episode (at most
    every ``DEMO_SYNC_S`` seconds, the file grows with every episode) and when the batch ends, also
    after an error (``storage.mirror``), so the episodes that finished are kept.
    """
    import dataclasses

    from roboact import storage

    if cfg.out is None or not storage.is_remote(cfg.out):
        return run(cfg)
    with storage.mirror(cfg.out, is_file=True) as out:
        summary = run(dataclasses.replace(cfg, out=str(out.path)), lambda: out.sync(DEMO_SYNC_S))
    return {**summary, "path": cfg.out}
