/*
 * store/db.c -- one libpq connection that survives the database going away
 *
 * A store is up or down.  Any call that finds the connection broken
 * (CONNECTION_BAD, SQLSTATE class 08, or 57P01-57P03: the server shutting
 * down or not yet accepting) drops the connection, marks the store down,
 * logs "db_away" once and returns LS_ETRANSIENT.  While down, calls try to
 * reconnect no more often than an exponential backoff: 250 ms doubling to
 * 2 s, each delay scaled by a random factor in [0.8, 1.2) so that many
 * daemons restarted together do not reconnect in lockstep.  The cap is 2 s
 * (it was 10 s) so that a daemon is back within 5 s of the database's
 * return (issue 10.3): an attempt against a database that is down costs a
 * refused connect, a few per second per daemon at most.  The first
 * successful reconnect logs "db_back" once.  Between attempts a call fails
 * at once, without I/O, so a caller in a hot loop cannot hammer a database
 * that is restarting.
 *
 * Connection settings added in front of the caller's conninfo (so the
 * caller's own keywords win): connect_timeout=5, application_name=lodestar,
 * options=-c TimeZone=UTC (timestamps come back in UTC, "...+00").
 *
 * The conninfo may hold a password, so it is never logged: log lines name
 * the host, port and database libpq reports once connected.
 *
 * INTERFACE ROUTINES
 *   store_open, store_close, store_set_timeouts, store_connect, store_ping,
 *   store_is_up (store.h)
 *   store_ensure, store_pgconn, store_check, store_exec,
 *   store_connect_attempts, store_retry_in_ms (store_int.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 2000
#define CONNECT_TIMEOUT_S "5"

struct store {
    char *conninfo;          /* caller's text; never logged (may hold password=) */
    PGconn *conn;            /* NULL while down */
    bool up;                 /* last known state */
    bool ever_up;            /* connected at least once (first success is not "back") */
    bool away_logged;        /* "db_away" logged since the store was last up */
    unsigned attempts;       /* connection attempts made, for tests and metrics */
    int64_t next_attempt_ms; /* monotonic clock; no attempt before this while down */
    int backoff_ms;          /* delay after the next failure, BACKOFF_MIN..MAX */
    uint64_t rng;            /* xorshift64 state for the jitter; never 0 */
    char options[160];       /* libpq "options": ours, then store_set_timeouts' */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t next_random(struct store *s)
{
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

/* delay scaled by a factor in [0.8, 1.2). */
static int64_t jitter(struct store *s, int delay_ms)
{
    int64_t span = delay_ms * 2 / 5;
    return delay_ms - span / 2 + (int64_t)(next_random(s) % (uint64_t)(span ? span : 1));
}

/*
 * Copies the first line of src into buf for a log field: quotes become
 * apostrophes so the value cannot end its key="..." field early.
 */
static const char *first_line(const char *src, char *buf, size_t size)
{
    size_t i = 0;
    if (src)
        for (; src[i] && src[i] != '\n' && i + 1 < size; i++)
            buf[i] = src[i] == '"' ? '\'' : src[i];
    buf[i] = '\0';
    return buf;
}

static void on_notice(void *arg, const char *message)
{
    char line[256];
    (void)arg;
    ls_log_debug("db_notice", "message=\"%s\"", first_line(message, line, sizeof line));
}

/* Drops the connection and schedules the next attempt; logs once. */
static void mark_down(struct store *s, const char *reason)
{
    char line[256];

    if (s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    if (s->up)
        s->backoff_ms = BACKOFF_MIN_MS;
    if (!s->away_logged) {
        ls_log_warn("db_away", "reason=\"%s\" retry_ms=%d",
                    first_line(reason, line, sizeof line), s->backoff_ms);
        s->away_logged = true;
    }
    s->up = false;
    s->next_attempt_ms = now_ms() + jitter(s, s->backoff_ms);
    s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
}

static void mark_up(struct store *s)
{
    if (s->away_logged)
        ls_log_info("db_back", "host=%s port=%s dbname=%s attempts=%u",
                    PQhost(s->conn), PQport(s->conn), PQdb(s->conn), s->attempts);
    else if (!s->ever_up)
        ls_log_info("db_connected", "host=%s port=%s dbname=%s",
                    PQhost(s->conn), PQport(s->conn), PQdb(s->conn));
    s->up = s->ever_up = true;
    s->away_logged = false;
    s->backoff_ms = BACKOFF_MIN_MS;
    s->next_attempt_ms = 0;
}

/* One attempt now, whatever the backoff says. */
static enum ls_rc connect_now(struct store *s, const char *what, struct ls_error *err)
{
    /* Ours first: with expand_dbname the caller's conninfo, processed
     * last, overrides any of them. */
    static const char *const keys[] = {
        "connect_timeout", "application_name", "options", "dbname", NULL,
    };
    const char *vals[] = {
        CONNECT_TIMEOUT_S, "lodestar", s->options[0] ? s->options : "-c TimeZone=UTC",
        s->conninfo, NULL,
    };
    char line[256];

    if (s->conn) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    s->attempts++;
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn) {
        s->up = false;
        return ls_error_set(err, LS_ENOMEM, "%s: cannot allocate a database connection",
                            what);
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        first_line(PQerrorMessage(s->conn), line, sizeof line);
        mark_down(s, line);
        ls_error_set(err, LS_ETRANSIENT, "%s: database unavailable", what);
        ls_error_detail(err, "%s", line);
        return LS_ETRANSIENT;
    }
    PQsetNoticeProcessor(s->conn, on_notice, s);
    mark_up(s);
    return LS_OK;
}

/*
 * A conninfo libpq cannot parse would otherwise look like a database that
 * is away forever; refuse it up front.  libpq's message may quote the text
 * around the error, so it goes into the detail only when the conninfo
 * cannot hold a password (no "password" keyword, no URI user:pass@).
 */
static bool conninfo_valid(const char *conninfo, struct ls_error *err)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);

    if (opts) {
        PQconninfoFree(opts);
        return true;
    }
    ls_error_set(err, why ? LS_EINVAL : LS_ENOMEM, "invalid database connection string");
    if (why && !strstr(conninfo, "password") && !strchr(conninfo, '@')) {
        char line[256];
        ls_error_detail(err, "%s", first_line(why, line, sizeof line));
    }
    PQfreemem(why);
    return false;
}

struct store *store_open(const char *conninfo, struct ls_error *err)
{
    struct store *s = NULL;

    if (!conninfo)
        conninfo = "";
    if (!conninfo_valid(conninfo, err))
        return NULL;
    s = calloc(1, sizeof *s);
    if (!s || !(s->conninfo = strdup(conninfo))) {
        free(s);
        ls_error_set(err, LS_ENOMEM, "cannot allocate a store");
        return NULL;
    }
    s->backoff_ms = BACKOFF_MIN_MS;
    s->rng = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^
             (uint64_t)(uintptr_t)s;
    if (!s->rng)
        s->rng = 1;
    return s;
}

void store_set_timeouts(struct store *s, int statement_ms, int lock_ms)
{
    snprintf(s->options, sizeof s->options,
             "-c TimeZone=UTC -c statement_timeout=%d -c lock_timeout=%d", statement_ms,
             lock_ms);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->conn)
        PQfinish(s->conn);
    /* The conninfo may hold a password. */
    explicit_bzero(s->conninfo, strlen(s->conninfo));
    free(s->conninfo);
    free(s);
}

enum ls_rc store_connect(struct store *s, struct ls_error *err)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return LS_OK;
    return connect_now(s, "connect", err);
}

/* store_ensure, with what the caller was doing in the message. */
static enum ls_rc ensure(struct store *s, const char *what, struct ls_error *err)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return LS_OK;
    if (s->conn)
        mark_down(s, "connection lost");
    int64_t wait = s->next_attempt_ms - now_ms();
    if (wait > 0) {
        ls_error_set(err, LS_ETRANSIENT, "%s: database unavailable", what);
        ls_error_detail(err, "Next connection attempt in %lld ms.", (long long)wait);
        return LS_ETRANSIENT;
    }
    return connect_now(s, what, err);
}

enum ls_rc store_ensure(struct store *s, struct ls_error *err)
{
    return ensure(s, "connect", err);
}

bool store_is_up(const struct store *s)
{
    return s->up;
}

PGconn *store_pgconn(struct store *s)
{
    return s->up ? s->conn : NULL;
}

unsigned store_connect_attempts(const struct store *s)
{
    return s->attempts;
}

int64_t store_retry_in_ms(const struct store *s)
{
    if (s->up)
        return 0;
    int64_t wait = s->next_attempt_ms - now_ms();
    return wait > 0 ? wait : 0;
}

/* True when res (or its absence) means the session is gone. */
static bool connection_lost(PGconn *conn, const PGresult *res)
{
    if (!conn || PQstatus(conn) == CONNECTION_BAD)
        return true;
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!st)
        return false;
    return strncmp(st, "08", 2) == 0 || strcmp(st, "57P01") == 0 ||
           strcmp(st, "57P02") == 0 || strcmp(st, "57P03") == 0;
}

static enum ls_rc rc_for_sqlstate(const char *st)
{
    if (!st)
        return LS_EIO;
    if (strcmp(st, "23505") == 0)
        return LS_ECONFLICT;
    if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
        strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0)
        return LS_ETRANSIENT;
    if (strcmp(st, "23503") == 0)
        return LS_ENOTFOUND;
    if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0)
        return LS_EINVAL;
    return LS_EIO;
}

enum ls_rc store_check(struct store *s, const PGresult *res, const char *what,
                       struct ls_error *err)
{
    char line[256];

    switch (res ? PQresultStatus(res) : PGRES_FATAL_ERROR) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
        return LS_OK;
    case PGRES_PIPELINE_ABORTED:
        return ls_error_set(err, LS_EIO, "%s: skipped after an earlier failure", what);
    default:
        break;
    }
    if (connection_lost(s->conn, res)) {
        first_line(res ? PQresultErrorMessage(res) : NULL, line, sizeof line);
        if (!line[0] && s->conn)
            first_line(PQerrorMessage(s->conn), line, sizeof line);
        mark_down(s, line[0] ? line : "connection lost");
        ls_error_set(err, LS_ETRANSIENT, "%s: database unavailable", what);
        ls_error_detail(err, "%s", line);
        return LS_ETRANSIENT;
    }
    if (!res)
        return ls_error_set(err, LS_ENOMEM, "%s: out of memory", what);
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    enum ls_rc rc = ls_error_set(err, rc_for_sqlstate(st), "%s: %s", what,
                                 primary ? primary
                                         : first_line(PQresultErrorMessage(res),
                                                      line, sizeof line));
    ls_error_detail(err, "SQLSTATE %s.%s%s", st ? st : "none", detail ? " " : "",
                    detail ? detail : "");
    return rc;
}

enum ls_rc store_exec(struct store *s, const char *what, const char *sql,
                      int n, const char *const *values, const int *lengths,
                      const int *formats, PGresult **out, struct ls_error *err)
{
    PGresult *res = NULL;
    enum ls_rc rc;

    if (out)
        *out = NULL;
    rc = ensure(s, what, err);
    if (rc != LS_OK)
        goto out;
    res = PQexecParams(s->conn, sql, n, NULL, values, lengths, formats, 0);
    rc = store_check(s, res, what, err);
    if (rc == LS_OK && out) {
        *out = res;
        res = NULL;
    }
out:
    PQclear(res);
    return rc;
}

enum ls_rc store_ping(struct store *s, struct ls_error *err)
{
    enum ls_rc rc = store_exec(s, "ping", "SELECT 1", 0, NULL, NULL, NULL, NULL, err);
    /* Whatever went wrong, a ping answers only "reachable or not". */
    return rc == LS_OK ? LS_OK : LS_ETRANSIENT;
}
