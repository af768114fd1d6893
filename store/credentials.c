/*
 * store/credentials.c -- device credentials, secrets sealed at rest
 *
 * Implements store/credentials.h: insert (sealing the secret under the
 * master key with associated data "credential:<identity>"), revoke, load
 * (opening secrets), the PSK cache builder, and the watcher thread that
 * keeps a daemon's cache fresh through LISTEN lodestar_credentials.
 *
 * Every change sends pg_notify('lodestar_credentials', ...) in the same
 * statement, so it is delivered exactly when the change commits.  The
 * payload (credential id or endpoint) is informative: the watcher reloads
 * the whole scope on any notification.  A full reload was preferred to
 * applying deltas: it cannot drift from the table, and loading tens of
 * thousands of rows takes milliseconds on a thread that nobody waits on.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/credentials.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runtime/credcache.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "store/store_int.h"

#define AD_MAX 600   /* "credential:" + identity */

static bool ad_for(const char *identity, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "credential:%s", identity ? identity : "");
    return n > 0 && (size_t)n < cap;
}

static enum ls_rc seal(const struct store_secret_key *key, const struct store_credential *c,
                       uint8_t **blob, struct ls_error *err)
{
    char ad[AD_MAX];
    *blob = NULL;
    if (!c->secret)
        return LS_OK;
    if (!ad_for(c->identity, ad, sizeof ad))
        return ls_error_set(err, LS_EINVAL, "insert credential: identity too long");
    *blob = malloc(c->secret_len + STORE_SECRET_OVERHEAD);
    if (!*blob)
        return ls_error_set(err, LS_ENOMEM, "insert credential: out of memory");
    return store_secret_seal(key, c->secret, c->secret_len, ad, *blob, err);
}

enum ls_rc store_credentials_insert(struct store *s, const struct store_secret_key *key,
                                    const struct store_credential *c, int64_t *id_out,
                                    struct ls_error *err)
{
    static const char sql[] =
        "WITH ep AS (INSERT INTO endpoints (name, origin) VALUES ($1, 'api')"
        "            ON CONFLICT (name) DO NOTHING),"
        " c AS (INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id,"
        "                                public_key, state, activated_at, revoked_at)"
        "       VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        "               CASE WHEN $8 = 'active' THEN now() END,"
        "               CASE WHEN $8 = 'revoked' THEN now() END)"
        "       RETURNING id)"
        " SELECT id, pg_notify('lodestar_credentials', id::text) FROM c";
    uint8_t *blob = NULL;
    PGresult *res = NULL;
    char key_id[16];
    if (id_out)
        *id_out = 0;
    enum ls_rc rc = seal(key, c, &blob, err);
    if (rc != LS_OK)
        goto out;
    snprintf(key_id, sizeof key_id, "%" PRIu32, key->id);
    bool is_nosec = c->mode && strcmp(c->mode, "nosec") == 0;
    const char *values[8] = {
        c->endpoint, c->scope, c->mode,
        is_nosec ? NULL : c->identity,
        (const char *)blob, blob ? key_id : NULL,
        (const char *)c->public_key, c->state ? c->state : "issued",
    };
    int lengths[8] = { 0, 0, 0, 0, blob ? (int)(c->secret_len + STORE_SECRET_OVERHEAD) : 0, 0,
                       (int)c->public_key_len, 0 };
    int formats[8] = { 0, 0, 0, 0, 1, 0, 1, 0 };
    rc = store_exec(s, "insert credential", sql, 8, values, lengths, formats, &res, err);
    if (rc == LS_OK && id_out && PQntuples(res) == 1)
        *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
out:
    if (blob)
        explicit_bzero(blob, c->secret_len + STORE_SECRET_OVERHEAD);
    free(blob);
    PQclear(res);
    return rc;
}

enum ls_rc store_credentials_revoke(struct store *s, const char *endpoint, const char *scope,
                                    struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"
        "           WHERE endpoint = $1 AND scope = $2 AND state <> 'revoked' RETURNING id)"
        " SELECT count(*), pg_notify('lodestar_credentials', $1) FROM r";
    const char *values[2] = { endpoint, scope };
    return store_exec_text(s, "revoke credentials", sql, 2, values, NULL, err);
}

/* Copies the first column of a one-row result into *out. */
static enum ls_rc take_text(PGresult *res, int col, char **out, struct ls_error *err)
{
    *out = strdup(PQntuples(res) == 1 && !PQgetisnull(res, 0, col) ? PQgetvalue(res, 0, col)
                                                                      : "[]");
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
}

enum ls_rc store_credentials_revoke_list(struct store *s, const char *endpoints_json,
                                         const char *scope, int64_t *count_out,
                                         char **revoked_json_out, struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"
        "           WHERE endpoint IN (SELECT jsonb_array_elements_text($1::jsonb))"
        "           AND ($2::text IS NULL OR scope = $2::text) AND state <> 'revoked'"
        "           RETURNING id, endpoint, scope, mode, identity)"
        " SELECT count(*), coalesce(jsonb_agg(jsonb_build_object('id', id, 'endpoint',"
        " endpoint, 'scope', scope, 'mode', mode, 'identity', identity) ORDER BY id),"
        " '[]')::text, pg_notify('lodestar_credentials', 'revoke') FROM r";
    PGresult *res = NULL;
    const char *values[2] = { endpoints_json, scope };
    *count_out = 0;
    *revoked_json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "revoke credentials", sql, 2, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1)
        *count_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (rc == LS_OK)
        rc = take_text(res, 1, revoked_json_out, err);
    PQclear(res);
    return rc;
}

enum ls_rc store_credentials_live_endpoints(struct store *s, const char *scope,
                                            char **json_out, struct ls_error *err)
{
    static const char sql[] =
        "SELECT coalesce(json_agg(endpoint ORDER BY endpoint), '[]')::text FROM"
        " (SELECT DISTINCT endpoint FROM credentials WHERE state <> 'revoked'"
        "  AND ($1::text IS NULL OR scope = $1::text)) e";
    PGresult *res = NULL;
    const char *values[1] = { scope };
    *json_out = NULL;
    enum ls_rc rc = store_exec_text(s, "list credential endpoints", sql, 1, values, &res, err);
    if (rc == LS_OK)
        rc = take_text(res, 0, json_out, err);
    PQclear(res);
    return rc;
}

enum ls_rc store_credentials_expire(struct store *s, int64_t ttl_s, int64_t *count_out,
                                    struct ls_error *err)
{
    static const char sql[] =
        "WITH r AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"
        "           WHERE state = 'issued' AND (expires_at < now() OR (expires_at IS NULL"
        "           AND created_at < now() - $1::bigint * interval '1 second'))"
        "           RETURNING id, endpoint, scope, identity),"
        " a AS (INSERT INTO audit_log (actor, action, target, detail)"
        "       SELECT 'lodestar-server', 'credentials.expire', endpoint,"
        "       jsonb_build_object('credential', id, 'scope', scope, 'identity', identity)"
        "       FROM r)"
        " SELECT count(*) FROM r";
    char ttl[24];
    PGresult *res = NULL;
    int64_t n = 0;
    snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
    const char *values[1] = { ttl };
    if (count_out)
        *count_out = 0;
    enum ls_rc rc = store_exec_text(s, "expire credentials", sql, 1, values, &res, err);
    if (rc == LS_OK && PQntuples(res) == 1)
        n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (rc == LS_OK && n > 0)
        rc = store_exec_text(s, "notify credentials",
                             "SELECT pg_notify('lodestar_credentials', 'expire')", 0, NULL,
                             NULL, err);
    if (count_out)
        *count_out = n;
    return rc;
}

/* Opens one row's secret into plain (caller's buffer of blob_len bytes).
 * Returns false (and counts nothing) when the row has no secret. */
static enum ls_rc open_secret(const struct store_secret_key *key, const char *identity,
                              const uint8_t *blob, size_t blob_len, uint8_t *plain,
                              struct ls_error *err)
{
    char ad[AD_MAX];
    if (blob_len < STORE_SECRET_OVERHEAD || !ad_for(identity, ad, sizeof ad))
        return ls_error_set(err, LS_EPROTO, "credential secret is malformed");
    return store_secret_open(key, blob, blob_len, ad, plain, err);
}

/* Calls fn for row i of res; false when its secret does not open. */
static bool emit_row(PGresult *res, int i, const struct store_secret_key *key,
                     store_credential_row_fn *fn, void *arg)
{
    size_t blob_len = 0, pk_len = 0;
    uint8_t *blob = NULL, *pk = NULL, *plain = NULL;
    bool ok = false;
    const char *identity = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
    if (!PQgetisnull(res, i, 5)) {
        if (strtoul(PQgetvalue(res, i, 6), NULL, 10) != key->id)
            goto out;    /* sealed under another master key */
        blob = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 5), &blob_len);
        plain = blob ? malloc(blob_len > STORE_SECRET_OVERHEAD ? blob_len : 1) : NULL;
        if (!plain || open_secret(key, identity, blob, blob_len, plain, NULL) != LS_OK)
            goto out;
    }
    if (!PQgetisnull(res, i, 7))
        pk = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 7), &pk_len);
    struct store_credential c = {
        .id = strtoll(PQgetvalue(res, i, 0), NULL, 10),
        .endpoint = PQgetvalue(res, i, 1),
        .scope = PQgetvalue(res, i, 2),
        .mode = PQgetvalue(res, i, 3),
        .identity = identity,
        .secret = plain,
        .secret_len = plain ? blob_len - STORE_SECRET_OVERHEAD : 0,
        .public_key = pk,
        .public_key_len = pk_len,
        .state = PQgetvalue(res, i, 8),
    };
    fn(arg, &c);
    ok = true;
out:
    if (plain)
        explicit_bzero(plain, blob_len > STORE_SECRET_OVERHEAD ? blob_len : 1);
    free(plain);
    PQfreemem(blob);
    PQfreemem(pk);
    return ok;
}

enum ls_rc store_credentials_load(struct store *s, const struct store_secret_key *key,
                                  const char *scope, store_credential_row_fn *fn, void *arg,
                                  unsigned *skipped_out, struct ls_error *err)
{
    static const char sql[] =
        "SELECT id, endpoint, scope, mode, identity, secret, key_id, public_key, state"
        " FROM credentials WHERE scope = $1 AND state <> 'revoked' ORDER BY id";
    PGresult *res = NULL;
    unsigned skipped = 0;
    const char *values[1] = { scope };
    if (skipped_out)
        *skipped_out = 0;
    enum ls_rc rc = store_exec_text(s, "load credentials", sql, 1, values, &res, err);
    if (rc != LS_OK)
        return rc;
    for (int i = 0; i < PQntuples(res); i++)
        if (!emit_row(res, i, key, fn, arg))
            skipped++;
    PQclear(res);
    if (skipped_out)
        *skipped_out = skipped;
    return LS_OK;
}

struct cache_build {
    struct runtime_credcache *cache;
    enum ls_rc rc;
    struct ls_error *err;
};

static void add_psk(void *arg, const struct store_credential *c)
{
    struct cache_build *b = arg;
    struct ls_error local = { 0 };
    enum ls_rc rc;
    if (b->rc != LS_OK)
        return;
    if (strcmp(c->mode, "rpk") == 0 && c->public_key)
        rc = runtime_credcache_add_rpk(b->cache, c->public_key, c->public_key_len, c->endpoint,
                                       &local);
    else if (strcmp(c->mode, "psk") == 0 && c->identity && c->secret)
        rc = runtime_credcache_add(b->cache, (const uint8_t *)c->identity,
                                   strlen(c->identity), c->endpoint, c->secret,
                                   c->secret_len, &local);
    else
        return;
    /* A key too long for DTLS PSK is skipped, not fatal: one bad row must
     * not lock every other device out. */
    if (rc == LS_ENOMEM)
        b->rc = ls_error_set(b->err, rc, "%s", local.msg);
    else if (rc != LS_OK)
        ls_log_warn("credential_skipped", "id=%" PRId64 " endpoint=%s reason=\"%s\"", c->id,
                    c->endpoint, local.msg);
}

enum ls_rc store_credentials_load_cache(struct store *s, const struct store_secret_key *key,
                                        const char *scope, struct runtime_credcache **out,
                                        struct ls_error *err)
{
    unsigned skipped = 0;
    struct cache_build b = { .cache = runtime_credcache_new(err), .rc = LS_OK, .err = err };
    *out = NULL;
    if (!b.cache)
        return LS_ENOMEM;
    enum ls_rc rc = store_credentials_load(s, key, scope, add_psk, &b, &skipped, err);
    if (rc == LS_OK)
        rc = b.rc;
    if (rc != LS_OK) {
        runtime_credcache_free(b.cache);
        return rc;
    }
    if (skipped)
        ls_log_warn("credentials_unreadable", "scope=%s skipped=%u reason=\"sealed under "
                    "another master key or tampered\"", scope, skipped);
    *out = b.cache;
    return LS_OK;
}

/* ---- the watcher thread ---- */

struct store_credentials_watch {
    struct store_credentials_watch_options o;
    struct store_secret_key key;        /* copy; wiped at stop */
    char *conninfo;
    pthread_t thread;
    int stop_fd;                        /* eventfd: stop request */
    pthread_mutex_t lock;               /* guards pending */
    struct runtime_credcache *pending;  /* built, not yet taken by the loop */
};

/* Loop thread: take the newest table (an older one never handed over was
 * freed when it was replaced). */
static void deliver(struct runtime_loop *loop, void *arg)
{
    struct store_credentials_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    struct runtime_credcache *t = w->pending;
    w->pending = NULL;
    pthread_mutex_unlock(&w->lock);
    if (t)
        w->o.fn(w->o.arg, t);
}

static void publish(struct store_credentials_watch *w, struct runtime_credcache *t)
{
    pthread_mutex_lock(&w->lock);
    runtime_credcache_free(w->pending);
    w->pending = t;
    pthread_mutex_unlock(&w->lock);
    if (runtime_loop_post(w->o.loop, deliver, w, NULL) != LS_OK)
        ls_log_warn("credentials_reload_deferred", "reason=\"out of memory\"");
}

/* LISTEN and reload; false when the database is away. */
static bool listen_and_load(struct store_credentials_watch *w, struct store *s)
{
    struct ls_error err = { 0 };
    struct runtime_credcache *t = NULL;
    if (store_exec_text(s, "listen credentials", "LISTEN lodestar_credentials", 0, NULL, NULL,
                        &err) != LS_OK ||
        store_credentials_load_cache(s, &w->key, w->o.scope, &t, &err) != LS_OK) {
        if (err.code != LS_ETRANSIENT)
            ls_log_warn("credentials_reload_failed", "error=\"%s\"", err.msg);
        return false;
    }
    ls_log_debug("credentials_loaded", "scope=%s count=%zu", w->o.scope,
                 runtime_credcache_count(t));
    publish(w, t);
    return true;
}

/* Drains notifications; false when the connection broke. */
static bool drain(struct store *s, bool *changed)
{
    PGconn *c = store_pgconn(s);
    if (!c || !PQconsumeInput(c))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(c))) {
        *changed = true;
        PQfreemem(n);
    }
    return true;
}

static void *watch_main(void *arg)
{
    struct store_credentials_watch *w = arg;
    struct store *s = store_open(w->conninfo, NULL);
    bool listening = false, changed = false;
    int64_t next_tick = runtime_clock_now_ms();
    while (s) {
        if (!listening || changed)     /* LISTEN again is harmless */
            listening = listen_and_load(w, s);
        changed = false;
        int64_t now = runtime_clock_now_ms();
        if (w->o.tick && now >= next_tick) {
            w->o.tick(w->o.tick_arg, s);
            next_tick = now + w->o.tick_ms;
        }
        PGconn *c = listening ? store_pgconn(s) : NULL;
        struct pollfd p[2] = { { .fd = w->stop_fd, .events = POLLIN },
                               { .fd = c ? PQsocket(c) : -1, .events = POLLIN } };
        int64_t wait = listening ? 1000 : 500;   /* reconnect pace while away */
        if (w->o.tick && next_tick - now < wait)
            wait = next_tick - now > 0 ? next_tick - now : 0;
        if (poll(p, 2, (int)wait) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (listening && p[1].revents && !drain(s, &changed)) {
            struct ls_error err = { 0 };
            listening = false;
            if (store_ping(s, &err) != LS_OK)   /* lets the store notice and log it */
                ls_log_debug("credentials_watch_down", "error=\"%s\"", err.msg);
        }
    }
    store_close(s);
    return NULL;
}

struct store_credentials_watch *
store_credentials_watch_start(const struct store_credentials_watch_options *o,
                              struct ls_error *err)
{
    struct store_credentials_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->conninfo = strdup(o->conninfo))) {
        free(w);
        ls_error_set(err, LS_ENOMEM, "credential watcher: out of memory");
        return NULL;
    }
    w->o = *o;
    w->key = *o->key;
    pthread_mutex_init(&w->lock, NULL);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->stop_fd < 0 || pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        ls_error_set(err, LS_EIO, "credential watcher: cannot start: %s", strerror(errno));
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        pthread_mutex_destroy(&w->lock);
        explicit_bzero(&w->key, sizeof w->key);
        free(w->conninfo);
        free(w);
        return NULL;
    }
    return w;
}

void store_credentials_watch_stop(struct store_credentials_watch *w)
{
    if (!w)
        return;
    uint64_t one = 1;
    if (write(w->stop_fd, &one, sizeof one) < 0)
        ls_log_warn("credentials_watch_stop", "error=\"%s\"", strerror(errno));
    pthread_join(w->thread, NULL);
    close(w->stop_fd);
    runtime_credcache_free(w->pending);
    pthread_mutex_destroy(&w->lock);
    explicit_bzero(&w->key, sizeof w->key);
    free(w->conninfo);
    free(w);
}
