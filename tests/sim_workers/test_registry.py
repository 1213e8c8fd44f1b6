"""Task names, suites and env settings are checked before any simulator starts."""

from __future__ import annotations

import pytest
from roboact.sim_workers.envs.registry import DEFAULT_TASKS, TASKS, EnvConfig, get_task, parse_tasks


def test_paper_tasks_are_registered_with_their_suites():
    assert [t for t in TASKS if TASKS[t].suite == "libero"] == ["T1", "T2", "T3", "T4", "T5", "T6"]
    assert DEFAULT_TASKS["kitchen"] == ["knob", "door", "switch", "micro", "slide"]
    assert get_task("micro").subtask == "microwave"
    assert get_task("T5").benchmark == "libero_10"


def test_parse_tasks_accepts_comma_lists_and_defaults():
    assert parse_tasks("libero", "T1, T3") == ["T1", "T3"]
    assert parse_tasks("libero", None) == ["T1", "T2", "T3", "T4"]
    assert parse_tasks("libero", "all")[-1] == "T6"


@pytest.mark.parametrize(
    ("suite", "tasks", "match"),
    [
        ("libero", "T9", "unknown task 'T9'"),
        ("kitchen", "T1", "belongs to suite 'libero'"),
        ("mujoco", None, "suite"),
    ],
)
def test_bad_task_names_name_the_value(suite, tasks, match):
    with pytest.raises(ValueError, match=match):
        parse_tasks(suite, tasks)


@pytest.mark.parametrize(("field", "value"), [("image_size", -1), ("max_steps", 0), ("init_noise", -0.1)])
def test_env_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        EnvConfig(**{field: value})
