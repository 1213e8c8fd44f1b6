"""HDF5 clip and feature stores: the contract between data sources, encoders and training.

Clip store layout (``ClipStore``; one file per built dataset)::

    /                      attrs: schema ("roboact.clips/1"), source, n_frames, image_size (0: no frames)
    /vocab/<factor>        vlen str (K,)   class names of subject/action/object, index = class id
    /clips/<clip_id>/      group, one per kept clip; attrs:
        caption            Algorithm 1 caption ("Robot pick cube. Action is pick, Object is cube.")
        subject|action|object          class indices into /vocab/<factor>
        subject_name|action_name|object_name
        source, task       source name and the original task/instruction text
        provenance         JSON: file path(s), camera, robot, seed, frame indices, ...
        n_source_frames    frames of the source video (Table I counts these, as the paper)
        complete           set last; groups without it are the clip in flight at a crash
        frames             (n, H, W, 3) uint8, optional (sources that keep pixels)
        extras/<name>      optional arrays (for example states, actions of a simulated clip)
    /splits/<name>/<part>  vlen str clip ids; part in train / val / test
    /rejected              vlen str (R,) one JSON object per rejected clip ({"clip_id", "file",
                           "reason", "detail"}); appended as the build goes, latest entry per id wins

Feature store layout (``FeatureStore``; one file per (clip store, encoder, n frames))::

    /                      attrs: schema ("roboact.features/1"), clip_store, clip_store_fingerprint,
                           encoder, n_frames, visual_dim, text_dim
    /vocab/<factor>        as in the clip store
    /vocab_text_feats/<factor>  (K, text_dim) frozen text features of the class names (text matching)
    /clips/<clip_id>/      frame_feats (n, visual_dim) float32, text_feat (text_dim,) float32,
                           attrs subject/action/object (class ids), caption, complete
    /recomb/triplets       (M, 3) int64 valid (subject, action, object) triplets (Eq. 18)
    /recomb/captions       vlen str (M,) "s a the o, action is a" (Eq. 19)
    /recomb/text_feats     (M, text_dim) float32 frozen text features of those captions
    /splits/<name>/<part>  copied from the clip store

Why HDF5 groups per clip: stores grow clip by clip while a build runs, so a killed build keeps every
finished clip (each write is flushed, and a clip counts only once its ``complete`` flag is set).
Handles open lazily (robomimic's pattern) so DataLoader workers and Ray tasks each open their own.

A damaged file (bytes overwritten, truncated, not HDF5 at all) is a ``StoreError`` naming it, from
the open and from every read of the store's API (``_reads``) or inside ``with store:``; h5py's own
errors name no file. ``h5_read_errors`` gives other readers of HDF5 files (demo files) the same.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import h5py
import numpy as np

from roboact.constants import FACTORS, SPLITS
from roboact.errors import UserError

logger = logging.getLogger(__name__)

CLIP_SCHEMA = "roboact.clips/1"
FEATURE_SCHEMA = "roboact.features/1"
_STR = h5py.string_dtype(encoding="utf-8")


class StoreError(UserError, ValueError):
    """A store that is missing, damaged, of the wrong schema, or inconsistent; the message names the file."""


# What h5py raises for bytes it cannot make sense of: KeyError for a damaged object header or index
# ("message not aligned"), OSError for a damaged data block or heap, RuntimeError for a bad attribute.
_H5_DAMAGE = (KeyError, OSError, RuntimeError)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _raised_by_h5py(err: BaseException) -> bool:
    """True when ``err`` comes from inside h5py (our own KeyErrors and OSErrors pass unchanged)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    name = tb.tb_frame.f_code.co_filename if tb is not None else ""
    return "h5py" in Path(name).parts or name.startswith("h5py/")


def damaged(path: str | Path, err: BaseException) -> StoreError:
    """The ``StoreError`` that names ``path`` for an error h5py raised while reading it."""
    return StoreError(
        f"{path}: unreadable HDF5 data ({err}); the file is damaged, truncated or not a roboact store"
    )


@contextmanager
def h5_read_errors(path: str | Path) -> Iterator[None]:
    """Turn h5py's errors for a damaged file into a ``StoreError`` naming ``path``."""
    try:
        yield
    except _H5_DAMAGE as err:
        if not _raised_by_h5py(err):
            raise
        raise damaged(path, err) from err


def _reads(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a store method under ``h5_read_errors(self.path)``."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with h5_read_errors(args[0].path):  # type: ignore[attr-defined]
            return method(*args, **kwargs)

    return wrapper


@dataclass
class ClipRecord:
    """One kept clip, as sources produce it and the clip store holds it."""

    clip_id: str
    """Unique, stable id (rerun of a build must produce the same id for the same clip)."""
    caption: str
    """Algorithm 1 caption, e.g. "Robot pick cube. Action is pick, Object is cube."."""
    subject: str
    action: str
    object: str
    source: str
    """Source name: rh20t, bridge, sim, ..."""
    task: str = ""
    """Original task id or instruction text."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Where the clip came from: paths, camera, robot, seed, frame indices."""
    n_source_frames: int = 0
    """Frames in the source video (what Table I counts)."""
    frames: np.ndarray | None = None
    """(n, H, W, 3) uint8 uniformly sampled frames, or None when only provenance is kept."""
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """Extra per-clip arrays (states, actions of simulated clips)."""

    def labels(self) -> dict[str, str]:
        return {"subject": self.subject, "action": self.action, "object": self.object}


def _check_id(clip_id: str) -> str:
    if not clip_id or "/" in clip_id or clip_id.startswith("."):
        raise StoreError(f"invalid clip id {clip_id!r}: must be non-empty and contain no '/'")
    return clip_id


class _Store:
    """Shared lazy-handle, vocabulary and split logic of both stores."""

    schema = ""

    def __init__(self, path: str | Path, mode: str = "r") -> None:
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', not {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._h5: h5py.File | None = None
        if mode == "r" and not self.path.is_file():
            raise StoreError(f"{self.path}: no such store")

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            try:
                self._h5 = h5py.File(self.path, self.mode)
            except OSError as err:
                raise StoreError(f"{self.path}: cannot open as HDF5 ({err})") from err
            with h5_read_errors(self.path):
                found = self._h5.attrs.get("schema")
            if found is None and self.mode == "a" and len(self._h5.keys()) == 0:
                self._h5.attrs["schema"] = self.schema
            elif found != self.schema:
                raise StoreError(f"{self.path}: schema is {found!r}, expected {self.schema!r}")
        return self._h5

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if isinstance(exc, _H5_DAMAGE) and _raised_by_h5py(exc) and self._failed_here(exc):
                raise damaged(self.path, exc) from exc  # a raw read inside ``with store:`` failed
        finally:
            self.close()

    def _failed_here(self, err: BaseException) -> bool:
        """True when the h5py object whose call raised ``err`` lives in this store's open file."""
        if self._h5 is None:
            return False
        tb = err.__traceback__
        mine = None
        while tb is not None:
            obj = tb.tb_frame.f_locals.get("self")
            if isinstance(obj, h5py.HLObject):
                mine = obj
            tb = tb.tb_next
        try:
            return mine is not None and mine.file.id == self._h5.id
        except Exception:  # noqa: BLE001 - an object whose file is gone is not ours
            return False

    def __getstate__(self) -> dict[str, Any]:  # picklable for Ray: handles reopen lazily
        state = self.__dict__.copy()
        state["_h5"] = None
        return state

    # -- attributes -------------------------------------------------------------------------------
    @property
    @_reads
    def attrs(self) -> dict[str, Any]:
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.h5.attrs.items()}

    def set_attrs(self, **values: Any) -> None:
        for key, value in values.items():
            self.h5.attrs[key] = value
        self.h5.flush()

    # -- clips ------------------------------------------------------------------------------------
    def _clips(self) -> h5py.Group:
        return self.h5.require_group("clips") if self.mode == "a" else self.h5.get("clips", {})  # type: ignore[return-value]

    @_reads
    def ids(self) -> list[str]:
        """Ids of complete clips, in insertion-independent (sorted) order."""
        clips = self._clips()
        return sorted(k for k in clips.keys() if clips[k].attrs.get("complete", False))

    def __len__(self) -> int:
        return len(self.ids())

    @_reads
    def __contains__(self, clip_id: str) -> bool:
        clips = self._clips()
        return clip_id in clips and bool(clips[clip_id].attrs.get("complete", False))

    @_reads
    def _drop_incomplete(self) -> list[str]:
        clips = self._clips()
        dropped = [k for k in clips.keys() if not clips[k].attrs.get("complete", False)]
        for key in dropped:
            del clips[key]
            logger.warning(
                "%s: dropped clip %s that was in flight when a previous build stopped", self.path, key
            )
        return dropped

    # -- vocabulary -------------------------------------------------------------------------------
    @_reads
    def vocab(self, factor: str) -> list[str]:
        if factor not in FACTORS:
            raise KeyError(f"unknown factor {factor!r}; expected one of {FACTORS}")
        group = self.h5.get("vocab")
        if group is None or factor not in group:
            return []
        return [v.decode() if isinstance(v, bytes) else str(v) for v in group[factor][()]]

    def vocabs(self) -> dict[str, list[str]]:
        return {f: self.vocab(f) for f in FACTORS}

    def _class_index(self, factor: str, name: str) -> int:
        """Index of ``name`` in the factor's vocabulary, appending it when new."""
        group = self.h5.require_group("vocab")
        if factor not in group:
            group.create_dataset(factor, shape=(0,), maxshape=(None,), dtype=_STR)
        ds = group[factor]
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]
        if name in names:
            return names.index(name)
        ds.resize((len(names) + 1,))
        ds[len(names)] = name
        return len(names)

    def set_vocab(self, vocabs: dict[str, list[str]]) -> None:
        group = self.h5.require_group("vocab")
        for factor, names in vocabs.items():
            if factor in group:
                del group[factor]
            group.create_dataset(factor, data=np.array(names, dtype=object), maxshape=(None,), dtype=_STR)

    # -- splits -----------------------------------------------------------------------------------
    @_reads
    def split_names(self) -> list[str]:
        group = self.h5.get("splits")
        return sorted(group.keys()) if group is not None else []

    def set_split(self, name: str, parts: dict[str, list[str]]) -> None:
        """Store a named split; every id must be a complete clip of this store."""
        known = set(self.ids())
        for part, ids in parts.items():
            if part not in SPLITS:
                raise StoreError(f"{self.path}: split {name!r} has unknown part {part!r}; use {SPLITS}")
            missing = [i for i in ids if i not in known]
            if missing:
                raise StoreError(f"{self.path}: split {name!r}/{part} names unknown clips {missing[:3]}")
        group = self.h5.require_group("splits")
        if name in group:
            del group[name]
        sub = group.create_group(name)
        for part, ids in parts.items():
            sub.create_dataset(part, data=np.array(sorted(ids), dtype=object), dtype=_STR)
        self.h5.flush()

    @_reads
    def get_split(self, name: str) -> dict[str, list[str]]:
        group = self.h5.get("splits")
        if group is None or name not in group:
            raise StoreError(f"{self.path}: no split named {name!r} (have: {self.split_names()})")
        return {
            part: [v.decode() if isinstance(v, bytes) else str(v) for v in group[name][part][()]]
            for part in group[name].keys()
        }

    @_reads
    def fingerprint(self) -> str:
        """Hash of clip ids and labels: changes whenever the store's content changes."""
        digest = hashlib.sha1()
        clips = self._clips()
        for clip_id in self.ids():
            a = clips[clip_id].attrs
            labels = "|".join(str(a.get(f)) for f in FACTORS)
            digest.update(f"{clip_id}|{a.get('caption', '')}|{labels}\n".encode())
        return digest.hexdigest()


class ClipStore(_Store):
    """Clips kept by Algorithm 1 (or the simulated source), with labels and provenance."""

    schema = CLIP_SCHEMA

    @classmethod
    def open_for_build(cls, path: str | Path, source: str, n_frames: int, image_size: int) -> ClipStore:
        """Create a store, or reopen one for resuming; refuses a store built with other settings."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, mode="a")
        attrs = store.attrs
        wanted = {"source": source, "n_frames": int(n_frames), "image_size": int(image_size)}
        if "source" in attrs:
            clash = {k: (attrs.get(k), v) for k, v in wanted.items() if attrs.get(k) != v}
            if clash:
                store.close()
                raise StoreError(
                    f"{path}: built with other settings {clash} (stored, requested); use a new --out"
                )
            store._drop_incomplete()
        else:
            store.set_attrs(**wanted)
        return store

    def add(self, record: ClipRecord) -> None:
        """Write one clip and flush; it counts only once complete (crash-safe resume)."""
        _check_id(record.clip_id)
        n = int(self.attrs.get("n_frames", 0))
        if record.frames is not None:
            frames = np.asarray(record.frames)
            if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
                raise StoreError(
                    f"{self.path}: clip {record.clip_id} frames must be (n,H,W,3) uint8, "
                    f"got {frames.dtype} {frames.shape}"
                )
            if n and frames.shape[0] != n:
                raise StoreError(
                    f"{self.path}: clip {record.clip_id} has {frames.shape[0]} frames, store wants {n}"
                )
        clips = self._clips()
        if record.clip_id in clips:
            del clips[record.clip_id]
        group = clips.create_group(record.clip_id)
        for factor in FACTORS:
            name = getattr(record, factor)
            if not name:
                raise StoreError(f"{self.path}: clip {record.clip_id} has an empty {factor} label")
            group.attrs[factor] = self._class_index(factor, name)
            group.attrs[f"{factor}_name"] = name
        group.attrs["caption"] = record.caption
        group.attrs["source"] = record.source
        group.attrs["task"] = record.task
        group.attrs["provenance"] = json.dumps(record.provenance, sort_keys=True, default=str)
        group.attrs["n_source_frames"] = int(record.n_source_frames)
        if record.frames is not None:
            group.create_dataset("frames", data=np.asarray(record.frames), chunks=True, compression="lzf")
        for name, array in record.extras.items():
            group.create_dataset(f"extras/{name}", data=np.asarray(array), compression="lzf")
        group.attrs["complete"] = True
        self.h5.flush()

    def add_rejection(self, entry: dict[str, Any]) -> None:
        """Record a clip Algorithm 1 skipped (``clip_id``, ``file``, ``reason``, ``detail``), flushed."""
        if not entry.get("clip_id") or not entry.get("reason"):
            raise StoreError(f"{self.path}: a rejection needs clip_id and reason, got {entry!r}")
        if "rejected" not in self.h5:
            self.h5.create_dataset("rejected", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(256,))
        ds = self.h5["rejected"]
        ds.resize((ds.shape[0] + 1,))
        ds[-1] = json.dumps(entry, sort_keys=True, default=str)
        self.h5.flush()

    @_reads
    def rejections(self) -> dict[str, dict[str, Any]]:
        """Latest rejection per clip id, leaving out clips that were kept later (a retried clip)."""
        if "rejected" not in self.h5:
            return {}
        latest: dict[str, dict[str, Any]] = {}
        for raw in self.h5["rejected"][()]:
            entry = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            latest[entry["clip_id"]] = entry
        kept = set(self.ids())
        return {k: v for k, v in latest.items() if k not in kept}

    @_reads
    def get(self, clip_id: str, with_frames: bool = True) -> ClipRecord:
        clips = self._clips()
        if clip_id not in self:
            raise StoreError(f"{self.path}: no complete clip {clip_id!r}")
        group = clips[clip_id]
        a = group.attrs
        frames = group["frames"][()] if with_frames and "frames" in group else None
        extras = {k: v[()] for k, v in group["extras"].items()} if with_frames and "extras" in group else {}
        return ClipRecord(
            clip_id=clip_id,
            caption=str(a["caption"]),
            subject=str(a["subject_name"]),
            action=str(a["action_name"]),
            object=str(a["object_name"]),
            source=str(a["source"]),
            task=str(a.get("task", "")),
            provenance=json.loads(a.get("provenance", "{}")),
            n_source_frames=int(a.get("n_source_frames", 0)),
            frames=frames,
            extras=extras,
        )

    @_reads
    def label_ids(self, clip_id: str) -> dict[str, int]:
        a = self._clips()[clip_id].attrs
        return {f: int(a[f]) for f in FACTORS}

    def iter_records(self, with_frames: bool = False, ids: list[str] | None = None) -> Iterator[ClipRecord]:
        for clip_id in ids if ids is not None else self.ids():
            yield self.get(clip_id, with_frames=with_frames)


class FeatureStore(_Store):
    """Frozen-encoder features per clip; everything a RoboAct-CLIP fit needs, no encoder required."""

    schema = FEATURE_SCHEMA

    @classmethod
    def open_for_build(
        cls,
        path: str | Path,
        clip_store: ClipStore,
        encoder: str,
        n_frames: int,
        visual_dim: int,
        text_dim: int,
    ) -> FeatureStore:
        """Create or resume a feature store keyed by (clip store content, encoder, n frames)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, mode="a")
        wanted = {
            "clip_store_fingerprint": clip_store.fingerprint(),
            "encoder": encoder,
            "n_frames": int(n_frames),
            "visual_dim": int(visual_dim),
            "text_dim": int(text_dim),
        }
        attrs = store.attrs
        if "encoder" in attrs:
            clash = {k: (attrs.get(k), v) for k, v in wanted.items() if attrs.get(k) != v}
            if clash:
                store.close()
                raise StoreError(
                    f"{path}: features of another clip store/encoder/frame count {clash}; use a new --out"
                )
            store._drop_incomplete()
        else:
            store.set_attrs(clip_store=str(clip_store.path), **wanted)
            store.set_vocab(clip_store.vocabs())
        return store

    @_reads
    def is_current(
        self, clip_store: ClipStore, encoder: str, n_frames: int, ids: list[str] | None = None
    ) -> bool:
        """True when this store already holds every clip for that (clip store, encoder, n); ``ids``:
        the clips it should hold (default every clip of the clip store)."""
        a = self.attrs
        return (
            a.get("clip_store_fingerprint") == clip_store.fingerprint()
            and a.get("encoder") == encoder
            and int(a.get("n_frames", -1)) == int(n_frames)
            and set(self.ids()) == set(clip_store.ids() if ids is None else ids)
            and "recomb" in self.h5
        )

    def add(
        self,
        clip_id: str,
        frame_feats: np.ndarray,
        text_feat: np.ndarray,
        labels: dict[str, int],
        caption: str,
    ) -> None:
        """Write one clip's features and flush."""
        _check_id(clip_id)
        a = self.attrs
        frame_feats = np.asarray(frame_feats, dtype=np.float32)
        text_feat = np.asarray(text_feat, dtype=np.float32)
        want = (int(a["n_frames"]), int(a["visual_dim"]))
        if frame_feats.shape != want:
            raise StoreError(
                f"{self.path}: clip {clip_id} frame_feats shape {frame_feats.shape}, expected {want}"
            )
        if text_feat.shape != (int(a["text_dim"]),):
            raise StoreError(
                f"{self.path}: clip {clip_id} text_feat shape {text_feat.shape}, expected ({a['text_dim']},)"
            )
        if not (np.isfinite(frame_feats).all() and np.isfinite(text_feat).all()):
            raise StoreError(f"{self.path}: clip {clip_id} has non-finite features")
        clips = self._clips()
        if clip_id in clips:
            del clips[clip_id]
        group = clips.create_group(clip_id)
        group.create_dataset("frame_feats", data=frame_feats)
        group.create_dataset("text_feat", data=text_feat)
        for factor in FACTORS:
            group.attrs[factor] = int(labels[factor])
        group.attrs["caption"] = caption
        group.attrs["complete"] = True
        self.h5.flush()

    def set_vocab_text_feats(self, feats: dict[str, np.ndarray]) -> None:
        group = self.h5.require_group("vocab_text_feats")
        for factor, array in feats.items():
            if len(array) != len(self.vocab(factor)):
                raise StoreError(
                    f"{self.path}: {len(array)} {factor} text features for {len(self.vocab(factor))} classes"
                )
            if factor in group:
                del group[factor]
            group.create_dataset(factor, data=np.asarray(array, dtype=np.float32))
        self.h5.flush()

    @_reads
    def vocab_text_feats(self) -> dict[str, np.ndarray]:
        group = self.h5.get("vocab_text_feats")
        if group is None:
            raise StoreError(f"{self.path}: no class-name text features (extraction did not finish)")
        return {f: group[f][()] for f in FACTORS}

    def set_recombination(self, triplets: np.ndarray, captions: list[str], text_feats: np.ndarray) -> None:
        """Valid (s, a, o) triplets, their Eq. (19) captions and frozen text features."""
        triplets = np.asarray(triplets, dtype=np.int64)
        if (
            triplets.ndim != 2
            or triplets.shape[1] != 3
            or len(captions) != len(triplets)
            or len(text_feats) != len(triplets)
        ):
            raise StoreError(
                f"{self.path}: recombination arrays disagree: "
                f"{triplets.shape}, {len(captions)}, {len(text_feats)}"
            )
        if "recomb" in self.h5:
            del self.h5["recomb"]
        group = self.h5.create_group("recomb")
        group.create_dataset("triplets", data=triplets)
        group.create_dataset("captions", data=np.array(captions, dtype=object), dtype=_STR)
        group.create_dataset("text_feats", data=np.asarray(text_feats, dtype=np.float32))
        self.h5.flush()

    @_reads
    def recombination(self) -> tuple[np.ndarray, list[str], np.ndarray]:
        group = self.h5.get("recomb")
        if group is None:
            raise StoreError(f"{self.path}: no recombination targets (extraction did not finish)")
        captions = [v.decode() if isinstance(v, bytes) else str(v) for v in group["captions"][()]]
        return group["triplets"][()], captions, group["text_feats"][()]

    @_reads
    def arrays(self, ids: list[str] | None = None) -> dict[str, np.ndarray]:
        """All features of ``ids`` (default: every clip) as stacked arrays, for in-memory training.

        Returns ``frame_feats`` (N, n, Dv), ``text_feats`` (N, Dt), ``subject``/``action``/``object``
        (N,) int64 and ``ids`` (N,) object.
        """
        ids = self.ids() if ids is None else list(ids)
        clips = self._clips()
        missing = [i for i in ids if i not in clips]
        if missing:
            raise StoreError(f"{self.path}: no features for clips {missing[:3]} ({len(missing)} missing)")
        a = self.attrs
        n, dv, dt = int(a["n_frames"]), int(a["visual_dim"]), int(a["text_dim"])
        out = {
            "frame_feats": np.empty((len(ids), n, dv), np.float32),
            "text_feats": np.empty((len(ids), dt), np.float32),
            **{f: np.empty(len(ids), np.int64) for f in FACTORS},
            "ids": np.array(ids, dtype=object),
        }
        bad: list[str] = []
        for row, clip_id in enumerate(ids):
            group = clips[clip_id]
            out["frame_feats"][row] = group["frame_feats"][()]
            out["text_feats"][row] = group["text_feat"][()]
            for f in FACTORS:
                out[f][row] = int(group.attrs[f])
            if not (np.isfinite(out["frame_feats"][row]).all() and np.isfinite(out["text_feats"][row]).all()):
                bad.append(clip_id)
        if bad:  # one NaN clip turns every weight NaN within a few steps, and training still "succeeds"
            raise StoreError(
                f"{self.path}: non-finite features (NaN/inf) in {len(bad)} clip(s): {bad[:5]}; "
                "re-extract them (roboact features extract) or remove them from the store"
            )
        return out

    def split_arrays(self, split: str, part: str) -> dict[str, np.ndarray]:
        """``arrays`` of one part (train/val/test) of a named split."""
        parts = self.get_split(split)
        if part not in parts:
            raise StoreError(f"{self.path}: split {split!r} has no part {part!r} (have {sorted(parts)})")
        return self.arrays(parts[part])
