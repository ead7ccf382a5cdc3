/*
 * rush_report.h - what a rush prints: the live progress line, the final
 * table, the one-line verdict (--quiet) and the JSON object (--json).
 *
 * main.c fills a rush_summary_t after the rush and calls one printer.
 * The JSON object is one line; its keys are documented in
 * clients/rush/README.md and are what bench/ and the tests parse.
 * Threading: none. Errors: none (output errors are the stream's).
 */
#ifndef RUSH_REPORT_H
#define RUSH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rush_check.h"
#include "rush_config.h"
#include "rush_hist.h"
#include "rush_sale.h"
#include "rush_tally.h"

/* Everything a report shows; every pointer borrowed. */
typedef struct {
    const rush_config_t *cfg;    /* the run's configuration */
    const rush_counts_t *counts; /* answers */
    const rush_hist_t *latency;  /* per-user latency, microseconds */
    rush_sale_t before;          /* GetSale before the rush */
    rush_sale_t after;           /* GetSale after (valid when have_after) */
    bool have_after;             /* GetSale after the rush answered */
    const rush_checks_t *checks; /* the invariants */
    int64_t wall_us;             /* first send to last final answer */
    long peak_rss_kb;            /* getrusage ru_maxrss of tix-rush */
    double cpu_s;                /* user + system CPU of tix-rush */
    bool interrupted;            /* SIGINT/SIGTERM stopped the rush */
} rush_summary_t;

/* The table for people, on out. */
void rush_report_table(const rush_summary_t *s, FILE *out);
/* One JSON object on one line, on out. */
void rush_report_json(const rush_summary_t *s, FILE *out);
/* One line: "PASS|FAIL sale=... purchased=... wall_ms=... p99_ms=...". */
void rush_report_verdict(const rush_summary_t *s, FILE *out);
/* Rewrites the progress line (carriage return, no newline) on out. */
void rush_report_progress(const rush_counts_t *c, uint32_t in_progress, int64_t elapsed_us, FILE *out);
/* Ends the progress line (clears it) on out. */
void rush_report_progress_end(FILE *out);

/* Names for the report and the tests: "PURCHASED", "SOLD_OUT", ... */
const char *rush_report_outcome_name(unsigned outcome);

#endif
