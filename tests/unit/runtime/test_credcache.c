/*
 * tests/unit/runtime/test_credcache.c -- the in-memory PSK table
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_credcache");
    TCase *tc = tcase_create("runtime_credcache_add");
    tcase_add_test(tc, test_runtime_credcache_add_then_find);
    tcase_add_test(tc, test_runtime_credcache_add_refuses_bad_input);
    tcase_add_test(tc, test_runtime_credcache_many_and_binary);
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
