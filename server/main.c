/*
 * server/main.c -- lodestar-server: the LwM2M Server and its HTTP API
 *
 * Start-up: configuration (exit 2 on a bad value), wait for the database
 * (retrying with backoff until it answers or SIGTERM/SIGINT), apply
 * migrations (exit 1 if the database is newer than this binary), start the
 * HTTP API, log event=started, run the event loop.  SIGTERM/SIGINT stop the
 * loop; then the HTTP API stops accepting, finishes requests in progress,
 * the store closes and the process exits 0 after logging event=stopped.
 *
 * Issue 10 (secrets at rest): after migrating, the master key must be the
 * database's (store/rekey.h: exit 1 with event=master_key_mismatch
 * otherwise).  With --rotate-master-key NEW the process only re-encrypts
 * every stored secret from --master-key to NEW, logs
 * event=master_key_rotated and exits (0, or 1 on failure): it serves
 * nothing.
 *
 * The CoAP side (store worker, credentials, registrations, --coap and
 * --coaps endpoints) is assembled in server/server.c and started before
 * event=started; on SIGTERM it stops after the loop: endpoints close, the
 * store worker writes what is queued, then the process exits 0.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <signal.h>
#include <string.h>

#include "runtime/config.h"
#include "runtime/daemon.h"
#include "runtime/httpd.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "server/dispatch.h"
#include "server/server.h"
#include "store/rekey.h"
#include "store/store.h"
#include "web/http.h"

static void on_signal(struct runtime_loop *loop, int signo, void *arg)
{
    ls_log_info("stopping", "signal=%s", sigabbrev_np(signo));
    runtime_loop_stop(loop);
}

/* The CoAP side's counters on GET /metrics (an HTTP thread). */
static void write_metrics(FILE *out, void *arg)
{
    server_write_metrics(arg, out);
}

static int serve(const struct runtime_config *cfg, struct runtime_loop *loop,
                 struct store *store)
{
    struct ls_error err = { 0 };
    char addr[RUNTIME_ADDR_STR_MAX];
    struct web_http_options wo = { .listen = &cfg->http.addr, .conninfo = cfg->db,
                                   .admin_token = cfg->admin_token,
                                   .static_dir = cfg->static_dir,
                                   .models_dir = cfg->models_dir,
                                   .master_key = cfg->master_key,
                                   .tls_cert = cfg->http_cert, .tls_key = cfg->http_key };
    struct web_http *web = web_http_start(&wo, &err);
    if (!web) {
        ls_log_error("http_failed", "flag=--http error=\"%s\"", err.msg);
        return RUNTIME_DAEMON_EXIT_FAILURE;
    }
    ls_log_info("listening", "proto=http addr=%s tls=%s", web_http_bound(web, addr),
                cfg->http_cert ? "on" : "off");
    struct server *srv = server_start(cfg, loop, store, &err);
    if (!srv) {
        ls_log_error("coap_failed", "error=\"%s\" detail=\"%s\"", err.msg, err.detail);
        web_http_stop(web);
        return RUNTIME_DAEMON_EXIT_FAILURE;
    }
    if (cfg->http_cert)
        runtime_httpd_tls_audit_fix();  /* after libcoap set its own: see runtime/httpd.h */
    web_http_metrics(web, write_metrics, srv);
    web_http_devices(web, server_dispatch_submit, server_dispatcher(srv));
    ls_log_info("started", "version=%s schema=%d", runtime_config_version(),
                store_known_schema_version());
    int status = RUNTIME_DAEMON_EXIT_OK;
    if (runtime_loop_run(loop, &err) != LS_OK) {
        ls_log_error("loop_failed", "error=\"%s\"", err.msg);
        status = RUNTIME_DAEMON_EXIT_FAILURE;
    }
    web_http_metrics(web, NULL, NULL);     /* no scrape may touch srv after this */
    web_http_devices(web, NULL, NULL);     /* nor a device operation */
    server_stop(srv);
    web_http_stop(web);
    return status;
}

static int run(const struct runtime_config *cfg)
{
    struct ls_error err = { 0 };
    int status = RUNTIME_DAEMON_EXIT_FAILURE;
    struct store *store = NULL;
    struct runtime_loop *loop = runtime_loop_new(&err);
    if (!loop || runtime_loop_signals(loop, on_signal, NULL, &err) != LS_OK) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        goto out;
    }
    store = store_open(cfg->db, &err);
    if (!store) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        goto out;
    }
    status = store_startup(store);
    if (status < 0 && cfg->rotate_master_key)
        status = store_rekey_run(store, cfg->master_key, cfg->new_master_key);
    if (status < 0)
        status = store_rekey_startup(store, cfg->master_key);
    if (status < 0)
        status = serve(cfg, loop, store);
out:
    store_close(store);
    runtime_loop_free(loop);
    return status;
}

int main(int argc, char **argv)
{
    struct runtime_config cfg;
    int status = runtime_daemon_configure(RUNTIME_CONFIG_SERVER, argc, argv, &cfg);
    if (status >= 0)
        return status;
    status = run(&cfg);
    runtime_config_clear(&cfg);
    ls_log_info("stopped", "status=%d", status);
    return status;
}
