/*
 * tests/unit/lwm2m/test_path.c -- lwm2m/path.c
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/path.h"
#include "suite_util.h"

static const struct {
    const char *text;
    int ok;
    uint8_t depth;
    uint16_t id[4];
    const char *printed;
} cases[] = {
    { "/", 1, 0, { 0 }, "/" },
    { "", 1, 0, { 0 }, "/" },
    { "/3", 1, 1, { 3 }, "/3" },
    { "/3/0", 1, 2, { 3, 0 }, "/3/0" },
    { "/3/0/", 1, 2, { 3, 0 }, "/3/0" },
    { "/3/0/7", 1, 3, { 3, 0, 7 }, "/3/0/7" },
    { "/3/0/7/1", 1, 4, { 3, 0, 7, 1 }, "/3/0/7/1" },
    { "/65534/65534/65534/65534", 1, 4, { 65534, 65534, 65534, 65534 },
      "/65534/65534/65534/65534" },
    { "/65535", 0, 0, { 0 }, NULL },
    { "/99999999999", 0, 0, { 0 }, NULL },
    { "/3/0/7/1/2", 0, 0, { 0 }, NULL },
    { "3/0", 0, 0, { 0 }, NULL },
    { "//3", 0, 0, { 0 }, NULL },
    { "/3//0", 0, 0, { 0 }, NULL },
    { "/-1", 0, 0, { 0 }, NULL },
    { "/+1", 0, 0, { 0 }, NULL },
    { "/3a", 0, 0, { 0 }, NULL },
    { "/ 3", 0, 0, { 0 }, NULL },
    { "/3/0//", 0, 0, { 0 }, NULL },
};

START_TEST(test_lwm2m_path_parse_table)
{
    struct lwm2m_path p;
    struct ls_error err = { 0 };
    enum ls_rc rc = lwm2m_path_parse(cases[_i].text, strlen(cases[_i].text), &p, &err);
    if (!cases[_i].ok) {
        ck_assert_msg(rc == LS_EINVAL, "accepted \"%s\"", cases[_i].text);
        ck_assert_str_ne(err.msg, "");
        return;
    }
    ck_assert_msg(rc == LS_OK, "refused \"%s\": %s", cases[_i].text, err.msg);
    ck_assert_uint_eq(p.depth, cases[_i].depth);
    for (unsigned i = 0; i < p.depth; i++)
        ck_assert_uint_eq(p.id[i], cases[_i].id[i]);
    char buf[LWM2M_PATH_STR_MAX];
    size_t n = lwm2m_path_format(&p, buf);
    ck_assert_str_eq(buf, cases[_i].printed);
    ck_assert_uint_eq(n, strlen(cases[_i].printed));
}
END_TEST

START_TEST(test_lwm2m_path_compare_orders_parents_first)
{
    struct lwm2m_path o = lwm2m_path_object(3), i = lwm2m_path_instance(3, 0),
                      r = lwm2m_path_resource(3, 0, 1), r2 = lwm2m_path_resource(3, 1, 0),
                      root = lwm2m_path_root();
    ck_assert_int_lt(lwm2m_path_compare(&root, &o), 0);
    ck_assert_int_lt(lwm2m_path_compare(&o, &i), 0);
    ck_assert_int_lt(lwm2m_path_compare(&i, &r), 0);
    ck_assert_int_lt(lwm2m_path_compare(&r, &r2), 0);
    ck_assert_int_gt(lwm2m_path_compare(&r2, &i), 0);
    ck_assert(lwm2m_path_equal(&r, &r));
    ck_assert(lwm2m_path_has_prefix(&r, &o));
    ck_assert(lwm2m_path_has_prefix(&r, &root));
    ck_assert(!lwm2m_path_has_prefix(&r2, &i));
    ck_assert(!lwm2m_path_has_prefix(&o, &i));
    struct lwm2m_path t = lwm2m_path_truncate(&r, 2);
    ck_assert(lwm2m_path_equal(&t, &i));
    struct lwm2m_path c = lwm2m_path_child(&i, 1);
    ck_assert(lwm2m_path_equal(&c, &r));
}
END_TEST

static Suite *path_suite(void)
{
    Suite *s = suite_create("lwm2m_path");
    TCase *tc = tcase_create("lwm2m_path_parse");
    tcase_add_loop_test(tc, test_lwm2m_path_parse_table, 0,
                        sizeof cases / sizeof cases[0]);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_path_compare");
    tcase_add_test(tc, test_lwm2m_path_compare_orders_parents_first);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(path_suite());
}
