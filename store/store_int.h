/*
 * store/store_int.h -- what the files of store/ share; never included
 * outside store/ (PGresult stays in store/)
 *
 * Every table-family file runs its SQL through store_exec(), which
 * reconnects when the backoff allows, sends the statement with
 * PQexecParams, and maps the outcome to enum ls_rc:
 *   connection lost (SQLSTATE class 08, 57P01-57P03, CONNECTION_BAD)
 *                                  -> LS_ETRANSIENT, store marked down
 *   23505 unique violation         -> LS_ECONFLICT
 *   40001, 40P01, 55P03, 57014     -> LS_ETRANSIENT (retry the transaction)
 *   23503 foreign key violation    -> LS_ENOTFOUND (the referenced row is gone)
 *   other class 22 / 23            -> LS_EINVAL (the data broke a constraint)
 *   anything else                  -> LS_EIO
 * A caller that runs a transaction retries it as a whole on LS_ETRANSIENT.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_STORE_INT_H
#define LODESTAR_STORE_STORE_INT_H

#include <libpq-fe.h>
#include <stddef.h>
#include "store/store.h"

/* One embedded migration (generated store/migrations_embedded.c). */
struct store_migration {
    int number;        /* NNNN of NNNN_name.sql, strictly increasing */
    const char *name;  /* "initial" for 0001_initial.sql */
    const char *sql;   /* the file's text, run with PQexec in one transaction */
};

extern const struct store_migration store_migrations_embedded[];
extern const size_t store_migrations_embedded_count;

/*
 * store_ensure -- make sure the store has a live connection: LS_OK when
 * connected (or reconnected now), LS_ETRANSIENT while the database is away
 * or the backoff delays the next attempt.  No I/O when already up.
 */
enum ls_rc store_ensure(struct store *s, struct ls_error *err) LS_MUST_CHECK;

/* Borrowed; NULL while down.  Valid until the next store_* call that may
 * find the connection broken.  For pipeline mode and COPY, which
 * store_exec does not cover; classify their results with store_check. */
PGconn *store_pgconn(struct store *s);

/*
 * store_check -- classify a result of a statement sent on this store's
 * connection (res may be NULL: libpq's out-of-memory or lost connection).
 * LS_OK for PGRES_COMMAND_OK / TUPLES_OK / SINGLE_TUPLE / PIPELINE_SYNC;
 * otherwise records "<what>: <reason>" in err with libpq's text as detail,
 * and marks the store down when the connection is gone.  Does not PQclear.
 */
enum ls_rc store_check(struct store *s, const PGresult *res, const char *what,
                       struct ls_error *err) LS_MUST_CHECK;

/*
 * store_exec -- run one parameterised statement.
 *
 * what     Short description for the error message ("insert credential").
 * sql      One statement with $1..$n placeholders.
 * n        Number of parameters; values[i] NULL is SQL NULL.
 * lengths, formats  As PQexecParams: both NULL for all-text parameters;
 *          formats[i] = 1 marks values[i] as binary of lengths[i] bytes
 *          (bytea).
 * out      Caller owns *out on LS_OK (PQclear); may be NULL when the rows
 *          are not wanted.  Set to NULL on entry.
 *
 * Results come back in text format.  Returns LS_OK or as store_check.
 */
enum ls_rc store_exec(struct store *s, const char *what, const char *sql,
                      int n, const char *const *values, const int *lengths,
                      const int *formats, PGresult **out,
                      struct ls_error *err) LS_MUST_CHECK;

/* store_exec for all-text parameters. */
static inline enum ls_rc LS_MUST_CHECK
store_exec_text(struct store *s, const char *what, const char *sql, int n,
                const char *const *values, PGresult **out, struct ls_error *err)
{
    return store_exec(s, what, sql, n, values, NULL, NULL, out, err);
}

/* How many connection attempts this store has made (tests check the
 * backoff with it). */
unsigned store_connect_attempts(const struct store *s);

/* While down: milliseconds until the backoff allows the next connection
 * attempt (0: up, or due now).  The store worker waits this long. */
int64_t store_retry_in_ms(const struct store *s);

/* A Postgres array literal grown element by element (store/pgarray.c):
 * zero-initialise, add, take the text (NULL when memory ran out; "{}" when
 * empty), free (wipes). */
struct store_pgarray {
    char *p;
    size_t n, cap, count;
    bool oom, closed;
};
void store_pgarray_add(struct store_pgarray *a, const char *s);
const char *store_pgarray_text(struct store_pgarray *a);
void store_pgarray_free(struct store_pgarray *a);

#endif /* LODESTAR_STORE_STORE_INT_H */
