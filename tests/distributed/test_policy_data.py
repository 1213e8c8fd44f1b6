"""Demo reading, the feature cache and the RLlib offline-data files (no Ray needed)."""

from __future__ import annotations

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from roboact.distributed.policy_data import (
    demo_features,
    fit_normaliser,
    read_demos,
    write_offline_data,
)
from roboact.policies.features import FeatureExtractor, FeatureSpec

from .policy_fixtures import ACTION_DIM, STATE_DIM, write_demo_file


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "demos.h5"
    return write_demo_file(path, tasks=["slide", "micro"], demos_per_task=2, steps=8, failed=1, image_size=64)


@pytest.fixture(scope="module")
def extractor():
    return FeatureExtractor(FeatureSpec.parse("embedded"), image_size=64)


def test_only_successful_demos_of_the_chosen_tasks_are_read(demo_file):
    ds = read_demos([demo_file])
    assert len(ds.demos) == 4 and ds.skipped["failed"] == 1
    assert ds.tasks == ["micro", "slide"] and ds.suite == "synthetic"
    assert ds.demos[0].actions.shape == (8, ACTION_DIM) and ds.demos[0].states.shape == (8, STATE_DIM)
    only = read_demos([demo_file], tasks=["slide"])
    assert {d.task for d in only.demos} == {"slide"} and only.tasks == ["slide"]
    assert len(read_demos([demo_file], only_success=False).demos) == 5


def test_missing_or_malformed_demo_files_name_the_problem(demo_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_demos([tmp_path / "nope.h5"])
    with pytest.raises(ValueError, match="no usable demos of tasks \\['open door'\\]"):
        read_demos([demo_file], tasks=["slide", "open door"])
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as h5:
        h5.create_group("data/demo_0").create_dataset("actions", data=np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="demo_0: missing dataset 'obs/agentview_rgb'"):
        read_demos([bad])
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_demos([tmp_path / "text.h5"])
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as h5:
        h5.create_group("data")
    with pytest.raises(ValueError, match="no demo_<k> groups"):
        read_demos([empty])


def test_mismatched_state_sizes_across_files_are_rejected(demo_file, tmp_path):
    other = write_demo_file(tmp_path / "other.h5", tasks=["slide"], demos_per_task=1, steps=4, state_dim=7)
    with pytest.raises(ValueError, match="obs/robot_state has 7 dims"):
        read_demos([demo_file, other])


@pytest.mark.timeout(180)
def test_features_are_cached_per_demo_and_reused(demo_file, extractor, tmp_path, monkeypatch):
    ds = read_demos([demo_file])
    first = demo_features(ds, extractor, tmp_path / "cache")
    assert len(first) == 4 and all(f.shape == (8, extractor.dim) for f in first.values())
    assert len(list((tmp_path / "cache").glob("*.h5"))) == 1

    def boom(images):
        raise AssertionError("cache miss: the encoder ran again")

    monkeypatch.setattr(extractor, "episode", boom)
    again = demo_features(ds, extractor, tmp_path / "cache")
    for key, value in first.items():
        np.testing.assert_array_equal(again[key], value)


def test_a_second_camera_adds_its_own_features_after_the_agent_views(demo_file, extractor, tmp_path):
    """Training sees [agent view ; wrist] features per step, the order the head sees at run time."""
    import shutil

    wrist = "robot0_eye_in_hand"
    path = tmp_path / "two_views.h5"
    shutil.copy(demo_file, path)
    with h5py.File(path, "a") as h5:
        for grp in h5["data"].values():  # a "wrist view": the agent view upside down
            grp["obs"].create_dataset(f"{wrist}_rgb", data=grp["obs/agentview_rgb"][()][:, ::-1])
    ds = read_demos([path])
    one = demo_features(ds, extractor, tmp_path / "cache")
    both = demo_features(ds, extractor, tmp_path / "cache", cameras=["agentview", wrist])
    for key, feats in both.items():
        assert feats.shape == (8, 2 * extractor.dim)
        np.testing.assert_array_equal(feats[:, : extractor.dim], one[key])
        assert not np.allclose(feats[:, extractor.dim :], one[key])
    with pytest.raises(ValueError, match=r"has no obs/frontview_rgb"):
        demo_features(ds, extractor, tmp_path / "cache", cameras=["agentview", "frontview"])


@pytest.mark.timeout(180)
def test_offline_data_has_rllibs_columns_and_normalised_values(demo_file, extractor, tmp_path):
    ds = read_demos([demo_file])
    feats = demo_features(ds, extractor, tmp_path / "cache")
    norm = fit_normaliser(ds, feats, obs_clip=None)  # unclipped, so the columns' means are exactly 0
    rows = write_offline_data(ds, feats, norm, tmp_path / "offline")
    table = pq.read_table(sorted((tmp_path / "offline").glob("*.parquet")))
    assert rows == table.num_rows == 4 * 8
    assert {"eps_id", "obs", "actions", "rewards", "terminateds", "truncateds", "t"} <= set(
        table.column_names
    )
    obs = np.array(table.column("obs").to_pylist(), np.float32)
    acts = np.array(table.column("actions").to_pylist(), np.float32)
    assert obs.shape == (32, extractor.dim + STATE_DIM + 2)  # + one-hot of the 2 tasks
    assert np.abs(obs[:, :-2].mean(axis=0)).max() < 1e-3  # standardised features and state
    assert acts.min() >= -1 - 1e-5 and acts.max() <= 1 + 1e-5
    np.testing.assert_allclose(
        norm.unnorm_action(acts), np.concatenate([d.actions for d in ds.demos]), atol=1e-5
    )
    onehot = obs[:, -2:]
    assert set(map(tuple, onehot.tolist())) == {(1.0, 0.0), (0.0, 1.0)}
    terms = np.array(table.column("terminateds").to_pylist())
    assert terms.sum() == 4 and len(set(table.column("eps_id").to_pylist())) == 4


def test_action_chunks_hold_the_next_actions_and_repeat_the_last_past_the_end():
    from roboact.distributed.policy_data import action_chunks

    actions = np.arange(8, dtype=np.float32).reshape(4, 2)  # a_t = (2t, 2t + 1)
    rows = action_chunks(actions, 3)
    assert rows.shape == (4, 6)
    np.testing.assert_array_equal(rows[0], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(rows[2], [4, 5, 6, 7, 6, 7])
    np.testing.assert_array_equal(rows[3], [6, 7, 6, 7, 6, 7])
    np.testing.assert_array_equal(action_chunks(actions, 1), actions)


@pytest.mark.timeout(180)
def test_chunked_offline_data_carries_chunk_times_action_values(demo_file, extractor, tmp_path):
    ds = read_demos([demo_file])
    feats = demo_features(ds, extractor, tmp_path / "cache")
    norm = fit_normaliser(ds, feats)
    write_offline_data(ds, feats, norm, tmp_path / "offline", chunk=4)
    table = pq.read_table(sorted((tmp_path / "offline").glob("*.parquet")))
    acts = np.array(table.column("actions").to_pylist(), np.float32)
    assert acts.shape == (4 * 8, 4 * ACTION_DIM)
    first = norm.norm_action(ds.demos[0].actions)  # rows of demo 0 come first
    np.testing.assert_allclose(acts[0].reshape(4, ACTION_DIM), first[:4], atol=1e-6)


def test_almost_constant_inputs_are_not_blown_up_at_run_time(demo_file, extractor, tmp_path):
    ds = read_demos([demo_file])
    feats = demo_features(ds, extractor, tmp_path / "cache")
    key = (ds.demos[0].file, ds.demos[0].name)
    for k in feats:  # one feature dimension barely moves across all demos
        feats[k] = feats[k].copy()
        feats[k][:, 0] = 1.0 + 1e-5 * np.arange(len(feats[k]))
    norm = fit_normaliser(ds, feats)
    x = norm.obs(feats[key][:1] + 0.01, ds.demos[0].states[:1], ds.demos[0].task)
    assert np.abs(x).max() <= norm.obs_clip
    raw = fit_normaliser(ds, feats, std_floor=0.0, obs_clip=None)
    assert np.abs(raw.obs(feats[key][:1] + 0.01, ds.demos[0].states[:1], ds.demos[0].task)).max() > 100
