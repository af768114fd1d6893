/*
 * tests/unit/store/test_db.c -- store/db.c against a real PostgreSQL
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  The
 * restart test also needs LODESTAR_TEST_PGCTL_CMD, the pg_ctl command of
 * the throwaway cluster (scripts/lib/pg.sh pg_test_env), and stops and
 * starts that cluster: never run it against a shared server.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

static const char *pguri;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct store *open_up(void)
{
    struct ls_error err = { 0 };
    struct store *s = store_open(pguri, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(store_connect(s, &err) == LS_OK, "%s: %s", err.msg, err.detail);
    return s;
}

/* ---- store_open / store_connect / store_ping ---- */

START_TEST(test_store_ping_ok)
{
    struct store *s = store_open(pguri, NULL);
    ck_assert(!store_is_up(s));
    struct ls_error err = { 0 };
    ck_assert_msg(store_ping(s, &err) == LS_OK, "%s", err.msg);
    ck_assert(store_is_up(s));
    ck_assert_uint_eq(store_connect_attempts(s), 1);
    /* Up: no further connection attempts. */
    ck_assert_int_eq(store_ping(s, NULL), LS_OK);
    ck_assert_int_eq(store_connect(s, NULL), LS_OK);
    ck_assert_uint_eq(store_connect_attempts(s), 1);
    store_close(s);
}
END_TEST

START_TEST(test_store_connect_sets_session)
{
    struct store *s = open_up();
    PGresult *res = NULL;
    ck_assert_int_eq(store_exec_text(s, "settings",
        "SELECT current_setting('application_name'), current_setting('TimeZone')",
        0, NULL, &res, NULL), LS_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "lodestar");
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "UTC");
    PQclear(res);
    store_close(s);
}
END_TEST

static const char *const bad_conninfo[] = {
    "not a conninfo",
    "host=127.0.0.1 nosuchkeyword=1",
    "host='unterminated",
    "password hunter2",
    "postgresql://u:hunter2@[::1",
};

START_TEST(test_store_open_bad_conninfo)
{
    struct ls_error err = { 0 };
    ck_assert_ptr_null(store_open(bad_conninfo[_i], &err));
    ck_assert_int_eq(err.code, LS_EINVAL);
    ck_assert_ptr_null(strstr(err.msg, "hunter2"));
    ck_assert_ptr_null(strstr(err.detail, "hunter2"));
}
END_TEST

START_TEST(test_store_close_null)
{
    store_close(NULL);
    ck_assert(1);
}
END_TEST

/* A TCP port bound but not listening: connecting to it is refused at once. */
static int refusing_port(int *fd_out)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *fd_out = fd;
    return ntohs(a.sin_port);
}

START_TEST(test_store_connect_refused_backs_off)
{
    int fd;
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d dbname=x user=x password=secret",
             refusing_port(&fd));
    struct store *s = store_open(conninfo, NULL);
    struct ls_error err = { 0 };

    ck_assert_int_eq(store_connect(s, &err), LS_ETRANSIENT);
    ck_assert(!store_is_up(s));
    ck_assert_str_ne(err.msg, "");
    ck_assert_ptr_null(strstr(err.detail, "secret"));
    ck_assert_uint_eq(store_connect_attempts(s), 1);

    /* Within the first delay (250 ms +-20 %): no attempt, immediate refusal. */
    ck_assert_int_eq(store_ping(s, NULL), LS_ETRANSIENT);
    ck_assert_int_eq(store_ensure(s, NULL), LS_ETRANSIENT);
    ck_assert_uint_eq(store_connect_attempts(s), 1);

    /* After it: exactly one more attempt, then the doubled delay (>= 400 ms). */
    usleep(320 * 1000);
    ck_assert_int_eq(store_ping(s, NULL), LS_ETRANSIENT);
    ck_assert_uint_eq(store_connect_attempts(s), 2);
    usleep(300 * 1000);
    ck_assert_int_eq(store_ping(s, NULL), LS_ETRANSIENT);
    ck_assert_uint_eq(store_connect_attempts(s), 2);
    usleep(350 * 1000);
    ck_assert_int_eq(store_ping(s, NULL), LS_ETRANSIENT);
    ck_assert_uint_eq(store_connect_attempts(s), 3);

    /* store_connect ignores the backoff. */
    ck_assert_int_eq(store_connect(s, NULL), LS_ETRANSIENT);
    ck_assert_uint_eq(store_connect_attempts(s), 4);
    store_close(s);
    close(fd);
}
END_TEST

/* ---- store_exec: SQLSTATE mapping ---- */

static const struct {
    const char *sql;
    enum ls_rc rc;
} exec_cases[] = {
    { "INSERT INTO t VALUES (1, 'a')", LS_OK },
    { "INSERT INTO t VALUES (2, 'a')", LS_ECONFLICT },                 /* 23505 */
    { "INSERT INTO t VALUES (3, NULL)", LS_EINVAL },                   /* 23502 */
    { "INSERT INTO t VALUES (-1, 'z')", LS_EINVAL },                   /* 23514 */
    { "INSERT INTO c VALUES (99)", LS_ENOTFOUND },                     /* 23503 */
    { "SELECT 1/0", LS_EINVAL },                                       /* 22012 */
    { "SELECT * FROM no_such_table", LS_EIO },                         /* 42P01 */
    { "SELEC 1", LS_EIO },                                             /* 42601 */
    { "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END$$", LS_ETRANSIENT },
    { "DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '40P01'; END$$", LS_ETRANSIENT },
};

START_TEST(test_store_exec_maps_sqlstate)
{
    struct store *s = open_up();
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_exec_text(s, "setup",
        "CREATE TEMP TABLE t (id int PRIMARY KEY CHECK (id >= 0),"
        " v text NOT NULL UNIQUE)", 0, NULL, NULL, &err), LS_OK);
    ck_assert_int_eq(store_exec_text(s, "setup",
        "CREATE TEMP TABLE c (t_id int REFERENCES t (id))", 0, NULL, NULL, &err), LS_OK);
    if (_i > 0)
        ck_assert_int_eq(store_exec_text(s, "setup", exec_cases[0].sql, 0, NULL, NULL,
                                         &err), LS_OK);
    enum ls_rc rc = store_exec_text(s, "case", exec_cases[_i].sql, 0, NULL, NULL, &err);
    ck_assert_msg(rc == exec_cases[_i].rc, "%s: got %s (%s), want %s", exec_cases[_i].sql,
                  ls_rc_name(rc), err.msg, ls_rc_name(exec_cases[_i].rc));
    if (rc != LS_OK) {
        ck_assert_msg(strncmp(err.msg, "case: ", 6) == 0, "%s", err.msg);
        ck_assert_msg(strstr(err.detail, "SQLSTATE") != NULL, "%s", err.detail);
    }
    /* A statement error is not a lost connection. */
    ck_assert(store_is_up(s));
    ck_assert_int_eq(store_ping(s, NULL), LS_OK);
    store_close(s);
}
END_TEST

START_TEST(test_store_exec_params_text_and_binary)
{
    struct store *s = open_up();
    static const uint8_t bytes[] = { 0x00, 0xFF, 0x27, 0x5C, 0x00 };
    const char *values[] = { "it's; DROP TABLE x --", (const char *)bytes, NULL };
    const int lengths[] = { 0, sizeof bytes, 0 };
    const int formats[] = { 0, 1, 0 };
    PGresult *res = NULL;
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_exec(s, "echo",
        "SELECT $1::text, encode($2::bytea, 'hex'), $3::text IS NULL", 3, values,
        lengths, formats, &res, &err), LS_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "it's; DROP TABLE x --");
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "00ff275c00");
    ck_assert_str_eq(PQgetvalue(res, 0, 2), "t");
    PQclear(res);
    /* out set to NULL on failure. */
    res = (PGresult *)&err;
    ck_assert_int_ne(store_exec_text(s, "bad", "SELEC", 0, NULL, &res, NULL), LS_OK);
    ck_assert_ptr_null(res);
    store_close(s);
}
END_TEST

/* The server ending our session (57P01, as on a fast shutdown) is a lost
 * connection: LS_ETRANSIENT, store down, then back on the next due call. */
START_TEST(test_store_exec_terminated_session)
{
    struct store *s = open_up();
    struct store *killer = open_up();
    PGresult *res = NULL;
    ck_assert_int_eq(store_exec_text(s, "pid", "SELECT pg_backend_pid()", 0, NULL, &res,
                                     NULL), LS_OK);
    const char *pid[] = { PQgetvalue(res, 0, 0) };
    ck_assert_int_eq(store_exec_text(killer, "kill", "SELECT pg_terminate_backend($1::int)",
                                     1, pid, NULL, NULL), LS_OK);
    PQclear(res);
    usleep(100 * 1000);
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_exec_text(s, "after", "SELECT 1", 0, NULL, NULL, &err),
                     LS_ETRANSIENT);
    ck_assert(!store_is_up(s));
    ck_assert_ptr_null(store_pgconn(s));
    int64_t t0 = mono_ms();
    while (store_ping(s, NULL) != LS_OK && mono_ms() - t0 < 5000)
        usleep(20 * 1000);
    ck_assert(store_is_up(s));
    ck_assert_int_ge(mono_ms() - t0, 150); /* the backoff was respected */
    ck_assert_uint_eq(store_connect_attempts(s), 2);
    store_close(killer);
    store_close(s);
}
END_TEST

/* ---- restart of the whole cluster ---- */

static int run_pgctl(const char *args)
{
    char cmd[1024];
    /* The server log: LODESTAR_TEST_PGLOG when the harness names one, else
     * beside the data directory, where scripts/lib/pg.sh keeps it. */
    const char *log = getenv("LODESTAR_TEST_PGLOG");
    char fallback[512];
    if (!log || !*log) {
        snprintf(fallback, sizeof fallback, "%s/../postgres.log",
                 getenv("LODESTAR_TEST_PGDATA"));
        log = fallback;
    }
    if (strstr(args, "start"))
        snprintf(cmd, sizeof cmd, "%s %s '%s' >/dev/null 2>&1",
                 getenv("LODESTAR_TEST_PGCTL_CMD"), args, log);
    else
        snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1",
                 getenv("LODESTAR_TEST_PGCTL_CMD"), args);
    return system(cmd);
}

static int count_in_file(FILE *f, const char *needle)
{
    char line[4096];
    int n = 0;
    rewind(f);
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            n++;
    return n;
}

START_TEST(test_store_ping_survives_restart)
{
    /* Capture our stderr to count the log lines. */
    FILE *log = tmpfile();
    ck_assert_ptr_nonnull(log);
    /* CLOEXEC: pg_ctl start must not hand our stderr to the postmaster,
     * which would hold the test runner's pipe open long after we exit. */
    int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(dup3(fileno(log), 2, O_CLOEXEC), 2);

    struct store *s = open_up();
    ck_assert_int_eq(store_ping(s, NULL), LS_OK);
    ck_assert_int_eq(run_pgctl("stop -m fast -w"), 0);

    struct ls_error err = { 0 };
    ck_assert_int_eq(store_ping(s, &err), LS_ETRANSIENT);
    ck_assert(!store_is_up(s));
    /* While it is down, several calls: still one "db_away". */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(store_ping(s, NULL), LS_ETRANSIENT);
        usleep(100 * 1000);
    }
    ck_assert_int_eq(run_pgctl("start -w -l"), 0);
    int64_t t0 = mono_ms();
    enum ls_rc rc;
    while ((rc = store_ping(s, NULL)) != LS_OK && mono_ms() - t0 < 15000)
        usleep(50 * 1000);
    int64_t took = mono_ms() - t0;
    ck_assert_int_eq(rc, LS_OK);
    ck_assert(store_is_up(s));
    store_close(s);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fprintf(stderr, "store back %lld ms after the cluster started\n", (long long)took);
    ck_assert_int_eq(count_in_file(log, "event=db_away"), 1);
    ck_assert_int_eq(count_in_file(log, "event=db_back"), 1);
    /* At most the largest delay reached in this test (2 s, +20 %) plus a start. */
    ck_assert_int_lt(took, 10000);
    fclose(log);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *s = suite_create("store_db");
    TCase *tc = tcase_create("store_connect");
    tcase_add_test(tc, test_store_ping_ok);
    tcase_add_test(tc, test_store_connect_sets_session);
    tcase_add_test(tc, test_store_close_null);
    tcase_add_loop_test(tc, test_store_open_bad_conninfo, 0,
                        sizeof bad_conninfo / sizeof bad_conninfo[0]);
    tcase_add_test(tc, test_store_connect_refused_backs_off);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("store_exec");
    tcase_add_loop_test(tc, test_store_exec_maps_sqlstate, 0,
                        sizeof exec_cases / sizeof exec_cases[0]);
    tcase_add_test(tc, test_store_exec_params_text_and_binary);
    tcase_add_test(tc, test_store_exec_terminated_session);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    if (getenv("LODESTAR_TEST_PGCTL_CMD") && getenv("LODESTAR_TEST_PGDATA")) {
        tc = tcase_create("store_ping_restart");
        tcase_add_test(tc, test_store_ping_survives_restart);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
    } else {
        fprintf(stderr, "test_db: LODESTAR_TEST_PGCTL_CMD/PGDATA unset, "
                        "restart test not run\n");
    }
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "test_db: LODESTAR_TEST_PGURI unset, skipping\n");
        return 77;
    }
    SRunner *sr = srunner_create(db_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
