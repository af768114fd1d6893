/*
 * lwm2m/data.c -- the flat data tree: value array, byte arena, buffers
 *
 * The arena is a list of chunks that never move once allocated, so a value's
 * bytes pointer stays valid while more values are appended.  Chunks start at
 * 4 KiB and double (capped at 1 MiB) so a 1 MB payload costs a handful of
 * allocations, not one per value.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/data.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST_CHUNK 4096
#define ARENA_MAX_CHUNK (1u << 20)

struct lwm2m_arena_chunk {
    struct lwm2m_arena_chunk *next;
    size_t used;
    size_t size;
    uint8_t bytes[];
};

void lwm2m_data_init(struct lwm2m_data *d)
{
    memset(d, 0, sizeof *d);
}

void lwm2m_data_free(struct lwm2m_data *d)
{
    if (!d)
        return;
    free(d->values);
    struct lwm2m_arena_chunk *c = d->chunks;
    while (c) {
        struct lwm2m_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    memset(d, 0, sizeof *d);
}

struct lwm2m_value *lwm2m_data_append(struct lwm2m_data *d,
                                      const struct lwm2m_path *path,
                                      enum lwm2m_type type,
                                      struct ls_error *err)
{
    if (d->count == d->cap) {
        if (d->cap >= LWM2M_DATA_MAX_VALUES) {
            ls_error_set(err, LS_ENOMEM, "more than %u values in one payload",
                         LWM2M_DATA_MAX_VALUES);
            return NULL;
        }
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct lwm2m_value *v = realloc(d->values, cap * sizeof *v);
        if (!v) {
            ls_error_set(err, LS_ENOMEM, "out of memory for %zu values", cap);
            return NULL;
        }
        d->values = v;
        d->cap = cap;
    }
    struct lwm2m_value *v = &d->values[d->count++];
    memset(v, 0, sizeof *v);
    v->path = *path;
    v->type = type;
    return v;
}

const uint8_t *lwm2m_data_store(struct lwm2m_data *d, const void *bytes,
                                size_t len, struct ls_error *err)
{
    static const uint8_t empty[1];
    if (len == 0)
        return empty;
    struct lwm2m_arena_chunk *c = d->chunks;
    if (!c || c->size - c->used < len) {
        size_t size = c ? c->size * 2 : ARENA_FIRST_CHUNK;
        if (size > ARENA_MAX_CHUNK)
            size = ARENA_MAX_CHUNK;
        if (size < len)
            size = len;
        struct lwm2m_arena_chunk *n = malloc(sizeof *n + size);
        if (!n) {
            ls_error_set(err, LS_ENOMEM, "out of memory for %zu bytes", len);
            return NULL;
        }
        n->used = 0;
        n->size = size;
        /* A chunk too small to take more stays behind the new one. */
        n->next = c;
        d->chunks = n;
        c = n;
    }
    uint8_t *p = c->bytes + c->used;
    memcpy(p, bytes, len);
    c->used += len;
    return p;
}

struct lwm2m_value *lwm2m_data_append_bytes(struct lwm2m_data *d,
                                            const struct lwm2m_path *path,
                                            enum lwm2m_type type,
                                            const void *bytes, size_t len,
                                            struct ls_error *err)
{
    const uint8_t *stored = lwm2m_data_store(d, bytes, len, err);
    if (!stored)
        return NULL;
    struct lwm2m_value *v = lwm2m_data_append(d, path, type, err);
    if (!v)
        return NULL;
    v->v.bytes.ptr = stored;
    v->v.bytes.len = len;
    return v;
}

/* Insertion sort when nearly sorted (the usual case: codecs emit in order),
 * merge sort otherwise; both stable. */
static void merge_sort(struct lwm2m_value *a, struct lwm2m_value *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(a, tmp, h);
    merge_sort(a + h, tmp, n - h);
    if (lwm2m_path_compare(&a[h - 1].path, &a[h].path) <= 0)
        return;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = lwm2m_path_compare(&a[j].path, &a[i].path) < 0 ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

void lwm2m_data_sort(struct lwm2m_data *d)
{
    size_t n = d->count;
    size_t i;
    for (i = 1; i < n; i++) {
        if (lwm2m_path_compare(&d->values[i - 1].path, &d->values[i].path) > 0)
            break;
    }
    if (i >= n)
        return;
    struct lwm2m_value *tmp = malloc(n * sizeof *tmp);
    if (tmp) {
        merge_sort(d->values, tmp, n);
        free(tmp);
        return;
    }
    /* No memory for the merge buffer: fall back to in-place insertion. */
    for (i = 1; i < n; i++) {
        struct lwm2m_value v = d->values[i];
        size_t j = i;
        while (j > 0 && lwm2m_path_compare(&d->values[j - 1].path, &v.path) > 0) {
            d->values[j] = d->values[j - 1];
            j--;
        }
        d->values[j] = v;
    }
}

size_t lwm2m_data_find(const struct lwm2m_data *d,
                       const struct lwm2m_path *prefix)
{
    size_t lo = 0, hi = d->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lwm2m_path_compare(&d->values[mid].path, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < d->count && lwm2m_path_has_prefix(&d->values[lo].path, prefix))
        return lo;
    return d->count;
}

static const char *const type_names[] = {
    [LWM2M_TYPE_NONE] = "none",        [LWM2M_TYPE_STRING] = "string",
    [LWM2M_TYPE_INTEGER] = "integer",  [LWM2M_TYPE_UNSIGNED] = "unsigned",
    [LWM2M_TYPE_FLOAT] = "float",      [LWM2M_TYPE_BOOLEAN] = "boolean",
    [LWM2M_TYPE_OPAQUE] = "opaque",    [LWM2M_TYPE_TIME] = "time",
    [LWM2M_TYPE_OBJLNK] = "objlnk",    [LWM2M_TYPE_CORELNK] = "corelnk",
};

const char *lwm2m_type_name(enum lwm2m_type t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0]
               ? type_names[t] : "none";
}

bool lwm2m_type_parse(const char *name, enum lwm2m_type *out)
{
    for (unsigned i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (enum lwm2m_type)i;
            return true;
        }
    }
    return false;
}

enum ls_rc lwm2m_buf_reserve(struct lwm2m_buf *b, size_t extra,
                             struct ls_error *err)
{
    /* Even a reserve of 0 allocates: callers then write at data + len,
     * and NULL + 0 is undefined behaviour. */
    if (b->data && b->cap - b->len >= extra)
        return LS_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2)
            return ls_error_set(err, LS_ENOMEM, "output buffer too large");
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return ls_error_set(err, LS_ENOMEM, "out of memory for %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return LS_OK;
}

enum ls_rc lwm2m_buf_append(struct lwm2m_buf *b, const void *p, size_t len,
                            struct ls_error *err)
{
    enum ls_rc rc = lwm2m_buf_reserve(b, len, err);
    if (rc != LS_OK)
        return rc;
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    return LS_OK;
}

void lwm2m_buf_free(struct lwm2m_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
