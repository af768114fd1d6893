/*
 * tests/unit/web/test_web_openapi.c -- docs/openapi.yaml against the route
 * table of web/http.c, route by route and method by method
 *
 * The document checked is the one compiled into the server (what GET
 * /api/openapi.yaml serves).  Its "paths:" section is read by a small
 * line parser (the layout docs/openapi.yaml's header promises: a path at
 * two spaces, a method at four, "x-lodestar-role" at six).  Every
 * documented operation is turned into a concrete URL ({object} -> 3,
 * {instance} -> 0, {resource} -> 9, {ri} -> 0, any other parameter -> x)
 * and routed exactly as the server routes a request (web_http_route_find):
 * it must reach a route with that method, a literal route must have the
 * same pattern, a device operation (catch-all) must be one web/devops.c
 * accepts, and the documented role may not be below the table's.  Then
 * every route of the table must have been reached by some operation.  The
 * checker is also run on broken copies of the document, to show it fails.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/path.h"
#include "web/web_int.h"

#define MAX_OPS 256
#define MAX_ROUTES 256
#define LINE_MAX_BYTES 512

struct op {
    char path[256];
    char method[8];
    char role[32];
    unsigned line;
};

struct report {
    unsigned problems;
    char text[8192];
};

static void problem(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct report *r, const char *fmt, ...)
{
    size_t n = strlen(r->text);
    va_list ap;
    va_start(ap, fmt);
    if (n < sizeof r->text - 2) {
        vsnprintf(r->text + n, sizeof r->text - n - 1, fmt, ap);
        strcat(r->text, "\n");
    }
    va_end(ap);
    r->problems++;
}

static unsigned indent_of(const char *l)
{
    unsigned n = 0;
    while (l[n] == ' ')
        n++;
    return n;
}

/* "  /api/x:" or "  '/api/x':" -> /api/x in out; false if not a key line. */
static bool key_of(const char *l, char *out, size_t cap)
{
    const char *s = l + indent_of(l);
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n < 2 || s[n - 1] != ':')
        return false;
    n--;
    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0]) {
        s++;
        n -= 2;
    }
    if (n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

static const char *const methods[] = { "get", "put", "post", "delete", "patch", "head",
                                       "options" };

/* The paths section's operations, in document order. */
static size_t parse_ops(const char *text, struct op *ops, size_t cap, struct report *r)
{
    size_t n = 0;
    bool in_paths = false;
    char path[256] = "";
    unsigned lineno = 0;
    for (const char *p = text; *p; ) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char l[LINE_MAX_BYTES];
        snprintf(l, sizeof l, "%.*s", (int)(len < sizeof l ? len : sizeof l - 1), p);
        p += len + (e ? 1 : 0);
        lineno++;
        if (l[0] == '#' || l[indent_of(l)] == '\0' || l[indent_of(l)] == '#')
            continue;
        if (indent_of(l) == 0) {
            in_paths = strcmp(l, "paths:") == 0;
            continue;
        }
        if (!in_paths)
            continue;
        char key[256];
        unsigned ind = indent_of(l);
        if (ind == 2) {
            if (!key_of(l, path, sizeof path) || path[0] != '/')
                problem(r, "line %u: expected a path key", lineno);
        } else if (ind == 4 && key_of(l, key, sizeof key)) {
            bool known = false;
            for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
                known |= strcmp(key, methods[i]) == 0;
            if (!known)
                continue;   /* "parameters:", "summary:" of a path item */
            if (n == cap) {
                problem(r, "too many operations");
                return n;
            }
            snprintf(ops[n].path, sizeof ops[n].path, "%s", path);
            for (size_t i = 0; key[i] && i < sizeof ops[n].method - 1; i++)
                ops[n].method[i] = (char)(key[i] - 'a' + 'A');
            ops[n].method[strlen(key) < sizeof ops[n].method ? strlen(key) : 0] = '\0';
            ops[n].role[0] = '\0';
            ops[n].line = lineno;
            n++;
        } else if (ind == 6 && n && strncmp(l + 6, "x-lodestar-role:", 16) == 0) {
            snprintf(ops[n - 1].role, sizeof ops[n - 1].role, "%.31s", l + 6 + 16 + 1);
        }
    }
    return n;
}

static int role_rank(const char *name)
{
    static const char *const names[] = { "none", "viewer", "operator", "admin" };
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* A documented path with sample values, and its pattern ({name} -> {}). */
static void concretise(const char *doc, char *url, char *pattern, size_t cap)
{
    static const char *const samples[][2] = {
        { "object", "3" }, { "instance", "0" }, { "resource", "9" }, { "ri", "0" },
    };
    size_t u = 0, q = 0;
    for (const char *s = doc; *s && u + 8 < cap && q + 3 < cap; ) {
        if (*s != '{') {
            url[u++] = pattern[q++] = *s++;
            continue;
        }
        const char *end = strchr(s, '}');
        if (!end)
            break;
        const char *v = "x";
        for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
            if (strlen(samples[i][0]) == (size_t)(end - s - 1) &&
                memcmp(samples[i][0], s + 1, (size_t)(end - s - 1)) == 0)
                v = samples[i][1];
        u += (size_t)snprintf(url + u, cap - u, "%s", v);
        pattern[q++] = '{';
        pattern[q++] = '}';
        s = end + 1;
    }
    url[u] = pattern[q] = '\0';
}

/* A device operation: the catch-all's tail must be one devops.c takes. */
static void check_devop(const struct op *o, const char *url, const char *pat,
                        struct report *r)
{
    /* The tail starts after as many '/' in the URL as the pattern has. */
    const char *tail = url;
    for (const char *p = pat; *p && *p != '*'; p++)
        if (*p == '/')
            tail = strchr(tail, '/') + 1;
    struct lwm2m_path lp;
    enum web_devops_suffix suffix;
    char msg[128];
    if (!web_devops_parse_target(tail, &lp, &suffix, msg, sizeof msg)) {
        problem(r, "line %u: %s %s: not a device operation path (%s)", o->line, o->method,
                o->path, msg);
        return;
    }
    if (!web_devops_op_for(o->method, suffix, lp.depth))
        problem(r, "line %u: %s %s: web/devops.c has no operation for it", o->line,
                o->method, o->path);
}

/* Checks ops against the route table; problems go to r. */
static void check_ops(const struct op *ops, size_t n, struct report *r)
{
    bool covered[MAX_ROUTES] = { false };
    size_t nroutes = 0;
    const char *rpath;
    enum store_tokens_role rrole;
    while (web_http_route_at(nroutes, &rpath, &rrole))
        nroutes++;
    ck_assert_uint_le(nroutes, MAX_ROUTES);

    for (size_t i = 0; i < n; i++) {
        const struct op *o = &ops[i];
        char url[512], pattern[512];
        for (size_t j = 0; j < i; j++)
            if (strcmp(ops[j].path, o->path) == 0 && strcmp(ops[j].method, o->method) == 0)
                problem(r, "line %u: %s %s documented twice", o->line, o->method, o->path);
        int rank = role_rank(o->role);
        if (rank < 0)
            problem(r, "line %u: %s %s: x-lodestar-role \"%s\" is not none, viewer, operator "
                    "or admin", o->line, o->method, o->path, o->role);
        concretise(o->path, url, pattern, sizeof url);
        long k = web_http_route_find(o->method, url);
        if (k < 0) {
            problem(r, "line %u: %s %s is documented but not served", o->line, o->method,
                    o->path);
            continue;
        }
        const char *m = web_http_route_at((size_t)k, &rpath, &rrole);
        ck_assert_ptr_nonnull(m);
        covered[k] = true;
        size_t plen = strlen(rpath);
        if (plen && rpath[plen - 1] == '*')
            check_devop(o, url, rpath, r);
        else if (strcmp(pattern, rpath) != 0)
            problem(r, "line %u: %s %s reaches route %s, another pattern", o->line, o->method,
                    o->path, rpath);
        if (rank >= 0 && (rank < (int)rrole || (rank == 0) != (rrole == STORE_TOKENS_NONE)))
            problem(r, "line %u: %s %s: documented role %s, the route table says %s",
                    o->line, o->method, o->path, o->role,
                    rrole == STORE_TOKENS_NONE ? "none" : store_tokens_role_name(rrole));
    }
    for (size_t k = 0; k < nroutes; k++) {
        const char *m = web_http_route_at(k, &rpath, &rrole);
        if (!covered[k])
            problem(r, "%s %s is served but not documented in docs/openapi.yaml", m, rpath);
    }
}

static void check_text(const char *text, struct report *r)
{
    static struct op ops[MAX_OPS];
    memset(r, 0, sizeof *r);
    size_t n = parse_ops(text, ops, MAX_OPS, r);
    if (n == 0)
        problem(r, "no operations under paths:");
    check_ops(ops, n, r);
}

/* Problems in the unedited document (0 when it is right; the tests of
 * broken copies count what their edit adds). */
static unsigned baseline(void)
{
    static struct report r;
    size_t len;
    check_text(web_openapi_text(&len), &r);
    return r.problems;
}

/* The compiled-in document with `from` replaced by `to` (once). */
static char *edited(const char *from, const char *to)
{
    size_t len;
    const char *t = web_openapi_text(&len);
    const char *at = strstr(t, from);
    ck_assert_msg(at != NULL, "\"%s\" is not in the document", from);
    char *out = malloc(len + strlen(to) + 1);
    ck_assert_ptr_nonnull(out);
    size_t pre = (size_t)(at - t);
    memcpy(out, t, pre);
    strcpy(out + pre, to);
    strcat(out, at + strlen(from));
    return out;
}

START_TEST(document_matches_routes)
{
    size_t len;
    const char *t = web_openapi_text(&len);
    ck_assert_uint_gt(len, 1000);
    ck_assert_uint_eq(strlen(t), len);
    ck_assert(strncmp(t, "# SPDX", 6) == 0);
    ck_assert_ptr_nonnull(strstr(t, "\nopenapi: 3.1.0\n"));
    static struct report r;
    check_text(t, &r);
    ck_assert_msg(r.problems == 0, "%u problem(s):\n%s", r.problems, r.text);
}
END_TEST

START_TEST(missing_route_is_found)
{
    unsigned base = baseline();
    char *t = edited("  /api/whoami:\n    get:", "  /api/whoami:\n    x-get:");
    static struct report r;
    check_text(t, &r);
    free(t);
    ck_assert_uint_eq(r.problems, base + 1);
    ck_assert_ptr_nonnull(strstr(r.text, "GET /api/whoami is served but not documented"));
}
END_TEST

START_TEST(unserved_route_is_found)
{
    unsigned base = baseline();
    char *t = edited("  /api/whoami:\n", "  /api/nowhere/{id}:\n    post:\n"
                     "      x-lodestar-role: admin\n      responses: {}\n  /api/whoami:\n");
    static struct report r;
    check_text(t, &r);
    free(t);
    ck_assert_uint_eq(r.problems, base + 1);
    ck_assert_ptr_nonnull(strstr(r.text, "POST /api/nowhere/{id} is documented but not served"));
}
END_TEST

START_TEST(wrong_method_and_bad_devop_are_found)
{
    unsigned base = baseline();
    /* POST on an instance is not an operation web/devops.c has (Create
     * is on an object, Execute on a resource), though the catch-all route
     * takes the method. */
    char *t = edited("  /api/audit:\n    get:", "  /api/audit:\n    put:");
    static struct report r;
    check_text(t, &r);
    free(t);
    ck_assert_uint_eq(r.problems, base + 2);   /* PUT not served; GET not documented */
    t = edited("  /api/devices/{ep}/{object}/{instance}:\n    get:",
               "  /api/devices/{ep}/{object}/{instance}:\n    post:\n"
               "      x-lodestar-role: operator\n    get:");
    check_text(t, &r);
    free(t);
    ck_assert_uint_eq(r.problems, base + 1);
    ck_assert_ptr_nonnull(strstr(r.text, "web/devops.c has no operation"));
}
END_TEST

START_TEST(lowered_role_is_found)
{
    unsigned base = baseline();
    char *t = edited("operationId: listAudit\n      summary: The audit log, newest first\n"
                     "      x-lodestar-role: admin",
                     "operationId: listAudit\n      summary: The audit log, newest first\n"
                     "      x-lodestar-role: viewer");
    static struct report r;
    check_text(t, &r);
    free(t);
    ck_assert_uint_eq(r.problems, base + 1);
    ck_assert_ptr_nonnull(strstr(r.text, "documented role viewer, the route table says admin"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("web_openapi");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, document_matches_routes);
    tcase_add_test(tc, missing_route_is_found);
    tcase_add_test(tc, unserved_route_is_found);
    tcase_add_test(tc, wrong_method_and_bad_devop_are_found);
    tcase_add_test(tc, lowered_role_is_found);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
