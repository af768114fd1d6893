/*
 * tests/harness/lwm2m_device_bootstrap.c -- the test device's
 * bootstrap-client role (lwm2m_device.h harness_device_bootstrap)
 *
 * Client-initiated bootstrap only: GET /bspack (LwM2M 1.2 Bootstrap-Pack)
 * when asked, else POST /bs; then, while d->bootstrapping, the DM handler
 * (lwm2m_device_dm.c) hands every request here first: BS-Discover,
 * BS-Read, BS-Write, BS-Delete, Bootstrap-Finish (LwM2M Core 1.2 §6.1).
 * Writes reuse the DM write path with bootstrap semantics (any resource,
 * instances created, every codec accepted).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m_device_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- tree queries ---- */

static bool int_at(struct harness_device *d, uint16_t o, uint16_t i, uint16_t r, int64_t *out)
{
    struct lwm2m_path p = lwm2m_path_resource(o, i, r);
    struct dev_value *v = dev_tree_find(&d->tree, &p);
    if (!v)
        return false;
    if (v->type == LWM2M_TYPE_INTEGER || v->type == LWM2M_TYPE_TIME)
        *out = v->v.i;
    else if (v->type == LWM2M_TYPE_UNSIGNED)
        *out = (int64_t)v->v.u;
    else if (v->type == LWM2M_TYPE_BOOLEAN)
        *out = v->v.b;
    else
        return false;
    return true;
}

static const struct dev_value *bytes_at(struct harness_device *d, uint16_t o, uint16_t i,
                                        uint16_t r)
{
    struct lwm2m_path p = lwm2m_path_resource(o, i, r);
    const struct dev_value *v = dev_tree_find(&d->tree, &p);
    return v && v->bytes ? v : NULL;
}

static bool is_bs_account(struct harness_device *d, uint16_t inst)
{
    int64_t b = 0;
    return int_at(d, 0, inst, 1, &b) && b;
}

/* The /1 instance with that ssid, or -1. */
static int server_for_ssid(struct harness_device *d, int64_t ssid)
{
    for (size_t k = 0; k < d->tree.ninst; k++) {
        int64_t s;
        const struct lwm2m_path *ip = &d->tree.insts[k];
        if (ip->id[0] == 1 && int_at(d, 1, ip->id[1], 0, &s) && s == ssid)
            return ip->id[1];
    }
    return -1;
}

static bool consistent(struct harness_device *d)
{
    for (size_t k = 0; k < d->tree.ninst; k++) {
        const struct lwm2m_path *ip = &d->tree.insts[k];
        int64_t ssid;
        if (ip->id[0] == 0 && !is_bs_account(d, ip->id[1]) &&
            int_at(d, 0, ip->id[1], 10, &ssid) && server_for_ssid(d, ssid) >= 0)
            return true;
    }
    return false;
}

/* ---- operations ---- */

static void set_code(coap_pdu_t *resp, int code)
{
    coap_pdu_set_code(resp, dev_code_pdu(code));
}

static void bs_discover(struct harness_device *d, coap_pdu_t *resp,
                        const struct lwm2m_path *p)
{
    char buf[8192];
    size_t len = 0;
    int n = 0;
    buf[0] = '\0';
    if (strcmp(d->version, "1.0") != 0 && p->depth == 0)
        n = snprintf(buf, sizeof buf, "</>;lwm2m=%s", d->version);
    len = n > 0 ? (size_t)n : 0;
    bool any = false;
    for (size_t k = 0; k < d->tree.ninst; k++) {
        const struct lwm2m_path *ip = &d->tree.insts[k];
        if (p->depth >= 1 && ip->id[0] != p->id[0])
            continue;
        any = true;
        char extra[400] = "";
        int64_t ssid;
        if (ip->id[0] == 0) {
            const struct dev_value *uri = bytes_at(d, 0, ip->id[1], 0);
            size_t el = 0;
            if (!is_bs_account(d, ip->id[1]) && int_at(d, 0, ip->id[1], 10, &ssid))
                el = (size_t)snprintf(extra, sizeof extra, ";ssid=%lld", (long long)ssid);
            if (uri)
                snprintf(extra + el, sizeof extra - el, ";uri=\"%.*s\"", (int)uri->len,
                         (const char *)uri->bytes);
        } else if (ip->id[0] == 1 && int_at(d, 1, ip->id[1], 0, &ssid)) {
            snprintf(extra, sizeof extra, ";ssid=%lld", (long long)ssid);
        }
        n = snprintf(buf + len, sizeof buf - len, "%s</%u/%u>%s", len ? "," : "", ip->id[0],
                     ip->id[1], extra);
        if (n < 0 || (size_t)n >= sizeof buf - len)
            break;
        len += (size_t)n;
    }
    if (p->depth >= 1 && !any)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s</%u>", len ? "," : "",
                                p->id[0]);
    uint8_t b[4];
    set_code(resp, 205);
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(b, sizeof b, LWM2M_FORMAT_LINK), b);
    coap_add_data(resp, len, (const uint8_t *)buf);
    d->last_format = LWM2M_FORMAT_LINK;
}

static bool protected_instance(struct harness_device *d, uint16_t o, uint16_t i)
{
    return (o == 0 && is_bs_account(d, i)) || (o == 3 && i == 0);
}

static int bs_delete(struct harness_device *d, const struct lwm2m_path *p)
{
    if (p->depth > 2)
        return 400;
    if (p->depth == 2 && protected_instance(d, p->id[0], p->id[1]))
        return 400;
    for (size_t k = 0; k < d->tree.ninst;) {
        struct lwm2m_path ip = d->tree.insts[k];
        if (!lwm2m_path_has_prefix(&ip, p) || protected_instance(d, ip.id[0], ip.id[1])) {
            k++;
            continue;
        }
        dev_tree_remove(&d->tree, &ip);
        dev_changed_locked(d, &ip);
    }
    return 202;
}

static bool uri_is(const coap_pdu_t *req, const char *want)
{
    coap_string_t *u = coap_get_uri_path(req);
    bool eq = u && u->length == strlen(want) && !memcmp(u->s, want, u->length);
    if (u)
        coap_delete_string(u);
    return eq;
}

bool dev_bs_handle(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                   const coap_pdu_t *req, const coap_string_t *q,
                   const struct lwm2m_path *p, coap_pdu_t *resp)
{
    coap_pdu_code_t m = coap_pdu_get_code(req);
    if (!p) {
        if (m != COAP_REQUEST_CODE_POST || !uri_is(req, "bs"))
            return false;
        bool ok = consistent(d);
        d->bs.finish_code = ok ? 204 : 406;
        if (ok) {
            d->bs.finished = true;
            d->bs_finished = true;
        }
        pthread_cond_broadcast(&d->cv);
        set_code(resp, d->bs.finish_code);
        return true;
    }
    coap_opt_iterator_t it;
    coap_opt_t *acc = coap_check_option(req, COAP_OPTION_ACCEPT, &it);
    bool link = acc && coap_decode_var_bytes(coap_opt_value(acc), coap_opt_length(acc)) ==
                           LWM2M_FORMAT_LINK;
    switch (m) {
    case COAP_REQUEST_CODE_GET:
        if (link) {
            d->bs.discovers++;
            if (p->depth > 1)
                set_code(resp, 400);
            else
                bs_discover(d, resp, p);
        } else {
            d->bs.reads++;
            if (p->depth == 0 || (p->id[0] != 1 && p->id[0] != 2))
                set_code(resp, 405);
            else
                dev_dm_read(d, r, s, req, resp, q, p);
        }
        return true;
    case COAP_REQUEST_CODE_PUT: {
        d->bs.writes++;
        int code = p->depth == 0 ? 400 : dev_dm_write(d, req, p, false, true);
        if (code >= 400)
            d->bs.failed_writes++;
        set_code(resp, code);
        return true;
    }
    case COAP_REQUEST_CODE_DELETE:
        d->bs.deletes++;
        set_code(resp, bs_delete(d, p));
        return true;
    default:
        return false;
    }
}

/* ---- the client side ---- */

static void finish_pack(struct harness_device *d)
{
    struct lwm2m_data data;
    struct lwm2m_path root = lwm2m_path_root();
    struct ls_error err = { 0 };
    lwm2m_data_init(&data);
    if (lwm2m_format_decode(LWM2M_FORMAT_SENML_CBOR, d->answer_body, d->answer_len, &root,
                            d->model, &data, &err) != LS_OK) {
        fprintf(stderr, "harness_device_bootstrap: bad pack: %s\n", err.msg);
        d->bs.failed_writes++;
    } else {
        for (size_t i = 0; i < data.count; i++) {
            if (data.values[i].path.depth >= 2)
                dev_tree_add_instance(&d->tree, data.values[i].path.id[0],
                                      data.values[i].path.id[1]);
            dev_tree_put(&d->tree, &data.values[i]);
        }
        d->bs.writes++;
    }
    lwm2m_data_free(&data);
    bool ok = consistent(d);
    d->bs.finish_code = ok ? 204 : 406;
    d->bs.finished = ok;
    d->bs_finished = ok;
}

bool harness_device_bootstrap(struct harness_device *d, const char *endpoint, double pct,
                              bool try_pack, int64_t timeout_ms,
                              struct harness_bs_result *result)
{
    int64_t deadline = dev_now_ms() + timeout_ms;
    char ep[300], pq[64];
    snprintf(ep, sizeof ep, "ep=%s", endpoint ? endpoint : "");   /* NULL: no ep= */
    pthread_mutex_lock(&d->mu);
    memset(&d->bs, 0, sizeof d->bs);
    d->bs_finished = false;
    d->bootstrapping = true;
    if (try_pack) {
        const char *q[] = { endpoint ? ep : NULL, NULL };
        d->bs.pack_code = dev_request_locked(d, COAP_REQUEST_CODE_GET, "bspack", q, NULL, 0, -1,
                                             LWM2M_FORMAT_SENML_CBOR, timeout_ms);
        if (d->bs.pack_code == 205)
            finish_pack(d);
    }
    if (!d->bs.finished && d->bs.pack_code != 205) {
        const char *q[] = { NULL, NULL, NULL };
        size_t nq = 0;
        if (endpoint)
            q[nq++] = ep;
        if (pct >= 0) {
            snprintf(pq, sizeof pq, "pct=%g", pct);
            q[nq++] = pq;
        }
        int64_t left = deadline - dev_now_ms();
        d->bs.request_code = dev_request_locked(d, COAP_REQUEST_CODE_POST, "bs", q, NULL, 0, -1,
                                                -1, left > 0 ? left : 1);
        if (d->bs.request_code == 204)
            dev_wait_locked(d, &d->bs_finished, deadline);
    }
    d->bootstrapping = false;
    bool ok = d->bs.finished;
    if (result)
        *result = d->bs;
    pthread_mutex_unlock(&d->mu);
    return ok;
}

/* ---- accounts ---- */

static bool account_at(struct harness_device *d, uint16_t inst,
                       struct harness_device_account *a)
{
    memset(a, 0, sizeof *a);
    a->security_instance = inst;
    a->server_instance = 65535;
    int64_t v;
    const struct dev_value *b;
    if ((b = bytes_at(d, 0, inst, 0)))
        snprintf(a->uri, sizeof a->uri, "%.*s", (int)b->len, (const char *)b->bytes);
    if (int_at(d, 0, inst, 10, &v))
        a->ssid = (uint16_t)v;
    a->security_mode = int_at(d, 0, inst, 2, &v) ? (int)v : -1;
    if ((b = bytes_at(d, 0, inst, 3))) {
        snprintf(a->identity, sizeof a->identity, "%.*s", (int)b->len, (const char *)b->bytes);
        a->public_key_len = b->len < sizeof a->public_key ? b->len : sizeof a->public_key;
        memcpy(a->public_key, b->bytes, a->public_key_len);
    }
    if ((b = bytes_at(d, 0, inst, 5))) {
        a->key_len = b->len < sizeof a->key ? b->len : sizeof a->key;
        memcpy(a->key, b->bytes, a->key_len);
    }
    int srv = server_for_ssid(d, a->ssid);
    if (srv >= 0) {
        a->server_instance = (uint16_t)srv;
        if (int_at(d, 1, (uint16_t)srv, 1, &v))
            a->lifetime_s = v;
        if ((b = bytes_at(d, 1, (uint16_t)srv, 7)))
            snprintf(a->binding, sizeof a->binding, "%.*s", (int)b->len,
                     (const char *)b->bytes);
    }
    return true;
}

bool harness_device_server_account(struct harness_device *d, unsigned index,
                                   struct harness_device_account *out)
{
    bool found = false;
    pthread_mutex_lock(&d->mu);
    unsigned n = 0;
    for (size_t k = 0; k < d->tree.ninst && !found; k++) {
        const struct lwm2m_path *ip = &d->tree.insts[k];
        if (ip->id[0] != 0 || is_bs_account(d, ip->id[1]))
            continue;
        if (n++ == index)
            found = account_at(d, ip->id[1], out);
    }
    pthread_mutex_unlock(&d->mu);
    return found;
}

unsigned harness_device_server_account_count(struct harness_device *d)
{
    unsigned n = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t k = 0; k < d->tree.ninst; k++)
        if (d->tree.insts[k].id[0] == 0 && !is_bs_account(d, d->tree.insts[k].id[1]))
            n++;
    pthread_mutex_unlock(&d->mu);
    return n;
}

struct harness_device *harness_device_new_for_account(struct harness_device *d,
                                                      const struct harness_device_account *a)
{
    const char *hostport = NULL;
    if (!strncmp(a->uri, "coaps://", 8))
        hostport = a->uri + 8;
    else if (!strncmp(a->uri, "coap://", 7))
        hostport = a->uri + 7;
    if (!hostport || (a->security_mode != 0 && a->security_mode != 2 &&
                      a->security_mode != 3)) {
        fprintf(stderr, "harness_device_new_for_account: unsupported uri \"%s\" or mode %d\n",
                a->uri, a->security_mode);
        return NULL;
    }
    char server[256];
    snprintf(server, sizeof server, "%s", hostport);
    char *slash = strchr(server, '/');
    if (slash)
        *slash = '\0';
    struct harness_device_options o = {
        .server = server,
        .version = d->version,
        .psk_identity = a->security_mode == 0 ? a->identity : NULL,
        .psk_key = a->key,
        .psk_key_len = a->key_len,
    };
    if (a->security_mode == 2) {    /* certificate + private key, DER */
        o.cert_der = a->public_key;
        o.cert_der_len = a->public_key_len;
        o.key_der = a->key;
        o.key_der_len = a->key_len;
    }
    struct harness_device *n = harness_device_new(&o);
    if (!n)
        return NULL;
    struct dev_tree copy;
    pthread_mutex_lock(&d->mu);
    bool ok = dev_tree_copy(&copy, &d->tree);
    pthread_mutex_unlock(&d->mu);
    if (ok) {
        dev_tree_free(&n->tree);
        n->tree = copy;
        dev_dm_sync_resources(n);
    }
    return n;
}

/* ---- reacting to a Bootstrap-Request Trigger (Execute /1/x/9) ---- */

bool harness_device_bootstrap_account(struct harness_device *d,
                                      struct harness_device_account *out)
{
    bool found = false;
    pthread_mutex_lock(&d->mu);
    for (size_t k = 0; k < d->tree.ninst && !found; k++) {
        const struct lwm2m_path *ip = &d->tree.insts[k];
        if (ip->id[0] == 0 && is_bs_account(d, ip->id[1]))
            found = account_at(d, ip->id[1], out);
    }
    pthread_mutex_unlock(&d->mu);
    return found;
}

unsigned harness_device_bootstrap_triggers(struct harness_device *d)
{
    unsigned n = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->nexecs; i++)
        if (d->execs[i].path.depth == 3 && d->execs[i].path.id[0] == 1 &&
            d->execs[i].path.id[2] == 9)
            n += d->execs[i].count;
    pthread_mutex_unlock(&d->mu);
    return n;
}

unsigned harness_device_wait_bootstrap_trigger(struct harness_device *d, unsigned seen,
                                               int64_t timeout_ms)
{
    int64_t deadline = dev_now_ms() + timeout_ms;
    unsigned n;
    while ((n = harness_device_bootstrap_triggers(d)) <= seen && dev_now_ms() < deadline)
        harness_device_run(d, 20);   /* serves requests; returns early on none */
    return n;
}

struct harness_device *harness_device_new_for_bootstrap(struct harness_device *d)
{
    struct harness_device_account a;
    if (!harness_device_bootstrap_account(d, &a)) {
        fprintf(stderr, "harness_device_new_for_bootstrap: no bootstrap account\n");
        return NULL;
    }
    return harness_device_new_for_account(d, &a);
}

/* Registers a device for the account, retrying while lodestar-server has
 * not loaded the fresh credentials yet (a refused handshake). */
static struct harness_device *register_account(struct harness_device *b,
                                               const struct harness_device_account *a,
                                               const char *endpoint, int64_t lifetime_s,
                                               int64_t deadline, int *code, char *location,
                                               size_t cap)
{
    *code = -1;
    while (dev_now_ms() < deadline) {
        struct harness_device *n = harness_device_new_for_account(b, a);
        if (!n)
            return NULL;
        int64_t left = deadline - dev_now_ms();
        *code = harness_device_register_lwm2m(n, endpoint, lifetime_s, a->binding[0] ?
                                              a->binding : NULL, false, NULL,
                                              left < 3000 ? (left > 0 ? left : 1) : 3000,
                                              location, cap);
        if (*code == 201)
            return n;
        harness_device_free(n);
        if (*code != -1)
            return NULL;           /* an answer other than success: no retry */
        struct timespec ts = { 0, 100 * 1000000 };  /* the server's reload interval */
        nanosleep(&ts, NULL);
    }
    return NULL;
}

struct harness_device *harness_device_rebootstrap(struct harness_device *d,
                                                  const char *endpoint, int64_t lifetime_s,
                                                  int64_t timeout_ms,
                                                  struct harness_bs_result *result,
                                                  int *register_code, char *location,
                                                  size_t cap)
{
    int64_t deadline = dev_now_ms() + timeout_ms;
    int dummy;
    int *code = register_code ? register_code : &dummy;
    *code = 0;
    struct harness_device *b = harness_device_new_for_bootstrap(d);
    if (!b)
        return NULL;
    bool ok = harness_device_bootstrap(b, endpoint, -1, false, timeout_ms, result);
    struct harness_device_account a;
    struct harness_device *n = NULL;
    if (ok && harness_device_server_account(b, 0, &a))
        n = register_account(b, &a, endpoint, lifetime_s, deadline, code, location, cap);
    harness_device_free(b);
    return n;
}
