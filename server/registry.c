/*
 * server/registry.c -- the registrations this instance holds (registry.h)
 *
 * Three chained hash tables over the same entries (by id, by endpoint, by
 * address), FNV-1a, doubled when the load factor passes 1: O(1) lookups for
 * 100 000 devices.  The address table finds NoSec devices, whose sessions
 * are not held (observe notifications, Send); an entry's address changes
 * only through server_registry_set_address, which re-links it.
 * Lifetime timers are embedded in the entries and kept by the runtime loop's
 * heap, O(log n) per (re)arm, so an Update costs no scan.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/registry.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "runtime/coap.h"
#include "runtime/log.h"

struct table {
    struct server_reg **b;
    size_t n;             /* buckets, power of two */
};

struct server_registry {
    struct runtime_loop *loop;
    server_registry_expire_fn *expire;
    void *arg;
    struct table by_id, by_ep, by_addr;
    size_t count;
    size_t nosec;         /* entries with security "nosec" (issue 10, --nosec-max) */
};

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool table_init(struct table *t, size_t n)
{
    t->b = calloc(n, sizeof *t->b);
    t->n = n;
    return t->b != NULL;
}

enum key { KEY_ID, KEY_EP, KEY_ADDR };

static struct server_reg **next_of(struct server_reg *e, enum key k)
{
    return k == KEY_EP ? &e->next_ep : k == KEY_ADDR ? &e->next_addr : &e->next_id;
}

static const char *key_of(const struct server_reg *e, enum key k)
{
    return k == KEY_EP ? e->endpoint : k == KEY_ADDR ? e->address : e->id;
}

static uint64_t key_hash(const struct server_reg *e, enum key k)
{
    const char *key = key_of(e, k);
    return fnv1a(key, strlen(key));
}

static void table_insert(struct table *t, struct server_reg *e, enum key k)
{
    size_t i = key_hash(e, k) & (t->n - 1);
    *next_of(e, k) = t->b[i];
    t->b[i] = e;
}

static void table_unlink(struct table *t, struct server_reg *e, enum key k)
{
    struct server_reg **p = &t->b[key_hash(e, k) & (t->n - 1)];
    while (*p && *p != e)
        p = next_of(*p, k);
    if (*p)
        *p = *next_of(e, k);
}

/* Doubles t; on ENOMEM it stays (slower, still correct). */
static void table_grow(struct table *t, enum key k)
{
    struct table nt;
    if (!table_init(&nt, t->n * 2))
        return;
    for (size_t i = 0; i < t->n; i++) {
        struct server_reg *e = t->b[i];
        while (e) {
            struct server_reg *next = *next_of(e, k);
            table_insert(&nt, e, k);
            e = next;
        }
    }
    free(t->b);
    *t = nt;
}

struct server_registry *server_registry_new(struct runtime_loop *loop,
                                            server_registry_expire_fn *expire, void *arg,
                                            struct ls_error *err)
{
    struct server_registry *r = calloc(1, sizeof *r);
    if (!r || !table_init(&r->by_id, 1024) || !table_init(&r->by_ep, 1024) ||
        !table_init(&r->by_addr, 1024)) {
        if (r) {
            free(r->by_id.b);
            free(r->by_ep.b);
        }
        free(r);
        ls_error_set(err, LS_ENOMEM, "registry: out of memory");
        return NULL;
    }
    r->loop = loop;
    r->expire = expire;
    r->arg = arg;
    return r;
}

void server_registry_free(struct server_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->by_id.n; i++) {
        struct server_reg *e = r->by_id.b[i];
        while (e) {
            struct server_reg *next = e->next_id;
            runtime_loop_timer_stop(r->loop, &e->timer);
            server_registry_bind_session(r, e, NULL);
            server_reg_free(e);
            e = next;
        }
    }
    free(r->by_id.b);
    free(r->by_ep.b);
    free(r->by_addr.b);
    free(r);
}

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

struct server_reg *server_reg_new(const char *endpoint, const char *sms, const char *pid,
                                  const char *alt_path, const char *objects_json,
                                  const char *identity)
{
    struct server_reg *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->endpoint = dup_or_empty(endpoint);
    e->sms = dup_or_empty(sms);
    e->pid = dup_or_empty(pid);
    e->alt_path = strdup(alt_path && *alt_path ? alt_path : "/");
    e->objects_json = strdup(objects_json && *objects_json ? objects_json : "[]");
    e->identity = dup_or_empty(identity);
    if (!e->endpoint || !e->sms || !e->pid || !e->alt_path || !e->objects_json ||
        !e->identity) {
        server_reg_free(e);
        return NULL;
    }
    return e;
}

void server_reg_free(struct server_reg *e)
{
    if (!e)
        return;
    free(e->endpoint);
    free(e->sms);
    free(e->pid);
    free(e->alt_path);
    free(e->objects_json);
    free(e->identity);
    free(e);
}

bool server_reg_set_string(char **field, const char *value)
{
    char *c = strdup(value ? value : "");
    if (!c)
        return false;
    free(*field);
    *field = c;
    return true;
}

static void on_timer(struct runtime_loop *loop, void *arg)
{
    struct server_reg *e = arg;
    e->owner->expire(e->owner->arg, e);
}

enum ls_rc server_registry_add(struct server_registry *r, struct server_reg *e,
                               struct ls_error *err)
{
    if (server_registry_by_id(r, e->id, strlen(e->id)) ||
        server_registry_by_endpoint(r, e->endpoint)) {
        server_reg_free(e);
        return ls_error_set(err, LS_ECONFLICT, "registry: id or endpoint already present");
    }
    e->owner = r;
    runtime_loop_timer_init(&e->timer, on_timer, e);
    if (r->count >= r->by_id.n) {
        table_grow(&r->by_id, KEY_ID);
        table_grow(&r->by_ep, KEY_EP);
        table_grow(&r->by_addr, KEY_ADDR);
    }
    table_insert(&r->by_id, e, KEY_ID);
    table_insert(&r->by_ep, e, KEY_EP);
    table_insert(&r->by_addr, e, KEY_ADDR);
    r->count++;
    if (strcmp(e->security, "nosec") == 0)
        r->nosec++;
    return LS_OK;
}

void server_registry_remove(struct server_registry *r, struct server_reg *e)
{
    runtime_loop_timer_stop(r->loop, &e->timer);
    table_unlink(&r->by_id, e, KEY_ID);
    table_unlink(&r->by_ep, e, KEY_EP);
    table_unlink(&r->by_addr, e, KEY_ADDR);
    r->count--;
    if (strcmp(e->security, "nosec") == 0)
        r->nosec--;
    server_registry_bind_session(r, e, NULL);
    server_reg_free(e);
}

struct server_reg *server_registry_by_id(const struct server_registry *r, const char *id,
                                         size_t id_len)
{
    for (struct server_reg *e = r->by_id.b[fnv1a(id, id_len) & (r->by_id.n - 1)]; e;
         e = e->next_id)
        if (strlen(e->id) == id_len && memcmp(e->id, id, id_len) == 0)
            return e;
    return NULL;
}

struct server_reg *server_registry_by_endpoint(const struct server_registry *r,
                                               const char *endpoint)
{
    size_t n = strlen(endpoint);
    for (struct server_reg *e = r->by_ep.b[fnv1a(endpoint, n) & (r->by_ep.n - 1)]; e;
         e = e->next_ep)
        if (strcmp(e->endpoint, endpoint) == 0)
            return e;
    return NULL;
}

struct server_reg *server_registry_by_address(const struct server_registry *r,
                                              const char *address)
{
    size_t n = strlen(address);
    for (struct server_reg *e = r->by_addr.b[fnv1a(address, n) & (r->by_addr.n - 1)]; e;
         e = e->next_addr)
        if (strcmp(e->address, address) == 0)
            return e;
    return NULL;
}

void server_registry_set_address(struct server_registry *r, struct server_reg *e,
                                 const char *address)
{
    if (strcmp(e->address, address) == 0)
        return;
    table_unlink(&r->by_addr, e, KEY_ADDR);
    snprintf(e->address, sizeof e->address, "%s", address);
    table_insert(&r->by_addr, e, KEY_ADDR);
}

struct server_reg *server_registry_by_session(const struct server_registry *r,
                                              const coap_session_t *s)
{
    struct server_reg *e = coap_session_get_app_data(s);
    /* app data is only ever set by bind_session, to an entry of r */
    return e && e->owner == r && e->session == s ? e : NULL;
}

void server_registry_bind_session(struct server_registry *r, struct server_reg *e,
                                  coap_session_t *s)
{
    if (e->session == s)
        return;
    if (e->session) {
        coap_session_set_app_data(e->session, NULL);
        coap_session_release(e->session);
        e->session = NULL;
    }
    if (!s)
        return;
    /* A NoSec (UDP) session is not held between exchanges.  libcoap 4.3.1
     * walks every session of an endpoint for each datagram from a peer it
     * has no session for, and every session of the context on every io
     * call: held sessions make both grow with the registered devices
     * (bench/results/scaling.md: 1 249 registrations/s with 30 000 held,
     * 73/s with 100 000; flat ~9 000-14 000/s when not held).  The
     * registration keeps the device's address (reg->address); libcoap
     * keeps the session as one of its max_idle_sessions idle ones until
     * newer ones push it out, and the device's next datagram makes a new
     * one.  A DTLS session is the security context: still held. */
    if (!runtime_coap_session_is_dtls(s))
        return;
    struct server_reg *other = server_registry_by_session(r, s);
    if (other)
        server_registry_bind_session(r, other, NULL);
    runtime_coap_session_keep(s);
    e->session = coap_session_reference(s);
    coap_session_set_app_data(s, e);
}

void server_registry_session_gone(struct server_registry *r, coap_session_t *s)
{
    struct server_reg *e = server_registry_by_session(r, s);
    if (e)
        server_registry_bind_session(r, e, NULL);
}

enum ls_rc server_registry_arm(struct server_registry *r, struct server_reg *e,
                               int64_t now_wall_ms, struct ls_error *err)
{
    if (!e->expires_at_ms) {
        runtime_loop_timer_stop(r->loop, &e->timer);
        return LS_OK;
    }
    int64_t delay = e->expires_at_ms + SERVER_REGISTRY_GRACE_MS - now_wall_ms;
    return runtime_loop_timer_start(r->loop, &e->timer, delay > 0 ? delay : 0, 0, err);
}

size_t server_registry_count(const struct server_registry *r)
{
    return r->count;
}

size_t server_registry_count_nosec(const struct server_registry *r)
{
    return r->nosec;
}

enum ls_rc server_registry_new_id(const struct server_registry *r, char *id,
                                  struct ls_error *err)
{
    static const char url_safe[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char b[SERVER_REGISTRY_ID_LEN];
    /* 60 random bits: a collision is astronomically rare, but checked. */
    do {
        if (RAND_bytes(b, sizeof b) != 1)
            return ls_error_set(err, LS_EIO, "registry: no randomness for an id");
        for (size_t i = 0; i < sizeof b; i++)
            id[i] = url_safe[b[i] & 63];
        id[SERVER_REGISTRY_ID_LEN] = '\0';
    } while (server_registry_by_id(r, id, SERVER_REGISTRY_ID_LEN));
    return LS_OK;
}
