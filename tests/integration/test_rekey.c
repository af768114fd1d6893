/*
 * tests/integration/test_rekey.c -- `lodestar-server --rotate-master-key`
 * end to end (issue 10.6, secrets at rest)
 *
 * Both daemons run as processes against a fresh database.  The rotation
 * test: a factory batch (bootstrap + server PSK accounts); device 1
 * registers over DTLS-PSK with its factory server account, device 2
 * bootstraps over DTLS-PSK with its bootstrap account and registers with
 * the PSK lodestar-bootstrap issued it.  Both daemons stop; the rotation
 * runs (key from a file), then twice more (old->new again, new->new):
 * both no-ops.  The old key is refused at start by both daemons, naming it
 * the previous key; with the new key both start, devices 1 and 2 register
 * again with the same keys, device 1 bootstraps (its rotated bootstrap
 * secret opens) and registers with freshly issued keys, and the factory
 * export shows the same keys as before the rotation.  No key is in any
 * log.
 *
 * The refusal test: an unreadable key file is a usage error; a third key is
 * refused as --master-key; a tampered secret aborts the rotation with
 * nothing changed (one transaction); without it the rotation completes,
 * through several cursor batches (a factory batch of 700 devices, 1 400
 * keys, exported under the new key and not under the old); afterwards the
 * database refuses a secret sealed under the old key (migration 0010's
 * trigger).
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 without).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"
#include "store/credentials.h"
#include "store/factory.h"
#include "store/secret.h"
#include "store/store.h"

#define KEY_A "8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define KEY_B "3c1d5e7f9a0b2c4d6e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d1e2f4a6b8c0d"
#define KEY_C "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define START_MS 20000
#define STOP_MS 15000
#define BS_MS 15000
#define ANSWER_MS 5000
#define LINKS "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>"

struct daemon {
    struct harness_proc *p;
    char http[96], coap[96], coaps[96];
};

struct fixture {
    struct harness_db db;
    char db_env[1100];
    char admin[65];
    char tag[24];
    char key_file[64];      /* KEY_B, for --rotate-master-key @FILE */
};

static const char *bin(const char *var)
{
    const char *p = getenv(var);
    ck_assert_msg(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    harness_db_fresh(&f->db, harness_pg_uri(), "lodestar_rekey", true);
    snprintf(f->db_env, sizeof f->db_env, "LODESTAR_DB=%s", f->db.conninfo);
    harness_server_random_hex(f->admin, 32);
    snprintf(f->tag, sizeof f->tag, "%ld", (long)getpid());
    snprintf(f->key_file, sizeof f->key_file, "/tmp/lodestar-rekey-%ld.key", (long)getpid());
    FILE *kf = fopen(f->key_file, "w");
    ck_assert_ptr_nonnull(kf);
    fputs(KEY_B "\n", kf);
    fclose(kf);
}

static void fixture_done(struct fixture *f)
{
    unlink(f->key_file);
    harness_db_drop(&f->db, harness_pg_uri(), "test_rekey");
}

/* key: "LODESTAR_MASTER_KEY=..." or NULL with a --master-key in extra. */
static struct harness_proc *spawn(const struct fixture *f, bool bootstrap, const char *key_env,
                                  const char *const extra[])
{
    char *argv[20] = { bootstrap ? "lodestar-bootstrap" : "lodestar-server", "--coap",
                       "127.0.0.1:0", "--coaps", "127.0.0.1:0" };
    int n = 5;
    if (!bootstrap) {
        argv[n++] = "--http";
        argv[n++] = "127.0.0.1:0";
        argv[n++] = "--admin-token";
        argv[n++] = (char *)f->admin;
    }
    for (size_t i = 0; extra && extra[i]; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    char *env[] = { (char *)f->db_env, (char *)key_env, NULL };
    struct harness_proc *p = harness_proc_spawn(argv[0], bin(bootstrap ? "LODESTAR_BOOTSTRAP_BIN"
                                                                       : "LODESTAR_SERVER_BIN"),
                                                argv, env);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void daemon_start(struct daemon *d, const struct fixture *f, bool bootstrap,
                         const char *key_env, const char *const extra[])
{
    memset(d, 0, sizeof *d);
    d->p = spawn(f, bootstrap, key_env, extra);
    if (!bootstrap)
        harness_wait_listening(d->p, "http", START_MS, d->http, sizeof d->http);
    harness_wait_listening(d->p, "coap", START_MS, d->coap, sizeof d->coap);
    harness_wait_listening(d->p, "coaps", START_MS, d->coaps, sizeof d->coaps);
    ck_assert_msg(harness_proc_wait_line(d->p, "event=started ", START_MS, NULL, 0),
                  "not started:\n%s", harness_proc_stderr(d->p));
}

/* No key of this test in the log, and exit 0. */
static void daemon_stop(struct daemon *d, const char *name)
{
    char *log = harness_proc_stderr(d->p);
    ck_assert_msg(!strstr(log, KEY_A) && !strstr(log, KEY_B), "%s logged a key", name);
    free(log);
    ck_assert_int_eq(harness_proc_stop_dump(d->p, name, STOP_MS), 0);
    harness_proc_free(d->p);
    d->p = NULL;
}

/* Runs a process to its end; returns its status, *log its stderr (caller
 * frees). */
static int run_to_exit(struct harness_proc *p, char **log)
{
    int status = -1;
    ck_assert_msg(harness_proc_wait_exit(p, START_MS, &status), "did not exit:\n%s",
                  harness_proc_stderr(p));
    *log = harness_proc_stderr(p);
    harness_proc_free(p);
    ck_assert_msg(!strstr(*log, KEY_A) && !strstr(*log, KEY_B) && !strstr(*log, KEY_C),
                  "a key is in the log");
    return status;
}

/* lodestar-server --rotate-master-key (from the key file) under old_env. */
static int rotate(const struct fixture *f, const char *old_env, char **log)
{
    char arg[96];
    snprintf(arg, sizeof arg, "--rotate-master-key=@%s", f->key_file);
    const char *extra[] = { arg, NULL };
    return run_to_exit(spawn(f, false, old_env, extra), log);
}

static const char *db_value(const struct fixture *f, const char *sql, const char *arg,
                            char *out, size_t cap)
{
    return harness_db_value(f->db.conninfo, sql, arg, out, cap);
}

static json_t *api(const struct fixture *f, const struct daemon *srv, const char *method,
                   const char *path, const char *body, int want)
{
    char url[512], auth[128];
    struct harness_http_response r;
    snprintf(url, sizeof url, "http://%s%s", srv->http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f->admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 30000,
                                  &r);
    ck_assert_msg(st == want, "%s %s: %d, want %d: %.300s", method, path, st, want,
                  r.body ? r.body : "");
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: not JSON", method, path);
    harness_http_response_free(&r);
    return j;
}

/* The default bootstrap configuration: one PSK account on srv, issued.
 * want: 201 created, 200 replaced. */
static void put_default_config(const struct fixture *f, const struct daemon *srv, int want)
{
    char body[512];
    snprintf(body, sizeof body, "{\"servers\":[{\"uri\":\"coaps://%s\",\"ssid\":101,"
             "\"security\":\"psk\",\"credentials\":\"issue\"}]}", srv->coaps);
    json_t *j = api(f, srv, "PUT", "/api/bootstrap/configs/default", body, want);
    json_decref(j);
}

/* ---- factory accounts ---- */

struct account {
    char identity[256];
    uint8_t key[64];
    size_t key_len;
};

static void account_from(json_t *acct, struct account *a)
{
    const char *id = json_string_value(json_object_get(acct, "identity"));
    const char *hex = json_string_value(json_object_get(acct, "key"));
    ck_assert_ptr_nonnull(id);
    ck_assert_ptr_nonnull(hex);
    snprintf(a->identity, sizeof a->identity, "%s", id);
    a->key_len = strlen(hex) / 2;
    ck_assert_uint_le(a->key_len, sizeof a->key);
    for (size_t i = 0; i < a->key_len; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        a->key[i] = (uint8_t)v;
    }
}

static struct harness_device *psk_device(const char *server, const struct account *a)
{
    struct harness_device_options o = { .server = server, .psk_identity = a->identity,
                                        .psk_key = a->key, .psk_key_len = a->key_len };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

static int register_psk(const char *server, const struct account *a, const char *ep)
{
    char q_ep[300], loc[128];
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    const char *q[] = { q_ep, "lt=300", "lwm2m=1.1", "b=U", NULL };
    struct harness_device *d = psk_device(server, a);
    int code = harness_device_register(d, q, LINKS, ANSWER_MS, loc, sizeof loc);
    harness_device_free(d);
    return code;
}

/* Bootstraps over DTLS-PSK with a (the bootstrap account), then registers
 * with the account written; *issued gets it.  The server reloads its PSK
 * table on NOTIFY: the Register is retried until accepted or 20 s. */
static void bootstrap_and_register(const struct daemon *bs, const struct account *a,
                                   const char *ep, struct account *issued)
{
    struct harness_bs_result r;
    struct harness_device *d = psk_device(bs->coaps, a);
    ck_assert_msg(harness_device_bootstrap(d, NULL, 11542, false, BS_MS, &r),
                  "bootstrap of %s: request %d\n%s", ep, r.request_code,
                  harness_proc_stderr(bs->p));
    struct harness_device_account acct;
    ck_assert(harness_device_server_account(d, 0, &acct));
    ck_assert_int_eq(acct.security_mode, 0);
    snprintf(issued->identity, sizeof issued->identity, "%s", acct.identity);
    memcpy(issued->key, acct.key, acct.key_len);
    issued->key_len = acct.key_len;
    harness_device_free(d);
    char server[sizeof acct.uri];
    ck_assert_msg(strncmp(acct.uri, "coaps://", 8) == 0, "uri %s", acct.uri);
    memcpy(server, acct.uri + 8, strlen(acct.uri + 8) + 1);   /* shorter than uri */
    int code = -1;
    int64_t deadline = harness_now_ms() + 20000;   /* a few attempts under load */
    while (code != 201 && harness_now_ms() < deadline) {
        code = register_psk(server, issued, ep);
        if (code != 201)
            harness_sleep_ms(100);   /* retry while the server reloads its keys */
    }
    ck_assert_int_eq(code, 201);
}

static json_t *export_devices(const struct fixture *f, const struct daemon *srv, int64_t batch)
{
    char path[96];
    snprintf(path, sizeof path, "/api/factory/batches/%lld?format=json", (long long)batch);
    json_t *doc = api(f, srv, "GET", path, NULL, 200);
    json_t *devices = json_incref(json_object_get(doc, "devices"));
    json_decref(doc);
    ck_assert_ptr_nonnull(devices);
    return devices;
}

static uint32_t key_id(const char *hex)
{
    struct store_secret_key k;
    struct ls_error err = { 0 };
    ck_assert_int_eq(store_secret_key_from_hex(hex, &k, &err), LS_OK);
    return k.id;
}

/* Every sealed secret is under key hex, and master_key says so. */
static void assert_all_under(const struct fixture *f, const char *hex)
{
    char v[64], id[16];
    snprintf(id, sizeof id, "%u", key_id(hex));
    db_value(f, "SELECT count(*) FROM credentials WHERE secret IS NOT NULL"
             " AND key_id <> $1::bigint", id, v, sizeof v);
    ck_assert_str_eq(v, "0");
    db_value(f, "SELECT key_id FROM master_key", NULL, v, sizeof v);
    ck_assert_str_eq(v, id);
}

/* A daemon started with key_env exits 1 with event=master_key_mismatch. */
static void assert_refused(const struct fixture *f, bool bootstrap, const char *key_env,
                           const char *why)
{
    char *log = NULL;
    int st = run_to_exit(spawn(f, bootstrap, key_env, NULL), &log);
    ck_assert_msg(st == 1, "%s started with the wrong key: %d\n%s",
                  bootstrap ? "bootstrap" : "server", st, log);
    ck_assert_msg(strstr(log, "event=master_key_mismatch") && strstr(log, why),
                  "no clear refusal:\n%s", log);
    ck_assert_ptr_null(strstr(log, "event=started"));
    free(log);
}

START_TEST(t_rotate_end_to_end)
{
    struct fixture f;
    struct daemon srv, bs;
    char body[512], ep1[64], ep2[64], v[64], *log = NULL;
    fixture_init(&f);
    daemon_start(&srv, &f, false, "LODESTAR_MASTER_KEY=" KEY_A, NULL);
    put_default_config(&f, &srv, 201);
    snprintf(body, sizeof body, "{\"count\":2,\"prefix\":\"rk-%s-\",\"bootstrap\":{\"uri\":"
             "\"coaps://127.0.0.1:5784\",\"security\":\"psk\"},\"server\":{\"uri\":"
             "\"coaps://%s\",\"ssid\":101,\"security\":\"psk\"}}", f.tag, srv.coaps);
    json_t *created = api(&f, &srv, "POST", "/api/factory/batches", body, 201);
    /* Started after the batch: its first key load has the accounts. */
    daemon_start(&bs, &f, true, "LODESTAR_MASTER_KEY=" KEY_A, NULL);
    int64_t batch = json_integer_value(json_object_get(created, "id"));
    json_decref(created);
    json_t *devices = export_devices(&f, &srv, batch);
    ck_assert_uint_eq(json_array_size(devices), 2);
    struct account bs1, sv1, bs2, sv2, issued2, issued1;
    account_from(json_object_get(json_array_get(devices, 0), "bootstrap"), &bs1);
    account_from(json_object_get(json_array_get(devices, 0), "server"), &sv1);
    account_from(json_object_get(json_array_get(devices, 1), "bootstrap"), &bs2);
    account_from(json_object_get(json_array_get(devices, 1), "server"), &sv2);
    json_decref(devices);
    snprintf(ep1, sizeof ep1, "rk-%s-1", f.tag);
    snprintf(ep2, sizeof ep2, "rk-%s-2", f.tag);

    /* Before: factory keys and bootstrap-issued keys both work. */
    ck_assert_int_eq(register_psk(srv.coaps, &sv1, ep1), 201);
    bootstrap_and_register(&bs, &bs2, ep2, &issued2);
    json_t *before = export_devices(&f, &srv, batch);
    daemon_stop(&bs, "bootstrap");
    daemon_stop(&srv, "server");
    db_value(&f, "SELECT count(*) FROM credentials WHERE secret IS NOT NULL", NULL, v,
             sizeof v);
    ck_assert_int_eq(atoi(v), 5);   /* 2 x 2 factory accounts + 1 issued */
    assert_all_under(&f, KEY_A);

    /* Rotate A -> B, then twice more: both no-ops. */
    ck_assert_int_eq(rotate(&f, "LODESTAR_MASTER_KEY=" KEY_A, &log), 0);
    ck_assert_msg(strstr(log, "event=master_key_rotated ") && strstr(log, " resealed=5 ") &&
                  strstr(log, "state=rotated"), "rotation:\n%s", log);
    free(log);
    assert_all_under(&f, KEY_B);
    ck_assert_int_eq(rotate(&f, "LODESTAR_MASTER_KEY=" KEY_A, &log), 0);
    ck_assert_msg(strstr(log, " resealed=0 already=5 state=already_current"), "re-run:\n%s",
                  log);
    free(log);
    ck_assert_int_eq(rotate(&f, "LODESTAR_MASTER_KEY=" KEY_B, &log), 0);
    ck_assert_msg(strstr(log, " resealed=0 already=5 state=already_current"), "re-run:\n%s",
                  log);
    free(log);
    assert_all_under(&f, KEY_B);

    /* The old key is refused by both daemons, as the previous key. */
    assert_refused(&f, false, "LODESTAR_MASTER_KEY=" KEY_A, "previous master key");
    assert_refused(&f, true, "LODESTAR_MASTER_KEY=" KEY_A, "previous master key");

    /* The new key (env for one, @FILE for the other) works. */
    char key_arg[96];
    snprintf(key_arg, sizeof key_arg, "--master-key=@%s", f.key_file);
    const char *with_file[] = { key_arg, NULL };
    daemon_start(&srv, &f, false, "LODESTAR_MASTER_KEY=" KEY_B, NULL);
    daemon_start(&bs, &f, true, NULL, with_file);
    json_t *after = export_devices(&f, &srv, batch);
    ck_assert_msg(json_equal(before, after), "the export changed across the rotation");
    json_decref(before);
    json_decref(after);
    ck_assert_int_eq(register_psk(srv.coaps, &sv1, ep1), 201);
    ck_assert_int_eq(register_psk(srv.coaps, &issued2, ep2), 201);
    put_default_config(&f, &srv, 200);
    bootstrap_and_register(&bs, &bs1, ep1, &issued1);
    assert_all_under(&f, KEY_B);
    (void)sv2;
    daemon_stop(&bs, "bootstrap");
    daemon_stop(&srv, "server");
    fixture_done(&f);
}
END_TEST

static void insert_psk(const struct fixture *f, const char *key_hex, const char *ep,
                       const char *identity, enum ls_rc want)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(key_hex, &k, &err), LS_OK);
    struct store *s = store_open(f->db.conninfo, &err);
    ck_assert_ptr_nonnull(s);
    struct store_credential c = {
        .endpoint = ep, .scope = "server", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)"0123456789abcdef", .secret_len = 16, .state = "active",
    };
    enum ls_rc rc = store_credentials_insert(s, &k, &c, NULL, &err);
    ck_assert_msg(rc == want, "insert %s: %s %s", identity, err.msg, err.detail);
    store_close(s);
}

/* A factory batch of n devices (both accounts: 2n sealed keys) under key_hex. */
static int64_t make_batch(const struct fixture *f, const char *key_hex, size_t n)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(key_hex, &k, &err), LS_OK);
    char (*names)[32] = calloc(n, sizeof *names);
    const char **eps = calloc(n, sizeof *eps);
    ck_assert(names && eps);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "rk-batch-%zu", i);
        eps[i] = names[i];
    }
    struct store_factory_batch b = {
        .endpoints = eps, .n = n, .bootstrap = { "coaps://127.0.0.1:5784", 0 },
        .server = { "coaps://127.0.0.1:5684", 101 }, .key_bytes = 16, .spec_json = "{}",
    };
    struct store *s = store_open(f->db.conninfo, &err);
    ck_assert_ptr_nonnull(s);
    int64_t id = 0;
    ck_assert_msg(store_factory_create(s, &k, &b, &id, &err) == LS_OK, "batch: %s", err.msg);
    store_close(s);
    free(eps);
    free(names);
    return id;
}

static void count_row(void *arg, const struct store_factory_row *r)
{
    (void)r;
    ++*(size_t *)arg;
}

/* Accounts of batch whose keys open under key_hex; -1 when one does not. */
static long export_count(const struct fixture *f, const char *key_hex, int64_t batch)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(key_hex, &k, &err), LS_OK);
    struct store *s = store_open(f->db.conninfo, &err);
    ck_assert_ptr_nonnull(s);
    size_t rows = 0;
    enum ls_rc rc = store_factory_export(s, &k, batch, count_row, &rows, NULL, NULL, &err);
    store_close(s);
    return rc == LS_OK ? (long)rows : -1;
}

START_TEST(t_rotate_refusals_are_atomic)
{
    struct fixture f;
    char v[64], *log = NULL;
    fixture_init(&f);
    insert_psk(&f, KEY_A, "rk-a", "rk-a-id", LS_OK);
    insert_psk(&f, KEY_A, "rk-b", "rk-b-id", LS_OK);
    insert_psk(&f, KEY_A, "rk-c", "rk-c-id", LS_OK);
    /* 1 400 more: the rotation works through several batches of 500. */
    int64_t batch = make_batch(&f, KEY_A, 700);
    ck_assert_int_eq(export_count(&f, KEY_A, batch), 1400);
    /* The first secret claimed the database for key A. */
    assert_all_under(&f, KEY_A);
    /* Another key's secret is refused by the database itself. */
    insert_psk(&f, KEY_C, "rk-d", "rk-d-id", LS_EINVAL);

    /* A key file that cannot be read is a usage error (exit 2), naming the file. */
    const char *missing[] = { "--rotate-master-key=@/nonexistent/lodestar.key", NULL };
    ck_assert_int_eq(run_to_exit(spawn(&f, false, "LODESTAR_MASTER_KEY=" KEY_A, missing), &log),
                     2);
    ck_assert_msg(strstr(log, "--rotate-master-key: cannot read key file "
                              "\"/nonexistent/lodestar.key\""), "%s", log);
    free(log);

    /* A key that is not the database's is refused, nothing changed. */
    ck_assert_int_eq(rotate(&f, "LODESTAR_MASTER_KEY=" KEY_C, &log), 1);
    ck_assert_msg(strstr(log, "event=master_key_rotate_failed") &&
                  strstr(log, "is not the database's master key"), "%s", log);
    free(log);
    assert_all_under(&f, KEY_A);

    /* A tampered secret aborts the whole rotation: still all under A. */
    ck_assert_int_eq(harness_psql(f.db.conninfo, "UPDATE credentials SET secret = "
                                  "set_byte(secret, 20, get_byte(secret, 20) # 1) "
                                  "WHERE identity = 'rk-b-id'"), 0);
    ck_assert_int_eq(rotate(&f, "LODESTAR_MASTER_KEY=" KEY_A, &log), 1);
    ck_assert_msg(strstr(log, "does not open under the old key") &&
                  strstr(log, "changed=none"), "%s", log);
    free(log);
    assert_all_under(&f, KEY_A);
    db_value(&f, "SELECT count(*) FROM master_key WHERE previous_key_id IS NULL", NULL, v,
             sizeof v);
    ck_assert_str_eq(v, "1");
    assert_refused(&f, false, "LODESTAR_MASTER_KEY=" KEY_B, "was sealed under");

    /* Without it, the re-run completes. */
    ck_assert_int_eq(harness_psql(f.db.conninfo,
                                  "DELETE FROM credentials WHERE identity = 'rk-b-id'"), 0);
    ck_assert_int_eq(rotate(&f, "LODESTAR_MASTER_KEY=" KEY_A, &log), 0);
    ck_assert_msg(strstr(log, " resealed=1402 already=0 state=rotated"), "%s", log);
    free(log);
    assert_all_under(&f, KEY_B);
    ck_assert_int_eq(export_count(&f, KEY_B, batch), 1400);
    ck_assert_int_eq(export_count(&f, KEY_A, batch), -1);
    /* A writer still holding the old key cannot add a secret. */
    insert_psk(&f, KEY_A, "rk-e", "rk-e-id", LS_EINVAL);
    insert_psk(&f, KEY_B, "rk-e", "rk-e-id", LS_OK);
    fixture_done(&f);
}
END_TEST

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    Suite *s = suite_create("rekey");
    TCase *tc = tcase_create("rekey");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_rotate_end_to_end);
    tcase_add_test(tc, t_rotate_refusals_are_atomic);
    suite_add_tcase(s, tc);
    return harness_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
