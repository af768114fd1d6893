/*
 * tests/unit/lwm2m/test_link.c -- lwm2m/link.c
 *
 * Payloads are taken verbatim from shared/captures (Register requests,
 * Discover and Bootstrap-Discover answers of Anjay 1.0-1.2 and Wakaama 1.1)
 * plus the spec's examples and garbage.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/link.h"
#include "suite_util.h"

/* ---- lwm2m_link_parse: valid payloads ---------------------------------- */

static const struct {
    const char *text;
    size_t count;           /* links */
    const char *printed;    /* lwm2m_link_format of the list; NULL = same as text */
} good[] = {
    { "", 0, "" },
    { "</3/0>;ver=1.1,</1/0>,</5>;ver=\"1.0\"", 3, NULL },
    { "</>;rt=\"oma.lwm2m\";ct=110", 1, NULL },
    { "</>;rt=\"oma.lwm2m\";ct=\"110 112\",</3/0>", 2, NULL },
    { "</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/3/0>,</lwm2m/1/0>", 3, NULL },
    { "lwm2m=\"1.0\",</0>,</0/1>", 3, NULL },
    { "</3/0/1>;dim;pmin=10;pmax=60;gt=20.5;lt=-3;st=0.5;epmin=1;epmax=9;edge=1;con=0;hqmax=4",
      1, NULL },
    { "</0/1>;ssid=1;uri=\"coap://127.0.0.1:15783\"", 1, NULL },
    { "<coap://example.com/x?y=1#z>;anchor=\"/\";title=\"a \\\"q\\\" \\\\ b\"", 1, NULL },
    { "</3/0>, </4/0>,\r\n</5>", 3, "</3/0>,</4/0>,</5>" },
    { "<>", 1, NULL },
    { "</3/0>;x=\"\"", 1, NULL },
    { "</a;b>;c=\"x,y;z\"", 1, NULL },
    /* anjay-1.0/01-register-req.json */
    { "</1/1>,</2>,</3/0>,</4/0>,</5/0>,</6/0>,</7/0>,</10>;ver=\"1.1\",</10/0>,</11>,</16>,"
      "</19>,</20/0>,</3303/0>,</3313/0>,</3347/0>,</33605>,</33606/0>,</33607/0>,</33608>,"
      "</33609/0>", 21, NULL },
    /* wakaama-1.1/01-register-req.json */
    { "</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</2/0>,</3/0>,</4/0>,</5/0>,</6/0>,"
      "</7/0>,</31024>;ver=1.0,</31024/10>,</31024/11>,</31024/12>", 13, NULL },
    /* anjay-1.0/72-bs-discover-resp-2_05.json */
    { "lwm2m=\"1.0\",</0>,</0/1>,</1>,</2>,</3>,</3/0>,</4>,</4/0>,</5>,</5/0>,</6>,</6/0>,"
      "</7>,</7/0>,</10>;ver=\"1.1\",</10/0>,</11>,</16>,</19>,</20>,</20/0>,</3303>,"
      "</3303/0>,</3313>,</3313/0>,</3347>,</3347/0>,</33605>,</33606>,</33606/0>,</33607>,"
      "</33607/0>,</33608>,</33609>,</33609/0>", 36, NULL },
    /* anjay-1.2/86-bs-discover-after-resp-2_05.json (prefix) */
    { "</>;lwm2m=1.2,</0>,</0/1>;uri=\"coap://127.0.0.1:15785\",</0/2>;ssid=1;"
      "uri=\"coap://127.0.0.1:15783\",</1>,</1/1>;ssid=1,</2>", 7, NULL },
    /* anjay-1.0/50-discover-3_0-resp-2_05.json */
    { "</3/0>,</3/0/0>,</3/0/1>,</3/0/2>,</3/0/3>,</3/0/4>,</3/0/5>,</3/0/6>;dim=1,"
      "</3/0/7>;dim=1,</3/0/8>;dim=1,</3/0/9>,</3/0/10>,</3/0/11>;dim=1,</3/0/13>;pmin=1;"
      "pmax=2,</3/0/14>,</3/0/15>,</3/0/16>,</3/0/17>,</3/0/18>,</3/0/19>,</3/0/20>,"
      "</3/0/21>,</3/0/22>;dim=1", 23, NULL },
    /* wakaama-1.1/60-bs-discover-resp-2_05.json */
    { "</>;lwm2m=1.1,</0/0>,</1>;ver=1.1,</1/0>;ssid=123,</2/0>,</3/0>,</4/0>,</5/0>,</6/0>,"
      "</7/0>,</31024>;ver=1.0,</31024/10>,</31024/11>,</31024/12>", 14, NULL },
};

START_TEST(test_lwm2m_link_parse_good)
{
    struct lwm2m_link_list list;
    struct ls_error err = { 0 };
    enum ls_rc rc = lwm2m_link_parse(good[_i].text, strlen(good[_i].text), &list, &err);
    ck_assert_msg(rc == LS_OK, "case %d: %s", _i, err.msg);
    ck_assert_uint_eq(list.count, good[_i].count);
    struct lwm2m_buf buf = { 0 };
    ck_assert_int_eq(lwm2m_link_format(list.links, list.count, &buf, &err), LS_OK);
    const char *want = good[_i].printed ? good[_i].printed : good[_i].text;
    ck_assert_uint_eq(buf.len, strlen(want));
    ck_assert(buf.len == 0 || memcmp(buf.data, want, buf.len) == 0);
    /* The printed form parses to the same list. */
    struct lwm2m_link_list again;
    ck_assert_int_eq(lwm2m_link_parse((const char *)buf.data, buf.len, &again, &err), LS_OK);
    ck_assert_uint_eq(again.count, list.count);
    for (size_t i = 0; i < list.count; i++) {
        ck_assert_uint_eq(again.links[i].n_attrs, list.links[i].n_attrs);
        ck_assert_int_eq(again.links[i].is_path, list.links[i].is_path);
    }
    lwm2m_link_list_free(&again);
    lwm2m_buf_free(&buf);
    lwm2m_link_list_free(&list);
}
END_TEST

START_TEST(test_lwm2m_link_parse_fields)
{
    const char *text = "</3/0>;ver=1.1,</1/0>,</5>;ver=\"1.0\";dim;uri=\"a\\\"b\",lwm";
    struct lwm2m_link_list l;
    struct ls_error err = { 0 };
    /* "lwm" after a link is not a bare entry: only the first may be bare. */
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "entry 4"));
    ck_assert_ptr_null(l.links);
    ls_error_clear(&err);
    text = "</3/0>;ver=1.1,</1/0>,</5>;ver=\"1.0\";dim;uri=\"a\\\"b\",</xyz>";
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_OK);
    ck_assert_uint_eq(l.count, 4);
    ck_assert_str_eq(l.links[0].uri, "/3/0");
    ck_assert(l.links[0].is_path);
    ck_assert_uint_eq(l.links[0].path.depth, 2);
    ck_assert_uint_eq(l.links[0].path.id[0], 3);
    ck_assert_uint_eq(l.links[0].n_attrs, 1);
    ck_assert_str_eq(l.links[0].attrs[0].name, "ver");
    ck_assert_str_eq(l.links[0].attrs[0].value, "1.1");
    ck_assert(!l.links[0].attrs[0].quoted);
    ck_assert_uint_eq(l.links[1].n_attrs, 0);
    ck_assert_uint_eq(l.links[1].offset, 15);
    ck_assert_uint_eq(l.links[2].n_attrs, 3);
    ck_assert(l.links[2].attrs[0].quoted);
    ck_assert_str_eq(l.links[2].attrs[0].value, "1.0");
    ck_assert_ptr_null(l.links[2].attrs[1].value);
    ck_assert_str_eq(l.links[2].attrs[1].name, "dim");
    ck_assert_str_eq(l.links[2].attrs[2].value, "a\"b");
    ck_assert_ptr_eq(lwm2m_link_attr_find(&l.links[2], "dim"), &l.links[2].attrs[1]);
    ck_assert_ptr_null(lwm2m_link_attr_find(&l.links[2], "pmin"));
    ck_assert(!l.links[3].is_path);
    ck_assert_str_eq(l.links[3].uri, "/xyz");
    lwm2m_link_list_free(&l);
    lwm2m_link_list_free(&l);   /* idempotent */
    lwm2m_link_list_free(NULL);

    text = "lwm2m=\"1.0\",</0>";
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_OK);
    ck_assert_ptr_null(l.links[0].uri);
    ck_assert_str_eq(l.links[0].attrs[0].name, "lwm2m");
    ck_assert_str_eq(l.links[0].attrs[0].value, "1.0");
    ck_assert(l.links[1].is_path);
    lwm2m_link_list_free(&l);

    text = "</>;rt=\"oma.lwm2m\"";
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_OK);
    ck_assert(l.links[0].is_path);
    ck_assert_uint_eq(l.links[0].path.depth, 0);
    lwm2m_link_list_free(&l);
}
END_TEST

/* ---- lwm2m_link_parse: garbage ------------------------------------------ */

static const struct {
    const char *text;
    enum ls_rc rc;
    const char *needle;
} bad[] = {
    { "</3/0", LS_EPROTO, "unterminated '<'" },
    { "<", LS_EPROTO, "offset 1 (entry 1)" },
    { "</3/0>,</4", LS_EPROTO, "entry 2" },
    { "</3/0>;ver=\"1.1", LS_EPROTO, "unterminated quoted string" },
    { "</3/0>;ver=\"1.1\\", LS_EPROTO, "unterminated quoted string" },
    { "</3/0>;ver=\"1.1\"x", LS_EPROTO, "expected ';'" },
    { "</3/0>;ver=1\"1", LS_EPROTO, "expected ';'" },
    { "</3/0>;ver=", LS_EPROTO, "expected a value" },
    { "</3/0>;=1", LS_EPROTO, "attribute name" },
    { "</3/0>;", LS_EPROTO, "attribute name" },
    { "</3/0>;;", LS_EPROTO, "attribute name" },
    { "</3/0>;v e=1", LS_EPROTO, "expected ';'" },
    { "</3/0>,", LS_EPROTO, "empty entry" },
    { ",</3/0>", LS_EPROTO, "empty entry" },
    { "</3/0>,,</4/0>", LS_EPROTO, "offset 7 (entry 2): empty entry" },
    { "</3/0>x", LS_EPROTO, "expected ',' or the end" },
    { "</3/0>  ,</4>", LS_EPROTO, "expected ',' or the end" },
    { "</3 /0>", LS_EPROTO, "bad character in URI" },
    { "<</3>", LS_EPROTO, "bad character in URI" },
    { "3/0", LS_EPROTO, "expected ';'" },
    { "</3/0>,lwm2m=1.0", LS_EPROTO, "expected '<'" },
    { "\"x\"", LS_EPROTO, "expected '<'" },
    { " </3/0>", LS_EPROTO, "expected '<'" },
};

START_TEST(test_lwm2m_link_parse_bad)
{
    struct lwm2m_link_list l;
    struct ls_error err = { 0 };
    enum ls_rc rc = lwm2m_link_parse(bad[_i].text, strlen(bad[_i].text), &l, &err);
    ck_assert_msg(rc == bad[_i].rc, "case %d (%s): rc %d", _i, bad[_i].text, rc);
    ck_assert_msg(strstr(err.msg, bad[_i].needle) != NULL, "case %d: %s", _i, err.msg);
    ck_assert_ptr_null(l.links);
    ck_assert_ptr_null(l.text);
}
END_TEST

START_TEST(test_lwm2m_link_parse_limits)
{
    struct lwm2m_link_list l;
    struct ls_error err = { 0 };
    /* NUL inside */
    ck_assert_int_eq(lwm2m_link_parse("</3>\0,</4>", 10, &l, &err), LS_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "offset 4"));
    ls_error_clear(&err);
    /* too long */
    size_t big = LWM2M_LINK_MAX_LEN + 1;
    char *s = malloc(big);
    memset(s, 'a', big);
    ck_assert_int_eq(lwm2m_link_parse(s, big, &l, &err), LS_ENOMEM);
    ls_error_clear(&err);
    /* too many links: "<>," repeated */
    size_t n = LWM2M_LINK_MAX_LINKS + 1, len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "%s<>", i ? "," : "");
    ck_assert_int_eq(lwm2m_link_parse(s, len, &l, &err), LS_ENOMEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "links"));
    ls_error_clear(&err);
    /* exactly the maximum is fine */
    len -= 3;
    ck_assert_int_eq(lwm2m_link_parse(s, len, &l, &err), LS_OK);
    ck_assert_uint_eq(l.count, LWM2M_LINK_MAX_LINKS);
    lwm2m_link_list_free(&l);
    /* too many attributes on one link */
    len = (size_t)sprintf(s, "</3>");
    for (int i = 0; i <= LWM2M_LINK_MAX_ATTRS; i++)
        len += (size_t)sprintf(s + len, ";a%d", i);
    ck_assert_int_eq(lwm2m_link_parse(s, len, &l, &err), LS_ENOMEM);
    ck_assert_ptr_nonnull(strstr(err.msg, "attributes"));
    free(s);
}
END_TEST

START_TEST(test_lwm2m_link_attr_uint_values)
{
    const char *text = "</3/0/1>;pmin=10;pmax=99999999999999999999999;gt=1.5;dim;ssid=65535";
    struct lwm2m_link_list l;
    struct ls_error err = { 0 };
    uint64_t v = 7;
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_OK);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "pmin", UINT32_MAX, &v, &err), LS_OK);
    ck_assert_uint_eq(v, 10);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "pmax", UINT64_MAX, &v, &err), LS_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "pmax"));
    ck_assert_uint_eq(v, 10);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "gt", 100, &v, &err), LS_EPROTO);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "dim", 100, &v, &err), LS_EPROTO);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "ssid", 65534, &v, &err), LS_EPROTO);
    ls_error_clear(&err);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "ssid", 65535, &v, &err), LS_OK);
    ck_assert_uint_eq(v, 65535);
    ck_assert_int_eq(lwm2m_link_attr_uint(&l.links[0], "epmin", 100, &v, &err), LS_ENOTFOUND);
    lwm2m_link_list_free(&l);
}
END_TEST

/* ---- lwm2m_link_format -------------------------------------------------- */

START_TEST(test_lwm2m_link_format_built)
{
    static const struct lwm2m_link_attr a0[] = { { "dim", "2", false } };
    static const struct lwm2m_link_attr a1[] = {
        { "pmin", "10", false }, { "title", "a b,\"c\"\\", false },
        { "ver", "1.1", true }, { "obs", NULL, false }, { "e", "", false },
    };
    const struct lwm2m_link links[] = {
        { .uri = "/3/0" },
        { .uri = "/3/0/6", .n_attrs = 1, .attrs = a0 },
        { .uri = "/3/0/7", .n_attrs = 5, .attrs = a1 },
    };
    struct lwm2m_buf b = { 0 };
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_link_format(links, 3, &b, &err), LS_OK);
    const char *want = "</3/0>,</3/0/6>;dim=2,</3/0/7>;pmin=10;title=\"a b,\\\"c\\\"\\\\\";"
                       "ver=\"1.1\";obs;e=\"\"";
    ck_assert_uint_eq(b.len, strlen(want));
    ck_assert(memcmp(b.data, want, b.len) == 0);
    lwm2m_buf_free(&b);

    static const struct lwm2m_link_attr badname[] = { { "a b", "1", false } };
    const struct lwm2m_link l1 = { .uri = "/3", .n_attrs = 1, .attrs = badname };
    ck_assert_int_eq(lwm2m_link_format(&l1, 1, &b, &err), LS_EINVAL);
    lwm2m_buf_free(&b);
    ls_error_clear(&err);
    const struct lwm2m_link l2 = { .uri = "/3>" };
    ck_assert_int_eq(lwm2m_link_format(&l2, 1, &b, &err), LS_EINVAL);
    lwm2m_buf_free(&b);
}
END_TEST

/* ---- lwm2m_link_register_parse ------------------------------------------ */

START_TEST(test_lwm2m_link_register_parse_wakaama)
{
    const char *text = "</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</2/0>,</3/0>,</4/0>,"
                       "</5/0>,</6/0>,</7/0>,</31024>;ver=1.0,</31024/10>,</31024/11>,"
                       "</31024/12>";
    struct lwm2m_link_list l;
    struct lwm2m_link_register r;
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, &err), LS_OK);
    ck_assert_str_eq(r.alt_path, "/");
    ck_assert_uint_eq(r.n_ct, 1);
    ck_assert_uint_eq(r.ct[0], 110);
    ck_assert_uint_eq(r.n_paths, 12);
    char s[LWM2M_PATH_STR_MAX];
    lwm2m_path_format(&r.paths[0], s);
    ck_assert_str_eq(s, "/1");
    lwm2m_path_format(&r.paths[11], s);
    ck_assert_str_eq(s, "/31024/12");
    ck_assert_uint_eq(r.n_objects, 8);
    ck_assert_uint_eq(r.objects[0].id, 1);
    ck_assert_str_eq(r.objects[0].version, "1.1");
    ck_assert_ptr_null(lwm2m_link_register_version(&r, 3));
    ck_assert_str_eq(lwm2m_link_register_version(&r, 31024), "1.0");
    ck_assert_ptr_null(lwm2m_link_register_version(&r, 9));
    lwm2m_link_register_free(&r);
    lwm2m_link_register_free(NULL);
    lwm2m_link_list_free(&l);
}
END_TEST

START_TEST(test_lwm2m_link_register_parse_anjay)
{
    /* anjay-1.0/01-register-req.json: ver on an object without instances */
    const char *text = "</1/1>,</2>,</3/0>,</4/0>,</5/0>,</6/0>,</7/0>,</10>;ver=\"1.1\","
                       "</10/0>,</11>,</16>,</19>,</20/0>,</3303/0>,</3313/0>,</3347/0>,"
                       "</33605>,</33606/0>,</33607/0>,</33608>,</33609/0>";
    struct lwm2m_link_list l;
    struct lwm2m_link_register r;
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, NULL), LS_OK);
    ck_assert_uint_eq(r.n_paths, 21);
    ck_assert_uint_eq(r.n_objects, 20);
    ck_assert_uint_eq(r.n_ct, 0);
    ck_assert_ptr_null(r.lwm2m_version);
    ck_assert_str_eq(lwm2m_link_register_version(&r, 10), "1.1");
    ck_assert_uint_eq(r.paths[1].depth, 1);
    ck_assert_uint_eq(r.paths[1].id[0], 2);
    for (size_t i = 1; i < r.n_objects; i++)
        ck_assert_uint_lt(r.objects[i - 1].id, r.objects[i].id);
    lwm2m_link_register_free(&r);
    lwm2m_link_list_free(&l);
}
END_TEST

START_TEST(test_lwm2m_link_register_parse_alt_path)
{
    const char *text = "</lwm2m>;rt=\"oma.lwm2m\";ct=\"110 112\",</lwm2m/3/0>,</lwm2m/5>;ver=1.1,"
                       "</lwm2m/5/0>;ver=1.2";
    struct lwm2m_link_list l;
    struct lwm2m_link_register r;
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, NULL), LS_OK);
    ck_assert_str_eq(r.alt_path, "/lwm2m");
    ck_assert_uint_eq(r.n_ct, 2);
    ck_assert_uint_eq(r.ct[1], 112);
    ck_assert_uint_eq(r.n_paths, 3);
    ck_assert_uint_eq(r.paths[0].id[0], 3);
    ck_assert_uint_eq(r.n_objects, 2);
    ck_assert_str_eq(lwm2m_link_register_version(&r, 5), "1.1"); /* first ver wins */
    lwm2m_link_register_free(&r);
    lwm2m_link_list_free(&l);

    text = "lwm2m=\"1.0\",</0>,</0/1>";
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, NULL), LS_OK);
    ck_assert_str_eq(r.lwm2m_version, "1.0");
    ck_assert_uint_eq(r.n_paths, 2);
    lwm2m_link_register_free(&r);
    lwm2m_link_list_free(&l);

    text = "</>;lwm2m=1.1,</0/0>";
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, NULL), LS_OK);
    ck_assert_str_eq(r.lwm2m_version, "1.1");
    ck_assert_uint_eq(r.n_paths, 1);
    lwm2m_link_register_free(&r);
    lwm2m_link_list_free(&l);
}
END_TEST

static const struct {
    const char *text;
    const char *needle;
} bad_register[] = {
    { "</3/0/1>", "(entry 1) </3/0/1>: not an object or object instance" },
    { "</3/0>,</xyz>", "entry 2" },
    { "</99999>", "not an object" },
    { "</3/0>;ver=one", "ver must" },
    { "</3>;ver", "ver must" },
    { "</3>;ver=1.", "ver must" },
    { "</lwm2m>;rt=\"oma.lwm2m\",</3/0>", "outside the alternate path" },
    { "</lwm2m>;rt=\"oma.lwm2m\",</lwm2mx/3/0>", "outside" },
    { "</3/0>,</lwm2m>;rt=\"oma.lwm2m\"", "must be the first" },
    { "</a>;rt=\"oma.lwm2m\",</b>;rt=\"oma.lwm2m\"", "appear once" },
    { "<lwm2m>;rt=\"oma.lwm2m\"", "absolute path" },
    { "</>;rt=\"oma.lwm2m\";ct=abc", "ct must" },
    { "</>;rt=\"oma.lwm2m\";ct=70000", "ct must" },
    { "</>;rt=\"oma.lwm2m\";ct=\"1 2 3 4 5 6 7 8 9\"", "ct must" },
    { "</>;rt=\"oma.lwm2m\";ct", "ct must" },
    { "</>;rt=\"oma.lwm2m\";ct=\"110  112\"", "ct must" },
};

START_TEST(test_lwm2m_link_register_parse_bad)
{
    struct lwm2m_link_list l;
    struct lwm2m_link_register r;
    struct ls_error err = { 0 };
    const char *text = bad_register[_i].text;
    ck_assert_int_eq(lwm2m_link_parse(text, strlen(text), &l, &err), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, &err), LS_EPROTO);
    ck_assert_msg(strstr(err.msg, bad_register[_i].needle) != NULL, "case %d: %s", _i, err.msg);
    ck_assert_ptr_null(r.paths);
    ck_assert_ptr_null(r.objects);
    lwm2m_link_list_free(&l);
}
END_TEST

START_TEST(test_lwm2m_link_register_parse_empty)
{
    struct lwm2m_link_list l;
    struct lwm2m_link_register r;
    ck_assert_int_eq(lwm2m_link_parse("", 0, &l, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_link_register_parse(&l, &r, NULL), LS_OK);
    ck_assert_str_eq(r.alt_path, "/");
    ck_assert_uint_eq(r.n_paths, 0);
    ck_assert_uint_eq(r.n_objects, 0);
    lwm2m_link_register_free(&r);
    lwm2m_link_list_free(&l);
}
END_TEST

/* Every Register request and Discover answer in the captures parses. */
START_TEST(test_lwm2m_link_parse_captures)
{
    static const char *const files[] = {
        "anjay-1.0/01-register-req.json", "anjay-1.1/01-register-req.json",
        "anjay-1.2/01-register-req.json", "wakaama-1.1/01-register-req.json",
        "wakaama-1.1/73-register-req.json", "anjay-1.0-1.2/21-register-req.json",
        "anjay-1.0/72-bs-discover-resp-2_05.json", "anjay-1.1/84-bs-discover-after-resp-2_05.json",
        "anjay-1.2/86-bs-discover-after-resp-2_05.json", "wakaama-1.1/70-bs-discover-after-resp-2_05.json",
        "anjay-1.0/50-discover-3_0-resp-2_05.json", "wakaama-1.1/40-discover-1-resp-2_05.json",
    };
    const char *shared = getenv("LODESTAR_SHARED");
    char path[4096];
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        snprintf(path, sizeof path, "%s/captures/%s", shared ? shared : "../shared", files[f]);
        FILE *fp = fopen(path, "r");
        ck_assert_msg(fp != NULL, "%s", path);
        static char json[1 << 16];
        size_t n = fread(json, 1, sizeof json - 1, fp);
        fclose(fp);
        json[n] = '\0';
        /* "payload_hex": "..." -- decode by hand, no JSON library needed here. */
        const char *h = strstr(json, "\"payload_hex\"");
        ck_assert_ptr_nonnull(h);
        h = strchr(h + 13, '"') + 1;
        static char payload[1 << 15];
        size_t len = 0;
        while (h[0] != '"' && len < sizeof payload) {
            unsigned byte;
            ck_assert_int_eq(sscanf(h, "%2x", &byte), 1);
            payload[len++] = (char)byte;
            h += 2;
        }
        struct lwm2m_link_list l;
        struct ls_error err = { 0 };
        ck_assert_msg(lwm2m_link_parse(payload, len, &l, &err) == LS_OK, "%s: %s", files[f], err.msg);
        ck_assert_uint_gt(l.count, 5);
        if (strstr(files[f], "register")) {
            struct lwm2m_link_register r;
            ck_assert_msg(lwm2m_link_register_parse(&l, &r, &err) == LS_OK, "%s: %s", files[f],
                          err.msg);
            ck_assert_uint_gt(r.n_objects, 5);
            ck_assert(lwm2m_link_register_version(&r, 3) == NULL);
            lwm2m_link_register_free(&r);
        }
        lwm2m_link_list_free(&l);
    }
}
END_TEST

static Suite *link_suite(void)
{
    Suite *s = suite_create("lwm2m_link");
    TCase *tc = tcase_create("lwm2m_link_parse");
    tcase_add_loop_test(tc, test_lwm2m_link_parse_good, 0, sizeof good / sizeof good[0]);
    tcase_add_test(tc, test_lwm2m_link_parse_fields);
    tcase_add_loop_test(tc, test_lwm2m_link_parse_bad, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_lwm2m_link_parse_limits);
    tcase_add_test(tc, test_lwm2m_link_parse_captures);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_link_attr_uint");
    tcase_add_test(tc, test_lwm2m_link_attr_uint_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_link_format");
    tcase_add_test(tc, test_lwm2m_link_format_built);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_link_register_parse");
    tcase_add_test(tc, test_lwm2m_link_register_parse_wakaama);
    tcase_add_test(tc, test_lwm2m_link_register_parse_anjay);
    tcase_add_test(tc, test_lwm2m_link_register_parse_alt_path);
    tcase_add_loop_test(tc, test_lwm2m_link_register_parse_bad, 0,
                        sizeof bad_register / sizeof bad_register[0]);
    tcase_add_test(tc, test_lwm2m_link_register_parse_empty);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(link_suite());
}
