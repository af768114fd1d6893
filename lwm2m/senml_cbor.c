/*
 * lwm2m/senml_cbor.c -- SenML CBOR codec (RFC 8428 §6, content-format 112)
 *
 * Decoding pulls one item at a time from libcbor's streaming decoder
 * (cbor_pull.c) and fills a struct lwm2m_senml_record per map; senml.c
 * resolves names and times exactly as for SenML JSON.  Definite strings
 * are used in place (they point into the input); indefinite names are
 * joined into stack buffers.  cbor_load() is deliberately not used: it
 * allocates a node per item, which is several times slower and turns a
 * hostile payload into a memory problem.
 *
 * Encoding uses libcbor's cbor_encode_* functions straight into the output
 * buffer (codec.c wrappers), with definite lengths throughout.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/senml_cbor.h"

#include <string.h>

#include "lwm2m/cbor_pull.h"
#include "lwm2m/codec.h"
#include "lwm2m/senml.h"

/* RFC 8428 §6 Table 4 labels, plus the LwM2M text label "vlo". */
enum label {
    L_UNKNOWN, L_BN, L_BT, L_N, L_T, L_V, L_VS, L_VB, L_VD, L_VLO, L_MUST,
};

#define SKIP_DEPTH 16 /* nesting allowed inside an ignored label's value */

static enum label int_label(int64_t k)
{
    switch (k) {
    case -2: return L_BN;
    case -3: return L_BT;
    case 0: return L_N;
    case 6: return L_T;
    case 2: return L_V;
    case 3: return L_VS;
    case 4: return L_VB;
    case 8: return L_VD;
    default: return L_UNKNOWN; /* bver -1, bu -4, bv -5, bs -6, u 1, s 5, ut 7 */
    }
}

static enum label text_label(const uint8_t *s, size_t n)
{
    static const struct {
        const char *name;
        enum label l;
    } names[] = {
        { "vlo", L_VLO }, { "bn", L_BN }, { "bt", L_BT }, { "n", L_N },
        { "t", L_T }, { "v", L_V }, { "vs", L_VS }, { "vb", L_VB }, { "vd", L_VD },
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strlen(names[k].name) == n && memcmp(names[k].name, s, n) == 0)
            return names[k].l;
    /* RFC 8428 §4.4: labels ending in '_' must be understood. */
    return n > 0 && s[n - 1] == '_' ? L_MUST : L_UNKNOWN;
}

/* Per-record state: names that came as indefinite strings live here. */
struct record_buf {
    struct lwm2m_senml_record r;
    char bn[LWM2M_SENML_NAME_MAX];
    char n[LWM2M_SENML_NAME_MAX];
};

static enum ls_rc read_number(struct lwm2m_cbor_pull *p, const struct lwm2m_cbor_item *it,
                              double *out, struct ls_error *err)
{
    switch (it->kind) {
    case LWM2M_CBOR_UINT: *out = (double)it->u; return LS_OK;
    case LWM2M_CBOR_NEGINT: *out = -1.0 - (double)it->u; return LS_OK;
    case LWM2M_CBOR_FLOAT: *out = it->f; return LS_OK;
    default:
        return ls_error_set(err, LS_EPROTO, "senml time is not a number at byte %zu",
                            p->pos);
    }
}

static enum ls_rc read_name(struct lwm2m_cbor_pull *p, const struct lwm2m_cbor_item *it,
                            char *buf, const char **s, size_t *n, struct ls_error *err)
{
    if (it->kind != LWM2M_CBOR_TEXT)
        return ls_error_set(err, LS_EPROTO, "senml name is not a text string at byte %zu",
                            p->pos);
    if (!it->indefinite) {
        *s = (const char *)it->ptr;
        *n = it->len;
        return LS_OK;
    }
    *s = buf;
    return lwm2m_cbor_pull_string_into(p, it, buf, LWM2M_SENML_NAME_MAX, n, err);
}

/* "v": an integer, a float, or either under tag 1 (epoch time). */
static enum ls_rc read_v(struct lwm2m_cbor_pull *p, struct lwm2m_cbor_item *it,
                         struct lwm2m_raw *raw, struct ls_error *err)
{
    bool time = false;
    enum ls_rc rc;
    if (it->kind == LWM2M_CBOR_TAG) {
        if (it->u != 1)
            return ls_error_set(err, LS_EPROTO, "senml value has cbor tag %llu",
                                (unsigned long long)it->u);
        if ((rc = lwm2m_cbor_pull_next(p, it, err)) != LS_OK)
            return rc;
        time = true;
    }
    if (it->kind == LWM2M_CBOR_UINT) {
        raw->kind = it->u <= INT64_MAX ? LWM2M_RAW_INT : LWM2M_RAW_UINT;
        raw->v.u = it->u; /* same bits as v.i when it fits */
    } else if (it->kind == LWM2M_CBOR_NEGINT && it->u <= INT64_MAX) {
        raw->kind = LWM2M_RAW_INT;
        raw->v.i = -1 - (int64_t)it->u;
    } else if (it->kind == LWM2M_CBOR_FLOAT) {
        raw->kind = LWM2M_RAW_FLOAT;
        raw->v.f = it->f;
        return LS_OK;
    } else {
        return ls_error_set(err, LS_EPROTO, "senml \"v\" is not a number at byte %zu",
                            p->pos);
    }
    if (time && raw->kind == LWM2M_RAW_INT)
        raw->kind = LWM2M_RAW_TIME;
    return LS_OK;
}

static enum ls_rc read_value(struct lwm2m_cbor_pull *p, enum label l,
                             struct lwm2m_cbor_item *it, struct lwm2m_raw *raw,
                             struct ls_error *err)
{
    if (raw->kind != LWM2M_RAW_NONE)
        return ls_error_set(err, LS_EPROTO, "senml record has two values at byte %zu",
                            p->pos);
    if (l == L_V)
        return read_v(p, it, raw, err);
    if (l == L_VB) {
        if (it->kind != LWM2M_CBOR_BOOL)
            return ls_error_set(err, LS_EPROTO, "senml \"vb\" is not a boolean");
        raw->kind = LWM2M_RAW_BOOL;
        raw->v.b = it->b;
        return LS_OK;
    }
    enum lwm2m_cbor_kind want = l == L_VD ? LWM2M_CBOR_BYTES : LWM2M_CBOR_TEXT;
    if (it->kind != want)
        return ls_error_set(err, LS_EPROTO, "senml \"%s\" has the wrong cbor type",
                            l == L_VD ? "vd" : l == L_VS ? "vs" : "vlo");
    const uint8_t *s;
    size_t n;
    enum ls_rc rc = lwm2m_cbor_pull_string(p, it, &s, &n, err);
    if (rc != LS_OK)
        return rc;
    if (l == L_VLO) {
        raw->kind = LWM2M_RAW_OBJLNK;
        if (!lwm2m_codec_objlnk_parse((const char *)s, n, &raw->v.objlnk))
            return ls_error_set(err, LS_EPROTO, "senml \"vlo\" is not \"oid:iid\"");
        return LS_OK;
    }
    raw->kind = l == L_VD ? LWM2M_RAW_OPAQUE : LWM2M_RAW_STRING;
    raw->v.bytes.ptr = s;
    raw->v.bytes.len = n;
    return LS_OK;
}

static enum ls_rc read_key(struct lwm2m_cbor_pull *p, const struct lwm2m_cbor_item *k,
                           enum label *l, struct ls_error *err)
{
    char text[16];
    size_t n;
    enum ls_rc rc;
    switch (k->kind) {
    case LWM2M_CBOR_UINT:
        *l = k->u <= 8 ? int_label((int64_t)k->u) : L_UNKNOWN;
        return LS_OK;
    case LWM2M_CBOR_NEGINT:
        *l = k->u < 8 ? int_label(-1 - (int64_t)k->u) : L_UNKNOWN;
        return LS_OK;
    case LWM2M_CBOR_TEXT:
        if (!k->indefinite) {
            *l = text_label(k->ptr, k->len);
            return LS_OK;
        }
        if ((rc = lwm2m_cbor_pull_string_into(p, k, text, sizeof text, &n, err)) != LS_OK)
            return rc;
        *l = text_label((const uint8_t *)text, n);
        return LS_OK;
    default:
        return ls_error_set(err, LS_EPROTO, "senml label is neither an integer nor "
                            "text at byte %zu", p->pos);
    }
}

static enum ls_rc read_pair(struct lwm2m_cbor_pull *p, const struct lwm2m_cbor_item *k,
                            struct record_buf *rb, struct ls_error *err)
{
    struct lwm2m_senml_record *r = &rb->r;
    struct lwm2m_cbor_item v;
    enum label l;
    enum ls_rc rc;
    if ((rc = read_key(p, k, &l, err)) != LS_OK ||
        (rc = lwm2m_cbor_pull_next(p, &v, err)) != LS_OK)
        return rc;
    switch (l) {
    case L_BN:
        r->has_bn = true;
        return read_name(p, &v, rb->bn, &r->bn, &r->bn_len, err);
    case L_N:
        r->has_n = true;
        return read_name(p, &v, rb->n, &r->n, &r->n_len, err);
    case L_BT:
        r->has_bt = true;
        return read_number(p, &v, &r->bt, err);
    case L_T:
        r->has_t = true;
        return read_number(p, &v, &r->t, err);
    case L_MUST:
        return ls_error_set(err, LS_EPROTO, "senml must-understand label not supported");
    case L_UNKNOWN:
        return lwm2m_cbor_pull_skip(p, &v, SKIP_DEPTH, err);
    default:
        return read_value(p, l, &v, &r->value, err);
    }
}

static enum ls_rc read_record(struct lwm2m_cbor_pull *p, const struct lwm2m_cbor_item *m,
                              struct lwm2m_senml_decoder *d, struct ls_error *err)
{
    struct record_buf rb;
    memset(&rb.r, 0, sizeof rb.r);
    if (m->kind != LWM2M_CBOR_MAP)
        return ls_error_set(err, LS_EPROTO, "senml record is not a cbor map at byte %zu",
                            p->pos);
    uint64_t left = m->u;
    struct lwm2m_cbor_item k;
    bool more;
    enum ls_rc rc;
    for (;;) {
        if ((rc = lwm2m_cbor_pull_more(p, m->indefinite, &left, &k, &more, err)) != LS_OK)
            return rc;
        if (!more)
            break;
        if ((rc = read_pair(p, &k, &rb, err)) != LS_OK)
            return rc;
    }
    return lwm2m_senml_decoder_add(d, &rb.r, err);
}

enum ls_rc lwm2m_senml_cbor_decode(const uint8_t *buf, size_t len,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_data *out,
                                   struct ls_error *err)
{
    struct lwm2m_cbor_pull p;
    struct lwm2m_senml_decoder d;
    struct lwm2m_cbor_item top, rec;
    size_t index = 0;
    bool more;
    lwm2m_cbor_pull_init(&p, buf, len);
    lwm2m_senml_decoder_init(&d, base, model, out);
    enum ls_rc rc = lwm2m_cbor_pull_next(&p, &top, err);
    if (rc != LS_OK)
        goto out;
    if (top.kind != LWM2M_CBOR_ARRAY) {
        rc = ls_error_set(err, LS_EPROTO, "senml cbor pack is not an array");
        goto out;
    }
    uint64_t left = top.u;
    for (;; index++) {
        if ((rc = lwm2m_cbor_pull_more(&p, top.indefinite, &left, &rec, &more, err)) != LS_OK ||
            !more)
            break;
        if ((rc = read_record(&p, &rec, &d, err)) != LS_OK)
            break;
    }
    if (rc == LS_OK && !lwm2m_cbor_pull_done(&p))
        rc = ls_error_set(err, LS_EPROTO, "%zu bytes after the senml cbor pack",
                          len - p.pos);
    else if (rc != LS_OK)
        ls_error_prefix(err, "senml cbor record %zu", index);
out:
    lwm2m_cbor_pull_fini(&p);
    return rc;
}

/* ---- encoding ---- */

static size_t field_count(const struct lwm2m_senml_out *o, const struct lwm2m_value *v)
{
    return (size_t)o->has_bn + o->has_bt + o->has_n + o->has_t +
           (v->type != LWM2M_TYPE_NONE);
}

static enum ls_rc put_value(struct lwm2m_buf *b, const struct lwm2m_value *v,
                            struct ls_error *err)
{
    enum ls_rc rc;
    char l[LWM2M_CODEC_OBJLNK_MAX];
    switch (v->type) {
    case LWM2M_TYPE_NONE:
        return LS_OK;
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        if ((rc = lwm2m_codec_cbor_uint(b, 3, err)) != LS_OK)
            return rc;
        return lwm2m_codec_cbor_text(b, v->v.bytes.ptr, v->v.bytes.len, err);
    case LWM2M_TYPE_OPAQUE:
        if ((rc = lwm2m_codec_cbor_uint(b, 8, err)) != LS_OK)
            return rc;
        return lwm2m_codec_cbor_bytes(b, v->v.bytes.ptr, v->v.bytes.len, err);
    case LWM2M_TYPE_BOOLEAN:
        if ((rc = lwm2m_codec_cbor_uint(b, 4, err)) != LS_OK)
            return rc;
        return lwm2m_codec_cbor_bool(b, v->v.b, err);
    case LWM2M_TYPE_OBJLNK:
        if ((rc = lwm2m_codec_cbor_text(b, "vlo", 3, err)) != LS_OK)
            return rc;
        return lwm2m_codec_cbor_text(b, l, lwm2m_codec_objlnk_format(&v->v.objlnk, l), err);
    default:
        break;
    }
    if ((rc = lwm2m_codec_cbor_uint(b, 2, err)) != LS_OK)
        return rc;
    if (v->type == LWM2M_TYPE_UNSIGNED)
        return lwm2m_codec_cbor_uint(b, v->v.u, err);
    if (v->type == LWM2M_TYPE_FLOAT)
        return lwm2m_codec_cbor_float(b, v->v.f, err);
    return lwm2m_codec_cbor_int(b, v->v.i, err); /* INTEGER, TIME */
}

static enum ls_rc put_record(struct lwm2m_buf *b, const struct lwm2m_senml_plan *plan,
                             const struct lwm2m_data *in, size_t i, struct ls_error *err)
{
    char name[LWM2M_PATH_STR_MAX];
    struct lwm2m_senml_out o;
    const struct lwm2m_value *v = &in->values[i];
    lwm2m_senml_plan_record(plan, in, i, name, &o);
    enum ls_rc rc = lwm2m_codec_cbor_map(b, field_count(&o, v), err);
    if (rc == LS_OK && o.has_bn && (rc = lwm2m_codec_cbor_int(b, -2, err)) == LS_OK)
        rc = lwm2m_codec_cbor_text(b, plan->bn, plan->bn_len, err);
    if (rc == LS_OK && o.has_bt && (rc = lwm2m_codec_cbor_int(b, -3, err)) == LS_OK)
        rc = lwm2m_codec_cbor_number(b, o.bt, err);
    if (rc == LS_OK && o.has_n && (rc = lwm2m_codec_cbor_uint(b, 0, err)) == LS_OK)
        rc = lwm2m_codec_cbor_text(b, o.n, o.n_len, err);
    if (rc == LS_OK && o.has_t && (rc = lwm2m_codec_cbor_uint(b, 6, err)) == LS_OK)
        rc = lwm2m_codec_cbor_number(b, o.t, err);
    if (rc == LS_OK)
        rc = put_value(b, v, err);
    return rc;
}

enum ls_rc lwm2m_senml_cbor_encode(const struct lwm2m_data *in,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_buf *out,
                                   struct ls_error *err)
{
    struct lwm2m_senml_plan plan;
    lwm2m_senml_plan_init(&plan, in, base);
    enum ls_rc rc = lwm2m_codec_cbor_array(out, in->count, err);
    for (size_t i = 0; i < in->count && rc == LS_OK; i++)
        rc = put_record(out, &plan, in, i, err);
    return rc;
}
