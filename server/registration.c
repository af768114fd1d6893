/*
 * server/registration.c -- Register, Update, De-register over CoAP, durable
 *
 * Transport TS 1.2 "Registration Interface": POST /rd?ep=..&lt=..&lwm2m=..
 * with a link-format object list answers 2.01 with Location-Path rd/{id};
 * POST /rd/{id} (Update) 2.04; DELETE /rd/{id} 2.02.  Errors: 4.00 for a
 * missing or malformed parameter or payload or an endpoint name that is not
 * the certificate's CN, 4.03 for a PSK identity bound to another endpoint
 * (or NoSec for a device that has PSK credentials), 4.04 for an unknown
 * location, 4.12 for an LwM2M
 * version we do not speak (server/registration_params.h decides 4.00 vs
 * 4.12).  Issue 10 (abuse, nosec_admit): a NoSec Register over its source
 * address's rate gets 4.29, one beyond the cap on live NoSec registrations
 * 5.03, both with Max-Age (docs/api.md, "Registration spam").
 *
 * DURABILITY.  A change is committed before its answer leaves.  A handler
 * validates the request, queues the change on the store worker (which
 * batches concurrent changes into one transaction) and parks the request
 * (server/parked.h): it returns without a code, and the answer is built
 * and sent here when the worker's completion arrives on the loop thread,
 * after the registry is updated.  For a CON the ACK waits for that answer,
 * which rides on it (a piggy-backed response, RFC 7252 5.2.1): the commit
 * takes milliseconds, the device retransmits only after ACK_TIMEOUT (2 s).
 * If the commit takes longer than a second (a slow or absent database), an
 * empty ACK goes out first and the answer follows as a separate CON
 * response (5.2.2); a NON is answered with a NON.  While a request is
 * parked, a retransmission of it (same session, same token) is found in
 * the parked table and queues nothing: it gets nothing while the ACK is
 * deferred, the empty ACK again after.  A duplicate that arrives after the
 * answer is recognised by the Register's token (same session, same token:
 * same answer, nothing stored).  A session that is no longer established
 * when the commit arrives (a DTLS session closed meanwhile) gets no
 * answer: the op is freed (sending on it would start a DTLS client
 * handshake towards the device; test_psk_closed_while_pending).
 *
 * Why not libcoap's async API (coap_register_async + coap_async_trigger),
 * which this used before: libcoap 4.3.1 keeps asyncs in one linked list
 * per context, walked by coap_find_async (on every request, by
 * handle_request itself), coap_register_async, coap_free_async and
 * coap_check_async (on every I/O pass); with the ~512 Registers a storm
 * keeps parked that was 18 % of the server's CPU (coap_find_async 15 %,
 * coap_register_async 3.5 %), plus one extra coap_io_process per store
 * round to fire the triggered asyncs.  The parked table is a hash, and the
 * answer leaves straight from the completion.  And an async always sends
 * the empty ACK at once, so each answer was a separate CON: four datagrams
 * per exchange (the request, the empty ACK, the CON answer, the device's
 * ACK of it) and a CON in libcoap's retransmission queue (a sorted list,
 * walked on every insert and ACK), where the piggy-backed answer takes two
 * datagrams and no queue.  Measured on the registration storm: server CPU
 * per registration 40 us (async) -> 29 (parked, separate) -> 20 (parked,
 * piggy-backed); bench/results/registration.md.
 *
 * The alternative, answering inline, needs the commit inside the handler:
 * one synchronous commit per request on the loop thread, which batches
 * nothing -- a local commit is ~0.1-1 ms (more with fsync), i.e. at most a
 * few thousand registrations/s, all CoAP traffic stalled meanwhile, and a
 * database outage would freeze the loop.  With the worker the loop never
 * waits on Postgres and a storm costs one commit per batch.
 *
 * UPDATE FROM A NEW ADDRESS.  Core TS 1.2 and Transport TS 1.2 (queue
 * mode, section 6.5) make the Update the way a client tells the server it
 * is reachable at a new address or port (NAT rebinding, wake-up with a new
 * port); nothing requires a new Register for NoSec.  So an Update from
 * another address is accepted: the registration's address is updated and
 * the new session is held instead of the old one.  Over DTLS the new
 * address implies a new handshake, which already authenticated the device;
 * the Update must then come with the identity the registration was made
 * with (else 4.04, which makes the client register again).
 *
 * DATABASE AWAY, QUEUE FULL (issue 10.3).  The store worker refuses new
 * changes at once while its connection is gone, and fails the queued ones
 * after a short hold (store/registrations.c); a full queue is refused too.
 * Either way the device gets 5.03 Service Unavailable with Max-Age
 * (runtime_coap_set_code: retry after that many seconds), inline or as the
 * separate response of a parked request -- never silence.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/registration.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwm2m/link.h"
#include "runtime/coap.h"
#include "runtime/credcache.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "runtime/ratelimit.h"
#include "server/commands.h"
#include "server/credlookup.h"
#include "server/devops.h"
#include "server/observe.h"
#include "server/parked.h"
#include "server/registration_params.h"
#include "server/registry.h"
#include "store/commands.h"
#include "store/registrations.h"
#include "store/store.h"

#define MAX_QUERY 16            /* Uri-Query options we look at */
#define CT_LINK_FORMAT 40

enum op_kind { OP_REGISTER, OP_UPDATE, OP_DEREGISTER };

/* One change waiting for its commit, then for its answer. */
struct op {
    struct server_registration *g;
    struct op *prev, *next;          /* g->ops */
    struct server_parked_entry pk;   /* in g->parked while waiting for its commit */
    bool con;                        /* the request was CON: answer CON */
    enum op_kind kind;
    coap_session_t *session;         /* referenced until answered or freed */
    uint8_t token[8];
    size_t token_len;
    char id[SERVER_REGISTRY_ID_LEN + 1];
    struct server_reg *staged;       /* REGISTER: inserted at commit */
    struct registration_params p;    /* UPDATE: what changes */
    char *objects_json;              /* UPDATE: new object list or NULL */
    char address[RUNTIME_ADDR_STR_MAX];
    int64_t now_ms;                  /* wall clock of the request */
    bool nosec_new;                  /* REGISTER: counted in g->nosec_pending */
    coap_pdu_code_t code;            /* the answer, once committed */
};

struct server_registration {
    struct runtime_loop *loop;
    struct runtime_coap *coap;
    struct store_worker *worker;
    struct server_registry *registry;
    struct runtime_credcache *creds;   /* current PSK table, may be NULL */
    struct server_observe *observe;    /* borrowed, may be NULL: told when a
                                          registration ends */
    struct server_commands *commands;  /* borrowed, may be NULL: told when a
                                          device talked (queue mode) */
    char coap_address[96];             /* configured --coap, "" = none: claims a
                                          restarted instance's registrations */
    char instance_id[64];
    struct op *ops;                    /* waiting for commit or answer */
    struct server_parked parked;       /* parked requests by (session, token) */
    struct server_registration_stats st; /* read by other threads: atomics */
    /* Issue 10 (abuse): NoSec Register rate per address, NoSec cap. */
    struct runtime_ratelimit *limit;   /* NULL = no limit */
    unsigned nosec_max;                /* 0 = no cap */
    size_t nosec_pending;              /* new NoSec endpoints waiting for a commit */
    struct server_credlookup *credlookup;  /* borrowed, may be NULL: PSK misses */
};

#define STAT_INC(g, f) __atomic_add_fetch(&(g)->st.f, 1, __ATOMIC_RELAXED)

/* Publishes the registry size for other threads (the registry itself is
 * loop-thread only). */
static void count_changed(struct server_registration *g)
{
    __atomic_store_n(&g->st.current, server_registry_count(g->registry), __ATOMIC_RELAXED);
    __atomic_store_n(&g->st.nosec_current, server_registry_count_nosec(g->registry),
                     __ATOMIC_RELAXED);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- operations ---- */

static struct op *op_new(struct server_registration *g, enum op_kind kind,
                         coap_session_t *s, const coap_pdu_t *req)
{
    struct op *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    coap_bin_const_t tok = coap_pdu_get_token(req);
    o->g = g;
    o->kind = kind;
    o->token_len = tok.length <= sizeof o->token ? tok.length : sizeof o->token;
    memcpy(o->token, tok.s, o->token_len);
    o->session = coap_session_reference(s);
    o->now_ms = wall_ms();
    runtime_coap_session_addr(s, o->address);
    o->next = g->ops;
    if (g->ops)
        g->ops->prev = o;
    g->ops = o;
    STAT_INC(g, pending);
    return o;
}

static void op_free(struct op *o)
{
    struct server_registration *g = o->g;
    server_parked_del(&g->parked, &o->pk);
    if (o->prev)
        o->prev->next = o->next;
    else
        g->ops = o->next;
    if (o->next)
        o->next->prev = o->prev;
    __atomic_sub_fetch(&g->st.pending, 1, __ATOMIC_RELAXED);
    if (o->nosec_new)
        g->nosec_pending--;
    server_reg_free(o->staged);
    free(o->objects_json);
    coap_session_release(o->session);
    free(o);
}

/* ---- applying commits to the registry ---- */

static void apply_register(struct server_registration *g, struct op *o)
{
    struct server_reg *old = server_registry_by_endpoint(g->registry, o->staged->endpoint);
    if (old) {
        /* A new Register replaces the registration (Core TS 1.2); its
         * session reference goes with it. */
        ls_log_info("replaced", "endpoint=%s old_id=%s new_id=%s", old->endpoint, old->id,
                    o->staged->id);
        server_registry_remove(g->registry, old);
    }
    /* The rows went with the old registration (cascade); a new Register
     * means the device forgot its observations too (Core TS 1.2 6.3.1). */
    if (g->observe)
        server_observe_forget(g->observe, o->staged->endpoint);
    struct server_reg *reg = o->staged;
    o->staged = NULL;
    struct ls_error err = { 0 };
    if (server_registry_add(g->registry, reg, &err) != LS_OK) {
        o->code = runtime_coap_code(err.code);
        return;
    }
    server_registry_bind_session(g->registry, reg, o->session);
    if (server_registry_arm(g->registry, reg, wall_ms(), &err) != LS_OK)
        ls_log_warn("expiry_not_armed", "endpoint=%s error=\"%s\"", reg->endpoint, err.msg);
    o->code = COAP_RESPONSE_CODE_CREATED;
    STAT_INC(g, registrations);
    count_changed(g);
    ls_log_info("registered", "endpoint=%s id=%s lwm2m=%s lt=%" PRId64 " b=%s addr=%s "
                "security=%s", reg->endpoint, reg->id, reg->version, reg->lifetime_s,
                reg->binding, reg->address, reg->security);
    server_commands_device_awake(g->commands, reg);
}

static void apply_update(struct server_registration *g, struct op *o)
{
    struct server_reg *reg = server_registry_by_id(g->registry, o->id, strlen(o->id));
    if (!reg) {     /* expired or replaced while the update was written */
        o->code = COAP_RESPONSE_CODE_NOT_FOUND;
        return;
    }
    if (o->p.lifetime_s >= 0)
        reg->lifetime_s = o->p.lifetime_s;
    if (o->p.binding[0])
        snprintf(reg->binding, sizeof reg->binding, "%s", o->p.binding);
    if (o->p.has_queue || o->p.binding[0])
        reg->queue = o->p.queue;
    if (o->p.sms[0] && !server_reg_set_string(&reg->sms, o->p.sms))
        ls_log_warn("update_partial", "endpoint=%s field=sms", reg->endpoint);
    if (o->objects_json && !server_reg_set_string(&reg->objects_json, o->objects_json))
        ls_log_warn("update_partial", "endpoint=%s field=objects", reg->endpoint);
    server_registry_set_address(g->registry, reg, o->address);
    reg->last_seen_ms = o->now_ms;
    reg->expires_at_ms = reg->lifetime_s ? o->now_ms + reg->lifetime_s * 1000 : 0;
    server_registry_bind_session(g->registry, reg, o->session);
    struct ls_error err = { 0 };
    if (server_registry_arm(g->registry, reg, wall_ms(), &err) != LS_OK)
        ls_log_warn("expiry_not_armed", "endpoint=%s error=\"%s\"", reg->endpoint, err.msg);
    o->code = COAP_RESPONSE_CODE_CHANGED;
    STAT_INC(g, updates);
    ls_log_debug("updated", "endpoint=%s id=%s lt=%" PRId64 " addr=%s", reg->endpoint, reg->id,
                 reg->lifetime_s, reg->address);
    server_commands_device_awake(g->commands, reg);
}

static void apply_deregister(struct server_registration *g, struct op *o)
{
    struct server_reg *reg = server_registry_by_id(g->registry, o->id, strlen(o->id));
    if (reg) {
        ls_log_info("deregistered", "endpoint=%s id=%s", reg->endpoint, reg->id);
        if (g->observe)
            server_observe_forget(g->observe, reg->endpoint);
        server_registry_remove(g->registry, reg);
    }
    o->code = COAP_RESPONSE_CODE_DELETED;
    STAT_INC(g, deregistrations);
    count_changed(g);
}

static void answer(struct server_registration *g, struct op *o);

/* Store worker completion, on the loop thread. */
static void on_committed(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct op *o = arg;
    struct server_registration *g = o->g;
    if (rc != LS_OK && (rc == LS_ETRANSIENT || rc == LS_ENOMEM)) {
        /* The database away or too slow: the worker logged it once for the
         * whole batch (store_worker_gave_up); one line per device would
         * turn an outage into a flood of log lines. */
        o->code = runtime_coap_code(rc);
        ls_log_debug("registration_not_stored", "id=%s error=\"%s\"", o->id,
                     err ? err->msg : ls_rc_name(rc));
    } else if (rc != LS_OK) {
        o->code = runtime_coap_code(rc);
        ls_log_warn("registration_not_stored", "id=%s error=\"%s\"", o->id,
                    err ? err->msg : ls_rc_name(rc));
    } else if (o->kind == OP_REGISTER) {
        apply_register(g, o);
    } else if (o->kind == OP_UPDATE) {
        apply_update(g, o);
    } else {
        apply_deregister(g, o);
    }
    answer(g, o);
}

static void set_location(coap_pdu_t *resp, const char *id)
{
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *)"rd");
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, strlen(id), (const uint8_t *)id);
}

static void refuse(struct server_registration *g, coap_pdu_t *resp, coap_pdu_code_t code,
                   const char *what, const char *why)
{
    runtime_coap_set_code(resp, code);
    STAT_INC(g, refused);
    ls_log_info("refused", "request=%s code=%d.%02d reason=\"%s\"", what, code >> 5,
                code & 0x1f, why);
}

/* The answer to a parked request, once its commit (or its failure)
 * arrived: piggy-backed on the deferred ACK, or separate; on the loop
 * thread, outside libcoap's callbacks, so coap_send may run here.  Frees
 * o. */
static void answer(struct server_registration *g, struct op *o)
{
    coap_pdu_t *pdu = server_parked_answer_new(&o->pk, o->session, o->con);
    server_parked_del(&g->parked, &o->pk);
    if (!pdu) {
        /* The session is gone (a DTLS session closed while the commit was
         * written), or out of memory: a retransmission then is handled as
         * a new request (idempotent, see the header comment). */
        op_free(o);
        return;
    }
    runtime_coap_set_code(pdu, o->code);
    if (o->code == COAP_RESPONSE_CODE_CREATED)
        set_location(pdu, o->id);
    else if (COAP_RESPONSE_CLASS(o->code) != 2)
        STAT_INC(g, refused);
    runtime_coap_answered(g->coap, o->session, pdu);
    if (coap_send(o->session, pdu) == COAP_INVALID_MID)
        ls_log_debug("answer_not_sent", "id=%s", o->id);
    op_free(o);
}

/* Queues o's change and parks the request until the commit.  On failure
 * answers 5.03 and frees o. */
static void park(struct server_registration *g, struct op *o, enum ls_rc queued,
                 const coap_pdu_t *req, coap_pdu_t *resp, const struct ls_error *err)
{
    if (queued != LS_OK) {
        /* Database away or queue full: logged once by the store worker
         * (db_away, store_queue_full) and counted (lodestar_store_refused_
         * total); per request at debug only, or an outage floods the log. */
        runtime_coap_set_code(resp, runtime_coap_code(queued));
        STAT_INC(g, refused);
        ls_log_debug("refused", "request=store code=%d.%02d reason=\"%s\"",
                     runtime_coap_code(queued) >> 5, runtime_coap_code(queued) & 0x1f, err->msg);
        op_free(o);
        return;
    }
    o->con = coap_pdu_get_type(req) == COAP_MESSAGE_CON;
    /* Out of memory here: the commit still completes and is answered; a
     * retransmission meanwhile is then handled as a new request
     * (idempotent, see the header comment). */
    server_parked_add(&g->parked, &o->pk, o->session, o->token, o->token_len);
    /* The code stays empty: the ACK waits for the answer (or, when that
     * cannot be, libcoap sends the empty ACK now). */
    server_parked_defer_ack(&g->parked, &o->pk, o->session, req, resp);
}

/* ---- request parsing ---- */

static size_t collect_query(const coap_pdu_t *req, struct registration_query *q, bool *too_many)
{
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    coap_opt_t *opt;
    size_t n = 0;
    coap_option_filter_clear(&f);
    coap_option_filter_set(&f, COAP_OPTION_URI_QUERY);
    coap_option_iterator_init(req, &it, &f);
    *too_many = false;
    while ((opt = coap_option_next(&it))) {
        if (n == MAX_QUERY) {
            *too_many = true;
            break;
        }
        q[n].text = (const char *)coap_opt_value(opt);
        q[n].len = coap_opt_length(opt);
        n++;
    }
    return n;
}

static enum ls_rc parse_query(enum registration_request kind, const coap_pdu_t *req,
                              struct registration_params *p, struct ls_error *err)
{
    struct registration_query q[MAX_QUERY];
    bool too_many;
    size_t n = collect_query(req, q, &too_many);
    if (too_many)
        return ls_error_set(err, LS_EINVAL, "more than %d query parameters", MAX_QUERY);
    return registration_params_parse(kind, q, n, p, err);
}

/* Appends s to a growing buffer; false on ENOMEM. */
static bool append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap + n + 1) * 2;
        char *b = realloc(*buf, nc);
        if (!b)
            return false;
        *buf = b;
        *cap = nc;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return true;
}

/* ["/1/0","/3/0",...] from the payload's paths, without /0 and /21, which a
 * client must not list (Core TS 1.2: the Security and OSCORE objects are
 * never reported) -- ignored rather than refused, as real clients send them. */
static char *objects_json(const struct lwm2m_link_register *r)
{
    char *buf = NULL, path[LWM2M_PATH_STR_MAX];
    size_t len = 0, cap = 0;
    bool ok = append(&buf, &len, &cap, "[");
    for (size_t i = 0; ok && i < r->n_paths; i++) {
        if (r->paths[i].depth == 0 || r->paths[i].id[0] == 0 || r->paths[i].id[0] == 21)
            continue;
        lwm2m_path_format(&r->paths[i], path);
        ok = append(&buf, &len, &cap, len > 1 ? ",\"" : "\"") &&
             append(&buf, &len, &cap, path) && append(&buf, &len, &cap, "\"");
    }
    if (!ok || !append(&buf, &len, &cap, "]")) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void formats_json(const struct lwm2m_link_register *r, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < r->n_ct && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%u", i ? "," : "", r->ct[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
}

/* Parses the link-format payload (may be empty on Update: *objects stays
 * NULL).  LS_EINVAL for a bad content format, LS_EPROTO for bad links. */
static enum ls_rc parse_payload(const coap_pdu_t *req, bool required, char **objects,
                                char *alt_path, size_t alt_cap, char *formats, size_t fcap,
                                struct ls_error *err)
{
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    struct lwm2m_link_list list;
    struct lwm2m_link_register reg;
    coap_opt_iterator_t it;
    *objects = NULL;
    memset(&reg, 0, sizeof reg);
    memset(&list, 0, sizeof list);
    if (!coap_get_data_large(req, &len, &data, &off, &total) || total == 0) {
        if (!required)
            return LS_OK;
        data = (const uint8_t *)"";
        len = 0;
    }
    coap_opt_t *cf = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
    if (cf && coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf)) != CT_LINK_FORMAT)
        return ls_error_set(err, LS_EINVAL, "payload is not application/link-format");
    enum ls_rc rc = lwm2m_link_parse((const char *)data, len, &list, err);
    if (rc == LS_OK)
        rc = lwm2m_link_register_parse(&list, &reg, err);
    if (rc == LS_OK && !(*objects = objects_json(&reg)))
        rc = ls_error_set(err, LS_ENOMEM, "object list: out of memory");
    if (rc == LS_OK && alt_path)
        snprintf(alt_path, alt_cap, "%s", reg.alt_path ? reg.alt_path : "/");
    if (rc == LS_OK && formats)
        formats_json(&reg, formats, fcap);
    lwm2m_link_register_free(&reg);
    lwm2m_link_list_free(&list);
    /* The parser's LS_ENOMEM mostly means "over its limits" (a payload
     * bigger than any real object list): the client's fault, 4.00. */
    return rc == LS_ENOMEM ? LS_EINVAL : rc;
}

/*
 * Issue 7, X.509 credentials.  The credential cache keys an issued
 * certificate by the first CERT_KEY_LEN bytes of SHA-256 of its DER
 * (store/credentials.c); its id, the registration's identity, is
 * "sha256:" + those bytes in hex (runtime_coap_session_cert_id).
 */
#define CERT_KEY_LEN 16

/* "sha256:" + hex of the first 16 bytes of SHA-256(bytes): the id of an RPK
 * (of its SPKI) or a certificate (of its DER). */
static bool sha_id(const uint8_t *bytes, size_t len, char out[8 + 2 * CERT_KEY_LEN])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(bytes, len, md, &n, EVP_sha256(), NULL) || n < CERT_KEY_LEN)
        return false;
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < CERT_KEY_LEN; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    return true;
}

/*
 * The security of the session, checked against the endpoint it claims:
 *   NoSec  refused (4.03) when the endpoint has PSK credentials: otherwise
 *          anyone could replace its registration by claiming its name;
 *   PSK    the identity must be live and bound to this endpoint (4.03);
 *   RPK    the key (accepted at the handshake because it is known) must be
 *          bound to this endpoint (4.03); its identity is the key's id
 *          ("sha256:<hex>", runtime_coap_session_rpk_id);
 *   X.509  the certificate's CN must be the endpoint name (4.00, as Core
 *          TS 1.2 lists for "ep does not match the certificate"); its
 *          identity is the certificate's id "sha256:<hex>"
 *          (runtime_coap_session_cert_id), which is an issued X.509
 *          credential's identity too.
 * Returns 0 when allowed, else the code to answer.  *security and
 * *identity (X.509: the certificate id, RPK: the key id, borrowed from the session;
 * PSK: NULL, identity_text reads it) are set when allowed.
 */
static coap_pdu_code_t check_identity(struct server_registration *g, coap_session_t *s,
                                      const char *endpoint, const char **security,
                                      const char **identity)
{
    size_t len;
    const uint8_t *id = runtime_coap_session_psk_identity(s, &len);
    *security = "nosec";
    *identity = "";
    if (!runtime_coap_session_is_dtls(s))
        return runtime_credcache_has_endpoint(g->creds, endpoint)
                   ? COAP_RESPONSE_CODE_FORBIDDEN : 0;
    if (len) {
        const struct runtime_credcache_entry *e = runtime_credcache_find(g->creds, id, len);
        if (!e || !e->key_len || strcmp(e->endpoint, endpoint) != 0)
            return COAP_RESPONSE_CODE_FORBIDDEN;  /* revoked, or another device's key */
        *security = "psk";
        *identity = NULL;     /* identity_text() copies it from the session */
        return 0;
    }
    const char *rpk_ep = runtime_coap_session_rpk_endpoint(g->coap, s);
    if (rpk_ep) {
        const char *key_id = runtime_coap_session_rpk_id(g->coap, s);
        if (strcmp(rpk_ep, endpoint) != 0 || !key_id)
            return COAP_RESPONSE_CODE_FORBIDDEN;  /* the key of another device */
        *security = "rpk";
        *identity = key_id;
        return 0;
    }
    const char *cn = runtime_coap_session_cn(g->coap, s);
    if (!cn)
        return COAP_RESPONSE_CODE_FORBIDDEN;
    if (strcmp(cn, endpoint) != 0)
        return COAP_RESPONSE_CODE_BAD_REQUEST;
    /* Issue 7: the identity names the certificate, so that a certificate
     * Lodestar issued is matched to its credential by the database (the
     * device may register before this server's cache has it). */
    const char *cert_id = runtime_coap_session_cert_id(g->coap, s);
    if (!cert_id)
        return COAP_RESPONSE_CODE_FORBIDDEN;
    *security = "x509";
    *identity = cert_id;
    return 0;
}

/* ---- Register ---- */

/* The identity as text: credentials.identity is text in Postgres, so the
 * cache's bytes are valid text; copy them NUL-terminated. */
static char *identity_text(coap_session_t *s, const char *cn)
{
    size_t len;
    const uint8_t *id = runtime_coap_session_psk_identity(s, &len);
    if (!len && cn) {
        id = (const uint8_t *)cn;
        len = strlen(cn);
    }
    char *t = malloc(len + 1);
    if (t) {
        memcpy(t, id ? (const char *)id : "", len);
        t[len] = '\0';
    }
    return t;
}

static bool duplicate_register(struct server_registration *g, coap_session_t *s,
                               const coap_pdu_t *req, const char *endpoint, coap_pdu_t *resp)
{
    struct server_reg *reg = server_registry_by_endpoint(g->registry, endpoint);
    coap_bin_const_t tok = coap_pdu_get_token(req);
    char addr[RUNTIME_ADDR_STR_MAX];
    if (!reg || !tok.length || reg->reg_token_len != tok.length ||
        memcmp(reg->reg_token, tok.s, tok.length) != 0)
        return false;
    /* Same device: the held session (DTLS), or the same address (NoSec
     * sessions are not held, server/registry.c). */
    if (reg->session ? reg->session != s
                     : strcmp(reg->address, runtime_coap_session_addr(s, addr)) != 0)
        return false;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CREATED);
    set_location(resp, reg->id);
    return true;
}

static struct server_reg *stage(struct server_registration *g, const struct op *o,
                                const struct registration_params *p, const char *objects,
                                const char *alt_path, const char *security,
                                const char *identity, const coap_pdu_t *req)
{
    struct server_reg *r = server_reg_new(p->endpoint, p->sms, p->pid, alt_path, objects,
                                          identity);
    if (!r)
        return NULL;
    memcpy(r->id, o->id, sizeof r->id);
    snprintf(r->version, sizeof r->version, "%s", p->version);
    snprintf(r->binding, sizeof r->binding, "%s", p->binding);
    snprintf(r->security, sizeof r->security, "%s", security);
    snprintf(r->address, sizeof r->address, "%s", o->address);
    r->lifetime_s = p->lifetime_s;
    r->queue = p->queue;
    r->registered_at_ms = r->last_seen_ms = o->now_ms;
    r->expires_at_ms = p->lifetime_s ? o->now_ms + p->lifetime_s * 1000 : 0;
    coap_bin_const_t tok = coap_pdu_get_token(req);
    r->reg_token_len = tok.length <= sizeof r->reg_token ? tok.length : 0;
    memcpy(r->reg_token, tok.s, r->reg_token_len);
    return r;
}

static enum ls_rc queue_register(struct server_registration *g, struct op *o,
                                 const char *formats, struct ls_error *err)
{
    const struct server_reg *r = o->staged;
    struct store_registration row = {
        .id = r->id, .endpoint = r->endpoint, .version = r->version,
        .lifetime_s = r->lifetime_s, .binding = r->binding, .queue = r->queue,
        .sms = r->sms, .pid = r->pid, .alt_path = r->alt_path,
        .objects_json = r->objects_json, .formats_json = formats, .address = r->address,
        .security = r->security, .identity = r->identity, .instance_id = g->instance_id,
        .registered_at_ms = r->registered_at_ms, .last_seen_ms = r->last_seen_ms,
        .expires_at_ms = r->expires_at_ms,
    };
    return store_worker_register(g->worker, &row, on_committed, o, err);
}

/* ---- abuse limits on NoSec Registers (issue 10) ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A refusal that says when to come back (RFC 7252 5.9.3.4 for 5.03,
 * RFC 8516 for 4.29: Max-Age is the seconds to wait).  Logged at debug
 * only: a flood must not become a flood of log lines (the counters say). */
static void refuse_for(struct server_registration *g, coap_session_t *s, coap_pdu_t *resp,
                       coap_pdu_code_t code, unsigned retry_s, const char *why)
{
    char addr[RUNTIME_ADDR_STR_MAX];
    uint8_t buf[4];
    coap_pdu_set_code(resp, code);
    coap_add_option(resp, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, retry_s),
                    buf);
    STAT_INC(g, refused);
    if (ls_log_enabled(LS_LOG_DEBUG))
        ls_log_debug("refused", "request=register code=%d.%02d reason=\"%s\" addr=%s "
                     "max_age=%u", code >> 5, code & 0x1f, why, runtime_coap_session_addr(s, addr),
                     retry_s);
}

/*
 * Unauthenticated Registers only (an authenticated one cannot pick a
 * random endpoint name: its credential names it): first the source
 * address's token bucket (4.29, Max-Age = seconds to the next token),
 * then the cap on live NoSec registrations (5.03, Max-Age 60: the server
 * is full, not the client wrong).  A NoSec endpoint already registered
 * (re-Register) is never refused by the cap.  Sets *is_new when the
 * Register will add a NoSec registration.  false when refused.
 */
#define NOSEC_CAP_RETRY_S 60
static bool nosec_admit(struct server_registration *g, coap_session_t *s, const char *endpoint,
                        const char *security, coap_pdu_t *resp, bool *is_new)
{
    unsigned retry_s = 1;
    *is_new = false;
    if (strcmp(security, "nosec") != 0)
        return true;
    const coap_address_t *peer = coap_session_get_addr_remote(s);
    if (g->limit && peer && !runtime_ratelimit_take(g->limit, &peer->addr.sa, mono_ms(),
                                                    &retry_s)) {
        STAT_INC(g, refused_rate);
        refuse_for(g, s, resp, COAP_RESPONSE_CODE_TOO_MANY_REQUESTS, retry_s, "rate limit");
        return false;
    }
    const struct server_reg *old = server_registry_by_endpoint(g->registry, endpoint);
    if (old && strcmp(old->security, "nosec") == 0)
        return true;
    if (g->nosec_max &&
        server_registry_count_nosec(g->registry) + g->nosec_pending >= g->nosec_max) {
        STAT_INC(g, refused_cap);
        refuse_for(g, s, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, NOSEC_CAP_RETRY_S,
                   "nosec cap");
        return false;
    }
    *is_new = true;
    return true;
}

static void do_register(struct server_registration *g, coap_session_t *s, const coap_pdu_t *req,
                        coap_pdu_t *resp)
{
    struct registration_params p;
    struct ls_error err = { 0 };
    char alt_path[256], formats[128] = "[]", *objects = NULL, *identity = NULL;
    const char *security, *cn;
    coap_pdu_code_t denied;
    if (server_parked_again(&g->parked, s, req, resp))
        return;
    enum ls_rc rc = parse_query(REGISTRATION_REGISTER, req, &p, &err);
    if (rc == LS_OK)
        rc = parse_payload(req, true, &objects, alt_path, sizeof alt_path, formats,
                           sizeof formats, &err);
    if (rc != LS_OK) {
        refuse(g, resp, runtime_coap_code(rc), "register", err.msg);
        goto out;
    }
    if ((denied = check_identity(g, s, p.endpoint, &security, &cn))) {
        refuse(g, resp, denied, "register",
               "security does not match the endpoint's credentials");
        goto out;
    }
    if (duplicate_register(g, s, req, p.endpoint, resp))
        goto out;
    bool nosec_new = false;
    if (!nosec_admit(g, s, p.endpoint, security, resp, &nosec_new))   /* issue 10 */
        goto out;
    identity = identity_text(s, cn);
    struct op *o = identity ? op_new(g, OP_REGISTER, s, req) : NULL;
    if (o && nosec_new) {
        o->nosec_new = true;
        g->nosec_pending++;
    }
    if (!o || server_registry_new_id(g->registry, o->id, &err) != LS_OK ||
        !(o->staged = stage(g, o, &p, objects, alt_path, security, identity, req))) {
        if (o)
            op_free(o);
        refuse(g, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "register", "out of memory");
        goto out;
    }
    server_devops_formats_parse(formats, o->staged);   /* ct= of </> (CORE2) */
    park(g, o, queue_register(g, o, formats, &err), req, resp, &err);
out:
    free(identity);
    free(objects);
}

/* ---- Update and De-register (rd/{id}, the unknown-resource handler) ---- */

/* The {id} of rd/{id}, or NULL when the path is anything else. */
static const char *location_id(const coap_pdu_t *req, size_t *len)
{
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    coap_opt_t *opt;
    const char *seg[3];
    size_t seg_len[3], n = 0;
    coap_option_filter_clear(&f);
    coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
    coap_option_iterator_init(req, &it, &f);
    while ((opt = coap_option_next(&it)) && n < 3) {
        seg[n] = (const char *)coap_opt_value(opt);
        seg_len[n++] = coap_opt_length(opt);
    }
    if (n != 2 || seg_len[0] != 2 || memcmp(seg[0], "rd", 2) != 0 || !seg_len[1])
        return NULL;
    *len = seg_len[1];
    return seg[1];
}

/* The registration rd/{id} names, if this session may act on it: a PSK
 * registration only through a session with its identity (else it is as
 * good as unknown: 4.04 makes the client register again). */
static struct server_reg *target(struct server_registration *g, coap_session_t *s,
                                 const coap_pdu_t *req)
{
    size_t len = 0, id_len;
    const char *id = location_id(req, &len);
    struct server_reg *reg = id ? server_registry_by_id(g->registry, id, len) : NULL;
    if (!reg)
        return NULL;
    const uint8_t *ident = runtime_coap_session_psk_identity(s, &id_len);
    bool nosec = strcmp(reg->security, "nosec") == 0;
    if (nosec == runtime_coap_session_is_dtls(s))
        return NULL;
    if (strcmp(reg->security, "x509") == 0) {
        /* the CN is the endpoint, the certificate's id the identity (issue 7) */
        const char *cn = runtime_coap_session_cn(g->coap, s);
        const char *cert_id = runtime_coap_session_cert_id(g->coap, s);
        return cn && cert_id && strcmp(cn, reg->endpoint) == 0 &&
               strcmp(cert_id, reg->identity) == 0 ? reg : NULL;
    }
    if (strcmp(reg->security, "rpk") == 0) {
        const char *ep = runtime_coap_session_rpk_endpoint(g->coap, s);
        return ep && strcmp(ep, reg->endpoint) == 0 ? reg : NULL;
    }
    if (!nosec && (id_len != strlen(reg->identity) || memcmp(ident, reg->identity, id_len)))
        return NULL;
    return reg;
}

static void do_update(struct server_registration *g, struct server_reg *reg, coap_session_t *s,
                      const coap_pdu_t *req, coap_pdu_t *resp)
{
    struct ls_error err = { 0 };
    struct registration_params p;
    char *objects = NULL;
    enum ls_rc rc = parse_query(REGISTRATION_UPDATE, req, &p, &err);
    if (rc == LS_OK && p.version[0] && strcmp(p.version, reg->version) != 0)
        rc = ls_error_set(&err, LS_EINVAL, "an update cannot change lwm2m %s to %s: register again",
                          reg->version, p.version);
    if (rc == LS_OK)
        rc = parse_payload(req, false, &objects, NULL, 0, NULL, 0, &err);
    if (rc != LS_OK) {
        refuse(g, resp, runtime_coap_code(rc), "update", err.msg);
        free(objects);
        return;
    }
    struct op *o = op_new(g, OP_UPDATE, s, req);
    if (!o) {
        free(objects);
        refuse(g, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "update", "out of memory");
        return;
    }
    memcpy(o->id, reg->id, sizeof o->id);
    o->p = p;
    o->objects_json = objects;
    int64_t lt = p.lifetime_s >= 0 ? p.lifetime_s : reg->lifetime_s;
    struct store_registration_update u = {
        .id = reg->id, .endpoint = reg->endpoint, .lifetime_s = p.lifetime_s,
        .binding = p.binding[0] ? p.binding : NULL,
        .queue = p.has_queue || p.binding[0] ? p.queue : -1,
        .sms = p.sms[0] ? p.sms : NULL, .objects_json = objects, .address = o->address,
        .last_seen_ms = o->now_ms, .expires_at_ms = lt ? o->now_ms + lt * 1000 : 0,
    };
    park(g, o, store_worker_update(g->worker, &u, on_committed, o, &err), req, resp, &err);
}

static void do_deregister(struct server_registration *g, struct server_reg *reg,
                          coap_session_t *s, const coap_pdu_t *req, coap_pdu_t *resp)
{
    struct ls_error err = { 0 };
    struct op *o = op_new(g, OP_DEREGISTER, s, req);
    if (!o) {
        refuse(g, resp, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "deregister", "out of memory");
        return;
    }
    memcpy(o->id, reg->id, sizeof o->id);
    park(g, o, store_worker_deregister(g->worker, reg->id, reg->endpoint, "deregistered",
                                       on_committed, o, &err), req, resp, &err);
}

static void do_location(struct server_registration *g, coap_session_t *s, const coap_pdu_t *req,
                        coap_pdu_t *resp)
{
    if (server_parked_again(&g->parked, s, req, resp))
        return;
    struct server_reg *reg = target(g, s, req);
    if (!reg) {
        refuse(g, resp, COAP_RESPONSE_CODE_NOT_FOUND,
               coap_pdu_get_code(req) == COAP_REQUEST_CODE_DELETE ? "deregister" : "update",
               "unknown registration");
        return;
    }
    if (coap_pdu_get_code(req) == COAP_REQUEST_CODE_DELETE)
        do_deregister(g, reg, s, req, resp);
    else
        do_update(g, reg, s, req, resp);
}

/* ---- the handlers libcoap calls ---- */

/* Each ends with runtime_coap_answered: the one place where answers (by
 * code) and completed DTLS handshakes are counted. */
static void hnd_register(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
                         const coap_string_t *query, coap_pdu_t *resp)
{
    struct server_registration *g = coap_resource_get_userdata(res);
    do_register(g, s, req, resp);
    runtime_coap_answered(g->coap, s, resp);
}

static void hnd_location(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
                         const coap_string_t *query, coap_pdu_t *resp)
{
    struct server_registration *g = coap_resource_get_userdata(res);
    do_location(g, s, req, resp);
    runtime_coap_answered(g->coap, s, resp);
}

/* ---- expiry ---- */

static void expire_done(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    if (rc != LS_OK)
        ls_log_warn("expiry_not_stored", "error=\"%s\"", err ? err->msg : ls_rc_name(rc));
}

static void on_expire(void *arg, struct server_reg *reg)
{
    struct server_registration *g = arg;
    struct ls_error err = { 0 };
    if (store_worker_deregister(g->worker, reg->id, reg->endpoint, "expired", expire_done,
                                NULL, &err) != LS_OK) {
        /* Back-pressure: try again in a second rather than lose it. */
        reg->expires_at_ms = wall_ms() + 1000 - SERVER_REGISTRY_GRACE_MS;
        if (server_registry_arm(g->registry, reg, wall_ms(), &err) != LS_OK)
            ls_log_warn("expiry_not_armed", "endpoint=%s", reg->endpoint);
        return;
    }
    ls_log_info("expired", "endpoint=%s id=%s", reg->endpoint, reg->id);
    if (g->observe)
        server_observe_forget(g->observe, reg->endpoint);
    STAT_INC(g, expiries);
    server_registry_remove(g->registry, reg);
    count_changed(g);
}

/* ---- set-up ---- */

struct server_registration *server_registration_new(const struct server_registration_options *o,
                                                    struct ls_error *err)
{
    struct server_registration *g = calloc(1, sizeof *g);
    if (!g) {
        ls_error_set(err, LS_ENOMEM, "registration: out of memory");
        return NULL;
    }
    g->loop = o->loop;
    server_parked_set_loop(&g->parked, g->loop);
    g->worker = o->worker;
    snprintf(g->instance_id, sizeof g->instance_id, "%s", o->instance_id ? o->instance_id : "");
    /* Port 0 picks a new port per start: no address to recognise. */
    size_t alen = o->coap_address ? strlen(o->coap_address) : 0;
    if (alen > 2 && strcmp(o->coap_address + alen - 2, ":0") != 0)
        snprintf(g->coap_address, sizeof g->coap_address, "%s", o->coap_address);
    g->registry = server_registry_new(o->loop, on_expire, g, err);
    if (!g->registry) {
        free(g);
        return NULL;
    }
    g->nosec_max = o->nosec_max;
    g->credlookup = o->credlookup;
    if (o->reg_rate_limit &&
        !(g->limit = runtime_ratelimit_new(o->reg_rate_limit, o->reg_rate_burst, 0, err))) {
        server_registry_free(g->registry);
        free(g);
        return NULL;
    }
    return g;
}

void server_registration_free(struct server_registration *g)
{
    if (!g)
        return;
    while (g->ops)
        op_free(g->ops);
    server_parked_free(&g->parked);
    server_registry_free(g->registry);
    runtime_credcache_free(g->creds);
    runtime_ratelimit_free(g->limit);
    free(g);
}

enum ls_rc server_registration_attach(struct server_registration *g, struct runtime_coap *coap,
                                      struct ls_error *err)
{
    coap_context_t *ctx = runtime_coap_context(coap);
    coap_resource_t *rd = coap_resource_init(coap_make_str_const("rd"), 0);
    coap_resource_t *loc = coap_resource_unknown_init(NULL);
    if (!rd || !loc) {
        if (rd)
            coap_delete_resource(ctx, rd);
        return ls_error_set(err, LS_ENOMEM, "registration: cannot create resources");
    }
    g->coap = coap;
    coap_resource_set_userdata(rd, g);
    coap_register_request_handler(rd, COAP_REQUEST_POST, hnd_register);
    coap_add_resource(ctx, rd);
    coap_resource_set_userdata(loc, g);
    coap_register_request_handler(loc, COAP_REQUEST_POST, hnd_location);
    coap_register_request_handler(loc, COAP_REQUEST_DELETE, hnd_location);
    coap_add_resource(ctx, loc);
    return LS_OK;
}

struct load_ctx {
    struct server_registration *g;
    int64_t now;
    size_t loaded;
    enum ls_rc rc;
};

static void load_row(void *arg, const struct store_registration *row)
{
    struct load_ctx *l = arg;
    struct ls_error err = { 0 };
    struct server_reg *r = server_reg_new(row->endpoint, row->sms, row->pid, row->alt_path,
                                          row->objects_json, row->identity);
    if (!r) {
        l->rc = LS_ENOMEM;
        return;
    }
    snprintf(r->id, sizeof r->id, "%s", row->id);
    snprintf(r->version, sizeof r->version, "%s", row->version);
    server_devops_formats_parse(row->formats_json, r);   /* CORE2 */
    snprintf(r->binding, sizeof r->binding, "%s", row->binding ? row->binding : "U");
    snprintf(r->security, sizeof r->security, "%s", row->security);
    snprintf(r->address, sizeof r->address, "%s", row->address ? row->address : "");
    r->lifetime_s = row->lifetime_s;
    r->queue = row->queue;
    r->registered_at_ms = row->registered_at_ms;
    r->last_seen_ms = row->last_seen_ms;
    r->expires_at_ms = row->expires_at_ms;
    if (server_registry_add(l->g->registry, r, &err) != LS_OK ||
        server_registry_arm(l->g->registry, r, l->now, &err) != LS_OK) {
        ls_log_warn("registration_not_loaded", "id=%s error=\"%s\"", row->id, err.msg);
        return;
    }
    l->loaded++;
}

enum ls_rc server_registration_load(struct server_registration *g, struct store *s,
                                    size_t *loaded_out, struct ls_error *err)
{
    struct load_ctx l = { .g = g, .now = wall_ms(), .rc = LS_OK };
    size_t claimed = 0;
    enum ls_rc rc = LS_OK;
    /* Ownership (several instances on one database): claim what nobody
     * live holds, then load only what this instance holds.  Without an
     * instance id (unit tests), everything. */
    if (g->instance_id[0]) {
        rc = store_commands_claim_registrations(s, g->instance_id,
                                                g->coap_address[0] ? g->coap_address : NULL,
                                                &claimed, err);
        if (rc != LS_OK)
            return rc;
        if (claimed)
            ls_log_info("registrations_claimed", "count=%zu instance=%s", claimed,
                        g->instance_id);
    }
    rc = store_registrations_load(s, g->instance_id[0] ? g->instance_id : NULL, load_row, &l,
                                  err);
    if (rc == LS_OK && l.rc != LS_OK)
        rc = ls_error_set(err, l.rc, "load registrations: out of memory");
    if (loaded_out)
        *loaded_out = l.loaded;
    count_changed(g);
    return rc;
}

void server_registration_set_observe(struct server_registration *g, struct server_observe *o)
{
    g->observe = o;
}

void server_registration_set_commands(struct server_registration *g, struct server_commands *c)
{
    g->commands = c;
}

struct server_registry *server_registration_registry(struct server_registration *g)
{
    return g->registry;
}

/*
 * Invalidated keys (issue 7).  A PSK identity of the old table that the
 * new one no longer has (revoked, expired) or binds to another key or
 * endpoint ends the registration made with it: de-registered through the
 * store worker with reason "revoked", and its DTLS session torn down after
 * this loop turn, so the device's next datagram meets no session and its
 * next handshake meets the new table, which refuses the identity.  The
 * table swap and the cut happen in the same loop turn: no request is
 * handled in between.
 */
struct cut {
    struct server_registration *g;
    const struct runtime_credcache *next;
    size_t n;
};

static bool entry_kept(const struct runtime_credcache *t, const struct runtime_credcache_entry *e)
{
    const struct runtime_credcache_entry *f =
        runtime_credcache_find(t, e->identity, e->identity_len);
    return f && f->key_len == e->key_len && memcmp(f->key, e->key, e->key_len) == 0 &&
           strcmp(f->endpoint, e->endpoint) == 0;
}

/* Whether reg was made with the credential of cache entry e: a PSK
 * identity, or (issue 7) a raw public key (identity = its id) or an issued
 * certificate (identity = its id, the entry's key bytes in hex). */
static bool made_with(const struct server_reg *reg, const struct runtime_credcache_entry *e)
{
    size_t n = 0;
    const uint8_t *pk = runtime_credcache_entry_public_key(e, &n);
    char id[8 + 2 * CERT_KEY_LEN];
    if (!pk)
        return e->key_len && strcmp(reg->security, "psk") == 0 &&
               strlen(reg->identity) == e->identity_len &&
               memcmp(reg->identity, e->identity, e->identity_len) == 0;
    if (strcmp(reg->security, "rpk") == 0 && sha_id(pk, n, id))
        return strcmp(reg->identity, id) == 0;
    if (strcmp(reg->security, "x509") != 0 || n != CERT_KEY_LEN)
        return false;
    memcpy(id, "sha256:", 7);
    for (size_t i = 0; i < CERT_KEY_LEN; i++)
        snprintf(id + 7 + 2 * i, 3, "%02x", pk[i]);
    return strcmp(reg->identity, id) == 0;
}

static void end_revoked(struct server_registration *g, struct server_reg *reg)
{
    struct ls_error err = { 0 };
    if (store_worker_deregister(g->worker, reg->id, reg->endpoint, "revoked", expire_done,
                                NULL, &err) != LS_OK)   /* cut anyway: security first */
        ls_log_warn("revocation_not_stored", "endpoint=%s error=\"%s\"", reg->endpoint,
                    err.msg);
    ls_log_info("revoked", "endpoint=%s id=%s", reg->endpoint, reg->id);
    if (reg->session && g->coap)
        runtime_coap_disconnect_later(g->coap, reg->session);   /* takes its reference */
    if (g->observe)
        server_observe_forget(g->observe, reg->endpoint);
    STAT_INC(g, deregistrations);
    server_registry_remove(g->registry, reg);
}

static void cut_if_revoked(void *arg, const struct runtime_credcache_entry *e)
{
    struct cut *c = arg;
    if (entry_kept(c->next, e))
        return;     /* still valid */
    struct server_reg *reg = server_registry_by_endpoint(c->g->registry, e->endpoint);
    if (!reg || !made_with(reg, e))
        return;     /* registered with another identity (a newer key), or not at all */
    end_revoked(c->g, reg);
    c->n++;
}

/* A refused certificate in a new table that the old one did not hold
 * refused (issue 7: revoked before this server saw it live): end the
 * registration made with it.  c->next is the old table here. */
static void cut_refused_new(void *arg, const struct runtime_credcache_entry *e)
{
    struct cut *c = arg;
    const char *ep = runtime_credcache_refused(e->endpoint);
    if (!ep)
        return;
    const struct runtime_credcache_entry *was =
        c->next ? runtime_credcache_find(c->next, e->identity, e->identity_len) : NULL;
    if (was && strcmp(was->endpoint, e->endpoint) == 0)
        return;     /* refused already */
    struct server_reg *reg = server_registry_by_endpoint(c->g->registry, ep);
    if (!reg || !made_with(reg, e))
        return;
    end_revoked(c->g, reg);
    c->n++;
}

void server_registration_set_credentials(struct server_registration *g,
                                         struct runtime_credcache *table)
{
    struct cut c = { .g = g, .next = table };
    runtime_credcache_each(g->creds, cut_if_revoked, &c);
    struct cut r = { .g = g, .next = g->creds };
    runtime_credcache_each(table, cut_refused_new, &r);
    c.n += r.n;
    runtime_credcache_free(g->creds);
    g->creds = table;
    if (c.n)
        count_changed(g);
    ls_log_info("credentials_loaded", "scope=server psk=%zu cut=%zu",
                runtime_credcache_count(table), c.n);
}

/* A delta dropped or rebound a PSK identity, a raw public key or an issued
 * certificate (revoked: rebound to its endpoint marked refused, or put so
 * when this server never saw it live): end the registration made with it
 * (another identity's registration is left). */
static void cut_gone(void *arg, const struct runtime_credcache_entry *old,
                     const struct runtime_credcache_entry *now)
{
    struct cut *c = arg;
    /* old == now: a certificate revoked before this server saw it live */
    const char *ep = old == now ? runtime_credcache_refused(old->endpoint) : old->endpoint;
    struct server_reg *reg = ep ? server_registry_by_endpoint(c->g->registry, ep) : NULL;
    if (!reg || !made_with(reg, old))
        return;
    end_revoked(c->g, reg);
    c->n++;
}

void server_registration_apply_credentials(struct server_registration *g,
                                           struct runtime_credcache_delta *delta)
{
    struct cut c = { .g = g, .next = NULL };
    size_t n = runtime_credcache_delta_count(delta);
    if (!g->creds && !(g->creds = runtime_credcache_new(NULL)))
        return;     /* out of memory: the next full load catches up */
    runtime_credcache_apply(g->creds, delta, cut_gone, &c);
    if (c.n)
        count_changed(g);
    /* Same event as a full load (tests and operators wait for it); at
     * most one per 50 ms: the watcher coalesces changes. */
    ls_log_info("credentials_loaded", "scope=server psk=%zu cut=%zu changes=%zu",
                runtime_credcache_count(g->creds), c.n, n);
}

/* A PSK identity the table does not hold (yet): one bounded lookup in
 * Postgres (server/credlookup.h), not while the store worker finds the
 * database away.  The entry it finds, or NULL. */
static const struct runtime_credcache_entry *psk_miss(struct server_registration *g,
                                                      const uint8_t *identity, size_t len)
{
    struct store_worker_stats st;
    if (!g->credlookup)
        return NULL;
    store_worker_stats(g->worker, &st);
    if (st.away)
        return NULL;
    struct runtime_credcache_delta *d = server_credlookup_psk(g->credlookup, identity, len);
    if (!d)
        return NULL;
    server_registration_apply_credentials(g, d);
    runtime_credcache_delta_free(d);
    return runtime_credcache_find(g->creds, identity, len);
}

bool server_registration_psk(void *arg, const uint8_t *identity, size_t identity_len,
                             const uint8_t **key, size_t *key_len)
{
    struct server_registration *g = arg;
    const struct runtime_credcache_entry *e =
        runtime_credcache_find(g->creds, identity, identity_len);
    if (!e)
        e = psk_miss(g, identity, identity_len);
    if (!e || !e->key_len)     /* absent, or a raw public key entry */
        return false;
    *key = e->key;
    *key_len = e->key_len;
    return true;
}

const char *server_registration_psk_endpoint(void *arg, const uint8_t *identity,
                                             size_t identity_len)
{
    struct server_registration *g = arg;
    const struct runtime_credcache_entry *e =
        g->creds ? runtime_credcache_find(g->creds, identity, identity_len) : NULL;
    return e && e->key_len ? e->endpoint : NULL;
}

const char *server_registration_rpk(void *arg, const uint8_t *spki, size_t spki_len)
{
    struct server_registration *g = arg;
    const char *ep = runtime_credcache_find_rpk(g->creds, spki, spki_len);
    return ep && !runtime_credcache_refused(ep) ? ep : NULL;   /* a revoked certificate */
}

bool server_registration_x509(void *arg, const char *cn, const uint8_t *der, size_t der_len)
{
    struct server_registration *g = arg;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(der, der_len, md, &n, EVP_sha256(), NULL) || n < CERT_KEY_LEN)
        return false;
    const char *ep = g->creds ? runtime_credcache_find_rpk(g->creds, md, CERT_KEY_LEN) : NULL;
    if (!ep)
        return true;    /* not issued by Lodestar: the CA vouches; the CN is checked later */
    return !runtime_credcache_refused(ep) && strcmp(ep, cn) == 0;
}

void server_registration_session_gone(void *arg, coap_session_t *s)
{
    struct server_registration *g = arg;
    server_registry_session_gone(g->registry, s);
}

void server_registration_stats(const struct server_registration *g,
                                struct server_registration_stats *out)
{
    out->registrations = __atomic_load_n(&g->st.registrations, __ATOMIC_RELAXED);
    out->updates = __atomic_load_n(&g->st.updates, __ATOMIC_RELAXED);
    out->deregistrations = __atomic_load_n(&g->st.deregistrations, __ATOMIC_RELAXED);
    out->expiries = __atomic_load_n(&g->st.expiries, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&g->st.refused, __ATOMIC_RELAXED);
    out->pending = __atomic_load_n(&g->st.pending, __ATOMIC_RELAXED);
    out->current = __atomic_load_n(&g->st.current, __ATOMIC_RELAXED);
    out->refused_rate = __atomic_load_n(&g->st.refused_rate, __ATOMIC_RELAXED);
    out->refused_cap = __atomic_load_n(&g->st.refused_cap, __ATOMIC_RELAXED);
    out->nosec_current = __atomic_load_n(&g->st.nosec_current, __ATOMIC_RELAXED);
    struct runtime_ratelimit_stats ls;
    runtime_ratelimit_stats(g->limit, &ls);
    out->limiter_entries = ls.entries;
    out->limiter_slots = ls.slots;
    out->limiter_evictions = ls.evictions;
}
