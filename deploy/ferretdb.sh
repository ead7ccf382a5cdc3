#!/usr/bin/env bash
# FerretDB (a MongoDB-wire server storing documents in SQLite) for the tests
# and the local stack, pinned to one version and built once.
#
#   deploy/ferretdb.sh build            builds it if needed; prints the binary
#   deploy/ferretdb.sh start STATE_DIR  starts it on a free loopback port with
#                                       its data in STATE_DIR, waits until it
#                                       answers hello, prints its URI
#   deploy/ferretdb.sh stop STATE_DIR [SIGNAL]   stops it by its PID (TERM)
#   deploy/ferretdb.sh ping PORT        exit 0 when a server answers hello
#   deploy/ferretdb.sh available        exit 0 when built or Go can build it
#
# STATE_DIR keeps data/ (SQLite files), ferretdb.pid, ferretdb.port,
# ferretdb.uri and ferretdb.log; `start` on the same STATE_DIR after a kill
# reuses the data (and the port when it is still free).
# The build goes to $TIX_FERRETDB_DIR (default <repo>/build-ferretdb, which
# .gitignore covers): the module comes from the Go module proxy at the pinned
# version, never @latest. Telemetry is always off (--telemetry=disable and
# DO_NOT_TRACK=1): FerretDB never tries to reach its beacon. Loopback only.
# TIX_FERRETDB_DEBUG_ADDR=127.0.0.1:PORT serves FerretDB's metrics and
# goroutine dumps there (off by default), to diagnose a stalled server.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
DIR=${TIX_FERRETDB_DIR:-$ROOT/build-ferretdb}
BIN=$DIR/ferretdb-$VERSION/bin/ferretdb

die() {
    echo "ferretdb.sh: $*" >&2
    exit 1
}

# One OP_MSG hello to 127.0.0.1:$1; true when the reply is a hello reply.
ping_port() (
    local port=$1 len
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    # {hello: 1, $db: "admin"}: 16-byte header (opCode 2013), flags, kind 0.
    printf '\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\x1f\x00\x00\x00\x10hello\x00\x01\x00\x00\x00\x02$db\x00\x06\x00\x00\x00admin\x00\x00' >&3
    len=$(timeout 2 dd bs=4 count=1 status=none <&3 | od -An -tu4 | tr -d ' ')
    [ -n "$len" ] && [ "$len" -gt 4 ] || return 1
    timeout 2 dd bs=$((len - 4)) count=1 iflag=fullblock status=none <&3 | tr -d '\0' | grep -aq maxWireVersion
)

built() {
    # Captured first: grep -q closing the pipe early fails it under pipefail.
    local out
    [ -x "$BIN" ] && out=$(DO_NOT_TRACK=1 "$BIN" --version 2>/dev/null) && [[ $out == *"version: $VERSION"* ]]
}

build() {
    if built; then
        echo "$BIN"
        return
    fi
    command -v go >/dev/null || die "Go is not installed: cannot build FerretDB $VERSION"
    local t0=$SECONDS src
    echo "ferretdb.sh: building FerretDB $VERSION from the Go module proxy into $DIR" >&2
    mkdir -p "$DIR"
    src=$(go mod download -json "$MODULE@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -d "$src" ] || die "go mod download $MODULE@$VERSION gave no source directory"
    rm -rf "$DIR/src-$VERSION"
    cp -r "$src" "$DIR/src-$VERSION"
    chmod -R u+w "$DIR/src-$VERSION"
    # The release's build/version/version.txt is generated from git, which
    # the module zip lacks; the binary refuses to start without it.
    echo "$VERSION" >"$DIR/src-$VERSION/build/version/version.txt"
    echo "go-module-proxy" >"$DIR/src-$VERSION/build/version/package.txt"
    # The SQLite backend (pure Go, modernc.org/sqlite) is in the default
    # build; no tags are needed.
    (cd "$DIR/src-$VERSION" && nice go build -trimpath -o "$BIN" ./cmd/ferretdb)
    built || die "the built binary does not report $VERSION"
    echo "ferretdb.sh: built FerretDB $VERSION in $((SECONDS - t0)) s" >&2
    echo "$BIN"
}

free_port() {
    local port
    for _ in $(seq 200); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free loopback port"
}

# Starts the server on port with its data in state; 0 once it answers
# hello, 1 when it exited (its log says why), 2 when it never answered.
launch() {
    local state=$1 port=$2 pid
    DO_NOT_TRACK=1 setsid "$BIN" --telemetry=disable --handler=sqlite --sqlite-url="file:$state/data/" \
        --listen-addr="127.0.0.1:$port" --debug-addr="${TIX_FERRETDB_DEBUG_ADDR:--}" --state-dir="$state" \
        --log-level=warn >>"$state/ferretdb.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$state/ferretdb.pid"
    echo "$port" >"$state/ferretdb.port"
    for _ in $(seq 300); do
        if ping_port "$port"; then
            echo "mongodb://127.0.0.1:$port/" >"$state/ferretdb.uri"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    return 2
}

start() {
    local state=${1:?usage: ferretdb.sh start STATE_DIR} port rc fresh=0
    built || die "FerretDB $VERSION is not built (deploy/ferretdb.sh build)"
    mkdir -p "$state/data"
    state=$(cd "$state" && pwd)
    # A restart keeps its port (clients hold the URI) unless it is taken.
    port=$(cat "$state/ferretdb.port" 2>/dev/null || true)
    if [ -z "$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        port=$(free_port)
        fresh=1
    fi
    # A port found free can be taken before FerretDB binds it (the machine
    # is shared): it then exits at once, and another try is cheap.
    for attempt in 1 2 3; do
        rc=0
        launch "$state" "$port" || rc=$?
        if [ "$rc" = 0 ]; then
            cat "$state/ferretdb.uri"
            return
        fi
        [ "$rc" = 1 ] || die "FerretDB did not answer hello on 127.0.0.1:$port within 30 s; see $state/ferretdb.log"
        echo "ferretdb.sh: FerretDB exited at start (try $attempt): $(tail -n 2 "$state/ferretdb.log" | tr '\n' ' ')" >&2
        if [ "$fresh" = 1 ]; then
            port=$(free_port)
        fi
        sleep 0.2
    done
    die "FerretDB exited at start 3 times; see $state/ferretdb.log"
}

stop() {
    local state=${1:?usage: ferretdb.sh stop STATE_DIR [SIGNAL]} sig=${2:-TERM} pid
    pid=$(cat "$state/ferretdb.pid" 2>/dev/null) || return 0
    if kill -"$sig" "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$state/ferretdb.pid"
}

case ${1:-} in
build) build ;;
start) start "${2:-}" ;;
stop) stop "${2:-}" "${3:-}" ;;
ping) ping_port "${2:?usage: ferretdb.sh ping PORT}" ;;
available) built || command -v go >/dev/null ;;
version) echo "$VERSION" ;;
*) die "usage: ferretdb.sh build | start STATE_DIR | stop STATE_DIR [SIGNAL] | ping PORT | available | version" ;;
esac
