"""One config and one entry point per stage (issue #16 item 5).

Every stage command reads a ``--config/-c`` file and ``KEY=VALUE`` overrides the same way, prints the
resolved config with ``--print-config``, lists its config keys in ``--help``, and calls a
``run_<command>(cfg)`` that Python can call without the CLI.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from roboact.cli import app
from roboact.stage import UTILITY_COMMANDS, StageCommand, entry_point_name, import_ref

# command -> (a config file's values, one override, what --print-config must show: dotted key -> value)
STAGE_CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "data build": ({"source": "sim", "workers": 4}, "seed=7", {"source": "sim", "workers": 4, "seed": 7}),
    "features extract": (
        {"encoder": "embedded", "batch_size": 3},
        "frames=8",
        {"batch_size": 3, "frames": 8},
    ),
    "features derive": (
        {"src": "a.h5", "frames": 8},
        "out=b.h5",
        {"src": "a.h5", "frames": 8, "out": "b.h5"},
    ),
    "train": ({"optim": {"lr": 0.5}}, "workers=3", {"optim.lr": 0.5, "workers": 3}),
    "tune": ({"num_samples": 3}, "features=f.h5", {"num_samples": 3, "features": "f.h5"}),
    "eval recognition": ({"model": "m"}, "part=val", {"model": "m", "part": "val"}),
    "eval ablations": (
        {"stores": ["a.h5", "b.h5"]},
        "optim.epochs=2",
        {"stores": ["a.h5", "b.h5"], "optim.epochs": 2},
    ),
    "eval cross-embodiment": (
        {"subjects": ["Panda"]},
        "data.features=f.h5",
        {"subjects": ["Panda"], "data.features": "f.h5"},
    ),
    "eval probe": ({"features": "f.h5", "c": 0.5}, "part=val", {"features": "f.h5", "c": 0.5, "part": "val"}),
    "policy train": ({"lr": 0.01}, "iterations=5", {"lr": 0.01, "iterations": 5}),
    "sim demos": ({"suite": "kitchen", "tasks": ["knob"]}, "episodes=2", {"tasks": ["knob"], "episodes": 2}),
    "sim eval": ({"suite": "kitchen", "episodes": 3}, "env.max_steps=9", {"episodes": 3, "env.max_steps": 9}),
    "hardware record": ({"out": "d.h5"}, "noise=0.1", {"out": "d.h5", "noise": 0.1}),
    "hardware trials": ({"plan": "trials_demo"}, "max_trials=2", {"plan": "trials_demo", "max_trials": 2}),
    "bench paper": ({"scale": "tiny"}, "workers=3", {"scale": "tiny", "workers": 3, "eval_episodes": 1}),
    "demo": ({"scale": "tiny"}, "workers=3", {"scale": "tiny", "workers": 3}),
}


def _commands() -> dict[str, Any]:
    """Every leaf command of the ``roboact`` app by its path (``sim eval``)."""
    root = typer.main.get_command(app)
    found: dict[str, Any] = {}

    def walk(group: Any, prefix: str) -> None:
        for name, cmd in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                walk(cmd, path)
            else:
                found[path] = cmd

    walk(root, "")
    return found


def _get(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def test_every_command_is_a_stage_with_a_config_or_a_named_utility() -> None:
    commands = _commands()
    stages = {p for p, c in commands.items() if isinstance(c, StageCommand)}
    neither = sorted(set(commands) - stages - UTILITY_COMMANDS)
    assert not neither, (
        f"commands with no stage config (stage_command) and not in UTILITY_COMMANDS: {neither}"
    )
    assert stages == set(STAGE_CASES), "every stage command needs its --print-config case here"


@pytest.mark.parametrize("path", sorted(STAGE_CASES))
def test_each_stage_has_a_dataclass_config_and_its_run_function(path: str) -> None:
    cmd = _commands()[path]
    cls = cmd.config_class()
    assert dataclasses.is_dataclass(cls)
    entry = import_ref(cmd.entry_ref)
    assert entry.__name__ == entry_point_name(path)
    first = next(iter(inspect.signature(entry).parameters.values()))
    assert first.annotation in (cls.__name__, cls)
    names = {p.name for p in cmd.params}
    assert {"config", "print_config"} <= names and any(p.name in ("overrides", "dotted") for p in cmd.params)


@pytest.mark.parametrize("path", sorted(STAGE_CASES))
def test_print_config_shows_the_file_merged_with_an_override(path: str, tmp_path: Path) -> None:
    values, override, expected = STAGE_CASES[path]
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(values))
    result = _invoke([*path.split(), "-c", str(job), override, "--print-config"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    for key, value in expected.items():
        assert (
            _get(printed, key) == pytest.approx(value)
            if isinstance(value, float)
            else _get(printed, key) == value
        )


@pytest.mark.parametrize("path", sorted(STAGE_CASES))
def test_a_bad_key_in_the_file_is_an_error_naming_the_key_and_the_file(path: str, tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("no_such_key: 1\n")
    result = _invoke([*path.split(), "-c", str(job), "--print-config"])
    assert result.exit_code == 2
    assert "no_such_key" in result.output and str(job) in result.output


def test_a_bad_override_names_the_key_and_the_overrides() -> None:
    result = _invoke(["sim", "eval", "env.max_stepz=3", "--print-config"])
    assert result.exit_code == 2
    assert "max_stepz" in result.output and "override" in result.output


def test_a_typed_option_beats_an_override_which_beats_the_file(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"episodes": 3, "videos": 0}))

    def printed(*args: str) -> dict[str, Any]:
        result = _invoke(["sim", "eval", "-c", str(job), *args, "--print-config"])
        assert result.exit_code == 0, result.output
        return yaml.safe_load(result.stdout)

    assert printed()["episodes"] == 3  # the option's default (50) does not hide the file's value
    assert printed("episodes=4")["episodes"] == 4
    assert printed("episodes=4", "--episodes", "5")["episodes"] == 5
    assert printed("--episodes", "5", "episodes=4")["episodes"] == 5  # order on the line does not matter
    assert printed("videos=1")["videos"] == 1
    old_spelling = _invoke(["sim", "eval", "-c", str(job), "-o", "videos=1", "--print-config"])
    assert old_spelling.exit_code == 2  # one override syntax for every command (#16): -o is gone


def test_the_same_field_by_option_and_by_override_gives_the_same_config() -> None:
    by_option = _invoke(["train", "--features", "f.h5", "--workers", "3", "--print-config"])
    by_override = _invoke(["train", "data.features=f.h5", "workers=3", "--print-config"])
    assert by_option.exit_code == by_override.exit_code == 0
    assert by_option.stdout == by_override.stdout


def test_help_lists_the_config_keys_from_the_dataclass() -> None:
    result = _invoke(["train", "--help"])
    assert result.exit_code == 0
    assert "optim.lr: float = 0.0003" in result.stdout and "peak learning rate of AdamW" in result.stdout
    assert "address: str | None = None" in result.stdout  # a key the job config adds to TrainConfig


def test_a_stage_without_a_required_setting_names_the_option_and_the_key() -> None:
    result = _invoke(["features", "derive", "--src", "a.h5", "--out", "b.h5"])
    assert result.exit_code == 2
    assert "--frames" in result.output and "frames=" in result.output


def _feature_store(path: Path, clips_path: Path) -> Path:
    """A 5-clip, 8-frame feature store (the layout ``test_features`` writes by hand)."""
    from roboact.datasets.stores import FeatureStore

    from roboact.constants import FACTORS
    from tests.datasets.test_stores import filled

    clips = filled(clips_path, 5)
    src = FeatureStore.open_for_build(path, clips, "fake", 8, visual_dim=3, text_dim=2)
    for i, clip_id in enumerate(clips.ids()):
        frames = np.arange(24, dtype=np.float32).reshape(8, 3) + i
        src.add(clip_id, frames, np.ones(2), clips.label_ids(clip_id), "c")
    src.set_vocab_text_feats({f: np.zeros((len(clips.vocab(f)), 2)) for f in FACTORS})
    src.set_recombination(np.array([[0, 0, 0]]), ["Robot pick the cube, action is pick"], np.zeros((1, 2)))
    src.set_split("random", {"train": clips.ids()[:3], "test": clips.ids()[3:]})
    src.close()
    clips.close()
    return path


def test_run_function_from_python_equals_the_command_on_a_job_file(tmp_path: Path) -> None:
    from roboact.datasets.features import DeriveConfig, run_features_derive
    from roboact.datasets.stores import FeatureStore

    src = _feature_store(tmp_path / "f8.h5", tmp_path / "c.h5")
    summary = run_features_derive(DeriveConfig(src=str(src), frames=2, out=str(tmp_path / "py.h5")))
    assert summary["derived"] == 5 and summary["positions"] == [0, 7]

    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"src": str(src), "frames": 4, "out": str(tmp_path / "cli.h5")}))
    result = _invoke(["features", "derive", "-c", str(job), "frames=2"])
    assert result.exit_code == 0, result.output
    with FeatureStore(tmp_path / "py.h5") as a, FeatureStore(tmp_path / "cli.h5") as b:
        assert np.array_equal(a.arrays()["frame_feats"], b.arrays()["frame_feats"])
        assert b.attrs["n_frames"] == 2


def test_old_config_meanings_still_read_the_same_files() -> None:
    """``data build --config sim_tiny`` names the simulated source's config, ``tune --sweep`` the sweep."""
    built = _invoke(["data", "build", "--source", "sim", "--config", "sim_tiny", "--print-config"])
    assert built.exit_code == 0, built.output
    assert yaml.safe_load(built.stdout)["sim_config"] == "sim_tiny"
    from roboact.distributed.tune import SweepConfig

    from roboact.config import load_config

    shipped = load_config(SweepConfig, "sweep_loss_weights")
    swept = _invoke(["tune", "--sweep", "sweep_loss_weights", "--print-config"])
    assert swept.exit_code == 0, swept.output
    assert yaml.safe_load(swept.stdout)["num_samples"] == shipped.num_samples


def test_run_sim_demos_refuses_a_second_kitchen_view_before_any_simulator_starts() -> None:
    from roboact.sim_workers.demos import SimDemosConfig, run_sim_demos

    from roboact.errors import UserError

    cfg = SimDemosConfig(suite="kitchen", tasks=["knob"], cameras=["agentview", "robot0_eye_in_hand"])
    with pytest.raises(UserError, match="Kitchen renders one view"):
        run_sim_demos(cfg)
    with pytest.raises(UserError, match="--tasks/--suite"):
        run_sim_demos(SimDemosConfig(suite="kitchen", tasks=["T1"]))


def test_print_config_refuses_a_demo_config_that_would_not_run() -> None:
    # --print-config is how a job file is written: one naming an unknown stage must not be printed
    result = _invoke(["demo", "--stages", "data,bogus", "--print-config"])
    assert result.exit_code == 2
    assert "['bogus'] unknown" in result.output
    assert "stages:" not in result.output


@pytest.mark.parametrize("how", [["storage=/tmp/not-a-uri"], ["-c", "FILE"]])
def test_demo_storage_from_a_job_file_or_override_must_be_a_uri(how: list[str], tmp_path: Path) -> None:
    # --storage alone was checked; the same setting from a job file or an override was not
    job = tmp_path / "job.yaml"
    job.write_text("storage: /tmp/not-a-uri\n")
    result = _invoke(["demo", *[str(job) if a == "FILE" else a for a in how], "--print-config"])
    assert result.exit_code == 2
    assert "storage=/tmp/not-a-uri: expected an s3:// or gs:// URI" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["features", "extract", "workers=0"], "workers=0: must be at least 1 (as --workers)"),
        (["sim", "demos", "-c", "FILE"], "episodes=0: must be at least 1 (as --episodes)"),
        (["hardware", "record", "port=70000"], "port=70000: must be at least 1 and at most 65535"),
    ],
)
def test_an_options_range_holds_for_its_key_from_a_file_or_override(
    args: list[str], message: str, tmp_path: Path
) -> None:
    # typer checks --workers 0 itself; workers=0 from a job file or an override used to pass unchecked
    job = tmp_path / "job.yaml"
    job.write_text("episodes: 0\n")
    result = _invoke([str(job) if a == "FILE" else a for a in args] + ["--print-config"])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--starts", "bogus"], "--starts 'bogus': use one of"),
        (["--policy", "bogus"], "--policy: not a DAgger policy spec"),
        (["--policy", "dagger:/nonexistent/head"], "--policy /nonexistent/head: no such checkpoint"),
        (["--action-noise", "2"], "--action-noise 2.0: must be in [0, 1]"),
    ],
)
def test_sim_demos_settings_are_one_line_errors_before_any_simulator_starts(
    option: list[str], message: str, tmp_path: Path
) -> None:
    # collect_demos raised a ValueError for these: a traceback and exit 1 from the command
    result = _invoke(["sim", "demos", "--suite", "kitchen", "--out", str(tmp_path / "d.h5"), *option])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "d.h5").exists()


def test_print_config_refuses_sim_demos_settings_the_run_would_refuse() -> None:
    result = _invoke(["sim", "demos", "--suite", "kitchen", "--tasks", "T1", "--print-config"])
    assert result.exit_code == 2, result.output
    assert "--tasks/--suite: task 'T1' belongs to suite 'libero'" in result.output
    # a DAgger checkpoint may exist only where the job runs: printing its job file is fine
    printed = _invoke(["sim", "demos", "--policy", "dagger:/elsewhere/head", "--print-config"])
    assert printed.exit_code == 0, printed.output


def test_a_flag_naming_no_option_of_the_command_is_a_bug_not_a_silent_skip() -> None:
    from roboact.datasets.features import DeriveConfig

    from roboact.stage import resolve

    tiny = typer.Typer()

    @tiny.command()
    def derive(ctx: typer.Context, frames: int | None = None) -> None:
        resolve(ctx, DeriveConfig, {"framez": "frames"}, config=None)

    result = CliRunner().invoke(tiny, ["--frames", "8"])
    assert isinstance(result.exception, TypeError)
    assert "no option parameter 'framez'" in str(result.exception)


def test_sim_demos_records_each_suite_s_views_unless_cameras_names_them() -> None:
    """LIBERO's default is the agent and the wrist view (what `policy train`'s default head uses),
    Kitchen's its one view; `--cameras` replaces the suite's views."""
    from roboact.sim_workers.demos import SimDemosConfig, check_sim_demos_config

    assert check_sim_demos_config(SimDemosConfig(suite="libero"))[1] == ("agentview", "robot0_eye_in_hand")
    assert check_sim_demos_config(SimDemosConfig(suite="kitchen"))[1] == ("agentview",)
    only_agent = SimDemosConfig(suite="libero", cameras=["agentview"])
    assert check_sim_demos_config(only_agent)[1] == ("agentview",)
    printed = _invoke(["sim", "demos", "--suite", "libero", "--cameras", "agentview", "--print-config"])
    assert printed.exit_code == 0 and yaml.safe_load(printed.stdout)["cameras"] == ["agentview"]
    kitchen_wrist = _invoke(
        ["sim", "demos", "--suite", "kitchen", "--cameras", "agentview,robot0_eye_in_hand"]
    )
    assert kitchen_wrist.exit_code == 2 and "Kitchen renders one view" in kitchen_wrist.output
