#!/usr/bin/env bash
# Debian packages the simulators and the report test need: headless GL (EGL/OSMesa on llvmpipe),
# ffmpeg for episode videos, Chromium for the HTML report check. Installs only what is missing,
# and only when root (otherwise prints the command to run).
set -euo pipefail
pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${missing[*]}. Run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
