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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/credcache.h"
#include "store/credentials.h"
#include "store/store.h"

/* KEY1 is the integration tests' key (HARNESS_SERVER_KEY_HEX): these rows go to the
 * shared LODESTAR_TEST_PGURI database, which records one master key (migration 0010). */
#define KEY1 "8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
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

/* --- CREDWATCH: delta reads, scope channels, issuing in rounds --- */

static void apply_delta(struct store *s, const struct store_secret_key *k,
                        struct store_credentials_cursor *cur, struct runtime_credcache *t,
                        size_t *changes)
{
    struct ls_error err = { 0 };
    struct runtime_credcache_delta *d = NULL;
    ck_assert_msg(store_credentials_load_delta(s, k, "server", cur, &d, &err) == LS_OK, "%s",
                  err.msg);
    *changes = runtime_credcache_delta_count(d);
    runtime_credcache_apply(t, d, NULL, NULL);
    runtime_credcache_delta_free(d);
}

static bool has(const struct runtime_credcache *t, const char *identity)
{
    return runtime_credcache_find(t, (const uint8_t *)identity, strlen(identity)) != NULL;
}

START_TEST(test_store_credentials_delta_reads_changes_only)
{
    struct ls_error err = { 0 };
    struct store *s = open_store();
    struct store_secret_key k;
    key(KEY1, &k);
    char ep[64], a[64], b[64];
    snprintf(ep, sizeof ep, "delta-ep-%s", tag);
    snprintf(a, sizeof a, "delta-a-%s", tag);
    snprintf(b, sizeof b, "delta-b-%s", tag);
    insert(s, &k, ep, a, "key-a", LS_OK);

    struct store_credentials_cursor cur = { "" };
    struct runtime_credcache *t = NULL;
    size_t changes = 0;
    struct runtime_credcache_delta *d = NULL;
    ck_assert_int_eq(store_credentials_load_delta(s, &k, "server", &cur, &d, &err), LS_EINVAL);
    ck_assert_int_eq(store_credentials_load_cache_at(s, &k, "server", &t, &cur, &err), LS_OK);
    ck_assert(cur.xmin[0]);
    ck_assert(has(t, a));
    size_t full = runtime_credcache_count(t);

    /* Nothing changed: the delta is empty unless another test's
     * transaction, open during the read, holds the snapshot xmin back (then
     * rows are read again; counts are not asserted for that reason). */
    apply_delta(s, &k, &cur, t, &changes);
    ck_assert(has(t, a));

    /* A new row arrives, the old one is revoked: exactly those two rows. */
    insert(s, &k, ep, b, "key-b", LS_OK);
    PGconn *c = PQconnectdb(pguri);
    const char *v[1] = { a };
    PQclear(PQexecParams(c, "UPDATE credentials SET state = 'revoked', revoked_at = now() "
                            "WHERE identity = $1", 1, NULL, v, NULL, NULL, 0));
    apply_delta(s, &k, &cur, t, &changes);
    ck_assert_uint_ge(changes, 2);
    ck_assert(!has(t, a));
    ck_assert(has(t, b));
    ck_assert_uint_eq(runtime_credcache_count(t), full);

    /* Activation (issued/active) is not a cache change: changed_xid stays. */
    const char *vb[1] = { b };
    PGresult *x0 = PQexecParams(c, "SELECT changed_xid FROM credentials WHERE identity = $1",
                                1, NULL, vb, NULL, NULL, 0);
    PQclear(PQexecParams(c, "UPDATE credentials SET activated_at = now(), server_uri = 'x' "
                            "WHERE identity = $1", 1, NULL, vb, NULL, NULL, 0));
    PGresult *x1 = PQexecParams(c, "SELECT changed_xid FROM credentials WHERE identity = $1",
                                1, NULL, vb, NULL, NULL, 0);
    ck_assert_str_eq(PQgetvalue(x0, 0, 0), PQgetvalue(x1, 0, 0));
    PQclear(x0);
    PQclear(x1);

    /* A transaction that commits after a later one: never missed.  T1
     * inserts and stays open; T2 commits; a delta read sees T2 only; T1
     * commits; the next read sees T1 although its xid is older than T2's. */
    char e1[64], e2[64];
    snprintf(e1, sizeof e1, "delta-t1-%s", tag);
    snprintf(e2, sizeof e2, "delta-t2-%s", tag);
    PQclear(PQexec(c, "BEGIN"));
    PGresult *r = PQexec(c, "SELECT pg_current_xact_id()");   /* T1 takes its xid first */
    PQclear(r);
    struct store *s1 = open_store();
    /* T1's row through the same connection: plain SQL with a sealed secret
     * is not needed: a row whose secret does not open is a drop, so use an
     * RPK row (no secret). */
    const char *ve1[2] = { e1, e1 };
    PQclear(PQexecParams(c, "INSERT INTO endpoints (name) VALUES ($1) ON CONFLICT DO NOTHING",
                         1, NULL, ve1, NULL, NULL, 0));
    r = PQexecParams(c, "INSERT INTO credentials (endpoint, scope, mode, identity, public_key,"
                        " state) VALUES ($1, 'server', 'rpk', '', convert_to($2, 'UTF8'),"
                        " 'issued')", 2, NULL, ve1, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    insert(s1, &k, ep, e2, "key-t2", LS_OK);             /* T2 commits */
    apply_delta(s, &k, &cur, t, &changes);
    ck_assert(has(t, e2));
    ck_assert_ptr_null(runtime_credcache_find_rpk(t, (const uint8_t *)e1, strlen(e1)));
    PQclear(PQexec(c, "COMMIT"));                        /* T1 commits late */
    apply_delta(s, &k, &cur, t, &changes);
    ck_assert_str_eq(runtime_credcache_find_rpk(t, (const uint8_t *)e1, strlen(e1)), e1);
    store_close(s1);
    PQfinish(c);
    runtime_credcache_free(t);
    store_close(s);
}
END_TEST

/* Waits up to tries * 100 ms for a notification on c; its payload into out. */
static bool wait_notify_for(PGconn *c, char *out, size_t cap, int tries)
{
    for (int i = 0; i < tries; i++) {
        struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };
        poll(&p, 1, 100);
        PQconsumeInput(c);
        PGnotify *n = PQnotifies(c);
        if (n) {
            snprintf(out, cap, "%s", n->extra);
            PQfreemem(n);
            return true;
        }
    }
    return false;
}

static bool wait_notify(PGconn *c, char *out, size_t cap)
{
    return wait_notify_for(c, out, cap, 50);
}

START_TEST(test_store_credentials_scope_channels)
{
    struct ls_error err = { 0 };
    struct store *s = open_store();
    struct store_secret_key k;
    key(KEY1, &k);
    PGconn *c = PQconnectdb(pguri);
    PQclear(PQexec(c, "LISTEN lodestar_credentials_server"));
    char ep[64], id[64], got[64];
    snprintf(ep, sizeof ep, "chan-ep-%s", tag);
    snprintf(id, sizeof id, "chan-bs-%s", tag);
    /* A bootstrap-scope change says nothing on the server channel ... */
    struct store_credential bc = {
        .endpoint = ep, .scope = "bootstrap", .mode = "psk", .identity = id,
        .secret = (const uint8_t *)"k", .secret_len = 1, .state = "active",
    };
    ck_assert_int_eq(store_credentials_insert(s, &k, &bc, NULL, &err), LS_OK);
    ck_assert(!wait_notify_for(c, got, sizeof got, 5));
    /* ... a server-scope one does, with the transaction id as payload. */
    snprintf(id, sizeof id, "chan-sv-%s", tag);
    insert(s, &k, ep, id, "k", LS_OK);
    ck_assert(wait_notify(c, got, sizeof got));
    ck_assert(got[0] >= '1' && got[0] <= '9');
    /* Revocation of both: one notification for the server scope. */
    ck_assert_int_eq(store_credentials_revoke(s, ep, "server", &err), LS_OK);
    ck_assert(wait_notify(c, got, sizeof got));
    ck_assert(!wait_notify_for(c, got, sizeof got, 3));   /* one per statement */
    /* Deleting the endpoint deletes its live rows: "full". */
    insert(s, &k, ep, id, "k2", LS_OK);
    ck_assert(wait_notify(c, got, sizeof got));
    const char *v[1] = { ep };
    PQclear(PQexecParams(c, "DELETE FROM endpoints WHERE name = $1", 1, NULL, v, NULL, NULL, 0));
    ck_assert(wait_notify(c, got, sizeof got));
    ck_assert_str_eq(got, "full");
    PQfinish(c);
    store_close(s);
}
END_TEST

START_TEST(test_store_credentials_issue_batch)
{
    struct ls_error err = { 0 };
    struct store *s = open_store();
    struct store_secret_key k;
    key(KEY1, &k);
    char ep1[64], ep2[64], i1[64], i2[64], given[64];
    snprintf(ep1, sizeof ep1, "batch-1-%s", tag);
    snprintf(ep2, sizeof ep2, "batch-\"2\\-%s", tag);     /* quoting in array literals */
    snprintf(i1, sizeof i1, "batch-i1-%s", tag);
    snprintf(i2, sizeof i2, "batch-i2,{x}-%s", tag);
    snprintf(given, sizeof given, "batch-given-%s", tag);
    const uint8_t psk[16] = "0123456789abcdef";
    struct store_credentials_issue items[5] = {
        { .endpoint = ep1, .identity = i1, .psk = psk, .psk_len = 16,
          .server_uri = "coaps://h:5684", .ssid = 101 },
        { .endpoint = ep2, .identity = i2, .psk = psk, .psk_len = 8, .ssid = 0 },
        { .endpoint = ep1, .identity = given, .psk = psk, .psk_len = 16, .already_ok = true },
        { .endpoint = ep2, .identity = given, .psk = psk, .psk_len = 16, .already_ok = true },
        { .endpoint = ep2, .identity = i1, .psk = psk, .psk_len = 16 },   /* taken */
    };
    ck_assert_msg(store_credentials_issue_batch(s, &k, items, 5, 3600, &err) == LS_OK, "%s",
                  err.msg);
    ck_assert_int_eq(items[0].rc, LS_OK);
    ck_assert_int_gt(items[0].id, 0);
    ck_assert_int_eq(items[1].rc, LS_OK);
    ck_assert_int_eq(items[2].rc, LS_OK);
    ck_assert_int_eq(items[3].rc, LS_OK);
    /* items[4]: same identity as items[0] in the same round: DO NOTHING,
     * then the join finds items[0]'s id by identity: reported as stored.
     * A fresh identity never repeats; what matters is that nothing
     * failed and one row exists. */
    PGconn *c = PQconnectdb(pguri);
    const char *v[2] = { i1, i2 };
    PGresult *r = PQexecParams(c, "SELECT count(*), bool_and(expires_at > now() + interval "
                                  "'3500 s' AND expires_at < now() + interval '3700 s'),"
                                  " bool_and(state = 'issued'), max(ssid), max(server_uri)"
                                  " FROM credentials WHERE identity IN ($1, $2)",
                               2, NULL, v, NULL, NULL, 0);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "2");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "t");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "t");
    ck_assert_str_eq(PQgetvalue(r, 0, 3), "101");
    ck_assert_str_eq(PQgetvalue(r, 0, 4), "coaps://h:5684");
    PQclear(r);
    /* The secrets open (same sealing as insert). */
    struct runtime_credcache *t = NULL;
    ck_assert_int_eq(store_credentials_load_cache(s, &k, "server", &t, &err), LS_OK);
    const struct runtime_credcache_entry *e =
        runtime_credcache_find(t, (const uint8_t *)i2, strlen(i2));
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->key_len, 8);
    ck_assert_str_eq(e->endpoint, ep2);
    runtime_credcache_free(t);
    /* A taken identity in a later round: LS_ECONFLICT for that item only. */
    struct store_credentials_issue again[2] = {
        { .endpoint = ep1, .identity = i1, .psk = psk, .psk_len = 16 },
        { .endpoint = ep1, .identity = given, .psk = psk, .psk_len = 16, .already_ok = true },
    };
    ck_assert_int_eq(store_credentials_issue_batch(s, &k, again, 2, 0, &err), LS_OK);
    ck_assert_int_eq(again[0].rc, LS_ECONFLICT);
    ck_assert_int_eq(again[1].rc, LS_OK);
    ck_assert_int_eq(again[1].id, 0);
    /* ttl 0: no expires_at; store_credentials_expire with ttl 0 spares it. */
    int64_t n = -1;
    ck_assert_int_eq(store_credentials_expire(s, 0, &n, &err), LS_OK);
    r = PQexecParams(c, "SELECT state FROM credentials WHERE identity = $1", 1, NULL, v + 1,
                     NULL, NULL, 0);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "issued");
    PQclear(r);
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
    tcase_add_test(tc, test_store_credentials_delta_reads_changes_only);
    tcase_add_test(tc, test_store_credentials_scope_channels);
    tcase_add_test(tc, test_store_credentials_issue_batch);
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
