/*
 * server/server.c -- lodestar-server's CoAP side, assembled (server.h)
 *
 * Start order matters: the worker before anything that may queue; the PSK
 * table and the registrations before the endpoints open (a handshake or an
 * Update must find them); the watcher last, once there is a table to
 * replace.  Stop order is the reverse, with the loop already stopped.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/coap.h"
#include "runtime/config.h"
#include "runtime/credcache.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "server/registration.h"
#include "store/credentials.h"
#include "store/instances.h"
#include "store/registrations.h"
#include "store/secret.h"

#define HEARTBEAT_MS 10000

struct server {
    struct store_secret_key key;            /* master key; wiped at stop */
    char instance_id[STORE_INSTANCE_ID_LEN + 1];
    struct store_worker *worker;
    struct server_registration *reg;
    struct runtime_coap *coap;
    struct store_credentials_watch *watch;
};

static enum ls_rc key_from_config(const struct runtime_config *cfg, struct store_secret_key *k,
                                  struct ls_error *err)
{
    char hex[2 * RUNTIME_CONFIG_MASTER_KEY_LEN + 1];
    for (size_t i = 0; i < RUNTIME_CONFIG_MASTER_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", cfg->master_key[i]);
    enum ls_rc rc = store_secret_key_from_hex(hex, k, err);
    explicit_bzero(hex, sizeof hex);
    return rc;
}

/* Watcher -> loop thread: a fresh PSK table. */
static void on_table(void *arg, struct runtime_credcache *table)
{
    server_registration_set_credentials(arg, table);
}

/* Watcher thread: keep server_instances.last_heartbeat fresh. */
static void on_tick(void *arg, struct store *s)
{
    struct server *srv = arg;
    struct ls_error err = { 0 };
    if (store_instances_heartbeat(s, srv->instance_id, "server", &err) != LS_OK &&
        err.code != LS_ETRANSIENT)
        ls_log_warn("heartbeat_failed", "instance=%s error=\"%s\"", srv->instance_id, err.msg);
}

static enum ls_rc load_state(struct server *srv, struct store *store, struct ls_error *err)
{
    struct runtime_credcache *t = NULL;
    size_t loaded = 0;
    enum ls_rc rc = store_credentials_load_cache(store, &srv->key, "server", &t, err);
    if (rc != LS_OK)
        return rc;
    server_registration_set_credentials(srv->reg, t);
    rc = server_registration_load(srv->reg, store, &loaded, err);
    if (rc == LS_OK)
        ls_log_info("registrations_loaded", "count=%zu instance=%s", loaded, srv->instance_id);
    return rc;
}

static enum ls_rc open_coap(struct server *srv, const struct runtime_config *cfg,
                            struct runtime_loop *loop, struct ls_error *err)
{
    struct runtime_coap_options co = {
        .coap = cfg->coap.text ? &cfg->coap.addr : NULL,
        .coaps = cfg->coaps.text ? &cfg->coaps.addr : NULL,
        .psk = server_registration_psk,
        .psk_arg = srv->reg,
        .session_gone = server_registration_session_gone,
        .session_gone_arg = srv->reg,
        /* One session per registered device: amortise libcoap's session
         * walk over many datagrams (runtime/coap.c, READ BATCHING). */
        .read_batch = 32,
        .cert_file = cfg->dtls_cert,
        .key_file = cfg->dtls_key,
        .ca_file = cfg->dtls_cert || cfg->dtls_key ? cfg->ca_file : NULL,
        /* --dtls-key without --dtls-cert: raw public keys instead of X.509
         * (one or the other per DTLS endpoint: LIBCOAP.md section 1). */
        .rpk = cfg->dtls_key && !cfg->dtls_cert ? server_registration_rpk : NULL,
        .rpk_arg = srv->reg,
    };
    srv->coap = runtime_coap_start(loop, &co, err);
    if (!srv->coap)
        return err ? err->code : LS_EIO;
    return server_registration_attach(srv->reg, srv->coap, err);
}

/* Recorded once the endpoints are bound, so that the row shows the real
 * address; before the loop runs, so before any registration names it. */
static enum ls_rc register_instance(struct server *srv, struct store *store,
                                    struct ls_error *err)
{
    char addr[RUNTIME_ADDR_STR_MAX];
    runtime_coap_bound(srv->coap, false, addr);
    if (!addr[0])
        runtime_coap_bound(srv->coap, true, addr);
    return store_instances_register(store, srv->instance_id, "server", addr[0] ? addr : NULL,
                                    err);
}

static enum ls_rc start_watch(struct server *srv, const struct runtime_config *cfg,
                              struct runtime_loop *loop, struct ls_error *err)
{
    struct store_credentials_watch_options wo = {
        .conninfo = cfg->db, .key = &srv->key, .scope = "server", .loop = loop,
        .fn = on_table, .arg = srv->reg, .tick = on_tick, .tick_arg = srv,
        .tick_ms = HEARTBEAT_MS,
    };
    srv->watch = store_credentials_watch_start(&wo, err);
    return srv->watch ? LS_OK : LS_EIO;
}

struct server *server_start(const struct runtime_config *cfg, struct runtime_loop *loop,
                            struct store *store, struct ls_error *err)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        ls_error_set(err, LS_ENOMEM, "server: out of memory");
        return NULL;
    }
    if (key_from_config(cfg, &srv->key, err) != LS_OK ||
        store_instances_new_id(srv->instance_id, err) != LS_OK)
        goto fail;
    srv->worker = store_worker_start(cfg->db, loop, err);
    if (!srv->worker) {
        ls_error_prefix(err, "store worker");
        goto fail;
    }
    struct server_registration_options ro = {
        .loop = loop, .worker = srv->worker, .instance_id = srv->instance_id,
    };
    srv->reg = server_registration_new(&ro, err);
    if (!srv->reg || load_state(srv, store, err) != LS_OK ||
        open_coap(srv, cfg, loop, err) != LS_OK || register_instance(srv, store, err) != LS_OK ||
        start_watch(srv, cfg, loop, err) != LS_OK)
        goto fail;
    return srv;
fail:
    server_stop(srv);
    return NULL;
}

void server_stop(struct server *srv)
{
    if (!srv)
        return;
    store_worker_stop(srv->worker);
    store_credentials_watch_stop(srv->watch);
    server_registration_free(srv->reg);
    runtime_coap_free(srv->coap);
    explicit_bzero(&srv->key, sizeof srv->key);
    free(srv);
}

void server_stats(const struct server *srv, struct server_registration_stats *out)
{
    server_registration_stats(srv->reg, out);
}
