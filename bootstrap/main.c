/*
 * bootstrap/main.c -- lodestar-bootstrap: the LwM2M Bootstrap-Server
 *
 * Start-up as lodestar-server (server/main.c): configuration, wait for the
 * database, migrate, log event=started, run the loop; SIGTERM/SIGINT exit 0
 * after event=stopped.  With --metrics, a Prometheus listener serves
 * lodestar_up and lodestar_db_up, and the bootstrap counters.  The loop
 * thread owns the store and pings it every DB_PING_MS; the metrics thread
 * only reads the atomic result.  The Bootstrap-Server itself (endpoints,
 * /bs, /bspack, sessions) is bootstrap/bootstrap.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "bootstrap/bootstrap.h"
#include "runtime/config.h"
#include "runtime/daemon.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/metrics.h"
#include "store/rekey.h"
#include "store/store.h"

/* How often the loop checks the database for lodestar_db_up: the scrape
 * interval of a typical Prometheus is 15 s, so 5 s keeps it fresh. */
#define DB_PING_MS 5000

struct bootstrap {
    struct store *store;            /* loop thread only */
    atomic_int db_up;               /* written by the loop, read by metrics */
    struct runtime_loop_timer ping; /* periodic store_ping */
    struct bootstrap_server *server; /* set before the metrics thread starts */
};

static void on_signal(struct runtime_loop *loop, int signo, void *arg)
{
    ls_log_info("stopping", "signal=%s", sigabbrev_np(signo));
    runtime_loop_stop(loop);
}

static void on_ping(struct runtime_loop *loop, void *arg)
{
    struct bootstrap *b = arg;
    struct ls_error err = { 0 };
    atomic_store(&b->db_up, store_ping(b->store, &err) == LS_OK);
}

static void collect(FILE *out, void *arg)
{
    struct bootstrap *b = arg;
    runtime_metrics_gauge(out, "lodestar_db_up", "1 when the last database check succeeded.",
                          atomic_load(&b->db_up));
    if (b->server)
        bootstrap_server_metrics(out, b->server);
}

static int serve(const struct runtime_config *cfg, struct runtime_loop *loop,
                 struct bootstrap *b)
{
    struct ls_error err = { 0 };
    struct runtime_metrics *metrics = NULL;
    int status = RUNTIME_DAEMON_EXIT_FAILURE;

    atomic_store(&b->db_up, store_is_up(b->store));
    runtime_loop_timer_init(&b->ping, on_ping, b);
    b->server = bootstrap_server_start(cfg, loop, b->store, &err);
    if (!b->server) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        goto out;
    }
    if (runtime_loop_timer_start(loop, &b->ping, DB_PING_MS, DB_PING_MS, &err) != LS_OK) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        goto out;
    }
    if (cfg->metrics.text) {
        char addr[RUNTIME_ADDR_STR_MAX];
        metrics = runtime_metrics_start(&cfg->metrics.addr, collect, b, &err);
        if (!metrics) {
            ls_log_error("metrics_failed", "flag=--metrics error=\"%s\"", err.msg);
            goto out;
        }
        ls_log_info("listening", "proto=metrics addr=%s", runtime_metrics_bound(metrics, addr));
    }
    ls_log_info("started", "version=%s schema=%d", runtime_config_version(),
                store_known_schema_version());
    status = RUNTIME_DAEMON_EXIT_OK;
    if (runtime_loop_run(loop, &err) != LS_OK) {
        ls_log_error("loop_failed", "error=\"%s\"", err.msg);
        status = RUNTIME_DAEMON_EXIT_FAILURE;
    }
out:
    runtime_metrics_stop(metrics);
    bootstrap_server_stop(b->server);
    b->server = NULL;
    runtime_loop_timer_stop(loop, &b->ping);
    return status;
}

static int run(const struct runtime_config *cfg)
{
    struct ls_error err = { 0 };
    struct bootstrap b = { 0 };
    int status = RUNTIME_DAEMON_EXIT_FAILURE;
    struct runtime_loop *loop = runtime_loop_new(&err);
    if (!loop || runtime_loop_signals(loop, on_signal, NULL, &err) != LS_OK) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        goto out;
    }
    b.store = store_open(cfg->db, &err);
    if (!b.store) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        goto out;
    }
    status = store_startup(b.store);
    if (status < 0)   /* issue 10 (OPS): refuse a key that is not the database's */
        status = store_rekey_startup(b.store, cfg->master_key);
    if (status < 0)
        status = serve(cfg, loop, &b);
out:
    store_close(b.store);
    runtime_loop_free(loop);
    return status;
}

int main(int argc, char **argv)
{
    struct runtime_config cfg;
    int status = runtime_daemon_configure(RUNTIME_CONFIG_BOOTSTRAP, argc, argv, &cfg);
    if (status >= 0)
        return status;
    status = run(&cfg);
    runtime_config_clear(&cfg);
    ls_log_info("stopped", "status=%d", status);
    return status;
}
