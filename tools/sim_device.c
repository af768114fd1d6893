/*
 * tools/sim_device.c -- object tree and DM answers of a simulated client
 * (sim_device.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_device.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lwm2m/format.h"

#define C_CONTENT 0x45
#define C_CHANGED 0x44
#define C_BAD_REQUEST 0x80
#define C_UNAUTHORIZED 0x81
#define C_NOT_FOUND 0x84
#define C_NOT_ALLOWED 0x85
#define C_NOT_ACCEPTABLE 0x86
#define C_UNSUPPORTED 0x8f

double sim_device_temperature(const struct sim_dev *d, double now_s)
{
    /* a slow sine per client, phase-shifted by its number, 0.01 C steps */
    double t = 21.0 + 4.0 * sin((now_s + (double)(d->idx % 997)) / 20.0);
    return round(t * 100.0) / 100.0;
}

/* One value, if its path lies at or below want. */
static enum ls_rc put(struct lwm2m_data *out, const struct lwm2m_path *want, struct lwm2m_path p,
                      enum lwm2m_type type, const void *v, struct ls_error *err)
{
    if (!lwm2m_path_has_prefix(&p, want))
        return LS_OK;
    struct lwm2m_value *val;
    if (type == LWM2M_TYPE_STRING) {
        val = lwm2m_data_append_bytes(out, &p, type, v, strlen(v), err);
        return val ? LS_OK : err->code;
    }
    val = lwm2m_data_append(out, &p, type, err);
    if (!val)
        return err->code;
    switch (type) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        val->v.i = *(const int64_t *)v;
        break;
    case LWM2M_TYPE_FLOAT:
        val->v.f = *(const double *)v;
        break;
    case LWM2M_TYPE_BOOLEAN:
        val->v.b = *(const bool *)v;
        break;
    default:
        break;
    }
    return LS_OK;
}

#define R(o, r) lwm2m_path_resource(o, 0, r)

static enum ls_rc tree(const struct sim_dev *d, const struct lwm2m_path *want, double now_s,
                       struct lwm2m_data *out, struct ls_error *err)
{
    char serial[24];
    snprintf(serial, sizeof serial, "SIM-%08u", (unsigned)d->idx);
    int64_t ssid = 1, lifetime = d->lifetime_s, battery = 80 + (int64_t)(d->idx % 20),
            errcode = 0, now = (int64_t)now_s;
    bool storing = true;
    double temp = sim_device_temperature(d, now_s), tmin = 17.0, tmax = 25.0;
    enum ls_rc rc = LS_OK;
    /* /1/0 */
    rc = rc ? rc : put(out, want, R(1, 0), LWM2M_TYPE_INTEGER, &ssid, err);
    rc = rc ? rc : put(out, want, R(1, 1), LWM2M_TYPE_INTEGER, &lifetime, err);
    rc = rc ? rc : put(out, want, R(1, 6), LWM2M_TYPE_BOOLEAN, &storing, err);
    rc = rc ? rc : put(out, want, R(1, 7), LWM2M_TYPE_STRING, d->queue ? "UQ" : "U", err);
    /* /3/0 */
    rc = rc ? rc : put(out, want, R(3, 0), LWM2M_TYPE_STRING, "Lodestar", err);
    rc = rc ? rc : put(out, want, R(3, 1), LWM2M_TYPE_STRING, "lodestar-sim", err);
    rc = rc ? rc : put(out, want, R(3, 2), LWM2M_TYPE_STRING, serial, err);
    rc = rc ? rc : put(out, want, R(3, 3), LWM2M_TYPE_STRING, "1.0", err);
    rc = rc ? rc : put(out, want, R(3, 9), LWM2M_TYPE_INTEGER, &battery, err);
    rc = rc ? rc : put(out, want, lwm2m_path_resource_instance(3, 0, 11, 0), LWM2M_TYPE_INTEGER,
                       &errcode, err);
    rc = rc ? rc : put(out, want, R(3, 13), LWM2M_TYPE_TIME, &now, err);
    rc = rc ? rc : put(out, want, R(3, 14), LWM2M_TYPE_STRING, d->utc_offset, err);
    rc = rc ? rc : put(out, want, R(3, 16), LWM2M_TYPE_STRING, d->queue ? "UQ" : "U", err);
    /* /3303/0 */
    rc = rc ? rc : put(out, want, R(3303, 5601), LWM2M_TYPE_FLOAT, &tmin, err);
    rc = rc ? rc : put(out, want, R(3303, 5602), LWM2M_TYPE_FLOAT, &tmax, err);
    rc = rc ? rc : put(out, want, R(3303, 5700), LWM2M_TYPE_FLOAT, &temp, err);
    rc = rc ? rc : put(out, want, R(3303, 5701), LWM2M_TYPE_STRING, "Cel", err);
    return rc;
}

enum ls_rc sim_device_read(const struct sim_dev *d, const struct lwm2m_path *path, double now_s,
                           struct lwm2m_data *out, struct ls_error *err)
{
    if (path->depth >= 1 && path->id[0] == 0)
        return ls_error_set(err, LS_EINVAL, "the Security object is not readable");
    size_t before = out->count;
    enum ls_rc rc = tree(d, path, now_s, out, err);
    if (rc)
        return rc;
    if (out->count == before)
        return ls_error_set(err, LS_ENOTFOUND, "nothing at that path");
    return LS_OK;
}

unsigned sim_device_encode(const struct sim_dev *d, const struct lwm2m_path *path,
                           unsigned format, double now_s, const struct lwm2m_model *model,
                           struct lwm2m_buf *out)
{
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    lwm2m_data_init(&data);
    unsigned code = C_CONTENT;
    enum ls_rc rc = sim_device_read(d, path, now_s, &data, &err);
    if (rc == LS_EINVAL)
        code = C_UNAUTHORIZED;
    else if (rc)
        code = C_NOT_FOUND;
    else if (lwm2m_format_encode(format, &data, path, model, out, &err) != LS_OK)
        code = C_NOT_ACCEPTABLE;
    lwm2m_data_free(&data);
    return code;
}

/* Link format for Discover: the instance and its resources below path. */
static unsigned discover(const struct sim_dev *d, const struct lwm2m_path *path, double now_s,
                         struct lwm2m_buf *out)
{
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    lwm2m_data_init(&data);
    unsigned code = C_CONTENT;
    if (sim_device_read(d, path, now_s, &data, &err) != LS_OK) {
        code = err.code == LS_EINVAL ? C_UNAUTHORIZED : C_NOT_FOUND;
        goto out;
    }
    char text[1200], p[LWM2M_PATH_STR_MAX];
    size_t n = 0;
    if (path->depth <= 2) {
        struct lwm2m_path inst = lwm2m_path_truncate(&data.values[0].path, 2);
        lwm2m_path_format(&inst, p);
        n += (size_t)snprintf(text + n, sizeof text - n, "<%s>", p);
    }
    struct lwm2m_path prev = { 0 };
    for (size_t i = 0; i < data.count && n < sizeof text - 40; i++) {
        struct lwm2m_path r = lwm2m_path_truncate(&data.values[i].path, 3);
        if (i && lwm2m_path_equal(&r, &prev))
            continue;     /* instances of a multiple resource: one link */
        prev = r;
        lwm2m_path_format(&r, p);
        n += (size_t)snprintf(text + n, sizeof text - n, "%s<%s>", n ? "," : "", p);
    }
    if (lwm2m_buf_append(out, text, n, &err) != LS_OK)
        code = 0xa0;
out:
    lwm2m_data_free(&data);
    return code;
}

/* Applies one written value; false when the resource is not writable. */
static bool apply(struct sim_dev *d, const struct lwm2m_value *v)
{
    const struct lwm2m_path *p = &v->path;
    if (p->depth < 3 || p->id[1] != 0)
        return false;
    if (p->id[0] == 1 && p->id[2] == 1 && v->type == LWM2M_TYPE_INTEGER && v->v.i > 0 &&
        v->v.i < 86400 * 366) {
        d->lifetime_s = (int32_t)v->v.i;
        return true;
    }
    if (p->id[0] == 1 && p->id[2] == 6)
        return true;      /* notification storing: accepted, not kept */
    if (p->id[0] == 3 && p->id[2] == 14 && v->type == LWM2M_TYPE_STRING &&
        v->v.bytes.len < sizeof d->utc_offset) {
        memcpy(d->utc_offset, v->v.bytes.ptr, v->v.bytes.len);
        d->utc_offset[v->v.bytes.len] = '\0';
        return true;
    }
    return false;
}

static unsigned do_write(struct sim_dev *d, const struct sim_coap_parsed *req,
                      const struct lwm2m_path *path, const struct lwm2m_model *model)
{
    if (path->depth < 2)
        return C_NOT_ALLOWED;
    const struct sim_coap_option *cf = sim_coap_find(req, SIM_COAP_OPT_CONTENT_FORMAT);
    if (!cf)
        return C_BAD_REQUEST;
    unsigned format = sim_coap_uint(req, SIM_COAP_OPT_CONTENT_FORMAT, 0);
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    lwm2m_data_init(&data);
    unsigned code = C_CHANGED;
    if (lwm2m_format_decode(format, req->payload, req->payload_len, path, model, &data, &err)) {
        code = err.code == LS_EUNSUPPORTED ? C_UNSUPPORTED : C_BAD_REQUEST;
        goto out;
    }
    struct sim_dev copy = *d;
    for (size_t i = 0; i < data.count; i++)
        if (!lwm2m_path_has_prefix(&data.values[i].path, path) || !apply(&copy, &data.values[i])) {
            code = C_NOT_ALLOWED;
            goto out;
        }
    *d = copy;     /* all or nothing */
out:
    lwm2m_data_free(&data);
    return code;
}

static unsigned execute(struct sim_dev *d, const struct lwm2m_path *path)
{
    if (path->depth != 3 || path->id[1] != 0)
        return C_NOT_ALLOWED;
    unsigned o = path->id[0], r = path->id[2];
    if (o == 1 && r == 8) {
        d->update_due = true;
        return C_CHANGED;
    }
    if (o == 3 && r == 4) {
        d->reboots++;
        return C_CHANGED;
    }
    if (o == 3303 && r == 5605)
        return C_CHANGED;
    return C_NOT_ALLOWED;
}

void sim_device_handle(struct sim_dev *d, const struct sim_coap_parsed *req,
                       const struct lwm2m_path *path, unsigned def_format, double now_s,
                       const struct lwm2m_model *model, struct sim_coap_msg *resp,
                       enum sim_served *what)
{
    struct lwm2m_buf body = { 0 };
    unsigned code = C_NOT_ALLOWED, format = 0;
    bool has_body = false;
    *what = SIM_SERVED_OTHER;
    if (req->code == 1) {                         /* GET */
        unsigned accept = sim_coap_uint(req, SIM_COAP_OPT_ACCEPT, def_format);
        if (accept == 40) {
            *what = SIM_SERVED_DISCOVER;
            code = discover(d, path, now_s, &body);
        } else {
            *what = SIM_SERVED_READ;
            code = sim_device_encode(d, path, accept, now_s, model, &body);
        }
        format = accept;
        has_body = code == C_CONTENT;
    } else if (req->code == 3 || (req->code == 2 && req->payload_len)) {  /* PUT, POST */
        *what = SIM_SERVED_WRITE;
        code = do_write(d, req, path, model);
    } else if (req->code == 2) {
        *what = SIM_SERVED_EXECUTE;
        code = execute(d, path);
    }
    sim_coap_init(resp, SIM_COAP_ACK, code, req->mid, req->token, req->token_len);
    if (has_body) {
        sim_coap_option_uint(resp, SIM_COAP_OPT_CONTENT_FORMAT, format);
        sim_coap_payload(resp, body.data, body.len);
        if (resp->overflow)     /* no blockwise here: 4.13 too large */
            sim_coap_init(resp, SIM_COAP_ACK, 0x8d, req->mid, req->token, req->token_len);
    }
    lwm2m_buf_free(&body);
}

const char *sim_device_links(unsigned def_format)
{
    switch (def_format) {
    case LWM2M_FORMAT_TLV:
        return "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>,</5/0>,</3303/0>";
    case LWM2M_FORMAT_SENML_JSON:
        return "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>,</5/0>,</3303/0>";
    case LWM2M_FORMAT_LWM2M_CBOR:
        return "</>;rt=\"oma.lwm2m\";ct=11544,</1/0>,</3/0>,</5/0>,</3303/0>";
    default:
        return "</>;rt=\"oma.lwm2m\";ct=112,</1/0>,</3/0>,</5/0>,</3303/0>";
    }
}
