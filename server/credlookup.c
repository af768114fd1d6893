/*
 * server/credlookup.c -- a PSK identity the credential cache does not know
 * yet, looked up in Postgres during the handshake (credlookup.h says why
 * and how it stays bounded)
 *
 * The negative cache is direct-mapped (a slot per identity hash, newest
 * wins): a flood of distinct made-up identities only ever costs the rate's
 * worth of lookups, so it needs no more than to stop one identity that
 * retries from costing a lookup per handshake.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/credlookup.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/credcache.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "store/credentials.h"
#include "store/store.h"

#define RATE 100                /* lookups per second, and the burst */
#define NEGATIVE_MS 5000        /* an identity not found is not looked up again */
#define NEGATIVE_SLOTS 1024     /* a power of two */
#define BACKOFF_MS 10000        /* no lookup after a failed one for this long */
#define STATEMENT_MS 100        /* Postgres cancels a lookup running longer */
#define LOCK_MS 50

struct negative {
    uint32_t hash;
    int64_t until_ms;
};

struct server_credlookup {
    struct store *store;                      /* own connection, loop thread only */
    const struct store_secret_key *key;       /* borrowed */
    double tokens;
    int64_t refilled_ms;
    int64_t quiet_until_ms;                   /* after a failure */
    struct negative negative[NEGATIVE_SLOTS];
    uint64_t found, not_found, limited, failed;   /* __atomic: read by /metrics */
};

struct server_credlookup *server_credlookup_new(const char *conninfo,
                                                const struct store_secret_key *key,
                                                struct ls_error *err)
{
    struct server_credlookup *l = calloc(1, sizeof *l);
    if (!l) {
        ls_error_set(err, LS_ENOMEM, "credential lookup: out of memory");
        return NULL;
    }
    l->store = store_open(conninfo, err);
    if (!l->store) {
        free(l);
        return NULL;
    }
    store_set_timeouts(l->store, STATEMENT_MS, LOCK_MS);
    l->key = key;
    l->tokens = RATE;
    l->refilled_ms = runtime_clock_now_ms();
    return l;
}

void server_credlookup_free(struct server_credlookup *l)
{
    if (l) {
        store_close(l->store);
        free(l);
    }
}

static uint32_t identity_hash(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static bool take_token(struct server_credlookup *l, int64_t now)
{
    l->tokens += (double)(now - l->refilled_ms) * RATE / 1000.0;
    if (l->tokens > RATE)
        l->tokens = RATE;
    l->refilled_ms = now;
    if (l->tokens < 1)
        return false;
    l->tokens -= 1;
    return true;
}

static void count(uint64_t *counter)
{
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

struct runtime_credcache_delta *server_credlookup_psk(struct server_credlookup *l,
                                                      const uint8_t *identity, size_t len)
{
    int64_t now = runtime_clock_now_ms();
    uint32_t h = identity_hash(identity, len);
    struct negative *slot = &l->negative[h & (NEGATIVE_SLOTS - 1)];

    if (now < l->quiet_until_ms || (slot->hash == h && now < slot->until_ms))
        return NULL;
    if (!take_token(l, now)) {
        count(&l->limited);
        return NULL;
    }
    struct ls_error err = { 0 };
    struct runtime_credcache_delta *d = NULL;
    enum ls_rc rc = store_credentials_load_identity(l->store, l->key, "server", identity, len,
                                                    &d, &err);
    if (rc == LS_EINVAL) {
        /* The identity itself is bad (not UTF-8: Postgres refuses the
         * text): no credential can have it.  Not the database's fault, so
         * no quiet period that a made-up identity could trigger for all. */
        count(&l->not_found);
        slot->hash = h;
        slot->until_ms = now + NEGATIVE_MS;
        return NULL;
    }
    if (rc != LS_OK) {
        count(&l->failed);
        l->quiet_until_ms = now + BACKOFF_MS;
        ls_log_warn("credential_lookup_failed", "error=\"%s\" quiet_ms=%d", err.msg,
                    BACKOFF_MS);
        return NULL;
    }
    if (runtime_credcache_delta_count(d) == 0) {
        runtime_credcache_delta_free(d);
        count(&l->not_found);
        slot->hash = h;
        slot->until_ms = now + NEGATIVE_MS;
        return NULL;
    }
    count(&l->found);
    ls_log_debug("credential_lookup_found", "identity_len=%zu", len);
    return d;
}

void server_credlookup_stats(const struct server_credlookup *l,
                             struct server_credlookup_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return;
    out->found = __atomic_load_n(&l->found, __ATOMIC_RELAXED);
    out->not_found = __atomic_load_n(&l->not_found, __ATOMIC_RELAXED);
    out->limited = __atomic_load_n(&l->limited, __ATOMIC_RELAXED);
    out->failed = __atomic_load_n(&l->failed, __ATOMIC_RELAXED);
}
