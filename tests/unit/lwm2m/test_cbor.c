/*
 * tests/unit/lwm2m/test_cbor.c -- lwm2m/cbor.c
 *
 * Known answer: anjay-1.0/46-read-3_0_0-cbor-resp (text "anjay").  The
 * others are RFC 8949 Appendix A encodings typed against the model.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/cbor.h"
#include "lwm2m/model.h"
#include "suite_util.h"

SUITE_MODEL_FIXTURE

#define P3(o, i, r) { { o, i, r }, 3 }

static const struct {
    const char *hex;
    struct lwm2m_path path;
    int typed;            /* decode with the model */
    enum lwm2m_type type;
    const char *canon;    /* re-encoding; NULL = same as hex */
} good[] = {
    { "65616e6a6179", P3(3, 0, 0), 1, LWM2M_TYPE_STRING, NULL },
    { "60", P3(3, 0, 0), 1, LWM2M_TYPE_STRING, NULL },
    { "1864", P3(3, 0, 9), 1, LWM2M_TYPE_INTEGER, NULL },
    { "17", P3(3, 0, 9), 1, LWM2M_TYPE_INTEGER, NULL },
    { "1a00000064", P3(3, 0, 9), 1, LWM2M_TYPE_INTEGER, "1864" },
    { "3903e7", P3(3, 0, 9), 1, LWM2M_TYPE_INTEGER, NULL },
    { "3b7fffffffffffffff", P3(3, 0, 9), 1, LWM2M_TYPE_INTEGER, NULL },
    { "1bffffffffffffffff", P3(1, 0, 11), 1, LWM2M_TYPE_UNSIGNED, NULL },
    { "c11a5182428f", P3(3, 0, 13), 1, LWM2M_TYPE_TIME, NULL },
    { "1a5182428f", P3(3, 0, 13), 1, LWM2M_TYPE_TIME, "c11a5182428f" },
    { "f93e00", P3(3303, 0, 5700), 1, LWM2M_TYPE_FLOAT, "fa3fc00000" },
    { "fb3fb999999999999a", P3(3303, 0, 5700), 1, LWM2M_TYPE_FLOAT, NULL },
    { "1815", P3(3303, 0, 5700), 1, LWM2M_TYPE_FLOAT, "fa41a80000" },
    { "f5", P3(1, 0, 6), 1, LWM2M_TYPE_BOOLEAN, NULL },
    { "f4", P3(1, 0, 6), 1, LWM2M_TYPE_BOOLEAN, NULL },
    { "4300ff10", P3(5, 0, 0), 1, LWM2M_TYPE_OPAQUE, NULL },
    { "5f42000141ffff", P3(5, 0, 0), 1, LWM2M_TYPE_OPAQUE, "430001ff" },
    { "7f6261626163ff", P3(3, 0, 0), 1, LWM2M_TYPE_STRING, "63616263" },
    { "63333a30", P3(3, 0, 22), 1, LWM2M_TYPE_OBJLNK, NULL },
    { "1864", P3(3, 0, 9), 0, LWM2M_TYPE_INTEGER, NULL },
    { "20", P3(3, 0, 9), 0, LWM2M_TYPE_INTEGER, NULL },
    { "1bffffffffffffffff", P3(3, 0, 9), 0, LWM2M_TYPE_UNSIGNED, NULL },
    { "f5", P3(3, 0, 9), 0, LWM2M_TYPE_BOOLEAN, NULL },
    { "65616e6a6179", P3(3, 0, 9), 0, LWM2M_TYPE_STRING, NULL },
    { "c11a5182428f", P3(3, 0, 9), 0, LWM2M_TYPE_TIME, NULL },
    { "fa3fc00000", P3(3, 0, 9), 0, LWM2M_TYPE_FLOAT, NULL },
    { "4100", P3(3, 0, 9), 0, LWM2M_TYPE_OPAQUE, NULL },
};

START_TEST(test_lwm2m_cbor_decode_round_trip)
{
    uint8_t buf[64], want[64];
    size_t n = unhex(good[_i].hex, buf);
    size_t wn = unhex(good[_i].canon ? good[_i].canon : good[_i].hex, want);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    const struct lwm2m_model *m = good[_i].typed ? model : NULL;
    ck_assert_msg(lwm2m_cbor_decode(buf, n, &good[_i].path, m, &d, &err) == LS_OK,
                  "%s: %s", good[_i].hex, err.msg);
    ck_assert_uint_eq(d.count, 1);
    ck_assert_int_eq(d.values[0].type, good[_i].type);
    struct lwm2m_buf out = { 0 };
    ck_assert(lwm2m_cbor_encode(&d, &good[_i].path, m, &out, &err) == LS_OK);
    ck_assert_uint_eq(out.len, wn);
    ck_assert(memcmp(out.data, want, wn) == 0);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_cbor_decode_values)
{
    uint8_t buf[16];
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path p = P3(3, 0, 0);
    size_t n = unhex("65616e6a6179", buf);
    ck_assert(lwm2m_cbor_decode(buf, n, &p, model, &d, NULL) == LS_OK);
    ck_assert(d.values[0].v.bytes.len == 5 && memcmp(d.values[0].v.bytes.ptr, "anjay", 5) == 0);
    p = (struct lwm2m_path)P3(3, 0, 9);
    n = unhex("3903e7", buf);
    ck_assert(lwm2m_cbor_decode(buf, n, &p, model, &d, NULL) == LS_OK);
    ck_assert_int_eq(d.values[1].v.i, -1000);
    n = unhex("3b7fffffffffffffff", buf);
    ck_assert(lwm2m_cbor_decode(buf, n, &p, model, &d, NULL) == LS_OK);
    ck_assert(d.values[2].v.i == INT64_MIN);
    p = (struct lwm2m_path)P3(3303, 0, 5700);
    n = unhex("f93e00", buf);
    ck_assert(lwm2m_cbor_decode(buf, n, &p, model, &d, NULL) == LS_OK);
    ck_assert(d.values[3].v.f == 1.5);
    p = (struct lwm2m_path)P3(3, 0, 22);
    n = unhex("6731323a33343536", buf); /* "12:3456" */
    ck_assert(lwm2m_cbor_decode(buf, n, &p, model, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.values[4].v.objlnk.obj, 12);
    ck_assert_uint_eq(d.values[4].v.objlnk.inst, 3456);
    lwm2m_data_free(&d);
}
END_TEST

static const struct {
    const char *hex;
    struct lwm2m_path path;
    enum ls_rc rc;
} bad[] = {
    { "", P3(3, 0, 9), LS_EPROTO },
    { "18", P3(3, 0, 9), LS_EPROTO },
    { "1864ff", P3(3, 0, 9), LS_EPROTO },
    { "186418", P3(3, 0, 9), LS_EPROTO },
    { "80", P3(3, 0, 9), LS_EPROTO },
    { "a0", P3(3, 0, 9), LS_EPROTO },
    { "f6", P3(3, 0, 9), LS_EPROTO },
    { "f7", P3(3, 0, 9), LS_EPROTO },
    { "c21a00000001", P3(3, 0, 9), LS_EPROTO },
    { "c16161", P3(3, 0, 13), LS_EPROTO },
    { "65616e6a61", P3(3, 0, 0), LS_EPROTO },
    { "5f4100", P3(5, 0, 0), LS_EPROTO },
    { "1864", P3(3, 0, 0), LS_EPROTO },
    { "6131", P3(3, 0, 9), LS_EPROTO },
    { "f5", P3(3, 0, 9), LS_EPROTO },
    { "fa3fc00000", P3(3, 0, 9), LS_EPROTO },
    { "3903e7", P3(1, 0, 11), LS_EPROTO },
    { "1bffffffffffffffff", P3(3, 0, 9), LS_EPROTO },
    { "3bffffffffffffffff", P3(3, 0, 9), LS_EPROTO },
    { "4100", P3(3, 0, 0), LS_EPROTO },
    { "6133", P3(3, 0, 22), LS_EPROTO },
    { "63333a", P3(3, 0, 22), LS_EPROTO },
    { "6b37303030303a3730303030", P3(3, 0, 22), LS_EPROTO },
    { "c11a5182428f", P3(3, 0, 0), LS_EPROTO },
    { "f5", P3(3303, 0, 5700), LS_EPROTO },
    /* Huge declared arrays: refused before libcbor allocates them. */
    { "9a9a9a9a9a", P3(3, 0, 9), LS_EPROTO },
    { "c19a9a9a9a9a", P3(3, 0, 13), LS_EPROTO },
    { "5f9a9a9a9a9a", P3(5, 0, 0), LS_EPROTO },
    { "bb7fffffffffffffff", P3(3, 0, 9), LS_EPROTO },
    { "1864", { { 3, 0 }, 2 }, LS_EINVAL },
};

START_TEST(test_lwm2m_cbor_decode_garbage)
{
    uint8_t buf[64];
    size_t n = unhex(bad[_i].hex, buf);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    enum ls_rc rc = lwm2m_cbor_decode(n ? buf : NULL, n, &bad[_i].path, model, &d, &err);
    ck_assert_msg(rc == bad[_i].rc, "%s gave %s", bad[_i].hex, ls_rc_name(rc));
    ck_assert_str_ne(err.msg, "");
    ck_assert_uint_eq(d.count, 0);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_cbor_decode_deep_nesting)
{
    enum { DEPTH = 10000 };
    uint8_t *buf = malloc(DEPTH + 1);
    memset(buf, 0x81, DEPTH); /* [[[[...]]]] */
    buf[DEPTH] = 0x00;
    struct lwm2m_path p = P3(3, 0, 9);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert(lwm2m_cbor_decode(buf, DEPTH + 1, &p, model, &d, NULL) != LS_OK);
    ck_assert_uint_eq(d.count, 0);
    lwm2m_data_free(&d);
    free(buf);
}
END_TEST

START_TEST(test_lwm2m_cbor_encode_refuses)
{
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    struct lwm2m_path p = P3(3, 0, 9), q = P3(3, 0, 10);
    lwm2m_data_init(&d);
    ck_assert(lwm2m_cbor_encode(&d, &p, NULL, &out, &err) == LS_EINVAL);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_NONE, NULL);
    ck_assert(lwm2m_cbor_encode(&d, &p, NULL, &out, NULL) == LS_EINVAL);
    d.values[0].type = LWM2M_TYPE_INTEGER;
    ck_assert(lwm2m_cbor_encode(&d, &q, NULL, &out, NULL) == LS_EINVAL);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL);
    ck_assert(lwm2m_cbor_encode(&d, &p, NULL, &out, NULL) == LS_EINVAL);
    ck_assert_uint_eq(out.len, 0);
    lwm2m_data_free(&d);
    lwm2m_buf_free(&out);
}
END_TEST

START_TEST(test_lwm2m_cbor_encode_integer_heads)
{
    static const struct { int64_t v; const char *hex; } cases[] = {
        { 0, "00" }, { 23, "17" }, { 24, "1818" }, { 255, "18ff" }, { 256, "190100" },
        { 65536, "1a00010000" }, { 4294967296LL, "1b0000000100000000" },
        { -1, "20" }, { -25, "3818" }, { -1000, "3903e7" }, { INT64_MIN, "3b7fffffffffffffff" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lwm2m_data d;
        struct lwm2m_buf out = { 0 };
        struct lwm2m_path p = P3(3, 0, 9);
        uint8_t want[16];
        size_t wn = unhex(cases[i].hex, want);
        lwm2m_data_init(&d);
        lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = cases[i].v;
        ck_assert(lwm2m_cbor_encode(&d, &p, NULL, &out, NULL) == LS_OK);
        ck_assert_msg(out.len == wn && memcmp(out.data, want, wn) == 0, "%s", cases[i].hex);
        lwm2m_buf_free(&out);
        lwm2m_data_free(&d);
    }
}
END_TEST

static Suite *cbor_suite(void)
{
    Suite *s = suite_create("lwm2m_cbor");
    TCase *tc = tcase_create("lwm2m_cbor_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_cbor_decode_round_trip, 0, sizeof good / sizeof good[0]);
    tcase_add_test(tc, test_lwm2m_cbor_decode_values);
    tcase_add_loop_test(tc, test_lwm2m_cbor_decode_garbage, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_lwm2m_cbor_decode_deep_nesting);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_cbor_encode");
    tcase_add_test(tc, test_lwm2m_cbor_encode_refuses);
    tcase_add_test(tc, test_lwm2m_cbor_encode_integer_heads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(cbor_suite());
}
