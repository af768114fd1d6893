/*
 * server/send.c -- the LwM2M Send operation (send.h)
 *
 * Same durability scheme as server/registration.c: the handler validates,
 * queues the telemetry on the store worker and parks the request
 * (server/parked.h): it returns without a code, and the commit's
 * completion sends the answer, 2.04 (or 5.03), straight from the loop
 * thread: piggy-backed on the CON's ACK, which waits for it, or after a
 * second as a separate response (NON for a NON).  A retransmission while
 * parked (same session and token) is not stored again.  (This used
 * libcoap's async API before, whose per-context list libcoap 4.3.1 walks
 * on every request: see server/registration.c.)
 *
 * Tokens.  Wakaama sends Send with a zero-length token (captures:
 * wakaama-1.1/47).  Parked requests are keyed by (session, token), as
 * libcoap's async state was, so a second zero-token Send of one device
 * while the first waits for its commit (a few ms) is taken for its
 * retransmission and dropped; the device then sees no answer and retries,
 * as for a lost one.  Devices send one at a time in practice (Wakaama waits for the
 * answer).
 *
 * Duplicates.  libcoap 4.3.1 does not deduplicate incoming requests: a
 * retransmission (same MID and token, RFC 7252 4.5) that arrives after the
 * answer runs the handler again.  Each stored Send is remembered for
 * EXCHANGE_LIFETIME, keyed by (registration, MID, token);
 * a duplicate gets the original's code without being stored again, or an
 * empty ACK while the commit is still pending (the answer follows).  The table holds the last SEEN_PER_PEER Sends of each
 * registration (a device has one CON in flight, RFC 7252 4.7, so its
 * retransmission comes before its next Send) in a hash of registrations
 * that doubles up to SEEN_PEERS_MAX; beyond that, a crowded probe window
 * loses its oldest registration early, whose late duplicate is stored
 * again (at-least-once, as before).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/data.h"
#include "lwm2m/format.h"
#include "runtime/coap.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "server/ingest.h"
#include "server/parked.h"
#include "server/registry.h"

#define EXCHANGE_LIFETIME_MS 247000     /* RFC 7252 4.8.2 */
#define SEEN_PER_PEER 4                /* Sends remembered per registration */
#define SEEN_PEERS_MIN 1024             /* slots; powers of two */
#define SEEN_PEERS_MAX (1u << 17)
#define SEEN_PROBE 8                    /* slots tried per registration */

/* What identifies a message: the sender and its MID + token. */
struct msg_key {
    char reg[SERVER_REGISTRY_ID_LEN + 1];
    uint16_t mid;
    uint8_t token_len;
    uint8_t token[8];
};

/* A Send stored recently. */
struct seen {
    int64_t expires_ms;               /* monotonic; 0 = free */
    uint16_t mid;
    uint8_t token_len;
    uint8_t token[8];
    coap_pdu_code_t code;             /* the answer; 0 while the commit is pending */
};

/* The recent Sends of one registration. */
struct peer {
    char reg[SERVER_REGISTRY_ID_LEN + 1];
    int64_t expires_ms;               /* of its newest Send; 0 = free slot */
    struct seen m[SEEN_PER_PEER];
    unsigned next;                    /* m slot the next Send takes */
};

struct op {
    struct server_send *owner;
    struct op *prev, *next;          /* owner->ops */
    struct server_parked_entry pk;   /* in owner->parked until the commit */
    coap_session_t *session;         /* referenced */
    uint8_t token[8];
    size_t token_len;
    bool con;                        /* the request was CON: answer CON */
    coap_pdu_code_t code;            /* the answer, once committed */
    struct msg_key key;              /* of the request that made it */
};

struct server_send {
    struct runtime_loop *loop;
    struct runtime_coap *coap;
    struct store_worker *worker;
    struct server_registry *registry;
    const struct lwm2m_model *model;
    server_send_activity_fn *activity;
    void *activity_arg;
    server_send_identity_fn *identities;
    void *identities_arg;
    struct op *ops;
    struct server_parked parked;     /* parked requests by (session, token) */
    struct peer *peers;              /* npeers slots */
    size_t npeers;
    uint64_t stored, refused;        /* atomics */
};

/* ---- recently stored Sends ---- */

static void send_key_make(struct msg_key *k, const struct server_reg *reg, const coap_pdu_t *req)
{
    memset(k, 0, sizeof *k);
    snprintf(k->reg, sizeof k->reg, "%s", reg->id);
    k->mid = (uint16_t)coap_pdu_get_mid(req);
    coap_bin_const_t tok = coap_pdu_get_token(req);
    k->token_len = (uint8_t)(tok.length <= sizeof k->token ? tok.length : sizeof k->token);
    if (k->token_len)
        memcpy(k->token, tok.s, k->token_len);
}

/* FNV-1a of a registration id: the first slot of its probe window. */
static size_t send_peer_hash(const char *reg)
{
    uint32_t h = 2166136261u;
    for (const char *c = reg; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h;
}

static struct peer *send_peer_find(struct server_send *g, const char *reg, int64_t now)
{
    size_t first = send_peer_hash(reg);
    for (size_t i = 0; i < SEEN_PROBE; i++) {
        struct peer *p = &g->peers[(first + i) & (g->npeers - 1)];
        if (p->expires_ms > now && strcmp(p->reg, reg) == 0)
            return p;
    }
    return NULL;
}

/* A free or expired slot of reg's window in peers/n, else NULL. */
static struct peer *send_peer_free_slot(struct peer *peers, size_t n, const char *reg,
                                        int64_t now)
{
    size_t first = send_peer_hash(reg);
    for (size_t i = 0; i < SEEN_PROBE; i++) {
        struct peer *p = &peers[(first + i) & (n - 1)];
        if (p->expires_ms <= now)
            return p;
    }
    return NULL;
}

/* Doubles the table; live entries move over.  false when out of memory. */
static bool send_peers_grow(struct server_send *g, int64_t now)
{
    size_t n = g->npeers * 2;
    struct peer *t = calloc(n, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < g->npeers; i++) {
        struct peer *old = &g->peers[i];
        struct peer *p = old->expires_ms > now ? send_peer_free_slot(t, n, old->reg, now) : NULL;
        if (p)
            *p = *old;
    }
    free(g->peers);
    g->peers = t;
    g->npeers = n;
    ls_log_info("send_seen_grown", "slots=%zu", n);
    return true;
}

/* reg's entry, made when missing: a free slot of its window, a bigger
 * table, or at worst the window's entry that expires first. */
static struct peer *send_peer_take(struct server_send *g, const char *reg, int64_t now)
{
    struct peer *p = send_peer_find(g, reg, now);
    if (p)
        return p;
    p = send_peer_free_slot(g->peers, g->npeers, reg, now);
    while (!p && g->npeers < SEEN_PEERS_MAX && send_peers_grow(g, now))
        p = send_peer_free_slot(g->peers, g->npeers, reg, now);
    if (!p) {
        size_t first = send_peer_hash(reg);
        for (size_t i = 0; i < SEEN_PROBE; i++) {
            struct peer *q = &g->peers[(first + i) & (g->npeers - 1)];
            if (!p || q->expires_ms < p->expires_ms)
                p = q;
        }
    }
    memset(p, 0, sizeof *p);
    snprintf(p->reg, sizeof p->reg, "%s", reg);
    return p;
}

static struct seen *send_seen_find(struct server_send *g, const struct msg_key *k)
{
    int64_t now = runtime_loop_now_ms(g->loop);
    struct peer *p = send_peer_find(g, k->reg, now);
    for (size_t i = 0; p && i < SEEN_PER_PEER; i++) {
        struct seen *e = &p->m[i];
        if (e->expires_ms > now && e->mid == k->mid && e->token_len == k->token_len &&
            memcmp(e->token, k->token, k->token_len) == 0)
            return e;
    }
    return NULL;
}

/* Remembers k as pending, in place of its registration's oldest Send.
 * The pointer is good until the next call (the table may grow). */
static struct seen *send_seen_add(struct server_send *g, const struct msg_key *k)
{
    int64_t now = runtime_loop_now_ms(g->loop);
    struct peer *p = send_peer_take(g, k->reg, now);
    struct seen *e = &p->m[p->next];
    p->next = (p->next + 1) % SEEN_PER_PEER;
    e->mid = k->mid;
    e->token_len = k->token_len;
    memcpy(e->token, k->token, k->token_len);
    e->code = 0;
    e->expires_ms = now + EXCHANGE_LIFETIME_MS;
    p->expires_ms = e->expires_ms;
    return e;
}

/* A duplicate of a Send stored recently: answers it as the original was
 * (nothing yet while its commit is pending).  true when it was one. */
static bool send_duplicate(struct server_send *g, const struct msg_key *k, coap_pdu_t *resp)
{
    struct seen *e = send_seen_find(g, k);
    if (!e)
        return false;
    if (e->code)
        runtime_coap_set_code(resp, e->code);
    ls_log_debug("send_duplicate", "registration=%s mid=%u pending=%s", k->reg,
                 (unsigned)k->mid, e->code ? "no" : "yes");
    return true;
}

static struct op *op_new(struct server_send *g, coap_session_t *s, const coap_pdu_t *req)
{
    struct op *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    coap_bin_const_t tok = coap_pdu_get_token(req);
    o->owner = g;
    o->token_len = tok.length <= sizeof o->token ? tok.length : sizeof o->token;
    memcpy(o->token, tok.s, o->token_len);
    o->session = coap_session_reference(s);
    o->next = g->ops;
    if (g->ops)
        g->ops->prev = o;
    g->ops = o;
    return o;
}

static void op_free(struct op *o)
{
    struct server_send *g = o->owner;
    server_parked_del(&g->parked, &o->pk);
    if (o->prev)
        o->prev->next = o->next;
    else
        g->ops = o->next;
    if (o->next)
        o->next->prev = o->prev;
    coap_session_release(o->session);
    free(o);
}

static void refuse(struct server_send *g, coap_pdu_t *resp, coap_pdu_code_t code,
                   const char *why)
{
    runtime_coap_set_code(resp, code);
    __atomic_add_fetch(&g->refused, 1, __ATOMIC_RELAXED);
    ls_log_info("send_refused", "code=%d.%02d reason=\"%s\"", code >> 5, code & 0x1f, why);
}

/* The answer (piggy-backed or separate), once the commit (or its failure) arrived; on the
 * loop thread, outside libcoap's callbacks.  Frees o. */
static void answer(struct server_send *g, struct op *o)
{
    coap_pdu_t *pdu = server_parked_answer_new(&o->pk, o->session, o->con);
    server_parked_del(&g->parked, &o->pk);
    if (!pdu) {
        /* The session is gone or out of memory: a retransmission gets the
         * code from the seen table. */
        op_free(o);
        return;
    }
    runtime_coap_set_code(pdu, o->code);
    if (o->code == COAP_RESPONSE_CODE_CHANGED)
        __atomic_add_fetch(&g->stored, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&g->refused, 1, __ATOMIC_RELAXED);
    runtime_coap_answered(g->coap, o->session, pdu);
    if (coap_send(o->session, pdu) == COAP_INVALID_MID)
        ls_log_debug("send_answer_not_sent", "registration=%s", o->key.reg);
    op_free(o);
}

/* Store worker completion, on the loop thread. */
static void on_committed(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct op *o = arg;
    o->code = rc == LS_OK ? COAP_RESPONSE_CODE_CHANGED : runtime_coap_code(rc);
    if (rc != LS_OK)
        ls_log_warn("send_not_stored", "error=\"%s\"", err ? err->msg : ls_rc_name(rc));
    struct seen *e = send_seen_find(o->owner, &o->key);
    if (e)
        e->code = o->code;
    answer(o->owner, o);
}

static bool supported(unsigned format)
{
    return format == LWM2M_FORMAT_SENML_JSON || format == LWM2M_FORMAT_SENML_CBOR ||
           format == LWM2M_FORMAT_LWM2M_CBOR;
}

/* Decodes the payload.  LS_OK with at least one value, or LS_EINVAL. */
static enum ls_rc decode(struct server_send *g, const coap_pdu_t *req, struct lwm2m_data *d,
                         struct ls_error *err)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    unsigned format = server_ingest_format(req, 0xffffffffu);
    if (format == 0xffffffffu)
        return ls_error_set(err, LS_EINVAL, "send without Content-Format");
    if (!supported(format))
        return ls_error_set(err, LS_EINVAL, "send in content format %u: only 110, 112, 11544",
                            format);
    coap_get_data(req, &len, &data);
    struct lwm2m_path root = lwm2m_path_root();
    enum ls_rc rc = lwm2m_format_decode(format, data, len, &root, g->model, d, err);
    if (rc == LS_OK && d->count == 0)
        rc = ls_error_set(err, LS_EINVAL, "send without values");
    return rc == LS_OK ? LS_OK : (err && err->code != LS_ENOMEM ? LS_EINVAL : rc);
}

/* The registration s speaks for: held session, NoSec address, RPK/X.509
 * binding (server_ingest_sender), else a PSK identity the credential
 * table maps to a registration made with it; that session is then bound. */
static struct server_reg *sender(struct server_send *g, coap_session_t *s)
{
    struct server_reg *reg = server_ingest_sender(g->registry, s, NULL);
    if (reg || !g->identities || !runtime_coap_session_is_dtls(s))
        return reg;
    size_t len = 0;
    const uint8_t *id = runtime_coap_session_psk_identity(s, &len);
    const char *ep = id && len ? g->identities(g->identities_arg, id, len) : NULL;
    reg = ep ? server_ingest_sender(g->registry, s, ep) : NULL;
    if (reg) {
        server_registry_bind_session(g->registry, reg, s);
        ls_log_info("send_session_bound", "endpoint=%s", reg->endpoint);
    }
    return reg;
}

static void do_send(struct server_send *g, coap_session_t *s, const coap_pdu_t *req,
                    coap_pdu_t *resp)
{
    struct ls_error err = { 0 };
    struct lwm2m_data d;

    if (server_parked_again(&g->parked, s, req, resp))
        return;
    struct server_reg *reg = sender(g, s);
    if (!reg) {
        refuse(g, resp, COAP_RESPONSE_CODE_NOT_FOUND, "sender is not registered");
        return;
    }
    struct msg_key key;
    send_key_make(&key, reg, req);
    if (send_duplicate(g, &key, resp))
        return;
    lwm2m_data_init(&d);
    if (decode(g, req, &d, &err) != LS_OK) {
        refuse(g, resp, runtime_coap_code(err.code), err.msg);
        lwm2m_data_free(&d);
        return;
    }
    if (g->activity)
        g->activity(g->activity_arg, reg);
    struct op *o = op_new(g, s, req);
    struct seen *e = o ? send_seen_add(g, &key) : NULL;
    if (o)
        o->key = key;
    enum ls_rc rc = o ? server_ingest_store(g->worker, reg->endpoint, "send", "send", "", &d,
                                            on_committed, o, &err)
                      : ls_error_set(&err, LS_ENOMEM, "out of memory");
    lwm2m_data_free(&d);
    if (rc != LS_OK) {
        refuse(g, resp, runtime_coap_code(rc), err.msg);
        if (e)
            e->expires_ms = 0;      /* not stored: a retransmission may try again */
        if (o)
            op_free(o);
        return;
    }
    o->con = coap_pdu_get_type(req) == COAP_MESSAGE_CON;
    /* Out of memory here: the commit still completes and is answered; a
     * retransmission meanwhile gets the seen table's empty ACK. */
    server_parked_add(&g->parked, &o->pk, o->session, o->token, o->token_len);
    /* The code stays empty: the ACK waits for the answer (or libcoap sends
     * the empty ACK now). */
    server_parked_defer_ack(&g->parked, &o->pk, o->session, req, resp);
}

static void hnd_send(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
                     const coap_string_t *query, coap_pdu_t *resp)
{
    (void)query;
    struct server_send *g = coap_resource_get_userdata(res);
    do_send(g, s, req, resp);
    runtime_coap_answered(g->coap, s, resp);
}

struct server_send *server_send_new(struct runtime_loop *loop, struct store_worker *w,
                                    struct server_registry *r, struct ls_error *err)
{
    struct server_send *g = calloc(1, sizeof *g);
    if (!g) {
        ls_error_set(err, LS_ENOMEM, "send: out of memory");
        return NULL;
    }
    g->npeers = SEEN_PEERS_MIN;
    g->peers = calloc(g->npeers, sizeof *g->peers);
    if (!g->peers) {
        free(g);
        ls_error_set(err, LS_ENOMEM, "send: out of memory");
        return NULL;
    }
    g->loop = loop;
    server_parked_set_loop(&g->parked, loop);
    g->worker = w;
    g->registry = r;
    return g;
}

void server_send_free(struct server_send *g)
{
    if (!g)
        return;
    while (g->ops)
        op_free(g->ops);
    server_parked_free(&g->parked);
    free(g->peers);
    free(g);
}

enum ls_rc server_send_attach(struct server_send *g, struct runtime_coap *coap,
                              struct ls_error *err)
{
    coap_resource_t *dp = coap_resource_init(coap_make_str_const("dp"), 0);
    if (!dp)
        return ls_error_set(err, LS_ENOMEM, "send: cannot create the dp resource");
    g->coap = coap;
    coap_resource_set_userdata(dp, g);
    coap_register_request_handler(dp, COAP_REQUEST_POST, hnd_send);
    coap_add_resource(runtime_coap_context(coap), dp);
    return LS_OK;
}

void server_send_set_model(struct server_send *g, const struct lwm2m_model *model)
{
    g->model = model;
}

void server_send_set_activity(struct server_send *g, server_send_activity_fn *fn, void *arg)
{
    g->activity = fn;
    g->activity_arg = arg;
}

void server_send_set_identities(struct server_send *g, server_send_identity_fn *fn, void *arg)
{
    g->identities = fn;
    g->identities_arg = arg;
}

void server_send_stats(const struct server_send *g, uint64_t *stored, uint64_t *refused)
{
    *stored = __atomic_load_n(&g->stored, __ATOMIC_RELAXED);
    *refused = __atomic_load_n(&g->refused, __ATOMIC_RELAXED);
}
