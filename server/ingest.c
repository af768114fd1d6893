/*
 * server/ingest.c -- device data that becomes telemetry (ingest.h)
 *
 * The detail of a notification/Send event is built by splicing the API
 * JSON of the values (lwm2m_api_json_encode: {"values":[...]}) after the
 * caller's members, so values are encoded once and Postgres splits the same
 * text into telemetry rows (store/registrations.c, SQL_TELEMETRY).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"
#include "lwm2m/data.h"
#include "runtime/coap.h"
#include "server/registry.h"
#include "store/telemetry.h"

/* Whether the DTLS session s authenticated as reg's identity (the checks
 * server/registration.c makes for an Update). */
static bool same_identity(coap_session_t *s, const struct server_reg *reg)
{
    struct runtime_coap *c = runtime_coap_from_context(coap_session_get_context(s));
    if (strcmp(reg->security, "x509") == 0) {
        const char *cn = c ? runtime_coap_session_cn(c, s) : NULL;
        return cn && strcmp(cn, reg->identity) == 0;
    }
    if (strcmp(reg->security, "rpk") == 0) {
        const char *ep = c ? runtime_coap_session_rpk_endpoint(c, s) : NULL;
        return ep && strcmp(ep, reg->endpoint) == 0;
    }
    if (strcmp(reg->security, "psk") != 0)
        return false;
    size_t len = 0;
    const uint8_t *id = runtime_coap_session_psk_identity(s, &len);
    return id && len == strlen(reg->identity) && memcmp(id, reg->identity, len) == 0;
}

struct server_reg *server_ingest_sender(struct server_registry *r, coap_session_t *s,
                                        const char *expected)
{
    if (!runtime_coap_session_is_dtls(s)) {
        char addr[RUNTIME_ADDR_STR_MAX];
        struct server_reg *reg = server_registry_by_address(r, runtime_coap_session_addr(s, addr));
        return reg && strcmp(reg->security, "nosec") == 0 ? reg : NULL;
    }
    struct server_reg *reg = server_registry_by_session(r, s);
    if (reg)
        return reg;
    if (!expected) {
        /* RPK binds the key to an endpoint: no hint needed. */
        struct runtime_coap *c = runtime_coap_from_context(coap_session_get_context(s));
        expected = c ? runtime_coap_session_rpk_endpoint(c, s) : NULL;
    }
    reg = expected ? server_registry_by_endpoint(r, expected) : NULL;
    return reg && same_identity(s, reg) ? reg : NULL;
}

char *server_ingest_detail(const char *head, const struct lwm2m_data *values,
                           struct ls_error *err)
{
    char *api = lwm2m_api_json_encode(values, err);
    if (!api)
        return NULL;
    /* api is {"values":[...]}: splice head in after its '{'. */
    size_t hl = strlen(head), al = strlen(api);
    char *out = malloc(al + hl + 1);
    if (!out) {
        free(api);
        ls_error_set(err, LS_ENOMEM, "event detail: out of memory");
        return NULL;
    }
    out[0] = '{';
    memcpy(out + 1, head, hl);
    memcpy(out + 1 + hl, api + 1, al);   /* with its NUL */
    free(api);
    return out;
}

enum ls_rc server_ingest_store(struct store_worker *w, const char *endpoint, const char *source,
                               const char *kind, const char *head,
                               const struct lwm2m_data *values, store_worker_done_fn *done,
                               void *arg, struct ls_error *err)
{
    char *detail = server_ingest_detail(head, values, err);
    if (!detail)
        return err ? err->code : LS_ENOMEM;
    enum ls_rc rc = store_worker_telemetry(w, endpoint, source, kind, detail, done, arg, err);
    free(detail);
    return rc;
}

unsigned server_ingest_format(const coap_pdu_t *pdu, unsigned dflt)
{
    coap_opt_iterator_t it;
    coap_opt_t *opt = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);
    if (!opt)
        return dflt;
    return coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

bool server_ingest_json_string(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap < 3)
        return false;
    buf[n++] = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (n + 8 >= cap)
            return false;
        if (*c == '"' || *c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*c;
        } else if (*c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", *c);
        } else {
            buf[n++] = (char)*c;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return true;
}
