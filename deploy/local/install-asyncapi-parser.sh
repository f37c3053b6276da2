#!/usr/bin/env bash
# Installs the official AsyncAPI parser (@asyncapi/parser, npm) that tests/contract/test_asyncapi_parser.py
# runs on docs/asyncapi.yaml: exactly the versions of the committed package-lock.json (npm ci), again
# only when that lock file changes. Node.js comes from Debian's nodejs and npm packages if missing.
set -euo pipefail
dir="$(cd "$(dirname "$0")/../.." && pwd)/tests/contract/asyncapi-parser"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-asyncapi-parser.sh: the AsyncAPI test needs Node.js 18+ and npm: install them" >&2
    exit 1
  fi
  echo "install-asyncapi-parser.sh: installing Debian's nodejs and npm for the AsyncAPI test (one-time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q nodejs npm >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null; }
  command -v node >/dev/null 2>&1 || { echo "install-asyncapi-parser.sh: nodejs did not install" >&2; exit 1; }
fi
# npm ci leaves a copy of the lock it installed in node_modules: equal means installed already.
if cmp -s "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed" 2>/dev/null; then
  exit 0
fi
echo "install-asyncapi-parser.sh: installing @asyncapi/parser from tests/contract/asyncapi-parser/package-lock.json"
# --ignore-scripts: no package needs a build step; it also keeps a dependency's telemetry hook from running.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
cp "$dir/package-lock.json" "$dir/node_modules/.package-lock.json.installed"
