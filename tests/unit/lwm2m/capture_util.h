/*
 * tests/unit/lwm2m/capture_util.h -- helpers for the lwm2m/ tests: load a
 * payload from shared/captures, find a value by path, build data trees,
 * and run one codec's round trips (the model fixture and main() are in
 * suite_util.h, included here)
 *
 * Header-only (static functions) so each test binary stays one .c file.
 * Captures live in $LODESTAR_SHARED/captures (set by tests/unit/meson.build).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_CAPTURE_UTIL_H
#define LODESTAR_TESTS_CAPTURE_UTIL_H

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "suite_util.h"

static inline int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex text (spaces ignored) into a malloc'd buffer. */
static inline uint8_t *hex_bytes(const char *hex, size_t *len)
{
    size_t n = strlen(hex), k = 0;
    uint8_t *out = malloc(n / 2 + 1);
    ck_assert_ptr_nonnull(out);
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        if (hex[i] == ' ')
            continue;
        int v = hex_nibble(hex[i]);
        ck_assert_msg(v >= 0, "bad hex in test vector at %zu", i);
        if (hi < 0) {
            hi = v;
        } else {
            out[k++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    ck_assert_msg(hi < 0, "odd hex length");
    *len = k;
    return out;
}

/* The payload of capture file rel ("anjay-1.1/12-...json"); caller frees. */
static inline uint8_t *capture_payload(const char *rel, size_t *len)
{
    const char *shared = getenv("LODESTAR_SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/captures/%s", shared ? shared : "../shared", rel);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "cannot load %s: %s", path, jerr.text);
    const char *hex = json_string_value(json_object_get(root, "payload_hex"));
    ck_assert_msg(hex != NULL, "%s has no payload_hex", path);
    uint8_t *p = hex_bytes(hex, len);
    json_decref(root);
    return p;
}

static inline struct lwm2m_path test_path(const char *text)
{
    struct lwm2m_path p;
    ck_assert_int_eq(lwm2m_path_parse(text, strlen(text), &p, NULL), LS_OK);
    return p;
}

/* The value at path text, or NULL. */
static inline const struct lwm2m_value *find_value(const struct lwm2m_data *d,
                                                   const char *text)
{
    struct lwm2m_path p = test_path(text);
    for (size_t i = 0; i < d->count; i++)
        if (lwm2m_path_equal(&d->values[i].path, &p))
            return &d->values[i];
    return NULL;
}

static inline const struct lwm2m_value *must_find(const struct lwm2m_data *d,
                                                  const char *text)
{
    const struct lwm2m_value *v = find_value(d, text);
    ck_assert_msg(v != NULL, "no value at %s", text);
    return v;
}

static inline void assert_string(const struct lwm2m_data *d, const char *path,
                                 const char *s)
{
    const struct lwm2m_value *v = must_find(d, path);
    ck_assert_msg(v->type == LWM2M_TYPE_STRING, "%s is %s", path,
                  lwm2m_type_name(v->type));
    ck_assert_uint_eq(v->v.bytes.len, strlen(s));
    ck_assert_msg(memcmp(v->v.bytes.ptr, s, strlen(s)) == 0, "%s is not \"%s\"", path, s);
}

static inline void assert_int(const struct lwm2m_data *d, const char *path,
                              enum lwm2m_type t, int64_t i)
{
    const struct lwm2m_value *v = must_find(d, path);
    ck_assert_msg(v->type == t, "%s is %s, want %s", path, lwm2m_type_name(v->type),
                  lwm2m_type_name(t));
    ck_assert_int_eq(v->v.i, i);
}

static inline void assert_float(const struct lwm2m_data *d, const char *path, double f)
{
    const struct lwm2m_value *v = must_find(d, path);
    ck_assert_msg(v->type == LWM2M_TYPE_FLOAT, "%s is %s", path,
                  lwm2m_type_name(v->type));
    ck_assert_msg(v->v.f == f, "%s is %.17g, want %.17g", path, v->v.f, f);
}

static inline void assert_objlnk(const struct lwm2m_data *d, const char *path,
                                 uint16_t obj, uint16_t inst)
{
    const struct lwm2m_value *v = must_find(d, path);
    ck_assert_msg(v->type == LWM2M_TYPE_OBJLNK, "%s is %s", path,
                  lwm2m_type_name(v->type));
    ck_assert_uint_eq(v->v.objlnk.obj, obj);
    ck_assert_uint_eq(v->v.objlnk.inst, inst);
}

/* Deep comparison of two trees, value by value in order. */
static inline void assert_data_equal(const struct lwm2m_data *a, const struct lwm2m_data *b)
{
    ck_assert_uint_eq(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        const struct lwm2m_value *x = &a->values[i], *y = &b->values[i];
        char px[LWM2M_PATH_STR_MAX], py[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(&x->path, px);
        lwm2m_path_format(&y->path, py);
        ck_assert_str_eq(px, py);
        ck_assert_msg(x->type == y->type, "%s: %s vs %s", px, lwm2m_type_name(x->type),
                      lwm2m_type_name(y->type));
        ck_assert_msg(x->has_time == y->has_time, "%s: has_time differs", px);
        if (x->has_time)
            ck_assert_msg(x->time_s == y->time_s, "%s: time %.17g vs %.17g", px,
                          x->time_s, y->time_s);
        switch (x->type) {
        case LWM2M_TYPE_STRING:
        case LWM2M_TYPE_OPAQUE:
        case LWM2M_TYPE_CORELNK:
            ck_assert_uint_eq(x->v.bytes.len, y->v.bytes.len);
            ck_assert(memcmp(x->v.bytes.ptr, y->v.bytes.ptr, x->v.bytes.len) == 0);
            break;
        case LWM2M_TYPE_INTEGER:
        case LWM2M_TYPE_TIME:
            ck_assert_int_eq(x->v.i, y->v.i);
            break;
        case LWM2M_TYPE_UNSIGNED:
            ck_assert_uint_eq(x->v.u, y->v.u);
            break;
        case LWM2M_TYPE_FLOAT:
            ck_assert_msg(x->v.f == y->v.f, "%s: %.17g vs %.17g", px, x->v.f, y->v.f);
            break;
        case LWM2M_TYPE_BOOLEAN:
            ck_assert_int_eq(x->v.b, y->v.b);
            break;
        case LWM2M_TYPE_OBJLNK:
            ck_assert_uint_eq(x->v.objlnk.obj, y->v.objlnk.obj);
            ck_assert_uint_eq(x->v.objlnk.inst, y->v.objlnk.inst);
            break;
        case LWM2M_TYPE_NONE:
            break;
        }
    }
}

/*
 * A tree with one value of every type, at paths the built-in model types
 * the same way (so decoding with the model gives the same types back):
 * /0/0/3 opaque, /1/0/6 boolean, /1/0/10 objlnk, /1/0/11 unsigned,
 * /3/0/0 string, /3/0/7/0 and /3/0/7/1 integer, /3/0/13 time,
 * /6/0/0 float, /6/0/1 float.
 */
static inline void build_all_types(struct lwm2m_data *d)
{
    struct lwm2m_path p;
    struct lwm2m_value *v;
    static const uint8_t opaque[] = { 0x00, 0x01, 0xff, 0xfe, 0x7f, 0x80, 0x3e };
    lwm2m_data_init(d);
    p = test_path("/0/0/3");
    ck_assert_ptr_nonnull(lwm2m_data_append_bytes(d, &p, LWM2M_TYPE_OPAQUE, opaque,
                                                  sizeof opaque, NULL));
    p = test_path("/1/0/6");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_BOOLEAN, NULL));
    v->v.b = true;
    p = test_path("/1/0/10");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_OBJLNK, NULL));
    v->v.objlnk.obj = 11;
    v->v.objlnk.inst = 65535;
    p = test_path("/1/0/11");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_UNSIGNED, NULL));
    v->v.u = UINT64_MAX;
    p = test_path("/3/0/0");
    static const char text[] = "Z\xc3\xbcrich \"q\" \\ \n\x01";
    ck_assert_ptr_nonnull(lwm2m_data_append_bytes(d, &p, LWM2M_TYPE_STRING, text,
                                                  strlen(text), NULL));
    p = test_path("/3/0/7/0");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_INTEGER, NULL));
    v->v.i = INT64_MIN;
    p = test_path("/3/0/7/1");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_INTEGER, NULL));
    v->v.i = 3800;
    p = test_path("/3/0/13");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_TIME, NULL));
    v->v.i = 1795472845;
    p = test_path("/6/0/0");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_FLOAT, NULL));
    v->v.f = 0.1;
    p = test_path("/6/0/1");
    ck_assert_ptr_nonnull(v = lwm2m_data_append(d, &p, LWM2M_TYPE_FLOAT, NULL));
    v->v.f = -1.25e-300;
}

/* One content format's decode/encode pair: every codec in lwm2m/ has these shapes. */
struct test_codec {
    enum ls_rc (*decode)(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
                         const struct lwm2m_model *model, struct lwm2m_data *out,
                         struct ls_error *err);
    enum ls_rc (*encode)(const struct lwm2m_data *in, const struct lwm2m_path *base,
                         const struct lwm2m_model *model, struct lwm2m_buf *out,
                         struct ls_error *err);
};

/* Decodes a text payload into a fresh d (caller frees d whatever the result). */
static inline enum ls_rc codec_decode_text(const struct test_codec *c, const char *text,
                                           const struct lwm2m_model *m, struct lwm2m_data *d,
                                           struct ls_error *err)
{
    lwm2m_data_init(d);
    return c->decode((const uint8_t *)text, strlen(text), NULL, m, d, err);
}

/* Decodes a hex-written payload into a fresh d (caller frees d). */
static inline enum ls_rc codec_decode_hex(const struct test_codec *c, const char *hex,
                                          const struct lwm2m_model *m, struct lwm2m_data *d,
                                          struct ls_error *err)
{
    size_t len;
    uint8_t *p = hex_bytes(hex, &len);
    lwm2m_data_init(d);
    enum ls_rc rc = c->decode(p, len, NULL, m, d, err);
    free(p);
    return rc;
}

/* a encodes at base and decodes back (with no base) to the same tree. */
static inline void codec_assert_round_trip(const struct test_codec *c,
                                           const struct lwm2m_data *a,
                                           const struct lwm2m_path *base,
                                           const struct lwm2m_model *m)
{
    struct lwm2m_data b;
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    lwm2m_data_init(&b);
    ck_assert_int_eq(c->encode(a, base, m, &out, &err), LS_OK);
    ck_assert_msg(c->decode(out.data, out.len, NULL, m, &b, &err) == LS_OK, "%s in %.*s",
                  err.msg, (int)out.len, out.data);
    assert_data_equal(a, &b);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&b);
}

/* A real payload decodes to something and survives encode + decode. */
static inline void codec_assert_capture_round_trip(const struct test_codec *c,
                                                   const char *file,
                                                   const struct lwm2m_model *m)
{
    size_t len;
    uint8_t *p = capture_payload(file, &len);
    struct lwm2m_data a;
    struct ls_error err = { 0 };
    lwm2m_data_init(&a);
    ck_assert_msg(c->decode(p, len, NULL, m, &a, &err) == LS_OK, "%s: %s", file, err.msg);
    ck_assert_uint_gt(a.count, 0);
    codec_assert_round_trip(c, &a, NULL, m);
    lwm2m_data_free(&a);
    free(p);
}

/*
 * A real payload re-encodes byte for byte.  base_text (NULL: none, as
 * for a Send) is the request path the encoder gets; the decoder gets it
 * too when decode_with_base.
 */
static inline void codec_assert_capture_byte_exact(const struct test_codec *c,
                                                   const char *file, const char *base_text,
                                                   bool decode_with_base,
                                                   const struct lwm2m_model *m)
{
    size_t len;
    uint8_t *p = capture_payload(file, &len);
    struct lwm2m_path base;
    const struct lwm2m_path *bp = NULL;
    if (base_text) {
        base = test_path(base_text);
        bp = &base;
    }
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(c->decode(p, len, decode_with_base ? bp : NULL, m, &d, NULL), LS_OK);
    ck_assert_int_eq(c->encode(&d, bp, m, &out, NULL), LS_OK);
    ck_assert_uint_eq(out.len, len);
    ck_assert_msg(memcmp(out.data, p, len) == 0, "%s differs", file);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
    free(p);
}

/* Every proper prefix of a real payload is refused with LS_EPROTO. */
static inline void codec_assert_every_truncation_rejected(const struct test_codec *c,
                                                          const char *file,
                                                          const struct lwm2m_model *m)
{
    size_t len;
    uint8_t *p = capture_payload(file, &len);
    for (size_t n = 0; n < len; n++) {
        struct lwm2m_data d;
        struct ls_error err = { 0 };
        uint8_t *copy = malloc(n + 1); /* exact size: ASan sees overreads */
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, p, n);
        lwm2m_data_init(&d);
        ck_assert_msg(c->decode(copy, n, NULL, m, &d, &err) == LS_EPROTO,
                      "%s accepted at %zu of %zu bytes", file, n, len);
        lwm2m_data_free(&d);
        free(copy);
    }
    free(p);
}

/* d encodes at base_text (NULL: none), without a model, to exactly hex. */
static inline void codec_assert_encodes_to(const struct test_codec *c,
                                           const struct lwm2m_data *d,
                                           const char *base_text, const char *hex)
{
    struct lwm2m_path base;
    if (base_text)
        base = test_path(base_text);
    struct lwm2m_buf out = { 0 };
    size_t len;
    uint8_t *want = hex_bytes(hex, &len);
    ck_assert_int_eq(c->encode(d, base_text ? &base : NULL, NULL, &out, NULL), LS_OK);
    ck_assert_uint_eq(out.len, len);
    ck_assert_msg(memcmp(out.data, want, len) == 0, "encoding differs from %s", hex);
    free(want);
    lwm2m_buf_free(&out);
}

#endif /* LODESTAR_TESTS_CAPTURE_UTIL_H */
