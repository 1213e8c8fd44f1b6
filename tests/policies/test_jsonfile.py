"""The checkpoint JSON reader names the file and the field a user must fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from roboact.policies.jsonfile import read_json


def test_an_absent_file_is_named_with_what_the_folder_is_not(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no config\.json \(not a model\)"):
        read_json(tmp_path / "config.json", missing="not a model")


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"format": ')
    with pytest.raises(ValueError, match=r"policy\.json: not valid JSON"):
        read_json(path)


def test_a_json_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        read_json(path)


def test_the_first_missing_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"n_frames": 8}')
    with pytest.raises(ValueError, match=r"config\.json: missing field 'encoder'"):
        read_json(path, ("n_frames", "encoder"))
    assert read_json(path, ("n_frames",)) == {"n_frames": 8}
