/*
 * tests/unit/tools/test_sim_csv.c -- lodestar-sim's reader of the factory
 * export CSV (tools/sim_csv.h): columns by header, RFC 4180 quoting, hex
 * keys, and the errors it names
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tools/sim_csv.h"

#define HEADER "endpoint,bootstrap_uri,bootstrap_identity,bootstrap_key,server_uri,server_ssid," \
               "server_identity,server_key\r\n"

static enum ls_rc parse(const char *text, struct sim_csv *c, struct ls_error *err)
{
    memset(err, 0, sizeof *err);
    return sim_csv_parse(text, strlen(text), c, err);
}

START_TEST(export_rows)
{
    struct sim_csv c;
    struct ls_error err;
    const char *text = HEADER
        "dev-1,coaps://127.0.0.1:5784,dev-1-aa,00ff10,coaps://127.0.0.1:5684,101,dev-1-bb,"
        "0102030405060708090a0b0c0d0e0f10\r\n"
        "\"with,comma\",,,,coaps://h:1,7,\"id \"\"q\"\"\",AbCd\r\n";
    ck_assert_int_eq(parse(text, &c, &err), LS_OK);
    ck_assert_uint_eq(c.count, 2);
    ck_assert_str_eq(c.rows[0].endpoint, "dev-1");
    ck_assert_str_eq(c.rows[0].bootstrap.uri, "coaps://127.0.0.1:5784");
    ck_assert_str_eq(c.rows[0].bootstrap.identity, "dev-1-aa");
    ck_assert_uint_eq(c.rows[0].bootstrap.key_len, 3);
    ck_assert_uint_eq(c.rows[0].bootstrap.key[1], 0xff);
    ck_assert_uint_eq(c.rows[0].server_ssid, 101);
    ck_assert_uint_eq(c.rows[0].server.key_len, 16);
    ck_assert_uint_eq(c.rows[0].server.key[15], 0x10);
    ck_assert_str_eq(c.rows[1].endpoint, "with,comma");
    ck_assert_str_eq(c.rows[1].bootstrap.identity, "");
    ck_assert_ptr_null(c.rows[1].bootstrap.key);
    ck_assert_str_eq(c.rows[1].server.identity, "id \"q\"");
    ck_assert_uint_eq(c.rows[1].server.key[0], 0xab);
    sim_csv_free(&c);
}
END_TEST

/* Columns in any order, unknown ones ignored, LF line ends, empty lines. */
START_TEST(any_column_order)
{
    struct sim_csv c;
    struct ls_error err;
    ck_assert_int_eq(parse("note,server_key,endpoint\nx,beef,a\n\ny,,b", &c, &err), LS_OK);
    ck_assert_uint_eq(c.count, 2);
    ck_assert_str_eq(c.rows[0].endpoint, "a");
    ck_assert_uint_eq(c.rows[0].server.key_len, 2);
    ck_assert_str_eq(c.rows[1].endpoint, "b");
    ck_assert_uint_eq(c.rows[1].server.key_len, 0);
    ck_assert_str_eq(c.rows[1].server.uri, "");
    sim_csv_free(&c);
}
END_TEST

START_TEST(errors_name_the_line)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        { "", "line 1: the CSV is empty" },
        { "server_key\r\nab\r\n", "line 1: no endpoint column" },
        { "endpoint,endpoint\r\na,b\r\n", "line 1: column endpoint twice" },
        { HEADER "dev,,,,,,,zz\r\n", "line 2: a key is not hex" },
        { HEADER "dev,,,,,,,abc\r\n", "line 2: a key is not hex" },
        { HEADER "ok\r\n\"open\r\n", "line 3: unterminated quote" },
        { HEADER "a\"b\r\n", "line 2: quote inside a field" },
        { HEADER "\"a\"b\r\n", "line 2: text after a closing quote" },
        { HEADER ",x\r\n", "line 2: no endpoint" },
        { HEADER "d,,,,,70000,,\r\n", "line 2: server_ssid is not a number" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sim_csv c;
        struct ls_error err;
        ck_assert_int_eq(parse(bad[i].text, &c, &err), LS_EPROTO);
        ck_assert_msg(strcmp(err.msg, bad[i].msg) == 0, "case %zu: \"%s\"", i, err.msg);
        ck_assert_uint_eq(c.count, 0);
        ck_assert_ptr_null(c.rows);
    }
}
END_TEST

START_TEST(load_missing_file)
{
    struct sim_csv c;
    struct ls_error err = { 0 };
    ck_assert_int_eq(sim_csv_load("/nonexistent/batch.csv", &c, &err), LS_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/batch.csv"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_csv");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, export_rows);
    tcase_add_test(tc, any_column_order);
    tcase_add_test(tc, errors_name_the_line);
    tcase_add_test(tc, load_missing_file);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
