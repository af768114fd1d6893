/*
 * store/audit.h -- the audit log (table audit_log)
 *
 * One row per action a person or a token took through the API: device
 * operations ("device.read", "device.write", ...), with the actor (token
 * id and name, kept as plain values: the log outlives a deleted token),
 * the target (an endpoint name) and a JSON detail with the outcome.
 * Append-only; listed newest first.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_AUDIT_H
#define LODESTAR_STORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"

struct store;

#define STORE_AUDIT_LIMIT_MAX 1000

/*
 * store_audit_append -- one entry.  token_id 0 = none (NULL); actor, target
 * may be NULL; detail_json a JSON object (NULL = {}).  LS_EINVAL when the
 * detail is not an object or action is empty.
 */
enum ls_rc store_audit_append(struct store *s, int64_t token_id, const char *actor,
                              const char *action, const char *target,
                              const char *detail_json, struct ls_error *err) LS_MUST_CHECK;

/*
 * store_audit_list -- up to limit (1..STORE_AUDIT_LIMIT_MAX) entries older
 * than after_id (0: from the newest), newest first, as a JSON array text
 * [{"id","at","actor","action","target","detail"}] the caller frees;
 * *next_out = the id to pass as after_id for the next page, 0 on the last.
 */
enum ls_rc store_audit_list(struct store *s, int64_t after_id, int limit, char **json_out,
                            int64_t *next_out, struct ls_error *err) LS_MUST_CHECK;

/*
 * The audit writer: a thread with its own connection that writes every
 * entry queued since its last round in one transaction (group commit,
 * pipeline mode; store/audit.c).  done runs on the writer thread, exactly
 * once per accepted entry, after the commit (rc LS_OK) or once the entry
 * is refused (its own data), failed with its round, or given up
 * (LS_ETRANSIENT: the database stayed away give_up_ms, or the writer
 * stopped).  err is NULL with LS_OK.
 */
struct store_audit_writer;
typedef void store_audit_done_fn(void *arg, enum ls_rc rc, const struct ls_error *err);

#define STORE_AUDIT_GIVE_UP_MS 10000

/* give_up_ms 0: STORE_AUDIT_GIVE_UP_MS.  Connects lazily. */
struct store_audit_writer *store_audit_writer_start(const char *conninfo, int64_t give_up_ms,
                                                    struct ls_error *err);

/* Stops accepting (append then fails with LS_ETRANSIENT), writes what is
 * queued (entries the database refuses meanwhile are given up at once),
 * joins the thread.  w stays valid until _free; append may race with it.
 * NULL ok; a second call does nothing. */
void store_audit_writer_stop(struct store_audit_writer *w);

/* Stops (as above) and frees.  NULL ok.  Nothing may use w afterwards. */
void store_audit_writer_free(struct store_audit_writer *w);

/*
 * store_audit_writer_append -- queue an entry (arguments as
 * store_audit_append, copied).  Never blocks on the database.  LS_OK: done
 * will be called; else (LS_EINVAL no action, LS_ENOMEM queue full,
 * LS_ETRANSIENT stopping) it will not.
 */
enum ls_rc store_audit_writer_append(struct store_audit_writer *w, int64_t token_id,
                                     const char *actor, const char *action,
                                     const char *target, const char *detail_json,
                                     store_audit_done_fn *done, void *arg,
                                     struct ls_error *err) LS_MUST_CHECK;

/* Committed rounds and entries so far. */
void store_audit_writer_stats(struct store_audit_writer *w, uint64_t *rounds,
                              uint64_t *entries);

#endif /* LODESTAR_STORE_AUDIT_H */
