/*
 * tests/harness/harness_server.c -- start and stop lodestar-server for an
 * integration test; see harness_server.h
 *
 * The listening lines (http, coap, coaps) are awaited in any order, then
 * event=started, so the addresses of ports 0 are known once start returns.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness_server.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define HARNESS_SERVER_START_MS 20000
#define HARNESS_SERVER_STOP_MS 10000

/* What ASan, LSan and UBSan print when they find something. */
static const char *const harness_server_sanitizer_marks[] = {
    "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error: ", NULL
};

void harness_server_random_hex(char *out, size_t bytes)
{
    unsigned char raw[64];
    ck_assert_uint_le(bytes, sizeof raw);
    int fd = open("/dev/urandom", O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, raw, bytes), (ssize_t)bytes);
    close(fd);
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The address field of proto's slot in s, or NULL for another proto. */
static char *harness_server_slot(struct harness_server *s, const char *proto)
{
    if (strcmp(proto, "http") == 0)
        return s->http;
    if (strcmp(proto, "coap") == 0)
        return s->coap;
    if (strcmp(proto, "coaps") == 0)
        return s->coaps;
    return NULL;
}

/* Waits for the three listening lines, in any order, then event=started. */
static void harness_server_wait_ready(struct harness_server *s)
{
    s->http[0] = s->coap[0] = s->coaps[0] = '\0';
    while (!s->http[0] || !s->coap[0] || !s->coaps[0]) {
        char line[512], proto[16];
        bool got = harness_proc_wait_line(s->proc, "event=listening proto=(http|coaps?) addr=",
                                          s->start_ms, line, sizeof line);
        ck_assert_msg(got, "lodestar-server: no listening line:\n%s",
                      harness_proc_stderr(s->proc));
        ck_assert(harness_log_field(line, "proto", proto, sizeof proto));
        char *slot = harness_server_slot(s, proto);
        ck_assert_ptr_nonnull(slot);
        ck_assert(harness_log_field(line, "addr", slot, sizeof s->http));
    }
    ck_assert_msg(harness_proc_wait_line(s->proc, "event=started", s->start_ms, NULL, 0),
                  "lodestar-server: no event=started:\n%s", harness_proc_stderr(s->proc));
    snprintf(s->base, sizeof s->base, "http://%s", s->http);
}

void harness_server_spawn(struct harness_server *s)
{
    char *argv[16 + HARNESS_SERVER_MAX_EXTRA] = {
        "lodestar-server", "--http", "127.0.0.1:0", "--coap", s->coap_arg,
        "--coaps", "127.0.0.1:0", "--admin-token", s->admin,
    };
    size_t n = 9;
    for (size_t i = 0; s->extra[i]; i++)
        argv[n++] = s->extra[i];
    argv[n] = NULL;
    char *env[3 + HARNESS_SERVER_MAX_ENV] = {
        "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, s->db_env,
    };
    size_t k = 2;
    for (size_t i = 0; s->env[i]; i++)
        env[k++] = s->env[i];
    env[k] = NULL;
    const char *bin = getenv("LODESTAR_SERVER_BIN");
    ck_assert_msg(bin && *bin, "LODESTAR_SERVER_BIN is not set (run through meson test)");
    s->proc = harness_proc_spawn("server", bin, argv, env);
    ck_assert_ptr_nonnull(s->proc);
    harness_server_wait_ready(s);
}

/* Copies o's flags into s, so a later spawn needs no options. */
static void harness_server_keep_options(struct harness_server *s,
                                        const struct harness_server_options *o)
{
    snprintf(s->who, sizeof s->who, "%s", o->who ? o->who : "harness_server");
    snprintf(s->coap_arg, sizeof s->coap_arg, "%s", o->coap ? o->coap : "127.0.0.1:0");
    s->start_ms = o->start_ms > 0 ? o->start_ms : HARNESS_SERVER_START_MS;
    s->stop_ms = o->stop_ms > 0 ? o->stop_ms : HARNESS_SERVER_STOP_MS;
    size_t n = 0;
    for (; o->extra && o->extra[n]; n++) {
        ck_assert_uint_lt(n, HARNESS_SERVER_MAX_EXTRA);
        s->extra[n] = strdup(o->extra[n]);
        ck_assert_ptr_nonnull(s->extra[n]);
    }
    s->extra[n] = NULL;
    size_t k = 0;
    for (; o->env && o->env[k]; k++) {
        ck_assert_uint_lt(k, HARNESS_SERVER_MAX_ENV);
        s->env[k] = strdup(o->env[k]);
        ck_assert_ptr_nonnull(s->env[k]);
    }
    s->env[k] = NULL;
}

void harness_server_start(struct harness_server *s, const struct harness_server_options *o)
{
    memset(s, 0, sizeof *s);
    harness_server_keep_options(s, o);
    const char *conninfo = o->conninfo ? o->conninfo : harness_pg_uri();
    if (o->db_prefix) {
        harness_db_fresh(&s->db, harness_pg_uri(), o->db_prefix, o->migrate);
        conninfo = s->db.conninfo;
    }
    snprintf(s->db_env, sizeof s->db_env, "LODESTAR_DB=%s", conninfo);
    harness_server_random_hex(s->admin, 32);
    harness_server_spawn(s);
}

/* SIGTERM and reap; *err gets the log (caller frees).  Returns the exit
 * status. */
static int harness_server_end(struct harness_server *s, char **err)
{
    int st = harness_proc_stop_dump(s->proc, "server", s->stop_ms);
    *err = harness_proc_stderr(s->proc);
    harness_proc_free(s->proc);
    s->proc = NULL;
    return st;
}

/* Asserts exit status 0 and no sanitizer report in err; frees err. */
static void harness_server_check_end(int st, char *err)
{
    for (size_t i = 0; harness_server_sanitizer_marks[i]; i++)
        ck_assert_msg(!strstr(err, harness_server_sanitizer_marks[i]),
                      "lodestar-server: sanitizer report (%s):\n%s",
                      harness_server_sanitizer_marks[i], err);
    free(err);
    ck_assert_int_eq(st, 0);
}

void harness_server_halt(struct harness_server *s)
{
    char *err;
    int st = harness_server_end(s, &err);
    harness_server_check_end(st, err);
}

/* The database is dropped before the checks, so a failed stop leaves none. */
void harness_server_stop(struct harness_server *s)
{
    char *err;
    int st = harness_server_end(s, &err);
    if (s->db.name[0])
        harness_db_drop(&s->db, harness_pg_uri(), s->who);
    for (size_t i = 0; s->extra[i]; i++) {
        free(s->extra[i]);
        s->extra[i] = NULL;
    }
    for (size_t i = 0; s->env[i]; i++) {
        free(s->env[i]);
        s->env[i] = NULL;
    }
    harness_server_check_end(st, err);
}
