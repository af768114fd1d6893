/*
 * tests/unit/server/test_registry.c -- the in-memory registrations
 *
 * No CoAP sessions here (they need a libcoap context): lookups, ids,
 * replacement rules and the lifetime timers on a real runtime_loop.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/loop.h"
#include "server/registry.h"

struct fixture {
    struct runtime_loop *loop;
    struct server_registry *r;
    int expired;
    char last[64];
};

static void on_expire(void *arg, struct server_reg *reg)
{
    struct fixture *f = arg;
    f->expired++;
    snprintf(f->last, sizeof f->last, "%s", reg->endpoint);
    server_registry_remove(f->r, reg);
    if (server_registry_count(f->r) == 0)
        runtime_loop_stop(f->loop);
}

static void stop_loop(struct runtime_loop *loop, void *arg)
{
    runtime_loop_stop(loop);
}

static void setup(struct fixture *f)
{
    struct ls_error err = { 0 };
    memset(f, 0, sizeof *f);
    f->loop = runtime_loop_new(&err);
    ck_assert_ptr_nonnull(f->loop);
    f->r = server_registry_new(f->loop, on_expire, f, &err);
    ck_assert_ptr_nonnull(f->r);
}

static void teardown(struct fixture *f)
{
    server_registry_free(f->r);
    runtime_loop_free(f->loop);
}

static struct server_reg *entry(struct fixture *f, const char *ep)
{
    struct ls_error err = { 0 };
    struct server_reg *e = server_reg_new(ep, NULL, NULL, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(server_registry_new_id(f->r, e->id, &err), LS_OK);
    return e;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_server_registry_add_and_lookup)
{
    struct fixture f;
    struct ls_error err = { 0 };
    setup(&f);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "dev-%d", i);
        ck_assert_int_eq(server_registry_add(f.r, entry(&f, name), &err), LS_OK);
    }
    ck_assert_uint_eq(server_registry_count(f.r), 5000);
    struct server_reg *e = server_registry_by_endpoint(f.r, "dev-4321");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_eq(server_registry_by_id(f.r, e->id, strlen(e->id)), e);
    ck_assert_str_eq(e->alt_path, "/");
    ck_assert_str_eq(e->objects_json, "[]");
    ck_assert_str_eq(e->sms, "");
    ck_assert_ptr_null(server_registry_by_endpoint(f.r, "dev-5000"));
    ck_assert_ptr_null(server_registry_by_id(f.r, e->id, strlen(e->id) - 1));
    /* An endpoint that is present cannot be added twice. */
    ck_assert_int_eq(server_registry_add(f.r, entry(&f, "dev-7"), &err), LS_ECONFLICT);
    server_registry_remove(f.r, e);
    ck_assert_ptr_null(server_registry_by_endpoint(f.r, "dev-4321"));
    ck_assert_uint_eq(server_registry_count(f.r), 4999);
    teardown(&f);
}
END_TEST

START_TEST(test_server_registry_new_id_is_url_safe)
{
    struct fixture f;
    struct ls_error err = { 0 };
    setup(&f);
    char a[SERVER_REGISTRY_ID_LEN + 1], b[SERVER_REGISTRY_ID_LEN + 1];
    ck_assert_int_eq(server_registry_new_id(f.r, a, &err), LS_OK);
    ck_assert_int_eq(server_registry_new_id(f.r, b, &err), LS_OK);
    ck_assert_uint_eq(strlen(a), SERVER_REGISTRY_ID_LEN);
    ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      SERVER_REGISTRY_ID_LEN);
    ck_assert_str_ne(a, b);
    teardown(&f);
}
END_TEST

START_TEST(test_server_registry_arm_expires_after_grace)
{
    struct fixture f;
    struct ls_error err = { 0 };
    setup(&f);
    struct server_reg *soon = entry(&f, "soon"), *never = entry(&f, "never");
    soon->lifetime_s = 1;
    soon->expires_at_ms = wall_ms() - SERVER_REGISTRY_GRACE_MS;   /* due now */
    never->lifetime_s = 0;
    never->expires_at_ms = 0;
    ck_assert_int_eq(server_registry_add(f.r, soon, &err), LS_OK);
    ck_assert_int_eq(server_registry_add(f.r, never, &err), LS_OK);
    ck_assert_int_eq(server_registry_arm(f.r, soon, wall_ms(), &err), LS_OK);
    ck_assert_int_eq(server_registry_arm(f.r, never, wall_ms(), &err), LS_OK);
    /* Stop the loop when "soon" is gone; "never" keeps the count at 1, so
     * a guard timer ends the run. */
    struct runtime_loop_timer guard;
    runtime_loop_timer_init(&guard, stop_loop, NULL);
    ck_assert_int_eq(runtime_loop_timer_start(f.loop, &guard, 500, 0, &err), LS_OK);
    ck_assert_int_eq(runtime_loop_run(f.loop, &err), LS_OK);
    ck_assert_int_eq(f.expired, 1);
    ck_assert_str_eq(f.last, "soon");
    ck_assert_ptr_nonnull(server_registry_by_endpoint(f.r, "never"));
    runtime_loop_timer_stop(f.loop, &guard);
    teardown(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_registry");
    TCase *tc = tcase_create("server_registry_add");
    tcase_add_test(tc, test_server_registry_add_and_lookup);
    suite_add_tcase(s, tc);
    tc = tcase_create("server_registry_new_id");
    tcase_add_test(tc, test_server_registry_new_id_is_url_safe);
    suite_add_tcase(s, tc);
    tc = tcase_create("server_registry_arm");
    tcase_add_test(tc, test_server_registry_arm_expires_after_grace);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
