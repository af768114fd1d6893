/*
 * tests/unit/lwm2m/test_format.c -- lwm2m/format.c
 *
 * Names and numbers of every content format, and the dispatch: each data
 * format decodes Anjay's answer to Read /3/0/0 (captures anjay-1.0/06, 14,
 * 22, 30, 38, 44, 46) to the manufacturer "anjay" through
 * lwm2m_format_decode(), and a multi-value format round-trips /3/0.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/format.h"
#include "suite_util.h"

static const struct {
    unsigned number;
    const char *name;
    bool multi;
} names[] = {
    { 0, "text", false },        { 40, "link", false },
    { 42, "opaque", false },     { 60, "cbor", false },
    { 110, "senml-json", true }, { 112, "senml-cbor", true },
    { 11542, "tlv", true },      { 1542, "tlv", true },
    { 11543, "json", true },     { 1543, "json", true },
    { 11544, "lwm2m-cbor", true },
};

START_TEST(test_lwm2m_format_name_table)
{
    ck_assert_str_eq(lwm2m_format_name(names[_i].number), names[_i].name);
    ck_assert(lwm2m_format_is_multi(names[_i].number) == names[_i].multi);
    unsigned n = 0;
    ck_assert(lwm2m_format_parse(names[_i].name, &n));
    /* Names map to the IANA number, never to the old alias. */
    ck_assert_uint_eq(n, names[_i].number == 1542 ? 11542u
                         : names[_i].number == 1543 ? 11543u : names[_i].number);
    char num[8];
    snprintf(num, sizeof num, "%u", names[_i].number);
    ck_assert(lwm2m_format_parse(num, &n));
    ck_assert_uint_eq(n, names[_i].number);
}
END_TEST

START_TEST(test_lwm2m_format_parse_unknown)
{
    unsigned n = 7;
    static const char *const unknown[] = { "", "xml", "TLV", "41", "-1", "115420",
                                           "99999999999", "11542 ", "0x2d16" };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        ck_assert_msg(!lwm2m_format_parse(unknown[i], &n), "accepted \"%s\"", unknown[i]);
    ck_assert_uint_eq(n, 7);
    ck_assert(lwm2m_format_name(41) == NULL);
    ck_assert(!lwm2m_format_is_multi(41));
    ck_assert(!lwm2m_format_parse(NULL, &n));
}
END_TEST

static const struct {
    unsigned format;
    const char *hex;
} anjay_3_0_0[] = {
    { 11542, "c500616e6a6179" },
    { 1542, "c500616e6a6179" },
    { 110, "5b7b22626e223a222f332f302f30222c227673223a22616e6a6179227d5d" },
    { 112, "81a221662f332f302f300365616e6a6179" },
    { 11544, "bf8303000065616e6a6179ff" },
    { 11543, "7b22626e223a222f332f302f30222c2265223a5b7b227376223a22616e6a6179227d5d7d" },
    { 1543, "7b22626e223a222f332f302f30222c2265223a5b7b227376223a22616e6a6179227d5d7d" },
    { 0, "616e6a6179" },
    { 60, "65616e6a6179" },
};

START_TEST(test_lwm2m_format_decode_every_format)
{
    uint8_t buf[128];
    size_t n = unhex(anjay_3_0_0[_i].hex, buf);
    struct lwm2m_model *model = lwm2m_model_new(NULL);
    struct lwm2m_path base = lwm2m_path_resource(3, 0, 0);
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert_msg(lwm2m_format_decode(anjay_3_0_0[_i].format, buf, n, &base, model, &d,
                                      &err) == LS_OK,
                  "format %u: %s", anjay_3_0_0[_i].format, err.msg);
    ck_assert_uint_eq(d.count, 1);
    ck_assert(lwm2m_path_equal(&d.values[0].path, &base));
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_STRING);
    ck_assert(d.values[0].v.bytes.len == 5 && memcmp(d.values[0].v.bytes.ptr, "anjay", 5) == 0);
    /* Encode back through the dispatch and decode again. */
    struct lwm2m_buf out = { 0 };
    ck_assert_msg(lwm2m_format_encode(anjay_3_0_0[_i].format, &d, &base, model, &out, &err)
                      == LS_OK, "format %u: %s", anjay_3_0_0[_i].format, err.msg);
    struct lwm2m_data back;
    lwm2m_data_init(&back);
    ck_assert(lwm2m_format_decode(anjay_3_0_0[_i].format, out.data, out.len, &base, model,
                                  &back, &err) == LS_OK);
    ck_assert_uint_eq(back.count, 1);
    ck_assert(memcmp(back.values[0].v.bytes.ptr, "anjay", 5) == 0);
    lwm2m_data_free(&back);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&d);
    lwm2m_model_free(model);
}
END_TEST

START_TEST(test_lwm2m_format_decode_unsupported)
{
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    ck_assert(lwm2m_format_decode(40, (const uint8_t *)"</3/0>", 6, &base, NULL, &d, &err)
              == LS_EUNSUPPORTED);
    ck_assert_str_ne(err.msg, "");
    ls_error_clear(&err);
    ck_assert(lwm2m_format_decode(41, (const uint8_t *)"x", 1, &base, NULL, &d, &err)
              == LS_EUNSUPPORTED);
    ck_assert(lwm2m_format_encode(40, &d, &base, NULL, &out, NULL) == LS_EUNSUPPORTED);
    ck_assert(lwm2m_format_encode(9999, &d, &base, NULL, &out, NULL) == LS_EUNSUPPORTED);
    ck_assert_uint_eq(d.count, 0);
    ck_assert_uint_eq(out.len, 0);
    lwm2m_data_free(&d);
}
END_TEST

/* A multi-value payload survives every multi format's dispatch. */
START_TEST(test_lwm2m_format_encode_multi_round_trip)
{
    static const unsigned multi[] = { 110, 112, 11542, 11543, 11544 };
    struct lwm2m_model *model = lwm2m_model_new(NULL);
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path p = lwm2m_path_resource(3, 0, 0);
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_STRING, "anjay", 5, NULL);
    p = lwm2m_path_resource_instance(3, 0, 7, 0);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = 3800;
    p = lwm2m_path_resource_instance(3, 0, 7, 1);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = 5000;
    p = lwm2m_path_resource(3, 0, 9);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = 100;
    p = lwm2m_path_resource(3, 0, 13);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_TIME, NULL)->v.i = 1367491215;
    for (size_t f = 0; f < sizeof multi / sizeof multi[0]; f++) {
        struct lwm2m_buf out = { 0 };
        struct ls_error err = { 0 };
        ck_assert_msg(lwm2m_format_encode(multi[f], &d, &base, model, &out, &err) == LS_OK,
                      "%u: %s", multi[f], err.msg);
        struct lwm2m_data back;
        lwm2m_data_init(&back);
        ck_assert_msg(lwm2m_format_decode(multi[f], out.data, out.len, &base, model, &back,
                                          &err) == LS_OK, "%u: %s", multi[f], err.msg);
        lwm2m_data_sort(&back);
        ck_assert_uint_eq(back.count, d.count);
        for (size_t i = 0; i < d.count; i++) {
            ck_assert(lwm2m_path_equal(&back.values[i].path, &d.values[i].path));
            if (d.values[i].type != LWM2M_TYPE_STRING)
                ck_assert_msg(back.values[i].v.i == d.values[i].v.i, "%u value %zu", multi[f], i);
        }
        lwm2m_data_free(&back);
        lwm2m_buf_free(&out);
    }
    lwm2m_data_free(&d);
    lwm2m_model_free(model);
}
END_TEST

static Suite *format_suite(void)
{
    Suite *s = suite_create("lwm2m_format");
    TCase *tc = tcase_create("lwm2m_format_name");
    tcase_add_loop_test(tc, test_lwm2m_format_name_table, 0, sizeof names / sizeof names[0]);
    tcase_add_test(tc, test_lwm2m_format_parse_unknown);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_format_decode");
    tcase_add_loop_test(tc, test_lwm2m_format_decode_every_format, 0,
                        sizeof anjay_3_0_0 / sizeof anjay_3_0_0[0]);
    tcase_add_test(tc, test_lwm2m_format_decode_unsupported);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_format_encode");
    tcase_add_test(tc, test_lwm2m_format_encode_multi_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(format_suite());
}
