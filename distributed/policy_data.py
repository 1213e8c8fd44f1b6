"""Demonstrations -> cached frozen features -> RLlib offline data (parquet, one row per step).

Demo files (written by ``roboact sim demos``, robomimic/LIBERO layout)::

    /data                       attrs: env_args (JSON)
    /data/demo_<k>/actions      (T, A) float32
    /data/demo_<k>/rewards      (T,)
    /data/demo_<k>/dones        (T,)
    /data/demo_<k>/states       (T, S)
    /data/demo_<k>/obs/agentview_rgb  (T, H, W, 3) uint8, upright
    /data/demo_<k>/obs/robot_state    (T, D) float32
    /data/demo_<k>                attrs: task, suite, episode_id, seed, success

Feature cache (one HDF5 file per demo file and feature spec, under ``cache_dir``)::

    /<demo_k>/features  (T, F) float32     written per demo as it finishes (reruns skip it)
    attrs: spec, image_size, source (demo file name), key

Offline data (``<out>/offline_data/part-<i>.parquet``): the columns RLlib's new-stack
``OfflinePreLearner`` maps to episodes (``ray/rllib/offline/offline_prelearner.py``, ``SCHEMA``):
``eps_id`` (str), ``obs`` (list<float32>, normalised ``[features ; state ; task one-hot]``),
``actions`` (list<float32>, normalised to [-1, 1] per dimension), ``rewards``, ``terminateds``,
``truncateds``, ``t``. BC reads no next observation, so training sets ``ignore_final_observation``
and the files carry no ``new_obs`` column.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from roboact.datasets.stores import h5_read_errors
from roboact.hardware.demo_file import ARM_SUITE_PREFIX, DEFAULT_POLICY_HZ, arm_space, policy_stride
from roboact.policies.features import FeatureExtractor
from roboact.policies.normaliser import Normaliser

logger = logging.getLogger(__name__)

IMAGE_KEY = "obs/agentview_rgb"
STATE_KEY = "obs/robot_state"


@dataclass
class Demo:
    """One demonstration as the policy needs it (images are read lazily through ``images()``)."""

    file: Path
    name: str
    task: str
    actions: np.ndarray  # (T, A) float32
    states: np.ndarray  # (T, D) float32 robot state
    success: bool
    relabelled: bool = False  # a DAgger episode: the learned head ran, the expert labelled each step
    group: str = ""  # the HDF5 group under /data when it is not ``name`` (a segment of an arm demo)
    index: np.ndarray | None = None  # the group's samples this demo uses (increasing), None: all

    def images(self, camera: str = "agentview") -> np.ndarray:
        """Frames of ``obs/<camera>_rgb``; a camera the demo has not recorded is named in the error."""
        key = f"obs/{camera}_rgb"
        with h5_read_errors(self.file), h5py.File(self.file, "r") as h5:
            grp = h5[f"data/{self.group or self.name}"]
            if key not in grp:
                raise ValueError(
                    f"{self.file}: /data/{self.group or self.name} has no {key} (recorded: "
                    f"{sorted(grp['obs'])}); record demos with that camera (roboact sim demos --cameras)"
                )
            ds = grp[key]
            return ds[()] if self.index is None else ds[self.index]


@dataclass
class DemoSet:
    """All demos selected for training plus what ``load_policy`` needs to know about them."""

    demos: list[Demo]
    tasks: list[str]
    suite: str
    skipped: dict[str, int] = field(default_factory=dict)


def recorded_cameras(paths: list[str | Path]) -> list[str]:
    """The views every demo file recorded (``obs/<name>_rgb`` in each file's first demo), agent view
    first, then the others by name; a URI is read from this node's staged copy.

    Raises:
        ValueError: a file with no demo, or no agent view, naming it.
    """
    from roboact.storage import is_remote, local_copy

    common: set[str] | None = None
    for p in paths:
        path = local_copy(p) if is_remote(str(p)) else Path(p)
        with h5_read_errors(path), h5py.File(path, "r") as h5:
            names = sorted(h5["data"]) if "data" in h5 else []
            if not names:
                raise ValueError(f"{p}: no demonstration under /data")
            obs = h5[f"data/{names[0]}"].get("obs", {})
            views = {k[: -len("_rgb")] for k in obs if k.endswith("_rgb")}
        common = views if common is None else common & views
    if not common or "agentview" not in common:
        raise ValueError(
            f"{', '.join(map(str, paths))}: no agent view (obs/agentview_rgb) recorded in every file"
        )
    return ["agentview", *sorted(common - {"agentview"})]


def _attr_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_demos(paths: list[Path], tasks: list[str] | None = None, only_success: bool = True) -> DemoSet:
    """Read and check every demo in ``paths``; keep successful ones and every DAgger episode
    (expert-labelled, ``policy`` attribute ``dagger:...``), and only ``tasks`` if given.

    Raises:
        FileNotFoundError / ValueError naming the file, demo and field on missing or malformed data
        (``StoreError``, a ValueError, for bytes h5py cannot read).
    """
    demos: list[Demo] = []
    suites: set[str] = set()
    skipped = {"failed": 0, "other_task": 0}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"demo file {path} does not exist")
        try:
            h5 = h5py.File(path, "r")
        except OSError as err:
            raise ValueError(f"{path}: not an HDF5 file ({err})") from err
        with h5_read_errors(path), h5:
            if "data" not in h5:
                raise ValueError(f"{path}: no /data group (expected the robomimic/LIBERO demo layout)")
            suite = _attr_str(h5.attrs.get("suite", ""))
            arm = suite.startswith(ARM_SUITE_PREFIX)
            names = sorted((n for n in h5["data"] if n.startswith("demo_")), key=_demo_index)
            if not names:
                raise ValueError(f"{path}: /data holds no demo_<k> groups")
            if arm:
                suite = _arm_file_space(path, h5, suite, names)
            if suite:
                suites.add(suite)
            for name in names:
                if arm:
                    segments = _read_arm_segments(path, h5["data"][name], name)
                    for demo in segments:
                        if only_success and not demo.success:
                            skipped["failed"] += 1
                        elif tasks is not None and demo.task not in tasks:
                            skipped["other_task"] += 1
                        else:
                            demos.append(demo)
                    continue
                demo = _read_one(path, h5["data"][name], name)
                # a failed DAgger episode still carries the expert's label for every state it visited
                if only_success and not demo.success and not demo.relabelled:
                    skipped["failed"] += 1
                    continue
                if tasks is not None and demo.task not in tasks:
                    skipped["other_task"] += 1
                    continue
                demos.append(demo)
    if not demos:
        raise ValueError(
            f"no usable demos in {[str(p) for p in paths]} (tasks={tasks}, only_success={only_success}, "
            f"skipped {skipped})"
        )
    _check_consistent(demos)
    found = sorted({d.task for d in demos})
    if tasks is not None:
        missing = [t for t in tasks if t not in found]
        if missing:
            raise ValueError(
                f"no usable demos of tasks {missing} in {[str(p) for p in paths]} (found {found})"
            )
    if len(suites) > 1 and any(x.startswith(ARM_SUITE_PREFIX) for x in suites):
        raise ValueError(
            f"demos from different spaces cannot train one head: {sorted(suites)} ({[str(p) for p in paths]})"
        )
    suite = ",".join(sorted(suites)) if suites else ""
    logger.info("read %d demos of %d tasks (skipped %s)", len(demos), len(found), skipped)
    return DemoSet(demos, list(tasks) if tasks is not None else found, suite, skipped)


def _demo_index(name: str) -> tuple[int, str]:
    tail = name[len("demo_") :]
    return (int(tail), name) if tail.isdigit() else (1 << 30, name)


def _read_one(path: Path, grp: h5py.Group, name: str) -> Demo:
    where = f"{path}: /data/{name}"
    for key in ("actions", IMAGE_KEY, STATE_KEY):
        if key not in grp:
            raise ValueError(f"{where}: missing dataset {key!r}")
    if "task" not in grp.attrs:
        raise ValueError(f"{where}: missing attribute 'task'")
    actions = np.asarray(grp["actions"][()], dtype=np.float32)
    states = np.asarray(grp[STATE_KEY][()], dtype=np.float32)
    img = grp[IMAGE_KEY]
    if actions.ndim != 2 or len(actions) == 0:
        raise ValueError(f"{where}/actions: expected (T, A) with T > 0, got shape {actions.shape}")
    if states.ndim != 2 or len(states) != len(actions):
        raise ValueError(f"{where}/{STATE_KEY}: expected ({len(actions)}, D), got shape {states.shape}")
    if img.ndim != 4 or img.shape[0] != len(actions) or img.shape[-1] != 3 or img.dtype != np.uint8:
        raise ValueError(
            f"{where}/{IMAGE_KEY}: expected ({len(actions)}, H, W, 3) uint8, got {img.shape} {img.dtype}"
        )
    for arr, key in ((actions, "actions"), (states, STATE_KEY)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}/{key}: contains NaN or inf")
    success = bool(grp.attrs.get("success", True))
    relabelled = _attr_str(grp.attrs.get("policy", "expert")).startswith("dagger:")
    return Demo(path, name, _attr_str(grp.attrs["task"]), actions, states, success, relabelled)


# -- demos recorded on the arm (``roboact hardware record``) --------------------------------------
def _arm_file_space(path: Path, h5: h5py.File, suite: str, names: list[str]) -> str:
    """The file's ``arm_space`` (robot, action, policy rate): every complete demo must agree."""
    rates = set()
    for name in names:
        grp = h5["data"][name]
        if not bool(grp.attrs.get("complete", False)):
            continue
        where = f"{path}: /data/{name}"
        for key in ("control_hz", "policy_hz", "subtasks"):
            if key not in grp.attrs:
                raise ValueError(f"{where}: missing attribute {key!r} (recorded on the arm: suite {suite!r})")
        rates.add((float(grp.attrs["control_hz"]), float(grp.attrs["policy_hz"])))
    if len(rates) > 1:
        raise ValueError(f"{path}: demos recorded with different control_hz/policy_hz {sorted(rates)}")
    hz = rates.pop()[1] if rates else DEFAULT_POLICY_HZ
    return arm_space(suite[len(ARM_SUITE_PREFIX) :], hz)


def _read_arm_segments(path: Path, grp: h5py.Group, name: str) -> list[Demo]:
    """One recorded episode -> one ``Demo`` per subtask, sampled at the head's rate.

    Why per subtask: a trial runs (and judges) subtask by subtask, and the head is told which one it
    is doing (its ``task`` is the subtask's name), so each subtask segment is a demo of that task,
    its success the operator's mark of that subtask. Why sampled: the head runs at ``policy_hz``
    while the arm records at ``control_hz``; a sample every ``stride`` ticks is labelled with the
    command the servo loop reached at the end of that policy period (``actions[t + stride - 1]``,
    within the segment), which is what the run-time loop interpolates towards.
    """
    where = f"{path}: /data/{name}"
    if not bool(grp.attrs.get("complete", False)) or grp.attrs.get("fault", ""):
        return []  # ended by a fault or a crash: no operator mark to trust
    for key in ("actions", IMAGE_KEY, STATE_KEY, "subtask_index"):
        if key not in grp:
            raise ValueError(f"{where}: missing dataset {key!r}")
    actions = np.asarray(grp["actions"][()], dtype=np.float32)
    states = np.asarray(grp[STATE_KEY][()], dtype=np.float32)
    sub_idx = np.asarray(grp["subtask_index"][()], dtype=np.int64)
    n = len(actions)
    if n == 0:
        return []
    if actions.ndim != 2 or states.shape != actions.shape or sub_idx.shape != (n,):
        raise ValueError(
            f"{where}: actions {actions.shape}, {STATE_KEY} {states.shape}, subtask_index {sub_idx.shape}: "
            "expected (T, n+1), (T, n+1), (T,)"
        )
    if grp[IMAGE_KEY].shape[0] != n:
        raise ValueError(f"{where}/{IMAGE_KEY}: {grp[IMAGE_KEY].shape[0]} frames for {n} actions")
    for arr, key in ((actions, "actions"), (states, STATE_KEY)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{where}/{key}: contains NaN or inf")
    import json

    subtasks = json.loads(_attr_str(grp.attrs["subtasks"]))
    marks = json.loads(_attr_str(grp.attrs.get("subtask_success", "[]")))
    stride = policy_stride(float(grp.attrs["control_hz"]), float(grp.attrs["policy_hz"]), f"{where}: ")
    out = []
    for j, sub in enumerate(subtasks):
        ticks = np.flatnonzero(sub_idx == j)
        if len(ticks) == 0:
            continue
        first, last = int(ticks[0]), int(ticks[-1])
        if last - first + 1 != len(ticks):
            raise ValueError(f"{where}/subtask_index: subtask {j} ({sub}) is not one contiguous run")
        t = np.arange(first, last + 1, stride)
        label = np.minimum(t + stride - 1, last)
        ok = bool(marks[j]) if j < len(marks) else False
        out.append(
            Demo(path, f"{name}:{sub}@{stride}", str(sub), actions[label], states[t], ok, group=name, index=t)
        )
    return out


def _check_consistent(demos: list[Demo]) -> None:
    first = demos[0]
    for d in demos[1:]:
        if d.actions.shape[1] != first.actions.shape[1]:
            raise ValueError(
                f"{d.file}: /data/{d.name}/actions has {d.actions.shape[1]} dims, "
                f"{first.file}: /data/{first.name} has {first.actions.shape[1]}"
            )
        if d.states.shape[1] != first.states.shape[1]:
            raise ValueError(
                f"{d.file}: /data/{d.name}/{STATE_KEY} has {d.states.shape[1]} dims, "
                f"{first.file}: /data/{first.name} has {first.states.shape[1]}"
            )


# -- feature cache -----------------------------------------------------------------------------
def cache_key(demo_file: Path, spec_text: str, image_size: int, model_dir: str | None) -> str:
    """Key of one (demo file, spec) cache: changes when the file, the spec or the model weights change."""
    st = Path(demo_file).stat()
    parts = [str(Path(demo_file).resolve()), str(st.st_size), str(st.st_mtime_ns), spec_text, str(image_size)]
    if model_dir is not None:
        for f in sorted(Path(model_dir).glob("*")):
            if f.is_file():
                fs = f.stat()
                parts += [f.name, str(fs.st_size), str(fs.st_mtime_ns)]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def demo_features(
    demo_set: DemoSet, extractor: FeatureExtractor, cache_dir: Path, cameras: list[str] | None = None
) -> dict[tuple[Path, str], np.ndarray]:
    """Features of every demo, (file, demo name) -> (T, F x cameras), read from or written to the cache.

    Each camera's features are cached on their own (``<demo>/features`` for the agent view, as
    before cameras existed; ``<demo>/features_<camera>`` for others) and concatenated in
    ``cameras`` order, the order the head sees them at run time.
    """
    from tqdm import tqdm

    cameras = list(cameras or ["agentview"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    spec = extractor.spec
    out: dict[tuple[Path, str], np.ndarray] = {}
    by_file: dict[Path, list[Demo]] = {}
    for d in demo_set.demos:
        by_file.setdefault(d.file, []).append(d)
    todo = sum(len(v) for v in by_file.values())
    with tqdm(total=todo, desc=f"features {spec.text}", unit="demo", disable=None) as bar:
        for file, demos in by_file.items():
            key = cache_key(file, spec.text, extractor.image_size, spec.model_dir)
            path = cache_dir / f"{file.stem}.{key}.h5"
            with h5py.File(path, "a") as h5:
                h5.attrs.update(
                    {"spec": spec.text, "image_size": extractor.image_size, "source": file.name, "key": key}
                )
                for d in demos:
                    per_camera = []
                    for camera in cameras:
                        ds = f"{d.name}/features" + ("" if camera == "agentview" else f"_{camera}")
                        if ds in h5 and h5[ds].shape == (len(d.actions), extractor.dim):
                            feats = h5[ds][()]
                        else:
                            feats = extractor.episode(d.images(camera))
                            if ds in h5:
                                del h5[ds]
                            h5.create_dataset(ds, data=feats)
                            h5.flush()
                        per_camera.append(feats)
                    out[(file, d.name)] = np.concatenate(per_camera, axis=-1)
                    bar.update(1)
    return out


# -- normalisation and parquet -----------------------------------------------------------------
def fit_normaliser(
    demo_set: DemoSet,
    feats: dict[tuple[Path, str], np.ndarray],
    std_floor: float = 0.1,
    obs_clip: float | None = 5.0,
) -> Normaliser:
    """Per-dimension mean/std of [features ; state] and min/max of actions over all demo steps.

    Why the floor and the clip: a few demos from nearly the same start leave many feature (and
    some state) dimensions almost constant, and dividing by their tiny std turns a rollout's first
    small deviation into values of 10-500 standard deviations (measured on Kitchen door: 14 such
    dimensions at step 0, max 511 by step 80), which the head has never seen and answers by
    swinging the arm away. Each block's stds are floored at ``std_floor`` times the block's mean
    std, and the standardised values clipped to ``+-obs_clip``.
    """
    x = np.concatenate([np.concatenate([feats[(d.file, d.name)], d.states], axis=-1) for d in demo_set.demos])
    acts = np.concatenate([d.actions for d in demo_set.demos])
    std = x.std(axis=0)
    n_feat = x.shape[1] - demo_set.demos[0].states.shape[1]
    for block in (slice(0, n_feat), slice(n_feat, x.shape[1])):
        s = std[block]
        if s.size and s.max() > 1e-6:
            std[block] = np.maximum(s, std_floor * s.mean())
    std = np.where(std < 1e-6, 1.0, std)  # constant dims stay as centred zeros
    return Normaliser(
        obs_clip=obs_clip,
        obs_mean=x.mean(axis=0).astype(np.float32),
        obs_std=std.astype(np.float32),
        action_low=acts.min(axis=0).astype(np.float32),
        action_high=acts.max(axis=0).astype(np.float32),
        tasks=list(demo_set.tasks),
    )


def action_chunks(actions: np.ndarray, chunk: int) -> np.ndarray:
    """(T, A) -> (T, chunk * A): row t holds actions t .. t+chunk-1, the last action repeated past
    the end (ACT's action chunk; the expert holds still at the end of a demo, so the repeat is what
    it would have done)."""
    n = len(actions)
    idx = np.minimum(np.arange(n)[:, None] + np.arange(chunk)[None, :], n - 1)  # (T, chunk)
    return actions[idx].reshape(n, -1)


def iter_rows(demo_set: DemoSet, feats: dict, norm: Normaliser, chunk: int = 1) -> Iterator[dict]:
    """One dict of columns per demo (RLlib's offline schema), in demo order; ``actions`` holds the
    next ``chunk`` normalised actions per step."""
    for i, d in enumerate(demo_set.demos):
        obs = norm.obs(feats[(d.file, d.name)], d.states, d.task)
        acts = action_chunks(norm.norm_action(d.actions), chunk)
        n = len(acts)
        term = np.zeros(n, dtype=bool)
        term[-1] = True
        yield {
            "eps_id": [f"{i}:{d.file.name}:{d.name}"] * n,
            "obs": list(obs),
            "actions": list(acts),
            "rewards": np.zeros(n, np.float32),
            "terminateds": term,
            "truncateds": np.zeros(n, dtype=bool),
            "t": np.arange(n, dtype=np.int64),
        }


def write_offline_data(
    demo_set: DemoSet, feats: dict, norm: Normaliser, out_dir: Path, chunk: int = 1
) -> int:
    """Write ``part-<i>.parquet`` (one per demo) into a fresh ``out_dir``; return the number of rows."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    rows = 0
    for i, cols in enumerate(iter_rows(demo_set, feats, norm, chunk)):
        table = pa.table(
            {
                "eps_id": pa.array(cols["eps_id"], pa.string()),
                "obs": pa.array([o.tolist() for o in cols["obs"]], pa.list_(pa.float32())),
                "actions": pa.array([a.tolist() for a in cols["actions"]], pa.list_(pa.float32())),
                "rewards": pa.array(cols["rewards"]),
                "terminateds": pa.array(cols["terminateds"]),
                "truncateds": pa.array(cols["truncateds"]),
                "t": pa.array(cols["t"]),
            }
        )
        pq.write_table(table, out_dir / f"part-{i:05d}.parquet")
        rows += table.num_rows
    return rows
