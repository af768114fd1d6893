/*
 * runtime/metrics.h -- a Prometheus text-format /metrics listener
 *
 * GET /metrics answers 200 with text/plain; version=0.0.4: first
 * "lodestar_up 1" (the process answers), then whatever the daemon's collect
 * function writes.  Any other path is 404 and any other method 405, as
 * plain text: this listener is for scrapers, not for the JSON API.
 *
 * The collect function runs on an HTTP thread: it must read only state that
 * is safe to read from another thread (atomics, or data under its own lock).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_METRICS_H
#define LODESTAR_RUNTIME_METRICS_H

#include <stdio.h>
#include "runtime/addr.h"
#include "runtime/err.h"

struct runtime_metrics;

/* Writes exposition lines ("# TYPE x gauge\nx 1\n") to out. */
typedef void runtime_metrics_fn(FILE *out, void *arg);

/* Caller owns; stop with runtime_metrics_stop().  fn may be NULL. */
struct runtime_metrics *runtime_metrics_start(const struct runtime_addr *listen,
                                              runtime_metrics_fn *fn, void *arg,
                                              struct ls_error *err);

/* Bound address for the listening log line; buf: RUNTIME_ADDR_STR_MAX. */
char *runtime_metrics_bound(const struct runtime_metrics *m, char *buf);

/* Stops accepting, lets scrapes in progress finish, frees.  NULL: no-op. */
void runtime_metrics_stop(struct runtime_metrics *m);

/* Writes one gauge with its HELP and TYPE lines. */
void runtime_metrics_gauge(FILE *out, const char *name, const char *help, double value);

#endif /* LODESTAR_RUNTIME_METRICS_H */
