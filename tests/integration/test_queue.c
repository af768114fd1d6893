/*
 * tests/integration/test_queue.c -- queue mode and durable commands:
 * lodestar-server as a process, the harness device over CoAP, Postgres
 *
 * A queue-mode device (1.1 "Q", 1.0 "b=UQ") is awake for a short window
 * after each message (LODESTAR_QUEUE_AWAKE_MS, 1.5 s here instead of
 * 93 s); while it sleeps (harness_device_sleep: it drops what reaches it)
 * operations answer 202 with a command id, visible through the API; its
 * next Update delivers them in order; results, events ('awake',
 * 'sleeping', 'command') and expiry are checked through the API and the
 * events table; queued commands survive a server restart.  Every wait
 * polls with a deadline.
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 without).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "queue_common.h"

#define AWAKE_ENV "LODESTAR_QUEUE_AWAKE_MS=1500"
#define EVENTS_SQL "SELECT string_agg(DISTINCT kind, ',' ORDER BY kind) FROM events" \
                   " WHERE endpoint = $1 AND kind IN ('awake', 'sleeping', 'command')"

static void ep_name(char *buf, size_t cap, const char *base)
{
    snprintf(buf, cap, "%s-%s", base, qc_tag);
}

static bool asleep_within(const char *ep, int64_t ms)
{
    /* the last of its awake/sleeping events is 'sleeping' */
    return qc_db_wait("SELECT kind FROM events WHERE endpoint = $1"
                      " AND kind IN ('awake', 'sleeping') ORDER BY id DESC LIMIT 1",
                      ep, "sleeping", ms);
}

static void write_path(char *path, size_t cap, const char *ep, const char *res)
{
    snprintf(path, cap, "/api/devices/%s%s", ep, res);
}

#define WRITE_BODY(v) "{\"values\":[{\"path\":\"/32769/0/11\",\"type\":\"string\",\"value\":\"" v "\"}]}"

/* Queue three commands on a sleeping device, wake it, see them delivered. */
static void queue_round(const struct qc_server *s, struct harness_device *d, const char *ep,
                        const char *loc)
{
    char wpath[256], rpath[256], lpath[256];
    write_path(wpath, sizeof wpath, ep, "/32769/0/11");
    write_path(rpath, sizeof rpath, ep, "/3/0/0");
    write_path(lpath, sizeof lpath, ep, "/commands?state=queued");
    harness_device_sleep(d);
    ck_assert_msg(asleep_within(ep, 10000), "no sleeping event");
    int64_t c1 = qc_queued(s, "PUT", wpath, WRITE_BODY("q1"));
    int64_t c2 = qc_queued(s, "PUT", wpath, WRITE_BODY("q2"));
    int64_t c3 = qc_queued(s, "GET", rpath, NULL);
    ck_assert(c1 < c2 && c2 < c3);
    json_t *list = qc_json(s, "GET", lpath, NULL, 200);
    json_t *cmds = json_object_get(list, "commands");
    ck_assert_uint_eq(json_array_size(cmds), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cmds, 0), "op")), "write");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cmds, 2), "op")), "read");
    json_decref(list);
    ck_assert_uint_eq(harness_device_request_count(d, COAP_REQUEST_CODE_PUT, "/32769/0/11"), 0);
    /* wake: the Update tells the server, which delivers in order */
    harness_device_wake(d);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, 5000), 204);
    json_t *done = NULL;
    ck_assert_msg(qc_command_state(s, c3, "done", 15000, &done), "c3 not done");
    ck_assert_str_eq(json_string_value(json_object_get(done, "coap")), "2.05");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(done, "result"), "values"));
    json_decref(done);
    ck_assert(qc_command_state(s, c1, "done", 1000, NULL));
    ck_assert(qc_command_state(s, c2, "done", 1000, &done));
    ck_assert_str_eq(json_string_value(json_object_get(done, "coap")), "2.04");
    json_decref(done);
    char v[64];
    ck_assert(harness_device_get_value(d, "/32769/0/11", v, sizeof v));
    ck_assert_str_eq(v, "q2");    /* q1 then q2: in order */
    ck_assert_uint_eq(harness_device_request_count(d, COAP_REQUEST_CODE_PUT, "/32769/0/11"), 2);
}

START_TEST(test_queue_mode_1_1)
{
    struct qc_server s;
    const char *env[] = { AWAKE_ENV, NULL };
    char ep[64], loc[64], path[256], *body = NULL;
    ep_name(ep, sizeof ep, "q11");
    qc_start(&s, "127.0.0.1:0", env);
    struct harness_device *d = qc_device(&s, "1.1", ep, true, loc, sizeof loc);
    ck_assert_str_eq(qc_db("SELECT queue FROM registrations WHERE endpoint = $1", ep), "t");
    /* awake right after its Register: inline */
    write_path(path, sizeof path, ep, "/3/0/0");
    ck_assert_int_eq(qc_call(&s, "GET", path, NULL, &body), 200);
    ck_assert_ptr_nonnull(strstr(body, "Lodestar"));
    free(body);
    queue_round(&s, d, ep, loc);
    ck_assert_msg(qc_db_wait(EVENTS_SQL, ep, "awake,command,sleeping", 5000), "events: %s",
                  qc_db(EVENTS_SQL, ep));
    /* unknown command ids and bad filters */
    ck_assert_int_eq(qc_call(&s, "GET", "/api/commands/999999999", NULL, NULL), 404);
    ck_assert_int_eq(qc_call(&s, "GET", "/api/commands/x", NULL, NULL), 404);
    write_path(path, sizeof path, ep, "/commands?state=bogus");
    ck_assert_int_eq(qc_call(&s, "GET", path, NULL, NULL), 400);
    harness_device_free(d);
    qc_stop(&s);
}
END_TEST

START_TEST(test_queue_mode_1_0_binding_uq)
{
    struct qc_server s;
    const char *env[] = { AWAKE_ENV, NULL };
    char ep[64], loc[64];
    ep_name(ep, sizeof ep, "q10");
    qc_start(&s, "127.0.0.1:0", env);
    struct harness_device *d = qc_device(&s, "1.0", ep, true, loc, sizeof loc);
    ck_assert_str_eq(qc_db("SELECT queue::text || ' ' || binding FROM registrations"
                           " WHERE endpoint = $1", ep), "true UQ");
    queue_round(&s, d, ep, loc);
    harness_device_free(d);
    qc_stop(&s);
}
END_TEST

START_TEST(test_queue_ttl_expiry)
{
    struct qc_server s;
    const char *env[] = { AWAKE_ENV, "LODESTAR_COMMAND_TTL=1", NULL };
    char ep[64], loc[64], path[256];
    ep_name(ep, sizeof ep, "qttl");
    qc_start(&s, "127.0.0.1:0", env);
    struct harness_device *d = qc_device(&s, "1.1", ep, true, loc, sizeof loc);
    harness_device_sleep(d);
    ck_assert(asleep_within(ep, 10000));
    write_path(path, sizeof path, ep, "/3/0/0");
    int64_t id = qc_queued(&s, "GET", path, NULL);
    ck_assert_msg(qc_command_state(&s, id, "expired", 10000, NULL), "not expired");
    /* an expired command is never delivered */
    harness_device_wake(d);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, 5000), 204);
    ck_assert(qc_db_wait("SELECT count(*) FROM events WHERE endpoint = $1 AND kind = 'awake'",
                         ep, "2", 5000));
    ck_assert(qc_command_state(&s, id, "expired", 0, NULL));
    ck_assert_uint_eq(harness_device_request_count(d, COAP_REQUEST_CODE_GET, "/3/0/0"), 0);
    harness_device_free(d);
    qc_stop(&s);
}
END_TEST

START_TEST(test_queue_survives_restart)
{
    struct qc_server s;
    const char *env[] = { AWAKE_ENV, NULL };
    char ep[64], loc[64], path[256], coap[96];
    ep_name(ep, sizeof ep, "qrst");
    qc_start(&s, "127.0.0.1:0", env);
    snprintf(coap, sizeof coap, "%s", s.coap);
    struct harness_device *d = qc_device(&s, "1.1", ep, true, loc, sizeof loc);
    harness_device_sleep(d);
    ck_assert(asleep_within(ep, 10000));
    write_path(path, sizeof path, ep, "/32769/0/11");
    int64_t id = qc_queued(&s, "PUT", path, WRITE_BODY("after-restart"));
    qc_stop(&s);
    /* the same address: the new instance claims the registration */
    qc_start(&s, coap, env);
    ck_assert(qc_command_state(&s, id, "queued", 0, NULL));
    harness_device_wake(d);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, 5000), 204);
    ck_assert_msg(qc_command_state(&s, id, "done", 15000, NULL), "not delivered after restart");
    char v[64];
    ck_assert(harness_device_get_value(d, "/32769/0/11", v, sizeof v));
    ck_assert_str_eq(v, "after-restart");
    ck_assert_str_eq(qc_db("SELECT instance_id FROM registrations WHERE endpoint = $1", ep),
                     s.instance);
    harness_device_free(d);
    qc_stop(&s);
}
END_TEST

START_TEST(test_queue_not_queue_mode_inline_and_unregistered)
{
    struct qc_server s;
    char ep[64], loc[64], path[256], *body = NULL;
    ep_name(ep, sizeof ep, "qnon");
    qc_start(&s, "127.0.0.1:0", NULL);
    struct harness_device *d = qc_device(&s, "1.1", ep, false, loc, sizeof loc);
    write_path(path, sizeof path, ep, "/3/0/0");
    ck_assert_int_eq(qc_call(&s, "GET", path, NULL, &body), 200);
    free(body);
    ck_assert_int_eq(harness_device_deregister(d, loc, 5000), 202);
    ck_assert_int_eq(qc_call(&s, "GET", path, NULL, &body), 404);
    ck_assert_ptr_nonnull(strstr(body, "not_registered"));
    free(body);
    harness_device_free(d);
    qc_stop(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_queue_mode_1_1);
    tcase_add_test(tc, test_queue_mode_1_0_binding_uq);
    tcase_add_test(tc, test_queue_ttl_expiry);
    tcase_add_test(tc, test_queue_survives_restart);
    tcase_add_test(tc, test_queue_not_queue_mode_inline_and_unregistered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();     /* exits 77 when unset */
    qc_init();
    return harness_run_suite(suite()) ? 1 : 0;
}
