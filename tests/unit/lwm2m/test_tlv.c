/*
 * tests/unit/lwm2m/test_tlv.c -- lwm2m/tlv.c
 *
 * Known answers: the Device (/3/0) and Access Control (/2) payloads of
 * LwM2M Core 1.2 §7.4.3 (Read /3/0, Read /3/0/0, Read /3/0/7, Read /2),
 * and real payloads captured from Anjay and Wakaama
 * (../shared/captures/{anjay-1.0,wakaama-1.1}/ *-read-3*-tlv-resp*.json and
 * the bootstrap writes), decoded and re-encoded byte for byte where our
 * encoder makes the same width choices.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"
#include "lwm2m/tlv.h"
#include "suite_util.h"

#define B(s) (const uint8_t *)(s), sizeof(s) - 1

/* Core §7.4.3.1 "Read /3/0" example (Model Number length per its table). */
static const char spec_device[] =
    "\xC8\x00\x14Open Mobile Alliance"
    "\xC8\x01\x16Lightweight M2M Client"
    "\xC8\x02\x09" "345000123"
    "\xC3\x03" "1.0"
    "\x86\x06\x41\x00\x01\x41\x01\x05"
    "\x88\x07\x08\x42\x00\x0E\xD8\x42\x01\x13\x88"
    "\x87\x08\x41\x00\x7D\x42\x01\x03\x84"
    "\xC1\x09\x64"
    "\xC1\x0A\x0F"
    "\x83\x0B\x41\x00\x00"
    "\xC4\x0D\x51\x82\x42\x8F"
    "\xC6\x0E+02:00"
    "\xC1\x10U";

/* Core §7.4.3.2 B) "Read /2": two Access Control instances. */
static const char spec_acl[] =
    "\x08\x00\x0E\xC1\x00\x01\xC1\x01\x00\x83\x02\x41\x7F\x07\xC1\x03\x7F"
    "\x08\x02\x12\xC1\x00\x03\xC1\x01\x00\x87\x02\x41\x7F\x07\x61\x01\x36\x01"
    "\xC1\x03\x7F";

/* anjay-1.0/04-read-3_0-tlv-resp-2_05.json and 10-read-3-tlv-resp-2_05.json */
static const char anjay_3_0_hex[] =
    "c500616e6a6179c8010b64656d6f2d636c69656e74c5026361703130c603332e31342e30"
    "8306410000840742007b84830841000ac10900c10a00830b410000c40d6b04bdd9c60e2b"
    "30313a3030c80f0d4575726f70652f576172736177c2105551c011c012c013c11400c115"
    "008616440083460000";
static const char anjay_3_hex[] =
    "080075c500616e6a6179c8010b64656d6f2d636c69656e74c5026361703130c603332e31"
    "342e308306410000840742007b84830841000ac10900c10a00830b410000c40d6b04bdd9"
    "c60e2b30313a3030c80f0d4575726f70652f576172736177c2105551c011c012c013c114"
    "00c115008616440083460000";
/* wakaama-1.1/04-read-3_0-tlv-resp-2_05.json */
static const char wakaama_3_0_hex[] =
    "c800144f70656e204d6f62696c6520416c6c69616e6365c801164c69676874776569676874"
    "204d324d20436c69656e74c80209333435303030313233c303312e3086064100014101058807"
    "0842000ed842011388870841007d42010384c10964c10a0f830b410000c80d0800000000bc87"
    "0035c60e2b30313a3030c80f0d4575726f70652f4265726c696ec11055";
/* anjay-1.0-1.2/13-bs-write-0_2-tlv-req.json, 15-bs-write-1_1-tlv-req.json */
static const char bs_write_0_2_hex[] =
    "c80016636f61703a2f2f3132372e302e302e313a3135373833c10100c10203c10a01";
static const char bs_write_1_1_hex[] = "c10001c201012cc10600c10755";

static struct lwm2m_model *model;

static void setup(void)
{
    struct ls_error err = { 0 };
    model = lwm2m_model_new(&err);
    ck_assert_msg(model != NULL, "model: %s", err.msg);
}

static void teardown(void)
{
    lwm2m_model_free(model);
    model = NULL;
}

static const struct lwm2m_value *at(const struct lwm2m_data *d, const char *path)
{
    struct lwm2m_path p;
    ck_assert(lwm2m_path_parse(path, strlen(path), &p, NULL) == LS_OK);
    for (size_t i = 0; i < d->count; i++)
        if (lwm2m_path_equal(&d->values[i].path, &p))
            return &d->values[i];
    ck_abort_msg("no value at %s", path);
    return NULL;
}

static void assert_str(const struct lwm2m_data *d, const char *path, const char *s)
{
    const struct lwm2m_value *v = at(d, path);
    ck_assert_int_eq(v->type, LWM2M_TYPE_STRING);
    ck_assert_uint_eq(v->v.bytes.len, strlen(s));
    ck_assert(memcmp(v->v.bytes.ptr, s, strlen(s)) == 0);
}

static void assert_int(const struct lwm2m_data *d, const char *path,
                       enum lwm2m_type t, int64_t i)
{
    const struct lwm2m_value *v = at(d, path);
    ck_assert_int_eq(v->type, t);
    ck_assert_int_eq(v->v.i, i);
}

/* Decodes buf at base, re-encodes it and expects the same bytes. */
static void round_trip_exact(const uint8_t *buf, size_t len, struct lwm2m_path base,
                             struct lwm2m_data *d)
{
    struct ls_error err = { 0 };
    lwm2m_data_init(d);
    ck_assert_msg(lwm2m_tlv_decode(buf, len, &base, model, d, &err) == LS_OK, "%s", err.msg);
    struct lwm2m_buf out = { 0 };
    ck_assert_msg(lwm2m_tlv_encode(d, &base, model, &out, &err) == LS_OK, "%s", err.msg);
    ck_assert_uint_eq(out.len, len);
    ck_assert(memcmp(out.data, buf, len) == 0);
    lwm2m_buf_free(&out);
}

START_TEST(test_lwm2m_tlv_decode_spec_device_instance)
{
    struct lwm2m_data d;
    round_trip_exact(B(spec_device), lwm2m_path_instance(3, 0), &d);
    ck_assert_uint_eq(d.count, 16);
    assert_str(&d, "/3/0/0", "Open Mobile Alliance");
    assert_str(&d, "/3/0/1", "Lightweight M2M Client");
    assert_str(&d, "/3/0/2", "345000123");
    assert_str(&d, "/3/0/3", "1.0");
    assert_int(&d, "/3/0/6/0", LWM2M_TYPE_INTEGER, 1);
    assert_int(&d, "/3/0/6/1", LWM2M_TYPE_INTEGER, 5);
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    assert_int(&d, "/3/0/8/0", LWM2M_TYPE_INTEGER, 125);
    assert_int(&d, "/3/0/8/1", LWM2M_TYPE_INTEGER, 900);
    assert_int(&d, "/3/0/9", LWM2M_TYPE_INTEGER, 100);
    assert_int(&d, "/3/0/10", LWM2M_TYPE_INTEGER, 15);
    assert_int(&d, "/3/0/11/0", LWM2M_TYPE_INTEGER, 0);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1367491215);
    assert_str(&d, "/3/0/14", "+02:00");
    assert_str(&d, "/3/0/16", "U");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_spec_single_and_multiple_resource)
{
    struct lwm2m_data d;
    /* Read /3/0/0: the answer restates the resource. */
    round_trip_exact(B("\xC8\x00\x14Open Mobile Alliance"), lwm2m_path_resource(3, 0, 0), &d);
    ck_assert_uint_eq(d.count, 1);
    assert_str(&d, "/3/0/0", "Open Mobile Alliance");
    lwm2m_data_free(&d);
    /* Read /3/0/7: a multiple-resource TLV of two instances. */
    round_trip_exact(B("\x88\x07\x08\x42\x00\x0E\xD8\x42\x01\x13\x88"),
                     lwm2m_path_resource(3, 0, 7), &d);
    ck_assert_uint_eq(d.count, 2);
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    lwm2m_data_free(&d);
    /* Read /3/0/7/1 (1.1+): one resource-instance TLV. */
    round_trip_exact(B("\x42\x01\x13\x88"), lwm2m_path_resource_instance(3, 0, 7, 1), &d);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_bare_resource_instances)
{
    /* Some clients answer Read /3/0/7 with the instances unwrapped. */
    struct lwm2m_path base = lwm2m_path_resource(3, 0, 7);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert(lwm2m_tlv_decode(B("\x42\x00\x0E\xD8\x41\x01\x05"), &base, model, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.count, 2);
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 3800);
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_spec_acl_two_instances)
{
    struct lwm2m_data d;
    round_trip_exact(B(spec_acl), lwm2m_path_object(2), &d);
    ck_assert_uint_eq(d.count, 9);
    assert_int(&d, "/2/0/0", LWM2M_TYPE_INTEGER, 1);
    assert_int(&d, "/2/0/1", LWM2M_TYPE_INTEGER, 0);
    assert_int(&d, "/2/0/2/127", LWM2M_TYPE_INTEGER, 7);
    assert_int(&d, "/2/0/3", LWM2M_TYPE_INTEGER, 127);
    assert_int(&d, "/2/2/0", LWM2M_TYPE_INTEGER, 3);
    assert_int(&d, "/2/2/2/127", LWM2M_TYPE_INTEGER, 7);
    assert_int(&d, "/2/2/2/310", LWM2M_TYPE_INTEGER, 1);
    assert_int(&d, "/2/2/3", LWM2M_TYPE_INTEGER, 127);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_anjay_captures)
{
    uint8_t buf[256];
    struct lwm2m_data d;
    size_t n = unhex(anjay_3_0_hex, buf);
    round_trip_exact(buf, n, lwm2m_path_instance(3, 0), &d);
    assert_str(&d, "/3/0/0", "anjay");
    assert_str(&d, "/3/0/1", "demo-client");
    assert_int(&d, "/3/0/7/0", LWM2M_TYPE_INTEGER, 31620);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 1795472857);
    assert_str(&d, "/3/0/15", "Europe/Warsaw");
    assert_str(&d, "/3/0/17", "");
    const struct lwm2m_value *l = at(&d, "/3/0/22/0");
    ck_assert_int_eq(l->type, LWM2M_TYPE_OBJLNK);
    ck_assert_uint_eq(l->v.objlnk.obj, 33606);
    ck_assert_uint_eq(l->v.objlnk.inst, 0);
    lwm2m_data_free(&d);

    n = unhex(anjay_3_hex, buf);
    round_trip_exact(buf, n, lwm2m_path_object(3), &d);
    ck_assert_uint_eq(d.count, 20);
    assert_str(&d, "/3/0/2", "cap10");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_wakaama_capture)
{
    /* Wakaama's 8-byte Current Time is 0xBC870035, above INT32_MAX, so
     * the smallest signed width is 8 bytes too: byte-exact. */
    uint8_t buf[256];
    size_t n = unhex(wakaama_3_0_hex, buf);
    struct lwm2m_data d;
    round_trip_exact(buf, n, lwm2m_path_instance(3, 0), &d);
    assert_str(&d, "/3/0/0", "Open Mobile Alliance");
    assert_str(&d, "/3/0/1", "Lightweight M2M Client");
    assert_int(&d, "/3/0/7/1", LWM2M_TYPE_INTEGER, 5000);
    assert_int(&d, "/3/0/13", LWM2M_TYPE_TIME, 3162964021);
    assert_str(&d, "/3/0/15", "Europe/Berlin");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_bootstrap_writes)
{
    uint8_t buf[64];
    struct lwm2m_data d;
    size_t n = unhex(bs_write_0_2_hex, buf);
    round_trip_exact(buf, n, lwm2m_path_instance(0, 2), &d);
    assert_str(&d, "/0/2/0", "coap://127.0.0.1:15783");
    const struct lwm2m_value *b = at(&d, "/0/2/1");
    ck_assert_int_eq(b->type, LWM2M_TYPE_BOOLEAN);
    ck_assert(!b->v.b);
    assert_int(&d, "/0/2/2", LWM2M_TYPE_INTEGER, 3);
    lwm2m_data_free(&d);
    n = unhex(bs_write_1_1_hex, buf);
    round_trip_exact(buf, n, lwm2m_path_instance(1, 1), &d);
    assert_int(&d, "/1/1/1", LWM2M_TYPE_INTEGER, 300);
    assert_str(&d, "/1/1/7", "U");
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_untyped_without_model)
{
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert(lwm2m_tlv_decode(B("\xC1\x09\x64\xC3\x00" "abc"), &base, NULL, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.count, 2);
    ck_assert_int_eq(d.values[0].type, LWM2M_TYPE_OPAQUE);
    ck_assert_uint_eq(d.values[0].v.bytes.len, 1);
    ck_assert_uint_eq(d.values[0].v.bytes.ptr[0], 0x64);
    ck_assert_int_eq(d.values[1].type, LWM2M_TYPE_OPAQUE);
    ck_assert(memcmp(d.values[1].v.bytes.ptr, "abc", 3) == 0);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_decode_empty_containers)
{
    struct lwm2m_path base = lwm2m_path_object(3);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    ck_assert(lwm2m_tlv_decode(B("\x00\x00\x08\x01\x02\x80\x07"), &base, model, &d, NULL) == LS_OK);
    ck_assert_uint_eq(d.count, 2);
    ck_assert_int_eq(at(&d, "/3/0")->type, LWM2M_TYPE_NONE);
    ck_assert_int_eq(at(&d, "/3/1/7")->type, LWM2M_TYPE_NONE);
    lwm2m_data_free(&d);
}
END_TEST

/* Malformed payloads: every one must fail cleanly with the code given. */
static const struct {
    const char *name;
    const char *bytes;
    size_t len;
    struct lwm2m_path base;
    enum ls_rc rc;
} bad[] = {
#define BAD(n, s, b, rc) { n, s, sizeof(s) - 1, b, rc }
#define P0() { { 0 }, 0 }
#define P1(o) { { o }, 1 }
#define P2(o, i) { { o, i }, 2 }
#define P3(o, i, r) { { o, i, r }, 3 }
#define P4(o, i, r, ri) { { o, i, r, ri }, 4 }
    BAD("one byte", "\xC8", P2(3, 0), LS_EPROTO),
    BAD("no length byte", "\xC8\x00", P2(3, 0), LS_EPROTO),
    BAD("length overrun", "\xC8\x00\x05" "ab", P2(3, 0), LS_EPROTO),
    BAD("inline length overrun", "\xC7\x00" "abc", P2(3, 0), LS_EPROTO),
    BAD("24-bit length truncated", "\xD8\x00\x00\x01", P2(3, 0), LS_EPROTO),
    BAD("24-bit length past end", "\xD8\x00\xFF\xFF\xFF" "abc", P2(3, 0), LS_EPROTO),
    BAD("16-bit id truncated", "\xE8\x01\x00", P2(3, 0), LS_EPROTO),
    BAD("16-bit length past end", "\xD0\x00\x01\x00" "x", P2(3, 0), LS_EPROTO),
    BAD("trailing byte", "\xC1\x09\x64\xC1", P2(3, 0), LS_EPROTO),
    BAD("child overruns parent", "\x08\x00\x03\xC2\x09\x64", P1(3), LS_EPROTO),
    BAD("instance in instance", "\x08\x00\x02\x00\x00", P1(3), LS_EPROTO),
    BAD("multiple in multiple", "\x82\x07\x80\x07", P2(3, 0), LS_EPROTO),
    BAD("resource in multiple", "\x83\x07\xC1\x00\x01", P2(3, 0), LS_EPROTO),
    BAD("deep nesting", "\x08\x00\x08\x08\x00\x05\x08\x00\x02\x00\x00", P1(3), LS_EPROTO),
    BAD("resource under object", "\xC1\x09\x64", P1(3), LS_EPROTO),
    BAD("instance under resource", "\x00\x00", P3(3, 0, 7), LS_EPROTO),
    BAD("restated id differs", "\x88\x08\x08\x42\x00\x0E\xD8\x42\x01\x13\x88",
        P3(3, 0, 7), LS_EPROTO),
    BAD("wrong instance id", "\x41\x02\x05", P4(3, 0, 7, 1), LS_EPROTO),
    BAD("reserved id 65535", "\xE1\xFF\xFF\x00", P2(3, 0), LS_EPROTO),
    BAD("3-byte integer", "\xC3\x09\x00\x00\x64", P2(3, 0), LS_EPROTO),
    BAD("empty integer", "\xC0\x09", P2(3, 0), LS_EPROTO),
    BAD("boolean 2", "\xC1\x06\x02", P2(1, 1), LS_EPROTO),
    BAD("2-byte boolean", "\xC2\x06\x00\x01", P2(1, 1), LS_EPROTO),
    BAD("3-byte objlnk", "\x85\x16\x43\x00\x01\x02\x03", P2(3, 0), LS_EPROTO),
    BAD("2-byte float", "\xE2\x16\x44\x41\x20", P2(3303, 0), LS_EPROTO),
    BAD("9-byte time", "\xC8\x0D\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        P2(3, 0), LS_EPROTO),
    BAD("root base", "\xC1\x09\x64", P0(), LS_EINVAL),
#undef BAD
#undef P0
#undef P1
#undef P2
#undef P3
#undef P4
};

START_TEST(test_lwm2m_tlv_decode_garbage)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    enum ls_rc rc = lwm2m_tlv_decode((const uint8_t *)bad[_i].bytes, bad[_i].len,
                                     &bad[_i].base, model, &d, &err);
    ck_assert_msg(rc == bad[_i].rc, "%s: got %s", bad[_i].name, ls_rc_name(rc));
    ck_assert_str_ne(err.msg, "");
    lwm2m_data_free(&d);
}
END_TEST

/* Every truncation of a valid nested payload fails without overreading. */
START_TEST(test_lwm2m_tlv_decode_every_truncation)
{
    struct lwm2m_path base = lwm2m_path_object(2);
    for (size_t n = 1; n < sizeof spec_acl - 1; n++) {
        uint8_t *copy = malloc(n); /* exact size so ASan sees any overread */
        memcpy(copy, spec_acl, n);
        struct lwm2m_data d;
        lwm2m_data_init(&d);
        /* 17 bytes is exactly the first instance: a valid payload. */
        enum ls_rc want = n == 17 ? LS_OK : LS_EPROTO;
        ck_assert_msg(lwm2m_tlv_decode(copy, n, &base, model, &d, NULL) == want,
                      "prefix of %zu bytes", n);
        lwm2m_data_free(&d);
        free(copy);
    }
}
END_TEST

/* ---- encoder ------------------------------------------------------------ */

static void add_int(struct lwm2m_data *d, struct lwm2m_path p, enum lwm2m_type t, int64_t i)
{
    struct lwm2m_value *v = lwm2m_data_append(d, &p, t, NULL);
    ck_assert(v != NULL);
    v->v.i = i;
}

static void expect_encoding(const struct lwm2m_data *d, struct lwm2m_path base,
                            const uint8_t *want, size_t want_len)
{
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    ck_assert_msg(lwm2m_tlv_encode(d, &base, NULL, &out, &err) == LS_OK, "%s", err.msg);
    ck_assert_uint_eq(out.len, want_len);
    ck_assert(memcmp(out.data, want, want_len) == 0);
    lwm2m_buf_free(&out);
}

static const struct {
    int64_t v;
    const char *bytes;
    size_t len;
} int_widths[] = {
    { 0, "\xC1\x09\x00", 3 },
    { 127, "\xC1\x09\x7F", 3 },
    { -128, "\xC1\x09\x80", 3 },
    { 128, "\xC2\x09\x00\x80", 4 },
    { -129, "\xC2\x09\xFF\x7F", 4 },
    { 32767, "\xC2\x09\x7F\xFF", 4 },
    { 32768, "\xC4\x09\x00\x00\x80\x00", 6 },
    { -2147483648LL, "\xC4\x09\x80\x00\x00\x00", 6 },
    { 2147483648LL, "\xC8\x09\x08\x00\x00\x00\x00\x80\x00\x00\x00", 11 },
    { INT64_MIN, "\xC8\x09\x08\x80\x00\x00\x00\x00\x00\x00\x00", 11 },
};

START_TEST(test_lwm2m_tlv_encode_integer_widths)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    add_int(&d, lwm2m_path_resource(3, 0, 9), LWM2M_TYPE_INTEGER, int_widths[_i].v);
    expect_encoding(&d, lwm2m_path_instance(3, 0), (const uint8_t *)int_widths[_i].bytes,
                    int_widths[_i].len);
    /* ... and it decodes back to the same value. */
    struct lwm2m_data back;
    lwm2m_data_init(&back);
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    ck_assert(lwm2m_tlv_decode((const uint8_t *)int_widths[_i].bytes, int_widths[_i].len,
                               &base, model, &back, NULL) == LS_OK);
    ck_assert_int_eq(back.values[0].v.i, int_widths[_i].v);
    lwm2m_data_free(&back);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_float_width)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path p = lwm2m_path_resource(3303, 0, 5700);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_FLOAT, NULL)->v.f = 1.5;
    /* 1.5 is exact in single precision: 4 bytes, id 5700 = 0x1644. */
    expect_encoding(&d, lwm2m_path_instance(3303, 0), B("\xE4\x16\x44\x3F\xC0\x00\x00"));
    d.values[0].v.f = 0.1; /* not exact: 8 bytes */
    expect_encoding(&d, lwm2m_path_instance(3303, 0),
                    B("\xE8\x16\x44\x08\x3F\xB9\x99\x99\x99\x99\x99\x9A"));
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_empty_nodes)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path i0 = lwm2m_path_instance(3, 0);
    lwm2m_data_append(&d, &i0, LWM2M_TYPE_NONE, NULL);
    expect_encoding(&d, lwm2m_path_object(3), B("\x00\x00"));
    lwm2m_data_free(&d);
    lwm2m_data_init(&d);
    struct lwm2m_path r7 = lwm2m_path_resource(3, 0, 7);
    lwm2m_data_append(&d, &r7, LWM2M_TYPE_NONE, NULL);
    expect_encoding(&d, lwm2m_path_instance(3, 0), B("\x80\x07"));
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_unsorted_input)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    add_int(&d, lwm2m_path_resource_instance(3, 0, 7, 1), LWM2M_TYPE_INTEGER, 5000);
    add_int(&d, lwm2m_path_resource(3, 0, 9), LWM2M_TYPE_INTEGER, 100);
    add_int(&d, lwm2m_path_resource_instance(3, 0, 7, 0), LWM2M_TYPE_INTEGER, 3800);
    expect_encoding(&d, lwm2m_path_instance(3, 0),
                    B("\x88\x07\x08\x42\x00\x0E\xD8\x42\x01\x13\x88\xC1\x09\x64"));
    /* The input itself was not reordered (it is const). */
    ck_assert_int_eq(d.values[0].v.i, 5000);
    lwm2m_data_free(&d);
}
END_TEST

START_TEST(test_lwm2m_tlv_encode_refuses_bad_input)
{
    struct lwm2m_data d;
    struct lwm2m_buf out = { 0 };
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    add_int(&d, lwm2m_path_resource(3, 1, 9), LWM2M_TYPE_INTEGER, 1);
    struct lwm2m_path base = lwm2m_path_instance(3, 0);
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, &err) == LS_EINVAL);
    ck_assert_uint_eq(out.len, 0);
    lwm2m_data_free(&d);
    /* A value on an instance path is not a resource. */
    lwm2m_data_init(&d);
    add_int(&d, lwm2m_path_instance(3, 0), LWM2M_TYPE_INTEGER, 1);
    ls_error_clear(&err);
    base = lwm2m_path_object(3);
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, &err) == LS_EINVAL);
    base = lwm2m_path_root();
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, &err) == LS_EINVAL);
    lwm2m_data_free(&d);
    lwm2m_buf_free(&out);
}
END_TEST

/* Every type through encode then decode with the model (or without). */
START_TEST(test_lwm2m_tlv_encode_round_trip_every_type)
{
    struct lwm2m_data d, back;
    lwm2m_data_init(&d);
    lwm2m_data_init(&back);
    struct lwm2m_path p;
    p = lwm2m_path_resource(5, 0, 0);
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_OPAQUE, "\x00\xFF\x10", 3, NULL);
    p = lwm2m_path_resource(5, 0, 1);
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_STRING, "coap://x", 8, NULL);
    p = lwm2m_path_resource(5, 0, 3);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_INTEGER, NULL)->v.i = -70000;
    p = lwm2m_path_resource(5, 0, 12);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_TIME, NULL)->v.i = 4102444800LL;
    p = lwm2m_path_resource(5, 0, 13);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_UNSIGNED, NULL)->v.u = UINT64_MAX;
    p = lwm2m_path_resource(5, 0, 14);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_BOOLEAN, NULL)->v.b = true;
    struct lwm2m_path base = lwm2m_path_instance(5, 0);
    struct lwm2m_buf out = { 0 };
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, NULL) == LS_OK);
    ck_assert(lwm2m_tlv_decode(out.data, out.len, &base, model, &back, NULL) == LS_OK);
    ck_assert_uint_eq(back.count, d.count);
    for (size_t i = 0; i < d.count; i++) {
        ck_assert(lwm2m_path_equal(&d.values[i].path, &back.values[i].path));
        ck_assert_int_eq(d.values[i].type, back.values[i].type);
    }
    ck_assert(memcmp(back.values[0].v.bytes.ptr, "\x00\xFF\x10", 3) == 0);
    ck_assert_int_eq(back.values[2].v.i, -70000);
    ck_assert_int_eq(back.values[3].v.i, 4102444800LL);
    ck_assert(back.values[4].v.u == UINT64_MAX);
    ck_assert(back.values[5].v.b);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&back);
    lwm2m_data_free(&d);

    /* Float, objlnk and core link (no built-in corelnk resource: untyped). */
    lwm2m_data_init(&d);
    lwm2m_data_init(&back);
    p = lwm2m_path_resource(3303, 0, 5700);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_FLOAT, NULL)->v.f = -273.15;
    p = lwm2m_path_resource(3303, 0, 5601);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_FLOAT, NULL)->v.f = 21.5;
    base = lwm2m_path_object(3303);
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, NULL) == LS_OK);
    ck_assert(lwm2m_tlv_decode(out.data, out.len, &base, model, &back, NULL) == LS_OK);
    ck_assert_int_eq(back.values[0].type, LWM2M_TYPE_FLOAT);
    ck_assert(back.values[0].v.f == 21.5); /* sorted: 5601 first */
    ck_assert(back.values[1].v.f == -273.15);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&back);
    lwm2m_data_free(&d);

    lwm2m_data_init(&d);
    lwm2m_data_init(&back);
    p = lwm2m_path_resource_instance(3, 0, 22, 300);
    lwm2m_data_append(&d, &p, LWM2M_TYPE_OBJLNK, NULL)->v.objlnk =
        (struct lwm2m_objlnk){ 65534, 7 };
    base = lwm2m_path_resource(3, 0, 22);
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, NULL) == LS_OK);
    ck_assert_uint_eq(out.len, 9); /* 87 16, 64 01 2C + 4 bytes */
    ck_assert(lwm2m_tlv_decode(out.data, out.len, &base, model, &back, NULL) == LS_OK);
    ck_assert_int_eq(back.values[0].type, LWM2M_TYPE_OBJLNK);
    ck_assert_uint_eq(back.values[0].v.objlnk.obj, 65534);
    ck_assert_uint_eq(back.values[0].v.objlnk.inst, 7);
    ck_assert_uint_eq(back.values[0].path.id[3], 300);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&back);
    lwm2m_data_free(&d);

    lwm2m_data_init(&d);
    lwm2m_data_init(&back);
    p = lwm2m_path_resource(9999, 0, 1);
    lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_CORELNK, "</3/0>", 6, NULL);
    base = p;
    ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, NULL) == LS_OK);
    ck_assert(lwm2m_tlv_decode(out.data, out.len, &base, model, &back, NULL) == LS_OK);
    ck_assert_int_eq(back.values[0].type, LWM2M_TYPE_OPAQUE);
    ck_assert(memcmp(back.values[0].v.bytes.ptr, "</3/0>", 6) == 0);
    lwm2m_buf_free(&out);
    lwm2m_data_free(&back);
    lwm2m_data_free(&d);
}
END_TEST

/* Values of 300 and 70000 bytes take the 16- and 24-bit length fields,
 * inside a 24-bit object-instance container. */
START_TEST(test_lwm2m_tlv_encode_long_lengths)
{
    static const size_t sizes[] = { 7, 8, 255, 256, 65535, 65536, 70000 };
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        uint8_t *big = malloc(n);
        for (size_t i = 0; i < n; i++)
            big[i] = (uint8_t)(i * 7);
        struct lwm2m_data d, back;
        lwm2m_data_init(&d);
        lwm2m_data_init(&back);
        struct lwm2m_path p = lwm2m_path_resource(5, 0, 0);
        lwm2m_data_append_bytes(&d, &p, LWM2M_TYPE_OPAQUE, big, n, NULL);
        struct lwm2m_path base = lwm2m_path_object(5);
        struct lwm2m_buf out = { 0 };
        ck_assert(lwm2m_tlv_encode(&d, &base, NULL, &out, NULL) == LS_OK);
        ck_assert(lwm2m_tlv_decode(out.data, out.len, &base, model, &back, NULL) == LS_OK);
        ck_assert_uint_eq(back.count, 1);
        ck_assert_uint_eq(back.values[0].v.bytes.len, n);
        ck_assert(memcmp(back.values[0].v.bytes.ptr, big, n) == 0);
        uint8_t want = n <= 7 ? 0xC0 | (uint8_t)n : n <= 255 ? 0xC8 : n <= 65535 ? 0xD0 : 0xD8;
        size_t inner_at = out.len - n - (n <= 7 ? 2 : n <= 255 ? 3 : n <= 65535 ? 4 : 5);
        ck_assert_uint_eq(out.data[inner_at], want);
        lwm2m_buf_free(&out);
        lwm2m_data_free(&back);
        lwm2m_data_free(&d);
        free(big);
    }
}
END_TEST

static Suite *tlv_suite(void)
{
    Suite *s = suite_create("lwm2m_tlv");
    TCase *tc = tcase_create("lwm2m_tlv_decode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lwm2m_tlv_decode_spec_device_instance);
    tcase_add_test(tc, test_lwm2m_tlv_decode_spec_single_and_multiple_resource);
    tcase_add_test(tc, test_lwm2m_tlv_decode_bare_resource_instances);
    tcase_add_test(tc, test_lwm2m_tlv_decode_spec_acl_two_instances);
    tcase_add_test(tc, test_lwm2m_tlv_decode_anjay_captures);
    tcase_add_test(tc, test_lwm2m_tlv_decode_wakaama_capture);
    tcase_add_test(tc, test_lwm2m_tlv_decode_bootstrap_writes);
    tcase_add_test(tc, test_lwm2m_tlv_decode_untyped_without_model);
    tcase_add_test(tc, test_lwm2m_tlv_decode_empty_containers);
    tcase_add_loop_test(tc, test_lwm2m_tlv_decode_garbage, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_lwm2m_tlv_decode_every_truncation);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_tlv_encode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_lwm2m_tlv_encode_integer_widths, 0,
                        sizeof int_widths / sizeof int_widths[0]);
    tcase_add_test(tc, test_lwm2m_tlv_encode_float_width);
    tcase_add_test(tc, test_lwm2m_tlv_encode_empty_nodes);
    tcase_add_test(tc, test_lwm2m_tlv_encode_unsorted_input);
    tcase_add_test(tc, test_lwm2m_tlv_encode_refuses_bad_input);
    tcase_add_test(tc, test_lwm2m_tlv_encode_round_trip_every_type);
    tcase_add_test(tc, test_lwm2m_tlv_encode_long_lengths);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tlv_suite());
}
