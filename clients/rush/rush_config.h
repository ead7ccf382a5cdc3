/*
 * rush_config.h - tix-rush's configuration: flags with TIX_* twins.
 *
 * main.c parses the command line into a rush_config_t; every other rush
 * module reads it (borrowed, never changed after parsing).
 * Threading: parse from main only.
 */
#ifndef RUSH_CONFIG_H
#define RUSH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "tix_codec.h"
#include "tix_err.h"

#define RUSH_DEFAULT_USERS 20000
#define RUSH_DEFAULT_TICKETS 200
#define RUSH_DEFAULT_IN_FLIGHT 2000
#define RUSH_DEFAULT_CONNECTIONS 1
#define RUSH_DEFAULT_TIMEOUT_MS 10000
#define RUSH_MAX_USERS 100000000u   /* 2 bits per user: 25 MB at most */
#define RUSH_MAX_IN_FLIGHT 1000000u /* calls (and users waiting to retry) at once */
#define RUSH_MAX_CONNECTIONS 16
#define RUSH_USER_PREFIX_MAX_BYTES 64 /* leaves room for the user's number in a user_id */
#define RUSH_EXIT_USAGE 2             /* bad flag or value (one line on stderr) */

typedef struct {
    const char *frontend;                         /* endpoint list (borrowed from argv/environ) */
    const char *curve_secret;                     /* this client's certificate, or NULL (plain) */
    const char *curve_server;                     /* the broker's public certificate, or NULL */
    char sale_id[TIX_SALE_ID_MAX_BYTES + 1];      /* the sale rushed */
    char user_prefix[RUSH_USER_PREFIX_MAX_BYTES]; /* user i is "<prefix><i>" */
    uint32_t users;                               /* distinct users, one Purchase each */
    uint32_t tickets;                             /* total of the sale it creates */
    bool create;                                  /* create the sale first (false: --no-create) */
    uint32_t in_flight;                           /* closed loop: users in progress at once */
    uint32_t connections;                         /* libtix clients (DEALER sockets) */
    double rate;                                  /* open loop: arrivals per second; 0 = closed loop */
    uint32_t timeout_ms;                          /* per user: first send to final answer */
    bool json;                                    /* print one JSON object instead of the table */
    bool quiet;                                   /* no progress line, a one-line verdict only */
    const char *log_level;                        /* debug, info, warn, error */
} rush_config_t;

/* Parses argv into cfg (defaults, then TIX_* variables, then flags).
 * TIX_OK with *help true when --help was printed (exit 0).
 * TIX_ERR_CONFIG after printing one line "tix-rush: reason" on stderr
 * (exit RUSH_EXIT_USAGE). cfg borrows strings from argv and environ. */
tix_err rush_config_parse(int argc, char **argv, rush_config_t *cfg, bool *help);

#endif
