#!/usr/bin/env python3
"""Checks that every metric a dashboard or a rules file names is one tix exposes.

Usage: check_metrics.py METRICS_TXT FILE...

METRICS_TXT is deploy/monitoring/metrics.txt (name, type, labels, exposed
by; a histogram's name stands for its _bucket, _sum and _count series).
Each FILE is a Grafana dashboard (.json: every "expr", and the metric of
every label_values(...) variable query) or a Prometheus rules file (.yml,
.yaml: every rule's expr, plain or inside a PrometheusRule's spec). Prints
one line per unknown name and exits 1 if there is any; 2 on a usage or
input error.
"""
import json
import re
import sys

import yaml

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def known_metrics(path):
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            name, kind = fields[0], fields[1] if len(fields) > 1 else ""
            names.add(name)
            if kind == "histogram":
                names.update(name + s for s in HISTOGRAM_SUFFIXES)
    return names


def metric_names(expr):
    """The metric names a PromQL expression selects (not functions, labels or keywords)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)  # label lists
    names = []
    for m in re.finditer(r"(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.append(word)
    return names


def dashboard_exprs(doc):
    out = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    out.append(v)
                elif k in ("query", "definition") and isinstance(v, str):
                    m = re.match(r"\s*label_values\(\s*([^,)]+)", v)
                    if m:
                        out.append(m.group(1))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return out


def rules_exprs(doc):
    groups = doc.get("groups") or (doc.get("spec") or {}).get("groups") or []
    return [r["expr"] for g in groups for r in g.get("rules", []) if isinstance(r.get("expr"), str)]


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    known = known_metrics(argv[1])
    unknown, checked = 0, 0
    for path in argv[2:]:
        try:
            with open(path, encoding="utf-8") as f:
                if path.endswith(".json"):
                    exprs = dashboard_exprs(json.load(f))
                else:
                    exprs = [e for d in yaml.safe_load_all(f) if d for e in rules_exprs(d)]
        except (OSError, ValueError, yaml.YAMLError) as e:
            print(f"check_metrics: {path}: {e}", file=sys.stderr)
            return 2
        if not exprs:
            print(f"check_metrics: {path}: no expressions found", file=sys.stderr)
            return 2
        for expr in exprs:
            for name in metric_names(expr):
                checked += 1
                if name not in known:
                    unknown += 1
                    print(f"{path}: unknown metric {name} in: {' '.join(expr.split())}")
        print(f"check_metrics: {path}: {len(exprs)} expressions")
    print(f"check_metrics: {checked} metric references, {unknown} unknown")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
