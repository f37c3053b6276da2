#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser), once. Playwright drives this system
# executable; it never downloads a browser of its own.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser.sh: the browser tests need Chromium: install Debian's chromium package" >&2
  exit 1
fi
echo "install-browser.sh: installing Debian's chromium for the browser tests (one-time)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
command -v chromium >/dev/null 2>&1 || { echo "install-browser.sh: chromium did not install" >&2; exit 1; }
