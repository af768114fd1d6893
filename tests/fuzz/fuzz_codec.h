/*
 * tests/fuzz/fuzz_codec.h -- the round-trip harness every content-format
 * fuzz target shares
 *
 * All codecs in lwm2m/ have the same decode/encode signatures, so one
 * routine checks the property the targets care about: whatever decodes
 * must encode (or be refused in a way the codec allows) and the encoding
 * must decode again with the same base and model.  A failure there means
 * the encoder wrote something its own decoder rejects, so it aborts.
 * Header-only (static functions) so each target stays one .c file.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_FUZZ_CODEC_H
#define LODESTAR_TESTS_FUZZ_CODEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* How the encoder may answer values its decoder accepted. */
enum fuzz_encode_rule {
    FUZZ_ENCODE_MUST_SUCCEED, /* single-value formats: anything decoded encodes */
    FUZZ_ENCODE_MAY_EINVAL,   /* may refuse with LS_EINVAL (two values at one path) */
    FUZZ_ENCODE_MAY_FAIL,     /* may refuse with any code (TLV: unencodable trees) */
};

struct fuzz_codec {
    enum ls_rc (*decode)(const uint8_t *buf, size_t len, const struct lwm2m_path *base,
                         const struct lwm2m_model *model, struct lwm2m_data *out,
                         struct ls_error *err);
    enum ls_rc (*encode)(const struct lwm2m_data *in, const struct lwm2m_path *base,
                         const struct lwm2m_model *model, struct lwm2m_buf *out,
                         struct ls_error *err);
    enum fuzz_encode_rule rule;
    /* Optional: true when a documented limit exempts d from re-decoding. */
    bool (*skip_redecode)(const struct lwm2m_data *d);
};

/*
 * skip_redecode for the JSON formats: unsigned values above INT64_MAX are
 * written as JSON integers, which jansson refuses to read (documented in
 * lwm2m/senml_json.h and lwm2m/oma_json.h).
 */
static inline bool fuzz_codec_has_huge_unsigned(const struct lwm2m_data *d)
{
    for (size_t k = 0; k < d->count; k++)
        if (d->values[k].type == LWM2M_TYPE_UNSIGNED && d->values[k].v.u > INT64_MAX)
            return true;
    return false;
}

/* The built-in model, built once per process; freed at exit. */
static inline const struct lwm2m_model *fuzz_codec_model(void)
{
    static struct lwm2m_model *model;
    if (!model && !(model = lwm2m_model_new(NULL)))
        abort();
    return model;
}

static inline void fuzz_codec_round_trip(const struct fuzz_codec *c, const uint8_t *data,
                                         size_t size, const struct lwm2m_path *base,
                                         const struct lwm2m_model *m)
{
    struct lwm2m_data d, again;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&d);
    lwm2m_data_init(&again);
    if (c->decode(data, size, base, m, &d, NULL) == LS_OK) {
        enum ls_rc rc = c->encode(&d, base, m, &out, NULL);
        if (rc != LS_OK && (c->rule == FUZZ_ENCODE_MUST_SUCCEED ||
                            (c->rule == FUZZ_ENCODE_MAY_EINVAL && rc != LS_EINVAL)))
            abort();
        if (rc == LS_OK && !(c->skip_redecode && c->skip_redecode(&d)) &&
            c->decode(out.data, out.len, base, m, &again, NULL) != LS_OK)
            abort();
    }
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
    lwm2m_data_free(&again);
}

/*
 * Multi-value formats: the whole input is the payload at base /3/0,
 * decoded with and without the built-in model.
 */
static inline void fuzz_codec_multi(const struct fuzz_codec *c, const uint8_t *data,
                                    size_t size)
{
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    fuzz_codec_round_trip(c, data, size, &base, fuzz_codec_model());
    fuzz_codec_round_trip(c, data, size, &base, NULL);
}

/*
 * Single-value formats: a resource of each model type, in the order the
 * targets' first input byte selects them; the last is unknown to the model.
 */
static const struct lwm2m_path fuzz_codec_typed_paths[] = {
    { { 3, 0, 0 }, 3 },       /* string */
    { { 3, 0, 9 }, 3 },       /* integer */
    { { 1, 0, 11 }, 3 },      /* unsigned */
    { { 3303, 0, 5700 }, 3 }, /* float */
    { { 1, 0, 6 }, 3 },       /* boolean */
    { { 3, 0, 13 }, 3 },      /* time */
    { { 3, 0, 22, 0 }, 4 },   /* objlnk */
    { { 5, 0, 0 }, 3 },       /* opaque */
    { { 9999, 0, 0 }, 3 },    /* unknown */
};

#endif /* LODESTAR_TESTS_FUZZ_CODEC_H */
