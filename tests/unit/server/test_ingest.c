/*
 * tests/unit/server/test_ingest.c -- the pure parts of notifications and
 * Send: event details from decoded values (server/ingest.c), the Send
 * captures of real clients as test vectors, and the registry's address
 * index that finds NoSec senders (server/registry.c)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/data.h"
#include "lwm2m/format.h"
#include "lwm2m/model.h"
#include "runtime/loop.h"
#include "server/ingest.h"
#include "server/registry.h"

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    ck_assert_uint_le(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n;
}

/* Decodes a payload as the Send handler does (root base, built-in model)
 * and returns the event detail. */
static char *detail_of(unsigned format, const char *hex, const char *head, enum ls_rc *rc)
{
    uint8_t buf[512];
    size_t len = unhex(hex, buf, sizeof buf);
    struct ls_error err = { 0 };
    struct lwm2m_model *m = lwm2m_model_new(&err);
    ck_assert_ptr_nonnull(m);
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    struct lwm2m_path root = lwm2m_path_root();
    char *out = NULL;
    *rc = lwm2m_format_decode(format, buf, len, &root, m, &d, &err);
    if (*rc == LS_OK)
        out = server_ingest_detail(head, &d, &err);
    lwm2m_data_free(&d);
    lwm2m_model_free(m);
    return out;
}

/* wakaama-1.1/47-send-req.json: SenML JSON, no time, zero-length token. */
START_TEST(test_detail_wakaama_send)
{
    enum ls_rc rc;
    char *d = detail_of(110,
                        "5b7b22626e223a222f332f302f222c226e223a223133222c2276223a33313632393634"
                        "3032367d5d", "", &rc);
    ck_assert_int_eq(rc, LS_OK);
    ck_assert_str_eq(d, "{\"values\":[{\"path\":\"/3/0/13\",\"type\":\"time\","
                        "\"value\":3162964026}]}");
    free(d);
}
END_TEST

/* anjay-1.2/59-send-req.json: SenML CBOR, base time a float64, integer value. */
START_TEST(test_detail_anjay_send)
{
    enum ls_rc rc;
    char *d = detail_of(112, "81a321672f332f302f313322fb41dac12f70066ced021a6b04bdc0",
                        "\"observation\":3,", &rc);
    ck_assert_int_eq(rc, LS_OK);
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(strncmp(d, "{\"observation\":3,\"values\":[{\"path\":\"/3/0/13\","
                             "\"type\":\"time\",\"value\":1795472832,\"time\":1795472832.",
                          strlen("{\"observation\":3,\"values\":[{\"path\":\"/3/0/13\","
                                 "\"type\":\"time\",\"value\":1795472832,\"time\":1795472832.")) == 0,
                  "%s", d);
    free(d);
}
END_TEST

/* Broken payloads are refused by the decoder, never half-stored. */
static const struct { unsigned format; const char *hex; } broken[] = {
    { 110, "5b7b" },                         /* [{ */
    { 110, "7b7d" },                         /* {} : not an array */
    { 112, "81a3" },                         /* truncated map */
    { 11544, "ff" },
};

START_TEST(test_detail_broken_payload)
{
    enum ls_rc rc;
    char *d = detail_of(broken[_i].format, broken[_i].hex, "", &rc);
    ck_assert_int_ne(rc, LS_OK);
    ck_assert_ptr_null(d);
}
END_TEST

START_TEST(test_detail_empty_values)
{
    struct lwm2m_data d;
    lwm2m_data_init(&d);
    char *s = server_ingest_detail("\"path\":\"/3/0/9\",", &d, NULL);
    ck_assert_str_eq(s, "{\"path\":\"/3/0/9\",\"values\":[]}");
    free(s);
}
END_TEST

START_TEST(test_json_string)
{
    char buf[32];
    ck_assert(server_ingest_json_string("a\"b\\c\n", buf, sizeof buf));
    ck_assert_str_eq(buf, "\"a\\\"b\\\\c\\u000a\"");
    ck_assert(!server_ingest_json_string("0123456789012345678901234567890", buf, sizeof buf));
}
END_TEST

/* ---- the registry's address index ---- */

static void no_expire(void *arg, struct server_reg *reg)
{
    (void)arg;
    (void)reg;
}

static struct server_reg *add(struct server_registry *r, const char *id, const char *ep,
                              const char *addr)
{
    struct server_reg *e = server_reg_new(ep, NULL, NULL, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(e);
    snprintf(e->id, sizeof e->id, "%s", id);
    snprintf(e->address, sizeof e->address, "%s", addr);
    snprintf(e->security, sizeof e->security, "nosec");
    ck_assert_int_eq(server_registry_add(r, e, NULL), LS_OK);
    return e;
}

START_TEST(test_registry_by_address)
{
    struct runtime_loop *loop = runtime_loop_new(NULL);
    struct server_registry *r = server_registry_new(loop, no_expire, NULL, NULL);
    char ep[32], id[16], addr[32];
    for (int i = 0; i < 3000; i++) {   /* past a table doubling */
        snprintf(ep, sizeof ep, "dev-%d", i);
        snprintf(id, sizeof id, "id%d", i);
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 10000 + i);
        add(r, id, ep, addr);
    }
    struct server_reg *e = server_registry_by_address(r, "127.0.0.1:12999");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->endpoint, "dev-2999");
    ck_assert_ptr_null(server_registry_by_address(r, "127.0.0.1:9999"));
    /* An Update from a new address moves the entry. */
    server_registry_set_address(r, e, "[::1]:5000");
    ck_assert_ptr_null(server_registry_by_address(r, "127.0.0.1:12999"));
    ck_assert_ptr_eq(server_registry_by_address(r, "[::1]:5000"), e);
    /* Removal unlinks it. */
    server_registry_remove(r, e);
    ck_assert_ptr_null(server_registry_by_address(r, "[::1]:5000"));
    /* Two entries at one address: the one added last wins. */
    struct server_reg *b = add(r, "idb", "dev-b", "127.0.0.1:10001");
    ck_assert_ptr_eq(server_registry_by_address(r, "127.0.0.1:10001"), b);
    server_registry_free(r);
    runtime_loop_free(loop);
}
END_TEST

static Suite *ingest_suite(void)
{
    Suite *s = suite_create("server_ingest");
    TCase *tc = tcase_create("server_ingest_detail");
    tcase_add_test(tc, test_detail_wakaama_send);
    tcase_add_test(tc, test_detail_anjay_send);
    tcase_add_loop_test(tc, test_detail_broken_payload, 0,
                        (int)(sizeof broken / sizeof broken[0]));
    tcase_add_test(tc, test_detail_empty_values);
    tcase_add_test(tc, test_json_string);
    suite_add_tcase(s, tc);
    tc = tcase_create("server_registry_by_address");
    tcase_add_test(tc, test_registry_by_address);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ingest_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
