/*
 * tools/sim_creds.h -- PSK credentials stored for the load generators
 * (bench/dtls_storm, bench/bootstrap_storm) with store_credentials_insert:
 * the same code and sealing the daemons read
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_CREDS_H
#define LODESTAR_TOOLS_SIM_CREDS_H

#include <stdint.h>

/*
 * sim_creds_insert -- total active PSK credentials of scope ("server" or
 * "bootstrap"): endpoint PREFIX-i, identity PREFIX-INFIX-i, the 16-byte
 * key key_of(i), sealed under the master key key_hex; ones that exist are
 * skipped.  Prints a summary line on stderr.  Returns how many were
 * added, -1 on an error (printed).
 */
int sim_creds_insert(const char *pguri, const char *key_hex, const char *prefix,
                     const char *scope, const char *infix, int total,
                     void (*key_of)(int i, uint8_t key[16]));

#endif /* LODESTAR_TOOLS_SIM_CREDS_H */
