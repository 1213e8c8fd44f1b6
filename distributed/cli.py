"""``roboact train``, ``roboact tune`` and ``roboact eval recognition|ablations|cross-embodiment|probe``.

Torch and Ray are imported inside the command bodies so ``roboact --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from roboact.cli_util import fail
from roboact.stage import ConfigFileOpt, PrintConfigOpt, resolve
from roboact.stage import OverridesArg as StageOverridesArg

ConfigOpt = Annotated[
    str,
    typer.Option(
        "--config",
        "-c",
        help="YAML of the config keys listed below (a TrainConfig file is one): name or path.",
    ),
]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Ray cluster address (default: local Ray, or RAY_ADDRESS).")
]
StorageOpt = Annotated[
    str | None,
    typer.Option("--storage-path", help="Ray checkpoint storage: shared FS or s3://... on a cluster."),
]
# every path option is a str: Ray and roboact.storage take URIs, and Path("s3://b/k") is s3:/b/k
FeaturesUriOpt = Annotated[
    str | None, typer.Option("--features", "-f", help="Feature store (HDF5): a path or an s3:// / gs:// URI.")
]
RunsUriOpt = Annotated[
    str, typer.Option("--runs-root", help="Parent of run directories: a folder or an s3:// / gs:// URI.")
]
SharedFsOpt = Annotated[
    bool,
    typer.Option(
        "--shared-fs",
        help="Local paths lie on a filesystem every node mounts (else refused on a multi-node cluster; "
        "ROBOACT_SHARED_FS=1).",
    ),
]
OverridesArg = StageOverridesArg
TRAIN_FLAGS = {
    "name": "name",
    "workers": "workers",
    "address": "address",
    "storage_path": "storage_path",
    "runs_root": "runs_root",
}
"""the options of the fitting commands -> TrainConfig keys (each command adds its --features key)"""


def register(app: typer.Typer) -> None:
    """Add ``train``, ``tune`` and the ``eval`` group to the top-level app."""
    app.command("train", cls=_stage("distributed.train_config:TrainJobConfig", "distributed.train", "train"))(
        train_cmd
    )
    app.command("tune", cls=_stage("distributed.tune:TuneJobConfig", "distributed.tune", "tune"))(tune_cmd)
    grp = typer.Typer(help="Recognition evaluation (paper Sec. IV-A and beyond).", no_args_is_help=True)
    rec = "distributed.recognition"
    grp.command("recognition", cls=_stage(f"{rec}:RecognitionConfig", rec, "eval recognition"))(
        recognition_cmd
    )
    grp.command("ablations", cls=_stage(f"{rec}:AblationsConfig", rec, "eval ablations"))(ablations_cmd)
    grp.command("cross-embodiment", cls=_stage(f"{rec}:CrossEmbodimentConfig", rec, "eval cross-embodiment"))(
        cross_embodiment_cmd
    )
    probe = "distributed.probe"
    grp.command("probe", cls=_stage(f"{probe}:ProbeConfig", probe, "eval probe"))(probe_cmd)
    app.add_typer(grp, name="eval")


def _stage(config: str, module: str, command: str) -> type:
    from roboact.stage import entry_point_name, stage_command

    return stage_command(f"roboact.{config}", f"roboact.{module}:{entry_point_name(command)}")


def train_cmd(
    ctx: typer.Context,
    features: FeaturesUriOpt = None,
    config: ConfigOpt = "train_default",
    name: Annotated[str | None, typer.Option("--name", "-n", help="Run name; the same name resumes.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", help="Ray Train workers (DDP ranks).")
    ] = None,
    address: AddressOpt = None,
    storage_path: StorageOpt = None,
    runs_root: RunsUriOpt = "runs",
    shared_fs: SharedFsOpt = False,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Fit RoboAct-CLIP on a feature store with Ray Train (DDP); rerun with the same --name to resume."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.train import run_train
    from roboact.distributed.train_config import TrainJobConfig

    cfg = resolve(ctx, TrainJobConfig, {**TRAIN_FLAGS, "features": "data.features", "shared_fs": "shared_fs"})
    try:
        out = run_train(cfg)
    except (StoreError, ValueError) as err:
        fail(str(err))
    val = {k: round(v, 4) for k, v in out["metrics"].items() if k.startswith("val/")}
    typer.echo(
        json.dumps(
            {
                "run_dir": out.get("run_uri", out["run_dir"]),
                "model_dir": out.get("model_uri", out["model_dir"]),
                "steps": out["steps"],
                "seconds": round(out["seconds"], 1),
                **val,
            },
            indent=2,
        )
    )


def tune_cmd(
    ctx: typer.Context,
    features: FeaturesUriOpt = None,
    config: Annotated[
        str,
        typer.Option(
            "--config", "-c", "--sweep", "-s", help="Sweep YAML (TuneJobConfig keys): shipped name or path."
        ),
    ] = "sweep_smoke",
    name: Annotated[str, typer.Option("--name", "-n", help="Sweep name; the same name resumes.")] = "sweep",
    address: AddressOpt = None,
    storage_path: StorageOpt = None,
    runs_root: RunsUriOpt = "runs",
    shared_fs: SharedFsOpt = False,
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Sweep loss weights and the learning rate with Ray Tune (ASHA, Optuna optional); trials are fits."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.tune import TuneJobConfig, run_tune

    flags = ("features", "name", "address", "storage_path", "runs_root", "shared_fs")
    cfg = resolve(ctx, TuneJobConfig, {f: f for f in flags})
    try:
        out = run_tune(cfg)
    except (StoreError, ValueError) as err:
        fail(str(err))
    typer.echo(Path(out["results_md"]).read_text())
    typer.echo(
        json.dumps(
            {k: out[k] for k in ("best_config", "best_params", "best_metric", "results_csv")}, indent=2
        )
    )


def recognition_cmd(
    ctx: typer.Context,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model directory (save_pretrained output): a path or a URI."),
    ] = None,
    features: FeaturesUriOpt = None,
    split: Annotated[str, typer.Option("--split", help="Named split of the store.")] = "random",
    part: Annotated[str, typer.Option("--part", help="train, val or test.")] = "test",
    out: Annotated[
        str | None, typer.Option("--out", help="Output folder or URI (default beside the model).")
    ] = None,
    config: ConfigFileOpt = None,
    overrides: StageOverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Subject/action/object top-1 accuracy (aux heads and text matching), confusion plots, R@1/5/10."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.recognition import RecognitionConfig, run_eval_recognition

    cfg = resolve(ctx, RecognitionConfig, {f: f for f in ("model", "features", "split", "part", "out")})
    try:
        res = run_eval_recognition(cfg)
    except (StoreError, FileNotFoundError, ValueError) as err:
        fail(str(err))
    typer.echo(f"{res['n']} clips of {cfg.split}/{cfg.part}; outputs in {res['out_dir']}")
    typer.echo(res["markdown"])  # accuracy per factor with its bootstrap 95 % CI, R@1/5/10


def ablations_cmd(
    ctx: typer.Context,
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--features",
            "-f",
            help="Feature stores (paths or s3:// / gs:// URIs), one per frame count (8/16/32).",
        ),
    ] = None,
    config: ConfigOpt = "train_default",
    name: Annotated[
        str, typer.Option("--name", "-n", help="Prefix of the row fits; reruns skip finished.")
    ] = ("ablations"),
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Ray Train workers per fit.")] = None,
    address: AddressOpt = None,
    storage_path: StorageOpt = None,
    runs_root: RunsUriOpt = "runs",
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Sec. IV-A recognition rows: 8/16/32 frames and w/o disentanglement on one budget, beside the paper."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.recognition import AblationsConfig, run_eval_ablations

    cfg = resolve(ctx, AblationsConfig, {**TRAIN_FLAGS, "features": "stores"})
    try:
        out = run_eval_ablations(cfg)
    except (StoreError, ValueError) as err:
        fail(str(err))
    typer.echo(out["markdown"])
    typer.echo(f"\nwritten to {out['path']}")


def cross_embodiment_cmd(
    ctx: typer.Context,
    features: FeaturesUriOpt = None,
    subject: Annotated[
        list[str] | None,
        typer.Option("--subject", help="Held-out subject(s); default: every heldout_* split."),
    ] = None,
    config: ConfigOpt = "train_default",
    name: Annotated[
        str, typer.Option("--name", "-n", help="Prefix of the fits; reruns skip finished.")
    ] = "xemb",
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Ray Train workers per fit.")] = None,
    address: AddressOpt = None,
    storage_path: StorageOpt = None,
    runs_root: RunsUriOpt = "runs",
    overrides: OverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Cross-embodiment zero-shot: train without one embodiment, test on it (one row per held-out subject)."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.recognition import CrossEmbodimentConfig, run_eval_cross_embodiment

    flags = {**TRAIN_FLAGS, "features": "data.features", "subject": "subjects"}
    cfg = resolve(ctx, CrossEmbodimentConfig, flags)
    try:
        out = run_eval_cross_embodiment(cfg)
    except (StoreError, ValueError) as err:
        fail(str(err))
    typer.echo(out["markdown"])
    typer.echo(f"\nwritten to {out['path']}")


def probe_cmd(
    ctx: typer.Context,
    features: FeaturesUriOpt = None,
    split: Annotated[
        str, typer.Option("--split", help="Named split (probe fits its train part).")
    ] = "random",
    part: Annotated[str, typer.Option("--part", help="val or test: the part it is scored on.")] = "test",
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    config: ConfigFileOpt = None,
    overrides: StageOverridesArg = None,
    print_config: PrintConfigOpt = False,
) -> None:
    """Linear probe of the frozen features: per-factor accuracy of a logistic regression (no fit needed)."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.probe import ProbeConfig, run_eval_probe

    cfg = resolve(ctx, ProbeConfig, {f: f for f in ("features", "split", "part")})
    try:
        res = run_eval_probe(cfg)
    except (StoreError, FileNotFoundError, ValueError) as err:
        fail(str(err))
    if json_out:
        typer.echo(json.dumps({k: v for k, v in res.items() if k != "markdown"}, indent=2))
    else:
        typer.echo(res["markdown"])
