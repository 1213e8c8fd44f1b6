"""Same sim config and seed -> identical clip store, whatever the worker count (issue #18 item 8).

Two builds of one config used to differ (states by up to 0.63, vocabulary order too): robosuite drew
parts of the model (Lift's cube size) from the worker process's unseeded ``np.random`` while building
an env, a soft reset kept the previous episode's gripper command, and class ids followed the order in
which workers delivered clips. One build here runs both jobs on one actor (the second episode on a
used env), the other on two actors (each on a fresh env); every dataset and attribute must match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from roboact.datasets.sim_source import build_sim_store
from roboact.datasets.splits import clip_episodes, shared_episodes
from roboact.datasets.stores import ClipStore

pytestmark = [pytest.mark.ray, pytest.mark.sim]

TINIEST = """\
embodiments: [Panda]
actions:
  - {name: push}
  - {name: lift}
clips_per_combination: 1
cameras: [agentview, frontview]
image_size: 16
n_frames: 4
max_steps: 120
max_attempts: 2
seed: 3
workers: 1
env_cache: 1
"""


def _content(path: Path) -> dict[str, Any]:
    """Every dataset's bytes and every attribute of the file, keyed by HDF5 path."""
    out: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        for key, value in obj.attrs.items():
            out[f"{name}@{key}"] = value.tobytes() if isinstance(value, np.ndarray) else value
        if isinstance(obj, h5py.Dataset):
            data = obj[()]
            out[name] = (data.dtype.str, data.shape, data.tobytes() if data.dtype != object else list(data))

    with h5py.File(path, "r") as h5:
        visit("/", h5)
        h5.visititems(visit)
    return out


@pytest.mark.timeout(400)
def test_two_builds_of_one_config_and_seed_are_identical(ray_session, tmp_path: Path) -> None:
    config = tmp_path / "tiniest.yaml"
    config.write_text(TINIEST)
    one = build_sim_store(tmp_path / "one.h5", config=config, workers=1)
    two = build_sim_store(tmp_path / "two.h5", config=config, workers=2)
    assert one["clips"] == two["clips"] == 4 and not one["failed_jobs"] and not two["failed_jobs"]
    a, b = _content(tmp_path / "one.h5"), _content(tmp_path / "two.h5")
    assert sorted(a) == sorted(b)
    differ = sorted(k for k in a if not _equal(a[k], b[k]))
    assert differ == [], f"{len(differ)} datasets/attributes differ, e.g. {differ[:5]}"
    with ClipStore(tmp_path / "one.h5") as store:
        assert store.vocab("action") == ["lift", "push"]
        episodes = clip_episodes(store)
        assert len(set(episodes.values())) == 2
        assert all(shared_episodes(store.get_split(n), episodes) == {} for n in store.split_names())


def _equal(x: Any, y: Any) -> bool:
    if isinstance(x, np.generic | np.ndarray) or isinstance(y, np.generic | np.ndarray):
        return bool(np.array_equal(x, y))
    return x == y
