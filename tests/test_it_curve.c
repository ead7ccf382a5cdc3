/*
 * test_it_curve.c - CURVE on every broker endpoint, on real parts:
 * redis-server, tix-broker --curve, tix-worker with its key, libtix clients
 * with listed, unlisted and no keys (tests/harness/curve_stack.h).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "curve_stack.h"
#include "harness.h"
#include "tix.h"
#include "tix_curve.h"
#include "tix_util.h"

static th_stack_t s_stack;
static tc_keys_t s_keys;

static int
s_setup(void **state)
{
    (void) state;
    if (!tc_keys_make(&s_keys))
        return -1;
    return tc_stack_start(&s_stack, &s_keys, 1) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    th_stack_stop(&s_stack);
    return 0;
}

static void
s_create_sale(const char *sale, uint32_t total)
{
    tix_client_t *admin = tc_client(&s_stack, &s_keys, s_keys.admin);
    assert_non_null(admin);
    tix_result_t r;
    assert_int_equal(tix_create_sale(admin, sale, total, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);
    tix_client_destroy(&admin);
}

/* Sends one Purchase without waiting, from a client the broker refuses:
 * queued (TIX_OK) while the handshake is under way, or refused at once
 * (TIX_ERR_UNAVAILABLE: libzmq dropped the connection, and its queue, when
 * the handshake failed). */
static void
s_send_purchase(tix_client_t *c, const char *sale, const char *user)
{
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    // cppcheck-suppress unreadVariable ; read through the message's base, which libtix packs
    req.sale_id = (char *) sale;
    // cppcheck-suppress unreadVariable ; read through the message's base, which libtix packs
    req.user_id = (char *) user;
    uint64_t id;
    tix_err err = tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 2000, &id);
    assert_true(err == TIX_OK || err == TIX_ERR_UNAVAILABLE);
}

/* Lines of the broker's log holding every one of the needles. */
static int
s_log_count(const char *a, const char *b)
{
    FILE *f = fopen(s_stack.broker.log, "r");
    assert_non_null(f);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, a) && (!b || strstr(line, b));
    fclose(f);
    return n;
}

/* A blocking Health call from c: the time it took, the result in *r. */
static int64_t
s_timed_health(tix_client_t *c, uint32_t timeout_ms, tix_err want, tix_result_t *r)
{
    int64_t start = tix_now_ms();
    assert_int_equal(tix_health_check(c, "", timeout_ms, r), want);
    return tix_now_ms() - start;
}

static void
test_listed_client_is_served_while_unlisted_and_plain_clients_are_told_why(void **state)
{
    (void) state;
    s_create_sale("curve-a", 10);
    tix_client_t *stranger = tc_client(&s_stack, &s_keys, s_keys.stranger);
    tix_client_t *plain = tix_client_new(s_stack.frontend);
    tix_client_t *client = tc_client(&s_stack, &s_keys, s_keys.client);
    assert_non_null(stranger);
    assert_non_null(plain);
    assert_non_null(client);
    /* The two outsiders call first; the listed client is served meanwhile. */
    s_send_purchase(stranger, "curve-a", "eve");
    s_send_purchase(plain, "curve-a", "mallory");
    tix_result_t r;
    assert_int_equal(tix_purchase(client, "curve-a", "bob", "b-1", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(((const Tix__V1__PurchaseReply *) r.reply)->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix_result_clear(&r);
    /* The asynchronous interface stays as it was: no answer, the caller's
     * deadline decides. */
    assert_int_equal(tix_client_recv(stranger, 300, &r), TIX_ERR_TIMEOUT);
    tix_result_clear(&r);
    /* A blocking call is told at once that the broker refused the key, not
     * left to time out. */
    int64_t ms = s_timed_health(stranger, 5000, TIX_ERR_UNAVAILABLE, &r);
    print_message("unlisted key: UNAUTHENTICATED after %lld ms\n", (long long) ms);
    assert_true(ms < 1000);
    assert_int_equal(r.code, TIX__V1__CODE__UNAUTHENTICATED);
    assert_non_null(strstr(r.message, "the broker refused this key"));
    tix_result_clear(&r);
    /* A fresh unlisted client, first call: the handshake and the refusal
     * happen during the call. */
    tix_client_t *fresh = tc_client(&s_stack, &s_keys, s_keys.stranger);
    ms = s_timed_health(fresh, 5000, TIX_ERR_UNAVAILABLE, &r);
    print_message("fresh unlisted client: UNAUTHENTICATED after %lld ms\n", (long long) ms);
    assert_true(ms < 1000);
    assert_int_equal(r.code, TIX__V1__CODE__UNAUTHENTICATED);
    tix_result_clear(&r);
    tix_client_destroy(&fresh);
    /* A plaintext client: a mechanism mismatch, said as such. */
    ms = s_timed_health(plain, 5000, TIX_ERR_UNAVAILABLE, &r);
    print_message("plaintext client: UNAUTHENTICATED after %lld ms\n", (long long) ms);
    assert_true(ms < 1000);
    assert_int_equal(r.code, TIX__V1__CODE__UNAUTHENTICATED);
    assert_non_null(strstr(r.message, "requires CURVE"));
    tix_result_clear(&r);
    /* A listed key with the wrong server key: the broker cannot read its
     * HELLO and hangs up, every time. */
    tix_client_t *wrong = tix_client_new_curve(s_stack.frontend, s_keys.client, s_keys.stranger);
    ms = s_timed_health(wrong, 5000, TIX_ERR_UNAVAILABLE, &r);
    print_message("wrong server key: %s after %lld ms\n", r.message, (long long) ms);
    assert_true(ms < 2000); /* three reconnects, 100 ms apart */
    assert_int_equal(r.code, TIX__V1__CODE__UNAUTHENTICATED);
    assert_non_null(strstr(r.message, "--curve-server-key"));
    tix_result_clear(&r);
    tix_client_destroy(&wrong);
    /* Nothing of theirs reached Redis: only bob bought. */
    assert_int_equal(th_redis_int(&s_stack.redis, "HLEN tix:{curve-a}:buyers"), 1);
    tix_client_destroy(&stranger);
    tix_client_destroy(&plain);
    tix_client_destroy(&client);
}

/* Runs the tix CLI with --json; returns its exit status, stdout in out. */
static int
s_cli(char *out, size_t size, const char *frontend, const char *secret, const char *server, const char *cmd)
{
    const char *argv[] = {"tix", "--json", "--timeout-ms", "2000", "--frontend", frontend, cmd,
                          NULL,  NULL,     NULL,           NULL,   NULL,         NULL};
    if (secret) {
        argv[7] = "--curve-secret";
        argv[8] = secret;
        argv[9] = "--curve-server-key";
        argv[10] = server;
    }
    return th_run(argv, NULL, out, size);
}

static void
test_cli_tells_a_refused_key_a_plain_client_and_a_down_broker_apart(void **state)
{
    (void) state;
    char out[1024], down[64];
    int64_t start = tix_now_ms();
    assert_int_equal(s_cli(out, sizeof out, s_stack.frontend, s_keys.stranger, s_keys.broker, "health"), 1);
    print_message("tix health, unlisted key: %s (%lld ms)\n", out, (long long) (tix_now_ms() - start));
    assert_non_null(strstr(out, "\"code\":\"UNAUTHENTICATED\""));
    assert_non_null(strstr(out, "refused this key"));
    assert_int_equal(s_cli(out, sizeof out, s_stack.frontend, NULL, NULL, "health"), 1);
    print_message("tix health, no keys: %s\n", out);
    assert_non_null(strstr(out, "\"code\":\"UNAUTHENTICATED\""));
    assert_non_null(strstr(out, "requires CURVE"));
    /* Nothing listens here. */
    snprintf(down, sizeof down, "tcp://127.0.0.1:%d", th_free_port());
    assert_int_equal(s_cli(out, sizeof out, down, s_keys.client, s_keys.broker, "health"), 6);
    print_message("tix health, broker down: %s\n", out);
    assert_non_null(strstr(out, "\"code\":\"UNAVAILABLE\""));
    assert_non_null(strstr(out, "no broker answered at tcp://127.0.0.1:"));
    assert_non_null(strstr(out, "could not connect"));
    /* The listed key still works. */
    assert_int_equal(s_cli(out, sizeof out, s_stack.frontend, s_keys.client, s_keys.broker, "health"), 0);
}

/* Moves dir/name into dir/revoked/ (back == false) or back again. */
static void
s_revoke(const char *dir, const char *name, bool back)
{
    char cmd[4 * TC_PATH_MAX];
    if (back)
        snprintf(cmd, sizeof cmd, "mv '%s/revoked/%s' '%s/'", dir, name, dir);
    else
        snprintf(cmd, sizeof cmd, "mkdir -p '%s/revoked' && mv '%s/%s' '%s/revoked/'", dir, dir, name, dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_keys_moved_into_revoked_are_refused_without_a_restart(void **state)
{
    (void) state;
    tix_result_t r;
    /* An admin revoked as admin: still a client, no longer allowed to
     * create sales. */
    s_revoke(s_keys.admins, "admin", false);
    tix_client_t *admin = tc_client(&s_stack, &s_keys, s_keys.admin);
    assert_int_equal(tix_create_sale(admin, "curve-rev", 5, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__PERMISSION_DENIED);
    tix_result_clear(&r);
    tix_client_destroy(&admin);
    s_revoke(s_keys.admins, "admin", true);
    s_create_sale("curve-rev", 5); /* restored: allowed again */
    /* A client revoked: its next connection is refused. */
    s_revoke(s_keys.clients, "client", false);
    tix_client_t *client = tc_client(&s_stack, &s_keys, s_keys.client);
    s_timed_health(client, 5000, TIX_ERR_UNAVAILABLE, &r);
    assert_int_equal(r.code, TIX__V1__CODE__UNAUTHENTICATED);
    tix_result_clear(&r);
    tix_client_destroy(&client);
    s_revoke(s_keys.clients, "client", true);
    client = tc_client(&s_stack, &s_keys, s_keys.client);
    s_timed_health(client, 5000, TIX_OK, &r);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);
    tix_client_destroy(&client);
}

static void
test_admin_methods_need_a_key_on_the_admin_list(void **state)
{
    (void) state;
    tix_client_t *client = tc_client(&s_stack, &s_keys, s_keys.client);
    tix_result_t r;
    assert_int_equal(tix_create_sale(client, "curve-b", 5, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__PERMISSION_DENIED);
    assert_non_null(strstr(r.message, "admin allow-list"));
    tix_result_clear(&r);
    /* Not created: GetSale says NOT_FOUND, and the admin can create it. */
    assert_int_equal(tix_get_sale(client, "curve-b", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__NOT_FOUND);
    tix_result_clear(&r);
    s_create_sale("curve-b", 5);
    assert_int_equal(tix_get_sale(client, "curve-b", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);
    tix_client_destroy(&client);
}

static void
test_each_denied_key_is_logged_once_despite_repeated_attempts(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], why[256], needle[32];
    assert_int_equal(tix_curve_public_load(s_keys.stranger, pub, why, sizeof why), TIX_OK);
    snprintf(needle, sizeof needle, "key=%.*s", TIX_CURVE_KEY_SHOWN, pub);
    /* A denied connection is not retried by libzmq: each client is a new
     * attempt, and a new ZAP request. */
    for (int i = 0; i < 5; i++) {
        tix_client_t *c = tc_client(&s_stack, &s_keys, s_keys.stranger);
        tix_result_t r;
        assert_int_equal(tix_health_check(c, "", 300, &r), TIX_ERR_UNAVAILABLE);
        tix_result_clear(&r);
        tix_client_destroy(&c);
    }
    assert_int_equal(s_log_count("peer denied", needle), 1);
    /* The secret keys never appear in the log. */
    tix_curve_pair_t pair;
    assert_int_equal(tix_curve_pair_load(s_keys.broker, &pair, why, sizeof why), TIX_OK);
    assert_int_equal(s_log_count(pair.secret_txt, NULL), 0);
    assert_int_equal(s_log_count(pair.public_txt, NULL), 0); /* only its first characters */
}

static void
test_unlisted_worker_never_registers(void **state)
{
    (void) state;
    th_stack_t other;
    assert_true(tc_stack_start(&other, &s_keys, 0));
    assert_true(tc_worker_start(&other, &s_keys, 0, s_keys.stranger));
    other.nworkers = 1;
    tix_client_t *admin = tc_client(&other, &s_keys, s_keys.admin);
    int64_t until = tix_now_ms() + 2000;
    int answers = 0;
    while (tix_now_ms() < until) {
        tix_result_t r;
        assert_int_equal(tix_health_check(admin, "", 1000, &r), TIX_OK);
        assert_int_equal(((const Tix__V1__HealthCheckResponse *) r.reply)->status,
                         TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
        tix_result_clear(&r);
        answers++;
        usleep(100000);
    }
    assert_true(answers > 5);
    assert_true(th_proc_alive(&other.workers[0])); /* it keeps trying, unheard */
    tix_client_destroy(&admin);
    th_stack_stop(&other);
}

static void
test_secret_file_readable_by_others_makes_the_broker_exit_with_one_line(void **state)
{
    (void) state;
    char bad[TC_PATH_MAX + 32], secret[TC_PATH_MAX + 32], cmd[4 * TC_PATH_MAX];
    snprintf(bad, sizeof bad, "%s/loose", s_keys.dir);
    snprintf(secret, sizeof secret, "%s_secret", s_keys.broker);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s_secret' && chmod 644 '%s_secret'", secret, bad, bad);
    assert_int_equal(system(cmd), 0);
    char fp[64], bp[64], ip[64], op[64];
    snprintf(fp, sizeof fp, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(bp, sizeof bp, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(ip, sizeof ip, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(op, sizeof op, "tcp://127.0.0.1:%d", th_free_port());
    const char *argv[] = {"tix-broker",
                          "--frontend",
                          fp,
                          "--backend",
                          bp,
                          "--events-in",
                          ip,
                          "--events-out",
                          op,
                          "--curve",
                          "--curve-secret",
                          bad,
                          "--curve-clients",
                          s_keys.clients,
                          "--curve-workers",
                          s_keys.workers,
                          NULL};
    th_proc_t p = {0};
    snprintf(p.name, sizeof p.name, "tix-broker-loose");
    assert_true(th_proc_start(&p, argv, NULL));
    int status = th_proc_stop(&p, 0, 5000); /* signal 0: just wait for its exit */
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    FILE *f = fopen(p.log, "r");
    assert_non_null(f);
    char line[1024];
    int lines = 0, reasons = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        reasons += strstr(line, "chmod 600") && strstr(line, "loose_secret") != NULL;
    }
    fclose(f);
    assert_int_equal(lines, 1);
    assert_int_equal(reasons, 1);
}

static void
test_keygen_writes_a_0600_secret_and_refuses_to_overwrite(void **state)
{
    (void) state;
    char dir[TC_PATH_MAX + 16], out[512], path[TC_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/cli-keys", th_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    const char *argv[] = {"tix", "keygen", "alice", "--dir", dir, NULL};
    assert_int_equal(th_run(argv, NULL, out, sizeof out), 0);
    char pub[TIX_CURVE_KEY_TXT_BYTES], why[256];
    snprintf(path, sizeof path, "%s/alice", dir);
    assert_int_equal(tix_curve_public_load(path, pub, why, sizeof why), TIX_OK);
    assert_memory_equal(out, pub, 40); /* it prints the public key */
    snprintf(path, sizeof path, "%s/alice_secret", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_null(strstr(out, "secret-key"));
    int again = th_run(argv, NULL, out, sizeof out);
    assert_int_not_equal(again, 0);
    assert_int_equal(stat(path, &st), 0);
    char pub2[TIX_CURVE_KEY_TXT_BYTES];
    snprintf(path, sizeof path, "%s/alice", dir);
    assert_int_equal(tix_curve_public_load(path, pub2, why, sizeof why), TIX_OK);
    assert_string_equal(pub, pub2); /* untouched */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed_client_is_served_while_unlisted_and_plain_clients_are_told_why),
        cmocka_unit_test(test_cli_tells_a_refused_key_a_plain_client_and_a_down_broker_apart),
        cmocka_unit_test(test_keys_moved_into_revoked_are_refused_without_a_restart),
        cmocka_unit_test(test_admin_methods_need_a_key_on_the_admin_list),
        cmocka_unit_test(test_each_denied_key_is_logged_once_despite_repeated_attempts),
        cmocka_unit_test(test_unlisted_worker_never_registers),
        cmocka_unit_test(test_secret_file_readable_by_others_makes_the_broker_exit_with_one_line),
        cmocka_unit_test(test_keygen_writes_a_0600_secret_and_refuses_to_overwrite),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
