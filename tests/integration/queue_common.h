/*
 * tests/integration/queue_common.h -- what test_queue.c and
 * test_instances.c share: lodestar-server processes with an admin token,
 * API calls, polls of the database with deadlines
 *
 * Static functions in a header: two test programs, one copy each.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_QUEUE_COMMON_H
#define LODESTAR_TESTS_QUEUE_COMMON_H

#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "lwm2m_device.h"

#define QC_KEY_ENV \
    "LODESTAR_MASTER_KEY=8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define QC_START_MS 20000
#define QC_STOP_MS 15000
#define QC_ADMIN "queue-test-admin-token-0123456789abcdef"

struct qc_server {
    struct harness_proc *p;
    char coap[96];
    char http[128];
    char instance[64];
};

static char qc_db_env[1100];
static char qc_tag[16];

static inline void qc_init(void)
{
    snprintf(qc_db_env, sizeof qc_db_env, "LODESTAR_DB=%s", harness_pg_uri());
    snprintf(qc_tag, sizeof qc_tag, "%lx", (unsigned long)time(NULL) ^ (unsigned long)getpid());
}

/* coap: "127.0.0.1:0" or a fixed address; extra_env NULL-terminated (<= 4). */
static inline void qc_start(struct qc_server *s, const char *coap, const char *const extra_env[])
{
    char *argv[] = { "lodestar-server", "--coap", (char *)coap, "--coaps", "127.0.0.1:0",
                     "--http", "127.0.0.1:0", "--admin-token", QC_ADMIN, NULL };
    char *env[8] = { QC_KEY_ENV, qc_db_env };
    for (size_t i = 0; extra_env && extra_env[i] && i < 4; i++)
        env[2 + i] = (char *)extra_env[i];
    const char *bin = getenv("LODESTAR_SERVER_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_SERVER_BIN is not set (run through meson test)");
    memset(s, 0, sizeof *s);
    s->p = harness_proc_spawn("server", bin, argv, env);
    ck_assert_ptr_nonnull(s->p);
    char line[1024], addr[96];
    /* in the order the server logs them */
    harness_wait_listening(s->p, "http", QC_START_MS, addr, sizeof addr);
    snprintf(s->http, sizeof s->http, "http://%s", addr);
    ck_assert_msg(harness_proc_wait_line(s->p, "event=registrations_loaded ", QC_START_MS, line,
                                         sizeof line), "no registrations_loaded line");
    ck_assert(harness_log_field(line, "instance", s->instance, sizeof s->instance));
    harness_wait_listening(s->p, "coap", QC_START_MS, s->coap, sizeof s->coap);
    ck_assert(harness_proc_wait_line(s->p, "event=started", QC_START_MS, NULL, 0));
}

static inline void qc_stop(struct qc_server *s)
{
    ck_assert_int_eq(harness_proc_stop_dump(s->p, "server", QC_STOP_MS), 0);
    harness_proc_free(s->p);
    s->p = NULL;
}

/* One API call; *body_out (may be NULL) gets the body (caller frees). */
static inline int qc_call(const struct qc_server *s, const char *method, const char *path,
                   const char *body, char **body_out)
{
    char url[1024];
    const char *headers[] = { "Authorization: Bearer " QC_ADMIN,
                              "Content-Type: application/json", NULL };
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s%s", s->http, path);
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 30000,
                                  &r);
    if (body_out)
        *body_out = r.body ? strdup(r.body) : NULL;
    harness_http_response_free(&r);
    return st;
}

/* A call that must answer want; returns the parsed body (caller decrefs). */
static inline json_t *qc_json(const struct qc_server *s, const char *method, const char *path,
                       const char *body, int want)
{
    char *text = NULL;
    int st = qc_call(s, method, path, body, &text);
    ck_assert_msg(st == want, "%s %s: %d, want %d: %s", method, path, st, want,
                  text ? text : "");
    json_t *j = json_loads(text ? text : "", 0, NULL);
    ck_assert_msg(j, "%s %s: not JSON: %s", method, path, text ? text : "");
    free(text);
    return j;
}

/* The command id of a 202 answer. */
static inline int64_t qc_queued(const struct qc_server *s, const char *method, const char *path,
                         const char *body)
{
    json_t *j = qc_json(s, method, path, body, 202);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "queued");
    int64_t id = json_integer_value(json_object_get(j, "command"));
    ck_assert_int_gt(id, 0);
    json_decref(j);
    return id;
}

/* Polls GET /api/commands/{id} until its state is want (true) or ms pass. */
static inline bool qc_command_state(const struct qc_server *s, int64_t id, const char *want,
                             int64_t ms, json_t **out)
{
    char path[64];
    snprintf(path, sizeof path, "/api/commands/%" PRId64, id);
    int64_t deadline = harness_now_ms() + ms;
    for (;;) {
        json_t *j = qc_json(s, "GET", path, NULL, 200);
        const char *st = json_string_value(json_object_get(j, "state"));
        if (st && strcmp(st, want) == 0) {
            if (out)
                *out = j;
            else
                json_decref(j);
            return true;
        }
        json_decref(j);
        if (harness_now_ms() > deadline)
            return false;
        harness_sleep_ms(100);   /* poll interval */
    }
}

static inline const char *qc_db(const char *sql, const char *arg)
{
    static char out[2048];
    return harness_db_value(harness_pg_uri(), sql, arg, out, sizeof out);
}

/* Polls until sql ($1 = arg) gives want, or ms pass. */
static inline bool qc_db_wait(const char *sql, const char *arg, const char *want, int64_t ms)
{
    int64_t deadline = harness_now_ms() + ms;
    while (strcmp(qc_db(sql, arg), want) != 0) {
        if (harness_now_ms() > deadline)
            return false;
        harness_sleep_ms(100);   /* poll interval */
    }
    return true;
}

/* A 1.1 (or version) device on its own thread, registered in queue mode
 * (or not) at s; location gets "rd/<id>". */
static inline struct harness_device *qc_device(const struct qc_server *s, const char *version,
                                        const char *ep, bool queue, char *location, size_t cap)
{
    struct harness_device_options o = { .server = s->coap, .version = version };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    ck_assert(harness_device_start_thread(d));
    ck_assert_int_eq(harness_device_register_lwm2m(d, ep, 300, NULL, queue, NULL, 5000,
                                                   location, cap), 201);
    return d;
}

#endif
