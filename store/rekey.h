/*
 * store/rekey.h -- the database's master key: the start-up check and
 * `lodestar-server --rotate-master-key`
 *
 * Every sealed secret carries the id of the key that sealed it
 * (store/secret.h); table master_key (migrations/0010_master_key.sql)
 * records the id of the database's current key.
 *
 * INTERFACE ROUTINES
 *   store_rekey_check     claim the database for a key, or say it is another's
 *   store_rekey_startup   the check as a daemon's start-up step (logs, exit status)
 *   store_rekey_rotate    re-seal every stored secret under a new key, one transaction
 *   store_rekey_run       the rotation as lodestar-server's one-shot command
 *
 * Rotation is one transaction: a crash or an error half-way leaves every
 * value under the old key and the record unchanged, and running it again
 * starts over.  Rows already under the new key are skipped, so a second
 * run after a successful one (with the old or the new key as --master-key)
 * changes nothing and succeeds.  Never logs key material: keys appear only
 * as their 32-bit ids, in hex.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_REKEY_H
#define LODESTAR_STORE_REKEY_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"
#include "store/secret.h"

struct store;

/*
 * store_rekey_check -- LS_OK when key is the database's master key (a
 * database without one is claimed for key).  LS_ECONFLICT when it is not:
 * err->msg names both key ids, err->detail says what to do (the previous
 * key after a rotation is recognised as such).
 */
enum ls_rc store_rekey_check(struct store *s, const struct store_secret_key *key,
                             struct ls_error *err) LS_MUST_CHECK;

/*
 * store_rekey_startup -- after store_startup: check raw (runtime_config's
 * master_key).  Returns -1 to go on, or the exit status (1) after logging
 * event=master_key_mismatch or event=master_key_check_failed.
 */
int store_rekey_startup(struct store *s, const uint8_t raw[STORE_SECRET_KEY_LEN]);

struct store_rekey_report {
    uint32_t old_id, new_id;
    uint64_t resealed;          /* opened under the old key, sealed under the new */
    uint64_t already;           /* rows that were under the new key already */
    bool was_current;           /* the database's key was the new one before the run */
};

/*
 * store_rekey_rotate -- in one transaction: lock credentials and
 * master_key against writers, check that old is the database's key (or
 * that new already is), record new as the current key, and re-seal every
 * sealed column of every row under old (all states, revoked too) under new.
 * A row under a third key, or one that does not open under old, aborts
 * the whole rotation (LS_EPROTO naming the row) with nothing changed.
 * LS_ECONFLICT when old is not the database's key.  report may be NULL.
 */
enum ls_rc store_rekey_rotate(struct store *s, const struct store_secret_key *old,
                              const struct store_secret_key *new_key,
                              struct store_rekey_report *report,
                              struct ls_error *err) LS_MUST_CHECK;

/*
 * store_rekey_run -- after store_startup: rotate from old_raw to new_raw,
 * logging event=master_key_rotated (ids and counts) or
 * event=master_key_rotate_failed.  Warns (event=master_key_rotate_live)
 * when lodestar-server instances heartbeated in the last 30 s: they still
 * hold the old key.  Returns the exit status: 0 done (or nothing to do),
 * 1 failed.
 */
int store_rekey_run(struct store *s, const uint8_t old_raw[STORE_SECRET_KEY_LEN],
                    const uint8_t new_raw[STORE_SECRET_KEY_LEN]);

#endif /* LODESTAR_STORE_REKEY_H */
