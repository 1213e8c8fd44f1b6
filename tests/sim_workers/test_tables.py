"""Paper tables with our rows beside them; bar plot; clear error for an empty run."""

from __future__ import annotations

import pytest
from roboact.sim_workers.results import ResultsLog
from roboact.sim_workers.tables import PAPER_TABLES, render_tables


def test_tables_hold_paper_rows_and_ours_with_ci(tmp_path):
    log = ResultsLog(tmp_path)
    for ep in range(4):
        log.append(
            {
                "policy": "expert",
                "suite": "kitchen",
                "task": "micro",
                "episode": ep,
                "seed": ep,
                "success": ep != 0,
                "steps": 100,
                "max_steps": 200,
            }
        )
    text = render_tables(tmp_path)
    assert "| paper | RoboAct-CLIP (Ours) | 92.0 | 68.0 | 96.0 | 66.0 | 99.2 | 84.2 |" in text
    assert "| paper | RoboAct-CLIP (Ours) | 90.0 | 84.0 | 56.0 | 76.0 | 76.5 |" in text
    ours = [line for line in text.splitlines() if line.startswith("| ours | expert")]
    assert len(ours) == 1 and "75.0 [" in ours[0] and "(n=4)" in ours[0] and "(200 steps)" in ours[0]
    assert (tmp_path / "tables.md").read_text() == text
    assert (tmp_path / "success.png").stat().st_size > 1000
    assert len(PAPER_TABLES) == 3


def test_only_evaluated_keeps_the_tables_whose_tasks_ran_and_names_the_rest(tmp_path):
    log = ResultsLog(tmp_path)
    for task in ("T5", "T6"):
        log.append(
            {
                "policy": "expert",
                "suite": "libero",
                "task": task,
                "episode": 0,
                "seed": 0,
                "success": True,
                "steps": 120,
                "max_steps": 200,
            }
        )
    text = render_tables(tmp_path, only_evaluated=True)
    titles = [line for line in text.splitlines() if line.startswith("### ")]
    assert titles == [f"### {title}" for title, cols, _ in PAPER_TABLES if "T5" in cols]
    skipped = [title.split(":")[0] for title, cols, _ in PAPER_TABLES if "T5" not in cols]
    assert len(skipped) == 2
    last = text.strip().splitlines()[-1]
    assert last.startswith("Tables with no episodes in this run directory:")
    assert all(t in last for t in skipped)
    assert "T1, T2, T3, T4" in last
    full = render_tables(tmp_path)
    assert full.count("### ") == len(PAPER_TABLES) and "no episodes" not in full


def test_empty_run_dir_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="episodes.jsonl"):
        render_tables(tmp_path)


def _episode(policy, task, ep, success):
    return {
        "policy": policy,
        "suite": "kitchen",
        "task": task,
        "episode": ep,
        "seed": 1000 + ep,
        "success": success,
        "steps": 100,
        "max_steps": 200,
    }


def test_two_learned_policies_add_the_paired_table_against_the_roboact_head(tmp_path):
    log = ResultsLog(tmp_path)
    heads = {
        str(tmp_path / "policy" / "kitchen_frame-features"): 0,
        str(tmp_path / "policy" / "kitchen_roboact-clip"): 2,
    }
    for policy, first_success in heads.items():
        for ep in range(4):
            log.append(_episode(policy, "micro", ep, ep >= first_success))
    log.append(_episode("expert", "micro", 0, True))
    text = render_tables(tmp_path)
    assert "### Paired comparison" in text and "McNemar" in text
    assert "| overall | kitchen_roboact-clip | 50.0 [" in text and "| baseline |" in text
    frames = [line for line in text.splitlines() if line.startswith("| micro | kitchen_frame-features |")]
    assert len(frames) == 1 and "+50.0 [" in frames[0] and "| 2 / 0 |" in frames[0]
    assert "| micro | expert | 100.0 [" in text  # the expert is compared too, on its one episode
    assert (tmp_path / "tables.md").read_text() == text
    other = render_tables(tmp_path, baseline="kitchen_frame-features")
    assert "| overall | kitchen_frame-features | 100.0 [" in other and "-50.0 [" in other


def test_one_learned_policy_has_no_paired_table(tmp_path):
    log = ResultsLog(tmp_path)
    for policy in (str(tmp_path / "policy" / "kitchen_roboact-clip"), "expert"):
        for ep in range(3):
            log.append(_episode(policy, "micro", ep, True))
    text = render_tables(tmp_path)
    assert "Paired" not in text and "McNemar" not in text


def test_tables_filter_renders_only_the_named_table_and_names_no_other_as_missing():
    """A bench report section holds one table's episodes; it must not call its neighbours empty."""
    from roboact.sim_workers.tables import build_tables

    records = [
        {
            "policy": "p",
            "suite": "libero",
            "task": t,
            "episode": 0,
            "seed": 0,
            "success": True,
            "steps": 120,
            "max_steps": 200,
        }
        for t in ("T1", "T5")
    ]
    both = build_tables(records, only_evaluated=True)
    assert "### Table II:" in both and "### Table III:" in both and "Table IV (" in both
    one = build_tables(records, only_evaluated=True, tables=["Table III"])
    assert [ln for ln in one.splitlines() if ln.startswith("### ")] == [
        ln for ln in both.splitlines() if ln.startswith("### Table III")
    ]
    assert "no episodes" not in one and "| T1 |" not in one
