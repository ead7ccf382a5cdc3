#!/bin/sh
# Installs every system package tix needs to build, test and run on Debian 12.
# Usage: deploy/install-deps.sh   (as root, or through sudo when available)
set -eu

PACKAGES="
  build-essential cmake pkg-config clang libclang-rt-14-dev clang-format clang-tidy cppcheck
  libzmq3-dev libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler
  libhiredis-dev
  libmongoc-dev libbson-dev
  libcmocka-dev
  libmicrohttpd-dev prometheus
  redis-server redis-tools redis-sentinel
  python3-zmq python3-protobuf python3-mockupdb
  protobuf-compiler python3-venv python3-setuptools
  procps
  prometheus python3-yaml
"

# Node.js for the Node.js client and its tests (clients/node): Debian's, unless
# a node with npm is already there (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=
elif command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
else
    echo "install-deps: must run as root or with sudo available" >&2
    exit 1
fi

missing=
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# The Debian redis-server package starts a system instance on :6379; tix
# starts its own instances on their own ports and never uses that one.
# Likewise the prometheus package starts a system Prometheus on :9090; tix
# needs only its promtool (deploy/k8s/check.sh: promtool check rules).
