#!/usr/bin/env python3
"""stack.py - a real tix stack on free loopback ports, for the client tests.

Starts redis-server (appendonly yes, appendfsync always, in a temp dir), the
built tix-broker and one tix-worker, and waits until the broker answers
Health SERVING (asked with the built `tix health`, so that this file needs
nothing but the standard library and runs under any python3). With
curve=True it first makes keys with `tix keygen` and starts the broker with
CURVE on: keys/client and keys/admin are allowed clients, keys/admin is
also the admin, keys/stranger is on no list.

Used two ways:
  - imported (the Python client's tests, the PROTOCOL.md example test):
    Stack(build_dir, curve).start(), .restart_broker(), .stop();
  - as a program (the Node.js client's tests): `stack.py BUILD_DIR [--curve]`
    prints one JSON line (frontend, keys), then reads commands on stdin:
    "restart-broker", "kill-broker", "start-broker", "pause-worker",
    "resume-worker" (each answers "ok") and end of input (stops everything).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)  # a poll interval, not a settle time
    raise RuntimeError("stack: timed out waiting for " + what)


class ProcessExited(RuntimeError):
    """A process of the stack ended while the stack started."""


class Stack:
    def __init__(self, build_dir, curve=False):
        self.build = os.path.abspath(build_dir)
        self.curve = curve
        self.dir = tempfile.mkdtemp(prefix="tix-client-test-")
        self.procs = {}
        self.bad_exits = []  # processes that did not stop cleanly
        self._pick_ports()
        self.keys = os.path.join(self.dir, "keys")

    def _pick_ports(self):
        ports = [free_port() for _ in range(5)]
        self.redis_port = ports[0]
        self.frontend = "tcp://127.0.0.1:%d" % ports[1]
        self.backend = "tcp://127.0.0.1:%d" % ports[2]
        self.events_in = "tcp://127.0.0.1:%d" % ports[3]
        self.events_out = "tcp://127.0.0.1:%d" % ports[4]

    # ---- keys ----------------------------------------------------------

    def _keygen(self, name):
        subprocess.run([self._bin("tix"), "keygen", name, "--dir", self.keys], check=True,
                       stdout=subprocess.DEVNULL)
        return os.path.join(self.keys, name)

    def _make_keys(self):
        os.mkdir(self.keys, 0o700)
        for name in ("broker", "worker", "client", "admin", "stranger"):
            self._keygen(name)
        for lst, members in (("clients", ("client", "admin")), ("workers", ("worker",)),
                             ("admins", ("admin",))):
            os.mkdir(os.path.join(self.keys, lst), 0o700)
            for m in members:
                shutil.copy(os.path.join(self.keys, m), os.path.join(self.keys, lst, m))

    def key(self, name):
        """Path of the public certificate NAME (its secret is NAME_secret)."""
        return os.path.join(self.keys, name)

    def client_env(self, who="admin"):
        """Environment for the tix CLI (and the doc example) as client WHO."""
        env = dict(os.environ, TIX_FRONTEND=self.frontend)
        if self.curve:
            env["TIX_CURVE_SECRET"] = self.key(who) + "_secret"
            env["TIX_CURVE_SERVER_KEY"] = self.key("broker")
        return env

    # ---- processes -----------------------------------------------------

    def _bin(self, name):
        return os.path.join(self.build, name)

    def _spawn(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def _redis_ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self, name):
        return open(os.path.join(self.dir, name + ".log"), errors="replace").read()[-4000:]

    def _alive(self):
        """Raises ProcessExited naming a process of the stack that has ended."""
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise ProcessExited("stack: %s exited %s while the stack started; its log:\n%s"
                                    % (name, p.returncode, self._log_tail(name)))
        return True

    def _serving(self):
        r = subprocess.run([self._bin("tix"), "health", "--timeout-ms", "500"], env=self.client_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0

    def start_broker(self):
        argv = [self._bin("tix-broker"), "--frontend", self.frontend, "--backend", self.backend,
                "--events-in", self.events_in, "--events-out", self.events_out]
        if self.curve:
            argv += ["--curve", "--curve-secret", self.key("broker") + "_secret",
                     "--curve-clients", self.key("clients"), "--curve-workers", self.key("workers"),
                     "--curve-admins", self.key("admins")]
        self._spawn("broker", argv)

    def start(self):
        """Starts the stack; on failure stops what it started and raises.
        A process that exits while the stack starts (a port picked free can
        be taken by another program before it is bound) is reported, and the
        stack started once more on new ports."""
        if self.curve:
            self._make_keys()
        try:
            try:
                self._start_processes()
            except ProcessExited as e:
                sys.stderr.write("%s\nstack: starting once more on new ports\n" % e)
                self._stop_processes()
                self.bad_exits = []  # reported just above
                self._pick_ports()
                self._start_processes()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_processes(self):
        self._spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--dir", self.dir, "--appendonly", "yes", "--appendfsync", "always",
                              "--save", "", "--protected-mode", "no"])
        wait_until(lambda: self._alive() and self._redis_ping(), 10, "redis-server")
        self.start_broker()
        argv = [self._bin("tix-worker"), "--backend", self.backend, "--events-in", self.events_in,
                "--redis-url", "redis://127.0.0.1:%d" % self.redis_port, "--worker-id", "w0",
                "--heartbeat-ms", "200"]
        if self.curve:
            argv += ["--curve-secret", self.key("worker") + "_secret",
                     "--curve-server-key", self.key("broker")]
        self._spawn("worker", argv)
        wait_until(lambda: self._alive() and self._serving(), 15, "Health SERVING")

    def _stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p and sig == signal.SIGTERM and p.returncode != 0:
            # A clean stop exits 0; a sanitizer report or a crash does not.
            sys.stderr.write("stack: %s exited %s; its log:\n" % (name, p.returncode))
            sys.stderr.write(self._log_tail(name))
            self.bad_exits.append(name)

    def kill_broker(self):
        """The broker dies (SIGKILL): calls in flight at it are lost."""
        self._stop("broker", signal.SIGKILL)

    def pause_worker(self, pause=True):
        """SIGSTOP (or SIGCONT) the worker: calls dispatched to it wait."""
        self.procs["worker"].send_signal(signal.SIGSTOP if pause else signal.SIGCONT)

    def restart_broker(self):
        self.kill_broker()
        self.start_broker()
        wait_until(self._serving, 15, "Health SERVING after a broker restart")

    def _stop_processes(self):
        if "worker" in self.procs:
            self.pause_worker(False)
        for name in ("worker", "broker", "redis"):
            self._stop(name)

    def stop(self):
        """Stops everything; self.bad_exits names what did not stop cleanly."""
        self._stop_processes()
        shutil.rmtree(self.dir, ignore_errors=True)

    def describe(self):
        d = {"frontend": self.frontend, "curve": self.curve}
        if self.curve:
            d["keys"] = {n: self.key(n) for n in ("broker", "client", "admin", "stranger")}
        return d


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: stack.py BUILD_DIR [--curve]")
    stack = Stack(sys.argv[1], curve="--curve" in sys.argv[2:])
    try:
        stack.start()
        print(json.dumps(stack.describe()), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "restart-broker":
                stack.restart_broker()
            elif cmd == "kill-broker":
                stack.kill_broker()
            elif cmd == "start-broker":
                stack.start_broker()
            elif cmd in ("pause-worker", "resume-worker"):
                stack.pause_worker(cmd == "pause-worker")
            else:
                print("unknown command " + cmd, flush=True)
                continue
            print("ok", flush=True)
    finally:
        stack.stop()
    sys.exit(1 if stack.bad_exits else 0)


if __name__ == "__main__":
    main()
