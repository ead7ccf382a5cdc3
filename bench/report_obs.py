"""bench/report_obs.py - the section of docs/BENCHMARKS.md on phase (h): the metrics' cost.

The sold-out burst with the broker without --http, then with --http and a scrape every
second, alternating, H_RUNS times each; and tix-metrics-cost, the counting of one answer
alone. Imported by bench/report.py, which owns the Results reader and the table helpers;
standard library only.
"""
import statistics

from report import answered_ok, fmt_int, fmt_ms, read_kv, table, verdict

TARGET_METRICS_RATIO = 1.03  # issue 15: metrics cost under 3% on the hot path


def _runs(r, prefix):
    out = []
    i = 1
    while r.rush(f"{prefix}_{i}") is not None:
        j, d = r.rush(f"{prefix}_{i}"), r.delta(f"{prefix}_{i}")
        broker_us = d["broker"] * 1e6 / j["answered"] if d and d.get("broker") is not None and j["answered"] else None
        out.append((j, broker_us))
        i += 1
    return out


def _med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def section_metrics(r):
    off, on = _runs(r, "h0"), _runs(r, "h1")
    if not off or not on:
        return ""
    rows = []
    for label, runs in (("without --http", off), ("with --http, scraped every 1 s", on)):
        rows.append([label, len(runs), fmt_int(_med(j["answers_per_s"] for j, _ in runs)),
                     "-" if _med(b for _, b in runs) is None else f"{_med(b for _, b in runs):.2f}",
                     fmt_ms(_med(j["latency_us"]["p50"] for j, _ in runs)),
                     fmt_ms(_med(j["latency_us"]["p99"] for j, _ in runs)),
                     "PASS" if all(answered_ok(j) for j, _ in runs) else "FAIL"])
    cpu_off, cpu_on = _med(b for _, b in off), _med(b for _, b in on)
    rate_off, rate_on = _med(j["answers_per_s"] for j, _ in off), _med(j["answers_per_s"] for j, _ in on)
    cost = read_kv(r.path("h_cost.txt")).get("ns_per_answer")
    cpu_ratio = cpu_on / cpu_off if cpu_on and cpu_off else None
    rate_ratio = rate_off / rate_on if rate_on and rate_off else None
    text = ("## The metrics' cost (issue 15)\n\n"
            "The sold-out burst of (c) on the same sale, with the broker restarted without `--http`, then "
            "with `--http` and a `/metrics` scrape every second (curl), alternating. The counters themselves "
            "are always compiled in: their own cost is measured apart by `tix-metrics-cost` (the one "
            "call the broker's send point makes, with the clock read at the call's receipt, 5,000,000 "
            "times) and set against the broker's CPU per answer. Medians of the runs.\n\n" +
            table(["broker", "runs", "answers/s", "broker CPU µs/answer", "p50", "p99", "checks"], rows) + "\n\n")
    if cpu_ratio is not None:
        text += (f"Broker CPU per answer with ÷ without `--http`: **{cpu_ratio:.3f}×**; answers/s without ÷ with: "
                 f"{rate_ratio:.3f}× (target ≤ {TARGET_METRICS_RATIO:.2f}×: "
                 f"{verdict(cpu_ratio <= TARGET_METRICS_RATIO)}).")
    if cost and cpu_off:
        share = float(cost) / 1000.0 / cpu_off
        text += (f" Counting one answer costs **{float(cost):.1f} ns**, {share * 100:.2f}% of the broker's "
                 f"{cpu_off:.2f} µs of CPU per answer without `--http`.")
    return text + "\n"
