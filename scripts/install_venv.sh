#!/usr/bin/env bash
# Create the venv if missing and install roboact with its pinned dependencies, but only what is
# missing: the full install runs when pyproject.toml or requirements.lock changed; a new checkout
# with the same dependencies only re-points the editable install (seconds).
set -euo pipefail
venv=${VENV:?VENV must be set}
[ -x "$venv/bin/python" ] || { mkdir -p "$(dirname "$venv")"; python3 -m venv "$venv"; }
deps=$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-40)
stamp="$venv/.roboact-installed"
have_deps=$(sed -n 1p "$stamp" 2>/dev/null || true)
have_path=$(sed -n 2p "$stamp" 2>/dev/null || true)
if [ "$have_deps" != "$deps" ]; then
  echo "Installing roboact and its pinned dependencies into $venv (first time: several minutes, ~9 GB)"
  "$venv/bin/pip" install -q --upgrade "pip>=24"
  "$venv/bin/pip" install -q -c requirements.lock -e ".[dev]"
elif [ "$have_path" != "$PWD" ]; then
  "$venv/bin/pip" install -q --no-deps --no-build-isolation -e .
fi
printf '%s\n%s\n' "$deps" "$PWD" > "$stamp"
