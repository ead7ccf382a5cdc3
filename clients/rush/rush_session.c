/*
 * rush_session.c - the rush's sequence: sale before, rush, sale after,
 * checks, report, exit status.
 */
#include "rush_session.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rush_check.h"
#include "rush_report.h"
#include "rush_run.h"
#include "rush_sale.h"
#include "tix_util.h"

static void
s_progress(const rush_counts_t *c, uint32_t in_progress, int64_t elapsed_us, void *arg)
{
    (void) arg;
    rush_report_progress(c, in_progress, elapsed_us, stderr);
}

/* The sale before the rush: created now, or read when --no-create. */
static bool
s_sale_before(const rush_config_t *cfg, tix_client_t *client, rush_sale_t *sale)
{
    char why[RUSH_WHY_MAX_BYTES];
    tix_err err = cfg->create
                      ? rush_sale_create(client, cfg->sale_id, cfg->tickets, cfg->timeout_ms, sale, why, sizeof why)
                      : rush_sale_get(client, cfg->sale_id, cfg->timeout_ms, sale, why, sizeof why);
    if (err != TIX_OK)
        fprintf(stderr, "tix-rush: %s sale %s: %s\n", cfg->create ? "cannot create" : "cannot read", cfg->sale_id, why);
    else
        rush_sale_count_cancels(client, cfg->sale_id, cfg->timeout_ms, sale);
    return err == TIX_OK;
}

static void
s_usage_of_self(rush_summary_t *s)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return;
    s->peak_rss_kb = ru.ru_maxrss;
    s->cpu_s = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
               (double) ru.ru_stime.tv_usec / 1e6;
}

/* Reads the sale after the rush, checks, prints; returns the exit status. */
static int
s_finish(const rush_config_t *cfg, rush_run_t *run, const rush_tally_t *tally, const rush_hist_t *hist,
         const rush_sale_t *before, tix_err err)
{
    rush_summary_t s = {.cfg = cfg, .counts = rush_tally_counts(tally), .latency = hist, .before = *before};
    char why[RUSH_WHY_MAX_BYTES] = "";
    s.have_after =
        rush_sale_get(rush_run_client(run), cfg->sale_id, cfg->timeout_ms, &s.after, why, sizeof why) == TIX_OK;
    if (s.have_after)
        rush_sale_count_cancels(rush_run_client(run), cfg->sale_id, cfg->timeout_ms, &s.after);
    rush_checks_t checks;
    rush_check_all(s.counts, before, s.have_after ? &s.after : NULL, why, &checks);
    s.checks = &checks;
    s.wall_us = rush_run_wall_us(run);
    s.interrupted = err == TIX_ERR_INTERRUPTED;
    s_usage_of_self(&s);
    if (cfg->json)
        rush_report_json(&s, stdout);
    else if (cfg->quiet)
        rush_report_verdict(&s, stdout);
    else
        rush_report_table(&s, stdout);
    fflush(stdout);
    if (s.interrupted)
        return RUSH_EXIT_INTERRUPTED;
    if (err != TIX_OK) {
        fprintf(stderr, "tix-rush: the rush stopped: %s\n", tix_strerror(err));
        return RUSH_EXIT_CANNOT_RUN;
    }
    return checks.pass ? RUSH_EXIT_PASSED : RUSH_EXIT_CHECK_FAILED;
}

int
rush_session_run(const rush_config_t *cfg)
{
    char why[RUSH_WHY_MAX_BYTES];
    rush_run_t *run = rush_run_new(cfg, why, sizeof why);
    if (!run) {
        fprintf(stderr, "tix-rush: %s\n", why);
        return tix_stopping() ? RUSH_EXIT_INTERRUPTED : RUSH_EXIT_CANNOT_RUN;
    }
    rush_sale_t before;
    if (!s_sale_before(cfg, rush_run_client(run), &before)) {
        rush_run_destroy(&run);
        return tix_stopping() ? RUSH_EXIT_INTERRUPTED : RUSH_EXIT_CANNOT_RUN;
    }
    rush_tally_t *tally = rush_tally_new(cfg->users, before.remaining);
    rush_hist_t *hist = rush_hist_new();
    bool live = !cfg->quiet && isatty(STDERR_FILENO);
    tix_err err = rush_run_go(run, tally, hist, live ? s_progress : NULL, NULL);
    if (live)
        rush_report_progress_end(stderr);
    int status = s_finish(cfg, run, tally, hist, &before, err);
    rush_hist_destroy(&hist);
    rush_tally_destroy(&tally);
    rush_run_destroy(&run);
    return status;
}
