/*
 * server/parked.h -- requests parked until their answer (after a commit)
 *
 * A request whose answer waits for a commit (Register, Update,
 * De-register, Send) is "parked": its handler returns without a code and
 * the answer goes out later, built by server_parked_answer_new and sent
 * with coap_send: piggy-backed on the ACK of a CON when the commit comes
 * within a second (server_parked_defer_ack: the usual case), else as a
 * separate response after an empty ACK.  While parked, a retransmission
 * of the request (same session, same token) must not queue the change
 * again: server_parked_again recognises it.
 *
 * This replaces libcoap 4.3.1's async API for us: that keeps its entries
 * in one linked list per context, walked on every request, register, free
 * and I/O pass (bench/results/registration.md).  Here a hash of entries
 * embedded in the caller's own records, keyed by (session, token), with
 * chains of about one; the table only links, it never owns an entry.
 * Loop thread only.
 *
 *   server_parked_init / _free       an empty table / its buckets
 *   server_parked_set_loop           the loop that sends late empty ACKs
 *   server_parked_add / _del         link / unlink an entry (keyed first)
 *   server_parked_defer_ack          hold a CON's ACK for the answer
 *   server_parked_find / _again      the entry of (session, token) / a
 *                                    retransmission of a parked request
 *   server_parked_answer_new         the answer's PDU, or NULL
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef SERVER_PARKED_H
#define SERVER_PARKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <coap3/coap.h>

#include "runtime/loop.h"

#define SERVER_PARKED_TOKEN_MAX 8    /* RFC 7252 tokens; longer ones are cut */

struct server_parked_entry {
    struct server_parked_entry *next;   /* bucket chain */
    const coap_session_t *session;
    uint8_t token[SERVER_PARKED_TOKEN_MAX];
    uint8_t token_len;
    bool linked;                        /* in a table now */
    /* A CON whose ACK waits for the answer (server_parked_defer_ack). */
    bool deferred;                      /* no ACK sent yet: piggy-back */
    coap_mid_t mid;                     /* the request's, for that ACK */
    int64_t since_ms;                   /* loop time it was parked */
    coap_session_t *ack_to;             /* where the late empty ACK goes */
    struct server_parked_entry *older, *newer;   /* deferred, oldest first */
};

struct server_parked {
    struct server_parked_entry **bucket;  /* n_buckets chains, a power of two */
    size_t n_buckets;
    size_t n;                             /* entries linked */
    struct server_parked_entry *oldest, *newest;  /* the deferred ones */
    struct runtime_loop *loop;            /* NULL: no late ACKs (unit tests) */
    struct runtime_loop_timer late_ack;   /* armed while any is deferred */
};

void server_parked_init(struct server_parked *t);

/* The loop whose timer sends the late empty ACKs; before any deferral. */
void server_parked_set_loop(struct server_parked *t, struct runtime_loop *loop);

/* Frees the buckets, stops the timer; the entries stay the caller's. */
void server_parked_free(struct server_parked *t);

/* Links e under (session, token).  false when out of memory for the
 * first buckets (a table that cannot grow later only gets longer chains).
 * e must not be linked. */
bool server_parked_add(struct server_parked *t, struct server_parked_entry *e,
                       const coap_session_t *session, const uint8_t *token, size_t token_len);

/* Unlinks e (and ends its deferral); nothing when it is not linked. */
void server_parked_del(struct server_parked *t, struct server_parked_entry *e);

struct server_parked_entry *server_parked_find(const struct server_parked *t,
                                               const coap_session_t *session,
                                               const uint8_t *token, size_t token_len);

/*
 * Piggy-backing.  For a CON request linked as e, in the handler: the ACK
 * waits for the answer, which then goes as a piggy-backed response (one
 * datagram each way, not the empty ACK + CON + the device's ACK of a
 * separate response).  resp's type becomes NON, which libcoap 4.3.1 drops
 * when the handler leaves the code empty (handle_request -> no_response),
 * so nothing is sent now.  If the answer is not there within
 * SERVER_PARKED_ACK_AFTER_MS (a slow or absent database), the loop's timer
 * sends the empty ACK, before the device's first retransmission (RFC 7252
 * ACK_TIMEOUT 2 s), and the answer goes separately.  Nothing for a NON.
 */
#define SERVER_PARKED_ACK_AFTER_MS 1000
void server_parked_defer_ack(struct server_parked *t, struct server_parked_entry *e,
                             coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp);

/* A retransmission of a parked request (same session, same token): true
 * when it is one.  While its ACK is deferred, resp is made NON so that
 * libcoap sends nothing (the answer follows); once ACKed, resp stays an
 * empty ACK, which libcoap sends again. */
bool server_parked_again(const struct server_parked *t, coap_session_t *s,
                         const coap_pdu_t *req, coap_pdu_t *resp);

/*
 * The answer to the parked request e of session s, no code yet: the
 * piggy-backed ACK while deferred, else the separate response (CON for a
 * CON request (con), NON for a NON one, a new MID), both with the
 * request's token.  NULL when s is no longer established (a DTLS session
 * closed while the commit was written: coap_send would open a DTLS client
 * handshake towards the device) or out of memory.  Call it before
 * server_parked_del; send with coap_send from the loop thread, outside
 * libcoap's callbacks.
 */
coap_pdu_t *server_parked_answer_new(const struct server_parked_entry *e, coap_session_t *s,
                                     bool con);

#endif
