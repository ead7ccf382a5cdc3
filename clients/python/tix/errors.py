"""Codes and the one exception the client raises."""
import enum


class Code(enum.IntEnum):
    """The protocol's call codes (gRPC's numbers and names)."""
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


RETRYABLE = frozenset({Code.RESOURCE_EXHAUSTED, Code.UNAVAILABLE})


class TixError(Exception):
    """A call that did not get an OK answer.

    code: the Code (from the broker, or DEADLINE_EXCEEDED / UNAVAILABLE /
    UNAUTHENTICATED decided here when no answer came); message: the reason;
    retry_after_ms: the broker's hint, 0 when none.
    """

    def __init__(self, code, message, retry_after_ms=0):
        try:
            code = Code(code)
        except ValueError:
            code = Code.UNKNOWN
        super().__init__("%s: %s" % (code.name, message))
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms
