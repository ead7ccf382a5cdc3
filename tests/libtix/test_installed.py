#!/usr/bin/env python3
"""test_installed.py - libtix as a backend service gets it (ctest: test_libtix_*).

  test_installed.py BUILD_DIR pkgconfig   cmake --install into a temp prefix;
      consumer.c built with only `pkg-config tix` (shared, and --static
      against libtix.a), both buy a ticket from a real stack
  test_installed.py BUILD_DIR cmake       the same, built with only
      find_package(tix) (tix::tix, tix::tix_static)
  test_installed.py BUILD_DIR curve       the pkg-config build against a
      CURVE stack, keys given only by TIX_CURVE_SECRET/TIX_CURVE_SERVER_KEY
  test_installed.py BUILD_DIR symbols     nm -D --defined-only libtix.so and
      nm -g libtix.a: tix_ symbols only; the soname is libtix.so.0; a
      program with its own xmalloc links with either
  test_installed.py BUILD_DIR header      the installed tix.h alone:
      cc -std=c11 -Wall -Werror -fsyntax-only, no other include path
  test_installed.py BUILD_DIR client-only a -DTIX_CLIENT_ONLY=ON build:
      libtix and the CLI, no hiredis, libmongoc or cmocka looked for
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
import stack  # noqa: E402  (tests/clients/stack.py)

CONSUMER = os.path.join(HERE, "consumer")


def run(argv, **kw):
    print("$ " + " ".join(argv), flush=True)
    return subprocess.run(argv, check=True, **kw)


def install(build, tmp):
    prefix = os.path.join(tmp, "prefix")
    run(["cmake", "--install", build, "--prefix", prefix], stdout=subprocess.DEVNULL)
    return prefix


def pkg_config(prefix, *args, module="tix"):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    out = run(["pkg-config"] + list(args) + [module], env=env, stdout=subprocess.PIPE, text=True)
    return out.stdout.split()


def build_pkgconfig(prefix, tmp):
    """consumer (libtix.so) and consumer_static (libtix.a), by pkg-config."""
    src = os.path.join(CONSUMER, "consumer.c")
    cflags = pkg_config(prefix, "--cflags")
    shared = os.path.join(tmp, "consumer")
    static = os.path.join(tmp, "consumer_static")
    libdir = pkg_config(prefix, "--variable=libdir")[0]
    run(["cc", "-std=c11", "-Wall", "-Werror", src, "-o", shared] + cflags + pkg_config(prefix, "--libs") +
        ["-Wl,-rpath," + libdir])
    # libtix.a, its dependencies (tix.pc's Requires.private) shared: a fully
    # static link (--static) would need every archive of libzmq's own deps.
    libs = [a if a != "-ltix" else "-l:libtix.a" for a in pkg_config(prefix, "--libs")]
    for dep in pkg_config(prefix, "--print-requires-private"):
        libs += pkg_config(prefix, "--libs", module=dep)
    run(["cc", "-std=c11", "-Wall", "-Werror", src, "-o", static] + cflags + libs)
    return [shared, static]


def build_cmake(prefix, tmp):
    b = os.path.join(tmp, "consumer-build")
    run(["cmake", "-S", CONSUMER, "-B", b, "-DCMAKE_PREFIX_PATH=" + prefix], stdout=subprocess.DEVNULL)
    run(["cmake", "--build", b])
    return [os.path.join(b, "consumer"), os.path.join(b, "consumer_static")]


def buy(build, programs, curve):
    s = stack.Stack(build, curve=curve)
    try:
        s.start()
        for i, prog in enumerate(programs):
            env = s.client_env("admin")
            run([prog, "libtix-sale-%d" % i], env=env)
            if curve:  # without the keys the broker refuses the client
                env.pop("TIX_CURVE_SECRET")
                env.pop("TIX_CURVE_SERVER_KEY")
                p = subprocess.run([prog, "libtix-plain-%d" % i], env=env)
                assert p.returncode != 0, "a plain client was served by a CURVE broker"
    finally:
        s.stop()


OWN_XMALLOC = r"""
#include <stdlib.h>
#include <tix.h>
void *xmalloc(size_t n); /* the application's own, as libtix's once clashed with */
void *xmalloc(size_t n) { return malloc(n); }
int main(void) { tix_client_t *c = tix_client_new("tcp://127.0.0.1:1"); tix_client_destroy(&c); free(xmalloc(1)); return 0; }
"""


def exported(argv):
    out = run(argv, stdout=subprocess.PIPE, text=True).stdout
    names = [line.split()[-1].split("@")[0] for line in out.splitlines() if len(line.split()) == 3]
    print("\n".join(names))
    stray = [n for n in names if not n.startswith("tix_")]
    assert names and not stray, "libtix exports non-tix_ symbols: %s" % stray


def check_symbols(prefix, tmp):
    lib = os.path.join(prefix, "lib")
    so = os.path.join(lib, "libtix.so")
    exported(["nm", "-D", "--defined-only", so])
    exported(["nm", "-g", "--defined-only", os.path.join(lib, "libtix.a")])
    dyn = run(["objdump", "-p", so], stdout=subprocess.PIPE, text=True).stdout
    assert "SONAME               libtix.so.0\n" in dyn, dyn
    # An application with its own xmalloc links with either library.
    src = os.path.join(tmp, "own_xmalloc.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(OWN_XMALLOC)
    cflags = pkg_config(prefix, "--cflags")
    run(["cc", "-std=c11", src, "-o", os.path.join(tmp, "own_shared")] + cflags + pkg_config(prefix, "--libs"))
    static = [a if a != "-ltix" else "-l:libtix.a" for a in pkg_config(prefix, "--libs")]
    for dep in pkg_config(prefix, "--print-requires-private"):
        static += pkg_config(prefix, "--libs", module=dep)
    run(["cc", "-std=c11", src, "-o", os.path.join(tmp, "own_static")] + cflags + static)


def check_header(prefix, tmp):
    inc = os.path.join(tmp, "only")
    os.makedirs(inc)
    with open(os.path.join(prefix, "include", "tix.h"), encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(inc, "tix.h"), "w", encoding="utf-8") as f:
        f.write(text)
    run(["cc", "-std=c11", "-Wall", "-Werror", "-Wextra", "-pedantic", "-fsyntax-only", "-x", "c",
         os.path.join(inc, "tix.h")], cwd=inc)


def check_client_only(tmp):
    b = os.path.join(tmp, "client-only")
    run(["cmake", "-S", ROOT, "-B", b, "-DTIX_CLIENT_ONLY=ON", "-DTIX_WERROR=ON"], stdout=subprocess.DEVNULL)
    run(["nice", "cmake", "--build", b, "-j2"], stdout=subprocess.DEVNULL)
    with open(os.path.join(b, "CMakeCache.txt"), encoding="utf-8") as f:
        cache = f.read().lower()
    for dep in ("hiredis", "mongoc", "cmocka"):
        assert dep not in cache, "a client-only build looked for " + dep
    for f in ("tix", "libtix/libtix.so.0", "libtix/libtix.a"):
        assert os.path.exists(os.path.join(b, f)), f + " not built"
    run([os.path.join(b, "tix"), "--help"], stdout=subprocess.DEVNULL)


def main():
    build, what = os.path.abspath(sys.argv[1]), sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="tix-libtix-") as tmp:
        if what == "client-only":
            check_client_only(tmp)
            return
        prefix = install(build, tmp)
        if what == "pkgconfig":
            buy(build, build_pkgconfig(prefix, tmp), curve=False)
        elif what == "cmake":
            buy(build, build_cmake(prefix, tmp), curve=False)
        elif what == "curve":
            buy(build, build_pkgconfig(prefix, tmp)[:1], curve=True)
        elif what == "symbols":
            check_symbols(prefix, tmp)
        elif what == "header":
            check_header(prefix, tmp)
        else:
            sys.exit("unknown check " + what)
    print("PASSED " + what)


if __name__ == "__main__":
    main()
