/*
 * tests/unit/store/test_bsconfigs.c -- store/bsconfigs.c against a real
 * PostgreSQL: put/get/list/delete, the kind rules, resolution order
 * (device > first matching template by (priority, name) > default), glob
 * semantics, and the import's all-or-nothing transaction
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  Each
 * test gets a fresh migrated database (harness_db).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_db.h"
#include "store/bsconfigs.h"
#include "store/store.h"

static const char *pguri;
static struct harness_db db;
static struct store *st;

static void fresh_db_setup(void)
{
    harness_db_fresh(&db, pguri, "lodestar_bsc", true);
    struct ls_error err = { 0 };
    st = store_open(db.conninfo, &err);
    ck_assert_ptr_nonnull(st);
    ck_assert_msg(store_connect(st, &err) == LS_OK, "%s: %s", err.msg, err.detail);
}

static void fresh_db_teardown(void)
{
    store_close(st);
    st = NULL;
    harness_db_drop(&db, pguri, "test_bsconfigs");
}

/* put that must succeed; returns created. */
static bool put_ok(const char *name, const char *ep, const char *match, int prio,
                   const char *body)
{
    struct ls_error err = { 0 };
    bool created = false;
    ck_assert_msg(store_bsconfigs_put(st, name, ep, match, prio, body, &created, &err) == LS_OK,
                  "%s: %s", err.msg, err.detail);
    return created;
}

/* Resolves ep and checks the winner's name (NULL: LS_ENOTFOUND). */
static void resolves_to(const char *ep, const char *want)
{
    struct ls_error err = { 0 };
    char *name = (char *)1, *body = (char *)1;
    enum ls_rc rc = store_bsconfigs_resolve(st, ep, &name, &body, &err);
    if (!want) {
        ck_assert_int_eq(rc, LS_ENOTFOUND);
        ck_assert_ptr_null(name);
        ck_assert_ptr_null(body);
        return;
    }
    ck_assert_msg(rc == LS_OK, "%s: %s (%s)", ep, err.msg, err.detail);
    ck_assert_msg(strcmp(name, want) == 0, "%s resolved to %s, want %s", ep, name, want);
    /* Every body here records its own name as "description". */
    char tag[128];
    snprintf(tag, sizeof tag, "\"description\": \"%s\"", want);
    ck_assert_msg(strstr(body, tag) != NULL, "body of %s: %s", want, body);
    free(name);
    free(body);
}

static void put_tagged(const char *name, const char *ep, const char *match, int prio)
{
    char body[256];
    snprintf(body, sizeof body, "{\"description\": \"%s\"}", name);
    put_ok(name, ep, match, prio, body);
}

START_TEST(test_store_bsconfigs_resolve_order)
{
    resolves_to("urn:imei:350000000000001", NULL);     /* nothing at all yet */
    put_tagged("default", NULL, NULL, 100);
    resolves_to("urn:imei:350000000000001", "default");
    put_tagged("imei-35", NULL, "urn:imei:35*", 50);
    put_tagged("imei-3", NULL, "urn:imei:3*", 50);      /* same priority: name decides */
    put_tagged("imei-any", NULL, "urn:imei:*", 10);     /* lower priority number first */
    resolves_to("urn:imei:350000000000001", "imei-any");
    put_tagged("imei-any", NULL, "urn:imei:*", 200);    /* now last among templates */
    resolves_to("urn:imei:350000000000001", "imei-3");
    put_tagged("imei-3", NULL, "urn:imei:3[0-6]*", 60);
    resolves_to("urn:imei:350000000000001", "imei-35");
    resolves_to("urn:imei:360000000000001", "imei-3");  /* imei-3 (3[0-6]*) before any */
    resolves_to("urn:imei:370000000000001", "imei-any");
    resolves_to("urn:dev:mac:0001", "default");
    put_tagged("dev-1", "urn:imei:350000000000001", NULL, 100);
    resolves_to("urn:imei:350000000000001", "dev-1");  /* device beats every template */
    resolves_to("urn:imei:350000000000002", "imei-35");
    ck_assert_int_eq(store_bsconfigs_delete(st, "default", NULL), LS_OK);
    resolves_to("urn:dev:mac:0001", NULL);
    ck_assert_int_eq(store_bsconfigs_delete(st, "dev-1", NULL), LS_OK);
    resolves_to("urn:imei:350000000000001", "imei-35");
}
END_TEST

static const struct {
    const char *pattern, *name;
    bool match;
} glob_cases[] = {
    { "urn:imei:35*", "urn:imei:35", true },
    { "urn:imei:35*", "urn:imei:350000000000001", true },
    { "urn:imei:35*", "urn:imei:36", false },
    { "urn:imei:35*", "xurn:imei:35", false },          /* anchored at the start */
    { "*:0001", "urn:dev:mac:0001", true },
    { "*:0001", "urn:dev:mac:00011", false },           /* anchored at the end */
    { "dev-??", "dev-12", true },
    { "dev-??", "dev-1", false },
    { "dev-[0-4]*", "dev-3x", true },
    { "dev-[0-4]*", "dev-5x", false },
    { "dev-[!0-4]", "dev-5", true },
    { "a*b", "a/x/b", true },                           /* '*' crosses '/' */
    { "a\\*b", "a*b", true },                           /* '\' quotes */
    { "a\\*b", "axb", false },
    { "%", "x", false },                                /* no LIKE metacharacters */
    { "_", "x", false },
    { ".*", ".hidden", true },
};

START_TEST(test_store_bsconfigs_glob_match_table)
{
    ck_assert_msg(store_bsconfigs_glob_match(glob_cases[_i].pattern, glob_cases[_i].name) ==
                      glob_cases[_i].match,
                  "%s ~ %s", glob_cases[_i].pattern, glob_cases[_i].name);
}
END_TEST

START_TEST(test_store_bsconfigs_put_get_list_delete)
{
    ck_assert(put_ok("default", NULL, NULL, 100, "{\"servers\": []}"));
    ck_assert(!put_ok("default", NULL, NULL, 100, "{\"discover\": true}"));   /* replaced */
    ck_assert(put_ok("tpl", NULL, "urn:*", 5, "{\"match\": \"urn:*\"}"));
    ck_assert(put_ok("d1", "dev-1", NULL, 100, "{\"endpoint\": \"dev-1\"}"));

    char *json = NULL;
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_bsconfigs_get(st, "default", &json, &err), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"kind\" : \"default\""));
    ck_assert_ptr_nonnull(strstr(json, "\"discover\": true"));
    free(json);
    ck_assert_int_eq(store_bsconfigs_get(st, "tpl", &json, NULL), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"kind\" : \"template\""));
    ck_assert_ptr_nonnull(strstr(json, "\"priority\" : 5"));
    free(json);
    ck_assert_int_eq(store_bsconfigs_get(st, "nope", &json, NULL), LS_ENOTFOUND);
    ck_assert_ptr_null(json);

    bool more = true;
    ck_assert_int_eq(store_bsconfigs_list(st, NULL, NULL, 2, &json, &more, NULL), LS_OK);
    ck_assert(more);
    ck_assert_ptr_nonnull(strstr(json, "\"d1\""));
    ck_assert_ptr_nonnull(strstr(json, "\"default\""));
    ck_assert_ptr_null(strstr(json, "\"tpl\""));
    ck_assert_ptr_null(strstr(json, "body"));
    free(json);
    ck_assert_int_eq(store_bsconfigs_list(st, NULL, "default", 2, &json, &more, NULL), LS_OK);
    ck_assert(!more);
    ck_assert_ptr_nonnull(strstr(json, "\"tpl\""));
    free(json);
    ck_assert_int_eq(store_bsconfigs_list(st, "device", NULL, 10, &json, &more, NULL), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"d1\""));
    ck_assert_ptr_null(strstr(json, "\"tpl\""));
    free(json);
    ck_assert_int_eq(store_bsconfigs_list(st, NULL, NULL, 0, &json, &more, NULL), LS_EINVAL);

    ck_assert_int_eq(store_bsconfigs_delete(st, "d1", NULL), LS_OK);
    ck_assert_int_eq(store_bsconfigs_delete(st, "d1", NULL), LS_ENOTFOUND);
}
END_TEST

START_TEST(test_store_bsconfigs_put_kind_rules)
{
    struct ls_error err = { 0 };
    bool created;
    ck_assert_int_eq(store_bsconfigs_put(st, "default", "dev", NULL, 1, "{}", &created, &err),
                     LS_EINVAL);
    ls_error_clear(&err);
    ck_assert_int_eq(store_bsconfigs_put(st, "x", NULL, NULL, 1, "{}", &created, &err),
                     LS_EINVAL);
    ls_error_clear(&err);
    ck_assert_int_eq(store_bsconfigs_put(st, "x", "a", "b*", 1, "{}", &created, &err),
                     LS_EINVAL);
    /* One configuration per device. */
    put_ok("a", "dev-1", NULL, 1, "{}");
    ls_error_clear(&err);
    ck_assert_int_eq(store_bsconfigs_put(st, "b", "dev-1", NULL, 1, "{}", &created, &err),
                     LS_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "endpoint"));
    /* A body that is not a JSON object is refused by the table. */
    ls_error_clear(&err);
    ck_assert_int_eq(store_bsconfigs_put(st, "c", "dev-2", NULL, 1, "[]", &created, &err),
                     LS_EINVAL);
    /* A template may become a device configuration under the same name. */
    put_ok("t", NULL, "x*", 1, "{}");
    ck_assert(!put_ok("t", "dev-3", NULL, 1, "{\"description\": \"t\"}"));
    resolves_to("dev-3", "t");
    resolves_to("x1", NULL);
}
END_TEST

/* [{"name","endpoint","priority","body"}] for n devices from start. */
static char *import_rows(int start, int n, const char *bad_at_name)
{
    size_t cap = (size_t)n * 160 + 16, len = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    len += (size_t)snprintf(s + len, cap - len, "[");
    for (int i = start; i < start + n; i++) {
        char name[64];
        snprintf(name, sizeof name, "urn:imei:35%013d", i);
        bool bad = bad_at_name && strcmp(name, bad_at_name) == 0;
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"name\":\"%s\",\"endpoint\":\"%s\",\"priority\":100,"
                                "\"body\":%s%s%s}",
                                i > start ? "," : "", name, name,
                                bad ? "[1]" : "{\"description\":\"", bad ? "" : name,
                                bad ? "" : "\"}");
    }
    snprintf(s + len, cap - len, "]");
    return s;
}

START_TEST(test_store_bsconfigs_import_many_and_atomic)
{
    struct ls_error err = { 0 };
    size_t n = 99;
    char out[32];
    char *rows = import_rows(0, 10000, NULL);
    ck_assert_msg(store_bsconfigs_import(st, rows, &n, &err) == LS_OK, "%s: %s", err.msg,
                  err.detail);
    free(rows);
    ck_assert_uint_eq(n, 10000);
    harness_db_value(db.conninfo, "SELECT count(*) FROM bootstrap_configs", NULL, out,
                     sizeof out);
    ck_assert_str_eq(out, "10000");
    resolves_to("urn:imei:350000000009999", "urn:imei:350000000009999");

    /* Re-import overlapping rows with one bad body: nothing changes. */
    rows = import_rows(9990, 20, "urn:imei:350000000010005");
    ls_error_clear(&err);
    ck_assert_int_eq(store_bsconfigs_import(st, rows, &n, &err), LS_EINVAL);
    ck_assert_uint_eq(n, 0);
    free(rows);
    harness_db_value(db.conninfo, "SELECT count(*) FROM bootstrap_configs", NULL, out,
                     sizeof out);
    ck_assert_str_eq(out, "10000");
    /* The store is usable after the rollback, and a good re-import replaces. */
    rows = import_rows(9990, 20, NULL);
    ls_error_clear(&err);
    ck_assert_msg(store_bsconfigs_import(st, rows, &n, &err) == LS_OK, "%s", err.msg);
    ck_assert_uint_eq(n, 20);
    free(rows);
    harness_db_value(db.conninfo, "SELECT count(*) FROM bootstrap_configs", NULL, out,
                     sizeof out);
    ck_assert_str_eq(out, "10010");
}
END_TEST

START_TEST(test_store_bsconfigs_import_conflicts)
{
    struct ls_error err = { 0 };
    size_t n = 0;
    char out[32];
    put_ok("tpl", NULL, "urn:*", 1, "{}");
    put_ok("old-name", "dev-1", NULL, 1, "{}");
    /* A row named like a template: refused, nothing written. */
    ck_assert_int_eq(store_bsconfigs_import(st,
                                            "[{\"name\":\"dev-1\",\"endpoint\":\"dev-1\","
                                            "\"body\":{}},{\"name\":\"tpl\",\"endpoint\":"
                                            "\"dev-2\",\"body\":{}}]",
                                            &n, &err),
                     LS_ECONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tpl"));
    harness_db_value(db.conninfo, "SELECT name FROM bootstrap_configs WHERE endpoint = $1",
                     "dev-1", out, sizeof out);
    ck_assert_str_eq(out, "old-name");
    /* A device configured under another name takes the import's row. */
    ls_error_clear(&err);
    ck_assert_int_eq(store_bsconfigs_import(st,
                                            "[{\"name\":\"dev-1\",\"endpoint\":\"dev-1\","
                                            "\"body\":{\"description\":\"dev-1\"}}]",
                                            &n, &err),
                     LS_OK);
    ck_assert_uint_eq(n, 1);
    resolves_to("dev-1", "dev-1");
    harness_db_value(db.conninfo, "SELECT count(*) FROM bootstrap_configs WHERE name = $1",
                     "old-name", out, sizeof out);
    ck_assert_str_eq(out, "0");
}
END_TEST

/* A credential row for ep (SQL, test constants only): scope, mode, state;
 * factory: from a new factory batch. */
static void add_credential(const char *ep, const char *scope, const char *mode,
                           const char *state, bool factory)
{
    char sql[1024], out[64], batch[32] = "NULL";
    harness_db_value(db.conninfo, "INSERT INTO endpoints (name) VALUES ($1) ON CONFLICT DO "
                     "NOTHING RETURNING name", ep, out, sizeof out);
    if (factory)
        harness_db_value(db.conninfo, "INSERT INTO factory_batches (spec) VALUES ('{}') "
                         "RETURNING id", NULL, batch, sizeof batch);
    snprintf(sql, sizeof sql,
             "INSERT INTO credentials (endpoint, scope, mode, identity, state, activated_at,"
             " revoked_at, batch_id) VALUES ($1, '%s', '%s', $1 || '-%s-%s', '%s',"
             " CASE WHEN '%s' = 'active' THEN now() END,"
             " CASE WHEN '%s' = 'revoked' THEN now() END, %s) RETURNING id",
             scope, mode, scope, state, state, state, state, batch);
    harness_db_value(db.conninfo, sql, ep, out, sizeof out);
    ck_assert_msg(out[0], "no credential inserted for %s", ep);
}

/* NoSec resolution of ep: want_barred is a substring of the reason (NULL:
 * not barred, and the winner is want). */
static void nosec_resolves(const char *ep, const char *want_barred, const char *want)
{
    struct ls_error err = { 0 };
    char *name = (char *)1, *body = (char *)1;
    const char *barred = "x";
    enum ls_rc rc = store_bsconfigs_resolve_nosec(st, ep, &name, &body, &barred, &err);
    ck_assert_msg(rc == LS_OK, "%s: %s (%s)", ep, err.msg, err.detail);
    if (want_barred) {
        ck_assert_msg(barred && strstr(barred, want_barred), "%s: barred %s, want %s", ep,
                      barred ? barred : "(not)", want_barred);
        ck_assert_ptr_null(name);
        ck_assert_ptr_null(body);
        return;
    }
    ck_assert_msg(!barred, "%s barred: %s", ep, barred);
    ck_assert_str_eq(name, want);
    free(name);
    free(body);
}

START_TEST(test_store_bsconfigs_resolve_nosec_barred)
{
    put_tagged("default", NULL, NULL, 100);
    put_tagged("tpl", NULL, "t-*", 10);
    nosec_resolves("fresh", NULL, "default");             /* never seen: open enrollment */
    nosec_resolves("t-fresh", NULL, "tpl");
    add_credential("bs-live", "bootstrap", "x509", "active", false);
    nosec_resolves("bs-live", "bootstrap credential", NULL);
    add_credential("bs-revoked", "bootstrap", "x509", "revoked", false);
    nosec_resolves("bs-revoked", "bootstrap credential", NULL);
    add_credential("t-issued", "bootstrap", "x509", "issued", false);
    nosec_resolves("t-issued", "bootstrap credential", NULL);   /* before the template */
    add_credential("fac-srv", "server", "x509", "active", true);
    nosec_resolves("fac-srv", "factory credential", NULL);
    add_credential("fac-old", "server", "x509", "revoked", true);
    nosec_resolves("fac-old", "factory credential", NULL);
    /* NoSec fleets: server keys a NoSec bootstrap issued do not bar the next one */
    add_credential("fleet", "server", "x509", "active", false);
    add_credential("fleet", "server", "x509", "revoked", false);
    nosec_resolves("fleet", NULL, "default");
    /* an explicit NoSec bootstrap account is no reason to refuse NoSec ... */
    add_credential("bs-nosec", "bootstrap", "nosec", "active", false);
    nosec_resolves("bs-nosec", NULL, "default");
    /* ... unless it was revoked */
    add_credential("bs-nosec-rev", "bootstrap", "nosec", "revoked", false);
    nosec_resolves("bs-nosec-rev", "bootstrap credential", NULL);
    /* barred wins even when no configuration applies */
    ck_assert_int_eq(store_bsconfigs_delete(st, "default", NULL), LS_OK);
    nosec_resolves("bs-live", "bootstrap credential", NULL);
    struct ls_error err = { 0 };
    char *name, *body;
    const char *barred = "x";
    ck_assert_int_eq(store_bsconfigs_resolve_nosec(st, "fleet", &name, &body, &barred, &err),
                     LS_ENOTFOUND);
    ck_assert_ptr_null(barred);
    /* a DTLS request (plain resolve) is never barred */
    resolves_to("t-issued", "tpl");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_bsconfigs");
    TCase *tc = tcase_create("store_bsconfigs_glob_match");
    tcase_add_loop_test(tc, test_store_bsconfigs_glob_match_table, 0,
                        (int)(sizeof glob_cases / sizeof glob_cases[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("store_bsconfigs");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, fresh_db_setup, fresh_db_teardown);
    tcase_add_test(tc, test_store_bsconfigs_resolve_order);
    tcase_add_test(tc, test_store_bsconfigs_put_get_list_delete);
    tcase_add_test(tc, test_store_bsconfigs_put_kind_rules);
    tcase_add_test(tc, test_store_bsconfigs_import_many_and_atomic);
    tcase_add_test(tc, test_store_bsconfigs_import_conflicts);
    tcase_add_test(tc, test_store_bsconfigs_resolve_nosec_barred);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "LODESTAR_TEST_PGURI unset: skipped\n");
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
