/*
 * tests/unit/runtime/test_ratelimit.c -- per-address token buckets
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "runtime/ratelimit.h"

static struct sockaddr_in v4(uint32_t a, uint16_t port)
{
    struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };
    s.sin_addr.s_addr = htonl(a);
    return s;
}

static struct sockaddr_in6 v6(const char *text)
{
    struct sockaddr_in6 s = { .sin6_family = AF_INET6 };
    ck_assert_int_eq(inet_pton(AF_INET6, text, &s.sin6_addr), 1);
    return s;
}

#define SA(x) ((const struct sockaddr *)&(x))

START_TEST(test_runtime_ratelimit_burst_then_rate)
{
    struct ls_error err = { 0 };
    struct runtime_ratelimit *rl = runtime_ratelimit_new(2, 5, 0, &err);
    ck_assert_ptr_nonnull(rl);
    struct sockaddr_in a = v4(0x7f000001, 1000), b = v4(0x7f000001, 2000), c = v4(0x7f000002, 1);
    unsigned retry = 0;
    for (int i = 0; i < 5; i++)
        ck_assert(runtime_ratelimit_take(rl, i % 2 ? SA(a) : SA(b), 1000, &retry));
    /* Same address, another port: the same bucket, now empty. */
    ck_assert(!runtime_ratelimit_take(rl, SA(a), 1000, &retry));
    ck_assert_uint_eq(retry, 1);
    ck_assert(!runtime_ratelimit_take(rl, SA(b), 1100, NULL));
    /* Another address has its own bucket. */
    ck_assert(runtime_ratelimit_take(rl, SA(c), 1100, NULL));
    /* 2 per second: one token every 500 ms. */
    ck_assert(runtime_ratelimit_take(rl, SA(a), 1500, NULL));
    ck_assert(!runtime_ratelimit_take(rl, SA(a), 1600, NULL));
    ck_assert(runtime_ratelimit_take(rl, SA(a), 2000, NULL));
    /* A long pause refills to the burst, not beyond. */
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += runtime_ratelimit_take(rl, SA(a), 1000000, NULL);
    ck_assert_int_eq(ok, 5);
    struct runtime_ratelimit_stats st;
    runtime_ratelimit_stats(rl, &st);
    ck_assert_uint_eq(st.entries, 2);
    ck_assert_uint_eq(st.allowed, 5 + 1 + 2 + 5);
    ck_assert_uint_eq(st.refused, 2 + 1 + 15);
    ck_assert_uint_eq(st.evictions, 0);
    runtime_ratelimit_free(rl);
}
END_TEST

START_TEST(test_runtime_ratelimit_retry_after)
{
    struct runtime_ratelimit *rl = runtime_ratelimit_new(1, 1, 0, NULL);
    struct sockaddr_in a = v4(0x0a000001, 1);
    unsigned retry = 0;
    ck_assert(runtime_ratelimit_take(rl, SA(a), 0, &retry));
    ck_assert(!runtime_ratelimit_take(rl, SA(a), 0, &retry));
    ck_assert_uint_eq(retry, 1);
    runtime_ratelimit_free(rl);
    /* A slow rate: 1 per second, refusal after 0 ms says 1 s. */
    ck_assert_ptr_null(runtime_ratelimit_new(0, 1, 0, NULL));
}
END_TEST

START_TEST(test_runtime_ratelimit_ipv6_by_64_and_mapped)
{
    struct runtime_ratelimit *rl = runtime_ratelimit_new(1, 2, 0, NULL);
    struct sockaddr_in6 x = v6("2001:db8:1:2::1"), y = v6("2001:db8:1:2:ffff::9"),
                        z = v6("2001:db8:1:3::1"), m = v6("::ffff:10.0.0.1");
    struct sockaddr_in a = v4(0x0a000001, 5);
    ck_assert(runtime_ratelimit_take(rl, SA(x), 0, NULL));
    ck_assert(runtime_ratelimit_take(rl, SA(y), 0, NULL));  /* same /64 */
    ck_assert(!runtime_ratelimit_take(rl, SA(x), 0, NULL));
    ck_assert(runtime_ratelimit_take(rl, SA(z), 0, NULL));  /* another /64 */
    ck_assert(runtime_ratelimit_take(rl, SA(m), 0, NULL));  /* v4-mapped = v4 */
    ck_assert(runtime_ratelimit_take(rl, SA(a), 0, NULL));
    ck_assert(!runtime_ratelimit_take(rl, SA(a), 0, NULL));
    struct sockaddr un = { .sa_family = AF_UNIX };
    for (int i = 0; i < 10; i++)
        ck_assert(runtime_ratelimit_take(rl, &un, 0, NULL));
    runtime_ratelimit_free(rl);
}
END_TEST

START_TEST(test_runtime_ratelimit_bounded_table)
{
    struct runtime_ratelimit *rl = runtime_ratelimit_new(1, 1, 64, NULL);
    struct runtime_ratelimit_stats st;
    runtime_ratelimit_stats(rl, &st);
    ck_assert_uint_eq(st.slots, 64);
    /* 100 000 distinct addresses: the table stays at 64 entries. */
    for (uint32_t i = 0; i < 100000; i++) {
        struct sockaddr_in a = v4(0x0b000000 + i, 1);
        ck_assert(runtime_ratelimit_take(rl, SA(a), 0, NULL));
    }
    runtime_ratelimit_stats(rl, &st);
    ck_assert_uint_eq(st.entries, 64);
    ck_assert_uint_eq(st.evictions, 100000 - 64);
    /* An address that keeps hammering stays in debt: victims are full
     * buckets first, and a fresh address's bucket is full after its take
     * only when burst > 1; with burst 1 the emptied entries tie and the
     * oldest goes.  Refusals still happen for the hammering address. */
    struct sockaddr_in h = v4(0x0c000001, 1);
    ck_assert(runtime_ratelimit_take(rl, SA(h), 10, NULL));
    ck_assert(!runtime_ratelimit_take(rl, SA(h), 10, NULL));
    runtime_ratelimit_free(rl);
    runtime_ratelimit_free(NULL);
    runtime_ratelimit_stats(NULL, &st);
    ck_assert_uint_eq(st.slots, 0);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("runtime_ratelimit");
    TCase *tc = tcase_create("ratelimit");
    tcase_add_test(tc, test_runtime_ratelimit_burst_then_rate);
    tcase_add_test(tc, test_runtime_ratelimit_retry_after);
    tcase_add_test(tc, test_runtime_ratelimit_ipv6_by_64_and_mapped);
    tcase_add_test(tc, test_runtime_ratelimit_bounded_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
