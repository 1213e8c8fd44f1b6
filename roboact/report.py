"""The run report: Markdown and a static HTML page built from what a run wrote, nothing else.

Every stage of ``roboact demo`` (and any stage run alone) leaves ``<run>/stages/<stage>.json``::

    {"stage": "recognition", "title": "...", "seconds": 12.3,
     "what_ran": "one line per fact: clips, seeds, horizon, encoder ...",
     "tables": [{"title": "...", "markdown": "| a | b |\\n|---|---|\\n| 1 | 2 |"}],
     "figures": [{"title": "...", "path": "recognition/confusion_action.png"}],
     "videos": [{"title": "...", "path": "sim/videos/T1_ep0.mp4"}],
     "notes": ["..."]}

The report only arranges these files, so every number it shows comes from the run's own outputs
(the paper's numbers appear only in columns labelled "paper", put there by the stage that ran).
The HTML is rendered from the same Markdown, so both always agree.

Strings in these files come from plans, configs and data (a trial-plan name, a task name), so none
may become live markup: the HTML is rendered by markdown-it with raw HTML disabled (it is shown as
text), links limited to safe schemes and images to relative paths (the page stays static and
offline), and plain-text fields (titles, run name, versions, the config block) are escaped with
``escape_markdown`` so they cannot form links, images or table cells either.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
from pathlib import Path
from typing import Any

from roboact.report_headline import headline_markdown

logger = logging.getLogger(__name__)

STAGE_ORDER = [
    "data",
    "features",
    "train",
    "tune",
    "recognition",
    "sim_demos",
    "policy",
    "sim_eval",
    "hardware",
]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
     padding:0 1em;color:#1d2330;line-height:1.45}
h1{border-bottom:3px solid #2d6cdf;padding-bottom:.3em}h2{margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #bbc;padding:.3em .6em;
     text-align:right}th{background:#eef2fa}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}video{max-width:48%;margin:.3em}
code,pre{background:#f4f5f8;padding:.1em .3em;border-radius:3px}pre{padding:.8em;overflow-x:auto}
.meta{color:#556;font-size:.9em}
"""


def load_stages(run_dir: Path) -> list[dict[str, Any]]:
    """Stage summaries in pipeline order (unknown stages after, alphabetically)."""
    stage_dir = run_dir / "stages"
    found = {p.stem: p for p in stage_dir.glob("*.json")} if stage_dir.is_dir() else {}
    order = [s for s in STAGE_ORDER if s in found] + sorted(s for s in found if s not in STAGE_ORDER)
    stages = []
    for name in order:
        try:
            stages.append(json.loads(found[name].read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{found[name]}: not valid JSON ({err})") from err
    return stages


def write_stage(run_dir: Path, stage: str, summary: dict[str, Any]) -> Path:
    """Write one stage summary (atomically, so a crash never leaves half a file)."""
    out = run_dir / "stages" / f"{stage}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"stage": stage, **summary}, indent=2, default=str))
    tmp.replace(out)
    return out


_MD_SPECIAL = re.compile(r"([\\`\[\]<>|])")


def escape_markdown(text: object) -> str:
    """``text`` as literal Markdown: no link, image, code span, HTML tag or table cell can start in it.

    Backslash-escapes the characters that open structure (and turns newlines into spaces, which
    would end a table row); emphasis characters are left alone since they cannot inject anything.
    """
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in ``text``, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(run_dir: Path) -> str:
    """The whole report as Markdown (paths relative to the run directory)."""
    run_dir = Path(run_dir)
    stages = load_stages(run_dir)
    lines = [f"# RoboAct report: {escape_markdown(run_dir.name)}", ""]
    meta = _read_json(run_dir / "summary.json")
    if meta:
        lines += [f"Generated {dt.datetime.now().isoformat(timespec='seconds')}.", ""]
        lines += [
            f"- **{escape_markdown(k)}**: {escape_markdown(v)}"
            for k, v in meta.items()
            if not isinstance(v, (dict, list))
        ]
        lines.append("")
    if not stages:
        lines.append(f"_No stage results under {escape_markdown(run_dir / 'stages')} yet._")
    lines += headline_markdown(stages, planned=_planned_stages(run_dir))
    for stage in stages:
        lines += _stage_markdown(stage)
    versions = _read_json(run_dir / "versions.json")
    if versions:
        lines += ["## Package versions", "", "| package | version |", "|---|---|"]
        lines += [f"| {escape_markdown(k)} | {escape_markdown(v)} |" for k, v in versions.items()]
        lines.append("")
    config = run_dir / "config.yaml"
    if config.is_file():
        text = config.read_text().rstrip()
        fence = _fence(text)
        lines += ["## Configuration", "", f"{fence}yaml", text, fence, ""]
    return "\n".join(lines)


def _planned_stages(run_dir: Path) -> list[str] | None:
    """The stages the run's saved config asked for (None when there is no config to read)."""
    config = run_dir / "config.yaml"
    if not config.is_file():
        return None
    import yaml

    try:
        stages = (yaml.safe_load(config.read_text()) or {}).get("stages")
    except yaml.YAMLError:
        return None
    return [str(s) for s in stages] if isinstance(stages, list) else None


def _stage_markdown(stage: dict[str, Any]) -> list[str]:
    """One stage's section; titles are escaped, tables, what_ran and notes are the stage's Markdown."""
    title = escape_markdown(stage.get("title") or stage["stage"])
    lines = [f"## {title}", ""]
    if "seconds" in stage:
        lines += [f"_Stage {escape_markdown(stage['stage'])} took {float(stage['seconds']):.1f} s._", ""]
    if stage.get("what_ran"):
        lines += ["**What ran:** " + str(stage["what_ran"]), ""]
    for table in stage.get("tables", []):
        lines += [f"### {escape_markdown(table['title'])}", "", table["markdown"].strip(), ""]
    for figure in stage.get("figures", []):
        lines += [f"![{escape_markdown(figure['title'])}](<{_link_target(figure['path'])}>)", ""]
    videos = stage.get("videos", [])
    if videos:
        links = [f"[{escape_markdown(v['title'])}](<{_link_target(v['path'])}>)" for v in videos]
        lines += ["Episode videos: " + ", ".join(links), ""]
    for note in stage.get("notes", []):
        lines += [f"> {note}", ""]
    return lines


def _link_target(path: str) -> str:
    """A path for ``(<...>)``: angle brackets and newlines would end it, so they are dropped."""
    return re.sub(r"[<>\r\n]", "", str(path))


def _markdown_renderer() -> Any:
    """CommonMark + tables with raw HTML off; images only from relative paths (no remote loads)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules["image"]

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        src = tokens[idx].attrGet("src") or ""
        if re.match(r"^([a-z][a-z0-9+.-]*:|//)", src, re.I):  # a scheme or a host: not a run file
            return html.escape(tokens[idx].content or src)
        return default_image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    return md


def render_html(markdown_text: str, title: str, videos: list[str] | None = None) -> str:
    """A static page from the report's Markdown: tables, figures and playable videos."""
    md = _markdown_renderer()
    body = md.render(markdown_text)
    for path in videos or []:
        href = html.escape(md.normalizeLink(_link_target(path)))
        link = f'<a href="{href}">'
        tag = f'<video controls muted preload="metadata" src="{href}"></video>{link}'
        body = body.replace(link, tag, 1)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>"
    )


def build_report(run_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into the run directory; return both paths."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory")
    text = render_markdown(run_dir)
    md_path = run_dir / "report.md"
    md_path.write_text(text)
    videos = [v["path"] for s in load_stages(run_dir) for v in s.get("videos", [])]
    html_path = run_dir / "report.html"
    html_path.write_text(render_html(text, f"RoboAct report: {run_dir.name}", videos))
    logger.info("report written to %s and %s", md_path, html_path)
    return md_path, html_path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
