/*
 * lwm2m/lwm2m_cbor.c -- LwM2M CBOR codec (Transport TS 1.2, format 11544)
 *
 * Decoding is a recursive descent over cbor_pull.c items.  Recursion is
 * bounded by the path: every map level adds at least one ID to the path
 * and a path has at most four, so hostile nesting fails at depth five
 * instead of exhausting the stack.
 *
 * The Transport spec text was not at hand while writing this; the layout
 * follows what Anjay 3.x sends and accepts (captures in shared/captures):
 * indefinite maps, ID-array keys, objlnk as "oid:iid" text.  Time is
 * written as tag 1 + integer as RFC 8949 §3.4.2 defines epoch time (Leshan
 * does the same for plain CBOR); Anjay ignores tags it does not know, so
 * it reads the integer.  Untagged integers are accepted for time too.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/lwm2m_cbor.h"

#include <stdlib.h>
#include <string.h>

#include "lwm2m/cbor_pull.h"
#include "lwm2m/codec.h"

struct decoder {
    struct lwm2m_cbor_pull p;
    struct lwm2m_codec_typer typer;
    struct lwm2m_data *out;
};

static enum ls_rc read_id(struct decoder *d, const struct lwm2m_cbor_item *it,
                          struct lwm2m_path *path, struct ls_error *err)
{
    if (it->kind != LWM2M_CBOR_UINT || it->u > LWM2M_ID_MAX)
        return ls_error_set(err, LS_EPROTO,
                            "lwm2m cbor key is not an id 0..%u at byte %zu",
                            LWM2M_ID_MAX, d->p.pos);
    if (path->depth >= 4)
        return ls_error_set(err, LS_EPROTO,
                            "lwm2m cbor path deeper than four ids at byte %zu",
                            d->p.pos);
    path->id[path->depth++] = (uint16_t)it->u;
    return LS_OK;
}

/* A key: one ID, or an array of IDs ([3, 0]). */
static enum ls_rc read_key(struct decoder *d, const struct lwm2m_cbor_item *k,
                           struct lwm2m_path *path, struct ls_error *err)
{
    if (k->kind != LWM2M_CBOR_ARRAY)
        return read_id(d, k, path, err);
    uint64_t left = k->u;
    unsigned n = 0;
    struct lwm2m_cbor_item it;
    bool more;
    enum ls_rc rc;
    for (;;) {
        if ((rc = lwm2m_cbor_pull_more(&d->p, k->indefinite, &left, &it, &more,
                                       err)) != LS_OK)
            return rc;
        if (!more)
            break;
        if ((rc = read_id(d, &it, path, err)) != LS_OK)
            return rc;
        n++;
    }
    if (n == 0)
        return ls_error_set(err, LS_EPROTO, "lwm2m cbor key is an empty array");
    return LS_OK;
}

/* A tagged leaf: tag 1 is epoch time; nothing else is LwM2M. */
static enum ls_rc read_tagged(struct decoder *d, const struct lwm2m_cbor_item *t,
                              struct lwm2m_raw *raw, struct ls_error *err)
{
    struct lwm2m_cbor_item it;
    enum ls_rc rc;
    if (t->u != 1)
        return ls_error_set(err, LS_EPROTO, "lwm2m cbor tag %llu is not supported",
                            (unsigned long long)t->u);
    if ((rc = lwm2m_cbor_pull_next(&d->p, &it, err)) != LS_OK)
        return rc;
    if (it.kind == LWM2M_CBOR_UINT && it.u <= INT64_MAX) {
        raw->kind = LWM2M_RAW_TIME;
        raw->v.i = (int64_t)it.u;
    } else if (it.kind == LWM2M_CBOR_NEGINT && it.u <= INT64_MAX) {
        raw->kind = LWM2M_RAW_TIME;
        raw->v.i = -1 - (int64_t)it.u;
    } else if (it.kind == LWM2M_CBOR_FLOAT) {
        raw->kind = LWM2M_RAW_FLOAT;
        raw->v.f = it.f;
    } else {
        return ls_error_set(err, LS_EPROTO, "lwm2m cbor time is not a number");
    }
    return LS_OK;
}

static enum ls_rc read_leaf(struct decoder *d, const struct lwm2m_cbor_item *it,
                            const struct lwm2m_path *path, struct ls_error *err)
{
    struct lwm2m_raw raw;
    enum ls_rc rc = LS_OK;
    memset(&raw, 0, sizeof raw);
    switch (it->kind) {
    case LWM2M_CBOR_UINT:
        raw.kind = it->u <= INT64_MAX ? LWM2M_RAW_INT : LWM2M_RAW_UINT;
        raw.v.u = it->u;
        break;
    case LWM2M_CBOR_NEGINT:
        if (it->u > INT64_MAX)
            return ls_error_set(err, LS_EPROTO, "lwm2m cbor integer below int64");
        raw.kind = LWM2M_RAW_INT;
        raw.v.i = -1 - (int64_t)it->u;
        break;
    case LWM2M_CBOR_FLOAT:
        raw.kind = LWM2M_RAW_FLOAT;
        raw.v.f = it->f;
        break;
    case LWM2M_CBOR_BOOL:
        raw.kind = LWM2M_RAW_BOOL;
        raw.v.b = it->b;
        break;
    case LWM2M_CBOR_TEXT:
    case LWM2M_CBOR_BYTES:
        raw.kind = it->kind == LWM2M_CBOR_TEXT ? LWM2M_RAW_STRING : LWM2M_RAW_OPAQUE;
        rc = lwm2m_cbor_pull_string(&d->p, it, &raw.v.bytes.ptr, &raw.v.bytes.len, err);
        break;
    case LWM2M_CBOR_TAG:
        rc = read_tagged(d, it, &raw, err);
        break;
    case LWM2M_CBOR_NULL:
        break; /* LWM2M_RAW_NONE */
    default:
        return ls_error_set(err, LS_EPROTO, "lwm2m cbor value of an unexpected "
                            "type at byte %zu", d->p.pos);
    }
    if (rc != LS_OK)
        return rc;
    return lwm2m_codec_append(d->out, path, &d->typer, &raw, NULL, err);
}

static enum ls_rc read_map(struct decoder *d, const struct lwm2m_cbor_item *m,
                           const struct lwm2m_path *prefix, size_t *entries,
                           struct ls_error *err);

static enum ls_rc read_entry(struct decoder *d, const struct lwm2m_cbor_item *k,
                             const struct lwm2m_path *prefix, struct ls_error *err)
{
    struct lwm2m_path path = *prefix;
    struct lwm2m_cbor_item v;
    enum ls_rc rc;
    if ((rc = read_key(d, k, &path, err)) != LS_OK ||
        (rc = lwm2m_cbor_pull_next(&d->p, &v, err)) != LS_OK)
        return rc;
    if (v.kind == LWM2M_CBOR_BREAK)
        return ls_error_set(err, LS_EPROTO, "lwm2m cbor key without a value");
    if (v.kind != LWM2M_CBOR_MAP)
        return read_leaf(d, &v, &path, err);
    if (path.depth >= 4)
        return ls_error_set(err, LS_EPROTO,
                            "lwm2m cbor map below a resource instance at byte %zu",
                            d->p.pos);
    size_t n;
    if ((rc = read_map(d, &v, &path, &n, err)) != LS_OK)
        return rc;
    if (n > 0)
        return LS_OK;
    /* An empty map is an empty object or instance (Create with nothing). */
    struct lwm2m_raw none = { .kind = LWM2M_RAW_NONE };
    return lwm2m_codec_append(d->out, &path, &d->typer, &none, NULL, err);
}

static enum ls_rc read_map(struct decoder *d, const struct lwm2m_cbor_item *m,
                           const struct lwm2m_path *prefix, size_t *entries,
                           struct ls_error *err)
{
    uint64_t left = m->u;
    struct lwm2m_cbor_item k;
    bool more;
    enum ls_rc rc;
    *entries = 0;
    for (;;) {
        if ((rc = lwm2m_cbor_pull_more(&d->p, m->indefinite, &left, &k, &more,
                                       err)) != LS_OK || !more)
            return rc;
        if ((rc = read_entry(d, &k, prefix, err)) != LS_OK)
            return rc;
        (*entries)++;
    }
}

enum ls_rc lwm2m_lwm2m_cbor_decode(const uint8_t *buf, size_t len,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_data *out,
                                   struct ls_error *err)
{
    struct decoder d = { .out = out };
    struct lwm2m_cbor_item top;
    struct lwm2m_path root = lwm2m_path_root();
    size_t n;
    lwm2m_codec_typer_init(&d.typer, model);
    lwm2m_cbor_pull_init(&d.p, buf, len);
    enum ls_rc rc = lwm2m_cbor_pull_next(&d.p, &top, err);
    if (rc != LS_OK)
        goto out;
    if (top.kind != LWM2M_CBOR_MAP) {
        rc = ls_error_set(err, LS_EPROTO, "lwm2m cbor payload is not a map");
        goto out;
    }
    if ((rc = read_map(&d, &top, &root, &n, err)) != LS_OK)
        goto out;
    if (!lwm2m_cbor_pull_done(&d.p))
        rc = ls_error_set(err, LS_EPROTO, "%zu bytes after the lwm2m cbor map",
                          len - d.p.pos);
out:
    lwm2m_cbor_pull_fini(&d.p);
    return rc;
}

/* ---- encoding ---- */

struct encoder {
    struct lwm2m_buf *b;
    struct lwm2m_path prefix; /* the first key */
    struct lwm2m_path open;   /* maps are open for open.id[prefix.depth..depth) */
    struct lwm2m_path last;   /* the path written last; depth 0 before any */
    unsigned maps;            /* maps to close at the end */
};

static enum ls_rc put_value(struct lwm2m_buf *b, const struct lwm2m_value *v,
                            struct ls_error *err)
{
    enum ls_rc rc;
    char l[LWM2M_CODEC_OBJLNK_MAX];
    switch (v->type) {
    case LWM2M_TYPE_NONE:
        if (v->path.depth >= LWM2M_DEPTH_RESOURCE)
            return lwm2m_codec_cbor_null(b, err);
        return lwm2m_codec_cbor_map(b, 0, err);
    case LWM2M_TYPE_STRING:
    case LWM2M_TYPE_CORELNK:
        return lwm2m_codec_cbor_text(b, v->v.bytes.ptr, v->v.bytes.len, err);
    case LWM2M_TYPE_OPAQUE:
        return lwm2m_codec_cbor_bytes(b, v->v.bytes.ptr, v->v.bytes.len, err);
    case LWM2M_TYPE_INTEGER:
        return lwm2m_codec_cbor_int(b, v->v.i, err);
    case LWM2M_TYPE_UNSIGNED:
        return lwm2m_codec_cbor_uint(b, v->v.u, err);
    case LWM2M_TYPE_FLOAT:
        return lwm2m_codec_cbor_float(b, v->v.f, err);
    case LWM2M_TYPE_BOOLEAN:
        return lwm2m_codec_cbor_bool(b, v->v.b, err);
    case LWM2M_TYPE_TIME:
        if ((rc = lwm2m_codec_cbor_tag(b, 1, err)) != LS_OK)
            return rc;
        return lwm2m_codec_cbor_int(b, v->v.i, err);
    case LWM2M_TYPE_OBJLNK:
        return lwm2m_codec_cbor_text(b, l, lwm2m_codec_objlnk_format(&v->v.objlnk, l), err);
    }
    return ls_error_set(err, LS_EINVAL, "value of unknown type %d", (int)v->type);
}

/* The first key: nothing for the root, one ID, or an ID array. */
static enum ls_rc put_prefix(struct encoder *e, struct ls_error *err)
{
    const struct lwm2m_path *p = &e->prefix;
    enum ls_rc rc = LS_OK;
    if (p->depth == 1)
        return lwm2m_codec_cbor_uint(e->b, p->id[0], err);
    if (p->depth > 1)
        rc = lwm2m_codec_cbor_array(e->b, p->depth, err);
    for (unsigned k = 0; k < p->depth && rc == LS_OK; k++)
        rc = lwm2m_codec_cbor_uint(e->b, p->id[k], err);
    return rc;
}

static uint8_t common_depth(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
    uint8_t n = a->depth < b->depth ? a->depth : b->depth, k = 0;
    while (k < n && a->id[k] == b->id[k])
        k++;
    return k;
}

/* Writes one value below the prefix: close maps that no longer apply,
 * open one per new ID, then the last ID and the value. */
static enum ls_rc put_entry(struct encoder *e, const struct lwm2m_value *v,
                            struct ls_error *err)
{
    uint8_t keep = common_depth(&e->open, &v->path);
    enum ls_rc rc = LS_OK;
    if (keep >= v->path.depth ||
        (e->last.depth > 0 && lwm2m_path_has_prefix(&v->path, &e->last))) {
        char p[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(&v->path, p);
        return ls_error_set(err, LS_EINVAL, "two values at or above %s", p);
    }
    while (e->open.depth > keep && rc == LS_OK) {
        rc = lwm2m_codec_cbor_break(e->b, err);
        e->open.depth--;
        e->maps--;
    }
    for (uint8_t k = e->open.depth; k + 1 < v->path.depth && rc == LS_OK; k++) {
        if ((rc = lwm2m_codec_cbor_uint(e->b, v->path.id[k], err)) == LS_OK)
            rc = lwm2m_codec_cbor_indef_map(e->b, err);
        e->open.id[k] = v->path.id[k];
        e->open.depth = (uint8_t)(k + 1);
        e->maps++;
    }
    if (rc == LS_OK)
        rc = lwm2m_codec_cbor_uint(e->b, v->path.id[v->path.depth - 1], err);
    if (rc == LS_OK)
        rc = put_value(e->b, v, err);
    e->last = v->path;
    return rc;
}

static int value_cmp(const void *a, const void *b)
{
    const struct lwm2m_value *x = a, *y = b;
    int c = lwm2m_path_compare(&x->path, &y->path);
    /* Keep equal paths in input order: qsort is not stable. */
    return c ? c : (x < y ? -1 : x > y);
}

/* The values in path order; *owned is the copy to free, when one was made. */
static enum ls_rc sorted_values(const struct lwm2m_data *in,
                                const struct lwm2m_value **vals,
                                struct lwm2m_value **owned, struct ls_error *err)
{
    *owned = NULL;
    *vals = in->values;
    for (size_t k = 1; k < in->count; k++) {
        if (lwm2m_path_compare(&in->values[k - 1].path, &in->values[k].path) > 0) {
            *owned = malloc(in->count * sizeof **owned);
            if (!*owned)
                return ls_error_set(err, LS_ENOMEM, "out of memory for %zu values",
                                    in->count);
            memcpy(*owned, in->values, in->count * sizeof **owned);
            qsort(*owned, in->count, sizeof **owned, value_cmp);
            *vals = *owned;
            break;
        }
    }
    return LS_OK;
}

static struct lwm2m_path choose_prefix(const struct lwm2m_value *vals, size_t n,
                                       const struct lwm2m_path *base)
{
    bool under = base && base->depth > 0;
    struct lwm2m_path prefix = n ? vals[0].path : lwm2m_path_root();
    for (size_t k = 0; k < n; k++) {
        under = under && lwm2m_path_has_prefix(&vals[k].path, base);
        prefix.depth = common_depth(&prefix, &vals[k].path);
    }
    return under ? *base : prefix;
}

static enum ls_rc put_all(struct encoder *e, const struct lwm2m_value *vals,
                          size_t n, struct ls_error *err)
{
    enum ls_rc rc = put_prefix(e, err);
    if (rc != LS_OK || e->prefix.depth == 0)
        goto entries;
    if (n == 1 && vals[0].path.depth == e->prefix.depth)
        return put_value(e->b, &vals[0], err); /* {_ [3,0,0]: "anjay"} */
    if ((rc = lwm2m_codec_cbor_indef_map(e->b, err)) != LS_OK)
        return rc;
    e->maps++;
entries:
    for (size_t k = 0; k < n && rc == LS_OK; k++) {
        /* A NONE parent followed by its children is implied by them. */
        if (vals[k].type == LWM2M_TYPE_NONE && k + 1 < n &&
            lwm2m_path_has_prefix(&vals[k + 1].path, &vals[k].path) &&
            vals[k + 1].path.depth > vals[k].path.depth)
            continue;
        rc = put_entry(e, &vals[k], err);
    }
    return rc;
}

enum ls_rc lwm2m_lwm2m_cbor_encode(const struct lwm2m_data *in,
                                   const struct lwm2m_path *base,
                                   const struct lwm2m_model *model,
                                   struct lwm2m_buf *out,
                                   struct ls_error *err)
{
    const struct lwm2m_value *vals;
    struct lwm2m_value *owned;
    struct encoder e = { .b = out, .maps = 1 };
    enum ls_rc rc = sorted_values(in, &vals, &owned, err);
    if (rc != LS_OK)
        return rc;
    e.prefix = choose_prefix(vals, in->count, base);
    e.open = e.prefix;
    if ((rc = lwm2m_codec_cbor_indef_map(out, err)) != LS_OK)
        goto out;
    if (in->count > 0 && (rc = put_all(&e, vals, in->count, err)) != LS_OK)
        goto out;
    while (e.maps > 0 && rc == LS_OK) {
        rc = lwm2m_codec_cbor_break(out, err);
        e.maps--;
    }
out:
    free(owned);
    return rc;
}
