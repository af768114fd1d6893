/*
 * lwm2m/tlv.c -- OMA-TLV codec (LwM2M Core 1.2 §7.4.3; formats 11542/1542)
 *
 * Decoding walks the payload once, recursively, with the nesting bounded
 * by the path: every TLV must sit exactly one level below its parent
 * (object instance under an object, resource or multiple resource under
 * an instance, resource instance under a multiple resource), so recursion
 * never goes deeper than three levels whatever the input says.  The only
 * exception is the top level, where a TLV may restate the request path
 * itself (a multiple-resource TLV answering a Read of /3/0/7, a resource
 * TLV answering /3/0/0, an instance TLV in a Write to /1/1 from servers
 * that wrap it).  Every header and length is checked against the bytes
 * that remain before it is used.
 *
 * Decoding is on the server's hot path for large Reads and Notify, so the
 * model lookup (two binary searches) is cached per resource ID: one
 * payload is always about one object.  Values are appended to the
 * lwm2m_data array, whose arena makes byte copies cheap.
 *
 * Encoding writes each container (object instance, multiple resource)
 * behind a 6-byte hole, the largest header possible, and slides the
 * content down once its length is known: one pass, at most one extra
 * copy per nesting level, instead of a separate sizing pass.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/tlv.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER 6 /* type + 16-bit id + 24-bit length */
#define CACHE_SLOTS 32

/* One parsed TLV header and where its value lies. */
struct record {
    enum lwm2m_tlv_kind kind;
    uint16_t id;
    const uint8_t *value; /* borrowed: inside the payload */
    size_t len;           /* value bytes */
};

struct decoder {
    struct lwm2m_data *out;
    const struct lwm2m_model *model;
    struct ls_error *err;
    struct {
        const struct lwm2m_resource_def *def;
        uint16_t res;
        bool valid;
    } cache[CACHE_SLOTS]; /* direct-mapped by resource id */
};

static const char *kind_name(enum lwm2m_tlv_kind k)
{
    static const char *const names[] = { "object-instance", "resource-instance",
                                         "multiple-resource", "resource" };
    return names[k & 3];
}

/* The path depth a record of this kind names (an instance is /o/i ...). */
static uint8_t kind_depth(enum lwm2m_tlv_kind k)
{
    static const uint8_t depth[] = { 2, 4, 3, 3 };
    return depth[k & 3];
}

/*
 * Reads one header at p (avail bytes left).  Returns the bytes the whole
 * record takes, or 0 when the header or its value would run past avail.
 */
static size_t read_record(const uint8_t *p, size_t avail, struct record *r)
{
    if (avail < 2)
        return 0;
    uint8_t t = p[0];
    size_t id_len = (t & 0x20) ? 2 : 1;
    size_t len_len = (t >> 3) & 3;
    size_t hdr = 1 + id_len + len_len;
    if (avail < hdr)
        return 0;
    r->kind = (enum lwm2m_tlv_kind)(t >> 6);
    r->id = id_len == 2 ? (uint16_t)(p[1] << 8 | p[2]) : p[1];
    const uint8_t *l = p + 1 + id_len;
    size_t len;
    switch (len_len) {
    case 0: len = t & 7; break;
    case 1: len = l[0]; break;
    case 2: len = (size_t)l[0] << 8 | l[1]; break;
    default: len = (size_t)l[0] << 16 | (size_t)l[1] << 8 | l[2]; break;
    }
    if (len > avail - hdr)
        return 0;
    r->value = p + hdr;
    r->len = len;
    return hdr + len;
}

static enum ls_rc path_error(struct ls_error *err, const struct lwm2m_path *p,
                             const char *what)
{
    char s[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(p, s);
    return ls_error_set(err, LS_EPROTO, "tlv %s at %s", what, s);
}

static const struct lwm2m_resource_def *lookup(struct decoder *d, uint16_t obj,
                                               uint16_t res)
{
    if (!d->model)
        return NULL;
    unsigned slot = res % CACHE_SLOTS;
    if (!d->cache[slot].valid || d->cache[slot].res != res) {
        d->cache[slot].def = lwm2m_model_resource(d->model, obj, res);
        d->cache[slot].res = res;
        d->cache[slot].valid = true;
    }
    return d->cache[slot].def;
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Sign-extends an n-byte (1, 2, 4 or 8) big-endian two's complement. */
static int64_t load_signed(const uint8_t *p, size_t n)
{
    uint64_t u = load_be(p, n);
    if (n < 8 && (u >> (8 * n - 1)) & 1)
        u |= ~UINT64_C(0) << (8 * n);
    return (int64_t)u;
}

static bool int_width(size_t n)
{
    return n == 1 || n == 2 || n == 4 || n == 8;
}

/* Fills v from n value bytes as the model type says; false on bad width. */
static bool decode_number(struct lwm2m_value *v, const uint8_t *p, size_t n)
{
    switch (v->type) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        if (!int_width(n))
            return false;
        v->v.i = load_signed(p, n);
        return true;
    case LWM2M_TYPE_UNSIGNED:
        if (!int_width(n))
            return false;
        v->v.u = load_be(p, n);
        return true;
    case LWM2M_TYPE_FLOAT:
        if (n == 4) {
            uint32_t u = (uint32_t)load_be(p, 4);
            float f;
            memcpy(&f, &u, sizeof f);
            v->v.f = f;
        } else if (n == 8) {
            uint64_t u = load_be(p, 8);
            memcpy(&v->v.f, &u, sizeof v->v.f);
        } else {
            return false;
        }
        return true;
    case LWM2M_TYPE_BOOLEAN:
        if (n != 1 || p[0] > 1)
            return false;
        v->v.b = p[0] == 1;
        return true;
    case LWM2M_TYPE_OBJLNK:
        if (n != 4)
            return false;
        v->v.objlnk.obj = (uint16_t)(p[0] << 8 | p[1]);
        v->v.objlnk.inst = (uint16_t)(p[2] << 8 | p[3]);
        return true;
    default:
        return false;
    }
}

static enum ls_rc decode_leaf(struct decoder *d, const struct lwm2m_path *path,
                              const uint8_t *p, size_t n)
{
    const struct lwm2m_resource_def *def = lookup(d, path->id[0], path->id[2]);
    enum lwm2m_type type = def ? def->type : LWM2M_TYPE_OPAQUE;
    if (type == LWM2M_TYPE_NONE) /* an executable has no value: keep bytes */
        type = LWM2M_TYPE_OPAQUE;
    if (type == LWM2M_TYPE_STRING || type == LWM2M_TYPE_OPAQUE ||
        type == LWM2M_TYPE_CORELNK) {
        if (!lwm2m_data_append_bytes(d->out, path, type, p, n, d->err))
            return d->err ? d->err->code : LS_ENOMEM;
        return LS_OK;
    }
    struct lwm2m_value *v = lwm2m_data_append(d->out, path, type, d->err);
    if (!v)
        return d->err ? d->err->code : LS_ENOMEM;
    if (!decode_number(v, p, n)) {
        d->out->count--; /* do not leave a half-decoded value behind */
        path_error(d->err, path, "value has a bad width or content");
        ls_error_detail(d->err, "A %s value cannot be %zu bytes long%s.",
                        lwm2m_type_name(type), n,
                        type == LWM2M_TYPE_BOOLEAN && n == 1 ? " or other than 0/1" : "");
        return LS_EPROTO;
    }
    return LS_OK;
}

/*
 * Decodes the records in [p, p + n) below parent.  top is true only for
 * the payload itself, where a record may restate parent (see the header).
 */
static enum ls_rc decode_records(struct decoder *d, const uint8_t *p, size_t n,
                                 const struct lwm2m_path *parent, bool top)
{
    while (n > 0) {
        struct record r;
        size_t used = read_record(p, n, &r);
        if (used == 0)
            return path_error(d->err, parent, "record truncated or overruns its container");
        if (r.id > LWM2M_ID_MAX)
            return path_error(d->err, parent, "record uses the reserved id 65535");
        uint8_t kd = kind_depth(r.kind);
        struct lwm2m_path child;
        if (kd == parent->depth + 1) {
            /* Inline lwm2m_path_child(): this runs once per value. */
            child = *parent;
            child.id[child.depth++] = r.id;
        } else if (top && kd == parent->depth && parent->id[kd - 1] == r.id) {
            child = *parent;
        } else {
            path_error(d->err, parent, "record nested at the wrong level");
            ls_error_detail(d->err, "A %s TLV with id %u cannot appear here.",
                            kind_name(r.kind), r.id);
            return LS_EPROTO;
        }
        enum ls_rc rc;
        if (r.kind == LWM2M_TLV_OBJECT_INSTANCE || r.kind == LWM2M_TLV_MULTIPLE_RESOURCE) {
            if (r.len == 0)
                rc = lwm2m_data_append(d->out, &child, LWM2M_TYPE_NONE, d->err)
                         ? LS_OK : (d->err ? d->err->code : LS_ENOMEM);
            else
                rc = decode_records(d, r.value, r.len, &child, false);
        } else {
            rc = decode_leaf(d, &child, r.value, r.len);
        }
        if (rc != LS_OK)
            return rc;
        p += used;
        n -= used;
    }
    return LS_OK;
}

enum ls_rc lwm2m_tlv_decode(const uint8_t *buf, size_t len,
                            const struct lwm2m_path *base,
                            const struct lwm2m_model *model,
                            struct lwm2m_data *out, struct ls_error *err)
{
    if (!base || base->depth < LWM2M_DEPTH_OBJECT || base->depth > LWM2M_DEPTH_RESOURCE_INSTANCE)
        return ls_error_set(err, LS_EINVAL, "tlv needs an object, instance or resource path");
    if (len > 0 && !buf)
        return ls_error_set(err, LS_EINVAL, "tlv payload is NULL");
    struct decoder d;
    memset(&d, 0, sizeof d);
    d.out = out;
    d.model = model;
    d.err = err;
    return decode_records(&d, buf, len, base, true);
}

/* ---- encoder ------------------------------------------------------------ */

/* Writes a TLV header for a value of len bytes; returns its length. */
static size_t put_header(uint8_t *h, enum lwm2m_tlv_kind kind, uint16_t id, size_t len)
{
    size_t n = 0;
    uint8_t t = (uint8_t)(kind << 6);
    if (id > 0xFF)
        t |= 0x20;
    h[n++] = t;
    if (id > 0xFF)
        h[n++] = (uint8_t)(id >> 8);
    h[n++] = (uint8_t)id;
    if (len <= 7) {
        h[0] |= (uint8_t)len;
    } else if (len <= 0xFF) {
        h[0] |= 0x08;
        h[n++] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        h[0] |= 0x10;
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    } else {
        h[0] |= 0x18;
        h[n++] = (uint8_t)(len >> 16);
        h[n++] = (uint8_t)(len >> 8);
        h[n++] = (uint8_t)len;
    }
    return n;
}

static size_t store_be(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

/* Smallest of 1, 2, 4, 8 bytes holding v as two's complement. */
static size_t signed_width(int64_t v)
{
    if (v >= INT8_MIN && v <= INT8_MAX)
        return 1;
    if (v >= INT16_MIN && v <= INT16_MAX)
        return 2;
    if (v >= INT32_MIN && v <= INT32_MAX)
        return 4;
    return 8;
}

static size_t unsigned_width(uint64_t v)
{
    return v <= UINT8_MAX ? 1 : v <= UINT16_MAX ? 2 : v <= UINT32_MAX ? 4 : 8;
}

/*
 * The value bytes of a numeric value, written into tmp[8]; returns how many.
 * Floats: 4 bytes when the double converts to float and back unchanged
 * (e.g. 1.5, 21.25), else 8.  The receiver learns the width from the
 * length, Core Appendix C allows both, and 4 bytes lose nothing in that
 * case; always sending 8 would bloat typical sensor payloads by half.
 * NaN fails the equality and goes out as 8 bytes, bit for bit.
 */
static size_t number_bytes(const struct lwm2m_value *v, uint8_t tmp[8])
{
    switch (v->type) {
    case LWM2M_TYPE_INTEGER:
    case LWM2M_TYPE_TIME:
        return store_be(tmp, (uint64_t)v->v.i, signed_width(v->v.i));
    case LWM2M_TYPE_UNSIGNED:
        return store_be(tmp, v->v.u, unsigned_width(v->v.u));
    case LWM2M_TYPE_FLOAT: {
        float f = (float)v->v.f;
        if ((double)f == v->v.f) {
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            return store_be(tmp, u, 4);
        }
        uint64_t u;
        memcpy(&u, &v->v.f, sizeof u);
        return store_be(tmp, u, 8);
    }
    case LWM2M_TYPE_BOOLEAN:
        tmp[0] = v->v.b ? 1 : 0;
        return 1;
    case LWM2M_TYPE_OBJLNK:
        store_be(tmp, v->v.objlnk.obj, 2);
        store_be(tmp + 2, v->v.objlnk.inst, 2);
        return 4;
    default:
        return 0;
    }
}

static enum ls_rc put_leaf(struct lwm2m_buf *out, enum lwm2m_tlv_kind kind,
                           uint16_t id, const struct lwm2m_value *v,
                           struct ls_error *err)
{
    uint8_t tmp[8];
    const uint8_t *p = tmp;
    size_t n;
    if (v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE ||
        v->type == LWM2M_TYPE_CORELNK) {
        p = v->v.bytes.ptr;
        n = v->v.bytes.len;
        if (n > LWM2M_TLV_MAX_LEN)
            return ls_error_set(err, LS_ENOMEM, "tlv value of %zu bytes exceeds the 24-bit length", n);
    } else {
        n = number_bytes(v, tmp);
    }
    enum ls_rc rc = lwm2m_buf_reserve(out, MAX_HEADER + n, err);
    if (rc != LS_OK)
        return rc;
    out->len += put_header(out->data + out->len, kind, id, n);
    if (n)
        memcpy(out->data + out->len, p, n);
    out->len += n;
    return LS_OK;
}

/* Opens a container: leaves a MAX_HEADER hole and returns where it starts. */
static enum ls_rc open_container(struct lwm2m_buf *out, size_t *start, struct ls_error *err)
{
    enum ls_rc rc = lwm2m_buf_reserve(out, MAX_HEADER, err);
    if (rc != LS_OK)
        return rc;
    *start = out->len;
    out->len += MAX_HEADER;
    return LS_OK;
}

/* Writes the real header and slides the content down over the hole. */
static enum ls_rc close_container(struct lwm2m_buf *out, size_t start,
                                  enum lwm2m_tlv_kind kind, uint16_t id,
                                  struct ls_error *err)
{
    size_t content = out->len - start - MAX_HEADER;
    if (content > LWM2M_TLV_MAX_LEN)
        return ls_error_set(err, LS_ENOMEM, "tlv %s %u of %zu bytes exceeds the 24-bit length",
                            kind_name(kind), id, content);
    uint8_t h[MAX_HEADER];
    size_t hn = put_header(h, kind, id, content);
    memmove(out->data + start + hn, out->data + start + MAX_HEADER, content);
    memcpy(out->data + start, h, hn);
    out->len = start + hn + content;
    return LS_OK;
}

static enum ls_rc emit_children(const struct lwm2m_value *vals, size_t n,
                                uint8_t depth, struct lwm2m_buf *out,
                                struct ls_error *err);

/* One resource: a single value, or a multiple resource of instances. */
static enum ls_rc emit_resource(const struct lwm2m_value *vals, size_t n,
                                struct lwm2m_buf *out, struct ls_error *err)
{
    uint16_t id = vals[0].path.id[2];
    if (n == 1 && vals[0].path.depth == LWM2M_DEPTH_RESOURCE) {
        if (vals[0].type == LWM2M_TYPE_NONE) { /* an empty multiple resource */
            size_t start;
            enum ls_rc rc = open_container(out, &start, err);
            return rc != LS_OK ? rc : close_container(out, start, LWM2M_TLV_MULTIPLE_RESOURCE, id, err);
        }
        return put_leaf(out, LWM2M_TLV_RESOURCE, id, &vals[0], err);
    }
    size_t start;
    enum ls_rc rc = open_container(out, &start, err);
    if (rc == LS_OK)
        rc = emit_children(vals, n, LWM2M_DEPTH_RESOURCE, out, err);
    if (rc == LS_OK)
        rc = close_container(out, start, LWM2M_TLV_MULTIPLE_RESOURCE, id, err);
    return rc;
}

static enum ls_rc bad_value(const struct lwm2m_value *v, const char *why,
                            struct ls_error *err)
{
    char s[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(&v->path, s);
    return ls_error_set(err, LS_EINVAL, "tlv cannot encode %s value at %s: %s",
                        lwm2m_type_name(v->type), s, why);
}

/*
 * Emits the TLVs for sorted values that all share the first depth IDs,
 * one per distinct id[depth] (the children of that path).
 */
static enum ls_rc emit_children(const struct lwm2m_value *vals, size_t n,
                                uint8_t depth, struct lwm2m_buf *out,
                                struct ls_error *err)
{
    size_t i = 0;
    while (i < n) {
        if (vals[i].path.depth == depth) {
            /* The parent itself: only an empty-node marker is meaningful. */
            if (vals[i].type != LWM2M_TYPE_NONE)
                return bad_value(&vals[i], "a value above resource level", err);
            i++;
            continue;
        }
        uint16_t id = vals[i].path.id[depth];
        size_t j = i + 1;
        while (j < n && vals[j].path.id[depth] == id)
            j++;
        enum ls_rc rc;
        if (depth == LWM2M_DEPTH_OBJECT) {
            size_t start;
            rc = open_container(out, &start, err);
            if (rc == LS_OK)
                rc = emit_children(vals + i, j - i, LWM2M_DEPTH_INSTANCE, out, err);
            if (rc == LS_OK)
                rc = close_container(out, start, LWM2M_TLV_OBJECT_INSTANCE, id, err);
        } else if (depth == LWM2M_DEPTH_INSTANCE) {
            rc = emit_resource(vals + i, j - i, out, err);
        } else {
            rc = LS_OK;
            for (size_t k = i; k < j && rc == LS_OK; k++)
                rc = vals[k].type == LWM2M_TYPE_NONE
                         ? bad_value(&vals[k], "a resource instance needs a value", err)
                         : put_leaf(out, LWM2M_TLV_RESOURCE_INSTANCE, id, &vals[k], err);
        }
        if (rc != LS_OK)
            return rc;
        i = j;
    }
    return LS_OK;
}

static bool is_sorted(const struct lwm2m_data *d)
{
    for (size_t i = 1; i < d->count; i++)
        if (lwm2m_path_compare(&d->values[i - 1].path, &d->values[i].path) > 0)
            return false;
    return true;
}

static enum ls_rc check_values(const struct lwm2m_value *vals, size_t n,
                               const struct lwm2m_path *base, struct ls_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const struct lwm2m_value *v = &vals[i];
        if (!lwm2m_path_has_prefix(&v->path, base))
            return bad_value(v, "path outside the request path", err);
        if (v->type == LWM2M_TYPE_NONE && v->path.depth == LWM2M_DEPTH_RESOURCE_INSTANCE)
            return bad_value(v, "a resource instance needs a value", err);
        if (v->type != LWM2M_TYPE_NONE && v->path.depth < LWM2M_DEPTH_RESOURCE)
            return bad_value(v, "a value above resource level", err);
        if (i > 0 && v->path.depth == LWM2M_DEPTH_RESOURCE_INSTANCE &&
            vals[i - 1].path.depth == LWM2M_DEPTH_RESOURCE &&
            vals[i - 1].path.id[2] == v->path.id[2] &&
            lwm2m_path_has_prefix(&v->path, &vals[i - 1].path))
            return bad_value(v, "resource given both as single and multiple", err);
    }
    return LS_OK;
}

enum ls_rc lwm2m_tlv_encode(const struct lwm2m_data *in,
                            const struct lwm2m_path *base,
                            const struct lwm2m_model *model,
                            struct lwm2m_buf *out, struct ls_error *err)
{
    if (!base || base->depth < LWM2M_DEPTH_OBJECT || base->depth > LWM2M_DEPTH_RESOURCE_INSTANCE)
        return ls_error_set(err, LS_EINVAL, "tlv needs an object, instance or resource path");
    struct lwm2m_data sorted = { 0 };
    const struct lwm2m_value *vals = in->values;
    enum ls_rc rc = LS_OK;
    if (!is_sorted(in)) {
        /* Shallow copy: bytes pointers keep pointing into in's arena. */
        sorted.values = malloc(in->count * sizeof *sorted.values);
        if (!sorted.values)
            return ls_error_set(err, LS_ENOMEM, "out of memory sorting %zu values", in->count);
        memcpy(sorted.values, in->values, in->count * sizeof *sorted.values);
        sorted.count = sorted.cap = in->count;
        lwm2m_data_sort(&sorted);
        vals = sorted.values;
    }
    size_t mark = out->len;
    rc = check_values(vals, in->count, base, err);
    if (rc != LS_OK)
        goto out;
    /* A resource or resource instance is emitted as itself: start one up. */
    uint8_t depth = base->depth <= LWM2M_DEPTH_INSTANCE ? base->depth : (uint8_t)(base->depth - 1);
    rc = emit_children(vals, in->count, depth, out, err);
out:
    if (rc != LS_OK)
        out->len = mark;
    free(sorted.values);
    return rc;
}
