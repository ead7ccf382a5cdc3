#!/usr/bin/env python3
"""check_layers.py - the layers inside each service run one way.

Within one directory (a service, or common/, proto/, a client), the files
form layers: a file may use what files below it define, never what files
above it define. Two views of "uses", both checked, both must be acyclic:

  includes  x.c or x.h includes y.h (x.c, x.h and its private x_priv.h or
            x_internal.h are one node; a header without a .c is its own)
  calls     x.o has an undefined symbol that y.o defines (nm on the objects
            of the build tree); a lower layer that must reach up takes a
            callback, which nm does not see, and that is the point

It also checks that no function of these directories runs over
MAX_FUNCTION_LINES lines (clang-format puts a function's braces alone in
column 0, which is what the count relies on).

A circle or a long function is printed and the check fails. Usage:
  tests/check_layers.py BUILD_DIR      (run by tests/lint.sh)
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ["common", "proto", "broker", "sale-worker", "persister",
        "clients/libtix", "clients/cli", "clients/rush"]
MAX_FUNCTION_LINES = 60
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def module(path):
    """x.c, x.h, x_priv.h and x_internal.h are one module: x."""
    return re.sub(r"_(priv|internal)$", "", stem(path))


def include_graph(d):
    """Module stem -> stems of this directory's headers it includes."""
    full = os.path.join(ROOT, d)
    files = [f for f in os.listdir(full) if f.endswith((".c", ".h"))]
    local = {stem(f) for f in files if f.endswith(".h")}
    graph = {}
    for f in files:
        if f == "main.c":
            continue
        with open(os.path.join(full, f), encoding="utf-8") as fh:
            text = fh.read()
        node = graph.setdefault(module(f), set())
        for inc in INCLUDE.findall(text):
            if stem(inc) in local and module(inc) != module(f):
                node.add(module(inc))
    return graph


def objects(build, d):
    """Object files of directory d in the build tree (main.c excluded)."""
    found = []
    cmake = os.path.join(build, "CMakeFiles")
    for target in os.listdir(cmake) if os.path.isdir(cmake) else []:
        base = os.path.join(cmake, target, d)
        if not target.endswith(".dir") or not os.path.isdir(base):
            continue
        for f in os.listdir(base):
            if f.endswith(".c.o") and f != "main.c.o":
                found.append(os.path.join(base, f))
    return found


def call_graph(build, d):
    """Object stem -> stems of the objects (same directory) it calls into."""
    defined, undefined = {}, {}
    for obj in objects(build, d):
        node = stem(stem(obj))  # x.c.o -> x
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = node
            elif len(parts) == 2 and parts[0] == "U":
                undefined.setdefault(node, set()).add(parts[1])
    graph = {n: set() for n in set(defined.values()) | set(undefined)}
    for node, syms in undefined.items():
        for sym in syms:
            owner = defined.get(sym)
            if owner and owner != node:
                graph[node].add(owner)
    return graph


def long_functions(d):
    """(file:line, name, lines) of each function body over the limit."""
    full = os.path.join(ROOT, d)
    found = []
    for f in sorted(os.listdir(full)):
        if not f.endswith(".c"):
            continue
        with open(os.path.join(full, f), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        start = None
        for i, line in enumerate(lines):
            if line == "{":
                start = i
            elif line.startswith("}") and start is not None:
                if i - start - 1 > MAX_FUNCTION_LINES:
                    name = lines[start - 1].split("(")[0]
                    found.append((f"{d}/{f}:{start}", name, i - start - 1))
                start = None
    return found


def circles(graph):
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    failed = 0
    for d in DIRS:
        if not os.path.isdir(os.path.join(ROOT, d)):
            continue
        for kind, graph in (("includes", include_graph(d)), ("calls", call_graph(build, d))):
            for comp in circles(graph):
                print(f"check_layers: {d}: {kind} run in a circle: {' <-> '.join(comp)}")
                failed += 1
        for where, name, n in long_functions(d):
            print(f"check_layers: {where}: {name} is {n} lines (at most {MAX_FUNCTION_LINES})")
            failed += 1
    if failed:
        return 1
    print(f"check_layers: {len(DIRS)} directories, includes and calls run one way, "
          f"no function over {MAX_FUNCTION_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
