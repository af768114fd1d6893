/*
 * bootstrap/db.h -- database threads of lodestar-bootstrap
 *
 * The CoAP loop must never wait on Postgres (LIBCOAP.md section 5: one
 * thread owns libcoap; a query there stalls every device).  Work that
 * needs the database -- resolving a configuration and issuing credentials
 * for a Bootstrap-Request, recording a finished session -- is queued here.
 * N threads, each with its own connection, take jobs in order; a job's
 * work runs on a database thread, its done on the loop thread
 * (runtime_loop_post).  Batch jobs (session records: nobody waits for
 * them) are taken together, a round at a time, by one thread, and written
 * by one call of their batch function (one transaction: db.c).
 *
 * Why threads rather than a cache of configurations refreshed by LISTEN:
 * a bulk import holds thousands of device configurations, templates need
 * glob matching in order, and BSC's resolver (store_bsconfigs_resolve) is
 * the one place that defines resolution; issuing credentials needs the
 * database anyway.  Three threads (bootstrap.c): at most two write rounds
 * (records, issued credentials) at once, so one is always free to resolve;
 * with two, issuing bootstraps ran at half the rate (see
 * bench/results/bootstrap.md).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_BOOTSTRAP_DB_H
#define LODESTAR_BOOTSTRAP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/err.h"

struct runtime_loop;
struct store;
struct bootstrap_db;

/* Database thread: do the job's work with s (never NULL). */
typedef void bootstrap_db_work_fn(struct store *s, void *job);
/* Database thread: do the work of n batch jobs (n >= 1) together. */
typedef void bootstrap_db_batch_fn(struct store *s, void **jobs, size_t n);
/* Loop thread: the work is done (cancelled: it was not run, or its result
 * cannot be delivered because the daemon is stopping: free the job). */
typedef void bootstrap_db_done_fn(void *job, bool cancelled);

struct bootstrap_db *bootstrap_db_start(const char *conninfo, struct runtime_loop *loop,
                                        unsigned threads, struct ls_error *err);
/* Writes the batch jobs still queued, cancels the plain ones, joins the
 * threads (after the loop stopped); every job whose done has not run gets
 * done(job, true).  NULL ok. */
void bootstrap_db_stop(struct bootstrap_db *db);

/* Queues a job.  Loop thread.  LS_ENOMEM, or LS_ETRANSIENT when more than
 * a bound of jobs wait (the database is away or too slow: answer 5.03). */
enum ls_rc bootstrap_db_submit(struct bootstrap_db *db, bootstrap_db_work_fn *work,
                               bootstrap_db_done_fn *done, void *job,
                               struct ls_error *err) LS_MUST_CHECK;

/* Queues a batch job (same errors; its own bound, larger).  Batch jobs
 * with the same work function are written together, in submission order,
 * a round at a time (up to 4 distinct functions: LS_EINVAL beyond). */
enum ls_rc bootstrap_db_submit_batch(struct bootstrap_db *db, bootstrap_db_batch_fn *work,
                                     bootstrap_db_done_fn *done, void *job,
                                     struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_BOOTSTRAP_DB_H */
