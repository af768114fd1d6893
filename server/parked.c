/*
 * server/parked.c -- requests parked until their answer (parked.h)
 *
 * Chained hash on (session pointer, token bytes).  The buckets double when
 * the entries outnumber them, so chains stay about one long; a storm
 * parks a few hundred requests (the devices' window), so the table stays
 * at its first 1 024 buckets (8 KiB) in practice.  The entries whose ACK
 * is deferred are also on a list in parking order, so the one-shot timer
 * that sends the late empty ACKs only looks at the oldest.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/parked.h"

#include "runtime/log.h"

#include <stdlib.h>
#include <string.h>

#define PARKED_MIN_BUCKETS 1024

static size_t parked_hash(const coap_session_t *s, const uint8_t *tok, size_t len)
{
    uint64_t h = (uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ tok[i]) * 0x100000001B3ull;
    return (size_t)(h ^ (h >> 31));
}

static size_t parked_cut(size_t len)
{
    return len <= SERVER_PARKED_TOKEN_MAX ? len : SERVER_PARKED_TOKEN_MAX;
}

/* ---- deferred ACKs ---- */

/* Takes e off the deferred list: it is answered, or ACKed empty. */
static void undefer(struct server_parked *t, struct server_parked_entry *e)
{
    if (!e->deferred)
        return;
    if (e->older)
        e->older->newer = e->newer;
    else
        t->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        t->newest = e->older;
    e->older = e->newer = NULL;
    e->deferred = false;
}

static void send_empty_ack(coap_session_t *s, coap_mid_t mid)
{
    if (coap_session_get_state(s) != COAP_SESSION_STATE_ESTABLISHED)
        return;
    coap_pdu_t *ack = coap_pdu_init(COAP_MESSAGE_ACK, 0, mid, coap_session_max_pdu_size(s));
    if (ack)
        coap_send(s, ack);
}

/* The loop's timer: empty ACKs for the requests deferred too long (the
 * list is in parking order, so it stops at the first young one). */
static void late_ack_fire(struct runtime_loop *loop, void *arg)
{
    struct server_parked *t = arg;
    int64_t due = runtime_loop_now_ms(loop) - SERVER_PARKED_ACK_AFTER_MS;
    while (t->oldest && t->oldest->since_ms <= due) {
        struct server_parked_entry *e = t->oldest;
        undefer(t, e);
        send_empty_ack(e->ack_to, e->mid);
    }
    if (t->oldest) {
        struct ls_error err = { 0 };
        int64_t in = t->oldest->since_ms - due;
        if (runtime_loop_timer_start(loop, &t->late_ack, in, 0, &err) != LS_OK)
            /* out of memory: the next deferral arms it again */
            ls_log_warn("late_ack_timer", "error=\"%s\"", err.msg);
    }
}

void server_parked_defer_ack(struct server_parked *t, struct server_parked_entry *e,
                             coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp)
{
    if (!t->loop || !e->linked || coap_pdu_get_type(req) != COAP_MESSAGE_CON)
        return;
    e->mid = coap_pdu_get_mid(req);
    e->ack_to = s;
    e->since_ms = runtime_loop_now_ms(t->loop);
    if (!runtime_loop_timer_active(&t->late_ack)) {
        struct ls_error err = { 0 };
        if (runtime_loop_timer_start(t->loop, &t->late_ack, SERVER_PARKED_ACK_AFTER_MS, 0,
                                     &err) != LS_OK)
            return;   /* no timer: libcoap's empty ACK now, as without deferral */
    }
    e->deferred = true;
    e->older = t->newest;
    e->newer = NULL;
    if (t->newest)
        t->newest->newer = e;
    else
        t->oldest = e;
    t->newest = e;
    coap_pdu_set_type(resp, COAP_MESSAGE_NON);
}

bool server_parked_again(const struct server_parked *t, coap_session_t *s,
                         const coap_pdu_t *req, coap_pdu_t *resp)
{
    coap_bin_const_t tok = coap_pdu_get_token(req);
    struct server_parked_entry *e = server_parked_find(t, s, tok.s, tok.length);
    if (e && e->deferred)
        coap_pdu_set_type(resp, COAP_MESSAGE_NON);
    return e != NULL;
}

void server_parked_init(struct server_parked *t)
{
    memset(t, 0, sizeof *t);
}

void server_parked_set_loop(struct server_parked *t, struct runtime_loop *loop)
{
    t->loop = loop;
    runtime_loop_timer_init(&t->late_ack, late_ack_fire, t);
}

void server_parked_free(struct server_parked *t)
{
    if (t->loop)
        runtime_loop_timer_stop(t->loop, &t->late_ack);
    free(t->bucket);
    memset(t, 0, sizeof *t);
}

/* Doubles the buckets (or makes the first ones); false on ENOMEM. */
static bool parked_grow(struct server_parked *t)
{
    size_t n = t->n_buckets ? t->n_buckets * 2 : PARKED_MIN_BUCKETS;
    struct server_parked_entry **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct server_parked_entry *e = t->bucket[i], *next; e; e = next) {
            next = e->next;
            size_t h = parked_hash(e->session, e->token, e->token_len) & (n - 1);
            e->next = b[h];
            b[h] = e;
        }
    free(t->bucket);
    t->bucket = b;
    t->n_buckets = n;
    return true;
}

bool server_parked_add(struct server_parked *t, struct server_parked_entry *e,
                       const coap_session_t *session, const uint8_t *token, size_t token_len)
{
    e->session = session;
    e->token_len = (uint8_t)parked_cut(token_len);
    if (e->token_len)
        memcpy(e->token, token, e->token_len);
    if (t->n >= t->n_buckets && !parked_grow(t) && !t->n_buckets)
        return false;   /* not linked; the token still serves the answer */
    size_t h = parked_hash(session, e->token, e->token_len) & (t->n_buckets - 1);
    e->next = t->bucket[h];
    t->bucket[h] = e;
    e->linked = true;
    t->n++;
    return true;
}

void server_parked_del(struct server_parked *t, struct server_parked_entry *e)
{
    if (!e->linked)
        return;
    undefer(t, e);
    struct server_parked_entry **p =
        &t->bucket[parked_hash(e->session, e->token, e->token_len) & (t->n_buckets - 1)];
    while (*p && *p != e)
        p = &(*p)->next;
    if (*p)
        *p = e->next;
    e->next = NULL;
    e->linked = false;
    t->n--;
}

struct server_parked_entry *server_parked_find(const struct server_parked *t,
                                               const coap_session_t *session,
                                               const uint8_t *token, size_t token_len)
{
    if (!t->n)
        return NULL;
    size_t len = parked_cut(token_len);
    struct server_parked_entry *e =
        t->bucket[parked_hash(session, token, len) & (t->n_buckets - 1)];
    while (e && (e->session != session || e->token_len != len ||
                 (len && memcmp(e->token, token, len) != 0)))
        e = e->next;
    return e;
}

coap_pdu_t *server_parked_answer_new(const struct server_parked_entry *e, coap_session_t *s,
                                     bool con)
{
    if (coap_session_get_state(s) != COAP_SESSION_STATE_ESTABLISHED)
        return NULL;
    coap_pdu_t *pdu;
    if (e->deferred)
        pdu = coap_pdu_init(COAP_MESSAGE_ACK, 0, e->mid, coap_session_max_pdu_size(s));
    else
        pdu = coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, 0,
                            coap_new_message_id(s), coap_session_max_pdu_size(s));
    if (pdu && !coap_add_token(pdu, e->token_len, e->token)) {
        coap_delete_pdu(pdu);
        return NULL;
    }
    return pdu;
}
