/*
 * tests/unit/runtime/test_addr.c -- runtime/addr.c
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/addr.h"

static const struct {
    const char *text;
    int family;         /* 0 = must be refused */
    int port;
    const char *printed;
} cases[] = {
    { "[::]:5683", AF_INET6, 5683, "[::]:5683" },
    { "[::1]:0", AF_INET6, 0, "[::1]:0" },
    { "[2001:db8::1]:65535", AF_INET6, 65535, "[2001:db8::1]:65535" },
    { "0.0.0.0:5683", AF_INET, 5683, "0.0.0.0:5683" },
    { "127.0.0.1:8080", AF_INET, 8080, "127.0.0.1:8080" },
    { "127.0.0.1:00080", AF_INET, 80, "127.0.0.1:80" },
    { "localhost:8080", -1, 8080, NULL },      /* v4 or v6 by resolver order */
    { "", 0, 0, NULL },
    { "abc", 0, 0, NULL },
    { "5683", 0, 0, NULL },
    { ":5683", 0, 0, NULL },
    { "[::1]", 0, 0, NULL },
    { "[::1]:", 0, 0, NULL },
    { "[::1]x5683", 0, 0, NULL },
    { "[]:5683", 0, 0, NULL },
    { "[::1:5683", 0, 0, NULL },
    { "::1:5683", 0, 0, NULL },
    { "1.2.3.4:", 0, 0, NULL },
    { "1.2.3.4:+80", 0, 0, NULL },
    { "1.2.3.4: 80", 0, 0, NULL },
    { "1.2.3.4:80 ", 0, 0, NULL },
    { "1.2.3.4:65536", 0, 0, NULL },
    { "1.2.3.4:123456", 0, 0, NULL },
    { "[1.2.3.4]:80", 0, 0, NULL },
    { "[fe80::zz]:80", 0, 0, NULL },
    { "no-such-host.invalid:80", 0, 0, NULL },
};

START_TEST(test_runtime_addr_parse_table)
{
    struct runtime_addr a;
    struct ls_error err = { 0 };
    enum ls_rc rc = runtime_addr_parse(cases[_i].text, &a, &err);
    if (cases[_i].family == 0) {
        ck_assert_msg(rc == LS_EINVAL, "accepted \"%s\"", cases[_i].text);
        ck_assert_uint_eq(a.len, 0);
        ck_assert_str_ne(err.msg, "");
        return;
    }
    ck_assert_msg(rc == LS_OK, "refused \"%s\": %s", cases[_i].text, err.msg);
    ck_assert_uint_gt(a.len, 0);
    if (cases[_i].family > 0)
        ck_assert_int_eq(a.ss.ss_family, cases[_i].family);
    ck_assert_int_eq(runtime_addr_port((const struct sockaddr *)&a.ss), cases[_i].port);
    char buf[RUNTIME_ADDR_STR_MAX];
    runtime_addr_format((const struct sockaddr *)&a.ss, a.len, buf);
    if (cases[_i].printed)
        ck_assert_str_eq(buf, cases[_i].printed);
    /* Whatever was printed parses back to the same address. */
    struct runtime_addr b;
    ck_assert_int_eq(runtime_addr_parse(buf, &b, NULL), LS_OK);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert_mem_eq(&a.ss, &b.ss, a.len);
}
END_TEST

START_TEST(test_runtime_addr_format_unknown_family)
{
    char buf[RUNTIME_ADDR_STR_MAX];
    struct sockaddr_storage ss = { .ss_family = AF_UNIX };
    ck_assert_str_eq(runtime_addr_format((const struct sockaddr *)&ss, sizeof ss, buf), "?");
    ck_assert_str_eq(runtime_addr_format(NULL, 0, buf), "?");
    ck_assert_int_eq(runtime_addr_port((const struct sockaddr *)&ss), -1);
    ck_assert_int_eq(runtime_addr_parse(NULL, &(struct runtime_addr){ 0 }, NULL), LS_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_addr");
    TCase *tc = tcase_create("runtime_addr_parse");
    tcase_add_loop_test(tc, test_runtime_addr_parse_table, 0, sizeof cases / sizeof cases[0]);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_addr_format");
    tcase_add_test(tc, test_runtime_addr_format_unknown_family);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
