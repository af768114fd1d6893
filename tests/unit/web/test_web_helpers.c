/*
 * tests/unit/web/test_web_helpers.c -- the pure helpers of web/ (url.c,
 * static.c, events.c framing) and store_devices_like_prefix
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/devices.h"
#include "web/web_int.h"

static const struct {
    const char *in;
    size_t len;             /* 0: strlen(in) */
    const char *out;        /* NULL: refused */
    size_t out_len;         /* 0: strlen(out) */
} decode_cases[] = {
    { "dev-1", 0, "dev-1", 0 },
    { "urn%3Aimei%3A35", 0, "urn:imei:35", 0 },
    { "urn:imei:35", 0, "urn:imei:35", 0 },
    { "a%2Fb", 0, "a/b", 0 },
    { "a%2fb", 0, "a/b", 0 },
    { "100%25", 0, "100%", 0 },
    { "a+b", 0, "a+b", 0 },                       /* '+' is literal in a path */
    { "%C3%A9t%C3%A9", 0, "\xc3\xa9t\xc3\xa9", 0 },
    { "%F0%9F%98%80", 0, "\xf0\x9f\x98\x80", 0 },  /* U+1F600 */
    { "", 0, "", 0 },
    { "%", 0, NULL, 0 },                           /* truncated escapes */
    { "%4", 0, NULL, 0 },
    { "abc%", 0, NULL, 0 },
    { "%ZZ", 0, NULL, 0 },
    { "%G0", 0, NULL, 0 },
    { "%00", 0, NULL, 0 },                         /* encoded NUL */
    { "a\0b", 3, NULL, 0 },                        /* raw NUL */
    { "%FF", 0, NULL, 0 },                         /* not UTF-8 */
    { "%C3", 0, NULL, 0 },                         /* truncated sequence */
    { "%C0%AF", 0, NULL, 0 },                      /* overlong '/' */
    { "%ED%A0%80", 0, NULL, 0 },                   /* surrogate */
    { "%F4%90%80%80", 0, NULL, 0 },                /* above U+10FFFF */
    { "\xff", 0, NULL, 0 },                        /* raw invalid byte */
    { "' OR 1=1; --", 0, "' OR 1=1; --", 0 },      /* SQL-looking: just bytes */
};

START_TEST(test_web_url_decode_table)
{
    char out[64];
    size_t len = decode_cases[_i].len ? decode_cases[_i].len : strlen(decode_cases[_i].in);
    size_t got = 99;
    bool ok = web_url_decode(decode_cases[_i].in, len, out, sizeof out, &got);
    if (!decode_cases[_i].out) {
        ck_assert_msg(!ok, "accepted case %d", _i);
        ck_assert_uint_eq(got, 0);
        return;
    }
    ck_assert_msg(ok, "refused case %d", _i);
    ck_assert_str_eq(out, decode_cases[_i].out);
    ck_assert_uint_eq(got, strlen(decode_cases[_i].out));
}
END_TEST

START_TEST(test_web_url_decode_too_long)
{
    char out[4];
    size_t got;
    ck_assert(web_url_decode("abc", 3, out, sizeof out, &got));
    ck_assert(!web_url_decode("abcd", 4, out, sizeof out, &got));
    ck_assert(!web_url_decode("%41%41%41%41", 12, out, sizeof out, &got));
    ck_assert(!web_url_decode("a", 1, out, 0, &got));
}
END_TEST

START_TEST(test_web_url_utf8_valid_edges)
{
    ck_assert(web_url_utf8_valid("", 0));
    ck_assert(web_url_utf8_valid("\x7f", 1));
    ck_assert(web_url_utf8_valid("\xc2\x80", 2));
    ck_assert(web_url_utf8_valid("\xef\xbf\xbf", 3));
    ck_assert(web_url_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    ck_assert(!web_url_utf8_valid("\x80", 1));
    ck_assert(!web_url_utf8_valid("\xc1\xbf", 2));          /* overlong */
    ck_assert(!web_url_utf8_valid("\xe0\x80\x80", 3));      /* overlong */
    ck_assert(!web_url_utf8_valid("\xf8\x88\x80\x80\x80", 5));
    ck_assert(!web_url_utf8_valid("\xe2\x82", 2));
}
END_TEST

static const struct {
    const char *text;
    long long min, max;
    bool ok;
    long long value;
} int_cases[] = {
    { "50", 1, 1000, true, 50 },
    { "1", 1, 1000, true, 1 },
    { "1000", 1, 1000, true, 1000 },
    { "0", 1, 1000, false, 0 },
    { "1001", 1, 1000, false, 0 },
    { "-1", -5, 5, false, 0 },
    { "+1", 1, 5, false, 0 },
    { " 1", 1, 5, false, 0 },
    { "1 ", 1, 5, false, 0 },
    { "1e3", 1, 5000, false, 0 },
    { "", 0, 5, false, 0 },
    { "99999999999999999999999", 0, 5, false, 0 },
    { "9223372036854775807", 1, INT64_MAX, true, INT64_MAX },
};

START_TEST(test_web_url_parse_int_table)
{
    long long v = -42;
    bool ok = web_url_parse_int(int_cases[_i].text, int_cases[_i].min, int_cases[_i].max, &v);
    ck_assert_msg(ok == int_cases[_i].ok, "case \"%s\"", int_cases[_i].text);
    if (ok)
        ck_assert_int_eq(v, int_cases[_i].value);
    else
        ck_assert_int_eq(v, -42);
}
END_TEST

START_TEST(test_web_url_parse_int_null)
{
    long long v;
    ck_assert(!web_url_parse_int(NULL, 0, 10, &v));
}
END_TEST

static const struct {
    const char *path;
    const char *rel;        /* NULL: refused */
} static_cases[] = {
    { "/", "index.html" },
    { "/app.js", "app.js" },
    { "/img/logo.svg", "img/logo.svg" },
    { "/..", NULL },
    { "/../etc/passwd", NULL },
    { "/a/../../etc/passwd", NULL },
    { "/a/..", NULL },
    { "/./app.js", NULL },
    { "//etc/passwd", NULL },
    { "/a//b", NULL },
    { "/a/", NULL },
    { "/a\\..\\b", NULL },
    { "/a\x01", NULL },
    { "relative", NULL },
    { "/...", "..." },       /* three dots is a name, not a parent */
    { "/.hidden", ".hidden" },
};

START_TEST(test_web_static_relpath_table)
{
    char out[64];
    bool ok = web_static_relpath(static_cases[_i].path, out, sizeof out);
    if (!static_cases[_i].rel) {
        ck_assert_msg(!ok, "accepted \"%s\"", static_cases[_i].path);
        return;
    }
    ck_assert_msg(ok, "refused \"%s\"", static_cases[_i].path);
    ck_assert_str_eq(out, static_cases[_i].rel);
}
END_TEST

START_TEST(test_web_static_relpath_too_long)
{
    char out[8];
    ck_assert(web_static_relpath("/abcdef", out, sizeof out));
    ck_assert(!web_static_relpath("/abcdefgh", out, sizeof out));
}
END_TEST

START_TEST(test_web_static_content_type_by_extension)
{
    ck_assert_str_eq(web_static_content_type("index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(web_static_content_type("app.js"), "text/javascript; charset=utf-8");
    ck_assert_str_eq(web_static_content_type("style.css"), "text/css; charset=utf-8");
    ck_assert_str_eq(web_static_content_type("a/logo.svg"), "image/svg+xml");
    ck_assert_str_eq(web_static_content_type("x.png"), "image/png");
    ck_assert_str_eq(web_static_content_type("x.json"), "application/json");
    ck_assert_str_eq(web_static_content_type("x.exe"), "application/octet-stream");
    ck_assert_str_eq(web_static_content_type(".js"), "application/octet-stream");
    ck_assert_str_eq(web_static_content_type("js"), "application/octet-stream");
}
END_TEST

START_TEST(test_web_events_frame_shapes)
{
    char *f = web_events_frame(7, "update", "{\"a\":1}");
    ck_assert_str_eq(f, "id: 7\nevent: update\ndata: {\"a\":1}\n\n");
    free(f);
    /* A newline in the data never ends the frame early. */
    f = web_events_frame(8, "x", "a\nb\r\nc");
    ck_assert_str_eq(f, "id: 8\nevent: x\ndata: a\ndata: b\ndata: c\n\n");
    free(f);
    f = web_events_frame(9223372036854775807LL, "registration", "");
    ck_assert_str_eq(f, "id: 9223372036854775807\nevent: registration\ndata: \n\n");
    free(f);
}
END_TEST

static const struct {
    const char *prefix;
    const char *pattern;
} like_cases[] = {
    { "dev-", "dev-%" },
    { "", "%" },
    { "a%b", "a\\%b%" },
    { "a_b", "a\\_b%" },
    { "a\\b", "a\\\\b%" },
    { "%_\\", "\\%\\_\\\\%" },
    { "urn:imei:35", "urn:imei:35%" },
};

START_TEST(test_store_devices_like_prefix_table)
{
    char out[64];
    ck_assert(store_devices_like_prefix(like_cases[_i].prefix, out, sizeof out));
    ck_assert_str_eq(out, like_cases[_i].pattern);
    /* The documented bound always suffices. */
    size_t cap = 2 * strlen(like_cases[_i].prefix) + 2;
    char *tight = malloc(cap);
    ck_assert(store_devices_like_prefix(like_cases[_i].prefix, tight, cap));
    free(tight);
}
END_TEST

START_TEST(test_store_devices_like_prefix_overflow)
{
    char out[4];
    ck_assert(store_devices_like_prefix("ab", out, sizeof out));
    ck_assert(!store_devices_like_prefix("abc", out, sizeof out));
    ck_assert(!store_devices_like_prefix("a%", out, sizeof out));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("web_helpers");
    TCase *tc = tcase_create("web_url_decode");
    tcase_add_loop_test(tc, test_web_url_decode_table, 0,
                        sizeof decode_cases / sizeof decode_cases[0]);
    tcase_add_test(tc, test_web_url_decode_too_long);
    suite_add_tcase(s, tc);
    tc = tcase_create("web_url_utf8_valid");
    tcase_add_test(tc, test_web_url_utf8_valid_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("web_url_parse_int");
    tcase_add_loop_test(tc, test_web_url_parse_int_table, 0, sizeof int_cases / sizeof int_cases[0]);
    tcase_add_test(tc, test_web_url_parse_int_null);
    suite_add_tcase(s, tc);
    tc = tcase_create("web_static_relpath");
    tcase_add_loop_test(tc, test_web_static_relpath_table, 0,
                        sizeof static_cases / sizeof static_cases[0]);
    tcase_add_test(tc, test_web_static_relpath_too_long);
    suite_add_tcase(s, tc);
    tc = tcase_create("web_static_content_type");
    tcase_add_test(tc, test_web_static_content_type_by_extension);
    suite_add_tcase(s, tc);
    tc = tcase_create("web_events_frame");
    tcase_add_test(tc, test_web_events_frame_shapes);
    suite_add_tcase(s, tc);
    tc = tcase_create("store_devices_like_prefix");
    tcase_add_loop_test(tc, test_store_devices_like_prefix_table, 0,
                        sizeof like_cases / sizeof like_cases[0]);
    tcase_add_test(tc, test_store_devices_like_prefix_overflow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
