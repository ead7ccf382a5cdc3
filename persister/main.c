/*
 * tix-persister: parse configuration, open the sink, loop until SIGINT or
 * SIGTERM, flush what is held, store the cursors, destroy.
 */
#include <stdio.h>

#include <czmq.h>

#include "persister.h"
#include "persister_jsonl.h"
#include "persister_mongo.h"
#include "tix_log.h"
#include "tix_util.h"

/* The configured sink, or NULL after printing why. */
static persister_sink_t *
s_sink_new(const persister_config_t *c)
{
    char why[512];
    persister_sink_t *sink =
        c->sink == PERSISTER_SINK_JSONL
            ? persister_jsonl_new(c->jsonl_path, why, sizeof why)
            : persister_mongo_new(c->mongo_uri, c->database, c->write_w, c->wtimeout_ms, why, sizeof why);
    if (!sink)
        fprintf(stderr, "tix-persister: %s\n", why);
    return sink;
}

int
main(int argc, char **argv)
{
    persister_config_t config;
    bool help;
    persister_config_defaults(&config);
    if (persister_config_parse(&config, argc, argv, &help) != TIX_OK)
        return 2;
    if (help)
        return 0;
    tix_log_init("persister");
    zsys_handler_set(NULL); /* our handlers, not czmq's, own SIGINT/SIGTERM */
    tix_signals_install();

    persister_sink_t *sink = s_sink_new(&config);
    if (!sink)
        return 2;
    persister_t *persister = persister_new(&config, &sink);
    if (!persister) { /* the one error line is logged */
        persister_mongo_cleanup();
        return 1;
    }
    if (!persister_open_http(persister)) {
        persister_destroy(&persister);
        persister_mongo_cleanup();
        return 2;
    }
    persister_run(persister);
    tix_info("stopping\tdrain_ms=%d held=%zu", config.drain_ms, persister_held(persister));
    persister_drain(persister, config.drain_ms);
    persister_destroy(&persister);
    persister_mongo_cleanup();
    zsys_shutdown();
    return 0;
}
