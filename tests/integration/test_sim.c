/*
 * tests/integration/test_sim.c -- lodestar-sim against lodestar-server:
 * 50 simulated clients through each scenario, every operation succeeds,
 * and the server stored exactly what the simulator reports it did
 *
 * lodestar-server and lodestar-sim run as processes ($LODESTAR_SERVER_BIN,
 * $LODESTAR_SIM_BIN; lodestar-bootstrap for the bootstrap scenario) against
 * LODESTAR_TEST_PGURI (exit 77 = skipped without it).  Each test starts its
 * own server and names its clients with a random prefix; the simulator's
 * --json report is compared with the rows in PostgreSQL: registrations,
 * observations, telemetry by source, bootstrap sessions.  A notification is
 * one telemetry row (one value), the Observe's first answer one more; a
 * Send of one value one row.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"

#define STOP_MS 10000
#define SIM_MS 120000
#define CLIENTS 50

struct fixture {
    struct harness_server srv;
    char prefix[24];        /* endpoint names prefix-0 .. prefix-49 */
};

static void start(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    char p[9];
    harness_server_random_hex(p, 4);
    snprintf(f->prefix, sizeof f->prefix, "sim%s", p);
    struct harness_server_options o = { .stop_ms = STOP_MS };
    harness_server_start(&f->srv, &o);
}

/* Runs lodestar-sim with the server's addresses and extra flags; returns
 * its exit status and its stdout parsed as JSON in *report (NULL when the
 * output is not JSON). */
static int run_sim(const struct fixture *f, const char *const *extra, json_t **report,
                   char **err_out)
{
    const char *bin = getenv("LODESTAR_SIM_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_SIM_BIN is not set (run through meson test)");
    char server[160], api[200];
    snprintf(server, sizeof server, "coap://%s", f->srv.coap);
    snprintf(api, sizeof api, "%s", f->srv.base);
    char *argv[40] = { "lodestar-sim", "--server", server, "--prefix", (char *)f->prefix,
                       "--api", api, "--token", (char *)f->srv.admin, "--json", "--quiet" };
    size_t n = 11;
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_uint_lt(n, 38);
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    struct harness_proc *p = harness_proc_spawn("sim", bin, argv, NULL);
    ck_assert_ptr_nonnull(p);
    int status = -1;
    bool exited = harness_proc_wait_exit(p, SIM_MS, &status);
    char *out = harness_proc_stdout(p);
    char *err = harness_proc_stderr(p);
    ck_assert_msg(exited, "lodestar-sim did not finish:\n%s", err);
    harness_proc_free(p);
    ck_assert_msg(!strstr(err, "Sanitizer") && !strstr(err, "runtime error"),
                  "lodestar-sim: sanitizer report:\n%s", err);
    *report = json_loads(out, 0, NULL);
    free(out);
    if (err_out)
        *err_out = err;
    else
        free(err);
    return status;
}

/* report.ops.<op>.<field>, 0 when absent. */
static long long op_field(json_t *report, const char *op, const char *field)
{
    json_t *v = json_object_get(json_object_get(json_object_get(report, "ops"), op), field);
    return v ? json_integer_value(v) : 0;
}

static long long db_count(const struct fixture *f, const char *sql)
{
    char like[40], out[64];
    snprintf(like, sizeof like, "%s-%%", f->prefix);
    harness_db_value(harness_pg_uri(), sql, like, out, sizeof out);
    return atoll(out);
}

static long long registrations(const struct fixture *f)
{
    return db_count(f, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1");
}

static long long telemetry(const struct fixture *f, const char *source)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM telemetry WHERE endpoint LIKE $1 AND source = '%s'", source);
    return db_count(f, sql);
}

/*
 * rows stored for what the simulator had acknowledged (values): exactly
 * those when nothing was retransmitted.  A retransmitted CON that the
 * server had already answered is stored again today (no CoAP duplicate
 * detection on /dp and notifications; see the SIM report), so with
 * retransmissions the count may exceed values by at most their number.
 */
static void check_rows(long long rows, long long values, long long retrans, const char *what)
{
    if (retrans == 0) {
        ck_assert_msg(rows == values, "%s: %lld rows for %lld values", what, rows, values);
        return;
    }
    fprintf(stderr, "test_sim: %s: %lld retransmissions, %lld rows for %lld values\n", what,
            retrans, rows, values);
    ck_assert_msg(rows >= values && rows <= values + retrans, "%s: %lld rows for %lld values",
                  what, rows, values);
}

static void stop(struct fixture *f)
{
    harness_server_stop(&f->srv);
}

static void check_clean(json_t *r, int status)
{
    ck_assert_ptr_nonnull(r);
    char *text = json_dumps(r, JSON_COMPACT);
    ck_assert_msg(status == 0, "lodestar-sim exit %d: %s", status, text);
    ck_assert_msg(json_integer_value(json_object_get(r, "failures")) == 0, "failures: %s",
                  text);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "launched")), CLIENTS);
    free(text);
}

START_TEST(register_scenario)
{
    struct fixture f;
    start(&f);
    const char *extra[] = { "--count", "50", "--scenario", "register", NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    ck_assert_int_eq(op_field(r, "register", "ok"), CLIENTS);
    ck_assert_int_eq(registrations(&f), CLIENTS);
    /* each client its own address as the server saw it */
    ck_assert_int_eq(db_count(&f, "SELECT count(DISTINCT address) FROM registrations "
                                  "WHERE endpoint LIKE $1"), CLIENTS);
    json_decref(r);
    stop(&f);
}
END_TEST

/* LwM2M 1.0, TLV, queue mode, short lifetime: Updates follow it. */
START_TEST(register_lwm2m10_updates)
{
    struct fixture f;
    start(&f);
    const char *extra[] = { "--count", "50", "--lwm2m", "1.0", "--queue", "--lifetime", "10",
                            "--duration", "12", NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    ck_assert_int_eq(op_field(r, "register", "ok"), CLIENTS);
    ck_assert_int_eq(op_field(r, "update", "ok"), CLIENTS);   /* one each, at 8 s (16 > 12) */
    ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1 "
                                  "AND lwm2m_version = '1.0' AND queue AND lifetime_s = 10"),
                     CLIENTS);
    json_decref(r);
    stop(&f);
}
END_TEST

START_TEST(observe_scenario)
{
    struct fixture f;
    start(&f);
    const char *extra[] = { "--count", "50", "--scenario", "observe", "--duration", "4",
                            "--interval", "0.5", NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    long long observed = op_field(r, "observe", "ok"), notified = op_field(r, "notify", "values");
    ck_assert_int_eq(observed, CLIENTS);
    ck_assert_int_ge(notified, CLIENTS);
    ck_assert_int_eq(op_field(r, "notify", "ok"), notified);
    ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM observations WHERE endpoint LIKE $1 "
                                  "AND path = '/3303/0/5700'"), CLIENTS);
    /* the Observe's own answer is stored too */
    check_rows(telemetry(&f, "notify"), notified + observed,
               op_field(r, "notify", "retransmissions"), "notify");
    ck_assert_int_eq(telemetry(&f, "send"), 0);
    json_decref(r);
    stop(&f);
}
END_TEST

START_TEST(send_scenario)
{
    struct fixture f;
    start(&f);
    const char *extra[] = { "--count", "50", "--scenario", "send", "--duration", "3",
                            "--interval", "0.5", "--format", "senml-json", NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    long long sent = op_field(r, "send", "values");
    ck_assert_int_ge(sent, CLIENTS);
    check_rows(telemetry(&f, "send"), sent, op_field(r, "send", "retransmissions"), "send");
    ck_assert_int_eq(telemetry(&f, "notify"), 0);
    json_decref(r);
    stop(&f);
}
END_TEST

/* Observers, senders and idle clients together, all de-registered at the end. */
START_TEST(mixed_scenario_deregister)
{
    struct fixture f;
    start(&f);
    const char *extra[] = { "--count", "50", "--scenario", "mixed", "--duration", "4",
                            "--interval", "0.5", "--deregister", NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    ck_assert_int_eq(op_field(r, "register", "ok"), CLIENTS);
    ck_assert_int_eq(op_field(r, "deregister", "ok"), CLIENTS);
    ck_assert_int_eq(op_field(r, "observe", "ok"), 17);     /* clients 0, 3, .. 48 */
    check_rows(telemetry(&f, "send"), op_field(r, "send", "values"),
               op_field(r, "send", "retransmissions"), "send");
    check_rows(telemetry(&f, "notify"),
               op_field(r, "notify", "values") + op_field(r, "observe", "ok"),
               op_field(r, "notify", "retransmissions"), "notify");
    ck_assert_int_eq(registrations(&f), 0);
    json_decref(r);
    stop(&f);
}
END_TEST

/* One REST device call as admin; returns the status, *body (caller frees). */
static int api(const struct fixture *f, const char *method, const char *path, const char *body,
               char **out)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s%s", f->srv.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f->srv.admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    struct harness_http_response r;
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 20000, &r);
    *out = r.body ? strdup(r.body) : strdup("");
    harness_http_response_free(&r);
    return st;
}

static void expect(const struct fixture *f, const char *method, const char *path,
                   const char *body, int status, const char *needle)
{
    char *got;
    int st = api(f, method, path, body, &got);
    ck_assert_msg(st == status && strstr(got, needle), "%s %s: %d %s (want %d, \"%s\")", method,
                  path, st, got, status, needle);
    free(got);
}

/* The server's device operations on a simulated client, through the REST
 * API, while the simulator runs: every kind answered as a device would. */
START_TEST(device_operations)
{
    struct fixture f;
    start(&f);
    const char *bin = getenv("LODESTAR_SIM_BIN");
    ck_assert_ptr_nonnull(bin);
    char server[160];
    snprintf(server, sizeof server, "coap://%s", f.srv.coap);
    char *argv[] = { "lodestar-sim", "--server", server, "--prefix", f.prefix, "--count", "2",
                     "--duration", "600", "--json", "--quiet", NULL };
    struct harness_proc *p = harness_proc_spawn("sim", bin, argv, NULL);
    ck_assert_ptr_nonnull(p);
    int64_t deadline = harness_now_ms() + 20000;
    while (registrations(&f) < 2 && harness_now_ms() < deadline)
        harness_sleep_ms(50);
    ck_assert_int_eq(registrations(&f), 2);
    char base[96], path[256];
    snprintf(base, sizeof base, "/api/devices/%s-1", f.prefix);
#define AT(sfx) (snprintf(path, sizeof path, "%s%s", base, sfx), path)
    expect(&f, "GET", AT("/3/0"), NULL, 200, "\"lodestar-sim\"");
    expect(&f, "GET", AT("/3/0?format=tlv"), NULL, 200, "\"SIM-00000001\"");
    expect(&f, "GET", AT("/3303/0/5700?format=senml-json"), NULL, 200, "\"float\"");
    expect(&f, "GET", AT("/3303/0?format=lwm2m-cbor"), NULL, 200, "\"Cel\"");
    expect(&f, "GET", AT("/3/0/discover"), NULL, 200, "</3/0/13>");
    expect(&f, "GET", AT("/0/0"), NULL, 403, "4.01");
    expect(&f, "GET", AT("/9/0"), NULL, 404, "4.04");
    expect(&f, "PUT", AT("/1/0/1"), "{\"values\":[{\"path\":\"/1/0/1\",\"value\":600}]}", 200,
           "2.04");
    expect(&f, "GET", AT("/1/0/1"), NULL, 200, "600");
    expect(&f, "PUT", AT("/3/0/0"), "{\"values\":[{\"path\":\"/3/0/0\",\"value\":\"x\"}]}", 405,
           "4.05");
    expect(&f, "POST", AT("/3/0/4"), NULL, 200, "2.04");
    expect(&f, "POST", AT("/3/0/1"), NULL, 405, "4.05");
    /* Registration Update Trigger: the client sends an Update with lt=600 */
    expect(&f, "POST", AT("/1/0/8"), NULL, 200, "2.04");
    deadline = harness_now_ms() + 10000;
    while (db_count(&f, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1 AND "
                        "lifetime_s = 600") < 1 && harness_now_ms() < deadline)
        harness_sleep_ms(50);
    ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1 "
                                  "AND lifetime_s = 600"), 1);
    expect(&f, "POST", AT("/3303/0/5700/observe"), "{}", 200, "\"observation\"");
    expect(&f, "DELETE", AT("/3303/0/5700/observe"), NULL, 200, "\"cancelled\":true");
#undef AT
    ck_assert_int_eq(harness_proc_signal(p, SIGTERM), 0);
    int status = -1;
    ck_assert(harness_proc_wait_exit(p, 40000, &status));
    char *out = harness_proc_stdout(p), *err = harness_proc_stderr(p);
    ck_assert_msg(status == 0, "lodestar-sim exit %d: %s %s", status, out, err);
    json_t *r = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(r);
    json_t *served = json_object_get(r, "served");
    ck_assert_int_eq(json_integer_value(json_object_get(served, "read")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "discover")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "write")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "execute")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "observe")), 1);
    ck_assert_int_eq(op_field(r, "update", "ok"), 1);
    json_decref(r);
    free(out);
    free(err);
    harness_proc_free(p);
    stop(&f);
}
END_TEST

/* lodestar-bootstrap as a process on the server's database; NoSec. */
static struct harness_proc *start_bootstrap(const struct fixture *f, char *coap, size_t cap)
{
    const char *bin = getenv("LODESTAR_BOOTSTRAP_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_BOOTSTRAP_BIN is not set (run through meson test)");
    char *argv[] = { "lodestar-bootstrap", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0",
                     NULL };
    char *env[] = { "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, (char *)f->srv.db_env, NULL };
    struct harness_proc *p = harness_proc_spawn("bootstrap", bin, argv, env);
    ck_assert_ptr_nonnull(p);
    harness_wait_listening(p, "coap", 20000, coap, cap);
    return p;
}

/* Bootstrap first (template configuration matching the prefix, one NoSec
 * Server account naming lodestar-server), then Register there. */
START_TEST(bootstrap_scenario)
{
    struct fixture f;
    start(&f);
    char bs[128], url[512], auth[128], body[512];
    struct harness_proc *bsp = start_bootstrap(&f, bs, sizeof bs);
    snprintf(url, sizeof url, "%s/api/bootstrap/configs/%s", f.srv.base, f.prefix);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f.srv.admin);
    snprintf(body, sizeof body,
             "{\"match\":\"%s-*\",\"priority\":1,\"discover\":true,\"servers\":[{\"uri\":"
             "\"coap://%s\",\"ssid\":101,\"lifetime\":300}]}", f.prefix, f.srv.coap);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    struct harness_http_response resp;
    int st = harness_http_request("PUT", url, headers, body, strlen(body), 20000, &resp);
    ck_assert_msg(st == 201, "PUT config: %d %s", st, resp.body ? resp.body : "");
    harness_http_response_free(&resp);

    char bsuri[160];
    snprintf(bsuri, sizeof bsuri, "coap://%s", bs);
    const char *extra[] = { "--count", "50", "--scenario", "bootstrap", "--bootstrap", bsuri,
                            NULL };
    json_t *r;
    st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    ck_assert_int_eq(op_field(r, "bootstrap", "ok"), CLIENTS);
    ck_assert_int_eq(op_field(r, "register", "ok"), CLIENTS);
    ck_assert_int_eq(registrations(&f), CLIENTS);
    /* the daemon records a session once it ended: poll with a deadline */
    int64_t deadline = harness_now_ms() + 10000;
    long long done = 0;
    while ((done = db_count(&f, "SELECT count(*) FROM bootstrap_sessions WHERE endpoint LIKE $1 "
                                "AND outcome = 'success'")) < CLIENTS &&
           harness_now_ms() < deadline)
        harness_sleep_ms(50);
    ck_assert_int_eq(done, CLIENTS);
    ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM bootstrap_sessions WHERE endpoint LIKE $1 "
                                  "AND outcome <> 'success'"), 0);
    json_decref(r);
    ck_assert_int_eq(harness_proc_stop_dump(bsp, "bootstrap", STOP_MS), 0);
    harness_proc_free(bsp);
    stop(&f);
}
END_TEST

/* The smoke mode scripts/test.sh can afford: a few seconds. */
START_TEST(quick_smoke)
{
    struct fixture f;
    start(&f);
    const char *extra[] = { "--quick", "--scenario", "send", NULL };
    json_t *r;
    int64_t t0 = harness_now_ms();
    int st = run_sim(&f, extra, &r, NULL);
    ck_assert_int_eq(st, 0);
    ck_assert_int_lt(harness_now_ms() - t0, 15000);
    ck_assert_int_eq(op_field(r, "register", "ok"), 20);
    check_rows(telemetry(&f, "send"), op_field(r, "send", "values"),
               op_field(r, "send", "retransmissions"), "send");
    json_decref(r);
    stop(&f);
}
END_TEST

/* Bad flags: exit 2 and a message, no traffic. */
START_TEST(bad_usage)
{
    struct fixture f;
    start(&f);
    const char *bad[][4] = {
        { "--scenario", "storm", NULL },
        { "--lwm2m", "2.0", NULL },
        { "--format", "xml", NULL },
        { "--lwm2m", "1.0", "--scenario", "send" },
        { "--count", "12x", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *extra[6] = { bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL };
        json_t *r;
        char *err;
        int st = run_sim(&f, extra, &r, &err);
        ck_assert_msg(st == 2, "case %zu: exit %d", i, st);
        ck_assert_msg(strstr(err, "lodestar-sim:") || strstr(err, "usage:"), "case %zu: %s", i,
                      err);
        free(err);
        json_decref(r);
    }
    ck_assert_int_eq(registrations(&f), 0);
    stop(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("scenarios");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, register_scenario);
    tcase_add_test(tc, register_lwm2m10_updates);
    tcase_add_test(tc, observe_scenario);
    tcase_add_test(tc, send_scenario);
    tcase_add_test(tc, mixed_scenario_deregister);
    tcase_add_test(tc, device_operations);
    tcase_add_test(tc, bootstrap_scenario);
    tcase_add_test(tc, quick_smoke);
    tcase_add_test(tc, bad_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();
    int failed = harness_run_suite(suite());
    return failed ? 1 : 0;
}
