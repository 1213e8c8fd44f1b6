"""Frozen-encoder features of a clip store (Eq. 1 and 5) into a feature store, in parallel with Ray.

Why Ray actors: each actor loads the frozen encoder once and then encodes batches of clips (clip
ids are the unit of work); the same code runs on a laptop or, with ``--address``, on a cluster.
Scheduling is the shared ``roboact.actor_pool.ActorPool`` (spread over nodes, two batches in flight
per actor, a batch whose actor died or that raised retried once on a fresh actor, then each of its
clips recorded as failed). Ray Data would also fit this map; docs/cluster.md says why it is not used.
Actors read frames themselves (from the clip store, or decoded from provenance for a store built
with ``--image-size 0``), so only features travel back; only the driver writes the HDF5 file,
clip by clip as results arrive, so an interrupted extraction keeps every finished clip and a rerun
encodes only the rest. A store that is already current (same clip store content, encoder spec and
n) is a no-op.

Paths: the clip store may be an ``s3://`` / ``gs://`` URI; the driver and every actor's node stage it
once into a local cache (``roboact.storage.local_copy``), so actors receive a URI (or an absolute
path), never a path relative to the driver. A URI ``out`` is written in a per-node working file and
uploaded when the extraction ends or stops (a rerun on a fresh node downloads it and resumes). On a
cluster with more than one alive node a plain local clip store is refused unless ``shared_fs``.

Frame choice: a clip store holding N frames per clip serves any n <= N by taking the stored
frames at ``uniform_indices(N, n)``; ``derive_features`` applies the same rule to a feature store,
so features derived from a 32-frame extraction equal an extraction at n from the 32-frame clip
store exactly (the encoder sees each frame alone). See docs/datasets.md for the sampling error.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.sources import read_frames
from roboact.datasets.splits import clip_table
from roboact.datasets.stores import ClipStore, FeatureStore, StoreError
from roboact.datasets.video import FrameError

from roboact import storage
from roboact.actor_pool import ActorPool, ActorPoolConfig, ActorStartError, Job
from roboact.constants import FACTORS
from roboact.runs import check_settings, locked_output

logger = logging.getLogger(__name__)

EncoderFactory = Callable[[], Any]
"""Zero-argument, picklable callable returning an object with the ``FrozenEncoder`` interface:
``spec``, ``image_dim``, ``text_dim``, ``encode_images(uint8 (N,H,W,3))``, ``encode_texts(list)``."""


def default_encoder_factory(spec: str, image_size: int) -> Any:
    """``roboact.models.encoders.create_encoder`` on CPU (what actors call by default)."""
    from roboact.models.encoders import create_encoder

    return create_encoder(spec=spec, image_size=image_size, device="cpu")


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


@dataclass
class _Plan:
    """How workers get n frames per clip from the clip store."""

    store_path: str
    frames: int
    stored_n: int
    """Frames stored per clip (0: provenance only)."""
    image_size: int
    """Size to decode at when frames come from provenance."""


def frames_for_clip(store: ClipStore, clip_id: str, plan: _Plan) -> np.ndarray:
    """The n frames of one clip that the encoder sees (see the module docstring for the rule)."""
    record = store.get(clip_id, with_frames=plan.stored_n >= plan.frames)
    if record.frames is not None and plan.stored_n >= plan.frames:
        return record.frames[uniform_indices(len(record.frames), plan.frames)]
    pixels, _ = read_frames(
        record.provenance, plan.frames, plan.image_size, total=record.n_source_frames or None
    )
    return pixels


class EncoderWorker:
    """Ray actor body: one frozen encoder, encoding batches of clips read from the clip store."""

    def __init__(self, factory: EncoderFactory, plan: _Plan, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.encoder = factory()
        self.plan = plan
        self._store: ClipStore | None = None

    def dims(self) -> tuple[str, int, int]:
        return str(getattr(self.encoder, "spec", "")), int(self.encoder.image_dim), int(self.encoder.text_dim)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.no_grad():
            return _to_numpy(self.encoder.encode_texts(list(texts)))

    def encode_clips(self, clip_ids: list[str]) -> list[tuple[str, Any, Any, str]]:
        """``(clip_id, frame_feats (n, Dv), text_feat (Dt,), "")`` or ``(clip_id, None, None, error)``."""
        import torch

        if self._store is None:
            self._store = ClipStore(_local_store(self.plan.store_path))
        good: list[tuple[str, np.ndarray, str]] = []
        out: list[tuple[str, Any, Any, str]] = []
        for clip_id in clip_ids:
            try:
                pixels = frames_for_clip(self._store, clip_id, self.plan)
                caption = self._store.get(clip_id, with_frames=False).caption
            except (FrameError, StoreError, OSError, KeyError) as err:
                out.append((clip_id, None, None, f"{type(err).__name__}: {err}"))
                continue
            good.append((clip_id, pixels, caption))
        if not good:
            return out
        n = self.plan.frames
        sizes = {g[1].shape[1:] for g in good}
        with torch.no_grad():
            if len(sizes) == 1:  # one forward for the whole batch
                images = _to_numpy(self.encoder.encode_images(np.concatenate([g[1] for g in good])))
                images = images.reshape(len(good), n, -1)
            else:
                images = np.stack([_to_numpy(self.encoder.encode_images(g[1])) for g in good])
            texts = _to_numpy(self.encoder.encode_texts([g[2] for g in good]))
        out += [(g[0], images[i], texts[i], "") for i, g in enumerate(good)]
        return out


def _copy_splits(clip_store: Any, features: FeatureStore, selected: set[str] | None = None) -> list[str]:
    """Every split of the clip store, restricted to clips that have features.

    ``selected``: the clips the extraction was asked for (``--camera``); clips outside it are left
    out silently, a selected clip without features (it failed) with a warning.
    """
    have = set(features.ids())
    names = []
    for name, parts in _restricted_splits(clip_store, have).items():
        dropped = [i for ids in clip_store.get_split(name).values() for i in ids if i not in have]
        failed = [i for i in dropped if selected is None or i in selected]
        if failed:
            logger.warning("split %s: %d clips without features left out", name, len(failed))
        features.set_split(name, parts)
        names.append(name)
    return names


def _restricted_splits(clip_store: Any, have: set[str]) -> dict[str, dict[str, list[str]]]:
    """The clip store's splits with only the clips in ``have`` (what a feature store should hold)."""
    return {
        name: {p: [i for i in ids if i in have] for p, ids in clip_store.get_split(name).items()}
        for name in clip_store.split_names()
    }


def _splits_of(store: Any) -> dict[str, dict[str, list[str]]]:
    return {name: store.get_split(name) for name in store.split_names()}


def clips_of_cameras(clip_store: ClipStore, cameras: Sequence[str]) -> list[str]:
    """The ids of the clips seen by one of ``cameras`` (each clip's provenance ``camera``).

    Why a selection at extraction: a store renders every camera of an execution as its own clip,
    and which views a model trains and is scored on is an experiment's choice (docs/datasets.md,
    "Which cameras"), not the store's; a split restricted to some cameras keeps every execution on
    one side, so it equals the split of a store built with only those cameras.

    Raises:
        StoreError: a camera no clip of the store was seen by, naming the cameras it has.
    """
    camera_of = {row["id"]: row["camera"] for row in clip_table(clip_store)}
    have = sorted({c for c in camera_of.values() if c})
    missing = sorted(set(cameras) - set(have))
    if missing:
        raise StoreError(f"{clip_store.path}: no clips from camera(s) {missing}; its cameras: {have}")
    wanted = set(cameras)
    return [i for i, c in camera_of.items() if c in wanted]


def _recombination(clip_store: ClipStore) -> tuple[np.ndarray, list[str]]:
    """Candidate (s, a, o) triplets = every label combination of the clip store, with captions (Eq. 18-19).

    These are candidates only: their frozen caption features are computed once here, and each fit
    keeps the triplets that occur in its split's training part (``distributed.fit_data``), so no
    test clip's combination is a recombination target.
    """
    from roboact.datasets.captions import recomb_caption

    vocabs = clip_store.vocabs()
    triplets = sorted({tuple(clip_store.label_ids(i)[f] for f in FACTORS) for i in clip_store.ids()})
    captions = [
        recomb_caption(vocabs["subject"][s], vocabs["action"][a], vocabs["object"][o]) for s, a, o in triplets
    ]
    return np.array(triplets, dtype=np.int64).reshape(-1, 3), captions


def _local_store(uri: str) -> Path:
    """The clip store as a local file on this node: staged once when ``uri`` is remote."""
    return storage.local_copy(uri) if storage.is_remote(uri) else Path(uri)


def extract_features(
    store: str | Path,
    encoder: str,
    frames: int,
    out: str | Path,
    workers: int = 2,
    address: str | None = None,
    batch_size: int = 8,
    image_size: int | None = None,
    encoder_factory: EncoderFactory | None = None,
    progress: bool = True,
    shared_fs: bool = False,
    cameras: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Encode every clip of the clip store ``store`` (or of some cameras) with a frozen encoder into ``out``.

    Args:
        store: clip store (HDF5): a path or an ``s3://`` / ``gs://`` URI.
        encoder: encoder spec for ``create_encoder`` ("embedded", "open_clip:<arch>:<ckpt>"); it is
            also the feature store's key.
        frames: n frames per clip (<= frames stored, unless the clips are decodable from provenance).
        out: feature store path or URI; resumed when it holds features of the same key.
        workers: Ray actors, each holding one encoder.
        address: Ray cluster address (None: local, or ``RAY_ADDRESS``).
        batch_size: clips per actor call.
        image_size: decode size for provenance-only stores (default: the store's, else 128).
        encoder_factory: overrides how actors build the encoder (tests, custom encoders).
        shared_fs: a local ``store`` lies on a filesystem every node mounts (else it is refused on a
            multi-node cluster; ``ROBOACT_SHARED_FS=1`` says the same).
        cameras: only the clips of these cameras (``clips_of_cameras``); None or empty: every clip.
            The feature store's splits are the clip store's restricted to them.

    Returns:
        ``{"store", "out", "encoder", "frames", "clips", "extracted", "skipped", "failed":
        {clip_id: error}, "up_to_date", "workers", "seconds", "clips_per_s"}``.

    Raises:
        UserError: a multi-node cluster and a node-local ``store`` (naming ``--store``).
        StorageError: a URI that does not exist or cannot be read or written.
    """
    from roboact.cluster import require_shared_paths

    store = storage.resolve(store)
    require_shared_paths({"--store": store}, address, shared_fs)
    kwargs = dict(
        workers=workers,
        address=address,
        batch_size=batch_size,
        image_size=image_size,
        encoder_factory=encoder_factory,
        progress=progress,
        cameras=sorted(set(cameras or ())),
    )
    if not storage.is_remote(out):
        return _extract(store, encoder, frames, out, **kwargs)
    out_uri = str(out)
    with storage.mirror(out_uri, is_file=True) as work:  # resumes what another node wrote
        sync = functools.partial(work.sync, min_interval_s=SYNC_EVERY_S)  # as batches finish
        result = _extract(store, encoder, frames, work.path, **kwargs, sync=sync)
    return {**result, "out": out_uri}


SYNC_EVERY_S = 30.0
"""the least seconds between two uploads of a growing feature store to its bucket (and on exit)"""


@locked_output("out", is_file=True)
def _extract(
    store: str,
    encoder: str,
    frames: int,
    out: str | Path,
    workers: int,
    address: str | None,
    batch_size: int,
    image_size: int | None,
    encoder_factory: EncoderFactory | None,
    progress: bool,
    cameras: list[str],
    sync: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """``extract_features`` into a local ``out``, holding its lock; ``store`` is a URI or absolute path.

    ``sync`` is called after each batch is written and flushed (a bucket copy's throttled upload).
    """
    started = time.monotonic()
    out = Path(out)
    clip_store = ClipStore(_local_store(store))
    try:
        attrs = clip_store.attrs
        stored_n, stored_size = int(attrs.get("n_frames", 0)), int(attrs.get("image_size", 0))
        ids = clip_store.ids()
        if not ids:
            raise StoreError(f"{store}: no clips to extract features from")
        if frames < 2:
            raise ValueError(f"frames={frames}: at least 2 frames are needed (Eq. 6 takes differences)")
        if stored_size and frames > stored_n:
            provenance = clip_store.get(ids[0], with_frames=False).provenance
            if not Path(str(provenance.get("path", ""))).exists():
                raise StoreError(
                    f"{store}: holds {stored_n} frames per clip, {frames} requested, and the source files "
                    f"are not reachable ({provenance.get('path')}); "
                    f"rebuild the clip store with --frames {frames}"
                )
        summary: dict[str, Any] = {"store": str(store), "out": str(out), "encoder": encoder, "frames": frames}
        if cameras:
            ids = clips_of_cameras(clip_store, cameras)
            summary["cameras"] = cameras
        size = image_size or stored_size or 128  # the decode/encode size changes every feature
        # a store from before --camera has no "cameras" setting and resumes as it was (settings_diff)
        settings = {"encoder": encoder, "frames": frames, "image_size": size, "cameras": cameras or "all"}
        check_settings(out, settings, resuming=out.is_file(), option="--out", is_file=True)
        if out.is_file():
            with FeatureStore(out) as existing:
                current = existing.is_current(clip_store, encoder, frames, ids=ids)
                stale_splits = current and _splits_of(existing) != _restricted_splits(clip_store, set(ids))
            if stale_splits:  # the clip store's splits were rewritten (a rerun build): follow them
                with FeatureStore(out, mode="a") as existing:
                    _copy_splits(clip_store, existing, set(ids))
                logger.info("%s: splits updated from %s", out, store)
            if current:
                with FeatureStore(out) as existing:
                    return {
                        **summary,
                        "clips": len(existing),
                        "extracted": 0,
                        "skipped": len(existing),
                        "failed": {},
                        "up_to_date": True,
                        "workers": 0,
                        "seconds": 0.0,
                        "clips_per_s": 0.0,
                        "splits_updated": stale_splits,
                    }
        plan = _Plan(store, frames, stored_n if stored_size else 0, size)
        factory = encoder_factory or functools.partial(default_encoder_factory, encoder, size)
        result = _run_actors(
            clip_store, ids, factory, plan, encoder, out, workers, address, batch_size, progress, sync
        )
    finally:
        clip_store.close()
    seconds = time.monotonic() - started
    result.update(summary, seconds=round(seconds, 2), up_to_date=False)
    result["clips_per_s"] = round(result["extracted"] / seconds, 3) if seconds else 0.0
    logger.debug("features %s: %s", out, {k: v for k, v in result.items() if k != "failed"})
    return result


def _run_actors(
    clip_store: ClipStore,
    ids: list[str],
    factory: EncoderFactory,
    plan: _Plan,
    encoder: str,
    out: Path,
    workers: int,
    address: str | None,
    batch_size: int,
    progress: bool,
    sync: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from roboact.cluster import init_ray

    ray = init_ray(address)
    workers = max(1, int(workers))
    threads = int(os.environ.get("ROBOACT_ENCODER_THREADS", 0)) or max(1, (os.cpu_count() or 1) // workers)
    # Actors stage a remote store themselves: they need the driver's endpoint (storage.actor_env).
    env = {"env_vars": storage.actor_env()} if storage.is_remote(plan.store_path) else None
    pool_cfg = ActorPoolConfig(
        actors=workers,
        num_cpus=1.0,
        runtime_env=env,
        placement="spread",
        in_flight=2,  # two batches in flight per actor hide the driver's writes
        retries=1,
    )
    pool = ActorPool(pool_cfg, EncoderWorker, args=(factory, plan, threads), method="encode_clips")
    try:
        try:
            pool.start()
            spec, visual_dim, text_dim = ray.get(pool.actors[0].dims.remote())
        except (ActorStartError, ray.exceptions.RayError) as err:  # a bad spec, size or file
            cause = str(err).strip().splitlines()[-1][:500]
            raise ValueError(f"encoder {encoder!r} could not start in a Ray worker: {cause}") from None
        features = FeatureStore.open_for_build(out, clip_store, encoder, plan.frames, visual_dim, text_dim)
        try:
            features.set_attrs(encoder_spec=spec, image_size=plan.image_size)
            done = set(features.ids())
            todo = [i for i in ids if i not in done]
            failed: dict[str, str] = {}
            batches = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
            extracted = 0

            def write(job: Job, results: list[tuple[str, Any, Any, str]]) -> None:
                nonlocal extracted
                for clip_id, frame_feats, text_feat, error in results:
                    if error:
                        failed[clip_id] = error
                        logger.warning("features: skipped clip %s: %s", clip_id, error)
                        continue
                    features.add(
                        clip_id,
                        frame_feats,
                        text_feat,
                        clip_store.label_ids(clip_id),
                        clip_store.get(clip_id, with_frames=False).caption,
                    )
                    extracted += 1
                if sync is not None:  # each clip is flushed: the file on disk is whole here
                    sync()

            encode_started = time.monotonic()
            with tqdm(
                total=len(todo),
                desc=f"features [{encoder}, n={plan.frames}]",
                unit="clip",
                disable=not progress,
            ) as bar:
                jobs = [Job(id=batch[0], payload=batch, size=len(batch)) for batch in batches]
                stats = pool.run(jobs, write, progress=bar)
            for failure in stats.failed:  # the batch failed on every try: record each clip, carry on
                for clip_id in failure.job.payload:
                    failed[clip_id] = f"worker failed: {failure.reason}"
                logger.warning("features: batch of %d clips failed: %s", failure.job.size, failure.reason)
            encode_seconds = time.monotonic() - encode_started
            # class-name text features (text matching) and Eq. (18-19) recombination targets
            vocabs = features.vocabs()
            names = [n for f in FACTORS for n in vocabs[f]]
            triplets, captions = _recombination(clip_store)
            texts = ray.get(pool.actors[0].encode_texts.remote(names + captions))
            feats, offset = {}, 0
            for f in FACTORS:
                feats[f] = texts[offset : offset + len(vocabs[f])]
                offset += len(vocabs[f])
            features.set_vocab_text_feats(feats)
            features.set_recombination(triplets, captions, texts[offset:])
            splits = _copy_splits(clip_store, features, set(ids))
            total = len(features)
        finally:
            features.close()
    finally:
        pool.shutdown()
    return {
        "clips": total,
        "extracted": extracted,
        "skipped": len(done),
        "failed": failed,
        "workers": workers,
        "splits": splits,
        "visual_dim": visual_dim,
        "text_dim": text_dim,
        "encode_seconds": round(encode_seconds, 3),
    }


class _ClipStoreKey:
    """Stands in for a clip store that is gone: the fingerprint and vocabularies a feature store keeps."""

    def __init__(self, features: FeatureStore) -> None:
        a = features.attrs
        self.path = Path(str(a.get("clip_store", "")))
        self._fingerprint = str(a.get("clip_store_fingerprint", ""))
        self._vocabs = features.vocabs()
        self._ids = features.ids()

    def fingerprint(self) -> str:
        return self._fingerprint

    def vocabs(self) -> dict[str, list[str]]:
        return self._vocabs

    def ids(self) -> list[str]:
        return self._ids


def derive_features(
    src_features: str | Path, frames: int, out: str | Path, source_name: str | None = None
) -> dict[str, Any]:
    """An n-frame feature store from one with N >= n frames, without re-encoding.

    Rule: frame positions ``uniform_indices(N, n)`` of the source's N frames, the same rule
    ``extract_features`` applies to a clip store holding N frames per clip, so the result equals a
    direct extraction at n from the N-frame clip store. When the clip store is still there, the
    summary reports how far the chosen video frames are from ``uniform_indices(T, n)`` over the
    T source frames (what a clip store built with ``--frames n`` would sample): ``sampling_error``
    in frames and as a fraction of the clip length. ``source_name`` is what the summary and the new
    store's ``derived_from`` name the source by (its URI when ``src_features`` is a staged copy).
    """
    started = time.monotonic()
    src_path, out = Path(src_features), Path(out)
    src_name = source_name or str(src_path)
    src = FeatureStore(src_path)
    clip_store: ClipStore | None = None
    try:
        a = src.attrs
        n_src = int(a["n_frames"])
        if not 2 <= frames <= n_src:
            raise StoreError(
                f"{src_path}: holds {n_src} frames per clip; can derive 2..{n_src}, not {frames}"
            )
        positions = uniform_indices(n_src, frames)
        clip_path = Path(str(a.get("clip_store", "")))
        key: Any = _ClipStoreKey(src)
        if clip_path.is_file():
            candidate = ClipStore(clip_path)
            if candidate.fingerprint() == key.fingerprint():
                clip_store = candidate
            else:
                candidate.close()
        summary: dict[str, Any] = {
            "src": src_name,
            "out": str(out),
            "frames": frames,
            "positions": positions,
            "encoder": a["encoder"],
        }
        if out.is_file():
            with FeatureStore(out) as existing:
                current = existing.is_current(key, a["encoder"], frames)
                stale_splits = current and _splits_of(existing) != _splits_of(src)
            if stale_splits:
                with FeatureStore(out, mode="a") as existing:
                    _copy_splits(src, existing)
            if current:
                with FeatureStore(out) as existing:
                    return {
                        **summary,
                        "clips": len(existing),
                        "derived": 0,
                        "up_to_date": True,
                        "seconds": 0.0,
                    }
        dst = FeatureStore.open_for_build(
            out, key, a["encoder"], frames, int(a["visual_dim"]), int(a["text_dim"])
        )
        try:
            dst.set_attrs(
                derived_from=src_name,
                frame_positions=positions,
                encoder_spec=str(a.get("encoder_spec", a["encoder"])),
            )
            done = set(dst.ids())
            derived = 0
            clips = src._clips()
            for clip_id in src.ids():
                if clip_id in done:
                    continue
                g = clips[clip_id]
                dst.add(
                    clip_id,
                    g["frame_feats"][()][positions],
                    g["text_feat"][()],
                    {f: int(g.attrs[f]) for f in FACTORS},
                    str(g.attrs["caption"]),
                )
                derived += 1
            dst.set_vocab_text_feats(src.vocab_text_feats())
            dst.set_recombination(*src.recombination())
            _copy_splits(src, dst)
            total = len(dst)
        finally:
            dst.close()
        error = _sampling_error(clip_store, n_src, frames, positions) if clip_store is not None else None
    finally:
        src.close()
        if clip_store is not None:
            clip_store.close()
    return {
        **summary,
        "clips": total,
        "derived": derived,
        "up_to_date": False,
        "sampling_error": error,
        "seconds": round(time.monotonic() - started, 2),
    }


def _sampling_error(store: ClipStore, n_src: int, n: int, positions: list[int]) -> dict[str, float] | None:
    """Deviation of the derived frames from a direct n-frame uniform sample, over the store's clips."""
    devs, fracs = [], []
    for record in store.iter_records():
        total = record.n_source_frames
        stored = record.provenance.get("frame_indices")
        if not total or not stored or len(stored) != n_src:
            continue
        chosen = np.array(stored)[positions]
        ideal = np.array(uniform_indices(total, n))
        dev = np.abs(chosen - ideal)
        devs.append(dev)
        fracs.append(dev / max(1, total - 1))
    if not devs:
        return None
    all_dev, all_frac = np.concatenate(devs), np.concatenate(fracs)
    return {
        "max_frames": float(all_dev.max()),
        "mean_frames": float(all_dev.mean()),
        "max_fraction": float(all_frac.max()),
    }


@dataclass
class ExtractConfig:
    """``roboact features extract``: one frozen encoder over one clip store."""

    store: str = ""
    """clip store (HDF5): a path or an s3:// / gs:// URI"""
    encoder: str = ""
    """encoder spec: embedded, open_clip:<arch>:<ckpt>"""
    out: str = ""
    """feature store to write, path or URI (resumed; no-op when current)"""
    frames: int = 16
    """frames per clip (<= frames in the clip store)"""
    workers: int = 2
    """Ray actors, one encoder each"""
    address: str | None = None
    """Ray cluster address (None: local, or RAY_ADDRESS)"""
    batch_size: int = 8
    """clips per actor call"""
    image_size: int | None = None
    """decode size for provenance-only stores"""
    shared_fs: bool = False
    """a local store lies on a filesystem every node mounts (else refused on a multi-node cluster)"""
    cameras: list[str] = field(default_factory=list)
    """only the clips of these cameras (each clip's provenance camera); empty: every clip"""


def run_features_extract(cfg: ExtractConfig) -> dict[str, Any]:
    """``roboact features extract`` as a function (``extract_features`` on ``cfg``)."""
    from roboact.stage import require

    for value, option in ((cfg.store, "store"), (cfg.encoder, "encoder"), (cfg.out, "out")):
        require(value, f"--{option}", option)
    return extract_features(
        cfg.store, cfg.encoder, cfg.frames, cfg.out, workers=cfg.workers, address=cfg.address,
        batch_size=cfg.batch_size, image_size=cfg.image_size, shared_fs=cfg.shared_fs,
        cameras=cfg.cameras,
    )  # fmt: skip


@dataclass
class DeriveConfig:
    """``roboact features derive``: an n-frame feature store from an N-frame one."""

    src: str = ""
    """feature store with N frames per clip"""
    frames: int = 0
    """n <= N frames per clip of the new store"""
    out: str = ""
    """feature store to write"""


def run_features_derive(cfg: DeriveConfig) -> dict[str, Any]:
    """``roboact features derive`` as a function (``derive_features`` on ``cfg``)."""
    from roboact.stage import require

    require(cfg.src, "--src", "src")
    require(cfg.frames or None, "--frames", "frames")
    require(cfg.out, "--out", "out")
    with storage.mirror(cfg.out, is_file=True) as out:  # a URI: written here, then uploaded
        summary = derive_features(storage.staged_input(cfg.src), cfg.frames, out.path, source_name=cfg.src)
    return {**summary, "out": cfg.out} if storage.is_remote(cfg.out) else summary
