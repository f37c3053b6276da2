#!/usr/bin/env bash
# A Compose implementation for the deploy tests (tests/integration/test_deploy.py), once: Debian's
# docker-compose package (1.29.2 on bookworm). `docker-compose config` parses, interpolates and
# validates docker-compose.yml without a Docker engine, which the build machines do not have.
set -euo pipefail
if command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-compose.sh: the deploy tests need Docker Compose: install Debian's docker-compose package" \
       "or Docker's compose plugin" >&2
  exit 1
fi
echo "install-compose.sh: installing Debian's docker-compose for the deploy tests (one-time; no engine needed)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends docker-compose >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends docker-compose >/dev/null; }
command -v docker-compose >/dev/null 2>&1 || { echo "install-compose.sh: docker-compose did not install" >&2; exit 1; }
