"""The run report: built only from stage files, and rendered for real in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from roboact.report import build_report, render_markdown, write_stage


def _fake_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    write_stage(
        run,
        "recognition",
        {
            "title": "Recognition (Sec. IV-A)",
            "seconds": 3.25,
            "what_ran": "16 frames, seed 0",
            "tables": [
                {
                    "title": "Accuracy",
                    "markdown": "| row | action (ours) | action (paper) |\n|---|---|---|\n"
                    "| 16 frames | 87.5 | 99.49 |",
                }
            ],
        },
    )
    write_stage(
        run,
        "data",
        {
            "title": "Data",
            "tables": [{"title": "Table I", "markdown": "| item | count |\n|---|---|\n| videos | 42 |"}],
        },
    )
    (run / "versions.json").write_text(json.dumps({"ray": "2.60.0"}))
    return run


def test_stages_appear_in_pipeline_order_with_their_numbers(tmp_path: Path) -> None:
    text = render_markdown(_fake_run(tmp_path))
    assert text.index("## Data") < text.index("## Recognition (Sec. IV-A)")
    assert "| 16 frames | 87.5 | 99.49 |" in text and "| videos | 42 |" in text
    assert "3.2 s" in text or "3.3 s" in text


def test_malformed_stage_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    (run / "stages" / "tune.json").write_text("{not json")
    with pytest.raises(ValueError, match="tune.json"):
        render_markdown(run)


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._in = tag in ("td", "th")
        if self._in:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.cells[-1] += data.strip()


@pytest.mark.timeout(120)
def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium")
    assert browser, "chromium is installed by scripts/system_deps.sh"
    _, html_path = build_report(_fake_run(tmp_path))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", html_path.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    parser = _Cells()
    parser.feed(dom)
    assert {"16 frames", "87.5", "99.49", "videos", "42"} <= set(parser.cells)
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1000,1400", html_path.as_uri()],
        capture_output=True,
        timeout=90,
        check=True,
    )
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1000, 1400)
    assert re.search(r"<table>", dom)


HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"


class _Tags(HTMLParser):
    """Every start tag and attribute of a page, to check that data never became markup."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def _hostile_run(tmp_path: Path) -> Path:
    """A run whose plan, task, titles, tables, notes, versions and config carry live-markup strings."""
    from roboact.hardware.report import table_v
    from roboact.hardware.trial_store import COMPLETED, SUCCESS, TrialStore

    run = tmp_path / "run"
    store = tmp_path / "trials.sqlite"
    with TrialStore(store) as trials:
        trials.register_plan(f"plan {HOSTILE}", [(HOSTILE_IMG, "task", 0)])
        tid = trials.pending(f"plan {HOSTILE}")[0]["id"]
        attempt = trials.start_trial(tid, "fake")
        trials.record_subtask(tid, attempt, 0, f"open {HOSTILE} | x", SUCCESS, judged_by="auto")
        trials.finish_trial(tid, COMPLETED)
    write_stage(
        run,
        "hardware",
        {
            "title": f"Trials {HOSTILE}",
            "what_ran": f"plan `x` and {HOSTILE_IMG}",
            "tables": [
                {"title": HOSTILE, "markdown": table_v(store, f"plan {HOSTILE}")},
                {"title": "raw", "markdown": f"| a | b |\n|---|---|\n| {HOSTILE} | {HOSTILE_IMG} |"},
            ],
            "figures": [{"title": "remote", "path": "https://tracker.example/pixel.png"}],
            "notes": [f"[click](javascript:alert(1)) ![t](http://tracker.example/t.png) {HOSTILE}"],
        },
    )
    (run / "versions.json").write_text(json.dumps({HOSTILE: HOSTILE_IMG}))
    (run / "config.yaml").write_text(f"name: '```'\nnote: '{HOSTILE}'\n")
    return run


def test_strings_from_plans_configs_and_data_never_become_live_markup(tmp_path: Path) -> None:
    _, html_path = build_report(_hostile_run(tmp_path))
    page = html_path.read_text()
    parser = _Tags()
    parser.feed(page)
    tags = {tag for tag, _ in parser.tags}
    assert "script" not in tags and tags <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "em", "strong", "code",
        "pre", "table", "thead", "tbody", "tr", "th", "td", "blockquote", "ul", "li", "a", "img",
    }  # fmt: skip
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (tag == "img" and attrs.get("src", "").startswith(("http", "//"))), attrs
        assert not (tag == "a" and attrs.get("href", "").lower().startswith("javascript")), attrs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text, not dropped
    assert "plan &lt;script&gt;" in page  # the trial-plan name, in Table V


def test_a_hostile_policy_or_subtask_name_keeps_table_v_intact(tmp_path: Path) -> None:
    _, html_path = build_report(_hostile_run(tmp_path))
    parser = _Cells()
    parser.feed(html_path.read_text())
    assert f"open {HOSTILE} | x" in parser.cells  # one header cell: the pipe did not split it
    assert HOSTILE_IMG in parser.cells and "100.0 (n=1)" in parser.cells
