"""Recognition evaluation (paper Sec. IV-A) and what the paper does not report.

The paper's recognition figures (99.49 / 99.88 / 97.43 % action/subject/object; 8 and 32 frames;
w/o disentanglement) are given in the text of Sec. IV-A, not in a table (its Table II is LIBERO).

- ``evaluate_recognition``: subject/action/object top-1 accuracy on a split part with a bootstrap
  95 % interval, from the auxiliary classifiers (Eq. 22) and by text matching against the class
  names, confusion matrices (CSV and PNG), text->video retrieval R@1/5/10, and the per-clip
  predictions that paired comparisons need.
- ``ablation_table``/``ablation_fits``: every recognition row (16/8/32 frames and the ablations A1-A4)
  trained on one budget, our numbers beside the paper's, and each row's paired difference from
  the full model on the same test clips (``compare``).
- ``cross_embodiment``: train without one embodiment, test on it, for every held-out embodiment.

Every number comes from ``roboact.models.metrics`` (accuracy, intervals, paired differences,
retrieval), the same functions the train loop's validation accuracy uses.

Retrieval protocol: the queries are the distinct captions of the evaluated clips (Algorithm 1
captions repeat: many clips show the same action on the same object); a video is relevant to a
query when its caption is that query. R@K = fraction of queries with a relevant video among the K
videos most cosine-similar to the query's text embedding (Eq. 25 vs Eq. 24).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from roboact.models.metrics import (
    RECALL_KS,
    SOURCES,
    Estimate,
    accuracy,
    bootstrap_mean,
    caption_retrieval,
    confusion_matrix,
    factor_accuracies,
    headline_source,
    paired_factor_differences,
    predict_batched,
    retrieval_recall,
)

from roboact import storage
from roboact.constants import FACTORS
from roboact.paper import RECOGNITION, RECOGNITION_SECTION

from .train_config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "RECALL_KS",
    "SOURCES",
    "ablation_fits",
    "ablation_markdown",
    "ablation_table",
    "accuracy",
    "compare",
    "confusion_matrix",
    "cross_embodiment",
    "evaluate_recognition",
    "retrieval_recall",
]

# The paper's Sec. IV-A numbers (percent) live in roboact/paper.py with every other copied number.
RECOGNITION_COLUMNS = ("action", "subject", "object")

ABLATIONS: dict[str, dict[str, bool]] = {
    "w/o disentanglement": {"use_disentanglement": False},  # A2, the row the paper reports
    "w/o Diff-Transformer (A1)": {"use_diff_transformer": False},
    "w/o recombination (A3)": {"use_recombination": False},
    "w/o aux (A4)": {"use_aux": False},
}
"""Ablation rows beside the full model: label -> RoboActConfig switches (models/configuration_roboact.py)."""
ABLATION_SLUGS = {
    "w/o disentanglement": "nodisent",
    "w/o Diff-Transformer (A1)": "nodiff",
    "w/o recombination (A3)": "norecomb",
    "w/o aux (A4)": "noaux",
}


# --------------------------------------------------------------------------------------------------
def _captions(store: Any, ids: Sequence[str]) -> list[str]:
    clips = store.h5["clips"]
    return [str(clips[i].attrs["caption"]) for i in ids]


def _embed(model: Any, arrays: dict[str, np.ndarray], batch_size: int) -> dict[str, Any]:
    import torch

    model.eval()
    frames_all = torch.as_tensor(arrays["frame_feats"])
    preds = predict_batched(model, frames_all, batch_size)
    video, text = [], []
    with torch.no_grad():
        for start in range(0, len(arrays["action"]), batch_size):
            frames = frames_all[start : start + batch_size]
            texts = torch.as_tensor(arrays["text_feats"][start : start + batch_size])
            out = model(frames, texts, recombine=False)
            video.append(out["video_embed"].numpy())
            text.append(out["text_embed"].numpy())
    return {"preds": preds, "video": np.concatenate(video), "text": np.concatenate(text)}


def _plot_confusions(
    mats: dict[str, dict[str, np.ndarray]], vocabs: dict[str, list[str]], out_dir: Path
) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    for f, by_source in mats.items():
        fig, axes = plt.subplots(1, len(by_source), figsize=(5 * len(by_source), 4.5), squeeze=False)
        for ax, (source, mat) in zip(axes[0], by_source.items(), strict=True):
            ax.imshow(mat, cmap="Blues")
            names = vocabs[f]
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{f} ({source})")
        fig.tight_layout()
        path = out_dir / f"confusion_{f}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths[f] = str(path)
    return paths


def evaluate_recognition(
    model_dir: str | Path,
    features_path: str | Path,
    split: str = "random",
    part: str = "test",
    out_dir: str | Path | None = None,
    batch_size: int = 256,
    plots: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Recognition accuracy (with intervals) and retrieval of a trained model on one part of a split.

    Returns:
        ``{"n", "split", "part", "accuracy": {factor: {"aux": acc, "text": acc}},
        "ci": {factor: {source: {"value", "low", "high", "n"}}}, "retrieval": {"R@1", "R@5",
        "R@10"}, "clip_ids", "labels": {factor: [ids]}, "predictions": {factor: {source: [ids]}},
        "confusion": {factor: png path}, "markdown", "out_dir"}``; accuracies are fractions in
        [0, 1], intervals bootstrap 95 % over clips (``seed``). ``out_dir`` (default
        ``<model_dir>/../eval_<split>_<part>``) also receives ``recognition.json`` and
        ``confusion_<factor>_<source>.csv``.
    """
    import torch
    from roboact.datasets.stores import FeatureStore, StoreError
    from roboact.models.modeling_roboact import RoboActCLIP

    model = RoboActCLIP.from_pretrained(model_dir)
    with FeatureStore(features_path) as store:
        if int(store.attrs["n_frames"]) != model.config.n_frames:
            raise StoreError(
                f"{features_path}: {store.attrs['n_frames']}-frame features, but {model_dir} was trained on "
                f"{model.config.n_frames} frames"
            )
        parts = store.get_split(split)
        ids = parts.get(part, [])
        if not ids:
            raise StoreError(f"{features_path}: split {split!r} has no clips in part {part!r}")
        arrays = store.arrays(ids)
        captions = _captions(store, ids)
        vocabs = store.vocabs()
        if not model.has_class_text:
            model.set_class_text_features(
                {f: torch.as_tensor(v) for f, v in store.vocab_text_feats().items()}
            )
    emb = _embed(model, arrays, batch_size)
    labels = {f: np.asarray(arrays[f]) for f in FACTORS}
    est = factor_accuracies(emb["preds"], labels, seed=seed)
    recall, n_queries = caption_retrieval(emb["text"], emb["video"], captions)
    out = Path(out_dir) if out_dir is not None else Path(model_dir).absolute().parent / f"eval_{split}_{part}"
    out.mkdir(parents=True, exist_ok=True)
    mats = {
        f: {s: confusion_matrix(p, labels[f], len(vocabs[f])) for s, p in emb["preds"][f].items()}
        for f in FACTORS
    }
    for f, by_source in mats.items():
        for source, mat in by_source.items():
            with (out / f"confusion_{f}_{source}.csv").open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["true\\pred", *vocabs[f]])
                writer.writerows([name, *row] for name, row in zip(vocabs[f], mat.tolist(), strict=True))
    result = {
        "model_dir": str(model_dir),
        "features": str(features_path),
        "split": split,
        "part": part,
        "n": len(ids),
        "n_queries": n_queries,
        "accuracy": {f: {s: e.value for s, e in by.items()} for f, by in est.items()},
        "ci": {f: {s: e.to_dict() for s, e in by.items()} for f, by in est.items()},
        "retrieval": recall,
        "clip_ids": list(ids),
        "labels": {f: labels[f].tolist() for f in FACTORS},
        "predictions": {f: {s: p.tolist() for s, p in d.items()} for f, d in emb["preds"].items()},
        "confusion": _plot_confusions(mats, vocabs, out) if plots else {},
        "out_dir": str(out),
    }
    result["markdown"] = recognition_markdown(result)
    (out / "recognition.json").write_text(json.dumps(result, indent=2))
    return result


def _estimate(d: dict[str, Any]) -> Estimate:
    return Estimate(float(d["value"]), float(d["low"]), float(d["high"]), int(d["n"]))


def recognition_markdown(result: dict[str, Any]) -> str:
    """One model's accuracy per factor and source with its 95 % interval, and R@K (percent)."""
    lines = ["| Factor | Aux classifier (%) [95 % CI] | Text matching (%) [95 % CI] |", "|---|---|---|"]
    for f in RECOGNITION_COLUMNS:
        by = result["ci"].get(f, {})
        cells = [_estimate(by[s]).pct() if s in by else "–" for s in SOURCES]
        lines.append(f"| {f} | " + " | ".join(cells) + " |")
    r = result["retrieval"]
    lines += [
        "",
        f"{result['n']} clips of {result['split']}/{result['part']}; bootstrap 95 % intervals over clips. "
        f"Text->video retrieval ({result['n_queries']} caption queries): "
        + ", ".join(f"{k} {100 * v:.1f} %" for k, v in r.items()),
    ]
    return "\n".join(lines)


def _as_arrays(result: dict[str, Any]) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    preds = {f: {s: np.asarray(p) for s, p in d.items()} for f, d in result["predictions"].items()}
    return preds, {f: np.asarray(v) for f, v in result["labels"].items()}


def compare(full: dict[str, Any], other: dict[str, Any], seed: int = 0) -> dict[str, dict[str, Any]]:
    """Paired difference (full minus other) per factor on the same test clips, with its 95 % interval.

    Both results must come from ``evaluate_recognition`` on the same clips (same ids, same
    order); otherwise a paired difference means nothing and this raises ValueError naming both.
    Returns ``{factor: {"source": "aux"|"text", "diff": Estimate}}`` (``shared_source``).
    """
    if full["clip_ids"] != other["clip_ids"]:
        raise ValueError(
            f"paired comparison needs the same test clips: {full.get('model_dir')} was evaluated on "
            f"{len(full['clip_ids'])} clips of {full.get('features')}, {other.get('model_dir')} on "
            f"{len(other['clip_ids'])} clips of {other.get('features')}"
        )
    preds_full, labels = _as_arrays(full)
    preds_other, _ = _as_arrays(other)
    return paired_factor_differences(preds_full, preds_other, labels, seed=seed)


# --------------------------------------------------------------------------------------------------
# the Sec. IV-A rows and the ablations
def headline_accuracy(result: dict[str, Any], factor: str) -> float:
    """The classification accuracy of a factor: auxiliary head when present, else text matching."""
    by_source = result["accuracy"][factor]
    return by_source[headline_source(by_source)]


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.2f}"


def _headline_cell(result: dict[str, Any], factor: str) -> str:
    by = result.get("ci", {}).get(factor)
    if not by:  # a result without intervals (an older recognition.json): the point value only
        return _pct(headline_accuracy(result, factor))
    source = headline_source(by)
    return _estimate(by[source]).pct() + ("" if source == "aux" else " (text)")


def ablation_markdown(results: list[tuple[str, dict[str, Any]]], reference: str | None = None) -> str:
    """Markdown of the recognition rows: ours (95 % CI) beside the paper's Sec. IV-A numbers, R@K,
    and each row's paired difference from ``reference`` (default: the first row) on the same clips."""
    head = "| Setting | " + " | ".join(
        f"{c.capitalize()} (ours) | {c.capitalize()} (paper)" for c in RECOGNITION_COLUMNS
    )
    head += " | " + " | ".join(f"R@{k}" for k in RECALL_KS)
    lines = [head + " |", "|---" * (1 + 2 * len(RECOGNITION_COLUMNS) + len(RECALL_KS)) + "|"]
    for label, result in results:
        paper = RECOGNITION.get(label, {})
        cells = []
        for c in RECOGNITION_COLUMNS:
            cells += [_headline_cell(result, c), f"{paper[c]:.2f}" if c in paper else "–"]
        cells += [_pct(result.get("retrieval", {}).get(f"R@{k}")) for k in RECALL_KS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n = sorted({r["n"] for _, r in results})
    lines.append("")
    lines.append(
        f"Top-1 accuracy (%) [bootstrap 95 % CI over clips] on the {results[0][1]['split']}/"
        f"{results[0][1]['part']} part ({', '.join(map(str, n))} clips): auxiliary classifiers (Eq. 22), "
        "or text matching where a row has no classifier (marked). R@K: text->video retrieval (%). "
        f"'paper' = {RECOGNITION_SECTION} (text), measured on the paper's 199,797-video RH20T + "
        "BridgeData V2 set; 'ours' = this run's data and budget."
    )
    ref_label, ref = next(((lbl, r) for lbl, r in results if lbl == reference), results[0])
    rows = [(label, r) for label, r in results if label != ref_label and "predictions" in r]
    if "predictions" in ref and rows:
        lines += [
            "",
            f"Paired difference from {ref_label} (percentage points, {ref_label} minus the row) "
            "[bootstrap 95 % CI over the same clips]; an interval without 0 is a margin resampling does "
            "not explain:",
            "",
            "| Setting | " + " | ".join(c.capitalize() for c in RECOGNITION_COLUMNS) + " |",
            "|---" * (1 + len(RECOGNITION_COLUMNS)) + "|",
        ]
        for label, r in rows:
            try:
                diffs = compare(ref, r)
            except ValueError:
                lines.append(
                    f"| {label} | " + " | ".join(["other test clips"] * len(RECOGNITION_COLUMNS)) + " |"
                )
                continue
            cells = []
            for c in RECOGNITION_COLUMNS:
                d = diffs.get(c)
                cells.append(
                    "–"
                    if d is None
                    else d["diff"].pct(signed=True) + ("" if d["source"] == "aux" else " (text)")
                )
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation_table(
    rows: list[tuple[str, str | Path, str | Path]],
    split: str = "random",
    part: str = "test",
    reference: str | None = None,
) -> str:
    """Evaluate each ``(label, model_dir, features_path)`` and return the Markdown recognition table."""
    results = [(label, evaluate_recognition(m, f, split, part, plots=False)) for label, m, f in rows]
    return ablation_markdown(results, reference=reference)


def ablation_fits(
    features: Sequence[str | Path],
    base: Any,
    name: str = "ablations",
    address: str | None = None,
    ablations: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Fit every recognition row with the same budget (``base`` TrainConfig), then build the table.

    Rows: one ``"<n> frames"`` per feature store (its ``n_frames`` attribute), plus one row per
    ablation (``ABLATIONS``; default all: w/o disentanglement, A1 w/o Diff-Transformer, A3 w/o
    recombination, A4 w/o aux) on the 16-frame store (else the first given). The reference of the
    paired differences is the full model on that same store. Fits are named ``<name>-f<n>`` /
    ``<name>-<slug>`` under ``base.runs_root``; a rerun skips finished fits.

    Returns:
        ``{"markdown", "path" (<runs_root>/<name>/ablations.md), "rows": [(label, model_dir, features)]}``.
    """
    import dataclasses

    from roboact.datasets.stores import FeatureStore

    from .train import DataConfig, fit

    wanted = list(ABLATIONS) if ablations is None else list(ablations)
    unknown = [a for a in wanted if a not in ABLATIONS]
    if unknown:
        raise ValueError(f"ablations: {unknown} unknown; use some of {list(ABLATIONS)}")
    by_frames: dict[int, str] = {}
    for path in features:  # a URI stays a URI: each fit stages it on its own node
        with FeatureStore(storage.staged_input(path)) as store:
            by_frames[int(store.attrs["n_frames"])] = str(path)
    plan = [(f"{n} frames", f"{name}-f{n}", p, {}) for n, p in sorted(by_frames.items())]
    main_frames = 16 if 16 in by_frames else next(iter(by_frames))
    ablate = by_frames[main_frames]
    for label in wanted:
        plan.append((label, f"{name}-{ABLATION_SLUGS[label]}", ablate, ABLATIONS[label]))
    rows = []
    for label, run_name, path, model_changes in plan:
        cfg = dataclasses.replace(
            base,
            name=run_name,
            model={**dict(base.model), **model_changes},
            data=DataConfig(features=str(path), split=base.data.split),
        )
        logger.info("recognition row %r: fit %s on %s", label, run_name, path)
        out = fit(cfg, address=address)
        rows.append((label, out["model_dir"], str(path)))
    # the reference (full model, main frame count) first, then the other frame counts, then ablations
    rows.sort(key=lambda r: (r[0] != f"{main_frames} frames", r[0] in ABLATIONS))
    markdown = ablation_table(rows, split=base.data.split, reference=f"{main_frames} frames")
    path = _write_reports(base.runs_root, name, {"ablations.md": markdown + "\n"})["ablations.md"]
    return {"markdown": markdown, "path": path, "rows": rows}


def _write_reports(runs_root: str | Path, name: str, files: dict[str, str]) -> dict[str, str]:
    """Write ``files`` into ``<runs_root>/<name>/``; returns where each one is (a URI for a remote root).

    A remote ``runs_root`` gets them through ``storage.mirror``: written in this node's working
    copy of the folder, then uploaded.
    """
    uri = storage.join(storage.resolve(runs_root), name)
    local = storage.local_root(runs_root) / name if storage.is_remote(runs_root) else None
    with storage.mirror(uri, local=local) as folder:
        folder.path.mkdir(parents=True, exist_ok=True)
        for file, text in files.items():
            (folder.path / file).write_text(text)
    return {file: storage.join(uri, file) for file in files}


# --------------------------------------------------------------------------------------------------
# cross-embodiment zero-shot
def cross_embodiment(
    features: str | Path,
    subjects: Sequence[str] | None,
    train_cfg: Any,
    name: str = "xemb",
    address: str | None = None,
) -> dict[str, Any]:
    """Train without one embodiment, test on it, for each held-out subject (``heldout_<subject>`` splits).

    One fit per held-out embodiment; ``subjects`` None = every ``heldout_*`` split of the store.
    Subject accuracy is not reported: the held-out subject's class never occurs in training. The
    summary row pools every held-out clip (each clip is tested once, by the model that never saw
    its embodiment), with a bootstrap interval over those clips, and also gives the mean of the
    per-embodiment accuracies.

    Returns:
        ``{"markdown", "path", "rows": [{"subject", "n", "action_aux", "action_text", "object_aux",
        "object_text", "action_ci", "object_ci", "R@1", "R@5", "R@10", "model_dir"}], "pooled"}``.
    """
    import dataclasses

    from roboact.datasets.stores import FeatureStore, StoreError

    from .train import DataConfig, fit

    local_features = storage.staged_input(features)  # fits get the URI; the evaluations read here
    with FeatureStore(local_features) as store:
        available = {s[len("heldout_") :]: s for s in store.split_names() if s.startswith("heldout_")}
    wanted = list(subjects) if subjects else sorted(available)
    missing = [s for s in wanted if s.replace(" ", "_") not in available]
    if missing:
        raise StoreError(f"{features}: no heldout split for subject(s) {missing} (have {sorted(available)})")
    rows = []
    pooled_hits: dict[str, list[np.ndarray]] = {"action": [], "object": []}
    for subject in wanted:
        split = available[subject.replace(" ", "_")]
        cfg = dataclasses.replace(
            train_cfg,
            name=f"{name}-{subject.replace(' ', '_')}",
            data=DataConfig(features=str(features), split=split),
        )
        out = fit(cfg, address=address)
        res = evaluate_recognition(out["model_dir"], local_features, split=split, part="test", plots=False)
        if out.get("run_uri"):  # the fit's run directory lives in a bucket: its evaluation goes there too
            eval_dir = Path(res["out_dir"])
            storage.upload(eval_dir, storage.join(out["run_uri"], eval_dir.name))
        row = {"subject": subject, "n": res["n"], "model_dir": out["model_dir"], **res["retrieval"]}
        preds, labels = _as_arrays(res)
        for f in ("action", "object"):
            for s in SOURCES:
                row[f"{f}_{s}"] = res["accuracy"][f].get(s, float("nan"))
            source = headline_source(res["ci"][f])
            row[f"{f}_ci"] = {"source": source, **res["ci"][f][source]}
            pooled_hits[f].append(preds[f][source] == labels[f])
        rows.append(row)
    pooled = {f: bootstrap_mean(np.concatenate(h).astype(np.float64)) for f, h in pooled_hits.items()}
    lines = [
        "| Held-out embodiment | Clips | Action (%) [95 % CI] | Action text "
        "| Object (%) [95 % CI] | Object text | R@1 | R@5 | R@10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            _estimate(r["action_ci"]).pct(),
            _pct(r["action_text"]),
            _estimate(r["object_ci"]).pct(),
            _pct(r["object_text"]),
            *(_pct(r[f"R@{k}"]) for k in RECALL_KS),
        ]
        lines.append(f"| {r['subject']} | {r['n']} | " + " | ".join(cells) + " |")
    n_all = sum(r["n"] for r in rows)
    mean = {f: float(np.mean([r[f"{f}_ci"]["value"] for r in rows])) for f in pooled}
    pooled_cells = f"{pooled['action'].pct()} | | {pooled['object'].pct()} | | | |"
    lines.append(f"| **all held-out clips** | {n_all} | {pooled_cells} |")
    lines += [
        "",
        f"Zero-shot over {len(rows)} held-out embodiment(s), one fit each: every row's model never saw "
        "that embodiment. Accuracy from the auxiliary classifier (text matching in its own column), "
        "bootstrap 95 % intervals over clips; the last row pools every held-out clip. Mean of the "
        f"per-embodiment accuracies: action {100 * mean['action']:.2f} %, "
        f"object {100 * mean['object']:.2f} %.",
    ]
    markdown = "\n".join(lines)
    summary = {
        "pooled": {f: e.to_dict() for f, e in pooled.items()},
        "mean_of_embodiments": mean,
    }
    files = {
        "cross_embodiment.md": markdown + "\n",
        "cross_embodiment.json": json.dumps({"rows": rows, **summary}, indent=2),
    }
    path = _write_reports(train_cfg.runs_root, name, files)["cross_embodiment.md"]
    return {"markdown": markdown, "path": path, "rows": rows, **summary}


@dataclass
class RecognitionConfig:
    """``roboact eval recognition``: which model, on which clips, written where."""

    model: str = ""
    """model directory (save_pretrained output of a fit)"""
    features: str = ""
    """feature store (HDF5) to evaluate on"""
    split: str = "random"
    """named split of the store"""
    part: str = "test"
    """train, val or test"""
    out: str | None = None
    """output folder; None = beside the model"""


def run_eval_recognition(cfg: RecognitionConfig) -> dict[str, Any]:
    """``roboact eval recognition`` as a function (``evaluate_recognition`` on ``cfg``)."""
    from roboact.stage import require

    require(cfg.model, "--model", "model")
    require(cfg.features, "--features", "features")
    model, features = storage.staged_input(cfg.model), storage.staged_input(cfg.features)
    out = cfg.out
    if out is None and storage.is_remote(cfg.model):  # beside the model, as for a local one
        out = storage.join(cfg.model.rstrip("/").rsplit("/", 1)[0], f"eval_{cfg.split}_{cfg.part}")
    if out is None:
        return evaluate_recognition(model, features, split=cfg.split, part=cfg.part)
    with storage.mirror(out) as folder:  # a URI: written here, then uploaded
        res = evaluate_recognition(model, features, split=cfg.split, part=cfg.part, out_dir=folder.path)
    return {**res, "out_dir": out} if storage.is_remote(out) else res


@dataclass
class AblationsConfig(TrainConfig):
    """``roboact eval ablations``: the fits' shared budget (every ``TrainConfig`` key) and their stores.

    ``name`` is the prefix of the row fits; ``data.features`` defaults to the first store."""

    name: str | None = "ablations"
    """prefix of the row fits; reruns skip finished ones"""
    stores: list[str] = field(default_factory=list)
    """feature stores, one per frame count (8/16/32)"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""


def run_eval_ablations(cfg: AblationsConfig) -> dict[str, Any]:
    """``roboact eval ablations`` as a function: every row's fit on one budget, then the table."""
    from roboact.stage import as_base, require

    require(cfg.stores, "--features", "stores")
    base = as_base(cfg, TrainConfig)
    if not base.data.features:
        base.data.features = cfg.stores[0]
    return ablation_fits(cfg.stores, base, name=cfg.name or "ablations", address=cfg.address)


@dataclass
class CrossEmbodimentConfig(TrainConfig):
    """``roboact eval cross-embodiment``: the fits' budget (every ``TrainConfig`` key, the store in
    ``data.features``) and the held-out subjects."""

    name: str | None = "xemb"
    """prefix of the fits; reruns skip finished ones"""
    subjects: list[str] = field(default_factory=list)
    """held-out subjects; empty = every heldout_* split of the store"""
    address: str | None = None
    """Ray cluster address (None: a local instance, or RAY_ADDRESS)"""


def run_eval_cross_embodiment(cfg: CrossEmbodimentConfig) -> dict[str, Any]:
    """``roboact eval cross-embodiment`` as a function: one fit per held-out subject, then the rows."""
    from roboact.stage import as_base, require

    require(cfg.data.features, "--features", "data.features")
    return cross_embodiment(
        cfg.data.features, cfg.subjects or None, as_base(cfg, TrainConfig), name=cfg.name or "xemb",
        address=cfg.address,
    )  # fmt: skip
