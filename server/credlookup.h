/*
 * server/credlookup.h -- a PSK identity the credential cache does not know
 * yet, looked up in Postgres during the handshake
 *
 * The cache follows the credentials table through the watcher's deltas
 * (store/credentials.h), a few to a hundred milliseconds behind a commit.
 * A device that bootstraps and registers at once -- on a LAN, on the
 * production line -- can start its handshake inside that window and be
 * refused with keys the bootstrap server has just given it, which makes a
 * client with "bootstrap on registration failure" bootstrap again, into
 * the same window.  So a miss is looked up once, synchronously, before it
 * becomes a refusal.  LIBCOAP.md section 3 says the PSK callback must not
 * query Postgres: this is the one bounded exception, and why it stays
 * bounded:
 *   - only misses pay (a known identity never reaches here);
 *   - an identity looked up and not found is not looked up again for
 *     NEGATIVE_MS (a device retrying, or a flood of one identity);
 *   - at most RATE lookups a second (token bucket); beyond, a miss is
 *     refused as before and counted;
 *   - the connection has a short statement and lock timeout, and after a
 *     failure (database away) no lookup is tried for BACKOFF_MS.
 * The loop thread may stall for one lookup (well under a millisecond on a
 * healthy local database), at most RATE times a second.
 *
 * INTERFACE ROUTINES
 *   server_credlookup_new / _free   a lazy connection of its own
 *   server_credlookup_psk           one identity -> a delta to apply
 *   server_credlookup_stats         counters for /metrics
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_CREDLOOKUP_H
#define LODESTAR_SERVER_CREDLOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

struct runtime_credcache_delta;
struct store_secret_key;
struct server_credlookup;

/* conninfo and key are borrowed and must outlive it (the key is the
 * server's master key).  NULL on ENOMEM. */
struct server_credlookup *server_credlookup_new(const char *conninfo,
                                                const struct store_secret_key *key,
                                                struct ls_error *err);
void server_credlookup_free(struct server_credlookup *l);

/*
 * server_credlookup_psk -- the live server credential of identity as a
 * delta of one put (caller applies and frees it), or NULL: not found,
 * recently not found, over the rate, or the database unreachable.  Loop
 * thread only.
 */
struct runtime_credcache_delta *server_credlookup_psk(struct server_credlookup *l,
                                                      const uint8_t *identity, size_t len);

struct server_credlookup_stats {
    uint64_t found, not_found, limited, failed;
};
void server_credlookup_stats(const struct server_credlookup *l,
                             struct server_credlookup_stats *out);

#endif /* LODESTAR_SERVER_CREDLOOKUP_H */
