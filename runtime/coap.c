/*
 * runtime/coap.c -- the CoAP/DTLS endpoint layer (runtime/coap.h)
 *
 * One libcoap context per struct runtime_coap, driven from a runtime_loop
 * watch on coap_context_get_coap_fd() (LIBCOAP.md section 5: the epoll fd
 * carries libcoap's own timerfd, so retransmissions and timeouts fire with
 * no help from us; coap_io_process_with_fds is useless on Debian's epoll
 * build).  coap_io_process(ctx, COAP_IO_NO_WAIT) runs once at start to arm
 * that timer, then on every readiness, and once more after a kick.
 *
 * Work that must not happen inside a libcoap callback (tearing a session
 * down) is queued and run right after coap_io_process returns.
 *
 * The libcoap log handler is process-global in libcoap (it takes no
 * argument); it forwards warn and above to our log and needs no state.
 *
 * A DTLS handshake flight goes in one datagram, not one per record
 * (runtime/dtls_flight.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/coap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/evp.h>

#include "runtime/dtls_flight.h"
#include "runtime/log.h"
#include "runtime/loop.h"

/* A small set of referenced sessions (a handful at a time: devices that
 * rebooted in the last seconds). */
struct session_set {
    coap_session_t **s;
    size_t n, cap;
};

/* Session -> certificate CN, for X.509 sessions (libcoap 4.3.1 has no call
 * to get the peer certificate of a session: LIBCOAP.md section 1).  A
 * fixed bucket array: one entry per live X.509 session. */
#define CN_BUCKETS 1024
struct cn_entry {
    struct cn_entry *next;
    const coap_session_t *session;
    bool rpk;                   /* cn is the endpoint of a raw public key */
    char key_id[RUNTIME_COAP_KEY_ID_LEN + 1];  /* RPK: "sha256:<hex>" of the key */
    char cn[];
};

/* DTLS sessions between credential acceptance and first request (see
 * "DTLS handshake accounting"); open addressing, capacity a power of 2. */
enum hs_state { HS_AUTHENTICATED = 1, HS_FAILED };
struct hs_slot {
    const coap_session_t *s;
    enum hs_state st;
};
struct hs_table {
    struct hs_slot *slot;
    size_t n, cap;
};

/* A DTLS session not yet established (issue 10, "HALF-OPEN DTLS"). */
struct half_open {
    coap_session_t *s;
    int64_t since_ms;                   /* monotonic: SERVER_SESSION_NEW, or held */
    int st;                             /* enum ho_state */
};

struct runtime_coap {
    coap_context_t *ctx;
    struct cn_entry *cns[CN_BUCKETS];
    char *rpk_pem;                      /* RPK mode: our key, PEM; libcoap keeps
                                           pointers into it for every handshake */
    size_t rpk_pem_len;
    struct runtime_loop *loop;
    struct runtime_loop_watch *watch;   /* on the context's epoll fd */
    struct runtime_loop_timer kick;     /* 0 ms timer: run libcoap soon */
    struct runtime_coap_options o;
    coap_endpoint_t *ep_udp, *ep_dtls;
    coap_bin_const_t psk;               /* what the PSK callback returns; points
                                           into the user's table, never owned */
    coap_session_t **doomed;            /* referenced; torn down after io */
    size_t n_doomed, cap_doomed;
    struct runtime_coap_stats stats;
    runtime_coap_after_fn *after;       /* user's deferred work; may be NULL */
    void *after_arg;
    struct session_set suspects;        /* re-handshake seen: probe after io */
    struct session_set probing;         /* a probe ping is in flight */
    struct hs_table hs;                 /* handshakes not yet decided */
    runtime_coap_nack_fn *nack;         /* the user's NACK hook (issue 5) */
    void *user;                         /* runtime_coap_set_user (issue 5) */
    void *nack_arg;
    unsigned ifindex[16];               /* interface indexes, for session lookups */
    size_t n_ifindex;                   /* 0 until first needed */
    long live, live_max, freed;         /* server sessions: now, peak, freed */
    struct half_open *ho;               /* DTLS sessions not yet established */
    size_t n_ho, cap_ho;
    size_t n_open, n_held, n_let_go;    /* entries by state (HO_OPEN, HO_HELD, HO_LET_GO) */
    struct runtime_loop_timer reaper;   /* 1 s, while ho is not empty */
};

/* Counters are written on the loop thread and read by /metrics scrapes on
 * an HTTP thread: relaxed atomics, no lock. */
#define STAT_ADD(c, f, v) __atomic_add_fetch(&(c)->stats.f, (v), __ATOMIC_RELAXED)

coap_pdu_code_t runtime_coap_code(enum ls_rc rc)
{
    switch (rc) {
    case LS_OK:
        return COAP_EMPTY_CODE;
    case LS_EINVAL:
    case LS_EPROTO:
        return COAP_RESPONSE_CODE_BAD_REQUEST;
    case LS_ENOTFOUND:
        return COAP_RESPONSE_CODE_NOT_FOUND;
    case LS_ECONFLICT:
        return COAP_RESPONSE_CODE_CONFLICT;
    case LS_EUNSUPPORTED:
        return COAP_RESPONSE_CODE_PRECONDITION_FAILED;
    case LS_ENOMEM:
    case LS_ETRANSIENT:
        return COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE;
    case LS_EIO:
    default:
        return COAP_RESPONSE_CODE_INTERNAL_ERROR;
    }
}

void runtime_coap_set_code(coap_pdu_t *resp, coap_pdu_code_t code)
{
    coap_pdu_set_code(resp, code);
    if (code == COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE) {
        uint8_t buf[4];
        coap_add_option(resp, COAP_OPTION_MAXAGE,
                        coap_encode_var_safe(buf, sizeof buf, RUNTIME_COAP_RETRY_AFTER_S), buf);
    }
}

static void watch_rehandshake(const char *message);
static void watch_decrypt_failure(const char *message);
static void cn_forget(struct runtime_coap *c, const coap_session_t *s);

/* libcoap's log -> ours.  Messages end in '\n'; one line each. */
static void coap_log_to_ours(coap_log_t level, const char *message)
{
    size_t n = strlen(message);
    while (n && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    /* The surplus reads of read batching (see on_ready) log this for an
     * empty socket; a real read error shows up in coap_network_read's own
     * message, which is kept. */
    if (level == LOG_WARNING && ((n >= 11 && memcmp(message + n - 11, "read failed", 11) == 0) ||
                                 strstr(message, strerror(EAGAIN))))
        return;
    /* One per half-open session libcoap evicts: a ClientHello flood would
     * make it a flood of log lines; counted and summarised instead (issue
     * 10, "HALF-OPEN DTLS"). */
    if (level == LOG_WARNING && strstr(message, "Incomplete session timed out"))
        return;
    if (level <= LOG_ERR)
        ls_log_error("libcoap", "message=\"%.*s\"", (int)n, message);
    else
        ls_log_warn("libcoap", "message=\"%.*s\"", (int)n, message);
    watch_rehandshake(message);
    watch_decrypt_failure(message);
}



/* ---- session sets ---- */

static bool set_has(const struct session_set *set, const coap_session_t *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->s[i] == s)
            return true;
    return false;
}

/* Adds s with a reference; false when present or out of memory. */
static bool set_add(struct session_set *set, coap_session_t *s)
{
    if (set_has(set, s))
        return false;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        coap_session_t **a = realloc(set->s, cap * sizeof *a);
        if (!a)
            return false;
        set->s = a;
        set->cap = cap;
    }
    set->s[set->n++] = coap_session_reference(s);
    return true;
}

/* Removes s and drops the set's reference. */
static void set_del(struct session_set *set, coap_session_t *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->s[i] == s) {
            set->s[i] = set->s[--set->n];
            coap_session_release(s);
            return;
        }
}

static void set_clear(struct session_set *set)
{
    while (set->n)
        coap_session_release(set->s[--set->n]);
    free(set->s);
    set->s = NULL;
    set->cap = 0;
}

/*
 * ---- a device that reboots and handshakes again from the same address ----
 *
 * libcoap 4.3.1 keeps the old, established DTLS session for that address;
 * GnuTLS drops the new ClientHello (epoch 0) inside it and the device can
 * never reconnect (LIBCOAP.md section 3).  The only trace is GnuTLS's audit
 * message, which libcoap logs at warning level with the session's
 * addresses: "** <local> <-> <remote> (ifN) DTLS: Discarded message[k]
 * with invalid epoch 0."  So the log handler watches for it and marks the
 * session as a suspect; after coap_io_process the suspect is probed with a
 * CoAP ping on a short retransmission schedule (1 s, one retransmission):
 *   - the old peer answers (RST, as to any empty CON): it is alive, the
 *     stray ClientHello was a late retransmission; nothing changes;
 *   - no answer: NACK TOO_MANY_RETRIES, the session is torn down, and the
 *     device's next ClientHello retransmission starts a fresh session.
 * Probing first, rather than tearing down on the log line alone, keeps an
 * off-path attacker who spoofs one datagram from cutting a live device off.
 * Periodic pings to every DTLS session were rejected: they cost traffic for
 * 100 000 idle devices, and a rebooting device's ClientHellos keep its
 * session "active", so an idle-based ping never fires (LIBCOAP.md).
 * The hook depends on libcoap's log text; if a libcoap update changes it,
 * test_psk_reboot_same_port fails and says so.
 */

/* The live contexts, for the log handler, which libcoap calls without an
 * argument.  Written only when a context starts or is freed (at start-up
 * and shutdown, never concurrently with traffic). */
#define MAX_CONTEXTS 8
static struct runtime_coap *contexts[MAX_CONTEXTS];

static bool parse_peer(const char *text, size_t len, coap_address_t *a)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = memrchr(text, ':', len);
    if (!colon || colon == text)
        return false;
    size_t hl = (size_t)(colon - text);
    int port = atoi(colon + 1);
    coap_address_init(a);
    if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']' && hl - 2 < sizeof host) {
        memcpy(host, text + 1, hl - 2);
        host[hl - 2] = '\0';
        a->addr.sin6.sin6_family = AF_INET6;
        a->addr.sin6.sin6_port = htons((uint16_t)port);
        a->size = sizeof a->addr.sin6;
        return inet_pton(AF_INET6, host, &a->addr.sin6.sin6_addr) == 1;
    }
    if (hl >= sizeof host)
        return false;
    memcpy(host, text, hl);
    host[hl] = '\0';
    a->addr.sin.sin_family = AF_INET;
    a->addr.sin.sin_port = htons((uint16_t)port);
    a->size = sizeof a->addr.sin;
    return inet_pton(AF_INET, host, &a->addr.sin.sin_addr) == 1;
}

/* The peer and interface of a GnuTLS audit line ("** <local> <-> <remote>
 * (ifN) DTLS: ..."); false when the line has another shape. */
static bool audit_peer(const char *message, coap_address_t *peer, int *ifindex)
{
    const char *arrow, *ifp;
    if (!(arrow = strstr(message, "<-> ")) || !(ifp = strstr(arrow, " (if")))
        return false;
    arrow += 4;
    if (!parse_peer(arrow, (size_t)(ifp - arrow), peer))
        return false;
    *ifindex = atoi(ifp + 4);
    return true;
}

static void watch_rehandshake(const char *message)
{
    coap_address_t peer;
    int ifindex;
    if (!strstr(message, "with invalid epoch 0") || !audit_peer(message, &peer, &ifindex))
        return;
    for (size_t i = 0; i < MAX_CONTEXTS; i++) {
        struct runtime_coap *c = contexts[i];
        coap_session_t *s = c ? coap_session_get_by_peer(c->ctx, &peer, ifindex) : NULL;
        if (s && runtime_coap_session_is_dtls(s) && !set_has(&c->probing, s))
            set_add(&c->suspects, s);
    }
}

/*
 * ---- DTLS handshake accounting ----
 *
 * libcoap 4.3.1 over GnuTLS emits no DTLS_CONNECTED for server sessions
 * (LIBCOAP.md section 1), and a wrong PSK key emits no event at all: GnuTLS
 * discards the client's Finished as undecryptable (DTLS drops bad records
 * silently) and the session stays half-open until libcoap evicts it.  So a
 * handshake is followed from the moment the peer's credential is accepted
 * (PSK lookup, certificate or raw key check): the session is then
 * "authenticated", and its first request proves that the handshake
 * completed (handshakes_ok).  It failed (handshakes_failed) when
 *   - a DTLS_ERROR arrives before the session is established (unknown
 *     identity or key, missing or bad certificate: the refusal ends there);
 *   - GnuTLS reports a record it could not decrypt on an authenticated
 *     session: a wrong PSK key (its audit line, as for re-handshakes above);
 *   - an authenticated session is deleted before its first request.
 * A request on a session counted failed (a spoofed undecryptable record
 * during a good handshake) moves the count back to ok.  The table only
 * holds undecided sessions: a few, or the width of a handshake storm.
 */
static size_t hs_hash(const coap_session_t *s, size_t cap)
{
    return (size_t)(((uintptr_t)s >> 4) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static struct hs_slot *hs_find(const struct hs_table *t, const coap_session_t *s)
{
    if (!t->n)
        return NULL;
    for (size_t i = hs_hash(s, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->slot[i].s == s)
            return &t->slot[i];
        if (!t->slot[i].s)
            return NULL;
    }
}

static bool hs_grow(struct hs_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct hs_slot *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slot[i].s)
            continue;
        size_t j = hs_hash(t->slot[i].s, cap);
        while (slot[j].s)
            j = (j + 1) & (cap - 1);
        slot[j] = t->slot[i];
    }
    free(t->slot);
    t->slot = slot;
    t->cap = cap;
    return true;
}

/* Records s as st; out of memory only loses the accounting of s. */
static void hs_put(struct hs_table *t, const coap_session_t *s, enum hs_state st)
{
    struct hs_slot *e = hs_find(t, s);
    if (e) {
        e->st = st;
        return;
    }
    if ((t->n + 1) * 4 > t->cap * 3 && !hs_grow(t))
        return;
    size_t i = hs_hash(s, t->cap);
    while (t->slot[i].s)
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = (struct hs_slot){ s, st };
    t->n++;
}

/* Removes s (backward-shift deletion keeps probe chains whole); returns its
 * state, 0 when absent. */
static int hs_take(struct hs_table *t, const coap_session_t *s)
{
    struct hs_slot *e = hs_find(t, s);
    if (!e)
        return 0;
    int st = (int)e->st;
    size_t i = (size_t)(e - t->slot), j = i;
    for (;;) {
        j = (j + 1) & (t->cap - 1);
        if (!t->slot[j].s)
            break;
        size_t h = hs_hash(t->slot[j].s, t->cap);
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        if ((i < j) ? (h <= i || h > j) : (h <= i && h > j)) {
            t->slot[i] = t->slot[j];
            i = j;
        }
    }
    t->slot[i].s = NULL;
    t->n--;
    return st;
}

static void hs_authenticated(struct runtime_coap *c, const coap_session_t *s)
{
    hs_put(&c->hs, s, HS_AUTHENTICATED);
}

/* DTLS_ERROR (established false: still in handshake) or deletion. */
static void hs_ended(struct runtime_coap *c, const coap_session_t *s, bool error,
                     bool established)
{
    int st = hs_take(&c->hs, s);
    if (st == HS_AUTHENTICATED || (error && !st && !established))
        STAT_ADD(c, handshakes_failed, 1);
}

static void watch_decrypt_failure(const char *message)
{
    coap_address_t peer;
    int ifindex;
    if (!strstr(message, "due to invalid decryption") || !audit_peer(message, &peer, &ifindex))
        return;
    for (size_t i = 0; i < MAX_CONTEXTS; i++) {
        struct runtime_coap *c = contexts[i];
        coap_session_t *s = c ? coap_session_get_by_peer(c->ctx, &peer, ifindex) : NULL;
        struct hs_slot *e = s ? hs_find(&c->hs, s) : NULL;
        if (e && e->st == HS_AUTHENTICATED) {
            e->st = HS_FAILED;
            STAT_ADD(c, handshakes_failed, 1);
        }
    }
}

void runtime_coap_answered(struct runtime_coap *c, coap_session_t *s, const coap_pdu_t *resp)
{
    coap_pdu_code_t code = coap_pdu_get_code(resp);
    if (code)
        STAT_ADD(c, answers[code & 0xff], 1);
    if (c->hs.n) {
        int st = hs_take(&c->hs, s);
        if (st)
            STAT_ADD(c, handshakes_ok, 1);
        if (st == HS_FAILED)
            __atomic_sub_fetch(&c->stats.handshakes_failed, 1, __ATOMIC_RELAXED);
    }
}

static void probe_suspects(struct runtime_coap *c)
{
    while (c->suspects.n) {
        coap_session_t *s = c->suspects.s[c->suspects.n - 1];
        if (set_add(&c->probing, s)) {
            coap_session_set_ack_timeout(s, (coap_fixed_point_t){ 1, 0 });
            coap_session_set_max_retransmit(s, 1);
            if (coap_session_send_ping(s) == COAP_INVALID_MID) {
                set_del(&c->probing, s);
                runtime_coap_disconnect_later(c, s);
            } else {
                char addr[RUNTIME_ADDR_STR_MAX];
                ls_log_info("dtls_rehandshake", "addr=%s action=probe",
                            runtime_coap_session_addr(s, addr));
            }
        }
        set_del(&c->suspects, s);
    }
}

static void run_doomed(struct runtime_coap *c)
{
    /* Pops until empty: session_gone or disconnected may queue more. */
    while (c->n_doomed) {
        coap_session_t *s = c->doomed[--c->n_doomed];
        set_del(&c->probing, s);
        if (c->o.session_gone)
            c->o.session_gone(c->o.session_gone_arg, s);
        coap_session_disconnected(s, COAP_NACK_NOT_DELIVERABLE);
        coap_session_release(s);
        STAT_ADD(c, teardowns, 1);
    }
}

static void process(struct runtime_coap *c)
{
    coap_io_process(c->ctx, COAP_IO_NO_WAIT);
    probe_suspects(c);
    run_doomed(c);
    if (c->after)
        c->after(c->after_arg);
}

void runtime_coap_set_after_io(struct runtime_coap *c, runtime_coap_after_fn *fn, void *arg)
{
    c->after = fn;
    c->after_arg = arg;
}

/*
 * READ BATCHING.  coap_io_process walks every session of the context twice
 * (idle checks in coap_io_prepare_epoll) and then reads ONE datagram per
 * ready endpoint: the cost of a datagram grows with the number of sessions,
 * and an LwM2M server holds one session per registered device (LIBCOAP.md
 * section 6; perf here: 66 % of the CPU in coap_io_prepare_io at 10 000
 * registrations, 1 200 registrations/s).  With read_batch K > 1 the loop
 * does libcoap's epoll_wait itself and hands each ready event K times to
 * coap_io_do_epoll, so one walk reads up to K datagrams per endpoint.
 * Timers still run: libcoap's timerfd is among the events, and
 * coap_async_trigger arms it for "now".  The surplus reads find the socket
 * empty (EAGAIN), which libcoap reports at warning level ("coap_network_read:
 * Resource temporarily unavailable", then "read failed"); the log filter
 * drops exactly those lines.  This leans on
 * coap_io_do_epoll, documented as internal in 4.3.1; the functional suite
 * runs with it on, so a libcoap change that breaks it shows up there.
 */
#define READ_BATCH_MAX 64
#define READY_MAX 16

static void on_ready(struct runtime_loop *loop, int fd, unsigned events, void *arg)
{
    struct runtime_coap *c = arg;
    if (c->o.read_batch <= 1) {
        process(c);
        return;
    }
    struct epoll_event ev[READY_MAX], rep[READY_MAX * READ_BATCH_MAX];
    int n = epoll_wait(fd, ev, READY_MAX, 0);
    size_t rn = 0;
    unsigned k = c->o.read_batch < READ_BATCH_MAX ? c->o.read_batch : READ_BATCH_MAX;
    for (unsigned i = 0; i < k; i++)
        for (int j = 0; j < n; j++)
            rep[rn++] = ev[j];
    if (rn)
        coap_io_do_epoll(c->ctx, rep, rn);
    probe_suspects(c);
    run_doomed(c);
    if (c->after)
        c->after(c->after_arg);
}

static void on_kick(struct runtime_loop *loop, void *arg)
{
    process(arg);
}

void runtime_coap_kick(struct runtime_coap *c)
{
    if (!runtime_loop_timer_active(&c->kick) &&
        runtime_loop_timer_start(c->loop, &c->kick, 0, 0, NULL) != LS_OK)
        ls_log_warn("coap_kick_failed", "reason=\"out of memory\"");
}

void runtime_coap_disconnect_later(struct runtime_coap *c, coap_session_t *s)
{
    for (size_t i = 0; i < c->n_doomed; i++)
        if (c->doomed[i] == s)
            return;
    if (c->n_doomed == c->cap_doomed) {
        size_t cap = c->cap_doomed ? c->cap_doomed * 2 : 8;
        coap_session_t **d = realloc(c->doomed, cap * sizeof *d);
        if (!d) {
            ls_log_warn("coap_teardown_dropped", "reason=\"out of memory\"");
            return;
        }
        c->doomed = d;
        c->cap_doomed = cap;
    }
    c->doomed[c->n_doomed++] = coap_session_reference(s);
    runtime_coap_kick(c);
}

static const coap_bin_const_t *on_psk_identity(coap_bin_const_t *identity,
                                               coap_session_t *s, void *arg)
{
    struct runtime_coap *c = arg;
    const uint8_t *key = NULL;
    size_t key_len = 0;
    if (!identity || !identity->length ||
        !c->o.psk(c->o.psk_arg, identity->s, identity->length, &key, &key_len)) {
        STAT_ADD(c, psk_refused, 1);
        ls_log_info("dtls_refused", "reason=\"unknown or revoked PSK identity\" identity_len=%zu",
                    identity ? identity->length : 0);
        return NULL;
    }
    /* Borrowed from the user's table, which is only replaced on this
     * thread between callbacks; libcoap copies it into the session. */
    c->psk.s = key;
    c->psk.length = key_len;
    hs_authenticated(c, s);
    return &c->psk;
}

/*
 * ---- HALF-OPEN DTLS (issue 10: handshake floods) ----
 *
 * What libcoap 4.3.1 with GnuTLS does with a ClientHello from a new
 * address (coap_endpoint_get_session, coap_dtls_hello; verified by
 * tests/integration/test_abuse.c):
 *   - it makes a "HELLO" session and a GnuTLS state with its own cookie
 *     key, and answers a ClientHello without a valid cookie with a
 *     HelloVerifyRequest (RFC 6347 4.2.1): no key exchange, no PSK lookup,
 *     no certificate, and an answer smaller than the question, so a
 *     spoofed source gains nothing.  It does keep that HELLO session (the
 *     struct plus the GnuTLS state) until the cookie comes back;
 *   - with the cookie, the session becomes a server session in handshake;
 *   - unreferenced HELLO and handshaking sessions together are bounded by
 *     max_handshake_sessions (default 100; ours: max_handshakes): beyond
 *     it new ClientHellos are dropped, a legitimate device's included;
 *   - a HELLO or handshaking session is evicted only when older than 30 s
 *     (COAP_PARTIAL_SESSION_TIMEOUT, compiled in) and only when a datagram
 *     from another new address arrives, one per arrival; a handshaking one
 *     also ends after GnuTLS's retransmissions (1+2+4+8+16 s).
 * So memory is bounded whatever the flood, but a flood holds every slot
 * for at least 30 s after it stops.  The reaper below shortens that: once
 * a second, each DTLS session older than handshake_timeout_s and not
 * established is disconnected, which frees its GnuTLS state:
 *   - a handshaking server session is then freed by libcoap's next pass;
 *   - a HELLO session's struct cannot be freed through 4.3.1's API, so we
 *     hold a reference on it ("held"): libcoap counts only unreferenced
 *     sessions against max_handshake_sessions, so the slot is free at once.
 *     At most HOLD_MAX are held (~1 kB each); a held one is let go (it
 *     counts again, and libcoap evicts it on a later arrival, being over
 *     30 s old) when the table is full, or a few per tick once libcoap's
 *     count is below half the bound.  If its address sends again, libcoap
 *     uses it as before (a new HelloVerifyRequest); once it turns into a
 *     handshaking session it is let go and followed afresh.
 * Entries are removed on SERVER_SESSION_DEL; with GnuTLS every server
 * session freed before the context goes is announced by that event.  Held
 * ones are released before the context is freed (it asserts ref == 0).
 */
#define HALF_OPEN_MAX 65536             /* tracked at most; beyond: libcoap's own limits */
#define REAP_PERIOD_MS 1000
#define HOLD_MAX 8192                   /* HELLO structs held, ~1 kB each */
#define LIBCOAP_PARTIAL_MS 30000        /* COAP_PARTIAL_SESSION_TIMEOUT_TICKS, 4.3.1 */

enum ho_state {
    HO_OPEN,        /* counted by libcoap; ours to reap at the timeout */
    HO_REAPED,      /* a handshaking session we ended: libcoap frees it */
    HO_HELD,        /* a HELLO we ended and hold: not counted by libcoap */
    HO_LET_GO,      /* a HELLO we let go: counted, evicted by libcoap */
};

static void ho_publish(struct runtime_coap *c)
{
    __atomic_store_n(&c->stats.dtls_half_open, (uint64_t)c->n_open, __ATOMIC_RELAXED);
    __atomic_store_n(&c->stats.dtls_held, (uint64_t)c->n_held, __ATOMIC_RELAXED);
}

static void ho_set(struct runtime_coap *c, struct half_open *e, enum ho_state st)
{
    c->n_open -= e->st == HO_OPEN;
    c->n_held -= e->st == HO_HELD;
    c->n_let_go -= e->st == HO_LET_GO;
    e->st = st;
    c->n_open += st == HO_OPEN;
    c->n_held += st == HO_HELD;
    c->n_let_go += st == HO_LET_GO;
}

/* Forgets entry i (swap with the last); releases a hold. */
static void ho_drop(struct runtime_coap *c, size_t i)
{
    struct half_open *e = &c->ho[i];
    if (e->st == HO_HELD)
        coap_session_release(e->s);
    ho_set(c, e, HO_REAPED);
    c->ho[i] = c->ho[--c->n_ho];
}

static void ho_add(struct runtime_coap *c, coap_session_t *s)
{
    if (coap_session_get_proto(s) != COAP_PROTO_DTLS)
        return;
    STAT_ADD(c, dtls_sessions_new, 1);
    if (!c->o.handshake_timeout_s)
        return;         /* no reaper: nothing to follow (the table is its only user) */
    if (c->n_ho == c->cap_ho) {
        size_t cap = c->cap_ho ? c->cap_ho * 2 : 64;
        struct half_open *h = cap <= HALF_OPEN_MAX ? realloc(c->ho, cap * sizeof *h) : NULL;
        if (!h)
            return;
        c->ho = h;
        c->cap_ho = cap;
    }
    struct half_open *e = &c->ho[c->n_ho++];
    *e = (struct half_open){ s, runtime_loop_now_ms(c->loop), HO_REAPED };
    ho_set(c, e, HO_OPEN);
    ho_publish(c);
    if (!runtime_loop_timer_active(&c->reaper) &&
        runtime_loop_timer_start(c->loop, &c->reaper, REAP_PERIOD_MS, REAP_PERIOD_MS,
                                 NULL) != LS_OK)
        ls_log_warn("dtls_reaper_not_armed", "reason=\"out of memory\"");
}

static void ho_del(struct runtime_coap *c, coap_session_t *s)
{
    for (size_t i = 0; i < c->n_ho; i++)
        if (c->ho[i].s == s) {
            ho_drop(c, i);
            ho_publish(c);
            return;
        }
}

/* Frees the TLS state of a session that is not established (outside
 * libcoap callbacks). */
static void ho_cut(coap_session_t *s)
{
    coap_session_reference(s);
    coap_session_disconnected(s, COAP_NACK_TLS_FAILED);
    coap_session_release(s);
}

/* Lets the oldest held HELLO go; false when none is held. */
static bool ho_let_go_oldest(struct runtime_coap *c)
{
    struct half_open *old = NULL;
    for (size_t i = 0; i < c->n_ho; i++)
        if (c->ho[i].st == HO_HELD && (!old || c->ho[i].since_ms < old->since_ms))
            old = &c->ho[i];
    if (!old)
        return false;
    coap_session_release(old->s);
    ho_set(c, old, HO_LET_GO);
    return true;
}

/* One entry at tick time; counts what it reaped. */
static void ho_tick_one(struct runtime_coap *c, size_t *i, int64_t now, unsigned *hello,
                        unsigned *hs)
{
    struct half_open *e = &c->ho[*i];
    bool is_hello = coap_session_get_type(e->s) == COAP_SESSION_TYPE_HELLO;
    if (coap_session_get_state(e->s) == COAP_SESSION_STATE_ESTABLISHED) {
        ho_drop(c, (*i)--);                     /* done: no longer followed */
        return;
    }
    if (e->st == HO_HELD && !is_hello) {        /* its cookie came back after all */
        coap_session_release(e->s);
        e->since_ms = now;
        ho_set(c, e, HO_OPEN);
        return;
    }
    if (e->st != HO_OPEN || now - e->since_ms < (int64_t)c->o.handshake_timeout_s * 1000)
        return;
    ho_cut(e->s);
    if (!is_hello) {
        ho_set(c, e, HO_REAPED);
        (*hs)++;
        return;
    }
    (*hello)++;
    if (c->n_held >= HOLD_MAX)
        ho_let_go_oldest(c);
    coap_session_reference(e->s);
    ho_set(c, e, HO_HELD);
}

static void on_reap(struct runtime_loop *loop, void *arg)
{
    struct runtime_coap *c = arg;
    int64_t now = runtime_loop_now_ms(loop);
    unsigned hello = 0, hs = 0;
    for (size_t i = 0; i < c->n_ho; i++)
        ho_tick_one(c, &i, now, &hello, &hs);
    /* Let old held ones go while libcoap's count is low: they are evicted
     * by later arrivals (over 30 s old) and free their memory. */
    size_t bound = (size_t)c->stats.max_handshakes, budget = bound / 8 + 1;
    while (budget-- && c->n_held && c->n_open + c->n_let_go < bound / 2) {
        struct half_open *old = NULL;
        for (size_t i = 0; i < c->n_ho; i++)
            if (c->ho[i].st == HO_HELD && (!old || c->ho[i].since_ms < old->since_ms))
                old = &c->ho[i];
        if (!old || now - old->since_ms < LIBCOAP_PARTIAL_MS || !ho_let_go_oldest(c))
            break;
    }
    STAT_ADD(c, dtls_reaped_hello, hello);
    STAT_ADD(c, dtls_reaped_handshake, hs);
    ho_publish(c);
    if (hello || hs) {
        ls_log_info("dtls_half_open_reaped", "hello=%u handshake=%u tracked=%zu held=%zu "
                    "timeout_s=%u", hello, hs, c->n_ho, c->n_held, c->o.handshake_timeout_s);
        runtime_coap_kick(c);   /* libcoap frees the ended sessions */
    }
    if (!c->n_ho)
        runtime_loop_timer_stop(loop, &c->reaper);
}

/* Before the context is freed: it asserts every session is unreferenced. */
static void ho_release_all(struct runtime_coap *c)
{
    for (size_t i = 0; i < c->n_ho; i++)
        if (c->ho[i].st == HO_HELD) {
            coap_session_release(c->ho[i].s);
            ho_set(c, &c->ho[i], HO_LET_GO);
        }
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct runtime_coap *c = runtime_coap_from_context(coap_session_get_context(s));
    if (!c)
        return 0;
    /* Live server sessions, logged at shutdown (bench/results/scaling.md). */
    if (ev == COAP_EVENT_SERVER_SESSION_NEW) {
        c->live++;
        if (c->live > c->live_max)
            c->live_max = c->live;
        ho_add(c, s);
    } else if (ev == COAP_EVENT_SERVER_SESSION_DEL) {
        c->live--;
        c->freed++;
        if (c->n_ho && coap_session_get_proto(s) == COAP_PROTO_DTLS)
            ho_del(c, s);
    }
    if (ev == COAP_EVENT_SERVER_SESSION_NEW || ev == COAP_EVENT_SERVER_SESSION_DEL)
        __atomic_store_n(&c->stats.sessions_live, (uint64_t)(c->live > 0 ? c->live : 0),
                         __ATOMIC_RELAXED);
    switch (ev) {
    case COAP_EVENT_DTLS_ERROR:
        STAT_ADD(c, dtls_failures, 1);
        hs_ended(c, s, true, coap_session_get_state(s) == COAP_SESSION_STATE_ESTABLISHED);
        /* fall through */
    case COAP_EVENT_DTLS_CLOSED:
        if (ev == COAP_EVENT_DTLS_CLOSED)
            STAT_ADD(c, dtls_closed, 1);
        /* fall through */
    case COAP_EVENT_SERVER_SESSION_DEL:
        /* A kept DTLS session that is closed must be released now, or a new
         * handshake from the same address is ignored (LIBCOAP.md section 3).
         * Releasing inside the event handler was verified safe. */
        if (c->o.session_gone)
            c->o.session_gone(c->o.session_gone_arg, s);
        if (ev == COAP_EVENT_SERVER_SESSION_DEL) {
            cn_forget(c, s);
            hs_ended(c, s, false, false);
        }
        break;
    default:
        break;
    }
    return 0;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    struct runtime_coap *c = runtime_coap_from_context(coap_session_get_context(s));
    if (!c)
        return;
    if (c->nack)
        c->nack(c->nack_arg, s, sent, reason);
    if (reason == COAP_NACK_RST && set_has(&c->probing, s)) {
        /* The old peer answered the probe: alive.  Back to defaults. */
        coap_session_set_ack_timeout(s, COAP_DEFAULT_ACK_TIMEOUT);
        coap_session_set_max_retransmit(s, COAP_DEFAULT_MAX_RETRANSMIT);
        set_del(&c->probing, s);
    } else if (reason == COAP_NACK_TOO_MANY_RETRIES && runtime_coap_session_is_dtls(s)) {
        runtime_coap_disconnect_later(c, s);
    }
}

static void size_rcvbuf(const coap_endpoint_t *ep, int family);

static coap_endpoint_t *bind_endpoint(struct runtime_coap *c, const struct runtime_addr *a,
                                      coap_proto_t proto, struct ls_error *err)
{
    coap_address_t addr;
    coap_address_init(&addr);
    memcpy(&addr.addr, &a->ss, a->len);
    addr.size = a->len;
    coap_endpoint_t *ep = coap_new_endpoint(c->ctx, &addr, proto);
    if (!ep) {
        char buf[RUNTIME_ADDR_STR_MAX];
        ls_error_set(err, LS_EIO, "%s: cannot listen on %s",
                     proto == COAP_PROTO_DTLS ? "--coaps" : "--coap",
                     runtime_addr_format((const struct sockaddr *)&a->ss, a->len, buf));
        return NULL;
    }
    coap_endpoint_set_default_mtu(ep, COAP_DEFAULT_MTU);
    size_rcvbuf(ep, a->ss.ss_family);
    return ep;
}

/*
 * Receive buffer.  A registration storm arrives in bursts (hundreds of
 * devices at once) while the loop thread is busy; with the kernel's default
 * 208 KiB buffer the measured storm lost 1-3 % of its datagrams ("receive
 * buffer errors"), each costing the device a 2 s retransmission.  libcoap
 * 4.3.1 has no call to size an endpoint's socket or to get its fd, so the
 * fd is found by its bound address.  SO_RCVBUFFORCE (CAP_NET_ADMIN) goes
 * past net.core.rmem_max; without the capability SO_RCVBUF gets what the
 * sysctl allows.  Best effort: failure only costs retransmissions.
 */
#define RCVBUF_BYTES (8 << 20)

static void size_rcvbuf(const coap_endpoint_t *ep, int family)
{
    const char *text = coap_endpoint_str(ep);
    const char *sp = strchr(text, ' ');
    const char *colon = sp ? memrchr(text, ':', (size_t)(sp - text)) : NULL;
    int port = colon ? atoi(colon + 1) : 0, size = RCVBUF_BYTES;
    for (int fd = 0; fd < 4096 && port; fd++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 || ss.ss_family != family ||
            runtime_addr_port((struct sockaddr *)&ss) != port ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0)
            ls_log_debug("coap_rcvbuf", "error=\"%s\"", strerror(errno));
        return;
    }
}

char *runtime_coap_bound(const struct runtime_coap *c, bool dtls, char *buf)
{
    const coap_endpoint_t *ep = dtls ? c->ep_dtls : c->ep_udp;
    buf[0] = '\0';
    if (!ep)
        return buf;
    /* coap_endpoint_str prints the bound address (libcoap reads it back
     * with getsockname after bind, so port 0 shows the real port) followed
     * by " UDP" / " DTLS". */
    const char *s = coap_endpoint_str(ep);
    size_t n = strcspn(s, " ");
    if (n >= RUNTIME_ADDR_STR_MAX)
        n = RUNTIME_ADDR_STR_MAX - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}


/* ---- X.509: the CN of each session ---- */

static size_t cn_bucket(const coap_session_t *s)
{
    return ((uintptr_t)s >> 4) % CN_BUCKETS;
}

static void cn_forget(struct runtime_coap *c, const coap_session_t *s)
{
    struct cn_entry **p = &c->cns[cn_bucket(s)];
    while (*p) {
        if ((*p)->session == s) {
            struct cn_entry *e = *p;
            *p = e->next;
            free(e);
            return;
        }
        p = &(*p)->next;
    }
}

static const struct cn_entry *cn_find(const struct runtime_coap *c, const coap_session_t *s)
{
    for (const struct cn_entry *e = c->cns[cn_bucket(s)]; e; e = e->next)
        if (e->session == s)
            return e;
    return NULL;
}

const char *runtime_coap_session_cn(const struct runtime_coap *c, const coap_session_t *s)
{
    const struct cn_entry *e = cn_find(c, s);
    return e && !e->rpk ? e->cn : NULL;
}

const char *runtime_coap_session_rpk_endpoint(const struct runtime_coap *c,
                                              const coap_session_t *s)
{
    const struct cn_entry *e = cn_find(c, s);
    return e && e->rpk ? e->cn : NULL;
}

const char *runtime_coap_session_rpk_id(const struct runtime_coap *c, const coap_session_t *s)
{
    const struct cn_entry *e = cn_find(c, s);
    return e && e->rpk && e->key_id[0] ? e->key_id : NULL;
}

const char *runtime_coap_session_cert_id(const struct runtime_coap *c, const coap_session_t *s)
{
    const struct cn_entry *e = cn_find(c, s);
    return e && !e->rpk && e->key_id[0] ? e->key_id : NULL;
}

/* "sha256:" and the hex of the first 16 bytes of SHA-256(spki): names the
 * key stably in registrations and logs without being a secret. */
static void key_id(const uint8_t *spki, size_t len, char out[RUNTIME_COAP_KEY_ID_LEN + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    out[0] = '\0';
    if (!EVP_Digest(spki, len, md, &n, EVP_sha256(), NULL) || n < 16)
        return;
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < 16; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Called by libcoap for each certificate of the chain once the TLS checks
 * (CA, validity) passed; depth 0 is the device's own certificate. */
static int on_cn(const char *cn, const uint8_t *der, size_t der_len, coap_session_t *s,
                 unsigned depth, int validated, void *arg)
{
    struct runtime_coap *c = arg;
    bool rpk = c->o.rpk != NULL;
    if (!validated || !cn)
        return 0;
    if (depth > 0)
        return 1;
    if (rpk) {
        /* libcoap checks a raw public key against nothing: the key must be
         * one we hold for some endpoint (LIBCOAP.md section 1). */
        cn = c->o.rpk(c->o.rpk_arg, der, der_len);
        if (!cn) {
            ls_log_info("dtls_refused", "reason=\"unknown raw public key\"");
            return 0;
        }
    } else if (c->o.x509 && !c->o.x509(c->o.x509_arg, cn, der, der_len)) {
        ls_log_info("dtls_refused", "reason=\"certificate refused\"");   /* revoked */
        return 0;
    }
    cn_forget(c, s);
    size_t n = strlen(cn);
    struct cn_entry *e = malloc(sizeof *e + n + 1);
    if (!e)
        return 0;
    e->session = s;
    e->rpk = rpk;
    e->key_id[0] = '\0';
    key_id(der, der_len, e->key_id);    /* RPK: the key's id; X.509: the certificate's */
    memcpy(e->cn, cn, n + 1);
    e->next = c->cns[cn_bucket(s)];
    c->cns[cn_bucket(s)] = e;
    hs_authenticated(c, s);
    return 1;
}

/* RPK: the server's own key, PEM, read into memory (libcoap refuses PEM
 * files for RPK; the same buffer serves as "certificate" and key). */
static enum ls_rc setup_rpk(struct runtime_coap *c, struct ls_error *err)
{
    FILE *f = fopen(c->o.key_file, "r");
    char *buf = calloc(1, 8192);
    size_t n = f && buf ? fread(buf, 1, 8191, f) : 0;
    if (f)
        fclose(f);
    if (!n) {
        free(buf);
        return ls_error_set(err, LS_EINVAL, "--dtls-key: cannot read %s", c->o.key_file);
    }
    c->rpk_pem = buf;
    c->rpk_pem_len = 8192;
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 1;
    pki.is_rpk_not_cert = 1;
    pki.validate_cn_call_back = on_cn;
    pki.cn_call_back_arg = c;
    pki.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
    pki.pki_key.key.pem_buf.public_cert = (const uint8_t *)buf;
    pki.pki_key.key.pem_buf.private_key = (const uint8_t *)buf;
    pki.pki_key.key.pem_buf.public_cert_len = n + 1;
    pki.pki_key.key.pem_buf.private_key_len = n + 1;
    int ok = coap_context_set_pki(c->ctx, &pki);
    if (!ok)
        return ls_error_set(err, LS_EIO, "--dtls-key: cannot use it as a raw public key");
    return LS_OK;
}

static enum ls_rc setup_pki(struct runtime_coap *c, struct ls_error *err)
{
    if (c->o.rpk && !c->o.cert_file && c->o.key_file)
        return setup_rpk(c, err);
    c->o.rpk = NULL;        /* X.509: on_cn records certificate CNs */
    if (!c->o.cert_file || !c->o.key_file || !c->o.ca_file)
        return ls_error_set(err, LS_EINVAL,
                            "--dtls-cert, --dtls-key and --ca-file go together");
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 1;
    pki.check_common_ca = 1;
    pki.cert_chain_validation = 1;
    pki.cert_chain_verify_depth = 3;
    pki.validate_cn_call_back = on_cn;
    pki.cn_call_back_arg = c;
    pki.pki_key.key_type = COAP_PKI_KEY_PEM;
    pki.pki_key.key.pem.public_cert = c->o.cert_file;
    pki.pki_key.key.pem.private_key = c->o.key_file;
    pki.pki_key.key.pem.ca_file = c->o.ca_file;
    if (!coap_context_set_pki(c->ctx, &pki))
        return ls_error_set(err, LS_EIO, "--dtls-cert: cannot load the certificate or key");
    return LS_OK;
}

static enum ls_rc setup_dtls(struct runtime_coap *c, struct ls_error *err)
{
    if (!coap_dtls_is_supported() || !c->o.psk)
        return ls_error_set(err, LS_EINVAL, "--coaps: DTLS is not available");
    coap_dtls_spsk_t spsk;
    memset(&spsk, 0, sizeof spsk);
    spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
    spsk.validate_id_call_back = on_psk_identity;
    spsk.id_call_back_arg = c;
    if (!coap_context_set_psk2(c->ctx, &spsk))
        return ls_error_set(err, LS_EIO, "--coaps: cannot set up DTLS-PSK");
    if (c->o.cert_file || c->o.key_file)
        return setup_pki(c, err);
    return LS_OK;
}

static enum ls_rc open_endpoints(struct runtime_coap *c, struct ls_error *err)
{
    char buf[RUNTIME_ADDR_STR_MAX];
    if (c->o.coaps && setup_dtls(c, err) != LS_OK)
        return err ? err->code : LS_EIO;
    if (c->o.coap && !(c->ep_udp = bind_endpoint(c, c->o.coap, COAP_PROTO_UDP, err)))
        return LS_EIO;
    if (c->o.coaps && !(c->ep_dtls = bind_endpoint(c, c->o.coaps, COAP_PROTO_DTLS, err)))
        return LS_EIO;
    if (c->ep_udp)
        ls_log_info("listening", "proto=coap addr=%s", runtime_coap_bound(c, false, buf));
    if (c->ep_dtls)
        ls_log_info("listening", "proto=coaps addr=%s", runtime_coap_bound(c, true, buf));
    return LS_OK;
}

struct runtime_coap *runtime_coap_start(struct runtime_loop *loop,
                                        const struct runtime_coap_options *o,
                                        struct ls_error *err)
{
    struct runtime_coap *c = calloc(1, sizeof *c);
    if (!c) {
        ls_error_set(err, LS_ENOMEM, "coap: out of memory");
        return NULL;
    }
    coap_startup();
    coap_set_log_handler(coap_log_to_ours);
    coap_set_log_level(LOG_WARNING);
    runtime_dtls_flight_link();
    c->loop = loop;
    c->o = *o;
    runtime_loop_timer_init(&c->kick, on_kick, c);
    runtime_loop_timer_init(&c->reaper, on_reap, c);
    c->stats.max_handshakes = o->max_handshakes ? o->max_handshakes : 100;
    c->ctx = coap_new_context(NULL);
    if (!c->ctx) {
        ls_error_set(err, LS_EIO, "coap: cannot create a context");
        goto fail;
    }
    coap_set_app_data(c->ctx, c);
    for (size_t i = 0; i < MAX_CONTEXTS; i++)
        if (!contexts[i]) {
            contexts[i] = c;
            break;
        }
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    if (o->session_timeout_s)
        coap_context_set_session_timeout(c->ctx, o->session_timeout_s);
    if (o->max_idle_sessions)
        coap_context_set_max_idle_sessions(c->ctx, o->max_idle_sessions);
    if (o->max_handshakes)
        coap_context_set_max_handshake_sessions(c->ctx, o->max_handshakes);
    coap_register_event_handler(c->ctx, on_event);
    coap_register_nack_handler(c->ctx, on_nack);
    if (open_endpoints(c, err) != LS_OK)
        goto fail;
    int fd = coap_context_get_coap_fd(c->ctx);
    if (fd < 0) {
        ls_error_set(err, LS_EIO, "coap: libcoap has no epoll fd (build without epoll)");
        goto fail;
    }
    if (runtime_loop_watch_add(loop, fd, RUNTIME_LOOP_IN, on_ready, c, &c->watch, err) != LS_OK)
        goto fail;
    /* Arms libcoap's internal timerfd (LIBCOAP.md section 5). */
    coap_io_process(c->ctx, COAP_IO_NO_WAIT);
    return c;
fail:
    runtime_coap_free(c);
    return NULL;
}

void runtime_coap_free(struct runtime_coap *c)
{
    if (!c)
        return;
    ls_log_info("coap_sessions", "live=%ld max=%ld freed=%ld", c->live, c->live_max, c->freed);
    runtime_loop_timer_stop(c->loop, &c->kick);
    runtime_loop_timer_stop(c->loop, &c->reaper);
    runtime_loop_watch_remove(c->loop, c->watch);
    for (size_t i = 0; i < MAX_CONTEXTS; i++)
        if (contexts[i] == c)
            contexts[i] = NULL;
    while (c->n_doomed)
        coap_session_release(c->doomed[--c->n_doomed]);
    ho_release_all(c);
    free(c->doomed);
    set_clear(&c->suspects);
    set_clear(&c->probing);
    /* The context frees its sessions; their CN entries go with them. */
    for (size_t i = 0; i < CN_BUCKETS; i++)
        while (c->cns[i]) {
            struct cn_entry *e = c->cns[i];
            c->cns[i] = e->next;
            free(e);
        }
    if (c->ctx) {
        /* Events fired while freeing must not reach users who are gone. */
        c->o.session_gone = NULL;
        coap_free_context(c->ctx);
    }
    free(c->hs.slot);      /* after the context: its sessions' deletions use it */
    free(c->ho);
    if (c->rpk_pem) {
        explicit_bzero(c->rpk_pem, c->rpk_pem_len);
        free(c->rpk_pem);
    }
    free(c);
}

coap_context_t *runtime_coap_context(const struct runtime_coap *c)
{
    return c->ctx;
}

struct runtime_coap *runtime_coap_from_context(const coap_context_t *ctx)
{
    return ctx ? coap_get_app_data(ctx) : NULL;
}

void runtime_coap_session_keep(coap_session_t *s)
{
    uint8_t seed[8];
    coap_prng(seed, sizeof seed);
    coap_session_init_token(s, sizeof seed, seed);
    coap_session_set_no_observe_cancel(s);
}

char *runtime_coap_session_addr(const coap_session_t *s, char *buf)
{
    const coap_address_t *a = coap_session_get_addr_remote(s);
    if (!a) {
        strcpy(buf, "?");
        return buf;
    }
    if (a->addr.sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->addr.sin6.sin6_addr)) {
        /* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; print
         * what the device would recognise. */
        struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = a->addr.sin6.sin6_port };
        memcpy(&v4.sin_addr, &a->addr.sin6.sin6_addr.s6_addr[12], 4);
        return runtime_addr_format((const struct sockaddr *)&v4, sizeof v4, buf);
    }
    return runtime_addr_format(&a->addr.sa, a->size, buf);
}

bool runtime_coap_session_is_dtls(const coap_session_t *s)
{
    return coap_session_get_proto(s) == COAP_PROTO_DTLS;
}

const uint8_t *runtime_coap_session_psk_identity(const coap_session_t *s, size_t *len)
{
    /* Never NULL for a live session in 4.3.1: UDP, X.509 and RPK sessions
     * give length 0 (LIBCOAP.md section 3). */
    const coap_bin_const_t *id = coap_session_get_psk_identity(s);
    *len = id ? id->length : 0;
    return *len ? id->s : NULL;
}

void runtime_coap_stats(const struct runtime_coap *c, struct runtime_coap_stats *out)
{
    const uint64_t *in = (const uint64_t *)&c->stats;
    uint64_t *o = (uint64_t *)out;
    /* Every field is a uint64_t: load them one by one, atomically. */
    _Static_assert(sizeof *out % sizeof(uint64_t) == 0, "runtime_coap_stats: uint64_t only");
    for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
        o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
}

void runtime_coap_write_flood_metrics(const struct runtime_coap_stats *cs, FILE *out)
{
    fprintf(out, "# HELP lodestar_dtls_sessions_created_total DTLS server sessions created "
                 "(a ClientHello from a new address).\n"
                 "# TYPE lodestar_dtls_sessions_created_total counter\n"
                 "lodestar_dtls_sessions_created_total %llu\n"
                 "# HELP lodestar_dtls_half_open_sessions DTLS sessions not yet established "
                 "and not yet reaped (0 when --dtls-handshake-timeout is 0).\n# TYPE lodestar_dtls_half_open_sessions gauge\n"
                 "lodestar_dtls_half_open_sessions %llu\n"
                 "# HELP lodestar_dtls_half_open_reaped_total Half-open DTLS sessions dropped "
                 "after --dtls-handshake-timeout: hello = the cookie never came back, "
                 "handshake = it did, the handshake never finished.\n"
                 "# TYPE lodestar_dtls_half_open_reaped_total counter\n"
                 "lodestar_dtls_half_open_reaped_total{stage=\"hello\"} %llu\n"
                 "lodestar_dtls_half_open_reaped_total{stage=\"handshake\"} %llu\n"
                 "# HELP lodestar_dtls_hello_held Reaped HelloVerifyRequest-stage sessions "
                 "held out of libcoap's handshake count (at most 8192).\n"
                 "# TYPE lodestar_dtls_hello_held gauge\nlodestar_dtls_hello_held %llu\n"
                 "# HELP lodestar_dtls_max_handshakes DTLS sessions allowed in handshake at "
                 "once (--dtls-max-handshakes).\n# TYPE lodestar_dtls_max_handshakes gauge\n"
                 "lodestar_dtls_max_handshakes %llu\n"
                 "# HELP lodestar_coap_sessions CoAP server sessions (UDP and DTLS) now.\n"
                 "# TYPE lodestar_coap_sessions gauge\nlodestar_coap_sessions %llu\n",
            (unsigned long long)cs->dtls_sessions_new, (unsigned long long)cs->dtls_half_open,
            (unsigned long long)cs->dtls_reaped_hello,
            (unsigned long long)cs->dtls_reaped_handshake, (unsigned long long)cs->dtls_held,
            (unsigned long long)cs->max_handshakes, (unsigned long long)cs->sessions_live);
}

/* ---- issue 5: NACK hook, sessions to NoSec devices ---- */

void runtime_coap_set_user(struct runtime_coap *c, void *user)
{
    c->user = user;
}

void *runtime_coap_user(const struct runtime_coap *c)
{
    return c->user;
}

void runtime_coap_set_nack(struct runtime_coap *c, runtime_coap_nack_fn *fn, void *arg)
{
    c->nack = fn;
    c->nack_arg = arg;
}

/* "127.0.0.1:40000" / "[::1]:40000" -> address; numeric only (no DNS on
 * the loop thread). */
static bool parse_numeric(const char *text, coap_address_t *a)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port <= 0 || port > 65535)
        return false;
    size_t hl = (size_t)(colon - text);
    memcpy(host, text, hl);
    host[hl] = '\0';
    coap_address_init(a);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        a->addr.sin6.sin6_family = AF_INET6;
        a->addr.sin6.sin6_port = htons((uint16_t)port);
        a->size = sizeof a->addr.sin6;
        return inet_pton(AF_INET6, host + 1, &a->addr.sin6.sin6_addr) == 1;
    }
    a->addr.sin.sin_family = AF_INET;
    a->addr.sin.sin_port = htons((uint16_t)port);
    a->size = sizeof a->addr.sin;
    return inet_pton(AF_INET, host, &a->addr.sin.sin_addr) == 1;
}

/* The same IPv4 peer as a dual-stack socket sees it: ::ffff:a.b.c.d. */
static void v4_mapped(const coap_address_t *v4, coap_address_t *out)
{
    coap_address_init(out);
    out->addr.sin6.sin6_family = AF_INET6;
    out->addr.sin6.sin6_port = v4->addr.sin.sin_port;
    out->addr.sin6.sin6_addr.s6_addr[10] = 0xff;
    out->addr.sin6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&out->addr.sin6.sin6_addr.s6_addr[12], &v4->addr.sin.sin_addr, 4);
    out->size = sizeof out->addr.sin6;
}

/* libcoap keys server sessions by (remote address, interface index), and
 * the index is the one the datagram arrived on, which the registry does
 * not record: try each interface (a handful; listed once). */
static coap_session_t *find_by_peer(struct runtime_coap *c, const coap_address_t *a)
{
    if (!c->n_ifindex) {
        struct if_nameindex *list = if_nameindex();
        c->ifindex[c->n_ifindex++] = 0;
        for (struct if_nameindex *i = list; i && i->if_index && c->n_ifindex < 16; i++)
            c->ifindex[c->n_ifindex++] = i->if_index;
        if (list)
            if_freenameindex(list);
    }
    for (size_t i = 0; i < c->n_ifindex; i++) {
        coap_session_t *s = coap_session_get_by_peer(c->ctx, a, (int)c->ifindex[i]);
        if (s && coap_session_get_proto(s) == COAP_PROTO_UDP &&
            coap_session_get_state(s) == COAP_SESSION_STATE_ESTABLISHED)
            return s;
    }
    return NULL;
}

static coap_session_t *new_client_session(struct runtime_coap *c, const coap_address_t *peer,
                                          struct ls_error *err)
{
    char bound[RUNTIME_ADDR_STR_MAX];
    coap_address_t local, remote = *peer;
    if (!runtime_coap_bound(c, false, bound)[0] || !parse_numeric(bound, &local)) {
        ls_error_set(err, LS_EIO, "no UDP endpoint to reach a NoSec device from");
        return NULL;
    }
    if (local.addr.sa.sa_family == AF_INET6 && peer->addr.sa.sa_family == AF_INET)
        v4_mapped(peer, &remote);
    coap_session_t *s = coap_new_client_session(c->ctx, &local, &remote, COAP_PROTO_UDP);
    if (!s) {
        ls_error_set(err, LS_EIO, "cannot open a CoAP session to %s", bound);
        return NULL;
    }
    runtime_coap_session_keep(s);
    return s;
}

coap_session_t *runtime_coap_session_for(struct runtime_coap *c, const char *addr,
                                         struct ls_error *err)
{
    coap_address_t a, mapped;
    if (!addr || !parse_numeric(addr, &a)) {
        ls_error_set(err, LS_EINVAL, "device address \"%s\" is not HOST:PORT",
                     addr ? addr : "");
        return NULL;
    }
    coap_session_t *s = find_by_peer(c, &a);
    if (!s && a.addr.sa.sa_family == AF_INET) {
        v4_mapped(&a, &mapped);
        s = find_by_peer(c, &mapped);
    }
    if (s) {
        /* A NoSec server session is not held by the registry, so it may
         * never have had the hygiene, and its app data is the registry's
         * to use: give it again (a re-seed of a random token counter). */
        runtime_coap_session_keep(s);
        return s;
    }
    return new_client_session(c, &a, err);
}
