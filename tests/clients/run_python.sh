#!/usr/bin/env bash
# run_python.sh BUILD_DIR - the Python client's tests (ctest: test_python_client).
#  1. A virtualenv in BUILD_DIR over Debian's python3-zmq and python3-protobuf
#     (offline): pip install ./clients/python, then clients/python/tests.
#  2. `pip install ./clients/python` into a fresh virtualenv (pyzmq and
#     protobuf from PyPI), the tests again, then the README's example as written.
# Exit 77 (SKIPPED, with the reason) when python3-venv is missing, or for
# step 2 when PyPI cannot be reached.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "SKIPPED: $PY has no venv/ensurepip (apt-get install python3-venv)"
    exit 77
fi

echo "==> Debian's pyzmq and protobuf: $BUILD/py-venv"
VENV=$BUILD/py-venv
[ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"
"$VENV/bin/pip" install -q --no-build-isolation --no-deps --force-reinstall "$ROOT/clients/python"
(cd "$BUILD" && TIX_BUILD_DIR=$BUILD PYTHONPATH= "$VENV/bin/python" "$ROOT/clients/python/tests/test_client.py")

echo "==> pip install ./clients/python in a fresh virtualenv (PyPI)"
FRESH=$(mktemp -d "${TMPDIR:-/tmp}/tix-pip-XXXXXX")
trap 'rm -rf "$FRESH"' EXIT
"$PY" -m venv "$FRESH/venv"
if ! (cd "$ROOT" && "$FRESH/venv/bin/pip" install -q --disable-pip-version-check ./clients/python); then
    if ! "$FRESH/venv/bin/pip" download -q --no-deps -d "$FRESH/dl" setuptools >/dev/null 2>&1; then
        echo "SKIPPED: PyPI unreachable, pip install ./clients/python not tried"
        exit 77
    fi
    echo "pip install ./clients/python failed"
    exit 1
fi
"$FRESH/venv/bin/python" -c 'import tix, zmq, google.protobuf as p; print("installed: tix", tix.__file__, "pyzmq", zmq.__version__, "protobuf", p.__version__)'
(cd "$FRESH" && TIX_BUILD_DIR=$BUILD "$FRESH/venv/bin/python" "$ROOT/clients/python/tests/test_client.py" 2>&1 | tail -3)
"$PY" "$ROOT/tests/clients/run_readme.py" "$BUILD" "$ROOT/clients/python/README.md" python "$FRESH/venv/bin/python" "$FRESH"
