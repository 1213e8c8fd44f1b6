"""Regenerate the vendored KubeRay schemas from a KubeRay checkout (see README.md here).

    python extract.py KUBERAY_REPO_DIR [REV]

Reads ``ray-operator/config/crd/bases/ray.io_{rayclusters,rayjobs}.yaml`` at ``REV`` (default
v1.7.0) with ``git show`` and writes the ``v1`` version's ``openAPIV3Schema`` of each, without its
``description`` texts and its ``status`` subtree (most of the bytes; validation ignores both), as
``raycluster.schema.json.gz`` and ``rayjob.schema.json.gz`` beside this file (gzip: 21 KB instead of
370 KB of JSON; ``zcat`` reads them).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CRDS = {"raycluster": "rayclusters", "rayjob": "rayjobs"}


def strip(node: Any) -> Any:
    """A schema node without its ``description`` annotations (properties named so are kept)."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "description":
            continue
        if key == "properties":
            out[key] = {name: strip(sub) for name, sub in value.items()}
        else:
            out[key] = strip(value)
    return out


def main(repo: str, rev: str = "v1.7.0") -> None:
    here = Path(__file__).parent
    for short, plural in CRDS.items():
        path = f"ray-operator/config/crd/bases/ray.io_{plural}.yaml"
        text = subprocess.run(
            ["git", "-C", repo, "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
        ).stdout
        crd = yaml.safe_load(text)
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = strip(version["schema"]["openAPIV3Schema"])
        schema["properties"].pop("status", None)
        out = here / f"{short}.schema.json.gz"
        data = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))  # mtime 0: same bytes on a rerun
        print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:])
