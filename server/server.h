/*
 * server/server.h -- lodestar-server's CoAP side, assembled
 *
 * What main() starts after the database is ready and stops after the loop
 * returned: the instance record and heartbeat, the store worker, the PSK
 * credential cache and its watcher, the registrations loaded from
 * Postgres, and the CoAP/DTLS endpoints serving the Registration
 * interface.  Kept out of main.c so that main stays a list of steps.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_SERVER_H
#define LODESTAR_SERVER_SERVER_H

#include <stdio.h>

#include "runtime/err.h"

struct runtime_config;
struct runtime_loop;
struct store;
struct server;
struct server_registration_stats;

/*
 * server_start -- start everything above on loop (which runs afterwards).
 * cfg, loop, store: borrowed; store (the main thread's connection) is used
 * during the call only.  Refuses to start (NULL, err set) when the store
 * worker, the credential load or an endpoint fails: a server that cannot
 * make registrations durable must not accept them.  Caller owns the result;
 * stop it with server_stop().
 */
struct server *server_start(const struct runtime_config *cfg, struct runtime_loop *loop,
                            struct store *store, struct ls_error *err);

/* After runtime_loop_run returned: drains the store worker (writes what is
 * queued), stops the credential watcher, releases every session and closes
 * the endpoints.  NULL ok. */
void server_stop(struct server *s);

/* Registration counters (any thread). */
void server_stats(const struct server *s, struct server_registration_stats *out);

/* --- Added in issue 4 (metrics). ---
 * server_write_metrics -- the CoAP side's counters in Prometheus text
 * format: registrations, answers by CoAP code, DTLS handshakes, the store
 * worker's batches and commit latency.  Any thread (a /metrics scrape): it
 * reads atomics only. */
void server_write_metrics(const struct server *s, FILE *out);

/* --- Added in issue 5 (device operations). ---
 * The dispatcher whose server_dispatch_submit main() hands to
 * web_http_devices (borrowed; lives until server_stop). */
struct server_dispatch;
struct server_dispatch *server_dispatcher(const struct server *s);

#endif /* LODESTAR_SERVER_SERVER_H */
