/*
 * tests/unit/server/test_parked.c -- server/parked.c
 *
 * The table of parked requests: lookups by (session, token), tokens of
 * every length (zero included, longer than 8 cut), many entries (the
 * buckets grow and keep every entry findable), unlinking in any order.
 * Sessions are only compared as pointers, so fake addresses stand in.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/parked.h"

#define FAKE_SESSION(i) ((const coap_session_t *)(uintptr_t)(0x10000 + 64 * (i)))

START_TEST(test_find_by_session_and_token)
{
    struct server_parked t;
    struct server_parked_entry a = { 0 }, b = { 0 }, c = { 0 };
    const uint8_t tok1[] = { 1, 2, 3, 4 }, tok2[] = { 1, 2, 3, 5 };
    server_parked_init(&t);
    ck_assert_ptr_null(server_parked_find(&t, FAKE_SESSION(1), tok1, sizeof tok1));
    ck_assert(server_parked_add(&t, &a, FAKE_SESSION(1), tok1, sizeof tok1));
    ck_assert(server_parked_add(&t, &b, FAKE_SESSION(2), tok1, sizeof tok1));
    ck_assert(server_parked_add(&t, &c, FAKE_SESSION(1), NULL, 0));   /* Wakaama's Send */
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(1), tok1, sizeof tok1), &a);
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(2), tok1, sizeof tok1), &b);
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(1), NULL, 0), &c);
    ck_assert_ptr_null(server_parked_find(&t, FAKE_SESSION(1), tok2, sizeof tok2));
    ck_assert_ptr_null(server_parked_find(&t, FAKE_SESSION(1), tok1, 3));   /* a prefix */
    ck_assert_ptr_null(server_parked_find(&t, FAKE_SESSION(3), tok1, sizeof tok1));
    ck_assert_uint_eq(t.n, 3);
    server_parked_del(&t, &a);
    ck_assert(!a.linked);
    ck_assert_ptr_null(server_parked_find(&t, FAKE_SESSION(1), tok1, sizeof tok1));
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(2), tok1, sizeof tok1), &b);
    server_parked_del(&t, &a);      /* twice: nothing */
    ck_assert_uint_eq(t.n, 2);
    /* Re-parked under the same key after its answer: found again. */
    ck_assert(server_parked_add(&t, &a, FAKE_SESSION(1), tok1, sizeof tok1));
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(1), tok1, sizeof tok1), &a);
    server_parked_free(&t);
}
END_TEST

START_TEST(test_long_token_cut)
{
    struct server_parked t;
    struct server_parked_entry a = { 0 };
    const uint8_t tok[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 42, 43 };
    server_parked_init(&t);
    ck_assert(server_parked_add(&t, &a, FAKE_SESSION(7), tok, sizeof tok));
    ck_assert_uint_eq(a.token_len, SERVER_PARKED_TOKEN_MAX);
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(7), tok, sizeof tok), &a);
    ck_assert_ptr_eq(server_parked_find(&t, FAKE_SESSION(7), tok, 8), &a);
    server_parked_free(&t);
}
END_TEST

/* Far beyond the first buckets: every entry stays findable through the
 * growth, and unlinking every other one leaves exactly the rest. */
START_TEST(test_many_entries)
{
    enum { N = 5000 };
    struct server_parked t;
    struct server_parked_entry *e = calloc(N, sizeof *e);
    ck_assert_ptr_nonnull(e);
    server_parked_init(&t);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t tok[4];
        memcpy(tok, &i, sizeof tok);
        ck_assert(server_parked_add(&t, &e[i], FAKE_SESSION(i % 97), tok, sizeof tok));
    }
    ck_assert_uint_eq(t.n, N);
    ck_assert_uint_ge(t.n_buckets, N);
    for (uint32_t i = 0; i < N; i += 2)
        server_parked_del(&t, &e[i]);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t tok[4];
        memcpy(tok, &i, sizeof tok);
        struct server_parked_entry *f = server_parked_find(&t, FAKE_SESSION(i % 97), tok,
                                                           sizeof tok);
        ck_assert_ptr_eq(f, i % 2 ? &e[i] : NULL);
        /* the same token from another session is another request */
        ck_assert_ptr_null(server_parked_find(&t, FAKE_SESSION(i % 97 + 100), tok, sizeof tok));
    }
    ck_assert_uint_eq(t.n, N / 2);
    server_parked_free(&t);
    free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_parked");
    TCase *tc = tcase_create("parked");
    tcase_add_test(tc, test_find_by_session_and_token);
    tcase_add_test(tc, test_long_token_cut);
    tcase_add_test(tc, test_many_entries);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
