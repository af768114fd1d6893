/*
 * tests/harness/lwm2m_device_tree.c -- the test device's object tree and
 * its value API (lwm2m_device.h "values")
 *
 * A sorted array of leaf values (struct dev_value, bytes owned) plus the
 * sorted list of existing object instances, so that an instance with no
 * resources still exists.  Tens of values: linear scans are fine.  Values
 * are typed by the lwm2m/model.h registry (built-ins + the DDF files of
 * tests/data/models, where 32769 "Lodestar Test" lives).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m_device_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"
#include "lwm2m/codec.h"
#include "lwm2m/text.h"

#ifndef HARNESS_MODELS_DIR
#define HARNESS_MODELS_DIR "tests/data/models"
#endif

/* ---- storage ---- */

static int cmp_value(const void *a, const void *b)
{
    return lwm2m_path_compare(&((const struct dev_value *)a)->path,
                              &((const struct dev_value *)b)->path);
}

void dev_tree_free(struct dev_tree *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->vals[i].bytes);
    free(t->vals);
    free(t->insts);
    memset(t, 0, sizeof *t);
}

bool dev_tree_copy(struct dev_tree *dst, const struct dev_tree *src)
{
    memset(dst, 0, sizeof *dst);
    dst->vals = calloc(src->n + 1, sizeof *dst->vals);
    dst->insts = calloc(src->ninst + 1, sizeof *dst->insts);
    if (!dst->vals || !dst->insts)
        goto fail;
    dst->cap = src->n + 1;
    dst->icap = src->ninst + 1;
    memcpy(dst->insts, src->insts, src->ninst * sizeof *src->insts);
    dst->ninst = src->ninst;
    for (size_t i = 0; i < src->n; i++) {
        dst->vals[i] = src->vals[i];
        dst->vals[i].bytes = NULL;
        if (src->vals[i].len || src->vals[i].bytes) {
            dst->vals[i].bytes = malloc(src->vals[i].len + 1);
            if (!dst->vals[i].bytes)
                goto fail;
            memcpy(dst->vals[i].bytes, src->vals[i].bytes, src->vals[i].len);
        }
        dst->n = i + 1;
    }
    return true;
fail:
    dev_tree_free(dst);
    return false;
}

struct dev_value *dev_tree_find(struct dev_tree *t, const struct lwm2m_path *p)
{
    for (size_t i = 0; i < t->n; i++)
        if (lwm2m_path_equal(&t->vals[i].path, p))
            return &t->vals[i];
    return NULL;
}

bool dev_tree_has_instance(const struct dev_tree *t, uint16_t obj, uint16_t inst)
{
    for (size_t i = 0; i < t->ninst; i++)
        if (t->insts[i].id[0] == obj && t->insts[i].id[1] == inst)
            return true;
    return false;
}

bool dev_tree_has_object(const struct dev_tree *t, uint16_t obj)
{
    for (size_t i = 0; i < t->ninst; i++)
        if (t->insts[i].id[0] == obj)
            return true;
    return false;
}

static int cmp_path(const void *a, const void *b)
{
    return lwm2m_path_compare(a, b);
}

bool dev_tree_add_instance(struct dev_tree *t, uint16_t obj, uint16_t inst)
{
    if (dev_tree_has_instance(t, obj, inst))
        return true;
    if (t->ninst == t->icap) {
        size_t cap = t->icap ? t->icap * 2 : 16;
        struct lwm2m_path *n = realloc(t->insts, cap * sizeof *n);
        if (!n)
            return false;
        t->insts = n;
        t->icap = cap;
    }
    t->insts[t->ninst++] = lwm2m_path_instance(obj, inst);
    qsort(t->insts, t->ninst, sizeof *t->insts, cmp_path);
    return true;
}

bool dev_tree_exists(const struct dev_tree *t, const struct lwm2m_path *p)
{
    if (p->depth == 0)
        return true;
    if (p->depth == 1)
        return dev_tree_has_object(t, p->id[0]);
    if (p->depth == 2)
        return dev_tree_has_instance(t, p->id[0], p->id[1]);
    for (size_t i = 0; i < t->n; i++)
        if (lwm2m_path_has_prefix(&t->vals[i].path, p))
            return true;
    return false;
}

void dev_tree_remove(struct dev_tree *t, const struct lwm2m_path *p)
{
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (lwm2m_path_has_prefix(&t->vals[i].path, p))
            free(t->vals[i].bytes);
        else
            t->vals[w++] = t->vals[i];
    }
    t->n = w;
    if (p->depth > 2)
        return;
    w = 0;
    for (size_t i = 0; i < t->ninst; i++)
        if (!lwm2m_path_has_prefix(&t->insts[i], p))
            t->insts[w++] = t->insts[i];
    t->ninst = w;
}

bool dev_tree_put(struct dev_tree *t, const struct lwm2m_value *v)
{
    if (v->path.depth < 3 || v->type == LWM2M_TYPE_NONE)
        return v->path.depth == 2 ? dev_tree_add_instance(t, v->path.id[0], v->path.id[1])
                                  : true;
    if (!dev_tree_add_instance(t, v->path.id[0], v->path.id[1]))
        return false;
    struct dev_value nv = { .path = v->path, .type = v->type };
    switch (v->type) {
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_OPAQUE:
    case LWM2M_TYPE_CORELNK:
        nv.bytes = malloc(v->v.bytes.len + 1);
        if (!nv.bytes)
            return false;
        if (v->v.bytes.len)
            memcpy(nv.bytes, v->v.bytes.ptr, v->v.bytes.len);
        nv.bytes[v->v.bytes.len] = 0;
        nv.len = v->v.bytes.len;
        break;
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        nv.v.i = v->v.i;
        break;
    case LWM2M_TYPE_UNSIGNED:
        nv.v.u = v->v.u;
        break;
    case LWM2M_TYPE_FLOAT:
        nv.v.f = v->v.f;
        break;
    case LWM2M_TYPE_BOOLEAN:
        nv.v.b = v->v.b;
        break;
    case LWM2M_TYPE_OBJLNK:
        nv.v.objlnk = v->v.objlnk;
        break;
    default:
        return true;
    }
    /* A resource value replaces its resource instances and vice versa. */
    if (v->path.depth == 3) {
        dev_tree_remove(t, &v->path);
    } else {
        struct lwm2m_path res = lwm2m_path_truncate(&v->path, 3);
        struct dev_value *old = dev_tree_find(t, &res);
        if (old)
            dev_tree_remove(t, &res);
    }
    struct dev_value *old = dev_tree_find(t, &v->path);
    if (old) {
        free(old->bytes);
        *old = nv;
        return true;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct dev_value *n = realloc(t->vals, cap * sizeof *n);
        if (!n) {
            free(nv.bytes);
            return false;
        }
        t->vals = n;
        t->cap = cap;
    }
    t->vals[t->n++] = nv;
    qsort(t->vals, t->n, sizeof *t->vals, cmp_value);
    return true;
}

static bool append_value(struct lwm2m_data *out, const struct dev_value *v)
{
    struct ls_error err = { 0 };
    struct lwm2m_value *nv;
    if (v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE ||
        v->type == LWM2M_TYPE_CORELNK)
        return lwm2m_data_append_bytes(out, &v->path, v->type, v->bytes, v->len, &err);
    nv = lwm2m_data_append(out, &v->path, v->type, &err);
    if (!nv)
        return false;
    switch (v->type) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        nv->v.i = v->v.i;
        break;
    case LWM2M_TYPE_UNSIGNED:
        nv->v.u = v->v.u;
        break;
    case LWM2M_TYPE_FLOAT:
        nv->v.f = v->v.f;
        break;
    case LWM2M_TYPE_BOOLEAN:
        nv->v.b = v->v.b;
        break;
    case LWM2M_TYPE_OBJLNK:
        nv->v.objlnk = v->v.objlnk;
        break;
    default:
        break;
    }
    return true;
}

bool dev_tree_collect(const struct dev_tree *t, const struct lwm2m_path *p,
                      struct lwm2m_data *out, bool with_empty)
{
    if (with_empty && p->depth <= 2) {
        struct ls_error err = { 0 };
        for (size_t i = 0; i < t->ninst; i++) {
            if (!lwm2m_path_has_prefix(&t->insts[i], p))
                continue;
            bool any = false;
            for (size_t j = 0; j < t->n && !any; j++)
                any = lwm2m_path_has_prefix(&t->vals[j].path, &t->insts[i]);
            if (!any && !lwm2m_data_append(out, &t->insts[i], LWM2M_TYPE_NONE, &err))
                return false;
        }
    }
    for (size_t i = 0; i < t->n; i++)
        if (lwm2m_path_has_prefix(&t->vals[i].path, p) && !append_value(out, &t->vals[i]))
            return false;
    lwm2m_data_sort(out);
    return true;
}

/* ---- text forms ---- */

bool dev_path_parse(const char *text, struct lwm2m_path *out)
{
    char buf[64];
    if (!text)
        return false;
    snprintf(buf, sizeof buf, "%s%s", text[0] == '/' ? "" : "/", text);
    return lwm2m_path_parse(buf, strlen(buf), out, NULL) == LS_OK;
}

void dev_value_text(const struct dev_value *v, char *buf, size_t cap)
{
    char tmp[LWM2M_CODEC_DOUBLE_MAX];
    buf[0] = '\0';
    switch (v->type) {
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        snprintf(buf, cap, "%.*s", (int)v->len, (const char *)v->bytes);
        break;
    case LWM2M_TYPE_OPAQUE:
        for (size_t i = 0, o = 0; i < v->len && o + 3 <= cap; i++, o += 2)
            snprintf(buf + o, cap - o, "%02x", v->bytes[i]);
        break;
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        snprintf(buf, cap, "%lld", (long long)v->v.i);
        break;
    case LWM2M_TYPE_UNSIGNED:
        snprintf(buf, cap, "%llu", (unsigned long long)v->v.u);
        break;
    case LWM2M_TYPE_FLOAT:
        if (lwm2m_codec_double_format(v->v.f, tmp))
            snprintf(buf, cap, "%s", tmp);
        else
            snprintf(buf, cap, "%g", v->v.f);
        break;
    case LWM2M_TYPE_BOOLEAN:
        snprintf(buf, cap, "%d", v->v.b ? 1 : 0);
        break;
    case LWM2M_TYPE_OBJLNK:
        snprintf(buf, cap, "%u:%u", v->v.objlnk.obj, v->v.objlnk.inst);
        break;
    default:
        break;
    }
}

const struct lwm2m_resource_def *dev_resdef(struct harness_device *d, uint16_t obj,
                                            uint16_t res)
{
    return lwm2m_model_resource(d->model, obj, res);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses the text form of a value at p into out (one value). */
static bool parse_text(struct harness_device *d, const struct lwm2m_path *p, const char *text,
                       struct lwm2m_data *out)
{
    struct ls_error err = { 0 };
    const struct lwm2m_resource_def *rd = p->depth >= 3 ? dev_resdef(d, p->id[0], p->id[2])
                                                        : NULL;
    if (!rd) {
        fprintf(stderr, "harness_device: %s is not a resource of a known object\n", text);
        return false;
    }
    if (rd->type == LWM2M_TYPE_OPAQUE) {
        size_t n = strlen(text);
        if (n % 2)
            return false;
        uint8_t *b = malloc(n / 2 + 1);
        if (!b)
            return false;
        for (size_t i = 0; i < n / 2; i++) {
            int h = hexval(text[2 * i]), l = hexval(text[2 * i + 1]);
            if (h < 0 || l < 0) {
                free(b);
                return false;
            }
            b[i] = (uint8_t)(h << 4 | l);
        }
        bool ok = lwm2m_data_append_bytes(out, p, LWM2M_TYPE_OPAQUE, b, n / 2, &err);
        free(b);
        return ok;
    }
    if (rd->type == LWM2M_TYPE_BOOLEAN && !strcmp(text, "true"))
        text = "1";
    else if (rd->type == LWM2M_TYPE_BOOLEAN && !strcmp(text, "false"))
        text = "0";
    if (lwm2m_text_decode((const uint8_t *)text, strlen(text), p, d->model, out, &err) !=
        LS_OK) {
        fprintf(stderr, "harness_device: bad value \"%s\": %s\n", text, err.msg);
        return false;
    }
    return true;
}

/* ---- the default tree ---- */

static bool put_text(struct harness_device *d, const char *path, const char *text)
{
    struct lwm2m_path p;
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    bool ok = dev_path_parse(path, &p) && parse_text(d, &p, text, &data) && data.count == 1 &&
              dev_tree_put(&d->tree, &data.values[0]);
    lwm2m_data_free(&data);
    if (!ok)
        fprintf(stderr, "harness_device: cannot set default %s=%s\n", path, text);
    return ok;
}

static bool put_bytes(struct harness_device *d, const char *path, enum lwm2m_type type,
                      const void *b, size_t len)
{
    struct lwm2m_value v = { .type = type };
    if (!dev_path_parse(path, &v.path))
        return false;
    v.v.bytes.ptr = b;
    v.v.bytes.len = len;
    return dev_tree_put(&d->tree, &v);
}

/* Default resources of a new 32769 instance. */
static bool test_instance_defaults(struct harness_device *d, uint16_t inst)
{
    static const struct { const char *res, *text; } defs[] = {
        { "0", "hello" }, { "1", "-5" }, { "2", "7" }, { "3", "1.5" }, { "4", "1" },
        { "5", "010203" }, { "6", "1700000000" }, { "7", "3:0" }, { "8", "</3/0>" },
        { "9/0", "10" }, { "9/1", "20" }, { "11", "w" }, { "12", "ro" },
    };
    char path[64];
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        snprintf(path, sizeof path, "/32769/%u/%s", inst, defs[i].res);
        if (!put_text(d, path, defs[i].text))
            return false;
    }
    return true;
}

static bool bootstrap_account(struct harness_device *d, const struct harness_device_options *o)
{
    char path[64], uri[300];
    uint16_t i = o->bs_instance;
    const char *id = o->bs_psk_identity ? o->bs_psk_identity : o->psk_identity;
    const uint8_t *key = o->bs_psk_identity ? o->bs_psk_key : o->psk_key;
    size_t klen = o->bs_psk_identity ? o->bs_psk_key_len : o->psk_key_len;
    if (o->bs_uri)
        snprintf(uri, sizeof uri, "%s", o->bs_uri);
    else
        snprintf(uri, sizeof uri, "%s://%s", id ? "coaps" : "coap", o->server);
    snprintf(path, sizeof path, "/0/%u/0", i);
    if (!put_bytes(d, path, LWM2M_TYPE_STRING, uri, strlen(uri)))
        return false;
    snprintf(path, sizeof path, "/0/%u/1", i);
    if (!put_text(d, path, "1"))
        return false;
    snprintf(path, sizeof path, "/0/%u/2", i);
    if (!put_text(d, path, id ? "0" : "3"))
        return false;
    snprintf(path, sizeof path, "/0/%u/3", i);
    if (!put_bytes(d, path, LWM2M_TYPE_OPAQUE, id ? id : "", id ? strlen(id) : 0))
        return false;
    snprintf(path, sizeof path, "/0/%u/4", i);
    if (!put_bytes(d, path, LWM2M_TYPE_OPAQUE, "", 0))
        return false;
    snprintf(path, sizeof path, "/0/%u/5", i);
    return put_bytes(d, path, LWM2M_TYPE_OPAQUE, key ? (const void *)key : "",
                     key ? klen : 0);
}

bool dev_tree_init(struct harness_device *d, const struct harness_device_options *o)
{
    struct ls_error err = { 0 };
    d->model = lwm2m_model_new(&err);
    if (!d->model)
        return false;
    const char *dir = o->models_dir ? o->models_dir : HARNESS_MODELS_DIR;
    if (lwm2m_model_load_dir(d->model, dir, &err) != LS_OK) {
        fprintf(stderr, "harness_device: models %s: %s\n", dir, err.msg);
        return false;
    }
    char ssid[16];
    snprintf(ssid, sizeof ssid, "%u", o->server_ssid ? o->server_ssid : 101);
    bool ok = bootstrap_account(d, o);
    if (ok && !o->no_server_instance)
        ok = put_text(d, "/1/0/0", ssid) && put_text(d, "/1/0/1", "86400") &&
             put_text(d, "/1/0/6", "0") && put_text(d, "/1/0/7", "U");
    ok = ok && put_text(d, "/3/0/0", "Lodestar") && put_text(d, "/3/0/1", "harness") &&
         put_text(d, "/3/0/2", "0001") && put_text(d, "/3/0/3", "1.0") &&
         put_text(d, "/3/0/9", "100") && put_text(d, "/3/0/11/0", "0") &&
         put_text(d, "/3/0/13", "1700000000") && put_text(d, "/3/0/14", "+00:00") &&
         put_text(d, "/3/0/16", "U");
    ok = ok && put_bytes(d, "/5/0/0", LWM2M_TYPE_OPAQUE, "", 0) &&
         put_text(d, "/5/0/1", "") && put_text(d, "/5/0/3", "0") && put_text(d, "/5/0/5", "0");
    return ok && test_instance_defaults(d, 0);
}

/* ---- public value API ---- */

static bool set_data_locked(struct harness_device *d, const struct lwm2m_data *data)
{
    for (size_t i = 0; i < data->count; i++)
        if (!dev_tree_put(&d->tree, &data->values[i]))
            return false;
    for (size_t i = 0; i < data->count; i++)
        dev_changed_locked(d, &data->values[i].path);
    return true;
}

bool harness_device_set_value(struct harness_device *d, const char *path, const char *text)
{
    struct lwm2m_path p;
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    if (!dev_path_parse(path, &p) || p.depth < 3) {
        fprintf(stderr, "harness_device_set_value: bad path %s\n", path ? path : "(null)");
        return false;
    }
    pthread_mutex_lock(&d->mu);
    bool ok = parse_text(d, &p, text, &data) && set_data_locked(d, &data);
    pthread_mutex_unlock(&d->mu);
    lwm2m_data_free(&data);
    return ok;
}

bool harness_device_set_opaque(struct harness_device *d, const char *path,
                               const uint8_t *bytes, size_t len)
{
    struct lwm2m_value v = { .type = LWM2M_TYPE_OPAQUE };
    if (!dev_path_parse(path, &v.path) || v.path.depth < 3)
        return false;
    v.v.bytes.ptr = bytes;
    v.v.bytes.len = len;
    pthread_mutex_lock(&d->mu);
    bool ok = dev_tree_put(&d->tree, &v);
    if (ok)
        dev_changed_locked(d, &v.path);
    pthread_mutex_unlock(&d->mu);
    return ok;
}

bool harness_device_set_values(struct harness_device *d, const char *values_json)
{
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    pthread_mutex_lock(&d->mu);
    bool ok = lwm2m_api_json_decode(values_json, strlen(values_json), d->model, &data, &err) ==
              LS_OK;
    if (!ok)
        fprintf(stderr, "harness_device_set_values: %s\n", err.msg);
    ok = ok && set_data_locked(d, &data);
    pthread_mutex_unlock(&d->mu);
    lwm2m_data_free(&data);
    return ok;
}

bool harness_device_get_value(struct harness_device *d, const char *path, char *buf,
                              size_t cap)
{
    struct lwm2m_path p;
    bool found = false;
    if (cap)
        buf[0] = '\0';
    if (!dev_path_parse(path, &p) || p.depth < 3)
        return false;
    pthread_mutex_lock(&d->mu);
    struct dev_value *v = dev_tree_find(&d->tree, &p);
    if (v) {
        dev_value_text(v, buf, cap);
        found = true;
    } else if (p.depth == 3) {
        size_t len = 0;
        for (size_t i = 0; i < d->tree.n; i++) {
            struct dev_value *ri = &d->tree.vals[i];
            if (ri->path.depth != 4 || !lwm2m_path_has_prefix(&ri->path, &p))
                continue;
            char text[256];
            dev_value_text(ri, text, sizeof text);
            int n = snprintf(buf + len, cap - len, "%s%u=%s", found ? "," : "", ri->path.id[3],
                             text);
            if (n < 0 || (size_t)n >= cap - len)
                break;
            len += (size_t)n;
            found = true;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return found;
}

bool harness_device_get_opaque(struct harness_device *d, const char *path, uint8_t **out,
                               size_t *len)
{
    struct lwm2m_path p;
    *out = NULL;
    *len = 0;
    if (!dev_path_parse(path, &p))
        return false;
    pthread_mutex_lock(&d->mu);
    struct dev_value *v = dev_tree_find(&d->tree, &p);
    bool ok = v && (v->type == LWM2M_TYPE_OPAQUE || v->type == LWM2M_TYPE_STRING ||
                    v->type == LWM2M_TYPE_CORELNK);
    if (ok) {
        *out = malloc(v->len + 1);
        ok = *out != NULL;
        if (ok) {
            memcpy(*out, v->bytes, v->len);
            *len = v->len;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return ok;
}

char *harness_device_get_json(struct harness_device *d, const char *path)
{
    struct lwm2m_path p;
    struct lwm2m_data data;
    if (!dev_path_parse(path, &p))
        return NULL;
    lwm2m_data_init(&data);
    pthread_mutex_lock(&d->mu);
    bool ok = dev_tree_collect(&d->tree, &p, &data, false);
    pthread_mutex_unlock(&d->mu);
    char *json = ok && data.count ? lwm2m_api_json_encode(&data, NULL) : NULL;
    lwm2m_data_free(&data);
    return json;
}

bool harness_device_has_instance(struct harness_device *d, const char *path)
{
    struct lwm2m_path p;
    if (!dev_path_parse(path, &p) || p.depth != 2)
        return false;
    pthread_mutex_lock(&d->mu);
    bool ok = dev_tree_has_instance(&d->tree, p.id[0], p.id[1]);
    pthread_mutex_unlock(&d->mu);
    return ok;
}

bool harness_device_add_instance(struct harness_device *d, const char *path)
{
    struct lwm2m_path p;
    if (!dev_path_parse(path, &p) || p.depth != 2 || !lwm2m_model_object(d->model, p.id[0], NULL))
        return false;
    pthread_mutex_lock(&d->mu);
    bool ok = !dev_tree_has_instance(&d->tree, p.id[0], p.id[1]) &&
              dev_tree_add_instance(&d->tree, p.id[0], p.id[1]);
    if (ok && p.id[0] == 32769)
        ok = test_instance_defaults(d, p.id[1]);
    if (ok)
        dev_changed_locked(d, &p);
    pthread_mutex_unlock(&d->mu);
    return ok;
}

unsigned harness_device_last_execute(struct harness_device *d, const char *path, char *buf,
                                     size_t cap)
{
    struct lwm2m_path p;
    unsigned n = 0;
    if (cap)
        buf[0] = '\0';
    if (!dev_path_parse(path, &p))
        return 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->nexecs; i++)
        if (lwm2m_path_equal(&d->execs[i].path, &p)) {
            snprintf(buf, cap, "%s", d->execs[i].args);
            n = d->execs[i].count;
        }
    pthread_mutex_unlock(&d->mu);
    return n;
}

bool harness_device_attributes(struct harness_device *d, const char *path, char *buf,
                               size_t cap)
{
    struct lwm2m_path p;
    bool found = false;
    if (cap)
        buf[0] = '\0';
    if (!dev_path_parse(path, &p))
        return false;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->nattrs; i++)
        if (lwm2m_path_equal(&d->attrs[i].path, &p) && d->attrs[i].text[0]) {
            snprintf(buf, cap, "%s", d->attrs[i].text);
            found = true;
        }
    pthread_mutex_unlock(&d->mu);
    return found;
}
