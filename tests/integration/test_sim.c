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
 * Also: --ack-log against the registrations table; DTLS-PSK with a factory
 * batch's server accounts (POST /api/factory/batches, CSV export,
 * --psk-csv), the device operations over it, and a 64 KiB block-wise
 * write of /5/0/0 read back; the production-line bootstrap over DTLS-PSK
 * (--factory-csv, a template with "credentials": "issue") then DTLS
 * registration with the issued keys; queue mode that sleeps, with a
 * command queued while asleep and delivered at the wake; --cycles (DTLS
 * devices reconnecting: a full handshake per Register, sessions closed and
 * freed).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void start_env(struct fixture *f, const char *const *env)
{
    memset(f, 0, sizeof *f);
    char p[9];
    harness_server_random_hex(p, 4);
    snprintf(f->prefix, sizeof f->prefix, "sim%s", p);
    struct harness_server_options o = { .stop_ms = STOP_MS, .env = env };
    harness_server_start(&f->srv, &o);
}

static void start(struct fixture *f)
{
    start_env(f, NULL);
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
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

static char *ack_lines(const char *path, const char *kind);
static char *db_registrations(const struct fixture *f);

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

/*
 * A factory batch of count devices prefix-0 .. prefix-(count-1) through the
 * REST API, with a bootstrap account (bs_uri) and/or a server account
 * (sv_uri, SSID 101), all PSK; its CSV export written to path.
 */
static void factory_csv(const struct fixture *f, int count, const char *bs_uri,
                        const char *sv_uri, char *path, size_t cap)
{
    char body[1024], acc[512] = "";
    if (bs_uri)
        snprintf(acc, sizeof acc, ",\"bootstrap\":{\"uri\":\"%s\",\"security\":\"psk\"}", bs_uri);
    if (sv_uri)
        snprintf(acc + strlen(acc), sizeof acc - strlen(acc),
                 ",\"server\":{\"uri\":\"%s\",\"ssid\":101,\"security\":\"psk\"}", sv_uri);
    snprintf(body, sizeof body, "{\"count\":%d,\"prefix\":\"%s-\",\"start\":0%s}", count,
             f->prefix, acc);
    char *got;
    int st = api(f, "POST", "/api/factory/batches", body, &got);
    ck_assert_msg(st == 201, "POST batch: %d %s", st, got);
    json_t *j = json_loads(got, 0, NULL);
    free(got);
    long long id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    char url[96];
    snprintf(url, sizeof url, "/api/factory/batches/%lld?format=csv", id);
    st = api(f, "GET", url, NULL, &got);
    ck_assert_msg(st == 200, "GET csv: %d %s", st, got);
    snprintf(path, cap, "/tmp/test_sim_%s.csv", f->prefix);
    FILE *out = fopen(path, "w");
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(fwrite(got, 1, strlen(got), out), strlen(got));
    fclose(out);
    free(got);
}

/* A lodestar-sim running in the background: its exit (status 0) within ms,
 * its JSON report; the process is freed. */
static json_t *sim_finished(struct harness_proc *p, int64_t ms)
{
    int status = -1;
    ck_assert(harness_proc_wait_exit(p, ms, &status));
    char *out = harness_proc_stdout(p), *err = harness_proc_stderr(p);
    ck_assert_msg(status == 0, "lodestar-sim exit %d: %s %s", status, out, err);
    ck_assert_msg(!strstr(err, "Sanitizer") && !strstr(err, "runtime error"),
                  "lodestar-sim: sanitizer report:\n%s", err);
    json_t *r = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(r);
    free(out);
    free(err);
    harness_proc_free(p);
    return r;
}

/* n bytes of a firmware-like pattern, base64 (the API's opaque values). */
static char *firmware_base64(size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *enc = malloc(4 * ((n + 2) / 3) + 1), *p = enc;
    for (size_t i = 0; i < n; i += 3) {
        unsigned a = (unsigned)((i * 7 + (i >> 11)) & 255);
        unsigned b = i + 1 < n ? (unsigned)(((i + 1) * 7 + ((i + 1) >> 11)) & 255) : 0;
        unsigned c = i + 2 < n ? (unsigned)(((i + 2) * 7 + ((i + 2) >> 11)) & 255) : 0;
        unsigned v = a << 16 | b << 8 | c;
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *p = '\0';
    return enc;
}

/* The server's device operations on a simulated client, through the REST
 * API, while the simulator runs: every kind answered as a device would,
 * over plain CoAP or over DTLS-PSK with factory accounts. */
static void device_operations_over(bool dtls)
{
    struct fixture f;
    start(&f);
    const char *bin = getenv("LODESTAR_SIM_BIN");
    ck_assert_ptr_nonnull(bin);
    char server[160], csv[128] = "";
    snprintf(server, sizeof server, "coap://%s", f.srv.coap);
    if (dtls) {
        char sv[160];
        snprintf(sv, sizeof sv, "coaps://%s", f.srv.coaps);
        factory_csv(&f, 2, NULL, sv, csv, sizeof csv);
        snprintf(server, sizeof server, "coaps://%s", f.srv.coaps);
    }
    char *argv[] = { "lodestar-sim", "--server", server, "--prefix", f.prefix, "--count", "2",
                     "--duration", "600", "--json", "--quiet", dtls ? "--psk-csv" : NULL, csv,
                     NULL };
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
    /* a 64 KiB firmware package: Block1 write, read back with Block2 */
    char *enc = firmware_base64(65536), *body = malloc(strlen(enc) + 64);
    sprintf(body, "{\"values\":[{\"path\":\"/5/0/0\",\"value\":\"%s\"}]}", enc);
    expect(&f, "PUT", AT("/5/0/0?timeout=60"), body, 200, "2.04");
    expect(&f, "GET", AT("/5/0/0?timeout=60"), NULL, 200, enc);
    free(body);
    free(enc);
#undef AT
    ck_assert_int_eq(harness_proc_signal(p, SIGTERM), 0);
    json_t *r = sim_finished(p, 40000);
    json_t *served = json_object_get(r, "served");
    ck_assert_int_eq(json_integer_value(json_object_get(served, "read")), 8);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "discover")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "write")), 3);
    /* 64 blocks of 1024 each way: 63 2.31 Continue, 63 Block2 follow-ups */
    ck_assert_int_eq(json_integer_value(json_object_get(served, "other")), 126);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "execute")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "observe")), 1);
    ck_assert_int_eq(op_field(r, "update", "ok"), 1);
    if (dtls) {      /* registered with the batch's identities */
        ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1"
                                      " AND security = 'psk' AND identity LIKE endpoint || '-%'"),
                         2);
        unlink(csv);
    }
    json_decref(r);
    stop(&f);
}

START_TEST(device_operations)
{
    device_operations_over(false);
}
END_TEST

START_TEST(device_operations_dtls)
{
    device_operations_over(true);
}
END_TEST

/* DTLS-PSK with a factory batch's server accounts: 50 clients registered,
 * observed, sending and de-registered; the ack log, the report and the
 * database agree. */
START_TEST(dtls_factory_mixed)
{
    struct fixture f;
    start(&f);
    char sv[160], csv[128], ack[64];
    snprintf(sv, sizeof sv, "coaps://%s", f.srv.coaps);
    factory_csv(&f, CLIENTS, NULL, sv, csv, sizeof csv);
    snprintf(ack, sizeof ack, "/tmp/test_sim_ack_%s.log", f.prefix);
    const char *extra[] = { "--server", sv, "--psk-csv", csv, "--scenario", "mixed",
                            "--duration", "4", "--interval", "0.5", "--ack-log", ack, NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    ck_assert_int_eq(op_field(r, "register", "ok"), CLIENTS);
    ck_assert_int_eq(op_field(r, "observe", "ok"), 17);
    ck_assert_int_eq(registrations(&f), CLIENTS);
    ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1 "
                                  "AND security = 'psk'"), CLIENTS);
    /* each DTLS client from a source address of its own */
    ck_assert_int_eq(db_count(&f, "SELECT count(DISTINCT split_part(address, ':', 1)) FROM "
                                  "registrations WHERE endpoint LIKE $1"), CLIENTS);
    char *acked = ack_lines(ack, "register"), *db = db_registrations(&f);
    ck_assert_msg(strcmp(acked, db) == 0, "ack log:\n%s\ndatabase:\n%s", acked, db);
    free(acked);
    free(db);
    check_rows(telemetry(&f, "send"), op_field(r, "send", "values"),
               op_field(r, "send", "retransmissions"), "send");
    ck_assert_int_gt(op_field(r, "send", "values"), 0);
    /* notifications over DTLS: libcoap retransmits them itself */
    check_rows(telemetry(&f, "notify"),
               op_field(r, "notify", "values") + op_field(r, "observe", "ok"), 0, "notify");
    unlink(csv);
    unlink(ack);
    json_decref(r);
    stop(&f);
}
END_TEST

/* The value of the metric line "name value" in GET /metrics; -1 when absent. */
static long long metric(const struct fixture *f, const char *name)
{
    char *got;
    int st = api(f, "GET", "/metrics", NULL, &got);
    ck_assert_msg(st == 200, "GET /metrics: %d", st);
    long long v = -1;
    size_t n = strlen(name);
    for (const char *line = got; line && *line;) {
        if (strncmp(line, name, n) == 0 && line[n] == ' ') {
            v = atoll(line + n + 1);
            break;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(got);
    return v;
}

/* Polls lodestar_coap_sessions until it is 0 (closed sessions freed). */
static long long sessions_left(const struct fixture *f)
{
    int64_t deadline = harness_now_ms() + 10000;
    long long n;
    while ((n = metric(f, "lodestar_coap_sessions")) != 0 && harness_now_ms() < deadline)
        usleep(50000);
    return n;
}

/*
 * --cycles, devices that reboot or reconnect: 10 DTLS-PSK clients, 4 in
 * flight, 3 cycles each of a new session (a full handshake), Register and
 * the session closed with close_notify; then 2 more cycles each with a
 * De-register.  Every Register is a handshake of its own (the server counts
 * a handshake when its PSK lookup accepted the identity, so a resumed
 * session would not count), every session was closed by its device and
 * freed by the server (none left), the database holds one registration per
 * device after the reconnects and none after the De-registers, and the
 * report's steady window counts Registers.
 */
START_TEST(cycles_dtls_reconnect)
{
    struct fixture f;
    start(&f);
    char sv[160], csv[128];
    snprintf(sv, sizeof sv, "coaps://%s", f.srv.coaps);
    factory_csv(&f, 10, NULL, sv, csv, sizeof csv);
    const char *extra[] = { "--server", sv, "--psk-csv", csv, "--cycles", "3", "--window", "4",
                            "--warmup", "0", NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    ck_assert_ptr_nonnull(r);
    char *text = json_dumps(r, JSON_COMPACT);
    ck_assert_msg(st == 0 && json_integer_value(json_object_get(r, "failures")) == 0, "%s", text);
    free(text);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "launched")), 10);
    ck_assert_int_eq(op_field(r, "register", "ok"), 30);
    json_t *cy = json_object_get(r, "cycles"), *steady = json_object_get(cy, "steady");
    ck_assert_int_eq(json_integer_value(json_object_get(cy, "registers")), 30);
    ck_assert_int_eq(json_integer_value(json_object_get(cy, "per_client")), 3);
    ck_assert_ptr_nonnull(steady);
    ck_assert_int_gt(json_integer_value(json_object_get(steady, "registers")), 0);
    ck_assert(json_real_value(json_object_get(steady, "per_s")) > 0);
    json_decref(r);
    ck_assert_int_eq(registrations(&f), 10);
    ck_assert_int_eq(metric(&f, "lodestar_dtls_handshakes_total{result=\"ok\"}"), 30);
    ck_assert_int_eq(metric(&f, "lodestar_dtls_closed_total"), 30);
    ck_assert_int_eq(sessions_left(&f), 0);

    const char *dereg[] = { "--server", sv, "--psk-csv", csv, "--cycles", "2", "--deregister",
                            NULL };
    st = run_sim(&f, dereg, &r, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(st, 0);
    ck_assert_int_eq(op_field(r, "register", "ok"), 20);
    ck_assert_int_eq(op_field(r, "deregister", "ok"), 20);
    json_decref(r);
    ck_assert_int_eq(registrations(&f), 0);
    ck_assert_int_eq(metric(&f, "lodestar_dtls_handshakes_total{result=\"ok\"}"), 50);
    ck_assert_int_eq(metric(&f, "lodestar_dtls_closed_total"), 50);
    ck_assert_int_eq(sessions_left(&f), 0);
    unlink(csv);
    stop(&f);
}
END_TEST

/*
 * Queue mode that sleeps: 5 clients awake 1.5 s after they last sent
 * anything, then asleep 2 s, waking with an Update (the server's window:
 * 1 s).  A write made while client 0 sleeps is queued (202) and delivered
 * when it wakes; every wake the simulator reports is an 'awake' event of
 * the server, and the server never sent to a sleeping client.
 */
START_TEST(queue_mode_sleeps)
{
    struct fixture f;
    const char *env[] = { "LODESTAR_QUEUE_AWAKE_MS=1000", NULL };
    start_env(&f, env);
    const char *bin = getenv("LODESTAR_SIM_BIN");
    ck_assert_ptr_nonnull(bin);
    char server[160];
    snprintf(server, sizeof server, "coap://%s", f.srv.coap);
    char *argv[] = { "lodestar-sim", "--server", server, "--prefix", f.prefix, "--count", "5",
                     "--queue", "--awake", "1.5", "--sleep", "2", "--duration", "10", "--json",
                     "--quiet", NULL };
    struct harness_proc *p = harness_proc_spawn("sim", bin, argv, NULL);
    ck_assert_ptr_nonnull(p);
    int64_t deadline = harness_now_ms() + 20000;
    while (registrations(&f) < 5 && harness_now_ms() < deadline)
        harness_sleep_ms(50);
    ck_assert_int_eq(registrations(&f), 5);
    char ep[64], last[32] = "", path[128];
    snprintf(ep, sizeof ep, "%s-0", f.prefix);
    deadline = harness_now_ms() + 10000;
    while (strcmp(last, "sleeping") != 0 && harness_now_ms() < deadline) {
        harness_sleep_ms(50);
        harness_db_value(harness_pg_uri(), "SELECT kind FROM events WHERE endpoint = $1 AND "
                         "kind IN ('awake', 'sleeping') ORDER BY id DESC LIMIT 1", ep, last,
                         sizeof last);
    }
    ck_assert_str_eq(last, "sleeping");
    snprintf(path, sizeof path, "/api/devices/%s/3/0/14", ep);
    char *got;
    int st = api(&f, "PUT", path, "{\"values\":[{\"path\":\"/3/0/14\",\"value\":\"+02:00\"}]}",
                 &got);
    ck_assert_msg(st == 202 && strstr(got, "\"queued\""), "write while asleep: %d %s", st, got);
    json_t *j = json_loads(got, 0, NULL);
    long long id = json_integer_value(json_object_get(j, "command"));
    json_decref(j);
    free(got);
    snprintf(path, sizeof path, "/api/commands/%lld", id);
    deadline = harness_now_ms() + 10000;
    bool done = false;
    while (!done && harness_now_ms() < deadline) {
        harness_sleep_ms(100);
        api(&f, "GET", path, NULL, &got);
        done = strstr(got, "\"state\":\"done\"") != NULL;
        free(got);
    }
    ck_assert_msg(done, "the queued write was not delivered at the wake");
    json_t *r = sim_finished(p, 60000);
    json_t *served = json_object_get(r, "served");
    ck_assert_int_eq(json_integer_value(json_object_get(served, "write")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(served, "ignored_asleep")), 0);
    long long updates = op_field(r, "update", "ok");
    ck_assert_int_ge(updates, 10);          /* at least two wakes each in 10 s */
    /* the server saw each wake: one 'awake' per Register and per Update */
    long long awake = 0;
    deadline = harness_now_ms() + 10000;
    while ((awake = db_count(&f, "SELECT count(*) FROM events WHERE endpoint LIKE $1 AND "
                                 "kind = 'awake'")) < 5 + updates && harness_now_ms() < deadline)
        harness_sleep_ms(50);
    ck_assert_int_eq(awake, 5 + updates);
    json_decref(r);
    stop(&f);
}
END_TEST

/* lodestar-bootstrap as a process on the server's database; its coap
 * address in coap, and its coaps one in coaps when not NULL. */
static struct harness_proc *start_bootstrap2(const struct fixture *f, char *coap, size_t cap,
                                            char *coaps, size_t coaps_cap)
{
    const char *bin = getenv("LODESTAR_BOOTSTRAP_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_BOOTSTRAP_BIN is not set (run through meson test)");
    char *argv[] = { "lodestar-bootstrap", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0",
                     NULL };
    char *env[] = { "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, (char *)f->srv.db_env, NULL };
    struct harness_proc *p = harness_proc_spawn("bootstrap", bin, argv, env);
    ck_assert_ptr_nonnull(p);
    harness_wait_listening(p, "coap", 20000, coap, cap);
    if (coaps)
        harness_wait_listening(p, "coaps", 20000, coaps, coaps_cap);
    return p;
}

static struct harness_proc *start_bootstrap(const struct fixture *f, char *coap, size_t cap)
{
    return start_bootstrap2(f, coap, cap, NULL, 0);
}

/* PUT /api/bootstrap/configs/<prefix>: a template for prefix-* giving one
 * server account (JSON object text). */
static void put_config(const struct fixture *f, const char *server)
{
    char url[512], auth[128], body[768];
    snprintf(url, sizeof url, "%s/api/bootstrap/configs/%s", f->srv.base, f->prefix);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f->srv.admin);
    snprintf(body, sizeof body,
             "{\"match\":\"%s-*\",\"priority\":1,\"discover\":true,\"servers\":[%s]}",
             f->prefix, server);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    struct harness_http_response resp;
    int st = harness_http_request("PUT", url, headers, body, strlen(body), 20000, &resp);
    ck_assert_msg(st == 201, "PUT config: %d %s", st, resp.body ? resp.body : "");
    harness_http_response_free(&resp);
}

/* bootstrap_sessions rows with outcome success for the prefix, awaited:
 * the daemon records a session once it ended. */
static long long bootstrap_successes(const struct fixture *f, long long want)
{
    int64_t deadline = harness_now_ms() + 10000;
    long long done = 0;
    while ((done = db_count(f, "SELECT count(*) FROM bootstrap_sessions WHERE endpoint LIKE $1 "
                               "AND outcome = 'success'")) < want &&
           harness_now_ms() < deadline)
        harness_sleep_ms(50);
    return done;
}

/*
 * The production-line flow: a factory batch with bootstrap accounts only,
 * a template issuing fresh PSKs; each client bootstraps over DTLS-PSK with
 * its factory account, takes the issued identity and key from the
 * BS-Writes and registers over DTLS-PSK with them.
 */
START_TEST(bootstrap_factory_dtls)
{
    struct fixture f;
    start(&f);
    char bs[128], bss[128], bsuri[160], sv[300], csv[128], ack[64];
    struct harness_proc *bsp = start_bootstrap2(&f, bs, sizeof bs, bss, sizeof bss);
    snprintf(sv, sizeof sv, "{\"uri\":\"coaps://%s\",\"ssid\":101,\"security\":\"psk\","
                            "\"credentials\":\"issue\",\"lifetime\":300}", f.srv.coaps);
    put_config(&f, sv);
    snprintf(bsuri, sizeof bsuri, "coaps://%s", bss);
    factory_csv(&f, CLIENTS, bsuri, NULL, csv, sizeof csv);
    snprintf(ack, sizeof ack, "/tmp/test_sim_ack_%s.log", f.prefix);
    const char *extra[] = { "--scenario", "bootstrap", "--bootstrap", bsuri, "--factory-csv",
                            csv, "--ack-log", ack, NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    ck_assert_int_eq(op_field(r, "bootstrap", "ok"), CLIENTS);
    ck_assert_int_eq(op_field(r, "register", "ok"), CLIENTS);
    /* registered over DTLS with the issued identities, not the factory ones */
    ck_assert_int_eq(db_count(&f, "SELECT count(*) FROM registrations r WHERE endpoint LIKE $1 "
                                  "AND security = 'psk' AND identity IN (SELECT identity FROM "
                                  "credentials c WHERE c.endpoint = r.endpoint AND "
                                  "c.scope = 'server' AND c.state = 'active')"), CLIENTS);
    char *acked = ack_lines(ack, "register"), *db = db_registrations(&f);
    ck_assert_msg(strcmp(acked, db) == 0, "ack log:\n%s\ndatabase:\n%s", acked, db);
    free(acked);
    free(db);
    acked = ack_lines(ack, "bootstrap");
    db = calloc(1, 65536);
    char like[40];
    snprintf(like, sizeof like, "%s-%%", f.prefix);
    harness_db_value(harness_pg_uri(), "SELECT string_agg(name, E'\\n' ORDER BY name COLLATE \"C\")"
                     " FROM endpoints WHERE name LIKE $1", like, db, 65536);
    ck_assert_msg(strcmp(acked, db) == 0, "bootstrap lines:\n%s\nendpoints:\n%s", acked, db);
    free(acked);
    free(db);
    ck_assert_int_eq(bootstrap_successes(&f, CLIENTS), CLIENTS);
    json_decref(r);
    unlink(csv);
    unlink(ack);
    ck_assert_int_eq(harness_proc_stop_dump(bsp, "bootstrap", STOP_MS), 0);
    harness_proc_free(bsp);
    stop(&f);
}
END_TEST

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

/* The lines of path starting with "kind ", that prefix removed, sorted,
 * joined with '\n' (the format of string_agg below). */
static char *ack_lines(const char *path, const char *kind)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "no ack log %s", path);
    char line[256], *lines[512];
    size_t n = 0, klen = strlen(kind);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, kind, klen) == 0 && line[klen] == ' ') {
            ck_assert_uint_lt(n, 512);
            lines[n++] = strdup(line + klen + 1);
        }
    }
    fclose(f);
    qsort(lines, n, sizeof *lines, cmp_str);
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(lines[i]) + 1;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, "\n");
        strcat(out, lines[i]);
        free(lines[i]);
    }
    return out;
}

/* The endpoints and locations PostgreSQL holds, as ack_lines lists them. */
static char *db_registrations(const struct fixture *f)
{
    char like[40], *out = calloc(1, 65536);
    snprintf(like, sizeof like, "%s-%%", f->prefix);
    harness_db_value(harness_pg_uri(),
                     "SELECT string_agg(endpoint || ' rd/' || id, E'\\n' ORDER BY "
                     "endpoint || ' rd/' || id COLLATE \"C\") FROM registrations "
                     "WHERE endpoint LIKE $1", like, out, 65536);
    return out;
}

/* --ack-log: a line per 2.01, each naming the registration the server has;
 * a line per acknowledged Send with its value count, summing to the rows. */
START_TEST(ack_log_matches_database)
{
    struct fixture f;
    start(&f);
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_sim_ack_%d.log", (int)getpid());
    unlink(path);
    const char *extra[] = { "--count", "50", "--scenario", "send", "--duration", "3",
                            "--interval", "0.5", "--ack-log", path, NULL };
    json_t *r;
    int st = run_sim(&f, extra, &r, NULL);
    check_clean(r, st);
    char *acked = ack_lines(path, "register"), *db = db_registrations(&f);
    ck_assert_int_eq(registrations(&f), CLIENTS);
    ck_assert_msg(strcmp(acked, db) == 0, "ack log:\n%s\ndatabase:\n%s", acked, db);
    free(acked);
    free(db);
    /* Sends: the counts in the log add up to what the report says */
    char *sends = ack_lines(path, "send");
    long long values = 0;
    for (char *l = sends; *l;) {
        char *sp = strchr(l, ' ');
        ck_assert_ptr_nonnull(sp);
        values += atoll(sp + 1);
        char *nl = strchr(l, '\n');
        l = nl ? nl + 1 : l + strlen(l);
    }
    free(sends);
    ck_assert_int_eq(values, op_field(r, "send", "values"));
    check_rows(telemetry(&f, "send"), values, op_field(r, "send", "retransmissions"), "send");
    unlink(path);
    json_decref(r);
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
        { "--server", "coaps://127.0.0.1:5684", NULL },           /* no --psk-csv */
        { "--server", "coaps://127.0.0.1:5684", "--psk-csv", "/nonexistent/batch.csv" },
        { "--queue", "--awake", "0", NULL },
        { "--cycles", "2", "--scenario", "send" },
        { "--cycles", "0", NULL },                                /* until when? */
        { "--warmup", "1", NULL },                                /* without --cycles */
        { "--cycles", "2", "--warmup", "-1" },
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

/* TEST_SIM_ONLY=part runs only the tests whose name contains it (while developing). */
#define ADD(tc, t)                                                          \
    do {                                                                    \
        const char *only_ = getenv("TEST_SIM_ONLY");                        \
        if (!only_ || strstr(#t, only_))                                    \
            tcase_add_test(tc, t);                                          \
    } while (0)

static Suite *suite(void)
{
    Suite *s = suite_create("sim");
    TCase *tc = tcase_create("scenarios");
    tcase_set_timeout(tc, 180);
    ADD(tc, register_scenario);
    ADD(tc, register_lwm2m10_updates);
    ADD(tc, observe_scenario);
    ADD(tc, send_scenario);
    ADD(tc, mixed_scenario_deregister);
    ADD(tc, device_operations);
    ADD(tc, device_operations_dtls);
    ADD(tc, dtls_factory_mixed);
    ADD(tc, cycles_dtls_reconnect);
    ADD(tc, queue_mode_sleeps);
    ADD(tc, bootstrap_scenario);
    ADD(tc, bootstrap_factory_dtls);
    ADD(tc, ack_log_matches_database);
    ADD(tc, quick_smoke);
    ADD(tc, bad_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();
    int failed = harness_run_suite(suite());
    return failed ? 1 : 0;
}
