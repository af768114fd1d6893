/*
 * server/devops.c -- LwM2M device management operations over CoAP (devops.h)
 *
 * Life of a command (struct req):
 *   execute    parse (400 at once if bad), join the endpoint's FIFO, arm its
 *              deadline; sending is always deferred to a 0 ms timer, so a
 *              done callback that submits the next command never sends from
 *              inside a libcoap callback
 *   pump       the FIFO's head goes out when nothing of the device is in
 *              flight: session (the registry's DTLS one, or the NoSec
 *              session runtime_coap_session_for finds), PDU, coap_send
 *   answer     on_response matches (session, token) among the requests in
 *              flight; NACKs come through runtime/coap's hook; the deadline
 *              timer answers 504 and leaves the request "abandoned" in the
 *              flight list so that its late answer is recognised and dropped
 *   observe    a 2.05 with Observe is handed to server_observe_established;
 *              the caller is answered when OBS says the row is committed
 *
 * Payloads go through coap_add_data_large_request, which does Block1 when
 * needed (a 1 MB firmware write to /5/0/0); the buffer belongs to libcoap
 * from then on and is freed by its release callback, so an abandoned
 * request never leaves libcoap pointing at freed memory.  Large answers are
 * reassembled by libcoap (COAP_BLOCK_SINGLE_BODY) and read with
 * coap_get_data_large.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/devops.h"

#include <coap3/coap.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"
#include "lwm2m/format.h"
#include "lwm2m/link.h"
#include "runtime/coap.h"
#include "runtime/log.h"
#include "runtime/loop.h"
#include "server/command.h"
#include "server/observe.h"
#include "server/registry.h"

#define QUEUE_BUCKETS 1024

struct devq;

enum req_state {
    REQ_WAITING,     /* in its FIFO */
    REQ_FLIGHT,      /* sent, in the flight list */
    REQ_ABANDONED,   /* sent, answered 504; waiting for libcoap to let go */
    REQ_COMMITTING,  /* observe established, waiting for OBS */
};

struct req {
    struct server_devops *d;
    struct devq *q;                  /* NULL once out of its FIFO */
    struct req *next;                /* in the FIFO, the flight list or committing */
    enum req_state state;
    struct server_command cmd;
    char *endpoint;                  /* owned */
    char version[4];
    uint16_t ct[8];                  /* the device's announced formats (reg->formats) */
    size_t n_ct;
    int64_t timeout_ms;
    server_devops_done_fn *done;     /* NULL once answered */
    void *arg;
    struct runtime_loop_timer timer; /* the deadline */
    coap_session_t *session;         /* referenced while sent */
    uint8_t token[8];
    size_t token_len;
    unsigned format;                 /* Content-Format of the payload (or Accept) */
    char *values_json;               /* observe: first values, while committing */
};

/* The requests of one endpoint, in order; at most one in flight. */
struct devq {
    char *endpoint;                  /* owned */
    struct req *head, *tail;         /* REQ_WAITING */
    struct req *flight;              /* the one sent, or NULL */
    bool ready;                      /* on the pump list */
    struct devq *next;               /* hash chain */
    struct devq *next_ready;
};

struct server_devops {
    struct runtime_coap *coap;
    struct runtime_loop *loop;
    const struct lwm2m_model *model;
    struct server_observe *obs;
    struct server_registry *registry;
    struct devq *buckets[QUEUE_BUCKETS];
    struct devq *ready;              /* queues to pump */
    struct runtime_loop_timer pump;
    struct req *flight;              /* sent (REQ_FLIGHT and REQ_ABANDONED) */
    struct req *committing;          /* REQ_COMMITTING */
    unsigned pending;
};

/* ---- JSON helpers ---- */

char *server_devops_error_json(const char *code, const char *coap, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);
    if (e && coap)
        json_object_set_new(e, "coap", json_string(coap));
    json_t *root = e ? json_pack("{s:o}", "error", e) : NULL;
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    return text;
}

static void code_text(coap_pdu_code_t code, char buf[8])
{
    snprintf(buf, 8, "%u.%02u", ((unsigned)code >> 5) & 7u, (unsigned)code & 0x1fu);
}

unsigned server_devops_default_format(const char *version)
{
    return version && strcmp(version, "1.0") == 0 ? LWM2M_FORMAT_TLV : LWM2M_FORMAT_SENML_CBOR;
}

/* Multi-value formats, best first: the compact binary ones, then SenML
 * JSON, then TLV, then the 1.0 JSON. */
static const unsigned write_rank[] = {
    LWM2M_FORMAT_SENML_CBOR, LWM2M_FORMAT_LWM2M_CBOR, LWM2M_FORMAT_SENML_JSON,
    LWM2M_FORMAT_TLV, LWM2M_FORMAT_TLV_OLD, LWM2M_FORMAT_JSON, LWM2M_FORMAT_JSON_OLD,
};

unsigned server_devops_write_format(const char *version, const uint16_t *ct, size_t n,
                                    bool composite)
{
    for (size_t k = 0; k < sizeof write_rank / sizeof write_rank[0]; k++) {
        if (composite && k > 2)
            break;
        if (composite && write_rank[k] == LWM2M_FORMAT_LWM2M_CBOR)
            continue;
        for (size_t i = 0; i < n; i++)
            if (ct[i] == write_rank[k] && lwm2m_format_is_multi(write_rank[k]))
                return write_rank[k];
    }
    return composite ? LWM2M_FORMAT_SENML_CBOR : server_devops_default_format(version);
}

bool server_devops_formats_parse(const char *json, struct server_reg *reg)
{
    reg->formats.n = 0;
    const char *p = json ? json : "[]";
    while (*p == ' ')
        p++;
    if (*p++ != '[')
        return false;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ']')
            return true;
        char *end = NULL;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v > 65535)
            return false;
        if (reg->formats.n < sizeof reg->formats.ct / sizeof reg->formats.ct[0])
            reg->formats.ct[reg->formats.n++] = (uint16_t)v;
        p = end;
    }
}

unsigned server_devops_pending(const struct server_devops *d)
{
    return d->pending;
}

/* ---- answering ---- */

static void req_free(struct req *r)
{
    if (!r)
        return;
    runtime_loop_timer_stop(r->d->loop, &r->timer);
    if (r->session)
        coap_session_release(r->session);
    server_command_free(&r->cmd);
    free(r->endpoint);
    free(r->values_json);
    r->d->pending--;
    free(r);
}

/* Calls done once; the request itself lives on when it is abandoned. */
static void answer(struct req *r, unsigned status, const char *json)
{
    server_devops_done_fn *done = r->done;
    r->done = NULL;
    runtime_loop_timer_stop(r->d->loop, &r->timer);
    if (done)
        done(r->arg, status, json ? json : "{\"error\":{\"code\":\"internal\","
                                           "\"message\":\"out of memory\"}}");
}

static void answer_error(struct req *r, unsigned status, const char *code, const char *coap,
                         const char *msg)
{
    char *json = server_devops_error_json(code, coap, "%s", msg);
    answer(r, status, json);
    free(json);
}

static void answer_json(struct req *r, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        answer_error(r, 500, "internal", NULL, "cannot build the result");
        return;
    }
    answer(r, status, text);
    free(text);
}

/* ---- queues ---- */

static size_t bucket_of(const char *ep)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)ep; *p; p++)
        h = h * 33 + *p;
    return h % QUEUE_BUCKETS;
}

static struct devq *queue_get(struct server_devops *d, const char *ep, bool create)
{
    size_t b = bucket_of(ep);
    for (struct devq *q = d->buckets[b]; q; q = q->next)
        if (strcmp(q->endpoint, ep) == 0)
            return q;
    if (!create)
        return NULL;
    struct devq *q = calloc(1, sizeof *q);
    if (!q || !(q->endpoint = strdup(ep))) {
        free(q);
        return NULL;
    }
    q->next = d->buckets[b];
    d->buckets[b] = q;
    return q;
}

/* Frees q when nothing of it is left (and it is not on the pump list). */
static void queue_tidy(struct server_devops *d, struct devq *q)
{
    if (q->head || q->flight || q->ready)
        return;
    struct devq **pp = &d->buckets[bucket_of(q->endpoint)];
    while (*pp && *pp != q)
        pp = &(*pp)->next;
    if (*pp)
        *pp = q->next;
    free(q->endpoint);
    free(q);
}

static void schedule(struct server_devops *d, struct devq *q)
{
    if (!q->ready) {
        q->ready = true;
        q->next_ready = d->ready;
        d->ready = q;
    }
    if (!runtime_loop_timer_active(&d->pump) &&
        runtime_loop_timer_start(d->loop, &d->pump, 0, 0, NULL) != LS_OK)
        ls_log_warn("devops_pump_failed", "reason=\"out of memory\"");
}

static void list_remove(struct req **list, struct req *r)
{
    for (struct req **pp = list; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            r->next = NULL;
            return;
        }
}

static void fifo_remove(struct devq *q, struct req *r)
{
    struct req *prev = NULL;
    for (struct req *it = q->head; it; prev = it, it = it->next)
        if (it == r) {
            if (prev)
                prev->next = r->next;
            else
                q->head = r->next;
            if (q->tail == r)
                q->tail = prev;
            r->next = NULL;
            return;
        }
}

/* The request sent for q is over (answered, abandoned or committing): the
 * next one of the device may go. */
static void flight_over(struct req *r)
{
    struct devq *q = r->q;
    r->q = NULL;
    if (q && q->flight == r) {
        q->flight = NULL;
        if (q->head)
            schedule(r->d, q);
        else
            queue_tidy(r->d, q);
    }
}

/* A sent request is finished for good: out of the flight list, freed. */
static void finish(struct req *r)
{
    list_remove(&r->d->flight, r);
    flight_over(r);
    req_free(r);
}

/* ---- the deadline ---- */

static void on_deadline(struct runtime_loop *loop, void *arg)
{
    struct req *r = arg;
    char msg[160];
    if (r->state == REQ_WAITING) {
        snprintf(msg, sizeof msg, "no answer within %.3g s: the request waited behind earlier "
                 "requests to the device", (double)r->timeout_ms / 1000);
        struct devq *q = r->q;
        struct server_devops *d = r->d;
        fifo_remove(q, r);
        r->q = NULL;
        answer_error(r, 504, "timeout", NULL, msg);
        req_free(r);
        queue_tidy(d, q);
        return;
    }
    if (r->state == REQ_FLIGHT) {
        snprintf(msg, sizeof msg, "no answer from the device within %.3g s to %s",
                 (double)r->timeout_ms / 1000, server_command_op_name(r->cmd.op));
        r->state = REQ_ABANDONED;
        answer_error(r, 504, "timeout", NULL, msg);
        flight_over(r);
    }
}

/* ---- building the request ---- */

static coap_pdu_code_t method_of(enum server_command_op op)
{
    switch (op) {
    case SERVER_COMMAND_WRITE:
    case SERVER_COMMAND_ATTRIBUTES:
        return COAP_REQUEST_CODE_PUT;
    case SERVER_COMMAND_UPDATE:
    case SERVER_COMMAND_EXECUTE:
    case SERVER_COMMAND_CREATE:
        return COAP_REQUEST_CODE_POST;
    case SERVER_COMMAND_DELETE:
        return COAP_REQUEST_CODE_DELETE;
    case SERVER_COMMAND_READ_COMPOSITE:
    case SERVER_COMMAND_OBSERVE_COMPOSITE:
        return COAP_REQUEST_CODE_FETCH;
    case SERVER_COMMAND_WRITE_COMPOSITE:
        return COAP_REQUEST_CODE_IPATCH;
    default:
        return COAP_REQUEST_CODE_GET;
    }
}

static bool is_senml(unsigned f)
{
    return f == LWM2M_FORMAT_SENML_CBOR || f == LWM2M_FORMAT_SENML_JSON;
}

static bool composite(enum server_command_op op)
{
    return op >= SERVER_COMMAND_READ_COMPOSITE;
}

/* Copies the formats reg announced at Register. */
static void req_formats(struct req *r, const struct server_reg *reg)
{
    r->n_ct = reg->formats.n <= 8 ? reg->formats.n : 8;
    memcpy(r->ct, reg->formats.ct, r->n_ct * sizeof r->ct[0]);
}

/* Which Content-Format a payload gets; LS_EINVAL naming "format".  Without
 * ?format=: a single resource value is text (opaque for opaque), as every
 * client reads; several values go in the best multi-value format the
 * device announced in ct= at Register, else the version's default. */
static enum ls_rc choose_format(struct req *r, struct ls_error *err)
{
    const struct server_command *c = &r->cmd;
    if (composite(c->op)) {
        if (c->has_format && !is_senml(c->format))
            return ls_error_set(err, LS_EINVAL, "format: composite operations use senml-json "
                                                "or senml-cbor");
        r->format = c->has_format ? c->format
                                  : server_devops_write_format(r->version, r->ct, r->n_ct, true);
        return LS_OK;
    }
    if (c->has_format) {
        r->format = c->format;
        if (c->values.count > 1 && !lwm2m_format_is_multi(c->format))
            return ls_error_set(err, LS_EINVAL, "format: %s carries a single value",
                                lwm2m_format_name(c->format));
        return LS_OK;
    }
    if (c->values.count == 1 && c->path.depth >= LWM2M_DEPTH_RESOURCE &&
        lwm2m_path_equal(&c->values.values[0].path, &c->path))
        r->format = c->values.values[0].type == LWM2M_TYPE_OPAQUE ? LWM2M_FORMAT_OPAQUE
                                                                    : LWM2M_FORMAT_TEXT;
    else
        r->format = server_devops_write_format(r->version, r->ct, r->n_ct, false);
    return LS_OK;
}

/* Names-only SenML for Read-/Observe-Composite. */
static enum ls_rc encode_names(struct req *r, struct lwm2m_buf *out, struct ls_error *err)
{
    struct lwm2m_data names;
    lwm2m_data_init(&names);
    enum ls_rc rc = LS_OK;
    for (size_t i = 0; i < r->cmd.n_paths && rc == LS_OK; i++)
        if (!lwm2m_data_append(&names, &r->cmd.paths[i], LWM2M_TYPE_NONE, err))
            rc = LS_ENOMEM;
    struct lwm2m_path root = lwm2m_path_root();
    if (rc == LS_OK)
        rc = lwm2m_format_encode(r->format, &names, &root, r->d->model, out, err);
    lwm2m_data_free(&names);
    return rc;
}

/* The payload of r, if it has one (out->len 0 otherwise). */
static enum ls_rc build_payload(struct req *r, struct lwm2m_buf *out, bool *has,
                                struct ls_error *err)
{
    struct server_command *c = &r->cmd;
    *has = false;
    switch (c->op) {
    case SERVER_COMMAND_EXECUTE:
        *has = c->args != NULL;
        return c->args ? lwm2m_buf_append(out, c->args, strlen(c->args), err) : LS_OK;
    case SERVER_COMMAND_READ_COMPOSITE:
    case SERVER_COMMAND_OBSERVE_COMPOSITE:
        *has = true;
        return encode_names(r, out, err);
    case SERVER_COMMAND_WRITE:
    case SERVER_COMMAND_UPDATE:
    case SERVER_COMMAND_CREATE:
    case SERVER_COMMAND_WRITE_COMPOSITE:
        if (c->values.count == 0)
            return LS_OK;
        *has = true;
        lwm2m_data_sort(&c->values);
        struct ls_error eerr = { 0 };
        if (lwm2m_format_encode(r->format, &c->values, &c->path, r->d->model, out, &eerr) !=
            LS_OK)
            return ls_error_set(err, eerr.code == LS_ENOMEM ? LS_ENOMEM : LS_EINVAL,
                                "values: cannot encode as %s: %s",
                                lwm2m_format_name(r->format), eerr.msg);
        return LS_OK;
    default:
        return LS_OK;
    }
}

static void add_uint_option(coap_pdu_t *pdu, coap_option_num_t num, unsigned v)
{
    uint8_t b[4];
    coap_add_option(pdu, num, coap_encode_var_safe(b, sizeof b, v), b);
}

/* Options in ascending number order: Observe 6, Uri-Path 11,
 * Content-Format 12, Uri-Query 15, Accept 17. */
static void add_options(struct req *r, coap_pdu_t *pdu, const char *alt_path, bool has_payload)
{
    const struct server_command *c = &r->cmd;
    if (c->op == SERVER_COMMAND_OBSERVE || c->op == SERVER_COMMAND_OBSERVE_COMPOSITE)
        add_uint_option(pdu, COAP_OPTION_OBSERVE, COAP_OBSERVE_ESTABLISH);
    for (const char *s = alt_path; s && *s;) {
        while (*s == '/')
            s++;
        size_t n = strcspn(s, "/");
        if (n)
            coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)s);
        s += n;
    }
    for (unsigned i = 0; i < c->path.depth; i++) {
        char seg[8];
        int n = snprintf(seg, sizeof seg, "%u", c->path.id[i]);
        coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)n, (const uint8_t *)seg);
    }
    if (has_payload && c->op != SERVER_COMMAND_EXECUTE)
        add_uint_option(pdu, COAP_OPTION_CONTENT_FORMAT, r->format);
    if (c->op == SERVER_COMMAND_DISCOVER && c->depth >= 0) {
        char q[16];
        int n = snprintf(q, sizeof q, "depth=%d", c->depth);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q);
    }
    if (c->op == SERVER_COMMAND_ATTRIBUTES)
        for (size_t i = 0; i < c->n_queries; i++)
            coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(c->queries[i]),
                            (const uint8_t *)c->queries[i]);
    if (c->op == SERVER_COMMAND_DISCOVER)
        add_uint_option(pdu, COAP_OPTION_ACCEPT, LWM2M_FORMAT_LINK);
    else if (composite(c->op) || ((c->op == SERVER_COMMAND_READ ||
                                   c->op == SERVER_COMMAND_OBSERVE) && c->has_format))
        add_uint_option(pdu, COAP_OPTION_ACCEPT, r->format);
}

static void release_payload(coap_session_t *s, void *app_ptr)
{
    (void)s;
    free(app_ptr);
}

/* Builds and sends r on s.  LS_EINVAL (a payload the format cannot carry:
 * 400), LS_EIO (libcoap refused: 502). */
static enum ls_rc send_req(struct req *r, coap_session_t *s, const char *alt_path,
                           struct ls_error *err)
{
    struct lwm2m_buf payload = { 0 };
    bool has = false;
    if (choose_format(r, err) != LS_OK || build_payload(r, &payload, &has, err) != LS_OK) {
        lwm2m_buf_free(&payload);
        return err && err->code ? err->code : LS_EINVAL;
    }
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, method_of(r->cmd.op), s);
    if (!pdu) {
        lwm2m_buf_free(&payload);
        return ls_error_set(err, LS_EIO, "cannot build the CoAP request");
    }
    coap_session_new_token(s, &r->token_len, r->token);
    coap_add_token(pdu, r->token_len, r->token);
    add_options(r, pdu, alt_path, has);
    if (has && payload.len > 0) {
        /* libcoap owns the bytes from here (release_payload frees them),
         * even when the request is abandoned or fails. */
        if (!coap_add_data_large_request(s, pdu, payload.len, payload.data, release_payload,
                                         payload.data)) {
            coap_delete_pdu(pdu);
            return ls_error_set(err, LS_EIO, "cannot attach the payload");
        }
    } else {
        lwm2m_buf_free(&payload);
    }
    if (coap_send(s, pdu) == COAP_INVALID_MID)
        return ls_error_set(err, LS_EIO, "libcoap could not send the request");
    return LS_OK;
}

/* The session to reach reg on (referenced), or NULL with err. */
static coap_session_t *session_of(struct server_devops *d, struct server_reg *reg,
                                  struct ls_error *err)
{
    coap_session_t *s = reg->session;
    if (!s && strcmp(reg->security, "nosec") != 0) {
        ls_error_set(err, LS_EIO, "the device's secure session is gone; it must register or "
                                  "update again");
        return NULL;
    }
    if (!s)
        s = runtime_coap_session_for(d->coap, reg->address, err);
    return s ? coap_session_reference(s) : NULL;
}

/* Sends the head of q; a head that cannot go is answered and the next tried. */
static void pump_queue(struct server_devops *d, struct devq *q)
{
    while (q->head && !q->flight) {
        struct req *r = q->head;
        fifo_remove(q, r);
        struct server_reg *reg = d->registry ? server_registry_by_endpoint(d->registry,
                                                                           q->endpoint)
                                             : NULL;
        struct ls_error err = { 0 };
        if (!reg) {
            r->q = NULL;
            answer_error(r, 404, "not_registered", NULL, "the device is not registered");
            req_free(r);
            continue;
        }
        snprintf(r->version, sizeof r->version, "%s", reg->version);
        req_formats(r, reg);
        r->session = session_of(d, reg, &err);
        if (!r->session || send_req(r, r->session, reg->alt_path, &err) != LS_OK) {
            r->q = NULL;
            bool bad = err.code == LS_EINVAL;
            answer_error(r, bad ? 400 : 502, bad ? "bad_request" : "unreachable", NULL,
                         err.msg);
            req_free(r);
            continue;
        }
        r->state = REQ_FLIGHT;
        q->flight = r;
        r->next = d->flight;
        d->flight = r;
    }
    queue_tidy(d, q);
}

static void on_pump(struct runtime_loop *loop, void *arg)
{
    struct server_devops *d = arg;
    while (d->ready) {
        struct devq *q = d->ready;
        d->ready = q->next_ready;
        q->ready = false;
        pump_queue(d, q);
    }
}

/* ---- decoding answers ---- */

static bool content_format(const coap_pdu_t *pdu, unsigned *out)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);
    if (!o)
        return false;
    *out = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
    return true;
}

/* {"coap":..,"format":..,"values":[..]} from a 2.05; NULL with err. */
static json_t *values_result(struct req *r, const coap_pdu_t *rcvd, const char *code,
                             struct lwm2m_data *data, struct ls_error *err)
{
    size_t len = 0, off = 0, total = 0;
    const uint8_t *p = NULL;
    coap_get_data_large(rcvd, &len, &p, &off, &total);
    unsigned fmt = LWM2M_FORMAT_TEXT;
    bool has_cf = content_format(rcvd, &fmt);
    if (!has_cf && r->cmd.has_format)
        fmt = r->format;
    if (len > 0 &&
        lwm2m_format_decode(fmt, p, len, &r->cmd.path, r->d->model, data, err) != LS_OK)
        return NULL;
    char *vals = lwm2m_api_json_encode(data, err);
    json_t *v = vals ? json_loads(vals, 0, NULL) : NULL;
    free(vals);
    if (!v) {
        ls_error_set(err, LS_EPROTO, "cannot express the values as JSON");
        return NULL;
    }
    const char *name = lwm2m_format_name(fmt);
    json_object_set_new(v, "coap", json_string(code));
    json_object_set_new(v, "format", name ? json_string(name) : json_integer(fmt));
    return v;
}

static json_t *discover_result(const coap_pdu_t *rcvd, const char *code, struct ls_error *err)
{
    size_t len = 0, off = 0, total = 0;
    const uint8_t *p = NULL;
    coap_get_data_large(rcvd, &len, &p, &off, &total);
    struct lwm2m_link_list list;
    if (lwm2m_link_parse((const char *)p, len, &list, err) != LS_OK)
        return NULL;
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < list.count; i++) {
        const struct lwm2m_link *l = &list.links[i];
        if (!l->uri)
            continue;
        json_t *attrs = json_object();
        for (size_t k = 0; attrs && k < l->n_attrs; k++)
            json_object_set_new(attrs, l->attrs[k].name,
                                l->attrs[k].value ? json_string(l->attrs[k].value)
                                                  : json_null());
        json_array_append_new(entries, json_pack("{s:s,s:o}", "path", l->uri, "attributes",
                                                 attrs ? attrs : json_object()));
    }
    lwm2m_link_list_free(&list);
    json_t *links = json_stringn((const char *)p, len);
    if (!entries || !links) {
        json_decref(entries);
        json_decref(links);
        ls_error_set(err, LS_EPROTO, "the link format payload is not UTF-8");
        return NULL;
    }
    return json_pack("{s:s,s:o,s:o}", "coap", code, "links", links, "entries", entries);
}

/* "/3303/1" from the Location-Path options of a 2.01. */
static json_t *create_result(struct req *r, const coap_pdu_t *rcvd, const char *code)
{
    char loc[128] = "";
    size_t n = 0;
    coap_opt_iterator_t it;
    coap_opt_t *o;
    coap_option_iterator_init(rcvd, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)))
        if (it.number == COAP_OPTION_LOCATION_PATH && n + coap_opt_length(o) + 2 < sizeof loc)
            n += (size_t)snprintf(loc + n, sizeof loc - n, "/%.*s", (int)coap_opt_length(o),
                                  (const char *)coap_opt_value(o));
    if (!n && r->cmd.values.count) {
        struct lwm2m_path inst = lwm2m_path_truncate(&r->cmd.values.values[0].path, 2);
        lwm2m_path_format(&inst, loc);
    }
    json_t *res = json_pack("{s:s}", "coap", code);
    if (res && loc[0])
        json_object_set_new(res, "location", json_string(loc));
    return res;
}

/* ---- observe ---- */

static void on_observed(void *arg, enum ls_rc rc, int64_t id)
{
    struct req *r = arg;
    list_remove(&r->d->committing, r);
    if (rc != LS_OK) {
        answer_error(r, rc == LS_ETRANSIENT ? 503 : 500, rc == LS_ETRANSIENT ? "unavailable"
                                                                             : "internal",
                     NULL, "the observation could not be stored");
    } else {
        json_t *v = r->values_json ? json_loads(r->values_json, 0, NULL) : NULL;
        if (v)
            json_object_set_new(v, "observation", json_integer(id));
        answer_json(r, 200, v);
    }
    req_free(r);
}

/* The 2.05 of an Observe: hand it to OBS, answer after its commit. */
static void establish(struct req *r, const coap_pdu_t *rcvd, const char *code)
{
    struct server_devops *d = r->d;
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    struct ls_error err = { 0 };
    json_t *v = values_result(r, rcvd, code, &data, &err);
    struct server_reg *reg = d->registry ? server_registry_by_endpoint(d->registry, r->endpoint)
                                         : NULL;
    if (!v || !reg || !d->obs) {
        answer_error(r, v ? (reg ? 501 : 404) : 502,
                     v ? (reg ? "not_implemented" : "not_registered") : "device_error", code,
                     v ? (reg ? "observations are not supported" : "the device is gone")
                       : err.msg);
        json_decref(v);
        lwm2m_data_free(&data);
        finish(r);
        return;
    }
    r->values_json = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    /* Out of the flight list: the device's notifications now go to OBS. */
    list_remove(&d->flight, r);
    flight_over(r);
    r->state = REQ_COMMITTING;
    r->next = d->committing;
    d->committing = r;
    char texts[SERVER_COMMAND_MAX_PATHS][LWM2M_PATH_STR_MAX];
    const char *paths[SERVER_COMMAND_MAX_PATHS];
    size_t n = r->cmd.op == SERVER_COMMAND_OBSERVE ? 1 : r->cmd.n_paths;
    for (size_t i = 0; i < n; i++) {
        lwm2m_path_format(r->cmd.op == SERVER_COMMAND_OBSERVE ? &r->cmd.path : &r->cmd.paths[i],
                          texts[i]);
        paths[i] = texts[i];
    }
    unsigned fmt = r->format;
    content_format(rcvd, &fmt);
    server_observe_established(d->obs, reg, r->token, r->token_len, paths, n,
                               r->cmd.op == SERVER_COMMAND_OBSERVE_COMPOSITE, fmt,
                               r->cmd.attributes_json, &data, on_observed, r);
    lwm2m_data_free(&data);
}

static bool has_observe(const coap_pdu_t *pdu)
{
    coap_opt_iterator_t it;
    return coap_check_option(pdu, COAP_OPTION_OBSERVE, &it) != NULL;
}

/* A 2.xx for r. */
static void on_success(struct req *r, const coap_pdu_t *rcvd, coap_pdu_code_t code)
{
    char ct[8];
    code_text(code, ct);
    struct ls_error err = { 0 };
    struct lwm2m_data data;
    json_t *res = NULL;
    enum server_command_op op = r->cmd.op;
    if (op == SERVER_COMMAND_OBSERVE || op == SERVER_COMMAND_OBSERVE_COMPOSITE) {
        if (has_observe(rcvd)) {
            establish(r, rcvd, ct);
            return;
        }
        answer_error(r, 502, "device_error", ct, "the device answered without Observe: "
                                                 "the path is not observed");
        finish(r);
        return;
    }
    lwm2m_data_init(&data);
    if (op == SERVER_COMMAND_READ || op == SERVER_COMMAND_READ_COMPOSITE)
        res = values_result(r, rcvd, ct, &data, &err);
    else if (op == SERVER_COMMAND_DISCOVER)
        res = discover_result(rcvd, ct, &err);
    else if (op == SERVER_COMMAND_CREATE)
        res = create_result(r, rcvd, ct);
    else
        res = json_pack("{s:s}", "coap", ct);
    lwm2m_data_free(&data);
    if (!res)
        answer_error(r, 502, "device_error", ct, err.msg[0] ? err.msg : "bad answer");
    else
        answer_json(r, op == SERVER_COMMAND_CREATE ? 201 : 200, res);
    finish(r);
}

static void on_failure(struct req *r, coap_pdu_code_t code)
{
    char ct[8], msg[96];
    code_text(code, ct);
    unsigned cls = (unsigned)code >> 5, detail = (unsigned)code & 0x1f;
    unsigned status = cls == 4 ? 400 + detail : 502;
    if (cls == 4 && detail == 1)
        status = 403;
    if (status < 400 || status > 499)
        status = cls == 4 ? 400 : 502;
    snprintf(msg, sizeof msg, "the device answered %s to %s", ct,
             server_command_op_name(r->cmd.op));
    answer_error(r, status, "device_error", ct, msg);
    finish(r);
}

static struct req *find_flight(struct server_devops *d, const coap_session_t *s,
                               const coap_bin_const_t *tok)
{
    for (struct req *r = d->flight; r; r = r->next)
        if (r->session == s && tok && r->token_len == tok->length &&
            memcmp(r->token, tok->s, tok->length) == 0)
            return r;
    return NULL;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    (void)sent;
    (void)mid;
    struct runtime_coap *c = runtime_coap_from_context(coap_session_get_context(s));
    struct server_devops *d = c ? runtime_coap_user(c) : NULL;
    if (!d)
        return COAP_RESPONSE_OK;
    coap_bin_const_t tok = coap_pdu_get_token(rcvd);
    struct req *r = find_flight(d, s, &tok);
    coap_pdu_code_t code = coap_pdu_get_code(rcvd);
    if (!r)
        return d->obs && server_observe_on_notify(d->obs, s, rcvd) ? COAP_RESPONSE_OK
                                                                   : COAP_RESPONSE_FAIL;
    if (r->state == REQ_ABANDONED) {
        bool observing = has_observe(rcvd);
        finish(r);
        /* A late Observe answer: RST, so that the device drops it. */
        return observing ? COAP_RESPONSE_FAIL : COAP_RESPONSE_OK;
    }
    if ((code >> 5) == 2)
        on_success(r, rcvd, code);
    else
        on_failure(r, code);
    return COAP_RESPONSE_OK;
}

static void on_nack(void *arg, coap_session_t *s, const coap_pdu_t *sent,
                    coap_nack_reason_t reason)
{
    struct server_devops *d = arg;
    if (!sent)
        return;
    coap_bin_const_t tok = coap_pdu_get_token(sent);
    struct req *r = find_flight(d, s, &tok);
    if (!r)
        return;
    if (r->state == REQ_FLIGHT) {
        if (reason == COAP_NACK_TOO_MANY_RETRIES)
            answer_error(r, 504, "timeout", NULL,
                         "no answer from the device after retransmissions");
        else if (reason == COAP_NACK_RST)
            answer_error(r, 502, "device_error", NULL, "the device reset the request (RST)");
        else
            answer_error(r, 502, "unreachable", NULL, "the request could not be delivered");
    }
    finish(r);
}

/* ---- interface ---- */

struct server_devops *server_devops_new(struct runtime_coap *coap, struct runtime_loop *loop,
                                        const struct lwm2m_model *model,
                                        struct server_observe *obs, struct ls_error *err)
{
    struct server_devops *d = calloc(1, sizeof *d);
    if (!d) {
        ls_error_set(err, LS_ENOMEM, "devops: out of memory");
        return NULL;
    }
    d->coap = coap;
    d->loop = loop;
    d->model = model;
    d->obs = obs;
    runtime_loop_timer_init(&d->pump, on_pump, d);
    runtime_coap_set_user(coap, d);
    coap_register_response_handler(runtime_coap_context(coap), on_response);
    runtime_coap_set_nack(coap, on_nack, d);
    return d;
}

void server_devops_set_registry(struct server_devops *d, struct server_registry *r)
{
    d->registry = r;
}

static void drain(struct req **list)
{
    while (*list) {
        struct req *r = *list;
        *list = r->next;
        r->q = NULL;
        answer_error(r, 503, "unavailable", NULL, "the server is shutting down");
        req_free(r);
    }
}

void server_devops_free(struct server_devops *d)
{
    if (!d)
        return;
    runtime_loop_timer_stop(d->loop, &d->pump);
    runtime_coap_set_nack(d->coap, NULL, NULL);
    runtime_coap_set_user(d->coap, NULL);
    coap_register_response_handler(runtime_coap_context(d->coap), NULL);
    drain(&d->flight);
    drain(&d->committing);
    for (size_t b = 0; b < QUEUE_BUCKETS; b++)
        while (d->buckets[b]) {
            struct devq *q = d->buckets[b];
            d->buckets[b] = q->next;
            drain(&q->head);
            free(q->endpoint);
            free(q);
        }
    free(d);
}

void server_devops_execute(struct server_devops *d, struct server_reg *reg,
                           const char *command_json, int64_t timeout_ms,
                           server_devops_done_fn *done, void *arg)
{
    struct req *r = calloc(1, sizeof *r);
    struct ls_error err = { 0 };
    if (!r || !(r->endpoint = strdup(reg->endpoint))) {
        free(r);
        char *j = server_devops_error_json("internal", NULL, "out of memory");
        done(arg, 500, j);
        free(j);
        return;
    }
    d->pending++;
    r->d = d;
    r->done = done;
    r->arg = arg;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    snprintf(r->version, sizeof r->version, "%s", reg->version);
    req_formats(r, reg);
    runtime_loop_timer_init(&r->timer, on_deadline, r);
    if (server_command_parse(command_json, strlen(command_json), d->model, &r->cmd, &err) !=
        LS_OK) {
        answer_error(r, err.code == LS_ENOMEM ? 500 : 400,
                     err.code == LS_ENOMEM ? "internal" : "bad_request", NULL, err.msg);
        req_free(r);
        return;
    }
    if (r->cmd.op == SERVER_COMMAND_CANCEL_OBSERVE ||
        r->cmd.op == SERVER_COMMAND_CANCEL_OBSERVE_COMPOSITE) {
        char texts[SERVER_COMMAND_MAX_PATHS][LWM2M_PATH_STR_MAX];
        const char *paths[SERVER_COMMAND_MAX_PATHS];
        bool single = r->cmd.op == SERVER_COMMAND_CANCEL_OBSERVE;
        size_t n = single ? 1 : r->cmd.n_paths;
        for (size_t i = 0; i < n; i++) {
            lwm2m_path_format(single ? &r->cmd.path : &r->cmd.paths[i], texts[i]);
            paths[i] = texts[i];
        }
        server_devops_done_fn *fn = r->done;
        void *fn_arg = r->arg;
        r->done = NULL;
        req_free(r);
        if (!d->obs) {
            char *j = server_devops_error_json("not_found", NULL, "no such observation");
            fn(fn_arg, 404, j);
            free(j);
            return;
        }
        server_observe_cancel(d->obs, reg, paths, n, !single, fn, fn_arg);
        return;
    }
    struct devq *q = queue_get(d, reg->endpoint, true);
    if (!q || runtime_loop_timer_start(d->loop, &r->timer, r->timeout_ms, 0, &err) != LS_OK) {
        answer_error(r, 500, "internal", NULL, "out of memory");
        req_free(r);
        return;
    }
    r->q = q;
    r->state = REQ_WAITING;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    schedule(d, q);
}
