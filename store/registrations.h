/*
 * store/registrations.h -- durable registrations, written in batches
 *
 * The CoAP thread must not wait on Postgres per device, and a registration
 * storm must cost a few commits, not one per device (ARCHITECTURE.md,
 * "Threads and data flow").  So registrations are written by a store
 * worker: a thread that owns its own struct store, takes every operation
 * queued since its last round, and writes them in ONE transaction using
 * libpq pipeline mode (all statements sent, then one Sync).  When the
 * transaction commits, each operation's completion callback is posted to
 * the caller's loop (runtime_loop_post), which is when the CoAP side may
 * send the 2.01/2.04/2.02 that promises durability.  On a transient failure
 * (database away) the batch is retried with backoff; operations are never
 * dropped silently: a completion reports failure only when the worker is
 * stopping or an operation itself is invalid.  The worker runs two such
 * threads by default (two backends write faster than one); a device's
 * operations always go through the same one (by endpoint), so they apply
 * in queue order.
 *
 * Each operation also appends its event row (registration, update,
 * deregistration) to the events table in the same transaction, and each
 * transaction sends one pg_notify('lodestar_events', <its newest event id>)
 * so that /api/events subscribers in any process look after commit.
 *
 * INTERFACE ROUTINES
 *   store_worker_start / _stop        the worker thread
 *   store_worker_register             insert or replace (same endpoint)
 *   store_worker_update               lifetime/binding/address/last seen
 *   store_worker_deregister           delete (de-register or expiry)
 *   store_registrations_load          the rows an instance held (at start)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_REGISTRATIONS_H
#define LODESTAR_STORE_REGISTRATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

struct runtime_loop;
struct store;
struct store_worker;

/* One registration row.  Strings are borrowed for the duration of the call
 * that takes the struct; the worker copies what it keeps.  Times are wall
 * clock, milliseconds since the epoch. */
struct store_registration {
    const char *id;            /* location id: /rd/{id} */
    const char *endpoint;
    const char *version;       /* "1.0" | "1.1" | "1.2" */
    int64_t lifetime_s;        /* 0 = no expiry (1.2) */
    const char *binding;       /* "U", "UQ", ... */
    bool queue;
    const char *sms;           /* "" or NULL when absent */
    const char *pid;           /* "" or NULL when absent */
    const char *alt_path;      /* "/" unless the client gave one */
    const char *objects_json;  /* JSON array: ["/1/0","/3/0","/5"] */
    const char *formats_json;  /* JSON array of ct numbers from </>: [110,112] */
    const char *address;       /* "[::1]:56830" or "127.0.0.1:5683" */
    const char *security;      /* "nosec" | "psk" | "rpk" | "x509" */
    const char *identity;      /* PSK identity, CN or key hash; "" for nosec */
    const char *instance_id;   /* server_instances.id of the holder */
    int64_t registered_at_ms;
    int64_t last_seen_ms;
    int64_t expires_at_ms;     /* 0 = never */
};

/* What an Update changes; NULL / -1 fields are left as they are. */
struct store_registration_update {
    const char *id;
    const char *endpoint;      /* for the event row */
    int64_t lifetime_s;        /* -1 = unchanged */
    const char *binding;       /* NULL = unchanged */
    int queue;                 /* -1 unchanged, 0/1 */
    const char *sms;           /* NULL = unchanged */
    const char *objects_json;  /* NULL = unchanged */
    const char *address;       /* NULL = unchanged */
    int64_t last_seen_ms;
    int64_t expires_at_ms;     /* 0 = never */
};

/*
 * Completion, run on the loop given to store_worker_start() after the
 * operation's transaction committed (rc LS_OK) or was given up (rc != LS_OK,
 * err says why; borrowed for the call).
 */
typedef void store_worker_done_fn(void *arg, enum ls_rc rc, const struct ls_error *err);

/*
 * store_worker_start -- start the worker thread with its own connection.
 * conninfo   Borrowed (copied).
 * loop       Borrowed: where completions are posted; must outlive the worker.
 * Caller owns the worker; stop it with store_worker_stop().
 */
struct store_worker *store_worker_start(const char *conninfo, struct runtime_loop *loop,
                                        struct ls_error *err);

/* Tuning for tests and the benchmark; store_worker_start() takes the
 * defaults (every field 0). */
struct store_worker_options {
    size_t queue_max;     /* operations waiting at most; 0 = 50 000 */
    size_t batch_max;     /* operations per transaction; 0 = 2 000 */
    int64_t linger_ms;    /* after the first operation of a round, wait this
                           * long for more (bigger batches, more latency); 0 */
    bool sequential;      /* one statement at a time, no pipeline: the
                           * benchmark's baseline, never faster */
    size_t shards;        /* worker threads, each with its connection and
                           * queue_max/shards of the queue; a device's
                           * operations always take the same one (by
                           * endpoint: pass it to update and deregister).
                           * 0 = 1 */
    int64_t hold_ms;      /* with the database gone, queued operations are
                           * retried this long, then fail LS_ETRANSIENT; new
                           * ones are refused at once.  0 = 2 000 */
    size_t group_min;     /* Registers (Updates) of a round written by one
                           * statement when at least this many; 0 = 32 */
};
struct store_worker *store_worker_start_opts(const char *conninfo, struct runtime_loop *loop,
                                             const struct store_worker_options *opts,
                                             struct ls_error *err);

/* Writes what is queued (bounded by a deadline of a few seconds), fails the
 * rest with LS_ETRANSIENT, joins the thread and frees the worker.  Must be
 * called while the completion loop still runs posts or after it stopped
 * (completions posted to a stopped loop are dropped by it).  NULL ok. */
void store_worker_stop(struct store_worker *w);

/* Queue operations.  Any thread.  LS_ENOMEM when the queue is over its
 * bound, LS_ETRANSIENT while the database is unavailable (back-pressure:
 * the caller answers 5.03), else LS_OK and done() will be called exactly
 * once. */
enum ls_rc store_worker_register(struct store_worker *w, const struct store_registration *r,
                                 store_worker_done_fn *done, void *arg,
                                 struct ls_error *err) LS_MUST_CHECK;
enum ls_rc store_worker_update(struct store_worker *w,
                               const struct store_registration_update *u,
                               store_worker_done_fn *done, void *arg,
                               struct ls_error *err) LS_MUST_CHECK;
/* reason: "deregistered" or "expired" (goes into the event row). */
enum ls_rc store_worker_deregister(struct store_worker *w, const char *id,
                                   const char *endpoint, const char *reason,
                                   store_worker_done_fn *done, void *arg,
                                   struct ls_error *err) LS_MUST_CHECK;

/* Statistics for /metrics: batches committed, operations written, the last
 * batch's size and commit latency.  Any thread. */
struct store_worker_stats {
    uint64_t batches;
    uint64_t operations;
    uint64_t failed_batches;
    uint64_t last_batch_size;
    uint64_t commit_us_total;   /* sum of commit latencies, microseconds */
    uint64_t refused_full;      /* enqueues refused: queue over its bound */
    uint64_t refused_away;      /* enqueues refused: database unavailable */
    uint64_t given_up;          /* queued operations failed after hold_ms away */
    uint64_t queued;            /* operations waiting now (all shards) */
    uint64_t queue_max;         /* their bound (all shards) */
    uint64_t away;              /* shards whose connection is gone now */
};
void store_worker_stats(const struct store_worker *w, struct store_worker_stats *out);

/*
 * store_registrations_load -- call fn for every registration whose
 * instance_id is instance (or every one when instance is NULL), at start.
 * Rows are borrowed for the duration of fn.
 */
typedef void store_registration_row_fn(void *arg, const struct store_registration *r);
enum ls_rc store_registrations_load(struct store *s, const char *instance,
                                    store_registration_row_fn *fn, void *arg,
                                    struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_REGISTRATIONS_H */
