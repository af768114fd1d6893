/*
 * lwm2m/cbor_pull.h -- a pull-style CBOR item reader over libcbor's
 *                      streaming decoder (internal to lwm2m/)
 *
 * libcbor offers a tree loader (cbor_load, one heap node per item) and a
 * push-style streaming decoder (cbor_stream_decode + callbacks).  The tree
 * loader is far too slow for SenML CBOR at hundreds of MB/s, and push
 * callbacks make a recursive-descent parser awkward, so this wraps the
 * streaming decoder to hand out one item per call: no allocation, strings
 * point into the input.  Structure (map pairs, breaks, nesting) is the
 * caller's job; the helpers below cover the common parts of that job.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_CBOR_PULL_H
#define LODESTAR_LWM2M_CBOR_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

enum lwm2m_cbor_kind {
    LWM2M_CBOR_UINT,
    LWM2M_CBOR_NEGINT,   /* value is -1 - u */
    LWM2M_CBOR_BYTES,    /* indefinite: chunks follow, then BREAK */
    LWM2M_CBOR_TEXT,     /* indefinite: chunks follow, then BREAK */
    LWM2M_CBOR_ARRAY,    /* u = count unless indefinite */
    LWM2M_CBOR_MAP,      /* u = pairs unless indefinite */
    LWM2M_CBOR_TAG,      /* u = tag number; the tagged item follows */
    LWM2M_CBOR_FLOAT,    /* half, single and double all land in f */
    LWM2M_CBOR_BOOL,
    LWM2M_CBOR_NULL,
    LWM2M_CBOR_UNDEF,
    LWM2M_CBOR_BREAK,
};

struct lwm2m_cbor_item {
    enum lwm2m_cbor_kind kind;
    bool indefinite;     /* BYTES, TEXT, ARRAY, MAP */
    bool b;              /* BOOL */
    uint64_t u;          /* UINT, NEGINT, TAG, ARRAY/MAP count */
    double f;            /* FLOAT */
    const uint8_t *ptr;  /* definite BYTES/TEXT: borrowed from the input */
    size_t len;
};

struct lwm2m_cbor_pull {
    const uint8_t *buf;  /* borrowed input */
    size_t len;
    size_t pos;          /* next unread byte */
    struct lwm2m_cbor_item *cur; /* the item being filled by a callback */
    uint8_t *scratch;    /* joined indefinite strings; freed by _fini */
    size_t scratch_cap;
};

void lwm2m_cbor_pull_init(struct lwm2m_cbor_pull *p, const uint8_t *buf, size_t len);
void lwm2m_cbor_pull_fini(struct lwm2m_cbor_pull *p);

static inline bool lwm2m_cbor_pull_done(const struct lwm2m_cbor_pull *p)
{
    return p->pos >= p->len;
}

/* Reads the next item.  LS_EPROTO on truncated or malformed input, and for
 * an array or map whose declared size cannot fit in the remaining bytes. */
enum ls_rc lwm2m_cbor_pull_next(struct lwm2m_cbor_pull *p,
                                struct lwm2m_cbor_item *it,
                                struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_cbor_pull_string -- the whole of a BYTES or TEXT item whose head is
 * it: definite strings point into the input, indefinite ones are joined
 * into the reader's scratch buffer (valid until the next call).
 */
enum ls_rc lwm2m_cbor_pull_string(struct lwm2m_cbor_pull *p,
                                  const struct lwm2m_cbor_item *it,
                                  const uint8_t **ptr, size_t *len,
                                  struct ls_error *err) LS_MUST_CHECK;

/* Like lwm2m_cbor_pull_string, but copies into buf (cap bytes); LS_EPROTO
 * when the string is longer.  For short strings that must survive later
 * reads, such as SenML names. */
enum ls_rc lwm2m_cbor_pull_string_into(struct lwm2m_cbor_pull *p,
                                       const struct lwm2m_cbor_item *it,
                                       char *buf, size_t cap, size_t *len,
                                       struct ls_error *err) LS_MUST_CHECK;

/* Skips the rest of the data item whose head is it (nested up to depth).
 * Never touches the scratch buffer: a string returned earlier stays valid. */
enum ls_rc lwm2m_cbor_pull_skip(struct lwm2m_cbor_pull *p,
                                const struct lwm2m_cbor_item *it,
                                unsigned depth, struct ls_error *err) LS_MUST_CHECK;

/*
 * lwm2m_cbor_pull_more -- loop control for a container.  Sets *more and,
 * when true, reads the head of the next element into *it.  For a definite
 * container *left counts the elements down; an indefinite one ends at
 * BREAK.  A map's key and value are two elements.
 */
enum ls_rc lwm2m_cbor_pull_more(struct lwm2m_cbor_pull *p, bool indefinite,
                                uint64_t *left, struct lwm2m_cbor_item *it,
                                bool *more, struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_LWM2M_CBOR_PULL_H */
