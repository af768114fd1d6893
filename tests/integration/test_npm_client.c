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
 * Server -> client requests (Read, Write), and the "new port per request"
 * question, found by reading node_modules/lwm2m-node-lib/lib/lwm2m-client.js
 * and coap 0.22's lib/agent.js, and by strace of the node process on
 * loopback (bind/sendmsg/recvmsg):
 *   - Every Register/Update/De-register makes a new coap.Agent, whose
 *     socket binds port 0: a fresh ephemeral source port per request.
 *   - When the answer arrives the Agent closes that socket (_cleanUp ->
 *     _doClose, before the library's own response handler runs), and the
 *     library's startListener then opens a coap.Server on the SAME port
 *     (config.client.port = res.outSocket.port; strace: close(fd), then
 *     bind(fd', port P) where P was the request's source port).
 *   - So the source address of the latest Register or Update always has a
 *     listener behind it, and the server is right to send its requests to
 *     the registration's source address (server/devops.c session_of ->
 *     runtime_coap_session_for(reg->address), which an Update moves).  No
 *     change to the server or to the client's socket handling is needed;
 *     the suspicion that requests go to a port nobody listens on is wrong
 *     (the listener comes up before register()/update() call back, so
 *     nothing the test does can race it).  The library leaks the earlier
 *     listeners (never closed, default handlers) -- harmless here.
 *   - The library serves Read and Write on single resources only (a Read
 *     of /3/0 is 4.04), answers a Read with the plain text and NO
 *     Content-Format option (the server takes it as the text it asked for
 *     with Accept: 0), takes a Write's payload as text, and never answers
 *     a request whose Accept is not one it knows (e.g. TLV, 11542): text
 *     is the only format it speaks.
 * test_npm_read_write_text drives Read and Write (text) through the REST
 * API after the client's Update moved it to a new port, and checks the
 * values both in the API's answers and as the library saw them
 * (client.js prints an "op" line from the library's read/write handlers,
 * with the listener's port); test_npm_read_write_text_wire checks the
 * same exchange on the wire.
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

/* method path (body may be NULL) with the admin token; the parsed answer
 * (caller decrefs), which must have status want. */
static json_t *api_call(const struct server *s, const char *method, const char *path,
                        const char *body, int want)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s%s", s->http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    struct harness_http_response r;
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 10000,
                                  &r);
    ck_assert_msg(st == want, "%s %s: %d, want %d: %s", method, path, st, want,
                  r.body ? r.body : "");
    json_error_t jerr;
    json_t *j = json_loads(r.body, 0, &jerr);
    ck_assert_msg(j != NULL, "%s %s: not JSON: %s", method, path, r.body);
    harness_http_response_free(&r);
    return j;
}

/* GET path with the admin token; the parsed body (caller decrefs). */
static json_t *api_get(const struct server *s, const char *path, int want)
{
    return api_call(s, "GET", path, NULL, want);
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

/* Reads res (e.g. "/3/0/0") of ep through the API, with ?format=text when
 * text is true (else the server's default), checks the answer is text with
 * one value of type want_type and returns that value (caller decrefs). */
static json_t *api_read_one(const struct server *s, const char *ep, const char *res,
                            bool text, const char *want_type)
{
    char path[320];
    snprintf(path, sizeof path, "/api/devices/%s%s%s", ep, res, text ? "?format=text" : "");
    json_t *d = api_get(s, path, 200);
    ck_assert_str_eq(json_string_value(json_object_get(d, "coap")), "2.05");
    ck_assert_str_eq(json_string_value(json_object_get(d, "format")), "text");
    json_t *values = json_object_get(d, "values");
    ck_assert_uint_eq(json_array_size(values), 1);
    json_t *v = json_array_get(values, 0);
    ck_assert_str_eq(json_string_value(json_object_get(v, "path")), res);
    ck_assert_str_eq(json_string_value(json_object_get(v, "type")), want_type);
    json_t *value = json_incref(json_object_get(v, "value"));
    json_decref(d);
    return value;
}

/* Writes (Write-Replace, text) value_json to res of ep through the API. */
static void api_write_text(const struct server *s, const char *ep, const char *res,
                           const char *value_json)
{
    char path[320], body[512];
    snprintf(path, sizeof path, "/api/devices/%s%s?format=text", ep, res);
    snprintf(body, sizeof body, "{\"values\":[{\"path\":\"%s\",\"value\":%s}]}", res,
             value_json);
    json_t *d = api_call(s, "PUT", path, body, 200);
    ck_assert_str_eq(json_string_value(json_object_get(d, "coap")), "2.04");
    json_decref(d);
}

/* The n-th (0-based) "op" step of kind op on path, or NULL. */
static json_t *find_op(json_t *steps, const char *op, const char *path, size_t n)
{
    size_t i;
    json_t *j;
    json_array_foreach(steps, i, j) {
        if (field_is(j, "step", "op") && field_is(j, "op", op) && field_is(j, "path", path) &&
            n-- == 0)
            return j;
    }
    return NULL;
}

/* The n-th (0-based) "wire" step going dir with code, or NULL. */
static json_t *find_wire(json_t *steps, const char *dir, const char *code, size_t n)
{
    size_t i;
    json_t *j;
    json_array_foreach(steps, i, j) {
        if (field_is(j, "step", "wire") && field_is(j, "dir", dir) && field_is(j, "code", code) &&
            n-- == 0)
            return j;
    }
    return NULL;
}

/* Operator Read and Write in text format reach the library and carry the
 * right values both ways, after the client has moved to a new port with
 * its Update: the server sends to the latest source address, where the
 * library listens. */
START_TEST(test_npm_read_write_text)
{
    struct server s;
    server_start(&s);
    char ep[96], path[320], want[64];
    ep_name(ep, sizeof ep, "rw");
    const char *extra[] = { "--object", "/3/0", "--resource", "/3/0/0=Lodestar Test",
                            "--resource", "/3/0/13=1700000000", "--update", "--wait-signal",
                            NULL };
    struct harness_proc *c = client_start(&s, ep, extra);
    client_wait_step(c, "waiting");
    json_t *steps = client_steps(c);
    json_t *reg = find_step(steps, "register", NULL, NULL);
    json_t *up = find_step(steps, "update", NULL, NULL);
    ck_assert_ptr_nonnull(reg);
    ck_assert_ptr_nonnull(up);
    ck_assert(json_is_true(json_object_get(up, "ok")));
    json_int_t reg_port = json_integer_value(json_object_get(reg, "port"));
    json_int_t up_port = json_integer_value(json_object_get(up, "port"));
    ck_assert_int_gt(reg_port, 0);
    ck_assert_int_gt(up_port, 0);
    ck_assert_int_ne(reg_port, up_port);    /* a new socket for the Update */
    json_decref(steps);

    /* The server holds the Update's source address: where the library
     * now listens. */
    snprintf(path, sizeof path, "/api/devices/%s", ep);
    json_t *d = api_get(&s, path, 200);
    snprintf(want, sizeof want, "127.0.0.1:%" JSON_INTEGER_FORMAT, up_port);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "registration"),
                                                       "address")), want);
    json_decref(d);

    /* Read, text: the library's value; with no ?format= a 1.0 device's
     * single resource is read in text too. */
    json_t *v = api_read_one(&s, ep, "/3/0/0", true, "string");
    ck_assert_str_eq(json_string_value(v), "Lodestar Test");
    json_decref(v);
    v = api_read_one(&s, ep, "/3/0/0", false, "string");
    ck_assert_str_eq(json_string_value(v), "Lodestar Test");
    json_decref(v);
    v = api_read_one(&s, ep, "/3/0/13", true, "time");
    ck_assert_int_eq(json_integer_value(v), 1700000000);
    json_decref(v);

    /* Write, text, then read back what the library stored. */
    api_write_text(&s, ep, "/3/0/0", "\"Widget Co\"");
    v = api_read_one(&s, ep, "/3/0/0", true, "string");
    ck_assert_str_eq(json_string_value(v), "Widget Co");
    json_decref(v);
    api_write_text(&s, ep, "/3/0/13", "1800000000");
    v = api_read_one(&s, ep, "/3/0/13", true, "time");
    ck_assert_int_eq(json_integer_value(v), 1800000000);
    json_decref(v);

    ck_assert_int_eq(harness_proc_signal(c, SIGUSR2), 0);
    steps = client_finish(c);
    /* What the library itself served, on the Update's listener. */
    json_t *op = find_op(steps, "read", "/3/0/0", 0);
    ck_assert_ptr_nonnull(op);
    ck_assert_str_eq(json_string_value(json_object_get(op, "value")), "Lodestar Test");
    ck_assert_int_eq(json_integer_value(json_object_get(op, "port")), up_port);
    op = find_op(steps, "write", "/3/0/0", 0);
    ck_assert_ptr_nonnull(op);
    ck_assert_str_eq(json_string_value(json_object_get(op, "value")), "Widget Co");
    ck_assert_int_eq(json_integer_value(json_object_get(op, "port")), up_port);
    op = find_op(steps, "write", "/3/0/13", 0);
    ck_assert_ptr_nonnull(op);
    ck_assert_str_eq(json_string_value(json_object_get(op, "value")), "1800000000");
    ck_assert_ptr_nonnull(find_op(steps, "read", "/3/0/0", 2));
    ck_assert_ptr_null(find_op(steps, "read", "/3/0/0", 3));
    ck_assert_ptr_nonnull(find_op(steps, "read", "/3/0/13", 1));
    ck_assert(json_is_true(json_object_get(find_step(steps, "done", NULL, NULL), "ok")));
    json_decref(steps);
    server_stop(&s);
}
END_TEST

/* The same Read and Write on the wire (through the client's relay): the
 * server's GET asks for text/plain (Accept 0), its PUT carries
 * Content-Format 0 and the bare text; the library answers 2.05 with the
 * text and no Content-Format option, and 2.04. */
START_TEST(test_npm_read_write_text_wire)
{
    struct server s;
    server_start(&s);
    char ep[96];
    ep_name(ep, sizeof ep, "rwwire");
    const char *extra[] = { "--object", "/3/0", "--resource", "/3/0/0=Acme", "--capture",
                            "--wait-signal", NULL };
    struct harness_proc *c = client_start(&s, ep, extra);
    client_wait_step(c, "waiting");
    json_t *v = api_read_one(&s, ep, "/3/0/0", true, "string");
    ck_assert_str_eq(json_string_value(v), "Acme");
    json_decref(v);
    api_write_text(&s, ep, "/3/0/0", "\"Widget Co\"");
    ck_assert_int_eq(harness_proc_signal(c, SIGUSR2), 0);
    json_t *steps = client_finish(c);

    json_t *w = find_wire(steps, "s2c", "0.01", 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "CON");
    ck_assert_str_eq(json_string_value(json_object_get(w, "path")), "/3/0/0");
    ck_assert_int_eq(json_integer_value(json_object_get(w, "accept")), 0);
    w = find_wire(steps, "c2s", "2.05", 0);
    ck_assert_ptr_nonnull(w);
    ck_assert(json_is_null(json_object_get(w, "content_format")));
    ck_assert_str_eq(json_string_value(json_object_get(w, "payload")), "Acme");

    w = find_wire(steps, "s2c", "0.03", 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(json_string_value(json_object_get(w, "path")), "/3/0/0");
    ck_assert_int_eq(json_integer_value(json_object_get(w, "content_format")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(w, "payload")), "Widget Co");
    ck_assert_ptr_nonnull(find_wire(steps, "c2s", "2.04", 0));
    ck_assert(json_is_true(json_object_get(find_step(steps, "done", NULL, NULL), "ok")));
    json_decref(steps);
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
    tcase_add_test(tc, test_npm_read_write_text);
    tcase_add_test(tc, test_npm_read_write_text_wire);
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
