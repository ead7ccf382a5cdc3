"""bench/report_edge.py - the sold-out edge against the wire (issue 18), for bench/report.py.

Reads phases w1.. (tix-bench-echo JSON: the ZeroMQ ceiling), s1.. (tix-rush JSON: a
sold-out burst right after each echo run, with per-process CPU snapshots), d*/dall*
(the 20,000-user rushes), f (1,000,000 users, with f.hwm) and profile-edge*.txt.
Standard library only.
"""
import json
import os
import statistics

from report import answered_ok, fmt_int, rush_runs, table, verdict

TARGET_EDGE_RATIO = 0.5  # sold-out answers/s over the echo's calls/s
TARGET_EDGE_CPU_US = 4.0  # broker CPU per sold-out answer
TARGET_RUSH18_WALL_MS = 100  # 20,000 users / 200 tickets, median of 5
TARGET_RUSH18_P99_MS = 50
TARGET_RUSH18_ALL_WALL_MS = 150  # all 20,000 at once
TARGET_RSS_MB = 64  # broker and tix-rush with 1,000,000 users


def _echo(r, phase):
    try:
        return json.loads(open(r.path(phase + ".out")).read())
    except (OSError, ValueError):
        return None


def edge_pairs(r):
    """[(echo JSON, rush JSON, broker CPU s, tix-rush CPU s)] for each (w, s) pair run."""
    pairs, i = [], 1
    while os.path.exists(r.path(f"s{i}.out")):
        w, s, d = _echo(r, f"w{i}"), r.rush(f"s{i}"), r.delta(f"s{i}")
        if w and s and d and d.get("broker") is not None:
            pairs.append((w, s, d["broker"], s.get("cpu_s")))
        i += 1
    return pairs


def _cause_ratio(pairs):
    """Why the edge is below half the wire: what each answer costs on the 2 shared cores."""
    broker = statistics.median(b * 1e6 / s["calls"] for _, s, b, _ in pairs)
    rush = statistics.median((c or 0) * 1e6 / s["calls"] for _, s, _, c in pairs)
    echo = statistics.median(w["server_cpu_us_per_call"] + w["client_cpu_us_per_call"] for w, _, _, _ in pairs)
    return (f"measured cause: each sold-out answer costs {broker:.2f} µs of broker CPU and {rush:.2f} µs of "
            f"tix-rush CPU ({broker + rush:.2f} µs on 2 shared cores) against {echo:.2f} µs for an echoed call "
            f"(server + client); tix-rush's own share is {rush / (broker + rush):.0%}")


def _edge_rows(r, pairs):
    ratios = [s["answers_per_s"] / w["calls_per_s"] for w, s, _, _ in pairs]
    cpus = [b * 1e6 / s["calls"] for _, s, b, _ in pairs]
    mr, mc = statistics.median(ratios), statistics.median(cpus)
    ok_all = all(answered_ok(s) for _, s, _, _ in pairs)
    sold_out = sum(s["outcomes"].get("SOLD_OUT", 0) for _, s, _, _ in pairs)
    calls = sum(s["users"] for _, s, _, _ in pairs)
    rows = [[f"sold-out answers/s ≥ {TARGET_EDGE_RATIO}× the ZeroMQ echo (median of {len(pairs)} pairs)",
             f"{mr:.2f}× (runs: {', '.join(f'{x:.2f}' for x in ratios)})", verdict(mr >= TARGET_EDGE_RATIO)],
            ["… every call of the bursts answered, without errors",
             f"{'yes' if ok_all else 'NO'} ({sold_out:,} of {calls:,} SOLD_OUT; the rest the sale's own buyers)",
             verdict(ok_all)],
            [f"broker CPU per sold-out answer ≤ {TARGET_EDGE_CPU_US:g} µs (median)",
             f"{mc:.2f} µs (runs: {', '.join(f'{x:.2f}' for x in cpus)})", verdict(mc <= TARGET_EDGE_CPU_US)],
            ["zero heap allocations per edge answer", "tests/test_broker_edge_alloc.c: 0 in 10,000 answers "
             "(ctest; not measured by this script)", "(test)"]]
    if mr < TARGET_EDGE_RATIO:
        rows[0][1] += "; " + _cause_ratio(pairs)
    if mc > TARGET_EDGE_CPU_US:
        top = _first_lines(r.path("profile-edge.txt"), 3)
        rows[2][1] += "; measured cause: the broker profile's top symbols: " + (top or "no profile (--no-perf)")
    return rows


def _first_lines(path, n):
    if not os.path.exists(path):
        return ""
    return "; ".join(" ".join(line.split()) for line in open(path).read().splitlines()[:n])


def _rush_rows(r):
    rows = []
    runs = [j for j in rush_runs(r) if j]
    if runs:
        mw = statistics.median(j["wall_ms"] for j in runs)
        mp = statistics.median(j["latency_us"]["p99"] / 1000.0 for j in runs)
        rows.append([f"{runs[0]['users']:,} users / 200 tickets ({runs[0]['in_flight']:,} in flight): whole rush "
                     f"≤ {TARGET_RUSH18_WALL_MS} ms, p99 ≤ {TARGET_RUSH18_P99_MS} ms (medians of {len(runs)})",
                     f"{mw:.0f} ms, p99 {mp:.1f} ms",
                     verdict(mw <= TARGET_RUSH18_WALL_MS and mp <= TARGET_RUSH18_P99_MS)])
    alls = [j for j in rush_runs(r, "dall") if j]
    if alls:
        aw = statistics.median(j["wall_ms"] for j in alls)
        rows.append([f"… all {alls[0]['users']:,} released at once ≤ {TARGET_RUSH18_ALL_WALL_MS} ms "
                     f"(median of {len(alls)})", f"{aw:.0f} ms", verdict(aw <= TARGET_RUSH18_ALL_WALL_MS)])
    f, hwm = r.rush("f"), r.hwm_kb("f")
    if f and hwm is not None:
        rush_mb = f.get("peak_rss_kb", 0) / 1024.0
        rows.append([f"{f['users']:,} users on the sold-out sale: all answered, broker and tix-rush "
                     f"< {TARGET_RSS_MB} MB RSS",
                     f"{'yes' if answered_ok(f) else 'NO'}; broker {hwm / 1024:.1f} MB, tix-rush {rush_mb:.1f} MB",
                     verdict(answered_ok(f) and hwm < TARGET_RSS_MB * 1024 and rush_mb < TARGET_RSS_MB)])
    return rows


def section_edge(r):
    pairs = edge_pairs(r)
    if not pairs:
        return ""
    rows = [[str(i + 1), fmt_int(w["calls_per_s"]), f"{w['server_cpu_us_per_call']:.2f}",
             fmt_int(s["answers_per_s"]), f"{s['answers_per_s'] / w['calls_per_s']:.2f}×",
             f"{b * 1e6 / s['calls']:.2f}", "-" if c is None else f"{c * 1e6 / s['calls']:.2f}"]
            for i, (w, s, b, c) in enumerate(pairs)]
    text = ("## The sold-out edge against the wire (issue 18)\n\n"
            "(w) `tix-bench-echo`: a ROUTER answering the frames of a sold-out Purchase (delimiter, TIX1, packed "
            "CallHeader and PurchaseRequest in; delimiter, TIX1, packed ReplyHeader and PurchaseReply out) to a "
            "DEALER keeping 2,000 calls in flight, two processes over tcp loopback: what libzmq alone moves "
            "here. (s), right after each: tix-rush on the sold-out sale with 2,000 in flight, every call "
            "answered at the broker's edge. CPU per answer from /proc (broker) and getrusage (tix-rush).\n\n" +
            table(["pair", "echo calls/s", "echo server µs/call", "edge answers/s", "÷ echo", "broker µs/answer",
                   "tix-rush µs/answer"], rows) + "\n\n" +
            table(["target (issue 18)", "measured", "result"], _edge_rows(r, pairs) + _rush_rows(r)) + "\n")
    prof, dso = r.path("profile-edge.txt"), r.path("profile-edge-dso.txt")
    if os.path.exists(prof) and os.path.getsize(prof) > 0:
        text += ("\n(ps) the broker under a sold-out burst (perf record -e cpu-clock -g, its own samples):\n\n"
                 "By library:\n\n```\n" + (open(dso).read().rstrip() if os.path.exists(dso) else "") +
                 "\n```\n\nTop symbols:\n\n```\n" + open(prof).read().rstrip() + "\n```\n")
    return text
