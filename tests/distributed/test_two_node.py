"""A fit across two Ray nodes started on this machine (subprocess: its own cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray


@pytest.mark.timeout(300)
def test_fit_spans_two_nodes_with_shared_storage_only(tmp_path):
    script = Path(__file__).with_name("two_node_fit.py")
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=280
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["cluster_nodes"]) == 2
    assert out["worker_nodes"] == out["cluster_nodes"]  # one rank on each node
    assert out["step"] == 20
    assert Path(out["checkpoint_dir"]).is_relative_to(tmp_path / "shared_storage")
    assert (Path(out["model_dir"]) / "model.safetensors").is_file()
