/*
 * store/audit.c -- the audit log (store/audit.h)
 *
 * The JSON of each row is built by Postgres (json_build_object), as in
 * store/devices.c, so times come out in one format (RFC 3339, UTC) and
 * nothing is escaped by hand here.
 *
 * The audit writer (store_audit_writer_*) is how the HTTP API appends:
 * one thread with its own connection and a queue.  Each round takes
 * everything queued since the last one and writes it as ONE transaction in
 * pipeline mode (BEGIN, one INSERT per entry, COMMIT, one Sync: one round
 * trip, one commit -- group commit), then calls each entry's done on the
 * writer thread.  The caller answers its client only in done, so an
 * acknowledged operation's entry is in Postgres.  Failures as in
 * store/registrations.c: a lost connection or serialization failure
 * retries the round with backoff (100 ms doubling to 2 s) until the
 * entry's give-up time; an entry whose own data is refused (22xxx/23xxx,
 * a detail that is not an object) fails alone and the round is re-run
 * without it; any other error fails the round.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/audit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "runtime/log.h"
#include "store/store_int.h"

enum ls_rc store_audit_append(struct store *s, int64_t token_id, const char *actor,
                              const char *action, const char *target,
                              const char *detail_json, struct ls_error *err)
{
    if (!action || !*action)
        return ls_error_set(err, LS_EINVAL, "audit: an action is needed");
    char tok[24];
    snprintf(tok, sizeof tok, "%" PRId64, token_id);
    const char *values[] = { token_id ? tok : NULL, actor, action, target,
                             detail_json ? detail_json : "{}" };
    PGresult *res = NULL;
    enum ls_rc rc = store_exec_text(s, "append audit entry",
                                    "INSERT INTO audit_log (actor_token_id, actor, action,"
                                    " target, detail)"
                                    " SELECT $1::bigint, $2, $3, $4, $5::jsonb"
                                    " WHERE jsonb_typeof($5::jsonb) = 'object'"
                                    " RETURNING id",
                                    5, values, &res, err);
    if (rc == LS_OK && PQntuples(res) != 1)
        rc = ls_error_set(err, LS_EINVAL, "audit: the detail must be a JSON object");
    PQclear(res);
    return rc;
}

#define ROW "json_build_object('id', id, 'at', to_char(at AT TIME ZONE 'UTC', " \
            "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'actor', actor, 'token', actor_token_id, " \
            "'action', action, 'target', target, 'detail', detail), id"

enum ls_rc store_audit_list(struct store *s, int64_t after_id, int limit, char **json_out,
                            int64_t *next_out, struct ls_error *err)
{
    PGresult *res = NULL;
    char after[24], lim[16];
    *json_out = NULL;
    *next_out = 0;
    if (limit < 1 || limit > STORE_AUDIT_LIMIT_MAX)
        return ls_error_set(err, LS_EINVAL, "limit %d is outside 1..%d", limit,
                            STORE_AUDIT_LIMIT_MAX);
    snprintf(after, sizeof after, "%" PRId64, after_id);
    snprintf(lim, sizeof lim, "%d", limit + 1);
    const char *values[] = { after_id > 0 ? after : NULL, lim };
    enum ls_rc rc = store_exec_text(s, "list audit entries",
                                    "SELECT " ROW " FROM audit_log"
                                    " WHERE ($1::bigint IS NULL OR id < $1::bigint)"
                                    " ORDER BY id DESC LIMIT $2::int",
                                    2, values, &res, err);
    if (rc != LS_OK)
        goto out;
    int rows = PQntuples(res);
    bool more = rows > limit;
    if (more)
        rows = limit;
    size_t len = 3;
    for (int i = 0; i < rows; i++)
        len += (size_t)PQgetlength(res, i, 0) + 1;
    char *json = malloc(len);
    if (!json) {
        rc = ls_error_set(err, LS_ENOMEM, "cannot allocate the audit list");
        goto out;
    }
    size_t n = 0;
    json[n++] = '[';
    for (int i = 0; i < rows; i++) {
        if (i)
            json[n++] = ',';
        memcpy(json + n, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
        n += (size_t)PQgetlength(res, i, 0);
    }
    json[n++] = ']';
    json[n] = '\0';
    *json_out = json;
    if (more && rows > 0)
        *next_out = strtoll(PQgetvalue(res, rows - 1, 1), NULL, 10);
out:
    PQclear(res);
    return rc;
}

/* ---- the audit writer: group commit on a thread of its own ---------------- */

#define WRITER_BATCH_MAX 1000
#define WRITER_QUEUE_MAX 20000
#define WRITER_RETRY_MIN_MS 100
#define WRITER_RETRY_MAX_MS 2000

static const char SQL_APPEND_ONE[] =
    "INSERT INTO audit_log (actor_token_id, actor, action, target, detail)"
    " SELECT $1::bigint, $2, $3, $4, $5::jsonb"
    " WHERE jsonb_typeof($5::jsonb) = 'object'"
    " RETURNING id";

struct entry {
    struct entry *next;
    const char *values[5];            /* token id, actor, action, target, detail */
    store_audit_done_fn *done;
    void *arg;
    int64_t deadline_ms;              /* monotonic: give up retrying after this */
    bool settled;
    enum ls_rc rc;
    struct ls_error err;
    char text[];                      /* the values, NUL-terminated each */
};

struct store_audit_writer {
    struct store *store;              /* the writer thread's own connection */
    unsigned prepared_attempts;       /* store_connect_attempts() when prepared */
    int64_t give_up_ms;
    struct entry *batch[WRITER_BATCH_MAX];
    pthread_t thread;
    bool started;

    pthread_mutex_t lock;             /* guards the fields below */
    pthread_cond_t cond;
    struct entry *head, *tail;
    size_t queued;
    bool stopping;

    _Atomic uint64_t rounds, entries;
};

static struct timespec abs_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void settle(struct entry *e, enum ls_rc rc, const struct ls_error *err)
{
    e->settled = true;
    e->rc = rc;
    if (rc != LS_OK && err)
        e->err = *err;
}

/* Waits for entries and takes up to WRITER_BATCH_MAX: everything queued
 * since the last round.  0 when stopping with nothing queued. */
static size_t take(struct store_audit_writer *w)
{
    size_t n = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->head && !w->stopping)
        pthread_cond_wait(&w->cond, &w->lock);
    while (w->head && n < WRITER_BATCH_MAX) {
        struct entry *e = w->head;
        w->head = e->next;
        e->next = NULL;
        w->queued--;
        w->batch[n++] = e;
    }
    if (!w->head)
        w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Shuts a connection whose pipeline state is unknown, so the store sees it
 * down and reconnects. */
static enum ls_rc drop(struct store_audit_writer *w, PGconn *conn, const char *why,
                       struct ls_error *err)
{
    if (PQsocket(conn) >= 0)
        shutdown(PQsocket(conn), SHUT_RDWR);
    PQconsumeInput(conn);
    if (store_check(w->store, NULL, why, err) == LS_ETRANSIENT)
        return LS_ETRANSIENT;
    ls_error_clear(err);
    return ls_error_set(err, LS_ETRANSIENT, "%s: connection reset", why);
}

static enum ls_rc prepare(struct store_audit_writer *w, struct ls_error *err)
{
    enum ls_rc rc = store_ensure(w->store, err);
    if (rc != LS_OK)
        return rc;
    unsigned attempts = store_connect_attempts(w->store);
    if (attempts == w->prepared_attempts)
        return LS_OK;
    PGresult *res = PQprepare(store_pgconn(w->store), "lsa_append", SQL_APPEND_ONE, 5, NULL);
    rc = store_check(w->store, res, "prepare audit statement", err);
    PQclear(res);
    if (rc == LS_OK)
        w->prepared_attempts = attempts;
    return rc == LS_OK || rc == LS_ETRANSIENT ? rc : LS_EIO;
}

/* One query's results: the first checked (unless an earlier one failed),
 * the rest dropped.  *gone: the connection must not be used again. */
static enum ls_rc read_one(struct store_audit_writer *w, PGconn *conn, struct entry *e,
                           bool failed_before, bool *gone, struct ls_error *err)
{
    PGresult *res = PQgetResult(conn);
    if (!res) {
        *gone = true;
        return drop(w, conn, "read audit batch", err);
    }
    enum ls_rc rc = LS_OK;
    if (!failed_before) {
        rc = store_check(w->store, res, "append audit entry", err);
        if (rc == LS_OK && e && PQntuples(res) != 1)
            rc = ls_error_set(err, LS_EINVAL, "audit: the detail must be a JSON object");
    }
    PQclear(res);
    if (rc == LS_ETRANSIENT && !store_is_up(w->store)) {
        *gone = true;
        return rc;
    }
    while ((res = PQgetResult(conn)))
        PQclear(res);
    return rc;
}

/*
 * One round in pipeline mode: BEGIN, one INSERT per unsettled entry, COMMIT,
 * one Sync -- one round trip and one commit for the whole batch.  LS_OK when
 * committed; else the first failure, *bad its entry (SIZE_MAX: BEGIN/COMMIT).
 */
static enum ls_rc round_once(struct store_audit_writer *w, size_t n, size_t *bad,
                             struct ls_error *err)
{
    PGconn *conn = store_pgconn(w->store);
    if (PQenterPipelineMode(conn) != 1)
        return drop(w, conn, "enter pipeline mode", err);
    bool ok = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    for (size_t i = 0; ok && i < n; i++)
        if (!w->batch[i]->settled)
            ok = PQsendQueryPrepared(conn, "lsa_append", 5, w->batch[i]->values, NULL, NULL,
                                     0) == 1;
    ok = ok && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    ok = ok && PQpipelineSync(conn) == 1;
    if (!ok)
        return drop(w, conn, "send audit batch", err);
    bool gone = false;
    enum ls_rc first = read_one(w, conn, NULL, false, &gone, err);
    for (size_t i = 0; !gone && i < n; i++) {
        if (w->batch[i]->settled)
            continue;
        enum ls_rc rc = read_one(w, conn, w->batch[i], first != LS_OK, &gone, err);
        if (rc != LS_OK && first == LS_OK) {
            first = rc;
            *bad = i;
        }
    }
    if (!gone) {
        enum ls_rc rc = read_one(w, conn, NULL, first != LS_OK, &gone, err);
        if (first == LS_OK)
            first = rc;
    }
    if (gone)
        return LS_ETRANSIENT;
    PGresult *sync;
    while ((sync = PQgetResult(conn))) {
        bool is_sync = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
        if (is_sync)
            break;
    }
    if (PQexitPipelineMode(conn) != 1)
        return drop(w, conn, "leave pipeline mode", err);
    return first;
}

static void rollback(struct store_audit_writer *w)
{
    PGconn *conn = store_pgconn(w->store);
    if (conn && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(conn, "ROLLBACK");
        if (store_check(w->store, res, "rollback audit batch", NULL) != LS_OK)
            ls_log_warn("audit_rollback_failed", "status=%d", (int)PQtransactionStatus(conn));
        PQclear(res);
    }
}

/* Settles every unsettled entry whose deadline passed (or all, when
 * stopping); true when none is left unsettled. */
static bool give_up_due(struct store_audit_writer *w, size_t n, bool all,
                        const struct ls_error *why)
{
    int64_t now = mono_ms();
    bool left = false;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = w->batch[i];
        if (e->settled)
            continue;
        if (all || now >= e->deadline_ms)
            settle(e, LS_ETRANSIENT, why);
        else
            left = true;
    }
    return !left;
}

/*
 * Writes batch[0..n) until each entry is settled: committed, refused alone
 * (its own data: the rest is re-run without it), failed with the batch (an
 * error that is no entry's fault), or given up (deadline, stop).
 */
static void write_round(struct store_audit_writer *w, size_t n)
{
    int64_t delay = WRITER_RETRY_MIN_MS;
    bool logged = false;
    for (;;) {
        struct ls_error err = { 0 };
        size_t bad = SIZE_MAX, live = 0;
        for (size_t i = 0; i < n; i++)
            live += !w->batch[i]->settled;
        if (live == 0)
            return;
        enum ls_rc rc = prepare(w, &err);
        if (rc == LS_OK)
            rc = round_once(w, n, &bad, &err);
        if (rc == LS_OK) {
            for (size_t i = 0; i < n; i++)
                if (!w->batch[i]->settled)
                    settle(w->batch[i], LS_OK, NULL);
            atomic_fetch_add(&w->rounds, 1);
            atomic_fetch_add(&w->entries, live);
            if (logged)
                ls_log_info("audit_writer_resumed", "entries=%zu", live);
            return;
        }
        rollback(w);
        if ((rc == LS_EINVAL || rc == LS_ECONFLICT || rc == LS_ENOTFOUND) && bad != SIZE_MAX) {
            ls_log_warn("audit_entry_refused", "reason=\"%s\"", err.msg);
            settle(w->batch[bad], rc, &err);
            continue;
        }
        if (rc != LS_ETRANSIENT) {
            ls_log_error("audit_batch_failed", "entries=%zu reason=\"%s\"", live, err.msg);
            for (size_t i = 0; i < n; i++)
                if (!w->batch[i]->settled)
                    settle(w->batch[i], rc, &err);
            return;
        }
        if (!logged) {
            ls_log_warn("audit_writer_retrying", "entries=%zu reason=\"%s\"", live, err.msg);
            logged = true;
        }
        pthread_mutex_lock(&w->lock);
        struct timespec until = abs_in(delay);
        while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
            ;
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->lock);
        if (give_up_due(w, n, stopping, &err))
            return;
        delay = delay * 2 > WRITER_RETRY_MAX_MS ? WRITER_RETRY_MAX_MS : delay * 2;
    }
}

static void *writer_main(void *arg)
{
    struct store_audit_writer *w = arg;
    size_t n;
    while ((n = take(w)) > 0) {
        write_round(w, n);
        for (size_t i = 0; i < n; i++) {
            struct entry *e = w->batch[i];
            e->done(e->arg, e->rc, e->rc == LS_OK ? NULL : &e->err);
            free(e);
        }
    }
    return NULL;
}

struct store_audit_writer *store_audit_writer_start(const char *conninfo, int64_t give_up_ms,
                                                    struct ls_error *err)
{
    struct store_audit_writer *w = calloc(1, sizeof *w);
    if (!w) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the audit writer");
        return NULL;
    }
    w->give_up_ms = give_up_ms > 0 ? give_up_ms : STORE_AUDIT_GIVE_UP_MS;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->lock, NULL);
    w->store = store_open(conninfo, err);
    if (!w->store)
        goto fail;
    int e = pthread_create(&w->thread, NULL, writer_main, w);
    if (e != 0) {
        ls_error_set(err, LS_EIO, "cannot start the audit writer: %s", strerror(e));
        goto fail;
    }
    w->started = true;
    return w;
fail:
    store_audit_writer_free(w);
    return NULL;
}

void store_audit_writer_stop(struct store_audit_writer *w)
{
    if (!w || !w->started)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    w->started = false;
}

void store_audit_writer_free(struct store_audit_writer *w)
{
    if (!w)
        return;
    store_audit_writer_stop(w);
    store_close(w->store);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

enum ls_rc store_audit_writer_append(struct store_audit_writer *w, int64_t token_id,
                                     const char *actor, const char *action,
                                     const char *target, const char *detail_json,
                                     store_audit_done_fn *done, void *arg,
                                     struct ls_error *err)
{
    if (!action || !*action)
        return ls_error_set(err, LS_EINVAL, "audit: an action is needed");
    char tok[24];
    snprintf(tok, sizeof tok, "%" PRId64, token_id);
    const char *in[5] = { token_id ? tok : NULL, actor, action, target,
                          detail_json ? detail_json : "{}" };
    size_t len = 0;
    for (int i = 0; i < 5; i++)
        len += in[i] ? strlen(in[i]) + 1 : 0;
    struct entry *e = calloc(1, sizeof *e + len);
    if (!e)
        return ls_error_set(err, LS_ENOMEM, "cannot allocate an audit entry");
    char *at = e->text;
    for (int i = 0; i < 5; i++) {
        if (!in[i])
            continue;
        size_t n = strlen(in[i]) + 1;
        memcpy(at, in[i], n);
        e->values[i] = at;
        at += n;
    }
    e->done = done;
    e->arg = arg;
    e->deadline_ms = mono_ms() + w->give_up_ms;
    pthread_mutex_lock(&w->lock);
    enum ls_rc rc = LS_OK;
    if (w->stopping)
        rc = ls_error_set(err, LS_ETRANSIENT, "audit: the writer is stopping");
    else if (w->queued >= WRITER_QUEUE_MAX)
        rc = ls_error_set(err, LS_ENOMEM, "audit: %d entries are already waiting",
                          WRITER_QUEUE_MAX);
    if (rc == LS_OK) {
        if (w->tail)
            w->tail->next = e;
        else
            w->head = e;
        w->tail = e;
        w->queued++;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    if (rc != LS_OK)
        free(e);
    return rc;
}

void store_audit_writer_stats(struct store_audit_writer *w, uint64_t *rounds,
                              uint64_t *entries)
{
    *rounds = atomic_load(&w->rounds);
    *entries = atomic_load(&w->entries);
}
