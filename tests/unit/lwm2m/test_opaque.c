/*
 * tests/unit/lwm2m/test_opaque.c -- lwm2m/opaque.c
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "lwm2m/opaque.h"
#include "suite_util.h"

SUITE_MODEL_FIXTURE

START_TEST(test_lwm2m_opaque_decode_round_trip)
{
    static const uint8_t pkg[] = { 0x00, 0xFF, 0x7F, 0x80, 0x00 };
    struct lwm2m_path p = lwm2m_path_resource(5, 0, 0);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert(lwm2m_opaque_decode(pkg, sizeof pkg, &p, model, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.count, 1);
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(d.values[0].v.bytes.len, sizeof pkg);
    ck_assert(memcmp(d.values[0].v.bytes.ptr, pkg, sizeof pkg) == 0);
    struct lwm2m_buf out = { 0 };
    ck_assert(lwm2m_opaque_encode(&d, &p, model, &out, NULL) == LS_OK);
    ck_assert_uint_eq(out.len, sizeof pkg);
    ck_assert(memcmp(out.data, pkg, sizeof pkg) == 0);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_opaque_decode_empty_and_untyped)
{
    struct lwm2m_path p = lwm2m_path_resource_instance(9999, 0, 1, 2);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert(lwm2m_opaque_decode(NULL, 0, &p, model, &d, NULL) == LS_OK);
    ck_assert(lwm2m_opaque_decode((const uint8_t *)"x", 1, &p, NULL, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.count, 2);
    ck_assert_uint_eq(d.values[0].v.bytes.len, 0);
    ck_assert_uint_eq(d.values[1].v.bytes.len, 1);
    struct lwm2m_data one = { .values = &d.values[0], .count = 1, .cap = 1 };
    struct lwm2m_buf out = { 0 };
    ck_assert(lwm2m_opaque_encode(&one, &p, NULL, &out, NULL) == LS_OK);
    ck_assert_uint_eq(out.len, 0);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_opaque_decode_refuses)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    struct lwm2m_path str = lwm2m_path_resource(3, 0, 0), inst = lwm2m_path_instance(5, 0);
    ck_assert(lwm2m_opaque_decode((const uint8_t *)"x", 1, &str, model, &d, &err) == LS_EPROTO);
    ck_assert_str_ne(err.msg, "");
    ls_error_clear(&err);
    ck_assert(lwm2m_opaque_decode((const uint8_t *)"x", 1, &inst, model, &d, &err) == LS_EINVAL);
    ck_assert_uint_eq(d.count, 0);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_opaque_encode_refuses)
{
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    struct lwm2m_path p = lwm2m_path_resource(5, 0, 0), q = lwm2m_path_resource(5, 0, 1);
    lwm2m_data_init(&d);
    ck_assert(lwm2m_opaque_encode(&d, &p, NULL, &out, &err) == LS_EINVAL);
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_STRING, "s", 1, NULL);
    ls_error_clear(&err);
    ck_assert(lwm2m_opaque_encode(&d, &p, NULL, &out, &err) == LS_EINVAL); /* not opaque */
    d.values[0].type = LWM2M_TYPE_OPAQUE;
    ck_assert(lwm2m_opaque_encode(&d, &q, NULL, &out, NULL) == LS_EINVAL); /* other path */
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_OPAQUE, "t", 1, NULL);
    ck_assert(lwm2m_opaque_encode(&d, &p, NULL, &out, NULL) == LS_EINVAL); /* two values */
    ck_assert_uint_eq(out.len, 0);
    lwm2m_data_free(&d);
    lwm2m_buf_free(&out);
}
END_TEST

static Suite *opaque_suite(void)
{
    Suite *s = suite_create("lwm2m_opaque");
    TCase *tc = tcase_create("lwm2m_opaque_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_opaque_decode_round_trip);
    tcase_add_test(tc, test_lwm2m_opaque_decode_empty_and_untyped);
    tcase_add_test(tc, test_lwm2m_opaque_decode_refuses);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_opaque_encode");
    tcase_add_test(tc, test_lwm2m_opaque_encode_refuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(opaque_suite());
}
