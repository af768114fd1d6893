/*
 * tests/integration/test_lifecycle.c -- the credential lifecycle end to
 * end (issue 7): lodestar-server and lodestar-bootstrap as processes on one
 * fresh database, the libcoap test device (tests/harness/lwm2m_device.h)
 * over DTLS-PSK, nothing but API calls and the device's own behaviour
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).  Two Check
 * cases, two meson tests: "lifecycle" (the tests below up to blobs, but
 * queue) and "credentials" (queue, resume, x509, rpk_revoke; meson test
 * lifecycle_credentials); CK_RUN_CASE picks one.
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
 *   queue        a queue-mode device asleep: the trigger is queued (202,
 *                a command), delivered at its next Update, and the
 *                workflow still ends re_registered (short awake window:
 *                LODESTAR_QUEUE_AWAKE_MS through the harness env option).
 *   v10          a 1.0 device: the fallback revokes its management keys,
 *                it is cut off, re-bootstraps and re-registers.
 *   rotation     a bulk rotation of 1000 devices at 500/s (plus one real
 *                device): the rate holds (trigger times), progress adds
 *                up, the real device ends re_registered.
 *   resume       a rotation outlives its server: halted mid-rotation and
 *                started again, the server triggers the devices still
 *                pending, each once, in order, at the rate.
 *   x509         X.509 issuing: a factory device bootstraps with an issued
 *                certificate (fresh EC key, signed by the device CA, CN =
 *                endpoint), registers over DTLS X.509; revoked, its
 *                session is cut and the certificate refused at the
 *                handshake; it re-bootstraps with a new certificate.
 *   rpk_revoke   a raw public key revoked: its session is cut, its next
 *                handshake refused.
 *   errors       404 / 400 / 403 answers.
 *   blobs        factory export as per-device TLV and SenML-CBOR blobs,
 *                decoded back with the lwm2m/ codecs: the accounts' values.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* server_env: extra "NAME=value" entries for lodestar-server,
 * server_extra and bs_extra: more flags for the daemons (all may be NULL;
 * bs_extra at most 8). */
static void start_full(struct env *e, const char *prefix, const char *const *server_env,
                       const char *const *server_extra, const char *const *bs_extra)
{
    struct harness_server_options o = { .db_prefix = prefix, .migrate = true,
                                        .who = "test_lifecycle", .stop_ms = STOP_MS,
                                        .env = server_env, .extra = server_extra };
    harness_server_start(&e->s, &o);
    const char *bin = getenv("LODESTAR_BOOTSTRAP_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_BOOTSTRAP_BIN is not set (run through meson test)");
    char *argv[16] = { "lodestar-bootstrap", "--coap", "127.0.0.1:0", "--coaps",
                       "127.0.0.1:0" };
    for (size_t i = 0; bs_extra && bs_extra[i]; i++) {
        ck_assert_uint_lt(i, 8);
        argv[5 + i] = (char *)bs_extra[i];
    }
    char *env[] = { "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, e->s.db_env, NULL };
    e->bs = harness_proc_spawn("bootstrap", bin, argv, env);
    ck_assert_ptr_nonnull(e->bs);
    harness_wait_listening(e->bs, "coap", START_MS, e->bs_coap, sizeof e->bs_coap);
    harness_wait_listening(e->bs, "coaps", START_MS, e->bs_coaps, sizeof e->bs_coaps);
    ck_assert(harness_proc_wait_line(e->bs, "event=started ", START_MS, NULL, 0));
}

static void start_env(struct env *e, const char *prefix, const char *const *server_env)
{
    start_full(e, prefix, server_env, NULL, NULL);
}

static void start(struct env *e, const char *prefix)
{
    start_env(e, prefix, NULL);
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
static json_t *factory_security(const struct env *e, const char *const *eps, size_t n,
                                const char *security)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"match\":\"*\",\"servers\":[{\"uri\":\"coaps://%s\","
             "\"ssid\":101,\"security\":\"%s\",\"credentials\":\"issue\",\"lifetime\":%d}]}",
             e->s.coaps, security, LIFETIME_S);
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

static json_t *factory(const struct env *e, const char *const *eps, size_t n)
{
    return factory_security(e, eps, n, "psk");
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

/* The device's last awake/sleeping event is 'sleeping' (polled). */
static bool asleep(const struct env *e, const char *ep)
{
    char v[32];
    int64_t deadline = harness_now_ms() + STEP_MS;
    for (;;) {
        db(e, "SELECT kind FROM events WHERE endpoint = $1 AND kind IN ('awake', 'sleeping')"
           " ORDER BY id DESC LIMIT 1", ep, v, sizeof v);
        if (strcmp(v, "sleeping") == 0)
            return true;
        if (harness_now_ms() > deadline)
            return false;
        harness_sleep_ms(50);   /* poll interval */
    }
}

/* A queue-mode device: the trigger is queued as a command (202), goes out
 * when the device next wakes (its Update), and the workflow goes on
 * triggered -> bootstrap started -> finished -> re-registered. */
START_TEST(t_queue)
{
    struct env e;
    const char *env[] = { "LODESTAR_QUEUE_AWAKE_MS=1500", NULL };
    start_env(&e, "lodestar_lc_queue", env);
    const char *ep = "lc-q";
    json_t *doc = factory(&e, &ep, 1);
    char loc[64], v[256], path[256], args[16];
    struct harness_device_account a1, a2;
    struct harness_device *d1 = first_registration(&e, doc, 0, ep, "1.1", &a1, loc, sizeof loc);
    /* it registers again in queue mode, then sleeps */
    ck_assert_int_eq(harness_device_register_lwm2m(d1, ep, LIFETIME_S, NULL, true, NULL, 5000,
                                                   loc, sizeof loc), 201);
    db(&e, "SELECT queue FROM registrations WHERE endpoint = $1", ep, v, sizeof v);
    ck_assert_str_eq(v, "t");
    harness_device_sleep(d1);
    ck_assert_msg(asleep(&e, ep), "no sleeping event");
    int64_t wf = trigger(&e, ep, "queued%20rotation");
    /* triggered when the Execute goes out; its answer (202: queued) follows */
    json_t *w = NULL, *det = NULL;
    int64_t deadline = harness_now_ms() + STEP_MS;
    for (;;) {
        w = workflow(&e, wf);
        det = json_object_get(w, "detail");
        if (json_object_get(det, "trigger_status") || harness_now_ms() > deadline)
            break;
        json_decref(w);
        harness_sleep_ms(50);   /* poll interval */
    }
    ck_assert_str_eq(str(w, "state"), "triggered");
    ck_assert_int_eq(json_integer_value(json_object_get(det, "trigger_status")), 202);
    int64_t cmd = json_integer_value(json_object_get(det, "command"));
    ck_assert_int_gt(cmd, 0);
    ck_assert_str_eq(str(det, "path"), "/1/0/9");
    json_decref(w);
    /* the Execute waits in the device's queue; the device saw nothing */
    snprintf(path, sizeof path, "/api/devices/%s/commands?state=queued", ep);
    json_t *q = api(&e, "GET", path, NULL, 200);
    json_t *c0 = json_array_get(json_object_get(q, "commands"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(q, "commands")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(c0, "id")), cmd);
    ck_assert_str_eq(str(c0, "op"), "execute");
    json_decref(q);
    ck_assert_uint_eq(harness_device_last_execute(d1, "/1/0/9", args, sizeof args), 0);
    /* it wakes: the Update delivers the queued Execute */
    harness_device_wake(d1);
    ck_assert_int_eq(harness_device_update(d1, loc, NULL, NULL, 5000), 204);
    ck_assert_uint_eq(harness_device_wait_bootstrap_trigger(d1, 0, STEP_MS), 1);
    ck_assert_uint_eq(harness_device_last_execute(d1, "/1/0/9", args, sizeof args), 1);
    snprintf(path, sizeof path, "/api/commands/%lld", (long long)cmd);
    deadline = harness_now_ms() + STEP_MS;
    json_t *c = NULL;
    for (;;) {
        harness_device_run(d1, 50);   /* the device keeps serving */
        c = api(&e, "GET", path, NULL, 200);
        if (strcmp(str(c, "state"), "done") == 0 || harness_now_ms() > deadline)
            break;
        json_decref(c);
    }
    ck_assert_str_eq(str(c, "state"), "done");
    ck_assert_str_eq(str(c, "coap"), "2.04");
    json_decref(c);
    /* its reaction: bootstrap, register with new keys */
    struct harness_device *d2 = rebootstrap(d1, ep, loc, sizeof loc);
    account(d2, &a2);
    ck_assert_str_ne(a1.identity, a2.identity);
    ck_assert(registered_as(&e, ep, a2.identity));
    assert_state(&e, wf, "re_registered");
    ck_assert(old_key_refused(&e, &a1, ep));
    deadline = harness_now_ms() + STEP_MS;
    bool fin = false;
    while (!fin && harness_now_ms() < deadline) {
        w = workflow(&e, wf);
        json_t *steps = json_object_get(json_object_get(w, "detail"), "steps");
        fin = json_object_get(steps, "bootstrap_finished") != NULL;
        if (fin) {
            const char *want[] = { "pending", "triggered", "bootstrap_started",
                                   "re_registered" };
            for (size_t i = 0; i < 4; i++)
                ck_assert_msg(json_object_get(steps, want[i]), "no step %s", want[i]);
        }
        json_decref(w);
        if (!fin)
            harness_sleep_ms(50);   /* poll interval */
    }
    ck_assert_msg(fin, "bootstrap_finished never recorded");
    ck_assert_int_eq(audited(&e, "device.bootstrap", ep, "queued rotation"), 1);
    harness_device_free(d1);
    harness_device_free(d2);
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

static json_t *rotation(const struct env *e, int64_t id)
{
    char path[96];
    snprintf(path, sizeof path, "/api/bootstrap/rotations/%lld", (long long)id);
    return api(e, "GET", path, NULL, 200);
}

static int64_t num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

#define RES_N 30
#define RES_RATE 5.0

/* A rotation outlives its server: halted mid-rotation, the server started
 * again triggers the devices still pending, each once, and the rotation
 * ends triggered.  Three real (NoSec) devices at the start, middle and end
 * count the Executes they get. */
START_TEST(t_resume)
{
    struct env e;
    char coap[32];
    snprintf(coap, sizeof coap, "127.0.0.1:%u", harness_free_udp_port());
    struct harness_server_options o = { .db_prefix = "lodestar_lc_resume", .migrate = true,
                                        .who = "test_lifecycle", .stop_ms = STOP_MS,
                                        .coap = coap };
    harness_server_start(&e.s, &o);
    const unsigned real[3] = { 0, RES_N / 2, RES_N - 1 };
    struct harness_device *d[3];
    char name[RES_N][16], loc[64];
    json_t *list = json_array();
    for (unsigned i = 0; i < RES_N; i++) {
        snprintf(name[i], sizeof name[i], "res-%02u", i);
        json_array_append_new(list, json_string(name[i]));
    }
    for (unsigned k = 0; k < 3; k++) {
        struct harness_device_options dopt = { .server = e.s.coap };
        d[k] = harness_device_new(&dopt);
        ck_assert_ptr_nonnull(d[k]);
        ck_assert_int_eq(harness_device_register_lwm2m(d[k], name[real[k]], LIFETIME_S, NULL,
                                                       false, NULL, 5000, loc, sizeof loc),
                         201);
        ck_assert(harness_device_start_thread(d[k]));
    }
    json_t *req = json_pack("{s:o,s:f,s:s}", "endpoints", list, "rate", RES_RATE, "reason",
                            "resume test");
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    json_t *r = api(&e, "POST", "/api/bootstrap/rotations", body, 202);
    free(body);
    int64_t id = num(r, "rotation");
    json_decref(r);
    /* halt once a few are triggered and most are still pending */
    int64_t deadline = harness_now_ms() + STEP_MS;
    json_t *p;
    while ((p = rotation(&e, id)), num(p, "triggered") < 3 && harness_now_ms() < deadline) {
        json_decref(p);
        harness_sleep_ms(20);   /* poll interval */
    }
    ck_assert_int_ge(num(p, "triggered"), 3);
    json_decref(p);
    harness_server_halt(&e.s);
    char idt[24], v[64];
    snprintf(idt, sizeof idt, "%lld", (long long)id);
    db(&e, "SELECT count(*) FROM workflows WHERE parent = $1::bigint AND state = 'pending'",
       idt, v, sizeof v);
    long left = strtol(v, NULL, 10);
    ck_assert_msg(left >= 5, "only %ld pending at the halt", left);
    harness_server_spawn(&e.s);
    deadline = harness_now_ms() + STEP_MS + (int64_t)(RES_N / RES_RATE * 1000);
    while ((p = rotation(&e, id)),
           (num(p, "pending") > 0 || strcmp(str(p, "state"), "triggered") != 0) &&
           harness_now_ms() < deadline) {
        json_decref(p);
        harness_sleep_ms(50);   /* poll interval */
    }
    char *t = json_dumps(p, 0);
    ck_assert_msg(num(p, "pending") == 0 && num(p, "triggered") == RES_N &&
                  strcmp(str(p, "state"), "triggered") == 0, "rotation: %s", t);
    free(t);
    json_decref(p);
    char *log = harness_proc_stderr(e.s.proc);   /* logged before event=started */
    ck_assert_msg(strstr(log, "event=rotation_resumed rotation=") != NULL, "not resumed");
    free(log);
    /* every real device got exactly one Execute, the first one before the halt */
    char args[16];
    for (unsigned k = 0; k < 3; k++) {
        deadline = harness_now_ms() + STEP_MS;
        while (harness_device_last_execute(d[k], "/1/0/9", args, sizeof args) == 0 &&
               harness_now_ms() < deadline)
            harness_sleep_ms(20);   /* poll interval */
        ck_assert_uint_eq(harness_device_last_execute(d[k], "/1/0/9", args, sizeof args), 1);
    }
    /* the resumed devices kept the order and the rate */
    db(&e, "WITH t AS (SELECT triggered_at AS at, (detail->>'order')::int AS n"
       " FROM workflows WHERE parent = $1::bigint)"
       " SELECT count(*) FROM t a JOIN t b ON b.n = a.n + 1 WHERE b.at < a.at", idt, v,
       sizeof v);
    ck_assert_str_eq(v, "0");
    char gaps[512];
    db(&e, "WITH t AS (SELECT extract(epoch FROM triggered_at) AS at,"
       " (detail->>'order')::int AS n FROM workflows WHERE parent = $1::bigint)"
       " SELECT coalesce(string_agg(a.n || ':' || round((b.at - a.at)::numeric, 3), ' '), '')"
       " FROM t a JOIN t b ON b.n = a.n + 1"
       " WHERE b.at - a.at < 1 / 5.0 - 0.02", idt, gaps, sizeof gaps);   /* RES_RATE */
    char times[1024];
    db(&e, "SELECT string_agg((detail->>'order') || '@' || to_char(triggered_at, 'SS.MS'),"
       " ' ' ORDER BY (detail->>'order')::int) FROM workflows WHERE parent = $1::bigint",
       idt, times, sizeof times);
    ck_assert_msg(gaps[0] == '\0', "triggers closer than 1/rate: %s (%s)", gaps, times);
    db(&e, "SELECT (detail->>'resumed')::int FROM workflows WHERE id = $1::bigint", idt, v,
       sizeof v);
    ck_assert_str_eq(v, "1");
    for (unsigned k = 0; k < 3; k++)
        harness_device_free(d[k]);
    harness_server_stop(&e.s);
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
    long long rid = json_integer_value(json_object_get(r, "rotation"));
    snprintf(path, sizeof path, "/api/bootstrap/rotations/%lld", rid);
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
    /* The lists the dashboard reads, newest first; a viewer may read them. */
    ck_assert_int_eq(call(&e, "GET", "/api/bootstrap/rotations", vw, NULL, NULL), 200);
    j = api(&e, "GET", "/api/bootstrap/rotations?limit=5", NULL, 200);
    json_t *first = json_array_get(json_object_get(j, "rotations"), 0);
    ck_assert_int_eq(num(first, "id"), rid);
    ck_assert_int_eq(num(first, "total"), 2);
    ck_assert_int_eq(num(first, "failed"), 2);
    json_decref(j);
    snprintf(path, sizeof path, "/api/workflows?rotation=%lld", rid);
    j = api(&e, "GET", path, NULL, 200);
    json_t *list = json_object_get(j, "workflows");
    ck_assert_uint_eq(json_array_size(list), 2);
    ck_assert_str_eq(str(json_array_get(list, 0), "state"), "failed");
    ck_assert_int_eq(num(json_array_get(list, 1), "parent"), rid);
    json_decref(j);
    j = api(&e, "GET", "/api/workflows?state=failed&limit=1", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "workflows")), 1);
    json_decref(j);
    j = api(&e, "GET", "/api/workflows?rotation=none", NULL, 200);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "workflows")), 0);
    json_decref(j);
    json_decref(api(&e, "GET", "/api/workflows?state=asleep", NULL, 400));
    json_decref(api(&e, "GET", "/api/workflows?rotation=x", NULL, 400));
    json_decref(api(&e, "GET", "/api/bootstrap/rotations?limit=0", NULL, 400));
    stop(&e);
}
END_TEST

/* ---- X.509 issuing (device CA) ---- */

static char pki[64];

/* Runs "openssl <args>" in pki; asserts it worked. */
static void openssl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && openssl %s >/dev/null 2>&1", pki, args);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static void pki_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", pki, name);
}

static X509 *pem_cert(const char *name)
{
    char path[128];
    pki_path(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* "sha256:" + hex of the first 16 bytes of SHA-256(der). */
static void cert_id(const uint8_t *der, size_t len, char out[40])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    ck_assert(EVP_Digest(der, len, md, &n, EVP_sha256(), NULL));
    memcpy(out, "sha256:", 7);
    hex_of(md, 16, out + 7);
}

/* The issued account: certificate mode, CN = ep, signed by the device CA,
 * a private key matching it, the server certificate as /0/x/4.  *id gets
 * the certificate's id. */
static void check_issued(struct harness_device *d, const char *ep, X509 *ca, X509 *server,
                         struct harness_device_account *a, char id[40])
{
    ck_assert(harness_device_server_account(d, 0, a));
    ck_assert_int_eq(a->security_mode, 2);
    const uint8_t *p = a->public_key;
    X509 *c = d2i_X509(NULL, &p, (long)a->public_key_len);
    ck_assert_ptr_nonnull(c);
    char cn[128];
    ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn,
                                               sizeof cn), 0);
    ck_assert_str_eq(cn, ep);
    ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(ca)), 0);
    ck_assert_int_eq(X509_verify(c, X509_get0_pubkey(ca)), 1);
    ck_assert_int_gt(ASN1_INTEGER_get(X509_get0_serialNumber(c)) != 0 ||
                     X509_get0_serialNumber(c)->length > 8, 0);
    ck_assert_int_lt(X509_cmp_current_time(X509_get0_notBefore(c)), 0);
    ck_assert_int_gt(X509_cmp_current_time(X509_get0_notAfter(c)), 0);
    p = a->key;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)a->key_len);
    ck_assert_ptr_nonnull(p8);
    EVP_PKEY *k = EVP_PKCS82PKEY(p8);
    ck_assert_ptr_nonnull(k);
    ck_assert_int_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    ck_assert_int_eq(X509_check_private_key(c, k), 1);
    EVP_PKEY_free(k);
    PKCS8_PRIV_KEY_INFO_free(p8);
    X509_free(c);
    /* /0/x/4: the server's certificate */
    char path[32];
    uint8_t *spk = NULL;
    size_t spk_len = 0;
    snprintf(path, sizeof path, "/0/%u/4", a->security_instance);
    ck_assert(harness_device_get_opaque(d, path, &spk, &spk_len));
    uint8_t *want = NULL;
    int want_len = i2d_X509(server, &want);
    ck_assert_int_gt(want_len, 0);
    ck_assert_uint_eq(spk_len, (size_t)want_len);
    ck_assert(memcmp(spk, want, spk_len) == 0);
    OPENSSL_free(want);
    free(spk);
    cert_id(a->public_key, a->public_key_len, id);
}

/* A new handshake with the account's certificate is refused. */
static bool cert_refused(const struct env *e, struct harness_device *d,
                         const struct harness_device_account *a, const char *ep)
{
    struct harness_device *n = harness_device_new_for_account(d, a);
    ck_assert_ptr_nonnull(n);
    char loc[64];
    int code = harness_device_register_lwm2m(n, ep, LIFETIME_S, NULL, false, NULL, 3000, loc,
                                             sizeof loc);
    bool refused = code == -1 && harness_device_dtls_failed(n);
    harness_device_free(n);
    return refused;
}

/* Factory account -> bootstrap with an issued X.509 credential (fresh key
 * pair, certificate from the device CA) -> DTLS X.509 registration with
 * lodestar-server -> revoke: session cut, the certificate refused at the
 * handshake -> re-bootstrap with a new certificate. */
START_TEST(t_x509)
{
    snprintf(pki, sizeof pki, "/tmp/lodestar-x509i.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(pki));
    openssl("ecparam -name prime256v1 -genkey -noout -out ca.key");
    openssl("req -x509 -new -key ca.key -subj /CN=lodestar-device-ca -days 2 -out ca.pem");
    openssl("ecparam -name prime256v1 -genkey -noout -out server.key");
    openssl("req -new -key server.key -subj /CN=localhost -out server.csr");
    openssl("x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            "-out server.pem");
    char ca_pem[128], ca_key[128], srv_pem[128], srv_key[128];
    pki_path(ca_pem, sizeof ca_pem, "ca.pem");
    pki_path(ca_key, sizeof ca_key, "ca.key");
    pki_path(srv_pem, sizeof srv_pem, "server.pem");
    pki_path(srv_key, sizeof srv_key, "server.key");
    const char *server_extra[] = { "--dtls-cert", srv_pem, "--dtls-key", srv_key, "--ca-file",
                                   ca_pem, NULL };
    const char *bs_extra[] = { "--device-ca-cert", ca_pem, "--device-ca-key", ca_key,
                               "--server-cert", srv_pem, "--device-cert-days", "30", NULL };
    struct env e;
    start_full(&e, "lodestar_lc_x509", NULL, server_extra, bs_extra);
    X509 *ca = pem_cert("ca.pem"), *server = pem_cert("server.pem");
    const char *ep = "lc-x509";
    json_t *doc = factory_security(&e, &ep, 1, "x509");
    char loc[64], v[512], id1[40], id2[40], keyhex[600];
    struct harness_device_account a1, a2;
    uint8_t key[64];

    /* factory -> bootstrap with an issued certificate -> X.509 registration */
    struct harness_device *d0 = factory_device(&e, doc, 0, "1.1", key);
    struct harness_device *d1 = rebootstrap(d0, ep, loc, sizeof loc);
    harness_device_free(d0);
    check_issued(d1, ep, ca, server, &a1, id1);
    db(&e, "SELECT security || ' ' || identity FROM registrations WHERE endpoint = $1", ep, v,
       sizeof v);
    char want[80];
    snprintf(want, sizeof want, "x509 %s", id1);
    ck_assert_str_eq(v, want);
    db(&e, "SELECT mode || ' ' || state || ' ' || (certificate LIKE '-----BEGIN CERTIFICATE%')"
       "::text FROM credentials WHERE identity = $1", id1, v, sizeof v);
    ck_assert_str_eq(v, "x509 active true");
    /* the private key is stored sealed only */
    hex_of(a1.key, a1.key_len, keyhex);
    db(&e, "SELECT count(*) FROM credentials WHERE position(decode($1, 'hex') IN"
       " coalesce(secret, '') || coalesce(public_key, '')) > 0", keyhex, v, sizeof v);
    ck_assert_str_eq(v, "0");
    ck_assert_int_eq(harness_device_update(d1, loc, NULL, NULL, 5000), 204);

    /* revoke: the registration ends, the session is cut, the certificate
     * (which the CA still vouches for) is refused at the handshake */
    json_decref(api(&e, "POST", "/api/devices/lc-x509/credentials/revoke?reason=x509%20test",
                    NULL, 200));
    int64_t cut = harness_now_ms() + 2000;
    while (registered_as(&e, ep, id1) && harness_now_ms() < cut)
        harness_sleep_ms(20);   /* poll interval */
    ck_assert(!registered_as(&e, ep, id1));
    ck_assert(harness_proc_wait_line(e.s.proc, "event=revoked endpoint=lc-x509", 5000, NULL, 0));
    int up = harness_device_update(d1, loc, NULL, NULL, 1500);
    ck_assert_msg(up == -1 || up == 404, "update after revoke: %d", up);
    ck_assert(cert_refused(&e, d1, &a1, ep));
    ck_assert(harness_proc_wait_line(e.s.proc, "reason=\"certificate refused\"", 5000, NULL, 0));

    /* it falls back to its bootstrap account and gets a new certificate */
    struct harness_device *d2 = rebootstrap(d1, ep, loc, sizeof loc);
    check_issued(d2, ep, ca, server, &a2, id2);
    ck_assert_str_ne(id1, id2);
    ck_assert(registered_as(&e, ep, id2));
    ck_assert(cert_refused(&e, d2, &a1, ep));
    ck_assert_int_eq(audited(&e, "credentials.activate", ep, NULL), 2);
    harness_device_free(d1);
    harness_device_free(d2);
    X509_free(ca);
    X509_free(server);
    json_decref(doc);
    stop(&e);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", pki);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* RPK (issue 7): revoking a raw public key cuts the session made with it
 * and its next handshake is refused. */
START_TEST(t_rpk_revoke)
{
    snprintf(pki, sizeof pki, "/tmp/lodestar-rpkr.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(pki));
    openssl("ecparam -name prime256v1 -genkey -noout -out server.key");
    openssl("ecparam -name prime256v1 -genkey -noout -out device.key");
    openssl("ec -in device.key -pubout -outform DER -out device.spki");
    char srv_key[128], dev_key[128], spki_path[128];
    pki_path(srv_key, sizeof srv_key, "server.key");
    pki_path(dev_key, sizeof dev_key, "device.key");
    pki_path(spki_path, sizeof spki_path, "device.spki");
    uint8_t spki[256];
    FILE *f = fopen(spki_path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(spki, 1, sizeof spki, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    char hex[600], v[128], loc[64], want[48];
    hex_of(spki, n, hex);
    const char *server_extra[] = { "--dtls-key", srv_key, NULL };
    struct env e;
    start_full(&e, "lodestar_lc_rpk", NULL, server_extra, NULL);
    const char *ep = "lc-rpk";
    db(&e, "WITH ep AS (INSERT INTO endpoints (name) VALUES ('lc-rpk') ON CONFLICT DO NOTHING)"
       " INSERT INTO credentials (endpoint, scope, mode, identity, public_key, state,"
       " activated_at) VALUES ('lc-rpk', 'server', 'rpk', '', decode($1, 'hex'), 'active',"
       " now()) RETURNING id", hex, v, sizeof v);
    ck_assert_int_gt(atoi(v), 0);
    struct harness_device_options o = { .server = e.s.coaps, .rpk_key_file = dev_key };
    /* registered once the server loaded the key (a notification away) */
    struct harness_device *d = NULL;
    int code = -1;
    int64_t deadline = harness_now_ms() + STEP_MS;
    while (code != 201 && harness_now_ms() < deadline) {
        harness_device_free(d);
        d = harness_device_new(&o);
        ck_assert_ptr_nonnull(d);
        code = harness_device_register_lwm2m(d, ep, LIFETIME_S, NULL, false, NULL, 3000, loc,
                                             sizeof loc);
    }
    ck_assert_int_eq(code, 201);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    ck_assert(EVP_Digest(spki, n, md, &md_len, EVP_sha256(), NULL));
    memcpy(want, "sha256:", 7);
    hex_of(md, 16, want + 7);
    ck_assert(registered_as(&e, ep, want));
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, 5000), 204);
    /* revoke: the registration ends and the session goes */
    json_decref(api(&e, "POST", "/api/devices/lc-rpk/credentials/revoke?reason=rpk%20test",
                    NULL, 200));
    ck_assert(harness_proc_wait_line(e.s.proc, "event=revoked endpoint=lc-rpk", 5000, NULL, 0));
    ck_assert(!registered_as(&e, ep, want));
    int up = harness_device_update(d, loc, NULL, NULL, 1500);
    ck_assert_msg(up == -1 || up == 404, "update after revoke: %d", up);
    harness_device_free(d);
    /* a new handshake with the key is refused */
    d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(harness_device_register_lwm2m(d, ep, LIFETIME_S, NULL, false, NULL, 3000,
                                                   loc, sizeof loc), -1);
    ck_assert(harness_device_dtls_failed(d));
    harness_device_free(d);
    stop(&e);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", pki);
    ck_assert_int_eq(system(rm), 0);
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
    /* issue 7's later pieces: their own case, run as the meson test
     * lifecycle_credentials (CK_RUN_CASE=credentials) */
    TCase *tq = tcase_create("credentials");
    tcase_set_timeout(tq, 180);
    tcase_add_test(tq, t_queue);
    tcase_add_test(tq, t_resume);
    tcase_add_test(tq, t_x509);
    tcase_add_test(tq, t_rpk_revoke);
    suite_add_tcase(s, tq);
    return s;
}

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    int failed = harness_run_suite(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
