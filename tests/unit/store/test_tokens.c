/*
 * tests/unit/store/test_tokens.c -- store/tokens.c, store/events.c and the
 * argument checks of store/devices.c against a real PostgreSQL
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  Rows
 * are named with a random prefix; admin tokens of other runs may exist, so
 * the last-admin rule is checked after removing them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/devices.h"
#include "store/events.h"
#include "store/store_int.h"
#include "store/tokens.h"

static const char *pguri;

static struct store *open_up(void)
{
    struct ls_error err = { 0 };
    struct store *s = store_open(pguri, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(store_connect(s, &err) == LS_OK, "%s: %s", err.msg, err.detail);
    ck_assert_msg(store_migrate(s, NULL, &err) == LS_OK, "%s", err.msg);
    return s;
}

static const struct {
    const char *text;
    bool ok;
    enum store_tokens_role role;
} role_cases[] = {
    { "viewer", true, STORE_TOKENS_VIEWER },
    { "operator", true, STORE_TOKENS_OPERATOR },
    { "admin", true, STORE_TOKENS_ADMIN },
    { "Admin", false, STORE_TOKENS_NONE },
    { "none", false, STORE_TOKENS_NONE },
    { "", false, STORE_TOKENS_NONE },
    { NULL, false, STORE_TOKENS_NONE },
};

START_TEST(test_store_tokens_role_parse_table)
{
    enum store_tokens_role r = STORE_TOKENS_NONE;
    ck_assert(store_tokens_role_parse(role_cases[_i].text, &r) == role_cases[_i].ok);
    ck_assert_int_eq(r, role_cases[_i].role);
    if (role_cases[_i].ok)
        ck_assert_str_eq(store_tokens_role_name(r), role_cases[_i].text);
}
END_TEST

START_TEST(test_store_tokens_generate_random_hex)
{
    char a[STORE_TOKENS_SECRET_LEN + 1], b[STORE_TOKENS_SECRET_LEN + 1];
    uint8_t ha[STORE_TOKENS_HASH_LEN], hb[STORE_TOKENS_HASH_LEN], check[STORE_TOKENS_HASH_LEN];
    ck_assert_int_eq(store_tokens_generate(a, ha, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_generate(b, hb, NULL), LS_OK);
    ck_assert_uint_eq(strlen(a), STORE_TOKENS_SECRET_LEN);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), STORE_TOKENS_SECRET_LEN);
    ck_assert_str_ne(a, b);
    store_tokens_hash(a, strlen(a), check);
    ck_assert_mem_eq(check, ha, STORE_TOKENS_HASH_LEN);
    /* SHA-256("abc"), FIPS 180-2. */
    static const uint8_t abc[] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                   0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                   0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                   0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    store_tokens_hash("abc", 3, check);
    ck_assert_mem_eq(check, abc, sizeof abc);
}
END_TEST

START_TEST(test_store_tokens_create_lookup_delete)
{
    struct store *s = open_up();
    struct ls_error err = { 0 };
    char secret[STORE_TOKENS_SECRET_LEN + 1];
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    ck_assert_int_eq(store_tokens_generate(secret, hash, &err), LS_OK);
    int64_t id = 0, other = 0;
    ck_assert_int_eq(store_tokens_create(s, "unit viewer", STORE_TOKENS_VIEWER, hash, &id, &err),
                     LS_OK);
    ck_assert_int_gt(id, 0);
    /* The same hash twice is a conflict. */
    ls_error_clear(&err);
    ck_assert_int_eq(store_tokens_create(s, "dup", STORE_TOKENS_ADMIN, hash, &other, &err),
                     LS_ECONFLICT);
    struct store_token t;
    ck_assert_int_eq(store_tokens_lookup(s, hash, &t, NULL), LS_OK);
    ck_assert_int_eq(t.id, id);
    ck_assert_int_eq(t.role, STORE_TOKENS_VIEWER);
    ck_assert_str_eq(t.name, "unit viewer");
    ck_assert(t.stale);                         /* never used */
    ck_assert_int_eq(store_tokens_touch(s, id, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_lookup(s, hash, &t, NULL), LS_OK);
    ck_assert(!t.stale);

    char *json = NULL;
    ck_assert_int_eq(store_tokens_list(s, &json, NULL), LS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"unit viewer\""));
    ck_assert_ptr_null(strstr(json, "sha256"));
    ck_assert_ptr_null(strstr(json, secret));
    free(json);

    ck_assert_int_eq(store_tokens_delete(s, id, id, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_lookup(s, hash, &t, NULL), LS_ENOTFOUND);
    ck_assert_int_eq(store_tokens_delete(s, id, id, NULL), LS_ENOTFOUND);
    store_close(s);
}
END_TEST

START_TEST(test_store_tokens_ensure_idempotent)
{
    struct store *s = open_up();
    char secret[STORE_TOKENS_SECRET_LEN + 1];
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    ck_assert_int_eq(store_tokens_generate(secret, hash, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_ensure(s, "boot admin", STORE_TOKENS_ADMIN, hash, NULL), LS_OK);
    struct store_token first, again;
    ck_assert_int_eq(store_tokens_lookup(s, hash, &first, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_ensure(s, "boot admin", STORE_TOKENS_ADMIN, hash, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_lookup(s, hash, &again, NULL), LS_OK);
    ck_assert_int_eq(first.id, again.id);
    /* A demoted or revoked row is repaired, still the same row. */
    char sql[128];
    snprintf(sql, sizeof sql,
             "UPDATE api_tokens SET role = 'viewer', revoked_at = now() WHERE id = %lld",
             (long long)first.id);
    ck_assert_int_eq(store_exec_text(s, "demote", sql, 0, NULL, NULL, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_lookup(s, hash, &again, NULL), LS_ENOTFOUND);
    ck_assert_int_eq(store_tokens_ensure(s, "boot admin", STORE_TOKENS_ADMIN, hash, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_lookup(s, hash, &again, NULL), LS_OK);
    ck_assert_int_eq(again.id, first.id);
    ck_assert_int_eq(again.role, STORE_TOKENS_ADMIN);
    store_close(s);
}
END_TEST

START_TEST(test_store_tokens_delete_last_admin_conflict)
{
    struct store *s = open_up();
    char secret[STORE_TOKENS_SECRET_LEN + 1];
    uint8_t hash[STORE_TOKENS_HASH_LEN], hash2[STORE_TOKENS_HASH_LEN];
    int64_t a = 0, b = 0;
    ck_assert_int_eq(store_tokens_generate(secret, hash, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_generate(secret, hash2, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_create(s, "admin a", STORE_TOKENS_ADMIN, hash, &a, NULL), LS_OK);
    ck_assert_int_eq(store_tokens_create(s, "admin b", STORE_TOKENS_ADMIN, hash2, &b, NULL),
                     LS_OK);
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM api_tokens WHERE role = 'admin' AND id NOT IN (%lld, %lld)",
             (long long)a, (long long)b);
    ck_assert_int_eq(store_exec_text(s, "clear admins", sql, 0, NULL, NULL, NULL), LS_OK);
    /* Two admins: one may delete itself; then the other may not. */
    ck_assert_int_eq(store_tokens_delete(s, a, a, NULL), LS_OK);
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_tokens_delete(s, b, b, &err), LS_ECONFLICT);
    ck_assert_str_ne(err.msg, "");
    struct store_token t;
    ck_assert_int_eq(store_tokens_lookup(s, hash2, &t, NULL), LS_OK);
    store_close(s);
}
END_TEST

START_TEST(test_store_events_listen_and_read)
{
    struct store *s = open_up(), *w = open_up();
    struct ls_error err = { 0 };
    int64_t last = -1;
    ck_assert_int_eq(store_events_last_id(s, &last, &err), LS_OK);
    ck_assert_int_ge(last, 0);
    ck_assert_int_eq(store_events_listen(s, &err), LS_OK);
    ck_assert_int_ge(store_events_socket(s), 0);
    ck_assert_int_eq(store_exec_text(w, "insert events",
                                     "INSERT INTO events (endpoint, kind) VALUES"
                                     " ('unit-ev-1', 'registration'), (NULL, 'update')",
                                     0, NULL, NULL, &err),
                     LS_OK);
    ck_assert_int_eq(store_exec_text(w, "notify", "SELECT pg_notify('lodestar_events', 'x')", 0,
                                     NULL, NULL, &err),
                     LS_OK);
    unsigned count = 0;
    for (int i = 0; i < 50 && count == 0; i++) {
        struct pollfd p = { .fd = store_events_socket(s), .events = POLLIN };
        poll(&p, 1, 100);
        ck_assert_int_eq(store_events_consume(s, &count, &err), LS_OK);
    }
    ck_assert_uint_eq(count, 1);
    struct store_event *evs = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_events_after(s, last, NULL, 100, &evs, &n, &err), LS_OK);
    ck_assert_uint_ge(n, 2);
    ck_assert_str_eq(evs[0].kind, "registration");
    ck_assert_str_eq(evs[0].endpoint, "unit-ev-1");
    ck_assert_ptr_nonnull(strstr(evs[0].json, "\"kind\" : \"registration\""));
    ck_assert_ptr_null(evs[1].endpoint);
    ck_assert_int_lt(evs[0].id, evs[1].id);
    store_events_free(evs, n);
    ck_assert_int_eq(store_events_after(s, last, "unit-ev-1", 100, &evs, &n, &err), LS_OK);
    ck_assert_uint_eq(n, 1);
    store_events_free(evs, n);
    store_close(w);
    store_close(s);
}
END_TEST

START_TEST(test_store_devices_list_limits)
{
    struct store *s = open_up();
    char *json = NULL;
    bool more = true;
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_devices_list(s, NULL, NULL, 0, &json, &more, &err), LS_EINVAL);
    ck_assert_ptr_null(json);
    ck_assert_int_eq(store_devices_list(s, NULL, NULL, STORE_DEVICES_LIMIT_MAX + 1, &json, &more,
                                        NULL),
                     LS_EINVAL);
    ck_assert_int_eq(store_devices_list(s, NULL, "no-such-prefix-\xc3\xa9%_", 5, &json, &more,
                                        NULL),
                     LS_OK);
    ck_assert_str_eq(json, "[]");
    ck_assert(!more);
    free(json);
    ck_assert_int_eq(store_devices_get(s, "no-such-device", &json, NULL), LS_ENOTFOUND);
    ck_assert_ptr_null(json);
    store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_tokens");
    TCase *tc = tcase_create("store_tokens");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_store_tokens_role_parse_table, 0,
                        sizeof role_cases / sizeof role_cases[0]);
    tcase_add_test(tc, test_store_tokens_generate_random_hex);
    tcase_add_test(tc, test_store_tokens_create_lookup_delete);
    tcase_add_test(tc, test_store_tokens_ensure_idempotent);
    tcase_add_test(tc, test_store_tokens_delete_last_admin_conflict);
    suite_add_tcase(s, tc);
    tc = tcase_create("store_events");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_store_events_listen_and_read);
    suite_add_tcase(s, tc);
    tc = tcase_create("store_devices");
    tcase_add_test(tc, test_store_devices_list_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "test_tokens: LODESTAR_TEST_PGURI unset, skipping\n");
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
