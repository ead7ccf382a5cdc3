"use strict";
// tix-client: an async Node.js client for tix. The contract is the tix
// repository's docs/PROTOCOL.md; README.md here shows the API.
const { Client } = require("./lib/client");
const { Code, TixError } = require("./lib/errors");
const { CurveKeys, loadPublicKey, loadSecretPair } = require("./lib/keys");

module.exports = { Client, Code, TixError, CurveKeys, loadPublicKey, loadSecretPair };
