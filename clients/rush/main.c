/*
 * tix-rush: parse the configuration, install the signal handlers, run one
 * rush (rush_session.c), exit with its verdict.
 */
#include <czmq.h>

#include "rush_config.h"
#include "rush_session.h"
#include "tix_log.h"
#include "tix_util.h"

int
main(int argc, char **argv)
{
    rush_config_t cfg;
    bool help;
    if (rush_config_parse(argc, argv, &cfg, &help) != TIX_OK)
        return RUSH_EXIT_USAGE;
    if (help)
        return 0;
    tix_log_init("rush");
    zsys_handler_set(NULL); /* our handlers, not czmq's, own SIGINT/SIGTERM */
    tix_signals_install();
    return rush_session_run(&cfg);
}
