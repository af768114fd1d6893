/*
 * lwm2m/data.h -- the data tree every codec reads and writes
 *
 * The tree is stored flat: an array of leaf values, each carrying its full
 * path (/o/i/r or /o/i/r/ri).  Object and instance nodes are implied by the
 * paths, exactly as in SenML and the API's JSON shape, so a codec for a
 * nested format (TLV, LwM2M-CBOR) walks runs of equal path prefixes.  Keep
 * the array sorted with lwm2m_data_sort() before encoding nested formats.
 *
 * Memory: the value array grows by doubling and variable-length bytes
 * (strings, opaque, core links) live in an arena of large chunks owned by
 * the container, so decoding the common case does no heap allocation per
 * value.  Pointers into the arena stay valid until lwm2m_data_free().
 *
 * An empty instance or object (Create with no resources, a Read answer of
 * an empty object) is a value of type LWM2M_TYPE_NONE at that path.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_DATA_H
#define LODESTAR_LWM2M_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "lwm2m/path.h"
#include "runtime/err.h"

/* Refuse payloads that would make more values than this (hostile counts). */
#define LWM2M_DATA_MAX_VALUES (1u << 22)

enum lwm2m_type {
    LWM2M_TYPE_NONE = 0,  /* no value: an empty node, or Execute */
    LWM2M_TYPE_STRING,
    LWM2M_TYPE_INTEGER,
    LWM2M_TYPE_UNSIGNED,
    LWM2M_TYPE_FLOAT,
    LWM2M_TYPE_BOOLEAN,
    LWM2M_TYPE_OPAQUE,    /* also "untyped": raw bytes a model could not type */
    LWM2M_TYPE_TIME,      /* seconds since the epoch, signed */
    LWM2M_TYPE_OBJLNK,
    LWM2M_TYPE_CORELNK,
};

struct lwm2m_objlnk {
    uint16_t obj;
    uint16_t inst;
};

struct lwm2m_value {
    struct lwm2m_path path;
    enum lwm2m_type type;
    bool has_time;          /* SenML time given */
    double time_s;          /* absolute time (bt + t), epoch seconds */
    union {
        int64_t i;          /* INTEGER, TIME */
        uint64_t u;         /* UNSIGNED */
        double f;           /* FLOAT */
        bool b;             /* BOOLEAN */
        struct lwm2m_objlnk objlnk;
        struct {
            const uint8_t *ptr; /* borrowed from the container's arena */
            size_t len;         /* bytes; no NUL terminator counted */
        } bytes;            /* STRING, OPAQUE, CORELNK */
    } v;
};

struct lwm2m_arena_chunk;

struct lwm2m_data {
    struct lwm2m_value *values;  /* count used, cap allocated */
    size_t count;
    size_t cap;
    struct lwm2m_arena_chunk *chunks; /* byte storage for bytes values */
};

/* A growable output buffer used by every encoder. */
struct lwm2m_buf {
    uint8_t *data;   /* caller owns; free with lwm2m_buf_free() */
    size_t len;
    size_t cap;
};

void lwm2m_data_init(struct lwm2m_data *d);
/* Frees everything; the container is left empty and reusable. NULL ok. */
void lwm2m_data_free(struct lwm2m_data *d);

/*
 * lwm2m_data_append -- add a value with path and type, zeroed payload.
 * Returns the new value (valid until the next append) or NULL on
 * LS_ENOMEM / LWM2M_DATA_MAX_VALUES, recorded in err.
 */
struct lwm2m_value *lwm2m_data_append(struct lwm2m_data *d,
                                      const struct lwm2m_path *path,
                                      enum lwm2m_type type,
                                      struct ls_error *err);

/*
 * lwm2m_data_append_bytes -- add a STRING, OPAQUE or CORELNK value whose
 * bytes are copied into the arena.  Returns the value or NULL (err set).
 */
struct lwm2m_value *lwm2m_data_append_bytes(struct lwm2m_data *d,
                                            const struct lwm2m_path *path,
                                            enum lwm2m_type type,
                                            const void *bytes, size_t len,
                                            struct ls_error *err);

/* Copies len bytes into the arena; NULL on failure (err set). */
const uint8_t *lwm2m_data_store(struct lwm2m_data *d, const void *bytes,
                                size_t len, struct ls_error *err);

/* Stable sort by path. */
void lwm2m_data_sort(struct lwm2m_data *d);

/* Index of the first value whose path equals or lies below prefix, or
 * d->count; values must be sorted. */
size_t lwm2m_data_find(const struct lwm2m_data *d,
                       const struct lwm2m_path *prefix);

/* Type names as used in the API: "string", "integer", ... "none". */
const char *lwm2m_type_name(enum lwm2m_type t);
/* Parses a type name; returns false when unknown. */
bool lwm2m_type_parse(const char *name, enum lwm2m_type *out);

/* Output buffer helpers: append fails only on LS_ENOMEM. */
enum ls_rc lwm2m_buf_append(struct lwm2m_buf *b, const void *p, size_t len,
                            struct ls_error *err) LS_MUST_CHECK;
enum ls_rc lwm2m_buf_reserve(struct lwm2m_buf *b, size_t extra,
                             struct ls_error *err) LS_MUST_CHECK;
void lwm2m_buf_free(struct lwm2m_buf *b);

#endif /* LODESTAR_LWM2M_DATA_H */
