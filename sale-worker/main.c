/*
 * main.c - tix-worker: parse the configuration (worker_config.h), run one
 * worker until SIGINT/SIGTERM, stop cleanly (exit 0). Bad configuration
 * exits 2 with a one-line reason, and so does a Redis that is not durable
 * (unless --allow-unsafe-redis); a worker that cannot start exits 1.
 */
#include <signal.h>

#include <czmq.h>

#include "tix_log.h"
#include "tix_util.h"
#include "worker.h"

int
main(int argc, char **argv)
{
    tix_log_init("worker");
    worker_config_t config = {0};
    bool help;
    if (worker_config_parse(&config, argc, argv, &help) != TIX_OK)
        return 2;
    if (help)
        return 0;

    /* czmq installs its own SIGINT/SIGTERM handler on first use unless told
     * not to; ours must stay in charge so that tix_stopping() sees signals. */
    zsys_handler_set(NULL);
    tix_signals_install();
    struct sigaction ours, now;
    sigaction(SIGTERM, NULL, &ours);
    worker_t *worker = worker_new(&config);
    if (!worker)
        return 1;
    sigaction(SIGTERM, NULL, &now);
    if (now.sa_handler != ours.sa_handler) {
        tix_error("the SIGTERM handler was replaced; refusing to run without a clean stop");
        worker_destroy(&worker);
        return 1;
    }
    if (!worker_open_http(worker)) {
        worker_destroy(&worker);
        return 2;
    }
    tix_err err = worker_run(worker);
    worker_destroy(&worker);
    return err == TIX_OK ? 0 : err == TIX_ERR_CONFIG ? 2 : 1;
}
