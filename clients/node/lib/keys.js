"use strict";
// CURVE keys from the certificate files `tix keygen` writes (czmq zcert):
// NAME holds `public-key = "..."`, NAME_secret also `secret-key = "..."`,
// 40-character Z85 strings. Z85 uses '#': values are read as the quoted
// string on their line, never by stripping comments.
const fs = require("fs");

const LINE = /^\s*(public-key|secret-key)\s*=\s*"([^"]{40})"\s*$/;

function readKeys(path) {
  const found = {};
  for (const line of fs.readFileSync(path, "utf8").split("\n")) {
    const m = LINE.exec(line);
    if (m) found[m[1]] = m[2];
  }
  return found;
}

function loadPublicKey(path) {
  const key = readKeys(path)["public-key"];
  if (!key) throw new Error(`${path}: no public-key in this certificate file`);
  return key;
}

// { publicKey, secretKey } of a certificate; path is NAME or NAME_secret.
// A secret file that group or others may access is refused.
function loadSecretPair(path) {
  if (!path.endsWith("_secret")) path += "_secret";
  const mode = fs.statSync(path).mode & 0o777;
  if (mode & 0o077) {
    throw new Error(`secret key file ${path} is accessible by group or others (mode 0${mode.toString(8)}); run: chmod 600 ${path}`);
  }
  const keys = readKeys(path);
  if (!keys["public-key"] || !keys["secret-key"]) {
    throw new Error(`${path}: not a secret certificate (public-key and secret-key expected)`);
  }
  return { publicKey: keys["public-key"], secretKey: keys["secret-key"] };
}

// What a CURVE client needs: its own pair and the broker's public key.
class CurveKeys {
  constructor(publicKey, secretKey, serverKey) {
    Object.assign(this, { publicKey, secretKey, serverKey });
  }

  static fromFiles(secretPath, serverPath) {
    const { publicKey, secretKey } = loadSecretPair(secretPath);
    return new CurveKeys(publicKey, secretKey, loadPublicKey(serverPath));
  }

  // From TIX_CURVE_SECRET and TIX_CURVE_SERVER_KEY; null when neither is set.
  static fromEnv(env = process.env) {
    const secret = env.TIX_CURVE_SECRET || "";
    const server = env.TIX_CURVE_SERVER_KEY || "";
    if (!secret && !server) return null;
    if (!secret || !server) throw new Error("TIX_CURVE_SECRET and TIX_CURVE_SERVER_KEY must be set together");
    return CurveKeys.fromFiles(secret, server);
  }
}

module.exports = { CurveKeys, loadPublicKey, loadSecretPair };
