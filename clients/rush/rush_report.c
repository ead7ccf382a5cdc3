/*
 * rush_report.c - table, verdict, progress line and JSON of a rush.
 */
#include "rush_report.h"

#include <string.h>

/* Percentiles the report shows, with their JSON keys and table labels. */
static const struct {
    double p;
    const char *key;
    const char *label;
} s_pcts[] = {{50, "p50", "p50"}, {90, "p90", "p90"}, {99, "p99", "p99"}, {99.9, "p999", "p99.9"}};

const char *
rush_report_outcome_name(unsigned outcome)
{
    static const char *const names[RUSH_OUTCOMES] = {"OUTCOME_UNSPECIFIED", "PURCHASED",     "SOLD_OUT",
                                                     "ALREADY_PURCHASED",   "SALE_NOT_OPEN", "SALE_CLOSED"};
    return outcome < RUSH_OUTCOMES ? names[outcome] : names[0];
}

static double
s_per_s(uint64_t n, int64_t us)
{
    return us > 0 ? (double) n * 1e6 / (double) us : 0.0;
}

static double
s_ms(uint64_t us)
{
    return (double) us / 1000.0;
}

static const char *
s_mode(const rush_config_t *cfg)
{
    return cfg->rate > 0 ? "open" : "closed";
}

/* ---- Table ------------------------------------------------------------------ */

static void
s_table_counts(const rush_summary_t *s, FILE *out)
{
    const rush_counts_t *c = s->counts;
    fprintf(out, "\noutcomes (final answers)\n");
    for (unsigned o = 1; o < RUSH_OUTCOMES; o++)
        fprintf(out, "  %-22s %12llu\n", rush_report_outcome_name(o), (unsigned long long) c->outcomes[o]);
    if (c->outcomes[0])
        fprintf(out, "  %-22s %12llu\n", rush_report_outcome_name(0), (unsigned long long) c->outcomes[0]);
    for (int code = 1; code < RUSH_CODES; code++) {
        if (c->errors[code])
            fprintf(out, "  %-22s %12llu%s\n", tix_code_name((tix_code) code), (unsigned long long) c->errors[code],
                    code == TIX__V1__CODE__DEADLINE_EXCEEDED && c->client_timeouts ? "  (some client-side)" : "");
    }
    if (s->interrupted || c->answered < c->users)
        fprintf(out, "  %-22s %12llu\n", "(no answer)", (unsigned long long) (c->users - c->answered));
    fprintf(out, "retried answers\n");
    fprintf(out, "  %-22s %12llu\n", "RESOURCE_EXHAUSTED",
            (unsigned long long) c->retries[TIX__V1__CODE__RESOURCE_EXHAUSTED]);
    fprintf(out, "  %-22s %12llu\n", "UNAVAILABLE", (unsigned long long) c->retries[TIX__V1__CODE__UNAVAILABLE]);
    fprintf(out, "  %-22s %12llu\n", "(silence: resent)", (unsigned long long) c->resent_silent);
    fprintf(out, "  %-22s %12llu\n", "calls sent (all)", (unsigned long long) c->calls);
}

static void
s_table_timing(const rush_summary_t *s, FILE *out)
{
    const rush_counts_t *c = s->counts;
    fprintf(out, "\ntiming\n");
    fprintf(out, "  %-40s %10.3f s\n", "whole rush (start -> last answer)", (double) s->wall_us / 1e6);
    if (c->sellout_us >= 0)
        fprintf(out, "  %-40s %10.3f s\n", "sold out (start -> last ticket sold)", (double) c->sellout_us / 1e6);
    else
        fprintf(out, "  %-40s %12s\n", "sold out (start -> last ticket sold)", "not sold out");
    fprintf(out, "  %-40s %10.0f answers/s\n", "throughput (final answers)", s_per_s(c->answered, s->wall_us));
    fprintf(out, "  %-40s %10.0f calls/s\n", "calls (with retries)", s_per_s(c->calls, s->wall_us));
    fprintf(out, "latency per user, first send -> final answer (ms)\n ");
    for (size_t i = 0; i < sizeof s_pcts / sizeof s_pcts[0]; i++)
        fprintf(out, " %s %.3f ", s_pcts[i].label, s_ms(rush_hist_percentile(s->latency, s_pcts[i].p)));
    fprintf(out, " max %.3f  mean %.3f\n", s_ms(rush_hist_max(s->latency)), rush_hist_mean(s->latency) / 1000.0);
    fprintf(out, "tix-rush itself: peak RSS %.1f MB, CPU %.2f s\n", (double) s->peak_rss_kb / 1024.0, s->cpu_s);
}

void
rush_report_table(const rush_summary_t *s, FILE *out)
{
    const rush_config_t *cfg = s->cfg;
    fprintf(out, "tix-rush: sale %s on %s\n", cfg->sale_id, cfg->frontend);
    fprintf(out, "  %u users, %u tickets available (total %u), %s loop, %u in flight", cfg->users, s->before.remaining,
            s->before.total, s_mode(cfg), cfg->in_flight);
    if (cfg->rate > 0)
        fprintf(out, ", %.0f arrivals/s", cfg->rate);
    fprintf(out, ", %u connection%s\n", cfg->connections, cfg->connections == 1 ? "" : "s");
    s_table_counts(s, out);
    s_table_timing(s, out);
    fprintf(out, "\nchecks\n");
    for (size_t i = 0; i < s->checks->n; i++) {
        const rush_check_t *k = &s->checks->items[i];
        fprintf(out, "  %s %-16s %s\n", k->pass ? "PASS" : "FAIL", k->name, k->detail);
    }
    fprintf(out, "RESULT: %s%s\n", s->checks->pass ? "PASS" : "FAIL", s->interrupted ? " (interrupted)" : "");
}

void
rush_report_verdict(const rush_summary_t *s, FILE *out)
{
    const rush_counts_t *c = s->counts;
    fprintf(out, "%s sale=%s users=%llu purchased=%llu sold_out=%llu answered=%llu wall_ms=%.1f p99_ms=%.3f\n",
            s->checks->pass ? "PASS" : "FAIL", s->cfg->sale_id, (unsigned long long) c->users,
            (unsigned long long) c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED],
            (unsigned long long) c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT],
            (unsigned long long) c->answered, (double) s->wall_us / 1000.0, s_ms(rush_hist_percentile(s->latency, 99)));
}

/* ---- Progress ----------------------------------------------------------------- */

void
rush_report_progress(const rush_counts_t *c, uint32_t in_progress, int64_t elapsed_us, FILE *out)
{
    fprintf(out,
            "\r\033[K%7.2fs  answered %llu/%llu  purchased %llu  sold out %llu  in progress %u  retries %llu  "
            "%.0f/s",
            (double) elapsed_us / 1e6, (unsigned long long) c->answered, (unsigned long long) c->users,
            (unsigned long long) c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED],
            (unsigned long long) c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT], in_progress,
            (unsigned long long) c->retries[TIX__V1__CODE__RESOURCE_EXHAUSTED] +
                (unsigned long long) c->retries[TIX__V1__CODE__UNAVAILABLE],
            s_per_s(c->answered, elapsed_us));
    fflush(out);
}

void
rush_report_progress_end(FILE *out)
{
    fputs("\r\033[K", out);
    fflush(out);
}

/* ---- JSON ----------------------------------------------------------------------- */

/* Writes s as a JSON string (quotes, backslashes and controls escaped). */
static void
s_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void
s_json_counts(const rush_summary_t *s, FILE *out)
{
    const rush_counts_t *c = s->counts;
    fprintf(out, "\"outcomes\":{");
    for (unsigned o = 1; o < RUSH_OUTCOMES; o++)
        fprintf(out, "%s\"%s\":%llu", o > 1 ? "," : "", rush_report_outcome_name(o),
                (unsigned long long) c->outcomes[o]);
    fprintf(out, "},\"errors\":{");
    const char *sep = "";
    for (int code = 1; code < RUSH_CODES; code++) {
        if (c->errors[code]) {
            fprintf(out, "%s\"%s\":%llu", sep, tix_code_name((tix_code) code), (unsigned long long) c->errors[code]);
            sep = ",";
        }
    }
    fprintf(out, "},\"client_timeouts\":%llu,\"unanswered\":%llu,\"malformed\":%llu,",
            (unsigned long long) c->client_timeouts, (unsigned long long) (c->users - c->answered),
            (unsigned long long) c->malformed);
    fprintf(out,
            "\"retries\":{\"RESOURCE_EXHAUSTED\":%llu,\"UNAVAILABLE\":%llu},\"resent_silent\":%llu,\"calls\":%llu,",
            (unsigned long long) c->retries[TIX__V1__CODE__RESOURCE_EXHAUSTED],
            (unsigned long long) c->retries[TIX__V1__CODE__UNAVAILABLE], (unsigned long long) c->resent_silent,
            (unsigned long long) c->calls);
}

static void
s_json_timing(const rush_summary_t *s, FILE *out)
{
    const rush_counts_t *c = s->counts;
    fprintf(out, "\"answered\":%llu,\"wall_ms\":%.3f,", (unsigned long long) c->answered, (double) s->wall_us / 1000.0);
    if (c->sellout_us >= 0)
        fprintf(out, "\"sellout_ms\":%.3f,", (double) c->sellout_us / 1000.0);
    else
        fprintf(out, "\"sellout_ms\":null,");
    fprintf(out, "\"answers_per_s\":%.1f,\"calls_per_s\":%.1f,\"latency_us\":{", s_per_s(c->answered, s->wall_us),
            s_per_s(c->calls, s->wall_us));
    for (size_t i = 0; i < sizeof s_pcts / sizeof s_pcts[0]; i++)
        fprintf(out, "\"%s\":%llu,", s_pcts[i].key, (unsigned long long) rush_hist_percentile(s->latency, s_pcts[i].p));
    fprintf(out, "\"max\":%llu,\"min\":%llu,\"mean\":%.1f,\"count\":%llu},",
            (unsigned long long) rush_hist_max(s->latency), (unsigned long long) rush_hist_min(s->latency),
            rush_hist_mean(s->latency), (unsigned long long) rush_hist_count(s->latency));
}

static void
s_json_checks(const rush_summary_t *s, FILE *out)
{
    fprintf(out, "\"checks\":[");
    for (size_t i = 0; i < s->checks->n; i++) {
        const rush_check_t *k = &s->checks->items[i];
        fprintf(out, "%s{\"name\":\"%s\",\"pass\":%s,\"detail\":", i ? "," : "", k->name, k->pass ? "true" : "false");
        s_json_str(out, k->detail);
        fputc('}', out);
    }
    fprintf(out, "],\"pass\":%s", s->checks->pass ? "true" : "false");
}

void
rush_report_json(const rush_summary_t *s, FILE *out)
{
    const rush_config_t *cfg = s->cfg;
    fprintf(out, "{\"sale_id\":");
    s_json_str(out, cfg->sale_id);
    fprintf(out, ",\"user_prefix\":");
    s_json_str(out, cfg->user_prefix);
    fprintf(out, ",\"users\":%u,\"mode\":\"%s\",\"in_flight\":%u,\"connections\":%u,\"rate\":%.0f,\"timeout_ms\":%u,",
            cfg->users, s_mode(cfg), cfg->in_flight, cfg->connections, cfg->rate, cfg->timeout_ms);
    fprintf(out, "\"sale_before\":{\"total\":%u,\"remaining\":%u,\"state\":\"%s\",\"cancels\":%lld},", s->before.total,
            s->before.remaining, rush_sale_state_name(s->before.state), (long long) s->before.cancels);
    if (s->have_after)
        fprintf(out, "\"sale_after\":{\"total\":%u,\"remaining\":%u,\"state\":\"%s\",\"cancels\":%lld},",
                s->after.total, s->after.remaining, rush_sale_state_name(s->after.state), (long long) s->after.cancels);
    else
        fprintf(out, "\"sale_after\":null,");
    s_json_counts(s, out);
    s_json_timing(s, out);
    fprintf(out, "\"peak_rss_kb\":%ld,\"cpu_s\":%.3f,\"interrupted\":%s,", s->peak_rss_kb, s->cpu_s,
            s->interrupted ? "true" : "false");
    s_json_checks(s, out);
    fprintf(out, "}\n");
}
