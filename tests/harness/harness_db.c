/*
 * tests/harness/harness_db.c -- a fresh PostgreSQL database per Check test
 *
 * The name carries the pid and a counter: Check forks each test, and
 * several test binaries may share the cluster.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness_db.h"

#include <check.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <unistd.h>

#include "store/store_int.h"

void harness_db_fresh(struct harness_db *db, const char *admin, const char *prefix,
                      bool migrate)
{
    static unsigned counter;
    char sql[128];
    struct ls_error err = { 0 };
    struct store *a = store_open(admin, &err);

    snprintf(db->name, sizeof db->name, "%s_%d_%u", prefix, (int)getpid(), counter++);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    ck_assert_msg(store_exec_text(a, "create", sql, 0, NULL, NULL, &err) == LS_OK,
                  "%s", err.msg);
    store_close(a);
    snprintf(db->conninfo, sizeof db->conninfo, "%s dbname=%s", admin, db->name);
    if (!migrate)
        return;
    struct store *s = store_open(db->conninfo, &err);
    ck_assert_msg(store_migrate(s, NULL, &err) == LS_OK, "%s: %s", err.msg, err.detail);
    store_close(s);
}

void harness_db_drop(const struct harness_db *db, const char *admin, const char *who)
{
    char sql[128];
    struct store *a = store_open(admin, NULL);

    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    if (store_exec_text(a, "drop", sql, 0, NULL, NULL, NULL) != LS_OK)
        fprintf(stderr, "%s: could not drop %s\n", who, db->name);
    store_close(a);
}

const char *harness_db_value(const char *conninfo, const char *sql, const char *arg,
                             char *out, size_t cap)
{
    PGconn *c = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "db: %s", PQerrorMessage(c));
    const char *values[1] = { arg };
    PGresult *r = PQexecParams(c, sql, arg ? 1 : 0, NULL, values, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    snprintf(out, cap, "%s", PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return out;
}
