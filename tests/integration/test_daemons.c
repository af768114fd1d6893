/*
 * tests/integration/test_daemons.c -- lodestar-server and lodestar-bootstrap
 * as processes against a real PostgreSQL
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it); the database
 * restart test also needs LODESTAR_TEST_PGCTL_CMD.  The binaries come from
 * LODESTAR_SERVER_BIN / LODESTAR_BOOTSTRAP_BIN, set by meson.  Every wait
 * has a deadline and waits for an event (log line, exit, HTTP answer).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define KEY_ENV "LODESTAR_MASTER_KEY=8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define START_MS 20000       /* start-up, migrations included */
#define STOP_MS 10000        /* SIGTERM to exit */

static char db_env[1024];

static const char *bin(const char *var)
{
    const char *p = getenv(var);
    ck_assert_msg(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

/* Starts lodestar-server on an ephemeral HTTP port; fills base_url. */
static struct harness_proc *start_server(char *base_url, size_t cap)
{
    char *argv[] = { "lodestar-server", "--http", "127.0.0.1:0", "--coap", "127.0.0.1:0",
                     "--coaps", "127.0.0.1:0", NULL };
    char *env[] = { KEY_ENV, db_env, NULL };
    struct harness_proc *p = harness_proc_spawn("server", bin("LODESTAR_SERVER_BIN"), argv, env);
    ck_assert_ptr_nonnull(p);
    char line[512], addr[128];
    ck_assert_msg(harness_proc_wait_line(p, "event=listening proto=http addr=", START_MS, line,
                                         sizeof line), "no listening line:\n%s",
                  harness_proc_stderr(p));
    ck_assert(harness_log_field(line, "addr", addr, sizeof addr));
    ck_assert_msg(strncmp(addr, "127.0.0.1:", 10) == 0 && strcmp(addr, "127.0.0.1:0") != 0,
                  "bound address not logged: %s", line);
    ck_assert(harness_proc_wait_line(p, "event=started version=[0-9.]+ schema=[0-9]+", START_MS,
                                     NULL, 0));
    snprintf(base_url, cap, "http://%s", addr);
    return p;
}

static int get(const char *base, const char *path, struct harness_http_response *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    return harness_http_request("GET", url, NULL, NULL, 0, 5000, r);
}

/* Polls /healthz until it answers want_status with want_db, or the deadline. */
static bool healthz_becomes(const char *base, int want_status, const char *want_db,
                            int64_t timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    char db[32];
    snprintf(db, sizeof db, "\"db\":\"%s\"", want_db);
    while (harness_now_ms() < deadline) {
        struct harness_http_response r;
        int st = get(base, "/healthz", &r);
        bool ok = st == want_status && r.body && strstr(r.body, db);
        harness_http_response_free(&r);
        if (ok)
            return true;
        harness_sleep_ms(100);      /* poll interval, not synchronisation */
    }
    return false;
}

START_TEST(test_server_healthz_and_errors)
{
    char base[160];
    struct harness_proc *p = start_server(base, sizeof base);
    struct harness_http_response r;

    ck_assert_int_eq(get(base, "/healthz", &r), 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\",\"db\":\"up\"}");
    char ct[64];
    ck_assert(harness_http_header(&r, "Content-Type", ct, sizeof ct));
    ck_assert_str_eq(ct, "application/json");
    harness_http_response_free(&r);

    ck_assert_int_eq(get(base, "/no/such/route", &r), 404);
    ck_assert_ptr_nonnull(strstr(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":"));
    harness_http_response_free(&r);

    char url[256];
    snprintf(url, sizeof url, "%s/healthz", base);
    ck_assert_int_eq(harness_http_request("DELETE", url, NULL, NULL, 0, 5000, &r), 405);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"method_not_allowed\""));
    char allow[64];
    ck_assert(harness_http_header(&r, "Allow", allow, sizeof allow));
    ck_assert_str_eq(allow, "GET, HEAD");
    harness_http_response_free(&r);

    size_t big_len = 2 * 1024 * 1024;
    char *big = calloc(1, big_len);
    snprintf(url, sizeof url, "%s/anything", base);
    ck_assert_int_eq(harness_http_request("POST", url, NULL, big, big_len, 10000, &r), 413);
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"too_large\""));
    harness_http_response_free(&r);
    free(big);

    ck_assert_int_eq(harness_proc_stop(p, STOP_MS), 0);
    harness_proc_free(p);
}
END_TEST

START_TEST(test_server_healthz_follows_database)
{
    if (!getenv("LODESTAR_TEST_PGCTL_CMD")) {
        fprintf(stderr, "LODESTAR_TEST_PGCTL_CMD unset: database restart not tested\n");
        return;
    }
    char base[160];
    struct harness_proc *p = start_server(base, sizeof base);
    ck_assert(healthz_becomes(base, 200, "up", 5000));

    ck_assert_int_eq(harness_pg_ctl("stop -m fast -w"), 0);
    ck_assert_msg(healthz_becomes(base, 503, "down", 20000), "healthz never said db down");

    char args[4200];
    snprintf(args, sizeof args, "start -w -l %s", harness_pg_logfile());
    ck_assert_int_eq(harness_pg_ctl(args), 0);
    /* The store's backoff tops out at 10 s: allow two rounds. */
    ck_assert_msg(healthz_becomes(base, 200, "up", 25000), "healthz never came back up");

    ck_assert_int_eq(harness_proc_stop(p, STOP_MS), 0);
    harness_proc_free(p);
}
END_TEST

START_TEST(test_server_sigterm_exits_zero)
{
    char base[160];
    struct harness_proc *p = start_server(base, sizeof base);
    int64_t t0 = harness_now_ms();
    ck_assert_int_eq(harness_proc_signal(p, SIGTERM), 0);
    int status = -1;
    ck_assert(harness_proc_wait_exit(p, STOP_MS, &status));
    ck_assert_int_eq(status, 0);
    ck_assert_int_lt(harness_now_ms() - t0, STOP_MS);
    ck_assert(harness_proc_wait_line(p, "event=stopping signal=TERM", 0, NULL, 0));
    ck_assert(harness_proc_wait_line(p, "event=stopped status=0", 0, NULL, 0));
    /* The port is released: nothing answers any more. */
    struct harness_http_response r;
    ck_assert_int_eq(get(base, "/healthz", &r), -1);
    harness_http_response_free(&r);
    harness_proc_free(p);
}
END_TEST

/* Runs a daemon that must refuse to start; returns its whole stderr. */
static char *expect_usage_error(const char *var, char *const argv[], char *const env[])
{
    struct harness_proc *p = harness_proc_spawn("refused", bin(var), argv, env);
    ck_assert_ptr_nonnull(p);
    int status = -1;
    ck_assert(harness_proc_wait_exit(p, STOP_MS, &status));
    ck_assert_int_eq(status, 2);
    char *err = harness_proc_stderr(p);
    char *nl = strchr(err, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "not exactly one line: %s", err);
    harness_proc_free(p);
    return err;
}

START_TEST(test_server_bad_flag_exits_2)
{
    char *argv[] = { "lodestar-server", "--bogus-flag", "1", NULL };
    char *env[] = { KEY_ENV, db_env, NULL };
    char *err = expect_usage_error("LODESTAR_SERVER_BIN", argv, env);
    ck_assert_str_eq(err, "lodestar-server: --bogus-flag: unknown flag (see --help)\n");
    free(err);

    char *argv2[] = { "lodestar-server", "--http", "localhost:99999", NULL };
    err = expect_usage_error("LODESTAR_SERVER_BIN", argv2, env);
    ck_assert_ptr_nonnull(strstr(err, "--http: "));
    ck_assert_ptr_nonnull(strstr(err, "out of range"));
    free(err);
}
END_TEST

START_TEST(test_server_missing_master_key_exits_2)
{
    char *argv[] = { "lodestar-server", "--http", "127.0.0.1:0", "--coap", "127.0.0.1:0",
                     "--coaps", "127.0.0.1:0", NULL };
    char *env[] = { db_env, NULL };
    char *err = expect_usage_error("LODESTAR_SERVER_BIN", argv, env);
    ck_assert_str_eq(err, "lodestar-server: --master-key: required; make one with: "
                          "openssl rand -hex 32\n");
    free(err);
}
END_TEST

START_TEST(test_bootstrap_bad_address_exits_2)
{
    char *argv[] = { "lodestar-bootstrap", "--coap", "abc", NULL };
    char *env[] = { KEY_ENV, db_env, NULL };
    char *err = expect_usage_error("LODESTAR_BOOTSTRAP_BIN", argv, env);
    ck_assert_str_eq(err, "lodestar-bootstrap: --coap: \"abc\" is not HOST:PORT\n");
    free(err);
}
END_TEST

START_TEST(test_bootstrap_metrics_and_sigterm)
{
    char *argv[] = { "lodestar-bootstrap", "--metrics", "127.0.0.1:0", NULL };
    char *env[] = { KEY_ENV, db_env, NULL };
    struct harness_proc *p = harness_proc_spawn("bootstrap", bin("LODESTAR_BOOTSTRAP_BIN"),
                                                argv, env);
    ck_assert_ptr_nonnull(p);
    char line[512], addr[128], url[256];
    ck_assert_msg(harness_proc_wait_line(p, "event=listening proto=metrics addr=", START_MS,
                                         line, sizeof line), "%s", harness_proc_stderr(p));
    ck_assert(harness_log_field(line, "addr", addr, sizeof addr));
    ck_assert_str_ne(addr, "127.0.0.1:0");
    ck_assert(harness_proc_wait_line(p, "event=started version=", START_MS, NULL, 0));

    struct harness_http_response r;
    snprintf(url, sizeof url, "http://%s/metrics", addr);
    ck_assert_int_eq(harness_http_request("GET", url, NULL, NULL, 0, 5000, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\nlodestar_up 1\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "\nlodestar_db_up 1\n"));
    ck_assert_ptr_nonnull(strstr(r.body, "# TYPE lodestar_db_up gauge\n"));
    harness_http_response_free(&r);
    snprintf(url, sizeof url, "http://%s/other", addr);
    ck_assert_int_eq(harness_http_request("GET", url, NULL, NULL, 0, 5000, &r), 404);
    harness_http_response_free(&r);

    ck_assert_int_eq(harness_proc_stop(p, STOP_MS), 0);
    ck_assert(harness_proc_wait_line(p, "event=stopped status=0", 0, NULL, 0));
    harness_proc_free(p);
}
END_TEST

/* With no database at all the daemon waits, logging each retry, and still
 * stops at once on SIGTERM. */
START_TEST(test_bootstrap_waits_for_database_until_sigterm)
{
    char *argv[] = { "lodestar-bootstrap", "--db",
                     "host=127.0.0.1 port=1 dbname=none connect_timeout=2", NULL };
    char *env[] = { KEY_ENV, NULL };
    struct harness_proc *p = harness_proc_spawn("bootstrap", bin("LODESTAR_BOOTSTRAP_BIN"),
                                                argv, env);
    ck_assert_ptr_nonnull(p);
    ck_assert(harness_proc_wait_line(p, "level=warn event=db_unavailable attempt=1 ", START_MS,
                                     NULL, 0));
    ck_assert(harness_proc_wait_line(p, "event=db_unavailable attempt=2 ", START_MS, NULL, 0));
    int64_t t0 = harness_now_ms();
    ck_assert_int_eq(harness_proc_stop(p, STOP_MS), 0);
    ck_assert_int_lt(harness_now_ms() - t0, 3000);
    char *err = harness_proc_stderr(p);
    ck_assert_ptr_null(strstr(err, "event=started"));
    free(err);
    harness_proc_free(p);
}
END_TEST

/* A database migrated by a newer binary: the daemon must refuse it with
 * exit 1 and a log line that says why, and touch nothing. */
START_TEST(test_server_refuses_newer_schema_exits_1)
{
    char db[64], conninfo[1024], env_db[1100];
    snprintf(db, sizeof db, "lodestar_future_%d", (int)getpid());
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
    /* In a conninfo string the last dbname wins. */
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", harness_pg_uri(), db);
    ck_assert_int_eq(harness_psql(conninfo,
                                  "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                                  " name text NOT NULL, applied_at timestamptz NOT NULL"
                                  " DEFAULT now()); INSERT INTO schema_migrations"
                                  " (version, name) VALUES (9999, 'from_the_future')"), 0);

    snprintf(env_db, sizeof env_db, "LODESTAR_DB=%s", conninfo);
    char *argv[] = { "lodestar-server", "--http", "127.0.0.1:0", "--coap", "127.0.0.1:0",
                     "--coaps", "127.0.0.1:0", NULL };
    char *env[] = { KEY_ENV, env_db, NULL };
    struct harness_proc *p = harness_proc_spawn("server", bin("LODESTAR_SERVER_BIN"), argv, env);
    ck_assert_ptr_nonnull(p);
    int status = -1;
    ck_assert(harness_proc_wait_exit(p, START_MS, &status));
    char *err = harness_proc_stderr(p);
    ck_assert_msg(status == 1, "exit %d:\n%s", status, err);
    ck_assert_msg(harness_proc_wait_line(p, "level=error event=migrate_failed .*9999", 0, NULL, 0),
                  "%s", err);
    ck_assert_ptr_null(strstr(err, "event=listening"));
    ck_assert_ptr_null(strstr(err, "event=started"));
    free(err);
    harness_proc_free(p);

    snprintf(sql, sizeof sql, "DROP DATABASE %s", db);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integration_daemons");
    TCase *tc = tcase_create("lodestar_server");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_server_healthz_and_errors);
    tcase_add_test(tc, test_server_healthz_follows_database);
    tcase_add_test(tc, test_server_sigterm_exits_zero);
    tcase_add_test(tc, test_server_bad_flag_exits_2);
    tcase_add_test(tc, test_server_missing_master_key_exits_2);
    tcase_add_test(tc, test_server_refuses_newer_schema_exits_1);
    suite_add_tcase(s, tc);
    tc = tcase_create("lodestar_bootstrap");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bootstrap_bad_address_exits_2);
    tcase_add_test(tc, test_bootstrap_metrics_and_sigterm);
    tcase_add_test(tc, test_bootstrap_waits_for_database_until_sigterm);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(db_env, sizeof db_env, "LODESTAR_DB=%s", harness_pg_uri());
    int failed = harness_run_suite(suite());
    harness_pg_ensure_running();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
