#!/usr/bin/env bash
# tix benchmark: one machine, one run, side by side (issue 4, DESIGN.md "2 cores").
#
#   bench/run.sh            full run (~6 min); writes docs/BENCHMARKS.md
#   bench/run.sh --smoke    everything tiny (seconds), for CI: exits 0 when the
#                           harness worked; judges no target; writes no docs
#   options: --out FILE     write the report there instead
#            --build DIR    binaries from DIR (default $TIX_BUILD_DIR or ./build)
#            --keep         keep the work directory (raw JSON, logs, perf data)
#            --no-perf      skip the profile phase (perf record of broker/workers)
#            --sustained-only   phases (a) and (b) only, and a report of the
#                           one-sale sustained target (issue 18) against them
#
# It starts its own stack on free ports in a temp directory - redis-server
# (appendonly yes, appendfsync always: DESIGN.md guarantee 5), tix-broker,
# two tix-workers - and measures:
#   (a)  redis-benchmark calling FCALL tix_buy on that Redis, -P 1 -c 50 and
#        -P 16 -c 50 (the hot-key ceiling), plus the same on a sold-out sale;
#        and FCALL tix_buy_many of 64 purchases, -c 8 (Redis's batched ceiling)
#   (b)  tix end to end, tix-rush sustained (large stock, many distinct users)
#   (c)  the sold-out path end to end (a sold-out sale, many users), with the
#        Redis commands it caused (INFO commandstats)
#   (d)  the 20,000-user / 200-ticket rush (5 runs with 2,000 in flight, 5 with
#        all 20,000 at once: whole-rush time, p99)
#   (w)  the wire (issue 18): tix-bench-echo, a ROUTER answering the frames
#        of a sold-out Purchase to a DEALER with 2,000 in flight (two
#        processes, tcp loopback), each run followed by
#   (s)  a sold-out burst: tix-rush on the sold-out sale, 2,000 in flight;
#        answers/s over the echo's calls/s, broker CPU per answer (3 pairs)
#   (ps) a profile: perf record of the broker under an (s) burst
#   (f)  1,000,000 users on the sold-out sale (tix-rush's bounded memory)
#   (e)  200,000 users at once on a 200-ticket sale (broker peak RSS)
#   (g)  (a) and (b) again with appendfsync everysec - NOT the production
#        setting, shown only to separate fsync cost from tix's own cost
#   (p)  a profile: perf record of broker and workers under (b)'s load
#   (m)  several brokers (issue 13): sustained, rush and sold-out with the
#        workers on 1 broker, then a second broker with each worker on both
#        (--backend a,b --events-in a,b) and tix-rush on both (--frontend a,b);
#        service CPU per answer from /proc, 1 vs 2 brokers
#   (h)  the metrics' cost (issue 15): the sold-out burst of (c) with the broker
#        restarted without --http, then with --http and a scrape every second,
#        H_RUNS times each, alternating; broker CPU per answer and answers/s
#        side by side; and tix-metrics-cost, the counting of one answer alone
#        (ns), against the broker's CPU per answer
#   (r)  replicated Redis (issue 14), on a fresh primary: sustained and rush on
#        a single Redis, then with 2 replicas attached (appendonly yes,
#        appendfsync always; primary min-replicas-to-write 1, max-lag 10) with
#        the gate off, then with the workers at --redis-min-replicas 1; and
#        once more with the replicas at appendfsync everysec (diagnostic only)
# and each process's peak RSS (VmHWM) and CPU time. bench/report.py turns the
# results directory into the markdown; rerun this script after any change.
# Extra broker flags: BENCH_BROKER_ARGS; extra worker flags: BENCH_WORKER_ARGS.
# Automatic AOF rewrites are off (--auto-aof-rewrite-percentage 0): a rewrite
# is a fork plus a full dump that would land in one phase and not another.
# Everything it starts is stopped on exit (trap); nothing is left running.
# The workers log at info: each one's exit line "buy batches" (calls, buys,
# mean, sizes) is copied into results/batches.txt, the first stack's.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TIX_BUILD_DIR:-$ROOT/build}
OUT=$ROOT/docs/BENCHMARKS.md
SMOKE=0 KEEP=0 PERF=1 SUSTAINED_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --keep) KEEP=1 ;;
        --no-perf) PERF=0 ;;
        --sustained-only) SUSTAINED_ONLY=1 ;;
        --out) OUT=$2; shift ;;
        --build) BUILD=$(cd "$2" && pwd); shift ;;
        -h | --help) sed -n '2,57p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

WORK=$(mktemp -d /tmp/tix-bench-XXXXXX)
RES=$WORK/results
mkdir -p "$RES" "$WORK/redis" "$WORK/logs"
declare -A PID=()    # role -> pid of what we started
ORDER=()             # roles in start order (stopped in reverse)
PERF_PID=

say() { printf '==> %s\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

stop_all() {
    local role pid
    [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
    for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do
        role=${ORDER[i]}
        pid=${PID[$role]:-}
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# ---- sizes ------------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
    A1_N=2000 A16_N=8000 B_USERS=3000 B_INFLIGHT=500 C_USERS=3000 D_USERS=2000 D_RUNS=1
    E_USERS=5000 F_USERS=20000 G_A_N=4000 G_B_USERS=3000 P_USERS=3000 PERF=0
    M_B_USERS=2000 M_C_USERS=2000 M_RUNS=1 R_B_USERS=2000 R_RUNS=1 W_CALLS=20000 S_USERS=20000 S_RUNS=1
    H_USERS=3000 H_RUNS=1
else
    A1_N=60000 A16_N=300000 B_USERS=200000 B_INFLIGHT=2000 C_USERS=200000 D_USERS=20000 D_RUNS=5
    E_USERS=200000 F_USERS=1000000 G_A_N=200000 G_B_USERS=200000 P_USERS=200000
    M_B_USERS=60000 M_C_USERS=200000 M_RUNS=3 R_B_USERS=60000 R_RUNS=3 W_CALLS=400000 S_USERS=200000 S_RUNS=3
    H_USERS=200000 H_RUNS=3
fi
S_INFLIGHT=2000 # the edge's burst and the echo: the same window, in smoke runs too
BIG_STOCK=10000000

# ---- the stack -------------------------------------------------------------------
for b in tix-broker tix-worker tix tix-rush tix-bench-echo tix-metrics-cost; do
    [ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: build first (cmake -S . -B build && cmake --build build)"
done
for t in redis-server redis-cli redis-benchmark python3 curl; do
    command -v "$t" >/dev/null || die "$t is not installed (deploy/install-deps.sh)"
done
PY=$(command -v /usr/bin/python3 || command -v python3)

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

RPORT=$(free_port)
export TIX_FRONTEND="tcp://127.0.0.1:$(free_port)"
export TIX_BACKEND="tcp://127.0.0.1:$(free_port)"
export TIX_EVENTS_IN="tcp://127.0.0.1:$(free_port)"
export TIX_EVENTS_OUT="tcp://127.0.0.1:$(free_port)"
export TIX_REDIS_URL="redis://127.0.0.1:$RPORT"
FRONTEND2="tcp://127.0.0.1:$(free_port)" BACKEND2="tcp://127.0.0.1:$(free_port)"
EVENTS_IN2="tcp://127.0.0.1:$(free_port)" EVENTS_OUT2="tcp://127.0.0.1:$(free_port)"
FRONTENDS=$TIX_FRONTEND # the brokers up, for the health waits
export TIX_LOG_LEVEL=warn
RCLI=(redis-cli -h 127.0.0.1 -p "$RPORT")

start() { # role, command...
    local role=$1; shift
    "$@" >>"$WORK/logs/$role.log" 2>&1 &
    PID[$role]=$!
    [[ " ${ORDER[*]} " == *" $role "* ]] || ORDER+=("$role")
}

stop_role() { # role: TERM, then KILL after 5 s; forgotten afterwards
    local pid=${PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$1]"
}

# wait_health FRONTEND 0|1: until that broker answers SERVING (0) or not (1).
wait_health() {
    local rc
    for _ in $(seq 150); do
        rc=0
        TIX_FRONTEND=$1 "$BUILD/tix" health >/dev/null 2>&1 || rc=1
        [ "$rc" = "$2" ] && return 0
        sleep 0.1
    done
    die "broker $1 did not become $([ "$2" = 0 ] && echo SERVING || echo NOT_SERVING) (see $WORK/logs/)"
}

# restart_workers BACKENDS EVENTS_INS REDIS_URL [flags]: both workers replaced
# by ones with this configuration; waits until every broker in FRONTENDS has
# dropped the old ones and serves with the new.
restart_workers() {
    local backends=$1 events=$2 url=$3 f i
    shift 3
    stop_role worker1
    stop_role worker2
    for f in ${FRONTENDS//,/ }; do wait_health "$f" 1; done
    for i in 1 2; do
        # shellcheck disable=SC2086
        start "worker$i" env TIX_LOG_LEVEL=info "$BUILD/tix-worker" --worker-id "w$i" --backend "$backends" \
            --events-in "$events" \
            --redis-url "$url" ${BENCH_WORKER_ARGS:-} "$@"
    done
    for f in ${FRONTENDS//,/ }; do wait_health "$f" 0; done
}

# redis_node ROLE PORT [flags]: a redis-server like the main one (appendonly
# yes, appendfsync always) in its own directory; waits for PING.
redis_node() {
    local role=$1 port=$2
    shift 2
    mkdir -p "$WORK/$role"
    start "$role" redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/$role" --appendonly yes \
        --appendfsync always --save "" --daemonize no --protected-mode no --maxmemory-policy noeviction \
        --auto-aof-rewrite-percentage 0 "$@"
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    die "redis-server $role did not start (see $WORK/logs/$role.log)"
}

start_stack() {
    say "redis-server :$RPORT (appendonly yes, appendfsync always) in $WORK/redis"
    start redis redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
        --appendfsync always --save "" --daemonize no --protected-mode no --maxmemory-policy noeviction \
        --auto-aof-rewrite-percentage 0
    for _ in $(seq 100); do "${RCLI[@]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
    "${RCLI[@]}" ping >/dev/null || die "redis-server did not start (see $WORK/logs/redis.log)"
    # shellcheck disable=SC2086
    start broker "$BUILD/tix-broker" ${BENCH_BROKER_ARGS:-}
    for i in 1 2; do
        # shellcheck disable=SC2086
        start "worker$i" env TIX_LOG_LEVEL=info "$BUILD/tix-worker" --worker-id "w$i" ${BENCH_WORKER_ARGS:-}
    done
    for _ in $(seq 100); do "$BUILD/tix" health >/dev/null 2>&1 && return 0; sleep 0.1; done
    die "the stack did not become SERVING (see $WORK/logs/)"
}

# ---- measuring -------------------------------------------------------------------
# CPU ticks (utime + stime, /proc/PID/stat fields 14 and 15) of a process we started.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
proc_hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
# Resets a process's peak RSS to its current RSS (Linux clear_refs 5), so that
# VmHWM afterwards is the peak of one phase.
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || echo "bench: cannot reset VmHWM of $1" >&2; }
redis_info() { "${RCLI[@]}" info "$1" | tr -d '\r'; }
cmd_calls() { redis_info commandstats | sed -n "s/^cmdstat_$1:calls=\\([0-9]*\\).*/\\1/p" | grep . || echo 0; }
fcall_calls() { cmd_calls fcall; }
total_cmds() { redis_info stats | sed -n 's/^total_commands_processed:\([0-9]*\)/\1/p'; }

# Writes the state the report subtracts: CPU ticks per process, Redis counters.
snap() {
    local role
    for role in redis broker worker1 worker2 broker2 rprim replica1 replica2; do
        if [ -n "${PID[$role]:-}" ] && [ -r "/proc/${PID[$role]}/stat" ]; then
            echo "cpu_$role $(proc_ticks "${PID[$role]}")"
        fi
    done
    echo "redis_commands $(total_cmds)"
    echo "redis_fcalls $(fcall_calls)"
    echo "redis_waits $(cmd_calls wait)"
    echo "time_ns $(date +%s%N)"
}

# phase NAME COMMAND...: runs the command with its stdout in results/NAME.out
# and its exit status in results/NAME.rc, between two snapshots.
phase() {
    local name=$1; shift
    say "$name: $*"
    snap >"$RES/$name.before"
    local rc=0
    "$@" >"$RES/$name.out" 2>"$RES/$name.err" || rc=$?
    snap >"$RES/$name.after"
    echo "$rc" >"$RES/$name.rc"
    [ "$rc" = 0 ] || echo "bench: $name exited $rc (see $RES/$name.err)" >&2
}

rush() { "$BUILD/tix-rush" --json --quiet "$@"; }
create_sale() { "$BUILD/tix" sale create "$1" --tickets "$2" >/dev/null; }
fcall_buy_args() { # sale -> the FCALL tix_buy arguments redis-benchmark sends
    local s=$1
    echo "FCALL tix_buy 5 tix:{$s}:sale tix:{$s}:stock tix:{$s}:buyers tix:{$s}:log tix:{$s}:cancels $s u:__rand_int__ r"
}
redis_bench_many() { # sale batch calls: FCALL tix_buy_many of batch random users, 8 connections
    local s=$1 pairs i
    pairs=$(for ((i = 0; i < $2; i++)); do printf 'u:__rand_int__ r '; done)
    # shellcheck disable=SC2046,SC2086
    redis-benchmark -h 127.0.0.1 -p "$RPORT" -c 8 -P 1 -n "$3" -r 100000000 --csv \
        FCALL tix_buy_many 5 "tix:{$s}:sale" "tix:{$s}:stock" "tix:{$s}:buyers" "tix:{$s}:log" "tix:{$s}:cancels" "$s" "$2" $pairs
}
redis_bench() { # sale pipeline requests
    # shellcheck disable=SC2046
    redis-benchmark -h 127.0.0.1 -p "$RPORT" -c 50 -P "$2" -n "$3" -r 100000000 --csv $(fcall_buy_args "$1")
}

machine() {
    echo "nproc $(nproc)"
    echo "cpu_model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "kernel $(uname -sr)"
    echo "os $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
    echo "mem_total_kb $(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
    echo "loadavg_start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "clk_tck $(getconf CLK_TCK)"
    echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
    echo "smoke $SMOKE"
    echo "broker_args ${BENCH_BROKER_ARGS:-}"
    echo "worker_args ${BENCH_WORKER_ARGS:-}"
    echo "sizes a1=$A1_N a16=$A16_N b=$B_USERS/$B_INFLIGHT c=$C_USERS d=$D_USERS x$D_RUNS e=$E_USERS f=$F_USERS m=$M_B_USERS/$M_C_USERS x$M_RUNS r=$R_B_USERS x$R_RUNS w=$W_CALLS s=$S_USERS/$S_INFLIGHT x$S_RUNS"
}

# (p): perf record of the stack and tix-rush under sustained load; one text
# report per process. Best effort: a machine without perf just has no profile.
profile() {
    command -v perf >/dev/null || { echo "no perf" >"$RES/profile.skipped"; return 0; }
    create_sale bench-p "$BIG_STOCK"
    "$BUILD/tix-rush" --json --quiet --sale bench-p --no-create --users "$P_USERS" --in-flight "$B_INFLIGHT" \
        >"$RES/p.out" 2>"$RES/p.err" &
    local rush_pid=$!
    echo "rush $rush_pid" >"$RES/profile.pids"
    local pids="${PID[broker]},${PID[worker1]},${PID[worker2]},${PID[redis]},$rush_pid"
    perf record -e cpu-clock -F 2000 -g -p "$pids" -o "$WORK/perf.data" >"$WORK/logs/perf.log" 2>&1 &
    PERF_PID=$!
    wait "$rush_pid" || true
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=
    # Per process (all its threads: libzmq's I/O threads count), percentages
    # of that process's own samples; plus its threads, to see main vs I/O.
    local role pid
    for role in broker worker1 redis rush; do
        pid=${PID[$role]:-$rush_pid}
        perf report -i "$WORK/perf.data" --pid "$pid" --percentage relative --no-children --sort dso,sym \
            --stdio -g none --percent-limit 0.8 2>/dev/null | grep -v '^#' | grep -v '^$' | head -45 \
            >"$RES/profile-$role.txt" || true
        # By library: the sum of the symbol rows (perf's own --sort dso
        # disagrees with them once --pid filters).
        perf report -i "$WORK/perf.data" --pid "$pid" --percentage relative --no-children --sort dso,sym \
            --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' |
            awk '{ p = $1; sub("%", "", p); s[$2] += p } END { for (d in s) printf "%7.2f%%  %s\n", s[d], d }' |
            sort -rn | head -10 >"$RES/profile-$role-dso.txt" || true
        perf report -i "$WORK/perf.data" --pid "$pid" --no-children --sort pid --stdio -g none 2>/dev/null |
            grep -v '^#' | grep -v '^$' | head -1 >"$RES/profile-$role-share.txt" || true
    done
}

# (ps): perf record of the broker alone under a sold-out burst like (s): the
# edge's own profile, one text report (symbols) and its libraries.
profile_edge() {
    command -v perf >/dev/null || return 0
    perf record -e cpu-clock -F 2000 -g -p "${PID[broker]}" -o "$WORK/perf-edge.data" >"$WORK/logs/perf-edge.log" 2>&1 &
    PERF_PID=$!
    rush --sale bench-d1 --no-create --users "$S_USERS" --in-flight "$S_INFLIGHT" >"$RES/ps.out" 2>"$RES/ps.err" || true
    kill -INT "$PERF_PID" 2>/dev/null || true
    wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=
    perf report -i "$WORK/perf-edge.data" --percentage relative --no-children --sort dso,sym --stdio -g none \
        --percent-limit 0.8 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 >"$RES/profile-edge.txt" || true
    perf report -i "$WORK/perf-edge.data" --percentage relative --no-children --sort dso,sym --stdio -g none \
        2>/dev/null | grep -v '^#' | grep -v '^$' |
        awk '{ p = $1; sub("%", "", p); s[$2] += p } END { for (d in s) printf "%7.2f%%  %s\n", s[d], d }' |
        sort -rn | head -10 >"$RES/profile-edge-dso.txt" || true
}

# ---- the run ------------------------------------------------------------------------
machine >"$RES/machine.txt"
start_stack

say "(a) redis-benchmark, FCALL tix_buy on the same Redis"
create_sale bench-a "$BIG_STOCK"
"${RCLI[@]}" FCALL tix_buy 4 "tix:{bench-a}:sale" "tix:{bench-a}:stock" "tix:{bench-a}:buyers" \
    "tix:{bench-a}:log" bench-a probe r | head -1 >"$RES/a_probe.txt"
grep -qx PURCHASED "$RES/a_probe.txt" || die "FCALL tix_buy did not answer PURCHASED: $(cat "$RES/a_probe.txt")"
phase a1 redis_bench bench-a 1 "$A1_N"
phase a16 redis_bench bench-a 16 "$A16_N"
# Redis alone with batches of 64: the most tix can get from it with tix_buy_many (issue 18).
phase amany redis_bench_many bench-a 64 $((A16_N / 64))

say "(b) tix end to end, sustained purchases"
create_sale bench-b "$BIG_STOCK"
phase b rush --sale bench-b --no-create --users "$B_USERS" --in-flight "$B_INFLIGHT"

# The batch sizes of the workers' buys: each worker's first exit line (the
# stack of (a)-(p); logs are appended across restarts).
batch_lines() {
    local i
    for i in 1 2; do
        echo "worker$i $(grep -m1 'msg="buy batches"' "$WORK/logs/worker$i.log" | sed 's/.*msg="buy batches"[[:space:]]*//')"
    done
}
if [ "$SUSTAINED_ONLY" = 1 ]; then
    stop_role worker1
    stop_role worker2
    batch_lines >"$RES/batches.txt"
    echo "loadavg_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/machine.txt"
    if [ "$OUT" = "$ROOT/docs/BENCHMARKS.md" ]; then
        "$PY" "$ROOT/bench/report.py" --sustained "$RES"
    else
        "$PY" "$ROOT/bench/report.py" --sustained "$RES" >"$OUT"
    fi
    exit 0
fi

say "(d) the 20,000-user / 200-ticket rush"
for i in $(seq "$D_RUNS"); do
    phase "d$i" rush --sale "bench-d$i" --users "$D_USERS" --tickets 200
done
# The same rush with every user released at once (no client-side window).
for i in $(seq "$D_RUNS"); do
    phase "dall$i" rush --sale "bench-dall$i" --users "$D_USERS" --tickets 200 --in-flight "$D_USERS"
done

say "(c) the sold-out path (sale bench-d1 sold out in (d))"
phase c rush --sale bench-d1 --no-create --users "$C_USERS" --in-flight "$B_INFLIGHT"
phase a1so redis_bench bench-d1 1 "$A1_N"

say "(w)/(s) the wire and the sold-out edge, side by side ($S_RUNS pairs)"
for i in $(seq "$S_RUNS"); do
    phase "w$i" "$BUILD/tix-bench-echo" --calls "$W_CALLS" --in-flight "$S_INFLIGHT"
    phase "s$i" rush --sale bench-d1 --no-create --users "$S_USERS" --in-flight "$S_INFLIGHT"
done
if [ "$PERF" = 1 ]; then
    say "(ps) profile: perf record of the broker under a sold-out burst"
    profile_edge
fi

say "(f) $F_USERS users on the sold-out sale (bounded memory)"
reset_hwm "${PID[broker]}"
phase f rush --sale bench-d1 --no-create --users "$F_USERS" --in-flight "$B_INFLIGHT"
echo "broker_hwm_kb $(proc_hwm_kb "${PID[broker]}")" >"$RES/f.hwm"

say "(e) $E_USERS users at once on a 200-ticket sale"
reset_hwm "${PID[broker]}"
phase e rush --sale bench-e --users "$E_USERS" --tickets 200 --in-flight "$E_USERS" --connections 4 --timeout-ms 60000
echo "broker_hwm_kb $(proc_hwm_kb "${PID[broker]}")" >"$RES/e.hwm"

say "(g) appendfsync everysec - NOT the production setting"
"${RCLI[@]}" config set appendfsync everysec >/dev/null
phase g_a1 redis_bench bench-a 1 "$G_A_N"
phase g_a16 redis_bench bench-a 16 "$G_A_N"
create_sale bench-g "$BIG_STOCK"
phase g_b rush --sale bench-g --no-create --users "$G_B_USERS" --in-flight "$B_INFLIGHT"
"${RCLI[@]}" config set appendfsync always >/dev/null
[ "$("${RCLI[@]}" config get appendfsync | tail -1)" = always ] || die "could not restore appendfsync always"

if [ "$PERF" = 1 ]; then
    say "(p) profile: perf record of broker, workers, redis, tix-rush under sustained load"
    profile
fi

for role in redis broker worker1 worker2; do
    echo "$role ${PID[$role]} $(proc_hwm_kb "${PID[$role]}") $(proc_ticks "${PID[$role]}")"
done >"$RES/procs.txt"

say "(h) the metrics' cost: the sold-out burst without and with --http (scraped every second)"
HTTP_PORT=$(free_port)
restart_broker() { # [flags]: the broker again on the same endpoints, SERVING
    stop_role broker
    wait_health "$TIX_FRONTEND" 1
    # shellcheck disable=SC2086
    start broker "$BUILD/tix-broker" ${BENCH_BROKER_ARGS:-} "$@"
    wait_health "$TIX_FRONTEND" 0
}
scrape_every_second() {
    while :; do
        curl -s -o "$WORK/h_metrics.txt" "http://127.0.0.1:$HTTP_PORT/metrics" || true
        sleep 1
    done
}
for i in $(seq "$H_RUNS"); do
    restart_broker
    phase "h0_$i" rush --sale bench-d1 --no-create --users "$H_USERS" --in-flight "$B_INFLIGHT"
    restart_broker --http "127.0.0.1:$HTTP_PORT"
    start scraper scrape_every_second
    phase "h1_$i" rush --sale bench-d1 --no-create --users "$H_USERS" --in-flight "$B_INFLIGHT"
    curl -s "http://127.0.0.1:$HTTP_PORT/metrics" >"$RES/h1_$i.metrics"
    stop_role scraper
done
restart_broker
"$BUILD/tix-metrics-cost" >"$RES/h_cost.txt"

# (m) and (r) restart the workers: procs.txt above is the stack of (a)-(p).
say "(m) 1 broker, then 2 brokers with each worker on both"
multi_phases() { # prefix, tix-rush flags...
    local pre=$1 i
    shift
    create_sale "bench-${pre}b" "$BIG_STOCK"
    phase "${pre}_b" rush "$@" --sale "bench-${pre}b" --no-create --users "$M_B_USERS" --in-flight "$B_INFLIGHT"
    for i in $(seq "$M_RUNS"); do
        phase "${pre}_d$i" rush "$@" --sale "bench-${pre}d$i" --users "$D_USERS" --tickets 200
    done
    phase "${pre}_c" rush "$@" --sale "bench-${pre}d1" --no-create --users "$M_C_USERS" --in-flight "$B_INFLIGHT"
}
multi_phases m1
# shellcheck disable=SC2086
start broker2 "$BUILD/tix-broker" --frontend "$FRONTEND2" --backend "$BACKEND2" --events-in "$EVENTS_IN2" \
    --events-out "$EVENTS_OUT2" ${BENCH_BROKER_ARGS:-}
FRONTENDS="$TIX_FRONTEND,$FRONTEND2"
wait_health "$FRONTEND2" 1
restart_workers "$TIX_BACKEND,$BACKEND2" "$TIX_EVENTS_IN,$EVENTS_IN2" "$TIX_REDIS_URL"
batch_lines >"$RES/batches.txt"
multi_phases m2 --frontend "$FRONTENDS"
stop_role broker2
FRONTENDS=$TIX_FRONTEND

say "(r) replicated Redis: a fresh primary alone, then with 2 replicas, gate off and at N=1"
repl_phases() { # prefix
    local i
    create_sale "bench-${1}b" "$BIG_STOCK"
    phase "${1}_b" rush --sale "bench-${1}b" --no-create --users "$R_B_USERS" --in-flight "$B_INFLIGHT"
    for i in $(seq "$R_RUNS"); do
        phase "${1}_d$i" rush --sale "bench-${1}d$i" --users "$D_USERS" --tickets 200
    done
}
P0=$(free_port)
redis_node rprim "$P0"
RCLI=(redis-cli -h 127.0.0.1 -p "$P0") # snap's Redis counters now count the primary
restart_workers "$TIX_BACKEND" "$TIX_EVENTS_IN" "redis://127.0.0.1:$P0"
repl_phases r0
for i in 1 2; do
    port=$(free_port)
    echo "port $port" >"$WORK/replica$i.port"
    redis_node "replica$i" "$port" --replicaof 127.0.0.1 "$P0"
done
for _ in $(seq 300); do
    [ "$(redis_info replication | sed -n 's/^connected_slaves:\([0-9]*\)/\1/p')" = 2 ] &&
        [ "$(redis_info replication | grep -c 'state=online')" = 2 ] && break
    sleep 0.1
done
[ "$(redis_info replication | grep -c 'state=online')" = 2 ] || die "the replicas did not come online"
"${RCLI[@]}" config set min-replicas-to-write 1 >/dev/null
"${RCLI[@]}" config set min-replicas-max-lag 10 >/dev/null
repl_phases rn
restart_workers "$TIX_BACKEND" "$TIX_EVENTS_IN" "redis://127.0.0.1:$P0" --redis-min-replicas 1
repl_phases r1
# Diagnostic, NOT a production setting: the replicas' own fsyncs off (everysec),
# gate still on, to measure how much of the cost is three AOFs fsyncing on one disk.
for i in 1 2; do redis-cli -p "$(awk '{ print $2 }' "$WORK/replica$i.port")" config set appendfsync everysec >/dev/null; done
create_sale bench-r1eb "$BIG_STOCK"
phase r1e_b rush --sale bench-r1eb --no-create --users "$R_B_USERS" --in-flight "$B_INFLIGHT"
redis_info replication | grep -E '^(connected_slaves|slave[0-9]|master_repl_offset)' >"$RES/r_replication.txt"
echo "loadavg_end $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/machine.txt"

if [ "$SMOKE" = 1 ]; then
    # The smoke report goes to stdout unless --out says otherwise: CI must
    # not overwrite the committed docs with tiny-size figures.
    if [ "$OUT" = "$ROOT/docs/BENCHMARKS.md" ]; then
        "$PY" "$ROOT/bench/report.py" --smoke "$RES"
    else
        "$PY" "$ROOT/bench/report.py" --smoke "$RES" >"$OUT"
    fi
    say "smoke run complete: the harness worked (targets not judged)"
else
    "$PY" "$ROOT/bench/report.py" "$RES" >"$OUT"
    say "wrote $OUT"
fi
