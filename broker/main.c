/*
 * tix-broker: parse configuration, start, loop until SIGINT/SIGTERM, drain,
 * destroy.
 */
#include <czmq.h>

#include "broker.h"
#include "broker_config.h"
#include "tix_log.h"
#include "tix_util.h"

int
main(int argc, char **argv)
{
    broker_config_t config;
    bool help;
    broker_config_defaults(&config);
    if (broker_config_parse(&config, argc, argv, &help) != TIX_OK)
        return 2;
    if (help)
        return 0;
    tix_log_init("broker");
    zsys_handler_set(NULL); /* our handlers, not czmq's, own SIGINT/SIGTERM */
    tix_signals_install();

    broker_t *broker = broker_new(&config);
    if (!broker) { /* the one error line, naming the flag, is logged */
        broker_zap_curve_destroy(&config.curve);
        return 1;
    }
    if (!broker_open_http(broker)) {
        broker_destroy(&broker);
        broker_zap_curve_destroy(&config.curve);
        return 2;
    }
    broker_run(broker);
    tix_info("stopping\tdrain_ms=%u", config.drain_ms);
    broker_drain(broker);
    broker_destroy(&broker);
    broker_zap_curve_destroy(&config.curve);
    zsys_shutdown();
    return 0;
}
