/*
 * tests/unit/store/test_credentials.c -- credentials sealed at rest, the
 * PSK cache builder, and the change notifications
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  Rows
 * use endpoint names unique to the run.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/credcache.h"
#include "store/credentials.h"
#include "store/store.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char *pguri;
static char tag[32];

static struct store *open_store(void)
{
    struct ls_error err = { 0 };
    struct store *s = store_open(pguri, &err);
    ck_assert_ptr_nonnull(s);
    ck_assert_msg(store_migrate(s, NULL, &err) == LS_OK, "%s", err.msg);
    return s;
}

static void key(const char *hex, struct store_secret_key *k)
{
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_secret_key_from_hex(hex, k, &err), LS_OK);
}

static int64_t insert(struct store *s, const struct store_secret_key *k, const char *ep,
                      const char *identity, const char *secret, enum ls_rc want)
{
    struct ls_error err = { 0 };
    struct store_credential c = {
        .endpoint = ep, .scope = "server", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)secret, .secret_len = strlen(secret), .state = "active",
    };
    int64_t id = -1;
    ck_assert_msg(store_credentials_insert(s, k, &c, &id, &err) == want, "%s %s", err.msg,
                  err.detail);
    return id;
}

struct seen {
    char identity[64];
    char secret[64];
    int count;
};

static void collect(void *arg, const struct store_credential *c)
{
    struct seen *s = arg;
    if (!c->identity || !strstr(c->identity, tag))
        return;
    s->count++;
    snprintf(s->identity, sizeof s->identity, "%s", c->identity);
    snprintf(s->secret, sizeof s->secret, "%.*s", (int)c->secret_len, (const char *)c->secret);
}

START_TEST(test_store_credentials_insert_load_revoke)
{
    struct ls_error err = { 0 };
    struct store *s = open_store();
    struct store_secret_key k;
    key(KEY1, &k);
    char ep[64], id[64];
    snprintf(ep, sizeof ep, "cred-ep-%s", tag);
    snprintf(id, sizeof id, "cred-id-%s", tag);
    ck_assert_int_gt(insert(s, &k, ep, id, "s3cret", LS_OK), 0);
    /* A second live credential with the same identity is a conflict. */
    insert(s, &k, ep, id, "other", LS_ECONFLICT);

    struct seen seen = { .count = 0 };
    unsigned skipped = 99;
    ck_assert_int_eq(store_credentials_load(s, &k, "server", collect, &seen, &skipped, &err),
                     LS_OK);
    ck_assert_int_eq(seen.count, 1);
    ck_assert_str_eq(seen.identity, id);
    ck_assert_str_eq(seen.secret, "s3cret");

    /* The secret is not stored in clear. */
    PGconn *c = PQconnectdb(pguri);
    const char *v[1] = { id };
    PGresult *r = PQexecParams(c, "SELECT position('s3cret'::bytea in secret) FROM credentials "
                                  "WHERE identity = $1", 1, NULL, v, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(c);

    /* Under another master key it does not open: skipped, not fatal. */
    struct store_secret_key k2;
    key(KEY2, &k2);
    memset(&seen, 0, sizeof seen);
    ck_assert_int_eq(store_credentials_load(s, &k2, "server", collect, &seen, &skipped, &err),
                     LS_OK);
    ck_assert_int_eq(seen.count, 0);
    ck_assert_uint_ge(skipped, 1);

    /* The cache has it; after revocation neither load nor cache does. */
    struct runtime_credcache *t = NULL;
    ck_assert_int_eq(store_credentials_load_cache(s, &k, "server", &t, &err), LS_OK);
    const struct runtime_credcache_entry *e =
        runtime_credcache_find(t, (const uint8_t *)id, strlen(id));
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->endpoint, ep);
    ck_assert_mem_eq(e->key, "s3cret", 6);
    runtime_credcache_free(t);
    ck_assert_int_eq(store_credentials_revoke(s, ep, "server", &err), LS_OK);
    memset(&seen, 0, sizeof seen);
    ck_assert_int_eq(store_credentials_load(s, &k, "server", collect, &seen, NULL, &err), LS_OK);
    ck_assert_int_eq(seen.count, 0);
    /* Revoked rows free the identity for a new credential. */
    ck_assert_int_gt(insert(s, &k, ep, id, "again", LS_OK), 0);
    store_close(s);
}
END_TEST

START_TEST(test_store_credentials_insert_notifies)
{
    struct store *s = open_store();
    struct store_secret_key k;
    key(KEY1, &k);
    PGconn *c = PQconnectdb(pguri);
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "LISTEN lodestar_credentials"));
    char ep[64], id[64];
    snprintf(ep, sizeof ep, "notify-ep-%s", tag);
    snprintf(id, sizeof id, "notify-id-%s", tag);
    int64_t cid = insert(s, &k, ep, id, "k", LS_OK);
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)cid);
    bool got = false;
    for (int i = 0; i < 50 && !got; i++) {    /* up to 5 s */
        struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
        poll(&p, 1, 100);
        PQconsumeInput(c);
        PGnotify *n;
        while ((n = PQnotifies(c))) {
            got = got || strcmp(n->extra, want) == 0;
            PQfreemem(n);
        }
    }
    ck_assert_msg(got, "no notification with payload %s", want);
    PQfinish(c);
    store_close(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_credentials");
    TCase *tc = tcase_create("store_credentials");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_store_credentials_insert_load_revoke);
    tcase_add_test(tc, test_store_credentials_insert_notifies);
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
    snprintf(tag, sizeof tag, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
