#include "tix_err.h"

const char *
tix_strerror(tix_err err)
{
    switch (err) {
    case TIX_OK: return "ok";
    case TIX_ERR_INVALID: return "invalid argument";
    case TIX_ERR_CONFIG: return "bad configuration";
    case TIX_ERR_TIMEOUT: return "timed out";
    case TIX_ERR_UNAVAILABLE: return "unavailable";
    case TIX_ERR_PROTOCOL: return "protocol violation";
    case TIX_ERR_IO: return "i/o error";
    case TIX_ERR_REDIS: return "redis error";
    case TIX_ERR_INTERRUPTED: return "interrupted";
    case TIX_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}
