/*
 * tests/unit/server/test_command.c -- command documents (server/command.c)
 *
 * Table-driven: good documents with what they must parse to, and bad ones
 * with the field their error must name.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/format.h"
#include "lwm2m/model.h"
#include "server/command.h"

static struct lwm2m_model *model;

static void setup(void)
{
    struct ls_error err = { 0 };
    model = lwm2m_model_new(&err);
    ck_assert_ptr_nonnull(model);
}

static void teardown(void)
{
    lwm2m_model_free(model);
}

struct good {
    const char *json;
    enum server_command_op op;
    unsigned depth;            /* of path */
    int format;                /* -1 none */
    size_t values, paths, queries;
};

static const struct good goods[] = {
    { "{\"op\":\"read\",\"path\":\"/3/0\"}", SERVER_COMMAND_READ, 2, -1, 0, 0, 0 },
    { "{\"op\":\"read\",\"path\":\"/3/0/1\",\"format\":\"tlv\"}", SERVER_COMMAND_READ, 3,
      LWM2M_FORMAT_TLV, 0, 0, 0 },
    { "{\"op\":\"read\",\"path\":\"/3\",\"format\":112}", SERVER_COMMAND_READ, 1,
      LWM2M_FORMAT_SENML_CBOR, 0, 0, 0 },
    { "{\"op\":\"write\",\"path\":\"/3/0/14\",\"values\":[{\"path\":\"/3/0/14\",\"value\":"
      "\"+02\"}]}", SERVER_COMMAND_WRITE, 3, -1, 1, 0, 0 },
    { "{\"op\":\"update\",\"path\":\"/3/0\",\"values\":[{\"path\":\"/3/0/14\",\"type\":"
      "\"string\",\"value\":\"+02\"},{\"path\":\"/3/0/15\",\"value\":\"Europe/Paris\"}]}",
      SERVER_COMMAND_UPDATE, 2, -1, 2, 0, 0 },
    { "{\"op\":\"execute\",\"path\":\"/3/0/4\",\"args\":\"0='x'\"}", SERVER_COMMAND_EXECUTE, 3,
      -1, 0, 0, 0 },
    { "{\"op\":\"create\",\"path\":\"/3303\"}", SERVER_COMMAND_CREATE, 1, -1, 0, 0, 0 },
    { "{\"op\":\"create\",\"path\":\"/3303\",\"values\":[{\"path\":\"/3303/2/5700\",\"value\":"
      "21.5}]}", SERVER_COMMAND_CREATE, 1, -1, 1, 0, 0 },
    { "{\"op\":\"delete\",\"path\":\"/3303/2\"}", SERVER_COMMAND_DELETE, 2, -1, 0, 0, 0 },
    { "{\"op\":\"discover\",\"path\":\"/3\",\"depth\":2}", SERVER_COMMAND_DISCOVER, 1, -1, 0,
      0, 0 },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"pmin\":10,\"pmax\":60,"
      "\"gt\":1.5,\"lt\":null,\"edge\":true}}", SERVER_COMMAND_ATTRIBUTES, 3, -1, 0, 0, 5 },
    { "{\"op\":\"observe\",\"path\":\"/3/0/9\"}", SERVER_COMMAND_OBSERVE, 3, -1, 0, 0, 0 },
    { "{\"op\":\"cancel_observe\",\"path\":\"/3/0/9\"}", SERVER_COMMAND_CANCEL_OBSERVE, 3, -1,
      0, 0, 0 },
    { "{\"op\":\"read_composite\",\"paths\":[\"/3/0/0\",\"/1/0\"]}",
      SERVER_COMMAND_READ_COMPOSITE, 0, -1, 0, 2, 0 },
    { "{\"op\":\"write_composite\",\"values\":[{\"path\":\"/3/0/14\",\"value\":\"+01\"}],"
      "\"format\":\"senml-json\"}", SERVER_COMMAND_WRITE_COMPOSITE, 0,
      LWM2M_FORMAT_SENML_JSON, 1, 0, 0 },
    { "{\"op\":\"observe_composite\",\"paths\":[\"/3/0/9\"],\"unknown\":1}",
      SERVER_COMMAND_OBSERVE_COMPOSITE, 0, -1, 0, 1, 0 },
};

START_TEST(test_server_command_parse_good)
{
    const struct good *g = &goods[_i];
    struct server_command c;
    struct ls_error err = { 0 };
    ck_assert_msg(server_command_parse(g->json, strlen(g->json), model, &c, &err) == LS_OK,
                  "%s: %s", g->json, err.msg);
    ck_assert_int_eq(c.op, g->op);
    ck_assert_uint_eq(c.path.depth, g->depth);
    ck_assert_int_eq(c.has_format, g->format >= 0);
    if (g->format >= 0)
        ck_assert_uint_eq(c.format, (unsigned)g->format);
    ck_assert_uint_eq(c.values.count, g->values);
    ck_assert_uint_eq(c.n_paths, g->paths);
    ck_assert_uint_eq(c.n_queries, g->queries);
    server_command_free(&c);
}
END_TEST

START_TEST(test_server_command_parse_details)
{
    struct server_command c;
    struct ls_error err = { 0 };
    const char *j = "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"gt\":0.1,"
                    "\"pmin\":5,\"st\":null}}";
    ck_assert_int_eq(server_command_parse(j, strlen(j), model, &c, &err), LS_OK);
    ck_assert_str_eq(c.queries[0], "gt=0.1");
    ck_assert_str_eq(c.queries[1], "pmin=5");
    ck_assert_str_eq(c.queries[2], "st");
    server_command_free(&c);
    j = "{\"op\":\"execute\",\"path\":\"/3/0/4\",\"args\":\"0='a',1\"}";
    ck_assert_int_eq(server_command_parse(j, strlen(j), model, &c, &err), LS_OK);
    ck_assert_str_eq(c.args, "0='a',1");
    server_command_free(&c);
    /* the model types a value given without "type" */
    j = "{\"op\":\"write\",\"path\":\"/3/0/9\",\"values\":[{\"path\":\"/3/0/9\",\"value\":5}]}";
    ck_assert_int_eq(server_command_parse(j, strlen(j), model, &c, &err), LS_OK);
    ck_assert_int_eq(c.values.values[0].type, LWM2M_TYPE_INTEGER);
    server_command_free(&c);
    ck_assert_str_eq(server_command_op_name(SERVER_COMMAND_CANCEL_OBSERVE_COMPOSITE),
                     "cancel_observe_composite");
}
END_TEST

struct bad {
    const char *json;
    const char *field;   /* the message starts with it */
};

static const struct bad bads[] = {
    { "", "command" },
    { "[]", "command" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"op\":\"write\"}", "command" },
    { "{\"path\":\"/3/0\"}", "op" },
    { "{\"op\":\"dance\",\"path\":\"/3/0\"}", "op" },
    { "{\"op\":\"read\"}", "path" },
    { "{\"op\":\"read\",\"path\":\"/\"}", "path" },
    { "{\"op\":\"read\",\"path\":\"/3/x\"}", "path" },
    { "{\"op\":\"read\",\"path\":\"/65535\"}", "path" },
    { "{\"op\":\"read\",\"path\":3}", "path" },
    { "{\"op\":\"execute\",\"path\":\"/3/0\"}", "path" },
    { "{\"op\":\"create\",\"path\":\"/3/0\"}", "path" },
    { "{\"op\":\"delete\",\"path\":\"/3\"}", "path" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"format\":\"xml\"}", "format" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"format\":\"link\"}", "format" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"format\":true}", "format" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"args\":\"x\"}", "args" },
    { "{\"op\":\"execute\",\"path\":\"/3/0/4\",\"args\":5}", "args" },
    { "{\"op\":\"execute\",\"path\":\"/3/0/4\",\"args\":\"a\\u0000b\"}", "command" },
    { "{\"op\":\"discover\",\"path\":\"/3\",\"depth\":4}", "depth" },
    { "{\"op\":\"read\",\"path\":\"/3\",\"depth\":1}", "depth" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\"}", "attributes" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{}}", "attributes" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"foo\":1}}", "attributes" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"pmin\":-1}}",
      "attributes.pmin" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"edge\":2}}",
      "attributes.edge" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"st\":-1}}",
      "attributes.st" },
    { "{\"op\":\"attributes\",\"path\":\"/3/0/9\",\"attributes\":{\"pmin\":9,\"pmax\":3}}",
      "attributes" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"attributes\":{\"pmin\":1}}", "attributes" },
    { "{\"op\":\"read_composite\"}", "paths" },
    { "{\"op\":\"read_composite\",\"paths\":[]}", "paths" },
    { "{\"op\":\"read_composite\",\"paths\":[\"/\"]}", "paths[0]" },
    { "{\"op\":\"read_composite\",\"paths\":[\"/3/0\",7]}", "paths[1]" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"paths\":[\"/3\"]}", "paths" },
    { "{\"op\":\"write\",\"path\":\"/3/0/14\"}", "values" },
    { "{\"op\":\"write\",\"path\":\"/3/0/14\",\"values\":[]}", "values" },
    { "{\"op\":\"write\",\"path\":\"/3/0/14\",\"values\":[{\"path\":\"/3/0/15\",\"value\":"
      "\"x\"}]}", "values" },
    { "{\"op\":\"write\",\"path\":\"/3/0/9\",\"values\":[{\"path\":\"/3/0/9\",\"value\":"
      "\"x\"}]}", "values" },
    { "{\"op\":\"write\",\"path\":\"/3/0/9\",\"values\":{}}", "values" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"values\":[]}", "values" },
    { "{\"op\":\"create\",\"path\":\"/3303\",\"values\":[{\"path\":\"/3303/1/5700\",\"value\":"
      "1},{\"path\":\"/3303/2/5700\",\"value\":2}]}", "values" },
};

START_TEST(test_server_command_parse_bad)
{
    const struct bad *b = &bads[_i];
    struct server_command c;
    struct ls_error err = { 0 };
    ck_assert_msg(server_command_parse(b->json, strlen(b->json), model, &c, &err) == LS_EINVAL,
                  "%s: accepted", b->json);
    ck_assert_msg(strncmp(err.msg, b->field, strlen(b->field)) == 0, "%s: \"%s\" should name %s",
                  b->json, err.msg, b->field);
    server_command_free(&c);
}
END_TEST

START_TEST(test_server_command_op_parse_all)
{
    for (int op = SERVER_COMMAND_READ; op <= SERVER_COMMAND_CANCEL_OBSERVE_COMPOSITE; op++) {
        enum server_command_op back;
        ck_assert(server_command_op_parse(server_command_op_name(op), &back));
        ck_assert_int_eq(back, op);
    }
    enum server_command_op x;
    ck_assert(!server_command_op_parse("READ", &x));
    ck_assert(!server_command_op_parse(NULL, &x));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_command");
    TCase *tc = tcase_create("server_command_parse");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_server_command_parse_good, 0, sizeof goods / sizeof goods[0]);
    tcase_add_loop_test(tc, test_server_command_parse_bad, 0, sizeof bads / sizeof bads[0]);
    tcase_add_test(tc, test_server_command_parse_details);
    tcase_add_test(tc, test_server_command_op_parse_all);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
