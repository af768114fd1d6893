/*
 * bench/store_worker_bench.c -- throughput of the batching store worker
 *
 * Usage: store_worker_bench [COUNT [pipeline|sequential [BATCH_MAX [PRELOAD [SHARDS]]]]]
 *   COUNT      registrations to write (default 100 000)
 *   mode       pipeline (default): libpq pipeline mode, one Sync per round;
 *              sequential: the same statements one at a time, one
 *              transaction per round (the baseline)
 *   BATCH_MAX  operations per transaction (default 2 000)
 *   PRELOAD    registrations written (untimed) before the run, so that the
 *              measured storm hits tables that already hold that many rows
 *   SHARDS     worker threads (connections), default 1
 *
 * Needs LODESTAR_BENCH_PGURI or LODESTAR_TEST_PGURI (key=value conninfo of
 * a role that may CREATE DATABASE): the bench creates a fresh database,
 * migrates it, runs and drops it.  One producer thread queues registers as
 * fast as the queue bound allows (LS_ENOMEM: it yields and retries, as the
 * CoAP side would answer 5.03); the main thread runs the completion loop.
 * Prints operations per second, batches, mean batch size, mean commit
 * latency and the p50/p99 of queue-to-completion latency.
 *
 * Build without sanitizers for figures:
 *   meson setup build-bench --buildtype=release -Dtests=false
 *   meson compile -C build-bench bench/store_worker_bench
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/log.h"
#include "runtime/loop.h"
#include "store/registrations.h"
#include "store/store_int.h"

struct bench {
    struct store_worker *w;
    int count;
    const char *prefix;     /* id prefix, distinct per phase */
    int64_t *queued_us;     /* per op: when it was queued */
    int64_t *latency_us;    /* per op: queue to completion */
    int completed;
    int failed;
    struct runtime_loop *loop;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct slot {
    struct bench *b;
    int i;
};

static void on_done(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct slot *s = arg;
    struct bench *b = s->b;
    b->latency_us[s->i] = now_us() - b->queued_us[s->i];
    if (rc != LS_OK && b->failed++ == 0)
        fprintf(stderr, "store_worker_bench: op %d: %s\n", s->i, err->msg);
    if (++b->completed == b->count)
        runtime_loop_stop(b->loop);
}

static void *producer(void *arg)
{
    struct bench *b = arg;
    struct slot *slots = calloc((size_t)b->count, sizeof *slots);
    char id[32], ep[48], addr[32];

    for (int i = 0; i < b->count; i++) {
        snprintf(id, sizeof id, "%s%d", b->prefix, i);
        snprintf(ep, sizeof ep, "bench-%s%d", b->prefix, i);
        snprintf(addr, sizeof addr, "10.0.%d.%d:5683", (i >> 8) & 255, i & 255);
        int64_t t = 1700000000000 + i;
        struct store_registration r = {
            .id = id, .endpoint = ep, .version = "1.1", .lifetime_s = 86400, .binding = "U",
            .objects_json = "[\"/1/0\",\"/3/0\",\"/4/0\",\"/5\"]", .formats_json = "[110,112]",
            .address = addr, .security = "nosec", .identity = "",
            .registered_at_ms = t, .last_seen_ms = t, .expires_at_ms = t + 86400000,
        };
        slots[i] = (struct slot){ b, i };
        b->queued_us[i] = now_us();
        while (store_worker_register(b->w, &r, on_done, &slots[i], NULL) == LS_ENOMEM)
            usleep(200);   /* back-pressure: the CoAP side would answer 5.03 */
    }
    return slots;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* One storm of count registers; prints its figures when label is set. */
static int storm(const char *conninfo, const struct store_worker_options *opts, int count,
                 const char *prefix, const char *label)
{
    struct ls_error err = { 0 };
    struct bench b = { .count = count, .prefix = prefix };
    b.queued_us = calloc((size_t)count, sizeof *b.queued_us);
    b.latency_us = calloc((size_t)count, sizeof *b.latency_us);
    b.loop = runtime_loop_new(&err);
    b.w = store_worker_start_opts(conninfo, b.loop, opts, &err);
    if (!b.loop || !b.w) {
        fprintf(stderr, "store_worker_bench: %s\n", err.msg);
        return 1;
    }
    pthread_t th;
    int64_t t0 = now_us();
    pthread_create(&th, NULL, producer, &b);
    if (runtime_loop_run(b.loop, &err) != LS_OK)
        fprintf(stderr, "store_worker_bench: %s\n", err.msg);
    int64_t elapsed = now_us() - t0;
    void *slots;
    pthread_join(th, &slots);
    struct store_worker_stats st;
    store_worker_stats(b.w, &st);
    store_worker_stop(b.w);
    qsort(b.latency_us, (size_t)count, sizeof *b.latency_us, cmp_i64);
    if (label)
        printf("| %s | %d | %.0f | %llu | %.0f | %.1f | %.1f | %.1f | %d |\n", label, count,
               count / (elapsed / 1e6), (unsigned long long)st.batches,
               st.batches ? (double)st.operations / (double)st.batches : 0.0,
               st.batches ? st.commit_us_total / 1000.0 / (double)st.batches : 0.0,
               b.latency_us[count / 2] / 1000.0, b.latency_us[count * 99 / 100] / 1000.0,
               b.failed);
    free(slots);
    free(b.queued_us);
    free(b.latency_us);
    runtime_loop_free(b.loop);
    return b.failed ? 1 : 0;
}

static int exec_admin(const char *pguri, const char *sql)
{
    struct ls_error err = { 0 };
    struct store *s = store_open(pguri, &err);
    enum ls_rc rc = s ? store_exec_text(s, "admin", sql, 0, NULL, NULL, &err) : LS_ENOMEM;
    if (rc != LS_OK)
        fprintf(stderr, "store_worker_bench: %s: %s\n", sql, err.msg);
    store_close(s);
    return rc == LS_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *pguri = getenv("LODESTAR_BENCH_PGURI");
    if (!pguri || !*pguri)
        pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "store_worker_bench: set LODESTAR_BENCH_PGURI\n");
        return 2;
    }
    int count = argc > 1 ? atoi(argv[1]) : 100000;
    const char *mode = argc > 2 ? argv[2] : "pipeline";
    struct store_worker_options opts = {
        .batch_max = argc > 3 ? (size_t)atoi(argv[3]) : 0,
        .sequential = strcmp(mode, "sequential") == 0,
    };
    int preload = argc > 4 ? atoi(argv[4]) : 0;
    opts.shards = argc > 5 ? (size_t)atoi(argv[5]) : 1;
    char db[64], sql[128], conninfo[1024], label[96];
    struct ls_error err = { 0 };

    ls_log_threshold = LS_LOG_WARN;
    snprintf(db, sizeof db, "lodestar_bench_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    if (exec_admin(pguri, sql))
        return 1;
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", pguri, db);
    struct store *s = store_open(conninfo, &err);
    int rc = store_migrate(s, NULL, &err) == LS_OK ? 0 : 1;
    store_close(s);
    if (rc == 0 && preload > 0)
        rc = storm(conninfo, NULL, preload, "p", NULL);
    snprintf(label, sizeof label, "%s, batch %zu, %zu shard%s%s", mode,
             opts.batch_max ? opts.batch_max : 2000, opts.shards, opts.shards > 1 ? "s" : "",
             preload ? ", preloaded" : "");
    if (rc == 0)
        rc = storm(conninfo, &opts, count, "b", label);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    exec_admin(pguri, sql);
    return rc;
}
