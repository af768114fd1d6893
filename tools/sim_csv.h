/*
 * tools/sim_csv.h -- the factory export CSV (GET /api/factory/batches/{id}
 * ?format=csv) read by lodestar-sim: one row per device with its bootstrap
 * and server accounts
 *
 * RFC 4180: a header line naming the columns (any order; endpoint,
 * bootstrap_uri, bootstrap_identity, bootstrap_key, server_uri,
 * server_ssid, server_identity, server_key; unknown ones are ignored),
 * fields optionally in double quotes ("" inside for a quote), CRLF or LF.
 * Keys are hex.  Pure: no I/O but sim_csv_load; fuzzed by
 * tests/fuzz/fuzz_sim_csv.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_CSV_H
#define LODESTAR_TOOLS_SIM_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

/* One PSK account: "" / 0-length when the batch did not make it. */
struct sim_csv_account {
    char *uri;
    char *identity;
    uint8_t *key;
    size_t key_len;
};

struct sim_csv_row {
    char *endpoint;
    struct sim_csv_account bootstrap;
    struct sim_csv_account server;
    unsigned server_ssid;        /* 0 when absent */
};

struct sim_csv {
    struct sim_csv_row *rows;
    size_t count;
};

/*
 * sim_csv_parse -- text (len bytes, need not be NUL-terminated) into out.
 * LS_EPROTO with "line N: ..." for a malformed line, a missing endpoint
 * column or field, or a key that is not hex; LS_ENOMEM.  out is empty on
 * error.
 */
enum ls_rc sim_csv_parse(const char *text, size_t len, struct sim_csv *out,
                         struct ls_error *err) LS_MUST_CHECK;

/* Reads and parses the file at path (at most 256 MiB). */
enum ls_rc sim_csv_load(const char *path, struct sim_csv *out, struct ls_error *err) LS_MUST_CHECK;

/* Frees the rows; keys are wiped first. */
void sim_csv_free(struct sim_csv *c);

#endif /* LODESTAR_TOOLS_SIM_CSV_H */
