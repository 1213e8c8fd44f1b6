#!/usr/bin/env bash
# A venv per checkout on top of one shared dependency cache (issue #18, item 9).
#
#   DEPS_VENV (default ~/.cache/roboact/venv): every third-party package, pinned by
#       requirements.lock; installed once per machine (~9 GB, several minutes) and again only when
#       pyproject.toml or requirements.lock change. roboact itself is never installed here, so no
#       checkout's install depends on another checkout still existing.
#   VENV (default <checkout>/.venv, gitignored): roboact alone, editable from this checkout
#       (--no-deps), in a venv whose site-packages imports DEPS_VENV's through a .pth file
#       (site.addsitedir, so the cache's own .pth files run too). Made in about 5 s.
#
# VENV equal to DEPS_VENV, or DEPS_VENV empty, installs everything into VENV alone (one
# self-contained venv, the layout before the split).
set -euo pipefail
venv=${VENV:?VENV must be set}
deps_venv=${DEPS_VENV-$HOME/.cache/roboact/venv}
deps=$(cat pyproject.toml requirements.lock | sha1sum | cut -c1-40)
[ "$venv" = "$deps_venv" ] && deps_venv=""

# The packages roboact needs (its dependencies and every extra), read from pyproject.toml.
requirements() {
  "$1" - <<'EOF'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = list(project["dependencies"])
for extra in project.get("optional-dependencies", {}).values():
    reqs += extra
own = re.compile(r"^\s*" + re.escape(project["name"]) + r"\b")
print("\n".join(r for r in reqs if not own.match(r)))
EOF
}

# Install the dependencies (not roboact) into $1 when pyproject.toml/requirements.lock changed.
install_deps() {
  local target=$1 stamp="$1/.roboact-deps"
  [ -x "$target/bin/python" ] || { mkdir -p "$(dirname "$target")"; python3 -m venv "$target"; }
  [ "$(cat "$stamp" 2>/dev/null || true)" = "$deps" ] && return 0
  if [ "$(sed -n 1p "$1/.roboact-installed" 2>/dev/null || true)" = "$deps" ]; then
    echo "$deps" > "$stamp"  # installed by this script's earlier version, same dependencies
    return 0
  fi
  echo "Installing roboact's pinned dependencies into $target (first time: several minutes, ~9 GB;" \
    "afterwards only what pyproject.toml/requirements.lock changed)"
  # setuptools >= 70.1 builds editable wheels without the `wheel` package (checkout venvs build offline)
  "$target/bin/pip" install -q --upgrade "pip>=24" "setuptools>=70.1"
  "$target/bin/pip" install -q -c requirements.lock -r <(requirements "$target/bin/python")
  echo "$deps" > "$stamp"
}

if [ -z "$deps_venv" ]; then  # one self-contained venv
  install_deps "$venv"
  stamp="$venv/.roboact-installed"
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$deps $PWD" ]; then
    "$venv/bin/pip" install -q --no-deps --no-build-isolation -e .
    echo "$deps $PWD" > "$stamp"
  fi
  exit 0
fi

install_deps "$deps_venv"
stamp="$venv/.roboact-installed"
want="$deps $PWD $deps_venv"
[ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ] && [ -x "$venv/bin/python" ] && exit 0
site_of() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
if [ -e "$venv" ] && ! ls "$venv"/lib/python*/site-packages/roboact_deps.pth >/dev/null 2>&1; then
  echo "VENV=$venv exists but was not made by scripts/install_venv.sh: remove it, choose another VENV," \
    "or set DEPS_VENV= to install everything into it" >&2
  exit 2
fi
rm -rf "$venv"  # ours: remade from scratch (seconds), so a moved checkout or new layout is picked up
# The cache's interpreter makes the venv, so both share one Python version (and its home).
"$deps_venv/bin/python" -m venv --without-pip "$venv"
echo "import site; site.addsitedir('$(site_of "$deps_venv/bin/python")')" > "$(site_of "$venv/bin/python")/roboact_deps.pth"
# pip and setuptools come from the cache; they install into the running interpreter's venv.
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "roboact from $PWD installed in $venv (dependencies from $deps_venv)"
