/*
 * tests/unit/lwm2m/test_bsconfig.c -- lwm2m/bsconfig.c: parse, validate, plan
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <string.h>

#include "lwm2m/bsconfig.h"
#include "suite_util.h"

static const struct { const char *json; const char *prefix; } bad_cases[] = {
    { "[]", "json: " },
    { "{", "json: " },
    { "{\"servers\":[{\"uri\":\"coap://h\",\"ssid\":0}]}", "servers[0].ssid: must be 1..65534" },
    { "{\"servers\":[{\"uri\":\"coap://h\",\"ssid\":65535}]}", "servers[0].ssid: must be 1..65534" },
    { "{\"servers\":[{\"uri\":\"coap://h\"}]}", "servers[0].ssid: required" },
    { "{\"servers\":[{\"ssid\":1}]}", "servers[0].uri: required" },
    { "{\"servers\":[{\"uri\":\"http://h\",\"ssid\":1}]}", "servers[0].uri: must be" },
    { "{\"servers\":[{\"uri\":\"coap://h\",\"ssid\":1,\"security\":\"psk\"}]}",
      "servers[0].security: psk does not fit" },
    { "{\"servers\":[{\"uri\":\"coaps://h\",\"ssid\":1}]}", "servers[0].credentials: required" },
    { "{\"servers\":[{\"uri\":\"coaps://h\",\"ssid\":1,\"credentials\":{\"identity\":\"a\","
      "\"key\":\"zz\"}}]}", "servers[0].credentials.key: must be hex" },
    { "{\"servers\":[{\"uri\":\"coaps://h\",\"ssid\":1,\"security\":\"rpk\",\"credentials\":"
      "\"issue\"}]}", "servers[0].credentials: \"issue\" is only supported" },
    { "{\"servers\":[{\"uri\":\"coap://h\",\"ssid\":1},{\"uri\":\"coap://g\",\"ssid\":1}]}",
      "servers[1].ssid: 1 is already used" },
    { "{\"servers\":[{\"uri\":\"coap://h\",\"ssid\":1,\"bogus\":1}]}",
      "servers[0].bogus: unknown field" },
    { "{\"delete\":[\"/3/0\"]}", "delete[0]: the Device object instance" },
    { "{\"delete\":[\"/1/0/1\"]}", "delete[0]: must be" },
    { "{\"read\":\"/3\"}", "read: must be" },
    { "{\"format\":\"text\"}", "format: must be" },
    { "{\"acl\":[{\"object\":3,\"instance\":0,\"acl\":{\"x\":1}}]}", "acl[0].acl: key" },
    { "{\"acl\":[{\"object\":3,\"instance\":0,\"acl\":{\"1\":99}}]}", "acl[0].acl: \"1\"" },
    { "{\"instances\":[{\"path\":\"/3303\",\"values\":[]}]}", "instances[0].path: must be an "
      "instance" },
    { "{\"instances\":[{\"path\":\"/3303/0\",\"values\":[{\"path\":\"/3/0/1\",\"type\":"
      "\"string\",\"value\":\"x\"}]}]}", "instances[0].values: /3/0/1 is not" },
    { "{\"endpoint\":\"a\",\"match\":\"b*\"}", "match: a configuration has" },
    { "{\"pack\":1}", "pack: must be true or false" },
    { "{\"allow_nosec\":\"no\"}", "allow_nosec: must be true or false" },
    { "{\"ack_timeout_ms\":999}", "ack_timeout_ms: must be an integer 1000..60000" },
    { "{\"max_retransmit\":0}", "max_retransmit: must be an integer 1..10" },
    { "{\"session_timeout_s\":3601}", "session_timeout_s: must be an integer 1..3600" },
    { "{\"session_timeout_s\":1.5}", "session_timeout_s: must be an integer" },
};

START_TEST(test_parse_errors_name_the_field)
{
    struct lwm2m_bsconfig *c = (void *)1;
    struct ls_error err = { 0 };
    const char *j = bad_cases[_i].json;
    ck_assert_int_eq(lwm2m_bsconfig_parse(j, strlen(j), NULL, &c, &err), LS_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_msg(strncmp(err.msg, bad_cases[_i].prefix, strlen(bad_cases[_i].prefix)) == 0,
                  "case %d: got \"%s\"", _i, err.msg);
}
END_TEST

static const char full[] =
    "{\"endpoint\":\"dev-1\",\"ack_timeout_ms\":1500,\"max_retransmit\":5,"
    "\"session_timeout_s\":30,\"discover\":true,\"read\":\"/2\",\"format\":\"senml-cbor\","
    "\"delete\":[\"/0/0\",\"/1\"],"
    "\"servers\":[{\"uri\":\"coaps://s:5684\",\"ssid\":101,\"credentials\":\"issue\","
    "\"lifetime\":300,\"binding\":\"UQ\",\"pmin\":1,\"pmax\":60,\"mute_send\":false,"
    "\"oscore\":{\"master_secret\":\"0102\"}},"
    "{\"uri\":\"coap://s2\",\"ssid\":102}],"
    "\"acl\":[{\"object\":3,\"instance\":0,\"acl\":{\"101\":15,\"0\":1},\"owner\":101}],"
    "\"instances\":[{\"path\":\"/3303/0\",\"values\":[{\"path\":\"/3303/0/5700\",\"type\":"
    "\"float\",\"value\":21.5}]}]}";

static const struct lwm2m_value *find(const struct lwm2m_bsconfig_write *w, uint16_t res)
{
    for (size_t i = 0; i < w->data.count; i++)
        if (w->data.values[i].path.depth >= 3 && w->data.values[i].path.id[2] == res)
            return &w->data.values[i];
    return NULL;
}

START_TEST(test_plan_full)
{
    struct lwm2m_bsconfig *c = NULL;
    struct ls_error err = { 0 };
    ck_assert_msg(lwm2m_bsconfig_parse(full, strlen(full), NULL, &c, &err) == LS_OK, "%s",
                  err.msg);
    ck_assert(c->discover);
    ck_assert_int_eq(c->ack_timeout_ms, 1500);
    ck_assert_int_eq(c->max_retransmit, 5);
    ck_assert_int_eq(c->session_timeout_s, 30);
    ck_assert_int_eq(c->read, LWM2M_BSCONFIG_READ_ACL);
    ck_assert_int_eq(c->servers[0].sec.security, LWM2M_BSCONFIG_PSK);
    ck_assert_int_eq(c->servers[1].sec.security, LWM2M_BSCONFIG_NOSEC);
    struct lwm2m_bsconfig_client cl;
    lwm2m_bsconfig_client_init(&cl);
    const char *links = "</>;lwm2m=1.1,</0/0>;ssid=7,</0/3>,</1/0>;ssid=7,</3/0>";
    ck_assert_int_eq(lwm2m_bsconfig_client_discover(&cl, links, strlen(links), &err), LS_OK);
    ck_assert_int_eq(cl.bs_instance, 3);
    ck_assert_str_eq(cl.version, "1.1");
    uint8_t key[16] = { 1 };
    struct lwm2m_bsconfig_issued is[2] = { { .identity = "dev-1-abc", .key = key,
                                             .key_len = 16 }, { 0 } };
    struct lwm2m_bsconfig_plan p;
    ck_assert_msg(lwm2m_bsconfig_plan_build(c, &cl, is, &p, &err) == LS_OK, "%s", err.msg);
    /* /0/0 is deleted (not the BS account /0/3): servers take /0/0 and /0/1 */
    ck_assert_uint_eq(p.n_deletes, 2);
    ck_assert_uint_eq(p.n_writes, 2 + 2 + 1 + 1 + 1);
    ck_assert_uint_eq(p.writes[0].path.id[0], 0);
    ck_assert_uint_eq(p.writes[0].path.id[1], 0);
    ck_assert_uint_eq(p.writes[1].path.id[1], 1);
    const struct lwm2m_value *v = find(&p.writes[0], 3);
    ck_assert_uint_eq(v->v.bytes.len, 9);
    ck_assert(memcmp(v->v.bytes.ptr, "dev-1-abc", 9) == 0);
    ck_assert_int_eq(find(&p.writes[0], 10)->v.i, 101);
    ck_assert_uint_eq(find(&p.writes[0], 17)->v.objlnk.obj, 21);
    ck_assert_int_eq(find(&p.writes[1], 2)->v.i, LWM2M_BSCONFIG_NOSEC);
    ck_assert_uint_eq(p.writes[2].path.id[0], 1);
    ck_assert_int_eq(find(&p.writes[2], 1)->v.i, 300);
    ck_assert_uint_eq(p.writes[4].path.id[0], 2);
    ck_assert_uint_eq(p.writes[5].path.id[0], 21);
    ck_assert_uint_eq(p.writes[6].path.id[0], 3303);
    struct lwm2m_data pack;
    ck_assert_int_eq(lwm2m_bsconfig_plan_pack(&p, &pack, &err), LS_OK);
    ck_assert_uint_gt(pack.count, 20);
    lwm2m_data_free(&pack);
    lwm2m_bsconfig_plan_free(&p);
    /* no issued keys for an "issue" server: refused */
    ck_assert_int_eq(lwm2m_bsconfig_plan_build(c, &cl, NULL, &p, &err), LS_EINVAL);
    lwm2m_bsconfig_plan_free(&p);
    lwm2m_bsconfig_free(c);
}
END_TEST

START_TEST(test_plan_defaults_keep_bs_account)
{
    const char *j = "{\"servers\":[{\"uri\":\"coap://s\",\"ssid\":1}]}";
    struct lwm2m_bsconfig *c = NULL;
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_bsconfig_parse(j, strlen(j), NULL, &c, &err), LS_OK);
    ck_assert_uint_eq(c->n_deletes, 2);   /* default ["/0", "/1"] */
    ck_assert(c->pack);
    ck_assert(c->allow_nosec);   /* NoSec fleets keep working */
    ck_assert_int_eq(c->ack_timeout_ms, 2000);   /* timing defaults */
    ck_assert_int_eq(c->max_retransmit, 3);
    ck_assert_int_eq(c->session_timeout_s, 60);
    struct lwm2m_bsconfig_plan p;
    ck_assert_int_eq(lwm2m_bsconfig_plan_build(c, NULL, NULL, &p, &err), LS_OK);
    /* nothing known: BS account assumed /0/0, the server goes to /0/1 */
    ck_assert_uint_eq(p.writes[0].path.id[1], 1);
    ck_assert_uint_eq(p.writes[1].path.id[0], 1);
    ck_assert_uint_eq(p.writes[1].path.id[1], 0);
    lwm2m_bsconfig_plan_free(&p);
    /* 1.0 Discover without </>: the /0 instance without ssid is the BS account */
    struct lwm2m_bsconfig_client cl;
    lwm2m_bsconfig_client_init(&cl);
    const char *links = "</0/5>,</0/2>;ssid=3,</3/0>";
    ck_assert_int_eq(lwm2m_bsconfig_client_discover(&cl, links, strlen(links), &err), LS_OK);
    ck_assert_int_eq(cl.bs_instance, 5);
    ck_assert_int_eq(lwm2m_bsconfig_plan_build(c, &cl, NULL, &p, &err), LS_OK);
    ck_assert_uint_eq(p.writes[0].path.id[1], 0);
    lwm2m_bsconfig_plan_free(&p);
    lwm2m_bsconfig_free(c);
    /* a template or the default can require DTLS */
    j = "{\"match\":\"x*\",\"allow_nosec\":false}";
    ck_assert_int_eq(lwm2m_bsconfig_parse(j, strlen(j), NULL, &c, &err), LS_OK);
    ck_assert(!c->allow_nosec);
    lwm2m_bsconfig_free(c);
}
END_TEST

static Suite *bsconfig_suite(void)
{
    Suite *s = suite_create("lwm2m_bsconfig");
    TCase *tc = tcase_create("lwm2m_bsconfig_parse");
    tcase_add_loop_test(tc, test_parse_errors_name_the_field, 0,
                        sizeof bad_cases / sizeof bad_cases[0]);
    suite_add_tcase(s, tc);
    tc = tcase_create("lwm2m_bsconfig_plan_build");
    tcase_add_test(tc, test_plan_full);
    tcase_add_test(tc, test_plan_defaults_keep_bs_account);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(bsconfig_suite());
}
