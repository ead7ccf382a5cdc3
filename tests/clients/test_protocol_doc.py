#!/usr/bin/env python3
"""test_protocol_doc.py - docs/PROTOCOL.md's example, run as written.

Section 8 of PROTOCOL.md holds a shell block (protoc) and Python blocks (a
client from scratch). This test takes them out of the page, runs the shell
block with $OUT set to a temp dir, then the Python blocks as one script
against a real stack (stack.py), CURVE off and on. The page and the code
cannot drift apart without this failing.

Usage: test_protocol_doc.py BUILD_DIR. Exit 77 (skipped) when protoc or a
python3 with zmq and protobuf is missing (deploy/install-deps.sh installs
them).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import stack  # noqa: E402

BUILD = None
PYTHON = "/usr/bin/python3"  # Debian's python3-zmq and python3-protobuf load here
SKIP = 77


def example_blocks():
    """The (language, code) blocks of PROTOCOL.md section 8, in order."""
    text = open(os.path.join(ROOT, "docs", "PROTOCOL.md")).read()
    section = text[text.index("## 8. Example"):]
    return re.findall(r"^```(sh|python)\n(.*?)^```", section, re.S | re.M)


def missing():
    if not shutil.which("protoc"):
        return "protoc not found (apt-get install protobuf-compiler)"
    r = subprocess.run([PYTHON, "-c", "import zmq, google.protobuf"], capture_output=True)
    if r.returncode != 0:
        return PYTHON + " lacks zmq or protobuf (apt-get install python3-zmq python3-protobuf)"
    return None


class ProtocolDocExample(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="tix-doc-")
        self.addCleanup(shutil.rmtree, self.out, True)
        blocks = example_blocks()
        self.assertEqual([b[0] for b in blocks], ["sh", "python", "python"])
        subprocess.run(["sh", "-euc", blocks[0][1]], cwd=ROOT, check=True, env=dict(os.environ, OUT=self.out))
        self.script = "\n".join(code for lang, code in blocks if lang == "python")

    def run_example(self, curve):
        s = stack.Stack(BUILD, curve=curve).start()
        self.addCleanup(lambda: self.assertEqual(s.bad_exits, []))
        self.addCleanup(s.stop)
        env = s.client_env("admin")
        env["PYTHONPATH"] = self.out
        r = subprocess.run([PYTHON, "-c", self.script], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^PURCHASED doc-[0-9a-f]{8}:[0-9a-z]+:1 remaining 1$")

    def test_example_plain(self):
        self.run_example(curve=False)

    def test_example_curve(self):
        self.run_example(curve=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_protocol_doc.py BUILD_DIR")
    BUILD = sys.argv.pop(1)
    why = missing()
    if why:
        print("SKIPPED: " + why)
        sys.exit(SKIP)
    unittest.main(verbosity=2)
