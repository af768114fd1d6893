/*
 * tests/harness/lwm2m_device_dm.c -- the test device's Device Management
 * handlers (lwm2m_device.h "WHAT THE DEVICE ANSWERS")
 *
 * libcoap's resource model: one coap_resource per node of the tree (root
 * "", objects, instances, resources), all with the same handler, created
 * from the loop (dev_dm_sync_resources) and never deleted while the
 * context lives (libcoap forbids deleting a resource inside its own
 * handler; a node that is gone simply answers 4.04, which also ends its
 * observations).  Resource instances and unknown paths reach the
 * unknown-resource handler, which is the same function.  Observe is
 * libcoap's: a GET with Observe 0 on a resource subscribes; a change
 * marks the node and its parents dirty (coap_resource_notify_observers)
 * and libcoap re-runs the handler with the stored request.
 *
 * Handlers run inside coap_io_process with d->mu held.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m_device_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- formats ---- */

bool dev_format_supported(const struct harness_device *d, unsigned f)
{
    bool v11 = strcmp(d->version, "1.0") != 0;
    bool v12 = !strcmp(d->version, "1.2");
    switch (f) {
    case LWM2M_FORMAT_TEXT:
    case LWM2M_FORMAT_OPAQUE:
    case LWM2M_FORMAT_TLV:
    case LWM2M_FORMAT_TLV_OLD:
    case LWM2M_FORMAT_JSON:
    case LWM2M_FORMAT_JSON_OLD:
        return true;
    case LWM2M_FORMAT_SENML_JSON:
    case LWM2M_FORMAT_SENML_CBOR:
    case LWM2M_FORMAT_CBOR:
        return v11;
    case LWM2M_FORMAT_LWM2M_CBOR:
        return v12;
    default:
        return false;
    }
}

static bool single_format(unsigned f)
{
    return f == LWM2M_FORMAT_TEXT || f == LWM2M_FORMAT_OPAQUE || f == LWM2M_FORMAT_CBOR;
}

static unsigned default_multi(const struct harness_device *d)
{
    return !strcmp(d->version, "1.2") ? LWM2M_FORMAT_SENML_CBOR : LWM2M_FORMAT_TLV;
}

bool dev_dm_encode(struct harness_device *d, unsigned format, const struct lwm2m_data *in,
                   const struct lwm2m_path *base, struct lwm2m_buf *out)
{
    struct ls_error err = { 0 };
    if (lwm2m_format_encode(format, in, base, d->model, out, &err) != LS_OK) {
        fprintf(stderr, "harness_device: encode %u: %s\n", format, err.msg);
        return false;
    }
    return true;
}

/* ---- small helpers ---- */

static void path_uri(const struct lwm2m_path *p, char *buf, size_t cap)
{
    char text[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(p, text);
    snprintf(buf, cap, "%s", text + 1); /* libcoap paths have no leading '/' */
}

static int opt_uint(const coap_pdu_t *pdu, uint16_t number)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(pdu, number, &it);
    if (!o)
        return -1;
    return (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

static void set_code(coap_pdu_t *resp, int code)
{
    coap_pdu_set_code(resp, dev_code_pdu(code));
}

static void release_buf(coap_session_t *s, void *p)
{
    (void)s;
    free(p);
}

/* Answers 2.05 (or code) with buf (consumed). */
static void answer_data(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                        const coap_pdu_t *req, coap_pdu_t *resp, const coap_string_t *q,
                        int code, unsigned format, struct lwm2m_buf *buf)
{
    set_code(resp, code);
    d->last_format = (int)format;
    /* libcoap 4.3.1 leaves Content-Format out for media type 0 (text);
     * LwM2M servers want it said. */
    if (format == LWM2M_FORMAT_TEXT)
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT, 0, NULL);
    if (!coap_add_data_large_response(r, s, req, resp, q, (uint16_t)format, -1, 0, buf->len,
                                      buf->data, release_buf, buf->data))
        set_code(resp, 500);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static const struct lwm2m_resource_def *res_def(struct harness_device *d,
                                                const struct lwm2m_path *p)
{
    return p->depth >= 3 ? dev_resdef(d, p->id[0], p->id[2]) : NULL;
}

/* ---- notifications ---- */

static coap_resource_t *find_resource(struct harness_device *d, const struct lwm2m_path *p)
{
    char uri[LWM2M_PATH_STR_MAX];
    path_uri(p, uri, sizeof uri);
    coap_str_const_t s = { strlen(uri), (const uint8_t *)uri };
    return coap_get_resource_from_uri_path(d->ctx, &s);
}

void dev_changed_locked(struct harness_device *d, const struct lwm2m_path *p)
{
    for (int depth = p->depth; depth >= 0; depth--) {
        struct lwm2m_path up = lwm2m_path_truncate(p, (uint8_t)depth);
        coap_resource_t *r = find_resource(d, &up);
        if (r)
            coap_resource_notify_observers(r, NULL);
    }
}

void dev_dm_periodic_locked(struct harness_device *d)
{
    int64_t now = dev_now_ms();
    for (size_t i = 0; i < d->nattrs; i++) {
        struct dev_attr *a = &d->attrs[i];
        if (a->pmax_s <= 0 || now - a->last_notify_ms < a->pmax_s * 1000)
            continue;
        a->last_notify_ms = now;
        coap_resource_t *r = find_resource(d, &a->path);
        if (r)
            coap_resource_notify_observers(r, NULL);
    }
}

/* Tokens of the observations established, to tell a notification re-run
 * of the handler from a new request. */
static bool observer_known(struct harness_device *d, const coap_pdu_t *req, int observe)
{
    static const size_t max = sizeof d->observers / sizeof d->observers[0];
    coap_bin_const_t tok = coap_pdu_get_token(req);
    for (size_t i = 0; i < d->nobservers; i++) {
        if (d->observers[i].len != tok.length ||
            memcmp(d->observers[i].tok, tok.s, tok.length) != 0)
            continue;
        if (observe == 1)
            d->observers[i] = d->observers[--d->nobservers];
        return observe == 0;
    }
    if (observe == 0 && d->nobservers < max && tok.length <= 8) {
        memcpy(d->observers[d->nobservers].tok, tok.s, tok.length);
        d->observers[d->nobservers++].len = tok.length;
    }
    return false;
}

/* ---- Read ---- */

void dev_dm_read(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                 const coap_pdu_t *req, coap_pdu_t *resp, const coap_string_t *q,
                 const struct lwm2m_path *p)
{
    if (p->depth == 0) {
        set_code(resp, 405);
        return;
    }
    const struct lwm2m_resource_def *rd = res_def(d, p);
    if (rd && (rd->operations & LWM2M_OP_EXECUTE) &&
        dev_tree_has_instance(&d->tree, p->id[0], p->id[1])) {
        set_code(resp, 405);
        return;
    }
    if (!dev_tree_exists(&d->tree, p)) {
        set_code(resp, 404);
        return;
    }
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    if (!dev_tree_collect(&d->tree, p, &data, true)) {
        set_code(resp, 500);
        goto out;
    }
    bool single = data.count == 1 && lwm2m_path_equal(&data.values[0].path, p) &&
                  p->depth >= 3;
    int accept = opt_uint(req, COAP_OPTION_ACCEPT);
    unsigned f;
    if (accept >= 0)
        f = (unsigned)accept;
    else if (single)
        f = data.values[0].type == LWM2M_TYPE_OPAQUE ? LWM2M_FORMAT_OPAQUE : LWM2M_FORMAT_TEXT;
    else
        f = default_multi(d);
    if (!dev_format_supported(d, f) || (single_format(f) && !single) ||
        (f == LWM2M_FORMAT_OPAQUE && data.values[0].type != LWM2M_TYPE_OPAQUE)) {
        set_code(resp, 406);
        goto out;
    }
    struct lwm2m_buf buf = { 0 };
    if (!dev_dm_encode(d, f, &data, p, &buf)) {
        lwm2m_buf_free(&buf);
        set_code(resp, 500);
        goto out;
    }
    answer_data(d, r, s, req, resp, q, 205, f, &buf);
out:
    lwm2m_data_free(&data);
}

/* ---- Write, Create ---- */

/* Decodes the request payload at base; 0 or the CoAP error code. */
static int decode_payload(struct harness_device *d, const coap_pdu_t *req,
                          const struct lwm2m_path *base, struct lwm2m_data *out)
{
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    int cf = opt_uint(req, COAP_OPTION_CONTENT_FORMAT);
    coap_get_data_large(req, &len, &data, &off, &total);
    if (!len && cf < 0)
        return 0;       /* no payload: nothing to decode (Create of an empty instance) */
    if (cf < 0)
        cf = LWM2M_FORMAT_TEXT;
    if (!dev_format_supported(d, (unsigned)cf) &&
        !(d->bootstrapping && lwm2m_format_name((unsigned)cf)))
        return 415;
    struct ls_error err = { 0 };
    if (lwm2m_format_decode((unsigned)cf, data ? data : (const uint8_t *)"", len, base,
                            d->model, out, &err) != LS_OK) {
        fprintf(stderr, "harness_device: decode %d at base: %s\n", cf, err.msg);
        return 400;
    }
    return 0;
}

/* Every value must lie under base, name a known writable resource (or
 * anything when bootstrap), and its instance must exist (unless create). */
static int check_values(struct harness_device *d, const struct lwm2m_data *data,
                        const struct lwm2m_path *base, bool bootstrap, bool create)
{
    for (size_t i = 0; i < data->count; i++) {
        const struct lwm2m_value *v = &data->values[i];
        if (!lwm2m_path_has_prefix(&v->path, base))
            return 400;
        if (v->path.depth < 3)
            continue;
        if (!create && !bootstrap && !dev_tree_has_instance(&d->tree, v->path.id[0], v->path.id[1]))
            return 404;
        const struct lwm2m_resource_def *rd = res_def(d, &v->path);
        if (!rd)
            return bootstrap ? 0 : 404;
        if (!bootstrap && !(rd->operations & LWM2M_OP_WRITE))
            return 405;
    }
    return 0;
}

static bool store_values(struct harness_device *d, const struct lwm2m_data *data)
{
    for (size_t i = 0; i < data->count; i++)
        if (!dev_tree_put(&d->tree, &data->values[i]))
            return false;
    for (size_t i = 0; i < data->count; i++)
        dev_changed_locked(d, &data->values[i].path);
    return true;
}

/* Write-Replace of an instance or resource: drop the writable resources
 * being replaced first. */
static void replace_clear(struct harness_device *d, const struct lwm2m_path *p)
{
    if (p->depth >= 3) {
        dev_tree_remove(&d->tree, p);
        return;
    }
    for (size_t i = 0; i < d->tree.n;) {
        struct dev_value *v = &d->tree.vals[i];
        const struct lwm2m_resource_def *rd = res_def(d, &v->path);
        if (lwm2m_path_has_prefix(&v->path, p) && rd && (rd->operations & LWM2M_OP_WRITE)) {
            struct lwm2m_path res = lwm2m_path_truncate(&v->path, 3);
            dev_tree_remove(&d->tree, &res);
            continue;
        }
        i++;
    }
}

int dev_dm_write(struct harness_device *d, const coap_pdu_t *req, const struct lwm2m_path *p,
                 bool replace, bool bootstrap)
{
    if (!bootstrap && (p->depth < 2 || !dev_tree_has_instance(&d->tree, p->id[0], p->id[1])))
        return p->depth < 2 ? 405 : 404;
    if (!bootstrap && p->depth >= 3 && !res_def(d, p))
        return 404;
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    int code = decode_payload(d, req, p, &data);
    if (!code)
        code = check_values(d, &data, p, bootstrap, bootstrap);
    if (!code) {
        if (replace && !bootstrap)
            replace_clear(d, p);
        if (bootstrap && p->depth >= 2 && !dev_tree_add_instance(&d->tree, p->id[0], p->id[1]))
            code = 500;
        else
            code = store_values(d, &data) ? 204 : 500;
    }
    lwm2m_data_free(&data);
    return code;
}

static void do_create(struct harness_device *d, const coap_pdu_t *req, coap_pdu_t *resp,
                      const struct lwm2m_path *p)
{
    if (!lwm2m_model_object(d->model, p->id[0], NULL)) {
        set_code(resp, 404);
        return;
    }
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    int code = decode_payload(d, req, p, &data);
    uint16_t inst = 0;
    bool have = false;
    for (size_t i = 0; !code && i < data.count; i++)
        if (data.values[i].path.depth >= 2) {
            inst = data.values[i].path.id[1];
            have = true;
        }
    if (code == 400 || (!code && !have && data.count)) {
        /* TLV/text resources without an instance wrapper: pick the id,
         * decode again below it. */
        while (dev_tree_has_instance(&d->tree, p->id[0], inst))
            inst++;
        struct lwm2m_path ip = lwm2m_path_instance(p->id[0], inst);
        lwm2m_data_free(&data);
        lwm2m_data_init(&data);
        code = decode_payload(d, req, &ip, &data);
        have = true;
    }
    if (!code && !have)
        while (dev_tree_has_instance(&d->tree, p->id[0], inst))
            inst++;
    if (!code && dev_tree_has_instance(&d->tree, p->id[0], inst))
        code = 400;
    if (!code)
        code = check_values(d, &data, p, false, true);
    if (!code && (!dev_tree_add_instance(&d->tree, p->id[0], inst) || !store_values(d, &data)))
        code = 500;
    lwm2m_data_free(&data);
    if (code) {
        set_code(resp, code);
        return;
    }
    char o[8], i[8];
    snprintf(o, sizeof o, "%u", p->id[0]);
    snprintf(i, sizeof i, "%u", inst);
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, strlen(o), (const uint8_t *)o);
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, strlen(i), (const uint8_t *)i);
    struct lwm2m_path ip = lwm2m_path_instance(p->id[0], inst);
    dev_changed_locked(d, &ip);
    set_code(resp, 201);
}

/* ---- Execute, Delete ---- */

static int do_execute(struct harness_device *d, const coap_pdu_t *req,
                      const struct lwm2m_path *p)
{
    if (p->depth != 3)
        return 405;
    if (!dev_tree_has_instance(&d->tree, p->id[0], p->id[1]))
        return 404;
    const struct lwm2m_resource_def *rd = res_def(d, p);
    if (!rd)
        return 404;
    if (!(rd->operations & LWM2M_OP_EXECUTE))
        return 405;
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    coap_get_data_large(req, &len, &data, &off, &total);
    struct dev_exec *e = NULL;
    for (size_t i = 0; i < d->nexecs; i++)
        if (lwm2m_path_equal(&d->execs[i].path, p))
            e = &d->execs[i];
    if (!e) {
        struct dev_exec *n = realloc(d->execs, (d->nexecs + 1) * sizeof *n);
        if (!n)
            return 500;
        d->execs = n;
        e = &n[d->nexecs++];
        memset(e, 0, sizeof *e);
        e->path = *p;
    }
    snprintf(e->args, sizeof e->args, "%.*s", (int)(len < 255 ? len : 255),
             data ? (const char *)data : "");
    e->count++;
    return 204;
}

static int do_delete(struct harness_device *d, const struct lwm2m_path *p)
{
    if (p->depth != 2)
        return 405;
    if (!dev_tree_has_instance(&d->tree, p->id[0], p->id[1]))
        return 404;
    dev_tree_remove(&d->tree, p);
    dev_changed_locked(d, p);
    return 202;
}

/* ---- Discover, Write-Attributes ---- */

static const char *const attr_names[] = { "pmin", "pmax", "gt", "lt", "st",
                                          "epmin", "epmax", "edge", "con" };

static struct dev_attr *attr_slot(struct harness_device *d, const struct lwm2m_path *p,
                                  bool create)
{
    for (size_t i = 0; i < d->nattrs; i++)
        if (lwm2m_path_equal(&d->attrs[i].path, p))
            return &d->attrs[i];
    if (!create)
        return NULL;
    struct dev_attr *n = realloc(d->attrs, (d->nattrs + 1) * sizeof *n);
    if (!n)
        return NULL;
    d->attrs = n;
    memset(&n[d->nattrs], 0, sizeof *n);
    n[d->nattrs].path = *p;
    n[d->nattrs].pmax_s = -1;
    return &n[d->nattrs++];
}

/* Value of attribute name in "a=1&b=2" (NULL: absent; "" when no '='). */
static bool query_get(const char *q, const char *name, char *val, size_t cap, bool *has_value)
{
    size_t n = strlen(name);
    for (const char *s = q; s && *s;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len >= n && !strncmp(s, name, n) && (len == n || s[n] == '=')) {
            *has_value = len > n;
            size_t vl = len > n ? len - n - 1 : 0;
            snprintf(val, cap, "%.*s", (int)vl, s + n + 1);
            return true;
        }
        s = amp ? amp + 1 : NULL;
    }
    return false;
}

static int do_attributes(struct harness_device *d, const struct lwm2m_path *p, const char *q)
{
    if (!dev_tree_exists(&d->tree, p) || p->depth == 0)
        return p->depth == 0 ? 405 : 404;
    /* every key must be known and every value numeric */
    for (const char *s = q; s && *s;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        bool known = false;
        for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0]; i++) {
            size_t n = strlen(attr_names[i]);
            if (len >= n && !strncmp(s, attr_names[i], n) && (len == n || s[n] == '='))
                known = true;
        }
        if (!known)
            return 400;
        s = amp ? amp + 1 : NULL;
    }
    struct dev_attr *a = attr_slot(d, p, true);
    if (!a)
        return 500;
    char merged[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof attr_names / sizeof attr_names[0]; i++) {
        char val[64], old[64];
        bool hv = false, ohv = false;
        bool given = query_get(q, attr_names[i], val, sizeof val, &hv);
        if (given && hv) {
            char *end;
            strtod(val, &end);
            if (!*val || *end)
                return 400;
        }
        if (!given && query_get(a->text, attr_names[i], old, sizeof old, &ohv)) {
            snprintf(val, sizeof val, "%s", old);
            hv = ohv;
            given = true;
        } else if (given && !hv) {
            given = false; /* "pmin" alone removes it */
        }
        if (!given)
            continue;
        int n = snprintf(merged + used, sizeof merged - used, "%s%s=%s", used ? "&" : "",
                         attr_names[i], val);
        if (n > 0 && (size_t)n < sizeof merged - used)
            used += (size_t)n;
    }
    snprintf(a->text, sizeof a->text, "%s", merged);
    char pmax[64];
    bool hv = false;
    a->pmax_s = query_get(a->text, "pmax", pmax, sizeof pmax, &hv) && hv ? atoll(pmax) : -1;
    a->last_notify_ms = dev_now_ms();
    return 204;
}

static void link_attrs(struct harness_device *d, const struct lwm2m_path *p, char *buf,
                       size_t cap, size_t *len)
{
    struct dev_attr *a = attr_slot(d, p, false);
    if (!a || !a->text[0])
        return;
    for (const char *s = a->text; *s && *len + 2 < cap; s++)
        buf[(*len)++] = *s == '&' ? ';' : *s;
    buf[*len] = '\0';
}

static void link_add(struct harness_device *d, const struct lwm2m_path *p, const char *extra,
                     char *buf, size_t cap, size_t *len)
{
    char text[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(p, text);
    int n = snprintf(buf + *len, cap - *len, "%s<%s>%s", *len ? "," : "", text, extra);
    if (n < 0 || (size_t)n >= cap - *len)
        return;
    *len += (size_t)n;
    if (d->nattrs) {
        size_t before = *len;
        char tmp[300];
        size_t tl = 0;
        tmp[0] = '\0';
        link_attrs(d, p, tmp, sizeof tmp, &tl);
        if (tl && before + tl + 2 < cap) {
            buf[(*len)++] = ';';
            memcpy(buf + *len, tmp, tl + 1);
            *len += tl;
        }
    }
}

/* Resource entries of one instance, down to max_depth (absolute 1..4). */
static void discover_instance(struct harness_device *d, uint16_t o, uint16_t i,
                              int max_depth, char *buf, size_t cap, size_t *len)
{
    struct lwm2m_path ip = lwm2m_path_instance(o, i);
    int last_res = -1;
    for (size_t k = 0; k < d->tree.n; k++) {
        struct dev_value *v = &d->tree.vals[k];
        if (!lwm2m_path_has_prefix(&v->path, &ip) || v->path.id[2] == last_res)
            continue;
        last_res = v->path.id[2];
        struct lwm2m_path rp = lwm2m_path_truncate(&v->path, 3);
        char dim[32] = "";
        unsigned n = 0;
        for (size_t j = k; j < d->tree.n; j++)
            if (d->tree.vals[j].path.depth == 4 &&
                lwm2m_path_has_prefix(&d->tree.vals[j].path, &rp))
                n++;
        if (n || v->path.depth == 4)
            snprintf(dim, sizeof dim, ";dim=%u", n);
        if (max_depth >= 3)
            link_add(d, &rp, dim, buf, cap, len);
        for (size_t j = k; max_depth >= 4 && j < d->tree.n; j++)
            if (d->tree.vals[j].path.depth == 4 &&
                lwm2m_path_has_prefix(&d->tree.vals[j].path, &rp))
                link_add(d, &d->tree.vals[j].path, "", buf, cap, len);
    }
}

static void do_discover(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                        const coap_pdu_t *req, coap_pdu_t *resp, const coap_string_t *q,
                        const struct lwm2m_path *p)
{
    if (p->depth == 0) {
        set_code(resp, 405);
        return;
    }
    if (!dev_tree_exists(&d->tree, p)) {
        set_code(resp, 404);
        return;
    }
    char qs[256] = "", dv[16];
    bool hv = false;
    if (q)
        snprintf(qs, sizeof qs, "%.*s", (int)q->length, (const char *)q->s);
    /* depth as in LwM2M 1.1: 0 object, 1 instances, 2 resources, 3 resource
     * instances; default: down to the resources. */
    int max_depth = p->depth == 3 ? 4 : 3;
    if (query_get(qs, "depth", dv, sizeof dv, &hv) && hv) {
        int dep = atoi(dv);
        if (dep < 0 || dep > 3) {
            set_code(resp, 400);
            return;
        }
        max_depth = dep + 1;
    }
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        set_code(resp, 500);
        return;
    }
    buf[0] = '\0';
    struct lwm2m_path op = lwm2m_path_object(p->id[0]);
    if (p->depth == 1) {
        const struct lwm2m_object_def *od = lwm2m_model_object(d->model, p->id[0], NULL);
        char ver[32] = "";
        if (od && od->version && strcmp(od->version, "1.0") != 0)
            snprintf(ver, sizeof ver, ";ver=%s", od->version);
        link_add(d, &op, ver, buf, cap, &len);
    }
    for (size_t k = 0; k < d->tree.ninst; k++) {
        struct lwm2m_path ip = d->tree.insts[k];
        if (!lwm2m_path_has_prefix(&ip, p) && !(p->depth > 2 && lwm2m_path_has_prefix(p, &ip)))
            continue;
        if (p->depth <= 2 && max_depth >= 2)
            link_add(d, &ip, "", buf, cap, &len);
        if (p->depth <= 2)
            discover_instance(d, ip.id[0], ip.id[1], max_depth, buf, cap, &len);
    }
    if (p->depth >= 3) {
        /* the resource itself (with dim) and its instances */
        size_t save = len;
        char tmp[4096];
        size_t tl = 0;
        tmp[0] = '\0';
        discover_instance(d, p->id[0], p->id[1], max_depth, tmp, sizeof tmp, &tl);
        /* keep the entries at or below p */
        char prefix[LWM2M_PATH_STR_MAX + 2];
        char text[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(p, text);
        snprintf(prefix, sizeof prefix, "<%s", text);
        for (char *e = strtok(tmp, ","); e; e = strtok(NULL, ",")) {
            size_t pl = strlen(prefix);
            if (strncmp(e, prefix, pl) != 0 || (e[pl] != '>' && e[pl] != '/'))
                continue;
            int n = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", e);
            if (n > 0 && (size_t)n < cap - len)
                len += (size_t)n;
        }
        (void)save;
    }
    struct lwm2m_buf out = { (uint8_t *)buf, len, cap };
    answer_data(d, r, s, req, resp, q, 205, LWM2M_FORMAT_LINK, &out);
}

/* ---- composite ---- */

static void do_read_composite(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                              const coap_pdu_t *req, coap_pdu_t *resp,
                              const coap_string_t *q)
{
    struct lwm2m_path root = lwm2m_path_root();
    struct lwm2m_data names, data;
    lwm2m_data_init(&names);
    lwm2m_data_init(&data);
    int cf = opt_uint(req, COAP_OPTION_CONTENT_FORMAT);
    int accept = opt_uint(req, COAP_OPTION_ACCEPT);
    unsigned f = accept >= 0 ? (unsigned)accept : cf >= 0 ? (unsigned)cf
                                                          : LWM2M_FORMAT_SENML_CBOR;
    int code = decode_payload(d, req, &root, &names);
    if (!code && (f != LWM2M_FORMAT_SENML_JSON && f != LWM2M_FORMAT_SENML_CBOR &&
                  f != LWM2M_FORMAT_LWM2M_CBOR))
        code = 406;
    if (!code && !dev_format_supported(d, f))
        code = 406;
    bool any = false;
    for (size_t i = 0; !code && i < names.count; i++) {
        if (!dev_tree_exists(&d->tree, &names.values[i].path))
            continue;
        any = true;
        if (!dev_tree_collect(&d->tree, &names.values[i].path, &data, false))
            code = 500;
    }
    if (!code && !any)
        code = 404;
    struct lwm2m_buf buf = { 0 };
    if (!code && !dev_dm_encode(d, f, &data, &root, &buf))
        code = 500;
    if (code) {
        lwm2m_buf_free(&buf);
        set_code(resp, code);
    } else {
        answer_data(d, r, s, req, resp, q, 205, f, &buf);
    }
    lwm2m_data_free(&names);
    lwm2m_data_free(&data);
}

static int do_write_composite(struct harness_device *d, const coap_pdu_t *req)
{
    struct lwm2m_path root = lwm2m_path_root();
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    int code = decode_payload(d, req, &root, &data);
    if (!code)
        code = check_values(d, &data, &root, false, false);
    if (!code)
        code = store_values(d, &data) ? 204 : 500;
    lwm2m_data_free(&data);
    return code;
}

/* ---- dispatch ---- */

/* Uri-Path as text ("/32769/0/1", "/" for none) and as a path; false
 * when it is not an LwM2M path (e.g. "bs"). */
static bool request_path(const coap_pdu_t *req, char *text, size_t cap, struct lwm2m_path *p)
{
    coap_string_t *u = coap_get_uri_path(req);
    snprintf(text, cap, "/%.*s", u ? (int)u->length : 0, u ? (const char *)u->s : "");
    if (u)
        coap_delete_string(u);
    return lwm2m_path_parse(text, strlen(text), p, NULL) == LS_OK;
}

static void dispatch(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                     const coap_pdu_t *req, const coap_string_t *q, coap_pdu_t *resp,
                     const struct lwm2m_path *p)
{
    coap_pdu_code_t method = coap_pdu_get_code(req);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    bool has_payload = coap_get_data_large(req, &len, &data, &off, &total) && len;
    char qs[512] = "";
    if (q)
        snprintf(qs, sizeof qs, "%.*s", (int)q->length, (const char *)q->s);
    bool v10 = !strcmp(d->version, "1.0");
    switch (method) {
    case COAP_REQUEST_CODE_GET:
        if (opt_uint(req, COAP_OPTION_ACCEPT) == LWM2M_FORMAT_LINK)
            do_discover(d, r, s, req, resp, q, p);
        else
            dev_dm_read(d, r, s, req, resp, q, p);
        return;
    case COAP_REQUEST_CODE_PUT:
        if (!has_payload && qs[0])
            set_code(resp, do_attributes(d, p, qs));
        else
            set_code(resp, dev_dm_write(d, req, p, true, false));
        return;
    case COAP_REQUEST_CODE_POST:
        if (p->depth == 1)
            do_create(d, req, resp, p);
        else if (p->depth == 2)
            set_code(resp, dev_dm_write(d, req, p, false, false));
        else if (p->depth >= 3)
            set_code(resp, do_execute(d, req, p));
        else
            set_code(resp, 405);
        return;
    case COAP_REQUEST_CODE_DELETE:
        set_code(resp, do_delete(d, p));
        return;
    case COAP_REQUEST_CODE_FETCH:
        if (v10 || p->depth != 0)
            set_code(resp, 405);
        else
            do_read_composite(d, r, s, req, resp, q);
        return;
    case COAP_REQUEST_CODE_IPATCH:
        if (v10)
            set_code(resp, 405);
        else if (p->depth == 0)
            set_code(resp, do_write_composite(d, req));
        else
            set_code(resp, dev_dm_write(d, req, p, false, false));
        return;
    default:
        set_code(resp, 405);
    }
}

static void hnd(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                const coap_string_t *q, coap_pdu_t *resp)
{
    struct harness_device *d = coap_get_app_data(coap_session_get_context(s));
    char text[128];
    struct lwm2m_path p;
    bool is_path = request_path(req, text, sizeof text, &p);
    int observe = opt_uint(req, COAP_OPTION_OBSERVE);
    if (observe == 0 && observer_known(d, req, observe)) {
        d->notify_count++;         /* a notification: libcoap re-ran us */
        dispatch(d, r, s, req, q, resp, &p);
        return;
    }
    if (observe >= 0)
        observer_known(d, req, observe);
    int code;
    if (dev_check_fail(d, coap_pdu_get_code(req), text, &code)) {
        if (d->bootstrapping && coap_pdu_get_code(req) == COAP_REQUEST_CODE_PUT) {
            d->bs.writes++;
            d->bs.failed_writes++;
        }
        set_code(resp, code);
        return;
    }
    if (d->bootstrapping && dev_bs_handle(d, r, s, req, q, is_path ? &p : NULL, resp))
        return;
    if (!is_path) {
        set_code(resp, 404);
        return;
    }
    dispatch(d, r, s, req, q, resp, &p);
}

static coap_resource_t *new_resource(struct harness_device *d, const char *uri)
{
    coap_resource_t *r = coap_resource_init(coap_new_str_const((const uint8_t *)uri,
                                                               strlen(uri)),
                                            COAP_RESOURCE_FLAGS_RELEASE_URI);
    if (!r)
        return NULL;
    static const coap_request_t methods[] = { COAP_REQUEST_GET, COAP_REQUEST_PUT,
                                              COAP_REQUEST_POST, COAP_REQUEST_DELETE,
                                              COAP_REQUEST_FETCH, COAP_REQUEST_IPATCH };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        coap_register_request_handler(r, methods[i], hnd);
    coap_resource_set_get_observable(r, 1);
    coap_add_resource(d->ctx, r);
    return r;
}

static void ensure(struct harness_device *d, const struct lwm2m_path *p)
{
    if (!find_resource(d, p)) {
        char uri[LWM2M_PATH_STR_MAX];
        path_uri(p, uri, sizeof uri);
        new_resource(d, uri);
    }
}

void dev_dm_sync_resources(struct harness_device *d)
{
    for (size_t i = 0; i < d->tree.ninst; i++) {
        struct lwm2m_path op = lwm2m_path_object(d->tree.insts[i].id[0]);
        ensure(d, &op);
        ensure(d, &d->tree.insts[i]);
    }
    for (size_t i = 0; i < d->tree.n; i++) {
        struct lwm2m_path rp = lwm2m_path_truncate(&d->tree.vals[i].path, 3);
        ensure(d, &rp);
    }
}

bool dev_dm_init(struct harness_device *d)
{
    if (!new_resource(d, ""))
        return false;
    /* "bs" (Bootstrap-Finish) and anything else unknown */
    coap_resource_t *u = coap_resource_unknown_init(hnd);
    if (!u)
        return false;
    static const coap_request_t methods[] = { COAP_REQUEST_GET, COAP_REQUEST_POST,
                                              COAP_REQUEST_DELETE, COAP_REQUEST_FETCH,
                                              COAP_REQUEST_IPATCH };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        coap_register_request_handler(u, methods[i], hnd);
    coap_add_resource(d->ctx, u);
    dev_dm_sync_resources(d);
    return true;
}

/* ---- Register payload ---- */

size_t harness_device_links(struct harness_device *d, char *buf, size_t cap)
{
    if (!cap)
        return 0;
    pthread_mutex_lock(&d->mu);
    unsigned ct = !strcmp(d->version, "1.2") ? LWM2M_FORMAT_SENML_CBOR : LWM2M_FORMAT_TLV;
    int n = snprintf(buf, cap, "</>;rt=\"oma.lwm2m\";ct=%u", ct);
    size_t len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    for (size_t i = 0; i < d->tree.ninst; i++) {
        const struct lwm2m_path *ip = &d->tree.insts[i];
        if (ip->id[0] == 0 || ip->id[0] == 21)
            continue;
        n = snprintf(buf + len, cap - len, ",</%u/%u>", ip->id[0], ip->id[1]);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    pthread_mutex_unlock(&d->mu);
    return len;
}
