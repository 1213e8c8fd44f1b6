"""Tiny synthetic demo files in the sim demos' HDF5 layout (see distributed/policy_data.py).

The demo action is a fixed smooth function of the robot state (plus a task-dependent offset), so a
BC head that learns anything beats the mean-action baseline; the image is a coloured square whose
position follows the state, so image features vary along an episode too.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

STATE_DIM = 9  # the sim suites' robot state (tests also run the head in a Kitchen env)
ACTION_DIM = 9  # Kitchen's joint-velocity action


def expert_weights(state_dim: int, action_dim: int) -> np.ndarray:
    """The synthetic expert's fixed linear map (state_dim, action_dim)."""
    return np.random.default_rng(1234).normal(scale=0.5, size=(state_dim, action_dim)).astype(np.float32)


def expert_action(state: np.ndarray, task_index: int = 0, action_dim: int = ACTION_DIM) -> np.ndarray:
    """The synthetic expert: a in [-1, 1]^A as a smooth function of the state and the task."""
    return np.tanh(state @ expert_weights(len(state), action_dim) + 0.3 * task_index).astype(np.float32)


def render(state: np.ndarray, size: int = 64) -> np.ndarray:
    """An upright RGB frame: grey floor, a square whose position and colour follow the state."""
    img = np.full((size, size, 3), 90, np.uint8)
    cx = int((np.tanh(state[0]) * 0.4 + 0.5) * (size - 12))
    cy = int((np.tanh(state[1]) * 0.4 + 0.5) * (size - 12))
    img[cy : cy + 12, cx : cx + 12] = (
        (np.array([200, 60, 60]) + 50 * np.tanh(state[2])).clip(0, 255).astype(np.uint8)
    )
    return img


def write_demo_file(
    path: Path,
    tasks: list[str] = ("task a",),  # type: ignore[assignment]
    demos_per_task: int = 2,
    steps: int = 30,
    seed: int = 0,
    image_size: int = 64,
    failed: int = 0,
    state_dim: int = STATE_DIM,
    action_dim: int = ACTION_DIM,
) -> Path:
    """Write ``demos_per_task`` successful demos per task (+ ``failed`` unsuccessful ones) to ``path``."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    with h5py.File(path, "w") as h5:
        h5.attrs["suite"] = "synthetic"
        data = h5.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "synthetic", "image_size": image_size})
        k = 0
        plan = [(ti, t, True) for ti, t in enumerate(tasks) for _ in range(demos_per_task)]
        plan += [(0, tasks[0], False)] * failed
        for ti, task, success in plan:
            state = rng.normal(size=state_dim).astype(np.float32)
            states, actions, images = [], [], []
            for _ in range(steps):
                a = expert_action(state, ti, action_dim)
                states.append(state.copy())
                actions.append(a)
                images.append(render(state, image_size))
                push = np.resize(a, state_dim)  # the action moves the state (cycled to its size)
                state = (0.9 * state + 0.3 * push + 0.1 * rng.normal(size=state_dim)).astype(np.float32)
            g = data.create_group(f"demo_{k}")
            g.create_dataset("actions", data=np.stack(actions))
            g.create_dataset("rewards", data=np.zeros(steps, np.float32))
            dones = np.zeros(steps, np.uint8)
            dones[-1] = 1
            g.create_dataset("dones", data=dones)
            g.create_dataset("states", data=np.stack(states))
            g.create_dataset("obs/agentview_rgb", data=np.stack(images))
            g.create_dataset("obs/robot_state", data=np.stack(states))
            g.attrs.update(
                {"task": task, "suite": "synthetic", "episode_id": k, "seed": seed, "success": success}
            )
            k += 1
    return path
