/*
 * tests/unit/lwm2m/test_data.c -- lwm2m/data.c
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/data.h"
#include "suite_util.h"

START_TEST(test_lwm2m_data_append_bytes_survive_growth)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    char text[64];
    /* Enough values and bytes to force several array and arena regrowths. */
    for (unsigned i = 0; i < 5000; i++) {
        struct lwm2m_path p = lwm2m_path_resource(3, (uint16_t)(i / 100), (uint16_t)(i % 100));
        int n = snprintf(text, sizeof text, "value-%u", i);
        ck_assert_ptr_nonnull(lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_STRING, text, (size_t)n, NULL));
    }
    ck_assert_uint_eq(d.count, 5000);
    for (unsigned i = 0; i < 5000; i++) {
        int n = snprintf(text, sizeof text, "value-%u", i);
        ck_assert_uint_eq(d.values[i].v.bytes.len, (size_t)n);
        ck_assert(memcmp(d.values[i].v.bytes.ptr, text, (size_t)n) == 0);
    }
    lwm2m_data_free(&d);
    ck_assert_uint_eq(d.count, 0);
    lwm2m_data_free(NULL);
}
END_TEST

START_TEST(test_lwm2m_data_sort_is_stable_and_find_works)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    uint16_t order[][3] = { { 3, 1, 0 }, { 3, 0, 2 }, { 1, 0, 1 }, { 3, 0, 0 }, { 3, 0, 2 } };
    for (unsigned i = 0; i < 5; i++) {
        struct lwm2m_path p = lwm2m_path_resource(order[i][0], order[i][1], order[i][2]);
        struct lwm2m_value *v = lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL);
        ck_assert_ptr_nonnull(v);
        v->v.i = i;
    }
    lwm2m_data_sort(&d);
    ck_assert_uint_eq(d.values[0].path.id[0], 1);
    ck_assert_uint_eq(d.values[1].path.id[2], 0);
    ck_assert_int_eq(d.values[2].v.i, 1); /* equal paths keep input order */
    ck_assert_int_eq(d.values[3].v.i, 4);
    ck_assert_uint_eq(d.values[4].path.id[1], 1);
    struct lwm2m_path inst = lwm2m_path_instance(3, 0), missing = lwm2m_path_object(5);
    ck_assert_uint_eq(lwm2m_data_find(&d, &inst), 1);
    ck_assert_uint_eq(lwm2m_data_find(&d, &missing), d.count);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_type_parse_names)
{
    enum lwm2m_type t;
    ck_assert(lwm2m_type_parse("objlnk", &t));
    ck_assert_int_eq(t, LWM2M_TYPE_OBJLNK);
    ck_assert_str_eq(lwm2m_type_name(LWM2M_TYPE_UNSIGNED), "unsigned");
    ck_assert(!lwm2m_type_parse("int", &t));
}
END_TEST

START_TEST(test_lwm2m_buf_reserve_zero_allocates)
{
    struct lwm2m_buf b = { 0 };
    ck_assert_int_eq(lwm2m_buf_reserve(&b, 0, NULL), LS_OK);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(b.len, 0);
    lwm2m_buf_free(&b);
}
END_TEST

START_TEST(test_lwm2m_buf_append_grows)
{
    struct lwm2m_buf b = { 0 };
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(lwm2m_buf_append(&b, "abcd", 4, NULL), LS_OK);
    ck_assert_uint_eq(b.len, 4000);
    ck_assert(memcmp(b.data + 3996, "abcd", 4) == 0);
    lwm2m_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lwm2m_data");
    TCase *tc = tcase_create("lwm2m_data");
    tcase_add_test(tc, test_lwm2m_data_append_bytes_survive_growth);
    tcase_add_test(tc, test_lwm2m_data_sort_is_stable_and_find_works);
    tcase_add_test(tc, test_lwm2m_type_parse_names);
    tcase_add_test(tc, test_lwm2m_buf_append_grows);
    tcase_add_test(tc, test_lwm2m_buf_reserve_zero_allocates);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
