"""``roboact train``, ``roboact tune`` and ``roboact eval recognition|table2|cross-embodiment``.

Torch and Ray are imported inside the command bodies so ``roboact --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from roboact.cli_util import fail

FeaturesOpt = Annotated[
    Path, typer.Option("--features", "-f", help="Feature store (HDF5) to train/evaluate on.")
]
ConfigOpt = Annotated[str, typer.Option("--config", "-c", help="Train config: shipped name or YAML path.")]
AddressOpt = Annotated[
    str | None, typer.Option("--address", help="Ray cluster address (default: local Ray, or RAY_ADDRESS).")
]
StorageOpt = Annotated[
    str | None,
    typer.Option("--storage-path", help="Ray checkpoint storage: shared FS or s3://... on a cluster."),
]
RunsOpt = Annotated[Path, typer.Option("--runs-root", help="Parent folder of run directories.")]
# train and tune hand these to Ray or stage them per node: a str keeps s3://b/k (Path makes it s3:/b/k)
FeaturesUriOpt = Annotated[
    str, typer.Option("--features", "-f", help="Feature store (HDF5): a path or an s3:// / gs:// URI.")
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
OverridesArg = Annotated[list[str] | None, typer.Argument(help="Dotted key=value config overrides.")]


def register(app: typer.Typer) -> None:
    """Add ``train``, ``tune`` and the ``eval`` group to the top-level app."""
    app.command("train")(train_cmd)
    app.command("tune")(tune_cmd)
    grp = typer.Typer(help="Recognition evaluation (paper Table II and beyond).", no_args_is_help=True)
    grp.command("recognition")(recognition_cmd)
    grp.command("table2")(table2_cmd)
    grp.command("cross-embodiment")(cross_embodiment_cmd)
    app.add_typer(grp, name="eval")


def _train_config(
    config: str,
    features: str | Path,
    name: str | None,
    runs_root: str | Path,
    storage_path: str | None,
    workers: int | None,
    overrides: list[str] | None,
):  # noqa: ANN202
    from roboact.distributed.train import TrainConfig

    from roboact.config import ConfigError, load_config

    extra = [f"data.features={features}", f"runs_root={runs_root}"]
    if name:
        extra.append(f"name={name}")
    if storage_path:
        extra.append(f"storage_path={storage_path}")
    if workers is not None:
        extra.append(f"workers={workers}")
    try:
        return load_config(TrainConfig, config, [*extra, *(overrides or [])])
    except (ConfigError, ValueError) as err:
        fail(f"train config: {err}")


def train_cmd(
    features: FeaturesUriOpt,
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
) -> None:
    """Fit RoboAct-CLIP on a feature store with Ray Train (DDP); rerun with the same --name to resume."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.train import fit

    cfg = _train_config(config, features, name, runs_root, storage_path, workers, overrides)
    try:
        out = fit(cfg, address=address, shared_fs=shared_fs)
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
    features: FeaturesUriOpt,
    sweep_config: Annotated[str, typer.Option("--sweep", "-s", help="Sweep YAML: shipped name or path.")] = (
        "sweep_smoke"
    ),
    name: Annotated[str, typer.Option("--name", "-n", help="Sweep name; the same name resumes.")] = "sweep",
    address: AddressOpt = None,
    storage_path: StorageOpt = None,
    runs_root: RunsUriOpt = "runs",
    shared_fs: SharedFsOpt = False,
    overrides: OverridesArg = None,
) -> None:
    """Sweep loss weights and the learning rate with Ray Tune (ASHA, Optuna optional); trials are fits."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.tune import sweep

    from roboact.config import ConfigError

    try:
        out = sweep(
            sweep_config,
            features,
            name=name,
            storage_path=storage_path,
            address=address,
            runs_root=runs_root,
            overrides=overrides,
            shared_fs=shared_fs,
        )
    except (ConfigError, StoreError, ValueError) as err:
        fail(str(err))
    typer.echo(Path(out["results_md"]).read_text())
    typer.echo(
        json.dumps(
            {k: out[k] for k in ("best_config", "best_params", "best_metric", "results_csv")}, indent=2
        )
    )


def recognition_cmd(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model directory (save_pretrained output).")],
    features: FeaturesOpt,
    split: Annotated[str, typer.Option("--split", help="Named split of the store.")] = "random",
    part: Annotated[str, typer.Option("--part", help="train, val or test.")] = "test",
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default beside the model).")
    ] = None,
) -> None:
    """Subject/action/object top-1 accuracy (aux heads and text matching), confusion plots, R@1/5/10."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.recognition import evaluate_recognition

    try:
        res = evaluate_recognition(model, features, split=split, part=part, out_dir=out)
    except (StoreError, FileNotFoundError, ValueError) as err:
        fail(str(err))
    typer.echo(f"{res['n']} clips of {split}/{part}; outputs in {res['out_dir']}")
    typer.echo(res["markdown"])  # accuracy per factor with its bootstrap 95 % CI, R@1/5/10


def table2_cmd(
    features: Annotated[
        list[Path], typer.Option("--features", "-f", help="Feature stores, one per frame count (8/16/32).")
    ],
    config: ConfigOpt = "train_default",
    name: Annotated[
        str, typer.Option("--name", "-n", help="Prefix of the row fits; reruns skip finished.")
    ] = ("table2"),
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="Ray Train workers per fit.")] = None,
    address: AddressOpt = None,
    storage_path: StorageOpt = None,
    runs_root: RunsOpt = Path("runs"),
    overrides: OverridesArg = None,
) -> None:
    """Table II: fit 8/16/32 frames and w/o disentanglement on one budget; ours beside the paper."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.recognition import table_ii_fits

    cfg = _train_config(config, features[0], None, runs_root, storage_path, workers, overrides)
    try:
        out = table_ii_fits(features, cfg, name=name, address=address)
    except (StoreError, ValueError) as err:
        fail(str(err))
    typer.echo(out["markdown"])
    typer.echo(f"\nwritten to {out['path']}")


def cross_embodiment_cmd(
    features: FeaturesOpt,
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
    runs_root: RunsOpt = Path("runs"),
    overrides: OverridesArg = None,
) -> None:
    """Cross-embodiment zero-shot: train without one embodiment, test on it (one row per held-out subject)."""
    from roboact.datasets.stores import StoreError
    from roboact.distributed.recognition import cross_embodiment

    cfg = _train_config(config, features, None, runs_root, storage_path, workers, overrides)
    try:
        out = cross_embodiment(features, subject, cfg, name=name, address=address)
    except (StoreError, ValueError) as err:
        fail(str(err))
    typer.echo(out["markdown"])
    typer.echo(f"\nwritten to {out['path']}")
