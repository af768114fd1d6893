/*
 * tests/integration/test_lifecycle.c -- the credential lifecycle end to
 * end (issue 7): lodestar-server and lodestar-bootstrap as processes on one
 * fresh database, the libcoap test device (tests/harness/lwm2m_device.h)
 * over DTLS-PSK, nothing but API calls and the device's own behaviour
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).
 *   lifecycle    factory batch (API) -> a device with only its bootstrap
 *                account -> bootstrap with an issued PSK -> DTLS
 *                registration -> server-initiated bootstrap (API: Execute
 *                /1/0/9) -> new keys, the old ones refused -> revoke (API)
 *                -> cut off, re-bootstraps, registers with a third set of
 *                keys; the workflow's states and every step's audit entry.
 *   interrupted  a trigger the device answers 4.04 fails at step trigger;
 *                the triggered bootstrap fails half-way: the workflow fails
 *                at step bootstrap, the old keys keep working.
 *   ssid         a device with two /1 instances: /1 is read, the Execute
 *                goes to the one with this server's Short Server ID.
 *   v10          a 1.0 device: the fallback revokes its management keys,
 *                it is cut off, re-bootstraps and re-registers.
 *   rotation     a bulk rotation of 1000 devices at 500/s (plus one real
 *                device): the rate holds (trigger times), progress adds
 *                up, the real device ends re_registered.
 *   errors       404 / 400 / 403 answers.
 *   blobs        factory export as per-device TLV and SenML-CBOR blobs,
 *                decoded back with the lwm2m/ codecs: the accounts' values.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"
#include "lwm2m/codec.h"
#include "lwm2m/format.h"
#include "lwm2m/model.h"

#define START_MS 20000
#define STOP_MS 15000
#define STEP_MS 20000      /* deadline of each awaited step */
#define LIFETIME_S 300

struct env {
    struct harness_server s;
    struct harness_proc *bs;
    char bs_coap[96], bs_coaps[96];
};

static void start(struct env *e, const char *prefix)
{
    struct harness_server_options o = { .db_prefix = prefix, .migrate = true,
                                        .who = "test_lifecycle", .stop_ms = STOP_MS };
    harness_server_start(&e->s, &o);
    const char *bin = getenv("LODESTAR_BOOTSTRAP_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_BOOTSTRAP_BIN is not set (run through meson test)");
    char *argv[] = { "lodestar-bootstrap", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0",
                     NULL };
    char *env[] = { "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, e->s.db_env, NULL };
    e->bs = harness_proc_spawn("bootstrap", bin, argv, env);
    ck_assert_ptr_nonnull(e->bs);
    harness_wait_listening(e->bs, "coap", START_MS, e->bs_coap, sizeof e->bs_coap);
    harness_wait_listening(e->bs, "coaps", START_MS, e->bs_coaps, sizeof e->bs_coaps);
    ck_assert(harness_proc_wait_line(e->bs, "event=started ", START_MS, NULL, 0));
}

static void stop(struct env *e)
{
    ck_assert_int_eq(harness_proc_stop_dump(e->bs, "bootstrap", STOP_MS), 0);
    harness_proc_free(e->bs);
    harness_server_stop(&e->s);
}

static int call(const struct env *e, const char *method, const char *path, const char *token,
                const char *body, json_t **out)
{
    char url[2048], auth[256];
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s%s", e->s.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 30000,
                                  &r);
    if (out)
        *out = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    harness_http_response_free(&r);
    return st;
}

static json_t *api(const struct env *e, const char *method, const char *path, const char *body,
                   int want)
{
    json_t *j = NULL;
    int st = call(e, method, path, e->s.admin, body, &j);
    char *t = j ? json_dumps(j, 0) : NULL;
    ck_assert_msg(st == want, "%s %s: %d, want %d: %.300s", method, path, st, want,
                  t ? t : "");
    free(t);
    ck_assert_msg(j != NULL, "%s %s: not JSON", method, path);
    return j;
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

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

/* The bootstrap configuration (keys issued for lodestar-server) and a
 * factory batch of the endpoints with bootstrap accounts only. */
static json_t *factory(const struct env *e, const char *const *eps, size_t n)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"match\":\"*\",\"servers\":[{\"uri\":\"coaps://%s\","
             "\"ssid\":101,\"security\":\"psk\",\"credentials\":\"issue\",\"lifetime\":%d}]}",
             e->s.coaps, LIFETIME_S);
    json_decref(api(e, "PUT", "/api/bootstrap/configs/all-devices", body, 201));
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_string(eps[i]));
    json_t *req = json_pack("{s:o,s:{s:s+,s:s}}", "endpoints", list, "bootstrap", "uri",
                            "coaps://", e->bs_coaps, "security", "psk");
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *r = api(e, "POST", "/api/factory/batches", text, 201);
    free(text);
    char path[96];
    snprintf(path, sizeof path, "/api/factory/batches/%lld",
             (long long)json_integer_value(json_object_get(r, "id")));
    json_decref(r);
    return api(e, "GET", path, NULL, 200);
}

/* A device straight from the factory: its bootstrap account only. */
static struct harness_device *factory_device(const struct env *e, json_t *doc, size_t i,
                                             const char *version, uint8_t *key)
{
    json_t *acc = json_object_get(json_array_get(json_object_get(doc, "devices"), i),
                                  "bootstrap");
    size_t key_len = unhex(str(acc, "key"), key, 64);
    struct harness_device_options o = {
        .server = e->bs_coaps, .psk_identity = str(acc, "identity"), .psk_key = key,
        .psk_key_len = key_len, .version = version, .no_server_instance = true,
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* d's reaction to a trigger (or its fallback): bootstrap, register; retried
 * while a daemon has not loaded fresh keys yet. */
static struct harness_device *rebootstrap(struct harness_device *d, const char *ep,
                                          char *loc, size_t cap)
{
    int64_t deadline = harness_now_ms() + STEP_MS;
    struct harness_bs_result r;
    int code = 0;
    while (harness_now_ms() < deadline) {
        struct harness_device *n = harness_device_rebootstrap(d, ep, LIFETIME_S, 8000, &r,
                                                              &code, loc, cap);
        if (n)
            return n;
        harness_sleep_ms(100);   /* retry interval while keys load */
    }
    ck_abort_msg("%s: no re-bootstrap: request %d finished %d register %d", ep,
                 r.request_code, r.finished, code);
    return NULL;
}

static void account(struct harness_device *d, struct harness_device_account *a)
{
    ck_assert(harness_device_server_account(d, 0, a));
    ck_assert_int_eq(a->security_mode, 0);
    ck_assert_uint_ge(a->key_len, 16);
}

static const char *db(const struct env *e, const char *sql, const char *arg, char *out,
                      size_t cap)
{
    return harness_db_value(e->s.db.conninfo, sql, arg, out, cap);
}

static bool registered_as(const struct env *e, const char *ep, const char *identity)
{
    char v[256];
    db(e, "SELECT identity FROM registrations WHERE endpoint = $1", ep, v, sizeof v);
    return strcmp(v, identity) == 0;
}

/* POST /api/devices/{ep}/bootstrap; the workflow id. */
static int64_t trigger(const struct env *e, const char *ep, const char *reason)
{
    char path[256];
    snprintf(path, sizeof path, "/api/devices/%s/bootstrap?reason=%s", ep, reason);
    json_t *r = api(e, "POST", path, NULL, 202);
    int64_t id = json_integer_value(json_object_get(r, "workflow"));
    ck_assert_int_gt(id, 0);
    json_decref(r);
    return id;
}

static json_t *workflow(const struct env *e, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/workflows/%lld", (long long)id);
    return api(e, "GET", path, NULL, 200);
}

/* Polls the workflow until it is in state (or failed, or the deadline). */
static json_t *await_state(const struct env *e, int64_t id, const char *state)
{
    int64_t deadline = harness_now_ms() + STEP_MS;
    for (;;) {
        json_t *w = workflow(e, id);
        if (strcmp(str(w, "state"), state) == 0 || harness_now_ms() > deadline ||
            strcmp(str(w, "state"), "failed") == 0)
            return w;
        json_decref(w);
        harness_sleep_ms(50);   /* poll interval */
    }
}

static void assert_state(const struct env *e, int64_t id, const char *state)
{
    json_t *w = await_state(e, id, state);
    char *t = json_dumps(w, 0);
    ck_assert_msg(strcmp(str(w, "state"), state) == 0, "workflow %lld: %s, want %s",
                  (long long)id, t, state);
    free(t);
    json_decref(w);
}

/* Count of audit entries with action (and target when not NULL) whose
 * detail has the reason (when not NULL). */
static int audited(const struct env *e, const char *action, const char *target,
                   const char *reason)
{
    json_t *j = api(e, "GET", "/api/audit?limit=500", NULL, 200), *x;
    size_t i;
    int n = 0;
    json_array_foreach(json_object_get(j, "entries"), i, x) {
        if (strcmp(str(x, "action"), action) != 0 ||
            (target && strcmp(str(x, "target"), target) != 0))
            continue;
        if (reason && strcmp(str(json_object_get(x, "detail"), "reason"), reason) != 0)
            continue;
        char *t = json_dumps(x, 0);
        ck_assert_ptr_null(strstr(t, "\"key\""));
        free(t);
        n++;
    }
    json_decref(j);
    return n;
}

/* A device bootstrapped from the factory and registered: returns it. */
static struct harness_device *first_registration(const struct env *e, json_t *doc, size_t i,
                                                 const char *ep, const char *version,
                                                 struct harness_device_account *a,
                                                 char *loc, size_t cap)
{
    uint8_t key[64];
    struct harness_device *d0 = factory_device(e, doc, i, version, key);
    struct harness_device *d1 = rebootstrap(d0, ep, loc, cap);
    harness_device_free(d0);
    account(d1, a);
    ck_assert(registered_as(e, ep, a->identity));
    return d1;
}

static bool key_refused_once(const struct env *e, const struct harness_device_account *a,
                             const char *ep)
{
    struct harness_device_options o = { .server = e->s.coaps, .psk_identity = a->identity,
                                        .psk_key = a->key, .psk_key_len = a->key_len };
    struct harness_device *d = harness_device_new(&o);
    char loc[64];
    int code = harness_device_register_lwm2m(d, ep, LIFETIME_S, NULL, false, NULL, 3000, loc,
                                             sizeof loc);
    bool refused = code == -1 && harness_device_dtls_failed(d);
    harness_device_free(d);
    return refused;
}

/* The server applies a revocation on a notification: refused within 2 s. */
static bool old_key_refused(const struct env *e, const struct harness_device_account *a,
                            const char *ep)
{
    int64_t deadline = harness_now_ms() + 2000;
    while (!key_refused_once(e, a, ep))
        if (harness_now_ms() > deadline)
            return false;
    return true;
}

START_TEST(t_lifecycle)
{
    struct env e;
    start(&e, "lodestar_lifecycle");
    const char *ep = "lc-1";
    json_t *doc = factory(&e, &ep, 1);
    char loc[64], v[256];
    struct harness_device_account a1, a2, a3;

    /* factory -> bootstrap with an issued PSK -> DTLS registration */
    struct harness_device *d1 = first_registration(&e, doc, 0, ep, "1.1", &a1, loc, sizeof loc);
    db(&e, "SELECT state FROM credentials WHERE identity = $1", a1.identity, v, sizeof v);
    ck_assert_str_eq(v, "active");

    /* server-initiated bootstrap: Execute /1/0/9 reaches the device */
    int64_t wf = trigger(&e, ep, "scheduled%20rotation");
    ck_assert_uint_eq(harness_device_wait_bootstrap_trigger(d1, 0, STEP_MS), 1);
    char args[64];
    ck_assert_uint_eq(harness_device_last_execute(d1, "/1/0/9", args, sizeof args), 1);
    assert_state(&e, wf, "triggered");
    struct harness_device *d2 = rebootstrap(d1, ep, loc, sizeof loc);
    account(d2, &a2);
    ck_assert_str_ne(a1.identity, a2.identity);
    ck_assert(a1.key_len != a2.key_len || memcmp(a1.key, a2.key, a1.key_len) != 0);
    ck_assert(registered_as(&e, ep, a2.identity));
    assert_state(&e, wf, "re_registered");
    /* the old keys are refused now: revoked by the activation */
    db(&e, "SELECT state FROM credentials WHERE identity = $1", a1.identity, v, sizeof v);
    ck_assert_str_eq(v, "revoked");
    ck_assert(old_key_refused(&e, &a1, ep));
    harness_device_free(d1);

    /* the workflow's record: who, why, every step */
    json_t *w = workflow(&e, wf);
    ck_assert_ptr_nonnull(strstr(str(w, "actor"), "admin"));
    ck_assert_int_gt(json_integer_value(json_object_get(w, "created_by")), 0);
    ck_assert_str_eq(str(w, "reason"), "scheduled rotation");
    ck_assert_str_eq(str(w, "endpoint"), ep);
    json_t *steps = json_object_get(json_object_get(w, "detail"), "steps");
    const char *want[] = { "pending", "triggered", "bootstrap_started", "re_registered" };
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(json_object_get(steps, want[i]), "no step %s", want[i]);
    ck_assert_str_eq(str(json_object_get(w, "detail"), "path"), "/1/0/9");
    json_decref(w);
    /* bootstrap_finished is recorded too once the daemon wrote its session */
    int64_t deadline = harness_now_ms() + STEP_MS;
    bool fin = false;
    while (!fin && harness_now_ms() < deadline) {
        w = workflow(&e, wf);
        fin = json_object_get(json_object_get(json_object_get(w, "detail"), "steps"),
                              "bootstrap_finished") != NULL;
        json_decref(w);
        if (!fin)
            harness_sleep_ms(50);   /* poll interval */
    }
    ck_assert_msg(fin, "bootstrap_finished never recorded");
    /* each state change was an event on the stream */
    db(&e, "SELECT string_agg(detail->>'state', ',' ORDER BY id) FROM events"
       " WHERE kind = 'workflow' AND endpoint = $1", ep, v, sizeof v);
    /* (bootstrap_finished is a state only when the session record came
     * before the registration) */
    ck_assert_msg(strcmp(v, "triggered,bootstrap_started,re_registered") == 0 ||
                  strcmp(v, "triggered,bootstrap_started,bootstrap_finished,re_registered")
                  == 0, "workflow events: %s", v);

    /* revoke: cut off, re-bootstrap, a third set of keys */
    json_decref(api(&e, "POST", "/api/devices/lc-1/credentials/revoke?reason=device%20lost",
                    NULL, 200));
    /* cut off: its registration ends and its session goes (an Update gets
     * 4.04 or, once the session is closed, nothing) */
    int64_t cut = harness_now_ms() + 2000;
    while (registered_as(&e, ep, a2.identity) && harness_now_ms() < cut)
        harness_sleep_ms(20);   /* poll interval */
    ck_assert(!registered_as(&e, ep, a2.identity));
    int up = harness_device_update(d2, loc, NULL, NULL, 1500);
    ck_assert_msg(up == -1 || up == 404, "update after revoke: %d", up);
    struct harness_device *d3 = rebootstrap(d2, ep, loc, sizeof loc);
    account(d3, &a3);
    ck_assert_str_ne(a3.identity, a1.identity);
    ck_assert_str_ne(a3.identity, a2.identity);
    ck_assert(registered_as(&e, ep, a3.identity));
    ck_assert(old_key_refused(&e, &a2, ep));
    ck_assert_int_eq(harness_device_update(d3, loc, NULL, NULL, 5000), 204);
    harness_device_free(d2);
    harness_device_free(d3);

    /* every step audited, with who and why */
    ck_assert_int_eq(audited(&e, "factory.create", NULL, NULL), 1);
    ck_assert_int_ge(audited(&e, "factory.export", NULL, NULL), 1);
    ck_assert_int_eq(audited(&e, "device.bootstrap", ep, "scheduled rotation"), 1);
    ck_assert_int_eq(audited(&e, "credentials.activate", ep, NULL), 3);
    ck_assert_int_eq(audited(&e, "credentials.revoke", ep, "device lost"), 1);
    json_decref(doc);
    stop(&e);
}
END_TEST

START_TEST(t_interrupted)
{
    struct env e;
    start(&e, "lodestar_lc_int");
    const char *ep = "lc-int";
    json_t *doc = factory(&e, &ep, 1);
    char loc[64], loc2[64], v[64];
    struct harness_device_account a1;
    struct harness_device *d1 = first_registration(&e, doc, 0, ep, "1.1", &a1, loc, sizeof loc);
    /* a trigger the device refuses fails at step trigger, with the CoAP code */
    harness_device_fail_next(d1, COAP_REQUEST_CODE_POST, "/1/0/9", 404);
    int64_t refused = trigger(&e, ep, "refused");
    json_t *w = NULL;
    int64_t deadline = harness_now_ms() + STEP_MS;
    for (;;) {
        harness_device_run(d1, 50);   /* serve the Execute */
        w = workflow(&e, refused);
        if (strcmp(str(w, "state"), "failed") == 0 || harness_now_ms() > deadline)
            break;
        json_decref(w);
    }
    ck_assert_str_eq(str(w, "state"), "failed");
    ck_assert_str_eq(str(w, "step"), "trigger");
    ck_assert_msg(strstr(str(w, "cause"), "4.04") != NULL, "cause: %s", str(w, "cause"));
    json_decref(w);
    ck_assert_uint_eq(harness_device_bootstrap_triggers(d1), 0);
    int64_t wf = trigger(&e, ep, "rotate");
    ck_assert_uint_eq(harness_device_wait_bootstrap_trigger(d1, 0, STEP_MS), 1);
    /* the bootstrap dies half-way: every BS-Write fails */
    struct harness_device *b = harness_device_new_for_bootstrap(d1);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 16; i++)
        harness_device_fail_next(b, COAP_REQUEST_CODE_PUT, NULL, 500);
    struct harness_bs_result r;
    ck_assert(!harness_device_bootstrap(b, ep, -1, false, 5000, &r));
    harness_device_free(b);
    w = await_state(&e, wf, "failed");
    ck_assert_str_eq(str(w, "state"), "failed");
    ck_assert_str_eq(str(w, "step"), "bootstrap");
    ck_assert_str_ne(str(w, "cause"), "");
    json_decref(w);
    /* the old keys still work: the live session and a new handshake */
    ck_assert_int_eq(harness_device_update(d1, loc, NULL, NULL, 5000), 204);
    struct harness_device *again = harness_device_new_for_account(d1, &a1);
    ck_assert_int_eq(harness_device_register_lwm2m(again, ep, LIFETIME_S, NULL, false, NULL,
                                                   5000, loc2, sizeof loc2), 201);
    db(&e, "SELECT state FROM credentials WHERE identity = $1", a1.identity, v, sizeof v);
    ck_assert_str_eq(v, "active");
    harness_device_free(again);
    harness_device_free(d1);
    json_decref(doc);
    stop(&e);
}
END_TEST

START_TEST(t_v10_fallback)
{
    struct env e;
    start(&e, "lodestar_lc_v10");
    const char *ep = "lc-v10";
    json_t *doc = factory(&e, &ep, 1);
    char loc[64], v[64];
    struct harness_device_account a1, a2;
    struct harness_device *d1 = first_registration(&e, doc, 0, ep, "1.0", &a1, loc, sizeof loc);
    db(&e, "SELECT lwm2m_version FROM registrations WHERE endpoint = $1", ep, v, sizeof v);
    ck_assert_str_eq(v, "1.0");
    int64_t wf = trigger(&e, ep, "v10");
    /* no Execute: the management keys are revoked and the session cut */
    ck_assert(harness_proc_wait_line(e.s.proc, "event=revoked endpoint=lc-v10", 5000, NULL, 0));
    assert_state(&e, wf, "triggered");
    json_t *w = workflow(&e, wf);
    ck_assert_str_eq(str(json_object_get(w, "detail"), "method"), "revoke");
    json_decref(w);
    ck_assert_int_eq(harness_device_update(d1, loc, NULL, NULL, 1500), -1);
    ck_assert_uint_eq(harness_device_bootstrap_triggers(d1), 0);
    /* it falls back to its bootstrap account */
    struct harness_device *d2 = rebootstrap(d1, ep, loc, sizeof loc);
    account(d2, &a2);
    ck_assert_str_ne(a1.identity, a2.identity);
    assert_state(&e, wf, "re_registered");
    ck_assert_int_eq(audited(&e, "credentials.revoke", ep, NULL), 1);
    ck_assert_int_eq(audited(&e, "device.bootstrap", ep, "v10"), 1);
    harness_device_free(d1);
    harness_device_free(d2);
    json_decref(doc);
    stop(&e);
}
END_TEST

/* A device with two server accounts: the trigger goes to the /1 instance
 * whose Short Server ID is the one of this server's credential. */
START_TEST(t_ssid)
{
    struct env e;
    start(&e, "lodestar_lc_ssid");
    const char *ep = "lc-ssid";
    json_t *doc = factory(&e, &ep, 1);
    char loc[64], links[1024], v[256], args[16];
    struct harness_device_account a1;
    struct harness_device *d1 = first_registration(&e, doc, 0, ep, "1.1", &a1, loc, sizeof loc);
    /* /1/0 now belongs to another server (ssid 102), ours is /1/1 */
    ck_assert(harness_device_set_value(d1, "/1/1/0", "101"));
    ck_assert(harness_device_set_value(d1, "/1/1/1", "300"));
    ck_assert(harness_device_set_value(d1, "/1/0/0", "102"));
    ck_assert_uint_gt(harness_device_links(d1, links, sizeof links), 0);
    ck_assert_int_eq(harness_device_update(d1, loc, NULL, links, 5000), 204);
    db(&e, "SELECT objects::text FROM registrations WHERE endpoint = $1", ep, v, sizeof v);
    ck_assert_msg(strstr(v, "\"/1/1\"") != NULL, "objects: %s", v);
    int64_t wf = trigger(&e, ep, "two%20accounts");
    ck_assert_uint_eq(harness_device_wait_bootstrap_trigger(d1, 0, STEP_MS), 1);
    ck_assert_uint_eq(harness_device_last_execute(d1, "/1/1/9", args, sizeof args), 1);
    ck_assert_uint_eq(harness_device_last_execute(d1, "/1/0/9", args, sizeof args), 0);
    ck_assert_uint_ge(harness_device_request_count(d1, COAP_REQUEST_CODE_GET, "/1"), 1);
    assert_state(&e, wf, "triggered");
    json_t *w = workflow(&e, wf);
    ck_assert_str_eq(str(json_object_get(w, "detail"), "path"), "/1/1/9");
    json_decref(w);
    harness_device_free(d1);
    json_decref(doc);
    stop(&e);
}
END_TEST

static double iso_s(const char *t)
{
    struct tm tm = { 0 };
    double frac = 0;
    const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    ck_assert_ptr_nonnull(rest);
    if (*rest == '.')
        frac = strtod(rest, NULL);
    return (double)timegm(&tm) + frac;
}

#define ROT_N 1000
#define ROT_RATE 500.0

START_TEST(t_rotation)
{
    struct env e;
    start(&e, "lodestar_lc_rot");
    const char *ep = "rot-real";
    json_t *doc = factory(&e, &ep, 1);
    char loc[64], body[256], path[96], idt[24], v[64];
    struct harness_device_account a1;
    struct harness_device *d1 = first_registration(&e, doc, 0, ep, "1.1", &a1, loc, sizeof loc);
    json_decref(doc);
    /* 1000 more known devices (never registered) */
    json_decref(api(&e, "POST", "/api/factory/batches",
                    "{\"count\":1000,\"prefix\":\"rot-\",\"bootstrap\":{\"uri\":"
                    "\"coaps://127.0.0.1:1\"}}", 201));
    snprintf(body, sizeof body, "{\"match\":\"rot-*\",\"rate\":%g,\"reason\":\"key policy\"}",
             ROT_RATE);
    int64_t t0 = harness_now_ms();
    json_t *r = api(&e, "POST", "/api/bootstrap/rotations", body, 202);
    int64_t id = json_integer_value(json_object_get(r, "rotation"));
    ck_assert_int_eq(json_integer_value(json_object_get(r, "total")), ROT_N + 1);
    json_decref(r);
    snprintf(path, sizeof path, "/api/bootstrap/rotations/%lld", (long long)id);
    /* "rot-real" sorts last: trigger it when it comes */
    ck_assert_uint_eq(harness_device_wait_bootstrap_trigger(d1, 0, 3 * ROT_N / ROT_RATE * 1000
                                                            + STEP_MS), 1);
    int64_t elapsed = harness_now_ms() - t0;
    struct harness_device *d2 = rebootstrap(d1, ep, loc, sizeof loc);
    json_t *p = NULL;
    int64_t deadline = harness_now_ms() + STEP_MS;
    for (;;) {
        p = api(&e, "GET", path, NULL, 200);
        if ((json_integer_value(json_object_get(p, "finished")) == 1 &&
             json_integer_value(json_object_get(p, "pending")) == 0) ||
            harness_now_ms() > deadline)
            break;
        json_decref(p);
        harness_sleep_ms(100);   /* poll interval */
    }
    char *t = json_dumps(p, 0);
    ck_assert_msg(json_integer_value(json_object_get(p, "total")) == ROT_N + 1, "%s", t);
    ck_assert_msg(json_integer_value(json_object_get(p, "triggered")) == ROT_N + 1, "%s", t);
    ck_assert_msg(json_integer_value(json_object_get(p, "finished")) == 1, "%s", t);
    ck_assert_msg(json_integer_value(json_object_get(p, "failed")) == ROT_N, "%s", t);
    ck_assert_str_eq(str(p, "state"), "triggered");
    double span = iso_s(str(p, "last_trigger_at")) - iso_s(str(p, "first_trigger_at"));
    fprintf(stderr, "test_lifecycle: rotation of %d at %g/s: triggers spread over %.3f s, "
            "device reached after %lld ms\n", ROT_N + 1, ROT_RATE, span, (long long)elapsed);
    free(t);
    json_decref(p);
    /* The rate holds: n triggers span at least (n-1)/rate, and every window
     * of rate/2 consecutive devices takes at least 0.5 s (tolerance 50 ms). */
    ck_assert_msg(span >= ROT_N / ROT_RATE - 0.05, "span %.3f s", span);
    ck_assert_int_ge(elapsed, (int64_t)(ROT_N / ROT_RATE * 1000) - 50);
    snprintf(idt, sizeof idt, "%lld", (long long)id);
    db(&e, "WITH t AS (SELECT extract(epoch FROM triggered_at) AS at,"
       " (detail->>'order')::int AS n FROM workflows WHERE parent = $1::bigint)"
       " SELECT count(*) FROM t a JOIN t b ON b.n = a.n + 250"
       " WHERE b.at - a.at < 0.5 - 0.05", idt, v, sizeof v);
    ck_assert_str_eq(v, "0");
    db(&e, "WITH t AS (SELECT triggered_at AS at, (detail->>'order')::int AS n"
       " FROM workflows WHERE parent = $1::bigint)"
       " SELECT count(*) FROM t a JOIN t b ON b.n = a.n + 1 WHERE b.at < a.at", idt, v,
       sizeof v);
    ck_assert_str_eq(v, "0");
    db(&e, "SELECT count(*) FROM workflows WHERE parent = $1::bigint"
       " AND cause LIKE 'not_registered%'", idt, v, sizeof v);
    ck_assert_str_eq(v, "1000");
    db(&e, "SELECT count(*) FROM audit_log WHERE action = 'bootstrap.rotation'"
       " AND target = 'rot-*' AND detail->>'reason' = $1 AND actor_token_id IS NOT NULL",
       "key policy", v, sizeof v);
    ck_assert_str_eq(v, "1");
    db(&e, "SELECT count(*) FROM audit_log WHERE action = 'device.bootstrap'"
       " AND detail->>'reason' = $1 AND detail ? 'rotation'", "key policy", v, sizeof v);
    ck_assert_str_eq(v, "1001");
    harness_device_free(d1);
    harness_device_free(d2);
    stop(&e);
}
END_TEST

START_TEST(t_errors)
{
    struct env e;
    start(&e, "lodestar_lc_err");
    json_decref(api(&e, "POST", "/api/devices/nope/bootstrap", NULL, 404));
    json_decref(api(&e, "GET", "/api/workflows/999", NULL, 404));
    json_decref(api(&e, "GET", "/api/workflows/abc", NULL, 404));
    json_decref(api(&e, "GET", "/api/bootstrap/rotations/999", NULL, 404));
    json_decref(api(&e, "POST", "/api/bootstrap/rotations", "{\"rate\":5}", 400));
    json_decref(api(&e, "POST", "/api/bootstrap/rotations",
                    "{\"endpoints\":[\"a\"],\"match\":\"*\"}", 400));
    json_decref(api(&e, "POST", "/api/bootstrap/rotations",
                    "{\"endpoints\":[\"a\",\"a\"]}", 400));
    json_decref(api(&e, "POST", "/api/bootstrap/rotations",
                    "{\"endpoints\":[\"a\"],\"rate\":0}", 400));
    json_decref(api(&e, "POST", "/api/bootstrap/rotations", "{\"match\":\"zz*\"}", 400));
    json_decref(api(&e, "POST", "/api/bootstrap/rotations", "[1]", 400));
    /* a known but unregistered device */
    json_decref(api(&e, "POST", "/api/factory/batches",
                    "{\"endpoints\":[\"known\"],\"bootstrap\":{\"uri\":\"coaps://x:1\"}}", 201));
    json_t *j = api(&e, "POST", "/api/devices/known/bootstrap", NULL, 404);
    ck_assert_str_eq(str(json_object_get(j, "error"), "code"), "not_registered");
    json_decref(j);
    /* roles: a viewer may not trigger, an operator may not rotate */
    json_t *t = api(&e, "POST", "/api/tokens", "{\"name\":\"op\",\"role\":\"operator\"}", 201);
    char op[128];
    snprintf(op, sizeof op, "%s", str(t, "token"));
    json_decref(t);
    t = api(&e, "POST", "/api/tokens", "{\"name\":\"vw\",\"role\":\"viewer\"}", 201);
    char vw[128];
    snprintf(vw, sizeof vw, "%s", str(t, "token"));
    json_decref(t);
    ck_assert_int_eq(call(&e, "POST", "/api/devices/known/bootstrap", vw, NULL, NULL), 403);
    ck_assert_int_eq(call(&e, "POST", "/api/devices/known/bootstrap", op, NULL, NULL), 404);
    ck_assert_int_eq(call(&e, "POST", "/api/bootstrap/rotations", op,
                          "{\"endpoints\":[\"known\"]}", NULL), 403);
    /* a rotation of an unregistered device fails it, with the cause */
    json_t *r = api(&e, "POST", "/api/bootstrap/rotations",
                    "{\"endpoints\":[\"known\",\"ghost\"],\"rate\":100}", 202);
    char path[96];
    snprintf(path, sizeof path, "/api/bootstrap/rotations/%lld",
             (long long)json_integer_value(json_object_get(r, "rotation")));
    json_decref(r);
    int64_t deadline = harness_now_ms() + STEP_MS;
    json_t *p;
    while ((p = api(&e, "GET", path, NULL, 200)),
           json_integer_value(json_object_get(p, "failed")) < 2 && harness_now_ms() < deadline) {
        json_decref(p);
        harness_sleep_ms(50);   /* poll interval */
    }
    ck_assert_int_eq(json_integer_value(json_object_get(p, "failed")), 2);
    json_decref(p);
    stop(&e);
}
END_TEST

/* The value at path in d, or NULL. */
static const struct lwm2m_value *value_at(const struct lwm2m_data *d, uint16_t o, uint16_t i,
                                          uint16_t r)
{
    struct lwm2m_path p = lwm2m_path_resource(o, i, r);
    for (size_t k = 0; k < d->count; k++)
        if (lwm2m_path_equal(&d->values[k].path, &p))
            return &d->values[k];
    return NULL;
}

static void check_bytes(const struct lwm2m_data *d, uint16_t o, uint16_t i, uint16_t r,
                        const char *want_text, const char *want_hex)
{
    const struct lwm2m_value *v = value_at(d, o, i, r);
    ck_assert_msg(v != NULL, "/%u/%u/%u missing", o, i, r);
    uint8_t key[64];
    size_t n = want_hex ? unhex(want_hex, key, sizeof key) : strlen(want_text);
    const void *want = want_hex ? (const void *)key : want_text;
    ck_assert_uint_eq(v->v.bytes.len, n);
    ck_assert(memcmp(v->v.bytes.ptr, want, n) == 0);
}

static void check_int(const struct lwm2m_data *d, uint16_t o, uint16_t i, uint16_t r,
                      int64_t want)
{
    const struct lwm2m_value *v = value_at(d, o, i, r);
    ck_assert_msg(v != NULL, "/%u/%u/%u missing", o, i, r);
    int64_t got = v->type == LWM2M_TYPE_UNSIGNED ? (int64_t)v->v.u
                  : v->type == LWM2M_TYPE_FLOAT  ? (int64_t)v->v.f : v->v.i;
    ck_assert_int_eq(got, want);
}

/* Decodes one base64 blob in format under base into out. */
static void decode(const char *b64, unsigned format, const struct lwm2m_path *base,
                   const struct lwm2m_model *m, struct lwm2m_data *out)
{
    uint8_t raw[4096];
    size_t len = 0;
    ck_assert_uint_lt(strlen(b64) * 3 / 4 + 3, sizeof raw);
    ck_assert(lwm2m_codec_base64_decode(b64, strlen(b64), raw, &len));
    struct ls_error err = { 0 };
    ck_assert_msg(lwm2m_format_decode(format, raw, len, base, m, out, &err) == LS_OK,
                  "decode: %s", err.msg);
}

START_TEST(t_blobs)
{
    struct env e;
    start(&e, "lodestar_lc_blob");
    json_t *r = api(&e, "POST", "/api/factory/batches",
                    "{\"count\":3,\"prefix\":\"bl-\",\"bootstrap\":{\"uri\":"
                    "\"coaps://bs.example.com:5784\"},\"server\":{\"uri\":"
                    "\"coaps://lwm2m.example.com:5684\",\"ssid\":101}}", 201);
    char path[128];
    long long id = (long long)json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    snprintf(path, sizeof path, "/api/factory/batches/%lld", id);
    json_t *doc = api(&e, "GET", path, NULL, 200);
    struct ls_error err = { 0 };
    struct lwm2m_model *m = lwm2m_model_new(&err);
    ck_assert_ptr_nonnull(m);
    const char *formats[] = { "tlv", "senml-cbor" };
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "/api/factory/batches/%lld?format=%s", id, formats[f]);
        json_t *bl = api(&e, "GET", path, NULL, 200);
        ck_assert_str_eq(str(bl, "format"), formats[f]);
        json_t *devs = json_object_get(bl, "devices");
        ck_assert_uint_eq(json_array_size(devs), 3);
        for (size_t i = 0; i < 3; i++) {
            json_t *b = json_array_get(devs, i), *x = json_array_get(json_object_get(doc,
                                                                     "devices"), i);
            json_t *bs = json_object_get(x, "bootstrap"), *sv = json_object_get(x, "server");
            ck_assert_str_eq(str(b, "endpoint"), str(x, "endpoint"));
            struct lwm2m_data d;
            lwm2m_data_init(&d);
            if (f == 0) {
                struct lwm2m_path o0 = lwm2m_path_object(0), o1 = lwm2m_path_object(1);
                decode(str(b, "blob"), LWM2M_FORMAT_TLV, &o0, m, &d);
                decode(str(b, "server_blob"), LWM2M_FORMAT_TLV, &o1, m, &d);
            } else {
                struct lwm2m_path root = lwm2m_path_root();
                ck_assert_ptr_null(json_object_get(b, "server_blob"));
                decode(str(b, "blob"), LWM2M_FORMAT_SENML_CBOR, &root, m, &d);
            }
            check_bytes(&d, 0, 0, 0, str(bs, "uri"), NULL);
            check_bytes(&d, 0, 0, 3, str(bs, "identity"), NULL);
            check_bytes(&d, 0, 0, 5, NULL, str(bs, "key"));
            check_bytes(&d, 0, 1, 0, str(sv, "uri"), NULL);
            check_bytes(&d, 0, 1, 3, str(sv, "identity"), NULL);
            check_bytes(&d, 0, 1, 5, NULL, str(sv, "key"));
            check_int(&d, 0, 0, 2, 0);
            check_int(&d, 0, 1, 10, 101);
            check_int(&d, 1, 0, 0, 101);
            check_int(&d, 1, 0, 1, 86400);
            check_bytes(&d, 1, 0, 7, "U", NULL);
            const struct lwm2m_value *isbs = value_at(&d, 0, 0, 1);
            ck_assert(isbs && isbs->v.b);
            lwm2m_data_free(&d);
        }
        json_decref(bl);
    }
    /* each export is audited with its format */
    char v[32];
    db(&e, "SELECT count(*) FROM audit_log WHERE action = 'factory.export'"
       " AND detail->>'format' = $1", "senml-cbor", v, sizeof v);
    ck_assert_str_eq(v, "1");
    lwm2m_model_free(m);
    json_decref(doc);
    stop(&e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_lifecycle);
    tcase_add_test(tc, t_interrupted);
    tcase_add_test(tc, t_v10_fallback);
    tcase_add_test(tc, t_ssid);
    tcase_add_test(tc, t_rotation);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_blobs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    int failed = harness_run_suite(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
