#!/usr/bin/python3
"""bench/report.py - turns a bench/run.sh results directory into docs/BENCHMARKS.md.

    bench/report.py RESULTS_DIR > docs/BENCHMARKS.md
    bench/report.py --smoke RESULTS_DIR     checks the harness produced every result;
                                            exit 1 naming what is missing
    bench/report.py --sustained RESULTS_DIR the one-sale sustained target only
                                            (bench/run.sh --sustained-only)

Reads what bench/run.sh wrote: machine.txt, one NAME.out/.rc/.before/.after per
phase (tix-rush JSON or redis-benchmark CSV; snapshots of per-process CPU ticks and
Redis counters; (m) and (r) add a second broker, a fresh primary and its replicas),
e.hwm/f.hwm (broker VmHWM), procs.txt, profile-*.txt. The (m) and (r) sections are
in report_ha.py, the edge against the wire ((w), (s), issue 18) in report_edge.py.
Standard library only.
"""
import csv
import io
import json
import os
import statistics
import sys

TARGET_RUSH_WALL_MS = 300
TARGET_RUSH_P99_MS = 100
TARGET_SUSTAINED_PER_S = 80000
TARGET_BROKER_RSS_MB = 64
ROLES = ["broker", "worker1", "worker2", "redis"]
EXTRA_ROLES = ["broker2", "rprim", "replica1", "replica2"]  # up in (m) / (r) only
TARGET_GATE_RATIO = 0.8  # issue 14: gated throughput within 20% of the single Redis
TARGET_BATCH_RATIO = 1.5  # issue 18: sustained purchases over redis-benchmark -P 16 on tix_buy
TARGET_BATCH_CPU_US = 20  # issue 18: broker + workers CPU per purchase


def read_kv(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if line.strip():
                k, _, v = line.rstrip("\n").partition(" ")
                out[k] = v
    return out


class Results:
    def __init__(self, d):
        self.d = d
        self.machine = read_kv(os.path.join(d, "machine.txt"))
        self.tck = float(self.machine.get("clk_tck", "100") or 100)

    def path(self, name):
        return os.path.join(self.d, name)

    def rc(self, phase):
        p = self.path(phase + ".rc")
        return int(open(p).read().strip()) if os.path.exists(p) else None

    def rush(self, phase):
        """The tix-rush JSON object of a phase, or None."""
        try:
            return json.loads(open(self.path(phase + ".out")).read())
        except (OSError, ValueError):
            return None

    def bench(self, phase):
        """redis-benchmark --csv: {rps, avg, p50, p95, p99, max} (ms), or None."""
        try:
            rows = list(csv.DictReader(io.StringIO(open(self.path(phase + ".out")).read())))
            r = rows[-1]
            return {k: float(r[c]) for k, c in [("rps", "rps"), ("p50", "p50_latency_ms"),
                                                  ("p99", "p99_latency_ms"), ("max", "max_latency_ms"),
                                                  ("avg", "avg_latency_ms")]}
        except (OSError, ValueError, KeyError, IndexError):
            return None

    def delta(self, phase):
        """Per-phase CPU seconds per role and Redis counter deltas, or None."""
        b, a = read_kv(self.path(phase + ".before")), read_kv(self.path(phase + ".after"))
        if not b or not a:
            return None
        out = {}
        for role in ROLES + EXTRA_ROLES:
            try:
                out[role] = (float(a["cpu_" + role]) - float(b["cpu_" + role])) / self.tck
            except (KeyError, ValueError):
                out[role] = None
        for k in ("redis_commands", "redis_fcalls", "redis_waits"):
            try:
                out[k] = int(a[k]) - int(b[k])
            except (KeyError, ValueError):
                out[k] = None
        try:
            out["seconds"] = (int(a["time_ns"]) - int(b["time_ns"])) / 1e9
        except (KeyError, ValueError):
            out["seconds"] = None
        return out

    def hwm_kb(self, phase):
        v = read_kv(self.path(phase + ".hwm")).get("broker_hwm_kb")
        return int(v) if v and v.isdigit() else None


def fmt_int(v):
    return "-" if v is None else f"{v:,.0f}"


def users(j):
    return "?" if not j else f"{j['users']:,}"


def fmt_ms(us):
    return "-" if us is None else f"{us / 1000.0:.2f}"


def ratio(a, b):
    return None if not a or not b else a / b


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}×"


def verdict(ok):
    return "**PASS**" if ok else "**MISS**"


def answered_ok(j):
    return j is not None and j["answered"] == j["users"] and not j["errors"] and j["unanswered"] == 0


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def rush_runs(r, prefix="d"):
    runs = []
    i = 1
    while os.path.exists(r.path(f"{prefix}{i}.out")):
        runs.append(r.rush(f"{prefix}{i}"))
        i += 1
    return runs


def section_machine(r):
    m = r.machine
    rows = [["CPUs (nproc)", m.get("nproc", "?")], ["CPU model", m.get("cpu_model", "?")],
            ["kernel", m.get("kernel", "?")], ["OS", m.get("os", "?")], ["Redis", m.get("redis", "?")],
            ["memory", f"{int(m.get('mem_total_kb', '0') or 0) // 1024:,} MB"],
            ["load average (1/5/15 min) at start / end", f"{m.get('loadavg_start', '?')} / {m.get('loadavg_end', '?')}"],
            ["run", f"{m.get('date', '?')}, commit {m.get('commit', '?')}"],
            ["sizes", m.get("sizes", "?")]]
    if m.get("broker_args") or m.get("worker_args"):
        rows.append(["extra flags", f"broker `{m.get('broker_args', '')}`, workers `{m.get('worker_args', '')}`"])
    return "## The machine\n\n" + table(["", ""], rows) + (
        "\n\nClients and servers share these cores: tix-rush and redis-benchmark take CPU from the stack "
        "they measure. The machine is shared with other tenants, so absolute numbers move between runs; "
        "the ratios, measured minutes apart on the same Redis, are the point.\n")


def section_targets(r):
    a1, b, c, e = r.bench("a1"), r.rush("b"), r.rush("c"), r.rush("e")
    runs = [j for j in rush_runs(r) if j]
    rows = []
    if runs:
        walls = [j["wall_ms"] for j in runs]
        p99s = [j["latency_us"]["p99"] / 1000.0 for j in runs]
        ok_all = all(answered_ok(j) and j["outcomes"]["PURCHASED"] == 200 for j in runs)
        mw, mp = statistics.median(walls), statistics.median(p99s)
        rows.append([f"{runs[0]['users']:,} users / 200 tickets: every call answered, exactly 200 PURCHASED",
                     f"{sum(1 for j in runs if answered_ok(j) and j['outcomes']['PURCHASED'] == 200)} of {len(runs)} runs",
                     verdict(ok_all)])
        rows.append([f"… whole rush answered within {TARGET_RUSH_WALL_MS} ms (median of {len(runs)}, "
                     f"{runs[0]['in_flight']:,} in flight)",
                     f"{mw:.0f} ms (runs: {', '.join(f'{w:.0f}' for w in walls)})", verdict(mw <= TARGET_RUSH_WALL_MS)])
        rows.append([f"… p99 latency ≤ {TARGET_RUSH_P99_MS} ms (median of {len(runs)})",
                     f"{mp:.1f} ms (runs: {', '.join(f'{p:.1f}' for p in p99s)})", verdict(mp <= TARGET_RUSH_P99_MS)])
        alls = [j for j in rush_runs(r, "dall") if j]
        if alls:
            aw = statistics.median(j["wall_ms"] for j in alls)
            ap = statistics.median(j["latency_us"]["p99"] / 1000.0 for j in alls)
            ok = all(answered_ok(j) and j["outcomes"]["PURCHASED"] == 200 for j in alls)
            rows.append([f"… the same with all {alls[0]['users']:,} users released at once (median of {len(alls)}): "
                         f"answered, 200 PURCHASED / wall / p99",
                         f"{'yes' if ok else 'NO'} / {aw:.0f} ms / {ap:.1f} ms",
                         verdict(ok and aw <= TARGET_RUSH_WALL_MS and ap <= TARGET_RUSH_P99_MS)])
    if b and a1:
        rb = ratio(b["answers_per_s"], a1["rps"])
        rows.append(["sustained purchases end to end ≥ unpipelined redis-benchmark (b / a(-P 1) ≥ 1.0)",
                     f"{fmt_int(b['answers_per_s'])}/s vs {fmt_int(a1['rps'])}/s = {fmt_ratio(rb)}", verdict(rb >= 1.0)])
        rows.append([f"sustained purchases ≥ {TARGET_SUSTAINED_PER_S:,}/s", f"{fmt_int(b['answers_per_s'])}/s",
                     verdict(b["answers_per_s"] >= TARGET_SUSTAINED_PER_S)])
    if c and a1:
        rc = ratio(c["answers_per_s"], a1["rps"])
        rows.append(["sold-out path end to end ≥ 2 × unpipelined redis-benchmark (c / a(-P 1) ≥ 2.0)",
                     f"{fmt_int(c['answers_per_s'])}/s vs {fmt_int(a1['rps'])}/s = {fmt_ratio(rc)}", verdict(rc >= 2.0)])
        dc = r.delta("c")
        if dc and dc.get("redis_fcalls") is not None:
            rows.append(["… the sold-out path never touches Redis (FCALLs during (c))",
                         f"{dc['redis_fcalls']:,} FCALLs for {c['users']:,} users", verdict(dc["redis_fcalls"] == 0)])
    if e:
        hwm = r.hwm_kb("e")
        rows.append([f"{e['users']:,} users at once: all answered", f"{e['answered']:,} answered, errors {e['errors'] or 'none'}",
                     verdict(answered_ok(e))])
        if hwm is not None:
            rows.append([f"… broker peak RSS ≤ {TARGET_BROKER_RSS_MB} MB", f"{hwm / 1024:.1f} MB",
                         verdict(hwm <= TARGET_BROKER_RSS_MB * 1024)])
    return "## Targets (issue 4)\n\n" + table(["target", "measured", "result"], rows) + "\n"


def batch_lines(r):
    """results/batches.txt: per worker, the key=value fields of its "buy batches" exit line."""
    out = {}
    if os.path.exists(r.path("batches.txt")):
        for line in open(r.path("batches.txt")):
            role, _, rest = line.strip().partition(" ")
            out[role] = dict(f.split("=", 1) for f in rest.split() if "=" in f)
    return out


def _sustained_miss(r, a16, b, d, many):
    """The measured cause of a sustained MISS: whether Redis or the rest of the machine bounds (b)."""
    cap = ratio(many["rps"] * 64, a16["rps"]) if many else None
    text = "\nWhy the MISS, measured here: "
    if cap is not None:
        text += (f"Redis alone, fed batches of 64 with nothing else in the way, reaches {fmt_ratio(cap)} the "
                 "-P 16 ceiling" + (" (so Redis is not what bounds (b)). " if cap >= TARGET_BATCH_RATIO else ". "))
    if d and d.get("redis") is not None and b.get("calls"):
        roles = [d[x] or 0 for x in ("redis", "broker", "worker1", "worker2")]
        cpu = sum(roles) + (b.get("cpu_s") or 0)
        per = cpu * 1e6 / b["calls"]
        need = TARGET_BATCH_RATIO * a16["rps"] * per / 1e6
        text += (f"In (b) every purchase cost {per:.1f} µs of CPU on this machine (Redis "
                 f"{roles[0] * 1e6 / b['calls']:.1f}, broker {roles[1] * 1e6 / b['calls']:.1f}, workers "
                 f"{(roles[2] + roles[3]) * 1e6 / b['calls']:.1f}, tix-rush {(b.get('cpu_s') or 0) * 1e6 / b['calls']:.1f}"
                 f"): {TARGET_BATCH_RATIO}× a(-P 16) = {fmt_int(TARGET_BATCH_RATIO * a16['rps'])}/s would take "
                 f"{need:.1f} cores of the {os.cpu_count()} this machine has, shared with its other tenants, "
                 "while redis-benchmark's ceiling needs Redis's CPU alone.\n")
    return text


def section_sustained(r):
    """Issue 18: one sale, sustained, against redis-benchmark's -P 16 ceiling of the same run."""
    a16, b, d = r.bench("a16"), r.rush("b"), r.delta("b")
    if not a16 or not b:
        return ""
    rows = []
    rb = ratio(b["answers_per_s"], a16["rps"])
    purchased = b["outcomes"].get("PURCHASED", 0)
    rows.append([f"sustained purchases on one sale ≥ {TARGET_BATCH_RATIO}× redis-benchmark `FCALL tix_buy -P 16` "
                 "(b / a(-P 16))",
                 f"{fmt_int(b['answers_per_s'])}/s vs {fmt_int(a16['rps'])}/s = {fmt_ratio(rb)}; "
                 f"{purchased:,} of {b['users']:,} PURCHASED",
                 verdict(rb is not None and rb >= TARGET_BATCH_RATIO and answered_ok(b) and purchased == b["users"])])
    if d:
        svc = sum(d[x] for x in ("broker", "worker1", "worker2") if d[x] is not None)
        per = svc * 1e6 / b["calls"] if b.get("calls") else None
        rows.append([f"service CPU (broker + workers) ≤ {TARGET_BATCH_CPU_US} µs per purchase",
                     "-" if per is None else f"{per:.1f} µs (broker {d['broker']:.2f} s, workers "
                     f"{(d['worker1'] or 0) + (d['worker2'] or 0):.2f} s, {b['calls']:,} calls)",
                     verdict(per is not None and per <= TARGET_BATCH_CPU_US)])
        if d.get("redis_fcalls"):
            rows.append(["purchases per FCALL during (b) (the batches' mean size, from INFO commandstats)",
                         f"{b['calls'] / d['redis_fcalls']:.1f} ({d['redis_fcalls']:,} FCALLs; Redis "
                         f"{d['redis'] * 1e6 / b['calls']:.1f} µs CPU per purchase vs "
                         f"{_redis_us_per_call(r):s} in a(-P 16))", ""])
    many, dm = r.bench("amany"), r.delta("amany")
    if many:
        n = dm.get("redis_fcalls") if dm else None
        per = f"; Redis {dm['redis'] * 1e6 / (n * 64):.1f} µs CPU per purchase" if n and dm.get("redis") else ""
        rows.append(["Redis alone with batches (redis-benchmark `FCALL tix_buy_many` of 64, -c 8): what Redis "
                     "gives batches decided in Lua, with nothing else in the way",
                     f"{fmt_int(many['rps'] * 64)} purchases/s = {fmt_ratio(ratio(many['rps'] * 64, a16['rps']))} "
                     f"a(-P 16){per}", ""])
    text = ("## One sale, sustained (issue 18)\n\n"
            "(b) against redis-benchmark calling `FCALL tix_buy` with 16 pipelined per connection, 50 "
            "connections, on the same Redis minutes before: the most Redis does one purchase per call. The "
            "workers send the purchases waiting for a sale as one `FCALL tix_buy_many`.\n\n" +
            table(["target", "measured", "result"], rows) + "\n")
    if rb is not None and rb < TARGET_BATCH_RATIO:
        text += _sustained_miss(r, a16, b, d, many)
    lines = batch_lines(r)
    if lines:
        buckets = ["1", "2-3", "4-7", "8-15", "16-31", "32-63", "64-127", "128"]
        hrows = []
        for role in sorted(lines):
            f = lines[role]
            sizes = dict(p.split(":", 1) for p in f.get("sizes", "").split(",") if ":" in p)
            hrows.append([role, f.get("calls", "?"), f.get("buys", "?"), f.get("mean", "?"), f.get("max", "?")] +
                         [sizes.get(k, "?") for k in buckets])
        text += ("\nBuy calls by the number of purchases they carried, from each worker's exit line (the whole "
                 "first stack, every phase that bought):\n\n" +
                 table(["worker", "calls", "buys", "mean", "max"] + buckets, hrows) + "\n")
    return text


def _redis_us_per_call(r):
    d, n = r.delta("a16"), _bench_n(r.machine.get("sizes", ""), "a16")
    return "-" if not d or not n or d.get("redis") is None else f"{d['redis'] * 1e6 / n:.1f} µs"


def rush_row(label, j, a1):
    if not j:
        return [label, "no result", "", "", "", "", ""]
    return [label, fmt_int(j["answers_per_s"]), fmt_ratio(ratio(j["answers_per_s"], a1["rps"] if a1 else None)),
            fmt_ms(j["latency_us"]["p50"]), fmt_ms(j["latency_us"]["p99"]), fmt_ms(j["latency_us"]["max"]),
            "PASS" if j.get("pass") else "FAIL"]


def bench_row(label, b, a1):
    if not b:
        return [label, "no result", "", "", "", "", ""]
    return [label, fmt_int(b["rps"]), fmt_ratio(ratio(b["rps"], a1["rps"] if a1 else None)), f"{b['p50']:.2f}",
            f"{b['p99']:.2f}", f"{b['max']:.2f}", ""]


def section_side_by_side(r):
    a1 = r.bench("a1")
    rows = [bench_row("(a) redis-benchmark FCALL tix_buy, -P 1 -c 50", a1, a1),
            bench_row("(a) redis-benchmark FCALL tix_buy, -P 16 -c 50", r.bench("a16"), a1),
            bench_row("(a) redis-benchmark FCALL tix_buy on a sold-out sale, -P 1 -c 50", r.bench("a1so"), a1),
            rush_row("(b) tix end to end, sustained purchases (tix-rush)", r.rush("b"), a1),
            rush_row("(c) tix end to end, sold-out sale (tix-rush)", r.rush("c"), a1)]
    for i, j in enumerate(rush_runs(r), 1):
        rows.append(rush_row(f"(d) {users(j)} users / 200 tickets, 2,000 in flight, run {i}", j, a1))
    for i, j in enumerate(rush_runs(r, "dall"), 1):
        rows.append(rush_row(f"(d) {users(j)} users / 200 tickets, all at once, run {i}", j, a1))
    e, f = r.rush("e"), r.rush("f")
    rows.append(rush_row(f"(e) {users(e)} users at once / 200 tickets", e, a1))
    rows.append(rush_row(f"(f) {users(f)} users, sold-out sale", f, a1))
    text = ("## Side by side (appendfsync always)\n\n"
            "Throughput is answers per second (tix-rush: final answers from the first send to the last answer; "
            "redis-benchmark: its requests/s). Latencies in ms; tix-rush's are per user, first send to final "
            "answer, retries included.\n\n")
    return text + table(["run", "answers/s", "÷ a(-P 1)", "p50", "p99", "max", "checks"], rows) + "\n"


def section_latency(r):
    rows = []
    for label, name in [("(b) sustained", "b"), ("(c) sold out", "c")] + \
            [(f"(d) rush {i}", f"d{i}") for i in range(1, len(rush_runs(r)) + 1)] + \
            [(f"(d) rush {i}, all at once", f"dall{i}") for i in range(1, len(rush_runs(r, "dall")) + 1)] + \
            [("(e) all at once", "e"), ("(f) many users, sold out", "f"), ("(g) sustained, everysec", "g_b")]:
        j = r.rush(name)
        if not j:
            continue
        l = j["latency_us"]
        rows.append([label, fmt_int(j["users"]), fmt_ms(l["p50"]), fmt_ms(l["p90"]), fmt_ms(l["p99"]),
                     fmt_ms(l["p999"]), fmt_ms(l["max"]), f"{j['wall_ms']:.0f}",
                     "-" if j["sellout_ms"] is None else f"{j['sellout_ms']:.0f}",
                     fmt_int(j["retries"]["RESOURCE_EXHAUSTED"]), fmt_int(j["retries"]["UNAVAILABLE"]),
                     f"{j['peak_rss_kb'] / 1024:.1f}"])
    return ("## Latency and the rushes (tix-rush)\n\n"
            "Per-user latency from an HDR-style log-linear histogram (≤ 0.4% bucket error). `wall` is the "
            "first send to the last answer; `sold out` is the first send to the PURCHASED answer that sold the "
            "last ticket. Retries are answers RESOURCE_EXHAUSTED/UNAVAILABLE that the user sent again "
            "(same request_id) after retry_after_ms.\n\n" +
            table(["run", "users", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "wall ms", "sold out ms",
                   "retries RE", "retries UNAV", "tix-rush RSS MB"], rows) + "\n")


def section_cpu(r):
    rows = []
    for label, name, kind in [("(a) -P 1", "a1", "bench"), ("(a) -P 16", "a16", "bench"), ("(b) sustained", "b", "rush"),
                              ("(c) sold out", "c", "rush"), ("(d) rush 1", "d1", "rush"), ("(e) all at once", "e", "rush"),
                              ("(f) many users, sold out", "f", "rush")]:
        d = r.delta(name)
        n = (r.rush(name) or {}).get("calls") if kind == "rush" else None
        if kind == "bench":
            cfg = r.machine.get("sizes", "")
            n = _bench_n(cfg, name)
        if not d:
            continue
        svc = sum(d[x] for x in ("broker", "worker1", "worker2") if d[x] is not None)
        per = f"{svc * 1e6 / n:.1f}" if n and kind == "rush" else "-"
        rush_cpu = (r.rush(name) or {}).get("cpu_s")
        rows.append([label, fmt_int(n), f"{d['broker']:.2f}", f"{d['worker1'] + d['worker2']:.2f}", f"{d['redis']:.2f}",
                     "-" if rush_cpu is None else f"{rush_cpu:.2f}", per,
                     f"{d['redis'] * 1e6 / n:.1f}" if n else "-", fmt_int(d["redis_fcalls"])])
    procs = []
    if os.path.exists(r.path("procs.txt")):
        for line in open(r.path("procs.txt")):
            role, pid, hwm, ticks = line.split()
            procs.append([role, f"{int(hwm) / 1024:.1f}", f"{float(ticks) / r.tck:.1f}"])
    e_hwm, f_hwm = r.hwm_kb("e"), r.hwm_kb("f")
    text = ("## CPU and memory per process\n\n"
            "CPU seconds (utime + stime from /proc/PID/stat) each process spent during each phase; "
            "`service µs/call` is broker + both workers per call tix-rush sent (the Node.js comparison in issue 4 "
            "is 45–60 µs per request). The machine has 2 cores shared by everything listed.\n\n" +
            table(["phase", "calls", "broker s", "workers s", "redis s", "tix-rush s", "service µs/call",
                   "redis µs/call", "FCALLs"], rows) +
            "\n\nPeak RSS (VmHWM) over the whole run and total CPU, read from /proc before the processes "
            "were stopped:\n\n" + table(["process", "peak RSS MB", "CPU s"], procs) + "\n")
    if e_hwm is not None:
        text += f"\nBroker peak RSS during (e) alone (VmHWM reset before it): **{e_hwm / 1024:.1f} MB**"
        if f_hwm is not None:
            text += f"; during (f): {f_hwm / 1024:.1f} MB"
        text += ".\n"
    return text


def _bench_n(sizes, name):
    parts = dict(p.split("=", 1) for p in sizes.split() if "=" in p)
    try:
        return int(parts.get({"a1": "a1", "a16": "a16"}[name], "0"))
    except (KeyError, ValueError):
        return None


def section_everysec(r):
    a1, a16, gb = r.bench("g_a1"), r.bench("g_a16"), r.rush("g_b")
    if not (a1 or gb):
        return ""
    rows = [bench_row("redis-benchmark FCALL tix_buy, -P 1 -c 50", a1, a1),
            bench_row("redis-benchmark FCALL tix_buy, -P 16 -c 50", a16, a1),
            rush_row("tix end to end, sustained purchases", gb, a1)]
    return ("## The fsync cost: appendfsync everysec — NOT the production setting\n\n"
            "tix requires `appendfsync always` (DESIGN.md guarantee 5: a PURCHASED reply is on disk). With "
            "`always`, Redis fsyncs the AOF once per event-loop turn that wrote, so throughput of writes is "
            "bounded by fsync latency × how many writes share one turn: one connection sending one call at a "
            "time (redis-benchmark -P 1 per client) shares little, pipelined workers share more. This section "
            "switches the same Redis to `everysec` for a moment only to show how much of each figure is fsync; "
            "these numbers are not what tix delivers in production.\n\n" +
            table(["run (everysec)", "answers/s", "÷ a(-P 1) everysec", "p50", "p99", "max", "checks"], rows) + "\n")


def section_profile(r):
    parts = []
    for role, title in [("broker", "tix-broker (all threads)"), ("worker1", "tix-worker w1 (all threads)"),
                        ("redis", "redis-server"), ("rush", "tix-rush (the client)")]:
        p, pd, ps = (r.path(f"profile-{role}{x}.txt") for x in ("", "-dso", "-share"))
        if not (os.path.exists(p) and os.path.getsize(p) > 0):
            continue
        share = open(ps).read().split("%")[0].strip() if os.path.exists(ps) else ""
        dso = open(pd).read().rstrip() if os.path.exists(pd) else ""
        parts.append(f"### {title}" + (f" — {share}% of all samples" if share else "") +
                     f"\n\nBy library (sum of its symbols):\n\n```\n{dso}\n```\n\nTop symbols:\n\n```\n"
                     f"{open(p).read().rstrip()}\n```\n")
    if not parts:
        return ""
    return ("## Where the CPU goes (perf record -e cpu-clock -g, sustained purchases)\n\n"
            "Recorded in a separate phase (p), a sustained run like (b), so that profiling does not disturb the "
            "figures above. Percentages are of each process's own samples (`--percentage relative`); the share "
            "of all samples recorded (stack + tix-rush) is in each heading.\n\n" + "\n".join(parts))


def section_method(r):
    return """## Method

- **Stack**: `bench/run.sh` starts redis-server (`appendonly yes`, `appendfsync always`, automatic AOF
  rewrite off so that a background rewrite does not land in one phase only), tix-broker with its
  defaults (plus `BENCH_BROKER_ARGS`), two tix-workers (plus `BENCH_WORKER_ARGS`), on free ports.
- **(a)** `redis-benchmark -c 50 -P 1|16 -r 100000000 FCALL tix_buy 4 tix:{S}:sale tix:{S}:stock
  tix:{S}:buyers tix:{S}:log S u:__rand_int__ r` — the very function a worker calls, on the same Redis,
  distinct users, a sale with 10,000,000 tickets; and the same on a sold-out sale.
- **(b)** `tix-rush --users 200000 --in-flight 2000` on a 10,000,000-ticket sale: every answer a
  PURCHASED, end to end through libtix, broker, worker, Redis.
- **(c)** `tix-rush --no-create --users 200000` on a sale sold out by (d): whatever the broker does
  with a sold-out sale is what is measured; Redis FCALLs during the phase are counted.
- **(d)** the default rush: 20,000 users, 200 tickets, 2,000 in flight (tix-rush's default window), and
  again with all 20,000 released at once. The targets are judged on the median of the runs.
- **(e)** 200,000 users released at once (`--in-flight 200000 --connections 4`): admission control
  answers RESOURCE_EXHAUSTED, tix-rush retries after retry_after_ms; broker VmHWM is reset
  (`/proc/PID/clear_refs` 5) before the phase, so its peak is this phase's.
- **(w)/(s)** three pairs, after (c): `tix-bench-echo --calls 400000 --in-flight 2000` (the ZeroMQ ceiling,
  bench/echo.c), then `tix-rush --no-create --users 200000 --in-flight 2000` on the sale sold out by (d);
  (ps) is one more such burst under `perf record` of the broker alone.
- **(f)** 1,000,000 users on the sold-out sale: tix-rush's own peak RSS shows its memory is bounded.
- **(m)** on the first stack's Redis, after (p): sustained purchases (60,000 users), three 20,000-user /
  200-ticket rushes and 200,000 users on the sold-out sale with one broker; then a second tix-broker, both
  workers restarted with `--backend A,B --events-in A,B`, and the same through `tix-rush --frontend A,B`.
- **(r)** on a fresh redis-server: sustained purchases (60,000 users) and three rushes on it alone; again with
  two replicas attached (`--replicaof`, `appendonly yes`, `appendfsync always`; the primary set to
  `min-replicas-to-write 1`, `min-replicas-max-lag 10`) and the gate off; again with the workers restarted
  at `--redis-min-replicas 1`. Straight `redis://` to the primary: no Sentinel, as no failover is measured.
  (m) and (r) restart the workers: the per-process totals above are the first stack's, phases (a)-(p).
- **CPU** per process from `/proc/PID/stat` (utime + stime) before and after each phase; **peak RSS**
  from `/proc/PID/status` VmHWM. tix-rush reports its own (getrusage).
- **Noise**: this is a shared 2-core machine; tix-rush, redis-benchmark, Redis, the broker and both
  workers all compete for the same two cores. Compare ratios within one run; rerun for new figures.
"""


def smoke_check(r):
    missing = []
    for p in ["a1", "a16", "amany", "a1so", "g_a1", "g_a16"]:
        if not r.bench(p):
            missing.append(p + " (redis-benchmark CSV)")
    for p in ["b", "c", "d1", "dall1", "e", "f", "g_b"]:
        j = r.rush(p)
        if not j or r.rc(p) not in (0, 1):
            missing.append(p + " (tix-rush JSON)")
    for p in ["h0_1", "h1_1", "m1_b", "m1_c", "m1_d1", "m2_b", "m2_c", "m2_d1", "r0_b", "r0_d1", "rn_b", "r1_b", "r1_d1", "r1e_b"]:
        j = r.rush(p)
        if not answered_ok(j) or r.rc(p) != 0:
            missing.append(p + " (tix-rush JSON, every user answered)")
    d = r.delta("r1_b")
    if not d or not d.get("redis_waits"):
        missing.append("r1_b (WAITs on the primary: the gate was not on)")
    d = r.delta("m2_b")
    if not d or d.get("broker2") is None:
        missing.append("m2_b (the second broker's CPU)")
    for p in ["w1"]:
        if not os.path.exists(r.path(p + ".out")) or r.rc(p) != 0:
            missing.append(p + " (tix-bench-echo JSON)")
    for p in ["s1"]:
        if not answered_ok(r.rush(p)) or r.rc(p) != 0:
            missing.append(p + " (tix-rush JSON, every user answered)")
    for p in ["b", "c", "d1", "s1"]:
        if not r.delta(p):
            missing.append(p + " (process snapshots)")
    return missing


def main(argv):
    smoke = "--smoke" in argv
    sustained = "--sustained" in argv
    args = [a for a in argv[1:] if a not in ("--smoke", "--sustained")]
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    r = Results(args[0])
    if sustained:
        print("# tix: one sale, sustained (bench/run.sh --sustained-only)\n")
        print(section_sustained(r) or "no (a) or (b) result\n")
        print(section_machine(r))
        return 0
    if smoke:
        missing = smoke_check(r)
        if missing:
            sys.stderr.write("bench smoke: missing results: " + ", ".join(missing) + "\n")
            return 1
    print("# tix benchmarks\n")
    print("Generated by `bench/run.sh` (raw results: `bench/run.sh --keep`; regenerate this page by running it "
          "again; `bench/report.py DIR` rebuilds it from kept results). One machine, one run: "
          "redis-server (appendonly yes, appendfsync always), tix-broker and two tix-workers started by the "
          "script on free ports, tix-rush and redis-benchmark as clients on the same machine.\n")
    if smoke:
        print("**Smoke run: tiny sizes, targets not meaningful.**\n")
    import report_edge  # noqa: E402 - it imports this module's helpers
    import report_ha  # noqa: E402 - it imports this module's helpers
    import report_obs  # noqa: E402 - the same

    for s in (section_targets, section_sustained, report_edge.section_edge, section_side_by_side, section_latency,
              section_cpu, report_ha.section_brokers, report_ha.section_replicated, report_obs.section_metrics,
              section_everysec, section_profile, section_method, section_machine):
        text = s(r)
        if text:
            print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
