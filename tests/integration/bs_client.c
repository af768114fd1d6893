/*
 * tests/integration/bs_client.c -- a minimal libcoap bootstrap client
 *
 * Stand-in for the harness device's bootstrap role (DEV lands it last,
 * tests/harness/lwm2m_device_bootstrap.c is a stub until then): enough of
 * a real client for test_bootstrap.c.  It holds a bootstrap account at
 * /0/0 and a server account /0/1 + /1/0 (ssid 101) before bootstrap,
 * answers BS-Discover (1.0 style without </> when version is "1.0"),
 * BS-Read /1, BS-Delete (never /0/0 nor /3/0), BS-Write in any format the
 * codecs decode (values kept), Bootstrap-Finish (4.06 unless a /0 server
 * account has its /1 instance), and can fetch /bspack.  Single-threaded,
 * driven by coap_io_process with deadlines.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bs_client.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lwm2m/format.h"
#include "lwm2m/model.h"

struct bs_client {
    coap_context_t *ctx;
    coap_session_t *session;
    const char *version;
    struct lwm2m_data tree;          /* every value the client holds */
    struct lwm2m_model *model;       /* built-in objects: types TLV values */
    struct bs_client_result *r;
    int fail_code;                   /* answer to fail_method on fail_path once */
    coap_pdu_code_t fail_method;
    char fail_path[32];
    int got_code;                    /* answer to our own request */
    bool got;
    uint8_t *body;                   /* its payload */
    size_t body_len;
    unsigned body_format;
};

static void seed(struct bs_client *c)
{
    struct lwm2m_path p;
    struct lwm2m_value *v;
    p = lwm2m_path_resource(0, 0, 0);
    lwm2m_data_append_bytes(&c->tree, &p, LWM2M_TYPE_STRING, "coap://bs", 9, NULL);
    p = lwm2m_path_resource(0, 0, 1);
    v = lwm2m_data_append(&c->tree, &p, LWM2M_TYPE_BOOLEAN, NULL);
    v->v.b = true;
    p = lwm2m_path_resource(0, 1, 10);
    v = lwm2m_data_append(&c->tree, &p, LWM2M_TYPE_INTEGER, NULL);
    v->v.i = 99;
    p = lwm2m_path_resource(1, 0, 0);
    v = lwm2m_data_append(&c->tree, &p, LWM2M_TYPE_INTEGER, NULL);
    v->v.i = 99;
    p = lwm2m_path_resource(3, 0, 0);
    lwm2m_data_append_bytes(&c->tree, &p, LWM2M_TYPE_STRING, "Lodestar", 8, NULL);
}

/* Removes every value under prefix except the BS account and /3/0. */
static void tree_delete(struct bs_client *c, const struct lwm2m_path *prefix)
{
    size_t k = 0;
    for (size_t i = 0; i < c->tree.count; i++) {
        struct lwm2m_value *v = &c->tree.values[i];
        bool keep = !lwm2m_path_has_prefix(&v->path, prefix) ||
                    (v->path.id[0] == 0 && v->path.id[1] == 0) ||
                    (v->path.id[0] == 3 && v->path.id[1] == 0);
        if (keep)
            c->tree.values[k++] = *v;
    }
    c->tree.count = k;
}

static int64_t tree_int(const struct bs_client *c, uint16_t o, uint16_t i, uint16_t r, bool *found)
{
    struct lwm2m_path p = lwm2m_path_resource(o, i, r);
    for (size_t k = 0; k < c->tree.count; k++) {
        if (lwm2m_path_equal(&c->tree.values[k].path, &p)) {
            *found = true;
            return c->tree.values[k].v.i;
        }
    }
    *found = false;
    return 0;
}

static bool finish_ok(const struct bs_client *c)
{
    for (unsigned i = 1; i < 16; i++) {
        bool f;
        int64_t ssid = tree_int(c, 0, (uint16_t)i, 10, &f);
        if (!f)
            continue;
        for (unsigned j = 0; j < 16; j++) {
            bool g;
            if (tree_int(c, 1, (uint16_t)j, 0, &g) == ssid && g)
                return true;
        }
    }
    return false;
}

static void discover(struct bs_client *c, coap_pdu_t *resp)
{
    char buf[512];
    size_t n = 0;
    if (strcmp(c->version, "1.0") != 0)
        n += snprintf(buf + n, sizeof buf - n, "</>;lwm2m=%s,", c->version);
    n += snprintf(buf + n, sizeof buf - n, "</0/0>,</0/1>;ssid=99,</1/0>;ssid=99,</3/0>");
    uint8_t b[4];
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(b, sizeof b, 40), b);
    coap_add_data(resp, n, (const uint8_t *)buf);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
    c->r->discovers++;
}

static void write_values(struct bs_client *c, const struct lwm2m_path *path,
                         const coap_pdu_t *req, coap_pdu_t *resp)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
    unsigned f = o ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : 0;
    size_t len = 0;
    const uint8_t *data = NULL;
    struct lwm2m_data in;
    lwm2m_data_init(&in);
    coap_get_data(req, &len, &data);
    c->r->write_format = f;
    if (lwm2m_format_decode(f, data, len, path, c->model, &in, NULL) != LS_OK) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_BAD_REQUEST);
        c->r->failed_writes++;
        lwm2m_data_free(&in);
        return;
    }
    tree_delete(c, path);
    for (size_t i = 0; i < in.count; i++) {
        struct lwm2m_value *v = &in.values[i];
        if (v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE)
            lwm2m_data_append_bytes(&c->tree, &v->path, v->type, v->v.bytes.ptr,
                                    v->v.bytes.len, NULL);
        else {
            struct lwm2m_value *n = lwm2m_data_append(&c->tree, &v->path, v->type, NULL);
            n->v = v->v;
        }
    }
    lwm2m_data_free(&in);
    c->r->writes++;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);
}

static void on_request(coap_resource_t *res, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    struct bs_client *c = coap_get_app_data(coap_session_get_context(s));
    coap_string_t *uri = coap_get_uri_path(req);
    char path[64];
    snprintf(path, sizeof path, "/%.*s", uri ? (int)uri->length : 0, uri ? (char *)uri->s : "");
    coap_delete_string(uri);
    coap_pdu_code_t m = coap_pdu_get_code(req);
    if (c->fail_code && (!c->fail_method || c->fail_method == m) && !strcmp(path, c->fail_path)) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(c->fail_code));
        c->fail_code = 0;
        c->r->failed_writes++;
        return;
    }
    if (m == COAP_REQUEST_CODE_POST && !strcmp(path, "/bs")) {
        c->r->finish_code = finish_ok(c) ? 204 : 406;
        coap_pdu_set_code(resp, finish_ok(c) ? COAP_RESPONSE_CODE_CHANGED
                                             : COAP_RESPONSE_CODE_NOT_ACCEPTABLE);
        c->r->finished = true;
        return;
    }
    struct lwm2m_path p;
    if (lwm2m_path_parse(path, strlen(path), &p, NULL) != LS_OK) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_BAD_REQUEST);
        return;
    }
    coap_opt_iterator_t it;
    coap_opt_t *acc = coap_check_option(req, COAP_OPTION_ACCEPT, &it);
    if (m == COAP_REQUEST_CODE_GET && acc && coap_decode_var_bytes(coap_opt_value(acc),
                                                                   coap_opt_length(acc)) == 40)
        return discover(c, resp);
    if (m == COAP_REQUEST_CODE_GET) {
        c->r->reads++;
        coap_pdu_set_code(resp, p.depth == 1 && p.id[0] == 1 ? COAP_RESPONSE_CODE_CONTENT
                                                             : COAP_RESPONSE_CODE_NOT_ALLOWED);
        return;
    }
    if (m == COAP_REQUEST_CODE_DELETE) {
        c->r->deletes++;
        tree_delete(c, &p);
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_DELETED);
        return;
    }
    if (m == COAP_REQUEST_CODE_PUT)
        return write_values(c, &p, req, resp);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_ALLOWED);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcv, const coap_mid_t mid)
{
    struct bs_client *c = coap_get_app_data(coap_session_get_context(s));
    coap_pdu_code_t code = coap_pdu_get_code(rcv);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    c->got = true;
    c->got_code = (code >> 5) * 100 + (code & 0x1f);
    if (coap_get_data_large(rcv, &len, &data, &off, &total) && len) {
        free(c->body);
        c->body = malloc(len);
        memcpy(c->body, data, len);
        c->body_len = len;
    }
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(rcv, COAP_OPTION_CONTENT_FORMAT, &it);
    c->body_format = o ? coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : 0;
    return COAP_RESPONSE_OK;
}

struct bs_client *bs_client_new(const char *server, const char *version, const char *identity,
                                const char *key)
{
    struct bs_client *c = calloc(1, sizeof *c);
    coap_address_t dst;
    char host[64];
    int port = 0;
    const char *colon = strrchr(server, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - server), server);
    port = atoi(colon + 1);
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &dst.addr.sin.sin_addr);
    dst.size = sizeof dst.addr.sin;
    c->version = version;
    lwm2m_data_init(&c->tree);
    c->model = lwm2m_model_new(NULL);
    seed(c);
    c->ctx = coap_new_context(NULL);
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_set_app_data(c->ctx, c);
    coap_register_response_handler(c->ctx, on_response);
    coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
    coap_register_handler(r, COAP_REQUEST_GET, on_request);
    coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
    coap_register_handler(r, COAP_REQUEST_POST, on_request);
    coap_add_resource(c->ctx, r);
    if (identity) {
        coap_dtls_cpsk_t psk = { 0 };
        psk.version = COAP_DTLS_CPSK_SETUP_VERSION;
        psk.psk_info.identity.s = (const uint8_t *)identity;
        psk.psk_info.identity.length = strlen(identity);
        psk.psk_info.key.s = (const uint8_t *)key;
        psk.psk_info.key.length = strlen(key);
        c->session = coap_new_client_session_psk2(c->ctx, NULL, &dst, COAP_PROTO_DTLS, &psk);
    } else {
        c->session = coap_new_client_session(c->ctx, NULL, &dst, COAP_PROTO_UDP);
    }
    return c;
}

void bs_client_free(struct bs_client *c)
{
    if (!c)
        return;
    coap_session_release(c->session);
    coap_free_context(c->ctx);
    lwm2m_data_free(&c->tree);
    lwm2m_model_free(c->model);
    free(c->body);
    free(c);
}

void bs_client_fail_next(struct bs_client *c, coap_pdu_code_t method, const char *path, int code)
{
    c->fail_method = method;
    snprintf(c->fail_path, sizeof c->fail_path, "%s", path);
    c->fail_code = code;
}

static int request(struct bs_client *c, coap_pdu_code_t method, const char *path,
                   const char *ep, int pct, int accept, int64_t deadline)
{
    uint8_t b[4];
    char q[320];
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, method, c->session);
    uint8_t tok[8];
    size_t tl;
    coap_session_new_token(c->session, &tl, tok);
    coap_add_token(pdu, tl, tok);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path);
    if (accept >= 0)
        coap_add_option(pdu, COAP_OPTION_ACCEPT, coap_encode_var_safe(b, sizeof b, accept), b);
    if (ep) {
        snprintf(q, sizeof q, "ep=%s", ep);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(q), (const uint8_t *)q);
    }
    if (pct >= 0) {
        snprintf(q, sizeof q, "pct=%d", pct);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(q), (const uint8_t *)q);
    }
    c->got = false;
    coap_send(c->session, pdu);
    while (!c->got && harness_now_ms() < deadline)
        coap_io_process(c->ctx, 50);
    return c->got ? c->got_code : -1;
}

bool bs_client_bootstrap(struct bs_client *c, const char *ep, int pct, bool try_pack,
                         int64_t timeout_ms, struct bs_client_result *r)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    memset(r, 0, sizeof *r);
    c->r = r;
    if (try_pack) {
        r->pack_code = request(c, COAP_REQUEST_CODE_GET, "bspack", ep, -1, 112, deadline);
        if (r->pack_code == 205) {
            struct lwm2m_data in;
            struct lwm2m_path root = lwm2m_path_root();
            lwm2m_data_init(&in);
            if (lwm2m_format_decode(c->body_format, c->body, c->body_len, &root, c->model,
                                    &in, NULL) != LS_OK) {
                lwm2m_data_free(&in);
                return false;
            }
            struct lwm2m_path o0 = lwm2m_path_object(0), o1 = lwm2m_path_object(1);
            tree_delete(c, &o0);
            tree_delete(c, &o1);
            for (size_t i = 0; i < in.count; i++) {
                struct lwm2m_value *v = &in.values[i];
                if (v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE)
                    lwm2m_data_append_bytes(&c->tree, &v->path, v->type, v->v.bytes.ptr,
                                            v->v.bytes.len, NULL);
                else
                    lwm2m_data_append(&c->tree, &v->path, v->type, NULL)->v = v->v;
            }
            lwm2m_data_free(&in);
            r->finished = true;
            return true;
        }
    }
    r->request_code = request(c, COAP_REQUEST_CODE_POST, "bs", ep, pct, -1, deadline);
    if (r->request_code != 204)
        return false;
    while (harness_now_ms() < deadline && !(r->finished && r->finish_code == 204))
        coap_io_process(c->ctx, 50);
    /* let the Finish answer leave */
    coap_io_process(c->ctx, COAP_IO_NO_WAIT);
    return r->finished && r->finish_code == 204;
}

bool bs_client_account(struct bs_client *c, struct bs_client_account *a)
{
    memset(a, 0, sizeof *a);
    for (size_t k = 0; k < c->tree.count; k++) {
        const struct lwm2m_value *v = &c->tree.values[k];
        if (v->path.id[0] != 0 || v->path.id[1] == 0 || v->path.depth != 3)
            continue;
        switch (v->path.id[2]) {
        case 0:
            snprintf(a->uri, sizeof a->uri, "%.*s", (int)v->v.bytes.len,
                     (const char *)v->v.bytes.ptr);
            break;
        case 2:
            a->mode = (int)v->v.i;
            break;
        case 3:
            snprintf(a->identity, sizeof a->identity, "%.*s", (int)v->v.bytes.len,
                     (const char *)v->v.bytes.ptr);
            break;
        case 5:
            a->key_len = v->v.bytes.len < sizeof a->key ? v->v.bytes.len : sizeof a->key;
            memcpy(a->key, v->v.bytes.ptr, a->key_len);
            break;
        case 10:
            a->ssid = (int)v->v.i;
            break;
        }
    }
    return a->uri[0] != 0;
}
