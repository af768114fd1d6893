/*
 * bootstrap/bootstrap.h -- lodestar-bootstrap's LwM2M Bootstrap-Server
 *
 * What main.c starts once the database is migrated: the CoAP endpoints
 * (--coap, --coaps with PSK from the 'bootstrap' credentials, X.509 or RPK
 * as lodestar-server), the bootstrap interface (POST /bs, GET /bspack), the
 * database threads, the credential watcher, and the metrics it exposes on
 * --metrics.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_BOOTSTRAP_BOOTSTRAP_H
#define LODESTAR_BOOTSTRAP_BOOTSTRAP_H

#include <stdio.h>
#include "runtime/err.h"

struct runtime_config;
struct runtime_loop;
struct store;
struct bootstrap_server;

/* Starts everything on loop (not yet running).  store is the loop
 * thread's connection, used during the call only.  NULL with err set. */
struct bootstrap_server *bootstrap_server_start(const struct runtime_config *cfg,
                                                struct runtime_loop *loop, struct store *store,
                                                struct ls_error *err);
/* After the loop stopped.  NULL ok. */
void bootstrap_server_stop(struct bootstrap_server *b);
/* Prometheus text of the bootstrap counters; any thread. */
void bootstrap_server_metrics(FILE *out, const struct bootstrap_server *b);

#endif /* LODESTAR_BOOTSTRAP_BOOTSTRAP_H */
