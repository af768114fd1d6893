/*
 * tests/unit/lwm2m/test_api_json.c -- lwm2m/api_json.c
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"
#include "capture_util.h"

SUITE_MODEL_FIXTURE

static void decode_ok(const char *json, struct lwm2m_data *d)
{
    struct ls_error err = { 0 };
    enum ls_rc rc = lwm2m_api_json_decode(json, strlen(json), model, d, &err);
    ck_assert_msg(rc == LS_OK, "%s: %s", json, err.msg);
}

/* ---- round trip of every type -------------------------------------------- */

static const struct {
    const char *json;   /* canonical: encode(decode(json)) == json */
} canonical[] = {
    { "{\"values\":[]}" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"Open Mobile\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"a\\u0000b \\\"q\\\" \xc3\xa9\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"integer\",\"value\":-9223372036854775808}]}" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"integer\",\"value\":9223372036854775807}]}" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":0}]}" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":9223372036854775807}]}" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":\"18446744073709551615\"}]}" },
    { "{\"values\":[{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":21.5}]}" },
    { "{\"values\":[{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":0.10000000000000001}]}" },
    { "{\"values\":[{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":\"NaN\"}]}" },
    { "{\"values\":[{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":\"-Infinity\"}]}" },
    { "{\"values\":[{\"path\":\"/1/0/6\",\"type\":\"boolean\",\"value\":true}]}" },
    { "{\"values\":[{\"path\":\"/1/0/6\",\"type\":\"boolean\",\"value\":false}]}" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"\"}]}" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AA==\"}]}" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AAE=\"}]}" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AAEC/+8=\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/13\",\"type\":\"time\",\"value\":1700000000}]}" },
    { "{\"values\":[{\"path\":\"/3/0/13\",\"type\":\"time\",\"value\":-1}]}" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\"3:0\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/22/1\",\"type\":\"objlnk\",\"value\":\"65535:65535\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/22/1\",\"type\":\"corelnk\",\"value\":\"</3/0>;ver=1.1\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0/4\",\"type\":\"none\"}]}" },
    { "{\"values\":[{\"path\":\"/3/0\",\"type\":\"none\"}]}" },
    { "{\"values\":[{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":21.5,\"time\":1700000000.25}]}" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"x\"},"
      "{\"path\":\"/3/0/6/0\",\"type\":\"integer\",\"value\":1},"
      "{\"path\":\"/3/0/6/1\",\"type\":\"integer\",\"value\":5}]}" },
};

START_TEST(test_lwm2m_api_json_decode_round_trip)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    decode_ok(canonical[_i].json, &d);
    char *back = lwm2m_api_json_encode(&d, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    ck_assert_str_eq(back, canonical[_i].json);
    free(back);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_api_json_decode_values)
{
    struct lwm2m_data d;
    decode_ok("{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AAEC/+8=\"},"
              "{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\"3:7\"},"
              "{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"a\\u0000b\"},"
              "{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":\"18446744073709551615\"},"
              "{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":\"Infinity\"},"
              "{\"path\":\"/3303/0/5700\",\"type\":\"float\",\"value\":3},"
              "{\"path\":\"/3/0/4\",\"type\":\"none\",\"value\":null,\"time\":12}]}", &d);
    ck_assert_uint_eq(d.count, 7);
    static const uint8_t raw[] = { 0, 1, 2, 0xff, 0xef };
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(d.values[0].v.bytes.len, sizeof raw);
    ck_assert(memcmp(d.values[0].v.bytes.ptr, raw, sizeof raw) == 0);
    ck_assert_uint_eq(d.values[1].v.objlnk.obj, 3);
    ck_assert_uint_eq(d.values[1].v.objlnk.inst, 7);
    ck_assert_uint_eq(d.values[1].path.depth, 4);
    ck_assert_uint_eq(d.values[2].v.bytes.len, 3);
    ck_assert_uint_eq(d.values[3].v.u, UINT64_MAX);
    ck_assert(isinf(d.values[4].v.f) && d.values[4].v.f > 0);
    ck_assert(d.values[5].v.f == 3.0);
    ck_assert_int_eq(d.values[6].type, LWM2M_TYPE_NONE);
    ck_assert(d.values[6].has_time);
    ck_assert(d.values[6].time_s == 12.0);
    ck_assert(!d.values[0].has_time);
    lwm2m_data_free(&d);
}
END_TEST

/* Without "type", the model types the value. */
START_TEST(test_lwm2m_api_json_decode_model_types)
{
    struct lwm2m_data d;
    decode_ok("{\"values\":[{\"path\":\"/3/0/0\",\"value\":\"acme\"},"
              "{\"path\":\"/3/0/9\",\"value\":80},"
              "{\"path\":\"/3/0/13\",\"value\":1700000000},"
              "{\"path\":\"/3303/0/5700\",\"value\":21},"
              "{\"path\":\"/1/0/6\",\"value\":true},"
              "{\"path\":\"/3/0/6/0\",\"value\":1},"
              "{\"path\":\"/3/0/4\"},"
              "{\"path\":\"/0/0/3\",\"value\":\"aWQ=\"}]}", &d);
    ck_assert_uint_eq(d.count, 8);
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_STRING);
    ck_assert_int_eq(d.values[1].type, LWM2M_TYPE_INTEGER);
    ck_assert_int_eq(d.values[1].v.i, 80);
    ck_assert_int_eq(d.values[2].type, LWM2M_TYPE_TIME);
    ck_assert_int_eq(d.values[3].type, LWM2M_TYPE_FLOAT);
    ck_assert(d.values[3].v.f == 21.0);
    ck_assert_int_eq(d.values[4].type, LWM2M_TYPE_BOOLEAN);
    ck_assert_int_eq(d.values[5].type, LWM2M_TYPE_INTEGER);
    ck_assert_int_eq(d.values[6].type, LWM2M_TYPE_NONE);
    ck_assert_int_eq(d.values[7].type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(d.values[7].v.bytes.len, 2);
    lwm2m_data_free(&d);
}
END_TEST

/* ---- errors name the path ---------------------------------------------- */

static const struct {
    const char *json;
    const char *msg;     /* err.msg must start with this */
} bad[] = {
    { "{\"values\":[{\"path\":\"/3/0/9\",\"value\":\"x\"}]}", "/3/0/9: expected integer, got string" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"integer\",\"value\":1.5}]}",
      "/3/0/9: expected integer, got real" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"integer\",\"value\":9223372036854775808}]}",
      "/3/0/9: integer out of range" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"ok\"},"
      "{\"path\":\"/3/0/13\",\"type\":\"time\",\"value\":-99999999999999999999}]}",
      "/3/0/13: time out of range" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":-1}]}",
      "/3/0/9: unsigned out of range" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":18446744073709551615}]}",
      "/3/0/9: unsigned out of range" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":\"18446744073709551616\"}]}",
      "/3/0/9: unsigned out of range" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":\"-1\"}]}",
      "/3/0/9: unsigned out of range" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"unsigned\",\"value\":true}]}",
      "/3/0/9: expected unsigned, got boolean" },
    { "{\"values\":[{\"path\":\"/3/0/9\",\"type\":\"float\",\"value\":\"1.5\"}]}",
      "/3/0/9: expected float, got string" },
    { "{\"values\":[{\"path\":\"/1/0/6\",\"value\":1}]}", "/1/0/6: expected boolean, got integer" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AAE\"}]}",
      "/0/0/5: opaque value is not standard base64" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AA=A\"}]}",
      "/0/0/5: opaque value is not standard base64" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"A===\"}]}",
      "/0/0/5: opaque value is not standard base64" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AA-_\"}]}",
      "/0/0/5: opaque value is not standard base64" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":\"AA==AAAA\"}]}",
      "/0/0/5: opaque value is not standard base64" },
    { "{\"values\":[{\"path\":\"/0/0/5\",\"type\":\"opaque\",\"value\":5}]}",
      "/0/0/5: expected opaque, got integer" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\"3\"}]}",
      "/3/0/22/0: objlnk must" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\"3:65536\"}]}",
      "/3/0/22/0: objlnk must" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\"-3:0\"}]}",
      "/3/0/22/0: objlnk must" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\"3:0:1\"}]}",
      "/3/0/22/0: objlnk must" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":\":\"}]}",
      "/3/0/22/0: objlnk must" },
    { "{\"values\":[{\"path\":\"/3/0/22/0\",\"type\":\"objlnk\",\"value\":[3,0]}]}",
      "/3/0/22/0: expected objlnk, got array" },
    { "{\"values\":[{\"path\":\"/3/0\",\"type\":\"string\",\"value\":\"x\"}]}",
      "/3/0: not a resource path" },
    { "{\"values\":[{\"path\":\"/3\",\"type\":\"none\"}]}", "/3: not a resource path" },
    { "{\"values\":[{\"path\":\"/\",\"type\":\"none\"}]}", "/: not a resource path" },
    { "{\"values\":[{\"path\":\"/3/0\",\"value\":\"x\"}]}", "/3/0: no \"type\"" },
    { "{\"values\":[{\"path\":\"/3/0/99\",\"value\":\"x\"}]}", "/3/0/99: no \"type\"" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"text\",\"value\":\"x\"}]}",
      "/3/0/0: unknown type" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":7,\"value\":\"x\"}]}", "/3/0/0: unknown type" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\"}]}",
      "/3/0/0: missing value of type string" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":null}]}",
      "/3/0/0: missing value" },
    { "{\"values\":[{\"path\":\"/3/0/4\",\"value\":1}]}", "/3/0/4: expected no value, got integer" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"x\",\"time\":\"now\"}]}",
      "/3/0/0: expected a number for \"time\", got string" },
    { "{\"values\":[{\"path\":\"/3/0/0/1/2\",\"type\":\"string\",\"value\":\"x\"}]}",
      "values[0]: bad path" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"x\"},"
      "{\"path\":\"/65535/0/0\",\"type\":\"string\",\"value\":\"x\"}]}", "values[1]: bad path" },
    { "{\"values\":[{\"type\":\"string\",\"value\":\"x\"}]}", "values[0]: expected an object" },
    { "{\"values\":[{\"path\":3}]}", "values[0]: expected an object" },
    { "{\"values\":[1]}", "values[0]: expected an object" },
    { "{\"values\":{}}", "expected {\"values\"" },
    { "[]", "expected {\"values\"" },
    { "{}", "expected {\"values\"" },
    { "", "bad JSON at line" },
    { "{\"values\":[", "bad JSON at line 1" },
    { "{\"values\":[]} x", "bad JSON" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"x\",\"n\":1e999}]}",
      "bad JSON" },
    { "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":\"x\",\"big\":99999999999999999999}]}",
      "bad JSON" },
};

START_TEST(test_lwm2m_api_json_decode_errors)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    enum ls_rc rc = lwm2m_api_json_decode(bad[_i].json, strlen(bad[_i].json),
                                          model, &d, &err);
    ck_assert_msg(rc == LS_EINVAL, "case %d: rc %d", _i, rc);
    ck_assert_msg(strncmp(err.msg, bad[_i].msg, strlen(bad[_i].msg)) == 0,
                  "case %d: \"%s\" does not start with \"%s\"", _i, err.msg, bad[_i].msg);
    ck_assert_uint_eq(d.count, 0);
    ck_assert_ptr_null(d.values);
}
END_TEST

START_TEST(test_lwm2m_api_json_decode_limits)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_api_json_decode("x", LWM2M_API_JSON_MAX_LEN + 1, model, &d, &err),
                     LS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds"));
    ls_error_clear(&err);
    /* nesting deeper than jansson's limit */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    ck_assert_int_eq(lwm2m_api_json_decode(deep, depth * 2, model, &d, &err), LS_EINVAL);
    free(deep);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_api_json_decode(NULL, 0, model, &d, &err), LS_EINVAL);
    ls_error_clear(&err);
    /* no model: a value without "type" cannot be typed */
    const char *j = "{\"values\":[{\"path\":\"/3/0/0\",\"value\":\"x\"}]}";
    ck_assert_int_eq(lwm2m_api_json_decode(j, strlen(j), NULL, &d, &err), LS_EINVAL);
    ck_assert_str_eq(err.msg, "/3/0/0: no \"type\" and the model does not know this resource");
}
END_TEST

/* ---- encoding -------------------------------------------------------------- */

START_TEST(test_lwm2m_api_json_encode_values)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    struct lwm2m_path p = lwm2m_path_resource(3, 0, 0);
    /* invalid UTF-8 from a device: replaced, never a failure */
    ck_assert_ptr_nonnull(lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_STRING, "a\xff" "b\xc3", 4, &err));
    p = lwm2m_path_resource(3303, 0, 5700);
    struct lwm2m_value *v = lwm2m_data_append(&d, &p, LWM2M_TYPE_FLOAT, &err);
    v->v.f = 1.5;
    v->has_time = true;
    v->time_s = NAN;   /* no JSON form: left out */
    p = lwm2m_path_resource(3, 0, 9);
    v = lwm2m_data_append(&d, &p, LWM2M_TYPE_UNSIGNED, &err);
    v->v.u = 9223372036854775808u;
    char *s = lwm2m_api_json_encode(&d, &err);
    ck_assert_str_eq(s, "{\"values\":[{\"path\":\"/3/0/0\",\"type\":\"string\",\"value\":"
                        "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"},{\"path\":\"/3303/0/5700\","
                        "\"type\":\"float\",\"value\":1.5},{\"path\":\"/3/0/9\",\"type\":"
                        "\"unsigned\",\"value\":\"9223372036854775808\"}]}");
    free(s);
    /* an unknown type is refused, naming the path */
    d.values[0].type = (enum lwm2m_type)42;
    ck_assert_ptr_null(lwm2m_api_json_encode(&d, &err));
    ck_assert_str_eq(err.msg, "/3/0/0: unknown value type 42");
    lwm2m_data_free(&d);
    s = lwm2m_api_json_encode(NULL, NULL);
    ck_assert_str_eq(s, "{\"values\":[]}");
    free(s);
}
END_TEST

/* Every byte value survives opaque -> base64 -> opaque, all padding lengths. */
START_TEST(test_lwm2m_api_json_encode_opaque_all_lengths)
{
    uint8_t raw[256];
    for (int i = 0; i < 256; i++)
        raw[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= sizeof raw; n += (n < 8 ? 1 : 37)) {
        struct lwm2m_data d, back;
        struct ls_error err = { 0 };
        lwm2m_data_init(&d);
        struct lwm2m_path p = lwm2m_path_resource(0, 0, 5);
        ck_assert_ptr_nonnull(lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_OPAQUE, raw, n, &err));
        char *s = lwm2m_api_json_encode(&d, &err);
        ck_assert_int_eq(lwm2m_api_json_decode(s, strlen(s), model, &back, &err), LS_OK);
        ck_assert_uint_eq(back.values[0].v.bytes.len, n);
        ck_assert(n == 0 || memcmp(back.values[0].v.bytes.ptr, raw, n) == 0);
        free(s);
        lwm2m_data_free(&d);
        lwm2m_data_free(&back);
    }
}
END_TEST

static Suite *api_json_suite(void)
{
    Suite *s = suite_create("lwm2m_api_json");
    TCase *tc = tcase_create("lwm2m_api_json_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_api_json_decode_round_trip, 0,
                        sizeof canonical / sizeof canonical[0]);
    tcase_add_test(tc, test_lwm2m_api_json_decode_values);
    tcase_add_test(tc, test_lwm2m_api_json_decode_model_types);
    tcase_add_loop_test(tc, test_lwm2m_api_json_decode_errors, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_lwm2m_api_json_decode_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_api_json_encode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_api_json_encode_values);
    tcase_add_test(tc, test_lwm2m_api_json_encode_opaque_all_lengths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(api_json_suite());
}
