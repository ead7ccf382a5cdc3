/*
 * rush_session.h - one rush from start to verdict.
 *
 * Connects (rush_run), creates the sale or reads it (--no-create), runs the
 * rush with a live progress line on a terminal, reads the sale again,
 * checks the invariants (rush_check) and prints the report (rush_report).
 * main.c parses the configuration and calls this once.
 * Threading: the calling thread only (the rush's one loop).
 */
#ifndef RUSH_SESSION_H
#define RUSH_SESSION_H

#include "rush_config.h"

/* Exit statuses besides RUSH_EXIT_USAGE (rush_config.h). */
#define RUSH_EXIT_PASSED 0        /* every check passed */
#define RUSH_EXIT_CHECK_FAILED 1  /* a check failed (the report says which) */
#define RUSH_EXIT_CANNOT_RUN 3    /* no broker, sale not created or not found, the loop failed */
#define RUSH_EXIT_INTERRUPTED 130 /* SIGINT/SIGTERM (tix_signals_install) */

/* Runs the rush cfg describes (borrowed) and returns the exit status. What
 * went wrong before the report is one line "tix-rush: reason" on stderr;
 * the report goes to stdout. */
int rush_session_run(const rush_config_t *cfg);

#endif
