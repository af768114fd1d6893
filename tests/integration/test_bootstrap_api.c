/*
 * tests/integration/test_bootstrap_api.c -- bootstrap configurations
 * through lodestar-server's REST API, as a process against a real
 * PostgreSQL
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).  Each test
 * gets a fresh migrated database (harness_db) and its own server with a
 * random --admin-token on ephemeral ports, so the one "default"
 * configuration of one test never meets another's.  What the API stored is
 * resolved with store_bsconfigs_resolve on the same database, the call
 * lodestar-bootstrap makes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "store/bsconfigs.h"
#include "store/store.h"

#define STOP_MS 10000
#define PSK_KEY "000102030405060708090a0b0c0d0e0f"   /* a configured key: a secret */

static void start(struct harness_server *s)
{
    struct harness_server_options o = { .db_prefix = "lodestar_bsapi", .migrate = true,
                                        .who = "test_bootstrap_api", .stop_ms = STOP_MS };
    harness_server_start(s, &o);
}

static void stop(struct harness_server *s)
{
    char *err = harness_proc_stderr(s->proc);
    /* Neither the admin secret nor a configured key ever reaches the log. */
    ck_assert_ptr_null(strstr(err, s->admin));
    ck_assert_ptr_null(strstr(err, PSK_KEY));
    free(err);
    harness_server_stop(s);
}

/* One request with a content type; token NULL sends no Authorization. */
static int call_ct(const struct harness_server *s, const char *method, const char *path,
                   const char *token, const char *ctype, const char *body,
                   struct harness_http_response *r)
{
    char url[2048], auth[256], ct[128];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    const char *headers[] = { auth, ct, NULL };
    return harness_http_request(method, url, token ? headers : headers + 1, body,
                                body ? strlen(body) : 0, 30000, r);
}

/* A JSON request expecting want_status; the parsed body (caller decrefs),
 * or NULL for an empty one. */
static json_t *call_json(const struct harness_server *s, const char *method, const char *path,
                         const char *token, const char *ctype, const char *body,
                         int want_status)
{
    struct harness_http_response r;
    int st = call_ct(s, method, path, token, ctype, body, &r);
    ck_assert_msg(st == want_status, "%s %s: status %d, want %d: %s", method, path, st,
                  want_status, r.body ? r.body : "");
    json_t *j = r.body_len ? json_loads(r.body, 0, NULL) : NULL;
    ck_assert_msg(j != NULL || r.body_len == 0, "%s %s: not JSON: %s", method, path, r.body);
    harness_http_response_free(&r);
    return j;
}

static json_t *api(const struct harness_server *s, const char *method, const char *path,
                   const char *body, int want_status)
{
    return call_json(s, method, path, s->admin, "application/json", body, want_status);
}

/* Asserts a 400-class error whose message starts with field. */
static void error_names(json_t *j, const char *code, const char *field)
{
    json_t *e = json_object_get(j, "error");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strncmp(msg, field, strlen(field)) == 0, "message \"%s\" does not start "
                  "with \"%s\"", msg, field);
    json_decref(j);
}

static void put_expect(const struct harness_server *s, const char *name, const char *body,
                       int want_status, const char *want_kind)
{
    char path[512];
    snprintf(path, sizeof path, "/api/bootstrap/configs/%s", name);
    json_t *j = api(s, "PUT", path, body, want_status);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), name);
    ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), want_kind);
    json_decref(j);
}

/* A small valid body with a member "description" = tag. */
static void body_for(char *out, size_t cap, const char *keyfield, const char *keyval,
                     const char *tag)
{
    char kv[320] = "";
    if (keyfield)
        snprintf(kv, sizeof kv, "\"%s\": \"%s\", ", keyfield, keyval);
    snprintf(out, cap,
             "{%s\"description\": \"%s\", \"delete\": [\"/0\", \"/1\"],"
             " \"servers\": [{\"uri\": \"coaps://127.0.0.1:5684\", \"ssid\": 101,"
             " \"security\": \"psk\", \"credentials\": \"issue\", \"lifetime\": 300,"
             " \"binding\": \"U\"}]}",
             kv, tag);
}

/* store_bsconfigs_resolve on the server's database: want is the winner's
 * name, desc its body's "description" (NULL: the same as want). */
static void resolves_to_desc(const struct harness_server *s, const char *ep, const char *want,
                             const char *desc)
{
    struct ls_error err = { 0 };
    struct store *st = store_open(s->db.conninfo, &err);
    ck_assert_ptr_nonnull(st);
    char *name = NULL, *body = NULL;
    enum ls_rc rc = store_bsconfigs_resolve(st, ep, &name, &body, &err);
    if (!want) {
        ck_assert_int_eq(rc, LS_ENOTFOUND);
    } else {
        ck_assert_msg(rc == LS_OK, "%s: %s", ep, err.msg);
        ck_assert_msg(strcmp(name, want) == 0, "%s resolved to %s, want %s", ep, name, want);
        char tag[300];
        snprintf(tag, sizeof tag, "\"description\": \"%s\"", desc ? desc : want);
        ck_assert_msg(strstr(body, tag) != NULL, "body of %s: %s", want, body);
    }
    free(name);
    free(body);
    store_close(st);
}

static void resolves_to(const struct harness_server *s, const char *ep, const char *want)
{
    resolves_to_desc(s, ep, want, NULL);
}

START_TEST(test_bsapi_crud_kinds_and_resolution)
{
    struct harness_server s;
    start(&s);
    char body[1024];
    resolves_to(&s, "urn:imei:350000000000001", NULL);
    body_for(body, sizeof body, NULL, NULL, "default");
    put_expect(&s, "default", body, 201, "default");
    put_expect(&s, "default", body, 200, "default");           /* replaced */
    resolves_to(&s, "urn:imei:350000000000001", "default");
    body_for(body, sizeof body, "match", "urn:imei:35*", "imei-35");
    put_expect(&s, "imei-35", body, 201, "template");
    body_for(body, sizeof body, "match", "urn:imei:3[0-9]*", "imei-3x");
    put_expect(&s, "imei-3x", body, 201, "template");           /* same priority: name */
    resolves_to(&s, "urn:imei:350000000000001", "imei-35");
    resolves_to(&s, "urn:imei:360000000000001", "imei-3x");
    resolves_to(&s, "urn:dev:mac:0001", "default");
    /* A lower priority number comes first. */
    snprintf(body, sizeof body, "{\"match\": \"urn:imei:3?0*\", \"priority\": 10,"
             " \"description\": \"zz-early\", \"servers\": []}");
    put_expect(&s, "zz-early", body, 201, "template");
    resolves_to(&s, "urn:imei:350000000000001", "zz-early");
    body_for(body, sizeof body, "endpoint", "urn:imei:350000000000001", "dev-1");
    put_expect(&s, "dev-1", body, 201, "device");
    resolves_to(&s, "urn:imei:350000000000001", "dev-1");
    resolves_to(&s, "urn:imei:350000000000002", "zz-early");

    /* The list: summaries with kind, endpoint/match, priority, updated_at. */
    json_t *j = api(&s, "GET", "/api/bootstrap/configs", NULL, 200);
    json_t *list = json_object_get(j, "configs");
    ck_assert_uint_eq(json_array_size(list), 5);
    ck_assert(json_is_null(json_object_get(j, "next")));
    json_t *first = json_array_get(list, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "name")), "default");
    ck_assert_str_eq(json_string_value(json_object_get(first, "kind")), "default");
    ck_assert_ptr_nonnull(json_object_get(first, "updated_at"));
    ck_assert_ptr_null(json_object_get(first, "body"));
    json_t *dev = json_array_get(list, 1);
    ck_assert_str_eq(json_string_value(json_object_get(dev, "kind")), "device");
    ck_assert_str_eq(json_string_value(json_object_get(dev, "endpoint")),
                     "urn:imei:350000000000001");
    json_decref(j);
    j = api(&s, "GET", "/api/bootstrap/configs?kind=template&limit=2", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "configs")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(j, "next")), "imei-3x");
    json_decref(j);
    j = api(&s, "GET", "/api/bootstrap/configs?kind=template&after=imei-3x", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "configs")), 1);
    json_decref(j);

    /* One configuration, then gone. */
    j = api(&s, "GET", "/api/bootstrap/configs/imei-35", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "match")), "urn:imei:35*");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "priority")), 100);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "body"), "servers"));
    json_decref(j);
    json_decref(api(&s, "DELETE", "/api/bootstrap/configs/zz-early", NULL, 204));
    error_names(api(&s, "DELETE", "/api/bootstrap/configs/zz-early", NULL, 404), "not_found",
                "no bootstrap configuration");
    error_names(api(&s, "GET", "/api/bootstrap/configs/zz-early", NULL, 404), "not_found",
                "no bootstrap configuration");
    resolves_to(&s, "urn:imei:350000000000002", "imei-35");
    /* A template turns into a device configuration by its body alone. */
    body_for(body, sizeof body, "endpoint", "urn:imei:350000000000002", "imei-35");
    put_expect(&s, "imei-35", body, 200, "device");
    resolves_to(&s, "urn:imei:350000000000003", "imei-3x");
    stop(&s);
}
END_TEST

START_TEST(test_bsapi_validation_names_fields)
{
    struct harness_server s;
    start(&s);
    char body[1024];
    const char *p = "/api/bootstrap/configs/bad";
    error_names(api(&s, "PUT", p, "{\"endpoint\": \"d\", \"servers\": [{\"uri\": "
                    "\"coaps://h:5684\", \"ssid\": 0, \"credentials\": \"issue\"}]}", 400),
                "bad_request", "servers[0].ssid");
    error_names(api(&s, "PUT", p, "{\"endpoint\": \"d\", \"servers\": [{\"uri\": "
                    "\"http://h\", \"ssid\": 1}]}", 400),
                "bad_request", "servers[0].uri");
    error_names(api(&s, "PUT", p, "{\"endpoint\": \"d\", \"delete\": [\"/3/0\"]}", 400),
                "bad_request", "delete[0]");
    error_names(api(&s, "PUT", p, "{\"endpoint\": \"d\", \"sevrers\": []}", 400),
                "bad_request", "sevrers");
    error_names(api(&s, "PUT", p, "{\"endpoint\": 5}", 400), "bad_request", "endpoint");
    error_names(api(&s, "PUT", p, "{\"endpoint\": \"d\", \"priority\": \"x\"}", 400),
                "bad_request", "priority");
    error_names(api(&s, "PUT", p, "{\"endpoint\": ", 400), "bad_request", "json");
    error_names(api(&s, "PUT", p, "[]", 400), "bad_request", "json");
    error_names(api(&s, "PUT", p, NULL, 400), "bad_request", "the body");
    /* Kinds: default has neither; others need one; never both. */
    body_for(body, sizeof body, "endpoint", "d", "x");
    error_names(api(&s, "PUT", "/api/bootstrap/configs/default", body, 400), "bad_request",
                "endpoint");
    body_for(body, sizeof body, "match", "d*", "x");
    error_names(api(&s, "PUT", "/api/bootstrap/configs/default", body, 400), "bad_request",
                "match");
    body_for(body, sizeof body, NULL, NULL, "x");
    error_names(api(&s, "PUT", p, body, 400), "bad_request", "endpoint");
    error_names(api(&s, "PUT", p, "{\"endpoint\": \"d\", \"match\": \"d*\"}", 400),
                "bad_request", "match");
    /* One configuration per device: another name for it conflicts. */
    body_for(body, sizeof body, "endpoint", "dev-9", "a");
    put_expect(&s, "a", body, 201, "device");
    error_names(api(&s, "PUT", "/api/bootstrap/configs/b", body, 409), "conflict", "endpoint");
    /* Nothing invalid was stored. */
    json_t *j = api(&s, "GET", "/api/bootstrap/configs", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "configs")), 1);
    json_decref(j);
    error_names(api(&s, "GET", "/api/bootstrap/configs?limit=0", NULL, 400), "bad_request",
                "limit");
    error_names(api(&s, "GET", "/api/bootstrap/configs?kind=x", NULL, 400), "bad_request",
                "kind");
    stop(&s);
}
END_TEST

static void create_token(const struct harness_server *s, const char *role, char *secret)
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"bs-%s\",\"role\":\"%s\"}", role, role);
    json_t *j = api(s, "POST", "/api/tokens", body, 201);
    strcpy(secret, json_string_value(json_object_get(j, "token")));
    json_decref(j);
}

START_TEST(test_bsapi_auth_routes_and_secrets)
{
    struct harness_server s;
    start(&s);
    char viewer[65], operator[65], body[1024];
    create_token(&s, "viewer", viewer);
    create_token(&s, "operator", operator);
    snprintf(body, sizeof body,
             "{\"endpoint\": \"dev-k\", \"bootstrap_account\": {\"uri\": "
             "\"coaps://127.0.0.1:5784\", \"security\": \"psk\", \"identity\": \"bs-dev-k\","
             " \"key\": \"" PSK_KEY "\"}, \"servers\": [{\"uri\": \"coaps://127.0.0.1:5684\","
             " \"ssid\": 101, \"security\": \"psk\", \"credentials\": {\"identity\":"
             " \"dev-k\", \"key\": \"" PSK_KEY "\"}}]}");
    put_expect(&s, "dev-k", body, 201, "device");
    /* Configurations hold keys: only an admin reads them, viewers not even the list. */
    const char *low[] = { viewer, operator };
    const struct { const char *method, *path; } admin_only[] = {
        { "GET", "/api/bootstrap/configs" }, { "GET", "/api/bootstrap/configs/dev-k" },
        { "PUT", "/api/bootstrap/configs/dev-k" }, { "DELETE", "/api/bootstrap/configs/dev-k" },
        { "POST", "/api/bootstrap/configs:import" },
    };
    for (size_t i = 0; i < sizeof admin_only / sizeof admin_only[0]; i++) {
        for (size_t k = 0; k < 2; k++)
            error_names(call_json(&s, admin_only[i].method, admin_only[i].path, low[k],
                                  "application/json", body, 403),
                        "forbidden", "");
        error_names(call_json(&s, admin_only[i].method, admin_only[i].path, NULL,
                              "application/json", body, 401),
                    "unauthorized", "");
    }
    /* GET masks every key; ?secrets=true shows them (and is audited). */
    struct harness_http_response r;
    ck_assert_int_eq(call_ct(&s, "GET", "/api/bootstrap/configs/dev-k", s.admin,
                             "application/json", NULL, &r), 200);
    ck_assert_ptr_null(strstr(r.body, PSK_KEY));
    ck_assert_ptr_nonnull(strstr(r.body, "\"key\":\"********\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"identity\":\"dev-k\""));
    harness_http_response_free(&r);
    ck_assert_int_eq(call_ct(&s, "PUT", "/api/bootstrap/configs/dev-k", s.admin,
                             "application/json", body, &r), 200);
    ck_assert_ptr_null(strstr(r.body, PSK_KEY));
    harness_http_response_free(&r);
    ck_assert_int_eq(call_ct(&s, "GET", "/api/bootstrap/configs/dev-k?secrets=true", s.admin,
                             "application/json", NULL, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, PSK_KEY));
    harness_http_response_free(&r);
    error_names(api(&s, "GET", "/api/bootstrap/configs/dev-k?secrets=yes", NULL, 400),
                "bad_request", "secrets");
    /* ":import" is a route of its own, not a configuration name. */
    error_names(api(&s, "GET", "/api/bootstrap/configs:import", NULL, 405),
                "method_not_allowed", "");
    error_names(api(&s, "PUT", "/api/bootstrap/configs:import", body, 405),
                "method_not_allowed", "");
    error_names(api(&s, "POST", "/api/bootstrap/configs", body, 405), "method_not_allowed",
                "");
    /* A name may hold any character, percent-encoded. */
    snprintf(body, sizeof body, "{\"match\": \"a/b*\", \"servers\": []}");
    json_t *j = api(&s, "PUT", "/api/bootstrap/configs/a%2Fb%3Aimport", body, 201);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "a/b:import");
    json_decref(j);
    stop(&s);
}
END_TEST

/* A JSON import of n devices urn:imei:35<13 digits>, from template tpl. */
static char *import_json(int n, int bad_at)
{
    size_t cap = (size_t)n * 96 + 64, len = 1;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    s[0] = '[';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"endpoint\":\"urn:imei:35%013d\",\"template\":\"tpl\"%s}",
                                i ? "," : "", i, i == bad_at ? ",\"lifetime\":5" : "");
    snprintf(s + len, cap - len, "]");
    return s;
}

static long long count_configs(const struct harness_server *s)
{
    char out[32];
    harness_db_value(s->db.conninfo, "SELECT count(*) FROM bootstrap_configs", NULL, out,
                     sizeof out);
    return atoll(out);
}

START_TEST(test_bsapi_import_json_10000)
{
    struct harness_server s;
    start(&s);
    char body[1024];
    body_for(body, sizeof body, "match", "urn:imei:*", "tpl");
    put_expect(&s, "tpl", body, 201, "template");
    char *items = import_json(10000, -1);
    int64_t t0 = harness_now_ms();
    json_t *j = api(&s, "POST", "/api/bootstrap/configs:import", items, 200);
    int64_t ms = harness_now_ms() - t0;
    free(items);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "imported")), 10000);
    json_decref(j);
    fprintf(stderr, "bootstrap import: 10000 devices (JSON, template) in %lld ms\n",
            (long long)ms);
    ck_assert_msg(ms < 5000, "import took %lld ms", (long long)ms);
    ck_assert_int_eq(count_configs(&s), 10001);
    /* Each is a device configuration copied from the template. */
    j = api(&s, "GET", "/api/bootstrap/configs/urn:imei:350000000009999", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "kind")), "device");
    json_t *b = json_object_get(j, "body");
    ck_assert_str_eq(json_string_value(json_object_get(b, "endpoint")),
                     "urn:imei:350000000009999");
    ck_assert_ptr_null(json_object_get(b, "match"));
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(b, "servers"), 0), "ssid")), 101);
    json_decref(j);

    /* One bad row (an unknown member at [7777]): 400 naming it, nothing imported. */
    items = import_json(10000, 7777);
    for (char *p = items; (p = strstr(p, "urn:imei:35")); p += 11)
        p[9] = '4';                                 /* new names: urn:imei:45... */
    error_names(api(&s, "POST", "/api/bootstrap/configs:import", items, 400), "bad_request",
                "[7777]: lifetime");
    free(items);
    ck_assert_int_eq(count_configs(&s), 10001);
    /* Duplicates within one import and unknown templates name their item. */
    error_names(api(&s, "POST", "/api/bootstrap/configs:import",
                    "[{\"endpoint\":\"a\",\"template\":\"tpl\"},"
                    "{\"endpoint\":\"a\",\"template\":\"tpl\"}]", 400),
                "bad_request", "[1]: endpoint \"a\" appears twice");
    error_names(api(&s, "POST", "/api/bootstrap/configs:import",
                    "[{\"endpoint\":\"a\",\"template\":\"nope\"}]", 400),
                "bad_request", "[0]: template");
    error_names(api(&s, "POST", "/api/bootstrap/configs:import", "[{\"template\":\"tpl\"}]",
                    400),
                "bad_request", "[0]: endpoint");
    error_names(api(&s, "POST", "/api/bootstrap/configs:import",
                    "[{\"endpoint\":\"a\",\"match\":\"x*\"}]", 400),
                "bad_request", "[0]: match");
    error_names(api(&s, "POST", "/api/bootstrap/configs:import", "{\"endpoint\":\"a\"}", 400),
                "bad_request", "the body must be a JSON list");
    /* A name taken by a template: 409, nothing imported. */
    error_names(api(&s, "POST", "/api/bootstrap/configs:import",
                    "[{\"endpoint\":\"b\",\"template\":\"tpl\"},"
                    "{\"name\":\"tpl\",\"endpoint\":\"c\",\"template\":\"tpl\"}]", 409),
                "conflict", "name \"tpl\"");
    ck_assert_int_eq(count_configs(&s), 10001);
    resolves_to_desc(&s, "urn:imei:350000000004242", "urn:imei:350000000004242", "tpl");
    stop(&s);
}
END_TEST

START_TEST(test_bsapi_import_csv)
{
    struct harness_server s;
    start(&s);
    char body[1024];
    body_for(body, sizeof body, "match", "x*", "tpl");
    put_expect(&s, "tpl", body, 201, "template");
    /* 10 000 rows with a configured PSK each, quoted fields, CRLF. */
    size_t cap = 10000 * 160 + 256, len = 0;
    char *csv = malloc(cap);
    ck_assert_ptr_nonnull(csv);
    len += (size_t)snprintf(csv + len, cap - len,
                            "endpoint,server_uri,ssid,security,identity,key,lifetime\r\n");
    for (int i = 0; i < 10000; i++)
        len += (size_t)snprintf(csv + len, cap - len,
                                "urn:imei:35%013d,coaps://127.0.0.1:5684,101,psk,"
                                "\"id,%d\",%032x,300\r\n", i, i, i);
    int64_t t0 = harness_now_ms();
    json_t *j = call_json(&s, "POST", "/api/bootstrap/configs:import", s.admin, "text/csv",
                          csv, 200);
    int64_t ms = harness_now_ms() - t0;
    ck_assert_int_eq(json_integer_value(json_object_get(j, "imported")), 10000);
    json_decref(j);
    fprintf(stderr, "bootstrap import: 10000 devices (CSV, own PSK) in %lld ms\n",
            (long long)ms);
    ck_assert_int_eq(count_configs(&s), 10001);
    j = api(&s, "GET", "/api/bootstrap/configs/urn:imei:350000000000042?secrets=true", NULL,
            200);
    json_t *srv = json_array_get(json_object_get(json_object_get(j, "body"), "servers"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(srv, "credentials"), "identity")), "id,42");
    ck_assert_int_eq(json_integer_value(json_object_get(srv, "lifetime")), 300);
    json_decref(j);
    /* A bad row in the middle names its line; nothing is imported. */
    char *row = strstr(csv, "urn:imei:350000000005000,");
    ck_assert_ptr_nonnull(row);
    memcpy(strstr(row, ",101,") + 1, "0x1", 3);     /* ssid "0x1" on line 5002 */
    for (char *p = csv; (p = strstr(p, "urn:imei:35")); p += 11)
        p[9] = '4';
    error_names(call_json(&s, "POST", "/api/bootstrap/configs:import", s.admin, "text/csv",
                          csv, 400),
                "bad_request", "line 5002: ssid");
    free(csv);
    ck_assert_int_eq(count_configs(&s), 10001);
    /* Templates and names by CSV; a template's servers are kept without server columns. */
    j = call_json(&s, "POST", "/api/bootstrap/configs:import", s.admin, "text/csv",
                  "endpoint,template,name\n\"dev \"\"q\"\"\",tpl,named\ndev-2,tpl,\n", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "imported")), 2);
    json_decref(j);
    resolves_to_desc(&s, "dev \"q\"", "named", "tpl");
    j = api(&s, "GET", "/api/bootstrap/configs/named", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "endpoint")), "dev \"q\"");
    json_decref(j);
    /* Malformed CSV, each naming its line. */
    const struct { const char *csv, *want; } bad[] = {
        { "endpoint,colour\na,b\n", "line 1: unknown column" },
        { "name\na\n", "line 1: the header needs" },
        { "endpoint,endpoint\na,a\n", "line 1: column" },
        { "endpoint,template\na,tpl\nb\n", "line 3: 1 fields" },
        { "endpoint\n\"a\nb\n", "line 2: a quoted field" },
        { "endpoint\na\"b\n", "line 2: a quote" },
        { "endpoint,ssid\na,5\n", "line 2: server_uri" },
        { "endpoint,server_uri,identity\na,coaps://h:5684,x\n", "line 2: key" },
        { "", "the body is empty" },
        { "\n\n", "line 1: the CSV needs" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        error_names(call_json(&s, "POST", "/api/bootstrap/configs:import", s.admin,
                              "text/csv; charset=utf-8", bad[i].csv, 400),
                    "bad_request", bad[i].want);
    ck_assert_int_eq(count_configs(&s), 10003);
    stop(&s);
}
END_TEST

START_TEST(test_bsapi_sessions_list)
{
    struct harness_server s;
    start(&s);
    char viewer[65];
    create_token(&s, "viewer", viewer);
    ck_assert_int_eq(harness_psql(s.db.conninfo,
        "INSERT INTO endpoints (name, origin) VALUES ('dev:s/1', 'bootstrap');"
        "INSERT INTO bootstrap_sessions (endpoint, config_name, address, started_at,"
        " finished_at, outcome, detail) VALUES"
        " ('dev:s/1', 'default', '127.0.0.1:4000', now() - interval '2 min',"
        "  now() - interval '2 min', 'failed', '{\"cause\": \"write /0/1: 4.00\"}'),"
        " ('dev:s/1', 'imei-35', '127.0.0.1:4001', now() - interval '1 min',"
        "  now() - interval '1 min', 'success', '{}')"), 0);
    /* A viewer may read sessions (no keys in them), newest first. */
    json_t *j = call_json(&s, "GET", "/api/devices/dev%3As%2F1/bootstrap-sessions", viewer,
                          "application/json", NULL, 200);
    json_t *list = json_object_get(j, "sessions");
    ck_assert_uint_eq(json_array_size(list), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "outcome")),
                     "success");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "outcome")),
                     "failed");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 1), "endpoint")),
                     "dev:s/1");
    json_decref(j);
    j = call_json(&s, "GET", "/api/devices/dev%3As%2F1/bootstrap-sessions?limit=1", viewer,
                  "application/json", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "sessions")), 1);
    json_decref(j);
    j = call_json(&s, "GET", "/api/devices/nobody/bootstrap-sessions", viewer,
                  "application/json", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "sessions")), 0);
    json_decref(j);
    error_names(call_json(&s, "GET", "/api/devices/dev-1/bootstrap-sessions?limit=0", viewer,
                          "application/json", NULL, 400),
                "bad_request", "limit");
    error_names(call_json(&s, "GET", "/api/devices/dev-1/bootstrap-sessions", NULL,
                          "application/json", NULL, 401),
                "unauthorized", "");
    /* Every device's, most recently recorded first, and by outcome. */
    ck_assert_int_eq(harness_psql(s.db.conninfo,
        "INSERT INTO endpoints (name, origin) VALUES ('dev-2', 'bootstrap');"
        "INSERT INTO bootstrap_sessions (endpoint, address, started_at, finished_at, outcome)"
        " VALUES ('dev-2', '127.0.0.1:4002', now(), now(), 'timeout')"), 0);
    j = call_json(&s, "GET", "/api/bootstrap/sessions", viewer, "application/json", NULL, 200);
    list = json_object_get(j, "sessions");
    ck_assert_uint_eq(json_array_size(list), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "endpoint")),
                     "dev-2");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 2), "cause")),
                     "write /0/1: 4.00");
    json_decref(j);
    j = call_json(&s, "GET", "/api/bootstrap/sessions?outcome=failed&limit=5", viewer,
                  "application/json", NULL, 200);
    list = json_object_get(j, "sessions");
    ck_assert_uint_eq(json_array_size(list), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "endpoint")),
                     "dev:s/1");
    json_decref(j);
    j = call_json(&s, "GET", "/api/devices/dev%3As%2F1/bootstrap-sessions?outcome=success",
                  viewer, "application/json", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "sessions")), 1);
    json_decref(j);
    error_names(call_json(&s, "GET", "/api/bootstrap/sessions?outcome=maybe", viewer,
                          "application/json", NULL, 400),
                "bad_request", "outcome");
    error_names(call_json(&s, "GET", "/api/bootstrap/sessions", NULL,
                          "application/json", NULL, 401),
                "unauthorized", "");
    stop(&s);
}
END_TEST

/* Every configuration change is in the audit log, without keys. */
START_TEST(test_bsapi_changes_audited)
{
    struct harness_server s;
    start(&s);
    char body[1024];
    body_for(body, sizeof body, NULL, NULL, "default");
    put_expect(&s, "default", body, 201, "default");
    put_expect(&s, "default", body, 200, "default");
    json_decref(api(&s, "POST", "/api/bootstrap/configs:import",
                    "[{\"endpoint\":\"a\",\"template\":\"default\"}]", 200));
    json_decref(api(&s, "GET", "/api/bootstrap/configs/a?secrets=true", NULL, 200));
    json_decref(api(&s, "DELETE", "/api/bootstrap/configs/a", NULL, 204));
    char out[512];
    harness_db_value(s.db.conninfo,
                     "SELECT string_agg(action || ':' || coalesce(target, '-') || ':' ||"
                     " coalesce(actor, '-'), ',' ORDER BY id) FROM audit_log"
                     " WHERE action LIKE $1",
                     "bootstrap.%", out, sizeof out);
    ck_assert_str_eq(out, "bootstrap.config.create:default:admin (--admin-token),"
                          "bootstrap.config.replace:default:admin (--admin-token),"
                          "bootstrap.config.import:-:admin (--admin-token),"
                          "bootstrap.config.reveal:a:admin (--admin-token),"
                          "bootstrap.config.delete:a:admin (--admin-token)");
    harness_db_value(s.db.conninfo, "SELECT detail->>'imported' FROM audit_log"
                     " WHERE action = $1", "bootstrap.config.import", out, sizeof out);
    ck_assert_str_eq(out, "1");
    stop(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integration_bootstrap_api");
    TCase *tc = tcase_create("bootstrap_api");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_bsapi_crud_kinds_and_resolution);
    tcase_add_test(tc, test_bsapi_validation_names_fields);
    tcase_add_test(tc, test_bsapi_auth_routes_and_secrets);
    tcase_add_test(tc, test_bsapi_import_json_10000);
    tcase_add_test(tc, test_bsapi_import_csv);
    tcase_add_test(tc, test_bsapi_sessions_list);
    tcase_add_test(tc, test_bsapi_changes_audited);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    int failed = harness_run_suite(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
