/*
 * consumer.c - a program built against the installed libtix, as a backend
 * service would build it (tests/libtix/test_installed.py).
 *
 * Configured by the environment alone (tix_client_new(NULL): TIX_FRONTEND,
 * TIX_CURVE_SECRET, TIX_CURVE_SERVER_KEY). Creates sale argv[1] with one
 * ticket, buys it twice with one request_id (the same order both times),
 * then as another user (answered: sold out). Prints each answer; exit 0 when all is
 * as expected.
 */
#include <stdio.h>
#include <string.h>

#include <tix.h>

static int
s_expect(const char *what, int rc, const tix_result_t *r, int code)
{
    printf("%s: rc=%d code=%d message=\"%s\" attempts=%u\n", what, rc, r->code, r->message, r->attempts);
    return rc == TIX_RC_OK && r->code == code ? 0 : 1;
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: consumer SALE_ID\n");
        return 2;
    }
    tix_client_t *c = tix_client_new(NULL);
    if (!c)
        return 1;
    tix_result_t r;
    int bad = s_expect("create", tix_create_sale(c, argv[1], 1, 0, 0, 10000, &r), &r, TIX_STATUS_OK);
    tix_result_clear(&r);
    bad |= s_expect("buy", tix_purchase(c, argv[1], "alice", "req-1", 10000, &r), &r, TIX_STATUS_OK);
    tix_result_clear(&r);
    bad |= s_expect("resend", tix_purchase(c, argv[1], "alice", "req-1", 10000, &r), &r, TIX_STATUS_OK);
    tix_result_clear(&r);
    /* Sold out is the reply's outcome, not the call's code. */
    bad |= s_expect("other user", tix_purchase(c, argv[1], "bob", "req-2", 10000, &r), &r, TIX_STATUS_OK);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    printf("%s\n", bad ? "FAILED" : "PASSED");
    return bad;
}
