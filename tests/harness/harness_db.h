/*
 * tests/harness/harness_db.h -- a fresh PostgreSQL database per Check test
 *
 * For the 'db' suite: each test creates its own database through the role
 * of LODESTAR_TEST_PGURI (which must be key=value conninfo, since " dbname="
 * is appended) and drops it afterwards, so tests never see each other's rows.
 * Failures are Check assertions: call these from a test or a checked fixture.
 *
 * INTERFACE ROUTINES
 *   harness_db_fresh   CREATE DATABASE <prefix>_<pid>_<n>, migrated if asked
 *   harness_db_drop    DROP DATABASE ... WITH (FORCE)
 *   harness_db_value   one value of one query, as text
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_HARNESS_DB_H
#define LODESTAR_TESTS_HARNESS_DB_H

#include <stdbool.h>
#include <stddef.h>

struct harness_db {
    char name[64];        /* the database's name */
    char conninfo[1024];  /* admin conninfo + " dbname=<name>" */
};

/* Fills db; admin is the conninfo of a role that may CREATE DATABASE. */
void harness_db_fresh(struct harness_db *db, const char *admin, const char *prefix,
                      bool migrate);

/* Drops db; a failure is only reported on stderr under the name who, since
 * a leftover database must not fail a test that passed. */
void harness_db_drop(const struct harness_db *db, const char *admin, const char *who);

/*
 * harness_db_value -- the first column of the first row of sql (with
 * $1 = arg, or no parameter when arg is NULL) as text in out, "" when there
 * is no row or the value is NULL.  Returns out.  A failed connection or
 * query is a Check failure.
 */
const char *harness_db_value(const char *conninfo, const char *sql, const char *arg,
                             char *out, size_t cap);

#endif
