/*
 * lwm2m/senml.h -- SenML record semantics shared by SenML JSON, SenML CBOR
 *                  and OMA JSON (internal to lwm2m/)
 *
 * The three formats differ in syntax only: each record has a base name, a
 * base time, a name, a time and one value (RFC 8428 §4; OMA JSON is the
 * LwM2M 1.0 draft of the same idea).  The syntax layers fill a
 * struct lwm2m_senml_record per record and hand it here; the encoders ask
 * here which bn/n/bt/t to write, so every format names things alike.
 *
 * Names: the full name is bn + n (RFC 8428 §4.5.1), and it must be an LwM2M
 * path.  Clients build it both ways -- bn "/3/0/" + n "0" (Wakaama) and
 * bn "/3/0" + n "/0" (Anjay) -- and both are plain concatenation.
 * Times: bt + t, in seconds.  Values below 2^28 are relative to "now"
 * (RFC 8428 §4.5.3); lwm2m/ reads no clock, so time_s keeps the sum and the
 * caller resolves relative times.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_SENML_H
#define LODESTAR_LWM2M_SENML_H

#include <stdbool.h>
#include <stddef.h>
#include "lwm2m/codec.h"
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/* Longest bn or bn + n accepted; a path needs 25 with a trailing slash. */
#define LWM2M_SENML_NAME_MAX 64

struct lwm2m_senml_record {
    const char *bn;      /* borrowed; valid while the record is applied */
    size_t bn_len;
    bool has_bn;
    double bt;
    bool has_bt;
    const char *n;
    size_t n_len;
    bool has_n;
    double t;
    bool has_t;
    struct lwm2m_raw value; /* LWM2M_RAW_NONE: a name-only record */
};

struct lwm2m_senml_decoder {
    char bn[LWM2M_SENML_NAME_MAX]; /* current base name (sticky, §4.1) */
    size_t bn_len;
    struct lwm2m_path bn_path;     /* bn parsed, when bn_ok */
    bool bn_ok;                    /* bn alone is a path */
    bool bn_slash;                 /* bn ends with '/' */
    double bt;                     /* current base time, seconds */
    bool has_bt;
    const struct lwm2m_path *base; /* request path; used for an empty name */
    struct lwm2m_codec_typer typer;
    struct lwm2m_data *out;
};

void lwm2m_senml_decoder_init(struct lwm2m_senml_decoder *d,
                              const struct lwm2m_path *base,
                              const struct lwm2m_model *model,
                              struct lwm2m_data *out);

/* Resolves the record's name and time, types its value and appends it.
 * LS_EPROTO when the name is not a path or the value does not fit. */
enum ls_rc lwm2m_senml_decoder_add(struct lwm2m_senml_decoder *d,
                                   const struct lwm2m_senml_record *r,
                                   struct ls_error *err) LS_MUST_CHECK;

/* What an encoder writes for the whole pack. */
struct lwm2m_senml_plan {
    char bn[LWM2M_PATH_STR_MAX]; /* text of the base name, no trailing slash */
    size_t bn_len;               /* 0: no bn, names are full paths */
    bool bt_first;               /* every value has a time: bt + relative t */
    double bt;
};

/* What an encoder writes for one record. */
struct lwm2m_senml_out {
    bool has_bn;        /* first record only */
    bool has_bt;
    double bt;
    bool has_n;
    const char *n;      /* points into the caller's name buffer */
    size_t n_len;
    bool has_t;
    double t;
};

/*
 * lwm2m_senml_plan_init -- choose the base name as real clients do: the
 * request path when every value lies below it (Anjay answers a Read of /3
 * with bn "/3"), else the longest common path prefix of the values; none
 * for a pure path list (every value NONE), which names paths in full.
 */
void lwm2m_senml_plan_init(struct lwm2m_senml_plan *plan,
                           const struct lwm2m_data *in,
                           const struct lwm2m_path *base);

void lwm2m_senml_plan_record(const struct lwm2m_senml_plan *plan,
                             const struct lwm2m_data *in, size_t index,
                             char name[LWM2M_PATH_STR_MAX],
                             struct lwm2m_senml_out *o);

/*
 * lwm2m_senml_json_record -- append record index of in as one JSON object
 * with the member names of names: "bn" and "bt" where the plan puts them
 * (only when in_record_base; OMA JSON writes them at the root instead),
 * then "n", "t" and the value.  A nameless NONE at the root is "{}".
 */
enum ls_rc lwm2m_senml_json_record(struct lwm2m_buf *b, const struct lwm2m_senml_plan *plan,
                                   const struct lwm2m_data *in, size_t index,
                                   const struct lwm2m_codec_json_names *names,
                                   bool in_record_base, struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_SENML_H */
