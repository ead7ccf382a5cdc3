"""Generates tix/tix_pb2.py from tix.proto while the package is built.

The generated code is never committed: `pip install ./clients/python` (or
`python3 -m build`) runs protoc on ../../proto/tix.proto (or, in an sdist,
on the copy in tix/) and puts tix_pb2.py into the built package. protoc is
Debian's protobuf-compiler; grpcio-tools' bundled protoc is used when no
protoc is on PATH.
"""
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = os.path.dirname(os.path.abspath(__file__))


def proto_path():
    for p in (os.path.join(HERE, "..", "..", "proto", "tix.proto"), os.path.join(HERE, "tix", "tix.proto")):
        if os.path.isfile(p):
            return os.path.abspath(p)
    sys.exit("tix-client: tix.proto not found (build from the tix repository, clients/python)")


def protoc(proto, out_dir):
    args = ["-I", os.path.dirname(proto), "--python_out=" + out_dir, proto]
    if shutil.which("protoc"):
        subprocess.run(["protoc"] + args, check=True)
        return
    try:
        from grpc_tools import protoc as grpc_protoc
    except ImportError:
        sys.exit("tix-client: protoc not found: apt-get install protobuf-compiler (or pip install grpcio-tools)")
    if grpc_protoc.main(["protoc"] + args) != 0:
        sys.exit("tix-client: protoc failed on " + proto)


class BuildPy(build_py):
    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "tix")
        os.makedirs(out, exist_ok=True)
        protoc(proto_path(), out)


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        shutil.copy(proto_path(), os.path.join(base_dir, "tix", "tix.proto"))


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
