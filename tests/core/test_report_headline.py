"""The demo report opens with one headline screen: ours with CIs beside the paper, and what was left out."""

from __future__ import annotations

from roboact.demo import _attempts_markdown
from roboact.paper import RECOGNITION
from roboact.report import render_markdown, write_stage
from roboact.report_headline import headline_markdown


def _task(k: int, n: int) -> dict:
    return {"successes": k, "episodes": n}


def _stages() -> list[dict]:
    recognition = {
        "stage": "recognition",
        "metrics": {"main": {"n": 20, "accuracy": {"action": {"aux": 0.9, "text": 0.5}}}},
    }
    sim_eval = {
        "stage": "sim_eval",
        "metrics": {
            "kitchen/roboact-clip": {
                "suite": "kitchen",
                "max_steps": 200,
                "tasks": {"slide": _task(9, 10), "knob": _task(3, 10)},
            },
        },
    }
    hardware = {
        "stage": "hardware",
        "metrics": {"plan": "trials_demo", "backend": "sim", "ran": 4, "counts": {"completed": 4}},
    }
    return [recognition, sim_eval, hardware]


def test_headline_puts_measured_numbers_with_wilson_intervals_beside_the_papers():
    text = "\n".join(headline_markdown(_stages()))
    assert "**90.0** [70, 97] (18/20)" in text  # action accuracy over 20 test clips, Wilson 95 %
    assert f"{RECOGNITION['16 frames']['action']:.2f} (Sec. IV-A" in text
    assert "**60.0** [39, 78] (12/20)" in text  # pooled over slide and knob
    assert "95.6 (Table IV, mean over the same tasks)" in text  # paper's knob 92.0 and slide 99.2


def test_headline_says_what_was_not_run_and_that_a_sim_batch_is_not_the_real_arm():
    text = "\n".join(headline_markdown(_stages(), planned=["recognition", "tune", "sim_eval", "hardware"]))
    assert "Table IV tasks door, switch, micro" in text
    assert "Table II tasks T1, T2, T3, T4" in text
    assert "stages not run (not in `stages`, or not finished): loss-weight sweep" in text
    assert "sim backend, not the real arm" in text


def test_headline_gives_each_arm_policy_its_average_beside_the_papers_real_arm_row():
    from roboact.paper import TABLE_V

    hardware = {
        "stage": "hardware",
        "metrics": {
            "trials": {"plan": "trials_demo", "backend": "sim", "ran": 6, "counts": {"completed": 6}},
            "policy_kinds": {"scripted": "scripted", "head": "checkpoint"},
            "table_v": {
                "policies": {
                    "scripted": {"avg": 100.0, "trials": 3},
                    "head": {"avg": 41.7, "trials": 3},
                    "never ran": {"avg": None, "trials": 0},
                }
            },
        },
    }
    text = "\n".join(headline_markdown([hardware]))
    assert "trials completed | 6/6" in text
    assert "`head` average subtask success (Table V's Avg.: the mean of its subtasks' rates) | " in text
    assert "| **41.7** (3 trials) |" in text
    assert f"{TABLE_V['RoboAct-CLIP (Ours)'][1]:.1f} (Table V, real arm" in text
    scripted = next(line for line in text.splitlines() if "`scripted` average" in line)
    assert scripted.endswith("| **100.0** (3 trials) | - |")  # a scripted operator has no paper row
    assert "never ran" not in text


def test_the_rendered_report_opens_with_the_headline_before_any_stage(tmp_path):
    for stage in _stages():
        write_stage(tmp_path, stage["stage"], {"title": f"stage {stage['stage']}", **stage})
    md = render_markdown(tmp_path)
    assert md.index("## Headline") < md.index("## stage recognition")


def test_no_stage_with_numbers_means_no_headline():
    assert headline_markdown([{"stage": "data", "metrics": {}}]) == []


def test_scripted_controller_attempts_are_a_grid_of_embodiments_by_actions():
    grid = _attempts_markdown(
        {"Panda/lift": 1, "Panda/insert": 3, "Jaco/lift": 2}, {"Panda/insert": 2, "Jaco/lift": 1}
    )
    lines = grid.splitlines()
    assert lines[0] == "| embodiment | insert | lift |"
    assert "| Jaco | - | 1/2 |" in lines
    assert "| Panda | 1/3 | 1/1 |" in lines
