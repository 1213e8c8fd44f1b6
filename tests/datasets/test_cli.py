"""`roboact data build|stats|parse` and `roboact features derive`: exact names and JSON shapes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from roboact.cli import app

runner = CliRunner()


def json_out(stdout: str) -> dict:
    """The JSON object a ``--json`` command printed (log lines may precede it on a shared stdout)."""
    return json.loads(stdout[stdout.index("{") if stdout.startswith("{") else stdout.index("\n{") + 1 :])


def test_build_then_stats_json(bridge_tree, tmp_path: Path) -> None:
    root, expected = bridge_tree
    out = tmp_path / "bridge.h5"
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--source",
            "bridge",
            "--root",
            str(root),
            "--out",
            str(out),
            "--parser",
            "rules",
            "--frames",
            "8",
            "--image-size",
            "16",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json_out(result.stdout)
    assert summary["kept"] == expected["kept"] and Path(summary["rejected_log"]).is_file()
    stats = runner.invoke(app, ["data", "stats", str(out), "--json"])
    assert stats.exit_code == 0
    table = json_out(stats.stdout)
    assert {"videos", "tasks", "actions", "frames", "subjects", "rejected", "clips", "objects"} <= set(table)
    assert table["frames"] == expected["frames"] and table["rejected"] == expected["rejected"]
    text = runner.invoke(app, ["data", "stats", str(out)])
    assert "TABLE I" in text.stdout and "Total Videos" in text.stdout


def test_parse_json_shape() -> None:
    result = runner.invoke(app, ["data", "parse", "pick up the cup and then put it in the sink", "--json"])
    assert result.exit_code == 0
    assert json_out(result.stdout) == {
        "num_actions": 2,
        "actions": [{"verb": "pick", "object": "cup"}, {"verb": "place", "object": "cup"}],
    }
    text = runner.invoke(app, ["data", "parse", "Turn the stove on"])
    assert "turn on" in text.stdout and "keep" in text.stdout


def test_parse_with_the_llm_parser_through_the_environment(llm_env, monkeypatch) -> None:
    fake, config = llm_env
    monkeypatch.setenv("ROBOACT_LLM_BASE_URL", config["base_url"])
    monkeypatch.setenv("ROBOACT_LLM_CACHE", config["cache_dir"])
    result = runner.invoke(app, ["data", "parse", "open the drawer", "--parser", "llm", "--json"])
    assert result.exit_code == 0, result.output
    assert json_out(result.stdout)["actions"] == [{"verb": "open", "object": "drawer"}]
    assert len(fake.requests) == 1 and "sk-test-SECRET-4242" not in result.output


def test_clear_errors_exit_2(tmp_path: Path, monkeypatch) -> None:
    cases = [
        (
            ["data", "build", "--source", "kitti", "--root", str(tmp_path), "--out", "x.h5"],
            "--source 'kitti'",
        ),
        (["data", "build", "--source", "rh20t", "--out", "x.h5"], "--root is required"),
        (
            ["data", "build", "--source", "rh20t", "--root", str(tmp_path), "--out", str(tmp_path / "x.h5")],
            "task_description.json",
        ),
        (["data", "stats", str(tmp_path / "missing.h5")], "no such store"),
        (
            ["features", "derive", "--src", str(tmp_path / "missing.h5"), "--frames", "2", "--out", "y.h5"],
            "no such store",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    for name in ("ROBOACT_LLM_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, ["data", "parse", "open the door", "--parser", "llm"])
    assert result.exit_code == 2 and "ROBOACT_LLM_API_KEY" in result.output


def test_sim_source_dispatches_to_build_sim_store(monkeypatch, tmp_path: Path) -> None:
    calls = []

    def build_sim_store(out, config, workers, address, frames, image_size, seed, sync=None):
        calls.append(
            dict(
                out=out,
                config=config,
                workers=workers,
                address=address,
                frames=frames,
                image_size=image_size,
                seed=seed,
            )
        )
        return {"source": "sim", "kept": 0}

    from roboact.datasets import sim_source

    monkeypatch.setattr(sim_source, "build_sim_store", build_sim_store)  # the rest stays real
    result = runner.invoke(
        app,
        [
            "data",
            "build",
            "--source",
            "sim",
            "--out",
            str(tmp_path / "s.h5"),
            "--config",
            "sim_small",
            "--workers",
            "3",
            "--frames",
            "8",
            "--seed",
            "5",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        dict(
            out=tmp_path / "s.h5",
            config="sim_small",
            workers=3,
            address=None,
            frames=8,
            image_size=None,  # unset: the sim config decides
            seed=5,
        )
    ]
