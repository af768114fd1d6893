/*
 * lwm2m/path.h -- LwM2M paths: /, /o, /o/i, /o/i/r, /o/i/r/ri
 *
 * A path is a fixed-size value (no allocation): up to four 16-bit IDs and
 * a depth.  IDs run 0..65534; 65535 is reserved by the spec (Core TS 1.2
 * "Object Instance", MAX_ID) and is refused.  Pure: no I/O.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_LWM2M_PATH_H
#define LODESTAR_LWM2M_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

#define LWM2M_ID_MAX 65534
#define LWM2M_PATH_STR_MAX 25   /* "/65534/65534/65534/65534" + NUL */

enum lwm2m_depth {
    LWM2M_DEPTH_ROOT = 0,
    LWM2M_DEPTH_OBJECT = 1,
    LWM2M_DEPTH_INSTANCE = 2,
    LWM2M_DEPTH_RESOURCE = 3,
    LWM2M_DEPTH_RESOURCE_INSTANCE = 4,
};

struct lwm2m_path {
    uint16_t id[4];   /* object, instance, resource, resource instance */
    uint8_t depth;    /* how many of id[] are set; 0 = "/" */
};

/* Convenience constructors; ids beyond depth are zero. */
struct lwm2m_path lwm2m_path_root(void);
struct lwm2m_path lwm2m_path_object(uint16_t o);
struct lwm2m_path lwm2m_path_instance(uint16_t o, uint16_t i);
struct lwm2m_path lwm2m_path_resource(uint16_t o, uint16_t i, uint16_t r);
struct lwm2m_path lwm2m_path_resource_instance(uint16_t o, uint16_t i,
                                               uint16_t r, uint16_t ri);

/*
 * lwm2m_path_parse -- parse "/3/0/1" style text (len bytes, no NUL needed).
 *
 * Accepts "/" and "" (both the root), one optional trailing slash, and
 * nothing else: no empty segments, signs, leading "+", spaces, IDs above
 * 65534 or more than four segments.  Returns LS_OK or LS_EINVAL with a
 * message that quotes the offending segment.
 */
enum ls_rc lwm2m_path_parse(const char *s, size_t len, struct lwm2m_path *out,
                            struct ls_error *err) LS_MUST_CHECK;

/* Parses the segments of a CoAP Uri-Path given one by one. */
enum ls_rc lwm2m_path_append_segment(struct lwm2m_path *p, const char *seg,
                                     size_t len, struct ls_error *err) LS_MUST_CHECK;

/* Writes the path as text ("/" for the root); returns its length. */
size_t lwm2m_path_format(const struct lwm2m_path *p,
                         char buf[LWM2M_PATH_STR_MAX]);

/* Total order: parents sort before children, then by IDs. */
int lwm2m_path_compare(const struct lwm2m_path *a, const struct lwm2m_path *b);
bool lwm2m_path_equal(const struct lwm2m_path *a, const struct lwm2m_path *b);

/* True when prefix is p itself or one of its ancestors. */
bool lwm2m_path_has_prefix(const struct lwm2m_path *p,
                           const struct lwm2m_path *prefix);

/* The path truncated to depth (depth <= p->depth). */
struct lwm2m_path lwm2m_path_truncate(const struct lwm2m_path *p, uint8_t depth);

/* The path with one more ID (p->depth < 4). */
struct lwm2m_path lwm2m_path_child(const struct lwm2m_path *p, uint16_t id);

#endif /* LODESTAR_LWM2M_PATH_H */
