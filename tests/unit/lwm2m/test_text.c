/*
 * tests/unit/lwm2m/test_text.c -- lwm2m/text.c
 *
 * Known answers from the captures (anjay-1.0/44-read-3_0_0-text-resp:
 * "anjay"; wakaama-1.1/32-read-3_0_0-text-resp: "Open Mobile Alliance"),
 * every model type, and text that must be refused.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "lwm2m/text.h"
#include "suite_util.h"

SUITE_MODEL_FIXTURE

#define P3(o, i, r) { { o, i, r }, 3 }

/* Decodes text at path, then encodes the value and expects `canon`. */
static const struct {
    const char *text;
    struct lwm2m_path path;
    enum lwm2m_type type;
    const char *canon; /* re-encoding; NULL = same as text */
} good[] = {
    { "anjay", P3(3, 0, 0), LWM2M_TYPE_STRING, NULL },
    { "Open Mobile Alliance", P3(3, 0, 0), LWM2M_TYPE_STRING, NULL },
    { "", P3(3, 0, 0), LWM2M_TYPE_STRING, NULL },
    { "100", P3(3, 0, 9), LWM2M_TYPE_INTEGER, NULL },
    { "-9223372036854775808", P3(3, 0, 9), LWM2M_TYPE_INTEGER, NULL },
    { "9223372036854775807", P3(3, 0, 9), LWM2M_TYPE_INTEGER, NULL },
    { "007", P3(3, 0, 9), LWM2M_TYPE_INTEGER, "7" },
    { "18446744073709551615", P3(1, 0, 11), LWM2M_TYPE_UNSIGNED, NULL },
    { "1367491215", P3(3, 0, 13), LWM2M_TYPE_TIME, NULL },
    { "21.5", P3(3303, 0, 5700), LWM2M_TYPE_FLOAT, NULL },
    { "-273.15", P3(3303, 0, 5700), LWM2M_TYPE_FLOAT, NULL },
    { "0.1", P3(3303, 0, 5700), LWM2M_TYPE_FLOAT, NULL },
    { "1e300", P3(3303, 0, 5700), LWM2M_TYPE_FLOAT, "1e+300" },
    { "3", P3(3303, 0, 5700), LWM2M_TYPE_FLOAT, NULL },
    { "1", P3(1, 0, 6), LWM2M_TYPE_BOOLEAN, NULL },
    { "0", P3(1, 0, 6), LWM2M_TYPE_BOOLEAN, NULL },
    { "3:0", P3(3, 0, 22), LWM2M_TYPE_OBJLNK, NULL },
    { "65535:65535", P3(3, 0, 22), LWM2M_TYPE_OBJLNK, NULL },
    { "AP8Q", P3(5, 0, 0), LWM2M_TYPE_OPAQUE, NULL },
    { "YQ==", P3(5, 0, 0), LWM2M_TYPE_OPAQUE, NULL },
    { "YWI=", P3(5, 0, 0), LWM2M_TYPE_OPAQUE, NULL },
    { "", P3(5, 0, 0), LWM2M_TYPE_OPAQUE, NULL },
    { "</3/0>", P3(9999, 0, 0), LWM2M_TYPE_STRING, NULL }, /* unknown: STRING */
};

START_TEST(test_lwm2m_text_decode_round_trip)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    const char *t = good[_i].text;
    ck_assert_msg(lwm2m_text_decode((const uint8_t *)t, strlen(t), &good[_i].path, model,
                                    &d, &err) == LS_OK, "%s: %s", t, err.msg);
    ck_assert_uint_eq(d.count, 1);
    ck_assert_int_eq(d.values[0].type, good[_i].type);
    ck_assert(lwm2m_path_equal(&d.values[0].path, &good[_i].path));
    struct lwm2m_buf out = { 0 };
    ck_assert(lwm2m_text_encode(&d, &good[_i].path, model, &out, &err) == LS_OK);
    const char *want = good[_i].canon ? good[_i].canon : t;
    ck_assert_uint_eq(out.len, strlen(want));
    ck_assert(out.len == 0 || memcmp(out.data, want, out.len) == 0);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_text_decode_values)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path p = P3(3303, 0, 5700);
    ck_assert(lwm2m_text_decode((const uint8_t *)"-273.15", 7, &p, model, &d, NULL) == LS_OK);
    ck_assert(d.values[0].v.f == -273.15);
    p = (struct lwm2m_path)P3(3, 0, 22);
    ck_assert(lwm2m_text_decode((const uint8_t *)"3:7", 3, &p, model, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.values[1].v.objlnk.obj, 3);
    ck_assert_uint_eq(d.values[1].v.objlnk.inst, 7);
    p = (struct lwm2m_path)P3(5, 0, 0);
    ck_assert(lwm2m_text_decode((const uint8_t *)"AP8Q", 4, &p, model, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.values[2].v.bytes.len, 3);
    ck_assert(memcmp(d.values[2].v.bytes.ptr, "\x00\xFF\x10", 3) == 0);
    p = (struct lwm2m_path)P3(3, 0, 9);
    ck_assert(lwm2m_text_decode((const uint8_t *)"-5", 2, &p, model, &d, NULL) == LS_OK);
    ck_assert_int_eq(d.values[3].v.i, -5);
    /* Resource instance paths are typed by their resource. */
    struct lwm2m_path ri = { { 3, 0, 7, 1 }, 4 };
    ck_assert(lwm2m_text_decode((const uint8_t *)"3800", 4, &ri, model, &d, NULL) == LS_OK);
    ck_assert_int_eq(d.values[4].type, LWM2M_TYPE_INTEGER);
    ck_assert_int_eq(d.values[4].v.i, 3800);
    lwm2m_data_free(&d);
}
END_TEST

static const struct {
    const char *text;
    struct lwm2m_path path;
    enum ls_rc rc;
} bad[] = {
    { "12a", P3(3, 0, 9), LS_EPROTO },
    { "", P3(3, 0, 9), LS_EPROTO },
    { "-", P3(3, 0, 9), LS_EPROTO },
    { " 12", P3(3, 0, 9), LS_EPROTO },
    { "+12", P3(3, 0, 9), LS_EPROTO },
    { "0x12", P3(3, 0, 9), LS_EPROTO },
    { "9223372036854775808", P3(3, 0, 9), LS_EPROTO },
    { "-9223372036854775809", P3(3, 0, 9), LS_EPROTO },
    { "99999999999999999999999", P3(3, 0, 9), LS_EPROTO },
    { "-1", P3(1, 0, 11), LS_EPROTO },
    { "18446744073709551616", P3(1, 0, 11), LS_EPROTO },
    { "2", P3(1, 0, 6), LS_EPROTO },
    { "true", P3(1, 0, 6), LS_EPROTO },
    { "", P3(1, 0, 6), LS_EPROTO },
    { "nan", P3(3303, 0, 5700), LS_EPROTO },
    { "inf", P3(3303, 0, 5700), LS_EPROTO },
    { "1e999", P3(3303, 0, 5700), LS_EPROTO },
    { "0x1p3", P3(3303, 0, 5700), LS_EPROTO },
    { "1.5.", P3(3303, 0, 5700), LS_EPROTO },
    { "--1", P3(3303, 0, 5700), LS_EPROTO },
    { "1234567890123456789012345678901234567890123456789012345678901234567890",
      P3(3303, 0, 5700), LS_EPROTO },
    { "3", P3(3, 0, 22), LS_EPROTO },
    { "3:", P3(3, 0, 22), LS_EPROTO },
    { ":0", P3(3, 0, 22), LS_EPROTO },
    { "65536:0", P3(3, 0, 22), LS_EPROTO },
    { "3:0:1", P3(3, 0, 22), LS_EPROTO },
    { "YQ=", P3(5, 0, 0), LS_EPROTO },
    { "Y===", P3(5, 0, 0), LS_EPROTO },
    { "YQ=a", P3(5, 0, 0), LS_EPROTO },
    { "YR==", P3(5, 0, 0), LS_EPROTO }, /* non-zero padding bits */
    { "a b=", P3(5, 0, 0), LS_EPROTO },
    { "anjay", { { 3, 0 }, 2 }, LS_EINVAL },
};

START_TEST(test_lwm2m_text_decode_garbage)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    const char *t = bad[_i].text;
    enum ls_rc rc = lwm2m_text_decode((const uint8_t *)t, strlen(t), &bad[_i].path, model,
                                      &d, &err);
    ck_assert_msg(rc == bad[_i].rc, "\"%s\" gave %s", t, ls_rc_name(rc));
    ck_assert_str_ne(err.msg, "");
    ck_assert_uint_eq(d.count, 0);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_text_decode_without_model)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path p = P3(3, 0, 9);
    ck_assert(lwm2m_text_decode((const uint8_t *)"100", 3, &p, NULL, &d, NULL) == LS_OK);
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_STRING);
    ck_assert(lwm2m_text_decode(NULL, 0, &p, NULL, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.values[1].v.bytes.len, 0);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_text_encode_refuses)
{
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    struct lwm2m_path p = P3(3303, 0, 5700), other = P3(3303, 0, 5701);
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, &err) == LS_EINVAL); /* no value */
    lwm2m_data_append(&d, &p, LWM2M_TYPE_FLOAT, NULL)->v.f = NAN;
    ls_error_clear(&err);
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, &err) == LS_EINVAL);
    d.values[0].v.f = 1.0;
    ls_error_clear(&err);
    ck_assert(lwm2m_text_encode(&d, &other, NULL, &out, &err) == LS_EINVAL); /* wrong path */
    lwm2m_data_append(&d, &other, LWM2M_TYPE_FLOAT, NULL);
    ls_error_clear(&err);
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, &err) == LS_EINVAL); /* two values */
    ck_assert_str_ne(err.msg, "");
    ck_assert_uint_eq(out.len, 0);
    lwm2m_data_free(&d);
    lwm2m_data_init(&d);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_NONE, NULL);
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, NULL) == LS_EINVAL);
    lwm2m_data_free(&d);
    lwm2m_buf_free(&out);
}
END_TEST

START_TEST(test_lwm2m_text_encode_types)
{
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p = P3(9, 0, 1);
    lwm2m_data_init(&d);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_UNSIGNED, NULL)->v.u = UINT64_MAX;
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, NULL) == LS_OK);
    ck_assert_uint_eq(out.len, 20);
    ck_assert(memcmp(out.data, "18446744073709551615", 20) == 0);
    d.values[0].type = LWM2M_TYPE_BOOLEAN;
    d.values[0].v.b = true;
    out.len = 0;
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, NULL) == LS_OK);
    ck_assert(out.len == 1 && out.data[0] == '1');
    d.values[0].type = LWM2M_TYPE_FLOAT;
    d.values[0].v.f = 1.0 / 3.0;
    out.len = 0;
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, NULL) == LS_OK);
    char s[64] = { 0 };
    memcpy(s, out.data, out.len);
    ck_assert(strtod(s, NULL) == 1.0 / 3.0); /* shortest that round-trips */
    lwm2m_data_free(&d);
    lwm2m_data_init(&d);
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_CORELNK, "</3/0>", 6, NULL);
    out.len = 0;
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, NULL) == LS_OK);
    ck_assert(out.len == 6 && memcmp(out.data, "</3/0>", 6) == 0);
    lwm2m_data_free(&d);
    lwm2m_buf_free(&out);
}
END_TEST

/* Fuzzer find: an empty opaque value into a fresh buffer wrote at NULL + 0. */
START_TEST(test_lwm2m_text_encode_empty_opaque)
{
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p = P3(5, 0, 0);
    lwm2m_data_init(&d);
    ck_assert_ptr_nonnull(lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_OPAQUE, "", 0, NULL));
    ck_assert(lwm2m_text_encode(&d, &p, NULL, &out, NULL) == LS_OK);
    ck_assert_uint_eq(out.len, 0);
    lwm2m_data_free(&d);
    lwm2m_buf_free(&out);
}
END_TEST

static Suite *text_suite(void)
{
    Suite *s = suite_create("lwm2m_text");
    TCase *tc = tcase_create("lwm2m_text_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_text_decode_round_trip, 0, sizeof good / sizeof good[0]);
    tcase_add_test(tc, test_lwm2m_text_decode_values);
    tcase_add_loop_test(tc, test_lwm2m_text_decode_garbage, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_lwm2m_text_decode_without_model);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_text_encode");
    tcase_add_test(tc, test_lwm2m_text_encode_refuses);
    tcase_add_test(tc, test_lwm2m_text_encode_types);
    tcase_add_test(tc, test_lwm2m_text_encode_empty_opaque);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(text_suite());
}
