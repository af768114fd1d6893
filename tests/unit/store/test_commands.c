/*
 * tests/unit/store/test_commands.c -- store/commands.c against a real
 * PostgreSQL: the command states, routing rows, ownership claims
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  Each
 * test gets a fresh migrated database (harness_db).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness_db.h"
#include "store/commands.h"
#include "store/store.h"

static const char *pguri;
static struct harness_db db;
static struct store *st;

static void sql(const char *q)
{
    PGconn *c = PQconnectdb(db.conninfo);
    PGresult *r = PQexec(c, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", q, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static const char *value(const char *q, const char *arg)
{
    static char out[4096];
    return harness_db_value(db.conninfo, q, arg, out, sizeof out);
}

static void fresh_db_setup(void)
{
    harness_db_fresh(&db, pguri, "lodestar_cmd", true);
    struct ls_error err = { 0 };
    st = store_open(db.conninfo, &err);
    ck_assert_ptr_nonnull(st);
    ck_assert_msg(store_connect(st, &err) == LS_OK, "%s: %s", err.msg, err.detail);
    sql("INSERT INTO endpoints (name) VALUES ('dev-a'), ('dev-b'), ('dev-c')");
    sql("INSERT INTO server_instances (id, address) VALUES ('inst-a', '127.0.0.1:5683'),"
        " ('inst-b', '127.0.0.1:6683'),"
        " ('inst-dead', '127.0.0.1:7683')");
    sql("UPDATE server_instances SET last_heartbeat = now() - interval '5 minutes'"
        " WHERE id = 'inst-dead'");
}

static void fresh_db_teardown(void)
{
    store_close(st);
    st = NULL;
    harness_db_drop(&db, pguri, "test_commands");
}

static void add_reg(const char *id, const char *ep, const char *instance, bool queue)
{
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, binding,"
             " queue, address, security, expires_at, instance_id) VALUES ('%s', '%s', '1.1',"
             " 300, 'U', %s, '127.0.0.1:1', 'nosec', now() + interval '300 s', %s%s%s)",
             id, ep, queue ? "true" : "false", instance ? "'" : "",
             instance ? instance : "NULL", instance ? "'" : "");
    sql(q);
}

static int64_t insert(const char *ep, const char *body, const char *target)
{
    struct ls_error err = { 0 };
    int64_t id = 0;
    ck_assert_msg(store_commands_insert(st, ep, body, 11542, 0, 86400, target, 5000, &id,
                                        &err) == LS_OK,
                  "%s: %s", err.msg, err.detail);
    ck_assert_int_gt(id, 0);
    return id;
}

static const char *state_of(int64_t id)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    return value("SELECT state || '/' || mode FROM commands WHERE id = $1::bigint", idt);
}

START_TEST(test_store_commands_queue_in_order)
{
    struct ls_error err = { 0 };
    struct store_command c;
    int64_t a = insert("dev-a", "{\"op\":\"read\",\"path\":\"/3/0\"}", NULL);
    int64_t b = insert("dev-a", "{\"op\":\"write\",\"path\":\"/3/0/14\",\"ttl\":60}", NULL);
    ck_assert_str_eq(value("SELECT op || ' ' || path || ' ' || format FROM commands"
                           " WHERE id = (SELECT min(id) FROM commands)", NULL),
                     "read /3/0 11542");
    /* ttl 60 s versus the 24 h default */
    ck_assert_str_eq(value("SELECT expires_at < now() + interval '61 s' FROM commands"
                           " WHERE op = 'write'", NULL), "t");
    ck_assert_str_eq(value("SELECT expires_at > now() + interval '23 hours' FROM commands"
                           " WHERE op = 'read'", NULL), "t");
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-a", &c, &err), LS_OK);
    ck_assert_int_eq(c.id, a);
    ck_assert_str_eq(c.endpoint, "dev-a");
    ck_assert_ptr_nonnull(strstr(c.body, "\"read\""));
    ck_assert_int_gt(c.remaining_ms, 3600 * 1000);
    store_command_clear(&c);
    ck_assert_str_eq(state_of(a), "sent/queue");
    ck_assert_int_eq(store_commands_requeue(st, a, &err), LS_OK);
    ck_assert_str_eq(state_of(a), "queued/queue");
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-a", &c, &err), LS_OK);
    ck_assert_int_eq(c.id, a);
    store_command_clear(&c);
    ck_assert_int_eq(store_commands_finish(st, a, 200,
                                           "{\"coap\":\"2.05\",\"values\":[]}", &err), LS_OK);
    ck_assert_str_eq(state_of(a), "done/queue");
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-a", &c, &err), LS_OK);
    ck_assert_int_eq(c.id, b);
    store_command_clear(&c);
    ck_assert_int_eq(store_commands_finish(st, b, 404,
                                           "{\"error\":{\"code\":\"device_error\","
                                           "\"message\":\"x\",\"coap\":\"4.04\"}}", &err),
                     LS_OK);
    ck_assert_str_eq(state_of(b), "failed/queue");
    ck_assert_str_eq(value("SELECT string_agg(coalesce(coap_code, '-'), ',' ORDER BY id)"
                           " FROM commands", NULL), "2.05,4.04");
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-a", &c, &err), LS_ENOTFOUND);
    /* a finished command cannot finish again */
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_finish(st, b, 200, "{}", &err), LS_ENOTFOUND);
    /* one 'command' event per change: 2 queued, 3 sent, 1 requeued, done, failed */
    ck_assert_str_eq(value("SELECT count(*) FROM events WHERE kind = 'command'", NULL), "8");
}
END_TEST

START_TEST(test_store_commands_insert_refusals)
{
    struct ls_error err = { 0 };
    int64_t id = 0;
    ck_assert_int_eq(store_commands_insert(st, "nobody", "{\"op\":\"read\"}", -1, 0, 60, NULL,
                                           0, &id, &err), LS_ENOTFOUND);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_insert(st, "dev-a", "{\"path\":\"/3\"}", -1, 0, 60, NULL,
                                           0, &id, &err), LS_EINVAL);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_insert(st, "dev-a", "not json", -1, 0, 60, NULL, 0, &id,
                                           &err), LS_EINVAL);
    ck_assert_str_eq(value("SELECT count(*) FROM commands", NULL), "0");
}
END_TEST

START_TEST(test_store_commands_expire)
{
    struct ls_error err = { 0 };
    size_t n = 99;
    int64_t a = insert("dev-a", "{\"op\":\"read\",\"path\":\"/3/0\",\"ttl\":1}", NULL);
    int64_t b = insert("dev-a", "{\"op\":\"read\",\"path\":\"/3/0\"}", NULL);
    sql("UPDATE commands SET expires_at = now() - interval '1 s'"
        " WHERE body->>'ttl' IS NOT NULL");
    struct store_command c;
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-a", &c, &err), LS_OK);
    ck_assert_int_eq(c.id, b);    /* the expired one is skipped */
    store_command_clear(&c);
    ck_assert_int_eq(store_commands_expire(st, &n, &err), LS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(state_of(a), "expired/queue");
    ck_assert_int_eq(store_commands_expire(st, &n, &err), LS_OK);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_store_commands_route_round_trip)
{
    struct ls_error err = { 0 };
    struct store_command *v = NULL;
    size_t n = 0;
    bool final = true;
    unsigned status = 0;
    char *json = NULL;
    int64_t a = insert("dev-b", "{\"op\":\"read\",\"path\":\"/3/0\"}", "inst-b");
    int64_t b = insert("dev-b", "{\"op\":\"read\",\"path\":\"/3/0/0\"}", "inst-b");
    int64_t q = insert("dev-b", "{\"op\":\"write\",\"path\":\"/3/0/14\",\"ttl\":7}", "inst-b");
    ck_assert_str_eq(state_of(a), "queued/route");
    ck_assert_int_eq(store_commands_outcome(st, a, &final, &status, &json, &err), LS_OK);
    ck_assert(!final);
    /* routed commands are not delivered as queued ones */
    struct store_command c;
    ck_assert_int_eq(store_commands_claim_next(st, "dev-b", "inst-a", &c, &err), LS_ENOTFOUND);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_take_routed(st, "inst-a", &v, &n, &err), LS_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(store_commands_abandon(st, b, &err), LS_OK);   /* caller gave up */
    ck_assert_int_eq(store_commands_take_routed(st, "inst-b", &v, &n, &err), LS_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(v[0].id, a);
    ck_assert_int_eq(v[1].id, q);
    ck_assert(v[0].remaining_ms > 0 && v[0].remaining_ms <= 5000);
    for (size_t i = 0; i < n; i++)
        store_command_clear(&v[i]);
    free(v);
    ck_assert_str_eq(state_of(a), "sent/held");
    ck_assert_int_eq(store_commands_finish(st, a, 200, "{\"coap\":\"2.05\",\"values\":[]}",
                                           &err), LS_OK);
    ck_assert_int_eq(store_commands_outcome(st, a, &final, &status, &json, &err), LS_OK);
    ck_assert(final);
    ck_assert_uint_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(json, "2.05"));
    free(json);
    ck_assert_int_eq(store_commands_outcome(st, b, &final, &status, &json, &err), LS_OK);
    ck_assert(final);
    ck_assert_uint_eq(status, 504);
    free(json);
    /* the holder's device sleeps: queued for it, with the body's ttl */
    ck_assert_int_eq(store_commands_to_queue(st, q, 86400, &err), LS_OK);
    ck_assert_str_eq(state_of(q), "queued/queue");
    ck_assert_str_eq(value("SELECT expires_at < now() + interval '8 s' FROM commands"
                           " WHERE op = 'write'", NULL), "t");
    ck_assert_int_eq(store_commands_outcome(st, q, &final, &status, &json, &err), LS_OK);
    ck_assert(final);
    ck_assert_uint_eq(status, 202);
    ck_assert_ptr_nonnull(strstr(json, "\"queued\""));
    free(json);
}
END_TEST

START_TEST(test_store_commands_get_and_list)
{
    struct ls_error err = { 0 };
    char *json = NULL;
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = insert("dev-c", "{\"op\":\"read\",\"path\":\"/3/0\"}", NULL);
    ck_assert_int_eq(store_commands_get(st, ids[1], &json, &err), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"state\" : \"queued\""));
    ck_assert_ptr_nonnull(strstr(json, "\"endpoint\" : \"dev-c\""));
    free(json);
    ck_assert_int_eq(store_commands_get(st, 999999, &json, &err), LS_ENOTFOUND);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_list(st, "dev-c", NULL, 2, 0, &json, &err), LS_OK);
    char want[64];
    snprintf(want, sizeof want, "\"next\" : %" PRId64, ids[1]);
    ck_assert_msg(strstr(json, want), "%s", json);
    free(json);
    ck_assert_int_eq(store_commands_list(st, "dev-c", "queued", 2, ids[1], &json, &err),
                     LS_OK);
    ck_assert_msg(strstr(json, "\"next\" : null"), "%s", json);
    free(json);
    ck_assert_int_eq(store_commands_list(st, "dev-c", "done", 10, 0, &json, &err), LS_OK);
    ck_assert_msg(strstr(json, "\"commands\" : []"), "%s", json);
    free(json);
}
END_TEST

START_TEST(test_store_commands_holder_and_claims)
{
    struct ls_error err = { 0 };
    struct store_commands_holder h;
    size_t n = 0;
    add_reg("r1", "dev-a", "inst-a", false);
    add_reg("r2", "dev-b", "inst-dead", true);
    add_reg("r3", "dev-c", NULL, false);
    ck_assert_int_eq(store_commands_holder(st, "dev-a", &h, &err), LS_OK);
    ck_assert(h.known && h.registered && h.alive && !h.queue);
    ck_assert_str_eq(h.instance, "inst-a");
    ck_assert_int_eq(store_commands_holder(st, "dev-b", &h, &err), LS_OK);
    ck_assert(h.known && h.registered && !h.alive && h.queue);
    ck_assert_int_eq(store_commands_holder(st, "nobody", &h, &err), LS_OK);
    ck_assert(!h.known && !h.registered);
    /* a new instance takes the dead one's and the unheld one */
    ck_assert_int_eq(store_commands_claim_registrations(st, "inst-new", "127.0.0.1:9", &n,
                                                        &err), LS_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(value("SELECT string_agg(coalesce(instance_id, '-'), ',' ORDER BY id)"
                           " FROM registrations", NULL), "inst-a,inst-new,inst-new");
    /* the same address as a live instance: that instance restarted */
    ck_assert_int_eq(store_commands_claim_registrations(st, "inst-a2", "127.0.0.1:5683", &n,
                                                        &err), LS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(value("SELECT instance_id FROM registrations WHERE id = 'r1'", NULL),
                     "inst-a2");
    /* a clean stop gives them up at once */
    ck_assert_int_eq(store_commands_release_instance(st, "inst-a2", &err), LS_OK);
    ck_assert_int_eq(store_commands_holder(st, "dev-a", &h, &err), LS_OK);
    ck_assert(h.registered && !h.alive);
    ck_assert_int_eq(store_commands_claim_registrations(st, "inst-z", NULL, &n, &err), LS_OK);
    ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(test_store_commands_event_and_listen)
{
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_commands_event(st, "dev-a", "awake", "{\"awake_ms\":93000}", &err),
                     LS_OK);
    ck_assert_str_eq(value("SELECT kind || ' ' || (detail->>'awake_ms') FROM events", NULL),
                     "awake 93000");
    ck_assert_int_eq(store_commands_event(st, "dev-a", "Bad Kind", "{}", &err), LS_EINVAL);
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(store_commands_listen(st, &err), LS_OK);
    ck_assert_int_ge(store_commands_socket(st), 0);
}
END_TEST

static void count_notify(void *arg, bool done, const char *payload)
{
    int *n = arg;
    n[done ? 1 : 0]++;
    (void)payload;
}

START_TEST(test_store_commands_notifications)
{
    struct ls_error err = { 0 };
    struct store *listener = store_open(db.conninfo, &err);
    ck_assert_ptr_nonnull(listener);
    ck_assert_int_eq(store_commands_listen(listener, &err), LS_OK);
    int64_t id = insert("dev-b", "{\"op\":\"read\",\"path\":\"/3/0\"}", "inst-b");
    ck_assert_int_eq(store_commands_finish(st, id, 200, "{\"coap\":\"2.05\"}", &err), LS_OK);
    int counts[2] = { 0, 0 };
    /* notifications are delivered at commit; poll with a deadline */
    for (int i = 0; i < 100 && (counts[0] < 1 || counts[1] < 1); i++) {
        ck_assert_int_eq(store_commands_consume(listener, count_notify, counts, &err), LS_OK);
        if (counts[0] < 1 || counts[1] < 1)
            usleep(20000);
    }
    ck_assert_int_eq(counts[0], 1);
    ck_assert_int_eq(counts[1], 1);
    store_close(listener);
}
END_TEST

/* Commands a crashed instance left 'sent': safe reads of a queue-mode
 * device are re-queued, the rest fail as "interrupted"; a live instance's
 * and a fresh claim are left alone. */
START_TEST(test_store_commands_sweep_orphans)
{
    struct ls_error err = { 0 };
    struct store_command c;
    int64_t rd = insert("dev-a", "{\"op\":\"read\",\"path\":\"/3/0\"}", NULL);
    int64_t wr = insert("dev-b", "{\"op\":\"write\",\"path\":\"/3/0/14\",\"values\":[]}", NULL);
    int64_t live = insert("dev-c", "{\"op\":\"execute\",\"path\":\"/3/0/4\"}", NULL);
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-dead", &c, &err), LS_OK);
    store_command_clear(&c);
    ck_assert_int_eq(store_commands_claim_next(st, "dev-b", "inst-dead", &c, &err), LS_OK);
    store_command_clear(&c);
    ck_assert_int_eq(store_commands_claim_next(st, "dev-c", "inst-a", &c, &err), LS_OK);
    store_command_clear(&c);
    ck_assert_str_eq(value("SELECT string_agg(sent_by, ',' ORDER BY id) FROM commands", NULL),
                     "inst-dead,inst-dead,inst-a");
    /* A fresh claim is never an orphan, even by a dead instance. */
    size_t failed = 9, requeued = 9;
    ck_assert_int_eq(store_commands_sweep(st, &failed, &requeued, &err), LS_OK);
    ck_assert_uint_eq(failed, 0);
    ck_assert_uint_eq(requeued, 0);
    /* 40 s later (beyond the 30 s heartbeat horizon) */
    sql("UPDATE commands SET updated_at = now() - interval '40 seconds'");
    ck_assert_int_eq(store_commands_sweep(st, &failed, &requeued, &err), LS_OK);
    ck_assert_uint_eq(failed, 1);
    ck_assert_uint_eq(requeued, 1);
    ck_assert_str_eq(state_of(rd), "queued/queue");
    ck_assert_str_eq(state_of(wr), "failed/queue");
    ck_assert_str_eq(state_of(live), "sent/queue");   /* inst-a is alive */
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, wr);
    ck_assert_str_eq(value("SELECT http_status || ' ' || (result->'error'->>'code')"
                           " FROM commands WHERE id = $1::bigint", idt),
                     "503 interrupted");
    ck_assert_str_eq(value("SELECT http_body::jsonb->'error'->>'code' FROM commands"
                           " WHERE id = $1::bigint", idt), "interrupted");
    ck_assert_str_eq(value("SELECT count(*) FROM events WHERE kind = 'command'"
                           " AND detail->>'command' = $1 AND detail->>'state' = 'failed'", idt),
                     "1");
    /* The re-queued read is delivered again, by whoever claims it. */
    ck_assert_int_eq(store_commands_claim_next(st, "dev-a", "inst-b", &c, &err), LS_OK);
    ck_assert_int_eq(c.id, rd);
    store_command_clear(&c);
    /* The dead instance's row vanishing (cleanup) makes its commands orphans too. */
    sql("UPDATE commands SET updated_at = now() - interval '40 seconds', sent_by = 'gone'"
        " WHERE id = (SELECT max(id) FROM commands)");
    ck_assert_int_eq(store_commands_sweep(st, &failed, &requeued, &err), LS_OK);
    ck_assert_uint_eq(failed, 1);
    ck_assert_str_eq(state_of(live), "failed/queue");
    /* Nothing left: idempotent. */
    ck_assert_int_eq(store_commands_sweep(st, &failed, &requeued, &err), LS_OK);
    ck_assert_uint_eq(failed + requeued, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_commands");
    TCase *tc = tcase_create("store_commands");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, fresh_db_setup, fresh_db_teardown);
    tcase_add_test(tc, test_store_commands_queue_in_order);
    tcase_add_test(tc, test_store_commands_insert_refusals);
    tcase_add_test(tc, test_store_commands_expire);
    tcase_add_test(tc, test_store_commands_route_round_trip);
    tcase_add_test(tc, test_store_commands_get_and_list);
    tcase_add_test(tc, test_store_commands_holder_and_claims);
    tcase_add_test(tc, test_store_commands_event_and_listen);
    tcase_add_test(tc, test_store_commands_notifications);
    tcase_add_test(tc, test_store_commands_sweep_orphans);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "LODESTAR_TEST_PGURI unset: skipped\n");
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
