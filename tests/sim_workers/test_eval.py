"""evaluate(): results file, summary with CIs, tables, videos; a rerun skips finished episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from roboact.sim_workers.eval import evaluate
from roboact.sim_workers.policy import LinearPolicy

pytestmark = [pytest.mark.ray, pytest.mark.sim]


@pytest.mark.timeout(300)
def test_eval_writes_results_tables_videos_and_resumes(ray_session, tmp_path):
    kw = dict(max_steps=8, workers=2, run_dir=tmp_path, videos=1, image_size=32)
    s1 = evaluate("kitchen", "slide,switch", "random", 2, **kw)
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert s1["ran"] == 4 and len(lines) == 4 and s1["episodes"] == 4
    assert set(s1["tasks"]) == {"slide", "switch"}
    assert all(v["ci_low"] <= v["rate"] <= v["ci_high"] for v in s1["tasks"].values())
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "videos").glob("*.mp4")) == ["slide", "switch"]
    assert "| ours | random (8 steps)" in (tmp_path / "tables.md").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["episodes"] == 4
    s2 = evaluate("kitchen", "slide,switch", "random", 3, **kw)  # one more episode per task
    assert s2["ran"] == 2 and len((tmp_path / "episodes.jsonl").read_text().splitlines()) == 6
    assert s2["episodes"] == 6


@pytest.mark.timeout(300)
def test_checkpoint_policy_runs_through_the_pool(ray_session, tmp_path, monkeypatch):
    ckpt = LinearPolicy(np.zeros((9, 9)), np.full(9, 0.1)).save(tmp_path / "ckpt")
    monkeypatch.chdir(tmp_path)  # a path relative to the driver's folder, which actors do not share
    s = evaluate(
        "kitchen",
        "slide",
        "ckpt",
        2,
        max_steps=5,
        workers=1,
        run_dir=tmp_path / "run",
        videos=0,
        image_size=0,
    )
    rec = [json.loads(x) for x in (tmp_path / "run" / "episodes.jsonl").read_text().splitlines()]
    assert s["ran"] == 2 and {r["policy"] for r in rec} == {str(ckpt.resolve())}
    assert all(r["steps"] == 5 for r in rec)


def test_missing_checkpoint_fails_before_starting_actors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        evaluate("kitchen", "slide", str(tmp_path / "nope"), 1, run_dir=tmp_path / "run")
