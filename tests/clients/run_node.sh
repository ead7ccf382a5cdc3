#!/usr/bin/env bash
# run_node.sh BUILD_DIR - the Node.js client's tests (ctest: test_node_client).
#  1. npm install of clients/node (a copy, with zeromq and protobufjs) into
#     BUILD_DIR/node-client, then `node --test clients/node/test/` on it.
#  2. `npm install /path/to/clients/node` into a fresh project, then the
#     README's example as written.
# Exit 77 (SKIPPED, with the reason) when node or npm is missing, or when
# the npm registry cannot be reached.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIPPED: node or npm not found (deploy/install-deps.sh installs them)"
    exit 77
fi
NPM="npm --no-audit --no-fund --loglevel=error"
registry_down() {
    if ! npm view zeromq@6.8.0 version >/dev/null 2>&1; then
        echo "SKIPPED: the npm registry is unreachable"
        exit 77
    fi
}

echo "==> npm install clients/node into $BUILD/node-client"
mkdir -p "$BUILD/node-client"
cd "$BUILD/node-client"
[ -f package.json ] || echo '{"private": true}' >package.json
# --install-links copies the package, and npm keeps a copy of the same
# version as "up to date": drop it, so that the tests run today's sources.
rm -rf node_modules/tix-client
$NPM install --install-links "$ROOT/clients/node" || { registry_down; exit 1; }
TIX_BUILD_DIR=$BUILD TIX_CLIENT_MODULE=$BUILD/node-client/node_modules/tix-client \
    node --test --test-reporter=spec "$ROOT/clients/node/test/"

echo "==> npm install ./clients/node in a fresh project, then the README example"
FRESH=$(mktemp -d "${TMPDIR:-/tmp}/tix-npm-XXXXXX")
trap 'rm -rf "$FRESH"' EXIT
cd "$FRESH"
echo '{"private": true}' >package.json
# A fresh clone's clients/node and proto/ (no node_modules, no copied
# tix.proto), so that the install leaves the working tree alone.
mkdir -p "$FRESH/clients" "$FRESH/proto"
cp "$ROOT/proto/tix.proto" "$FRESH/proto/"
(cd "$ROOT" && git ls-files -z clients/node | xargs -0 cp --parents -t "$FRESH")
$NPM install ./clients/node || { registry_down; exit 1; }
python3 "$ROOT/tests/clients/run_readme.py" "$BUILD" "$ROOT/clients/node/README.md" js node "$FRESH"
