/*
 * lwm2m/path.c -- parse, print and compare LwM2M paths
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/path.h"

#include <stdio.h>

struct lwm2m_path lwm2m_path_root(void)
{
    return (struct lwm2m_path){ .depth = 0 };
}

struct lwm2m_path lwm2m_path_object(uint16_t o)
{
    return (struct lwm2m_path){ .id = { o }, .depth = 1 };
}

struct lwm2m_path lwm2m_path_instance(uint16_t o, uint16_t i)
{
    return (struct lwm2m_path){ .id = { o, i }, .depth = 2 };
}

struct lwm2m_path lwm2m_path_resource(uint16_t o, uint16_t i, uint16_t r)
{
    return (struct lwm2m_path){ .id = { o, i, r }, .depth = 3 };
}

struct lwm2m_path lwm2m_path_resource_instance(uint16_t o, uint16_t i,
                                               uint16_t r, uint16_t ri)
{
    return (struct lwm2m_path){ .id = { o, i, r, ri }, .depth = 4 };
}

enum ls_rc lwm2m_path_append_segment(struct lwm2m_path *p, const char *seg,
                                     size_t len, struct ls_error *err)
{
    if (p->depth >= 4)
        return ls_error_set(err, LS_EINVAL,
                            "path has more than four segments");
    if (len == 0)
        return ls_error_set(err, LS_EINVAL, "path has an empty segment");
    /* At most 5 digits: 65534 is the largest ID; also stops overflow. */
    if (len > 5)
        return ls_error_set(err, LS_EINVAL,
                            "path segment \"%.*s\" is not an ID from 0 to 65534",
                            (int)(len > 16 ? 16 : len), seg);
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (seg[i] < '0' || seg[i] > '9')
            return ls_error_set(err, LS_EINVAL,
                                "path segment \"%.*s\" is not an ID from 0 to 65534",
                                (int)len, seg);
        v = v * 10 + (unsigned)(seg[i] - '0');
    }
    if (v > LWM2M_ID_MAX)
        return ls_error_set(err, LS_EINVAL,
                            "path segment \"%.*s\" is not an ID from 0 to 65534",
                            (int)len, seg);
    p->id[p->depth++] = (uint16_t)v;
    return LS_OK;
}

enum ls_rc lwm2m_path_parse(const char *s, size_t len, struct lwm2m_path *out,
                            struct ls_error *err)
{
    struct lwm2m_path p = { .depth = 0 };

    *out = p;
    if (len == 0 || (len == 1 && s[0] == '/'))
        return LS_OK;
    if (s[0] != '/')
        return ls_error_set(err, LS_EINVAL, "path must start with '/'");
    size_t pos = 1;
    /* One trailing slash is tolerated ("/3/0/"): clients write both. */
    if (s[len - 1] == '/')
        len--;
    while (pos <= len) {
        size_t end = pos;
        while (end < len && s[end] != '/')
            end++;
        enum ls_rc rc = lwm2m_path_append_segment(&p, s + pos, end - pos, err);
        if (rc != LS_OK)
            return rc;
        pos = end + 1;
    }
    *out = p;
    return LS_OK;
}

size_t lwm2m_path_format(const struct lwm2m_path *p,
                         char buf[LWM2M_PATH_STR_MAX])
{
    if (p->depth == 0) {
        buf[0] = '/';
        buf[1] = '\0';
        return 1;
    }
    size_t n = 0;
    for (unsigned i = 0; i < p->depth && i < 4; i++)
        n += (size_t)snprintf(buf + n, LWM2M_PATH_STR_MAX - n, "/%u",
                              (unsigned)p->id[i]);
    return n;
}

int lwm2m_path_compare(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
    unsigned common = a->depth < b->depth ? a->depth : b->depth;
    for (unsigned i = 0; i < common; i++) {
        if (a->id[i] != b->id[i])
            return a->id[i] < b->id[i] ? -1 : 1;
    }
    return (int)a->depth - (int)b->depth;
}

bool lwm2m_path_equal(const struct lwm2m_path *a, const struct lwm2m_path *b)
{
    return lwm2m_path_compare(a, b) == 0;
}

bool lwm2m_path_has_prefix(const struct lwm2m_path *p,
                           const struct lwm2m_path *prefix)
{
    if (prefix->depth > p->depth)
        return false;
    for (unsigned i = 0; i < prefix->depth; i++) {
        if (p->id[i] != prefix->id[i])
            return false;
    }
    return true;
}

struct lwm2m_path lwm2m_path_truncate(const struct lwm2m_path *p, uint8_t depth)
{
    struct lwm2m_path t = { .depth = depth < p->depth ? depth : p->depth };
    for (unsigned i = 0; i < t.depth; i++)
        t.id[i] = p->id[i];
    return t;
}

struct lwm2m_path lwm2m_path_child(const struct lwm2m_path *p, uint16_t id)
{
    struct lwm2m_path c = *p;
    if (c.depth < 4)
        c.id[c.depth++] = id;
    return c;
}
