/*
 * bootstrap/session.c -- the client-initiated bootstrap sequence
 *
 * After POST /bs was answered 2.04, the Bootstrap-Server drives the client
 * (Transport TS 1.2 "Bootstrap Interface"; LWM2M.md):
 *   BS-Discover  GET / Accept 40 (optional): the client's instances and
 *                which /0 instance is its bootstrap account; 1.0 answers
 *                without </> are fine (lwm2m_bsconfig_client_discover)
 *   BS-Read      GET /1 (optional); a client that reads the spec as
 *                "BS-Read only on /2" (or the reverse) refuses one of them:
 *                the other is tried, and a refusal of both is only noted
 *   BS-Delete    each configured path (never the bootstrap account, never
 *                /3/0 -- the plan leaves them out); errors are noted, not
 *                fatal (deleting what is not there may be 4.04)
 *   BS-Write     PUT /o/i of every planned instance in the client's format
 *                (its pct, else the configuration's "format", else TLV);
 *                anything but 2.04 ends the session with the cause
 *   Finish       POST /bs; 2.04 = success; 4.06 (with the client's
 *                diagnostic payload) is recorded as finish_rejected
 * One request is outstanding at a time.  Per request, libcoap retransmits
 * the CON (the configuration's "ack_timeout_ms" and "max_retransmit",
 * default 2 s and 3: these are the request's timeout and retries); a NACK
 * ends the session with cause timeout.  The session deadline
 * ("session_timeout_s", bootstrap.c) bounds the whole.
 *
 * Everything here runs on the loop thread; sends happen only from
 * bs_sequence_start/advance, which bootstrap.c calls after
 * coap_io_process (never inside a libcoap callback).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bootstrap/bootstrap_int.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m/format.h"
#include "runtime/coap.h"
#include "runtime/log.h"

static unsigned write_format(const struct bs_session *bs)
{
    if (bs->pct)
        return bs->pct;
    if (bs->cfg->format)
        return bs->cfg->format;
    return LWM2M_FORMAT_TLV;
}

static void add_path(coap_pdu_t *pdu, const struct lwm2m_path *p)
{
    for (uint8_t i = 0; i < p->depth; i++) {
        char seg[8];
        int n = snprintf(seg, sizeof seg, "%u", p->id[i]);
        coap_add_option(pdu, COAP_OPTION_URI_PATH, (size_t)n, (const uint8_t *)seg);
    }
}

static void release_payload(coap_session_t *s, void *app_ptr)
{
    free(app_ptr);
}

/*
 * Sends one request; payload (may be NULL) is consumed.  On failure the
 * session ends (internal).
 */
static void send_request(struct bs_session *bs, coap_pdu_code_t method,
                         const struct lwm2m_path *path, bool bs_path, unsigned accept,
                         unsigned content_format, uint8_t *payload, size_t len)
{
    coap_session_t *s = bs->session;
    uint8_t buf[4];
    if (!s) {
        free(payload);
        bs_session_end(bs, false, BS_CAUSE_SESSION_CLOSED, "the client's session closed");
        return;
    }
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, method, coap_new_message_id(s),
                                    coap_session_max_pdu_size(s));
    if (!pdu) {
        free(payload);
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "cannot build a request");
        return;
    }
    coap_session_new_token(s, &bs->token_len, bs->token);
    coap_add_token(pdu, bs->token_len, bs->token);
    if (bs_path)
        coap_add_option(pdu, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"bs");
    else
        add_path(pdu, path);
    if (content_format)
        coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(buf, sizeof buf, content_format), buf);
    if (accept != (unsigned)-1)
        coap_add_option(pdu, COAP_OPTION_ACCEPT, coap_encode_var_safe(buf, sizeof buf, accept),
                        buf);
    if (payload && !coap_add_data_large_request(s, pdu, len, payload, release_payload,
                                                payload)) {
        coap_delete_pdu(pdu);
        free(payload);   /* not released by libcoap when the call fails */
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "cannot attach the payload");
        return;
    }
    bs->outstanding = true;
    bs->answer = 0;
    if (coap_send(s, pdu) == COAP_INVALID_MID) {
        bs->outstanding = false;
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "coap_send failed");
        return;
    }
    runtime_coap_kick(bs->b->coap);
}

static void send_discover(struct bs_session *bs)
{
    struct lwm2m_path root = lwm2m_path_root();
    send_request(bs, COAP_REQUEST_CODE_GET, &root, false, LWM2M_FORMAT_LINK, 0, NULL, 0);
}

static void send_read(struct bs_session *bs)
{
    bool acl = (bs->cfg->read == LWM2M_BSCONFIG_READ_ACL) != (bs->read_tries > 0);
    struct lwm2m_path p = lwm2m_path_object(acl ? 2 : 1);
    bs->read_tries++;
    send_request(bs, COAP_REQUEST_CODE_GET, &p, false, write_format(bs), 0, NULL, 0);
}

static bool plan(struct bs_session *bs)
{
    struct ls_error err = { 0 };
    struct lwm2m_bsconfig_issued is[LWM2M_BSCONFIG_MAX_SERVERS];
    bs_session_issued(bs, is);
    if (lwm2m_bsconfig_plan_build(bs->cfg, &bs->client, is, &bs->plan, &err) != LS_OK) {
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "plan: %s", err.msg);
        return false;
    }
    bs->planned = true;
    bs->idx = 0;
    return true;
}

static void send_write(struct bs_session *bs)
{
    const struct lwm2m_bsconfig_write *w = &bs->plan.writes[bs->idx];
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    unsigned f = write_format(bs);
    if (lwm2m_format_encode(f, &w->data, &w->path, bs->b->model, &out, &err) != LS_OK) {
        lwm2m_buf_free(&out);
        bs_session_end(bs, false, BS_CAUSE_INTERNAL, "encode: %s", err.msg);
        return;
    }
    send_request(bs, COAP_REQUEST_CODE_PUT, &w->path, false, (unsigned)-1, f, out.data,
                 out.len);
}

/* Sends the request of the current step, moving past steps with nothing
 * to send. */
static void send_next(struct bs_session *bs)
{
    for (;;) {
        switch (bs->step) {
        case BS_STEP_DISCOVER:
            if (bs->cfg->discover)
                return send_discover(bs);
            bs->step = BS_STEP_READ;
            continue;
        case BS_STEP_READ:
            if (bs->cfg->read != LWM2M_BSCONFIG_READ_NONE && bs->read_tries < 2)
                return send_read(bs);
            if (!plan(bs))
                return;
            bs->step = BS_STEP_DELETE;
            continue;
        case BS_STEP_DELETE:
            if (bs->idx < bs->plan.n_deletes)
                return send_request(bs, COAP_REQUEST_CODE_DELETE, &bs->plan.deletes[bs->idx],
                                    false, (unsigned)-1, 0, NULL, 0);
            bs->step = BS_STEP_WRITE;
            bs->idx = 0;
            continue;
        case BS_STEP_WRITE:
            if (bs->idx < bs->plan.n_writes)
                return send_write(bs);
            bs->step = BS_STEP_FINISH;
            continue;
        case BS_STEP_FINISH:
            return send_request(bs, COAP_REQUEST_CODE_POST, NULL, true, (unsigned)-1, 0, NULL,
                                0);
        default:
            return;
        }
    }
}

void bs_sequence_start(struct bs_session *bs)
{
    bs->format = write_format(bs);
    bs->step = BS_STEP_DISCOVER;
    if (bs->session) {
        int64_t ms = bs->cfg->ack_timeout_ms;
        coap_session_set_ack_timeout(bs->session, (coap_fixed_point_t){
                                                      (uint16_t)(ms / 1000), (uint16_t)(ms % 1000) });
        coap_session_set_max_retransmit(bs->session, (uint16_t)bs->cfg->max_retransmit);
    }
    bs_session_ready(bs);   /* the first request leaves after the 2.04 */
}

void bs_sequence_advance(struct bs_session *bs)
{
    if (!bs->finished && !bs->outstanding)
        send_next(bs);
}

static void path_text(const struct lwm2m_path *p, char buf[LWM2M_PATH_STR_MAX])
{
    lwm2m_path_format(p, buf);
}

static void on_discover(struct bs_session *bs, coap_pdu_code_t code, const coap_pdu_t *rcv)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    struct ls_error err = { 0 };
    bs_session_note(bs, "discover", "/", code);
    if (code == COAP_RESPONSE_CODE_CONTENT && coap_get_data(rcv, &len, &data) &&
        lwm2m_bsconfig_client_discover(&bs->client, (const char *)data, len, &err) != LS_OK)
        ls_log_info("bootstrap_discover_unreadable", "endpoint=\"%s\" error=\"%s\"",
                    bs->endpoint, err.msg);
    bs->step = BS_STEP_READ;
}

static void on_read(struct bs_session *bs, coap_pdu_code_t code)
{
    bool acl = (bs->cfg->read == LWM2M_BSCONFIG_READ_ACL) != (bs->read_tries > 1);
    bs_session_note(bs, "read", acl ? "/2" : "/1", code);
    if (code == COAP_RESPONSE_CODE_CONTENT)
        bs->read_tries = 2;   /* one reading is enough */
}

static void on_write(struct bs_session *bs, coap_pdu_code_t code)
{
    char p[LWM2M_PATH_STR_MAX];
    path_text(&bs->plan.writes[bs->idx].path, p);
    bs_session_note(bs, "write", p, code);
    if (code != COAP_RESPONSE_CODE_CHANGED) {
        bs_session_end(bs, false, BS_CAUSE_DEVICE_ERROR, "BS-Write %s answered %d.%02d", p,
                       code >> 5, code & 0x1f);
        return;
    }
    bs->idx++;
}

static void on_finish(struct bs_session *bs, coap_pdu_code_t code, const coap_pdu_t *rcv)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    bs_session_note(bs, "finish", "/bs", code);
    if (code == COAP_RESPONSE_CODE_CHANGED) {
        bs_session_end(bs, true, BS_CAUSE_NONE, NULL);
        return;
    }
    if (!coap_get_data(rcv, &len, &data))
        len = 0;
    /* the client's diagnostic payload says why; keep printable bytes only */
    char why[120];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof why - 1; i++)
        why[n++] = data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' ? (char)data[i] : '?';
    why[n] = '\0';
    bs_session_end(bs, false, BS_CAUSE_FINISH_REJECTED, "Bootstrap-Finish answered %d.%02d%s%s",
                   code >> 5, code & 0x1f, n ? ": " : "", why);
}

bool bs_sequence_on_response(struct bs_session *bs, const coap_pdu_t *received)
{
    coap_bin_const_t tok = coap_pdu_get_token(received);
    if (!bs->outstanding || tok.length != bs->token_len ||
        memcmp(tok.s, bs->token, tok.length) != 0)
        return false;
    coap_pdu_code_t code = coap_pdu_get_code(received);
    char p[LWM2M_PATH_STR_MAX];
    bs->outstanding = false;
    bs->answer = code;
    switch (bs->step) {
    case BS_STEP_DISCOVER:
        on_discover(bs, code, received);
        break;
    case BS_STEP_READ:
        on_read(bs, code);
        break;
    case BS_STEP_DELETE:
        path_text(&bs->plan.deletes[bs->idx], p);
        bs_session_note(bs, "delete", p, code);
        bs->idx++;
        break;
    case BS_STEP_WRITE:
        on_write(bs, code);
        break;
    case BS_STEP_FINISH:
        on_finish(bs, code, received);
        break;
    default:
        break;
    }
    bs_session_ready(bs);
    return true;
}

const char *bs_step_name(enum bs_step step)
{
    static const char *const steps[] = { "resolving", "answering", "BS-Discover", "BS-Read",
                                         "BS-Delete", "BS-Write", "Bootstrap-Finish", "done" };
    return (unsigned)step <= BS_STEP_DONE ? steps[step] : "done";
}

void bs_sequence_on_nack(struct bs_session *bs, coap_nack_reason_t reason)
{
    const char *step = bs_step_name(bs->step);
    bs->outstanding = false;
    bs_session_note(bs, step, NULL, 0);
    bs_session_end(bs, false, reason == COAP_NACK_TOO_MANY_RETRIES ? BS_CAUSE_TIMEOUT
                                                                   : BS_CAUSE_SESSION_CLOSED,
                   "no answer to %s (%s)", step,
                   reason == COAP_NACK_TOO_MANY_RETRIES ? "retries exhausted"
                   : reason == COAP_NACK_RST        ? "reset"
                                                    : "session lost");
}
