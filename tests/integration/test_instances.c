/*
 * tests/integration/test_instances.c -- two lodestar-server processes on
 * one database: an API call on A for a device held by B is routed through
 * the commands table and LISTEN/NOTIFY and answers as if local; when B
 * dies and the device registers at A, A holds it.
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 without).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <signal.h>

#include "queue_common.h"

START_TEST(test_instances_route_and_move)
{
    struct qc_server a, b;
    char ep[64], loc[64], path[256], *via_a = NULL, *via_b = NULL;
    snprintf(ep, sizeof ep, "inst-%s", qc_tag);
    qc_start(&a, "127.0.0.1:0", NULL);
    qc_start(&b, "127.0.0.1:0", NULL);
    ck_assert_str_ne(a.instance, b.instance);
    struct harness_device *d = qc_device(&b, "1.1", ep, false, loc, sizeof loc);
    ck_assert_str_eq(qc_db("SELECT instance_id FROM registrations WHERE endpoint = $1", ep),
                     b.instance);

    /* read: the same status and body through A as through B */
    snprintf(path, sizeof path, "/api/devices/%s/3/0", ep);
    ck_assert_int_eq(qc_call(&b, "GET", path, NULL, &via_b), 200);
    ck_assert_int_eq(qc_call(&a, "GET", path, NULL, &via_a), 200);
    ck_assert_str_eq(via_a, via_b);
    free(via_a);
    free(via_b);
    ck_assert_str_eq(qc_db("SELECT target_instance || ' ' || state FROM commands"
                           " WHERE endpoint = $1 AND op = 'read'", ep),
                     qc_db("SELECT $1 || ' done'", b.instance));

    /* write through A reaches the device held by B */
    snprintf(path, sizeof path, "/api/devices/%s/32769/0/11", ep);
    json_t *j = qc_json(&a, "PUT", path,
                        "{\"values\":[{\"path\":\"/32769/0/11\",\"type\":\"string\","
                        "\"value\":\"routed\"}]}", 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.04");
    json_decref(j);
    char v[64];
    ck_assert(harness_device_get_value(d, "/32769/0/11", v, sizeof v));
    ck_assert_str_eq(v, "routed");

    /* a device error comes back with its status too */
    snprintf(path, sizeof path, "/api/devices/%s/3/7", ep);
    ck_assert_int_eq(qc_call(&a, "GET", path, NULL, &via_a), 404);
    ck_assert_int_eq(qc_call(&b, "GET", path, NULL, &via_b), 404);
    ck_assert_str_eq(via_a, via_b);
    free(via_a);
    free(via_b);

    /* B dies; the device registers at A, which now holds it */
    ck_assert_int_eq(harness_proc_signal(b.p, SIGKILL), 0);
    int status = 0;
    ck_assert(harness_proc_wait_exit(b.p, 10000, &status));
    harness_proc_free(b.p);
    harness_device_free(d);
    d = qc_device(&a, "1.1", ep, false, loc, sizeof loc);
    ck_assert_str_eq(qc_db("SELECT instance_id FROM registrations WHERE endpoint = $1", ep),
                     a.instance);
    /* answered locally now: no command row */
    char before[32];
    snprintf(before, sizeof before, "%s",
             qc_db("SELECT count(*) FROM commands WHERE endpoint = $1", ep));
    ck_assert(harness_device_set_value(d, "/32769/0/11", "at-a"));
    snprintf(path, sizeof path, "/api/devices/%s/32769/0/11", ep);
    ck_assert_int_eq(qc_call(&a, "GET", path, NULL, &via_a), 200);
    ck_assert_msg(strstr(via_a, "at-a"), "%s", via_a);
    free(via_a);
    ck_assert_str_eq(qc_db("SELECT count(*) FROM commands WHERE endpoint = $1", ep), before);

    /* an unknown name and a known but unregistered device */
    ck_assert_int_eq(qc_call(&a, "GET", "/api/devices/nobody-at-all/3/0", NULL, NULL), 404);
    harness_device_free(d);
    qc_stop(&a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("instances");
    TCase *tc = tcase_create("instances");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_instances_route_and_move);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();     /* exits 77 when unset */
    qc_init();
    return harness_run_suite(suite()) ? 1 : 0;
}
