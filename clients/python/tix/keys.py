"""CURVE keys from the certificate files `tix keygen` writes (czmq zcert).

NAME holds `public-key = "..."`, NAME_secret also `secret-key = "..."`,
both 40-character Z85 strings. Z85 uses '#', so values are read as the
quoted string on their line, never by stripping comments.
"""
import os
import re
import stat
from dataclasses import dataclass

_LINE = re.compile(r'^\s*(public-key|secret-key)\s*=\s*"([^"]{40})"\s*$')


def _read_keys(path):
    found = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = _LINE.match(line)
            if m:
                found[m.group(1)] = m.group(2).encode("ascii")
    return found


def load_public_key(path):
    """The Z85 public key (bytes) of a certificate file."""
    key = _read_keys(path).get("public-key")
    if key is None:
        raise ValueError("%s: no public-key in this certificate file" % path)
    return key


def load_secret_pair(path):
    """(public, secret) Z85 keys of a certificate. path is NAME or NAME_secret;
    NAME_secret is read, and refused when group or others may read it."""
    if not path.endswith("_secret"):
        path += "_secret"
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError("secret key file %s is accessible by group or others (mode %04o); run: chmod 600 %s"
                         % (path, stat.S_IMODE(mode), path))
    keys = _read_keys(path)
    if "public-key" not in keys or "secret-key" not in keys:
        raise ValueError("%s: not a secret certificate (public-key and secret-key expected)" % path)
    return keys["public-key"], keys["secret-key"]


@dataclass(frozen=True)
class CurveKeys:
    """What a CURVE client needs: its own pair and the broker's public key."""
    public: bytes
    secret: bytes
    server: bytes

    @classmethod
    def from_files(cls, secret_path, server_path):
        public, secret = load_secret_pair(secret_path)
        return cls(public, secret, load_public_key(server_path))

    @classmethod
    def from_env(cls, environ=None):
        """From TIX_CURVE_SECRET and TIX_CURVE_SERVER_KEY; None when neither is set."""
        env = os.environ if environ is None else environ
        secret, server = env.get("TIX_CURVE_SECRET", ""), env.get("TIX_CURVE_SERVER_KEY", "")
        if not secret and not server:
            return None
        if not secret or not server:
            raise ValueError("TIX_CURVE_SECRET and TIX_CURVE_SERVER_KEY must be set together")
        return cls.from_files(secret, server)
