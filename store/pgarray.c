/*
 * store/pgarray.c -- a Postgres array literal ({"a","b"}) grown element by
 * element, to pass many values in one text parameter (store_int.h)
 *
 * Bulk statements (factory batches, re-sealing under a new master key) send
 * thousands of values as one array parameter instead of one statement
 * each.  Every element is quoted, so any text goes in as it is; the buffer
 * is wiped when freed because what it carries may be sealed secrets.  Out
 * of memory is remembered, not returned at each add: the caller checks once
 * with store_pgarray_text.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

static void put(struct store_pgarray *a, const char *s, size_t len)
{
    if (a->oom)
        return;
    if (a->n + len + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (cap < a->n + len + 1)
            cap *= 2;
        char *p = realloc(a->p, cap);
        if (!p) {
            a->oom = true;
            return;
        }
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->n, s, len);
    a->n += len;
    a->p[a->n] = '\0';
}

void store_pgarray_add(struct store_pgarray *a, const char *s)
{
    put(a, a->count++ ? ",\"" : "{\"", 2);
    for (const char *q = s; *q; q++) {
        if (*q == '"' || *q == '\\')
            put(a, "\\", 1);
        put(a, q, 1);
    }
    put(a, "\"", 1);
}

const char *store_pgarray_text(struct store_pgarray *a)
{
    if (!a->closed) {
        put(a, a->count ? "}" : "{}", a->count ? 1 : 2);
        a->closed = true;
    }
    return a->oom ? NULL : a->p;
}

void store_pgarray_free(struct store_pgarray *a)
{
    if (a->p)
        explicit_bzero(a->p, a->cap);
    free(a->p);
    memset(a, 0, sizeof *a);
}
