/*
 * runtime/ratelimit.c -- per-source-address token buckets (runtime/ratelimit.h)
 *
 * Tokens are kept in thousandths so that a rate of N per second refills N
 * thousandths per millisecond with integer arithmetic.  A set is chosen by
 * a hash of the address mixed with a random per-limiter key (getrandom),
 * so that nobody can aim many addresses at one set from outside.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MILLI 1000

struct entry {
    uint64_t key;           /* the address (v4, or v6 /64), 0 = empty way */
    int64_t tokens;         /* thousandths of a token */
    int64_t last_ms;        /* last refill, and last seen */
};

struct runtime_ratelimit {
    int64_t rate;           /* tokens per second = thousandths per ms */
    int64_t burst_milli;
    size_t sets;            /* power of two */
    uint64_t seed;
    struct runtime_ratelimit_stats st;  /* atomics */
    struct entry e[];       /* sets * RUNTIME_RATELIMIT_WAYS */
};

#define STAT_ADD(rl, f, n) __atomic_add_fetch(&(rl)->st.f, (n), __ATOMIC_RELAXED)

struct runtime_ratelimit *runtime_ratelimit_new(unsigned rate, unsigned burst, size_t slots,
                                                struct ls_error *err)
{
    if (rate == 0) {
        ls_error_set(err, LS_EINVAL, "ratelimit: rate must be > 0");
        return NULL;
    }
    size_t want = slots ? slots : RUNTIME_RATELIMIT_SLOTS_DEFAULT, sets = 1;
    while (sets * RUNTIME_RATELIMIT_WAYS < want && sets < ((size_t)1 << 24))
        sets <<= 1;
    struct runtime_ratelimit *rl =
        calloc(1, sizeof *rl + sets * RUNTIME_RATELIMIT_WAYS * sizeof(struct entry));
    if (!rl) {
        ls_error_set(err, LS_ENOMEM, "ratelimit: out of memory");
        return NULL;
    }
    rl->rate = rate;
    rl->burst_milli = (int64_t)(burst ? burst : rate) * MILLI;
    rl->sets = sets;
    rl->st.slots = sets * RUNTIME_RATELIMIT_WAYS;
    if (getrandom(&rl->seed, sizeof rl->seed, 0) != (ssize_t)sizeof rl->seed)
        rl->seed = (uint64_t)(uintptr_t)rl ^ 0x9e3779b97f4a7c15ull;
    return rl;
}

void runtime_ratelimit_free(struct runtime_ratelimit *rl)
{
    free(rl);
}

/* The address as a non-zero 64-bit key; false for other families. */
static bool addr_key(const struct sockaddr *sa, uint64_t *key)
{
    uint64_t k = 0;
    if (sa->sa_family == AF_INET) {
        uint32_t a;
        memcpy(&a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        k = (uint64_t)a | 1ull << 32;
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b)) {
            uint32_t a;
            memcpy(&a, b + 12, 4);
            k = (uint64_t)a | 1ull << 32;           /* the same key as over IPv4 */
        } else {
            memcpy(&k, b, 8);                       /* the /64 */
            if (!k)
                k = 2;                               /* ::/64, never "empty" */
        }
    } else {
        return false;
    }
    *key = k;
    return true;
}

/* splitmix64 of the key under the limiter's seed. */
static size_t set_of(const struct runtime_ratelimit *rl, uint64_t key)
{
    uint64_t z = key ^ rl->seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (size_t)z & (rl->sets - 1);
}

static void refill(const struct runtime_ratelimit *rl, struct entry *e, int64_t now_ms)
{
    int64_t dt = now_ms - e->last_ms;
    if (dt > 0) {
        /* dt * rate cannot overflow before the bucket is long full. */
        int64_t add = dt > rl->burst_milli ? rl->burst_milli : dt * rl->rate;
        e->tokens = e->tokens + add > rl->burst_milli ? rl->burst_milli : e->tokens + add;
    }
    e->last_ms = now_ms;
}

/* The entry of key in its set, taking a way for it when absent. */
static struct entry *find_or_take(struct runtime_ratelimit *rl, uint64_t key, int64_t now_ms)
{
    struct entry *set = &rl->e[set_of(rl, key) * RUNTIME_RATELIMIT_WAYS], *victim = NULL;
    for (size_t i = 0; i < RUNTIME_RATELIMIT_WAYS; i++)
        if (set[i].key == key)
            return &set[i];
    for (size_t i = 0; i < RUNTIME_RATELIMIT_WAYS && !victim; i++)
        if (!set[i].key)
            victim = &set[i];
    if (victim) {
        STAT_ADD(rl, entries, 1);
    } else {
        /* Fullest bucket first (full = as good as absent), then oldest. */
        for (size_t i = 0; i < RUNTIME_RATELIMIT_WAYS; i++) {
            refill(rl, &set[i], now_ms > set[i].last_ms ? now_ms : set[i].last_ms);
            if (!victim || set[i].tokens > victim->tokens ||
                (set[i].tokens == victim->tokens && set[i].last_ms < victim->last_ms))
                victim = &set[i];
        }
        STAT_ADD(rl, evictions, 1);
    }
    victim->key = key;
    victim->tokens = rl->burst_milli;
    victim->last_ms = now_ms;
    return victim;
}

bool runtime_ratelimit_take(struct runtime_ratelimit *rl, const struct sockaddr *addr,
                            int64_t now_ms, unsigned *retry_s)
{
    uint64_t key;
    if (!addr_key(addr, &key))
        return true;
    struct entry *e = find_or_take(rl, key, now_ms);
    refill(rl, e, now_ms);
    if (e->tokens >= MILLI) {
        e->tokens -= MILLI;
        STAT_ADD(rl, allowed, 1);
        return true;
    }
    if (retry_s) {
        int64_t ms = (MILLI - e->tokens + rl->rate - 1) / rl->rate;   /* ms to one token */
        *retry_s = (unsigned)((ms + 999) / 1000);
        if (*retry_s == 0)
            *retry_s = 1;
    }
    STAT_ADD(rl, refused, 1);
    return false;
}

void runtime_ratelimit_stats(const struct runtime_ratelimit *rl,
                             struct runtime_ratelimit_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!rl)
        return;
    out->allowed = __atomic_load_n(&rl->st.allowed, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&rl->st.refused, __ATOMIC_RELAXED);
    out->evictions = __atomic_load_n(&rl->st.evictions, __ATOMIC_RELAXED);
    out->entries = __atomic_load_n(&rl->st.entries, __ATOMIC_RELAXED);
    out->slots = rl->st.slots;
}
