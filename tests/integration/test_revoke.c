/*
 * tests/integration/test_revoke.c -- invalidated keys, activation of
 * issued credentials, factory server accounts: lodestar-server as a
 * process, real DTLS-PSK devices (tests/harness/lwm2m_device.h), a real
 * PostgreSQL
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).  Each test
 * gets a fresh migrated database and its own server.
 *   revoke     a registered DTLS-PSK device's key is revoked through the
 *              API: within about a second its registration is gone (API and
 *              table), its session no longer answers, a new handshake with
 *              the key is refused; audit entry with the reason; the
 *              de-registration event says "revoked".
 *   activate   registering with an 'issued' credential makes it 'active'
 *              and revokes the endpoint's older key (audited); the old key's
 *              handshake is then refused.
 *   factory    a factory server account registers at once.
 *   fleet      revocation by glob; other devices untouched.
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
#include "lwm2m_device.h"
#include "store/credentials.h"
#include "store/secret.h"
#include "store/store.h"

#define KEY_HEX HARNESS_SERVER_KEY_HEX
#define STOP_MS 15000
#define ANSWER_MS 5000

static void start(struct harness_server *s)
{
    struct harness_server_options o = { .db_prefix = "lodestar_revoke", .migrate = true,
                                        .who = "test_revoke", .stop_ms = STOP_MS };
    harness_server_start(s, &o);
}

static json_t *api(const struct harness_server *s, const char *method, const char *path,
                   const char *body, int want)
{
    char url[2048], auth[256];
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s%s", s->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 30000,
                                  &r);
    ck_assert_msg(st == want, "%s %s: %d, want %d: %.300s", method, path, st, want,
                  r.body ? r.body : "");
    json_t *j = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: not JSON", method, path);
    harness_http_response_free(&r);
    return j;
}

static const char *db_value(const struct harness_server *s, const char *sql, const char *arg,
                            char *out, size_t cap)
{
    return harness_db_value(s->db.conninfo, sql, arg, out, cap);
}

static void add_psk(const struct harness_server *s, const char *endpoint, const char *identity,
                    const char *key, const char *state)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(KEY_HEX, &k, &err), LS_OK);
    struct store *st = store_open(s->db.conninfo, &err);
    ck_assert_ptr_nonnull(st);
    struct store_credential c = {
        .endpoint = endpoint, .scope = "server", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)key, .secret_len = strlen(key), .state = state,
    };
    ck_assert_msg(store_credentials_insert(st, &k, &c, NULL, &err) == LS_OK, "insert: %s",
                  err.msg);
    store_close(st);
}

/* The server loaded a table with at least n PSK entries (its log). */
static void wait_loaded(const struct harness_server *s, unsigned n)
{
    char re[96];
    snprintf(re, sizeof re, "event=credentials_loaded scope=server psk=%u", n);
    ck_assert_msg(harness_proc_wait_line(s->proc, re, 15000, NULL, 0), "no table with %u", n);
}

static struct harness_device *device(const struct harness_server *s, const char *identity,
                                     const uint8_t *key, size_t key_len)
{
    struct harness_device_options o = {
        .server = s->coaps, .psk_identity = identity, .psk_key = key, .psk_key_len = key_len,
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

static int reg(struct harness_device *d, const char *ep, char *loc, size_t cap)
{
    return harness_device_register_lwm2m(d, ep, 300, NULL, false, NULL, ANSWER_MS, loc, cap);
}

static bool registered(const struct harness_server *s, const char *ep)
{
    char path[256];
    snprintf(path, sizeof path, "/api/devices/%s", ep);
    json_t *j = api(s, "GET", path, NULL, 200);
    bool r = json_is_true(json_object_get(j, "registered"));
    json_decref(j);
    return r;
}

static json_t *audit_entry(const struct harness_server *s, const char *action)
{
    json_t *j = api(s, "GET", "/api/audit?limit=100", NULL, 200), *e, *found = NULL;
    size_t i;
    json_array_foreach(json_object_get(j, "entries"), i, e)
        if (!found && strcmp(json_string_value(json_object_get(e, "action")), action) == 0)
            found = json_incref(e);
    json_decref(j);
    return found;
}

START_TEST(t_revoke_cuts_device)
{
    struct harness_server s;
    char loc[64], v[128];
    start(&s);
    add_psk(&s, "rv-1", "rv-1-id", "0123456789abcdef", "active");
    wait_loaded(&s, 1);
    struct harness_device *d = device(&s, "rv-1-id", (const uint8_t *)"0123456789abcdef", 16);
    ck_assert_int_eq(reg(d, "rv-1", loc, sizeof loc), 201);
    ck_assert(registered(&s, "rv-1"));

    int64_t t0 = harness_now_ms();
    json_t *r = api(&s, "POST", "/api/devices/rv-1/credentials/revoke?reason=stolen%20unit",
                    NULL, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "revoked")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(r, "scope")), "server");
    json_decref(r);
    /* The server cuts it: its log says so within a second. */
    ck_assert_msg(harness_proc_wait_line(s.proc, "event=revoked endpoint=rv-1", 1000, NULL, 0),
                  "no cut within 1 s");
    int64_t cut_ms = harness_now_ms() - t0;
    while (registered(&s, "rv-1") && harness_now_ms() - t0 < 1500)
        harness_sleep_ms(20);   /* poll interval */
    ck_assert_msg(!registered(&s, "rv-1"), "still registered after 1.5 s");
    fprintf(stderr, "test_revoke: revoke -> cut %lld ms, -> API unregistered %lld ms\n",
            (long long)cut_ms, (long long)(harness_now_ms() - t0));
    db_value(&s, "SELECT detail->>'reason' FROM events WHERE kind = 'deregistration'"
             " AND endpoint = $1 ORDER BY id DESC LIMIT 1", "rv-1", v, sizeof v);
    ck_assert_str_eq(v, "revoked");

    /* The old session is gone: an Update over it gets no answer. */
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, 1500), -1);
    harness_device_free(d);
    /* A new handshake with the key is refused. */
    d = device(&s, "rv-1-id", (const uint8_t *)"0123456789abcdef", 16);
    ck_assert_int_eq(reg(d, "rv-1", loc, sizeof loc), -1);
    ck_assert(harness_device_dtls_failed(d));
    harness_device_free(d);

    json_t *e = audit_entry(&s, "credentials.revoke");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(json_string_value(json_object_get(e, "target")), "rv-1");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "detail"), "reason")),
                     "stolen unit");
    json_decref(e);
    /* Unknown device, bad scope. */
    json_decref(api(&s, "POST", "/api/devices/nope/credentials/revoke", NULL, 404));
    json_decref(api(&s, "POST", "/api/devices/rv-1/credentials/revoke", "{\"scope\":\"x\"}",
                    400));
    harness_server_stop(&s);
}
END_TEST

START_TEST(t_activation_revokes_older)
{
    struct harness_server s;
    char loc[64], v[128];
    start(&s);
    add_psk(&s, "ac-1", "ac-1-old", "old-key-0123456", "active");
    add_psk(&s, "ac-1", "ac-1-new", "new-key-0123456", "issued");
    wait_loaded(&s, 2);
    struct harness_device *d = device(&s, "ac-1-new", (const uint8_t *)"new-key-0123456", 15);
    ck_assert_int_eq(reg(d, "ac-1", loc, sizeof loc), 201);
    db_value(&s, "SELECT state FROM credentials WHERE identity = $1", "ac-1-new", v, sizeof v);
    ck_assert_str_eq(v, "active");
    db_value(&s, "SELECT state FROM credentials WHERE identity = $1", "ac-1-old", v, sizeof v);
    ck_assert_str_eq(v, "revoked");
    json_t *e = audit_entry(&s, "credentials.activate");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "detail"),
                                                       "identity")), "ac-1-new");
    json_decref(e);
    /* The registration made with the new key survives the reload. */
    wait_loaded(&s, 1);
    ck_assert(registered(&s, "ac-1"));
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 204);
    harness_device_free(d);
    struct harness_device *old = device(&s, "ac-1-old", (const uint8_t *)"old-key-0123456", 15);
    ck_assert_int_eq(reg(old, "ac-1", loc, sizeof loc), -1);
    ck_assert(harness_device_dtls_failed(old));
    harness_device_free(old);
    harness_server_stop(&s);
}
END_TEST

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    ck_assert_uint_le(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n;
}

START_TEST(t_factory_account_registers)
{
    struct harness_server s;
    char body[512], loc[64], path[96];
    start(&s);
    snprintf(body, sizeof body, "{\"endpoints\":[\"fa-1\"],\"server\":{\"uri\":\"coaps://%s\","
             "\"ssid\":101,\"security\":\"psk\"}}", s.coaps);
    json_t *r = api(&s, "POST", "/api/factory/batches", body, 201);
    snprintf(path, sizeof path, "/api/factory/batches/%lld",
             (long long)json_integer_value(json_object_get(r, "id")));
    json_decref(r);
    json_t *doc = api(&s, "GET", path, NULL, 200);
    json_t *acc = json_object_get(json_array_get(json_object_get(doc, "devices"), 0), "server");
    uint8_t key[32];
    size_t key_len = unhex(json_string_value(json_object_get(acc, "key")), key, sizeof key);
    wait_loaded(&s, 1);
    struct harness_device *d =
        device(&s, json_string_value(json_object_get(acc, "identity")), key, key_len);
    ck_assert_int_eq(reg(d, "fa-1", loc, sizeof loc), 201);
    ck_assert(registered(&s, "fa-1"));
    harness_device_free(d);
    json_decref(doc);
    harness_server_stop(&s);
}
END_TEST

START_TEST(t_fleet_by_pattern)
{
    struct harness_server s;
    char v[64];
    start(&s);
    add_psk(&s, "fl-1", "fl-1-id", "k1-0123456789ab", "active");
    add_psk(&s, "fl-2", "fl-2-id", "k2-0123456789ab", "active");
    add_psk(&s, "other", "other-id", "k3-0123456789ab", "active");
    json_decref(api(&s, "POST", "/api/credentials/revoke", "{\"match\":\"fl-*\"}", 400));
    json_t *r = api(&s, "POST", "/api/credentials/revoke",
                    "{\"match\":\"fl-*\",\"reason\":\"breach\",\"scope\":\"all\"}", 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "revoked")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "devices")), 2);
    json_decref(r);
    db_value(&s, "SELECT count(*) FROM credentials WHERE state = $1", "revoked", v, sizeof v);
    ck_assert_str_eq(v, "2");
    db_value(&s, "SELECT state FROM credentials WHERE endpoint = $1", "other", v, sizeof v);
    ck_assert_str_eq(v, "active");
    json_t *e = audit_entry(&s, "credentials.revoke_fleet");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(json_string_value(json_object_get(e, "target")), "fl-*");
    json_decref(e);
    harness_server_stop(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("revoke");
    TCase *tc = tcase_create("revoke");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_revoke_cuts_device);
    tcase_add_test(tc, t_activation_revokes_older);
    tcase_add_test(tc, t_factory_account_registers);
    tcase_add_test(tc, t_fleet_by_pattern);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    int failed = harness_run_suite(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
