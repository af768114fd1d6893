/*
 * store/store.h -- PostgreSQL access shared by both daemons
 *
 * A struct store is one libpq connection that survives the database going
 * away: every call that finds the connection broken marks the store down,
 * logs it once, and returns LS_ETRANSIENT; later calls reconnect, no more
 * often than an exponential backoff allows (250 ms doubling to 10 s), and
 * log once when the database is back.  A store is used by one thread at a
 * time; the caller serialises (each thread that needs the database owns its
 * own store).
 *
 * Migrations are compiled into the binary (store/migrations_embedded.c is
 * generated from migrations/NNNN_name.sql at build time), so a binary always
 * knows the newest schema version it understands.
 *
 * INTERFACE ROUTINES
 *   store_open / store_close        create and destroy a store (conninfo)
 *   store_connect                   connect now; LS_ETRANSIENT while away
 *   store_ping                      SELECT 1, reconnecting when due
 *   store_is_up                     last known state, no I/O
 *   store_migrate                   apply embedded migrations exactly once
 *   store_schema_version            newest applied migration number
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_STORE_H
#define LODESTAR_STORE_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/err.h"

struct store;

/* Caller owns; free with store_close().  Does not connect yet.  NULL on
 * ENOMEM, or LS_EINVAL when libpq cannot parse conninfo (the message never
 * quotes a conninfo that may hold a password). */
struct store *store_open(const char *conninfo, struct ls_error *err);
void store_close(struct store *s);

/* Bounds every statement of s's connections (from the next connect on):
 * Postgres cancels one that runs longer than statement_ms or waits for a
 * lock longer than lock_ms (for a caller that must not stall). */
void store_set_timeouts(struct store *s, int statement_ms, int lock_ms);

/* Connects (or reconnects) now, ignoring the backoff. */
enum ls_rc store_connect(struct store *s, struct ls_error *err) LS_MUST_CHECK;

/* Round trip to the database; reconnects first when down and the backoff
 * allows.  LS_OK when the database answered, LS_ETRANSIENT otherwise. */
enum ls_rc store_ping(struct store *s, struct ls_error *err) LS_MUST_CHECK;

bool store_is_up(const struct store *s);

/*
 * store_migrate -- apply every embedded migration not yet recorded in
 * schema_migrations, in order, each in its own transaction, holding a
 * session advisory lock so that concurrent daemons apply each exactly once.
 * Refuses (LS_EUNSUPPORTED) a database whose newest applied migration is
 * newer than this binary knows.  applied_out (may be NULL) gets how many
 * migrations this call applied.
 */
enum ls_rc store_migrate(struct store *s, int *applied_out,
                         struct ls_error *err) LS_MUST_CHECK;

/*
 * store_startup -- a daemon's first use of the database: wait for it with
 * backoff (logging each failed attempt) until it answers or SIGTERM/SIGINT
 * arrives, then migrate.  Returns -1 when the daemon should go on serving,
 * else the exit status (0 after a stop signal, 1 when migration refused).
 */
int store_startup(struct store *s);

/* Newest migration number the binary knows. */
int store_known_schema_version(void);

/* Newest migration recorded in the database; 0 before any (no
 * schema_migrations table yet).  *version_out is set to 0 on entry. */
enum ls_rc store_schema_version(struct store *s, int *version_out,
                                struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_STORE_H */
