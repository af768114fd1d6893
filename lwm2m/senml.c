/*
 * lwm2m/senml.c -- SenML record semantics (names, times) for the SenML JSON,
 *                  SenML CBOR and OMA JSON codecs
 *
 * See senml.h for the rules.  The decoder side is on the hot path of
 * SenML CBOR (every record comes through here), so name resolution
 * concatenates into a stack buffer and parses once: no allocation.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/senml.h"

#include <string.h>

void lwm2m_senml_decoder_init(struct lwm2m_senml_decoder *d,
                              const struct lwm2m_path *base,
                              const struct lwm2m_model *model,
                              struct lwm2m_data *out)
{
    memset(d, 0, sizeof *d);
    d->bn_ok = true; /* "" is the root */
    d->base = base;
    lwm2m_codec_typer_init(&d->typer, model);
    d->out = out;
}

/* Printable, bounded copy of a name for an error message. */
static void quote(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t k = 0; k < len && n + 4 < cap; k++)
        dst[n++] = (s[k] >= 0x20 && s[k] < 0x7f && s[k] != '"') ? s[k] : '?';
    if (len > n)
        dst[n++] = '.', dst[n++] = '.';
    dst[n] = '\0';
}

/*
 * Fast path for the two name styles clients use: bn "/3/0/" + n "7/0" and
 * bn "/3/0" + n "/7/0".  The segments of n are appended to the parsed bn,
 * which gives the same path as parsing the concatenation; anything else
 * (or anything odd) returns false and takes the general path.  This is
 * the hottest code of SenML decoding: a full parse per record halved the
 * throughput.
 */
static bool append_fast(const struct lwm2m_senml_decoder *d, const char *n,
                        size_t len, struct lwm2m_path *path)
{
    if (!d->bn_ok || (d->bn_slash ? n[0] == '/' : n[0] != '/'))
        return false;
    if (n[0] == '/') {
        n++;
        len--;
    }
    if (len > 0 && n[len - 1] == '/')
        len--;
    /* Empty or doubled-slash leftovers: let the general parser judge. */
    if (len == 0 || n[0] == '/' || n[len - 1] == '/')
        return false;
    *path = d->bn_path;
    size_t pos = 0;
    while (pos < len) {
        unsigned v = 0, digits = 0;
        while (pos < len && n[pos] != '/') {
            if (n[pos] < '0' || n[pos] > '9' || ++digits > 5)
                return false;
            v = v * 10 + (unsigned)(n[pos++] - '0');
        }
        if (digits == 0 || v > LWM2M_ID_MAX || path->depth >= 4)
            return false;
        path->id[path->depth++] = (uint16_t)v;
        pos++; /* the '/' or one past the end */
    }
    return true;
}

static enum ls_rc resolve_name(struct lwm2m_senml_decoder *d,
                               const struct lwm2m_senml_record *r,
                               struct lwm2m_path *path, struct ls_error *err)
{
    char name[LWM2M_SENML_NAME_MAX * 2];
    size_t n_len = r->has_n ? r->n_len : 0;
    char shown[48];
    if (d->bn_len + n_len == 0) {
        /* RFC 8428 wants a name; a client answering a Read of one resource
         * with a bare value means the request path. */
        if (!d->base)
            return ls_error_set(err, LS_EPROTO, "senml record has no name");
        *path = *d->base;
        return LS_OK;
    }
    if (n_len == 0 && d->bn_ok) {
        *path = d->bn_path;
        return LS_OK;
    }
    if (n_len > 0 && append_fast(d, r->n, n_len, path))
        return LS_OK;
    if (d->bn_len + n_len >= sizeof name) {
        quote(shown, sizeof shown, r->has_n ? r->n : d->bn,
              r->has_n ? r->n_len : d->bn_len);
        return ls_error_set(err, LS_EPROTO, "senml name \"%s\" is too long", shown);
    }
    memcpy(name, d->bn, d->bn_len);
    if (n_len)
        memcpy(name + d->bn_len, r->n, n_len);
    struct ls_error perr = { 0 };
    if (lwm2m_path_parse(name, d->bn_len + n_len, path, &perr) != LS_OK) {
        quote(shown, sizeof shown, name, d->bn_len + n_len);
        ls_error_set(err, LS_EPROTO, "senml name \"%s\" is not an lwm2m path", shown);
        ls_error_detail(err, "%s.", perr.msg);
        return LS_EPROTO;
    }
    return LS_OK;
}

enum ls_rc lwm2m_senml_decoder_add(struct lwm2m_senml_decoder *d,
                                   const struct lwm2m_senml_record *r,
                                   struct ls_error *err)
{
    if (r->has_bn) {
        if (r->bn_len >= sizeof d->bn) {
            char shown[48];
            quote(shown, sizeof shown, r->bn, r->bn_len);
            return ls_error_set(err, LS_EPROTO, "senml base name \"%s\" is too long",
                                shown);
        }
        memcpy(d->bn, r->bn, r->bn_len);
        d->bn_len = r->bn_len;
        d->bn_ok = lwm2m_path_parse(d->bn, d->bn_len, &d->bn_path, NULL) == LS_OK;
        d->bn_slash = d->bn_len > 0 && d->bn[d->bn_len - 1] == '/';
    }
    if (r->has_bt) {
        d->bt = r->bt;
        d->has_bt = true;
    }
    struct lwm2m_path path;
    enum ls_rc rc = resolve_name(d, r, &path, err);
    if (rc != LS_OK)
        return rc;
    struct lwm2m_value *v;
    rc = lwm2m_codec_append(d->out, &path, &d->typer, &r->value, &v, err);
    if (rc != LS_OK)
        return rc;
    if (d->has_bt || r->has_t) {
        v->has_time = true;
        v->time_s = (d->has_bt ? d->bt : 0) + (r->has_t ? r->t : 0);
    }
    return LS_OK;
}

/* Length of the common prefix of a and b, in IDs. */
static uint8_t common_depth(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
    uint8_t n = a->depth < b->depth ? a->depth : b->depth, k = 0;
    while (k < n && a->id[k] == b->id[k])
        k++;
    return k;
}

void lwm2m_senml_plan_init(struct lwm2m_senml_plan *plan,
                           const struct lwm2m_data *in,
                           const struct lwm2m_path *base)
{
    memset(plan, 0, sizeof *plan);
    if (in->count == 0)
        return;
    bool under_base = base && base->depth > 0;
    bool all_timed = true, all_none = true;
    struct lwm2m_path prefix = in->values[0].path;
    for (size_t k = 0; k < in->count; k++) {
        const struct lwm2m_value *v = &in->values[k];
        if (under_base && !lwm2m_path_has_prefix(&v->path, base))
            under_base = false;
        prefix.depth = common_depth(&prefix, &v->path);
        all_timed = all_timed && v->has_time;
        all_none = all_none && v->type == LWM2M_TYPE_NONE;
    }
    if (under_base)
        prefix = *base;
    /* A path list (Read-Composite, Observe-Composite) names each path in
     * full, as Leshan and Anjay write them: [{"n":"/3/0/0"},{"n":"/1"}]. */
    if (all_none)
        prefix.depth = 0;
    if (prefix.depth > 0)
        plan->bn_len = lwm2m_path_format(&prefix, plan->bn);
    plan->bt_first = all_timed;
    plan->bt = in->values[0].time_s;
}

void lwm2m_senml_plan_record(const struct lwm2m_senml_plan *plan,
                             const struct lwm2m_data *in, size_t index,
                             char name[LWM2M_PATH_STR_MAX],
                             struct lwm2m_senml_out *o)
{
    const struct lwm2m_value *v = &in->values[index];
    memset(o, 0, sizeof *o);
    o->has_bn = index == 0 && plan->bn_len > 0;
    size_t len = lwm2m_path_format(&v->path, name);
    if (len > plan->bn_len) {
        o->has_n = true;
        o->n = name + plan->bn_len;
        o->n_len = len - plan->bn_len;
    }
    if (plan->bt_first) {
        if (index == 0) {
            o->has_bt = true;
            o->bt = plan->bt;
        } else if (v->time_s != plan->bt) {
            o->has_t = true;
            o->t = v->time_s - plan->bt;
        }
    } else if (v->has_time) {
        o->has_t = true;
        o->t = v->time_s;
    }
}

static enum ls_rc put(struct lwm2m_buf *b, const char *s, struct ls_error *err)
{
    return lwm2m_buf_append(b, s, strlen(s), err);
}

/* Fields are written with a leading comma; the first one is then
 * overwritten with the opening brace. */
enum ls_rc lwm2m_senml_json_record(struct lwm2m_buf *b, const struct lwm2m_senml_plan *plan,
                                   const struct lwm2m_data *in, size_t index,
                                   const struct lwm2m_codec_json_names *names,
                                   bool in_record_base, struct ls_error *err)
{
    char name[LWM2M_PATH_STR_MAX];
    struct lwm2m_senml_out o;
    lwm2m_senml_plan_record(plan, in, index, name, &o);
    size_t start = b->len;
    enum ls_rc rc = LS_OK;
    if (in_record_base && o.has_bn && (rc = put(b, ",\"bn\":", err)) == LS_OK)
        rc = lwm2m_codec_json_string(b, (const uint8_t *)plan->bn, plan->bn_len, err);
    if (in_record_base && o.has_bt && rc == LS_OK && (rc = put(b, ",\"bt\":", err)) == LS_OK)
        rc = lwm2m_codec_json_number(b, o.bt, err);
    if (o.has_n && rc == LS_OK && (rc = put(b, ",\"n\":", err)) == LS_OK)
        rc = lwm2m_codec_json_string(b, (const uint8_t *)o.n, o.n_len, err);
    if (o.has_t && rc == LS_OK && (rc = put(b, ",\"t\":", err)) == LS_OK)
        rc = lwm2m_codec_json_number(b, o.t, err);
    if (rc == LS_OK)
        rc = lwm2m_codec_json_value(b, &in->values[index], names, err);
    if (rc != LS_OK)
        return rc;
    if (b->len == start)
        return put(b, "{}", err);
    b->data[start] = '{';
    return put(b, "}", err);
}
