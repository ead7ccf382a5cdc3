#!/usr/bin/env python3
"""check_doc_links.py - every relative link and doc path in the repo stays inside it.

The repository must stand alone: a Markdown link or a `docs: PATH` pointer
to a file outside the repository (../shared/..., say) or to a file that
does not exist fails this check. Web links (http, https) are not checked.
Usage: check_doc_links.py [REPO_ROOT]
"""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
LINK = re.compile(r"\]\(([^)\s#]+)(#[^)]*)?\)")
OUTSIDE = re.compile(r"\.\./shared/|/work/shared")


def tracked_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if os.path.isfile(os.path.join(ROOT, f))]


def main():
    bad = []
    for rel in tracked_files():
        if rel == "tests/check_doc_links.py":
            continue
        path = os.path.join(ROOT, rel)
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append("%s:%d: points outside the repository: %s" % (rel, n, line.strip()))
            if not rel.endswith(".md"):
                continue
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r"[a-z]+:", target):
                    continue
                full = os.path.normpath(os.path.join(os.path.dirname(path), target))
                if not full.startswith(ROOT + os.sep):
                    bad.append("%s:%d: link leaves the repository: %s" % (rel, n, target))
                elif not os.path.exists(full):
                    bad.append("%s:%d: link to a missing file: %s" % (rel, n, target))
    for b in bad:
        print(b)
    print("check_doc_links: %d problem(s)" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
