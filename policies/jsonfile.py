"""Reading the small JSON files a checkpoint carries (``policy.json``, a model's ``config.json``).

Why one helper: both are opened in the driver before anything heavy loads, and a user who copied
half a checkpoint needs the same kind of answer from each: which file, and which field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_json(path: Path, required: Iterable[str] = (), missing: str = "") -> dict[str, Any]:
    """``path`` parsed; raises naming the file when it is absent or invalid, and the first missing field.

    ``missing`` ends the message for an absent file (what the directory is not, for example).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path.parent}: no {path.name}" + (f" ({missing})" if missing else ""))
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    for key in required:
        if key not in data:
            raise ValueError(f"{path}: missing field {key!r}")
    return data
