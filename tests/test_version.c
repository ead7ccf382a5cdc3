/*
 * test_version.c - every binary, run as a process: --version prints
 * "NAME VERSION (git SHA)" with the CMake project's version and exits 0;
 * a TIX_LOG_FORMAT other than kv or json exits 2 with one line naming it.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define OUT_MAX 4096

static const char *const s_bins[] = {"tix-broker", "tix-worker", "tix-persister", "tix", "tix-rush"};

/* Runs TIX_BIN_DIR/bin with one argument and env ("K=V" or NULL); keeps
 * stdout and stderr apart. Returns the exit status, or -1. */
static int
s_run(const char *bin, const char *arg, const char *env, char *out, char *err)
{
    const char *argv[] = {bin, arg, NULL}, *envv[] = {env, NULL};
    return th_run_both(argv, envv, out, OUT_MAX, err, OUT_MAX);
}

static void
test_every_binary_prints_its_version_and_exits_0(void **state)
{
    (void) state;
    regex_t re;
    assert_int_equal(
        regcomp(&re, "^[a-z-]+ [0-9]+\\.[0-9]+\\.[0-9]+ \\(git ([0-9a-f]{4,}|unknown)\\)\n$", REG_EXTENDED), 0);
    for (size_t i = 0; i < sizeof s_bins / sizeof s_bins[0]; i++) {
        char out[OUT_MAX], err[OUT_MAX], want[128];
        assert_int_equal(s_run(s_bins[i], "--version", NULL, out, err), 0);
        fprintf(stderr, "%s", out);
        snprintf(want, sizeof want, "%s %s (git ", s_bins[i], TIX_EXPECT_VERSION);
        assert_memory_equal(out, want, strlen(want));
        assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
        assert_string_equal(err, "");
    }
    regfree(&re);
}

static void
test_a_bad_log_format_exits_2_with_one_line(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_bins / sizeof s_bins[0]; i++) {
        char out[OUT_MAX], err[OUT_MAX], want[160];
        /* --help would exit 0 after parsing: the variable is read first. */
        assert_int_equal(s_run(s_bins[i], "--help", "TIX_LOG_FORMAT=xml", out, err), 2);
        snprintf(want, sizeof want, "%s: TIX_LOG_FORMAT: expected kv or json, got 'xml'\n", s_bins[i]);
        assert_string_equal(err, want);
        assert_string_equal(out, "");
        assert_int_equal(s_run(s_bins[i], "--log-format=yaml", NULL, out, err), 2);
        snprintf(want, sizeof want, "%s: --log-format: expected kv or json, got 'yaml'\n", s_bins[i]);
        assert_string_equal(err, want);
        assert_int_equal(s_run(s_bins[i], "--help", "TIX_LOG_FORMAT=json", out, err), 0);
        assert_non_null(strstr(out, "--log-format"));
        assert_non_null(strstr(out, "--version"));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_binary_prints_its_version_and_exits_0),
        cmocka_unit_test(test_a_bad_log_format_exits_2_with_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
