/*
 * runtime/ratelimit.h -- per-source-address token buckets in bounded memory
 *
 * A limiter answers "may this address do one more X now?" with a token
 * bucket per address: BURST tokens at most, RATE tokens added per second,
 * one token per action.  Used by lodestar-server to slow registration spam
 * (issue 10, part 4): a Register from an address whose bucket is empty is
 * refused 4.29 with Max-Age = the seconds until its next token.
 *
 * Memory is fixed at creation: a set-associative table of SLOTS entries
 * (RUNTIME_RATELIMIT_WAYS per set, chosen by a keyed hash of the address).
 * An address not in the table takes a free way of its set, else the way
 * whose bucket is fullest (a full bucket is the same as no entry), ties to
 * the least recently seen.  So memory never grows with the number of
 * addresses seen; an address evicted from a crowded set comes back with a
 * full bucket, which is the price of the bound (counted: evictions).
 *
 * The key is the IPv4 address (v4-mapped IPv6 included), or the /64 prefix
 * of an IPv6 address: one IPv6 host owns a /64 and could otherwise cycle
 * through 2^64 fresh buckets.  Ports are ignored.
 *
 * Not thread-safe: one thread (the CoAP loop) calls _take.  The counters of
 * runtime_ratelimit_stats are atomics, readable from any thread.
 *
 * INTERFACE ROUTINES
 *   runtime_ratelimit_new / _free   a limiter (NULL = no limit: rate 0)
 *   runtime_ratelimit_take          one action of an address: allowed or not
 *   runtime_ratelimit_stats         allowed / refused / evictions / entries in use
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_RATELIMIT_H
#define LODESTAR_RUNTIME_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "runtime/err.h"

#define RUNTIME_RATELIMIT_WAYS 8
#define RUNTIME_RATELIMIT_SLOTS_DEFAULT 16384   /* 16 384 addresses, 24 bytes each: 384 kB */

struct runtime_ratelimit;

/*
 * runtime_ratelimit_new -- rate tokens per second (> 0), burst tokens at
 * most (0 = rate), slots entries (rounded up to a power of two multiple of
 * RUNTIME_RATELIMIT_WAYS; 0 = RUNTIME_RATELIMIT_SLOTS_DEFAULT).  Caller
 * owns; NULL with err (LS_EINVAL for rate 0, LS_ENOMEM).
 */
struct runtime_ratelimit *runtime_ratelimit_new(unsigned rate, unsigned burst, size_t slots,
                                                struct ls_error *err);

void runtime_ratelimit_free(struct runtime_ratelimit *rl);

/*
 * runtime_ratelimit_take -- takes one token of addr's bucket at now_ms (a
 * monotonic clock).  true: allowed.  false: refused, and *retry_s (may be
 * NULL) is the whole seconds until a token is back (at least 1).  An
 * address family other than AF_INET / AF_INET6 is always allowed.
 */
bool runtime_ratelimit_take(struct runtime_ratelimit *rl, const struct sockaddr *addr,
                            int64_t now_ms, unsigned *retry_s);

struct runtime_ratelimit_stats {
    uint64_t allowed;       /* tokens taken */
    uint64_t refused;       /* takes refused: bucket empty */
    uint64_t evictions;     /* entries given to a new address */
    uint64_t entries;       /* entries in use now (<= slots) */
    uint64_t slots;         /* the table's fixed size */
};
void runtime_ratelimit_stats(const struct runtime_ratelimit *rl,
                             struct runtime_ratelimit_stats *out);

#endif /* LODESTAR_RUNTIME_RATELIMIT_H */
