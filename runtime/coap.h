/*
 * runtime/coap.h -- the CoAP/DTLS endpoint layer both daemons use
 *
 * Owns one libcoap context (libcoap-3-gnutls) served by a runtime_loop:
 * libcoap's epoll fd is watched by the loop, and coap_io_process(ctx,
 * COAP_IO_NO_WAIT) runs on readiness (LIBCOAP.md section 5).  Everything
 * here, and every libcoap call on the context or its sessions, happens on
 * the loop thread: libcoap 4.3.1 has no locks.
 *
 * What this layer does for its users, so that neither daemon repeats it:
 *   - endpoints on --coap (UDP) and --coaps (DTLS), IPv4 or IPv6; a port 0
 *     is resolved and logged (event=listening proto=coap|coaps addr=...);
 *   - block mode COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY;
 *   - DTLS-PSK through a synchronous, memory-only lookup the user supplies,
 *     plus either X.509 client certificates checked against a CA bundle
 *     (the certificate's CN is recorded per session) or raw public keys
 *     checked by a user lookup (the key's endpoint is recorded);
 *   - session hygiene: random 8-byte tokens and no implicit observe cancel
 *     on every session the user keeps (runtime_coap_session_keep), a
 *     callback when a kept session dies (DTLS closed / error / deleted), and
 *     deferred tear-down after NACK TOO_MANY_RETRIES on DTLS;
 *   - libcoap's own log routed to ours at warn and above;
 *   - the one mapping of ls_rc to CoAP response codes.
 * It knows nothing of LwM2M: resources and handlers belong to the daemon.
 *
 * INTERFACE ROUTINES
 *   runtime_coap_start / _free           context, endpoints, loop watch
 *   runtime_coap_context                 the libcoap context (loop thread)
 *   runtime_coap_kick                    run libcoap soon (after a trigger)
 *   runtime_coap_session_keep            hygiene for a session the user keeps
 *   runtime_coap_disconnect_later        deferred tear-down of a session
 *   runtime_coap_set_after_io            deferred work after coap_io_process
 *   runtime_coap_session_addr / _is_dtls / _psk_identity / _cn   session facts
 *   runtime_coap_code                    enum ls_rc -> CoAP response code
 *   runtime_coap_set_code                an answer's code (5.03: with Max-Age)
 *   runtime_coap_answered                count an answer (and a handshake)
 *   runtime_coap_stats                   counters for /metrics
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_COAP_H
#define LODESTAR_RUNTIME_COAP_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/addr.h"
#include "runtime/err.h"

struct runtime_loop;
struct runtime_coap;

/*
 * PSK lookup, called inside a DTLS handshake on the loop thread.  Must not
 * block (no database): look the identity up in memory.  Return true and
 * point *key at the key (borrowed until the call returns: libcoap copies
 * it) to accept; false to refuse the handshake.  Never log the key.
 */
typedef bool runtime_coap_psk_fn(void *arg, const uint8_t *identity, size_t identity_len,
                                 const uint8_t **key, size_t *key_len);

/*
 * A session is going away (DTLS closed or failed, torn down after a NACK,
 * or deleted by libcoap).  The user must drop every reference it holds on
 * it (coap_session_release) and forget the pointer.  Loop thread; may run
 * inside a libcoap callback, so do nothing else with libcoap here.
 */
typedef void runtime_coap_session_fn(void *arg, coap_session_t *session);

/*
 * RPK lookup, called inside a DTLS handshake with the device's raw public
 * key (DER SubjectPublicKeyInfo).  Return the endpoint the key is bound to
 * (borrowed for the call; copied) to accept, NULL to refuse.  Memory only.
 */
typedef const char *runtime_coap_rpk_fn(void *arg, const uint8_t *spki, size_t spki_len);

/*
 * X.509 check (issue 7), called inside a DTLS handshake once the device's
 * certificate passed the CA checks, with its CN and DER.  Return false to
 * refuse the handshake (a revoked certificate).  Memory only.
 */
typedef bool runtime_coap_x509_fn(void *arg, const char *cn, const uint8_t *der,
                                  size_t der_len);

struct runtime_coap_options {
    const struct runtime_addr *coap;    /* UDP listen address; NULL = none */
    const struct runtime_addr *coaps;   /* DTLS listen address; NULL = none */
    runtime_coap_psk_fn *psk;           /* needed when coaps is set */
    void *psk_arg;
    runtime_coap_session_fn *session_gone;  /* may be NULL */
    void *session_gone_arg;
    unsigned session_timeout_s;         /* idle unreferenced sessions; 0 = libcoap's 300 */
    unsigned max_idle_sessions;         /* unreferenced sessions kept per context before
                                           the oldest is freed; 0 = unlimited */
    unsigned read_batch;                /* datagrams read per session walk; 0/1 = plain
                                           coap_io_process (see coap.c, "READ BATCHING") */
    /* Public-key DTLS beside PSK.  libcoap 4.3.1 takes one PKI set-up per
     * context (LIBCOAP.md section 1), so the DTLS endpoint speaks either
     * X.509 (cert_file + key_file + ca_file) or RPK (key_file alone, with
     * rpk set).  Files (PEM) are read during the call. */
    const char *cert_file;              /* the server's certificate */
    const char *key_file;               /* its private key (EC for RPK) */
    const char *ca_file;                /* CAs that sign device certificates */
    runtime_coap_rpk_fn *rpk;           /* RPK mode: the device key lookup */
    void *rpk_arg;
    runtime_coap_x509_fn *x509;         /* X.509 mode: may be NULL (CA alone) */
    void *x509_arg;
    /* Issue 10 (DTLS handshake floods; see coap.c, "HALF-OPEN DTLS").
     * max_handshakes: DTLS sessions in handshake at once (libcoap's
     * coap_context_set_max_handshake_sessions; 0 = libcoap's 100).
     * handshake_timeout_s: a DTLS session not established after this many
     * seconds loses its handshake state (0 = leave it to libcoap, ~30 s). */
    unsigned max_handshakes;
    unsigned handshake_timeout_s;
};

/*
 * runtime_coap_start -- create the context, bind the endpoints, watch the
 * context's fd on loop and log one event=listening line per endpoint.
 *
 * A wildcard host ("[::]" or "0.0.0.0") binds one socket: libcoap clears
 * IPV6_V6ONLY, so "[::]" also receives IPv4 (as v4-mapped addresses).
 * Caller owns; free with runtime_coap_free().  Resources are added by the
 * caller on runtime_coap_context() afterwards; requests that arrive before
 * are answered 4.04 by libcoap.  NULL with err set on failure (LS_EIO for a
 * bind that fails, naming the flag).
 */
struct runtime_coap *runtime_coap_start(struct runtime_loop *loop,
                                        const struct runtime_coap_options *o,
                                        struct ls_error *err);

/* Removes the watch and frees the context with its sessions (which sends
 * nothing: kept sessions have observe cancel disabled).  The caller must
 * have released its session references first.  NULL is a no-op. */
void runtime_coap_free(struct runtime_coap *c);

/* The libcoap context: add resources, register handlers.  Loop thread. */
coap_context_t *runtime_coap_context(const struct runtime_coap *c);

/* The runtime_coap a context belongs to (from inside a handler). */
struct runtime_coap *runtime_coap_from_context(const coap_context_t *ctx);

/* Bound address of the UDP (dtls false) or DTLS endpoint, as logged;
 * "" when there is none.  buf: RUNTIME_ADDR_STR_MAX bytes.  Returns buf. */
char *runtime_coap_bound(const struct runtime_coap *c, bool dtls, char *buf);

/*
 * runtime_coap_kick -- run coap_io_process once on the next loop iteration.
 * Call after coap_async_trigger() or coap_send() made outside a libcoap
 * callback, so that libcoap acts on it without waiting for a datagram.
 */
void runtime_coap_kick(struct runtime_coap *c);

/*
 * runtime_coap_session_keep -- hygiene for a session the user is about to
 * keep a reference on: 8 random bytes seed its tokens (not 01, 02, ... that
 * repeat after every restart), and freeing it never sends an observe
 * cancel (which, on a dead DTLS session, starts a ClientHello towards the
 * device: LIBCOAP.md section 2).  Call when a session is first kept (it
 * re-seeds the token counter each time).
 */
void runtime_coap_session_keep(coap_session_t *s);

/*
 * runtime_coap_disconnect_later -- tear s down after the current
 * coap_io_process returns (never inside a libcoap callback): session_gone
 * runs, then coap_session_disconnected + release.  Used after a CON to a
 * DTLS session failed with TOO_MANY_RETRIES, when a rebooted device is
 * handshaking from the same address (LIBCOAP.md section 3).
 */
void runtime_coap_disconnect_later(struct runtime_coap *c, coap_session_t *s);

/*
 * runtime_coap_set_after_io -- call fn(arg) after every coap_io_process,
 * outside any libcoap callback: the place for work a handler must defer
 * (freeing an async entry once its separate response went out).
 */
typedef void runtime_coap_after_fn(void *arg);
void runtime_coap_set_after_io(struct runtime_coap *c, runtime_coap_after_fn *fn, void *arg);

/* "[::1]:5683" / "127.0.0.1:40000" (v4-mapped shown as v4); buf
 * RUNTIME_ADDR_STR_MAX bytes.  Returns buf. */
char *runtime_coap_session_addr(const coap_session_t *s, char *buf);

bool runtime_coap_session_is_dtls(const coap_session_t *s);

/* The subject CN of the certificate the session's peer authenticated with
 * (X.509), or NULL.  Borrowed until the session goes away. */
const char *runtime_coap_session_cn(const struct runtime_coap *c, const coap_session_t *s);

/* The endpoint the session's raw public key is bound to (RPK), or NULL. */
const char *runtime_coap_session_rpk_endpoint(const struct runtime_coap *c,
                                              const coap_session_t *s);

/* The raw public key of an RPK session as a stable, non-secret identity:
 * "sha256:" and the hex of the first 16 bytes of the SHA-256 of its DER
 * SubjectPublicKeyInfo; NULL for other sessions.  Borrowed like the CN.
 * (Added in issue 4, metrics.) */
#define RUNTIME_COAP_KEY_ID_LEN (7 + 32)
const char *runtime_coap_session_rpk_id(const struct runtime_coap *c, const coap_session_t *s);

/* Issue 7: the id of the certificate an X.509 session authenticated with,
 * "sha256:" + hex of the first 16 bytes of SHA-256(certificate DER) (what
 * an issued X.509 credential's identity is), or NULL. */
const char *runtime_coap_session_cert_id(const struct runtime_coap *c, const coap_session_t *s);

/* The PSK identity the session authenticated with; NULL (len 0) for UDP,
 * X.509 and RPK sessions.  Borrowed for the life of the session. */
const uint8_t *runtime_coap_session_psk_identity(const coap_session_t *s, size_t *len);

/*
 * runtime_coap_code -- the CoAP response code for a failure, the one place
 * this mapping lives: EINVAL/EPROTO 4.00, ENOTFOUND 4.04, ECONFLICT 4.09,
 * EUNSUPPORTED 4.12 (LwM2M answers an unsupported version with 4.12
 * Precondition Failed), ENOMEM and ETRANSIENT 5.03 (over a bound or the
 * database is away: try later), EIO and anything else 5.00.  LS_OK gives 0:
 * success codes depend on the method, the handler picks them.
 */
coap_pdu_code_t runtime_coap_code(enum ls_rc rc);

/*
 * runtime_coap_set_code -- set an answer's code; a 5.03 also gets Max-Age
 * RUNTIME_COAP_RETRY_AFTER_S, which tells the device when to try again
 * (RFC 7252 5.9.3.4) instead of leaving it to its own backoff.
 */
#define RUNTIME_COAP_RETRY_AFTER_S 5
void runtime_coap_set_code(coap_pdu_t *resp, coap_pdu_code_t code);

/*
 * runtime_coap_answered -- account for one request a handler just handled:
 * its answer's code (resp; an empty ACK, code 0, counts nothing -- the
 * separate response that follows is counted by the handler call that sets
 * its code), and, on a DTLS session that authenticated and had not made a
 * request yet, one completed handshake.  The one place where answers are
 * counted: every request handler calls it last.  Loop thread.
 */
void runtime_coap_answered(struct runtime_coap *c, coap_session_t *s, const coap_pdu_t *resp);

/* --- Added in issue 5 (device operations). --- */

/*
 * The user's NACK hook: runtime/coap owns libcoap's (single) NACK handler
 * for its own session hygiene and calls fn first, for every NACK.  Loop
 * thread, inside a libcoap callback: do no libcoap I/O here.  fn NULL
 * clears it.
 */
typedef void runtime_coap_nack_fn(void *arg, coap_session_t *s, const coap_pdu_t *sent,
                                  coap_nack_reason_t reason);
void runtime_coap_set_nack(struct runtime_coap *c, runtime_coap_nack_fn *fn, void *arg);

/* One pointer for the user that owns the context's response handler
 * (devops), found again from inside the handler through
 * runtime_coap_from_context.  Loop thread. */
void runtime_coap_set_user(struct runtime_coap *c, void *user);
void *runtime_coap_user(const struct runtime_coap *c);

/*
 * runtime_coap_session_for -- a session to send a request to a NoSec
 * device last seen at addr ("127.0.0.1:40000", "[::1]:40000", as the
 * registry records it).  The server session libcoap still has for that
 * peer on the UDP endpoint (coap_session_get_by_peer), else a new client
 * session bound to the UDP endpoint's own address, so that the request
 * leaves from the port the device registered to.  Not referenced: the
 * caller references it for as long as it uses it (a client session is
 * freed at its last release).  Session hygiene (random tokens, no observe
 * cancel) is applied to a session met for the first time.  Loop thread.
 * NULL with err set: LS_EINVAL (addr unparsable), LS_EIO (no UDP
 * endpoint, or libcoap refused the session).
 */
coap_session_t *runtime_coap_session_for(struct runtime_coap *c, const char *addr,
                                         struct ls_error *err);

/* Counters, safe to read from any thread (each field is read atomically;
 * the set is not a snapshot). */
struct runtime_coap_stats {
    uint64_t dtls_failures;     /* DTLS_ERROR events (refused identity, bad key...) */
    uint64_t dtls_closed;       /* DTLS_CLOSED events */
    uint64_t psk_refused;       /* lookups that found no credential */
    uint64_t teardowns;         /* sessions torn down after NACK or reboot */
    /* --- Added in issue 4 (metrics). --- */
    uint64_t handshakes_ok;     /* DTLS sessions that authenticated, then made a request */
    uint64_t handshakes_failed; /* refused or broken handshakes (unknown identity or key,
                                   wrong PSK key, bad certificate), and authenticated
                                   sessions that died before their first request */
    uint64_t answers[256];      /* answers by CoAP code byte (class << 5 | detail) */
    /* --- Added in issue 10 (abuse: DTLS handshake floods). --- */
    uint64_t dtls_sessions_new; /* DTLS server sessions libcoap created (one per
                                   ClientHello from a new address) */
    uint64_t dtls_half_open;    /* gauge: DTLS sessions not yet established now */
    uint64_t dtls_reaped_hello; /* cookie sent, never came back: state freed at timeout */
    uint64_t dtls_reaped_handshake; /* cookie returned, handshake never finished */
    uint64_t dtls_held;         /* gauge: reaped HELLO sessions held out of libcoap's
                                   handshake count (runtime/coap.c, HALF-OPEN DTLS) */
    uint64_t sessions_live;     /* gauge: server sessions (UDP and DTLS) now */
    uint64_t max_handshakes;    /* the configured bound (libcoap's 100 when unset) */
};
void runtime_coap_stats(const struct runtime_coap *c, struct runtime_coap_stats *out);

/* Issue 10: writes the DTLS flood figures of cs in Prometheus text format
 * (lodestar_dtls_sessions_created_total, lodestar_dtls_half_open_sessions,
 * lodestar_dtls_half_open_reaped_total{stage}, lodestar_dtls_max_handshakes,
 * lodestar_coap_sessions); both daemons' /metrics. */
void runtime_coap_write_flood_metrics(const struct runtime_coap_stats *cs, FILE *out);

#endif /* LODESTAR_RUNTIME_COAP_H */
