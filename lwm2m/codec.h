/*
 * lwm2m/codec.h -- helpers shared by the SenML, OMA JSON and LwM2M CBOR codecs
 *
 * Internal to lwm2m/: nothing outside the folder includes this header.  It
 * holds the one place where a value as the wire carried it (a "raw" value:
 * a JSON number, a CBOR text string, ...) is turned into a typed
 * struct lwm2m_value using the object model, so that every format types
 * values the same way, plus the small text conversions several formats
 * need (object links "3:0", base64, shortest round-trip doubles).
 *
 * INTERFACE
 *   lwm2m_codec_append         type a raw value with the model and store it
 *   lwm2m_codec_objlnk_parse   "oid:iid" -> struct lwm2m_objlnk
 *   lwm2m_codec_objlnk_format  struct lwm2m_objlnk -> "oid:iid"
 *   lwm2m_codec_base64_decode  base64url (no padding) or standard base64
 *   lwm2m_codec_base64_encode  base64url without padding, or standard base64
 *   lwm2m_codec_double_format  shortest text that reads back to the same double
 *   lwm2m_codec_json_string    append a quoted, escaped JSON string
 *   lwm2m_codec_json_number    append a double as JSON (shortest form)
 *   lwm2m_codec_json_value     append a value's SenML-like JSON member
 *   lwm2m_codec_json_raw       read a SenML-like JSON value member into a raw
 *   lwm2m_codec_cbor_*         append one CBOR item with libcbor's encoders
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_CODEC_H
#define LODESTAR_LWM2M_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

/* What the wire said, before the model is consulted. */
enum lwm2m_raw_kind {
    LWM2M_RAW_NONE = 0,   /* no value at all (Read-Composite name lists) */
    LWM2M_RAW_FLOAT,
    LWM2M_RAW_INT,
    LWM2M_RAW_UINT,       /* above INT64_MAX, or a CBOR unsigned */
    LWM2M_RAW_STRING,
    LWM2M_RAW_BOOL,
    LWM2M_RAW_OPAQUE,
    LWM2M_RAW_OBJLNK,
    LWM2M_RAW_TIME,       /* CBOR tag 1 */
};

struct lwm2m_raw {
    enum lwm2m_raw_kind kind;
    bool untyped_float;   /* a JSON number: FLOAT unless the model says otherwise */
    bool string_base64;   /* OMA JSON "sv": base64 when the model says opaque */
    union {
        double f;
        int64_t i;        /* INT, TIME */
        uint64_t u;
        bool b;
        struct lwm2m_objlnk objlnk;
        struct {
            const uint8_t *ptr; /* borrowed: copied into the data arena */
            size_t len;
        } bytes;          /* STRING, OPAQUE */
    } v;
};

/*
 * Resource type lookups for one decode.  Remembers the last object
 * definition: a pack names the same object over and over, and the model's
 * object search was a tenth of SenML CBOR decoding time.  Borrowed model;
 * valid while the model is not changed.
 */
struct lwm2m_codec_typer {
    const struct lwm2m_model *model;   /* may be NULL: nothing is typed */
    const struct lwm2m_object_def *obj; /* definition of obj_id, or NULL */
    uint16_t obj_id;
    bool cached;                        /* obj/obj_id are valid */
};

void lwm2m_codec_typer_init(struct lwm2m_codec_typer *t,
                            const struct lwm2m_model *model);

/* The definition of resource res of object obj (newest version), or NULL. */
const struct lwm2m_resource_def *lwm2m_codec_typer_resource(struct lwm2m_codec_typer *t,
                                                            uint16_t obj, uint16_t res);

/*
 * lwm2m_codec_append -- type raw with the model and append it at path.
 *
 * The resource type comes from typer (may be NULL); without one the wire
 * type decides (see lwm2m_raw).  Numbers convert between integer, unsigned,
 * time and float only when exact.  Values need a resource or resource
 * instance path; LWM2M_RAW_NONE may sit at any depth.
 *
 * Returns the stored value in *added (may be NULL), or LS_EPROTO with a
 * message naming the path when the value does not fit the model, or
 * LS_ENOMEM.
 */
enum ls_rc lwm2m_codec_append(struct lwm2m_data *out,
                              const struct lwm2m_path *path,
                              struct lwm2m_codec_typer *typer,
                              const struct lwm2m_raw *raw,
                              struct lwm2m_value **added,
                              struct ls_error *err) LS_MUST_CHECK;

/* Parses "oid:iid" (each 0..65535, decimal, no signs); false when malformed. */
bool lwm2m_codec_objlnk_parse(const char *s, size_t len,
                              struct lwm2m_objlnk *out);

#define LWM2M_CODEC_OBJLNK_MAX 12   /* "65535:65535" + NUL */
/* Writes "oid:iid"; returns its length. */
size_t lwm2m_codec_objlnk_format(const struct lwm2m_objlnk *l,
                                 char buf[LWM2M_CODEC_OBJLNK_MAX]);

/*
 * lwm2m_codec_base64_decode -- decode base64url or standard base64.
 *
 * Padding is optional; the two alphabets may not be mixed.  out must hold
 * len * 3 / 4 + 3 bytes.  Returns false on any other character or a
 * dangling final sextet.
 */
bool lwm2m_codec_base64_decode(const char *s, size_t len, uint8_t *out,
                               size_t *out_len);

/* Appends base64url without padding (url: SenML "vd", LwM2M Transport) or
 * standard base64 with padding (OMA JSON "sv", LwM2M 1.0). */
enum ls_rc lwm2m_codec_base64_encode(const uint8_t *p, size_t len, bool url,
                                     struct lwm2m_buf *out,
                                     struct ls_error *err) LS_MUST_CHECK;

#define LWM2M_CODEC_DOUBLE_MAX 32
/*
 * lwm2m_codec_double_format -- the shortest %g text that parses back to d
 * ("3800", "0.1", "1e+300").  Returns its length, or 0 for NaN/infinity,
 * which JSON cannot carry.
 */
size_t lwm2m_codec_double_format(double d, char buf[LWM2M_CODEC_DOUBLE_MAX]);

/*
 * lwm2m_codec_json_string -- append s as a JSON string literal, quotes
 * included.  Escapes '"', '\\' and control characters; refuses bytes that
 * are not UTF-8 (LS_EINVAL), since JSON text must be Unicode.
 */
enum ls_rc lwm2m_codec_json_string(struct lwm2m_buf *out, const uint8_t *s,
                                   size_t len, struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_codec_json_number -- append d as shortest round-trip JSON text;
 * LS_EINVAL for NaN and infinities, which JSON cannot carry.
 */
enum ls_rc lwm2m_codec_json_number(struct lwm2m_buf *out, double d,
                                   struct ls_error *err) LS_MUST_CHECK;

/*
 * The member names of the two SenML-like JSON formats, which carry the
 * same values under different names: SenML JSON (RFC 8428) "vs", "vd",
 * "vb", "vlo"; OMA JSON (LwM2M 1.0) "sv", "sv", "bv", "ov".  Numbers are
 * "v" in both.
 */
struct lwm2m_codec_json_names {
    const char *what;    /* error message prefix: "senml", "oma json" */
    const char *string;
    const char *opaque;  /* written as base64 text */
    bool opaque_url;     /* base64url without padding, else standard base64 */
    const char *boolean;
    const char *objlnk;
    bool string_base64;  /* a string read may be base64 opaque, per the model */
};

/*
 * lwm2m_codec_json_value -- append ,"<member>":<value> for v with the
 * member names of names; nothing for LWM2M_TYPE_NONE.
 */
enum ls_rc lwm2m_codec_json_value(struct lwm2m_buf *out, const struct lwm2m_value *v,
                                  const struct lwm2m_codec_json_names *names,
                                  struct ls_error *err) LS_MUST_CHECK;

struct json_t;
/*
 * lwm2m_codec_json_raw -- fill raw from member key ("v" or one of names'
 * string, boolean, objlnk) whose JSON value is val; LS_EPROTO when val
 * has the wrong JSON type.  The string is borrowed from val.  Opaque
 * members that need decoding into a buffer are the caller's.
 */
enum ls_rc lwm2m_codec_json_raw(const char *key, struct json_t *val,
                                const struct lwm2m_codec_json_names *names,
                                struct lwm2m_raw *raw, struct ls_error *err) LS_MUST_CHECK;

/* True when d is finite, integral and representable as int64_t. */
bool lwm2m_codec_double_to_i64(double d, int64_t *out);

/*
 * CBOR writers: each appends one item (head only for containers and tags)
 * through libcbor's cbor_encode_* functions, shortest form.  All fail only
 * with LS_ENOMEM.  _float writes a single when exact, else a double;
 * _number writes an integer when d is integral and fits int64, else _float.
 */
enum ls_rc lwm2m_codec_cbor_uint(struct lwm2m_buf *b, uint64_t v,
                                 struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_int(struct lwm2m_buf *b, int64_t v,
                                struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_text(struct lwm2m_buf *b, const void *s, size_t len,
                                 struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_bytes(struct lwm2m_buf *b, const void *s, size_t len,
                                  struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_float(struct lwm2m_buf *b, double d,
                                  struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_number(struct lwm2m_buf *b, double d,
                                   struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_bool(struct lwm2m_buf *b, bool v,
                                 struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_array(struct lwm2m_buf *b, size_t n,
                                  struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_map(struct lwm2m_buf *b, size_t n,
                                struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_indef_map(struct lwm2m_buf *b,
                                      struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_break(struct lwm2m_buf *b,
                                  struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_null(struct lwm2m_buf *b,
                                 struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_codec_cbor_tag(struct lwm2m_buf *b, uint64_t tag,
                                struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_CODEC_H */
