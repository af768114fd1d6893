/*
 * tests/integration/test_bootstrap.c -- lodestar-bootstrap end to end
 *
 * The daemons run as processes against the test Postgres
 * (LODESTAR_TEST_PGURI); the harness device in its bootstrap client role
 * (tests/harness/lwm2m_device_bootstrap.c, harness_device_bootstrap)
 * bootstraps like a real client: keeps its own bootstrap account, answers
 * Discover, applies writes, checks Finish; then a copy of it registers
 * with lodestar-server with the account it was given
 * (harness_device_new_for_account).  A device that falls silent
 * mid-sequence is the harness device that stops pumping its loop after
 * the 2.04 to its Bootstrap-Request.  Configurations are inserted with SQL
 * (bootstrap_configs), endpoint names carry a per-run tag so runs never
 * collide.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <coap3/coap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "lwm2m_device.h"
#include "store/credentials.h"
#include "store/factory.h"
#include "store/secret.h"
#include "store/store.h"

#define KEY_HEX "8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define KEY_ENV "LODESTAR_MASTER_KEY=" KEY_HEX
#define START_MS 20000
#define STOP_MS 15000
#define BS_MS 15000
#define ANSWER_MS 5000
#define LINKS "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>"

static char db_env[1024];
static char run_tag[32];

struct daemon {
    struct harness_proc *p;
    char coap[96];
    char coaps[96];
};

static const char *bin(const char *var)
{
    const char *p = getenv(var);
    ck_assert_msg(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

static void daemon_start(struct daemon *d, bool bootstrap, const char *rate_limit)
{
    char *argv[12] = { bootstrap ? "lodestar-bootstrap" : "lodestar-server", "--coap",
                       "127.0.0.1:0", "--coaps", "127.0.0.1:0", NULL };
    int n = 5;
    if (!bootstrap) {
        argv[n++] = "--http";
        argv[n++] = "127.0.0.1:0";
    } else if (rate_limit) {
        argv[n++] = "--bs-rate-limit";
        argv[n++] = (char *)rate_limit;
    }
    char *env[] = { KEY_ENV, db_env, NULL };
    d->p = harness_proc_spawn(argv[0],
                              bin(bootstrap ? "LODESTAR_BOOTSTRAP_BIN" : "LODESTAR_SERVER_BIN"),
                              argv, env);
    ck_assert_ptr_nonnull(d->p);
    harness_wait_listening(d->p, "coap", START_MS, d->coap, sizeof d->coap);
    harness_wait_listening(d->p, "coaps", START_MS, d->coaps, sizeof d->coaps);
    ck_assert_msg(harness_proc_wait_line(d->p, "event=started ", START_MS, NULL, 0),
                  "not started:\n%s", harness_proc_stderr(d->p));
}

static void daemon_stop(struct daemon *d, const char *name)
{
    ck_assert_int_eq(harness_proc_stop_dump(d->p, name, STOP_MS), 0);
    harness_proc_free(d->p);
    d->p = NULL;
}

static void ep_name(char *buf, size_t cap, const char *base)
{
    snprintf(buf, cap, "%s-%s", base, run_tag);
}

static const char *db_value(const char *sql, const char *arg, char *out, size_t cap)
{
    return harness_db_value(harness_pg_uri(), sql, arg, out, cap);
}

/* Inserts (or replaces) configuration name; kind "endpoint"/"match"/NULL. */
static void put_config(const char *name, const char *kind, const char *key, int priority,
                       const char *body)
{
    char sql[8192];
    snprintf(sql, sizeof sql,
             "INSERT INTO bootstrap_configs (name, endpoint, match, priority, body) "
             "VALUES ('%s', %s%s%s, %s%s%s, %d, '%s') ON CONFLICT (name) DO UPDATE SET "
             "endpoint = EXCLUDED.endpoint, match = EXCLUDED.match, priority = "
             "EXCLUDED.priority, body = EXCLUDED.body",
             name, kind && !strcmp(kind, "endpoint") ? "'" : "",
             kind && !strcmp(kind, "endpoint") ? key : "NULL",
             kind && !strcmp(kind, "endpoint") ? "'" : "",
             kind && !strcmp(kind, "match") ? "'" : "",
             kind && !strcmp(kind, "match") ? key : "NULL",
             kind && !strcmp(kind, "match") ? "'" : "", priority, body);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
}

/* The newest session of endpoint: field (SQL expression over the row). */
static const char *session_field(const char *endpoint, const char *expr, char *out, size_t cap)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM bootstrap_sessions WHERE endpoint = $1 ORDER BY id DESC LIMIT 1",
             expr);
    return db_value(sql, endpoint, out, cap);
}

/* Session records are written after the answer: poll for them. */
static bool session_count_reaches(const char *endpoint, int n)
{
    char v[32];
    int64_t deadline = harness_now_ms() + 10000;
    while (harness_now_ms() < deadline) {
        db_value("SELECT count(*) FROM bootstrap_sessions WHERE endpoint = $1", endpoint, v,
                 sizeof v);
        if (atoi(v) >= n)
            return true;
        harness_sleep_ms(50);   /* poll interval */
    }
    return false;
}

/* A harness device (LwM2M version) talking to server, plain CoAP or, with
 * identity, DTLS-PSK with key (text). */
static struct harness_device *device(const char *server, const char *version,
                                     const char *identity, const char *key)
{
    struct harness_device_options o = {
        .server = server, .version = version, .psk_identity = identity,
        .psk_key = (const uint8_t *)key, .psk_key_len = key ? strlen(key) : 0,
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* A copy of d (with the bootstrapped tree) registers with the first
 * server account the bootstrap wrote.  Returns the Register answer. */
static int register_with_account(struct harness_device *d, const char *ep)
{
    struct harness_device_account a;
    char q_ep[300], loc[128];
    ck_assert_msg(harness_device_server_account(d, 0, &a), "no server account written");
    struct harness_device *r = harness_device_new_for_account(d, &a);
    ck_assert_ptr_nonnull(r);
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    const char *q[] = { q_ep, "lt=60", "lwm2m=1.1", "b=U", NULL };
    int code = harness_device_register(r, q, LINKS, ANSWER_MS, loc, sizeof loc);
    harness_device_free(r);
    return code;
}

static void nosec_config(const char *ep, const struct daemon *srv, const char *extra)
{
    char body[2048], name[160];
    snprintf(body, sizeof body,
             "{\"endpoint\":\"%s\",\"discover\":true,\"read\":true,%s"
             "\"servers\":[{\"uri\":\"coap://%s\",\"ssid\":101,\"lifetime\":60}]}",
             ep, extra ? extra : "", srv->coap);
    snprintf(name, sizeof name, "cfg-%s", ep);
    put_config(name, "endpoint", ep, 100, body);
}

/* ---- tests ---- */

static const struct { const char *version; int pct; } pct_cases[] = {
    { "1.0", -1 }, { "1.1", 11542 }, { "1.0", 1542 }, { "1.1", 110 }, { "1.1", 112 },
    { "1.2", 11544 },
};

START_TEST(test_bootstrap_each_pct_then_register)
{
    struct daemon bs, srv;
    char ep[128], v[256];
    daemon_start(&srv, false, NULL);
    daemon_start(&bs, true, NULL);
    snprintf(ep, sizeof ep, "pct%d-%s", _i, run_tag);
    nosec_config(ep, &srv, NULL);
    struct harness_device *d = device(bs.coap, pct_cases[_i].version, NULL, NULL);
    struct harness_bs_result r;
    ck_assert_msg(harness_device_bootstrap(d, ep, pct_cases[_i].pct, false, BS_MS, &r),
                  "bootstrap failed: request %d finish %d\n%s", r.request_code, r.finish_code,
                  harness_proc_stderr(bs.p));
    ck_assert_int_eq(r.request_code, 204);
    ck_assert_int_eq(r.finish_code, 204);
    ck_assert_uint_ge(r.discovers, 1);
    ck_assert_uint_ge(r.writes, 2);
    ck_assert_uint_eq(r.failed_writes, 0);
    ck_assert_int_eq(register_with_account(d, ep), 201);
    ck_assert(session_count_reaches(ep, 1));
    ck_assert_str_eq(session_field(ep, "outcome", v, sizeof v), "success");
    char name[160];
    snprintf(name, sizeof name, "cfg-%s", ep);
    ck_assert_str_eq(session_field(ep, "config_name", v, sizeof v), name);
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
    daemon_stop(&srv, "server");
}
END_TEST

START_TEST(test_bspack)
{
    struct daemon bs, srv;
    char ep[128], v[256];
    daemon_start(&srv, false, NULL);
    daemon_start(&bs, true, NULL);
    ep_name(ep, sizeof ep, "pack");
    nosec_config(ep, &srv, NULL);
    struct harness_device *d = device(bs.coap, "1.2", NULL, NULL);
    struct harness_bs_result r;
    ck_assert_msg(harness_device_bootstrap(d, ep, 112, true, BS_MS, &r), "pack bootstrap failed");
    ck_assert_int_eq(r.pack_code, 205);
    ck_assert_int_eq(r.request_code, 0);
    ck_assert_int_eq(register_with_account(d, ep), 201);
    ck_assert(session_count_reaches(ep, 1));
    ck_assert_str_eq(session_field(ep, "outcome", v, sizeof v), "success");
    ck_assert_str_eq(session_field(ep, "detail->>'pack'", v, sizeof v), "true");
    harness_device_free(d);

    /* "pack": false -> 4.05 and the client falls back to /bs */
    char ep2[128];
    ep_name(ep2, sizeof ep2, "nopack");
    nosec_config(ep2, &srv, "\"pack\":false,");
    d = device(bs.coap, "1.2", NULL, NULL);
    ck_assert(harness_device_bootstrap(d, ep2, 112, true, BS_MS, &r));
    ck_assert_int_eq(r.pack_code, 405);
    ck_assert_int_eq(r.request_code, 204);
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
    daemon_stop(&srv, "server");
}
END_TEST

START_TEST(test_psk_issued_then_register)
{
    struct daemon bs, srv;
    char ep[128], v[256], body[1024], name[160];
    daemon_start(&srv, false, NULL);
    daemon_start(&bs, true, NULL);
    ep_name(ep, sizeof ep, "issue");
    snprintf(body, sizeof body,
             "{\"servers\":[{\"uri\":\"coaps://%s\",\"ssid\":101,\"security\":\"psk\","
             "\"credentials\":\"issue\"}]}", srv.coaps);
    snprintf(name, sizeof name, "cfg-%s", ep);
    put_config(name, "endpoint", ep, 100, body);
    struct harness_device *d = device(bs.coap, "1.1", NULL, NULL);
    struct harness_bs_result r0;
    ck_assert(harness_device_bootstrap(d, ep, 11542, false, BS_MS, &r0));
    struct harness_device_account a;
    ck_assert(harness_device_server_account(d, 0, &a));
    ck_assert_int_eq(a.security_mode, 0);
    ck_assert_uint_eq(a.key_len, 16);
    ck_assert_msg(strncmp(a.identity, ep, strlen(ep)) == 0, "identity %s", a.identity);
    db_value("SELECT state || ' ' || ssid || ' ' || server_uri FROM credentials "
             "WHERE scope = 'server' AND identity = $1", a.identity, v, sizeof v);
    ck_assert_msg(strncmp(v, "issued 101 coaps://", 19) == 0, "credential row: %s", v);
    /* the server reloads its PSK table on NOTIFY: poll until it accepts */
    int code = -1;
    for (int i = 0; i < 50 && code != 201; i++) {
        code = register_with_account(d, ep);
        if (code != 201)
            harness_sleep_ms(100);   /* retry interval while the server reloads */
    }
    ck_assert_int_eq(code, 201);
    ck_assert(session_count_reaches(ep, 1));
    ck_assert_str_eq(session_field(ep, "outcome", v, sizeof v), "success");
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
    daemon_stop(&srv, "server");
}
END_TEST

START_TEST(test_resolution_order)
{
    struct daemon bs;
    char ep[128], ep2[128], ep3[128], v[256], name[160], pat[160], body[512];
    daemon_start(&bs, true, NULL);
    snprintf(body, sizeof body,
             "{\"servers\":[{\"uri\":\"coap://127.0.0.1:5683\",\"ssid\":101}]}");
    put_config("default", NULL, NULL, 100, body);
    snprintf(name, sizeof name, "tpl-%s", run_tag);
    snprintf(pat, sizeof pat, "res-%s-t*", run_tag);
    put_config(name, "match", pat, 10, body);
    snprintf(ep, sizeof ep, "res-%s-dev", run_tag);
    snprintf(ep2, sizeof ep2, "res-%s-t1", run_tag);
    snprintf(ep3, sizeof ep3, "res-%s-other", run_tag);
    char devname[160];
    snprintf(devname, sizeof devname, "dev-%s", run_tag);
    char devbody[512];
    snprintf(devbody, sizeof devbody,
             "{\"endpoint\":\"%s\",\"servers\":[{\"uri\":\"coap://127.0.0.1:5683\",\"ssid\":7}]}",
             ep);
    put_config(devname, "endpoint", ep, 100, devbody);
    const char *eps[3] = { ep, ep2, ep3 };
    const char *want[3] = { devname, name, "default" };
    for (int i = 0; i < 3; i++) {
        struct harness_device *d = device(bs.coap, "1.1", NULL, NULL);
        struct harness_bs_result r0;
        ck_assert(harness_device_bootstrap(d, eps[i], 11542, false, BS_MS, &r0));
        ck_assert(session_count_reaches(eps[i], 1));
        ck_assert_str_eq(session_field(eps[i], "config_name", v, sizeof v), want[i]);
        harness_device_free(d);
    }
    daemon_stop(&bs, "bootstrap");
}
END_TEST

START_TEST(test_failed_write_recorded)
{
    struct daemon bs;
    char ep[128], v[512];
    struct daemon fake = { .coap = "127.0.0.1:5683" };
    daemon_start(&bs, true, NULL);
    ep_name(ep, sizeof ep, "failw");
    nosec_config(ep, &fake, NULL);
    struct harness_device *d = device(bs.coap, "1.1", NULL, NULL);
    harness_device_fail_next(d, COAP_REQUEST_CODE_PUT, "/1/0", 400);
    struct harness_bs_result r;
    ck_assert(!harness_device_bootstrap(d, ep, 11542, false, 3000, &r));
    ck_assert(session_count_reaches(ep, 1));
    ck_assert_str_eq(session_field(ep, "outcome", v, sizeof v), "failed");
    ck_assert_str_eq(session_field(ep, "detail->>'cause'", v, sizeof v), "device_error");
    session_field(ep, "detail->>'cause_detail'", v, sizeof v);
    ck_assert_msg(strstr(v, "/1/0") && strstr(v, "4.00"), "cause detail: %s", v);
    db_value("SELECT count(*) FROM events WHERE kind = 'bootstrap' AND endpoint = $1", ep, v,
             sizeof v);
    ck_assert_str_eq(v, "1");
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

START_TEST(test_finish_406_recorded)
{
    struct daemon bs;
    char ep[128], v[512], body[512], name[160];
    daemon_start(&bs, true, NULL);
    ep_name(ep, sizeof ep, "f406");
    /* no server account at all: the client refuses Finish with 4.06 */
    snprintf(body, sizeof body, "{\"endpoint\":\"%s\",\"servers\":[]}", ep);
    snprintf(name, sizeof name, "cfg-%s", ep);
    put_config(name, "endpoint", ep, 100, body);
    struct harness_device *d = device(bs.coap, "1.1", NULL, NULL);
    struct harness_bs_result r;
    ck_assert(!harness_device_bootstrap(d, ep, 11542, false, 3000, &r));
    ck_assert_int_eq(r.finish_code, 406);
    ck_assert(session_count_reaches(ep, 1));
    ck_assert_str_eq(session_field(ep, "detail->>'cause'", v, sizeof v), "finish_rejected");
    session_field(ep, "detail->>'cause_detail'", v, sizeof v);
    ck_assert_msg(strstr(v, "4.06"), "cause detail: %s", v);
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

START_TEST(test_unknown_and_rate_limit)
{
    struct daemon bs, srv = { .coap = "127.0.0.1:5683" };
    char ep[128], v[64];
    daemon_start(&bs, true, "2");
    ck_assert_int_eq(harness_psql(harness_pg_uri(),
                                  "DELETE FROM bootstrap_configs WHERE name = 'default'"), 0);
    struct harness_bs_result r;
    struct harness_device *d = device(bs.coap, "1.1", NULL, NULL);
    ep_name(ep, sizeof ep, "unknown");
    ck_assert(!harness_device_bootstrap(d, ep, 11542, false, 2000, &r));
    ck_assert_int_eq(r.request_code, 400);
    harness_device_free(d);

    ep_name(ep, sizeof ep, "rate");
    nosec_config(ep, &srv, NULL);
    for (int i = 0; i < 2; i++) {
        d = device(bs.coap, "1.1", NULL, NULL);
        ck_assert(harness_device_bootstrap(d, ep, 11542, false, BS_MS, &r));
        harness_device_free(d);
    }
    d = device(bs.coap, "1.1", NULL, NULL);
    ck_assert(!harness_device_bootstrap(d, ep, 11542, false, 2000, &r));
    ck_assert_int_eq(r.request_code, 429);
    harness_device_free(d);
    /* Records are written in batches, after the answer: a stopping daemon
     * writes what is queued, so the row is there once it exited. */
    daemon_stop(&bs, "bootstrap");
    db_value("SELECT count(*) FROM events WHERE kind = 'bootstrap' AND endpoint = $1 "
             "AND detail->>'code' = '4.29'", ep, v, sizeof v);
    ck_assert_str_eq(v, "1");
}
END_TEST

static void add_bootstrap_psk(const char *endpoint, const char *identity, const char *key)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(KEY_HEX, &k, &err), LS_OK);
    struct store *s = store_open(harness_pg_uri(), &err);
    ck_assert_ptr_nonnull(s);
    struct store_credential c = {
        .endpoint = endpoint, .scope = "bootstrap", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)key, .secret_len = strlen(key), .state = "active",
    };
    ck_assert_msg(store_credentials_insert(s, &k, &c, NULL, &err) == LS_OK, "insert: %s",
                  err.msg);
    store_close(s);
}

START_TEST(test_dtls_bootstrap_psk)
{
    struct daemon bs, srv = { .coap = "127.0.0.1:5683" };
    char ep[128], other[128], id[160], v[64];
    ep_name(ep, sizeof ep, "dtls");
    ep_name(other, sizeof other, "dtls-other");
    snprintf(id, sizeof id, "bs-id-%s", ep);
    add_bootstrap_psk(ep, id, "bootstrap-secret");
    daemon_start(&bs, true, NULL);
    nosec_config(ep, &srv, NULL);
    nosec_config(other, &srv, NULL);
    struct harness_bs_result r;
    /* ep omitted on DTLS: the identity's endpoint */
    struct harness_device *d = device(bs.coaps, "1.1", id, "bootstrap-secret");
    ck_assert_msg(harness_device_bootstrap(d, NULL, 11542, false, BS_MS, &r),
                  "dtls bootstrap: request %d\n%s", r.request_code, harness_proc_stderr(bs.p));
    harness_device_free(d);
    ck_assert(session_count_reaches(ep, 1));
    ck_assert_str_eq(session_field(ep, "detail->>'identity'", v, sizeof v), id);
    /* the identity is bound to ep: bootstrapping as another endpoint is refused */
    d = device(bs.coaps, "1.1", id, "bootstrap-secret");
    ck_assert(!harness_device_bootstrap(d, other, 11542, false, 2000, &r));
    ck_assert_int_eq(r.request_code, 401);
    harness_device_free(d);
    /* and NoSec for an endpoint that has bootstrap credentials is refused */
    d = device(bs.coap, "1.1", NULL, NULL);
    ck_assert(!harness_device_bootstrap(d, ep, 11542, false, 2000, &r));
    ck_assert_int_eq(r.request_code, 401);
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

/* ---- a client that falls silent after its Bootstrap-Request ---- */

/* POST /bs?ep=ep over plain CoAP, wait for the 2.04, then never process
 * another datagram: the harness device only reads its socket inside its
 * blocking calls (no device thread here), so the server's next request
 * (BS-Discover) is not even ACKed, like a device whose radio went away
 * mid-sequence; harness_device_sleep makes that explicit (anything it
 * might still read is dropped).  The caller frees the device when the
 * test is over. */
static struct harness_device *bootstrap_then_fall_silent(const char *server, const char *ep)
{
    char q_ep[300];
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    const char *q[] = { q_ep, NULL };
    struct harness_device *d = device(server, "1.1", NULL, NULL);
    ck_assert_int_eq(harness_device_request(d, COAP_REQUEST_CODE_POST, "bs", q, NULL, -1,
                                            ANSWER_MS, NULL, 0), 204);
    harness_device_sleep(d);
    return d;
}

/* Waits for the session record of ep (written when the daemon gives up). */
static bool session_recorded_within(const char *ep, int64_t ms)
{
    char v[32];
    int64_t deadline = harness_now_ms() + ms;
    while (harness_now_ms() < deadline) {
        db_value("SELECT count(*) FROM bootstrap_sessions WHERE endpoint = $1", ep, v, sizeof v);
        if (atoi(v) >= 1)
            return true;
        harness_sleep_ms(50);   /* poll interval */
    }
    return false;
}

/*
 * A device that stops answering mid-sequence: with "session_timeout_s": 2
 * (and retransmissions that would take longer) the deadline ends the
 * session, recorded as outcome timeout; with a short "ack_timeout_ms" and
 * "max_retransmit" the request itself times out first (retries
 * exhausted), also outcome timeout, well before the default 60 s deadline.
 * With "ack_timeout_ms": 1000 and "max_retransmit": 1 the request fails
 * after 3..4.5 s (the defaults, 2 s and 3, would take 30..45 s; 2 s with 1
 * retransmission 6..9 s; 1 s with 3, 15..22 s), so both settings apply.
 */
START_TEST(test_silent_device_times_out)
{
    struct daemon bs, srv = { .coap = "127.0.0.1:5683" };
    char ep[128], ep2[128], v[512];
    daemon_start(&bs, true, NULL);
    ep_name(ep, sizeof ep, "silent-deadline");
    nosec_config(ep, &srv, "\"session_timeout_s\":2,\"ack_timeout_ms\":1500,"
                           "\"max_retransmit\":4,");
    int64_t t0 = harness_now_ms();
    struct harness_device *d = bootstrap_then_fall_silent(bs.coap, ep);
    ck_assert_msg(session_recorded_within(ep, 8000), "no session record\n%s",
                  harness_proc_stderr(bs.p));
    int64_t took = harness_now_ms() - t0;
    ck_assert_str_eq(session_field(ep, "outcome", v, sizeof v), "timeout");
    ck_assert_str_eq(session_field(ep, "detail->>'cause'", v, sizeof v), "timeout");
    session_field(ep, "detail->>'cause_detail'", v, sizeof v);
    ck_assert_msg(strstr(v, "deadline of 2 s"), "cause detail: %s", v);
    ck_assert_msg(took >= 1900, "ended after %lld ms, before the deadline", (long long)took);
    /* the device's last request is in the record, unanswered */
    session_field(ep, "detail->'requests'->-1->>'code'", v, sizeof v);
    ck_assert_str_eq(v, "none");
    harness_device_free(d);

    ep_name(ep2, sizeof ep2, "silent-retries");
    nosec_config(ep2, &srv, "\"ack_timeout_ms\":1000,\"max_retransmit\":1,");
    t0 = harness_now_ms();
    d = bootstrap_then_fall_silent(bs.coap, ep2);
    ck_assert(session_recorded_within(ep2, 8000));
    took = harness_now_ms() - t0;
    ck_assert_str_eq(session_field(ep2, "outcome", v, sizeof v), "timeout");
    session_field(ep2, "detail->>'cause_detail'", v, sizeof v);
    ck_assert_msg(strstr(v, "retries exhausted"), "cause detail: %s", v);
    /* 1 s + 2 s of back-off (x1.5 at most): well before the 60 s session
     * deadline.  The upper bound only tells the two causes apart; a loaded
     * machine may stretch the retries, so it is generous. */
    ck_assert_msg(took >= 2900 && took < 30000, "retries took %lld ms", (long long)took);
    harness_device_free(d);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

/* ---- NoSec requests for endpoints with a secure way in (BSFIX) ----
 *
 * Nothing authenticates a NoSec client, so lodestar-bootstrap must never
 * serve one for an endpoint that has a bootstrap credential (any state) or
 * a factory credential: 4.01, an event with cause "nosec_refused", and no
 * credential issued -- whatever configuration applies.  The configurations
 * here issue PSKs, so a request that was served would leave a 'server'
 * credential behind, which the tests check is not there. */

/* A configuration for ep that issues a management PSK. */
static void issue_config(const char *ep)
{
    char body[512], name[160];
    snprintf(body, sizeof body,
             "{\"endpoint\":\"%s\",\"servers\":[{\"uri\":\"coaps://127.0.0.1:5684\","
             "\"ssid\":101,\"security\":\"psk\",\"credentials\":\"issue\"}]}", ep);
    snprintf(name, sizeof name, "cfg-%s", ep);
    put_config(name, "endpoint", ep, 100, body);
}

/* Management credentials of ep not made by a factory: what a served
 * bootstrap issues. */
static int issued_count(const char *ep)
{
    char v[32];
    db_value("SELECT count(*) FROM credentials WHERE endpoint = $1 AND scope = 'server' "
             "AND batch_id IS NULL", ep, v, sizeof v);
    return atoi(v);
}

/* Refused events are written in batches after the answer: poll for n of
 * them with cause nosec_refused. */
static bool nosec_refusals_reach(const char *ep, int n)
{
    char v[32];
    int64_t deadline = harness_now_ms() + 10000;
    while (harness_now_ms() < deadline) {
        db_value("SELECT count(*) FROM events WHERE kind = 'bootstrap' AND endpoint = $1 "
                 "AND detail->>'cause' = 'nosec_refused' AND detail->>'code' = '4.01'", ep, v,
                 sizeof v);
        if (atoi(v) >= n)
            return true;
        harness_sleep_ms(50);   /* poll interval */
    }
    return false;
}

/* A NoSec Bootstrap-Pack-Request then (refused) Bootstrap-Request for ep:
 * both must be 4.01, nothing issued, both refusals recorded. */
static void nosec_refused(const struct daemon *bs, const char *ep)
{
    struct harness_bs_result r;
    struct harness_device *d = device(bs->coap, "1.2", NULL, NULL);
    ck_assert(!harness_device_bootstrap(d, ep, 11542, true, 3000, &r));
    ck_assert_msg(r.pack_code == 401 && r.request_code == 401, "%s: pack %d request %d\n%s",
                  ep, r.pack_code, r.request_code, harness_proc_stderr(bs->p));
    ck_assert_uint_eq(r.writes, 0);
    harness_device_free(d);
    ck_assert_int_eq(issued_count(ep), 0);
    ck_assert_msg(nosec_refusals_reach(ep, 2), "no nosec_refused events for %s", ep);
}

START_TEST(test_nosec_refused_bootstrap_psk)
{
    struct daemon bs;
    char ep[128], id[160];
    ep_name(ep, sizeof ep, "nosec-bspsk");
    snprintf(id, sizeof id, "bs-id-%s", ep);
    add_bootstrap_psk(ep, id, "bootstrap-secret");
    issue_config(ep);
    daemon_start(&bs, true, NULL);
    nosec_refused(&bs, ep);
    /* the device itself, over DTLS with its bootstrap PSK, is served */
    struct harness_bs_result r;
    struct harness_device *d = device(bs.coaps, "1.1", id, "bootstrap-secret");
    ck_assert_msg(harness_device_bootstrap(d, ep, 11542, false, BS_MS, &r),
                  "dtls bootstrap: request %d\n%s", r.request_code, harness_proc_stderr(bs.p));
    harness_device_free(d);
    ck_assert_int_eq(issued_count(ep), 1);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

/* A revoked bootstrap account is not in the daemon's PSK table (it loads
 * live credentials only): only the database knows the endpoint had one. */
START_TEST(test_nosec_refused_revoked_bootstrap)
{
    struct daemon bs;
    char ep[128], id[160], sql[512];
    ep_name(ep, sizeof ep, "nosec-bsrev");
    snprintf(id, sizeof id, "bs-id-%s", ep);
    add_bootstrap_psk(ep, id, "bootstrap-secret");
    snprintf(sql, sizeof sql, "UPDATE credentials SET state = 'revoked', revoked_at = now() "
             "WHERE scope = 'bootstrap' AND identity = '%s'", id);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
    issue_config(ep);
    daemon_start(&bs, true, NULL);
    nosec_refused(&bs, ep);
    /* and the revoked key opens nothing over DTLS either */
    struct harness_bs_result r;
    struct harness_device *d = device(bs.coaps, "1.1", id, "bootstrap-secret");
    ck_assert(!harness_device_bootstrap(d, ep, 11542, false, 2000, &r));
    ck_assert_int_ne(r.request_code, 204);
    harness_device_free(d);
    ck_assert_int_eq(issued_count(ep), 0);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

START_TEST(test_nosec_refused_factory_account)
{
    struct daemon bs;
    char ep[128];
    ep_name(ep, sizeof ep, "nosec-factory");
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(KEY_HEX, &k, &err), LS_OK);
    struct store *st = store_open(harness_pg_uri(), &err);
    ck_assert_ptr_nonnull(st);
    const char *eps[] = { ep };
    struct store_factory_batch fb = {
        .endpoints = eps, .n = 1, .server = { .uri = "coaps://127.0.0.1:5684", .ssid = 101 },
        .key_bytes = STORE_FACTORY_KEY_DEFAULT, .spec_json = "{\"test\":\"nosec\"}",
    };
    int64_t batch = 0;
    ck_assert_msg(store_factory_create(st, &k, &fb, &batch, &err) == LS_OK, "factory: %s",
                  err.msg);
    store_close(st);
    issue_config(ep);
    daemon_start(&bs, true, NULL);
    nosec_refused(&bs, ep);
    char v[32];
    db_value("SELECT count(*) FROM credentials WHERE endpoint = $1 AND state = 'active'", ep, v,
             sizeof v);
    ck_assert_str_eq(v, "1");   /* the factory account is untouched */
    daemon_stop(&bs, "bootstrap");
}
END_TEST

/* The Prometheus text of the daemon's --metrics listener. */
static void metrics_text(const char *addr, char *out, size_t cap)
{
    char url[160];
    struct harness_http_response resp;
    snprintf(url, sizeof url, "http://%s/metrics", addr);
    ck_assert_int_eq(harness_http_request("GET", url, NULL, NULL, 0, ANSWER_MS, &resp), 200);
    snprintf(out, cap, "%s", resp.body ? resp.body : "");
    harness_http_response_free(&resp);
}

/*
 * A NoSec fleet endpoint without credentials still bootstraps (and gets its
 * issued key); a template with "allow_nosec": false refuses NoSec (4.01,
 * nothing issued) but still serves a device of its range over DTLS.
 */
START_TEST(test_nosec_fleet_and_allow_nosec_false)
{
    char ep[128], strict[128], secure[128], id[160], tpl[160], pat[160], body[512];
    ep_name(ep, sizeof ep, "nosec-fleet");
    snprintf(strict, sizeof strict, "strict-%s-1", run_tag);
    snprintf(secure, sizeof secure, "strict-%s-2", run_tag);
    snprintf(id, sizeof id, "bs-id-%s", secure);
    add_bootstrap_psk(secure, id, "bootstrap-secret");
    issue_config(ep);
    snprintf(tpl, sizeof tpl, "strict-%s", run_tag);
    snprintf(pat, sizeof pat, "strict-%s-*", run_tag);
    snprintf(body, sizeof body,
             "{\"allow_nosec\":false,\"servers\":[{\"uri\":\"coaps://127.0.0.1:5684\","
             "\"ssid\":101,\"security\":\"psk\",\"credentials\":\"issue\"}]}");
    put_config(tpl, "match", pat, 1, body);

    struct daemon bs;
    char *env[] = { KEY_ENV, db_env, NULL };
    char *argv[] = { "lodestar-bootstrap", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0",
                     "--metrics", "127.0.0.1:0", NULL };
    char maddr[96], m[65536];
    bs.p = harness_proc_spawn(argv[0], bin("LODESTAR_BOOTSTRAP_BIN"), argv, env);
    ck_assert_ptr_nonnull(bs.p);
    harness_wait_listening(bs.p, "coap", START_MS, bs.coap, sizeof bs.coap);
    harness_wait_listening(bs.p, "coaps", START_MS, bs.coaps, sizeof bs.coaps);
    harness_wait_listening(bs.p, "metrics", START_MS, maddr, sizeof maddr);
    ck_assert(harness_proc_wait_line(bs.p, "event=started ", START_MS, NULL, 0));

    /* the fleet device: NoSec, no credentials, served */
    struct harness_bs_result r;
    struct harness_device *d = device(bs.coap, "1.1", NULL, NULL);
    ck_assert_msg(harness_device_bootstrap(d, ep, 11542, false, BS_MS, &r),
                  "NoSec fleet bootstrap: request %d\n%s", r.request_code,
                  harness_proc_stderr(bs.p));
    ck_assert_int_eq(r.finish_code, 204);
    harness_device_free(d);
    ck_assert_int_eq(issued_count(ep), 1);

    /* the strict template: NoSec refused, nothing issued */
    nosec_refused(&bs, strict);
    char v[512];
    db_value("SELECT detail->>'reason' FROM events WHERE kind = 'bootstrap' AND endpoint = $1 "
             "ORDER BY id DESC LIMIT 1", strict, v, sizeof v);
    ck_assert_msg(strstr(v, "allow_nosec"), "reason: %s", v);

    /* its range over DTLS: served */
    d = device(bs.coaps, "1.1", id, "bootstrap-secret");
    ck_assert_msg(harness_device_bootstrap(d, secure, 11542, false, BS_MS, &r),
                  "dtls bootstrap: request %d\n%s", r.request_code, harness_proc_stderr(bs.p));
    harness_device_free(d);
    ck_assert_int_eq(issued_count(secure), 1);

    metrics_text(maddr, m, sizeof m);
    ck_assert_msg(strstr(m, "lodestar_bootstrap_nosec_refused_total{cause=\"configuration\"} 2"),
                  "metrics:\n%s", m);
    ck_assert_msg(strstr(m, "lodestar_bootstrap_nosec_refused_total{cause=\"credential\"} 0"),
                  "metrics:\n%s", m);
    daemon_stop(&bs, "bootstrap");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integration_bootstrap");
    TCase *tc = tcase_create("bootstrap");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_bootstrap_each_pct_then_register, 0,
                        sizeof pct_cases / sizeof pct_cases[0]);
    tcase_add_test(tc, test_bspack);
    tcase_add_test(tc, test_psk_issued_then_register);
    tcase_add_test(tc, test_resolution_order);
    tcase_add_test(tc, test_failed_write_recorded);
    tcase_add_test(tc, test_finish_406_recorded);
    tcase_add_test(tc, test_unknown_and_rate_limit);
    tcase_add_test(tc, test_dtls_bootstrap_psk);
    tcase_add_test(tc, test_silent_device_times_out);
    tcase_add_test(tc, test_nosec_refused_bootstrap_psk);
    tcase_add_test(tc, test_nosec_refused_revoked_bootstrap);
    tcase_add_test(tc, test_nosec_refused_factory_account);
    tcase_add_test(tc, test_nosec_fleet_and_allow_nosec_false);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!harness_pg_uri())
        return HARNESS_SKIP;
    snprintf(db_env, sizeof db_env, "LODESTAR_DB=%s", harness_pg_uri());
    snprintf(run_tag, sizeof run_tag, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
    int failed = harness_run_suite(suite());
    return failed ? 1 : 0;
}
