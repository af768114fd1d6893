/*
 * tests/unit/lwm2m/test_lwm2m_cbor.c -- lwm2m/lwm2m_cbor.c
 *
 * Anjay 1.0-1.2 LwM2M CBOR answers (indefinite maps, [3,0] array keys):
 * concrete values and byte-exact re-encoding; the nested-map example
 * {[3,0]: {0: "x", 7: {0: 3800}}}; null and empty maps; tag 1 time; round
 * trips of every type; a garbage table with deep nesting and bad keys.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m_cbor.h"
#include "lwm2m/model.h"
#include "capture_util.h"

SUITE_MODEL_FIXTURE

static const struct test_codec codec = { lwm2m_lwm2m_cbor_decode, lwm2m_lwm2m_cbor_encode };

static enum ls_rc decode_hex(const char *hex, const struct lwm2m_model *m,
                             struct lwm2m_data *d, struct ls_error *err)
{
    return codec_decode_hex(&codec, hex, m, d, err);
}

static void assert_encodes_to(const struct lwm2m_data *d, const char *base_text,
                              const char *hex)
{
    codec_assert_encodes_to(&codec, d, base_text, hex);
}

/* ---- captures ---- */

START_TEST(test_lwm2m_lwm2m_cbor_decode_anjay_read_instance)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.1/28-read-3_0-lwm2mcbor-resp-2_05.json", &len);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(p, len, NULL, model, &d, &err), LS_OK);
    ck_assert_uint_eq(d.count, 20);
    assert_string(&d, "/3/0/0", "anjay");
    assert_string(&d, "/3/0/3", "3.14.0");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 32493);
    assert_int(&d, "/3/0/8/0", LWM2M_TYPE_INTEGER, 10);
    assert_int(&d, "/3/0/11/0", LWM2M_TYPE_INTEGER, 0);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472845);
    assert_string(&d, "/3/0/15", "Europe/Warsaw");
    assert_objlnk(&d, "/3/0/22/0", 33606, 0); /* text "33606:0", typed by the model */
    lwm2m_data_free(&d);

    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(p, len, NULL, NULL, &d, &err), LS_OK);
    assert_string(&d, "/3/0/22/0", "33606:0");
    assert_int(&d, "/3/0/13", LWM2M_TYPE_INTEGER, 1795472845);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_decode_anjay_read_object)
{
    size_t len;
    uint8_t *p = capture_payload("anjay-1.2/34-read-3-lwm2mcbor-resp-2_05.json", &len);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 20);
    assert_string(&d, "/3/0/2", "cap12");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 31655);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472829);
    lwm2m_data_free(&d);
    free(p);

    p = capture_payload("anjay-1.0/30-read-3_0_0-lwm2mcbor-resp-2_05.json", &len);
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(p, len, NULL, model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 1);
    assert_string(&d, "/3/0/0", "anjay");
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

static const struct {
    const char *file;
    const char *base;
} captures[] = {
    { "anjay-1.0/28-read-3_0-lwm2mcbor-resp-2_05.json", "/3/0" },
    { "anjay-1.0/30-read-3_0_0-lwm2mcbor-resp-2_05.json", "/3/0/0" },
    { "anjay-1.0/32-read-3_0_7-lwm2mcbor-resp-2_05.json", "/3/0/7" },
    { "anjay-1.0/34-read-3-lwm2mcbor-resp-2_05.json", "/3" },
    { "anjay-1.1/28-read-3_0-lwm2mcbor-resp-2_05.json", "/3/0" },
    { "anjay-1.1/30-read-3_0_0-lwm2mcbor-resp-2_05.json", "/3/0/0" },
    { "anjay-1.1/32-read-3_0_7-lwm2mcbor-resp-2_05.json", "/3/0/7" },
    { "anjay-1.1/34-read-3-lwm2mcbor-resp-2_05.json", "/3" },
    { "anjay-1.2/28-read-3_0-lwm2mcbor-resp-2_05.json", "/3/0" },
    { "anjay-1.2/30-read-3_0_0-lwm2mcbor-resp-2_05.json", "/3/0/0" },
    { "anjay-1.2/32-read-3_0_7-lwm2mcbor-resp-2_05.json", "/3/0/7" },
    { "anjay-1.2/34-read-3-lwm2mcbor-resp-2_05.json", "/3" },
};

/* Untyped (the model would make /3/0/13 a tag-1 time), our layout is
 * Anjay's byte for byte; typed, it survives a round trip. */
START_TEST(test_lwm2m_lwm2m_cbor_encode_anjay_byte_exact)
{
    codec_assert_capture_byte_exact(&codec, captures[_i].file, captures[_i].base, false,
                                    NULL);
    size_t len;
    uint8_t *p = capture_payload(captures[_i].file, &len);
    struct lwm2m_path base = test_path(captures[_i].base);
    struct lwm2m_data t;
    lwm2m_data_init(&t);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(p, len, NULL, model, &t, NULL), LS_OK);
    codec_assert_round_trip(&codec, &t, &base, model);
    lwm2m_data_free(&t);
    free(p);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_decode_every_truncation)
{
    codec_assert_every_truncation_rejected(&codec, captures[_i].file, model);
}
END_TEST

/* ---- hand-made vectors ---- */

START_TEST(test_lwm2m_lwm2m_cbor_decode_nested_example)
{
    struct lwm2m_data d;
    /* {[3, 0]: {0: "x", 7: {0: 3800}}} with definite maps */
    ck_assert_int_eq(decode_hex("a1 82 03 00 a2 00 61 78 07 a1 00 19 0ed8", model, &d, NULL),
                     LS_OK);
    ck_assert_uint_eq(d.count, 2);
    assert_string(&d, "/3/0/0", "x");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    /* Re-encoded the Anjay way: indefinite maps. */
    assert_encodes_to(&d, "/3/0", "bf 82 03 00 bf 00 61 78 07 bf 00 19 0ed8 ff ff ff");
    /* No base: the common prefix [3, 0] is the first key all the same. */
    assert_encodes_to(&d, NULL, "bf 82 03 00 bf 00 61 78 07 bf 00 19 0ed8 ff ff ff");
    /* Base at the root: one map level per ID. */
    assert_encodes_to(&d, "/", "bf 82 03 00 bf 00 61 78 07 bf 00 19 0ed8 ff ff ff");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_decode_values)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_int_eq(decode_hex("bf 01 bf 00 bf"
                                "  06 f5"                        /* /1/0/6 true */
                                "  01 39 012d"                   /* /1/0/1 -302 */
                                "  0a 63 333a30 ff"              /* /1/0/10 "3:0" */
                                "  ff"
                                " 9f 03 00 ff bf"                /* indefinite array key */
                                "  0d c1 1a 6553f100"            /* /3/0/13 tag 1 */
                                "  05 f6"                        /* /3/0/5 null */
                                "  ff"
                                " 83 00 00 03 42 01ff"           /* /0/0/3 h'01ff' */
                                " 06 a1 01 a0"                   /* /6/1 {} */
                                " 83 06 00 00 fa 3fc00000"       /* /6/0/0 1.5 */
                                " ff",
                                model, &d, &err),
                     LS_OK);
    ck_assert_uint_eq(d.count, 8);
    ck_assert(must_find(&d, "/1/0/6")->v.b);
    assert_int(&d, "/1/0/1", LWM2M_TYPE_INTEGER, -302);
    assert_objlnk(&d, "/1/0/10", 3, 0);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1700000000);
    ck_assert_int_eq(must_find(&d, "/3/0/5")->type, LWM2M_TYPE_NONE);
    ck_assert_int_eq(must_find(&d, "/0/0/3")->type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(must_find(&d, "/0/0/3")->v.bytes.len, 2);
    ck_assert_int_eq(must_find(&d, "/6/1")->type, LWM2M_TYPE_NONE);
    assert_float(&d, "/6/0/0", 1.5);
    lwm2m_data_free(&d);

    /* An empty payload map is no values at all. */
    ck_assert_int_eq(decode_hex("bf ff", model, &d, NULL), LS_OK);
    ck_assert_uint_eq(d.count, 0);
    lwm2m_data_free(&d);
}
END_TEST

static const char *const garbage[] = {
    "",
    "80",                                   /* not a map */
    "a1 03",                                /* truncated */
    "bf 03 bf 00 bf 00 61 78",              /* unterminated indefinite maps */
    "bf 01 ff",                             /* key without a value */
    "a1 03 01 00",                          /* trailing byte */
    "a1 03 01",                             /* value on an object */
    "a1 82 03 00 01",                       /* value on an instance */
    "a1 61 33 a1 00 01",                    /* text key */
    "a1 20 01",                             /* negative key */
    "a1 19 ffff 01",                        /* id 65535 */
    "a1 fa 3f800000 01",                    /* float key */
    "a1 80 01",                             /* empty array key */
    "a1 85 01 02 03 04 05 01",              /* five ids */
    "a1 84 03 00 07 00 a1 00 00",           /* map below a resource instance */
    "a1 01 a1 02 a1 03 a1 04 a1 05 00",     /* nested too deep */
    "a1 83 03 00 0d c4 82 21 19 6ab3",      /* tag 4 */
    "a1 83 03 00 0d c1 61 31",              /* tag 1 on text */
    "a1 83 03 00 00 7b ffffffffffffffff",   /* huge declared string */
    "a1 83 03 00 00 9b ffffffffffffffff",   /* array as a value */
    "bb ffffffffffffffff",                  /* over-long map */
    "a1 83 03 00 00 f7",                    /* undefined */
    "a1 83 01 00 01 61 78",                 /* string for an integer (model) */
    "a1 83 03 00 00 3b ffffffffffffffff",   /* below int64 */
    "ff",
};

START_TEST(test_lwm2m_lwm2m_cbor_decode_garbage)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    ck_assert_msg(decode_hex(garbage[_i], model, &d, &err) == LS_EPROTO, "accepted %s",
                  garbage[_i]);
    ck_assert_str_ne(err.msg, "");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_decode_very_deep)
{
    /* 100000 nested single-entry maps: refused at depth five, no recursion
     * beyond that. */
    size_t n = 100000;
    uint8_t *p = malloc(2 * n + 1);
    ck_assert_ptr_nonnull(p);
    for (size_t k = 0; k < n; k++) {
        p[2 * k] = 0xa1;
        p[2 * k + 1] = 0x01;
    }
    p[2 * n] = 0x00;
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(p, 2 * n + 1, NULL, NULL, &d, &err), LS_EPROTO);
    ck_assert_msg(strstr(err.msg, "deeper") || strstr(err.msg, "below"), "%s", err.msg);
    lwm2m_data_free(&d);
    free(p);
}
END_TEST

/* ---- encoding ---- */

START_TEST(test_lwm2m_lwm2m_cbor_encode_all_types_round_trip)
{
    struct lwm2m_data a;
    build_all_types(&a);
    codec_assert_round_trip(&codec, &a, NULL, model);
    lwm2m_data_free(&a);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_encode_unsorted_and_none)
{
    struct lwm2m_data a, b;
    struct lwm2m_path p1 = test_path("/3/0/9"), p2 = test_path("/1/0/1"),
                      p3 = test_path("/3/0/13"), p4 = test_path("/5/0"), p5 = test_path("/3/0");
    struct lwm2m_value *v;
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p1, LWM2M_TYPE_INTEGER, NULL));
    v->v.i = 9;
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p2, LWM2M_TYPE_INTEGER, NULL));
    v->v.i = 300;
    ck_assert_ptr_nonnull(v = lwm2m_data_append(&a, &p3, LWM2M_TYPE_TIME, NULL));
    v->v.i = 1;
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &p4, LWM2M_TYPE_NONE, NULL));
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &p5, LWM2M_TYPE_NONE, NULL)); /* implied */
    /* {_ 1: {_ 0: {_ 1: 300}}, 3: {_ 0: {_ 9: 9, 13: 1(1)}}, 5: {_ 0: {}}} */
    assert_encodes_to(&a, NULL, "bf 01 bf 00 bf 01 19 012c ff ff"
                                " 03 bf 00 bf 09 09 0d c1 01 ff ff"
                                " 05 bf 00 a0 ff ff");
    lwm2m_data_init(&b);
    struct lwm2m_buf out = { 0 };
    ck_assert_int_eq(lwm2m_lwm2m_cbor_encode(&a, NULL, model, &out, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_lwm2m_cbor_decode(out.data, out.len, NULL, model, &b, NULL), LS_OK);
    ck_assert_uint_eq(b.count, 4);
    ck_assert_int_eq(must_find(&b, "/5/0")->type, LWM2M_TYPE_NONE);
    assert_int(&b, "/3/0/13", LWM2M_TYPE_TIME, 1);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&a);
    lwm2m_data_free(&b);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_encode_refuses_duplicates)
{
    struct lwm2m_data a;
    struct lwm2m_buf out = { 0 };
    struct lwm2m_path p = test_path("/3/0/9"), q = test_path("/3/0/9/1");
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &p, LWM2M_TYPE_INTEGER, NULL));
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &p, LWM2M_TYPE_INTEGER, NULL));
    ck_assert_int_eq(lwm2m_lwm2m_cbor_encode(&a, NULL, NULL, &out, NULL), LS_EINVAL);
    lwm2m_data_free(&a);
    lwm2m_data_init(&a);
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &p, LWM2M_TYPE_INTEGER, NULL));
    ck_assert_ptr_nonnull(lwm2m_data_append(&a, &q, LWM2M_TYPE_INTEGER, NULL));
    out.len = 0;
    ck_assert_int_eq(lwm2m_lwm2m_cbor_encode(&a, NULL, NULL, &out, NULL), LS_EINVAL);
    lwm2m_data_free(&a);
    lwm2m_buf_free(&out);
}
END_TEST

START_TEST(test_lwm2m_lwm2m_cbor_encode_empty)
{
    struct lwm2m_data a;
    lwm2m_data_init(&a);
    assert_encodes_to(&a, "/3/0", "bf ff");
}
END_TEST

static Suite *lwm2m_cbor_suite(void)
{
    Suite *s = suite_create("lwm2m_lwm2m_cbor");
    TCase *tc = tcase_create("lwm2m_lwm2m_cbor_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_decode_anjay_read_instance);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_decode_anjay_read_object);
    tcase_add_loop_test(tc, test_lwm2m_lwm2m_cbor_decode_every_truncation, 0,
                        sizeof captures / sizeof captures[0]);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_decode_nested_example);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_decode_values);
    tcase_add_loop_test(tc, test_lwm2m_lwm2m_cbor_decode_garbage, 0,
                        sizeof garbage / sizeof garbage[0]);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_decode_very_deep);
    suite_add_tcase(s, tc);

    tc = tcase_create("lwm2m_lwm2m_cbor_encode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_lwm2m_cbor_encode_anjay_byte_exact, 0,
                        sizeof captures / sizeof captures[0]);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_encode_all_types_round_trip);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_encode_unsorted_and_none);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_encode_refuses_duplicates);
    tcase_add_test(tc, test_lwm2m_lwm2m_cbor_encode_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(lwm2m_cbor_suite());
}
