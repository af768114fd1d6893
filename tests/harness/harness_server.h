/*
 * tests/harness/harness_server.h -- lodestar-server as a process for an
 * integration test: a fresh database, ports 0 resolved from its log, an
 * admin token, a checked stop
 *
 * Every failure is a Check assertion: call these from a test or a checked
 * fixture.  The binary is $LODESTAR_SERVER_BIN (set by meson test), the
 * master key is HARNESS_SERVER_KEY_HEX.
 *
 * INTERFACE ROUTINES
 *   harness_server_start       fresh database (or a given one), random admin
 *                              token, spawn, wait for the listening lines
 *   harness_server_spawn       spawn again with the same database, token and
 *                              flags (after harness_server_halt)
 *   harness_server_halt        SIGTERM; assert exit 0 and no sanitizer report
 *   harness_server_stop        halt, then drop the fresh database
 *   harness_server_random_hex  bytes of /dev/urandom as lowercase hex
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_HARNESS_SERVER_H
#define LODESTAR_TESTS_HARNESS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness_db.h"

#define HARNESS_SERVER_KEY_HEX \
    "8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define HARNESS_SERVER_MAX_EXTRA 8
#define HARNESS_SERVER_MAX_ENV 8

struct harness_server_options {
    const char *db_prefix;      /* fresh database <prefix>_<pid>_<n>; NULL: conninfo */
    bool migrate;               /* migrate the fresh database */
    const char *conninfo;       /* existing database when db_prefix is NULL;
                                 * NULL means LODESTAR_TEST_PGURI itself */
    const char *who;            /* names the test in drop messages; may be NULL */
    const char *coap;           /* --coap address; NULL means 127.0.0.1:0 */
    const char *const *extra;   /* more flags, NULL terminated; may be NULL */
    const char *const *env;     /* more "NAME=value" environment entries, NULL
                                 * terminated; may be NULL.  LODESTAR_* names
                                 * pass (the harness strips inherited ones) */
    int64_t start_ms;           /* deadline of each awaited line; 0: 20000 */
    int64_t stop_ms;            /* SIGTERM to exit; 0: 10000 */
};

struct harness_server {
    struct harness_proc *proc;
    struct harness_db db;       /* the fresh database (empty name when none) */
    char db_env[1100];          /* LODESTAR_DB=... */
    char base[160];             /* http://127.0.0.1:port */
    char http[128];             /* addresses from the listening lines */
    char coap[128];
    char coaps[128];
    char admin[65];             /* --admin-token */
    /* saved for harness_server_spawn */
    char who[64];
    char coap_arg[128];
    char *extra[HARNESS_SERVER_MAX_EXTRA + 1];
    char *env[HARNESS_SERVER_MAX_ENV + 1];
    int64_t start_ms, stop_ms;
};

void harness_server_start(struct harness_server *s, const struct harness_server_options *o);
void harness_server_spawn(struct harness_server *s);
void harness_server_halt(struct harness_server *s);
void harness_server_stop(struct harness_server *s);
void harness_server_random_hex(char *out, size_t bytes);

#endif /* LODESTAR_TESTS_HARNESS_SERVER_H */
