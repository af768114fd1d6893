/*
 * web/auth.c -- bearer tokens: who is calling, and may they?
 *
 * "Authorization: Bearer <secret>": the secret is hashed (SHA-256) and the
 * hash looked up in api_tokens through its UNIQUE index.  Lookups are
 * cached for CACHE_TTL_MS, so a busy client costs a query every half
 * second rather than one per request, and a token deleted anywhere (this
 * instance flushes at once; another instance's deletion is seen when the
 * entry ages out) stops working within a second.  Only hashes and roles
 * sit in the cache, never a secret.
 *
 * last_used_at is written only when the stored value is over a minute old
 * (the lookup reports it), so a token costs at most one write a minute.
 *
 * 401 (missing, malformed or unknown token) carries WWW-Authenticate:
 * Bearer; 403 means the token is valid but its role is too low; 503 means
 * the database that would say which is away.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "runtime/log.h"

#define CACHE_SLOTS 256             /* direct-mapped by the first hash byte */
#define CACHE_TTL_MS 500
#define TOKEN_MAX 512               /* bytes of a presented secret */

struct slot {
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    struct store_token token;
    int64_t expires_ms;             /* 0 = empty */
};

struct web_auth {
    pthread_mutex_t lock;
    struct slot slots[CACHE_SLOTS];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct web_auth *web_auth_new(void)
{
    struct web_auth *a = calloc(1, sizeof *a);
    if (a)
        pthread_mutex_init(&a->lock, NULL);
    return a;
}

void web_auth_free(struct web_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void web_auth_flush(struct web_auth *a)
{
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        a->slots[i].expires_ms = 0;
    pthread_mutex_unlock(&a->lock);
}

static bool cache_get(struct web_auth *a, const uint8_t *hash, struct store_token *out)
{
    bool hit = false;
    pthread_mutex_lock(&a->lock);
    struct slot *s = &a->slots[hash[0]];
    if (s->expires_ms > now_ms() && memcmp(s->hash, hash, STORE_TOKENS_HASH_LEN) == 0) {
        *out = s->token;
        hit = true;
    }
    pthread_mutex_unlock(&a->lock);
    return hit;
}

static void cache_put(struct web_auth *a, const uint8_t *hash, const struct store_token *t)
{
    pthread_mutex_lock(&a->lock);
    struct slot *s = &a->slots[hash[0]];
    memcpy(s->hash, hash, STORE_TOKENS_HASH_LEN);
    s->token = *t;
    s->token.stale = false;
    s->expires_ms = now_ms() + CACHE_TTL_MS;
    pthread_mutex_unlock(&a->lock);
}

/* The secret of "Bearer <secret>" (scheme case-insensitive), or NULL. */
static const char *bearer(const char *header, size_t *len)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *p = header + 7;
    while (*p == ' ')
        p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (n == 0 || n > TOKEN_MAX)
        return NULL;
    *len = n;
    return p;
}

static enum MHD_Result unauthorized(struct MHD_Connection *conn, atomic_uint_fast64_t *counter,
                                    const char *msg)
{
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    return web_reply_error(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized", "%s", msg);
}

/* Finds the token by hash: cache, else database (and then cache). */
static enum ls_rc find(struct web_http *w, const uint8_t *hash, struct store_token *out,
                       struct ls_error *err)
{
    if (cache_get(w->auth, hash, out))
        return LS_OK;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_tokens_lookup(w->store, hash, out, err);
    if (rc == LS_OK && out->stale) {
        struct ls_error terr = { 0 };
        /* Losing a last_used_at update is harmless: no request fails for it. */
        if (store_tokens_touch(w->store, out->id, &terr) != LS_OK)
            ls_log_debug("token_touch_failed", "id=%lld error=\"%s\"", (long long)out->id,
                         terr.msg);
    }
    pthread_mutex_unlock(&w->store_lock);
    if (rc == LS_OK)
        cache_put(w->auth, hash, out);
    return rc;
}

bool web_auth_check(struct web_http *w, struct MHD_Connection *conn, struct web_request *req,
                    enum store_tokens_role role, enum MHD_Result *ret)
{
    const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header) {
        *ret = unauthorized(conn, &web_counters.auth_missing,
                            "this resource needs an Authorization: Bearer token");
        return false;
    }
    size_t len = 0;
    const char *secret = bearer(header, &len);
    if (!secret) {
        *ret = unauthorized(conn, &web_counters.auth_invalid,
                            "the Authorization header is not \"Bearer <token>\"");
        return false;
    }
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    store_tokens_hash(secret, len, hash);
    struct ls_error err = { 0 };
    enum ls_rc rc = find(w, hash, &req->token, &err);
    if (rc == LS_ENOTFOUND) {
        *ret = unauthorized(conn, &web_counters.auth_invalid, "unknown or deleted token");
        return false;
    }
    if (rc != LS_OK) {
        *ret = web_reply_store_error(conn, &err);
        return false;
    }
    if (req->token.role < role) {
        atomic_fetch_add_explicit(&web_counters.auth_forbidden, 1, memory_order_relaxed);
        *ret = web_reply_error(conn, MHD_HTTP_FORBIDDEN, "forbidden",
                               "this needs the %s role; the token has %s",
                               store_tokens_role_name(role),
                               store_tokens_role_name(req->token.role));
        return false;
    }
    return true;
}
