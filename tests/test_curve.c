/*
 * test_curve.c - common/tix_curve: certificate files, the secret file's
 * mode, allow-lists from a file or a directory, key generation; and the
 * broker's denial log limit (broker_zap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker_zap.h"
#include "harness.h"
#include "tix_curve.h"

static char s_dir[512];

static void
s_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", s_dir, name);
}

static void
s_keygen(const char *name, char pub[TIX_CURVE_KEY_TXT_BYTES])
{
    char why[256];
    assert_int_equal(tix_curve_keygen(s_dir, name, pub, why, sizeof why), TIX_OK);
}

static void
test_keygen_then_load_gives_the_same_pair_from_either_file(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], path[600], why[256];
    s_keygen("k1", pub);
    assert_int_equal(strlen(pub), 40);
    tix_curve_pair_t a, b;
    s_path(path, sizeof path, "k1");
    assert_int_equal(tix_curve_pair_load(path, &a, why, sizeof why), TIX_OK);
    s_path(path, sizeof path, "k1_secret");
    assert_int_equal(tix_curve_pair_load(path, &b, why, sizeof why), TIX_OK);
    assert_string_equal(a.public_txt, pub);
    assert_string_equal(b.public_txt, pub);
    assert_string_equal(a.secret_txt, b.secret_txt);
    assert_string_not_equal(a.secret_txt, a.public_txt);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void
test_keygen_refuses_to_overwrite_and_odd_names(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], why[256];
    s_keygen("k2", pub);
    assert_int_equal(tix_curve_keygen(s_dir, "k2", pub, why, sizeof why), TIX_ERR_CONFIG);
    assert_non_null(strstr(why, "refusing to overwrite"));
    assert_int_equal(tix_curve_keygen(s_dir, "a/b", pub, why, sizeof why), TIX_ERR_CONFIG);
    assert_int_equal(tix_curve_keygen(s_dir, "x_secret", pub, why, sizeof why), TIX_ERR_CONFIG);
    assert_int_equal(tix_curve_keygen("/nonexistent-dir", "k", pub, why, sizeof why), TIX_ERR_CONFIG);
}

static void
test_secret_readable_by_group_or_others_is_refused_with_chmod_600(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], path[600], secret[600], why[512];
    s_keygen("k3", pub);
    s_path(path, sizeof path, "k3");
    s_path(secret, sizeof secret, "k3_secret");
    tix_curve_pair_t pair;
    const mode_t modes[] = {0644, 0640, 0604, 0620};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(secret, modes[i]), 0);
        assert_int_equal(tix_curve_pair_load(path, &pair, why, sizeof why), TIX_ERR_CONFIG);
        assert_non_null(strstr(why, "chmod 600"));
        assert_non_null(strstr(why, secret));
        assert_null(strchr(why, '\n'));
    }
    assert_int_equal(chmod(secret, 0400), 0);
    assert_int_equal(tix_curve_pair_load(path, &pair, why, sizeof why), TIX_OK);
}

static void
test_public_file_alone_is_no_pair_but_is_a_server_key(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], got[TIX_CURVE_KEY_TXT_BYTES], path[600], secret[600], why[512];
    s_keygen("k4", pub);
    s_path(path, sizeof path, "k4");
    s_path(secret, sizeof secret, "k4_secret");
    assert_int_equal(unlink(secret), 0);
    tix_curve_pair_t pair;
    assert_int_equal(tix_curve_pair_load(path, &pair, why, sizeof why), TIX_ERR_CONFIG);
    assert_int_equal(tix_curve_public_load(path, got, why, sizeof why), TIX_OK);
    assert_string_equal(got, pub);
    assert_int_equal(tix_curve_public_load("/nonexistent", got, why, sizeof why), TIX_ERR_CONFIG);
}

static void
test_client_config_needs_both_flags_or_neither(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], path[600], why[512];
    s_keygen("k5", pub);
    s_path(path, sizeof path, "k5");
    tix_curve_client_t keys;
    const tix_curve_client_t *use = &keys;
    assert_int_equal(tix_curve_client_config(NULL, "", &keys, &use, why, sizeof why), TIX_OK);
    assert_null(use);
    assert_int_equal(tix_curve_client_config(path, NULL, &keys, &use, why, sizeof why), TIX_ERR_CONFIG);
    assert_non_null(strstr(why, "go together"));
    assert_int_equal(tix_curve_client_config(path, path, &keys, &use, why, sizeof why), TIX_OK);
    assert_ptr_equal(use, &keys);
    assert_string_equal(keys.server_txt, pub);
}

static void
test_allow_list_from_a_file_and_from_a_directory_that_changes(void **state)
{
    (void) state;
    char a[TIX_CURVE_KEY_TXT_BYTES], b[TIX_CURVE_KEY_TXT_BYTES], path[600], list[600], why[512], cmd[2000];
    s_keygen("ka", a);
    s_keygen("kb", b);
    s_path(path, sizeof path, "ka");
    tix_curve_allow_t *one = tix_curve_allow_new(path, why, sizeof why);
    assert_non_null(one);
    assert_true(tix_curve_allow_has(one, a));
    assert_false(tix_curve_allow_has(one, b));
    tix_curve_allow_destroy(&one);
    tix_curve_allow_destroy(&one); /* idempotent */

    s_path(list, sizeof list, "list");
    assert_int_equal(mkdir(list, 0700), 0);
    tix_curve_allow_t *dir = tix_curve_allow_new(list, why, sizeof why);
    assert_non_null(dir);
    assert_false(tix_curve_allow_has(dir, a)); /* empty: no one */
    snprintf(cmd, sizeof cmd, "cp %s/ka %s/ka", s_dir, list);
    assert_int_equal(system(cmd), 0);
    assert_true(tix_curve_allow_has(dir, a)); /* re-read on lookup */
    assert_false(tix_curve_allow_has(dir, b));
    /* zcertstore notices a change of file count, total size or newest
     * mtime (in seconds): adding and removing files are always seen. */
    snprintf(cmd, sizeof cmd, "cp %s/kb %s/kb", s_dir, list);
    assert_int_equal(system(cmd), 0);
    assert_true(tix_curve_allow_has(dir, b));
    assert_true(tix_curve_allow_has(dir, a));
    snprintf(cmd, sizeof cmd, "rm %s/ka", list);
    assert_int_equal(system(cmd), 0);
    assert_false(tix_curve_allow_has(dir, a)); /* removed: revoked */
    assert_true(tix_curve_allow_has(dir, b));
    tix_curve_allow_destroy(&dir);
    assert_null(tix_curve_allow_new("/nonexistent", why, sizeof why));
}

static void
test_key_moved_into_a_subdirectory_is_revoked(void **state)
{
    (void) state;
    char a[TIX_CURVE_KEY_TXT_BYTES], b[TIX_CURVE_KEY_TXT_BYTES], list[600], why[512], cmd[4000];
    s_keygen("ra", a);
    s_keygen("rb", b);
    s_path(list, sizeof list, "revlist");
    snprintf(cmd, sizeof cmd, "mkdir -p %s/revoked %s/.hidden && cp %s/ra %s/rb %s/ && cp %s/rb %s/.hidden/", list,
             list, s_dir, s_dir, list, s_dir, list);
    assert_int_equal(system(cmd), 0);
    tix_curve_allow_t *dir = tix_curve_allow_new(list, why, sizeof why);
    assert_non_null(dir);
    assert_true(tix_curve_allow_has(dir, a));
    assert_true(tix_curve_allow_has(dir, b));
    /* Revoked the way an operator would: moved aside, not deleted. */
    snprintf(cmd, sizeof cmd, "mv %s/ra %s/revoked/", list, list);
    assert_int_equal(system(cmd), 0);
    assert_false(tix_curve_allow_has(dir, a));
    assert_true(tix_curve_allow_has(dir, b));
    tix_curve_allow_destroy(&dir);
    /* A fresh load (a broker started after the move) agrees. */
    dir = tix_curve_allow_new(list, why, sizeof why);
    assert_false(tix_curve_allow_has(dir, a));
    assert_true(tix_curve_allow_has(dir, b));
    /* A symbolic link to a file directly in the list counts (a Kubernetes
     * Secret volume is made of them); hidden names do not. */
    snprintf(cmd, sizeof cmd, "ln -s revoked/ra %s/ra-link && mv %s/rb %s/.rb", list, list, list);
    assert_int_equal(system(cmd), 0);
    assert_true(tix_curve_allow_has(dir, a));
    assert_false(tix_curve_allow_has(dir, b));
    tix_curve_allow_destroy(&dir);
}

static void
test_key_short_shows_eight_characters(void **state)
{
    (void) state;
    char out[TIX_CURVE_KEY_SHOWN + 1];
    tix_curve_key_short("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN", out);
    assert_string_equal(out, "abcdefgh");
    tix_curve_key_short("", out);
    assert_string_equal(out, "");
}

static void
test_broker_logs_a_denied_key_at_most_once_a_minute(void **state)
{
    (void) state;
    char pub[TIX_CURVE_KEY_TXT_BYTES], path[600], why[512];
    s_keygen("kbroker", pub);
    s_path(path, sizeof path, "kbroker");
    broker_zap_curve_paths_t paths = {.secret = path, .clients = path, .workers = path};
    broker_zap_curve_t *curve = broker_zap_curve_load(&paths, why, sizeof why);
    assert_non_null(curve);
    assert_true(broker_zap_curve_allowed(curve, BROKER_ZAP_EVENTS_IN, pub));
    assert_false(broker_zap_curve_allowed(curve, BROKER_ZAP_EVENTS_OUT, pub)); /* no subscribers list: no one */
    assert_false(broker_zap_curve_is_admin(curve, pub));
    broker_zap_t *zap = broker_zap_new(curve);
    assert_non_null(zap);
    const char *k1 = "1111111111111111111111111111111111111111", *k2 = "2222222222222222222222222222222222222222";
    assert_true(broker_zap_should_log(zap, k1, 1000));
    assert_false(broker_zap_should_log(zap, k1, 2000));
    assert_true(broker_zap_should_log(zap, k2, 2000));
    assert_false(broker_zap_should_log(zap, k1, 1000 + BROKER_ZAP_DENIED_LOG_IVL_MS - 1));
    assert_true(broker_zap_should_log(zap, k1, 1000 + BROKER_ZAP_DENIED_LOG_IVL_MS));
    /* Bounded: many distinct keys never grow the table. */
    char k[TIX_CURVE_KEY_TXT_BYTES];
    for (int i = 0; i < 3 * BROKER_ZAP_DENIED_SLOTS; i++) {
        snprintf(k, sizeof k, "%040d", i);
        assert_true(broker_zap_should_log(zap, k, 100000 + i));
    }
    broker_zap_destroy(&zap);
    broker_zap_curve_destroy(&curve);
    paths.clients = NULL;
    assert_null(broker_zap_curve_load(&paths, why, sizeof why));
    assert_non_null(strstr(why, "--curve-clients"));
}

int
main(void)
{
    snprintf(s_dir, sizeof s_dir, "%s", th_tmpdir());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_then_load_gives_the_same_pair_from_either_file),
        cmocka_unit_test(test_keygen_refuses_to_overwrite_and_odd_names),
        cmocka_unit_test(test_secret_readable_by_group_or_others_is_refused_with_chmod_600),
        cmocka_unit_test(test_public_file_alone_is_no_pair_but_is_a_server_key),
        cmocka_unit_test(test_client_config_needs_both_flags_or_neither),
        cmocka_unit_test(test_allow_list_from_a_file_and_from_a_directory_that_changes),
        cmocka_unit_test(test_key_moved_into_a_subdirectory_is_revoked),
        cmocka_unit_test(test_key_short_shows_eight_characters),
        cmocka_unit_test(test_broker_logs_a_denied_key_at_most_once_a_minute),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
