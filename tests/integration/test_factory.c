/*
 * tests/integration/test_factory.c -- factory batches through
 * lodestar-server's REST API, as a process against a real PostgreSQL
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).  Each test
 * gets a fresh migrated database and its own server with a random
 * --admin-token.  Checks: batches by count and by list, the JSON and CSV
 * exports (unique identities and keys, the same in both), that no key is
 * stored in plaintext anywhere (pg_dump of the whole database searched for
 * every key in hex), the audit entries, authorisation and bad requests.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"

#define STOP_MS 10000
#define BS_URI "coaps://bs.example.com:5784"
#define SV_URI "coaps://lwm2m.example.com:5684"

static void start(struct harness_server *s)
{
    struct harness_server_options o = { .db_prefix = "lodestar_factory", .migrate = true,
                                        .who = "test_factory", .stop_ms = STOP_MS };
    harness_server_start(s, &o);
}

/* keys: hex keys that must not be in the log (may be NULL). */
static void stop(struct harness_server *s, json_t *keys)
{
    char *err = harness_proc_stderr(s->proc);
    ck_assert_ptr_null(strstr(err, s->admin));
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
        ck_assert_msg(!strstr(err, json_string_value(k)), "a key is in the log");
    free(err);
    harness_server_stop(s);
}

/* A request; *body_out (may be NULL) gets the body (caller frees). */
static int call(const struct harness_server *s, const char *method, const char *path,
                const char *token, const char *body, char **body_out)
{
    char url[2048], auth[256];
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    int st = harness_http_request(method, url, token ? headers : headers + 1, body,
                                  body ? strlen(body) : 0, 60000, &r);
    if (body_out)
        *body_out = r.body ? strndup(r.body, r.body_len) : strdup("");
    harness_http_response_free(&r);
    return st;
}

static json_t *api(const struct harness_server *s, const char *method, const char *path,
                   const char *body, int want)
{
    char *text = NULL;
    int st = call(s, method, path, s->admin, body, &text);
    ck_assert_msg(st == want, "%s %s: %d, want %d: %.300s", method, path, st, want, text);
    json_t *j = json_loads(text, 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: not JSON: %.300s", method, path, text);
    free(text);
    return j;
}

static void expect_400(const struct harness_server *s, const char *body, const char *field)
{
    json_t *j = api(s, "POST", "/api/factory/batches", body, 400);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    ck_assert_msg(msg && strstr(msg, field), "message \"%s\" does not name %s", msg, field);
    json_decref(j);
}

/* Every key and identity of a JSON export, checked for shape and
 * uniqueness; returns the keys (caller decrefs). */
static json_t *check_export(json_t *doc, size_t devices, bool bs, bool sv, size_t key_hex)
{
    json_t *list = json_object_get(doc, "devices"), *keys = json_array(), *ids = json_object();
    ck_assert_uint_eq(json_array_size(list), devices);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d) {
        const char *scopes[2] = { "bootstrap", "server" };
        bool want[2] = { bs, sv };
        for (int k = 0; k < 2; k++) {
            json_t *a = json_object_get(d, scopes[k]);
            ck_assert_msg((a != NULL) == want[k], "device %zu: %s account", i, scopes[k]);
            if (!a)
                continue;
            const char *key = json_string_value(json_object_get(a, "key"));
            const char *id = json_string_value(json_object_get(a, "identity"));
            ck_assert_ptr_nonnull(key);
            ck_assert_ptr_nonnull(id);
            ck_assert_uint_eq(strlen(key), key_hex);
            ck_assert_str_eq(json_string_value(json_object_get(a, "uri")),
                             k == 0 ? BS_URI : SV_URI);
            if (k == 1)
                ck_assert_int_eq(json_integer_value(json_object_get(a, "ssid")), 101);
            ck_assert_msg(!json_object_get(ids, id), "identity %s twice", id);
            ck_assert_msg(!json_object_get(ids, key), "a key twice");
            json_object_set_new(ids, id, json_true());
            json_object_set_new(ids, key, json_true());
            json_array_append_new(keys, json_string(key));
        }
    }
    json_decref(ids);
    return keys;
}

/* The whole database as pg_dump writes it (bytea in hex). */
static char *dump(const struct harness_server *s)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "pg_dump --data-only -d '%s'", s->db.conninfo);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 20, n = 0, got;
    char *out = malloc(cap);
    while ((got = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    ck_assert_int_eq(pclose(f), 0);
    return out;
}

static void no_plaintext(const struct harness_server *s, json_t *keys)
{
    char *text = dump(s);
    ck_assert_msg(strstr(text, "factory_batches") != NULL, "the dump looks empty");
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
        ck_assert_msg(!strstr(text, json_string_value(k)), "key %zu is in the database", i);
    free(text);
}

static int audit_count(const struct harness_server *s, const char *action)
{
    json_t *j = api(s, "GET", "/api/audit?limit=100", NULL, 200), *e;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(j, "entries"), i, e)
        if (strcmp(json_string_value(json_object_get(e, "action")), action) == 0) {
            n++;
            /* an audit entry never carries a key */
            char *t = json_dumps(e, 0);
            ck_assert_ptr_null(strstr(t, "\"key\""));
            free(t);
        }
    json_decref(j);
    return n;
}

START_TEST(t_batch_by_count)
{
    struct harness_server s;
    start(&s);
    json_t *r = api(&s, "POST", "/api/factory/batches",
                    "{\"count\":40,\"prefix\":\"fac-\",\"bootstrap\":{\"uri\":\"" BS_URI
                    "\",\"security\":\"psk\"},\"server\":{\"uri\":\"" SV_URI
                    "\",\"ssid\":101,\"security\":\"psk\"}}", 201);
    int64_t id = json_integer_value(json_object_get(r, "id"));
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "count")), 40);
    json_decref(r);
    char path[128];
    snprintf(path, sizeof path, "/api/factory/batches/%lld?format=json", (long long)id);
    json_t *doc = api(&s, "GET", path, NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "count")), 40);
    json_t *keys = check_export(doc, 40, true, true, 32);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(doc, "devices"), 0), "endpoint")),
                     "fac-1");

    /* CSV: a header and one line per device, the same keys. */
    char *csv = NULL;
    snprintf(path, sizeof path, "/api/factory/batches/%lld?format=csv", (long long)id);
    ck_assert_int_eq(call(&s, "GET", path, s.admin, NULL, &csv), 200);
    ck_assert_msg(strncmp(csv, "endpoint,bootstrap_uri,bootstrap_identity,bootstrap_key,"
                               "server_uri,server_ssid,server_identity,server_key\r\n",
                          100) == 0, "header: %.120s", csv);
    int lines = 0;
    for (char *p = csv; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    ck_assert_int_eq(lines, 41);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
        ck_assert_msg(strstr(csv, json_string_value(k)), "key %zu not in the CSV", i);
    free(csv);

    /* Stored: 80 active credentials of the batch, 40 factory endpoints. */
    char v[64], idtext[24];
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    harness_db_value(s.db.conninfo, "SELECT count(*) FROM credentials WHERE batch_id = $1::bigint"
                     " AND state = 'active' AND secret IS NOT NULL", idtext, v, sizeof v);
    ck_assert_str_eq(v, "80");
    harness_db_value(s.db.conninfo, "SELECT count(*) FROM endpoints WHERE origin = $1", "factory",
                     v, sizeof v);
    ck_assert_str_eq(v, "40");
    no_plaintext(&s, keys);
    ck_assert_int_eq(audit_count(&s, "factory.create"), 1);
    ck_assert_int_eq(audit_count(&s, "factory.export"), 2);
    json_decref(doc);
    stop(&s, keys);
    json_decref(keys);
}
END_TEST

START_TEST(t_batch_by_list)
{
    struct harness_server s;
    start(&s);
    json_t *r = api(&s, "POST", "/api/factory/batches",
                    "{\"endpoints\":[\"plain\",\"with,comma\",\"with\\\"quote\",\"\xc3\xa9t\xc3\xa9\"],"
                    "\"key_bytes\":32,\"bootstrap\":{\"uri\":\"" BS_URI "\"}}", 201);
    int64_t id = json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    char path[128];
    snprintf(path, sizeof path, "/api/factory/batches/%lld", (long long)id);
    json_t *doc = api(&s, "GET", path, NULL, 200);
    json_t *keys = check_export(doc, 4, true, false, 64);
    snprintf(path, sizeof path, "/api/factory/batches/%lld?format=csv", (long long)id);
    char *csv = NULL;
    ck_assert_int_eq(call(&s, "GET", path, s.admin, NULL, &csv), 200);
    ck_assert_ptr_nonnull(strstr(csv, "\r\n\"with,comma\"," BS_URI ",\"with,comma-"));
    ck_assert_ptr_nonnull(strstr(csv, "\r\n\"with\"\"quote\","));
    ck_assert_ptr_nonnull(strstr(csv, "\r\nplain," BS_URI ",plain-"));
    free(csv);
    no_plaintext(&s, keys);
    json_decref(doc);
    stop(&s, keys);
    json_decref(keys);
}
END_TEST

START_TEST(t_thousands)
{
    struct harness_server s;
    start(&s);
    int64_t t0 = harness_now_ms();
    json_t *r = api(&s, "POST", "/api/factory/batches",
                    "{\"count\":5000,\"prefix\":\"big-\",\"bootstrap\":{\"uri\":\"" BS_URI
                    "\"},\"server\":{\"uri\":\"" SV_URI "\",\"ssid\":101}}", 201);
    int64_t made = harness_now_ms() - t0;
    int64_t id = json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    char path[128];
    snprintf(path, sizeof path, "/api/factory/batches/%lld", (long long)id);
    t0 = harness_now_ms();
    json_t *doc = api(&s, "GET", path, NULL, 200);
    int64_t exported = harness_now_ms() - t0;
    json_t *keys = check_export(doc, 5000, true, true, 32);
    fprintf(stderr, "test_factory: 5000 devices x 2 accounts: create %lld ms, export %lld ms\n",
            (long long)made, (long long)exported);
    ck_assert_int_lt(made, 20000);
    json_decref(doc);
    json_decref(keys);
    stop(&s, NULL);
}
END_TEST

START_TEST(t_errors_and_auth)
{
    struct harness_server s;
    start(&s);
    const char *ok = "{\"count\":1,\"prefix\":\"x-\",\"bootstrap\":{\"uri\":\"" BS_URI "\"}}";
    ck_assert_int_eq(call(&s, "POST", "/api/factory/batches", NULL, ok, NULL), 401);
    json_t *t = api(&s, "POST", "/api/tokens", "{\"name\":\"op\",\"role\":\"operator\"}", 201);
    char op[128];
    snprintf(op, sizeof op, "%s", json_string_value(json_object_get(t, "token")));
    json_decref(t);
    ck_assert_int_eq(call(&s, "POST", "/api/factory/batches", op, ok, NULL), 403);
    ck_assert_int_eq(call(&s, "GET", "/api/factory/batches/1", op, NULL, NULL), 403);
    expect_400(&s, "{\"count\":1,\"prefix\":\"x-\"}", "bootstrap");
    expect_400(&s, "{\"count\":0,\"prefix\":\"x-\",\"bootstrap\":{\"uri\":\"" BS_URI "\"}}",
               "count");
    expect_400(&s, "{\"count\":1,\"endpoints\":[\"a\"],\"bootstrap\":{\"uri\":\"" BS_URI "\"}}",
               "not both");
    expect_400(&s, "{\"endpoints\":[\"a\",\"a\"],\"bootstrap\":{\"uri\":\"" BS_URI "\"}}",
               "twice");
    expect_400(&s, "{\"endpoints\":[\"\"],\"bootstrap\":{\"uri\":\"" BS_URI "\"}}",
               "endpoints");
    expect_400(&s, "{\"endpoints\":[\"a\"],\"server\":{\"uri\":\"" SV_URI "\"}}", "server.ssid");
    expect_400(&s, "{\"endpoints\":[\"a\"],\"server\":{\"uri\":\"coap://x\",\"ssid\":1}}",
               "server.uri");
    expect_400(&s, "{\"endpoints\":[\"a\"],\"bootstrap\":{\"uri\":\"" BS_URI
               "\",\"security\":\"x509\"}}", "bootstrap.security");
    expect_400(&s, "{\"endpoints\":[\"a\"],\"key_bytes\":8,\"bootstrap\":{\"uri\":\"" BS_URI
               "\"}}", "key_bytes");
    expect_400(&s, "[1]", "object");
    json_decref(api(&s, "GET", "/api/factory/batches/999", NULL, 404));
    json_decref(api(&s, "GET", "/api/factory/batches/abc", NULL, 404));
    json_t *r = api(&s, "POST", "/api/factory/batches", ok, 201);
    char path[128];
    snprintf(path, sizeof path, "/api/factory/batches/%lld?format=xml",
             (long long)json_integer_value(json_object_get(r, "id")));
    json_decref(r);
    json_decref(api(&s, "GET", path, NULL, 400));
    ck_assert_int_eq(audit_count(&s, "factory.export"), 0);
    stop(&s, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("factory");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_batch_by_count);
    tcase_add_test(tc, t_batch_by_list);
    tcase_add_test(tc, t_thousands);
    tcase_add_test(tc, t_errors_and_auth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    int failed = harness_run_suite(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
