/*
 * tests/unit/lwm2m/test_oma_json.c -- lwm2m/oma_json.c
 *
 * Anjay 1.0-1.2 and Wakaama 1.1 OMA JSON answers (both name styles),
 * byte-exact re-encoding of Anjay's, opaque-as-base64 typing by the
 * model, times, round trips of every type and a garbage table.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "lwm2m/oma_json.h"
#include "capture_util.h"

SUITE_MODEL_FIXTURE

static const struct test_codec codec = { lwm2m_oma_json_decode, lwm2m_oma_json_encode };

static enum ls_rc decode_text(const char *text, const struct lwm2m_model *m,
                              struct lwm2m_data *d, struct ls_error *err)
{
    return codec_decode_text(&codec, text, m, d, err);
}

START_TEST(test_lwm2m_oma_json_decode_anjay_read)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.0/36-read-3_0-omajson-resp-2_05.json", &len);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_oma_json_decode(p, len, NULL, model, &d, &err), LS_OK);
    ck_assert_uint_eq(d.count, 20);
    assert_string(&d, "/3/0/0", "anjay");
    assert_string(&d, "/3/0/2", "cap10");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 31620);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472857);
    assert_objlnk(&d, "/3/0/22/0", 33606, 0);
    lwm2m_data_free(&d);

    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_oma_json_decode(p, len, NULL, NULL, &d, &err), LS_OK);
    assert_float(&d, "/3/0/7/0", 31620);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_oma_json_decode_wakaama_read)
{
    size_t len;
    uint8_t *p = capture_payload("wakaama-1.1/24-read-3_0-omajson-resp-2_05.json", &len);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_oma_json_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 17);
    assert_string(&d, "/3/0/0", "Open Mobile Alliance");
    assert_string(&d, "/3/0/2", "345000123");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    assert_int(&d, "/3/0/8/1", LWM2M_TYPE_INTEGER, 900);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 3162964021);
    assert_string(&d, "/3/0/15", "Europe/Berlin");
    lwm2m_data_free(&d);
    free(p);

    p = capture_payload("wakaama-1.1/28-read-3_0_7-omajson-resp-2_05.json", &len);
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_oma_json_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 2);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

static const char *const all_captures[] = {
    "anjay-1.0/36-read-3_0-omajson-resp-2_05.json",
    "anjay-1.0/38-read-3_0_0-omajson-resp-2_05.json",
    "anjay-1.0/40-read-3_0_7-omajson-resp-2_05.json",
    "anjay-1.0/42-read-3-omajson-resp-2_05.json",
    "anjay-1.1/36-read-3_0-omajson-resp-2_05.json",
    "anjay-1.1/38-read-3_0_0-omajson-resp-2_05.json",
    "anjay-1.1/40-read-3_0_7-omajson-resp-2_05.json",
    "anjay-1.1/42-read-3-omajson-resp-2_05.json",
    "anjay-1.2/36-read-3_0-omajson-resp-2_05.json",
    "anjay-1.2/38-read-3_0_0-omajson-resp-2_05.json",
    "anjay-1.2/40-read-3_0_7-omajson-resp-2_05.json",
    "anjay-1.2/42-read-3-omajson-resp-2_05.json",
    "wakaama-1.1/24-read-3_0-omajson-resp-2_05.json",
    "wakaama-1.1/26-read-3_0_0-omajson-resp-2_05.json",
    "wakaama-1.1/28-read-3_0_7-omajson-resp-2_05.json",
    "wakaama-1.1/30-read-3-omajson-resp-2_05.json",
};

START_TEST(test_lwm2m_oma_json_decode_captures_round_trip)
{
    codec_assert_capture_round_trip(&codec, all_captures[_i], model);
}
END_TEST

static const struct {
    const char *file;
    const char *base;
} exact[] = {
    { "anjay-1.0/36-read-3_0-omajson-resp-2_05.json", "/3/0" },
    { "anjay-1.1/38-read-3_0_0-omajson-resp-2_05.json", "/3/0/0" },
    { "anjay-1.2/40-read-3_0_7-omajson-resp-2_05.json", "/3/0/7" },
    { "anjay-1.2/42-read-3-omajson-resp-2_05.json", "/3" },
};

START_TEST(test_lwm2m_oma_json_encode_anjay_byte_exact)
{
    codec_assert_capture_byte_exact(&codec, exact[_i].file, exact[_i].base, true, model);
}
END_TEST

START_TEST(test_lwm2m_oma_json_decode_opaque_and_times)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_int_eq(decode_text("{\"bn\":\"/0/0/\",\"bt\":100,\"e\":["
                                 "{\"n\":\"3\",\"sv\":\"AQID\"},"
                                 "{\"n\":\"0\",\"sv\":\"coap://x\",\"t\":5},"
                                 "{\"n\":\"1\",\"bv\":true}]}",
                                 model, &d, &err),
                     LS_OK);
    const struct lwm2m_value *v = must_find(&d, "/0/0/3");
    ck_assert_int_eq(v->type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(v->v.bytes.len, 3);
    ck_assert_uint_eq(v->v.bytes.ptr[2], 3);
    ck_assert(v->has_time && v->time_s == 100);
    assert_string(&d, "/0/0/0", "coap://x");
    ck_assert(must_find(&d, "/0/0/0")->time_s == 105);
    ck_assert(must_find(&d, "/0/0/1")->v.b);
    lwm2m_data_free(&d);

    /* Without a model the same "sv" is just a string. */
    ck_assert_int_eq(decode_text("{\"e\":[{\"n\":\"/0/0/3\",\"sv\":\"AQID\"}]}", NULL, &d,
                                 NULL),
                     LS_OK);
    assert_string(&d, "/0/0/3", "AQID");
    lwm2m_data_free(&d);
}
END_TEST

static const char *const garbage[] = {
    "",
    "{",
    "[]",
    "{}",
    "{\"e\":{}}",
    "{\"bn\":1,\"e\":[]}",
    "{\"bt\":\"x\",\"e\":[]}",
    "{\"e\":[1]}",
    "{\"e\":[{\"n\":1,\"v\":1}]}",
    "{\"e\":[{\"n\":\"/3/0/0\",\"sv\":1}]}",
    "{\"e\":[{\"n\":\"/3/0/0\",\"bv\":\"true\"}]}",
    "{\"e\":[{\"n\":\"/3/0/0\",\"v\":\"1\"}]}",
    "{\"e\":[{\"n\":\"/3/0/0\",\"t\":\"1\",\"sv\":\"x\"}]}",
    "{\"e\":[{\"n\":\"/3/0/22/0\",\"ov\":\"x\"}]}",
    "{\"e\":[{\"n\":\"/3/0/0\",\"sv\":\"x\",\"v\":1}]}",
    "{\"e\":[{\"n\":\"/3/0/zero\",\"sv\":\"x\"}]}",
    "{\"e\":[{\"n\":\"/3/0/0' OR '1'='1\",\"sv\":\"x\"}]}",
    "{\"e\":[{\"n\":\"/3\",\"v\":1}]}",
    "{\"e\":[{\"sv\":\"x\"}]}",
    "{\"e\":[{\"n\":\"/0/0/3\",\"sv\":\"not base64!\"}]}",   /* opaque per model */
    "{\"e\":[{\"n\":\"/1/0/1\",\"v\":1.5}]}",                 /* integer per model */
    "{\"e\":[{\"n\":\"/3/0/0\",\"sv\":\"x\"}]} trailing",
};

START_TEST(test_lwm2m_oma_json_decode_garbage)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_msg(decode_text(garbage[_i], model, &d, &err) == LS_EPROTO, "accepted %s",
                  garbage[_i]);
    ck_assert_str_ne(err.msg, "");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_oma_json_encode_all_types_round_trip)
{
    struct lwm2m_data a;
    build_all_types(&a);
    a.values[3].v.u = 9007199254740993u; /* jansson stops at int64 */
    codec_assert_round_trip(&codec, &a, NULL, model);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_oma_json_encode_known_text)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    build_all_types(&a);
    ck_assert_int_eq(lwm2m_oma_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    const char *want =
        "{\"e\":[{\"n\":\"/0/0/3\",\"sv\":\"AAH//n+APg==\"},"
        "{\"n\":\"/1/0/6\",\"bv\":true},"
        "{\"n\":\"/1/0/10\",\"ov\":\"11:65535\"},"
        "{\"n\":\"/1/0/11\",\"v\":18446744073709551615},"
        "{\"n\":\"/3/0/0\",\"sv\":\"Z\xc3\xbcrich \\\"q\\\" \\\\ \\u000a\\u0001\"},"
        "{\"n\":\"/3/0/7/0\",\"v\":-9223372036854775808},"
        "{\"n\":\"/3/0/7/1\",\"v\":3800},"
        "{\"n\":\"/3/0/13\",\"v\":1795472845},"
        "{\"n\":\"/6/0/0\",\"v\":0.1},"
        "{\"n\":\"/6/0/1\",\"v\":-1.25e-300}]}";
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0, "got %.*s",
                  (int)out.len, out.data);

    /* Every value timed: bt at the root, t relative. */
    for (size_t k = 0; k < a.count; k++) {
        a.values[k].has_time = true;
        a.values[k].time_s = 1000 + (double)k;
    }
    struct lwm2m_data b;
    lwm2m_data_init(&b);
    out.len = 0;
    ck_assert_int_eq(lwm2m_oma_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    ck_assert(out.len > 10 && memcmp(out.data, "{\"bt\":1000,\"e\":[", 16) == 0);
    a.values[3].v.u = 1;
    out.len = 0;
    ck_assert_int_eq(lwm2m_oma_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_oma_json_decode(out.data, out.len, NULL, model, &b, NULL), LS_OK);
    assert_data_equal(&a, &b);
    lwm2m_data_free(&b);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
}
END_TEST

static Suite *oma_json_suite(void)
{
    Suite *s = suite_create("lwm2m_oma_json");
    TCase *tc = tcase_create("lwm2m_oma_json_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_oma_json_decode_anjay_read);
    tcase_add_test(tc, test_lwm2m_oma_json_decode_wakaama_read);
    tcase_add_loop_test(tc, test_lwm2m_oma_json_decode_captures_round_trip, 0,
                        sizeof all_captures / sizeof all_captures[0]);
    tcase_add_test(tc, test_lwm2m_oma_json_decode_opaque_and_times);
    tcase_add_loop_test(tc, test_lwm2m_oma_json_decode_garbage, 0,
                        sizeof garbage / sizeof garbage[0]);
    suite_add_tcase(s, tc);

    tc = tcase_create("lwm2m_oma_json_encode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_oma_json_encode_anjay_byte_exact, 0,
                        sizeof exact / sizeof exact[0]);
    tcase_add_test(tc, test_lwm2m_oma_json_encode_all_types_round_trip);
    tcase_add_test(tc, test_lwm2m_oma_json_encode_known_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(oma_json_suite());
}
