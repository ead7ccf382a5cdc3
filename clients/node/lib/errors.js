"use strict";
// The protocol's call codes (gRPC's numbers and names) and the one error
// the client throws.

const Code = Object.freeze({
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9,
  ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
});
const CODE_NAMES = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));

// A call that did not get an OK answer: code (number), codeName, message,
// retryAfterMs (the broker's hint, 0 when none).
class TixError extends Error {
  constructor(code, message, retryAfterMs = 0) {
    const name = CODE_NAMES[code] || "UNKNOWN";
    super(`${name}: ${message}`);
    this.name = "TixError";
    this.code = CODE_NAMES[code] ? code : Code.UNKNOWN;
    this.codeName = name;
    this.details = message;
    this.retryAfterMs = retryAfterMs;
  }
}

module.exports = { Code, CODE_NAMES, TixError };
