/*
 * server/observe.c -- observations that outlive sessions and restarts
 *
 * Two chained hash tables over the same entries: by token (a notification
 * names its observation only by token) and by endpoint (forget, cancel).
 * An entry is in the tables from server_observe_established on, before its
 * row is committed, so a notification racing the commit is recognised; it
 * then carries observation id 0 in its event.
 *
 * A notification is accepted when its token names an observation AND the
 * sender is that observation's registration (server_ingest_sender: DTLS
 * identity, NoSec address).  A token is random per session (runtime_coap
 * seeds it), but tokens of different devices may still collide: the
 * endpoint check makes a collision harmless.  After a restart the entries
 * come from the observations table (server_observe_load), so a device that
 * keeps notifying on a new session is recognised: libcoap hands a response
 * with an unknown token to the response handler with sent == NULL, and
 * the handler (server/devops.c) passes it here.
 *
 * A response without an Observe option, or with an error code, for an
 * observation's token ends the observation on the device side (RFC 7641
 * 3.2): the entry and its row are dropped, and the datagram is accepted
 * (no RST).  A notification that does not decode is accepted and counted
 * but not stored: a RST would cancel an observation the operator set up
 * because of one bad payload.
 *
 * Cancel.  Active when libcoap holds observe state for the token on a live
 * session (coap_cancel_observe sends the GET with Observe 1); else
 * passive: the entry is dropped at once, and the next notification meets
 * an unknown token, so the caller RSTs it (RFC 7641 3.6).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/observe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/data.h"
#include "lwm2m/format.h"
#include "lwm2m/path.h"
#include "runtime/coap.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "server/ingest.h"
#include "server/registry.h"
#include "store/telemetry.h"

#define MAX_PATHS 64              /* paths of one composite observation */

struct obs {
    int64_t id;                   /* observations.id; 0 until committed */
    char *endpoint;               /* owned */
    char reg_id[SERVER_REGISTRY_ID_LEN + 1];
    uint8_t token[8];
    size_t token_len;
    struct lwm2m_path *paths;     /* owned, npaths */
    size_t npaths;
    bool composite;
    unsigned format;              /* of the 2.05; a notification's own wins */
    char *head;                   /* owned: detail members, "\"path\":..," */
    bool linked;                  /* in the tables */
    bool cancelled;               /* dropped before its insert committed */
    bool replaced;                /* same token established again before its
                                     insert committed: the upsert keeps the
                                     row, which the new entry owns */
    struct server_observe *owner;
    struct obs *next_tok, *next_ep;
    struct { uint16_t mid; int64_t at_ms; } recent[4];   /* CON/NON notifications
                                     received (duplicates: on_notify) */
    unsigned recent_next;
};

/* An observation whose insert waits for its commit. */
struct est {
    struct est *prev, *next;      /* owner's inflight list */
    struct obs *e;
    server_observe_done_fn *done;
    void *arg;
    struct lwm2m_data first;      /* first values, stored after the insert */
    bool has_first;
};

struct table {
    struct obs **b;
    size_t n;                     /* buckets, power of two */
};

struct server_observe {
    struct runtime_loop *loop;
    struct store_worker *worker;
    struct server_registry *registry;
    struct runtime_coap *coap;           /* borrowed, may be NULL: no active cancel
                                            for NoSec */
    const struct lwm2m_model *model;     /* borrowed, may be NULL */
    server_observe_activity_fn *activity;
    void *activity_arg;
    struct table by_tok, by_ep;
    size_t count;
    struct est *inflight;                /* inserts waiting for their commit */
    uint64_t accepted, dropped;          /* written on the loop, read by /metrics */
    uint64_t dropped_full, unknown;      /* of dropped: store queue full; refused (RST) */
    uint64_t dropped_logged;             /* dropped when last logged */
    int64_t drop_logged_ms;              /* monotonic; one warning a second */
};

static uint64_t fnv1a(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= ((const unsigned char *)p)[i];
        h *= 1099511628211ull;
    }
    return h;
}

static size_t tok_slot(const struct table *t, const uint8_t *tok, size_t len)
{
    return fnv1a(tok, len) & (t->n - 1);
}

static size_t ep_slot(const struct table *t, const char *ep)
{
    return fnv1a(ep, strlen(ep)) & (t->n - 1);
}

static bool table_init(struct table *t, size_t n)
{
    t->b = calloc(n, sizeof *t->b);
    t->n = n;
    return t->b != NULL;
}

/* Doubles both tables; on ENOMEM they stay (slower, still correct). */
static void grow(struct server_observe *o)
{
    struct table nt, ne;
    if (!table_init(&nt, o->by_tok.n * 2))
        return;
    if (!table_init(&ne, o->by_ep.n * 2)) {
        free(nt.b);
        return;
    }
    for (size_t i = 0; i < o->by_tok.n; i++)
        for (struct obs *e = o->by_tok.b[i], *next; e; e = next) {
            next = e->next_tok;
            size_t k = tok_slot(&nt, e->token, e->token_len);
            e->next_tok = nt.b[k];
            nt.b[k] = e;
        }
    for (size_t i = 0; i < o->by_ep.n; i++)
        for (struct obs *e = o->by_ep.b[i], *next; e; e = next) {
            next = e->next_ep;
            size_t k = ep_slot(&ne, e->endpoint);
            e->next_ep = ne.b[k];
            ne.b[k] = e;
        }
    free(o->by_tok.b);
    free(o->by_ep.b);
    o->by_tok = nt;
    o->by_ep = ne;
}

static void link_obs(struct server_observe *o, struct obs *e)
{
    if (o->count >= o->by_tok.n)
        grow(o);
    size_t k = tok_slot(&o->by_tok, e->token, e->token_len);
    e->next_tok = o->by_tok.b[k];
    o->by_tok.b[k] = e;
    k = ep_slot(&o->by_ep, e->endpoint);
    e->next_ep = o->by_ep.b[k];
    o->by_ep.b[k] = e;
    e->linked = true;
    o->count++;
}

static void unlink_obs(struct server_observe *o, struct obs *e)
{
    if (!e->linked)
        return;
    struct obs **p = &o->by_tok.b[tok_slot(&o->by_tok, e->token, e->token_len)];
    while (*p && *p != e)
        p = &(*p)->next_tok;
    if (*p)
        *p = e->next_tok;
    p = &o->by_ep.b[ep_slot(&o->by_ep, e->endpoint)];
    while (*p && *p != e)
        p = &(*p)->next_ep;
    if (*p)
        *p = e->next_ep;
    e->linked = false;
    o->count--;
}

static void obs_free(struct obs *e)
{
    if (!e)
        return;
    free(e->endpoint);
    free(e->paths);
    free(e->head);
    free(e);
}

/* The entry of endpoint with this token, or NULL. */
static struct obs *find_token(const struct server_observe *o, const char *endpoint,
                              const uint8_t *tok, size_t len)
{
    for (struct obs *e = o->by_tok.b[tok_slot(&o->by_tok, tok, len)]; e; e = e->next_tok)
        if (e->token_len == len && memcmp(e->token, tok, len) == 0 &&
            (!endpoint || strcmp(e->endpoint, endpoint) == 0))
            return e;
    return NULL;
}

/* ---- entries ---- */

/* The detail members an event of e starts with. */
static bool make_head(struct obs *e)
{
    char buf[MAX_PATHS * (LWM2M_PATH_STR_MAX + 3) + 64], p[LWM2M_PATH_STR_MAX];
    size_t n = 0;
    if (!e->composite) {
        lwm2m_path_format(&e->paths[0], p);
        n += (size_t)snprintf(buf, sizeof buf, "\"path\":\"%s\",", p);
    } else {
        n += (size_t)snprintf(buf, sizeof buf, "\"paths\":[");
        for (size_t i = 0; i < e->npaths; i++) {
            lwm2m_path_format(&e->paths[i], p);
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%s\"", i ? "," : "", p);
        }
        n += (size_t)snprintf(buf + n, sizeof buf - n, "],");
    }
    snprintf(buf + n, sizeof buf - n, "\"observation\":%" PRId64 ",", e->id);
    free(e->head);
    e->head = strdup(buf);
    return e->head != NULL;
}

/* A new entry from text paths; NULL on a bad path or ENOMEM (err set). */
static struct obs *obs_new(struct server_observe *o, const char *endpoint, const char *reg_id,
                           const uint8_t *tok, size_t tok_len, const char *const *paths,
                           size_t npaths, bool composite, unsigned format, struct ls_error *err)
{
    if (tok_len < 1 || tok_len > 8 || npaths < 1 || npaths > MAX_PATHS ||
        (!composite && npaths != 1)) {
        ls_error_set(err, LS_EINVAL, "observation: bad token or path count");
        return NULL;
    }
    struct obs *e = calloc(1, sizeof *e);
    if (!e || !(e->endpoint = strdup(endpoint)) ||
        !(e->paths = calloc(npaths, sizeof *e->paths))) {
        obs_free(e);
        ls_error_set(err, LS_ENOMEM, "observation: out of memory");
        return NULL;
    }
    e->owner = o;
    snprintf(e->reg_id, sizeof e->reg_id, "%s", reg_id);
    memcpy(e->token, tok, tok_len);
    e->token_len = tok_len;
    e->npaths = npaths;
    e->composite = composite;
    e->format = format;
    for (size_t i = 0; i < npaths; i++)
        if (lwm2m_path_parse(paths[i], strlen(paths[i]), &e->paths[i], err) != LS_OK) {
            obs_free(e);
            return NULL;
        }
    if (!make_head(e)) {
        obs_free(e);
        ls_error_set(err, LS_ENOMEM, "observation: out of memory");
        return NULL;
    }
    return e;
}

/* ---- life cycle ---- */

struct server_observe *server_observe_new(struct runtime_loop *loop, struct store_worker *w,
                                          struct server_registry *r, struct ls_error *err)
{
    struct server_observe *o = calloc(1, sizeof *o);
    if (!o || !table_init(&o->by_tok, 1024) || !table_init(&o->by_ep, 1024)) {
        if (o)
            free(o->by_tok.b);
        free(o);
        ls_error_set(err, LS_ENOMEM, "observe: out of memory");
        return NULL;
    }
    o->loop = loop;
    o->worker = w;
    o->registry = r;
    return o;
}

static void est_free(struct est *x);

void server_observe_free(struct server_observe *o)
{
    if (!o)
        return;
    /* The worker has stopped: no insert completion runs any more, so the
     * entries they would have settled are freed here. */
    while (o->inflight) {
        struct est *x = o->inflight;
        o->inflight = x->next;
        if (!x->e->linked)
            obs_free(x->e);       /* linked ones go with the tables below */
        est_free(x);
    }
    for (size_t i = 0; i < o->by_tok.n; i++)
        for (struct obs *e = o->by_tok.b[i], *next; e; e = next) {
            next = e->next_tok;
            obs_free(e);
        }
    free(o->by_tok.b);
    free(o->by_ep.b);
    free(o);
}

void server_observe_set_coap(struct server_observe *o, struct runtime_coap *coap)
{
    o->coap = coap;
}

void server_observe_set_model(struct server_observe *o, const struct lwm2m_model *model)
{
    o->model = model;
}

void server_observe_set_activity(struct server_observe *o, server_observe_activity_fn *fn,
                                 void *arg)
{
    o->activity = fn;
    o->activity_arg = arg;
}

size_t server_observe_count(const struct server_observe *o)
{
    return o->count;
}

void server_observe_stats(const struct server_observe *o, uint64_t *accepted,
                          uint64_t *dropped)
{
    *accepted = __atomic_load_n(&o->accepted, __ATOMIC_RELAXED);
    *dropped = __atomic_load_n(&o->dropped, __ATOMIC_RELAXED);
}

void server_observe_counters(const struct server_observe *o,
                             struct server_observe_counters *out)
{
    memset(out, 0, sizeof *out);
    if (!o)
        return;
    out->accepted = __atomic_load_n(&o->accepted, __ATOMIC_RELAXED);
    uint64_t dropped = __atomic_load_n(&o->dropped, __ATOMIC_RELAXED);
    out->dropped_full = __atomic_load_n(&o->dropped_full, __ATOMIC_RELAXED);
    out->dropped_undecodable = dropped > out->dropped_full ? dropped - out->dropped_full : 0;
    out->unknown = __atomic_load_n(&o->unknown, __ATOMIC_RELAXED);
}

/* ---- load ---- */

struct load_ctx {
    struct server_observe *o;
    size_t loaded, skipped;
};

/* Splits a JSON array of path strings (["/3/0/9","/3/0/7"]: paths hold no
 * escapes) into ptrs pointing into buf. */
static size_t split_paths(const char *json, char *buf, size_t cap, const char **ptrs,
                          size_t max)
{
    size_t n = 0;
    snprintf(buf, cap, "%s", json);
    for (char *c = buf; *c && n < max; c++) {
        if (*c != '"')
            continue;
        char *end = strchr(c + 1, '"');
        if (!end)
            break;
        *end = '\0';
        ptrs[n++] = c + 1;
        c = end;
    }
    return n;
}

static void load_row(void *arg, const struct store_observation *row)
{
    struct load_ctx *l = arg;
    struct server_reg *reg = server_registry_by_endpoint(l->o->registry, row->endpoint);
    if (!reg || strcmp(reg->id, row->registration_id) != 0) {
        l->skipped++;      /* held by another instance, or stale */
        return;
    }
    char buf[MAX_PATHS * (LWM2M_PATH_STR_MAX + 3) + 8];
    const char *paths[MAX_PATHS];
    size_t n = 1;
    if (row->path)
        paths[0] = row->path;
    else
        n = split_paths(row->paths_json ? row->paths_json : "", buf, sizeof buf, paths,
                        MAX_PATHS);
    struct ls_error err = { 0 };
    struct obs *e = obs_new(l->o, row->endpoint, row->registration_id, row->token,
                            row->token_len, paths, n, !row->path,
                            row->format < 0 ? LWM2M_FORMAT_TLV : (unsigned)row->format, &err);
    if (!e) {
        ls_log_warn("observation_not_loaded", "id=%" PRId64 " error=\"%s\"", row->id, err.msg);
        return;
    }
    e->id = row->id;
    if (!make_head(e)) {
        obs_free(e);
        return;
    }
    link_obs(l->o, e);
    l->loaded++;
}

enum ls_rc server_observe_load(struct server_observe *o, struct store *s, struct ls_error *err)
{
    struct load_ctx l = { .o = o };
    enum ls_rc rc = store_observations_load(s, load_row, &l, err);
    if (rc == LS_OK)
        ls_log_info("observations_loaded", "loaded=%zu skipped=%zu", l.loaded, l.skipped);
    return rc;
}

/* ---- established ---- */

static void first_stored(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    (void)arg;
    if (rc != LS_OK)
        ls_log_warn("telemetry_not_stored", "error=\"%s\"", err ? err->msg : ls_rc_name(rc));
}

static void delete_done(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    (void)arg;
    if (rc != LS_OK && rc != LS_ENOTFOUND)
        ls_log_warn("observation_not_deleted", "error=\"%s\"", err ? err->msg : ls_rc_name(rc));
}

static void queue_delete(struct store_worker *w, const struct obs *e)
{
    struct ls_error err = { 0 };
    if (e->id && store_worker_observation_delete(w, e->id, e->endpoint, delete_done, NULL,
                                                 &err) != LS_OK)
        ls_log_warn("observation_not_deleted", "endpoint=%s id=%" PRId64 " error=\"%s\"",
                    e->endpoint, e->id, err.msg);
}

static void est_free(struct est *x)
{
    lwm2m_data_free(&x->first);
    free(x);
}

static void inserted(void *arg, enum ls_rc rc, int64_t id, const struct ls_error *err)
{
    struct est *x = arg;
    struct obs *e = x->e;
    struct server_observe *o = e->owner;

    if (x->prev)
        x->prev->next = x->next;
    else
        o->inflight = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (rc == LS_OK) {
        e->id = id;
        make_head(e);
    }
    if (rc != LS_OK) {
        ls_log_warn("observation_not_stored", "endpoint=%s error=\"%s\"", e->endpoint,
                    err ? err->msg : ls_rc_name(rc));
        unlink_obs(o, e);
        obs_free(e);
    } else if (e->replaced) {         /* the row is the new entry's now */
        obs_free(e);
    } else if (e->cancelled) {        /* cancelled or forgotten before the commit */
        queue_delete(o->worker, e);
        obs_free(e);
    } else if (x->has_first) {
        struct ls_error serr = { 0 };
        if (server_ingest_store(o->worker, e->endpoint, "notify", "notification", e->head,
                                &x->first, first_stored, NULL, &serr) != LS_OK)
            ls_log_warn("telemetry_not_stored", "endpoint=%s error=\"%s\"", e->endpoint,
                        serr.msg);
    }
    if (x->done)
        x->done(x->arg, rc, rc == LS_OK ? id : 0);
    est_free(x);
}

/* Copies values into d (bytes into its arena). */
static enum ls_rc copy_values(struct lwm2m_data *d, const struct lwm2m_data *src,
                              struct ls_error *err)
{
    for (size_t i = 0; i < src->count; i++) {
        const struct lwm2m_value *v = &src->values[i];
        struct lwm2m_value *c;
        if (v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE ||
            v->type == LWM2M_TYPE_CORELNK)
            c = lwm2m_data_append_bytes(d, &v->path, v->type, v->v.bytes.ptr, v->v.bytes.len,
                                        err);
        else if ((c = lwm2m_data_append(d, &v->path, v->type, err)))
            c->v = v->v;
        if (!c)
            return err ? err->code : LS_ENOMEM;
        c->has_time = v->has_time;
        c->time_s = v->time_s;
    }
    return LS_OK;
}

void server_observe_established(struct server_observe *o, struct server_reg *reg,
                                const uint8_t *token, size_t token_len,
                                const char *const *paths, size_t npaths, bool composite,
                                unsigned format, const char *attributes_json,
                                const struct lwm2m_data *first_values,
                                server_observe_done_fn *done, void *arg)
{
    struct ls_error err = { 0 };
    struct est *x = calloc(1, sizeof *x);
    struct obs *e = x ? obs_new(o, reg->endpoint, reg->id, token, token_len, paths, npaths,
                                composite, format, &err) : NULL;
    if (!e) {
        ls_log_warn("observation_refused", "endpoint=%s error=\"%s\"", reg->endpoint,
                    x ? err.msg : "out of memory");
        free(x);
        done(arg, x ? err.code : LS_ENOMEM, 0);
        return;
    }
    x->e = e;
    x->done = done;
    x->arg = arg;
    lwm2m_data_init(&x->first);
    if (first_values && first_values->count &&
        copy_values(&x->first, first_values, &err) == LS_OK)
        x->has_first = true;
    /* The same token again (a re-established observation): replace. */
    struct obs *old = find_token(o, reg->endpoint, token, token_len);
    if (old) {
        unlink_obs(o, old);
        if (old->id)
            obs_free(old);
        else
            old->replaced = true;     /* its insert frees it; the upsert keeps one row */
    }
    char pj[MAX_PATHS * (LWM2M_PATH_STR_MAX + 3) + 8];
    size_t n = 0;
    n += (size_t)snprintf(pj, sizeof pj, "[");
    for (size_t i = 0; composite && i < e->npaths; i++) {
        char p[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(&e->paths[i], p);
        n += (size_t)snprintf(pj + n, sizeof pj - n, "%s\"%s\"", i ? "," : "", p);
    }
    snprintf(pj + n, sizeof pj - n, "]");
    char single[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(&e->paths[0], single);
    struct store_observation row = {
        .endpoint = reg->endpoint, .registration_id = reg->id,
        .path = composite ? NULL : single, .paths_json = composite ? pj : NULL,
        .token = token, .token_len = token_len, .format = (int)format,
        .attributes_json = attributes_json,
    };
    link_obs(o, e);
    if (store_worker_observation_insert(o->worker, &row, inserted, x, &err) != LS_OK) {
        ls_log_warn("observation_not_stored", "endpoint=%s error=\"%s\"", reg->endpoint, err.msg);
        unlink_obs(o, e);
        obs_free(e);
        est_free(x);
        done(arg, err.code, 0);
        return;
    }
    x->next = o->inflight;
    if (o->inflight)
        o->inflight->prev = x;
    o->inflight = x;
}

/* ---- notifications ---- */

static void notify_stored(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    (void)arg;
    if (rc != LS_OK)
        ls_log_warn("notification_not_stored", "error=\"%s\"", err ? err->msg : ls_rc_name(rc));
}

/* The device ended e (an error response, or one without Observe). */
static void ended_by_device(struct server_observe *o, struct obs *e, coap_pdu_code_t code)
{
    ls_log_info("observation_ended", "endpoint=%s id=%" PRId64 " code=%d.%02d", e->endpoint,
                e->id, code >> 5, code & 0x1f);
    unlink_obs(o, e);
    if (e->id) {
        queue_delete(o->worker, e);
        obs_free(e);
    } else {
        e->cancelled = true;
    }
}

/* Decodes and queues one notification of e.  Failures are logged. */
static void store_notification(struct server_observe *o, struct obs *e,
                               const coap_pdu_t *received)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    struct lwm2m_path base = e->composite ? lwm2m_path_root() : e->paths[0];

    lwm2m_data_init(&d);
    coap_get_data(received, &len, &data);
    unsigned format = server_ingest_format(received, e->format);
    enum ls_rc rc = lwm2m_format_decode(format, data, len, &base, o->model, &d, &err);
    if (rc == LS_OK)
        rc = server_ingest_store(o->worker, e->endpoint, "notify", "notification", e->head, &d,
                                 notify_stored, NULL, &err);
    if (rc == LS_OK) {
        __atomic_add_fetch(&o->accepted, 1, __ATOMIC_RELAXED);
    } else {
        if (rc == LS_ENOMEM)
            __atomic_add_fetch(&o->dropped_full, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&o->dropped, 1, __ATOMIC_RELAXED);
        /* A flood the database cannot absorb would log every datagram:
         * one line a second, with the count since the last one. */
        int64_t now = runtime_loop_now_ms(o->loop);
        if (now - o->drop_logged_ms >= 1000) {
            ls_log_warn("notification_dropped", "endpoint=%s observation=%" PRId64
                        " format=%u dropped=%" PRIu64 " error=\"%s\"", e->endpoint, e->id,
                        format, o->dropped - o->dropped_logged, err.msg);
            o->drop_logged_ms = now;
            o->dropped_logged = o->dropped;
        }
    }
    lwm2m_data_free(&d);
}

/* Whether received (a CON or NON) repeats a notification of e seen within
 * EXCHANGE_LIFETIME (RFC 7252 4.5); else remembers it.  libcoap 4.3.1
 * drops only a repeat of the session's last CON (net.c handle_response),
 * so a retransmission that follows another notification reaches us. */
static bool repeated(struct server_observe *o, struct obs *e, const coap_pdu_t *received)
{
    coap_pdu_type_t type = coap_pdu_get_type(received);
    if (type != COAP_MESSAGE_CON && type != COAP_MESSAGE_NON)
        return false;       /* an ACK carries our MID, not the device's */
    uint16_t mid = (uint16_t)coap_pdu_get_mid(received);
    int64_t now = runtime_loop_now_ms(o->loop);
    for (size_t i = 0; i < sizeof e->recent / sizeof e->recent[0]; i++)
        if (e->recent[i].at_ms && e->recent[i].mid == mid && now - e->recent[i].at_ms < 247000)
            return true;
    e->recent[e->recent_next].mid = mid;
    e->recent[e->recent_next].at_ms = now ? now : 1;
    e->recent_next = (e->recent_next + 1) % (sizeof e->recent / sizeof e->recent[0]);
    return false;
}

/* server_observe_on_notify without the count of refusals. */
static bool on_notify(struct server_observe *o, coap_session_t *s, const coap_pdu_t *received)
{
    coap_bin_const_t tok = coap_pdu_get_token(received);
    if (tok.length < 1 || tok.length > 8)
        return false;
    struct obs *e = find_token(o, NULL, tok.s, tok.length);
    if (!e)
        return false;
    /* Collisions across devices: the sender decides which entry it is. */
    struct server_reg *reg = server_ingest_sender(o->registry, s, e->endpoint);
    if (!reg)
        return false;
    e = find_token(o, reg->endpoint, tok.s, tok.length);
    if (!e || strcmp(e->reg_id, reg->id) != 0)
        return false;
    if (o->activity)
        o->activity(o->activity_arg, reg);
    if (repeated(o, e, received)) {
        ls_log_debug("notification_duplicate", "endpoint=%s observation=%" PRId64 " mid=%d",
                     e->endpoint, e->id, coap_pdu_get_mid(received));
        return true;        /* ACKed again, not stored again */
    }
    coap_pdu_code_t code = coap_pdu_get_code(received);
    coap_opt_iterator_t it;
    if (COAP_RESPONSE_CLASS(code) != 2 ||
        !coap_check_option(received, COAP_OPTION_OBSERVE, &it)) {
        ended_by_device(o, e, code);
        return true;
    }
    store_notification(o, e, received);
    return true;
}

bool server_observe_on_notify(struct server_observe *o, coap_session_t *s,
                              const coap_pdu_t *received)
{
    if (on_notify(o, s, received))
        return true;
    __atomic_add_fetch(&o->unknown, 1, __ATOMIC_RELAXED);
    return false;
}

/* ---- cancel and forget ---- */

struct cancel {
    server_devops_done_fn *done;
    void *arg;
    bool active;
};

static void cancel_deleted(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct cancel *c = arg;
    if (rc != LS_OK && rc != LS_ENOTFOUND)
        ls_log_warn("observation_not_deleted", "error=\"%s\"", err ? err->msg : ls_rc_name(rc));
    if (rc == LS_OK || rc == LS_ENOTFOUND)
        c->done(c->arg, 200, c->active ? "{\"coap\":\"2.05\",\"cancelled\":true,\"mode\":\"active\"}"
                                       : "{\"coap\":\"2.05\",\"cancelled\":true,\"mode\":\"passive\"}");
    else
        c->done(c->arg, 503, "{\"error\":{\"code\":\"unavailable\",\"message\":"
                             "\"the observation could not be deleted; try again\"}}");
    free(c);
}

/* Whether e observes exactly paths (as a set, for a composite). */
static bool same_paths(const struct obs *e, const char *const *paths, size_t npaths,
                       bool composite)
{
    if (e->composite != composite || e->npaths != npaths)
        return false;
    for (size_t i = 0; i < npaths; i++) {
        struct lwm2m_path p;
        if (lwm2m_path_parse(paths[i], strlen(paths[i]), &p, NULL) != LS_OK)
            return false;
        bool found = false;
        for (size_t k = 0; k < e->npaths && !found; k++)
            found = lwm2m_path_equal(&p, &e->paths[k]);
        if (!found)
            return false;
    }
    return true;
}

/* The live session of reg, referenced (release it), or NULL: held (DTLS)
 * or, for NoSec, the session libcoap has for its address (the one the
 * Observe went out on, unless libcoap freed it since). */
static coap_session_t *live_session(struct server_observe *o, struct server_reg *reg)
{
    if (reg->session)
        return coap_session_reference(reg->session);
    if (!o->coap || strcmp(reg->security, "nosec") != 0)
        return NULL;
    coap_session_t *s = runtime_coap_session_for(o->coap, reg->address, NULL);
    return s ? coap_session_reference(s) : NULL;
}

/* Tries coap_cancel_observe.  true when libcoap sent the cancel (it had
 * observe state for the token on that session). */
static bool cancel_active(struct server_observe *o, struct server_reg *reg, const struct obs *e)
{
    coap_session_t *s = live_session(o, reg);
    if (!s)
        return false;
    coap_binary_t tok = { e->token_len, (uint8_t *)e->token };
    bool sent = coap_cancel_observe(s, &tok, COAP_MESSAGE_CON) == 1;
    coap_session_release(s);
    return sent;
}

void server_observe_cancel(struct server_observe *o, struct server_reg *reg,
                           const char *const *paths, size_t npaths, bool composite,
                           server_devops_done_fn *done, void *arg)
{
    struct obs *e = o->by_ep.b[ep_slot(&o->by_ep, reg->endpoint)];
    for (; e; e = e->next_ep)
        if (strcmp(e->endpoint, reg->endpoint) == 0 && same_paths(e, paths, npaths, composite))
            break;
    if (!e) {
        done(arg, 404, "{\"error\":{\"code\":\"not_found\","
                       "\"message\":\"no observation of these paths\"}}");
        return;
    }
    struct cancel *c = calloc(1, sizeof *c);
    if (!c) {
        done(arg, 503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}");
        return;
    }
    c->done = done;
    c->arg = arg;
    c->active = cancel_active(o, reg, e);
    unlink_obs(o, e);
    ls_log_info("observation_cancelled", "endpoint=%s id=%" PRId64 " mode=%s", e->endpoint,
                e->id, c->active ? "active" : "passive");
    struct ls_error err = { 0 };
    if (!e->id) {
        e->cancelled = true;          /* its insert deletes it */
        cancel_deleted(c, LS_OK, NULL);
        return;
    }
    if (store_worker_observation_delete(o->worker, e->id, e->endpoint, cancel_deleted, c,
                                        &err) != LS_OK)
        cancel_deleted(c, err.code, &err);
    obs_free(e);
}

void server_observe_forget(struct server_observe *o, const char *endpoint)
{
    struct obs **p = &o->by_ep.b[ep_slot(&o->by_ep, endpoint)];
    size_t n = 0;
    while (*p) {
        struct obs *e = *p;
        if (strcmp(e->endpoint, endpoint) != 0) {
            p = &e->next_ep;
            continue;
        }
        unlink_obs(o, e);            /* unlinks *p: p now names the next */
        n++;
        /* The rows went with the registration (ON DELETE CASCADE). */
        if (e->id)
            obs_free(e);
        else
            e->cancelled = true;
    }
    if (n)
        ls_log_debug("observations_forgotten", "endpoint=%s count=%zu", endpoint, n);
}
