"""Algorithm 1 (Sec. III-A): build a clip store of single-action clips from a source.

For each candidate clip of a source: parse its instruction (``rules`` or ``llm``), discard it when
the instruction holds several actions, none, or could not be parsed (lines 5-6); otherwise take
(subject, action, object) (line 8), compose the caption (line 9), sample n frames uniformly
(Sec. III-B) and write the clip. Every skipped clip is recorded with its file and reason, both in
the store (``/rejected``) and in a ``rejected.jsonl`` beside it, and the build carries on.

Resumable: clip ids are stable, so a rerun skips clips already in the store and clips already
rejected for a reason that would not change (``llm_error``, an endpoint failure, is retried);
an interrupted build loses at most the clip in flight (``ClipStore`` drops incomplete groups).
A rerun must keep the settings the store was built with (source, root, frames, image size,
cameras, parser; for ``sim`` the resolved sim config), saved in ``<out>.settings.json``, and one
process at a time holds the store's lock.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roboact.datasets.captions import compose_caption
from roboact.datasets.parsing import ActionParser, ParseResult, make_parser
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.sources import Source, SourceItem, SourceReject, read_frames
from roboact.datasets.splits import write_default_splits
from roboact.datasets.stores import ClipRecord, ClipStore, StoreError
from roboact.datasets.video import FrameError

from roboact.runs import check_settings, locked_output

logger = logging.getLogger(__name__)

SOURCES = ("rh20t", "bridge", "sim")
RETRYABLE = {"llm_error"}


def default_rejected_path(out: str | Path) -> Path:
    """``<out without .h5>.rejected.jsonl`` beside the store (``clips.h5`` -> ``clips.rejected.jsonl``)."""
    out = Path(out)
    return out.with_name(out.stem + ".rejected.jsonl")


def make_source(
    source: str,
    root: str | Path | None,
    cameras: list[str] | None = None,
    task_descriptions: str | Path | None = None,
) -> Source:
    """The reader for ``rh20t`` or ``bridge`` (``sim`` builds through ``build_sim_store``)."""
    if root is None:
        raise ValueError(f"--root is required for source {source!r}")
    if source == "rh20t":
        from roboact.datasets.rh20t import RH20TSource

        return RH20TSource(
            Path(root),
            cameras=cameras,
            task_descriptions=Path(task_descriptions) if task_descriptions else None,
        )
    if source == "bridge":
        from roboact.datasets.bridge import BridgeSource

        return BridgeSource(Path(root), cameras=cameras)
    raise ValueError(f"unknown source {source!r}; use one of {SOURCES}")


class _RejectLog:
    """Rejections go to the store and to the jsonl file, each flushed as it happens."""

    def __init__(self, store: ClipStore, path: Path) -> None:
        self.store, self.path = store, path
        self.counts: Counter[str] = Counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def __call__(self, clip_id: str, file: str, reason: str, detail: str = "", **extra: Any) -> None:
        entry = {"clip_id": clip_id, "file": file, "reason": reason, "detail": detail, **extra}
        self.store.add_rejection(entry)
        entry["time"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._fh.write(json.dumps(entry, default=str) + "\n")
        self._fh.flush()
        self.counts[reason] += 1
        logger.debug("rejected %s: %s (%s)", clip_id, reason, detail)

    def close(self) -> None:
        self._fh.close()


def _choose_annotation(
    item: SourceItem, parser: ActionParser, memo: dict[str, ParseResult]
) -> tuple[str, ParseResult | None, ParseResult]:
    """First single-action annotation of the clip, else the first annotation's parse (for the reason)."""
    first: ParseResult | None = None
    for text in item.instructions:
        if text not in memo:
            memo[text] = parser.parse(text)
        result = memo[text]
        first = first or result
        if result.single_action is not None:
            return text, result, result
    assert first is not None
    return item.instructions[0], None, first


@locked_output("out", is_file=True)
def build_store(
    source: str | Source,
    root: str | Path | None,
    out: str | Path,
    parser: str | ActionParser = "rules",
    frames: int | None = 16,
    image_size: int | None = 128,
    cameras: list[str] | None = None,
    task_descriptions: str | Path | None = None,
    rejected: str | Path | None = None,
    llm: dict[str, Any] | None = None,
    seed: int | None = 0,
    progress: bool = True,
    sync: Callable[[], Any] | None = None,
    **sim_options: Any,
) -> dict[str, Any]:
    """Run Algorithm 1 over a source into the clip store ``out``; return a summary.

    ``sync`` is called after every clip, when the store is flushed (``run_data_build`` passes the
    throttled upload of an ``s3://`` / ``gs://`` ``--out``, so a bucket's copy grows as clips finish).

    Args:
        source: ``rh20t``, ``bridge``, ``sim`` (dispatched to ``sim_source.build_sim_store`` with
            ``sim_options`` = config/workers/address), or any ``Source`` object.
        root: dataset root (not used by ``sim``).
        out: clip store path; an existing store built with the same settings is resumed.
        parser: ``rules``, ``llm`` or a parser object.
        frames: n frames sampled uniformly per clip (16 by default; 2/8/32 for the ablations);
            for ``sim``, None keeps the sim config's value (likewise ``image_size`` and ``seed``).
        image_size: side of the stored frames; 0 keeps only provenance (frames decoded at extraction).
        cameras: RH20T camera serials / Bridge image folders; None = all (RH20T), images0 (Bridge).
        task_descriptions: RH20T ``task_description.json`` when not at the root.
        rejected: rejection log path; default ``default_rejected_path(out)``.
        llm: ``LLMConfig`` fields for the ``llm`` parser.
        seed: seed of the default splits.

    Returns:
        ``{"source", "store", "parser", "frames", "image_size", "kept", "skipped", "clips",
        "rejected": {reason: count}, "rejected_log", "splits", "seconds"}``; ``kept``/``rejected``
        count this run, ``clips`` the whole store.
    """
    if frames is not None and frames < 2:
        raise ValueError(f"frames={frames}: at least 2 frames are needed (Eq. 6 takes differences)")
    if image_size is not None and image_size < 0:
        raise ValueError(f"image_size={image_size}: use 0 (provenance only) or a positive size")
    if source == "sim":  # None = the sim config's value
        from roboact.datasets.sim_source import build_sim_store

        settings = sim_settings(sim_options.get("config"), frames, image_size, seed)
        check_settings(out, settings, resuming=Path(out).is_file(), option="--out", is_file=True)
        return build_sim_store(
            Path(out),
            config=sim_options.get("config"),
            workers=int(sim_options.get("workers", 1)),
            address=sim_options.get("address"),
            frames=frames,
            image_size=image_size,
            seed=seed,
            sync=sync,
        )
    frames = 16 if frames is None else frames
    image_size = 128 if image_size is None else image_size
    seed = 0 if seed is None else seed
    src = make_source(source, root, cameras, task_descriptions) if isinstance(source, str) else source
    action_parser = make_parser(parser, **(llm or {})) if isinstance(parser, str) else parser
    out = Path(out)
    started = time.monotonic()
    settings = {
        "source": src.name,
        "root": str(Path(root).absolute()) if root else "",
        "frames": frames,
        "image_size": image_size,
        "cameras": cameras,
        "parser": action_parser.name,
        "llm_model": getattr(getattr(action_parser, "config", None), "model", None),
    }
    resuming = out.is_file()
    store = ClipStore.open_for_build(out, src.name, frames, image_size)  # its own errors name these
    stored_parser = store.attrs.get("parser")
    try:
        if stored_parser is not None and stored_parser != action_parser.name:
            raise StoreError(
                f"{out}: built with parser {stored_parser!r}, not {action_parser.name!r}; use a new --out"
            )
        check_settings(out, settings, resuming=resuming, option="--out", is_file=True)
    except ValueError:
        store.close()
        raise
    store.set_attrs(parser=action_parser.name, root=str(root or ""))
    log = _RejectLog(store, Path(rejected) if rejected else default_rejected_path(out))
    done_rejected = {k for k, v in store.rejections().items() if v.get("reason") not in RETRYABLE}
    memo: dict[str, ParseResult] = {}
    kept = skipped = 0
    try:
        from tqdm.auto import tqdm

        bar = tqdm(src.items(), desc=f"Algorithm 1 [{src.name}]", unit="clip", disable=not progress)
        for item in bar:
            if item.clip_id in store or item.clip_id in done_rejected:
                skipped += 1
                continue
            if isinstance(item, SourceReject):
                log(item.clip_id, item.file, item.reason, item.detail, **item.extra)
                continue
            if _build_one(item, store, action_parser, memo, log, src.name, frames, image_size):
                kept += 1
            bar.set_postfix(kept=kept, rejected=sum(log.counts.values()), refresh=False)
            if sync is not None:
                sync()
        splits = write_default_splits(store, seed=seed) if len(store) else []
        total = len(store)
    finally:
        log.close()
        store.close()
    summary = {
        "source": src.name,
        "store": str(out),
        "parser": action_parser.name,
        "frames": frames,
        "image_size": image_size,
        "kept": kept,
        "skipped": skipped,
        "clips": total,
        "rejected": dict(sorted(log.counts.items())),
        "rejected_log": str(log.path),
        "splits": splits,
        "llm_calls": getattr(action_parser, "calls", 0),
        "seconds": round(time.monotonic() - started, 2),
    }
    logger.debug("built %s: %s", out, summary)
    return summary


def sim_settings(
    config: str | Path | None, frames: int | None, image_size: int | None, seed: int | None
) -> dict[str, Any]:
    """The simulated source's settings a clip depends on, resolved as ``build_sim_store`` resolves
    them; the clip count, retries and resources are free (adding clips is what resuming is for)."""
    from roboact.datasets.sim_source import SimSourceConfig

    from roboact.config import config_to_dict, load_config

    given = {"n_frames": frames, "image_size": image_size, "seed": seed}
    overrides = [f"{k}={v}" for k, v in given.items() if v is not None]
    cfg = config_to_dict(load_config(SimSourceConfig, config or "sim_small", overrides))
    free = ("workers", "env_cache", "clips_per_combination", "max_attempts")
    return {k: v for k, v in cfg.items() if k not in free}


def _build_one(
    item: SourceItem,
    store: ClipStore,
    parser: ActionParser,
    memo: dict[str, ParseResult],
    reject: _RejectLog,
    source: str,
    frames: int,
    image_size: int,
) -> bool:
    """Algorithm 1 lines 4-9 for one clip; returns whether it was kept."""
    text, chosen, first = _choose_annotation(item, parser, memo)
    if chosen is None:  # lines 5-6: discard multi-action (and unusable) descriptions
        reason = first.reject_reason or "unparsed"
        if reason == "unparsed" and first.reason.startswith("llm_error"):
            reason = "llm_error"
        detail = first.reason or f"{first.num_actions} actions: {[(a.verb, a.object) for a in first.actions]}"
        extra = {"instruction": text}
        if first.reply is not None and not first.ok:
            extra["reply"] = first.reply[:2000]
        reject(item.clip_id, item.file, reason, detail, **extra)
        return False
    action = chosen.single_action
    assert action is not None
    provenance = dict(item.provenance)
    try:
        if image_size:
            pixels, indices = read_frames(provenance, frames, image_size, total=item.n_source_frames)
        else:
            pixels, indices = None, uniform_indices(item.n_source_frames, frames)
    except FrameError as err:
        reject(item.clip_id, item.file, err.reason, str(err))
        return False
    except ValueError as err:  # uniform_indices on a short clip (provenance-only builds)
        reject(item.clip_id, item.file, "too_few_frames", str(err))
        return False
    provenance["frame_indices"] = indices
    provenance["instruction"] = text
    store.add(
        ClipRecord(
            clip_id=item.clip_id,
            caption=compose_caption(item.subject, action.verb, action.object),  # Algorithm 1, line 9
            subject=item.subject,
            action=action.verb,
            object=action.object,
            source=source,
            task=item.task or " ".join(text.lower().split()),
            provenance=provenance,
            n_source_frames=item.n_source_frames,
            frames=pixels,
        )
    )
    return True


@dataclass
class BuildConfig:
    """``roboact data build``: Algorithm 1 over one source into one clip store."""

    source: str = ""
    """rh20t, bridge or sim"""
    out: str = ""
    """clip store to write (resumed when it exists)"""
    root: str | None = None
    """dataset root (rh20t, bridge)"""
    parser: str = "rules"
    """action parser: rules (offline) or llm (OpenAI-compatible)"""
    frames: int | None = None
    """frames sampled uniformly per clip; None = 16 (sim: its config's)"""
    image_size: int | None = None
    """stored frame side, 0 = provenance only; None = 128 (sim: its config's)"""
    cameras: list[str] = field(default_factory=list)
    """RH20T camera serials; empty = all"""
    task_descriptions: str | None = None
    """RH20T task_description.json when not at the root"""
    rejected: str | None = None
    """rejection log; None = <out stem>.rejected.jsonl"""
    sim_config: str | None = None
    """simulated-source config, shipped name or YAML path (sim only; None = sim_small)"""
    workers: int = 2
    """parallel workers (sim only)"""
    address: str | None = None
    """Ray cluster address (sim only)"""
    seed: int | None = None
    """seed of splits and of the sim source; None = 0 (sim: its config's)"""
    llm_base_url: str | None = None
    """LLM endpoint (env ROBOACT_LLM_BASE_URL)"""
    llm_model: str | None = None
    """LLM model (env ROBOACT_LLM_MODEL)"""
    llm_cache: str | None = None
    """LLM answer cache dir (env ROBOACT_LLM_CACHE)"""


def run_data_build(cfg: BuildConfig) -> dict[str, Any]:
    """``roboact data build`` as a function: check the settings a user gives, then ``build_store``."""
    from roboact.errors import UserError
    from roboact.stage import require

    require(cfg.source, "--source", "source")
    require(cfg.out, "--out", "out")
    if cfg.source not in SOURCES:
        raise UserError(f"--source {cfg.source!r}: use one of {', '.join(SOURCES)}")
    if cfg.source != "sim" and cfg.root is None:
        raise UserError(f"--root is required for --source {cfg.source}")
    if cfg.parser not in ("rules", "llm"):
        raise UserError(f"--parser {cfg.parser!r}: use rules or llm")
    from roboact import storage

    # a URI input is staged on this node; a URI output is built in a node-local file and uploaded
    # as clips finish (storage.mirror); the rejection log beside a remote store goes beside it there
    rejected = cfg.rejected
    if rejected is None and storage.is_remote(cfg.out):
        rejected = storage.join(cfg.out.rsplit("/", 1)[0], default_rejected_path(cfg.out).name)
    with ExitStack() as stack:
        out = stack.enter_context(storage.mirror(cfg.out, is_file=True))
        log = stack.enter_context(storage.mirror(rejected, is_file=True)) if rejected else None
        cache = stack.enter_context(storage.mirror(cfg.llm_cache)) if cfg.llm_cache else None
        llm = {"base_url": cfg.llm_base_url, "model": cfg.llm_model, "cache_dir": cache and str(cache.path)}

        def sync() -> None:
            for m in (out, log, cache):
                if m is not None:
                    m.sync(min_interval_s=SYNC_EVERY_S)

        summary = build_store(
            cfg.source,
            storage.staged_input(cfg.root),
            out.path,
            parser=cfg.parser,
            frames=cfg.frames,
            image_size=cfg.image_size,
            cameras=cfg.cameras or None,
            task_descriptions=storage.staged_input(cfg.task_descriptions),
            rejected=log.path if log else None,
            llm={k: v for k, v in llm.items() if v},
            seed=cfg.seed,
            sync=sync if out.uri or (log and log.uri) or (cache and cache.uri) else None,
            config=str(storage.local_copy(cfg.sim_config))
            if storage.is_remote(cfg.sim_config or "")
            else cfg.sim_config,
            workers=cfg.workers,
            address=cfg.address,
        )
    if out.uri:
        summary["store"] = cfg.out
    if log is not None and log.uri and "rejected_log" in summary:
        summary["rejected_log"] = rejected
    return summary


SYNC_EVERY_S = 30.0
"""the least seconds between two uploads of a growing clip store to its bucket (and on exit)"""
