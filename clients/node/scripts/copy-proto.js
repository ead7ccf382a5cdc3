// Copies the repository's proto/tix.proto into the package, so that a packed
// or copied install (npm pack, npm install --install-links) carries it. The
// copy is not committed; inside the repository lib/proto.js also finds the
// original.
"use strict";
const fs = require("fs");
const path = require("path");

const src = path.join(__dirname, "..", "..", "..", "proto", "tix.proto");
if (fs.existsSync(src)) fs.copyFileSync(src, path.join(__dirname, "..", "tix.proto"));
