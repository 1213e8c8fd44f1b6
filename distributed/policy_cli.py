"""``roboact policy``: train an RLlib BC policy head on frozen features, inspect a checkpoint.

Torch, Ray and RLlib are imported inside the command bodies so ``roboact --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from roboact.cli_util import fail
from roboact.stage import PrintConfigOpt, resolve, split_commas, stage_command

from .cli import SharedFsOpt

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add the ``policy`` group to the ``roboact`` app."""
    grp = typer.Typer(
        help="Policy heads on frozen features (RLlib BC), paper Sec. III-C.", no_args_is_help=True
    )

    stage = stage_command(
        "roboact.distributed.policy_job:PolicyJobConfig", "roboact.distributed.policy_job:run_policy_train"
    )

    @grp.command("train", cls=stage)
    def train(
        ctx: typer.Context,
        demos: Annotated[
            list[str] | None,
            typer.Option("--demos", help="Demo HDF5 file or s3:// / gs:// URI (repeat for more files)."),
        ] = None,
        features: Annotated[
            str | None,
            typer.Option(
                "--features",
                help="embedded | open_clip:<arch>:<ckpt> | roboact:<model_dir>; "
                "options @k=N,stride=S,history=H,every=E",
            ),
        ] = None,
        out: Annotated[
            str | None, typer.Option("--out", help="Checkpoint directory (or s3:// / gs:// URI) to write.")
        ] = None,
        dotted: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="[KEY=VALUE]...",
                help="Dotted config overrides (keys below), e.g. lr=3e-4 "
                "'cameras=[agentview,robot0_eye_in_hand]'.",
            ),
        ] = None,
        iterations: Annotated[
            int | None, typer.Option("--iterations", help="BC gradient updates (default: the config's).")
        ] = None,
        batch_size: Annotated[int | None, typer.Option("--batch-size", help="Steps per minibatch.")] = None,
        tasks: Annotated[
            str | None, typer.Option("--tasks", help="Comma-separated task names to train on (default: all).")
        ] = None,
        config: Annotated[
            str | None,
            typer.Option(
                "--config",
                "-c",
                help="YAML of the config keys below (path or shipped name, e.g. policy_default).",
            ),
        ] = None,
        address: Annotated[
            str | None, typer.Option("--address", help="Ray cluster address (default: local or RAY_ADDRESS).")
        ] = None,
        num_learners: Annotated[
            int | None,
            typer.Option(
                "--num-learners",
                help="Remote RLlib learner actors (0: learn in this process, the default; the config's "
                "num_learners).",
            ),
        ] = None,
        shared_fs: SharedFsOpt = False,
        print_config: PrintConfigOpt = False,
    ) -> None:
        """Train a BC head on the demos' frozen features and write a checkpoint directory."""
        from .policy_job import PolicyJobConfig, run_policy_train

        names = ("demos", "features", "out", "iterations", "batch_size", "address", "num_learners")
        names += ("shared_fs",)
        flags = {**{n: n for n in names}, "tasks": ("tasks", split_commas)}
        cfg = resolve(ctx, PolicyJobConfig, flags, overrides=dotted or [])
        try:
            summary = run_policy_train(cfg)
        except (ValueError, FileNotFoundError) as err:
            fail(f"policy train: {err}")
        typer.echo(
            json.dumps({"out": cfg.out, **{k: v for k, v in summary.items() if k != "loss_curve"}}, indent=1)
        )

    @grp.command("info")
    def info(
        ckpt: Annotated[str, typer.Argument(help="Policy checkpoint directory or s3:// / gs:// URI.")],
    ) -> None:
        """Print a checkpoint's feature spec, dimensions, tasks and training summary."""
        from roboact.policies.checkpoint import heads_meta, read_policy_meta

        try:
            meta = read_policy_meta(ckpt)
        except (ValueError, FileNotFoundError) as err:
            fail(f"policy info: {err}")
        training = {k: v for k, v in meta.get("training", {}).items() if k != "loss_curve"}
        keys = ("features", "feature_dim", "state_dim", "action_dim", "chunk", "suite")
        shown = {k: meta.get(k) for k in keys}
        from roboact.hardware.demo_file import parse_arm_space

        arm = parse_arm_space(str(meta.get("suite") or ""))
        if arm is not None:  # a head on the arm's own spaces (recorded demos): robot, action, rate
            shown["arm"] = arm
        heads = heads_meta(meta)
        shown["heads"] = {
            name: {"tasks": h["normalisation"]["tasks"], "obs_dim": h.get("obs_dim", meta.get("obs_dim"))}
            for name, h in heads.items()
        }
        typer.echo(
            json.dumps({**shown, "model_config": meta.get("model_config"), "training": training}, indent=1)
        )

    app.add_typer(grp, name="policy")
