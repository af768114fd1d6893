/*
 * tests/unit/lwm2m/test_senml_cbor.c -- lwm2m/senml_cbor.c
 *
 * Known answers from Anjay 1.0-1.2 (Read answers, Send with a float64 base
 * time, server BS-Writes), byte-exact re-encoding of Anjay's answers,
 * hand-made vectors for the CBOR corners (indefinite lengths, half floats,
 * tags, text labels), round trips of every type and a garbage table.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "lwm2m/senml_cbor.h"
#include "capture_util.h"

SUITE_MODEL_FIXTURE

static const struct test_codec codec = { lwm2m_senml_cbor_decode, lwm2m_senml_cbor_encode };

static enum ls_rc decode_hex(const char *hex, const struct lwm2m_model *m,
                             struct lwm2m_data *d, struct ls_error *err)
{
    return codec_decode_hex(&codec, hex, m, d, err);
}

/* ---- captures ---- */

START_TEST(test_lwm2m_senml_cbor_decode_anjay_read)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.1/20-read-3_0-senmlcbor-resp-2_05.json", &len);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_cbor_decode(p, len, NULL, NULL, &d, &err), LS_OK);
    ck_assert_uint_eq(d.count, 20);
    assert_string(&d, "/3/0/0", "anjay");
    assert_string(&d, "/3/0/2", "cap11");
    assert_string(&d, "/3/0/14", "+01:00");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 32493); /* CBOR keeps integers */
    assert_int(&d, "/3/0/13", LWM2M_TYPE_INTEGER, 1795472845);
    assert_objlnk(&d, "/3/0/22/0", 33606, 0);               /* text label "vlo" */
    lwm2m_data_free(&d);

    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_cbor_decode(p, len, NULL, model, &d, &err), LS_OK);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472845);
    assert_int(&d, "/3/0/8/0", LWM2M_TYPE_INTEGER, 10);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_anjay_send)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.2/59-send-req.json", &len);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_cbor_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 1);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472832);
    ck_assert(d.values[0].has_time);
    ck_assert_msg(d.values[0].time_s == 1795472832.1003983, "bt %.17g", d.values[0].time_s);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_bs_writes)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.1/79-bs-write-0_2-senmlcbor-req.json", &len);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_cbor_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 4);
    assert_string(&d, "/0/2/0", "coap://127.0.0.1:15783");
    ck_assert_int_eq(must_find(&d, "/0/2/1")->type, LWM2M_TYPE_BOOLEAN);
    ck_assert(!must_find(&d, "/0/2/1")->v.b);
    assert_int(&d, "/0/2/2", LWM2M_TYPE_INTEGER, 3);
    assert_int(&d, "/0/2/10", LWM2M_TYPE_INTEGER, 1);
    lwm2m_data_free(&d);
    free(p);

    p = capture_payload("anjay-1.2/83-bs-write-1_1-senmlcbor-req.json", &len);
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_cbor_decode(p, len, NULL, model, &d, NULL), LS_OK);
    assert_int(&d, "/1/1/1", LWM2M_TYPE_INTEGER, 300);
    assert_string(&d, "/1/1/7", "U");
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

static const char *const all_captures[] = {
    "anjay-1.0/20-read-3_0-senmlcbor-resp-2_05.json",
    "anjay-1.0/22-read-3_0_0-senmlcbor-resp-2_05.json",
    "anjay-1.0/24-read-3_0_7-senmlcbor-resp-2_05.json",
    "anjay-1.0/26-read-3-senmlcbor-resp-2_05.json",
    "anjay-1.1/20-read-3_0-senmlcbor-resp-2_05.json",
    "anjay-1.1/22-read-3_0_0-senmlcbor-resp-2_05.json",
    "anjay-1.1/24-read-3_0_7-senmlcbor-resp-2_05.json",
    "anjay-1.1/26-read-3-senmlcbor-resp-2_05.json",
    "anjay-1.1/59-send-req.json",
    "anjay-1.1/79-bs-write-0_2-senmlcbor-req.json",
    "anjay-1.1/81-bs-write-1_1-senmlcbor-req.json",
    "anjay-1.2/20-read-3_0-senmlcbor-resp-2_05.json",
    "anjay-1.2/22-read-3_0_0-senmlcbor-resp-2_05.json",
    "anjay-1.2/24-read-3_0_7-senmlcbor-resp-2_05.json",
    "anjay-1.2/26-read-3-senmlcbor-resp-2_05.json",
    "anjay-1.2/59-send-req.json",
    "anjay-1.2/81-bs-write-0_2-senmlcbor-req.json",
    "anjay-1.2/83-bs-write-1_1-senmlcbor-req.json",
};

START_TEST(test_lwm2m_senml_cbor_decode_captures_round_trip)
{
    codec_assert_capture_round_trip(&codec, all_captures[_i], model);
}
END_TEST

/* Every proper prefix of a real payload is truncated CBOR. */
START_TEST(test_lwm2m_senml_cbor_decode_every_truncation)
{
    codec_assert_every_truncation_rejected(&codec, all_captures[_i], model);
}
END_TEST

static const struct {
    const char *file;
    const char *base; /* NULL: a Send, no request path */
} exact[] = {
    { "anjay-1.0/20-read-3_0-senmlcbor-resp-2_05.json", "/3/0" },
    { "anjay-1.1/22-read-3_0_0-senmlcbor-resp-2_05.json", "/3/0/0" },
    { "anjay-1.1/24-read-3_0_7-senmlcbor-resp-2_05.json", "/3/0/7" },
    { "anjay-1.2/26-read-3-senmlcbor-resp-2_05.json", "/3" },
    { "anjay-1.1/59-send-req.json", NULL },
    { "anjay-1.2/59-send-req.json", NULL },
};

START_TEST(test_lwm2m_senml_cbor_encode_anjay_byte_exact)
{
    codec_assert_capture_byte_exact(&codec, exact[_i].file, exact[_i].base, false, model);
}
END_TEST

/* ---- hand-made vectors ---- */

START_TEST(test_lwm2m_senml_cbor_decode_floats)
{
    struct lwm2m_data d;
    /* 1.5 as half, single and double; -0.0 as half; 65504 (half max). */
    ck_assert_int_eq(decode_hex("85"
                                "a2 00 66 2f362f302f30 02 f9 3e00"
                                "a2 00 66 2f362f302f31 02 fa 3fc00000"
                                "a2 00 66 2f362f302f32 02 fb 3ff8000000000000"
                                "a2 00 66 2f362f302f33 02 f9 8000"
                                "a2 00 66 2f362f302f34 02 f9 7bff",
                                NULL, &d, NULL),
                     LS_OK);
    assert_float(&d, "/6/0/0", 1.5);
    assert_float(&d, "/6/0/1", 1.5);
    assert_float(&d, "/6/0/2", 1.5);
    ck_assert(signbit(must_find(&d, "/6/0/3")->v.f));
    assert_float(&d, "/6/0/4", 65504);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_indefinite_everything)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    /* [_ {_ -2: (_ "/3/" "0"), 0: (_ "/0"), 3: (_ "ab" "c"), "vx": 1}] */
    ck_assert_int_eq(decode_hex("9f bf 21 7f 63 2f332f 61 30 ff"
                                "00 7f 62 2f30 ff"
                                "03 7f 62 6162 61 63 ff"
                                "62 7678 01 ff ff",
                                NULL, &d, &err),
                     LS_OK);
    ck_assert_uint_eq(d.count, 1);
    assert_string(&d, "/3/0/0", "abc");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_labels_and_values)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_int_eq(decode_hex("86"
                                /* {-2: "/1/0/", -3: 100, 0: "1", 6: 5, 2: -300} */
                                "a5 21 65 2f312f302f 22 1864 00 61 31 06 05 02 39012d"
                                /* {0: "6", 4: true, -1: 10, 99: [1, {2: 3}]} */
                                "a4 00 61 36 04 f5 20 0a 1863 82 01 a1 02 03"
                                /* {0: "/0/0/3", 8: h'0102ff'} with absolute bn */
                                "a3 21 60 00 66 2f302f302f33 08 43 0102ff"
                                /* {0: "/1/0/10", "vlo": "3:0"} */
                                "a2 00 67 2f312f302f3130 63 766c6f 63 333a30"
                                /* {0: "/3/0/13", 2: 1(1700000000)} */
                                "a2 00 67 2f332f302f3133 02 c1 1a 6553f100"
                                /* {0: "/3/0/5"} name only */
                                "a1 00 66 2f332f302f35",
                                model, &d, &err),
                     LS_OK);
    ck_assert_uint_eq(d.count, 6);
    assert_int(&d, "/1/0/1", LWM2M_TYPE_INTEGER, -302);
    ck_assert(must_find(&d, "/1/0/1")->time_s == 105);
    ck_assert(must_find(&d, "/1/0/6")->v.b);
    ck_assert(must_find(&d, "/1/0/6")->time_s == 100); /* bt is sticky */
    const struct lwm2m_value *v = must_find(&d, "/0/0/3");
    ck_assert_int_eq(v->type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(v->v.bytes.len, 3);
    ck_assert_uint_eq(v->v.bytes.ptr[2], 0xff);
    assert_objlnk(&d, "/1/0/10", 3, 0);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1700000000);
    ck_assert_int_eq(must_find(&d, "/3/0/5")->type, LWM2M_TYPE_NONE);
    lwm2m_data_free(&d);

    /* Without a model a tag 1 value is still a time. */
    ck_assert_int_eq(decode_hex("81 a2 00 67 2f332f302f3133 02 c1 1a 6553f100", NULL, &d,
                                NULL),
                     LS_OK);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1700000000);
    lwm2m_data_free(&d);
}
END_TEST

/* Found by fuzz_senml_cbor: skipping an unknown label whose value is an
 * indefinite string reused the buffer holding the record's joined value. */
START_TEST(test_lwm2m_senml_cbor_decode_skip_keeps_joined_value)
{
    struct lwm2m_data d;
    /* [{_ 0: "/3/0/0", 3: (_ "ab"), 99: (_ "x" "y"), 98: [(_ "z")]}] */
    ck_assert_int_eq(decode_hex("81 bf 00 66 2f332f302f30 03 7f 62 6162 ff"
                                "18 63 7f 61 78 61 79 ff 18 62 81 7f 61 7a ff ff",
                                NULL, &d, NULL),
                     LS_OK);
    assert_string(&d, "/3/0/0", "ab");
    lwm2m_data_free(&d);
}
END_TEST

static const char *const garbage[] = {
    "",
    "81",
    "a0",                                           /* not an array */
    "80 00",                                        /* trailing byte */
    "81 01",                                        /* record is not a map */
    "81 a2 00 05 02 01",                            /* n as a number */
    "81 a2 00 66 2f332f302f30 02 61 31",            /* v as text */
    "81 a2 00 66 2f332f302f30 04 01",               /* vb as an integer */
    "81 a2 00 66 2f332f302f30 08 61 31",            /* vd as text */
    "81 a2 00 66 2f332f302f30 03 41 31",            /* vs as bytes */
    "81 a2 00 66 2f332f302f30 63 766c6f 63 333b30", /* vlo "3;0" */
    "81 a2 00 66 2f332f302f30 06 61 31",            /* t as text */
    "9b ffffffffffffffff",                          /* over-long array */
    "9a 00010000 a0",
    "81 b9 ffff 00",                                /* over-long map */
    "81 a1 00 7b ffffffffffffffff",                 /* huge declared string */
    "81 a1 00 7a 7fffffff 2f",
    "81 a2 00 66 2f332f302f30 02 c4 82 21 19 6ab3", /* tag 4: unsupported */
    "81 a2 00 66 2f332f302f30 02 c2 41 01",         /* bignum */
    "81 bf 00 ff",                                  /* odd indefinite map */
    "81 a1 00 66 2f332f302f30 ff",                  /* stray break */
    "ff",
    "81 a2 00 66 2f332f302f30 02 1c",               /* reserved additional info */
    "81 a2 00 66 2f332f302f30 02 f8 20",            /* simple value 32 */
    "81 a2 00 5f 41 2f ff 02 01",                   /* name as bytes */
    "81 a2 00 7f 61 2f 41 33 ff 02 01",             /* text chunk of bytes */
    "81 a2 00 7f 61 2f 7f ff ff 02 01",             /* nested indefinite chunk */
    "81 a2 00 64 2f332f78 02 01",                   /* "/3/x" */
    "81 a2 00 62 2f33 02 01",                       /* value on an object */
    "81 a2 00 6a 2f332f302f302f302f30 02 01",       /* five ids */
    "81 a2 00 68 2f36353533352f30 02 01",           /* id 65535 */
    "81 a3 00 66 2f332f302f30 02 01 03 61 78",      /* two values */
    "81 a2 00 66 2f332f302f30 64 666f6f5f 01",      /* must-understand "foo_" */
    "81 a2 00 66 2f332f302f30 02 3bffffffffffffffff", /* below int64 */
    "81 a1 f6 00",                                  /* null label */
    /* 20 nested arrays under an unknown label */
    "81 a2 00 66 2f332f302f30 1863 8181818181818181818181818181818181818181 00",
    /* SQL in a name */
    "81 a2 00 78 1b 2f332f302f30273b2044524f50205441424c4520783b2d2d2d2d2d 03 61 78",
    "81 a1 02 01",                                  /* no name, no base */
};

START_TEST(test_lwm2m_senml_cbor_decode_garbage)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_msg(decode_hex(garbage[_i], model, &d, &err) == LS_EPROTO, "accepted %s",
                  garbage[_i]);
    ck_assert_str_ne(err.msg, "");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_decode_model_mismatch_names_path)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    /* {0: "/1/0/1", 2: 1.5}: lifetime is an integer. */
    ck_assert_int_eq(decode_hex("81 a2 00 66 2f312f302f31 02 f9 3e00", model, &d, &err),
                     LS_EPROTO);
    ck_assert_msg(strstr(err.msg, "/1/0/1") != NULL, "message: %s", err.msg);
    lwm2m_data_free(&d);
}
END_TEST

/* ---- encoding ---- */

START_TEST(test_lwm2m_senml_cbor_encode_all_types_round_trip)
{
    struct lwm2m_data a;
    build_all_types(&a);
    codec_assert_round_trip(&codec, &a, NULL, model);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_senml_cbor_encode_known_bytes)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p1 = test_path("/6/0/0"), p2 = test_path("/6/0/1"),
                      p3 = test_path("/6/0/5");
    struct lwm2m_value *v;
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p1, LWM2M_TYPE_FLOAT, NULL));
    v->v.f = 1.5;          /* exact in single precision */
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p2, LWM2M_TYPE_FLOAT, NULL));
    v->v.f = 0.1;          /* needs a double */
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p3, LWM2M_TYPE_NONE, NULL));
    struct lwm2m_path base = test_path("/6/0");
    ck_assert_int_eq(lwm2m_senml_cbor_encode(&a, &base, NULL, &out, NULL), LS_OK);
    size_t len;
    uint8_t *want = hex_bytes("83"
                              "a3 21 64 2f362f30 00 62 2f30 02 fa 3fc00000"
                              "a2 00 62 2f31 02 fb 3fb999999999999a"
                              "a1 00 62 2f35",
                              &len);
    ck_assert_uint_eq(out.len, len);
    ck_assert(memcmp(out.data, want, len) == 0);
    free(want);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
}
END_TEST

static Suite *senml_cbor_suite(void)
{
    Suite *s = suite_create("lwm2m_senml_cbor");
    TCase *tc = tcase_create("lwm2m_senml_cbor_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_anjay_read);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_anjay_send);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_bs_writes);
    tcase_add_loop_test(tc, test_lwm2m_senml_cbor_decode_captures_round_trip, 0,
                        sizeof all_captures / sizeof all_captures[0]);
    tcase_add_loop_test(tc, test_lwm2m_senml_cbor_decode_every_truncation, 0,
                        sizeof all_captures / sizeof all_captures[0]);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_floats);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_indefinite_everything);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_labels_and_values);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_skip_keeps_joined_value);
    tcase_add_loop_test(tc, test_lwm2m_senml_cbor_decode_garbage, 0,
                        sizeof garbage / sizeof garbage[0]);
    tcase_add_test(tc, test_lwm2m_senml_cbor_decode_model_mismatch_names_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("lwm2m_senml_cbor_encode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_senml_cbor_encode_anjay_byte_exact, 0,
                        sizeof exact / sizeof exact[0]);
    tcase_add_test(tc, test_lwm2m_senml_cbor_encode_all_types_round_trip);
    tcase_add_test(tc, test_lwm2m_senml_cbor_encode_known_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(senml_cbor_suite());
}
