#!/usr/bin/env bash
# The tix stack on one machine, on real parts: redis-server (own port, own
# directory, AOF with fsync always), tix-broker (TIX_BROKERS of them,
# active/active; each worker serves all), two tix-workers and
# tix-persister, which writes every order to MongoDB when TIX_MONGO_URI is set
# or mongod is on PATH (then its own mongod, in its own directory), else to a
# FerretDB of its own (a MongoDB-wire server on SQLite, deploy/ferretdb.sh,
# $STATE/ferretdb) when it is built or Go can build it, and otherwise to an
# Extended JSON lines file, $STATE/orders.jsonl. It says which.
#
#   deploy/local-stack.sh run    start, wait until Health says SERVING, stay up
#                                until Ctrl-C, then stop everything
#   deploy/local-stack.sh demo   start, create a 200-ticket sale, let 20,000
#                                users rush it (tix-rush), check the invariants,
#                                stop everything; with TIX_BROKERS >= 2, one
#                                broker is SIGKILLed mid-rush
#
# Environment: TIX_BUILD_DIR (default ./build), TIX_STACK_DIR (state; default
# ./.tix), TIX_STACK_PORT (first of six ports: client, worker, events in,
# events out, redis, mongod; default 5555), TIX_MONGO_URI (an existing
# MongoDB), TIX_CURVE (default 1: CURVE on every broker endpoint, with keys
# made by `tix keygen` under $STATE/keys; TIX_CURVE=0 turns it off),
# TIX_BROKERS (1..4, default 1; broker k > 0 uses ports TIX_STACK_PORT + 10k
# .. + 10k + 3). TIX_FERRETDB=0 skips FerretDB. TIX_REDIS_REPLICAS (0 or 2,
# default 0): with 2, Redis is a primary (port + 4), two replicas (ports
# + 41, + 42) and three Sentinels (redis-server --sentinel, ports + 50 .. + 52,
# master name "tix"), each in its own directory under $STATE; workers and the
# persister find the primary through the Sentinels and hold every reply and
# event until a replica has the write (TIX_REDIS_MIN_REPLICAS=1).
# Every tix process serves /metrics, /healthz and /readyz (--http): broker k
# on 127.0.0.1:TIX_STACK_PORT + 60 + k, workers on + 64 and + 65, the
# persister on + 66; the script prints where.
# Nothing is left running on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TIX_BUILD_DIR:-$ROOT/build}
STATE=${TIX_STACK_DIR:-$ROOT/.tix}
PORT=${TIX_STACK_PORT:-5555}
REDIS_PORT=$((PORT + 4))
MONGO_PORT=$((PORT + 5))

BROKERS=${TIX_BROKERS:-1}
[[ $BROKERS =~ ^[1-4]$ ]] || { echo "local-stack: TIX_BROKERS must be 1..4" >&2; exit 2; }
# Broker k's first port; workers, the persister and clients get the lists.
broker_port() { echo $((PORT + 10 * $1)); }
# HTTP (/metrics, /healthz, /readyz): broker k, worker i (1, 2), the persister.
broker_http() { echo $((PORT + 60 + $1)); }
worker_http() { echo $((PORT + 63 + $1)); }
PERSISTER_HTTP=$((PORT + 66))
list() { # list OFFSET: every broker's port PORT+10k+OFFSET, comma-separated
    local k out=
    for ((k = 0; k < BROKERS; k++)); do out+="${out:+,}tcp://127.0.0.1:$(($(broker_port $k) + $1))"; done
    echo "$out"
}
export TIX_FRONTEND=$(list 0)
export TIX_BACKEND=$(list 1)
export TIX_EVENTS_IN=$(list 2)
export TIX_EVENTS_OUT=$(list 3)
# libmongoc's /dev/shm counters: a file per process, left behind by a killed
# persister; tix exports its own metrics instead.
export MONGOC_DISABLE_SHM=1
REPLICAS=${TIX_REDIS_REPLICAS:-0}
[[ $REPLICAS =~ ^[02]$ ]] || { echo "local-stack: TIX_REDIS_REPLICAS must be 0 or 2" >&2; exit 2; }
replica_port() { echo $((PORT + 40 + $1)); }  # replica 1..2
sentinel_port() { echo $((PORT + 50 + $1)); } # Sentinel 0..2
MASTER_NAME=tix
if [ "$REPLICAS" -gt 0 ]; then
    export TIX_REDIS_URL="redis-sentinel://127.0.0.1:$(sentinel_port 0),127.0.0.1:$(sentinel_port 1),127.0.0.1:$(sentinel_port 2)/$MASTER_NAME"
    export TIX_REDIS_MIN_REPLICAS=1
else
    export TIX_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi
BROKER_PIDS=()
SURVIVABLE_PIDS=() # replicated Redis nodes and Sentinels: `run` outlives their loss

CURVE=${TIX_CURVE:-1}
PIDS=()
FERRETDB_STATE=

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "local-stack: $*" >&2; exit 1; }

stop_all() {
    local pid
    # Reverse order: workers and broker drain first, Redis goes last.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    # FerretDB runs in its own session (deploy/ferretdb.sh): stopped by its PID.
    if [ -n "$FERRETDB_STATE" ]; then
        "$ROOT/deploy/ferretdb.sh" stop "$FERRETDB_STATE" || true
        FERRETDB_STATE=
    fi
}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Chooses the persister's sink, starting a mongod of our own when one is on
# PATH and no TIX_MONGO_URI was given. Sets PERSIST_ARGS and SINK_SAYS.
choose_sink() {
    if [ -n "${TIX_MONGO_URI:-}" ]; then
        PERSIST_ARGS=(--sink mongodb)
        SINK_SAYS="MongoDB from TIX_MONGO_URI, database ${TIX_MONGO_DB:-tix}"
    elif command -v mongod >/dev/null; then
        port_free "$MONGO_PORT" || die "port $MONGO_PORT is in use (set TIX_STACK_PORT to another base port)"
        mkdir -p "$STATE/mongo"
        say "mongod on 127.0.0.1:$MONGO_PORT (dbpath $STATE/mongo)"
        mongod --port "$MONGO_PORT" --bind_ip 127.0.0.1 --dbpath "$STATE/mongo" \
            --logpath "$STATE/logs/mongod.log" &
        PIDS+=($!)
        for _ in $(seq 100); do port_free "$MONGO_PORT" || break; sleep 0.1; done
        port_free "$MONGO_PORT" && die "mongod did not start (see $STATE/logs/mongod.log)"
        export TIX_MONGO_URI="mongodb://127.0.0.1:$MONGO_PORT"
        PERSIST_ARGS=(--sink mongodb)
        SINK_SAYS="MongoDB at $TIX_MONGO_URI (our own mongod), database ${TIX_MONGO_DB:-tix}"
    elif [ "${TIX_FERRETDB:-1}" != 0 ] && "$ROOT/deploy/ferretdb.sh" available; then
        local t0=$SECONDS
        say "FerretDB $("$ROOT/deploy/ferretdb.sh" version) (no MongoDB here; built once, telemetry off)"
        "$ROOT/deploy/ferretdb.sh" build >/dev/null || die "FerretDB did not build"
        FERRETDB_STATE=$STATE/ferretdb
        export TIX_MONGO_URI
        TIX_MONGO_URI=$("$ROOT/deploy/ferretdb.sh" start "$FERRETDB_STATE") ||
            die "FerretDB did not start (see $FERRETDB_STATE/ferretdb.log)"
        # FerretDB 1.24 stalls on a replayed bulk of 100 or more upserts
        # (docs/PERSISTENCE.md): smaller bulks.
        PERSIST_ARGS=(--sink mongodb --batch-max 50)
        SINK_SAYS="FerretDB at $TIX_MONGO_URI (SQLite in $FERRETDB_STATE/data, ready in $((SECONDS - t0)) s), database ${TIX_MONGO_DB:-tix}"
    else
        PERSIST_ARGS=(--sink "jsonl:$STATE/orders.jsonl")
        SINK_SAYS="no MongoDB here (neither TIX_MONGO_URI nor mongod) and no FerretDB (no Go to build it, or TIX_FERRETDB=0): Extended JSON lines in $STATE/orders.jsonl"
    fi
}

# CURVE keys under $STATE/keys (made once, kept across runs) and the
# broker's allow-list directories, holding copies of the public files. The
# client key is also the admin. Exports the client's keys for tix and
# tix-rush; each process gets its own secret below.
setup_curve() {
    local k=$STATE/keys n
    mkdir -p "$k/clients" "$k/workers" "$k/subscribers" "$k/admins"
    chmod 700 "$k"
    for n in broker worker persister client; do
        [ -e "$k/$n" ] || "$BUILD/tix" keygen "$n" --dir "$k" >/dev/null
    done
    cp "$k/client" "$k/clients/"
    cp "$k/worker" "$k/workers/"
    cp "$k/persister" "$k/subscribers/"
    cp "$k/client" "$k/admins/"
    export TIX_CURVE_SERVER_KEY="$k/broker" TIX_CURVE_SECRET="$k/client_secret"
    BROKER_ENV=(TIX_CURVE=1 TIX_CURVE_SECRET="$k/broker_secret" TIX_CURVE_CLIENTS="$k/clients"
        TIX_CURVE_WORKERS="$k/workers" TIX_CURVE_SUBSCRIBERS="$k/subscribers" TIX_CURVE_ADMINS="$k/admins")
    WORKER_ENV=(TIX_CURVE_SECRET="$k/worker_secret")
    PERSISTER_ENV=(TIX_CURVE_SECRET="$k/persister_secret")
}

# What every Redis node runs with (DESIGN.md guarantee 5): a replica has the
# primary's settings, so that it keeps the promise once Sentinel promotes it.
REDIS_ARGS=(--bind 127.0.0.1 --appendonly yes --appendfsync always --maxmemory-policy noeviction
    --save "" --daemonize no)

# redis_node NAME PORT [ARGS...]: one redis-server in $STATE/NAME, up on PORT.
redis_node() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$STATE/$name"
    redis-server --port "$port" --dir "$STATE/$name" "${REDIS_ARGS[@]}" "$@" \
        --logfile "$STATE/logs/$name.log" &
    PIDS+=($!)
    [ "$REPLICAS" -eq 0 ] || SURVIVABLE_PIDS+=($!)
    for _ in $(seq 100); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "$name did not start on port $port (see $STATE/logs/$name.log)"
}

start_redis() {
    if [ "$REPLICAS" -eq 0 ]; then
        say "redis-server on 127.0.0.1:$REDIS_PORT (appendonly yes, appendfsync always, noeviction, dir $STATE/redis)"
        redis_node redis "$REDIS_PORT"
        return
    fi
    # The primary refuses writes when no replica is within 10 s of it; the
    # workers check this at connect (TIX_REDIS_MIN_REPLICAS=1).
    say "redis-server primary on 127.0.0.1:$REDIS_PORT (appendfsync always, min-replicas-to-write 1, min-replicas-max-lag 10, dir $STATE/redis)"
    REDIS_ARGS+=(--min-replicas-to-write 1 --min-replicas-max-lag 10)
    redis_node redis "$REDIS_PORT"
}

# Two replicas of the primary, then three Sentinels watching it (quorum 2);
# returns once both replicas are in sync and every Sentinel names the primary.
start_replication() {
    local i port conf n
    for ((i = 1; i <= REPLICAS; i++)); do
        port=$(replica_port "$i")
        say "redis-server replica $i on 127.0.0.1:$port (replicaof 127.0.0.1:$REDIS_PORT, dir $STATE/redis-replica-$i)"
        redis_node "redis-replica-$i" "$port" --replicaof 127.0.0.1 "$REDIS_PORT"
    done
    for _ in $(seq 200); do
        n=$(redis-cli -p "$REDIS_PORT" info replication | grep -c 'state=online' || true)
        [ "$n" -ge "$REPLICAS" ] && break
        sleep 0.05
    done
    [ "$n" -ge "$REPLICAS" ] || die "the replicas did not reach the primary (see $STATE/logs/redis-replica-*.log)"
    for i in 0 1 2; do
        port=$(sentinel_port "$i")
        mkdir -p "$STATE/sentinel-$i"
        # Sentinel rewrites its configuration file: a fresh one per start.
        conf=$STATE/sentinel-$i/sentinel.conf
        cat >"$conf" <<EOC
port $port
bind 127.0.0.1
dir $STATE/sentinel-$i
logfile $STATE/logs/sentinel-$i.log
sentinel monitor $MASTER_NAME 127.0.0.1 $REDIS_PORT 2
sentinel down-after-milliseconds $MASTER_NAME 2000
sentinel failover-timeout $MASTER_NAME 10000
sentinel parallel-syncs $MASTER_NAME 1
EOC
        say "Sentinel $i on 127.0.0.1:$port (monitor $MASTER_NAME, quorum 2, down-after 2000 ms, dir $STATE/sentinel-$i)"
        redis-server "$conf" --sentinel &
        PIDS+=($!)
        SURVIVABLE_PIDS+=($!)
    done
    for i in 0 1 2; do
        port=$(sentinel_port "$i")
        for _ in $(seq 100); do
            redis-cli -p "$port" sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | grep -qx "$REDIS_PORT" && break
            sleep 0.05
        done
        redis-cli -p "$port" sentinel get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | grep -qx "$REDIS_PORT" ||
            die "Sentinel $i does not name the primary (see $STATE/logs/sentinel-$i.log)"
    done
    say "workers and the persister: TIX_REDIS_URL=$TIX_REDIS_URL TIX_REDIS_MIN_REPLICAS=$TIX_REDIS_MIN_REPLICAS"
}

start_stack() {
    for b in tix-broker tix-worker tix-persister tix tix-rush; do
        [ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: build first (cmake -S . -B build && cmake --build build)"
    done
    command -v redis-server >/dev/null || die "redis-server is not installed (deploy/install-deps.sh)"
    local ports=("$REDIS_PORT") k i
    if [ "$REPLICAS" -gt 0 ]; then
        for ((i = 1; i <= REPLICAS; i++)); do ports+=("$(replica_port $i)"); done
        for i in 0 1 2; do ports+=("$(sentinel_port $i)"); done
    fi
    for ((k = 0; k < BROKERS; k++)); do ports+=($(seq "$(broker_port $k)" $(($(broker_port $k) + 3))) "$(broker_http $k)"); done
    ports+=("$(worker_http 1)" "$(worker_http 2)" "$PERSISTER_HTTP")
    for p in "${ports[@]}"; do
        port_free "$p" || die "port $p is in use (set TIX_STACK_PORT to another base port)"
    done
    mkdir -p "$STATE/logs"
    BROKER_ENV=() WORKER_ENV=() PERSISTER_ENV=()
    if [ "$CURVE" = 1 ]; then
        setup_curve
        say "CURVE on (keys in $STATE/keys; TIX_CURVE=0 turns it off)"
    else
        unset TIX_CURVE_SERVER_KEY TIX_CURVE_SECRET
        say "CURVE off (TIX_CURVE=$CURVE)"
    fi

    start_redis
    [ "$REPLICAS" -eq 0 ] || start_replication

    for ((k = 0; k < BROKERS; k++)); do
        local b=$(broker_port $k) log=$STATE/logs/broker.log
        [ "$BROKERS" -eq 1 ] || log=$STATE/logs/broker-$k.log
        say "tix-broker on tcp://127.0.0.1:$b (logs: $log)"
        env "${BROKER_ENV[@]}" TIX_FRONTEND="tcp://127.0.0.1:$b" TIX_BACKEND="tcp://127.0.0.1:$((b + 1))" \
            TIX_EVENTS_IN="tcp://127.0.0.1:$((b + 2))" TIX_EVENTS_OUT="tcp://127.0.0.1:$((b + 3))" \
            TIX_HTTP="127.0.0.1:$(broker_http $k)" "$BUILD/tix-broker" 2>>"$log" &
        PIDS+=($!)
        BROKER_PIDS+=($!)
    done
    for i in 1 2; do
        say "tix-worker w$i (logs: $STATE/logs/worker-$i.log)"
        env "${WORKER_ENV[@]}" TIX_HTTP="127.0.0.1:$(worker_http $i)" "$BUILD/tix-worker" --worker-id "w$i" \
            2>>"$STATE/logs/worker-$i.log" &
        PIDS+=($!)
    done
    choose_sink
    say "tix-persister: $SINK_SAYS (logs: $STATE/logs/persister.log)"
    env "${PERSISTER_ENV[@]}" TIX_HTTP="127.0.0.1:$PERSISTER_HTTP" "$BUILD/tix-persister" "${PERSIST_ARGS[@]}" \
        --health-file "$STATE/persister.health" 2>>"$STATE/logs/persister.log" &
    PERSISTER_PID=$!
    PIDS+=("$PERSISTER_PID")

    for ((k = 0; k < BROKERS; k++)); do
        local ok=
        for _ in $(seq 100); do
            if "$BUILD/tix" health --frontend "tcp://127.0.0.1:$(broker_port $k)" >/dev/null 2>&1; then
                ok=1
                break
            fi
            sleep 0.1
        done
        [ -n "$ok" ] || die "broker $k did not become SERVING within 10 s (see $STATE/logs/)"
    done
    say "Health: SERVING ($BROKERS broker(s); clients use TIX_FRONTEND=$TIX_FRONTEND)"
    local where=""
    for ((k = 0; k < BROKERS; k++)); do where+=" broker-$k=http://127.0.0.1:$(broker_http $k)/metrics"; done
    for i in 1 2; do where+=" w$i=http://127.0.0.1:$(worker_http $i)/metrics"; done
    where+=" persister=http://127.0.0.1:$PERSISTER_HTTP/metrics"
    say "metrics (also /healthz, /readyz):$where"
}

demo() {
    local sale="demo-$(date +%s)"
    say "tix sale create $sale --tickets 200"
    "$BUILD/tix" sale create "$sale" --tickets 200
    say "tix buy $sale alice --request-id a-1   (then the same request again: same order)"
    "$BUILD/tix" buy "$sale" alice --request-id a-1
    "$BUILD/tix" buy "$sale" alice --request-id a-1
    say "tix buy $sale alice --request-id a-2   (a new request: already purchased, exit 4)"
    "$BUILD/tix" buy "$sale" alice --request-id a-2 || echo "(exit $?)"
    say "tix-rush: 20,000 users press buy at once for the remaining 199 tickets"
    if [ "$BROKERS" -ge 2 ]; then
        # Through every broker; the last one is killed once orders are being
        # made. Its calls are resent to the others; every user is answered.
        "$BUILD/tix-rush" --sale "$sale" --no-create --users 20000 &
        local rush=$! victim=${BROKER_PIDS[$((BROKERS - 1))]}
        for _ in $(seq 2000); do
            [ "$(redis-cli -p "$REDIS_PORT" XLEN "tix:{$sale}:log")" -ge 60 ] && break
            kill -0 "$rush" 2>/dev/null || break
            sleep 0.005
        done
        say "SIGKILL broker $((BROKERS - 1)) (pid $victim) mid-rush"
        kill -KILL "$victim" 2>/dev/null || true
        wait "$rush" || die "tix-rush failed (exit $?) after the broker was killed"
    else
        "$BUILD/tix-rush" --sale "$sale" --no-create --users 20000
    fi
    say "tix sale get $sale"
    "$BUILD/tix" sale get "$sale"
    say "tix order get $sale alice"
    "$BUILD/tix" order get "$sale" alice
    local log
    log=$(redis-cli -p "$REDIS_PORT" XLEN "tix:{$sale}:log")
    say "order log tix:{$sale}:log holds $log orders (200 expected)"
    [ "$log" -eq 200 ] || die "expected 200 orders in the log, found $log"
    local i n
    # WAIT from a fresh connection: until both replicas have all writes so far.
    [ "$REPLICAS" -eq 0 ] || redis-cli -p "$REDIS_PORT" WAIT "$REPLICAS" 5000 >/dev/null
    for ((i = 1; i <= REPLICAS; i++)); do
        n=$(redis-cli -p "$(replica_port "$i")" XLEN "tix:{$sale}:log")
        say "replica $i holds $n orders in tix:{$sale}:log"
        [ "$n" -eq 200 ] || die "expected 200 orders on replica $i, found $n"
    done
    persisted "$sale"
}

# The persister's own account of its run (its last log line), after it stopped.
persister_summary() {
    local line
    line=$(grep 'msg="persister stopped"' "$STATE/logs/persister.log" 2>/dev/null | tail -1) || return 0
    [ -n "$line" ] && say "tix-persister: $(sed -n 's/.* sink=\([^ ]*\) written=\([0-9]*\).*/\2 orders written by this run to \1/p' <<<"$line")"
    return 0
}

# Stops the persister the way an operator would (SIGTERM: it writes what it
# holds and moves its cursors past everything durable), then says how many
# orders of the sale were persisted, and where.
persisted() {
    local sale=$1 line written where n
    kill -TERM "$PERSISTER_PID"
    wait "$PERSISTER_PID" || die "tix-persister exited with $? (see $STATE/logs/persister.log)"
    line=$(grep 'msg="persister stopped"' "$STATE/logs/persister.log" | tail -1)
    written=$(sed -n 's/.* written=\([0-9]*\).*/\1/p' <<<"$line")
    where=$(sed -n 's/.* sink=\([^ ]*\).*/\1/p' <<<"$line")
    if [[ $where == jsonl:* ]]; then
        # A cancellation is one more line for its order (docs/PERSISTENCE.md).
        n=$(grep "\"sale_id\" : \"$sale\"" "${where#jsonl:}" | grep -vc '"cancelled_at"' || true)
        say "persisted $n orders of $sale to ${where#jsonl:} (Extended JSON lines; load them with:"
        echo "    mongoimport --db tix --collection orders --mode merge --file ${where#jsonl:})"
        [ "$n" -eq 200 ] || die "expected 200 orders of $sale in ${where#jsonl:}, found $n"
    else
        say "persisted to $where, collection orders: $written orders written by this run (200 expected)"
        [ "${written:-0}" -ge 200 ] || die "expected at least 200 orders written, the persister says ${written:-none}"
        read_back "$sale"
    fi
}

# Reads the sale's orders back from the database, as its users would: the
# count and one document (tix-orders-read, deploy/orders-read.c).
read_back() {
    local sale=$1 reader=$BUILD/tix-orders-read out n
    [ -x "$reader" ] || die "$reader is missing: build first (cmake --build build)"
    out=$("$reader" "$TIX_MONGO_URI" "${TIX_MONGO_DB:-tix}" "$sale") || die "reading the orders back failed"
    n=$(sed -n 's/^count //p' <<<"$out")
    say "read back from ${TIX_MONGO_DB:-tix}.orders: $n orders of $sale ($(sed -n 's/^cancelled //p' <<<"$out") cancelled); the first:"
    sed -n '2p' <<<"$out"
    [ "$n" -eq 200 ] || die "expected 200 orders of $sale in the database, found $n"
}

case "${1:-}" in
    run)
        start_stack
        say "stack is up; try: $BUILD/tix health   (Ctrl-C stops everything)"
        trap 'stop_all; persister_summary' EXIT
        # Stops when a tix process ends; with replicas, not when a Redis node
        # or a Sentinel does (try: kill -9 the primary, and watch a failover).
        watched=()
        for pid in "${PIDS[@]}"; do [[ " ${SURVIVABLE_PIDS[*]} " == *" $pid "* ]] || watched+=("$pid"); done
        wait -n "${watched[@]}" || true
        ;;
    demo)
        start_stack
        demo
        say "stopping the stack"
        ;;
    -h | --help | "")
        sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
        [ -n "${1:-}" ] || exit 2
        ;;
    *) die "unknown command '$1' (run or demo)" ;;
esac
