/*
 * tests/unit/server/test_registration_params.c -- server/registration_params.c
 *
 * Queries are written as "a&b&c" and split into Uri-Query options here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/registration_params.h"

static enum ls_rc parse(enum registration_request kind, const char *query,
                        struct registration_params *out, struct ls_error *err)
{
    struct registration_query q[16];
    size_t n = 0;
    const char *s = query;
    while (*s && n < 16) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        q[n++] = (struct registration_query){ s, len };
        s += len + (amp ? 1 : 0);
    }
    return registration_params_parse(kind, q, n, out, err);
}

static const struct {
    enum registration_request kind;
    const char *query;
    enum ls_rc rc;
} cases[] = {
    /* From the captures: Anjay 1.0/1.1/1.2 and Wakaama 1.1. */
    { REGISTRATION_REGISTER, "lwm2m=1.0&ep=urn:dev:os:anjay-cap10&lt=86400", LS_OK },
    { REGISTRATION_REGISTER, "lwm2m=1.2&ep=urn:dev:os:anjay-bsfb&lt=300", LS_OK },
    { REGISTRATION_REGISTER, "lwm2m=1.1&ep=wakaama-cap&b=U&lt=300", LS_OK },
    { REGISTRATION_REGISTER, "ep=a&lwm2m=1.1&Q&b=U&sms=+4912345&pid=6:1234abcd", LS_OK },
    { REGISTRATION_REGISTER, "ep=a", LS_OK },
    { REGISTRATION_REGISTER, "ep=a&lwm2m=1.2&lt=0", LS_OK },
    { REGISTRATION_REGISTER, "ep='; DROP TABLE registrations; --", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=';DROP/**/TABLE/**/x;--", LS_OK },
    { REGISTRATION_REGISTER, "lt=60", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&ep=b", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&foo=1", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&lwm2m=2.0", LS_EUNSUPPORTED },
    { REGISTRATION_REGISTER, "ep=a&lwm2m=1.3", LS_EUNSUPPORTED },
    { REGISTRATION_REGISTER, "ep=a&lwm2m=", LS_EUNSUPPORTED },
    { REGISTRATION_REGISTER, "ep=a&lt=-5", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&lt=abc", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&lt=99999999999", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&lt=0", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&b=X", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&b=UU", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&Q=1", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&sms=12ab", LS_EINVAL },
    { REGISTRATION_UPDATE, "lt=301", LS_OK },
    { REGISTRATION_UPDATE, "", LS_OK },
    { REGISTRATION_UPDATE, "b=UQ&sms=123", LS_OK },
    { REGISTRATION_UPDATE, "ep=a", LS_EINVAL },
    { REGISTRATION_UPDATE, "lwm2m=1.1", LS_OK },
    { REGISTRATION_UPDATE, "lt=120&lwm2m=1.0&b=U", LS_OK },
    { REGISTRATION_UPDATE, "lwm2m=3.0", LS_EUNSUPPORTED },
    { REGISTRATION_UPDATE, "pid=x", LS_EINVAL },
    /* Issue 10 (test_abuse): invalid UTF-8 is refused here, not by the
     * database's encoding check. */
    { REGISTRATION_REGISTER, "ep=caf\xc3\xa9", LS_OK },
    { REGISTRATION_REGISTER, "ep=\xf0\x9f\x98\x80", LS_OK },
    { REGISTRATION_REGISTER, "ep=\xc3\x28", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=\xff\xfe", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=\xed\xa0\x80", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=\xc0\xaf", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=\xf8\x88\x80\x80\x80", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=\xf4\x90\x80\x80", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a\xc3", LS_EINVAL },
    { REGISTRATION_REGISTER, "ep=a&pid=\xe2\x82", LS_EINVAL },
};

START_TEST(test_registration_params_parse_table)
{
    struct registration_params p;
    struct ls_error err = { 0 };
    enum ls_rc rc = parse(cases[_i].kind, cases[_i].query, &p, &err);
    ck_assert_msg(rc == cases[_i].rc, "\"%s\": got %s (%s), want %s", cases[_i].query,
                  ls_rc_name(rc), err.msg, ls_rc_name(cases[_i].rc));
    if (rc != LS_OK)
        ck_assert_str_ne(err.msg, "");
}
END_TEST

START_TEST(test_registration_params_parse_defaults_and_values)
{
    struct registration_params p;
    ck_assert_int_eq(parse(REGISTRATION_REGISTER, "ep=dev-1", &p, NULL), LS_OK);
    ck_assert_str_eq(p.endpoint, "dev-1");
    ck_assert_str_eq(p.version, "1.0");
    ck_assert_int_eq(p.lifetime_s, 86400);
    ck_assert_str_eq(p.binding, "U");
    ck_assert(!p.queue);

    ck_assert_int_eq(parse(REGISTRATION_REGISTER, "ep=d&lwm2m=1.0&b=UQ&lt=60", &p, NULL), LS_OK);
    ck_assert(p.queue);
    ck_assert_int_eq(p.lifetime_s, 60);

    ck_assert_int_eq(parse(REGISTRATION_REGISTER, "ep=d&lwm2m=1.1&Q&pid=oma:x", &p, NULL), LS_OK);
    ck_assert(p.queue && p.has_queue);
    ck_assert_str_eq(p.pid, "oma:x");
    ck_assert_str_eq(p.version, "1.1");

    ck_assert_int_eq(parse(REGISTRATION_UPDATE, "lt=302", &p, NULL), LS_OK);
    ck_assert_int_eq(p.lifetime_s, 302);
    ck_assert_str_eq(p.binding, "");
    ck_assert_str_eq(p.version, "");
    ck_assert_int_eq(parse(REGISTRATION_UPDATE, "", &p, NULL), LS_OK);
    ck_assert_int_eq(p.lifetime_s, -1);
}
END_TEST

START_TEST(test_registration_params_parse_endpoint_length_limit)
{
    char q[400] = "ep=";
    memset(q + 3, 'x', 255);
    struct registration_params p;
    ck_assert_int_eq(parse(REGISTRATION_REGISTER, q, &p, NULL), LS_OK);
    ck_assert_uint_eq(strlen(p.endpoint), 255);
    q[3 + 256] = '\0';
    q[3 + 255] = 'x';
    ck_assert_int_eq(parse(REGISTRATION_REGISTER, q, &p, NULL), LS_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_registration_params");
    TCase *tc = tcase_create("registration_params_parse");
    tcase_add_loop_test(tc, test_registration_params_parse_table, 0,
                        sizeof cases / sizeof cases[0]);
    tcase_add_test(tc, test_registration_params_parse_defaults_and_values);
    tcase_add_test(tc, test_registration_params_parse_endpoint_length_limit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
