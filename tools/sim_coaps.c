/*
 * tools/sim_coaps.c -- lodestar-sim clients whose datagrams go through
 * libcoap client sessions: DTLS-PSK (coaps://), and plain UDP after a
 * bootstrap over DTLS that named a coap:// server
 *
 * sim_client.c builds and reads CoAP datagrams itself (plain CoAP goes on
 * the run's shared raw sockets).  A client with c->lc set hands them here
 * instead, and this file translates between its bytes and libcoap PDUs on
 * the client's own session (one per client, bound to the client's own
 * 127.A.x.y address, so the server sees a distinct peer):
 *  - its requests (Register, Update, Send, De-register) and notifications
 *    become coap_send() calls (libcoap does the retransmissions; the
 *    client's own re-sends of the same MID are dropped here);
 *  - responses reach the context's response handler and go back to the
 *    client as datagrams;
 *  - the server's requests reach one unknown-resource handler, go to the
 *    client as datagrams, and the answer the client "sends" fills the
 *    handler's response PDU;
 *  - empty ACKs/RSTs the client would send are libcoap's job (dropped).
 * libcoap swallows the empty ACK of a CON notification: the client is
 * told "acknowledged" once libcoap has taken the notification (an RST
 * still cancels the observation, a handshake failure still fails).
 * Nothing is sent or torn down inside a libcoap callback: such work is
 * queued and done by sim_coaps_process after coap_io_process returns.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "tools/sim_dtls.h"

enum deferred_kind { D_SEND, D_ACK, D_RST, D_FAIL, D_RELEASE };

struct deferred {
    enum deferred_kind kind;
    struct sim_client *c;
    coap_session_t *s;        /* D_RELEASE */
    uint16_t mid;
    const char *cause;        /* D_FAIL, static text */
    uint8_t *data;            /* D_SEND, heap */
    size_t len;
};

static struct {
    struct sim_client_env *env;
    coap_context_t *ctx;
    int in_callback;
    coap_pdu_t *resp;                 /* the response being filled, in a request handler */
    const struct sim_client *resp_client;
    bool resp_filled;
    struct deferred *q;
    size_t nq, capq;
} g;

static void defer(struct deferred d)
{
    if (g.nq == g.capq) {
        size_t cap = g.capq ? g.capq * 2 : 256;
        struct deferred *q = realloc(g.q, cap * sizeof *q);
        if (!q) {
            free(d.data);
            fprintf(stderr, "lodestar-sim: out of memory (deferred work)\n");
            return;
        }
        g.q = q;
        g.capq = cap;
    }
    g.q[g.nq++] = d;
}

static struct sim_client *client_of(coap_session_t *s)
{
    return s ? coap_session_get_app_data(s) : NULL;
}

/* A libcoap PDU as the datagram bytes the client parses. */
static bool pdu_bytes(const coap_pdu_t *pdu, struct sim_coap_msg *m)
{
    coap_bin_const_t tok = coap_pdu_get_token(pdu);
    if (tok.length > 8)
        return false;
    sim_coap_init(m, coap_pdu_get_type(pdu), coap_pdu_get_code(pdu),
                  (uint16_t)coap_pdu_get_mid(pdu), tok.s, tok.length);
    coap_opt_iterator_t it;
    coap_opt_t *o;
    coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)))
        sim_coap_option(m, it.number, coap_opt_value(o), coap_opt_length(o));
    size_t len;
    const uint8_t *data;
    if (coap_get_data(pdu, &len, &data) && len)
        sim_coap_payload(m, data, len);
    return !m->overflow;
}

static bool add_options_payload(coap_pdu_t *pdu, const struct sim_coap_parsed *p)
{
    for (size_t i = 0; i < p->noptions; i++)
        if (!coap_add_option(pdu, (coap_option_num_t)p->options[i].number, p->options[i].len,
                             p->options[i].value))
            return false;
    return !p->payload_len || coap_add_data(pdu, p->payload_len, p->payload);
}

/* Opens the client's session to its current peer with its current PSK. */
static coap_session_t *open_session(struct sim_client *c)
{
    coap_address_t local, dst;
    sim_dtls_address(&local, c->src_addr, 0);
    sim_dtls_address(&dst, ntohl(c->peer->sin_addr.s_addr), ntohs(c->peer->sin_port));
    /* libcoap refuses a session whose 4-tuple equals one it still holds (a
     * released session not freed yet, whose port the kernel gave out
     * again): a new socket gets another port */
    coap_session_t *s = NULL;
    for (int tries = 0; !s && tries < 4; tries++)
        s = sim_dtls_session(g.ctx, &local, &dst, c->psk.id, c->psk.id_len, c->psk.key,
                             c->psk.key_len);
    if (!s)
        return NULL;
    coap_session_set_app_data(s, c);
    c->lc_session = s;
    c->lc_peer = c->peer;
    c->lc_has_mid = false;
    return s;
}

static void drop_session(struct sim_client *c)
{
    coap_session_t *s = c->lc_session;
    if (!s)
        return;
    coap_session_set_app_data(s, NULL);
    c->lc_session = NULL;
    if (g.in_callback)
        defer((struct deferred){ .kind = D_RELEASE, .s = s });
    else
        coap_session_release(s);
}

void sim_coaps_xmit(struct sim_client *c, const uint8_t *data, size_t len)
{
    struct sim_coap_parsed p;
    if (sim_coap_parse(data, len, &p, NULL) != LS_OK)
        return;
    if (g.resp && g.resp_client == c && p.code >= 32 &&
        (p.type == SIM_COAP_ACK || p.type == SIM_COAP_NON)) {
        /* the answer to the request being handled */
        coap_pdu_set_code(g.resp, (coap_pdu_code_t)p.code);
        if (!add_options_payload(g.resp, &p))
            coap_pdu_set_code(g.resp, COAP_RESPONSE_CODE_INTERNAL_ERROR);
        g.resp_filled = true;
        return;
    }
    if (p.code == 0)
        return;                   /* empty ACK / RST: libcoap's */
    if (c->lc_session && c->lc_has_mid && p.mid == c->lc_mid && c->lc_peer == c->peer)
        return;                   /* a retransmission: libcoap's too */
    if (g.in_callback) {
        uint8_t *copy = malloc(len);
        if (copy) {
            memcpy(copy, data, len);
            defer((struct deferred){ .kind = D_SEND, .c = c, .data = copy, .len = len });
        }
        return;
    }
    if (c->lc_session && c->lc_peer != c->peer)
        drop_session(c);          /* bootstrapped: now the server */
    coap_session_t *s = c->lc_session ? c->lc_session : open_session(c);
    if (!s) {
        sim_client_transport_failed(g.env, c, "no session");
        return;
    }
    coap_pdu_t *pdu = coap_pdu_init((coap_pdu_type_t)p.type, (coap_pdu_code_t)p.code, p.mid,
                                    coap_session_max_pdu_size(s));
    if (!pdu || !coap_add_token(pdu, p.token_len, p.token) || !add_options_payload(pdu, &p)) {
        if (pdu)
            coap_delete_pdu(pdu);
        sim_client_transport_failed(g.env, c, "pdu too large");
        return;
    }
    c->lc_mid = p.mid;
    c->lc_has_mid = true;
    if (coap_send(s, pdu) == COAP_INVALID_MID) {
        sim_client_transport_failed(g.env, c, "coap_send");
        return;
    }
    if (p.code >= 64 && p.type == SIM_COAP_CON)      /* a notification: see the header */
        defer((struct deferred){ .kind = D_ACK, .c = c, .mid = p.mid });
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    (void)sent;
    (void)mid;
    struct sim_client *c = client_of(s);
    struct sim_coap_msg m;
    if (c && pdu_bytes(rcvd, &m)) {
        g.in_callback++;
        sim_client_datagram(g.env, c, m.data, m.len);
        g.in_callback--;
    }
    return COAP_RESPONSE_OK;
}

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    (void)r;
    (void)query;
    struct sim_client *c = client_of(s);
    struct sim_coap_msg m;
    if (!c || !pdu_bytes(req, &m)) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_FOUND);
        return;
    }
    g.in_callback++;
    g.resp = resp;
    g.resp_client = c;
    g.resp_filled = false;
    sim_client_datagram(g.env, c, m.data, m.len);
    if (!g.resp_filled) {        /* ignored (asleep): no answer at all, not even an ACK */
        coap_pdu_set_type(resp, COAP_MESSAGE_NON);
        coap_pdu_set_code(resp, 0);
    }
    g.resp = NULL;
    g.resp_client = NULL;
    g.in_callback--;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    (void)sent;
    struct sim_client *c = client_of(s);
    if (!c)
        return;
    if (reason == COAP_NACK_RST)
        defer((struct deferred){ .kind = D_RST, .c = c, .mid = (uint16_t)mid });
    else if (reason == COAP_NACK_TLS_FAILED) {
        defer((struct deferred){ .kind = D_FAIL, .c = c, .cause = "dtls handshake" });
        g.in_callback++;
        drop_session(c);
        g.in_callback--;
    }
    /* too many retries: the client's own timers say "timeout" */
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct sim_client *c = client_of(s);
    if (!c || (ev != COAP_EVENT_DTLS_ERROR && ev != COAP_EVENT_DTLS_CLOSED))
        return 0;
    defer((struct deferred){ .kind = D_FAIL, .c = c,
                             .cause = ev == COAP_EVENT_DTLS_ERROR ? "dtls error" : "dtls closed" });
    g.in_callback++;
    drop_session(c);      /* a dead session: the next request opens a new one */
    g.in_callback--;
    return 0;
}

static void run_deferred(void)
{
    for (size_t i = 0; i < g.nq; i++) {     /* the work may queue more */
        struct deferred d = g.q[i];
        struct sim_coap_msg m;
        switch (d.kind) {
        case D_SEND:
            sim_coaps_xmit(d.c, d.data, d.len);
            free(d.data);
            break;
        case D_ACK:
        case D_RST:
            sim_coap_init(&m, d.kind == D_ACK ? SIM_COAP_ACK : SIM_COAP_RST, 0, d.mid, NULL, 0);
            sim_client_datagram(g.env, d.c, m.data, m.len);
            break;
        case D_FAIL:
            sim_client_transport_failed(g.env, d.c, d.cause);
            break;
        case D_RELEASE:
            coap_session_release(d.s);
            break;
        }
    }
    g.nq = 0;
}

/* libcoap logs to stdout by default: the report goes there */
static void log_stderr(coap_log_t level, const char *message)
{
    (void)level;
    fprintf(stderr, "libcoap: %s", message);
}

bool sim_coaps_start(struct sim_client_env *e, int epfd, uint32_t tag)
{
    coap_startup();
    /* libcoap's own log: quiet unless LODESTAR_SIM_COAP_LOG=<syslog level> */
    const char *lv = getenv("LODESTAR_SIM_COAP_LOG");
    coap_log_t level = lv && *lv ? (coap_log_t)atoi(lv) : LOG_EMERG;
    coap_set_log_handler(log_stderr);
    coap_set_log_level(level);
    coap_dtls_set_log_level(level);
    g.env = e;
    g.ctx = coap_new_context(NULL);
    if (!g.ctx)
        return false;
    coap_register_response_handler(g.ctx, on_response);
    coap_register_nack_handler(g.ctx, on_nack);
    coap_register_event_handler(g.ctx, on_event);
    coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
    coap_register_handler(r, COAP_REQUEST_GET, on_request);
    coap_register_handler(r, COAP_REQUEST_POST, on_request);
    coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
    coap_register_handler(r, COAP_REQUEST_FETCH, on_request);
    coap_register_handler(r, COAP_REQUEST_IPATCH, on_request);
    coap_add_resource(g.ctx, r);
    int fd = coap_context_get_coap_fd(g.ctx);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };
    if (fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return false;
    coap_io_process(g.ctx, COAP_IO_NO_WAIT);     /* arms libcoap's timer */
    return true;
}

void sim_coaps_process(void)
{
    if (!g.ctx)
        return;
    run_deferred();
    coap_io_process(g.ctx, COAP_IO_NO_WAIT);
    run_deferred();
}

void sim_coaps_close(struct sim_client *c)
{
    if (g.ctx && c->lc_session)
        drop_session(c);
}

void sim_coaps_stop(void)
{
    if (!g.ctx)
        return;
    run_deferred();
    coap_io_process(g.ctx, COAP_IO_NO_WAIT);
    for (size_t i = 0; i < g.nq; i++)
        free(g.q[i].data);
    free(g.q);
    g.q = NULL;
    g.nq = g.capq = 0;
    coap_free_context(g.ctx);
    g.ctx = NULL;
    coap_cleanup();
}
