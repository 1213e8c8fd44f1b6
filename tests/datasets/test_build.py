"""Algorithm 1 end to end on tiny RH20T and BridgeData V2 trees: captions, rejections, Table I, resume."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from roboact.datasets.build import build_store, default_rejected_path
from roboact.datasets.parse_rules import RuleParser
from roboact.datasets.sampling import uniform_indices
from roboact.datasets.stats import format_table, store_stats
from roboact.datasets.stores import ClipStore, StoreError

from tests.datasets.trees import level


def test_rh20t_build_keeps_single_actions_with_the_papers_caption(rh20t_tree, tmp_path: Path) -> None:
    root, expected = rh20t_tree
    out = tmp_path / "rh.h5"
    summary = build_store("rh20t", root, out, frames=8, image_size=32, progress=False)
    assert summary["kept"] == expected["kept"] and summary["rejected"] == dict(
        sorted(expected["rejected"].items())
    )
    with ClipStore(out) as store:
        records = {r.clip_id: r for r in store.iter_records(with_frames=True)}
        human = next(r for r in records.values() if r.subject == "Human")
        assert human.caption == "Human pick block. Action is pick, Object is block."
        lamp = next(r for r in records.values() if r.task == "task_0003")
        assert lamp.caption == "Robot turn on desk lamp. Action is turn on, Object is desk lamp."
        assert lamp.provenance["frame_indices"] == uniform_indices(22, 8)
        assert np.allclose(
            [f.mean() for f in lamp.frames], [level(i) for i in uniform_indices(22, 8)], atol=3
        )
        assert lamp.frames.shape == (8, 32, 32, 3)
        assert store.vocab("subject") == sorted(store.vocab("subject"), key=store.vocab("subject").index)
        assert set(store.vocab("action")) == {"pick", "turn on"}
        labels = store.label_ids(human.clip_id)
        assert store.vocab("subject")[labels["subject"]] == "Human"
        assert "random" in store.split_names() and "heldout_Human" in store.split_names()


def test_stats_equal_hand_counted_values(rh20t_tree, tmp_path: Path) -> None:
    root, expected = rh20t_tree
    out = tmp_path / "rh.h5"
    build_store("rh20t", root, out, frames=8, image_size=0, progress=False)
    stats = store_stats(out)
    # provenance-only: the corrupt mp4 is not decoded at build time, so it is kept (5 clips)
    assert stats["videos"] == stats["clips"] == expected["kept"] + 1
    assert stats["frames"] == expected["frames"] + 20
    assert stats["tasks"] == expected["tasks"] and stats["actions"] == expected["actions"]
    assert stats["subjects"] == {"Human": 1, "Robot": 4}
    assert stats["rejected"] == {"multi_action": 1}
    assert {"videos", "tasks", "actions", "frames", "subjects", "rejected", "clips", "objects"} <= set(stats)
    table = format_table(stats)
    assert "Total Frames" in table and "Rejected: multi_action" in table


def test_bridge_build_records_every_rejection_with_file_and_reason(bridge_tree, tmp_path: Path) -> None:
    root, expected = bridge_tree
    out = tmp_path / "bridge.h5"
    summary = build_store("bridge", root, out, frames=8, image_size=32, progress=False)
    assert summary["kept"] == expected["kept"]
    assert summary["rejected"] == dict(sorted(expected["rejected"].items()))
    log = [json.loads(line) for line in default_rejected_path(out).read_text().splitlines()]
    assert Path(summary["rejected_log"]) == tmp_path / "bridge.rejected.jsonl"
    assert {e["reason"] for e in log} == set(expected["rejected"])
    assert all(e["file"] and e["clip_id"] for e in log)
    multi = next(e for e in log if e["reason"] == "multi_action")
    assert multi["instruction"].startswith("pick up the spoon")
    stats = store_stats(out)
    assert stats["frames"] == expected["frames"] and stats["subjects"] == {"Robot": 2}
    assert stats["rejected"] == expected["rejected"]
    with ClipStore(out) as store:
        captions = sorted(r.caption for r in store.iter_records())
    # traj1's first annotation is multi-action; its second one ("move the carrot") is kept
    assert captions == [
        "Robot move carrot. Action is move, Object is carrot.",
        "Robot place spoon. Action is place, Object is spoon.",
    ]


def test_rerun_skips_finished_work_and_adds_nothing(bridge_tree, tmp_path: Path) -> None:
    root, _ = bridge_tree
    out = tmp_path / "b.h5"
    first = build_store("bridge", root, out, frames=4, image_size=16, progress=False)
    second = build_store("bridge", root, out, frames=4, image_size=16, progress=False)
    assert second["kept"] == 0 and second["rejected"] == {} and second["clips"] == first["clips"]
    assert second["skipped"] == first["kept"] + sum(first["rejected"].values())
    assert store_stats(out)["rejected"] == first["rejected"]  # not double counted


class _CrashAfter(RuleParser):
    """A parser that simulates a crash (Ctrl-C) after ``n`` parses."""

    def __init__(self, n: int) -> None:
        self.left = n

    def parse(self, text: str):  # type: ignore[override]
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().parse(text)


def test_resume_after_an_interrupted_build(rh20t_tree, tmp_path: Path) -> None:
    root, expected = rh20t_tree
    out = tmp_path / "rh.h5"
    with pytest.raises(KeyboardInterrupt):
        build_store("rh20t", root, out, parser=_CrashAfter(2), frames=4, image_size=16, progress=False)
    with ClipStore(out) as store:
        partial = store.ids()
    assert 0 < len(partial) < expected["kept"]
    # a clip in flight at a hard kill: a group without the complete flag
    with h5py.File(out, "a") as h5:
        h5["clips"].create_group("rh20t_in_flight").attrs["caption"] = "half written"
    resumed = build_store("rh20t", root, out, frames=4, image_size=16, progress=False)
    assert resumed["clips"] == expected["kept"]
    assert resumed["kept"] == expected["kept"] - len(partial)
    with ClipStore(out) as store:
        assert "rh20t_in_flight" not in store.h5["clips"]
        assert set(partial) <= set(store.ids())


def test_settings_clash_and_parser_clash_are_errors(bridge_tree, tmp_path: Path) -> None:
    root, _ = bridge_tree
    out = tmp_path / "b.h5"
    build_store("bridge", root, out, frames=4, image_size=16, progress=False)
    with pytest.raises(StoreError, match="other settings"):
        build_store("bridge", root, out, frames=8, image_size=16, progress=False)
    with h5py.File(out, "a") as h5:
        h5.attrs["parser"] = "llm"
    with pytest.raises(StoreError, match="parser 'llm'"):
        build_store("bridge", root, out, frames=4, image_size=16, progress=False)


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="frames=1"):
        build_store("bridge", tmp_path, tmp_path / "x.h5", frames=1)
    with pytest.raises(ValueError, match="unknown source"):
        build_store("kitti", tmp_path, tmp_path / "x.h5")
    with pytest.raises(ValueError, match="--root is required"):
        build_store("rh20t", None, tmp_path / "x.h5")


def test_llm_parser_build_then_rerun_makes_no_calls(bridge_tree, llm_env, tmp_path: Path) -> None:
    root, expected = bridge_tree
    fake, config = llm_env
    out = tmp_path / "llm.h5"
    first = build_store(
        "bridge", root, out, parser="llm", llm=config, frames=8, image_size=16, progress=False
    )
    assert first["kept"] == expected["kept"] and first["llm_calls"] > 0
    calls = len(fake.requests)
    out2 = tmp_path / "llm2.h5"
    again = build_store(
        "bridge", root, out2, parser="llm", llm=config, frames=8, image_size=16, progress=False
    )
    assert again["llm_calls"] == 0 and len(fake.requests) == calls
    assert store_stats(out2)["rejected"] == store_stats(out)["rejected"]


def test_llm_reply_that_is_not_json_rejects_the_clip_as_unparsed(
    bridge_tree, llm_env, tmp_path: Path
) -> None:
    from tests.datasets.fake_llm import Reply

    root, _ = bridge_tree
    fake, config = llm_env
    fake.script += [Reply(content="I think the robot picks something.")] * 2
    out = tmp_path / "llm.h5"
    summary = build_store(
        "bridge",
        root,
        out,
        parser="llm",
        llm={**config, "max_attempts": 2},
        frames=4,
        image_size=16,
        progress=False,
    )
    assert summary["rejected"].get("unparsed") == 1
    entry = next(
        json.loads(x) for x in default_rejected_path(out).read_text().splitlines() if "unparsed" in x
    )
    assert entry["reply"] == "I think the robot picks something."
