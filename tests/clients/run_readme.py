#!/usr/bin/env python3
"""run_readme.py - a client README's example, run as written against a real stack.

Usage: run_readme.py BUILD_DIR README.md LANG INTERPRETER [CWD]
Takes the first ```LANG block of README.md, writes it to a file, starts a
plain stack (stack.py) and runs INTERPRETER FILE in CWD with TIX_FRONTEND
set; passes when it exits 0 and prints a PURCHASED line with an order id.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402


def main():
    build, readme, lang, interp = sys.argv[1:5]
    cwd = sys.argv[5] if len(sys.argv) > 5 else None
    m = re.search(r"^```%s\n(.*?)^```" % re.escape(lang), open(readme).read(), re.S | re.M)
    if not m:
        sys.exit("run_readme: no ```%s block in %s" % (lang, readme))
    ext = {"python": ".py", "js": ".js"}.get(lang, "")
    with tempfile.NamedTemporaryFile("w", suffix=ext, dir=cwd, delete=False) as f:
        f.write(m.group(1))
    s = stack.Stack(build).start()
    try:
        env = s.client_env()
        for k in ("PYTHONPATH", "TIX_CURVE_SECRET", "TIX_CURVE_SERVER_KEY"):
            env.pop(k, None)
        r = subprocess.run([interp, f.name], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    finally:
        s.stop()
        os.unlink(f.name)
    print(r.stdout + r.stderr)
    if r.returncode != 0 or not re.search(r"^PURCHASED s1:[0-9a-z]+:1 199$", r.stdout, re.M):
        sys.exit("run_readme: %s's example failed (exit %d)" % (readme, r.returncode))
    print("run_readme: %s's example works as written" % readme)


if __name__ == "__main__":
    main()
