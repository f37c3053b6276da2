#!/usr/bin/env bash
# promtool for the alert-rule and metrics tests: Debian's `prometheus` package, installed when missing.
# Only the tool is wanted: the package's daemon is never started (services are kept from starting
# during the install, and nothing may listen on :9090 afterwards).
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool is missing and apt-get is not available: install Prometheus' promtool" \
         "(Debian/Ubuntu package 'prometheus', or the release tarball) and put it on PATH" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "installing promtool needs root (apt-get install prometheus)" >&2; exit 1; }
    SUDO=sudo
fi

echo "installing promtool (Debian package 'prometheus'; its daemon is not started)"
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    # Debian's way to tell maintainer scripts not to start services (exit 101 = action forbidden).
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
cleanup() { if [ -n "$created_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

command -v promtool >/dev/null 2>&1 || { echo "apt-get installed prometheus but promtool is not on PATH" >&2; exit 1; }
if command -v ss >/dev/null 2>&1 && ss -ltn 2>/dev/null | grep -q ':9090 '; then
    echo "warning: something listens on :9090 after installing prometheus; the tests need only promtool" >&2
fi
promtool --version 2>&1 | head -1
