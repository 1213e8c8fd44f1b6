"""Demonstrations recorded on the arm, in the demo HDF5 layout the simulators write.

The layout is ``sim_workers/demos.py``'s (robomimic / LIBERO), so ``iter_demos``, ``demo_stats`` and
the policy data loader read a recorded file as they read a simulated one. What the arm adds::

    /                       attrs: suite ("arm:<robot>", e.g. "arm:jaka_k1"), format_version (=1),
                                   tasks (JSON list), robot, backend
    /data                   attrs: env_args (JSON, per task), total (steps)
    /data/demo_<k>          attrs: task, suite, episode_id, seed, starts ("home"), success, labels
                                   ("teleop"), policy ("teleop:<device>"), num_samples, language,
                                   control_hz, policy_hz, subtasks (JSON names), subtask_starts
                                   (JSON sample indices), subtask_success (JSON bools: the operator's
                                   or the automatic judge's marks), subtask_notes (JSON), fault
                                   ("" or the fault kind that ended the episode), complete (bool)
        actions         (T, n+1) float32  the command the arm executed: joint targets (rad) +
                                          gripper [0, 1], after the safety filter
        device_actions  (T, n+1) float32  what the input device asked for, before the filter
        rewards (T,) float32 (zeros), dones (T,) uint8 (1 at the last step)
        states          (T, n+1) float64  measured joints + gripper before actions[t]
        subtask_index   (T,) int16        index into the subtasks attr
        obs/agentview_rgb (T, H, W, 3) uint8  the arm's camera (one per camera: obs/<camera>_rgb)
        obs/robot_state (T, n+1) float32  joints + gripper (the policy's state)
        obs/joints (T, n), obs/gripper (T,), obs/tcp (T, k) when reported,
        obs/force_torque (T, 6) when the arm reports it
        obs/timestamp   (T,) float64      seconds since the episode started (the servo clock)

Why episode by episode through a writer thread: the servo loop must never wait on the disk (a
gzip'd second of 128 px frames takes tens of ms), and a fault that ends the recording must leave
every finished episode readable. Each episode's group is created when it starts, appended to in
blocks, and its attributes (``complete``, ``success``, ``num_samples``) set when it ends; a group a
crashed recorder left without ``complete`` is removed by the next run before it records.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARM_SUITE_PREFIX = "arm:"
BLOCK = 125
"""samples per append (one second at 125 Hz)"""


def _write_frames(ds: Any, start: int, frames: np.ndarray) -> None:
    """Write frames as pre-compressed chunks (one frame per chunk, the dataset's deflate filter).

    Why not ``ds[start:] = frames``: HDF5 compresses inside h5py's lock with the GIL held, which
    stalls the servo loop's thread for the whole block; ``zlib.compress`` releases the GIL, and the
    chunks it makes are what the deflate filter reads back.
    """
    for i, frame in enumerate(frames):
        chunk = zlib.compress(np.ascontiguousarray(frame).tobytes(), 1)
        ds.id.write_direct_chunk((start + i, *([0] * (frames.ndim - 1))), chunk)


def arm_suite(robot: str) -> str:
    """The ``suite`` attribute of a file recorded on ``robot``."""
    return f"{ARM_SUITE_PREFIX}{robot}"


def existing_episodes(path: Path) -> tuple[set[tuple[str, int]], int, list[str]]:
    """``((task, episode_id) of complete episodes, next demo index, removed incomplete groups)``.

    A group without ``complete`` is what a crashed recorder left behind: it is deleted, so the file
    holds only episodes that ended (cleanly or by a fault).
    """
    import h5py

    if not path.exists():
        return set(), 0, []
    done: set[tuple[str, int]] = set()
    removed: list[str] = []
    n = 0
    with h5py.File(path, "a") as f:
        data = f.get("data")
        if data is None:
            return set(), 0, []
        for name in list(data):
            grp = data[name]
            if not bool(grp.attrs.get("complete", False)):
                del data[name]
                removed.append(name)
                continue
            n = max(n, int(name.split("_")[1]) + 1)
            if not grp.attrs.get("fault", ""):
                done.add((str(grp.attrs["task"]), int(grp.attrs["episode_id"])))
        for name in removed:
            n = max(n, int(name.split("_")[1]) + 1)
    if removed:
        logger.warning(
            "%s: removed %d incomplete episode(s) a crashed run left: %s", path, len(removed), removed
        )
    return done, n, removed


class EpisodeWriter:
    """Appends one episode's samples to ``/data/demo_<index>`` from a background thread.

    ``add(sample)`` never touches the disk (it queues); ``finish(attrs)`` writes what is left, sets
    the episode's attributes and returns once the file is closed.
    """

    def __init__(
        self, path: Path, index: int, file_attrs: dict[str, Any], episode_attrs: dict[str, Any]
    ) -> None:
        self.path, self.index = path, index
        self.file_attrs, self.episode_attrs = file_attrs, episode_attrs
        self.n = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"demo-writer-{index}", daemon=True)
        self._finish_attrs: dict[str, Any] = {}
        self._create()
        self._thread.start()

    @property
    def name(self) -> str:
        return f"demo_{self.index}"

    def _create(self) -> None:
        import h5py

        with h5py.File(self.path, "a") as f:
            for key, value in self.file_attrs.items():
                f.attrs[key] = value
            f.attrs["format_version"] = FORMAT_VERSION
            data = f.require_group("data")
            args = json.loads(data.attrs.get("env_args", "{}"))
            args[self.episode_attrs["task"]] = self.episode_attrs.pop("env_args", {})
            data.attrs["env_args"] = json.dumps(args)
            f.attrs["tasks"] = json.dumps(sorted(args))
            grp = data.create_group(self.name)
            grp.attrs.update(self.episode_attrs)
            grp.attrs.update(complete=False, success=False, num_samples=0, fault="")

    def add(self, sample: dict[str, Any]) -> None:
        """Queue one sample (arrays keyed by dataset path, e.g. ``obs/robot_state``)."""
        if self._error is not None:
            raise RuntimeError(f"{self.path}: {self.name}: writing failed: {self._error}") from self._error
        self._queue.put(sample)
        self.n += 1

    def finish(self, attrs: dict[str, Any]) -> None:
        """Write the rest, set ``attrs`` (``success``, ``fault``, ``subtask_*``, ...) and mark complete."""
        self._finish_attrs = attrs
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"{self.path}: {self.name}: writing failed: {self._error}") from self._error

    def _run(self) -> None:
        block: list[dict[str, Any]] = []
        try:
            while True:
                item = self._queue.get()
                if item is not None:
                    block.append(item)
                if block and (item is None or len(block) >= BLOCK):
                    self._append(block)
                    block = []
                if item is None:
                    self._close()
                    return
        except BaseException as err:  # noqa: BLE001 - reported by add/finish in the recording thread
            self._error = err
            logger.exception("%s: %s: writing failed", self.path, self.name)

    def _append(self, block: list[dict[str, Any]]) -> None:
        import h5py

        with h5py.File(self.path, "a") as f:
            grp = f["data"][self.name]
            for key in block[0]:
                arr = np.stack([s[key] for s in block])
                if key not in grp:
                    image = arr.ndim == 4
                    grp.create_dataset(
                        key,
                        shape=(0, *arr.shape[1:]),
                        dtype=arr.dtype,
                        maxshape=(None, *arr.shape[1:]),
                        chunks=(1, *arr.shape[1:]) if image else (BLOCK, *arr.shape[1:]),
                        compression="gzip" if image else None,
                        compression_opts=1 if image else None,
                    )
                ds = grp[key]
                start = ds.shape[0]
                ds.resize(start + len(arr), axis=0)
                if arr.ndim == 4:
                    _write_frames(ds, start, arr)
                else:
                    ds[start:] = arr

    def _close(self) -> None:
        import h5py

        with h5py.File(self.path, "a") as f:
            grp = f["data"][self.name]
            n = int(grp["actions"].shape[0]) if "actions" in grp else 0
            dones = np.zeros(n, np.uint8)
            if n:
                dones[-1] = 1
            for key, arr in (("rewards", np.zeros(n, np.float32)), ("dones", dones)):
                if key in grp:
                    del grp[key]
                grp.create_dataset(key, data=arr)
            grp.attrs.update(self._finish_attrs)
            grp.attrs.update(num_samples=n, complete=True)
            data = f["data"]
            data.attrs["total"] = int(data.attrs.get("total", 0)) + n


# -- the arm's spaces, as a head's checkpoint names them ------------------------------------------
ARM_ACTION = "joint_target"
"""the action a head on the arm predicts: the joint targets (rad) + gripper the servo loop should
reach one policy period later (see docs/hardware.md for why not a Cartesian delta)"""
DEFAULT_POLICY_HZ = 25.0
"""the head's rate: 125 Hz / 5, the goal's >= 20 Hz with an integer number of servo ticks"""


def policy_stride(control_hz: float, policy_hz: float, where: str = "") -> int:
    """Servo ticks per policy step; refuses rates that do not divide the control rate."""
    if not policy_hz > 0 or policy_hz > control_hz:
        raise ValueError(f"{where}policy_hz must be in (0, control_hz={control_hz:g}], got {policy_hz:g}")
    stride = round(control_hz / policy_hz)
    if abs(stride * policy_hz - control_hz) > 1e-6 * control_hz:
        raise ValueError(
            f"{where}policy_hz {policy_hz:g} does not divide control_hz {control_hz:g} "
            "(the servo loop interpolates a whole number of ticks per policy step)"
        )
    return stride


def arm_space(robot: str, policy_hz: float) -> str:
    """The ``suite`` a head trained on arm recordings carries: ``arm:<robot>:joint_target:<hz>hz``."""
    return f"{arm_suite(robot)}:{ARM_ACTION}:{policy_hz:g}hz"


def parse_arm_space(suite: str) -> dict[str, Any] | None:
    """``{"robot", "action", "policy_hz"}`` of an ``arm_space`` string, None for a simulator suite."""
    if not suite.startswith(ARM_SUITE_PREFIX):
        return None
    parts = suite[len(ARM_SUITE_PREFIX) :].split(":")
    if len(parts) != 3 or not parts[2].endswith("hz"):
        return {"robot": parts[0], "action": "", "policy_hz": None}
    try:
        hz = float(parts[2][:-2])
    except ValueError:
        hz = None
    return {"robot": parts[0], "action": parts[1], "policy_hz": hz}
