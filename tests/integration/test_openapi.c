/*
 * tests/integration/test_openapi.c -- GET /api/openapi.yaml and the route
 * table against a running lodestar-server
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).  The document
 * is served to any token (viewer and up), byte for byte the committed
 * docs/openapi.yaml, as YAML; without a token it is 401 like every /api
 * route.  Then every route of web/http.c's table (web_http_route_at) is
 * called on the live server with no token: an authenticated route must
 * answer 401 (429 once the address has failed too often) and an open one
 * 200 -- never 404 or 405 -- which shows the
 * table the unit test web_openapi compares with the document is the one
 * the server routes by (an unknown route is 404 for everyone, because
 * routing runs before auth).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_server.h"
#include "web/web_int.h"

static int call(const struct harness_server *s, const char *method, const char *path,
                const char *token, struct harness_http_response *r)
{
    char url[1024], auth[128];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = { auth, NULL };
    return harness_http_request(method, url, token ? headers : NULL, NULL, 0, 10000, r);
}

static char *read_doc(size_t *len)
{
    const char *root = getenv("LODESTAR_SOURCE_ROOT");
    ck_assert_ptr_nonnull(root);
    char path[512];
    snprintf(path, sizeof path, "%s/docs/openapi.yaml", root);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_gt(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void viewer_token(const struct harness_server *s, char *secret)
{
    char url[256];
    snprintf(url, sizeof url, "%s/api/tokens", s->base);
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    const char *body = "{\"name\":\"openapi-viewer\",\"role\":\"viewer\"}";
    struct harness_http_response r;
    ck_assert_int_eq(harness_http_request("POST", url, headers, body, strlen(body), 10000, &r),
                     201);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    snprintf(secret, 65, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    harness_http_response_free(&r);
}

START_TEST(test_openapi_document_is_served)
{
    struct harness_server s;
    struct harness_server_options o = { 0 };
    harness_server_start(&s, &o);
    size_t len;
    char *doc = read_doc(&len);
    char viewer[65], ctype[128];
    viewer_token(&s, viewer);

    struct harness_http_response r;
    ck_assert_int_eq(call(&s, "GET", "/api/openapi.yaml", NULL, &r), 401);
    harness_http_response_free(&r);

    const char *tokens[] = { s.admin, viewer };
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(call(&s, "GET", "/api/openapi.yaml", tokens[i], &r), 200);
        ck_assert(harness_http_header(&r, "Content-Type", ctype, sizeof ctype));
        ck_assert_str_eq(ctype, "application/yaml; charset=utf-8");
        ck_assert_uint_eq(r.body_len, len);
        ck_assert_msg(memcmp(r.body, doc, len) == 0,
                      "the served document is not docs/openapi.yaml");
        harness_http_response_free(&r);
    }
    ck_assert_int_eq(call(&s, "POST", "/api/openapi.yaml", s.admin, &r), 405);
    harness_http_response_free(&r);
    free(doc);
    harness_server_stop(&s);
}
END_TEST

/* A route pattern with sample segments: "{}" -> x, a final "*" -> 3/0/9. */
static void concrete(const char *pattern, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 8 < cap; p++) {
        if (p[0] == '{' && p[1] == '}') {
            out[n++] = 'x';
            p++;
        } else if (p[0] == '*') {
            memcpy(out + n, "3/0/9", 5);
            n += 5;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

START_TEST(test_openapi_every_table_route_is_live)
{
    struct harness_server s;
    struct harness_server_options o = { 0 };
    harness_server_start(&s, &o);
    const char *pattern;
    enum store_tokens_role role;
    const char *method;
    size_t i = 0;
    for (; (method = web_http_route_at(i, &pattern, &role)) != NULL; i++) {
        char path[256];
        struct harness_http_response r;
        concrete(pattern, path, sizeof path);
        int st = call(&s, method, path, NULL, &r);
        /* 429: the address earned too many 401s (web/auth.c); that is
         * decided after routing too. */
        bool ok = role == STORE_TOKENS_NONE ? st == 200 : st == 401 || st == 429;
        ck_assert_msg(ok, "%s %s (route %s): %d, want %s: %s", method, path, pattern, st,
                      role == STORE_TOKENS_NONE ? "200" : "401 or 429", r.body ? r.body : "");
        harness_http_response_free(&r);
    }
    ck_assert_uint_gt(i, 30);
    /* and the control: a path no route has is 404 even without a token */
    struct harness_http_response r;
    ck_assert_int_eq(call(&s, "GET", "/api/no-such-route", NULL, &r), 404);
    harness_http_response_free(&r);
    harness_server_stop(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integration_openapi");
    TCase *tc = tcase_create("openapi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_openapi_document_is_served);
    tcase_add_test(tc, test_openapi_every_table_route_is_live);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();
    int failed = harness_run_suite(suite());
    harness_pg_ensure_running();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
