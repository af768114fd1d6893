/*
 * runtime/credcache.c -- in-memory PSK credential table (credcache.h)
 *
 * A chained hash table (FNV-1a over the identity bytes) that doubles when
 * its load factor passes 1.  One allocation per entry holds the entry, its
 * identity and its endpoint name, so freeing is a single walk.  A delta is
 * a list of such nodes made in advance (each flagged put or drop): applying
 * it moves them into the table, so the loop thread allocates nothing.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/credcache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;          /* chain by identity; a delta's list */
    struct node *next_ep;       /* chain by endpoint */
    uint64_t hash;              /* of the identity */
    uint64_t ep_hash;
    bool drop;                  /* a delta's drop operation */
    struct runtime_credcache_entry e;
    /* identity bytes, then the endpoint's NUL-terminated name */
    char storage[];
};

struct runtime_credcache {
    struct node **buckets;
    struct node **by_ep;    /* same size as buckets */
    size_t n_buckets;       /* power of two */
    size_t count;
};

static void node_free(struct node *n);

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct runtime_credcache *runtime_credcache_new(struct ls_error *err)
{
    struct runtime_credcache *c = calloc(1, sizeof *c);
    if (c) {
        c->n_buckets = 64;
        c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
        c->by_ep = calloc(c->n_buckets, sizeof *c->by_ep);
    }
    if (!c || !c->buckets || !c->by_ep) {
        if (c) {
            free(c->buckets);
            free(c->by_ep);
        }
        free(c);
        ls_error_set(err, LS_ENOMEM, "credential cache: out of memory");
        return NULL;
    }
    return c;
}

void runtime_credcache_free(struct runtime_credcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct node *n = c->buckets[i];
        while (n) {
            struct node *next = n->next;
            node_free(n);
            n = next;
        }
    }
    free(c->buckets);
    free(c->by_ep);
    free(c);
}

/* Doubles the bucket array; on ENOMEM the table stays as it is (only
 * slower), which is why the failure is not reported. */
static void grow(struct runtime_credcache *c)
{
    size_t nb = c->n_buckets * 2;
    struct node **b = calloc(nb, sizeof *b), **e = calloc(nb, sizeof *e);
    if (!b || !e) {
        free(b);
        free(e);
        return;
    }
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct node *n = c->buckets[i];
        while (n) {
            struct node *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n->next_ep = e[n->ep_hash & (nb - 1)];
            e[n->ep_hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(c->buckets);
    free(c->by_ep);
    c->buckets = b;
    c->by_ep = e;
    c->n_buckets = nb;
}

static struct node *node_make(int64_t id, const uint8_t *identity, size_t identity_len,
                              const char *endpoint, const uint8_t *key, size_t key_len);
static enum ls_rc add_node(struct runtime_credcache *c, const uint8_t *identity,
                           size_t identity_len, const char *endpoint, const uint8_t *key,
                           size_t key_len, struct ls_error *err);

enum ls_rc runtime_credcache_add(struct runtime_credcache *c, const uint8_t *identity,
                                 size_t identity_len, const char *endpoint,
                                 const uint8_t *key, size_t key_len, struct ls_error *err)
{
    if (!identity_len || !endpoint || key_len == 0 || key_len > RUNTIME_CREDCACHE_KEY_MAX)
        return ls_error_set(err, LS_EINVAL, "credential cache: bad identity or key length");
    return add_node(c, identity, identity_len, endpoint, key, key_len, err);
}

#define RPK_TAG "\0rpk:"
#define RPK_TAG_LEN 5

static size_t rpk_key(const uint8_t *spki, size_t len, uint8_t *out)
{
    memcpy(out, RPK_TAG, RPK_TAG_LEN);
    memcpy(out + RPK_TAG_LEN, spki, len);
    return RPK_TAG_LEN + len;
}

enum ls_rc runtime_credcache_add_rpk(struct runtime_credcache *c, const uint8_t *spki,
                                     size_t spki_len, const char *endpoint,
                                     struct ls_error *err)
{
    uint8_t k[RPK_TAG_LEN + 1024];
    if (!spki_len || spki_len > 1024 || !endpoint)
        return ls_error_set(err, LS_EINVAL, "credential cache: bad public key length");
    return add_node(c, k, rpk_key(spki, spki_len, k), endpoint, NULL, 0, err);
}

const char *runtime_credcache_refused(const char *endpoint)
{
    return endpoint && endpoint[0] == RUNTIME_CREDCACHE_REFUSED[0] ? endpoint + 1 : NULL;
}

const uint8_t *runtime_credcache_entry_public_key(const struct runtime_credcache_entry *e,
                                                 size_t *len)
{
    if (e->key_len || e->identity_len <= RPK_TAG_LEN ||
        memcmp(e->identity, RPK_TAG, RPK_TAG_LEN) != 0) {
        *len = 0;
        return NULL;
    }
    *len = e->identity_len - RPK_TAG_LEN;
    return e->identity + RPK_TAG_LEN;
}

const char *runtime_credcache_find_rpk(const struct runtime_credcache *c, const uint8_t *spki,
                                       size_t spki_len)
{
    uint8_t k[RPK_TAG_LEN + 1024];
    if (!spki_len || spki_len > 1024)
        return NULL;
    const struct runtime_credcache_entry *e =
        runtime_credcache_find(c, k, rpk_key(spki, spki_len, k));
    return e ? e->endpoint : NULL;
}

/* A detached node for identity -> (endpoint, key); NULL on ENOMEM. */
static struct node *node_make(int64_t id, const uint8_t *identity, size_t identity_len,
                              const char *endpoint, const uint8_t *key, size_t key_len)
{
    size_t ep_len = endpoint ? strlen(endpoint) : 0;
    struct node *n = calloc(1, sizeof *n + identity_len + ep_len + 1);
    if (!n)
        return NULL;
    memcpy(n->storage, identity, identity_len);
    if (endpoint)
        memcpy(n->storage + identity_len, endpoint, ep_len + 1);
    n->hash = fnv1a(identity, identity_len);
    n->ep_hash = fnv1a((const uint8_t *)n->storage + identity_len, ep_len);
    n->e.identity = (const uint8_t *)n->storage;
    n->e.identity_len = identity_len;
    n->e.endpoint = n->storage + identity_len;
    if (key_len)
        memcpy(n->e.key, key, key_len);
    n->e.key_len = key_len;
    n->e.id = id;
    return n;
}

static void node_free(struct node *n)
{
    explicit_bzero(n->e.key, sizeof n->e.key);
    free(n);
}

static void node_link(struct runtime_credcache *c, struct node *n)
{
    if (c->count >= c->n_buckets)
        grow(c);
    n->next = c->buckets[n->hash & (c->n_buckets - 1)];
    c->buckets[n->hash & (c->n_buckets - 1)] = n;
    n->next_ep = c->by_ep[n->ep_hash & (c->n_buckets - 1)];
    c->by_ep[n->ep_hash & (c->n_buckets - 1)] = n;
    c->count++;
}

/* The node with n's identity in c, or NULL. */
static struct node *node_find(const struct runtime_credcache *c, uint64_t h,
                              const uint8_t *identity, size_t identity_len)
{
    for (struct node *n = c->buckets[h & (c->n_buckets - 1)]; n; n = n->next)
        if (n->hash == h && n->e.identity_len == identity_len &&
            memcmp(n->e.identity, identity, identity_len) == 0)
            return n;
    return NULL;
}

static void node_unlink(struct runtime_credcache *c, struct node *n)
{
    for (struct node **p = &c->buckets[n->hash & (c->n_buckets - 1)]; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            break;
        }
    for (struct node **p = &c->by_ep[n->ep_hash & (c->n_buckets - 1)]; *p; p = &(*p)->next_ep)
        if (*p == n) {
            *p = n->next_ep;
            break;
        }
    c->count--;
}

static enum ls_rc add_node(struct runtime_credcache *c, const uint8_t *identity,
                           size_t identity_len, const char *endpoint, const uint8_t *key,
                           size_t key_len, struct ls_error *err)
{
    if (runtime_credcache_find(c, identity, identity_len))
        return ls_error_set(err, LS_ECONFLICT, "credential cache: identity listed twice");
    struct node *n = node_make(0, identity, identity_len, endpoint, key, key_len);
    if (!n)
        return ls_error_set(err, LS_ENOMEM, "credential cache: out of memory");
    node_link(c, n);
    return LS_OK;
}

const struct runtime_credcache_entry *runtime_credcache_find(const struct runtime_credcache *c,
                                                             const uint8_t *identity,
                                                             size_t identity_len)
{
    if (!c || !identity_len)
        return NULL;
    struct node *n = node_find(c, fnv1a(identity, identity_len), identity, identity_len);
    return n ? &n->e : NULL;
}

bool runtime_credcache_has_endpoint(const struct runtime_credcache *c, const char *endpoint)
{
    if (!c)
        return false;
    uint64_t h = fnv1a((const uint8_t *)endpoint, strlen(endpoint));
    for (struct node *n = c->by_ep[h & (c->n_buckets - 1)]; n; n = n->next_ep)
        if (n->ep_hash == h && strcmp(n->e.endpoint, endpoint) == 0)
            return true;
    return false;
}

size_t runtime_credcache_count(const struct runtime_credcache *c)
{
    return c ? c->count : 0;
}

void runtime_credcache_each(const struct runtime_credcache *c, runtime_credcache_entry_fn *fn,
                            void *arg)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_buckets; i++)
        for (const struct node *n = c->buckets[i]; n; n = n->next)
            fn(arg, &n->e);
}

/* ---- deltas ---- */

struct runtime_credcache_delta {
    struct node *head, *tail;   /* operations in order, chained by next */
    size_t n;
};

struct runtime_credcache_delta *runtime_credcache_delta_new(struct ls_error *err)
{
    struct runtime_credcache_delta *d = calloc(1, sizeof *d);
    if (!d)
        ls_error_set(err, LS_ENOMEM, "credential delta: out of memory");
    return d;
}

void runtime_credcache_delta_free(struct runtime_credcache_delta *d)
{
    if (!d)
        return;
    for (struct node *n = d->head, *next; n; n = next) {
        next = n->next;
        node_free(n);
    }
    free(d);
}

static enum ls_rc delta_push(struct runtime_credcache_delta *d, bool drop, int64_t id,
                             const uint8_t *k, size_t k_len, const char *endpoint,
                             const uint8_t *key, size_t key_len, struct ls_error *err)
{
    struct node *n = node_make(id, k, k_len, endpoint, key, key_len);
    if (!n)
        return ls_error_set(err, LS_ENOMEM, "credential delta: out of memory");
    n->drop = drop;
    if (d->tail)
        d->tail->next = n;
    else
        d->head = n;
    d->tail = n;
    d->n++;
    return LS_OK;
}

enum ls_rc runtime_credcache_delta_put(struct runtime_credcache_delta *d, int64_t id,
                                       const uint8_t *identity, size_t identity_len,
                                       const char *endpoint, const uint8_t *key,
                                       size_t key_len, struct ls_error *err)
{
    if (!identity_len || !endpoint || key_len == 0 || key_len > RUNTIME_CREDCACHE_KEY_MAX)
        return ls_error_set(err, LS_EINVAL, "credential cache: bad identity or key length");
    return delta_push(d, false, id, identity, identity_len, endpoint, key, key_len, err);
}

enum ls_rc runtime_credcache_delta_put_rpk(struct runtime_credcache_delta *d, int64_t id,
                                           const uint8_t *spki, size_t spki_len,
                                           const char *endpoint, struct ls_error *err)
{
    uint8_t k[RPK_TAG_LEN + 1024];
    if (!spki_len || spki_len > 1024 || !endpoint)
        return ls_error_set(err, LS_EINVAL, "credential cache: bad public key length");
    return delta_push(d, false, id, k, rpk_key(spki, spki_len, k), endpoint, NULL, 0, err);
}

enum ls_rc runtime_credcache_delta_drop(struct runtime_credcache_delta *d, int64_t id,
                                        const uint8_t *identity, size_t identity_len,
                                        struct ls_error *err)
{
    if (!identity_len)
        return ls_error_set(err, LS_EINVAL, "credential cache: empty identity");
    return delta_push(d, true, id, identity, identity_len, NULL, NULL, 0, err);
}

enum ls_rc runtime_credcache_delta_drop_rpk(struct runtime_credcache_delta *d, int64_t id,
                                            const uint8_t *spki, size_t spki_len,
                                            struct ls_error *err)
{
    uint8_t k[RPK_TAG_LEN + 1024];
    if (!spki_len || spki_len > 1024)
        return ls_error_set(err, LS_EINVAL, "credential cache: bad public key length");
    return delta_push(d, true, id, k, rpk_key(spki, spki_len, k), NULL, NULL, 0, err);
}

size_t runtime_credcache_delta_count(const struct runtime_credcache_delta *d)
{
    return d ? d->n : 0;
}

void runtime_credcache_delta_append(struct runtime_credcache_delta *dst,
                                    struct runtime_credcache_delta *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->n += src->n;
    *src = (struct runtime_credcache_delta){ 0 };
}

static bool same_binding(const struct runtime_credcache_entry *a,
                         const struct runtime_credcache_entry *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0 &&
           strcmp(a->endpoint, b->endpoint) == 0;
}

/* One operation; takes op (linked into c or freed). */
static void apply_one(struct runtime_credcache *c, struct node *op,
                      runtime_credcache_gone_fn *gone, void *arg)
{
    struct node *old = node_find(c, op->hash, op->e.identity, op->e.identity_len);
    if (op->drop) {
        if (old && (!op->e.id || old->e.id == op->e.id)) {
            node_unlink(c, old);
            if (gone)
                gone(arg, &old->e, NULL);
            node_free(old);
        }
        node_free(op);
        return;
    }
    if (old) {
        node_unlink(c, old);
        if (gone && !same_binding(&old->e, &op->e))
            gone(arg, &old->e, &op->e);
        node_free(old);
    } else if (gone && runtime_credcache_refused(op->e.endpoint)) {
        gone(arg, &op->e, &op->e);   /* revoked before its live binding was seen */
    }
    node_link(c, op);
}

void runtime_credcache_apply(struct runtime_credcache *c, struct runtime_credcache_delta *d,
                             runtime_credcache_gone_fn *gone, void *arg)
{
    struct node *n = d->head;
    *d = (struct runtime_credcache_delta){ 0 };
    while (n) {
        struct node *next = n->next;
        n->next = NULL;
        apply_one(c, n, gone, arg);
        n = next;
    }
}

struct runtime_credcache *runtime_credcache_clone(const struct runtime_credcache *c,
                                                  struct ls_error *err)
{
    struct runtime_credcache *t = runtime_credcache_new(err);
    for (size_t i = 0; t && i < c->n_buckets; i++) {
        for (const struct node *n = c->buckets[i]; n; n = n->next) {
            struct node *m = node_make(n->e.id, n->e.identity, n->e.identity_len,
                                       n->e.endpoint, n->e.key, n->e.key_len);
            if (!m) {
                runtime_credcache_free(t);
                ls_error_set(err, LS_ENOMEM, "credential cache: out of memory");
                return NULL;
            }
            node_link(t, m);
        }
    }
    return t;
}
