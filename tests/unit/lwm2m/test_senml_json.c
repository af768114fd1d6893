/*
 * tests/unit/lwm2m/test_senml_json.c -- lwm2m/senml_json.c
 *
 * Known answers from real clients (shared/captures: Anjay 1.0-1.2 and
 * Wakaama 1.1 answers, Sends and server writes), byte-exact re-encoding
 * where our layout matches the client's, round trips of every type, and
 * a garbage table.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "lwm2m/senml_json.h"
#include "capture_util.h"

SUITE_MODEL_FIXTURE

static const struct test_codec codec = { lwm2m_senml_json_decode, lwm2m_senml_json_encode };

static enum ls_rc decode_text(const char *text, const struct lwm2m_model *m,
                              struct lwm2m_data *d, struct ls_error *err)
{
    return codec_decode_text(&codec, text, m, d, err);
}

/* ---- captures ---- */

START_TEST(test_lwm2m_senml_json_decode_anjay_read_untyped)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.1/12-read-3_0-senmljson-resp-2_05.json", &len);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, NULL, &d, &err), LS_OK);
    ck_assert_uint_eq(d.count, 20);
    assert_string(&d, "/3/0/0", "anjay");
    assert_string(&d, "/3/0/1", "demo-client");
    assert_string(&d, "/3/0/15", "Europe/Warsaw");
    assert_string(&d, "/3/0/17", "");
    assert_float(&d, "/3/0/7/0", 32493);   /* "v" is FLOAT without a model */
    assert_float(&d, "/3/0/13", 1795472845);
    assert_objlnk(&d, "/3/0/22/0", 33606, 0);
    ck_assert(!must_find(&d, "/3/0/0")->has_time);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_anjay_read_typed)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.2/18-read-3-senmljson-resp-2_05.json", &len);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, model, &d, &err), LS_OK);
    ck_assert_uint_eq(d.count, 20);
    assert_string(&d, "/3/0/2", "cap12");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 31823);
    assert_int(&d, "/3/0/8/0", LWM2M_TYPE_INTEGER, 11);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472828);
    assert_objlnk(&d, "/3/0/22/0", 33606, 0);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_wakaama_relative_names)
{
    size_t len;
    uint8_t *p = capture_payload("wakaama-1.1/12-read-3_0-senmljson-resp-2_05.json", &len);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, model, &d, &err), LS_OK);
    ck_assert_uint_eq(d.count, 17);
    assert_string(&d, "/3/0/0", "Open Mobile Alliance");
    assert_string(&d, "/3/0/1", "Lightweight M2M Client");
    assert_int(&d, "/3/0/6/0", LWM2M_TYPE_INTEGER, 1);
    assert_int(&d, "/3/0/6/1", LWM2M_TYPE_INTEGER, 5);
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    assert_int(&d, "/3/0/9", LWM2M_TYPE_INTEGER, 100);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 3162964021);
    assert_string(&d, "/3/0/16", "U");
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_multi_instance)
{
    size_t len;
    uint8_t *p = capture_payload("wakaama-1.1/16-read-3_0_7-senmljson-resp-2_05.json", &len);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 2);
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_send_and_writes)
{
    size_t len;
    struct lwm2m_data d;
    uint8_t *p = capture_payload("wakaama-1.1/47-send-req.json", &len);
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 1);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 3162964026);
    lwm2m_data_free(&d);
    free(p);

    p = capture_payload("anjay-1.0/63-write-1_1_1-senmljson-req.json", &len);
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 1);
    assert_int(&d, "/1/1/1", LWM2M_TYPE_INTEGER, 302);
    lwm2m_data_free(&d);
    free(p);

    p = capture_payload("wakaama-1.1/65-bs-write-0_1-senmljson-req.json", &len);
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_senml_json_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 4);
    assert_string(&d, "/0/1/0", "coap://127.0.0.1:15783");
    ck_assert_int_eq(must_find(&d, "/0/1/1")->type, LWM2M_TYPE_BOOLEAN);
    ck_assert(!must_find(&d, "/0/1/1")->v.b);
    assert_int(&d, "/0/1/2", LWM2M_TYPE_INTEGER, 3);
    assert_int(&d, "/0/1/10", LWM2M_TYPE_INTEGER, 1);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

/* Every SenML JSON payload in the captures decodes, and survives
 * encode -> decode unchanged. */
static const char *const all_captures[] = {
    "anjay-1.0/12-read-3_0-senmljson-resp-2_05.json",
    "anjay-1.0/14-read-3_0_0-senmljson-resp-2_05.json",
    "anjay-1.0/16-read-3_0_7-senmljson-resp-2_05.json",
    "anjay-1.0/18-read-3-senmljson-resp-2_05.json",
    "anjay-1.0/63-write-1_1_1-senmljson-req.json",
    "anjay-1.1/12-read-3_0-senmljson-resp-2_05.json",
    "anjay-1.1/14-read-3_0_0-senmljson-resp-2_05.json",
    "anjay-1.1/16-read-3_0_7-senmljson-resp-2_05.json",
    "anjay-1.1/18-read-3-senmljson-resp-2_05.json",
    "anjay-1.1/65-write-1_1_1-senmljson-req.json",
    "anjay-1.2/12-read-3_0-senmljson-resp-2_05.json",
    "anjay-1.2/14-read-3_0_0-senmljson-resp-2_05.json",
    "anjay-1.2/16-read-3_0_7-senmljson-resp-2_05.json",
    "anjay-1.2/18-read-3-senmljson-resp-2_05.json",
    "anjay-1.2/65-write-1_1_1-senmljson-req.json",
    "wakaama-1.1/12-read-3_0-senmljson-resp-2_05.json",
    "wakaama-1.1/14-read-3_0_0-senmljson-resp-2_05.json",
    "wakaama-1.1/16-read-3_0_7-senmljson-resp-2_05.json",
    "wakaama-1.1/18-read-3-senmljson-resp-2_05.json",
    "wakaama-1.1/47-send-req.json",
    "wakaama-1.1/51-write-1_0_1-senmljson-req.json",
    "wakaama-1.1/65-bs-write-0_1-senmljson-req.json",
    "wakaama-1.1/67-bs-write-1_1-senmljson-req.json",
};

START_TEST(test_lwm2m_senml_json_decode_captures_round_trip)
{
    codec_assert_capture_round_trip(&codec, all_captures[_i], model);
}
END_TEST

/* Anjay's layout is ours: bn = request path, names relative with '/'. */
static const struct {
    const char *file;
    const char *base;
} exact[] = {
    { "anjay-1.0/12-read-3_0-senmljson-resp-2_05.json", "/3/0" },
    { "anjay-1.1/14-read-3_0_0-senmljson-resp-2_05.json", "/3/0/0" },
    { "anjay-1.1/16-read-3_0_7-senmljson-resp-2_05.json", "/3/0/7" },
    { "anjay-1.2/18-read-3-senmljson-resp-2_05.json", "/3" },
};

START_TEST(test_lwm2m_senml_json_encode_anjay_byte_exact)
{
    codec_assert_capture_byte_exact(&codec, exact[_i].file, exact[_i].base, true, model);
}
END_TEST

/* ---- hand-made vectors ---- */

START_TEST(test_lwm2m_senml_json_decode_times)
{
    struct lwm2m_data d;
    ck_assert_int_eq(decode_text("[{\"bn\":\"/3/0/\",\"bt\":1700000000,\"n\":\"13\",\"v\":1},"
                                 "{\"n\":\"7/0\",\"t\":5.5,\"v\":2},"
                                 "{\"bt\":10,\"n\":\"9\",\"t\":-1,\"v\":3}]",
                                 NULL, &d, NULL),
                     LS_OK);
    ck_assert_uint_eq(d.count, 3);
    ck_assert(d.values[0].has_time);
    ck_assert(d.values[0].time_s == 1700000000.0);
    ck_assert(d.values[1].time_s == 1700000005.5);
    ck_assert(d.values[2].time_s == 9.0); /* relative: the caller resolves */
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_name_only_records)
{
    struct lwm2m_data d;
    ck_assert_int_eq(decode_text("[{\"n\":\"/\"},{\"n\":\"/3/0/0\"},{\"n\":\"/1\"},"
                                 "{\"bn\":\"/5/0/\"}]", model, &d, NULL),
                     LS_OK);
    ck_assert_uint_eq(d.count, 4);
    ck_assert_int_eq(must_find(&d, "/3/0/0")->type, LWM2M_TYPE_NONE);
    ck_assert_int_eq(must_find(&d, "/1")->type, LWM2M_TYPE_NONE);
    ck_assert_int_eq(must_find(&d, "/5/0")->type, LWM2M_TYPE_NONE);
    ck_assert_uint_eq(d.values[0].path.depth, 0);
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_NONE);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_opaque_both_alphabets)
{
    struct lwm2m_data d;
    static const uint8_t want[] = { 1, 2, 3, 0xff, 0xef };
    ck_assert_int_eq(decode_text("[{\"n\":\"/0/0/3\",\"vd\":\"AQID_-8\"},"
                                 "{\"n\":\"/0/0/4\",\"vd\":\"AQID/+8=\"},"
                                 "{\"n\":\"/0/0/5\",\"vd\":\"\"}]", model, &d, NULL),
                     LS_OK);
    for (unsigned k = 0; k < 2; k++) {
        ck_assert_int_eq(d.values[k].type, LWM2M_TYPE_OPAQUE);
        ck_assert_uint_eq(d.values[k].v.bytes.len, sizeof want);
        ck_assert(memcmp(d.values[k].v.bytes.ptr, want, sizeof want) == 0);
    }
    ck_assert_uint_eq(d.values[2].v.bytes.len, 0);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_model_conversions)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    /* 300.0 is an exact integer; a core link comes as "vs". */
    ck_assert_int_eq(decode_text("[{\"n\":\"/1/0/1\",\"v\":300.0},"
                                 "{\"n\":\"/1/0/11\",\"v\":255}]", model, &d, &err),
                     LS_OK);
    assert_int(&d, "/1/0/1", LWM2M_TYPE_INTEGER, 300);
    ck_assert_int_eq(must_find(&d, "/1/0/11")->type, LWM2M_TYPE_UNSIGNED);
    lwm2m_data_free(&d);

    ck_assert_int_eq(decode_text("[{\"n\":\"/1/0/1\",\"v\":300.5}]", model, &d, &err),
                     LS_EPROTO);
    ck_assert_msg(strstr(err.msg, "/1/0/1") != NULL, "message: %s", err.msg);
    lwm2m_data_free(&d);
    ls_error_clear(&err);
    ck_assert_int_eq(decode_text("[{\"n\":\"/1/0/11\",\"v\":-1}]", model, &d, &err),
                     LS_EPROTO);
    lwm2m_data_free(&d);
    ls_error_clear(&err);
    ck_assert_int_eq(decode_text("[{\"n\":\"/3/0/0\",\"v\":1}]", model, &d, &err),
                     LS_EPROTO);
    ck_assert_msg(strstr(err.msg, "/3/0/0") != NULL, "message: %s", err.msg);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_unknown_labels_ignored)
{
    struct lwm2m_data d;
    ck_assert_int_eq(decode_text("[{\"bver\":10,\"n\":\"/3/0/0\",\"vs\":\"x\",\"u\":\"V\","
                                 "\"foo\":{\"a\":[1,2,{\"b\":null}]}}]", model, &d, NULL),
                     LS_OK);
    assert_string(&d, "/3/0/0", "x");
    lwm2m_data_free(&d);
}
END_TEST

static const char *const garbage[] = {
    "",
    "[",
    "[{\"n\":\"/3/0/0\",\"v\":1",
    "{}",
    "\"x\"",
    "[1]",
    "[[]]",
    "[{\"n\":3,\"v\":1}]",                        /* n as a number */
    "[{\"bn\":true,\"n\":\"0\",\"v\":1}]",
    "[{\"n\":\"/3/0/0\",\"v\":\"1\"}]",
    "[{\"n\":\"/3/0/0\",\"vb\":1}]",
    "[{\"n\":\"/3/0/0\",\"vs\":1}]",
    "[{\"n\":\"/3/0/0\",\"t\":\"now\",\"v\":1}]",
    "[{\"n\":\"/3/0/0\",\"vlo\":\"3-0\"}]",
    "[{\"n\":\"/3/0/0\",\"vlo\":\"70000:0\"}]",
    "[{\"n\":\"/3/0/0\",\"vd\":\"!!!\"}]",
    "[{\"n\":\"/3/0/0\",\"vd\":\"A\"}]",
    "[{\"n\":\"/3/0/0\",\"v\":1,\"vs\":\"x\"}]",    /* two values */
    "[{\"n\":\"/3/0/x\",\"v\":1}]",                /* names that are not paths */
    "[{\"n\":\"3/0/0\",\"v\":1}]",
    "[{\"n\":\"/3/0/0/0/0\",\"v\":1}]",
    "[{\"n\":\"/65535/0/0\",\"v\":1}]",
    "[{\"bn\":\"/3/0/\",\"n\":\"/0\",\"v\":1}]",
    "[{\"n\":\"/3/0/0'; DROP TABLE registrations;--\",\"vs\":\"x\"}]",
    "[{\"n\":\"/3/0/0\\u0000\",\"vs\":\"x\"}]",
    "[{\"n\":\"/3\",\"v\":1}]",                    /* value above a resource */
    "[{\"v\":1}]",                                /* no name, no base */
    "[{\"n\":\"/3/0/0\",\"vs\":\"x\",\"foo_\":1}]",  /* must-understand label */
    "[{\"n\":\"/3/0/0\",\"n\":\"/3/0/1\",\"vs\":\"x\"}]",
    "[{\"n\":\"/3/0/0\",\"v\":1}] x",
    "[{\"n\":\"/1/0/1\",\"v\":99999999999999999999999}]",
    "[{\"n\":\"/3/0/0\",\"vs\":\"\\xff\"}]",
};

START_TEST(test_lwm2m_senml_json_decode_garbage)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    enum ls_rc rc = decode_text(garbage[_i], model, &d, &err);
    ck_assert_msg(rc == LS_EPROTO, "accepted %s", garbage[_i]);
    ck_assert_str_ne(err.msg, "");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_senml_json_decode_deep_and_long)
{
    /* 100000 nested arrays: jansson's depth limit must refuse it. */
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    ck_assert_ptr_nonnull(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    struct lwm2m_data d;
    ck_assert_int_eq(decode_text(deep, model, &d, NULL), LS_EPROTO);
    lwm2m_data_free(&d);
    free(deep);

    /* A 10 kB name. */
    size_t len = 10000;
    char *big = malloc(len + 64);
    ck_assert_ptr_nonnull(big);
    strcpy(big, "[{\"n\":\"");
    memset(big + 7, '1', len);
    strcpy(big + 7 + len, "\",\"v\":1}]");
    ck_assert_int_eq(decode_text(big, model, &d, NULL), LS_EPROTO);
    lwm2m_data_free(&d);
    strcpy(big, "[{\"bn\":\"");
    memset(big + 8, '/', len);
    strcpy(big + 8 + len, "\",\"v\":1}]");
    ck_assert_int_eq(decode_text(big, model, &d, NULL), LS_EPROTO);
    lwm2m_data_free(&d);
    free(big);
}
END_TEST

/* ---- encoding ---- */

START_TEST(test_lwm2m_senml_json_encode_all_types_round_trip)
{
    struct lwm2m_data a;
    build_all_types(&a);
    /* jansson refuses integers beyond int64 (see senml_json.h); 2^53 + 1
     * still proves integers do not pass through a double. */
    a.values[3].v.u = 9007199254740993u;
    codec_assert_round_trip(&codec, &a, NULL, model);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_senml_json_encode_known_text)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    build_all_types(&a);
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, model, &out, NULL), LS_OK);
    const char *want =
        "[{\"n\":\"/0/0/3\",\"vd\":\"AAH__n-APg\"},"
        "{\"n\":\"/1/0/6\",\"vb\":true},"
        "{\"n\":\"/1/0/10\",\"vlo\":\"11:65535\"},"
        "{\"n\":\"/1/0/11\",\"v\":18446744073709551615},"
        "{\"n\":\"/3/0/0\",\"vs\":\"Z\xc3\xbcrich \\\"q\\\" \\\\ \\u000a\\u0001\"},"
        "{\"n\":\"/3/0/7/0\",\"v\":-9223372036854775808},"
        "{\"n\":\"/3/0/7/1\",\"v\":3800},"
        "{\"n\":\"/3/0/13\",\"v\":1795472845},"
        "{\"n\":\"/6/0/0\",\"v\":0.1},"
        "{\"n\":\"/6/0/1\",\"v\":-1.25e-300}]";
    ck_assert_uint_eq(out.len, strlen(want));
    ck_assert_msg(memcmp(out.data, want, out.len) == 0, "got %.*s", (int)out.len, out.data);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_senml_json_encode_times_and_none)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p = test_path("/3/0/13"), q = test_path("/3/0/9"), r = test_path("/5");
    struct lwm2m_value *v;
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p, LWM2M_TYPE_TIME, NULL));
    v->v.i = 5;
    v->has_time = true;
    v->time_s = 1795472848.5;
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &q, LWM2M_TYPE_INTEGER, NULL));
    v->v.i = 7;
    v->has_time = true;
    v->time_s = 1795472858.5;
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    const char *want = "[{\"bn\":\"/3/0\",\"bt\":1795472848.5,\"n\":\"/13\",\"v\":5},"
                       "{\"n\":\"/9\",\"t\":10,\"v\":7}]";
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
                  "got %.*s", (int)out.len, out.data);
    /* A value without time: absolute t on the timed one, none on the other;
     * a NONE value is a name-only record. */
    a.values[1].has_time = false;
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &r, LWM2M_TYPE_NONE, NULL));
    out.len = 0;
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    want = "[{\"n\":\"/3/0/13\",\"t\":1795472848.5,\"v\":5},{\"n\":\"/3/0/9\",\"v\":7},"
           "{\"n\":\"/5\"}]";
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
                  "got %.*s", (int)out.len, out.data);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_senml_json_encode_refuses_nan_and_bad_utf8)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p = test_path("/6/0/0"), q = test_path("/3/0/0");
    struct lwm2m_value *v;
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p, LWM2M_TYPE_FLOAT, NULL));
    v->v.f = NAN;
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_EINVAL);
    lwm2m_data_free(&a);
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(lwm2m_data_append_bytes(&a, &q, LWM2M_TYPE_STRING, "\xc3(", 2,
                                                  NULL));
    out.len = 0;
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_EINVAL);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
}
END_TEST

/* A Read-Composite request body: full names, no bn, no values. */
START_TEST(test_lwm2m_senml_json_encode_path_list)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p = test_path("/3/0/0"), q = test_path("/3/0/9");
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &p, LWM2M_TYPE_NONE, NULL));
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    const char *want = "[{\"n\":\"/3/0/0\"}]";
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
                  "got %.*s", (int)out.len, out.data);
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &q, LWM2M_TYPE_NONE, NULL));
    out.len = 0;
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    want = "[{\"n\":\"/3/0/0\"},{\"n\":\"/3/0/9\"}]";
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
                  "got %.*s", (int)out.len, out.data);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_senml_json_encode_empty)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    lwm2m_data_init(&a);
    ck_assert_int_eq(lwm2m_senml_json_encode(&a, NULL, NULL, &out, NULL), LS_OK);
    ck_assert_uint_eq(out.len, 2);
    ck_assert(memcmp(out.data, "[]", 2) == 0);
    lwm2m_buf_free(&out);
}
END_TEST

static Suite *senml_json_suite(void)
{
    Suite *s = suite_create("lwm2m_senml_json");
    TCase *tc = tcase_create("lwm2m_senml_json_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_anjay_read_untyped);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_anjay_read_typed);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_wakaama_relative_names);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_multi_instance);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_send_and_writes);
    tcase_add_loop_test(tc, test_lwm2m_senml_json_decode_captures_round_trip, 0,
                        sizeof all_captures / sizeof all_captures[0]);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_times);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_name_only_records);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_opaque_both_alphabets);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_model_conversions);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_unknown_labels_ignored);
    tcase_add_loop_test(tc, test_lwm2m_senml_json_decode_garbage, 0,
                        sizeof garbage / sizeof garbage[0]);
    tcase_add_test(tc, test_lwm2m_senml_json_decode_deep_and_long);
    suite_add_tcase(s, tc);

    tc = tcase_create("lwm2m_senml_json_encode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_senml_json_encode_anjay_byte_exact, 0,
                        sizeof exact / sizeof exact[0]);
    tcase_add_test(tc, test_lwm2m_senml_json_encode_all_types_round_trip);
    tcase_add_test(tc, test_lwm2m_senml_json_encode_known_text);
    tcase_add_test(tc, test_lwm2m_senml_json_encode_times_and_none);
    tcase_add_test(tc, test_lwm2m_senml_json_encode_refuses_nan_and_bad_utf8);
    tcase_add_test(tc, test_lwm2m_senml_json_encode_path_list);
    tcase_add_test(tc, test_lwm2m_senml_json_encode_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(senml_json_suite());
}
