/*
 * tests/unit/runtime/test_credcache.c -- the in-memory PSK table
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/credcache.h"

static const uint8_t key16[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

START_TEST(test_runtime_credcache_add_then_find)
{
    struct ls_error err = { 0 };
    struct runtime_credcache *c = runtime_credcache_new(&err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)"id-1", 4, "dev-1", key16,
                                           sizeof key16, &err), LS_OK);
    const struct runtime_credcache_entry *e =
        runtime_credcache_find(c, (const uint8_t *)"id-1", 4);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->endpoint, "dev-1");
    ck_assert_uint_eq(e->key_len, sizeof key16);
    ck_assert_mem_eq(e->key, key16, sizeof key16);
    ck_assert_ptr_null(runtime_credcache_find(c, (const uint8_t *)"id-", 3));
    ck_assert_ptr_null(runtime_credcache_find(c, (const uint8_t *)"id-1x", 5));
    ck_assert_ptr_null(runtime_credcache_find(c, (const uint8_t *)"", 0));
    ck_assert_ptr_null(runtime_credcache_find(NULL, (const uint8_t *)"id-1", 4));
    ck_assert(runtime_credcache_has_endpoint(c, "dev-1"));
    ck_assert(!runtime_credcache_has_endpoint(c, "dev-2"));
    ck_assert(!runtime_credcache_has_endpoint(NULL, "dev-1"));
    runtime_credcache_free(c);
    runtime_credcache_free(NULL);
}
END_TEST

START_TEST(test_runtime_credcache_add_refuses_bad_input)
{
    struct ls_error err = { 0 };
    uint8_t big[RUNTIME_CREDCACHE_KEY_MAX + 1] = { 0 };
    struct runtime_credcache *c = runtime_credcache_new(&err);
    ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)"", 0, "d", key16, 16, &err),
                     LS_EINVAL);
    ls_error_clear(&err);
    ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)"a", 1, "d", big, sizeof big,
                                           &err), LS_EINVAL);
    ls_error_clear(&err);
    ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)"a", 1, "d", key16, 0, &err),
                     LS_EINVAL);
    ls_error_clear(&err);
    ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)"a", 1, "d", key16, 16, &err),
                     LS_OK);
    ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)"a", 1, "e", key16, 16, &err),
                     LS_ECONFLICT);
    ck_assert_uint_eq(runtime_credcache_count(c), 1);
    runtime_credcache_free(c);
}
END_TEST

/* Binary identities (NUL bytes inside) and growth past many doublings. */
START_TEST(test_runtime_credcache_many_and_binary)
{
    struct ls_error err = { 0 };
    struct runtime_credcache *c = runtime_credcache_new(&err);
    char id[32], ep[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(id, sizeof id, "x%c%d", '\0', i);
        snprintf(ep, sizeof ep, "ep-%d", i);
        ck_assert_int_eq(runtime_credcache_add(c, (const uint8_t *)id, (size_t)n, ep, key16,
                                               1 + (size_t)(i % 16), &err), LS_OK);
    }
    ck_assert_uint_eq(runtime_credcache_count(c), 20000);
    for (int i = 0; i < 20000; i += 97) {
        int n = snprintf(id, sizeof id, "x%c%d", '\0', i);
        snprintf(ep, sizeof ep, "ep-%d", i);
        const struct runtime_credcache_entry *e =
            runtime_credcache_find(c, (const uint8_t *)id, (size_t)n);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e->endpoint, ep);
        ck_assert_uint_eq(e->key_len, 1 + (size_t)(i % 16));
    }
    ck_assert_ptr_null(runtime_credcache_find(c, (const uint8_t *)"x", 1));
    ck_assert(runtime_credcache_has_endpoint(c, "ep-19999"));
    ck_assert(!runtime_credcache_has_endpoint(c, "ep-20000"));
    runtime_credcache_free(c);
}
END_TEST

/* --- deltas (CREDWATCH) --- */

struct gone_log {
    int n;
    char last[64];
    bool replaced;
};

static void on_gone(void *arg, const struct runtime_credcache_entry *old,
                    const struct runtime_credcache_entry *now)
{
    struct gone_log *g = arg;
    g->n++;
    snprintf(g->last, sizeof g->last, "%.*s", (int)old->identity_len, (const char *)old->identity);
    g->replaced = now != NULL;
}

static void put(struct runtime_credcache_delta *d, int64_t id, const char *identity,
                const char *ep, const uint8_t *key)
{
    struct ls_error err = { 0 };
    ck_assert_int_eq(runtime_credcache_delta_put(d, id, (const uint8_t *)identity,
                                                 strlen(identity), ep, key, 16, &err), LS_OK);
}

static void drop(struct runtime_credcache_delta *d, int64_t id, const char *identity)
{
    struct ls_error err = { 0 };
    ck_assert_int_eq(runtime_credcache_delta_drop(d, id, (const uint8_t *)identity,
                                                  strlen(identity), &err), LS_OK);
}

START_TEST(test_runtime_credcache_delta_apply)
{
    struct ls_error err = { 0 };
    struct runtime_credcache *c = runtime_credcache_new(&err);
    struct runtime_credcache_delta *d = runtime_credcache_delta_new(&err);
    struct gone_log g = { 0 };
    uint8_t other[16];
    memset(other, 0xab, sizeof other);
    put(d, 1, "id-a", "ep-a", key16);
    put(d, 2, "id-b", "ep-b", key16);
    put(d, 3, "id-c", "ep-c", key16);
    ck_assert_uint_eq(runtime_credcache_delta_count(d), 3);
    runtime_credcache_apply(c, d, on_gone, &g);
    ck_assert_uint_eq(runtime_credcache_delta_count(d), 0);
    ck_assert_uint_eq(runtime_credcache_count(c), 3);
    ck_assert_int_eq(g.n, 0);
    ck_assert_int_eq(runtime_credcache_find(c, (const uint8_t *)"id-b", 4)->id, 2);

    /* drop of another row id with the same identity: kept */
    drop(d, 99, "id-a");
    /* drop of the row: gone, reported */
    drop(d, 2, "id-b");
    /* re-put of the same binding (a row read twice): silent */
    put(d, 3, "id-c", "ep-c", key16);
    runtime_credcache_apply(c, d, on_gone, &g);
    ck_assert_uint_eq(runtime_credcache_count(c), 2);
    ck_assert_ptr_nonnull(runtime_credcache_find(c, (const uint8_t *)"id-a", 4));
    ck_assert_ptr_null(runtime_credcache_find(c, (const uint8_t *)"id-b", 4));
    ck_assert(!runtime_credcache_has_endpoint(c, "ep-b"));
    ck_assert_int_eq(g.n, 1);
    ck_assert_str_eq(g.last, "id-b");
    ck_assert(!g.replaced);

    /* a newer row with the same identity and another key: replaced, reported;
     * deltas chain in order; applying the same delta twice is the same */
    struct runtime_credcache_delta *d2 = runtime_credcache_delta_new(&err);
    ck_assert_int_eq(runtime_credcache_delta_put(d2, 7, (const uint8_t *)"id-a", 4, "ep-a",
                                                 other, 16, &err), LS_OK);
    drop(d2, 1, "id-a");    /* the old row's revocation, read in the same delta */
    put(d, 8, "id-d", "ep-d", key16);
    runtime_credcache_delta_append(d, d2);
    ck_assert_uint_eq(runtime_credcache_delta_count(d), 3);
    ck_assert_uint_eq(runtime_credcache_delta_count(d2), 0);
    runtime_credcache_apply(c, d, on_gone, &g);
    const struct runtime_credcache_entry *e = runtime_credcache_find(c, (const uint8_t *)"id-a", 4);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->id, 7);
    ck_assert_mem_eq(e->key, other, 16);
    ck_assert_int_eq(g.n, 2);
    ck_assert(g.replaced);
    ck_assert_uint_eq(runtime_credcache_count(c), 3);

    /* RPK entries the same way */
    const uint8_t spki[4] = { 0x30, 1, 2, 3 };
    ck_assert_int_eq(runtime_credcache_delta_put_rpk(d, 11, spki, 4, "ep-r", &err), LS_OK);
    runtime_credcache_apply(c, d, on_gone, &g);
    ck_assert_str_eq(runtime_credcache_find_rpk(c, spki, 4), "ep-r");
    ck_assert_int_eq(runtime_credcache_delta_drop_rpk(d, 11, spki, 4, &err), LS_OK);
    runtime_credcache_apply(c, d, NULL, NULL);
    ck_assert_ptr_null(runtime_credcache_find_rpk(c, spki, 4));

    /* bad input */
    ck_assert_int_eq(runtime_credcache_delta_put(d, 1, (const uint8_t *)"", 0, "e", key16, 16,
                                                 &err), LS_EINVAL);
    ck_assert_int_eq(runtime_credcache_delta_drop(d, 1, (const uint8_t *)"", 0, &err), LS_EINVAL);
    runtime_credcache_delta_free(d2);
    runtime_credcache_delta_free(d);
    runtime_credcache_free(c);
}
END_TEST

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The figure behind "apply deltas on the loop thread" rather than
 * "copy-on-write": 100 000 entries, a delta of 64 changes.  Printed (the
 * sanitizer build is slower than release); only correctness is asserted. */
START_TEST(test_runtime_credcache_delta_vs_clone)
{
    enum { N = 100000, CHANGES = 64 };
    struct ls_error err = { 0 };
    struct runtime_credcache *c = runtime_credcache_new(&err);
    struct runtime_credcache_delta *d = runtime_credcache_delta_new(&err);
    char id[32], ep[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "ident-%d", i);
        snprintf(ep, sizeof ep, "ep-%d", i);
        put(d, i + 1, id, ep, key16);
    }
    runtime_credcache_apply(c, d, NULL, NULL);
    ck_assert_uint_eq(runtime_credcache_count(c), N);

    double t0 = now_ms();
    struct runtime_credcache *copy = runtime_credcache_clone(c, &err);
    double t1 = now_ms();
    ck_assert_ptr_nonnull(copy);
    ck_assert_uint_eq(runtime_credcache_count(copy), N);
    runtime_credcache_free(copy);
    double t2 = now_ms();

    for (int i = 0; i < CHANGES; i++) {
        snprintf(id, sizeof id, "new-%d", i);
        put(d, N + i + 1, id, "ep-new", key16);
        snprintf(id, sizeof id, "ident-%d", i);
        drop(d, i + 1, id);
    }
    double t3 = now_ms();
    runtime_credcache_apply(c, d, NULL, NULL);
    double t4 = now_ms();
    ck_assert_uint_eq(runtime_credcache_count(c), N);
    ck_assert_ptr_null(runtime_credcache_find(c, (const uint8_t *)"ident-0", 7));
    printf("credcache %d entries: clone %.2f ms (+ free %.2f ms); apply %d changes %.3f ms\n",
           N, t1 - t0, t2 - t1, 2 * CHANGES, t4 - t3);
    runtime_credcache_delta_free(d);
    runtime_credcache_free(c);
}
END_TEST

/* Issue 7: certificate keys; a revoked one stays bound to its endpoint
 * marked refused, and gone hears of it whether the live binding was seen
 * (replaced) or not (old == now). */
static const struct runtime_credcache_entry *seen_old, *seen_now;
static int refused_calls;

static void on_refused(void *arg, const struct runtime_credcache_entry *old,
                       const struct runtime_credcache_entry *now)
{
    (void)arg;
    refused_calls++;
    seen_old = old;
    seen_now = now;
}

START_TEST(test_runtime_credcache_refused_certificates)
{
    struct ls_error err = { 0 };
    struct runtime_credcache *c = runtime_credcache_new(&err);
    struct runtime_credcache_delta *d = runtime_credcache_delta_new(&err);
    const uint8_t k1[16] = { 1 }, k2[16] = { 2 };
    ck_assert_ptr_null(runtime_credcache_refused("ep-x"));
    ck_assert_str_eq(runtime_credcache_refused(RUNTIME_CREDCACHE_REFUSED "ep-x"), "ep-x");
    /* live, then revoked: replaced, reported with the refused binding */
    ck_assert_int_eq(runtime_credcache_delta_put_rpk(d, 1, k1, 16, "ep-x", &err), LS_OK);
    runtime_credcache_apply(c, d, on_refused, NULL);
    ck_assert_int_eq(refused_calls, 0);
    ck_assert_str_eq(runtime_credcache_find_rpk(c, k1, 16), "ep-x");
    size_t n = 0;
    ck_assert_int_eq(runtime_credcache_delta_put_rpk(d, 1, k1, 16,
                                                     RUNTIME_CREDCACHE_REFUSED "ep-x", &err),
                     LS_OK);
    runtime_credcache_apply(c, d, on_refused, NULL);
    ck_assert_int_eq(refused_calls, 1);
    ck_assert(seen_old != seen_now);
    /* revoked before it was ever seen live: reported with old == now */
    ck_assert_int_eq(runtime_credcache_delta_put_rpk(d, 2, k2, 16,
                                                     RUNTIME_CREDCACHE_REFUSED "ep-y", &err),
                     LS_OK);
    runtime_credcache_apply(c, d, on_refused, NULL);
    ck_assert_int_eq(refused_calls, 2);
    ck_assert_ptr_eq(seen_old, seen_now);
    const uint8_t *pk = runtime_credcache_entry_public_key(seen_now, &n);
    ck_assert_uint_eq(n, 16);
    ck_assert(memcmp(pk, k2, 16) == 0);
    ck_assert_str_eq(runtime_credcache_refused(seen_now->endpoint), "ep-y");
    /* the same refused binding again: silent */
    ck_assert_int_eq(runtime_credcache_delta_put_rpk(d, 2, k2, 16,
                                                     RUNTIME_CREDCACHE_REFUSED "ep-y", &err),
                     LS_OK);
    runtime_credcache_apply(c, d, on_refused, NULL);
    ck_assert_int_eq(refused_calls, 2);
    runtime_credcache_delta_free(d);
    runtime_credcache_free(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_credcache");
    TCase *tc = tcase_create("runtime_credcache_add");
    tcase_add_test(tc, test_runtime_credcache_add_then_find);
    tcase_add_test(tc, test_runtime_credcache_add_refuses_bad_input);
    tcase_add_test(tc, test_runtime_credcache_many_and_binary);
    tcase_add_test(tc, test_runtime_credcache_delta_apply);
    tcase_add_test(tc, test_runtime_credcache_delta_vs_clone);
    tcase_add_test(tc, test_runtime_credcache_refused_certificates);
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
