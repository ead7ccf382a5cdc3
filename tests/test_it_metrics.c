/*
 * test_it_metrics.c - the services' HTTP endpoints (--http) on a real
 * stack: redis-server, two tix-brokers, two tix-workers serving both, a
 * tix-persister (jsonl sink) reading both feeds, every one with --http on a
 * free loopback port.
 *
 * A 20,000-user rush on 200 tickets (tix-rush over both brokers) shows on
 * every endpoint: PURCHASED summed over the brokers is 200, SOLD_OUT 19,800,
 * the persister's persisted count reaches 200 and its lag returns to 0;
 * promtool check metrics has nothing to say about any endpoint. A real
 * Prometheus scraping the stack answers the sold count to PromQL. /readyz:
 * a worker's (and the persister's, and the brokers') turns 503 while Redis
 * is stopped and 200 when it is back; a broker without workers answers 503
 * (and, stopped, no /healthz); a persister without its sink answers 503.
 * /healthz, 404, 405, and a taken port (exit 2, one line naming --http).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "scrape.h"
#include "tix_util.h"

#define BROKERS 2
#define WORKERS 2
#define TEXT_BYTES (256 * 1024)
#define SALE "it-metrics"
#define USERS "it-metrics-user-"

typedef struct {
    th_redis_t redis;
    th_proc_t broker[BROKERS], worker[WORKERS], persister;
    int broker_http[BROKERS], worker_http[WORKERS], persister_http;
    char frontends[128], backends[128], events_ins[128], events_outs[128];
    char jsonl[300];
} s_stack_t;

static s_stack_t s_stack;
static char s_text[TEXT_BYTES];

static void
s_list_add(char *list, size_t size, int port)
{
    size_t n = strlen(list);
    snprintf(list + n, size - n, "%stcp://127.0.0.1:%d", n ? "," : "", port);
}

static bool
s_start(th_proc_t *p, const char *name, const char *const argv[])
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    return th_proc_start(p, argv, NULL);
}

static bool
s_start_brokers(s_stack_t *s)
{
    for (int i = 0; i < BROKERS; i++) {
        char fe[40], be[40], ei[40], eo[40], http[40], name[16];
        int fp = th_free_port(), bp = th_free_port(), ip = th_free_port(), op = th_free_port();
        s->broker_http[i] = th_free_port();
        snprintf(fe, sizeof fe, "tcp://127.0.0.1:%d", fp);
        snprintf(be, sizeof be, "tcp://127.0.0.1:%d", bp);
        snprintf(ei, sizeof ei, "tcp://127.0.0.1:%d", ip);
        snprintf(eo, sizeof eo, "tcp://127.0.0.1:%d", op);
        snprintf(http, sizeof http, "127.0.0.1:%d", s->broker_http[i]);
        snprintf(name, sizeof name, "broker%d", i);
        s_list_add(s->frontends, sizeof s->frontends, fp);
        s_list_add(s->backends, sizeof s->backends, bp);
        s_list_add(s->events_ins, sizeof s->events_ins, ip);
        s_list_add(s->events_outs, sizeof s->events_outs, op);
        const char *argv[] = {"tix-broker", "--frontend",   fe, "--backend", be,   "--events-in",
                              ei,           "--events-out", eo, "--http",    http, NULL};
        if (!s_start(&s->broker[i], name, argv))
            return false;
    }
    return true;
}

static bool
s_start_others(s_stack_t *s)
{
    for (int i = 0; i < WORKERS; i++) {
        char http[40], name[16];
        s->worker_http[i] = th_free_port();
        snprintf(http, sizeof http, "127.0.0.1:%d", s->worker_http[i]);
        snprintf(name, sizeof name, "worker%d", i);
        /* The default heartbeat (1 s): a loaded machine does not lose a worker mid-rush. */
        const char *argv[] = {"tix-worker", "--backend",   s->backends, "--events-in", s->events_ins, "--redis-url",
                              s->redis.url, "--worker-id", name,        "--http",      http,          NULL};
        if (!s_start(&s->worker[i], name, argv))
            return false;
    }
    char http[40], sink[320];
    s->persister_http = th_free_port();
    snprintf(http, sizeof http, "127.0.0.1:%d", s->persister_http);
    snprintf(s->jsonl, sizeof s->jsonl, "%s/orders.jsonl", th_tmpdir());
    snprintf(sink, sizeof sink, "jsonl:%s", s->jsonl);
    const char *argv[] = {"tix-persister", "--events-out", s->events_outs, "--redis-url", s->redis.url, "--sink", sink,
                          "--catchup-ms",  "200",          "--http",       http,          NULL};
    return s_start(&s->persister, "persister", argv);
}

/* Every endpoint answers /readyz 200: brokers with workers that have Redis,
 * workers with Redis, the persister with its sink and Redis. */
static bool
s_all_ready(const s_stack_t *s, int timeout_ms)
{
    bool ok = true;
    for (int i = 0; i < BROKERS; i++)
        ok &= th_http_wait_status(s->broker_http[i], "/readyz", 200, timeout_ms);
    for (int i = 0; i < WORKERS; i++)
        ok &= th_http_wait_status(s->worker_http[i], "/readyz", 200, timeout_ms);
    return ok & th_http_wait_status(s->persister_http, "/readyz", 200, timeout_ms);
}

static int
s_setup(void **state)
{
    (void) state;
    memset(&s_stack, 0, sizeof s_stack);
    if (!th_redis_start(&s_stack.redis) || !s_start_brokers(&s_stack) || !s_start_others(&s_stack))
        return -1;
    return s_all_ready(&s_stack, 15000) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    th_cleanup_all();
    return 0;
}

/* GET /metrics on port into s_text; checks the type and promtool, and that
 * no user id or order id of the rush shows. */
static void
s_scrape(int port)
{
    char type[128];
    assert_int_equal(th_http_request(port, "GET", "/metrics", s_text, sizeof s_text, type, sizeof type), 200);
    assert_string_equal(type, "text/plain; version=0.0.4; charset=utf-8");
    assert_true(th_promtool_clean(s_text));
    assert_null(strstr(s_text, USERS));
    assert_null(strstr(s_text, SALE ":"));
}

/* The persister's persisted count and lag, scraped. */
static void
s_persister_now(double *persisted, double *lag)
{
    s_scrape(s_stack.persister_http);
    *persisted = th_metric(s_text, "tix_orders_persisted_total{sink=\"jsonl\"}");
    *lag = th_metric(s_text, "tix_persist_lag_orders");
}

static void
test_rush_adds_up_on_every_endpoint(void **state)
{
    (void) state;
    char out[16384];
    const char *argv[] = {"tix-rush",  "--frontend", s_stack.frontends, "--sale", SALE,      "--users", "20000",
                          "--tickets", "200",        "--user-prefix",   USERS,    "--quiet", NULL};
    assert_int_equal(th_run(argv, NULL, out, sizeof out), 0);
    double purchased = 0, sold_out = 0, sold = 0, ok = 0;
    for (int i = 0; i < BROKERS; i++) {
        s_scrape(s_stack.broker_http[i]);
        purchased += th_metric(s_text, "tix_purchases_total{outcome=\"PURCHASED\"}");
        sold_out += th_metric(s_text, "tix_purchases_total{outcome=\"SOLD_OUT\"}");
        sold += th_metric(s_text, "tix_sale_sold{sale=\"" SALE "\"}");
        ok += th_metric(s_text, "tix_calls_total{method=\"Purchase\",code=\"OK\"}");
        assert_int_equal(th_metric(s_text, "tix_sale_remaining{sale=\"" SALE "\"}"), 0);
        /* Both workers, unless a loaded machine delayed heartbeats past the liveness. */
        assert_true(th_metric(s_text, "tix_workers") >= 1);
        assert_true(th_metric(s_text, "tix_call_duration_seconds_count{method=\"Purchase\"}") > 0);
        assert_true(th_metric(s_text, "process_resident_memory_bytes") > 0);
    }
    assert_int_equal(purchased, 200);
    assert_int_equal(sold_out, 19800);
    assert_int_equal(sold, 200);
    assert_int_equal(ok, 20000);
    double buys = 0;
    for (int i = 0; i < WORKERS; i++) {
        s_scrape(s_stack.worker_http[i]);
        /* A lone buy is one tix_buy call, buys that wait together one
         * tix_buy_many call: between one call and one per Purchase sent. */
        buys += th_metric(s_text, "tix_redis_calls_total{function=\"tix_buy\",status=\"ok\"}");
        buys += th_metric(s_text, "tix_redis_calls_total{function=\"tix_buy_many\",status=\"ok\"}");
        assert_int_equal(th_metric(s_text, "tix_redis_up"), 1);
    }
    assert_true(buys >= 1 && buys <= 20000);
    /* The persister catches up: 200 durable, nothing known left behind. */
    double persisted = 0, lag = -1;
    int64_t deadline = tix_now_ms() + 20000;
    for (s_persister_now(&persisted, &lag); (persisted < 200 || lag != 0) && tix_now_ms() < deadline;
         s_persister_now(&persisted, &lag))
        usleep(50000);
    assert_int_equal(persisted, 200);
    assert_int_equal(lag, 0);
}

static void
test_paths_and_methods(void **state)
{
    (void) state;
    char body[256];
    int port = s_stack.worker_http[0];
    assert_int_equal(th_http_get(port, "/healthz", body, sizeof body), 200);
    assert_string_equal(body, "ok\n");
    assert_int_equal(th_http_get(port, "/readyz", body, sizeof body), 200);
    assert_string_equal(body, "ready\n");
    assert_int_equal(th_http_get(port, "/", body, sizeof body), 404);
    assert_int_equal(th_http_get(port, "/metrics/x", body, sizeof body), 404);
    assert_int_equal(th_http_request(port, "POST", "/metrics", body, sizeof body, NULL, 0), 405);
    assert_int_equal(th_http_request(s_stack.broker_http[0], "DELETE", "/healthz", body, sizeof body, NULL, 0), 405);
}

/* A taken --http port: exit 2 and one line on stderr naming --http. */
static void
test_taken_port_exits_2_naming_the_flag(void **state)
{
    (void) state;
    char http[40], out[512], line[512] = "";
    snprintf(http, sizeof http, "127.0.0.1:%d", s_stack.worker_http[1]);
    const char *argv[] = {"tix-worker",  "--backend",       s_stack.backends, "--events-in", s_stack.events_ins,
                          "--redis-url", s_stack.redis.url, "--http",         http,          NULL};
    th_proc_t p;
    assert_true(s_start(&p, "taken", argv));
    int status = th_proc_stop(&p, 0, 5000); /* signal 0: wait for it to exit */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    FILE *f = fopen(p.log, "r");
    assert_non_null(f);
    size_t lines = 0;
    while (fgets(out, sizeof out, f)) {
        if (strstr(out, "tix-worker: ")) {
            snprintf(line, sizeof line, "%s", out);
            lines++;
        }
    }
    fclose(f);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(line, "tix-worker: --http: cannot listen on"));
    const char *bad[] = {"tix-broker", "--http", "no-port", NULL};
    assert_int_equal(th_run(bad, NULL, out, sizeof out), 2);
}

/* A broker with no worker is alive (/healthz) and not ready (/readyz). */
static void
test_broker_without_workers_is_not_ready(void **state)
{
    (void) state;
    char fe[40], be[40], ei[40], eo[40], http[40], body[256];
    int port = th_free_port();
    snprintf(fe, sizeof fe, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(be, sizeof be, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(ei, sizeof ei, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(eo, sizeof eo, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    const char *argv[] = {"tix-broker", "--frontend",   fe, "--backend", be,   "--events-in",
                          ei,           "--events-out", eo, "--http",    http, NULL};
    th_proc_t p;
    assert_true(s_start(&p, "lone-broker", argv));
    assert_true(th_http_wait_status(port, "/healthz", 200, 5000));
    assert_int_equal(th_http_get(port, "/readyz", body, sizeof body), 503);
    assert_string_equal(body, "not ready: no sale worker connected\n");
    s_scrape(port);
    assert_int_equal(th_metric(s_text, "tix_workers"), 0);
    /* /healthz is answered by the loop: a loop that does not turn does not answer. */
    kill(p.pid, SIGSTOP);
    assert_int_equal(th_http_get_within(port, "/healthz", body, sizeof body, 500), -1);
    kill(p.pid, SIGCONT);
    assert_int_equal(th_http_get(port, "/healthz", body, sizeof body), 200);
    assert_int_equal(th_proc_stop(&p, SIGTERM, 5000), 0);
}

/* A persister whose sink does not answer is alive and not ready, and
 * counts the failures. */
static void
test_persister_without_its_sink_is_not_ready(void **state)
{
    (void) state;
    char http[40], uri[160], body[256];
    int port = th_free_port();
    snprintf(http, sizeof http, "127.0.0.1:%d", port);
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
             th_free_port());
    const char *argv[] = {"tix-persister",
                          "--events-out",
                          s_stack.events_outs,
                          "--redis-url",
                          s_stack.redis.url,
                          "--mongo-uri",
                          uri,
                          "--catchup-ms",
                          "200",
                          "--http",
                          http,
                          NULL};
    th_proc_t p;
    assert_true(s_start(&p, "sinkless", argv));
    assert_true(th_http_wait_status(port, "/readyz", 503, 10000));
    assert_int_equal(th_http_get(port, "/readyz", body, sizeof body), 503);
    assert_string_equal(body, "not ready: sink not answering (mongodb)\n");
    assert_int_equal(th_http_get(port, "/healthz", body, sizeof body), 200);
    s_scrape(port);
    assert_true(th_metric_sum(s_text, "tix_sink_errors_total", "") >= 1);
    assert_int_equal(th_metric(s_text, "tix_persister_sink_up"), 0);
    th_proc_stop(&p, SIGKILL, 5000);
}

/* A Prometheus server scrapes the stack (every endpoint up) and answers
 * PromQL with the rush's sold count. */
static void
test_prometheus_scrapes_the_stack(void **state)
{
    (void) state;
    char dir[300], config[400], data[400], listen[40], log[400];
    int port = th_free_port();
    snprintf(dir, sizeof dir, "%s/prometheus", th_tmpdir());
    snprintf(config, sizeof config, "%s.yml", dir);
    snprintf(data, sizeof data, "--storage.tsdb.path=%s", dir);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s.log", dir);
    FILE *f = fopen(config, "w");
    assert_non_null(f);
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: tix\n"
            "    static_configs:\n      - targets: ['127.0.0.1:%d', '127.0.0.1:%d', '127.0.0.1:%d', "
            "'127.0.0.1:%d', '127.0.0.1:%d']\n",
            s_stack.broker_http[0], s_stack.broker_http[1], s_stack.worker_http[0], s_stack.worker_http[1],
            s_stack.persister_http);
    fclose(f);
    char cfg[420];
    snprintf(cfg, sizeof cfg, "--config.file=%s", config);
    const char *argv[] = {"prometheus", cfg, data, listen, "--log.level=warn", NULL};
    pid_t pid = th_spawn("/usr/bin/prometheus", argv, log);
    assert_true(pid > 0);
    static char body[65536];
    const char *sold = "/api/v1/query?query=sum(tix_purchases_total%7Boutcome%3D%22PURCHASED%22%7D)";
    const char *up = "/api/v1/query?query=count(up%3D%3D1)";
    bool got_sold = false, got_up = false;
    for (int64_t deadline = tix_now_ms() + 30000; !(got_sold && got_up) && tix_now_ms() < deadline;) {
        if (!got_sold && th_http_get(port, sold, body, sizeof body) == 200)
            got_sold = strstr(body, ",\"200\"]") != NULL;
        if (!got_up && th_http_get(port, up, body, sizeof body) == 200)
            got_up = strstr(body, ",\"5\"]") != NULL;
        usleep(100000);
    }
    if (!(got_sold && got_up))
        fprintf(stderr, "prometheus answered: %s\n", body);
    kill(pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(got_sold);
    assert_true(got_up);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Redis stops: every worker, broker and the persister turn not ready;
 * Redis returns: all ready again. Last: it stops Redis. */
static void
test_readyz_follows_redis(void **state)
{
    (void) state;
    char body[256];
    th_redis_stop(&s_stack.redis);
    for (int i = 0; i < WORKERS; i++)
        assert_true(th_http_wait_status(s_stack.worker_http[i], "/readyz", 503, 10000));
    assert_int_equal(th_http_get(s_stack.worker_http[0], "/readyz", body, sizeof body), 503);
    assert_string_equal(body, "not ready: redis unavailable\n");
    for (int i = 0; i < BROKERS; i++)
        assert_true(th_http_wait_status(s_stack.broker_http[i], "/readyz", 503, 10000));
    assert_true(th_http_wait_status(s_stack.persister_http, "/readyz", 503, 10000));
    assert_int_equal(th_http_get(s_stack.worker_http[0], "/healthz", body, sizeof body), 200);
    s_scrape(s_stack.worker_http[0]);
    assert_int_equal(th_metric(s_text, "tix_redis_up"), 0);
    assert_true(th_redis_restart(&s_stack.redis));
    assert_true(s_all_ready(&s_stack, 15000));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rush_adds_up_on_every_endpoint),
        cmocka_unit_test(test_paths_and_methods),
        cmocka_unit_test(test_taken_port_exits_2_naming_the_flag),
        cmocka_unit_test(test_broker_without_workers_is_not_ready),
        cmocka_unit_test(test_persister_without_its_sink_is_not_ready),
        cmocka_unit_test(test_prometheus_scrapes_the_stack),
        cmocka_unit_test(test_readyz_follows_redis),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
