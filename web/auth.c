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
 * Brute force is slowed (issue 10): an address that presented
 * AUTH_FAIL_LIMIT unknown tokens (401 after a lookup: a guess; a missing or
 * malformed header is not one) within AUTH_FAIL_WINDOW_MS gets 429 with Retry-After on every call
 * that needs a token until that window ends, whatever token it presents,
 * so guessing stays at AUTH_FAIL_LIMIT tries a minute per address.  The
 * table is direct-mapped by a hash of the address (bounded memory; a
 * colliding address takes the slot over).  Counted in /metrics as
 * lodestar_http_auth_failures_total{reason="throttled"}.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "runtime/log.h"

#define CACHE_SLOTS 256             /* direct-mapped by the first hash byte */
#define CACHE_TTL_MS 500
#define TOKEN_MAX 512               /* bytes of a presented secret */
#define AUTH_FAIL_LIMIT 20          /* 401s per address per window */
#define AUTH_FAIL_WINDOW_MS 60000
#define AUTH_FAIL_SLOTS 4096
#define AUTH_ADDR_MAX 16            /* bytes of an IPv6 address */

/* 401s of one address in the current window. */
struct fail_slot {
    uint8_t addr[AUTH_ADDR_MAX];
    uint8_t addr_len;               /* 0 = empty */
    unsigned count;
    int64_t window_end_ms;
};

struct slot {
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    struct store_token token;
    int64_t expires_ms;             /* 0 = empty */
};

struct web_auth {
    pthread_mutex_t lock;
    struct slot slots[CACHE_SLOTS];
    struct fail_slot fails[AUTH_FAIL_SLOTS];    /* guarded by lock too */
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

/* The caller's IP address bytes (4 or 16; a v4-mapped v6 address counts
 * as its v4 address); 0 when unknown. */
static size_t client_addr(struct MHD_Connection *conn, uint8_t out[AUTH_ADDR_MAX])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            memcpy(out, a->s6_addr + 12, 4);
            return 4;
        }
        memcpy(out, a->s6_addr, 16);
        return 16;
    }
    return 0;
}

/* FNV-1a of the address: its slot. */
static struct fail_slot *fail_slot(struct web_auth *a, const uint8_t *addr, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ addr[i]) * 16777619u;
    return &a->fails[h % AUTH_FAIL_SLOTS];
}

/* Seconds until the address may try again; 0 when it may now. */
static unsigned throttled_for(struct web_auth *a, struct MHD_Connection *conn)
{
    uint8_t addr[AUTH_ADDR_MAX];
    size_t len = client_addr(conn, addr);
    unsigned wait_s = 0;
    if (len == 0)
        return 0;
    int64_t now = now_ms();
    pthread_mutex_lock(&a->lock);
    struct fail_slot *s = fail_slot(a, addr, len);
    if (s->addr_len == len && memcmp(s->addr, addr, len) == 0 && s->count >= AUTH_FAIL_LIMIT &&
        s->window_end_ms > now)
        wait_s = (unsigned)((s->window_end_ms - now + 999) / 1000);
    pthread_mutex_unlock(&a->lock);
    return wait_s;
}

/* Counts a 401 against the caller's address. */
static void note_failure(struct web_auth *a, struct MHD_Connection *conn)
{
    uint8_t addr[AUTH_ADDR_MAX];
    size_t len = client_addr(conn, addr);
    if (len == 0)
        return;
    int64_t now = now_ms();
    pthread_mutex_lock(&a->lock);
    struct fail_slot *s = fail_slot(a, addr, len);
    if (s->addr_len != len || memcmp(s->addr, addr, len) != 0 || s->window_end_ms <= now) {
        memcpy(s->addr, addr, len);
        s->addr_len = (uint8_t)len;
        s->count = 0;
        s->window_end_ms = now + AUTH_FAIL_WINDOW_MS;
    }
    s->count++;
    pthread_mutex_unlock(&a->lock);
}

static enum MHD_Result too_many(struct MHD_Connection *conn, unsigned wait_s)
{
    char msg[160], retry[16];
    atomic_fetch_add_explicit(&web_counters.auth_throttled, 1, memory_order_relaxed);
    snprintf(msg, sizeof msg, "too many failed authentications from this address; "
             "retry in %u s", wait_s);
    snprintf(retry, sizeof retry, "%u", wait_s);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", "too_many_requests",
                             "message", msg);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct MHD_Response *r = text ? MHD_create_response_from_buffer(strlen(text), text,
                                                                    MHD_RESPMEM_MUST_FREE)
                                  : NULL;
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_TOO_MANY_REQUESTS, r);
    MHD_destroy_response(r);
    return ret;
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
    unsigned wait_s = throttled_for(w->auth, conn);
    if (wait_s > 0) {
        *ret = too_many(conn, wait_s);
        return false;
    }
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
        note_failure(w->auth, conn);    /* a guess: it counts towards 429 */
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
