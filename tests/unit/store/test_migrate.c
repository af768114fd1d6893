/*
 * tests/unit/store/test_migrate.c -- store/migrate.c and the schema of
 * migrations/ against a real PostgreSQL
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  Every
 * test gets a fresh database (created through LODESTAR_TEST_PGURI's
 * database, dropped afterwards), so the tests need a role that may
 * CREATE DATABASE, as the throwaway cluster's superuser can.  The conninfo
 * must be key=value form: the test appends " dbname=...".
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_db.h"
#include "store/store_int.h"

static const char *pguri;
static struct harness_db db;

static void fresh_db_setup(void)
{
    harness_db_fresh(&db, pguri, "lodestar_mig", false);
}

static void fresh_db_teardown(void)
{
    harness_db_drop(&db, pguri, "test_migrate");
}

static struct store *open_db(void)
{
    struct store *s = store_open(db.conninfo, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* One-row, one-column query as an integer. */
static long query_long(struct store *s, const char *sql)
{
    PGresult *res = NULL;
    struct ls_error err = { 0 };
    ck_assert_msg(store_exec_text(s, "query", sql, 0, NULL, &res, &err) == LS_OK,
                  "%s: %s", sql, err.msg);
    ck_assert_int_eq(PQntuples(res), 1);
    long v = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void migrate_ok(struct store *s, int want_applied)
{
    int applied = -1;
    struct ls_error err = { 0 };
    ck_assert_msg(store_migrate(s, &applied, &err) == LS_OK, "%s: %s", err.msg, err.detail);
    ck_assert_int_eq(applied, want_applied);
}

/* ---- store_known_schema_version ---- */

START_TEST(test_store_known_schema_version_matches_embedded)
{
    ck_assert_uint_ge(store_migrations_embedded_count, 1);
    ck_assert_int_eq(store_migrations_embedded[0].number, 1);
    ck_assert_str_eq(store_migrations_embedded[0].name, "initial");
    for (size_t i = 1; i < store_migrations_embedded_count; i++)
        ck_assert_int_gt(store_migrations_embedded[i].number,
                         store_migrations_embedded[i - 1].number);
    ck_assert_int_eq(store_known_schema_version(),
                     store_migrations_embedded[store_migrations_embedded_count - 1].number);
}
END_TEST

/* ---- store_migrate ---- */

START_TEST(test_store_migrate_fresh_applies_all)
{
    struct store *s = open_db();
    int version = -1;
    ck_assert_int_eq(store_schema_version(s, &version, NULL), LS_OK);
    ck_assert_int_eq(version, 0);
    migrate_ok(s, (int)store_migrations_embedded_count);
    ck_assert_int_eq(store_schema_version(s, &version, NULL), LS_OK);
    ck_assert_int_eq(version, store_known_schema_version());
    ck_assert_int_eq(query_long(s, "SELECT count(*) FROM schema_migrations"),
                     (long)store_migrations_embedded_count);
    static const char *const tables[] = {
        "endpoints", "credentials", "bootstrap_configs", "bootstrap_sessions",
        "registrations", "observations", "commands", "telemetry", "events",
        "audit_log", "api_tokens", "server_instances", "factory_batches",
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT (to_regclass('%s') IS NOT NULL)::int", tables[i]);
        ck_assert_msg(query_long(s, sql) == 1, "table %s missing", tables[i]);
    }
    /* The lock was released. */
    ck_assert_int_eq(query_long(s, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                   " AND database = (SELECT oid FROM pg_database"
                                   " WHERE datname = current_database())"), 0);
    store_close(s);
}
END_TEST

START_TEST(test_store_migrate_restart_applies_none)
{
    struct store *s = open_db();
    migrate_ok(s, (int)store_migrations_embedded_count);
    migrate_ok(s, 0);
    store_close(s);
    /* A new process (a new session) finds nothing to do either. */
    s = open_db();
    migrate_ok(s, 0);
    ck_assert_int_eq(query_long(s, "SELECT count(*) FROM schema_migrations"),
                     (long)store_migrations_embedded_count);
    store_close(s);
}
END_TEST

/* Child: wait for the barrier, migrate, exit with how many it applied
 * (100 + rc on failure). */
static void child_migrate(int barrier_fd)
{
    char c;
    struct ls_error err = { 0 };
    int applied = 0;
    struct store *s = store_open(db.conninfo, &err);
    enum ls_rc rc = s ? store_connect(s, &err) : LS_ENOMEM;
    if (rc == LS_OK && read(barrier_fd, &c, 1) < 0)
        rc = LS_EIO;
    if (rc == LS_OK)
        rc = store_migrate(s, &applied, &err);
    if (rc != LS_OK)
        fprintf(stderr, "child %d: %s: %s\n", (int)getpid(), err.msg, err.detail);
    store_close(s);
    _exit(rc == LS_OK ? applied : 100 + (int)rc);
}

START_TEST(test_store_migrate_concurrent_exactly_once)
{
    int barrier[2];
    pid_t pid[2];
    ck_assert_int_eq(pipe(barrier), 0);
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            close(barrier[1]);
            child_migrate(barrier[0]);
        }
    }
    close(barrier[0]);
    usleep(300 * 1000);  /* both connected and waiting */
    close(barrier[1]);   /* EOF releases both reads at the same moment */
    int total = 0;
    for (int i = 0; i < 2; i++) {
        int status;
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_msg(WEXITSTATUS(status) < 100, "child failed with rc %d",
                      WEXITSTATUS(status) - 100);
        total += WEXITSTATUS(status);
    }
    ck_assert_int_eq(total, (int)store_migrations_embedded_count);
    struct store *s = open_db();
    ck_assert_int_eq(query_long(s, "SELECT count(*) FROM schema_migrations"),
                     (long)store_migrations_embedded_count);
    ck_assert_int_eq(query_long(s, "SELECT count(DISTINCT version) FROM schema_migrations"),
                     (long)store_migrations_embedded_count);
    store_close(s);
}
END_TEST

START_TEST(test_store_migrate_refuses_newer_database)
{
    struct store *s = open_db();
    struct ls_error err = { 0 };
    migrate_ok(s, (int)store_migrations_embedded_count);
    ck_assert_int_eq(store_exec_text(s, "newer",
        "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')",
        0, NULL, NULL, NULL), LS_OK);
    int applied = -1;
    ck_assert_int_eq(store_migrate(s, &applied, &err), LS_EUNSUPPORTED);
    ck_assert_int_eq(applied, 0);
    ck_assert_msg(strstr(err.msg, "9999") && strstr(err.msg, "newer"), "%s", err.msg);
    char known[16];
    snprintf(known, sizeof known, "%d", store_known_schema_version());
    ck_assert_msg(strstr(err.msg, known) != NULL, "%s", err.msg);
    /* Refusing released the lock: another session can take it. */
    struct store *other = open_db();
    ck_assert_int_eq(query_long(other,
        "SELECT pg_try_advisory_lock(7813574265402581362)::int"), 1);
    store_close(other);
    store_close(s);
}
END_TEST

START_TEST(test_store_migrate_refuses_unknown_gap)
{
    struct store *s = open_db();
    struct ls_error err = { 0 };
    migrate_ok(s, (int)store_migrations_embedded_count);
    /* Version 0 is below every embedded one: a hand-made row, unknown. */
    ck_assert_int_eq(store_exec_text(s, "gap",
        "INSERT INTO schema_migrations (version, name) VALUES (0, 'odd')",
        0, NULL, NULL, NULL), LS_OK);
    ck_assert_int_eq(store_migrate(s, NULL, &err), LS_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "unknown") != NULL, "%s", err.msg);
    store_close(s);
}
END_TEST

START_TEST(test_store_migrate_unreachable)
{
    struct store *s = store_open("host=127.0.0.1 port=1 dbname=x connect_timeout=2", NULL);
    struct ls_error err = { 0 };
    int applied = -1;
    ck_assert_int_eq(store_migrate(s, &applied, &err), LS_ETRANSIENT);
    ck_assert_int_eq(applied, 0);
    store_close(s);
}
END_TEST

/* ---- the schema of 0001_initial.sql: its constraints hold ---- */

static const char *const schema_setup =
    "INSERT INTO endpoints (name) VALUES ('dev-1'), ('dev-2');"
    "INSERT INTO server_instances (id) VALUES ('srv-a');"
    "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id)"
    " VALUES ('dev-1', 'server', 'psk', 'id-1', decode(repeat('00', 44), 'hex'), 1);"
    "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, address, security,"
    " expires_at, instance_id)"
    " VALUES ('r1', 'dev-1', '1.1', 300, '127.0.0.1:5000', 'psk', now() + interval '300 s',"
    " 'srv-a');"
    "INSERT INTO observations (endpoint, registration_id, path, token)"
    " VALUES ('dev-1', 'r1', '/3/0/9', '\\x0102');"
    "INSERT INTO bootstrap_configs (name, body) VALUES ('default', '{}');";

static const struct {
    const char *sql;
    enum ls_rc rc;
} schema_cases[] = {
    /* live PSK identities are unique ... */
    { "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id)"
      " VALUES ('dev-2', 'server', 'psk', 'id-1', decode(repeat('00', 44), 'hex'), 1)",
      LS_ECONFLICT },
    /* ... until the old one is revoked */
    { "UPDATE credentials SET state = 'revoked', revoked_at = now();"
      "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id)"
      " VALUES ('dev-2', 'server', 'psk', 'id-1', decode(repeat('00', 44), 'hex'), 1)",
      LS_OK },
    /* the same identity in the other scope is another account */
    { "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id)"
      " VALUES ('dev-2', 'bootstrap', 'psk', 'id-1', decode(repeat('00', 44), 'hex'), 1)",
      LS_OK },
    { "INSERT INTO credentials (endpoint, scope, mode, identity)"
      " VALUES ('dev-2', 'server', 'psk', 'no-key')", LS_EINVAL },
    /* RPK: empty identities do not collide, the same live public key does */
    { "INSERT INTO credentials (endpoint, scope, mode, identity, public_key)"
      " VALUES ('dev-1', 'server', 'rpk', '', '\\x3059');"
      "INSERT INTO credentials (endpoint, scope, mode, identity, public_key)"
      " VALUES ('dev-2', 'server', 'rpk', '', '\\x305a')", LS_OK },
    { "INSERT INTO credentials (endpoint, scope, mode, identity, public_key)"
      " VALUES ('dev-1', 'server', 'rpk', '', '\\x3059');"
      "INSERT INTO credentials (endpoint, scope, mode, identity, public_key)"
      " VALUES ('dev-2', 'server', 'rpk', '', '\\x3059')", LS_ECONFLICT },
    { "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, address, security,"
      " formats) VALUES ('r2', 'dev-2', '1.1', 0, 'a', 'nosec', '{}')", LS_EINVAL },
    { "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id)"
      " VALUES ('dev-2', 'server', 'psk', 'x', '\\x00', NULL)", LS_EINVAL },
    { "UPDATE credentials SET state = 'revoked'", LS_EINVAL },  /* no revoked_at */
    { "INSERT INTO credentials (endpoint, scope, mode) VALUES ('dev-9', 'server', 'nosec')",
      LS_ENOTFOUND },
    { "INSERT INTO credentials (endpoint, scope, mode) VALUES ('dev-2', 'device', 'nosec')",
      LS_EINVAL },
    { "INSERT INTO bootstrap_configs (name, endpoint, match, body)"
      " VALUES ('both', 'dev-1', 'dev-*', '{}')", LS_EINVAL },
    { "INSERT INTO bootstrap_configs (name, endpoint, body)"
      " VALUES ('default2', NULL, '{}')", LS_EINVAL },
    { "UPDATE bootstrap_configs SET match = 'x*' WHERE name = 'default'", LS_EINVAL },
    { "INSERT INTO bootstrap_configs (name, endpoint, body) VALUES ('d1', 'dev-1', '{}');"
      "INSERT INTO bootstrap_configs (name, endpoint, body) VALUES ('d2', 'dev-1', '{}')",
      LS_ECONFLICT },
    { "INSERT INTO bootstrap_configs (name, match, body) VALUES ('t', 'dev-*', '[]')",
      LS_EINVAL },
    { "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, address, security,"
      " expires_at) VALUES ('r2', 'dev-2', '2.0', 60, 'a', 'nosec', now())", LS_EINVAL },
    { "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, address, security,"
      " expires_at) VALUES ('r2', 'dev-1', '1.2', 60, 'a', 'nosec', now())", LS_ECONFLICT },
    { "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, address, security)"
      " VALUES ('r2', 'dev-2', '1.2', 0, 'a', 'nosec')", LS_OK },
    { "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, address, security)"
      " VALUES ('r/2', 'dev-2', '1.2', 0, 'a', 'nosec')", LS_EINVAL },
    { "INSERT INTO observations (endpoint, path, paths, token)"
      " VALUES ('dev-1', '/3', '{/4}', '\\x01')", LS_EINVAL },
    { "INSERT INTO observations (endpoint, path, token) VALUES ('dev-1', '/3', '\\x0102')",
      LS_ECONFLICT },
    { "INSERT INTO commands (endpoint, op, state) VALUES ('dev-1', 'read', 'lost')",
      LS_EINVAL },
    { "INSERT INTO commands (endpoint, op, coap_code) VALUES ('dev-1', 'read', '4.04')",
      LS_OK },
    { "INSERT INTO telemetry (endpoint, path, value, source)"
      " VALUES ('dev-1', '/3/0/9', '{\"type\":\"integer\",\"value\":5}', 'observe')",
      LS_EINVAL },
    { "INSERT INTO api_tokens (name, role, sha256) VALUES ('t', 'admin', '\\x00')",
      LS_EINVAL },
    { "INSERT INTO api_tokens (name, role, sha256)"
      " VALUES ('t', 'root', decode(repeat('00', 32), 'hex'))", LS_EINVAL },
    /* deleting a device takes its dependent rows with it */
    { "INSERT INTO commands (endpoint, op) VALUES ('dev-1', 'read');"
      "INSERT INTO telemetry (endpoint, path, value, source)"
      " VALUES ('dev-1', '/3/0/9', '5', 'notify');"
      "DELETE FROM endpoints WHERE name = 'dev-1';"
      "DO $$BEGIN IF (SELECT count(*) FROM credentials) + (SELECT count(*) FROM registrations)"
      " + (SELECT count(*) FROM observations) + (SELECT count(*) FROM commands)"
      " + (SELECT count(*) FROM telemetry) <> 0 THEN"
      " RAISE EXCEPTION USING ERRCODE = 'P0001'; END IF; END$$", LS_OK },
    /* a gone server instance leaves its registrations unowned */
    { "DELETE FROM server_instances;"
      "DO $$BEGIN IF (SELECT instance_id FROM registrations) IS NOT NULL THEN"
      " RAISE EXCEPTION USING ERRCODE = 'P0001'; END IF; END$$", LS_OK },
};

/* Multi-statement fixtures run through PQexec, as migrations do. */
static enum ls_rc exec_script(struct store *s, const char *sql, struct ls_error *err)
{
    PGresult *res = PQexec(store_pgconn(s), sql);
    enum ls_rc rc = store_check(s, res, "script", err);
    PQclear(res);
    return rc;
}

START_TEST(test_schema_constraints)
{
    struct store *s = open_db();
    struct ls_error err = { 0 };
    migrate_ok(s, (int)store_migrations_embedded_count);
    ck_assert_msg(exec_script(s, schema_setup, &err) == LS_OK, "%s", err.msg);
    enum ls_rc rc = exec_script(s, schema_cases[_i].sql, &err);
    ck_assert_msg(rc == schema_cases[_i].rc, "%s: got %s (%s), want %s",
                  schema_cases[_i].sql, ls_rc_name(rc), err.msg,
                  ls_rc_name(schema_cases[_i].rc));
    store_close(s);
}
END_TEST

static Suite *migrate_suite(void)
{
    Suite *s = suite_create("store_migrate");
    TCase *tc = tcase_create("store_known_schema_version");
    tcase_add_test(tc, test_store_known_schema_version_matches_embedded);
    suite_add_tcase(s, tc);

    tc = tcase_create("store_migrate");
    tcase_add_checked_fixture(tc, fresh_db_setup, fresh_db_teardown);
    tcase_add_test(tc, test_store_migrate_fresh_applies_all);
    tcase_add_test(tc, test_store_migrate_restart_applies_none);
    tcase_add_test(tc, test_store_migrate_concurrent_exactly_once);
    tcase_add_test(tc, test_store_migrate_refuses_newer_database);
    tcase_add_test(tc, test_store_migrate_refuses_unknown_gap);
    tcase_add_test(tc, test_store_migrate_unreachable);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("schema");
    tcase_add_checked_fixture(tc, fresh_db_setup, fresh_db_teardown);
    tcase_add_loop_test(tc, test_schema_constraints, 0,
                        sizeof schema_cases / sizeof schema_cases[0]);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "test_migrate: LODESTAR_TEST_PGURI unset, skipping\n");
        return 77;
    }
    SRunner *sr = srunner_create(migrate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
