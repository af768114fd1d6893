/*
 * lwm2m/link.c -- CoRE Link Format (RFC 6690) parser, printer and the
 * Register-payload view
 *
 * Grammar (RFC 6690 section 2, with the leniencies listed in link.h):
 *   Link       = link-value-list
 *   link-value = "<" URI-Reference ">" *( ";" link-param )
 *   link-param = parmname [ "=" ( ptoken / quoted-string ) ]
 * The parser works on a private copy of the input and terminates names and
 * values in place (overwriting the delimiter after reading it), unescaping
 * quoted-strings leftwards, so every string in the list points into that one
 * copy.  Links and attributes share one array sized from a first pass that
 * counts ',' and ';' (an upper bound, since quoted strings may hold them).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/link.h"

#include <stdlib.h>
#include <string.h>

/* RFC 7230 tchar, which RFC 6690 parmname reuses (RFC 5987 attr-char is a
 * subset); ptoken adds the URI-ish characters. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$&+-.^_`|~", c) != NULL);
}

static bool is_ptoken_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'()*+-./:<=>?@[]^_`{|}~", c) != NULL);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct parser {
    char *t;         /* the private copy, NUL-terminated */
    size_t len;
    size_t pos;
    size_t entry;    /* 0-based index of the entry being parsed */
    struct lwm2m_link_list *list;
    size_t n_attrs;  /* attributes used so far */
    size_t cap_attrs;
};

static enum ls_rc syntax(const struct parser *p, struct ls_error *err, const char *what)
{
    return ls_error_set(err, LS_EPROTO, "link format: offset %zu (entry %zu): %s",
                        p->pos, p->entry + 1, what);
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaped in place. */
static enum ls_rc quoted(struct parser *p, char **value, struct ls_error *err)
{
    char *w = &p->t[p->pos];  /* the opening quote is overwritten first */
    *value = w;
    p->pos++;
    for (;;) {
        char c = p->t[p->pos];
        if (c == '\0')
            return syntax(p, err, "unterminated quoted string");
        if (c == '"')
            break;
        if (c == '\\') {
            p->pos++;
            c = p->t[p->pos];
            if (c == '\0')
                return syntax(p, err, "unterminated quoted string");
        }
        *w++ = c;
        p->pos++;
    }
    /* w <= position of the closing quote: nothing unread is overwritten. */
    *w = '\0';
    p->pos++;
    return LS_OK;
}

/*
 * Reads the delimiter that ends a name or value at pos, overwrites it with
 * the NUL that terminates the string, and checks that it may end one.
 */
static enum ls_rc end_at(struct parser *p, char *delim, struct ls_error *err)
{
    *delim = p->t[p->pos];
    if (*delim != ';' && *delim != ',' && *delim != '\0')
        return syntax(p, err, "expected ';', ',' or the end after an attribute");
    p->t[p->pos] = '\0';
    return LS_OK;
}

/* One link-param after ';' (or the first of a bare entry); *delim gets the
 * character that ended it, now overwritten, and pos rests on it. */
static enum ls_rc param(struct parser *p, struct lwm2m_link_attr *a, char *delim,
                        struct ls_error *err)
{
    size_t start = p->pos;
    while (is_tchar((unsigned char)p->t[p->pos]))
        p->pos++;
    if (p->pos == start)
        return syntax(p, err, "expected an attribute name");
    a->name = &p->t[start];
    a->value = NULL;
    a->quoted = false;
    if (p->t[p->pos] != '=')
        return end_at(p, delim, err);
    p->t[p->pos++] = '\0';
    if (p->t[p->pos] == '"') {
        char *v;
        enum ls_rc rc = quoted(p, &v, err);
        a->value = v;
        a->quoted = true;
        return rc != LS_OK ? rc : end_at(p, delim, err);
    }
    start = p->pos;
    while (is_ptoken_char((unsigned char)p->t[p->pos]))
        p->pos++;
    if (p->pos == start)
        return syntax(p, err, "expected a value after '='");
    a->value = &p->t[start];
    return end_at(p, delim, err);
}

/* The params of one link; *end gets the character that ended the link. */
static enum ls_rc params(struct parser *p, struct lwm2m_link *l, bool bare,
                         char *end, struct ls_error *err)
{
    l->attrs = &p->list->attrs[p->n_attrs];
    *end = p->t[p->pos];
    if (!bare) {
        if (*end != ';')
            return LS_OK;
        p->pos++;
    }
    for (;;) {
        if (l->n_attrs == LWM2M_LINK_MAX_ATTRS)
            return ls_error_set(err, LS_ENOMEM,
                                "link format: offset %zu (entry %zu): more than %u attributes",
                                p->pos, p->entry + 1, LWM2M_LINK_MAX_ATTRS);
        if (p->n_attrs == p->cap_attrs)   /* cannot happen: the count is an upper bound */
            return syntax(p, err, "too many attributes");
        enum ls_rc rc = param(p, &p->list->attrs[p->n_attrs], end, err);
        if (rc != LS_OK)
            return rc;
        p->n_attrs++;
        l->n_attrs++;
        if (*end != ';')
            return LS_OK;
        p->pos++;
    }
}

static enum ls_rc uri(struct parser *p, struct lwm2m_link *l, struct ls_error *err)
{
    size_t start = ++p->pos;
    for (;; p->pos++) {
        unsigned char c = (unsigned char)p->t[p->pos];
        if (c == '>')
            break;
        if (c == '\0')
            return syntax(p, err, "unterminated '<'");
        if (c <= ' ' || c == '<' || c == '"' || c == 0x7f)
            return syntax(p, err, "bad character in URI");
    }
    p->t[p->pos] = '\0';
    l->uri = &p->t[start];
    size_t n = p->pos - start;
    p->pos++;
    struct lwm2m_path path;
    if (n > 0 && l->uri[0] == '/' && lwm2m_path_parse(l->uri, n, &path, NULL) == LS_OK) {
        l->is_path = true;
        l->path = path;
    }
    return LS_OK;
}

/* One link-value; *end gets ',' or '\0'. */
static enum ls_rc entry(struct parser *p, char *end, struct ls_error *err)
{
    struct lwm2m_link_list *list = p->list;
    if (list->count == LWM2M_LINK_MAX_LINKS)
        return ls_error_set(err, LS_ENOMEM, "link format: more than %u links",
                            LWM2M_LINK_MAX_LINKS);
    struct lwm2m_link *l = &list->links[list->count++];
    memset(l, 0, sizeof *l);
    l->offset = p->pos;
    char c = p->t[p->pos];
    enum ls_rc rc;
    if (c == '<') {
        rc = uri(p, l, err);
        if (rc == LS_OK)
            rc = params(p, l, false, end, err);
    } else if (p->entry == 0 && is_tchar((unsigned char)c)) {
        rc = params(p, l, true, end, err);   /* Anjay 1.0: lwm2m="1.0",</0>,... */
    } else if (c == ',' || c == '\0') {
        rc = syntax(p, err, "empty entry");
    } else {
        rc = syntax(p, err, "expected '<'");
    }
    if (rc == LS_OK && *end != ',' && *end != '\0')
        rc = syntax(p, err, "expected ',' or the end after a link");
    return rc;
}

void lwm2m_link_list_free(struct lwm2m_link_list *list)
{
    if (!list)
        return;
    free(list->links);   /* the attrs live in the same block */
    free(list->text);
    memset(list, 0, sizeof *list);
}

/* Sizes the links+attrs block from the delimiters (an upper bound). */
static enum ls_rc allocate(struct parser *p, const char *buf, size_t len, struct ls_error *err)
{
    size_t commas = 0, semis = 0;
    for (size_t i = 0; i < len; i++) {
        commas += buf[i] == ',';
        semis += buf[i] == ';';
    }
    size_t n_links = commas + 1 < LWM2M_LINK_MAX_LINKS ? commas + 1 : LWM2M_LINK_MAX_LINKS;
    p->cap_attrs = semis + commas + 1;
    p->list->text = malloc(len + 1);
    p->list->links = malloc(n_links * sizeof(struct lwm2m_link) +
                            p->cap_attrs * sizeof(struct lwm2m_link_attr));
    if (!p->list->text || !p->list->links)
        return ls_error_set(err, LS_ENOMEM, "link format: out of memory for %zu bytes", len);
    p->list->attrs = (struct lwm2m_link_attr *)(p->list->links + n_links);
    memcpy(p->list->text, buf, len);
    p->list->text[len] = '\0';
    p->t = p->list->text;
    p->len = len;
    return LS_OK;
}

enum ls_rc lwm2m_link_parse(const char *buf, size_t len, struct lwm2m_link_list *out,
                            struct ls_error *err)
{
    struct parser p = { .list = out };
    enum ls_rc rc = LS_OK;
    memset(out, 0, sizeof *out);
    if (len == 0)
        return LS_OK;
    if (len > LWM2M_LINK_MAX_LEN)
        return ls_error_set(err, LS_ENOMEM, "link format: payload of %zu bytes exceeds %u",
                            len, LWM2M_LINK_MAX_LEN);
    const char *nul = memchr(buf, '\0', len);
    if (nul)
        return ls_error_set(err, LS_EPROTO, "link format: offset %zu: NUL byte",
                            (size_t)(nul - buf));
    if ((rc = allocate(&p, buf, len, err)) != LS_OK)
        goto out;
    for (;;) {
        char end;
        if ((rc = entry(&p, &end, err)) != LS_OK)
            goto out;
        if (end == '\0')
            break;
        p.pos++;   /* past the ',' (now a NUL) */
        p.entry++;
        while (is_ws(p.t[p.pos]))
            p.pos++;
    }
out:
    if (rc != LS_OK)
        lwm2m_link_list_free(out);
    return rc;
}

const struct lwm2m_link_attr *lwm2m_link_attr_find(const struct lwm2m_link *link,
                                                   const char *name)
{
    for (size_t i = 0; link && i < link->n_attrs; i++)
        if (strcmp(link->attrs[i].name, name) == 0)
            return &link->attrs[i];
    return NULL;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

enum ls_rc lwm2m_link_attr_uint(const struct lwm2m_link *link, const char *name,
                                uint64_t max, uint64_t *out, struct ls_error *err)
{
    const struct lwm2m_link_attr *a = lwm2m_link_attr_find(link, name);
    if (!a)
        return LS_ENOTFOUND;
    if (!parse_uint(a->value, max, out))
        return ls_error_set(err, LS_EPROTO,
                            "link format: offset %zu: attribute %s=\"%.40s\" is not a number 0..%llu",
                            link->offset, name, a->value ? a->value : "",
                            (unsigned long long)max);
    return LS_OK;
}

/* ---- printer ------------------------------------------------------------ */

static enum ls_rc put(struct lwm2m_buf *out, const char *s, size_t n, struct ls_error *err)
{
    return lwm2m_buf_append(out, s, n, err);
}

static bool needs_quotes(const char *v)
{
    if (!*v)
        return true;
    for (; *v; v++)
        if (!is_ptoken_char((unsigned char)*v))
            return true;
    return false;
}

static enum ls_rc put_value(struct lwm2m_buf *out, const struct lwm2m_link_attr *a,
                            struct ls_error *err)
{
    enum ls_rc rc = put(out, "=", 1, err);
    if (rc != LS_OK || (!a->quoted && !needs_quotes(a->value)))
        return rc != LS_OK ? rc : put(out, a->value, strlen(a->value), err);
    if ((rc = put(out, "\"", 1, err)) != LS_OK)
        return rc;
    for (const char *v = a->value; *v && rc == LS_OK; v++) {
        if (*v == '"' || *v == '\\')
            rc = put(out, "\\", 1, err);
        if (rc == LS_OK)
            rc = put(out, v, 1, err);
    }
    return rc != LS_OK ? rc : put(out, "\"", 1, err);
}

static enum ls_rc put_link(struct lwm2m_buf *out, const struct lwm2m_link *l,
                           struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    if (l->uri) {
        if (strpbrk(l->uri, "<>"))
            return ls_error_set(err, LS_EINVAL, "link format: URI \"%.40s\" holds '<' or '>'",
                                l->uri);
        if ((rc = put(out, "<", 1, err)) != LS_OK ||
            (rc = put(out, l->uri, strlen(l->uri), err)) != LS_OK ||
            (rc = put(out, ">", 1, err)) != LS_OK)
            return rc;
    }
    for (size_t i = 0; i < l->n_attrs; i++) {
        const struct lwm2m_link_attr *a = &l->attrs[i];
        bool ok = a->name && *a->name;
        for (const char *c = a->name; ok && *c; c++)
            ok = is_tchar((unsigned char)*c);
        if (!ok)
            return ls_error_set(err, LS_EINVAL, "link format: bad attribute name \"%.40s\"",
                                a->name ? a->name : "");
        if ((l->uri || i > 0) && (rc = put(out, ";", 1, err)) != LS_OK)
            return rc;
        if ((rc = put(out, a->name, strlen(a->name), err)) != LS_OK)
            return rc;
        if (a->value && (rc = put_value(out, a, err)) != LS_OK)
            return rc;
    }
    return LS_OK;
}

enum ls_rc lwm2m_link_format(const struct lwm2m_link *links, size_t n,
                             struct lwm2m_buf *out, struct ls_error *err)
{
    for (size_t i = 0; i < n; i++) {
        enum ls_rc rc;
        if (i > 0 && (rc = put(out, ",", 1, err)) != LS_OK)
            return rc;
        if ((rc = put_link(out, &links[i], err)) != LS_OK)
            return rc;
    }
    return LS_OK;
}

/* ---- Register payload view ---------------------------------------------- */

static enum ls_rc reg_error(const struct lwm2m_link *l, size_t e, struct ls_error *err,
                            const char *what)
{
    return ls_error_set(err, LS_EPROTO, "link format: offset %zu (entry %zu) <%.40s>: %s",
                        l->offset, e + 1, l->uri ? l->uri : "", what);
}

/* "1.0", "1.1": digits '.' digits, short. */
static bool valid_version(const char *s)
{
    size_t major = 0, minor = 0;
    while (s[major] >= '0' && s[major] <= '9')
        major++;
    if (major == 0 || major > 5 || s[major] != '.')
        return false;
    s += major + 1;
    while (s[minor] >= '0' && s[minor] <= '9')
        minor++;
    return minor > 0 && minor <= 5 && s[minor] == '\0';
}

/* ct=110 or ct="110 112" (RFC 7252 section 7.2.1: space-separated). */
static enum ls_rc parse_ct(const struct lwm2m_link *l, size_t e,
                           struct lwm2m_link_register *r, struct ls_error *err)
{
    const struct lwm2m_link_attr *a = lwm2m_link_attr_find(l, "ct");
    if (!a)
        return LS_OK;
    const char *s = a->value ? a->value : "";
    do {
        size_t n = strspn(s, "0123456789");
        char num[8];
        uint64_t v;
        if (n == 0 || n >= sizeof num || r->n_ct == LWM2M_LINK_MAX_CT)
            return reg_error(l, e, err, "ct must list up to 8 content formats 0..65535");
        memcpy(num, s, n);
        num[n] = '\0';
        if (!parse_uint(num, 65535, &v))
            return reg_error(l, e, err, "ct must list up to 8 content formats 0..65535");
        r->ct[r->n_ct++] = (uint16_t)v;
        s += n;
    } while (*s == ' ' && *++s);
    if (*s)
        return reg_error(l, e, err, "ct must list up to 8 content formats 0..65535");
    return LS_OK;
}

static enum ls_rc alt_path(const struct lwm2m_link *l, size_t e,
                           struct lwm2m_link_register *r, bool *seen, struct ls_error *err)
{
    if (*seen || r->n_paths > 0)
        return reg_error(l, e, err, "rt=\"oma.lwm2m\" must be the first link and appear once");
    if (l->uri[0] != '/' || strstr(l->uri, "//") || strpbrk(l->uri, "?#"))
        return reg_error(l, e, err, "alternate path must be an absolute path");
    *seen = true;
    r->alt_path = l->uri;
    const struct lwm2m_link_attr *v = lwm2m_link_attr_find(l, "lwm2m");
    if (v && v->value)
        r->lwm2m_version = v->value;
    return parse_ct(l, e, r, err);
}

/* uri relative to the alternate path, or NULL when it lies outside. */
static const char *strip_alt(const char *alt, const char *uri)
{
    size_t n = strlen(alt);
    while (n > 0 && alt[n - 1] == '/')
        n--;
    if (strncmp(uri, alt, n) != 0)
        return NULL;
    uri += n;
    return *uri == '/' || *uri == '\0' ? uri : NULL;
}

static enum ls_rc object_link(const struct lwm2m_link *l, size_t e,
                              struct lwm2m_link_register *r, const char *rel,
                              struct ls_error *err)
{
    struct lwm2m_path path;
    if (lwm2m_path_parse(rel, strlen(rel), &path, NULL) != LS_OK ||
        (path.depth != LWM2M_DEPTH_OBJECT && path.depth != LWM2M_DEPTH_INSTANCE))
        return reg_error(l, e, err, "not an object or object instance");
    const struct lwm2m_link_attr *ver = lwm2m_link_attr_find(l, "ver");
    if (ver && (!ver->value || !valid_version(ver->value)))
        return reg_error(l, e, err, "ver must look like 1.1");
    r->paths[r->n_paths++] = path;
    r->objects[r->n_objects].id = path.id[0];
    r->objects[r->n_objects].version = ver ? ver->value : NULL;
    r->n_objects++;
    return LS_OK;
}

/*
 * By id; within an id, entries with a version first, then by position of
 * the version text in the list's buffer, i.e. input order.  So the merge
 * below keeps the first ver= given for an object whatever qsort's stability.
 */
static int object_compare(const void *a, const void *b)
{
    const struct lwm2m_link_object *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (!x->version || !y->version)
        return (x->version == NULL) - (y->version == NULL);
    return (x->version > y->version) - (x->version < y->version);
}

static void merge_objects(struct lwm2m_link_register *r)
{
    size_t n = 0;
    qsort(r->objects, r->n_objects, sizeof *r->objects, object_compare);
    for (size_t i = 0; i < r->n_objects; i++)
        if (n == 0 || r->objects[n - 1].id != r->objects[i].id)
            r->objects[n++] = r->objects[i];
    r->n_objects = n;
}

void lwm2m_link_register_free(struct lwm2m_link_register *r)
{
    if (!r)
        return;
    free(r->paths);
    free(r->objects);
    memset(r, 0, sizeof *r);
}

static enum ls_rc register_link(const struct lwm2m_link *l, size_t e,
                                struct lwm2m_link_register *r, bool *seen_alt,
                                struct ls_error *err)
{
    const struct lwm2m_link_attr *rt = lwm2m_link_attr_find(l, "rt");
    if (!l->uri) {
        const struct lwm2m_link_attr *v = lwm2m_link_attr_find(l, "lwm2m");
        if (v && v->value)
            r->lwm2m_version = v->value;
        return LS_OK;
    }
    if (rt && rt->value && strcmp(rt->value, "oma.lwm2m") == 0)
        return alt_path(l, e, r, seen_alt, err);
    const char *rel = strip_alt(r->alt_path, l->uri);
    if (!rel)
        return reg_error(l, e, err, "outside the alternate path");
    if (strcmp(rel, "/") == 0 || *rel == '\0') {
        const struct lwm2m_link_attr *v = lwm2m_link_attr_find(l, "lwm2m");
        if (v && v->value)
            r->lwm2m_version = v->value;
        return LS_OK;
    }
    return object_link(l, e, r, rel, err);
}

enum ls_rc lwm2m_link_register_parse(const struct lwm2m_link_list *list,
                                     struct lwm2m_link_register *out,
                                     struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    bool seen_alt = false;
    memset(out, 0, sizeof *out);
    out->alt_path = "/";
    size_t n = list->count ? list->count : 1;
    out->paths = malloc(n * sizeof *out->paths);
    out->objects = malloc(n * sizeof *out->objects);
    if (!out->paths || !out->objects) {
        rc = ls_error_set(err, LS_ENOMEM, "link format: out of memory for %zu links", n);
        goto out;
    }
    for (size_t e = 0; e < list->count; e++)
        if ((rc = register_link(&list->links[e], e, out, &seen_alt, err)) != LS_OK)
            goto out;
    merge_objects(out);
out:
    if (rc != LS_OK) {
        lwm2m_link_register_free(out);
        out->alt_path = "/";
    }
    return rc;
}

const char *lwm2m_link_register_version(const struct lwm2m_link_register *r, uint16_t id)
{
    size_t lo = 0, hi = r ? r->n_objects : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->objects[mid].id == id)
            return r->objects[mid].version;
        if (r->objects[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
