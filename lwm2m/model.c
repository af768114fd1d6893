/*
 * lwm2m/model.c -- the registry of object definitions
 *
 * A sorted array of (definition, owned) slots keyed by (object id, version).
 * Built-in definitions are static const data and are only pointed at; loaded
 * ones (model_ddf.c) are heap allocated and owned by the slot.  Lookups are
 * binary searches; a registry holds a few hundred objects at most, so the
 * O(n) insertion shift when loading is irrelevant next to XML parsing.
 *
 * INTERFACE
 *   lwm2m_model_new / lwm2m_model_free
 *   lwm2m_model_object, lwm2m_model_resource
 *   lwm2m_model_count, lwm2m_model_at
 *   (loading: model_ddf.c)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/model_int.h"

#include <stdlib.h>
#include <string.h>

struct slot {
    const struct lwm2m_object_def *def;
    struct lwm2m_object_def *owned;   /* == def when loaded, NULL when built in */
};

struct lwm2m_model {
    struct slot *slots;   /* sorted by id, then version */
    size_t count;
    size_t cap;
};

/* Parses one dotted component; stops at '.' or the end. */
static unsigned long version_part(const char **s)
{
    unsigned long v = 0;
    while (**s >= '0' && **s <= '9') {
        if (v < 100000000ul)
            v = v * 10 + (unsigned long)(**s - '0');
        (*s)++;
    }
    if (**s == '.')
        (*s)++;
    return v;
}

/* Orders "1.2" < "1.10" < "2.0": numeric major, then numeric minor. */
static int version_compare(const char *a, const char *b)
{
    const char *pa = a ? a : "", *pb = b ? b : "";
    for (int i = 0; i < 2; i++) {
        unsigned long x = version_part(&pa), y = version_part(&pb);
        if (x != y)
            return x < y ? -1 : 1;
    }
    /* Numerically equal ("1.0" vs "1.00"): fall back to text for a total order. */
    int c = strcmp(a ? a : "", b ? b : "");
    return c < 0 ? -1 : c > 0;
}

static int def_compare(uint16_t id, const char *version,
                       const struct lwm2m_object_def *d)
{
    if (id != d->id)
        return id < d->id ? -1 : 1;
    return version_compare(version, d->version);
}

/* Index of the first slot not ordered before (id, version). */
static size_t lower_bound(const struct lwm2m_model *m, uint16_t id,
                          const char *version)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (def_compare(id, version, m->slots[mid].def) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * A loaded definition is one allocation: the struct, its resource array and
 * every string (model_ddf.c lays them out), so freeing it is one free() and
 * no const needs casting away.
 */
void model_def_free(struct lwm2m_object_def *def)
{
    free(def);
}

static enum ls_rc grow(struct lwm2m_model *m, struct ls_error *err)
{
    if (m->count < m->cap)
        return LS_OK;
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct slot *s = realloc(m->slots, cap * sizeof *s);
    if (!s)
        return ls_error_set(err, LS_ENOMEM, "out of memory for %zu object definitions", cap);
    m->slots = s;
    m->cap = cap;
    return LS_OK;
}

enum ls_rc model_insert(struct lwm2m_model *m, struct lwm2m_object_def *def,
                        struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    size_t at = lower_bound(m, def->id, def->version);
    if (at < m->count && def_compare(def->id, def->version, m->slots[at].def) == 0) {
        model_def_free(m->slots[at].owned);
        m->slots[at].def = def;
        m->slots[at].owned = def;
        return LS_OK;
    }
    rc = grow(m, err);
    if (rc != LS_OK)
        goto out;
    memmove(&m->slots[at + 1], &m->slots[at], (m->count - at) * sizeof *m->slots);
    m->slots[at].def = def;
    m->slots[at].owned = def;
    m->count++;
    def = NULL;
out:
    model_def_free(def);
    return rc;
}

struct lwm2m_model *lwm2m_model_new(struct ls_error *err)
{
    struct lwm2m_model *m = calloc(1, sizeof *m);
    if (!m) {
        ls_error_set(err, LS_ENOMEM, "out of memory for the object model");
        return NULL;
    }
    m->cap = model_builtin_count + 64;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        ls_error_set(err, LS_ENOMEM, "out of memory for the object model");
        return NULL;
    }
    /* The table is sorted by id then version (checked by test_model). */
    for (size_t i = 0; i < model_builtin_count; i++)
        m->slots[m->count++].def = model_builtin_objects[i];
    return m;
}

void lwm2m_model_free(struct lwm2m_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->count; i++)
        model_def_free(m->slots[i].owned);
    free(m->slots);
    free(m);
}

const struct lwm2m_object_def *lwm2m_model_object(const struct lwm2m_model *m,
                                                  uint16_t id,
                                                  const char *version)
{
    if (!m)
        return NULL;
    if (version) {
        size_t at = lower_bound(m, id, version);
        if (at < m->count && def_compare(id, version, m->slots[at].def) == 0)
            return m->slots[at].def;
        return NULL;
    }
    /* Newest: the last slot with this id, i.e. just before the first of id+1. */
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->slots[mid].def->id <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && m->slots[lo - 1].def->id == id)
        return m->slots[lo - 1].def;
    return NULL;
}

const struct lwm2m_resource_def *model_def_resource(const struct lwm2m_object_def *o,
                                                    uint16_t res)
{
    if (!o || !o->resources)
        return NULL;
    size_t lo = 0, hi = o->n_resources;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->resources[mid].id == res)
            return &o->resources[mid];
        if (o->resources[mid].id < res)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct lwm2m_resource_def *lwm2m_model_resource(const struct lwm2m_model *m,
                                                      uint16_t obj, uint16_t res)
{
    return model_def_resource(lwm2m_model_object(m, obj, NULL), res);
}

size_t lwm2m_model_count(const struct lwm2m_model *m)
{
    return m ? m->count : 0;
}

const struct lwm2m_object_def *lwm2m_model_at(const struct lwm2m_model *m,
                                              size_t index)
{
    if (!m || index >= m->count)
        return NULL;
    return m->slots[index].def;
}
