/*
 * lwm2m/cbor_pull.c -- one CBOR item per call on top of cbor_stream_decode
 *
 * Each lwm2m_cbor_pull_next() runs libcbor's streaming decoder on the rest
 * of the input; exactly one callback fires and fills the caller's item.
 * This is the hot loop of the SenML CBOR and LwM2M CBOR decoders: the
 * callbacks only store a value, and nothing allocates except the join of
 * indefinite-length strings (rare; Anjay never sends them).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/cbor_pull.h"

#include <cbor.h>
#include <stdlib.h>
#include <string.h>

#define CUR(ctx) (((struct lwm2m_cbor_pull *)(ctx))->cur)

static void set_uint(void *ctx, uint64_t v)
{
    CUR(ctx)->kind = LWM2M_CBOR_UINT;
    CUR(ctx)->u = v;
}
static void on_u8(void *ctx, uint8_t v) { set_uint(ctx, v); }
static void on_u16(void *ctx, uint16_t v) { set_uint(ctx, v); }
static void on_u32(void *ctx, uint32_t v) { set_uint(ctx, v); }
static void on_u64(void *ctx, uint64_t v) { set_uint(ctx, v); }

static void set_negint(void *ctx, uint64_t v)
{
    CUR(ctx)->kind = LWM2M_CBOR_NEGINT;
    CUR(ctx)->u = v;
}
static void on_n8(void *ctx, uint8_t v) { set_negint(ctx, v); }
static void on_n16(void *ctx, uint16_t v) { set_negint(ctx, v); }
static void on_n32(void *ctx, uint32_t v) { set_negint(ctx, v); }
static void on_n64(void *ctx, uint64_t v) { set_negint(ctx, v); }

static void set_string(void *ctx, enum lwm2m_cbor_kind k, cbor_data d, size_t n)
{
    CUR(ctx)->kind = k;
    CUR(ctx)->indefinite = false;
    CUR(ctx)->ptr = d;
    CUR(ctx)->len = n;
}
static void on_bytes(void *ctx, cbor_data d, size_t n) { set_string(ctx, LWM2M_CBOR_BYTES, d, n); }
static void on_text(void *ctx, cbor_data d, size_t n) { set_string(ctx, LWM2M_CBOR_TEXT, d, n); }

static void set_open(void *ctx, enum lwm2m_cbor_kind k, bool indef, uint64_t n)
{
    CUR(ctx)->kind = k;
    CUR(ctx)->indefinite = indef;
    CUR(ctx)->u = n;
}
static void on_bytes_start(void *ctx) { set_open(ctx, LWM2M_CBOR_BYTES, true, 0); }
static void on_text_start(void *ctx) { set_open(ctx, LWM2M_CBOR_TEXT, true, 0); }
static void on_array(void *ctx, size_t n) { set_open(ctx, LWM2M_CBOR_ARRAY, false, n); }
static void on_array_start(void *ctx) { set_open(ctx, LWM2M_CBOR_ARRAY, true, 0); }
static void on_map(void *ctx, size_t n) { set_open(ctx, LWM2M_CBOR_MAP, false, n); }
static void on_map_start(void *ctx) { set_open(ctx, LWM2M_CBOR_MAP, true, 0); }

static void on_tag(void *ctx, uint64_t v)
{
    CUR(ctx)->kind = LWM2M_CBOR_TAG;
    CUR(ctx)->u = v;
}

static void on_float(void *ctx, float f)
{
    CUR(ctx)->kind = LWM2M_CBOR_FLOAT;
    CUR(ctx)->f = f;
}
static void on_double(void *ctx, double f)
{
    CUR(ctx)->kind = LWM2M_CBOR_FLOAT;
    CUR(ctx)->f = f;
}
static void on_undef(void *ctx) { CUR(ctx)->kind = LWM2M_CBOR_UNDEF; }
static void on_null(void *ctx) { CUR(ctx)->kind = LWM2M_CBOR_NULL; }
static void on_bool(void *ctx, bool b)
{
    CUR(ctx)->kind = LWM2M_CBOR_BOOL;
    CUR(ctx)->b = b;
}
static void on_break(void *ctx) { CUR(ctx)->kind = LWM2M_CBOR_BREAK; }

/* Field names in libcbor 0.8's struct are paired with the wrong comments
 * (byte_string_start is the indefinite start); the assignments follow the
 * callback signatures, which are what the decoder calls. */
static const struct cbor_callbacks callbacks = {
    .uint8 = on_u8, .uint16 = on_u16, .uint32 = on_u32, .uint64 = on_u64,
    .negint8 = on_n8, .negint16 = on_n16, .negint32 = on_n32, .negint64 = on_n64,
    .byte_string = on_bytes, .byte_string_start = on_bytes_start,
    .string = on_text, .string_start = on_text_start,
    .array_start = on_array, .indef_array_start = on_array_start,
    .map_start = on_map, .indef_map_start = on_map_start,
    .tag = on_tag,
    .float2 = on_float, .float4 = on_float, .float8 = on_double,
    .undefined = on_undef, .null = on_null, .boolean = on_bool,
    .indef_break = on_break,
};

void lwm2m_cbor_pull_init(struct lwm2m_cbor_pull *p, const uint8_t *buf, size_t len)
{
    memset(p, 0, sizeof *p);
    p->buf = buf;
    p->len = len;
}

void lwm2m_cbor_pull_fini(struct lwm2m_cbor_pull *p)
{
    free(p->scratch);
    p->scratch = NULL;
    p->scratch_cap = 0;
}

enum ls_rc lwm2m_cbor_pull_next(struct lwm2m_cbor_pull *p,
                                struct lwm2m_cbor_item *it,
                                struct ls_error *err)
{
    if (p->pos >= p->len)
        return ls_error_set(err, LS_EPROTO, "cbor truncated at byte %zu", p->pos);
    it->kind = LWM2M_CBOR_UNDEF;
    it->indefinite = false;
    p->cur = it;
    struct cbor_decoder_result r =
        cbor_stream_decode(p->buf + p->pos, p->len - p->pos, &callbacks, p);
    if (r.status == CBOR_DECODER_NEDATA)
        return ls_error_set(err, LS_EPROTO, "cbor truncated at byte %zu", p->pos);
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
        return ls_error_set(err, LS_EPROTO, "cbor malformed at byte %zu", p->pos);
    p->pos += r.read;
    /* A hostile count must not drive a long loop: every element takes at
     * least one byte, every map pair two. */
    if ((it->kind == LWM2M_CBOR_ARRAY || it->kind == LWM2M_CBOR_MAP) &&
        !it->indefinite) {
        uint64_t left = p->len - p->pos;
        if (it->u > left || (it->kind == LWM2M_CBOR_MAP && it->u > left / 2))
            return ls_error_set(err, LS_EPROTO,
                                "cbor %s of %llu entries in %llu bytes at byte %zu",
                                it->kind == LWM2M_CBOR_MAP ? "map" : "array",
                                (unsigned long long)it->u,
                                (unsigned long long)left, p->pos - r.read);
    }
    return LS_OK;
}

static enum ls_rc join_chunk(struct lwm2m_cbor_pull *p, size_t used,
                             const struct lwm2m_cbor_item *c, struct ls_error *err)
{
    if (used + c->len > p->scratch_cap) {
        size_t cap = p->scratch_cap ? p->scratch_cap : 64;
        while (cap < used + c->len)
            cap *= 2;
        uint8_t *n = realloc(p->scratch, cap);
        if (!n)
            return ls_error_set(err, LS_ENOMEM, "out of memory for %zu bytes", cap);
        p->scratch = n;
        p->scratch_cap = cap;
    }
    if (c->len)
        memcpy(p->scratch + used, c->ptr, c->len);
    return LS_OK;
}

enum ls_rc lwm2m_cbor_pull_string(struct lwm2m_cbor_pull *p,
                                  const struct lwm2m_cbor_item *it,
                                  const uint8_t **ptr, size_t *len,
                                  struct ls_error *err)
{
    if (!it->indefinite) {
        *ptr = it->ptr;
        *len = it->len;
        return LS_OK;
    }
    /* RFC 8949 §3.2.3: chunks are definite strings of the same major type. */
    size_t used = 0;
    for (;;) {
        struct lwm2m_cbor_item c;
        enum ls_rc rc = lwm2m_cbor_pull_next(p, &c, err);
        if (rc != LS_OK)
            return rc;
        if (c.kind == LWM2M_CBOR_BREAK)
            break;
        if (c.kind != it->kind || c.indefinite)
            return ls_error_set(err, LS_EPROTO,
                                "cbor string chunk of the wrong type at byte %zu",
                                p->pos);
        if ((rc = join_chunk(p, used, &c, err)) != LS_OK)
            return rc;
        used += c.len;
    }
    *ptr = p->scratch ? p->scratch : (const uint8_t *)"";
    *len = used;
    return LS_OK;
}

enum ls_rc lwm2m_cbor_pull_string_into(struct lwm2m_cbor_pull *p,
                                       const struct lwm2m_cbor_item *it,
                                       char *buf, size_t cap, size_t *len,
                                       struct ls_error *err)
{
    size_t used = 0;
    struct lwm2m_cbor_item c = *it;
    bool chunked = it->indefinite;
    for (;;) {
        enum ls_rc rc;
        if (chunked) {
            if ((rc = lwm2m_cbor_pull_next(p, &c, err)) != LS_OK)
                return rc;
            if (c.kind == LWM2M_CBOR_BREAK)
                break;
            if (c.kind != it->kind || c.indefinite)
                return ls_error_set(err, LS_EPROTO,
                                    "cbor string chunk of the wrong type at byte %zu",
                                    p->pos);
        }
        if (c.len > cap - used)
            return ls_error_set(err, LS_EPROTO,
                                "cbor string of more than %zu bytes at byte %zu",
                                cap, p->pos);
        if (c.len)
            memcpy(buf + used, c.ptr, c.len);
        used += c.len;
        if (!chunked)
            break;
    }
    *len = used;
    return LS_OK;
}

enum ls_rc lwm2m_cbor_pull_more(struct lwm2m_cbor_pull *p, bool indefinite,
                                uint64_t *left, struct lwm2m_cbor_item *it,
                                bool *more, struct ls_error *err)
{
    *more = false;
    if (!indefinite) {
        if (*left == 0)
            return LS_OK;
        (*left)--;
    }
    enum ls_rc rc = lwm2m_cbor_pull_next(p, it, err);
    if (rc != LS_OK)
        return rc;
    if (it->kind == LWM2M_CBOR_BREAK) {
        if (!indefinite)
            return ls_error_set(err, LS_EPROTO, "cbor break inside a definite "
                                "container at byte %zu", p->pos - 1);
        return LS_OK;
    }
    *more = true;
    return LS_OK;
}

enum ls_rc lwm2m_cbor_pull_skip(struct lwm2m_cbor_pull *p,
                                const struct lwm2m_cbor_item *it,
                                unsigned depth, struct ls_error *err)
{
    struct lwm2m_cbor_item c;
    enum ls_rc rc = LS_OK;
    switch (it->kind) {
    case LWM2M_CBOR_BYTES:
    case LWM2M_CBOR_TEXT:
        /* Walk the chunks without joining them: the scratch buffer may
         * hold the record's value, which must survive a skipped label. */
        while (it->indefinite) {
            if ((rc = lwm2m_cbor_pull_next(p, &c, err)) != LS_OK)
                return rc;
            if (c.kind == LWM2M_CBOR_BREAK)
                break;
            if (c.kind != it->kind || c.indefinite)
                return ls_error_set(err, LS_EPROTO,
                                    "cbor string chunk of the wrong type at byte %zu",
                                    p->pos);
        }
        return LS_OK;
    case LWM2M_CBOR_TAG:
        if (depth == 0)
            return ls_error_set(err, LS_EPROTO, "cbor nested too deep at byte %zu", p->pos);
        if ((rc = lwm2m_cbor_pull_next(p, &c, err)) != LS_OK)
            return rc;
        return lwm2m_cbor_pull_skip(p, &c, depth - 1, err);
    case LWM2M_CBOR_ARRAY:
    case LWM2M_CBOR_MAP: {
        if (depth == 0)
            return ls_error_set(err, LS_EPROTO, "cbor nested too deep at byte %zu", p->pos);
        uint64_t left = it->u;
        bool more;
        for (;;) {
            if ((rc = lwm2m_cbor_pull_more(p, it->indefinite, &left, &c, &more,
                                           err)) != LS_OK || !more)
                return rc;
            if ((rc = lwm2m_cbor_pull_skip(p, &c, depth - 1, err)) != LS_OK)
                return rc;
            if (it->kind != LWM2M_CBOR_MAP)
                continue;
            /* The value of a pair: a break here is an odd-length map. */
            if ((rc = lwm2m_cbor_pull_next(p, &c, err)) != LS_OK ||
                (rc = lwm2m_cbor_pull_skip(p, &c, depth - 1, err)) != LS_OK)
                return rc;
        }
    }
    case LWM2M_CBOR_BREAK:
        return ls_error_set(err, LS_EPROTO, "cbor unexpected break at byte %zu",
                            p->pos - 1);
    default:
        return LS_OK;
    }
}
