"""``roboact sim``: scripted demos, parallel evaluation, tables (paper Sec. IV.B)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from roboact.cli_util import fail

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
    grp.command("demos")(demos)
    grp.command("eval")(eval_cmd)
    grp.command("table")(table)
    app.add_typer(grp, name="sim")


def demos(
    suite: SuiteOpt = "libero",
    tasks: TasksOpt = "",
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Expert episodes per task.")] = 5,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="HDF5 file (default runs/demos/demos_<suite>.hdf5); a rerun appends the missing episodes.",
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
        str,
        typer.Option(
            "--cameras",
            help="Comma-separated views to record, agentview first (LIBERO: add robot0_eye_in_hand for "
            "the wrist view); each is stored as obs/<name>_rgb.",
        ),
    ] = "agentview",
    address: AddressOpt = None,
) -> None:
    """Collect scripted-expert demonstrations (robomimic/LIBERO HDF5 layout), resumable, in parallel."""
    from roboact.sim_workers.demos import collect_demos
    from roboact.sim_workers.envs.registry import EnvConfig, parse_tasks

    try:
        task_list = parse_tasks(suite, tasks or None)
    except ValueError as err:
        fail(f"--tasks/--suite: {err}")
    views = tuple(c.strip() for c in cameras.split(",") if c.strip())
    try:
        EnvConfig(cameras=views)
    except ValueError as err:
        fail(f"--cameras: {err}")
    if suite == "kitchen" and views != ("agentview",):
        fail(f"--cameras: Kitchen renders one view (agentview), got {cameras!r}")
    path = out or Path("runs/demos") / f"demos_{suite}.hdf5"
    summary = collect_demos(
        suite,
        task_list,
        episodes,
        path,
        workers=workers,
        image_size=image_size,
        max_steps=max_steps,
        address=address,
        seed_base=seed_base,
        starts=starts,
        action_noise=action_noise,
        policy=policy,
        cameras=views,
    )
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
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Dotted EvalConfig overrides applied last, e.g. env.max_steps=300 pool.workers=4 "
            "(the same key=value form as train, tune, demo and bench)."
        ),
    ] = None,
    suite: SuiteOpt = "libero",
    tasks: TasksOpt = "",
    policy: Annotated[
        str, typer.Option("--policy", help="expert | random | zero | policy checkpoint dir.")
    ] = "expert",
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes per task.")] = 50,
    max_steps: Annotated[int, typer.Option("--max-steps", min=1, help="Horizon (the paper: 200).")] = 200,
    workers: WorkersOpt = 2,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Results directory; a rerun resumes.")] = Path(
        "runs/sim_eval"
    ),
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
            help="EvalConfig YAML (path or shipped name, e.g. eval_libero); replaces "
            "the options above except --run-dir/--address.",
        ),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option("--override", "-o", hidden=True, help="Old spelling of the positional overrides."),
    ] = None,
    shared_fs: Annotated[
        bool,
        typer.Option(
            "--shared-fs",
            help="A local --policy directory lies on a filesystem every node mounts (else refused on a "
            "multi-node cluster; use an s3:// / gs:// URI or ROBOACT_SHARED_FS=1).",
        ),
    ] = False,
) -> None:
    """Evaluate a policy on a Ray actor pool of simulators; per-task success with 95 % CI."""
    from roboact.sim_workers.envs.registry import parse_tasks
    from roboact.sim_workers.eval import EvalConfig, run_eval

    from roboact.config import load_config

    dotted = [*(overrides or []), *(override or [])]
    try:
        if config is not None:  # the file replaces the options; overrides apply on top
            cfg = load_config(EvalConfig, config, dotted)
        else:
            preset = {
                "suite": suite,
                "tasks": parse_tasks(suite, tasks or None),
                "policy": policy,
                "episodes": episodes,
                "seed_base": seed_base,
                "videos": videos,
                "env": {"image_size": image_size, "max_steps": max_steps},
                "pool": {"workers": workers, "episode_timeout_s": timeout},
            }
            cfg = load_config(EvalConfig, None, dotted, preset=preset)
        check_checkpoint(cfg.policy)
        _require_shared_policy(cfg.policy, address, shared_fs)
        summary = run_eval(cfg, run_dir, address=address)
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


def _require_shared_policy(spec: str, address: str | None, shared_fs: bool) -> None:
    """Every actor loads the policy directory itself: on a multi-node cluster it must be a URI or on
    a filesystem every node mounts (``roboact.cluster.require_shared_paths``)."""
    from roboact.cluster import require_shared_paths

    if spec in ("expert", "random", "zero"):
        return
    if spec.startswith("dagger:"):
        from roboact.sim_workers.dagger import parse_dagger_spec

        spec = parse_dagger_spec(spec)[0]
    require_shared_paths({"--policy": spec}, address, shared_fs)


def check_checkpoint(spec: str) -> None:
    """Read a policy checkpoint's manifest here, in the driver, before Ray and the actors start.

    Why: each actor loads the policy itself, so a truncated ``policy.json`` or a missing
    ``rl_module/`` used to surface only after Ray had started, as an actor error naming no path.
    Raises ``FileNotFoundError`` / ``ValueError`` naming the checkpoint file at fault.
    """
    from roboact.sim_workers.policy import MANIFEST, check_policy_spec, load_policy

    from roboact.storage import is_remote, local_copy

    check_policy_spec(spec)
    if spec in ("expert", "random", "zero"):
        return
    path = local_copy(spec) if is_remote(spec) else Path(spec).expanduser()  # reused by local actors
    if (path / MANIFEST).is_file():  # a small numpy policy: loading it is the check
        load_policy(spec)
        return
    from roboact.policies.checkpoint import check_checkpoint as check_head_checkpoint

    check_head_checkpoint(path)


def table(run_dir: Annotated[Path, typer.Argument(help="An eval run directory.")]) -> None:
    """Print the paper's Tables II-IV with this run's rows beside them (writes tables.md, success.png)."""
    from roboact.sim_workers.tables import render_tables

    try:
        typer.echo(render_tables(run_dir))
    except FileNotFoundError as err:
        fail(str(err))
