/*
 * bootstrap/bootstrap.c -- lodestar-bootstrap: endpoints, requests, sessions
 *
 * Assembly of the Bootstrap-Server (Transport TS 1.2 "Bootstrap
 * Interface"): runtime/coap endpoints with PSK from the 'bootstrap'
 * credentials (store/credentials.h loads them into a runtime/credcache
 * table and its watcher reloads it on NOTIFY -- the same code the server
 * uses), X.509 or RPK as lodestar-server; the POST /bs and GET /bspack
 * handlers; the life of a bs_session from request to record.
 *
 * A REQUEST.  The handler checks who is asking (the endpoint named by ep=
 * must be the one the DTLS identity, certificate or key is bound to: 4.01
 * otherwise; ep missing on a secure session means that endpoint; missing
 * on NoSec is 4.00; a NoSec request for an endpoint that has live
 * bootstrap PSK credentials is 4.01 at once), applies the per-endpoint
 * rate limit (4.29), then parks the request with libcoap's async support
 * (empty ACK now) while a database thread resolves the configuration and
 * issues credentials (bootstrap/db.h).  Back on the loop the async is
 * triggered and the handler's second call answers: 2.04 and the sequence
 * starts after the answer went out (session.c), 4.00 when no
 * configuration applies, 5.03 when the database is away; /bspack answers
 * the pack (pack.c).
 *
 * NOSEC.  Nothing authenticates a NoSec client, so a NoSec request must
 * never get keys for a device that has a secure way in: the resolution of
 * a NoSec request (store_bsconfigs_resolve_nosec) refuses it, in the same
 * query, when the endpoint has a bootstrap credential in any state
 * (revoked too) or any factory credential; a configuration with
 * "allow_nosec": false refuses it too.  Both are 4.01, an event with cause
 * "nosec_refused" and lodestar_bootstrap_nosec_refused_total, and nothing
 * is issued (no configuration is kept, so resolve_done issues nothing).
 *
 * DEFERRED WORK.  Nothing is sent from inside a libcoap callback
 * (LIBCOAP.md section 5): responses, NACKs and session deaths only mark a
 * session ready; after coap_io_process the ready list is advanced (next
 * request sent) or, for ended sessions, recorded and freed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bootstrap/bootstrap_int.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/db.h"
#include "lwm2m/format.h"
#include "lwm2m/model.h"
#include "runtime/coap.h"
#include "runtime/config.h"
#include "runtime/credcache.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/metrics.h"
#include "store/bsconfigs.h"
#include "store/bssessions.h"
#include "store/credentials.h"
#include "store/store.h"

#define DB_THREADS 3
#define RATE_WINDOW_MS 60000
#define RATE_BUCKETS 4096
#define COAP_TOO_MANY_REQUESTS COAP_RESPONSE_CODE(429)

static const double duration_bounds_s[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1, 2.5, 5, 10, 30 };
#define N_BOUNDS (sizeof duration_bounds_s / sizeof duration_bounds_s[0])

const char *bs_cause_name(enum bs_cause c)
{
    static const char *const names[BS_CAUSE_COUNT] = {
        "none", "timeout", "device_error", "finish_rejected", "session_closed",
        "internal", "superseded",
    };
    return (unsigned)c < BS_CAUSE_COUNT ? names[c] : "internal";
}

/* ------------------------------------------------------------------ */
/* rate limit: endpoint -> requests in the current window              */

struct rate_entry {
    struct rate_entry *next;
    int64_t window_start_ms;
    unsigned count;
    char endpoint[];
};

struct bs_rate {
    struct rate_entry *bucket[RATE_BUCKETS];
};

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % RATE_BUCKETS;
}

/* true when endpoint may make one more request now */
static bool rate_allow(struct bootstrap_server *b, const char *endpoint, int64_t now)
{
    if (!b->rate_limit)
        return true;
    struct rate_entry **p = &b->rate->bucket[hash_str(endpoint)], *e = *p;
    while (e && strcmp(e->endpoint, endpoint) != 0)
        e = e->next;
    if (!e) {
        e = calloc(1, sizeof *e + strlen(endpoint) + 1);
        if (!e)
            return true;   /* best effort: never refuse for our own shortage */
        strcpy(e->endpoint, endpoint);
        e->next = *p;
        *p = e;
        e->window_start_ms = now;
    }
    if (now - e->window_start_ms >= RATE_WINDOW_MS) {
        e->window_start_ms = now;
        e->count = 0;
    }
    return ++e->count <= b->rate_limit;
}

static void rate_prune(struct runtime_loop *loop, void *arg)
{
    struct bootstrap_server *b = arg;
    int64_t now = runtime_loop_now_ms(loop);
    for (size_t i = 0; i < RATE_BUCKETS; i++) {
        for (struct rate_entry **p = &b->rate->bucket[i]; *p;) {
            struct rate_entry *e = *p;
            if (now - e->window_start_ms >= RATE_WINDOW_MS) {
                *p = e->next;
                free(e);
            } else {
                p = &e->next;
            }
        }
    }
}

static void rate_free(struct bs_rate *r)
{
    for (size_t i = 0; r && i < RATE_BUCKETS; i++) {
        for (struct rate_entry *e = r->bucket[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    free(r);
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */

static void session_free(struct bs_session *bs)
{
    struct bootstrap_server *b = bs->b;
    for (struct bs_session **p = &b->sessions; *p; p = &(*p)->next_all) {
        if (*p == bs) {
            *p = bs->next_all;
            break;
        }
    }
    for (struct bs_session **p = &b->ready; *p; p = &(*p)->next_ready) {
        if (*p == bs) {
            *p = bs->next_ready;
            break;
        }
    }
    runtime_loop_timer_stop(b->loop, &bs->deadline);
    if (bs->session)
        coap_session_release(bs->session);
    lwm2m_bsconfig_plan_free(&bs->plan);
    for (size_t i = 0; bs->issued && i < bs->cfg->n_servers; i++)
        bootstrap_x509_issued_clear(&bs->issued[i].x509);
    if (bs->issued)
        explicit_bzero(bs->issued, sizeof *bs->issued * (bs->cfg->n_servers + 1));
    free(bs->issued);
    lwm2m_bsconfig_free(bs->cfg);
    free(bs->config_name);
    json_decref(bs->requests);
    free(bs);
}

void bs_session_ready(struct bs_session *bs)
{
    if (bs->in_ready)
        return;
    bs->in_ready = true;
    bs->next_ready = bs->b->ready;
    bs->b->ready = bs;
}

void bs_session_note(struct bs_session *bs, const char *op, const char *path,
                     coap_pdu_code_t code)
{
    char c[16] = "none";
    if (code)
        snprintf(c, sizeof c, "%d.%02d", code >> 5, code & 0x1f);
    json_array_append_new(bs->requests, json_pack("{s:s,s:s,s:s}", "op", op, "path",
                                                  path ? path : "", "code", c));
}

void bs_session_end(struct bs_session *bs, bool success, enum bs_cause cause,
                    const char *fmt, ...)
{
    if (bs->finished)
        return;
    bs->finished = true;
    bs->success = success;
    bs->cause = success ? BS_CAUSE_NONE : cause;
    bs->step = BS_STEP_DONE;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(bs->cause_text, sizeof bs->cause_text, fmt, ap);
        va_end(ap);
    }
    runtime_loop_timer_stop(bs->b->loop, &bs->deadline);
    bs_session_ready(bs);
}

static void on_deadline(struct runtime_loop *loop, void *arg)
{
    struct bs_session *bs = arg;
    if (bs->outstanding)   /* the unanswered request goes into the record */
        bs_session_note(bs, bs_step_name(bs->step), NULL, 0);
    bs_session_end(bs, false, BS_CAUSE_TIMEOUT, "session deadline of %lld s passed in %s",
                   bs->cfg ? (long long)bs->cfg->session_timeout_s
                           : (long long)LWM2M_BSCONFIG_SESSION_TIMEOUT_S,
                   bs->outstanding ? "a request" : "the sequence");
}

static struct bs_session *session_by_coap(struct bootstrap_server *b, const coap_session_t *s)
{
    for (struct bs_session *bs = b->sessions; bs; bs = bs->next_all)
        if (bs->session == s && !bs->finished)
            return bs;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* records                                                             */

struct record_job {
    char *endpoint, *config, *address, *detail;
    const char *outcome;
    int64_t duration_ms;
    bool refused;
};

/* A round of records, one transaction (store_bssessions_record_batch). */
static void record_batch(struct store *s, void **jobs, size_t n)
{
    struct store_bssession *rs = calloc(n, sizeof *rs);
    enum ls_rc *rcs = calloc(n, sizeof *rcs);
    struct ls_error err = { 0 };
    if (!rs || !rcs) {
        ls_log_warn("bootstrap_record_failed", "records=%zu error=\"out of memory\"", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct record_job *j = jobs[i];
        rs[i] = (struct store_bssession){
            .endpoint = j->endpoint, .config_name = j->config, .address = j->address,
            .outcome = j->outcome, .duration_ms = j->duration_ms, .detail_json = j->detail,
            .event_only = j->refused,
        };
    }
    if (store_bssessions_record_batch(s, rs, n, rcs, &err) != LS_OK)
        for (size_t i = 0; i < n; i++)
            if (rcs[i] != LS_OK)
                ls_log_warn("bootstrap_record_failed", "endpoint=\"%s\" error=\"%s\"",
                            rs[i].endpoint, err.msg);
out:
    free(rs);
    free(rcs);
}

static void record_done(void *arg, bool cancelled)
{
    struct record_job *j = arg;
    free(j->endpoint);
    free(j->config);
    free(j->address);
    free(j->detail);
    free(j);
}

static void record_submit(struct bootstrap_server *b, struct record_job *j)
{
    struct ls_error err = { 0 };
    if (!j->endpoint || !j->detail ||
        bootstrap_db_submit_batch(b->db, record_batch, record_done, j, &err) != LS_OK) {
        ls_log_warn("bootstrap_record_failed", "endpoint=\"%s\" error=\"%s\"",
                    j->endpoint ? j->endpoint : "", err.msg[0] ? err.msg : "out of memory");
        record_done(j, true);
    }
}

static void observe_duration(struct bootstrap_server *b, int64_t ms)
{
    for (size_t i = 0; i < N_BOUNDS; i++)
        if (ms <= duration_bounds_s[i] * 1000)
            atomic_fetch_add(&b->st.duration_bucket[i], 1);
    atomic_fetch_add(&b->st.duration_count, 1);
    atomic_fetch_add(&b->st.duration_sum_ms, (unsigned long long)ms);
}

/* The session ended: count, log, queue its record, free it. */
static void session_record(struct bs_session *bs)
{
    struct bootstrap_server *b = bs->b;
    int64_t ms = runtime_loop_now_ms(b->loop) - bs->started_ms;
    const char *fmt = bs->format ? lwm2m_format_name(bs->format) : NULL;
    json_t *d = json_pack("{s:s?,s:O,s:b,s:I}", "identity", bs->identity[0] ? bs->identity : NULL,
                          "requests", bs->requests, "pack", bs->pack, "duration_ms",
                          (json_int_t)ms);
    if (d && bs->pct)
        json_object_set_new(d, "pct", json_integer(bs->pct));
    if (d && fmt)
        json_object_set_new(d, "format", json_string(fmt));
    if (d && !bs->success) {
        json_object_set_new(d, "cause", json_string(bs_cause_name(bs->cause)));
        json_object_set_new(d, "cause_detail", json_string(bs->cause_text));
    }
    struct record_job *j = calloc(1, sizeof *j);
    if (j) {
        j->endpoint = strdup(bs->endpoint);
        j->config = bs->config_name ? strdup(bs->config_name) : NULL;
        j->address = strdup(bs->address);
        j->detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
        j->outcome = bs->success ? "success" : bs->cause == BS_CAUSE_TIMEOUT ? "timeout"
                                                                               : "failed";
        j->duration_ms = ms;
        record_submit(b, j);
    }
    json_decref(d);
    atomic_fetch_sub(&b->st.in_progress, 1);
    observe_duration(b, ms);
    if (bs->success) {
        atomic_fetch_add(&b->st.succeeded, 1);
        ls_log_info("bootstrap_finished", "endpoint=\"%s\" config=\"%s\" pack=%d ms=%lld",
                    bs->endpoint, bs->config_name ? bs->config_name : "", bs->pack,
                    (long long)ms);
    } else {
        atomic_fetch_add(&b->st.failed[bs->cause], 1);
        ls_log_info("bootstrap_failed", "endpoint=\"%s\" cause=%s detail=\"%s\" ms=%lld",
                    bs->endpoint, bs_cause_name(bs->cause), bs->cause_text, (long long)ms);
    }
    session_free(bs);
}

/* A request that never became a session: an event (with cause, NULL =
 * none), a counter, a log line. */
static void refuse_cause(struct bootstrap_server *b, coap_pdu_t *resp, coap_pdu_code_t code,
                         const char *endpoint, const char *address, const char *identity,
                         const char *why, const char *cause)
{
    char c[16];
    snprintf(c, sizeof c, "%d.%02d", code >> 5, code & 0x1f);
    coap_pdu_set_code(resp, code);
    if (code == COAP_TOO_MANY_REQUESTS)
        atomic_fetch_add(&b->st.rate_limited, 1);
    else
        atomic_fetch_add(&b->st.refused, 1);
    ls_log_info("bootstrap_refused", "endpoint=\"%s\" address=%s code=%s reason=\"%s\"",
                endpoint ? endpoint : "", address, c, why);
    json_t *d = json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "code", c, "reason", why, "address",
                          address, "identity", identity && *identity ? identity : NULL,
                          "cause", cause);
    struct record_job *j = calloc(1, sizeof *j);
    if (j) {
        j->refused = true;
        j->endpoint = endpoint ? strdup(endpoint) : strdup("");
        j->detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
        record_submit(b, j);
    }
    json_decref(d);
}

static void refuse(struct bootstrap_server *b, coap_pdu_t *resp, coap_pdu_code_t code,
                   const char *endpoint, const char *address, const char *identity,
                   const char *why)
{
    refuse_cause(b, resp, code, endpoint, address, identity, why, NULL);
}

/* A NoSec request refused 4.01 (see NOSEC above); by_config: the
 * configuration's "allow_nosec": false, else a credential of the endpoint. */
static void refuse_nosec(struct bootstrap_server *b, coap_pdu_t *resp, const char *endpoint,
                         const char *address, const char *why, bool by_config)
{
    atomic_fetch_add(by_config ? &b->st.nosec_refused_config : &b->st.nosec_refused_credential,
                     1);
    refuse_cause(b, resp, COAP_RESPONSE_CODE_UNAUTHORIZED, endpoint, address, NULL, why,
                 "nosec_refused");
}

/* ------------------------------------------------------------------ */
/* resolution (database thread)                                        */

static bool issues_x509(const struct lwm2m_bsconfig_server *sv)
{
    return sv->sec.security == LWM2M_BSCONFIG_X509 && sv->sec.cred == LWM2M_BSCONFIG_CRED_ISSUE;
}

static bool needs_issue(const struct lwm2m_bsconfig *c)
{
    for (size_t i = 0; i < c->n_servers; i++)
        if ((c->servers[i].sec.cred != LWM2M_BSCONFIG_CRED_NONE &&
             c->servers[i].sec.security == LWM2M_BSCONFIG_PSK) || issues_x509(&c->servers[i]))
            return true;
    return false;
}

void bs_session_issued(const struct bs_session *bs, struct lwm2m_bsconfig_issued *is)
{
    size_t sc_len = 0;
    const uint8_t *sc = bootstrap_x509_server_cert(bs->b->x509, &sc_len);
    for (size_t i = 0; i < bs->cfg->n_servers; i++) {
        const struct bs_issued *x = bs->issued ? &bs->issued[i] : NULL;
        is[i] = (struct lwm2m_bsconfig_issued){ .key_len = BS_ISSUED_KEY_LEN };
        is[i].identity = x && x->identity[0] ? x->identity : NULL;
        is[i].key = x ? x->key : NULL;
        if (x && x->x509.cert) {
            is[i].cert = x->x509.cert;
            is[i].cert_len = x->x509.cert_len;
            is[i].key = x->x509.key;
            is[i].key_len = x->x509.key_len;
            is[i].server_cert = sc;
            is[i].server_cert_len = sc_len;
        }
    }
}

/* x509 account i: a fresh key pair and a certificate from the device CA,
 * CN = the endpoint; its id is the credential's identity. */
static enum ls_rc issue_x509(struct bs_session *bs, struct bs_issued *is, struct ls_error *err)
{
    enum ls_rc rc = bootstrap_x509_issue(bs->b->x509, bs->endpoint, &is->x509, err);
    if (rc == LS_OK)
        snprintf(is->identity, sizeof is->identity, "%s", is->x509.id);
    return rc;
}

/* Fresh identity "<endpoint>-<16 hex>" and a 16-byte key for every server
 * account that issues; they are stored (sealed, 'issued') by issue_batch,
 * in a round with other sessions', before the device ever sees them;
 * explicit PSKs are recorded too, so the server accepts them.  An x509
 * account gets a key pair and a certificate (issue_x509). */
static enum ls_rc issue_prepare(struct bs_session *bs, struct ls_error *err)
{
    const struct lwm2m_bsconfig *c = bs->cfg;
    bs->issued = calloc(c->n_servers + 1, sizeof *bs->issued);
    if (!bs->issued)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n_servers; i++) {
        const struct lwm2m_bsconfig_server *sv = &c->servers[i];
        struct bs_issued *is = &bs->issued[i];
        if (issues_x509(sv)) {
            enum ls_rc rc = issue_x509(bs, is, err);
            if (rc != LS_OK)
                return rc;
            continue;
        }
        if (sv->sec.security != LWM2M_BSCONFIG_PSK ||
            sv->sec.cred != LWM2M_BSCONFIG_CRED_ISSUE)
            continue;
        uint8_t rnd[8];
        if (RAND_bytes(rnd, sizeof rnd) != 1 || RAND_bytes(is->key, sizeof is->key) != 1)
            return ls_error_set(err, LS_EIO, "RAND_bytes failed");
        snprintf(is->identity, sizeof is->identity,
                 "%.200s-%02x%02x%02x%02x%02x%02x%02x%02x", bs->endpoint, rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    }
    return LS_OK;
}

/* The credentials session bs stores: n written to out (room for
 * cfg->n_servers). */
static size_t issue_items(struct bs_session *bs, struct store_credentials_issue *out)
{
    const struct lwm2m_bsconfig *c = bs->cfg;
    size_t n = 0;
    for (size_t i = 0; i < c->n_servers; i++) {
        const struct lwm2m_bsconfig_server *sv = &c->servers[i];
        const struct bs_issued *is = &bs->issued[i];
        if (issues_x509(sv)) {
            out[n++] = (struct store_credentials_issue){
                .endpoint = bs->endpoint, .identity = is->identity, .mode = "x509",
                .psk = is->x509.key, .psk_len = is->x509.key_len,
                .public_key = is->x509.cert, .public_key_len = is->x509.cert_len,
                .certificate = is->x509.cert_pem, .server_uri = sv->sec.uri, .ssid = sv->ssid };
            continue;
        }
        if (sv->sec.security != LWM2M_BSCONFIG_PSK)
            continue;
        if (sv->sec.cred == LWM2M_BSCONFIG_CRED_ISSUE)
            out[n++] = (struct store_credentials_issue){
                .endpoint = bs->endpoint, .identity = is->identity, .psk = is->key,
                .psk_len = sizeof is->key, .server_uri = sv->sec.uri, .ssid = sv->ssid };
        else if (sv->sec.cred == LWM2M_BSCONFIG_CRED_GIVEN)
            out[n++] = (struct store_credentials_issue){
                .endpoint = bs->endpoint, .identity = sv->sec.identity, .psk = sv->sec.key.ptr,
                .psk_len = sv->sec.key.len, .server_uri = sv->sec.uri, .ssid = sv->ssid,
                .already_ok = true };
    }
    return n;
}

/* Database thread: the credentials of a round of sessions, one statement
 * (store_credentials_issue_batch); a session whose credential failed gets
 * its error as the resolution's. */
static void issue_batch(struct store *s, void **jobs, size_t n)
{
    size_t cap = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        cap += ((struct bs_session *)jobs[i])->cfg->n_servers;
    struct store_credentials_issue *items = calloc(cap ? cap : 1, sizeof *items);
    size_t *first = calloc(n + 1, sizeof *first);
    struct ls_error err = { 0 };
    enum ls_rc rc = !items || !first ? ls_error_set(&err, LS_ENOMEM, "out of memory") : LS_OK;
    for (size_t i = 0; rc == LS_OK && i < n; i++) {
        first[i] = k;
        k += issue_items(jobs[i], items + k);
    }
    if (rc == LS_OK) {
        first[n] = k;
        rc = store_credentials_issue_batch(s, &((struct bs_session *)jobs[0])->b->key, items,
                                           k, ((struct bs_session *)jobs[0])->b->issued_ttl_s,
                                           &err);
    }
    for (size_t i = 0; i < n; i++) {
        struct bs_session *bs = jobs[i];
        enum ls_rc one = rc;
        for (size_t j = first && rc == LS_OK ? first[i] : 0;
             one == LS_OK && j < first[i + 1]; j++)
            if ((one = items[j].rc) != LS_OK)
                ls_error_set(&err, one, "issued identity \"%s\" is taken", items[j].identity);
        if (one != LS_OK) {
            bs->resolve_rc = one;
            snprintf(bs->resolve_msg, sizeof bs->resolve_msg, "%s", err.msg);
        }
    }
    free(items);
    free(first);
}

static void resolve_work(struct store *s, void *arg)
{
    struct bs_session *bs = arg;
    struct ls_error err = { 0 };
    char *body = NULL;
    enum ls_rc rc = bs->nosec ? store_bsconfigs_resolve_nosec(s, bs->endpoint, &bs->config_name,
                                                              &body, &bs->nosec_refused, &err)
                              : store_bsconfigs_resolve(s, bs->endpoint, &bs->config_name,
                                                        &body, &err);
    if (rc == LS_OK && !bs->nosec_refused) {
        rc = lwm2m_bsconfig_parse(body, strlen(body), bs->b->model, &bs->cfg, &err);
        if (rc != LS_OK) {
            ls_error_prefix(&err, "configuration \"%s\"", bs->config_name);
            rc = LS_EIO;   /* a stored configuration that does not parse is ours */
        }
    }
    if (rc == LS_OK && bs->nosec && bs->cfg && !bs->cfg->allow_nosec) {
        bs->nosec_refused = "the configuration requires DTLS (allow_nosec is false): NoSec "
                            "refused";
        bs->nosec_by_config = true;
        lwm2m_bsconfig_free(bs->cfg);   /* no cfg: nothing is issued (resolve_done) */
        bs->cfg = NULL;
    }
    if (rc == LS_OK && bs->cfg && needs_issue(bs->cfg))
        rc = issue_prepare(bs, &err);
    free(body);
    bs->resolve_rc = rc;
    snprintf(bs->resolve_msg, sizeof bs->resolve_msg, "%s", err.msg);
}

/* Loop thread: resolved (and its credentials stored): answer the request. */
static void resolve_continue(struct bs_session *bs)
{
    coap_bin_const_t tok = { bs->req_token_len, bs->req_token };
    coap_async_t *a = bs->session ? coap_find_async(bs->session, tok) : NULL;
    if (!a) {
        bs_session_end(bs, false, BS_CAUSE_SESSION_CLOSED, "the client went away while the "
                       "configuration was resolved");
        return;
    }
    if (bs->cfg) {   /* the configuration's deadline, still from the request */
        struct ls_error err = { 0 };
        int64_t left = bs->cfg->session_timeout_s * 1000 -
                       (runtime_loop_now_ms(bs->b->loop) - bs->started_ms);
        runtime_loop_timer_stop(bs->b->loop, &bs->deadline);
        if (runtime_loop_timer_start(bs->b->loop, &bs->deadline, left > 1 ? left : 1, 0,
                                     &err) != LS_OK)
            ls_log_warn("bootstrap_deadline_failed", "endpoint=\"%s\" error=\"%s\"",
                        bs->endpoint, err.msg);
    }
    bs->step = BS_STEP_ANSWERING;
    coap_async_trigger(a);
    runtime_coap_kick(bs->b->coap);
}

static void issue_done(void *arg, bool cancelled)
{
    if (!cancelled)   /* stopping: the session list frees it */
        resolve_continue(arg);
}

static void resolve_done(void *arg, bool cancelled)
{
    struct bs_session *bs = arg;
    struct ls_error err = { 0 };
    if (cancelled)    /* stopping: the session list frees it */
        return;
    if (bs->resolve_rc != LS_OK || !bs->cfg || !needs_issue(bs->cfg) || !bs->session) {
        resolve_continue(bs);
        return;
    }
    /* The session continues after the round holding its credentials commits. */
    if (bootstrap_db_submit_batch(bs->b->db, issue_batch, issue_done, bs, &err) != LS_OK) {
        bs->resolve_rc = err.code;
        snprintf(bs->resolve_msg, sizeof bs->resolve_msg, "%s", err.msg);
        resolve_continue(bs);
    }
}

/* ------------------------------------------------------------------ */
/* request handlers                                                    */

struct who {
    char endpoint[BS_ENDPOINT_MAX];
    char identity[BS_IDENTITY_MAX];
    char address[RUNTIME_ADDR_STR_MAX];
    const char *bound;           /* endpoint the credential is bound to; NULL on NoSec */
    unsigned pct;
    bool has_pct, has_ep, bad_query;
    bool nosec_barred;           /* refused: NoSec for an endpoint with live bootstrap PSKs */
};

static void parse_query(const coap_pdu_t *req, struct who *w)
{
    coap_opt_iterator_t it;
    coap_opt_t *opt;
    coap_option_iterator_init(req, &it, COAP_OPT_ALL);
    while ((opt = coap_option_next(&it))) {
        if (it.number != COAP_OPTION_URI_QUERY)
            continue;
        const char *v = (const char *)coap_opt_value(opt);
        size_t n = coap_opt_length(opt);
        if (n > 3 && memcmp(v, "ep=", 3) == 0) {
            if (n - 3 >= sizeof w->endpoint || memchr(v + 3, '\0', n - 3) || w->has_ep) {
                w->bad_query = true;
                continue;
            }
            memcpy(w->endpoint, v + 3, n - 3);
            w->endpoint[n - 3] = '\0';
            w->has_ep = true;
        } else if (n > 4 && memcmp(v, "pct=", 4) == 0) {
            char buf[12] = "";
            char *end;
            memcpy(buf, v + 4, n - 4 < sizeof buf - 1 ? n - 4 : sizeof buf - 1);
            unsigned long f = strtoul(buf, &end, 10);
            if (*end || !buf[0] || f > 65535)
                w->bad_query = true;
            w->pct = (unsigned)f;
            w->has_pct = true;
        }
    }
}

/* Who is asking: returns 0 when acceptable, else the refusal code and why. */
static coap_pdu_code_t identify(struct bootstrap_server *b, coap_session_t *s,
                                const coap_pdu_t *req, struct who *w, const char **why)
{
    size_t idlen = 0;
    const uint8_t *id = runtime_coap_session_psk_identity(s, &idlen);
    runtime_coap_session_addr(s, w->address);
    parse_query(req, w);
    if (id && idlen) {
        snprintf(w->identity, sizeof w->identity, "%.*s", (int)idlen, (const char *)id);
        const struct runtime_credcache_entry *e = runtime_credcache_find(b->creds, id, idlen);
        w->bound = e ? e->endpoint : NULL;
        if (!w->bound) {
            *why = "the PSK identity has no live bootstrap credential";
            return COAP_RESPONSE_CODE_UNAUTHORIZED;
        }
    } else if (runtime_coap_session_is_dtls(s)) {
        w->bound = runtime_coap_session_cn(b->coap, s);
        if (!w->bound)
            w->bound = runtime_coap_session_rpk_endpoint(b->coap, s);
    }
    if (w->bad_query) {
        *why = "malformed ep or pct";
        return COAP_RESPONSE_CODE_BAD_REQUEST;
    }
    if (!w->has_ep && w->bound)
        snprintf(w->endpoint, sizeof w->endpoint, "%s", w->bound);
    else if (!w->has_ep) {
        *why = "missing ep";
        return COAP_RESPONSE_CODE_BAD_REQUEST;
    }
    if (w->bound && strcmp(w->bound, w->endpoint) != 0) {
        *why = "the credential is bound to another endpoint";
        return COAP_RESPONSE_CODE_UNAUTHORIZED;
    }
    if (!runtime_coap_session_is_dtls(s) && runtime_credcache_has_endpoint(b->creds, w->endpoint)) {
        *why = "the endpoint has a bootstrap credential: NoSec refused";
        w->nosec_barred = true;
        return COAP_RESPONSE_CODE_UNAUTHORIZED;
    }
    return 0;
}

static bool pct_ok(unsigned pct)
{
    return pct == LWM2M_FORMAT_SENML_JSON || pct == LWM2M_FORMAT_SENML_CBOR ||
           pct == LWM2M_FORMAT_LWM2M_CBOR || pct == LWM2M_FORMAT_TLV ||
           pct == LWM2M_FORMAT_TLV_OLD || pct == LWM2M_FORMAT_JSON_OLD ||
           pct == LWM2M_FORMAT_JSON;
}

static void remember_fin(struct bootstrap_server *b, coap_session_t *s, coap_bin_const_t tok)
{
    if (b->n_fin == b->cap_fin) {
        size_t cap = b->cap_fin ? 2 * b->cap_fin : 16;
        struct bs_fin *f = realloc(b->fin, cap * sizeof *f);
        if (!f)
            return;   /* the async entry is then freed with its session */
        b->fin = f;
        b->cap_fin = cap;
    }
    struct bs_fin *f = &b->fin[b->n_fin++];
    f->s = coap_session_reference(s);
    f->len = tok.length < sizeof f->tok ? tok.length : sizeof f->tok;
    memcpy(f->tok, tok.s, f->len);
}

/* Second call of a handler for a parked request: answer it now. */
static bool answer_async(struct bootstrap_server *b, coap_resource_t *r, coap_session_t *s,
                         const coap_pdu_t *req, coap_pdu_t *resp)
{
    coap_bin_const_t tok = coap_pdu_get_token(req);
    coap_async_t *a = coap_find_async(s, tok);
    if (!a)
        return false;
    struct bs_session *bs = coap_async_get_app_data(a);
    if (!bs || bs->step == BS_STEP_RESOLVING)
        return true;   /* libcoap ACKed the duplicate; still waiting */
    coap_async_set_app_data(a, NULL);
    remember_fin(b, s, tok);
    if (bs->resolve_rc == LS_OK && bs->nosec_refused) {
        refuse_nosec(b, resp, bs->endpoint, bs->address, bs->nosec_refused,
                     bs->nosec_by_config);
        bs->finished = true;   /* not a session: never recorded as one */
        bs_session_ready(bs);
        return true;
    }
    if (bs->resolve_rc != LS_OK) {
        coap_pdu_code_t code = bs->resolve_rc == LS_ENOTFOUND
                                   ? COAP_RESPONSE_CODE_BAD_REQUEST
                                   : runtime_coap_code(bs->resolve_rc);
        refuse(b, resp, code, bs->endpoint, bs->address, bs->identity,
               bs->resolve_rc == LS_ENOTFOUND ? "no configuration applies" : bs->resolve_msg);
        bs->finished = true;   /* not a session: never recorded as one */
        bs_session_ready(bs);
        return true;
    }
    if (bs->pack && !bs->cfg->pack) {
        refuse(b, resp, COAP_RESPONSE_CODE_NOT_ALLOWED, bs->endpoint, bs->address, bs->identity,
               "the configuration disables Bootstrap-Pack");
        bs->finished = true;
        bs_session_ready(bs);
        return true;
    }
    atomic_fetch_add(&b->st.started, 1);
    atomic_fetch_add(&b->st.in_progress, 1);
    if (bs->pack) {
        bs_pack_answer(bs, r, s, req, resp);
    } else {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);
        bs_session_note(bs, "request", "/bs", COAP_RESPONSE_CODE_CHANGED);
        bs_sequence_start(bs);
    }
    return true;
}

/* A retransmitted or repeated request for a session already running. */
static bool duplicate(struct bootstrap_server *b, coap_session_t *s, const coap_pdu_t *req,
                      coap_pdu_t *resp)
{
    coap_bin_const_t tok = coap_pdu_get_token(req);
    for (struct bs_session *bs = b->sessions; bs; bs = bs->next_all) {
        if (bs->session == s && !bs->finished && bs->req_token_len == tok.length &&
            memcmp(bs->req_token, tok.s, tok.length) == 0) {
            coap_pdu_set_code(resp, bs->pack ? COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE
                                             : COAP_RESPONSE_CODE_CHANGED);
            return true;
        }
    }
    return false;
}

static void supersede(struct bootstrap_server *b, const char *endpoint)
{
    for (struct bs_session *bs = b->sessions; bs; bs = bs->next_all)
        if (!bs->finished && strcmp(bs->endpoint, endpoint) == 0 && bs->step != BS_STEP_RESOLVING)
            bs_session_end(bs, false, BS_CAUSE_SUPERSEDED, "a new bootstrap request arrived");
}

static struct bs_session *session_new(struct bootstrap_server *b, coap_session_t *s,
                                      const coap_pdu_t *req, const struct who *w, bool pack)
{
    struct bs_session *bs = calloc(1, sizeof *bs);
    if (!bs || !(bs->requests = json_array())) {
        free(bs);
        return NULL;
    }
    coap_bin_const_t tok = coap_pdu_get_token(req);
    bs->b = b;
    bs->pack = pack;
    bs->session = coap_session_reference(s);
    bs->req_token_len = tok.length < sizeof bs->req_token ? tok.length : sizeof bs->req_token;
    memcpy(bs->req_token, tok.s, bs->req_token_len);
    memcpy(bs->endpoint, w->endpoint, sizeof bs->endpoint);
    memcpy(bs->identity, w->identity, sizeof bs->identity);
    bs->nosec = !runtime_coap_session_is_dtls(s);
    memcpy(bs->address, w->address, sizeof bs->address);
    bs->pct = w->pct;
    bs->started_ms = runtime_loop_now_ms(b->loop);
    lwm2m_bsconfig_client_init(&bs->client);
    runtime_loop_timer_init(&bs->deadline, on_deadline, bs);
    bs->next_all = b->sessions;
    b->sessions = bs;
    return bs;
}

/* Shared by /bs and /bspack: identify, rate-limit, park while resolving. */
static void handle(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   coap_pdu_t *resp, bool pack)
{
    struct bootstrap_server *b = coap_resource_get_userdata(r);
    struct who w = { 0 };
    const char *why = NULL;
    struct ls_error err = { 0 };
    if (answer_async(b, r, s, req, resp) || duplicate(b, s, req, resp))
        goto out;
    coap_pdu_code_t code = identify(b, s, req, &w, &why);
    if (code && w.nosec_barred) {
        refuse_nosec(b, resp, w.endpoint, w.address, why, false);
        goto out;
    }
    if (code) {
        refuse(b, resp, code, w.endpoint[0] ? w.endpoint : NULL, w.address, w.identity, why);
        goto out;
    }
    if (!pack && w.has_pct && !pct_ok(w.pct)) {
        refuse(b, resp, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT, w.endpoint, w.address,
               w.identity, "unsupported pct");
        goto out;
    }
    if (!rate_allow(b, w.endpoint, runtime_loop_now_ms(b->loop))) {
        refuse(b, resp, COAP_TOO_MANY_REQUESTS, w.endpoint, w.address, w.identity,
               "rate limit");
        goto out;
    }
    supersede(b, w.endpoint);
    struct bs_session *bs = session_new(b, s, req, &w, pack);
    if (!bs) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
        goto out;
    }
    if (pack) {
        coap_opt_iterator_t it;
        coap_opt_t *o = coap_check_option(req, COAP_OPTION_ACCEPT, &it);
        bs->accept = o ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o))
                       : LWM2M_FORMAT_SENML_CBOR;
        if (bs->accept != LWM2M_FORMAT_SENML_CBOR && bs->accept != LWM2M_FORMAT_SENML_JSON &&
            bs->accept != LWM2M_FORMAT_LWM2M_CBOR) {
            refuse(b, resp, COAP_RESPONSE_CODE_NOT_ACCEPTABLE, w.endpoint, w.address,
                   w.identity, "Bootstrap-Pack is SenML CBOR, SenML JSON or LwM2M CBOR");
            bs->finished = true;
            bs_session_ready(bs);
            goto out;
        }
    }
    if (runtime_loop_timer_start(b->loop, &bs->deadline,
                                 LWM2M_BSCONFIG_SESSION_TIMEOUT_S * 1000, 0, &err) !=
            LS_OK ||
        bootstrap_db_submit(b->db, resolve_work, resolve_done, bs, &err) != LS_OK) {
        coap_pdu_set_code(resp, runtime_coap_code(err.code));
        bs->finished = true;
        bs_session_ready(bs);
        goto out;
    }
    coap_async_t *a = coap_register_async(s, req, 0);
    if (a)
        coap_async_set_app_data(a, bs);
out:
    runtime_coap_answered(b->coap, s, resp);
}

static void hnd_bs(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *query, coap_pdu_t *resp)
{
    handle(r, s, req, resp, false);
}

static void hnd_bspack(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    handle(r, s, req, resp, true);
}

/* ------------------------------------------------------------------ */
/* libcoap callbacks and deferred work                                 */

/*
 * libcoap's response handler takes no user argument and runtime/coap owns
 * the context's app data, so the servers of this process are found by
 * their runtime_coap here (one in the daemon; a few in tests).  Loop
 * thread only, like everything libcoap calls.
 */
#define SERVERS_MAX 8
static struct bootstrap_server *servers[SERVERS_MAX];

static struct bootstrap_server *server_of(coap_session_t *s)
{
    struct runtime_coap *c = runtime_coap_from_context(coap_session_get_context(s));
    for (size_t i = 0; i < SERVERS_MAX; i++)
        if (servers[i] && servers[i]->coap == c)
            return servers[i];
    return NULL;
}

static void servers_set(struct bootstrap_server *old, struct bootstrap_server *b)
{
    for (size_t i = 0; i < SERVERS_MAX; i++) {
        if (servers[i] == old) {
            servers[i] = b;
            return;
        }
    }
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *received, const coap_mid_t mid)
{
    struct bootstrap_server *bsrv = server_of(s);
    struct bs_session *bs = bsrv ? session_by_coap(bsrv, s) : NULL;
    if (!bs || !bs_sequence_on_response(bs, received))
        return COAP_RESPONSE_OK;   /* a late answer; ACK it, nothing else */
    return COAP_RESPONSE_OK;
}

static void on_nack(void *arg, coap_session_t *s, const coap_pdu_t *sent,
                    coap_nack_reason_t reason)
{
    struct bootstrap_server *b = arg;
    struct bs_session *bs = session_by_coap(b, s);
    if (!bs || !bs->outstanding || !sent)
        return;
    coap_bin_const_t tok = coap_pdu_get_token(sent);
    if (tok.length == bs->token_len && memcmp(tok.s, bs->token, tok.length) == 0)
        bs_sequence_on_nack(bs, reason);
}

static void on_session_gone(void *arg, coap_session_t *s)
{
    struct bootstrap_server *b = arg;
    for (struct bs_session *bs = b->sessions; bs; bs = bs->next_all) {
        if (bs->session != s)
            continue;
        coap_session_release(s);
        bs->session = NULL;
        if (bs->step == BS_STEP_RESOLVING)
            continue;   /* resolve_done finds no session and ends it */
        bs_session_end(bs, false, BS_CAUSE_SESSION_CLOSED, "the client's session closed");
    }
}

static void after_io(void *arg)
{
    struct bootstrap_server *b = arg;
    for (size_t i = 0; i < b->n_fin; i++) {
        coap_bin_const_t tok = { b->fin[i].len, b->fin[i].tok };
        coap_async_t *a = coap_find_async(b->fin[i].s, tok);
        if (a)
            coap_free_async(b->fin[i].s, a);
        coap_session_release(b->fin[i].s);
    }
    b->n_fin = 0;
    while (b->ready) {
        struct bs_session *bs = b->ready;
        b->ready = bs->next_ready;
        bs->in_ready = false;
        if (bs->finished && bs->step == BS_STEP_DONE)
            session_record(bs);
        else if (bs->finished)
            session_free(bs);   /* refused after resolution: no session record */
        else
            bs_sequence_advance(bs);
    }
}

/* ------------------------------------------------------------------ */
/* credentials and start-up                                            */

static void on_table(void *arg, struct runtime_credcache *table)
{
    struct bootstrap_server *b = arg;
    runtime_credcache_free(b->creds);
    b->creds = table;
}

static void on_delta(void *arg, struct runtime_credcache_delta *delta)
{
    struct bootstrap_server *b = arg;
    if (b->creds)
        runtime_credcache_apply(b->creds, delta, NULL, NULL);
}

static bool psk_lookup(void *arg, const uint8_t *identity, size_t identity_len,
                       const uint8_t **key, size_t *key_len)
{
    struct bootstrap_server *b = arg;
    const struct runtime_credcache_entry *e =
        runtime_credcache_find(b->creds, identity, identity_len);
    if (!e || !e->key_len)
        return false;
    *key = e->key;
    *key_len = e->key_len;
    return true;
}

static const char *rpk_lookup(void *arg, const uint8_t *spki, size_t spki_len)
{
    struct bootstrap_server *b = arg;
    return runtime_credcache_find_rpk(b->creds, spki, spki_len);
}

static enum ls_rc key_from_config(const struct runtime_config *cfg, struct store_secret_key *k,
                                  struct ls_error *err)
{
    char hex[2 * RUNTIME_CONFIG_MASTER_KEY_LEN + 1];
    for (size_t i = 0; i < RUNTIME_CONFIG_MASTER_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", cfg->master_key[i]);
    enum ls_rc rc = store_secret_key_from_hex(hex, k, err);
    explicit_bzero(hex, sizeof hex);
    return rc;
}

static enum ls_rc open_coap(struct bootstrap_server *b, const struct runtime_config *cfg,
                            struct ls_error *err)
{
    struct runtime_coap_options co = {
        .coap = cfg->coap.text ? &cfg->coap.addr : NULL,
        .coaps = cfg->coaps.text ? &cfg->coaps.addr : NULL,
        .psk = psk_lookup, .psk_arg = b,
        .session_gone = on_session_gone, .session_gone_arg = b,
        .max_idle_sessions = 1024,
        .read_batch = 32,
        .cert_file = cfg->dtls_cert,
        .key_file = cfg->dtls_key,
        .ca_file = cfg->dtls_cert || cfg->dtls_key ? cfg->ca_file : NULL,
        .rpk = cfg->dtls_key && !cfg->dtls_cert ? rpk_lookup : NULL,
        .rpk_arg = b,
        /* Issue 10: DTLS handshake floods (runtime/coap.c, HALF-OPEN DTLS). */
        .max_handshakes = cfg->dtls_max_handshakes,
        .handshake_timeout_s = cfg->dtls_handshake_timeout_s,
    };
    b->coap = runtime_coap_start(b->loop, &co, err);
    if (!b->coap)
        return err ? err->code : LS_EIO;
    coap_context_t *ctx = runtime_coap_context(b->coap);
    servers_set(NULL, b);
    coap_register_response_handler(ctx, on_response);
    runtime_coap_set_nack(b->coap, on_nack, b);
    runtime_coap_set_after_io(b->coap, after_io, b);
    coap_resource_t *r = coap_resource_init(coap_make_str_const("bs"), 0);
    coap_register_handler(r, COAP_REQUEST_POST, hnd_bs);
    coap_resource_set_userdata(r, b);
    coap_add_resource(ctx, r);
    r = coap_resource_init(coap_make_str_const("bspack"), 0);
    coap_register_handler(r, COAP_REQUEST_GET, hnd_bspack);
    coap_resource_set_userdata(r, b);
    coap_add_resource(ctx, r);
    return LS_OK;
}

static enum ls_rc load_model(struct bootstrap_server *b, const struct runtime_config *cfg,
                             struct ls_error *err)
{
    b->model = lwm2m_model_new(err);
    if (!b->model)
        return LS_ENOMEM;
    if (cfg->models_dir)
        return lwm2m_model_load_dir(b->model, cfg->models_dir, err);
    return LS_OK;
}

struct bootstrap_server *bootstrap_server_start(const struct runtime_config *cfg,
                                                struct runtime_loop *loop, struct store *store,
                                                struct ls_error *err)
{
    struct bootstrap_server *b = calloc(1, sizeof *b);
    if (!b || !(b->rate = calloc(1, sizeof *b->rate))) {
        free(b);
        ls_error_set(err, LS_ENOMEM, "bootstrap: out of memory");
        return NULL;
    }
    b->loop = loop;
    b->rate_limit = cfg->bs_rate_limit;
    b->issued_ttl_s = cfg->issued_ttl_s;
    runtime_loop_timer_init(&b->rate_prune, rate_prune, b);
    if (bootstrap_x509_load(cfg->device_ca_cert, cfg->device_ca_key, cfg->server_cert,
                            cfg->device_cert_days, &b->x509, err) != LS_OK ||
        key_from_config(cfg, &b->key, err) != LS_OK || load_model(b, cfg, err) != LS_OK ||
        store_credentials_load_cache(store, &b->key, "bootstrap", &b->creds, err) != LS_OK)
        goto fail;
    b->db = bootstrap_db_start(cfg->db, loop, DB_THREADS, err);
    if (!b->db || open_coap(b, cfg, err) != LS_OK ||
        runtime_loop_timer_start(loop, &b->rate_prune, RATE_WINDOW_MS, RATE_WINDOW_MS, err) !=
            LS_OK)
        goto fail;
    struct store_credentials_watch_options wo = {
        .conninfo = cfg->db, .key = &b->key, .scope = "bootstrap", .loop = loop,
        .fn = on_table, .arg = b, .delta = on_delta,
    };
    b->watch = store_credentials_watch_start(&wo, err);
    if (!b->watch)
        goto fail;
    return b;
fail:
    bootstrap_server_stop(b);
    return NULL;
}

void bootstrap_server_stop(struct bootstrap_server *b)
{
    if (!b)
        return;
    store_credentials_watch_stop(b->watch);
    bootstrap_db_stop(b->db);   /* cancelled jobs: records freed, sessions stay listed */
    while (b->sessions)
        session_free(b->sessions);
    for (size_t i = 0; i < b->n_fin; i++)
        coap_session_release(b->fin[i].s);
    free(b->fin);
    servers_set(b, NULL);
    runtime_coap_free(b->coap);
    runtime_loop_timer_stop(b->loop, &b->rate_prune);
    rate_free(b->rate);
    runtime_credcache_free(b->creds);
    lwm2m_model_free(b->model);
    bootstrap_x509_free(b->x509);
    explicit_bzero(&b->key, sizeof b->key);
    free(b);
}

static void counter(FILE *out, const char *name, const char *help, unsigned long long v)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

void bootstrap_server_metrics(FILE *out, const struct bootstrap_server *b)
{
    struct bs_stats *st = (struct bs_stats *)&b->st;
    counter(out, "lodestar_bootstrap_sessions_started_total",
            "Bootstrap sessions started (a configuration applied).", atomic_load(&st->started));
    counter(out, "lodestar_bootstrap_sessions_finished_total",
            "Bootstrap sessions that ended with Bootstrap-Finish 2.04 or a pack served.",
            atomic_load(&st->succeeded));
    fprintf(out, "# HELP lodestar_bootstrap_sessions_failed_total Bootstrap sessions that "
                 "failed, by cause.\n# TYPE lodestar_bootstrap_sessions_failed_total counter\n");
    for (int c = 1; c < BS_CAUSE_COUNT; c++)
        fprintf(out, "lodestar_bootstrap_sessions_failed_total{cause=\"%s\"} %llu\n",
                bs_cause_name(c), atomic_load(&st->failed[c]));
    counter(out, "lodestar_bootstrap_requests_refused_total",
            "Bootstrap requests refused (unknown endpoint, identity, format).",
            atomic_load(&st->refused));
    fprintf(out, "# HELP lodestar_bootstrap_nosec_refused_total NoSec bootstrap requests "
                 "refused 4.01 (also in requests_refused), by cause: the endpoint has a "
                 "bootstrap or factory credential, or the configuration requires DTLS.\n"
                 "# TYPE lodestar_bootstrap_nosec_refused_total counter\n"
                 "lodestar_bootstrap_nosec_refused_total{cause=\"credential\"} %llu\n"
                 "lodestar_bootstrap_nosec_refused_total{cause=\"configuration\"} %llu\n",
            atomic_load(&st->nosec_refused_credential), atomic_load(&st->nosec_refused_config));
    counter(out, "lodestar_bootstrap_rate_limited_total",
            "Bootstrap requests answered 4.29 by the per-endpoint rate limit.",
            atomic_load(&st->rate_limited));
    runtime_metrics_gauge(out, "lodestar_bootstrap_sessions_in_progress",
                          "Bootstrap sessions running now.", atomic_load(&st->in_progress));
    fprintf(out, "# HELP lodestar_bootstrap_session_duration_seconds Duration of bootstrap "
                 "sessions, request to end.\n"
                 "# TYPE lodestar_bootstrap_session_duration_seconds histogram\n");
    for (size_t i = 0; i < N_BOUNDS; i++)
        fprintf(out, "lodestar_bootstrap_session_duration_seconds_bucket{le=\"%g\"} %llu\n",
                duration_bounds_s[i], atomic_load(&st->duration_bucket[i]));
    fprintf(out, "lodestar_bootstrap_session_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                 "lodestar_bootstrap_session_duration_seconds_sum %.3f\n"
                 "lodestar_bootstrap_session_duration_seconds_count %llu\n",
            atomic_load(&st->duration_count), atomic_load(&st->duration_sum_ms) / 1000.0,
            atomic_load(&st->duration_count));
    if (b->coap) {      /* issue 10: DTLS handshake floods */
        struct runtime_coap_stats cs;
        runtime_coap_stats(b->coap, &cs);
        runtime_coap_write_flood_metrics(&cs, out);
    }
}
