/*
 * store/telemetry.h -- observations and telemetry: batched writes, queries
 *
 * Writes go through the registration store worker (store/registrations.h:
 * same shards, same transactions, same one-pg_notify-per-commit), so that a
 * device's observation rows, its notifications and its registration
 * changes are applied in the order they were queued, and 10 000 observing
 * devices cost a few commits per second rather than one per notification.
 * Implemented in store/registrations.c, next to the worker's machinery:
 *
 *   store_worker_observation_insert   observations row; done gets its id
 *   store_worker_observation_delete   by id
 *   store_worker_telemetry            telemetry rows; a Send's events row,
 *                                     the round's one "notifications" row
 *   store_worker_telemetry_stats      committed / failed counts
 *
 * Telemetry operations of one round are written by ONE statement (a JSON
 * array of them, split by Postgres): about 10 us of backend time per
 * notification instead of ~60 for two statements each
 * (bench/results/notify.md).
 *
 * Reads (store/telemetry.c), on the caller's own struct store:
 *   store_observations_load    every stored observation (server start)
 *   store_telemetry_list       GET /api/devices/{ep}/telemetry
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_TELEMETRY_H
#define LODESTAR_STORE_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"
#include "store/registrations.h"

struct store;
struct store_worker;

/* Completion of an operation that yields a row id (observations.id); id
 * is 0 unless rc is LS_OK.  Runs on the worker's loop, like
 * store_worker_done_fn. */
typedef void store_worker_id_done_fn(void *arg, enum ls_rc rc, int64_t id,
                                     const struct ls_error *err);

/* One observations row; strings borrowed for the call. */
struct store_observation {
    int64_t id;                  /* load only */
    const char *endpoint;
    const char *registration_id;
    const char *path;            /* single observe; NULL for composite */
    const char *paths_json;      /* composite: ["/3/0/9","/3/0/7"]; else NULL */
    const uint8_t *token;        /* 1..8 bytes */
    size_t token_len;
    int format;                  /* CoAP content format; -1 = none */
    const char *attributes_json; /* object or NULL ({}) */
};

/*
 * Inserts (or, for the same endpoint and token, replaces) an observation.
 * done gets its id after the commit; LS_ENOTFOUND from done when the
 * registration is gone (foreign key).  Any thread.  LS_ENOMEM when the
 * queue is full (back-pressure), else done is called exactly once.
 */
enum ls_rc store_worker_observation_insert(struct store_worker *w,
                                           const struct store_observation *o,
                                           store_worker_id_done_fn *done, void *arg,
                                           struct ls_error *err) LS_MUST_CHECK;

/* Deletes observation id (endpoint picks the shard).  LS_ENOTFOUND from
 * done when there was no such row. done may be NULL. */
enum ls_rc store_worker_observation_delete(struct store_worker *w, int64_t id,
                                           const char *endpoint,
                                           store_worker_done_fn *done, void *arg,
                                           struct ls_error *err) LS_MUST_CHECK;

/*
 * store_worker_telemetry -- one notification or Send: a telemetry row per
 * element of detail_json's "values" (API values: {"path","type","value"
 * [,"time"]}; the row's value is the element without path and time, its ts
 * the element's "time" (epoch s, when a plausible number) else the commit
 * time), and the event: kind "send" gets an events row of its own
 * (endpoint, "send", detail_json); kind "notification" becomes an element
 * {"endpoint", "detail": detail_json} of the ONE events row of kind
 * "notifications" (endpoint NULL) that its store round writes for all its
 * notifications, which the SSE hub (web/events.c) splits back into one
 * "notification" frame each.
 * source: "notify" | "send".  kind: "notification" (source "notify", else
 * LS_EINVAL) | "send".
 * detail_json must be a JSON object (it is not parsed here: the caller
 * built it).  done may be NULL.
 */
enum ls_rc store_worker_telemetry(struct store_worker *w, const char *endpoint,
                                  const char *source, const char *kind,
                                  const char *detail_json, store_worker_done_fn *done,
                                  void *arg, struct ls_error *err) LS_MUST_CHECK;

/* Telemetry operations (notifications and Sends) committed, and failed
 * (settled with an error: the store was stopping, a batch gave up) since
 * start.  Any thread (for /metrics). */
void store_worker_telemetry_stats(const struct store_worker *w, uint64_t *committed,
                                  uint64_t *failed);

/* Calls fn for every stored observation, in id order; rows borrowed for
 * the call (paths_json is the JSON array of a composite's paths). */
typedef void store_observation_row_fn(void *arg, const struct store_observation *o);
enum ls_rc store_observations_load(struct store *s, store_observation_row_fn *fn, void *arg,
                                   struct ls_error *err) LS_MUST_CHECK;

/* Filter of store_telemetry_list. */
struct store_telemetry_query {
    const char *endpoint;
    const char *path;       /* canonical path ("/3/0"); NULL = all.  Matches
                             * the path and everything below it */
    int64_t since_us;       /* ts >= since; INT64_MIN = unbounded */
    int64_t until_us;       /* ts < until; INT64_MAX = unbounded */
    int limit;              /* 1..1000 */
    int64_t after_ts_us;    /* keyset cursor from a previous page's next; */
    int64_t after_id;       /* after_id 0 = first page */
};

/*
 * store_telemetry_list -- rows ordered by (ts, id) ascending, as the JSON
 * text {"telemetry":[{"path","ts","received_at","source","value"}],
 * "next":"<ts_us>.<id>"|null}.  *json_out caller owns (free()).
 * LS_ENOTFOUND when the endpoint was never heard of.
 */
enum ls_rc store_telemetry_list(struct store *s, const struct store_telemetry_query *q,
                                char **json_out, struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_TELEMETRY_H */
