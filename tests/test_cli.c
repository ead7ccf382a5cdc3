/*
 * test_cli.c - the tix command-line client, run as a process (th_run)
 * against the scripted fake broker of harness/fake_client.h: usage errors,
 * readable and JSON output, exit codes, time flags, environment twins.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "fake_client.h"
#include "tix.h"
#include "tix_log.h"
#include "tix_util.h"

#define OUT_MAX 8192

/* ---- Running tix ---------------------------------------------------------- */

/* th_run_both at this file's buffer size. */
static int
s_run(const char *const argv[], const char *const env[], char *out, char *err)
{
    return th_run_both(argv, env, out, OUT_MAX, err, OUT_MAX);
}

/* stderr holds exactly one line "tix: ... (CODE)". */
static void
s_assert_one_error_line(const char *err, const char *code)
{
    char tail[64];
    snprintf(tail, sizeof tail, " (%s)\n", code);
    assert_memory_equal(err, "tix: ", 5);
    const char *nl = strchr(err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    size_t len = strlen(err), tlen = strlen(tail);
    assert_true(len > tlen);
    assert_string_equal(err + len - tlen, tail);
}

/* ---- A small strict JSON reader: one object, its top-level members ---------- */

typedef struct {
    const char *p;
    int n;
    char keys[24][32];
    char vals[24][256]; /* strings decoded; other values as written */
} js_t;

static void
js_ws(js_t *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static size_t
js_put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80)
        return out[0] = (char) cp, 1;
    if (cp < 0x800)
        return out[0] = (char) (0xC0 | cp >> 6), out[1] = (char) (0x80 | (cp & 0x3F)), 2;
    out[0] = (char) (0xE0 | cp >> 12), out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char) (0x80 | (cp & 0x3F));
    return 3;
}

static bool
js_string(js_t *j, char *out, size_t size)
{
    size_t n = 0;
    if (*j->p++ != '"')
        return false;
    while (*j->p != '"') {
        unsigned char c = (unsigned char) *j->p++;
        char buf[4];
        size_t len = 1;
        buf[0] = (char) c;
        if (c < 0x20)
            return false; /* raw control characters are not JSON */
        if (c == '\\') {
            char e = *j->p++;
            const char *esc = strchr("\"\\/bfnrtu", e);
            if (!e || !esc)
                return false;
            static const char real[] = "\"\\/\b\f\n\r\t";
            if (e != 'u') {
                buf[0] = real[esc - "\"\\/bfnrtu"];
            } else {
                unsigned cp;
                if (sscanf(j->p, "%4x", &cp) != 1 || strspn(j->p, "0123456789abcdefABCDEF") < 4)
                    return false;
                j->p += 4;
                len = js_put_utf8(buf, cp);
            }
        }
        if (n + len < size)
            memcpy(out + n, buf, len), n += len;
    }
    j->p++;
    out[n] = '\0';
    return true;
}

static bool js_value(js_t *j, char *out, size_t size);

static bool
js_object(js_t *j, bool record)
{
    if (*j->p++ != '{')
        return false;
    js_ws(j);
    if (*j->p == '}')
        return j->p++, true;
    for (;;) {
        char key[32], val[256];
        js_ws(j);
        if (!js_string(j, key, sizeof key))
            return false;
        js_ws(j);
        if (*j->p++ != ':')
            return false;
        js_ws(j);
        if (!js_value(j, val, sizeof val))
            return false;
        if (record && j->n < 24) {
            snprintf(j->keys[j->n], sizeof j->keys[0], "%s", key);
            snprintf(j->vals[j->n++], sizeof j->vals[0], "%s", val);
        }
        js_ws(j);
        if (*j->p == '}')
            return j->p++, true;
        if (*j->p++ != ',')
            return false;
    }
}

static bool
js_value(js_t *j, char *out, size_t size)
{
    out[0] = '\0';
    if (*j->p == '"')
        return js_string(j, out, size);
    if (*j->p == '{')
        return js_object(j, false);
    for (const char *lit = "true\0false\0null\0"; *lit; lit += strlen(lit) + 1) {
        if (strncmp(j->p, lit, strlen(lit)) == 0) {
            snprintf(out, size, "%s", lit);
            return j->p += strlen(lit), true;
        }
    }
    const char *start = j->p;
    j->p += *j->p == '-';
    if (!isdigit((unsigned char) *j->p) || (j->p[0] == '0' && isdigit((unsigned char) j->p[1])))
        return false;
    while (isdigit((unsigned char) *j->p) || *j->p == '.' || *j->p == 'e' || *j->p == 'E' || *j->p == '+')
        j->p++;
    snprintf(out, size, "%.*s", (int) (j->p - start), start);
    return true;
}

/* Parses text as exactly one JSON object (and a newline). */
static bool
js_parse(const char *text, js_t *j)
{
    memset(j, 0, sizeof *j);
    j->p = text;
    js_ws(j);
    if (!js_object(j, true))
        return false;
    js_ws(j);
    return *j->p == '\0';
}

static const char *
js_get(const js_t *j, const char *key)
{
    for (int i = 0; i < j->n; i++) {
        if (strcmp(j->keys[i], key) == 0)
            return j->vals[i];
    }
    return NULL;
}

/* The object has exactly these keys (in any order). */
static void
s_assert_keys(const js_t *j, const char *const keys[], int n)
{
    assert_int_equal(j->n, n);
    for (int i = 0; i < n; i++) {
        if (!js_get(j, keys[i]))
            fail_msg("JSON output lacks \"%s\"", keys[i]);
    }
}

/* ---- Tests ------------------------------------------------------------------ */

static void
test_help_exits_0_and_documents_commands_and_exit_codes(void **state)
{
    (void) state;
    char out[OUT_MAX];
    const char *argv[] = {"tix", "--help", NULL};
    assert_int_equal(th_run(argv, NULL, out, sizeof out), 0);
    const char *must[] = {"sale create ID", "sale get ID",    "buy SALE USER", "order get SALE USER",
                          "health",         "Exit status",    "  3  sold out", "  8  already exists",
                          "TIX_FRONTEND",   "TIX_TIMEOUT_MS", "--json",        "+SECONDS"};
    for (size_t i = 0; i < TIX_ARRAY_LEN(must); i++) {
        if (!strstr(out, must[i]))
            fail_msg("tix --help does not mention '%s'", must[i]);
    }
    const char *buy[] = {"tix", "buy", "--help", NULL};
    assert_int_equal(th_run(buy, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "--request-id"));
    const char *create[] = {"tix", "sale", "create", "--help", NULL};
    assert_int_equal(th_run(create, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "--tickets"));
    assert_non_null(strstr(out, "--opens-at"));
    const char *watch[] = {"tix", "sale", "watch", "--help", NULL};
    assert_int_equal(th_run(watch, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "--interval-ms"));
    assert_non_null(strstr(out, "130  sale watch interrupted"));
}

/* sale watch's own checks, before any poll (test_it_watch runs it on a stack). */
static void
test_sale_watch_refuses_a_bad_interval_and_ends_on_not_found(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    const char *fast[] = {"tix", cli->frontend_flag, "sale", "watch", "s1", "--interval-ms", "10", NULL};
    assert_int_equal(s_run(fast, NULL, out, err), 2);
    assert_non_null(strstr(err, "--interval-ms"));
    const char *nope[] = {"tix", cli->frontend_flag, "--json", "sale", "watch", "nope", NULL};
    assert_int_equal(s_run(nope, NULL, out, err), 5);
    s_assert_one_error_line(err, "NOT_FOUND");
    js_t j;
    assert_true(js_parse(out, &j));
    assert_string_equal(js_get(&j, "code"), "NOT_FOUND");
}

static void
test_usage_errors_exit_2_with_one_line_reason(void **state)
{
    (void) state;
    static const char *const cases[][12] = {
        {"tix", NULL},
        {"tix", "frob", NULL},
        {"tix", "sale", NULL},
        {"tix", "buy", NULL},
        {"tix", "buy", "s1", NULL},
        {"tix", "buy", "s1", "alice", "extra", NULL},
        {"tix", "sale", "create", "s1", NULL}, /* --tickets is required */
        {"tix", "sale", "create", "s1", "--tickets", "0", NULL},
        {"tix", "sale", "create", "s1", "--tickets", "5", "--opens-at", "2026-02-30T00:00:00Z", NULL},
        {"tix", "sale", "create", "s1", "--tickets", "5", "--closes-at", "tomorrow", NULL},
        {"tix", "buy", "bad sale", "alice", NULL}, /* checked before any network */
        {"tix", "--log-level", "loud", "health", NULL},
    };
    for (size_t i = 0; i < TIX_ARRAY_LEN(cases); i++) {
        char out[OUT_MAX], err[OUT_MAX];
        int rc = s_run(cases[i], NULL, out, err);
        if (rc != 2)
            fail_msg("case %zu (%s %s): exit %d, want 2; stderr: %s", i, cases[i][1], cases[i][2], rc, err);
        assert_string_equal(out, "");
        const char *code = strstr(err, "(INVALID_ARGUMENT)") ? "INVALID_ARGUMENT" : "USAGE";
        s_assert_one_error_line(err, code);
    }
    char out[OUT_MAX], err[OUT_MAX];
    const char *argv[] = {"tix", "buy", "s1", NULL};
    s_run(argv, NULL, out, err);
    assert_non_null(strstr(err, "SALE USER"));
    /* libtix logs why it refused the endpoint; tix's own line comes last. */
    const char *bogus[] = {"tix", "--frontend", "bogus://x", "health", NULL};
    assert_int_equal(s_run(bogus, NULL, out, err), 2);
    const char *last = strstr(err, "tix: --frontend");
    assert_non_null(last);
    s_assert_one_error_line(last, "USAGE");
    /* Option errors come from tix_opts: also one line, also exit 2. */
    const char *unknown[] = {"tix", "--frobnicate", "health", NULL};
    assert_int_equal(s_run(unknown, NULL, out, err), 2);
    assert_non_null(strchr(err, '\n'));
    assert_int_equal(strchr(err, '\n')[1], '\0');
}

static void
test_buy_prints_purchased_and_exits_0(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX];
    const char *argv[] = {"tix", cli->frontend_flag, "buy", "s1", "alice", NULL};
    assert_int_equal(th_run(argv, NULL, out, sizeof out), 0);
    assert_string_equal(out, "PURCHASED order=s1:17 sale=s1 user=alice remaining=183 at=2026-11-29T10:00:00.123Z\n");
    /* The request id travels, and the call is one Purchase. */
    const char *with_id[] = {"tix", cli->frontend_flag, "buy", "s1", "bob", "--request-id", "r-9", NULL};
    size_t before = fake_client_ncalls(cli->fb);
    assert_int_equal(th_run(with_id, NULL, out, sizeof out), 0);
    assert_int_equal(fake_client_ncalls(cli->fb), before + 1);
    fake_client_call_t call = fake_client_call(cli->fb, before);
    assert_string_equal(call.method, "tix.v1.TicketService/Purchase");
    Tix__V1__PurchaseRequest *req = tix__v1__purchase_request__unpack(NULL, call.body_size, call.body);
    assert_string_equal(req->request_id, "r-9");
    tix__v1__purchase_request__free_unpacked(req, NULL);
    assert_non_null(strstr(out, " request_id=r-9 "));
}

static void
test_buy_outcomes_and_codes_map_to_exit_codes(void **state)
{
    const fake_client_cli_t *cli = *state;
    static const struct {
        const char *sale, *user;
        int exit;
        const char *out_prefix; /* stdout, or NULL when the answer is an error */
        const char *code;       /* the error line's code */
    } cases[] = {
        {"s1", "sold", 3, "SOLD_OUT sale=s1 user=sold remaining=0", NULL},
        {"s1", "again", 4, "ALREADY_PURCHASED order=s1:17 ", NULL},
        {"s1", "early", 7, "SALE_NOT_OPEN ", NULL},
        {"s1", "late", 7, "SALE_CLOSED ", NULL},
        {"nope", "alice", 5, NULL, "NOT_FOUND"},
        {"busy", "alice", 6, NULL, "RESOURCE_EXHAUSTED"},
        {"silent", "alice", 6, NULL, "DEADLINE_EXCEEDED"},
    };
    for (size_t i = 0; i < TIX_ARRAY_LEN(cases); i++) {
        char out[OUT_MAX], err[OUT_MAX];
        const char *argv[] = {"tix", cli->frontend_flag, "--timeout-ms", "300",
                              "buy", cases[i].sale,      cases[i].user,  NULL};
        int rc = s_run(argv, NULL, out, err);
        if (rc != cases[i].exit)
            fail_msg("buy %s %s: exit %d, want %d; stdout: %s stderr: %s", cases[i].sale, cases[i].user, rc,
                     cases[i].exit, out, err);
        if (cases[i].out_prefix) {
            assert_memory_equal(out, cases[i].out_prefix, strlen(cases[i].out_prefix));
            assert_string_equal(err, "");
        } else {
            assert_string_equal(out, "");
            s_assert_one_error_line(err, cases[i].code);
        }
    }
}

static void
test_buy_json_has_protocol_field_names_and_escapes_strings(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX];
    const char *user = "al\"ice\\ \xc3\xa9t\xc3\xa9"; /* quote, backslash, blank, UTF-8 */
    const char *argv[] = {"tix", cli->frontend_flag, "--json", "buy", "s1", user, NULL};
    assert_int_equal(th_run(argv, NULL, out, sizeof out), 0);
    js_t j;
    if (!js_parse(out, &j))
        fail_msg("not one JSON object: %s", out);
    const char *keys[] = {"code",       "outcome",   "order_id",        "sale_id",       "user_id",
                          "request_id", "remaining", "purchased_at_ms", "retry_after_ms"};
    s_assert_keys(&j, keys, (int) TIX_ARRAY_LEN(keys));
    assert_string_equal(js_get(&j, "code"), "OK");
    assert_string_equal(js_get(&j, "outcome"), "PURCHASED");
    assert_string_equal(js_get(&j, "user_id"), user);
    assert_string_equal(js_get(&j, "remaining"), "183");
    assert_string_equal(js_get(&j, "purchased_at_ms"), "1795946400123");

    const char *sold[] = {"tix", cli->frontend_flag, "--json", "buy", "s1", "sold", NULL};
    assert_int_equal(th_run(sold, NULL, out, sizeof out), 3);
    assert_true(js_parse(out, &j));
    assert_string_equal(js_get(&j, "outcome"), "SOLD_OUT");
}

static void
test_error_with_json_prints_code_object_and_stderr_line(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    const char *argv[] = {"tix", cli->frontend_flag, "--json", "sale", "get", "nope", NULL};
    assert_int_equal(s_run(argv, NULL, out, err), 5);
    js_t j;
    assert_true(js_parse(out, &j));
    const char *keys[] = {"code", "message", "retry_after_ms"};
    s_assert_keys(&j, keys, 3);
    assert_string_equal(js_get(&j, "code"), "NOT_FOUND");
    s_assert_one_error_line(err, "NOT_FOUND");
}

/* The CreateSale the broker got last. */
static Tix__V1__CreateSaleRequest *
s_last_create(const fake_client_cli_t *cli)
{
    fake_client_call_t call = fake_client_call(cli->fb, fake_client_ncalls(cli->fb) - 1);
    assert_string_equal(call.method, "tix.v1.AdminService/CreateSale");
    return tix__v1__create_sale_request__unpack(NULL, call.body_size, call.body);
}

static void
test_sale_create_reads_iso_relative_and_unix_times(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX];
    const char *iso[] = {"tix",        cli->frontend_flag,     "sale",        "create",        "s2", "--tickets", "200",
                         "--opens-at", "2026-11-29T10:00:00Z", "--closes-at", "1795950000000", NULL};
    assert_int_equal(th_run(iso, NULL, out, sizeof out), 0);
    Tix__V1__CreateSaleRequest *req = s_last_create(cli);
    assert_int_equal(req->total, 200);
    assert_int_equal(req->opens_at_ms, 1795946400000LL);
    assert_int_equal(req->closes_at_ms, 1795950000000LL);
    tix__v1__create_sale_request__free_unpacked(req, NULL);
    assert_string_equal(out, "CREATED sale=s2 state=SCHEDULED total=200 remaining=200 "
                             "opens_at=2026-11-29T10:00:00.000Z closes_at=2026-11-29T11:00:00.000Z\n");

    const char *frac[] = {"tix",        cli->frontend_flag,       "sale", "create", "s3", "--tickets", "1",
                          "--opens-at", "2026-11-29T10:00:00.5Z", NULL};
    assert_int_equal(th_run(frac, NULL, out, sizeof out), 0);
    req = s_last_create(cli);
    assert_int_equal(req->opens_at_ms, 1795946400500LL);
    assert_int_equal(req->closes_at_ms, 0);
    tix__v1__create_sale_request__free_unpacked(req, NULL);

    int64_t before = tix_wall_ms();
    const char *rel[] = {"tix", cli->frontend_flag, "sale", "create", "s4", "--tickets=5", "--opens-at=+60", NULL};
    assert_int_equal(th_run(rel, NULL, out, sizeof out), 0);
    req = s_last_create(cli);
    assert_true(req->opens_at_ms >= before + 60000);
    assert_true(req->opens_at_ms <= tix_wall_ms() + 60000);
    tix__v1__create_sale_request__free_unpacked(req, NULL);
}

static void
test_sale_create_existing_exits_8(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    const char *argv[] = {"tix", cli->frontend_flag, "sale", "create", "dup", "--tickets", "10", NULL};
    assert_int_equal(s_run(argv, NULL, out, err), 8);
    s_assert_one_error_line(err, "ALREADY_EXISTS");
}

static void
test_sale_get_and_order_get_print_their_records(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX];
    const char *sale[] = {"tix", cli->frontend_flag, "sale", "get", "s1", NULL};
    assert_int_equal(th_run(sale, NULL, out, sizeof out), 0);
    assert_string_equal(out, "SALE sale=s1 state=OPEN total=200 remaining=183 opens_at=2026-11-29T10:00:00.000Z "
                             "closes_at=-\n");
    const char *sale_json[] = {"tix", cli->frontend_flag, "--json", "sale", "get", "s1", NULL};
    assert_int_equal(th_run(sale_json, NULL, out, sizeof out), 0);
    js_t j;
    assert_true(js_parse(out, &j));
    const char *sale_keys[] = {"code", "sale_id", "state", "total", "remaining", "opens_at_ms", "closes_at_ms"};
    s_assert_keys(&j, sale_keys, (int) TIX_ARRAY_LEN(sale_keys));
    assert_string_equal(js_get(&j, "closes_at_ms"), "0");

    const char *order[] = {"tix", cli->frontend_flag, "order", "get", "s1", "carol", NULL};
    assert_int_equal(th_run(order, NULL, out, sizeof out), 0);
    assert_string_equal(out, "ORDER order=s1:carol sale=s1 user=carol at=2026-11-29T10:00:00.123Z\n");
    const char *order_json[] = {"tix", cli->frontend_flag, "--json", "order", "get", "s1", "carol", NULL};
    assert_int_equal(th_run(order_json, NULL, out, sizeof out), 0);
    assert_true(js_parse(out, &j));
    const char *order_keys[] = {"code", "order_id", "sale_id", "user_id", "request_id", "purchased_at_ms"};
    s_assert_keys(&j, order_keys, (int) TIX_ARRAY_LEN(order_keys));
}

static void
test_health_maps_status_to_exit_code(void **state)
{
    const fake_client_cli_t *cli = *state;
    static const struct {
        const char *service;
        int exit;
        const char *out;
    } cases[] = {
        {NULL, 0, "SERVING\n"},
        {"down", 6, "NOT_SERVING service=down\n"},
        {"what", 5, "SERVICE_UNKNOWN service=what\n"},
    };
    for (size_t i = 0; i < TIX_ARRAY_LEN(cases); i++) {
        char out[OUT_MAX];
        const char *argv[] = {"tix", cli->frontend_flag, "health", cases[i].service, NULL};
        assert_int_equal(th_run(argv, NULL, out, sizeof out), cases[i].exit);
        assert_string_equal(out, cases[i].out);
    }
    char out[OUT_MAX];
    const char *json[] = {"tix", cli->frontend_flag, "--json", "health", NULL};
    assert_int_equal(th_run(json, NULL, out, sizeof out), 0);
    js_t j;
    assert_true(js_parse(out, &j));
    const char *keys[] = {"code", "status", "service"};
    s_assert_keys(&j, keys, 3);
    assert_string_equal(js_get(&j, "status"), "SERVING");
}

static void
test_frontend_and_timeout_come_from_environment(void **state)
{
    const fake_client_cli_t *cli = *state;
    char env_frontend[200], out[OUT_MAX], err[OUT_MAX];
    snprintf(env_frontend, sizeof env_frontend, "TIX_FRONTEND=%s", cli->fb->endpoint);
    const char *env[] = {env_frontend, "TIX_TIMEOUT_MS=300", NULL};
    const char *argv[] = {"tix", "buy", "s1", "alice", NULL};
    assert_int_equal(th_run(argv, env, out, sizeof out), 0);
    assert_memory_equal(out, "PURCHASED ", 10);
    /* 300 ms from the environment, not the 5000 ms default. */
    const char *silent[] = {"tix", "buy", "silent", "alice", NULL};
    int64_t start = tix_now_ms();
    assert_int_equal(s_run(silent, env, out, err), 6);
    assert_true(tix_now_ms() - start < 4000);
    s_assert_one_error_line(err, "DEADLINE_EXCEEDED");
    /* A flag wins over its variable. */
    const char *flag[] = {"tix", "--timeout-ms", "100", "buy", "silent", "alice", NULL};
    assert_int_equal(s_run(flag, env, out, err), 6);
    assert_non_null(strstr(err, "within 100 ms"));
}

static int
s_setup(void **state)
{
    return fake_client_cli_setup(state, fake_client_script_cli);
}

int
main(void)
{
    setenv("ZSYS_SIGHANDLER", "false", 1);
    unsetenv("TIX_FRONTEND"), unsetenv("TIX_TIMEOUT_MS"), unsetenv("TIX_LOG_LEVEL");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_exits_0_and_documents_commands_and_exit_codes),
        cmocka_unit_test(test_usage_errors_exit_2_with_one_line_reason),
        cmocka_unit_test(test_sale_watch_refuses_a_bad_interval_and_ends_on_not_found),
        cmocka_unit_test(test_buy_prints_purchased_and_exits_0),
        cmocka_unit_test(test_buy_outcomes_and_codes_map_to_exit_codes),
        cmocka_unit_test(test_buy_json_has_protocol_field_names_and_escapes_strings),
        cmocka_unit_test(test_error_with_json_prints_code_object_and_stderr_line),
        cmocka_unit_test(test_sale_create_reads_iso_relative_and_unix_times),
        cmocka_unit_test(test_sale_create_existing_exits_8),
        cmocka_unit_test(test_sale_get_and_order_get_print_their_records),
        cmocka_unit_test(test_health_maps_status_to_exit_code),
        cmocka_unit_test(test_frontend_and_timeout_come_from_environment),
    };
    return cmocka_run_group_tests(tests, s_setup, fake_client_cli_teardown);
}
