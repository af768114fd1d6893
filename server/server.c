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
#include "runtime/metrics.h"
#include "lwm2m/model.h"
#include "server/commands.h"
#include "server/credlookup.h"
#include "server/devops.h"
#include "server/dispatch.h"
#include "server/observe.h"
#include "server/registration.h"
#include "server/send.h"
#include "store/credentials.h"
#include "store/instances.h"
#include "store/registrations.h"
#include "store/secret.h"
#include "store/telemetry.h"

#define HEARTBEAT_MS 10000

struct server {
    struct store_secret_key key;            /* master key; wiped at stop */
    char instance_id[STORE_INSTANCE_ID_LEN + 1];
    struct store_worker *worker;
    struct server_registration *reg;
    struct runtime_coap *coap;
    struct store_credentials_watch *watch;
    struct server_credlookup *credlookup;   /* PSK identities the cache misses */
    int64_t issued_ttl_s;                   /* --issued-ttl; 0 = never */
    /* Issue 5 (device operations, observe, Send, queue mode): */
    struct lwm2m_model *model;              /* built-ins + --models */
    struct server_observe *observe;
    struct server_send *send;
    struct server_devops *devops;
    struct server_commands *commands;
    struct server_dispatch *dispatch;
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

/* Watcher -> loop thread: the credentials changed since its last read. */
static void on_delta(void *arg, struct runtime_credcache_delta *delta)
{
    server_registration_apply_credentials(arg, delta);
}

/* Issue 7: 'issued' credentials never used within --issued-ttl seconds
 * (their expires_at, or their age) are revoked (a rotation that failed
 * half-way leaves the old keys in force and the new ones expire).  Checked
 * every EXPIRE_EVERY ticks. */
#define EXPIRE_EVERY 6

static void expire_issued(const struct server *srv, struct store *s)
{
    static unsigned ticks;   /* the watcher thread only */
    struct ls_error err = { 0 };
    int64_t n = 0;
    if (ticks++ % EXPIRE_EVERY != 0)
        return;
    if (store_credentials_expire(s, srv->issued_ttl_s, &n, &err) != LS_OK &&
        err.code != LS_ETRANSIENT)
        ls_log_warn("credentials_expiry_failed", "error=\"%s\"", err.msg);
    else if (n)
        ls_log_info("credentials_expired", "count=%lld", (long long)n);
}

/* Watcher thread: keep server_instances.last_heartbeat fresh. */
static void on_tick(void *arg, struct store *s)
{
    struct server *srv = arg;
    struct ls_error err = { 0 };
    expire_issued(srv, s);
    if (store_instances_heartbeat(s, srv->instance_id, "server", &err) != LS_OK &&
        err.code != LS_ETRANSIENT)
        ls_log_warn("heartbeat_failed", "instance=%s error=\"%s\"", srv->instance_id, err.msg);
}

/* The object model every codec types values with: the built-in core
 * objects plus --models DIR. */
static enum ls_rc load_model(struct server *srv, const struct runtime_config *cfg,
                             struct ls_error *err)
{
    srv->model = lwm2m_model_new(err);
    if (!srv->model)
        return LS_ENOMEM;
    if (cfg->models_dir && lwm2m_model_load_dir(srv->model, cfg->models_dir, err) != LS_OK) {
        ls_error_prefix(err, "--models");
        return err ? err->code : LS_EINVAL;
    }
    return LS_OK;
}

/* Queue mode: a device that talked (notification, Send) is awake. */
static void on_activity(void *arg, struct server_reg *reg)
{
    server_commands_device_awake(arg, reg);
}

/* Observe and Send, before the endpoints open (their handlers need them). */
static enum ls_rc start_observe(struct server *srv, struct runtime_loop *loop,
                                struct store *store, struct ls_error *err)
{
    struct server_registry *r = server_registration_registry(srv->reg);
    srv->observe = server_observe_new(loop, srv->worker, r, err);
    if (!srv->observe)
        return err ? err->code : LS_ENOMEM;
    server_observe_set_model(srv->observe, srv->model);
    server_registration_set_observe(srv->reg, srv->observe);
    srv->send = server_send_new(loop, srv->worker, r, err);
    if (!srv->send)
        return err ? err->code : LS_ENOMEM;
    server_send_set_model(srv->send, srv->model);
    server_send_set_identities(srv->send, server_registration_psk_endpoint, srv->reg);
    return server_observe_load(srv->observe, store, err);
}

/* Device operations, commands and the HTTP dispatch, once CoAP is open. */
static enum ls_rc start_devops(struct server *srv, const struct runtime_config *cfg,
                               struct runtime_loop *loop, struct ls_error *err)
{
    struct server_registry *r = server_registration_registry(srv->reg);
    server_observe_set_coap(srv->observe, srv->coap);
    if (server_send_attach(srv->send, srv->coap, err) != LS_OK)
        return err ? err->code : LS_EIO;
    srv->devops = server_devops_new(srv->coap, loop, srv->model, srv->observe, err);
    if (!srv->devops)
        return err ? err->code : LS_ENOMEM;
    server_devops_set_registry(srv->devops, r);
    srv->commands = server_commands_start(cfg->db, loop, srv->instance_id, r, srv->devops, err);
    if (!srv->commands) {
        ls_error_prefix(err, "commands");
        return err ? err->code : LS_EIO;
    }
    server_registration_set_commands(srv->reg, srv->commands);
    server_observe_set_activity(srv->observe, on_activity, srv->commands);
    server_send_set_activity(srv->send, on_activity, srv->commands);
    srv->dispatch = server_dispatch_new(loop, r, srv->devops, srv->commands, err);
    return srv->dispatch ? LS_OK : LS_ENOMEM;
}

struct server_dispatch *server_dispatcher(const struct server *srv)
{
    return srv->dispatch;
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
        /* NoSec sessions are not held (server/registry.c): libcoap frees
         * the oldest idle one past this many, which bounds its per-datagram
         * session walks.  Sessions in use (async answer pending, CON in
         * flight) are referenced and never count as idle. */
        .max_idle_sessions = 256,
        .cert_file = cfg->dtls_cert,
        .key_file = cfg->dtls_key,
        .ca_file = cfg->dtls_cert || cfg->dtls_key ? cfg->ca_file : NULL,
        /* --dtls-key without --dtls-cert: raw public keys instead of X.509
         * (one or the other per DTLS endpoint: LIBCOAP.md section 1). */
        .rpk = cfg->dtls_key && !cfg->dtls_cert ? server_registration_rpk : NULL,
        .rpk_arg = srv->reg,
        /* Issue 7: a revoked X.509 credential's certificate is refused. */
        .x509 = server_registration_x509,
        .x509_arg = srv->reg,
        /* Issue 10: DTLS handshake floods (runtime/coap.c, HALF-OPEN DTLS). */
        .max_handshakes = cfg->dtls_max_handshakes,
        .handshake_timeout_s = cfg->dtls_handshake_timeout_s,
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
        .fn = on_table, .arg = srv->reg, .delta = on_delta, .tick = on_tick, .tick_arg = srv,
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
    srv->issued_ttl_s = cfg->issued_ttl_s;
    if (key_from_config(cfg, &srv->key, err) != LS_OK ||
        store_instances_new_id(srv->instance_id, err) != LS_OK)
        goto fail;
    /* LODESTAR_STORE_QUEUE (issue 10.3, FAULT): the store queue's bound. */
    const char *qmax = getenv("LODESTAR_STORE_QUEUE");
    struct store_worker_options wo = { .queue_max = qmax ? strtoull(qmax, NULL, 10) : 0 };
    srv->worker = store_worker_start_opts(cfg->db, loop, &wo, err);
    if (!srv->worker) {
        ls_error_prefix(err, "store worker");
        goto fail;
    }
    struct server_registration_options ro = {
        .loop = loop, .worker = srv->worker, .instance_id = srv->instance_id,
        .coap_address = cfg->coap.text,
        /* Issue 10: registration spam (--reg-rate-limit/-burst, --nosec-max). */
        .reg_rate_limit = cfg->reg_rate_limit, .reg_rate_burst = cfg->reg_rate_burst,
        .nosec_max = cfg->nosec_max,
    };
    srv->credlookup = server_credlookup_new(cfg->db, &srv->key, err);
    if (!srv->credlookup)
        goto fail;
    ro.credlookup = srv->credlookup;
    srv->reg = server_registration_new(&ro, err);
    if (!srv->reg || load_model(srv, cfg, err) != LS_OK || load_state(srv, store, err) != LS_OK ||
        start_observe(srv, loop, store, err) != LS_OK || open_coap(srv, cfg, loop, err) != LS_OK ||
        start_devops(srv, cfg, loop, err) != LS_OK ||
        register_instance(srv, store, err) != LS_OK || start_watch(srv, cfg, loop, err) != LS_OK)
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
    /* HTTP calls not yet run, queued or in flight get 503 (the hook was
     * cleared first: main.c); completions the stopped loop will never run
     * are dropped with it, so nothing calls back into what is freed here. */
    server_dispatch_free(srv->dispatch);
    server_commands_stop(srv->commands);
    server_devops_free(srv->devops);
    store_worker_stop(srv->worker);
    store_credentials_watch_stop(srv->watch);
    server_send_free(srv->send);
    server_registration_free(srv->reg);
    server_credlookup_free(srv->credlookup);
    server_observe_free(srv->observe);
    runtime_coap_free(srv->coap);
    lwm2m_model_free(srv->model);
    explicit_bzero(&srv->key, sizeof srv->key);
    free(srv);
}

void server_stats(const struct server *srv, struct server_registration_stats *out)
{
    server_registration_stats(srv->reg, out);
}

/* ---- /metrics ---- */

static void counter(FILE *out, const char *name, const char *help, uint64_t v)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
            (unsigned long long)v);
}

static void write_registrations(const struct server *srv, FILE *out)
{
    struct server_registration_stats st = { 0 };
    server_registration_stats(srv->reg, &st);
    counter(out, "lodestar_registrations_total", "Register requests answered 2.01.",
            st.registrations);
    counter(out, "lodestar_updates_total", "Update requests answered 2.04.", st.updates);
    counter(out, "lodestar_deregistrations_total", "De-register requests answered 2.02.",
            st.deregistrations);
    counter(out, "lodestar_expiries_total", "Registrations whose lifetime ran out.",
            st.expiries);
    counter(out, "lodestar_registration_refused_total",
            "Registration requests answered 4.xx/5.xx.", st.refused);
    runtime_metrics_gauge(out, "lodestar_registrations_current", "Registrations held now.",
                          (double)st.current);
    runtime_metrics_gauge(out, "lodestar_store_pending_operations",
                          "Registration writes waiting for a commit.", (double)st.pending);
    /* Issue 10 (abuse): the NoSec Register limits. */
    fprintf(out, "# HELP lodestar_registration_limited_total NoSec Registers refused by an "
                 "abuse limit: rate = the source address was over --reg-rate-limit (4.29), "
                 "cap = --nosec-max live NoSec registrations reached (5.03).\n"
                 "# TYPE lodestar_registration_limited_total counter\n"
                 "lodestar_registration_limited_total{reason=\"rate\"} %llu\n"
                 "lodestar_registration_limited_total{reason=\"cap\"} %llu\n",
            (unsigned long long)st.refused_rate, (unsigned long long)st.refused_cap);
    runtime_metrics_gauge(out, "lodestar_registrations_nosec_current",
                          "NoSec (unauthenticated) registrations held now.",
                          (double)st.nosec_current);
    runtime_metrics_gauge(out, "lodestar_registration_ratelimit_entries",
                          "Source addresses in the Register rate limiter's table now.",
                          (double)st.limiter_entries);
    runtime_metrics_gauge(out, "lodestar_registration_ratelimit_slots",
                          "Size of that table (fixed; 0 = no rate limit).",
                          (double)st.limiter_slots);
    counter(out, "lodestar_registration_ratelimit_evictions_total",
            "Addresses evicted from the full rate limiter table.", st.limiter_evictions);
}

/* The codes the Registration interface answers with are always listed (a
 * series that appears only once non-zero is awkward to alert on); any
 * other code is listed once it was sent. */
static void write_answers(const struct runtime_coap_stats *cs, FILE *out)
{
    static const uint8_t usual[] = { 0x41, 0x42, 0x44, 0x45, 0x80, 0x83, 0x84, 0x8c, 0xa3 };
    uint64_t by_class[8] = { 0 };
    fprintf(out, "# HELP lodestar_coap_requests_total CoAP requests answered, by response "
                 "code.\n# TYPE lodestar_coap_requests_total counter\n");
    for (unsigned code = 0; code < 256; code++) {
        bool listed = memchr(usual, (int)code, sizeof usual) != NULL;
        by_class[code >> 5] += cs->answers[code];
        if (listed || cs->answers[code])
            fprintf(out, "lodestar_coap_requests_total{code=\"%u.%02u\"} %llu\n", code >> 5,
                    code & 0x1f, (unsigned long long)cs->answers[code]);
    }
    fprintf(out, "# HELP lodestar_coap_requests_by_class_total CoAP requests answered, by "
                 "response class.\n# TYPE lodestar_coap_requests_by_class_total counter\n");
    for (unsigned c = 2; c <= 5; c++)
        fprintf(out, "lodestar_coap_requests_by_class_total{class=\"%uxx\"} %llu\n", c,
                (unsigned long long)by_class[c]);
}

static void write_dtls(const struct runtime_coap_stats *cs, FILE *out)
{
    fprintf(out, "# HELP lodestar_dtls_handshakes_total DTLS handshakes: ok = authenticated "
                 "and made a request; failed = refused, wrong key, or gone before a request."
                 "\n# TYPE lodestar_dtls_handshakes_total counter\n"
                 "lodestar_dtls_handshakes_total{result=\"ok\"} %llu\n"
                 "lodestar_dtls_handshakes_total{result=\"failed\"} %llu\n",
            (unsigned long long)cs->handshakes_ok, (unsigned long long)cs->handshakes_failed);
    counter(out, "lodestar_dtls_errors_total", "DTLS sessions ended by an error.",
            cs->dtls_failures);
    counter(out, "lodestar_dtls_closed_total", "DTLS sessions closed by the peer.",
            cs->dtls_closed);
    counter(out, "lodestar_dtls_psk_refused_total", "PSK identities with no live credential.",
            cs->psk_refused);
    counter(out, "lodestar_coap_session_teardowns_total",
            "Sessions torn down after retransmissions failed or a re-handshake.",
            cs->teardowns);
    runtime_coap_write_flood_metrics(cs, out);     /* issue 10 */
}

/* PSK identities the cache missed, looked up in Postgres (credlookup.h). */
static void write_psk_lookups(const struct server_credlookup *l, FILE *out)
{
    struct server_credlookup_stats st;
    server_credlookup_stats(l, &st);
    fprintf(out, "# HELP lodestar_dtls_psk_lookups_total PSK identities the credential cache "
                 "did not hold yet, looked up in the database: found, not_found, limited "
                 "(over the lookup rate: refused), failed (database error).\n"
                 "# TYPE lodestar_dtls_psk_lookups_total counter\n"
                 "lodestar_dtls_psk_lookups_total{result=\"found\"} %llu\n"
                 "lodestar_dtls_psk_lookups_total{result=\"not_found\"} %llu\n"
                 "lodestar_dtls_psk_lookups_total{result=\"limited\"} %llu\n"
                 "lodestar_dtls_psk_lookups_total{result=\"failed\"} %llu\n",
            (unsigned long long)st.found, (unsigned long long)st.not_found,
            (unsigned long long)st.limited, (unsigned long long)st.failed);
}

static void write_store(const struct store_worker *w, FILE *out)
{
    struct store_worker_stats ws = { 0 };
    store_worker_stats(w, &ws);
    counter(out, "lodestar_store_batches_total", "Store transactions committed.", ws.batches);
    counter(out, "lodestar_store_operations_total", "Registration writes committed.",
            ws.operations);
    counter(out, "lodestar_store_failed_batches_total",
            "Store transactions that failed (retried).", ws.failed_batches);
    /* Issue 10.3 (FAULT): queue limits and the database away. */
    runtime_metrics_gauge(out, "lodestar_store_queue_depth",
                          "Store operations waiting to be written.", (double)ws.queued);
    runtime_metrics_gauge(out, "lodestar_store_queue_limit",
                          "Store operations that may wait at most.", (double)ws.queue_max);
    runtime_metrics_gauge(out, "lodestar_store_database_away",
                          "Store worker connections that are lost now.", (double)ws.away);
    fprintf(out, "# HELP lodestar_store_refused_total Store operations refused (answered "
                 "5.03): queue_full, database_away, or given_up (queued, then the database "
                 "stayed away too long).\n"
                 "# TYPE lodestar_store_refused_total counter\n"
                 "lodestar_store_refused_total{reason=\"queue_full\"} %llu\n"
                 "lodestar_store_refused_total{reason=\"database_away\"} %llu\n"
                 "lodestar_store_refused_total{reason=\"given_up\"} %llu\n",
            (unsigned long long)ws.refused_full, (unsigned long long)ws.refused_away,
            (unsigned long long)ws.given_up);
    runtime_metrics_gauge(out, "lodestar_store_last_batch_size",
                          "Writes in the last committed transaction.",
                          (double)ws.last_batch_size);
    fprintf(out, "# HELP lodestar_store_batch_size Writes per committed transaction.\n"
                 "# TYPE lodestar_store_batch_size summary\n"
                 "lodestar_store_batch_size_sum %llu\nlodestar_store_batch_size_count %llu\n",
            (unsigned long long)ws.operations, (unsigned long long)ws.batches);
    fprintf(out, "# HELP lodestar_store_commit_seconds Time to write and commit a batch.\n"
                 "# TYPE lodestar_store_commit_seconds summary\n"
                 "lodestar_store_commit_seconds_sum %.6f\n"
                 "lodestar_store_commit_seconds_count %llu\n",
            (double)ws.commit_us_total / 1e6, (unsigned long long)ws.batches);
}

/* Issue 5 ingest: what became of notifications and Sends.  Dropped ones
 * were ACKed to the device, so only these counters show them. */
static void write_ingest(const struct server *srv, FILE *out)
{
    struct server_observe_counters oc;
    uint64_t committed = 0, failed = 0, sent = 0, refused = 0;
    server_observe_counters(srv->observe, &oc);
    store_worker_telemetry_stats(srv->worker, &committed, &failed);
    if (srv->send)
        server_send_stats(srv->send, &sent, &refused);
    fprintf(out, "# HELP lodestar_notifications_total Notifications received, by outcome: "
                 "queued (to the store), dropped_store_full (ACKed, not stored: the store "
                 "queue was full), dropped_undecodable, unknown (no observation: RST).\n"
                 "# TYPE lodestar_notifications_total counter\n"
                 "lodestar_notifications_total{result=\"queued\"} %llu\n"
                 "lodestar_notifications_total{result=\"dropped_store_full\"} %llu\n"
                 "lodestar_notifications_total{result=\"dropped_undecodable\"} %llu\n"
                 "lodestar_notifications_total{result=\"unknown\"} %llu\n",
            (unsigned long long)oc.accepted, (unsigned long long)oc.dropped_full,
            (unsigned long long)oc.dropped_undecodable, (unsigned long long)oc.unknown);
    counter(out, "lodestar_telemetry_committed_total",
            "Notifications and Sends committed to the database.", committed);
    counter(out, "lodestar_telemetry_failed_total",
            "Notifications and Sends the store gave up on.", failed);
    fprintf(out, "# HELP lodestar_send_total Send (POST /dp) requests: stored = answered 2.04 "
                 "after the commit; refused = answered 4.xx/5.xx.\n"
                 "# TYPE lodestar_send_total counter\n"
                 "lodestar_send_total{result=\"stored\"} %llu\n"
                 "lodestar_send_total{result=\"refused\"} %llu\n",
            (unsigned long long)sent, (unsigned long long)refused);
}

void server_write_metrics(const struct server *srv, FILE *out)
{
    struct runtime_coap_stats cs;
    runtime_coap_stats(srv->coap, &cs);
    write_registrations(srv, out);
    write_answers(&cs, out);
    write_dtls(&cs, out);
    write_psk_lookups(srv->credlookup, out);
    write_store(srv->worker, out);
    write_ingest(srv, out);
}
