/*
 * tests/integration/test_npm_client.c -- a real third-party LwM2M client,
 * the npm package lwm2m-node-lib (LwM2M 1.0, NoSec, plain CoAP), against
 * lodestar-server as a process and a real PostgreSQL
 *
 * tests/npm/client.js drives the library and prints one JSON object per
 * step on stdout; this test reads those lines and checks what the operator
 * sees: the REST API, the registrations row, the events.  Skipped (exit 77)
 * without LODESTAR_TEST_PGURI, without node on PATH, or without
 * tests/npm/node_modules (scripts/test.sh runs `npm ci` there).
 *
 * What lwm2m-node-lib 1.4.0 sends, and what the server must make of it:
 *   Register    POST /rd?ep=..&lt=..&lwm2m=1.0&b=U, no Content-Format
 *               option, payload "</3/0>,</1/0>": accepted (2.01).
 *   Update      POST /rd/{id}?lt=..&lwm2m=1.0&b=U from a NEW source port
 *               (one socket per request).  lwm2m is not an Update
 *               parameter in Core TS 1.0 ("Update": lt, sms, b), but the
 *               value repeats the registration's, so the server accepts
 *               it (2.04) and moves the registration to the new port:
 *               refusing a widely used client over a redundant parameter
 *               helps nobody.
 *   De-register DELETE /rd/{id}, again from a new port: 2.02.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"

#define KEY_ENV "LODESTAR_MASTER_KEY=8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define START_MS 20000
#define STOP_MS 10000
#define CLIENT_MS 30000         /* the client's own --timeout-ms is below */

static char db_env[1024];
static char node_bin[4096];
static char client_js[4096];
static char run_tag[32];        /* makes endpoint names unique per run */

struct server {
    struct harness_proc *p;
    char coap_host[96];
    char coap_port[8];
    char http[160];             /* http://127.0.0.1:port */
    char admin[65];
};

/* ---- environment ---- */

/* node on PATH, like the shell finds it; false when there is none. */
static bool find_node(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path), *save = NULL;
    bool found = false;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/node", *dir ? dir : ".");
        found = access(out, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* Exits 77 with a reason when node or the installed package is missing. */
static void require_node_client(void)
{
    const char *dir = getenv("LODESTAR_NPM_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "test_npm_client: LODESTAR_NPM_DIR is not set (run through meson "
                        "test); skipped\n");
        exit(HARNESS_SKIP);
    }
    if (!find_node(node_bin, sizeof node_bin)) {
        fprintf(stderr, "test_npm_client: node is not on PATH; skipped\n");
        exit(HARNESS_SKIP);
    }
    char pkg[4096];
    snprintf(pkg, sizeof pkg, "%s/node_modules/lwm2m-node-lib/package.json", dir);
    if (access(pkg, R_OK) != 0) {
        fprintf(stderr, "test_npm_client: %s/node_modules is missing (run `npm ci` in %s, "
                        "scripts/test.sh does); skipped\n", dir, dir);
        exit(HARNESS_SKIP);
    }
    snprintf(client_js, sizeof client_js, "%s/client.js", dir);
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, raw, bytes), (ssize_t)bytes);
    close(fd);
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* ---- lodestar-server ---- */

static void server_start(struct server *s)
{
    memset(s, 0, sizeof *s);
    random_hex(s->admin, 32);
    char *argv[] = { "lodestar-server", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0",
                     "--http", "127.0.0.1:0", "--admin-token", s->admin, NULL };
    char *env[] = { KEY_ENV, db_env, NULL };
    const char *bin = getenv("LODESTAR_SERVER_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_SERVER_BIN is not set (run through meson test)");
    s->p = harness_proc_spawn("server", bin, argv, env);
    ck_assert_ptr_nonnull(s->p);
    char http[128], coap[96];
    harness_wait_listening(s->p, "http", START_MS, http, sizeof http);
    harness_wait_listening(s->p, "coap", START_MS, coap, sizeof coap);
    ck_assert_msg(harness_proc_wait_line(s->p, "event=started ", START_MS, NULL, 0),
                  "not started:\n%s", harness_proc_stderr(s->p));
    snprintf(s->http, sizeof s->http, "http://%s", http);
    char *colon = strrchr(coap, ':');
    ck_assert_ptr_nonnull(colon);
    *colon = '\0';
    snprintf(s->coap_host, sizeof s->coap_host, "%s", coap);
    snprintf(s->coap_port, sizeof s->coap_port, "%s", colon + 1);
    ck_assert_str_ne(s->coap_port, "0");
}

static void server_stop(struct server *s)
{
    ck_assert_int_eq(harness_proc_stop_dump(s->p, "server", STOP_MS), 0);
    harness_proc_free(s->p);
}

/* GET path with the admin token; the parsed body (caller decrefs). */
static json_t *api_get(const struct server *s, const char *path, int want)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s%s", s->http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->admin);
    const char *headers[] = { auth, NULL };
    struct harness_http_response r;
    int st = harness_http_request("GET", url, headers, NULL, 0, 10000, &r);
    ck_assert_msg(st == want, "GET %s: %d, want %d: %s", path, st, want, r.body ? r.body : "");
    json_error_t jerr;
    json_t *j = json_loads(r.body, 0, &jerr);
    ck_assert_msg(j != NULL, "GET %s: not JSON: %s", path, r.body);
    harness_http_response_free(&r);
    return j;
}

/* ---- database ---- */

/* One value from the test database; see harness_db_value. */
static const char *db_value(const char *sql, const char *arg, char *out, size_t cap)
{
    return harness_db_value(harness_pg_uri(), sql, arg, out, cap);
}

/* ---- the node client ---- */

/* Starts client.js against s with extra arguments (NULL-terminated). */
static struct harness_proc *client_start(const struct server *s, const char *ep,
                                         const char *const extra[])
{
    char *argv[32] = { "node", client_js, "--host", (char *)s->coap_host,
                       "--port", (char *)s->coap_port, "--endpoint", (char *)ep,
                       "--step-timeout-ms", "10000", "--timeout-ms", "25000" };
    size_t n = 12;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    struct harness_proc *c = harness_proc_spawn("npm-client", node_bin, argv, NULL);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* The client's stdout lines as a JSON array (caller decrefs); every line
 * must be a JSON object. */
static json_t *client_steps(struct harness_proc *c)
{
    char *out = harness_proc_stdout(c);
    json_t *steps = json_array();
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        ck_assert_msg(json_is_object(j), "client printed a non-JSON line: %s", line);
        json_array_append_new(steps, j);
    }
    free(out);
    return steps;
}

static bool field_is(json_t *j, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v && strcmp(v, want) == 0;
}

/* The first step named name (and, for "wire", going dir with code), or NULL. */
static json_t *find_step(json_t *steps, const char *name, const char *dir, const char *code)
{
    size_t i;
    json_t *j;
    json_array_foreach(steps, i, j) {
        const char *st = json_string_value(json_object_get(j, "step"));
        if (!st || strcmp(st, name) != 0)
            continue;
        if (dir && !field_is(j, "dir", dir))
            continue;
        if (code && !field_is(j, "code", code))
            continue;
        return j;
    }
    return NULL;
}

/* Waits until the client prints step name (polling its stdout), failing
 * early when it exits first. */
static void client_wait_step(struct harness_proc *c, const char *name)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"step\":\"%s\"", name);
    int64_t deadline = harness_now_ms() + CLIENT_MS;
    for (;;) {
        char *out = harness_proc_stdout(c);
        bool seen = strstr(out, needle) != NULL;
        int st;
        bool exited = !seen && harness_proc_wait_exit(c, 0, &st);
        if (!seen && (exited || harness_now_ms() > deadline)) {
            char *err = harness_proc_stderr(c);
            ck_abort_msg("client never printed %s (%s):\nstdout:\n%s\nstderr:\n%s", name,
                         exited ? "exited" : "timeout", out, err);
        }
        free(out);
        if (seen)
            return;
        harness_sleep_ms(20);
    }
}

/* Waits for the client's exit; returns its parsed steps. */
static json_t *client_finish(struct harness_proc *c)
{
    int st = -1;
    bool exited = harness_proc_wait_exit(c, CLIENT_MS, &st);
    json_t *steps = client_steps(c);
    if (!exited || st != 0) {
        char *out = harness_proc_stdout(c), *err = harness_proc_stderr(c);
        ck_abort_msg("client %s (status %d):\nstdout:\n%s\nstderr:\n%s",
                     exited ? "failed" : "hung", st, out, err);
    }
    harness_proc_free(c);
    return steps;
}

static void ep_name(char *buf, size_t cap, const char *base)
{
    snprintf(buf, cap, "npm-%s-%s", base, run_tag);
}

/* The registration id from the client's Location ("rd/abc" -> "abc"). */
static const char *location_id(json_t *reg_step)
{
    const char *loc = json_string_value(json_object_get(reg_step, "location"));
    ck_assert_ptr_nonnull(loc);
    const char *slash = strrchr(loc, '/');
    ck_assert_ptr_nonnull(slash);
    ck_assert_msg(strncmp(loc, "rd/", 3) == 0 || strncmp(loc, "/rd/", 4) == 0, "%s", loc);
    return slash + 1;
}

/* ---- tests ---- */

/* Register, the client's (refused) Update, the operator's view while it is
 * registered, De-register, the view afterwards. */
START_TEST(test_npm_register_update_deregister)
{
    struct server s;
    server_start(&s);
    char ep[96], path[320], v[256];
    ep_name(ep, sizeof ep, "dev");
    const char *extra[] = { "--lifetime", "300", "--object", "/3/0", "--object", "/1/0",
                            "--resource", "/3/0/0=Lodestar Test", "--update",
                            "--wait-signal", NULL };
    struct harness_proc *c = client_start(&s, ep, extra);
    client_wait_step(c, "waiting");
    json_t *steps = client_steps(c);
    json_t *reg = find_step(steps, "register", NULL, NULL);
    ck_assert_ptr_nonnull(reg);
    ck_assert(json_is_true(json_object_get(reg, "ok")));
    char id[64];
    snprintf(id, sizeof id, "%s", location_id(reg));

    /* The library repeats lwm2m=1.0 in its Update, from a new port: 2.04. */
    json_t *up = find_step(steps, "update", NULL, NULL);
    ck_assert_ptr_nonnull(up);
    ck_assert(json_is_true(json_object_get(up, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(up, "code")), "2.04");
    json_decref(steps);

    snprintf(path, sizeof path, "/api/devices/%s", ep);
    json_t *d = api_get(&s, path, 200);
    ck_assert_str_eq(json_string_value(json_object_get(d, "endpoint")), ep);
    ck_assert(json_is_true(json_object_get(d, "registered")));
    json_t *r = json_object_get(d, "registration");
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), id);
    ck_assert_str_eq(json_string_value(json_object_get(r, "lwm2m")), "1.0");
    ck_assert_str_eq(json_string_value(json_object_get(r, "security")), "nosec");
    ck_assert_str_eq(json_string_value(json_object_get(r, "binding")), "U");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "lifetime")), 300);
    json_t *objs = json_object_get(r, "objects");
    ck_assert_uint_eq(json_array_size(objs), 2);
    ck_assert_str_eq(json_string_value(json_array_get(objs, 0)), "/3/0");
    ck_assert_str_eq(json_string_value(json_array_get(objs, 1)), "/1/0");
    json_decref(d);

    /* It appears in the device list too. */
    snprintf(path, sizeof path, "/api/devices?q=%s", ep);
    d = api_get(&s, path, 200);
    json_t *list = json_object_get(d, "devices");
    ck_assert_uint_eq(json_array_size(list), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list, 0), "endpoint")), ep);
    json_decref(d);

    ck_assert_str_eq(db_value("SELECT id || ' ' || lwm2m_version || ' ' || security || ' ' || "
                              "lifetime_s || ' ' || objects::text FROM registrations "
                              "WHERE endpoint = $1", ep, v, sizeof v),
                     (snprintf(path, sizeof path, "%s 1.0 nosec 300 [\"/3/0\", \"/1/0\"]", id),
                      path));

    ck_assert_int_eq(harness_proc_signal(c, SIGUSR2), 0);
    steps = client_finish(c);
    json_t *de = find_step(steps, "deregister", NULL, NULL);
    ck_assert_ptr_nonnull(de);
    ck_assert(json_is_true(json_object_get(de, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(de, "code")), "2.02");
    ck_assert(json_is_true(json_object_get(find_step(steps, "done", NULL, NULL), "ok")));
    json_decref(steps);

    snprintf(path, sizeof path, "/api/devices/%s", ep);
    d = api_get(&s, path, 200);
    ck_assert(json_is_false(json_object_get(d, "registered")));
    ck_assert(json_is_null(json_object_get(d, "registration")));
    json_decref(d);
    ck_assert_str_eq(db_value("SELECT count(*) FROM registrations WHERE endpoint = $1", ep, v,
                              sizeof v), "0");
    ck_assert_str_eq(db_value("SELECT string_agg(kind || ':' || (detail->>'id'), ',' ORDER BY id) "
                              "FROM events WHERE endpoint = $1", ep, v, sizeof v),
                     (snprintf(path, sizeof path, "registration:%s,update:%s,deregistration:%s", id, id, id),
                      path));
    server_stop(&s);
}
END_TEST

/* What the library puts on the wire (through the client's relay): the
 * Register has no Content-Format, 1.0 parameters and a bare link list. */
START_TEST(test_npm_register_wire)
{
    struct server s;
    server_start(&s);
    char ep[96], q[128], v[64];
    ep_name(ep, sizeof ep, "wire");
    const char *extra[] = { "--lifetime", "60", "--object", "/3/0", "--capture", NULL };
    json_t *steps = client_finish(client_start(&s, ep, extra));

    json_t *w = find_step(steps, "wire", "c2s", "0.02");
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "CON");
    ck_assert_str_eq(json_string_value(json_object_get(w, "path")), "/rd");
    ck_assert(json_is_null(json_object_get(w, "content_format")));
    ck_assert_str_eq(json_string_value(json_object_get(w, "payload")), "</3/0>");
    json_t *query = json_object_get(w, "query");
    snprintf(q, sizeof q, "ep=%s", ep);
    static const char *const want[] = { NULL, "lt=60", "lwm2m=1.0", "b=U" };
    ck_assert_uint_eq(json_array_size(query), 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(json_string_value(json_array_get(query, i)), want[i] ? want[i] : q);

    json_t *created = find_step(steps, "wire", "s2c", "2.01");
    ck_assert_ptr_nonnull(created);
    const char *loc = json_string_value(json_object_get(created, "location"));
    ck_assert_ptr_nonnull(loc);
    ck_assert_int_eq(strncmp(loc, "/rd/", 4), 0);
    ck_assert_ptr_nonnull(find_step(steps, "wire", "s2c", "2.02"));
    ck_assert(json_is_true(json_object_get(find_step(steps, "done", NULL, NULL), "ok")));
    json_decref(steps);

    ck_assert_str_eq(db_value("SELECT count(*) FROM events WHERE endpoint = $1 AND "
                              "kind IN ('registration', 'deregistration')", ep, v, sizeof v),
                     "2");
    server_stop(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("npm_client");
    TCase *tc = tcase_create("lwm2m_node_lib");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_npm_register_update_deregister);
    tcase_add_test(tc, test_npm_register_wire);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(db_env, sizeof db_env, "LODESTAR_DB=%s", harness_pg_uri());
    require_node_client();
    snprintf(run_tag, sizeof run_tag, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
    int failed = harness_run_suite(suite());
    return failed ? 1 : 0;
}
