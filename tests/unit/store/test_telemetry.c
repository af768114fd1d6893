/*
 * tests/unit/store/test_telemetry.c -- store/telemetry.h: the worker's
 * observation and telemetry operations (store/registrations.c) and the
 * reads (store/telemetry.c), against a real PostgreSQL
 *
 * Suite 'db': exits 77 without LODESTAR_TEST_PGURI.  Each test gets a fresh
 * migrated database; the test thread runs a runtime loop until the
 * completions it expects arrived (bounded by a deadline).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_db.h"
#include "runtime/loop.h"
#include "store/registrations.h"
#include "store/store.h"
#include "store/telemetry.h"

#define DEADLINE_MS 30000
#define T0_MS INT64_C(1700000000000)

static const char *pguri;
static struct harness_db db;

static void setup(void)
{
    harness_db_fresh(&db, pguri, "lodestar_tel", true);
}

static void teardown(void)
{
    harness_db_drop(&db, pguri, "test_telemetry");
}

static const char *value(const char *sql, const char *arg)
{
    static char out[4096];
    return harness_db_value(db.conninfo, sql, arg, out, sizeof out);
}

/* ---- loop and completions ---- */

static size_t completed, wanted;
static int64_t deadline;

struct rec {
    int calls;
    enum ls_rc rc;
    int64_t id;
};

static void on_done(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct rec *r = arg;
    ck_assert_ptr_nonnull(err);
    r->calls++;
    r->rc = rc;
    completed++;
}

static void on_id(void *arg, enum ls_rc rc, int64_t id, const struct ls_error *err)
{
    struct rec *r = arg;
    ck_assert_ptr_nonnull(err);
    r->calls++;
    r->rc = rc;
    r->id = id;
    completed++;
}

static void on_tick(struct runtime_loop *loop, void *arg)
{
    (void)arg;
    if (completed >= wanted || runtime_clock_now_ms() > deadline)
        runtime_loop_stop(loop);
}

static void run_until(struct runtime_loop *loop, size_t want)
{
    struct runtime_loop_timer t;
    struct ls_error err = { 0 };
    wanted = want;
    deadline = runtime_clock_now_ms() + DEADLINE_MS;
    runtime_loop_timer_init(&t, on_tick, NULL);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &t, 2, 2, &err), LS_OK);
    ck_assert_int_eq(runtime_loop_run(loop, &err), LS_OK);
    runtime_loop_timer_stop(loop, &t);
    ck_assert_msg(completed >= want, "%zu of %zu completions", completed, want);
}

struct env {
    struct runtime_loop *loop;
    struct store_worker *w;
};

static struct env start(void)
{
    struct ls_error err = { 0 };
    struct env e;
    completed = 0;
    e.loop = runtime_loop_new(&err);
    ck_assert_ptr_nonnull(e.loop);
    e.w = store_worker_start(db.conninfo, e.loop, &err);
    ck_assert_msg(e.w != NULL, "%s", err.msg);
    return e;
}

static void stop(struct env *e)
{
    store_worker_stop(e->w);
    runtime_loop_free(e->loop);
}

/* The loop cannot run again after a stop: each phase takes a new env. */
static void restart(struct env *e)
{
    stop(e);
    size_t keep = completed;
    *e = start();
    completed = keep;
}

static void reg(struct env *e, const char *id, const char *ep)
{
    struct rec r = { 0 };
    struct ls_error err = { 0 };
    struct store_registration row = {
        .id = id, .endpoint = ep, .version = "1.1", .lifetime_s = 300, .binding = "U",
        .address = "127.0.0.1:1", .security = "nosec", .identity = "",
        .registered_at_ms = T0_MS, .last_seen_ms = T0_MS, .expires_at_ms = T0_MS + 300000,
    };
    size_t before = completed;
    ck_assert_int_eq(store_worker_register(e->w, &row, on_done, &r, &err), LS_OK);
    run_until(e->loop, before + 1);
    restart(e);
    ck_assert_int_eq(r.rc, LS_OK);
}

static int64_t observe(struct env *e, const char *ep, const char *id, const char *path,
                       const char *paths, uint8_t tok, enum ls_rc want)
{
    struct rec r = { 0 };
    struct ls_error err = { 0 };
    uint8_t token[4] = { 0xde, 0xad, 0x00, tok };
    struct store_observation o = {
        .endpoint = ep, .registration_id = id, .path = path, .paths_json = paths,
        .token = token, .token_len = sizeof token, .format = 11542,
        .attributes_json = "{\"pmin\":1}",
    };
    size_t before = completed;
    ck_assert_int_eq(store_worker_observation_insert(e->w, &o, on_id, &r, &err), LS_OK);
    run_until(e->loop, before + 1);
    restart(e);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.rc, want);
    return r.id;
}

/* ---- observations ---- */

struct loaded {
    int n;
    int64_t id;
    char ep[64], path[32], paths[64];
    uint8_t token[8];
    size_t token_len;
    int format;
};

static void on_row(void *arg, const struct store_observation *o)
{
    struct loaded *l = arg;
    l->n++;
    l->id = o->id;
    snprintf(l->ep, sizeof l->ep, "%s", o->endpoint);
    snprintf(l->path, sizeof l->path, "%s", o->path ? o->path : "");
    snprintf(l->paths, sizeof l->paths, "%s", o->paths_json ? o->paths_json : "");
    memcpy(l->token, o->token, o->token_len);
    l->token_len = o->token_len;
    l->format = o->format;
}

START_TEST(test_observation_insert_load_delete)
{
    struct env e = start();
    reg(&e, "r1", "dev-1");
    int64_t id = observe(&e, "dev-1", "r1", "/3/0/9", NULL, 1, LS_OK);
    ck_assert_int_gt(id, 0);
    int64_t id2 = observe(&e, "dev-1", "r1", NULL, "[\"/3/0/9\",\"/3/0/7\"]", 2, LS_OK);
    ck_assert_int_gt(id2, id);
    /* Same token again: the row is replaced, not duplicated. */
    int64_t id3 = observe(&e, "dev-1", "r1", "/3/0/13", NULL, 1, LS_OK);
    ck_assert_int_eq(id3, id);
    ck_assert_str_eq(value("SELECT count(*) FROM observations", NULL), "2");
    ck_assert_str_eq(value("SELECT path FROM observations WHERE id = $1", "1"), "/3/0/13");

    struct store *s = store_open(db.conninfo, NULL);
    struct loaded l = { 0 };
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_observations_load(s, on_row, &l, &err), LS_OK);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.id, id2);
    ck_assert_str_eq(l.paths, "[\"/3/0/9\",\"/3/0/7\"]");
    ck_assert_int_eq((int)l.token_len, 4);
    ck_assert_int_eq(l.token[0], 0xde);
    ck_assert_int_eq(l.token[3], 2);
    ck_assert_int_eq(l.format, 11542);

    struct rec d = { 0 };
    ck_assert_int_eq(store_worker_observation_delete(e.w, id2, "dev-1", on_done, &d, &err),
                     LS_OK);
    run_until(e.loop, completed + 1);
    restart(&e);
    ck_assert_int_eq(d.rc, LS_OK);
    struct rec d2 = { 0 };
    ck_assert_int_eq(store_worker_observation_delete(e.w, id2, "dev-1", on_done, &d2, &err),
                     LS_OK);
    run_until(e.loop, completed + 1);
    ck_assert_int_eq(d2.rc, LS_ENOTFOUND);
    ck_assert_str_eq(value("SELECT count(*) FROM observations", NULL), "1");
    store_close(s);
    stop(&e);
}
END_TEST

START_TEST(test_observation_insert_unknown_registration)
{
    struct env e = start();
    reg(&e, "r1", "dev-1");
    int64_t id = observe(&e, "dev-1", "nope", "/3/0/9", NULL, 1, LS_ENOTFOUND);
    ck_assert_int_eq(id, 0);
    /* The worker goes on: a valid one in the next round still works. */
    ck_assert_int_gt(observe(&e, "dev-1", "r1", "/3/0/9", NULL, 1, LS_OK), 0);
    stop(&e);
}
END_TEST

START_TEST(test_observation_insert_invalid)
{
    struct env e = start();
    struct ls_error err = { 0 };
    struct store_observation o = { .endpoint = "x", .registration_id = "r", .path = "/3",
                                   .token = NULL, .token_len = 0 };
    ck_assert_int_eq(store_worker_observation_insert(e.w, &o, on_id, NULL, &err), LS_EINVAL);
    stop(&e);
}
END_TEST

START_TEST(test_observation_cascade_on_deregister)
{
    struct env e = start();
    struct ls_error err = { 0 };
    reg(&e, "r1", "dev-1");
    observe(&e, "dev-1", "r1", "/3/0/9", NULL, 1, LS_OK);
    struct rec r = { 0 };
    ck_assert_int_eq(store_worker_deregister(e.w, "r1", "dev-1", "deregistered", on_done, &r,
                                             &err), LS_OK);
    run_until(e.loop, completed + 1);
    ck_assert_str_eq(value("SELECT count(*) FROM observations", NULL), "0");
    stop(&e);
}
END_TEST

/* ---- telemetry ---- */

static void tel(struct env *e, const char *ep, const char *source, const char *kind,
                const char *detail, struct rec *r)
{
    struct ls_error err = { 0 };
    ck_assert_msg(store_worker_telemetry(e->w, ep, source, kind, detail, on_done, r, &err) ==
                  LS_OK, "%s", err.msg);
}

START_TEST(test_telemetry_rows_and_event)
{
    struct env e = start();
    reg(&e, "r1", "dev-\"1\"");
    struct rec r[3] = { 0 };
    tel(&e, "dev-\"1\"", "notify", "notification",
        "{\"path\":\"/3/0\",\"observation\":7,\"values\":["
        "{\"path\":\"/3/0/9\",\"type\":\"integer\",\"value\":87},"
        "{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"ACME\",\"time\":1700000000.5}]}",
        &r[0]);
    /* Hostile times fall back to the commit time instead of failing the batch. */
    tel(&e, "dev-\"1\"", "send", "send",
        "{\"values\":[{\"path\":\"/3/0/13\",\"type\":\"time\",\"value\":5,\"time\":1e300},"
        "{\"path\":\"/3/0/14\",\"type\":\"string\",\"value\":\"x\",\"time\":\"NaN\"}]}",
        &r[1]);
    /* An endpoint that never existed: its event is kept, no telemetry rows. */
    tel(&e, "ghost", "send", "send",
        "{\"values\":[{\"path\":\"/3/0/13\",\"type\":\"time\",\"value\":5}]}", &r[2]);
    /* A notification is "notify" data (the round's event carries no source). */
    struct ls_error bad = { 0 };
    ck_assert_int_eq(store_worker_telemetry(e.w, "dev-\"1\"", "send", "notification",
                                            "{\"values\":[]}", NULL, NULL, &bad), LS_EINVAL);
    run_until(e.loop, completed + 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(r[i].rc, LS_OK);
    ck_assert_str_eq(value("SELECT count(*) FROM telemetry", NULL), "4");
    ck_assert_str_eq(value("SELECT value::text FROM telemetry WHERE path = '/3/0/9'", NULL),
                     "{\"type\": \"integer\", \"value\": 87}");
    ck_assert_str_eq(value("SELECT (extract(epoch FROM ts) * 1000)::bigint FROM telemetry"
                           " WHERE path = '/3/0/0'", NULL), "1700000000500");
    ck_assert_str_eq(value("SELECT source FROM telemetry WHERE path = '/3/0/13'", NULL),
                     "send");
    /* The round's notifications share one "notifications" row (endpoint
     * NULL) with one element each; a Send has its own row. */
    ck_assert_str_eq(value("SELECT count(*) FROM events e, jsonb_array_elements("
                           "e.detail->'notifications') n WHERE e.kind = 'notifications'"
                           " AND e.endpoint IS NULL AND n->>'endpoint' = 'dev-\"1\"'"
                           " AND n->'detail'->>'observation' = '7'", NULL), "1");
    ck_assert_str_eq(value("SELECT count(*) FROM events WHERE kind = 'notification'", NULL),
                     "0");
    ck_assert_str_eq(value("SELECT count(*) FROM events WHERE kind = 'send'", NULL), "2");
    /* Deleting the endpoint deletes its telemetry (migration 0003's trigger
     * in place of the per-row foreign key). */
    ck_assert_str_eq(value("WITH d AS (DELETE FROM endpoints WHERE name = $1 RETURNING 1)"
                           " SELECT count(*) FROM d", "dev-\"1\""), "1");
    ck_assert_str_eq(value("SELECT count(*) FROM telemetry", NULL), "0");
    stop(&e);
}
END_TEST

/* Many telemetry operations in one round keep their order and all land. */
START_TEST(test_telemetry_batch_order)
{
    struct env e = start();
    reg(&e, "r1", "dev-1");
    enum { N = 3000 };
    static struct rec r[N];
    memset(r, 0, sizeof r);
    char detail[160];
    for (int i = 0; i < N; i++) {
        snprintf(detail, sizeof detail, "{\"seq\":%d,\"values\":[{\"path\":\"/3/0/9\","
                 "\"type\":\"integer\",\"value\":%d}]}", i, i);
        tel(&e, "dev-1", "notify", "notification", detail, &r[i]);
    }
    run_until(e.loop, completed + N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(r[i].rc, LS_OK);
    ck_assert_str_eq(value("SELECT count(*) FROM telemetry", NULL), "3000");
    /* Every notification is in a "notifications" row, in queue order
     * (row id, then position in the row). */
    ck_assert_str_eq(value("SELECT count(*) FROM (SELECT (n.d->'detail'->>'seq')::int AS s,"
                           " row_number() OVER (ORDER BY e.id, n.k) - 1 AS k FROM events e,"
                           " jsonb_array_elements(e.detail->'notifications') WITH ORDINALITY"
                           " AS n(d, k) WHERE e.kind = 'notifications') x WHERE s <> k", NULL),
                     "0");
    ck_assert_str_eq(value("SELECT sum(jsonb_array_length(detail->'notifications'))"
                           " FROM events WHERE kind = 'notifications'", NULL), "3000");
    /* far fewer rows than notifications: one per store round */
    ck_assert_str_eq(value("SELECT (count(*) < 3000)::text FROM events"
                           " WHERE kind = 'notifications'", NULL), "true");
    stop(&e);
}
END_TEST

START_TEST(test_telemetry_list_filters_and_pages)
{
    struct env e = start();
    reg(&e, "r1", "dev-1");
    struct rec r[4] = { 0 };
    const char *paths[] = { "/3303/0/5700", "/3303/01/5700", "/3303/0/5701", "/3/0/9" };
    char detail[256];
    for (int i = 0; i < 4; i++) {
        snprintf(detail, sizeof detail, "{\"values\":[{\"path\":\"%s\",\"type\":\"float\","
                 "\"value\":%d.5,\"time\":%d}]}", paths[i], i, 1700000000 + i);
        tel(&e, "dev-1", "notify", "notification", detail, &r[i]);
    }
    run_until(e.loop, completed + 4);
    struct store *s = store_open(db.conninfo, NULL);
    struct ls_error err = { 0 };
    char *json = NULL;
    struct store_telemetry_query q = {
        .endpoint = "dev-1", .path = "/3303/0", .since_us = INT64_MIN, .until_us = INT64_MAX,
        .limit = 1,
    };
    ck_assert_int_eq(store_telemetry_list(s, &q, &json, &err), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"/3303/0/5700\""));
    ck_assert_ptr_null(strstr(json, "/3303/01"));
    const char *next = strstr(json, "\"next\" : \"");
    ck_assert_msg(next != NULL, "%s", json);
    long long ts_us = 0, id = 0;
    ck_assert_int_eq(sscanf(next + 10, "%lld.%lld", &ts_us, &id), 2);
    ck_assert_int_eq(ts_us, 1700000000000000LL);
    free(json);
    q.after_ts_us = ts_us;
    q.after_id = id;
    ck_assert_int_eq(store_telemetry_list(s, &q, &json, &err), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"/3303/0/5701\""));
    ck_assert_ptr_nonnull(strstr(json, "\"next\" : null"));
    free(json);
    /* since inclusive, until exclusive, all paths */
    q = (struct store_telemetry_query){ .endpoint = "dev-1", .limit = 100,
                                        .since_us = 1700000001000000LL,
                                        .until_us = 1700000003000000LL };
    ck_assert_int_eq(store_telemetry_list(s, &q, &json, &err), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "/3303/01/5700"));
    ck_assert_ptr_nonnull(strstr(json, "/3303/0/5701"));
    ck_assert_ptr_null(strstr(json, "/3/0/9"));
    ck_assert_ptr_null(strstr(json, "/3303/0/5700"));
    ck_assert_ptr_nonnull(strstr(json, "\"ts\" : \"2023-11-14T22:13:21.000Z\""));
    free(json);
    q.endpoint = "nobody";
    ck_assert_int_eq(store_telemetry_list(s, &q, &json, &err), LS_ENOTFOUND);
    ck_assert_ptr_null(json);
    q.endpoint = "dev-1";
    q.limit = 0;
    ck_assert_int_eq(store_telemetry_list(s, &q, &json, &err), LS_EINVAL);
    store_close(s);
    stop(&e);
}
END_TEST

static Suite *telemetry_suite(void)
{
    Suite *s = suite_create("store_telemetry");
    TCase *tc = tcase_create("observations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_observation_insert_load_delete);
    tcase_add_test(tc, test_observation_insert_unknown_registration);
    tcase_add_test(tc, test_observation_insert_invalid);
    tcase_add_test(tc, test_observation_cascade_on_deregister);
    suite_add_tcase(s, tc);
    tc = tcase_create("telemetry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_telemetry_rows_and_event);
    tcase_add_test(tc, test_telemetry_batch_order);
    tcase_add_test(tc, test_telemetry_list_filters_and_pages);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "test_telemetry: LODESTAR_TEST_PGURI unset, skipped\n");
        return 77;
    }
    SRunner *sr = srunner_create(telemetry_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
