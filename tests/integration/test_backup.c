/*
 * tests/integration/test_backup.c -- backup with pg_dump, restore with
 * pg_restore into a fresh database, devices resume (issue 10.6,
 * docs/operations.md "Backup and restore")
 *
 * lodestar-server runs on a fresh database with a fixed --coap port (as a
 * deployment has).  A NoSec device and a DTLS-PSK device register.  While
 * the server runs, pg_dump -Fc takes the backup (online, as in
 * production).  The server stops, the database is dropped and created
 * empty, pg_restore loads the dump, and lodestar-server starts on it with
 * the same master key.  Then both devices' Updates (the NoSec one from the
 * same address and CoAP session, the DTLS one over a new handshake with
 * the same PSK) are answered 2.04 for their old locations: no new
 * registration is made (one 'registration' event each), and the API shows
 * them registered.
 *
 * pg_dump and pg_restore come from the PostgreSQL packages: next to the
 * pg_ctl of LODESTAR_TEST_PGCTL_CMD, else on PATH.  Needs
 * LODESTAR_TEST_PGURI (exit 77 without).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"
#include "store/credentials.h"
#include "store/secret.h"
#include "store/store.h"

#define ANSWER_MS 5000
#define TOOL_MS 60000
#define LINKS "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>"
#define PSK_KEY "backup-psk-key-0123"

/* Full path of a PostgreSQL client tool into out. */
static void pg_tool(const char *name, char *out, size_t cap)
{
    const char *cmd = getenv("LODESTAR_TEST_PGCTL_CMD");
    const char *at = cmd ? strstr(cmd, "/pg_ctl") : NULL;
    if (at) {
        const char *start = at;
        while (start > cmd && start[-1] != ' ')
            start--;
        snprintf(out, cap, "%.*s/%s", (int)(at - start), start, name);
        if (access(out, X_OK) == 0)
            return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(path, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", dir, name);
        if (access(out, X_OK) == 0)
            return;
    }
    ck_abort_msg("%s not found (install the PostgreSQL client packages)", name);
}

/* Runs argv to its end; asserts exit 0. */
static void run_tool(char *const argv[])
{
    struct harness_proc *p = harness_proc_spawn(argv[0], argv[0], argv, NULL);
    ck_assert_ptr_nonnull(p);
    int status = -1;
    ck_assert_msg(harness_proc_wait_exit(p, TOOL_MS, &status), "%s did not finish", argv[0]);
    char *err = harness_proc_stderr(p);
    ck_assert_msg(status == 0, "%s: exit %d\n%s", argv[0], status, err);
    free(err);
    harness_proc_free(p);
}

static void add_psk(const char *conninfo, const char *endpoint, const char *identity)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(HARNESS_SERVER_KEY_HEX, &k, &err), LS_OK);
    struct store *s = store_open(conninfo, &err);
    ck_assert_ptr_nonnull(s);
    struct store_credential c = {
        .endpoint = endpoint, .scope = "server", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)PSK_KEY, .secret_len = strlen(PSK_KEY), .state = "active",
    };
    ck_assert_msg(store_credentials_insert(s, &k, &c, NULL, &err) == LS_OK, "insert: %s",
                  err.msg);
    store_close(s);
}

static struct harness_device *device(const char *server, const char *identity)
{
    struct harness_device_options o = {
        .server = server, .psk_identity = identity,
        .psk_key = identity ? (const uint8_t *)PSK_KEY : NULL,
        .psk_key_len = identity ? strlen(PSK_KEY) : 0,
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void do_register(struct harness_device *d, const char *ep, char *loc, size_t cap)
{
    char q_ep[200];
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    const char *q[] = { q_ep, "lt=600", "lwm2m=1.1", "b=U", NULL };
    ck_assert_int_eq(harness_device_register(d, q, LINKS, ANSWER_MS, loc, cap), 201);
}

static const char *count_events(const struct harness_server *s, const char *kind,
                                const char *ep, char *out, size_t cap)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE kind = '%s'"
             " AND endpoint = $1", kind);
    return harness_db_value(s->db.conninfo, sql, ep, out, cap);
}

/* GET /api/devices/{ep}: "registered" is true. */
static void assert_registered(const struct harness_server *s, const char *ep)
{
    char url[512], auth[128];
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s/api/devices/%s", s->base, ep);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->admin);
    const char *headers[] = { auth, NULL };
    ck_assert_int_eq(harness_http_request("GET", url, headers, NULL, 0, 10000, &r), 200);
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(json_is_true(json_object_get(j, "registered")), "%s: %s", ep, r.body);
    json_decref(j);
    harness_http_response_free(&r);
}

START_TEST(t_dump_restore_devices_resume)
{
    struct harness_server s;
    char coap[64], ep1[64], ep2[64], id2[96], loc1[64], loc2[64], v[64], dump[96];
    char pg_dump[512], pg_restore[512];
    pg_tool("pg_dump", pg_dump, sizeof pg_dump);
    pg_tool("pg_restore", pg_restore, sizeof pg_restore);
    snprintf(coap, sizeof coap, "127.0.0.1:%u", harness_free_udp_port());
    struct harness_server_options o = { .db_prefix = "lodestar_backup", .migrate = true,
                                        .who = "test_backup", .coap = coap };
    harness_server_start(&s, &o);
    snprintf(ep1, sizeof ep1, "bk-nosec-%ld", (long)getpid());
    snprintf(ep2, sizeof ep2, "bk-psk-%ld", (long)getpid());
    snprintf(id2, sizeof id2, "%s-id", ep2);
    add_psk(s.db.conninfo, ep2, id2);

    struct harness_device *d1 = device(s.coap, NULL);
    do_register(d1, ep1, loc1, sizeof loc1);
    int code = -1;
    for (int i = 0; i < 50 && code != 201; i++) {   /* the server learns the PSK on NOTIFY */
        struct harness_device *d2 = device(s.coaps, id2);
        char q_ep[200];
        snprintf(q_ep, sizeof q_ep, "ep=%s", ep2);
        const char *q[] = { q_ep, "lt=600", "lwm2m=1.1", "b=U", NULL };
        code = harness_device_register(d2, q, LINKS, ANSWER_MS, loc2, sizeof loc2);
        harness_device_free(d2);
        if (code != 201)
            harness_sleep_ms(100);   /* retry interval while the key table reloads */
    }
    ck_assert_int_eq(code, 201);

    /* Online backup, then the server stops and the database is lost. */
    snprintf(dump, sizeof dump, "/tmp/lodestar-backup-%ld.dump", (long)getpid());
    char *dump_argv[] = { pg_dump, "--format=custom", "--file", dump, "--dbname",
                          s.db.conninfo, NULL };
    run_tool(dump_argv);
    harness_server_halt(&s);
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", s.db.name);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", s.db.name);
    ck_assert_int_eq(harness_psql(harness_pg_uri(), sql), 0);
    ck_assert_str_eq(harness_db_value(s.db.conninfo, "SELECT count(*) FROM pg_tables WHERE "
                                      "schemaname = 'public'", NULL, v, sizeof v), "0");
    char *restore_argv[] = { pg_restore, "--no-owner", "--exit-on-error", "--dbname",
                             s.db.conninfo, dump, NULL };
    run_tool(restore_argv);
    unlink(dump);

    /* The restored database: same registrations; the server resumes. */
    harness_server_spawn(&s);
    assert_registered(&s, ep1);
    assert_registered(&s, ep2);
    const char *uq[] = { "lt=600", NULL };
    ck_assert_int_eq(harness_device_update(d1, loc1, uq, NULL, ANSWER_MS), 204);
    struct harness_device *d2 = device(s.coaps, id2);
    ck_assert_int_eq(harness_device_update(d2, loc2, uq, NULL, ANSWER_MS), 204);
    harness_device_free(d2);
    harness_device_free(d1);
    ck_assert_str_eq(count_events(&s, "registration", ep1, v, sizeof v), "1");
    ck_assert_str_eq(count_events(&s, "registration", ep2, v, sizeof v), "1");
    harness_db_value(s.db.conninfo, "SELECT id FROM registrations WHERE endpoint = $1", ep1, v,
                     sizeof v);
    ck_assert_str_eq(v, loc1 + 3);   /* "rd/<id>": the same registration */
    harness_db_value(s.db.conninfo, "SELECT id FROM registrations WHERE endpoint = $1", ep2, v,
                     sizeof v);
    ck_assert_str_eq(v, loc2 + 3);
    harness_server_stop(&s);
}
END_TEST

int main(void)
{
    (void)harness_pg_uri();     /* exits 77 when unset */
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create("backup");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, t_dump_restore_devices_resume);
    suite_add_tcase(s, tc);
    return harness_run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
