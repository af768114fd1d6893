/*
 * tests/unit/store/test_registrations.c -- store/registrations.c (the
 * batching store worker) against a real PostgreSQL
 *
 * Suite 'db': exits 77 (a meson skip) without LODESTAR_TEST_PGURI.  Every
 * test gets a fresh, migrated database (created through the role of
 * LODESTAR_TEST_PGURI, dropped afterwards).  The test thread owns a
 * runtime loop and runs it until the completions it expects arrived,
 * bounded by a deadline, exactly as the CoAP thread will.  The restart
 * test needs LODESTAR_TEST_PGCTL_CMD (scripts/lib/pg.sh) and stops and
 * starts the cluster: never run it against a shared server.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "runtime/loop.h"
#include "store/registrations.h"
#include "harness.h"
#include "harness_db.h"
#include "store/store_int.h"

#define DEADLINE_MS 60000
#define T0_MS INT64_C(1700000000000)   /* a wall-clock time for the rows */

static const char *pguri;
static struct harness_db db;

/* ---- fixture: a fresh migrated database ---- */

static void fresh_db_setup(void)
{
    /* A restart test that failed half-way must not fail every test after it. */
    harness_pg_ensure_running();
    harness_db_fresh(&db, pguri, "lodestar_reg", true);
}

static void fresh_db_teardown(void)
{
    harness_db_drop(&db, pguri, "test_registrations");
}

static struct store *open_db(void)
{
    struct store *s = store_open(db.conninfo, NULL);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* One-row, one-column query as an integer. */
static long query_long(const char *sql)
{
    PGresult *res = NULL;
    struct ls_error err = { 0 };
    struct store *s = open_db();
    ck_assert_msg(store_exec_text(s, "query", sql, 0, NULL, &res, &err) == LS_OK,
                  "%s: %s", sql, err.msg);
    ck_assert_int_eq(PQntuples(res), 1);
    long v = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    store_close(s);
    return v;
}

static void exec_sql(const char *sql)
{
    struct ls_error err = { 0 };
    struct store *s = open_db();
    ck_assert_msg(store_exec_text(s, "exec", sql, 0, NULL, NULL, &err) == LS_OK,
                  "%s: %s %s", sql, err.msg, err.detail);
    store_close(s);
}

/* ---- completions and the loop ---- */

struct rec {                  /* one operation's completion */
    int calls;
    enum ls_rc rc;
    char msg[160];
};

struct run_ctx {
    size_t completed;         /* completions seen */
    size_t want;              /* stop the loop when completed reaches it */
    int64_t deadline_ms;
    struct runtime_loop_timer tick;
    void (*step)(struct run_ctx *c);   /* called every tick, may be NULL */
    int phase;                /* for step */
    void *user;
};

static struct run_ctx ctx;

static void on_done(void *arg, enum ls_rc rc, const struct ls_error *err)
{
    struct rec *r = arg;
    r->calls++;
    r->rc = rc;
    ck_assert_ptr_nonnull(err);
    snprintf(r->msg, sizeof r->msg, "%s", err->msg);
    ctx.completed++;
}

static void on_tick(struct runtime_loop *loop, void *arg)
{
    struct run_ctx *c = arg;
    if (c->step)
        c->step(c);
    if (c->completed >= c->want || runtime_clock_now_ms() > c->deadline_ms)
        runtime_loop_stop(loop);
}

/* Runs the loop until want completions arrived or DEADLINE_MS passed. */
static void run_until(struct runtime_loop *loop, size_t want)
{
    struct ls_error err = { 0 };
    ctx.want = want;
    ctx.deadline_ms = runtime_clock_now_ms() + DEADLINE_MS;
    runtime_loop_timer_init(&ctx.tick, on_tick, &ctx);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &ctx.tick, 5, 5, &err), LS_OK);
    ck_assert_int_eq(runtime_loop_run(loop, &err), LS_OK);
    runtime_loop_timer_stop(loop, &ctx.tick);
    /* A step may lower ctx.want (operations it saw refused at once). */
    ck_assert_msg(ctx.completed == ctx.want, "%zu of %zu completions before the deadline",
                  ctx.completed, ctx.want);
}

static struct runtime_loop *new_loop(void)
{
    struct ls_error err = { 0 };
    struct runtime_loop *loop = runtime_loop_new(&err);
    ck_assert_msg(loop != NULL, "%s", err.msg);
    memset(&ctx, 0, sizeof ctx);
    return loop;
}

static struct store_worker *start(struct runtime_loop *loop,
                                  const struct store_worker_options *opts)
{
    struct ls_error err = { 0 };
    struct store_worker *w = opts ? store_worker_start_opts(db.conninfo, loop, opts, &err)
                                  : store_worker_start(db.conninfo, loop, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    return w;
}

/* ---- registrations ---- */

struct reg_buf {
    char id[32], ep[48], addr[32];
    struct store_registration r;
};

static void make_reg(struct reg_buf *b, const char *prefix, int i)
{
    snprintf(b->id, sizeof b->id, "%s%d", prefix, i);
    snprintf(b->ep, sizeof b->ep, "ep-%s%d", prefix, i);
    snprintf(b->addr, sizeof b->addr, "127.0.0.1:%d", 10000 + i % 50000);
    b->r = (struct store_registration){
        .id = b->id, .endpoint = b->ep, .version = "1.1", .lifetime_s = 300,
        .binding = "U", .queue = false, .sms = NULL, .pid = "",
        .alt_path = NULL, .objects_json = "[\"/1/0\",\"/3/0\",\"/5\"]",
        .formats_json = "[110,112]", .address = b->addr, .security = "nosec",
        .identity = "", .instance_id = NULL,
        .registered_at_ms = T0_MS + i, .last_seen_ms = T0_MS + i,
        .expires_at_ms = T0_MS + i + 300000,
    };
}

static void reg_ok(struct store_worker *w, const struct store_registration *r, struct rec *rec)
{
    struct ls_error err = { 0 };
    ck_assert_msg(store_worker_register(w, r, on_done, rec, &err) == LS_OK, "%s", err.msg);
}

/* Rows seen by store_registrations_load. */
struct loaded {
    int n;
    struct store_registration first;   /* strings copied below */
    char id[32], ep[48], version[8], binding[8], sms[32], pid[32], alt[32];
    char objects[128], formats[64], addr[48], security[8], identity[32], instance[32];
};

static void copy_str(char *dst, size_t size, const char *src, const char **field)
{
    if (!src) {
        *field = NULL;
        return;
    }
    snprintf(dst, size, "%s", src);
    *field = dst;
}

static void on_row(void *arg, const struct store_registration *r)
{
    struct loaded *l = arg;
    if (l->n++ > 0)
        return;
    l->first = *r;
    copy_str(l->id, sizeof l->id, r->id, &l->first.id);
    copy_str(l->ep, sizeof l->ep, r->endpoint, &l->first.endpoint);
    copy_str(l->version, sizeof l->version, r->version, &l->first.version);
    copy_str(l->binding, sizeof l->binding, r->binding, &l->first.binding);
    copy_str(l->sms, sizeof l->sms, r->sms, &l->first.sms);
    copy_str(l->pid, sizeof l->pid, r->pid, &l->first.pid);
    copy_str(l->alt, sizeof l->alt, r->alt_path, &l->first.alt_path);
    copy_str(l->objects, sizeof l->objects, r->objects_json, &l->first.objects_json);
    copy_str(l->formats, sizeof l->formats, r->formats_json, &l->first.formats_json);
    copy_str(l->addr, sizeof l->addr, r->address, &l->first.address);
    copy_str(l->security, sizeof l->security, r->security, &l->first.security);
    copy_str(l->identity, sizeof l->identity, r->identity, &l->first.identity);
    copy_str(l->instance, sizeof l->instance, r->instance_id, &l->first.instance_id);
}

/* Fills *l (its strings point into it: never copy it by value). */
static void load(const char *instance, struct loaded *l)
{
    struct ls_error err = { 0 };
    struct store *s = open_db();
    memset(l, 0, sizeof *l);
    ck_assert_msg(store_registrations_load(s, instance, on_row, l, &err) == LS_OK, "%s",
                  err.msg);
    store_close(s);
}

/* ---- store_worker_register ---- */

#define STORM 5000
#define STORM_THREADS 4

struct storm {
    struct store_worker *w;
    struct reg_buf *bufs;
    struct rec *recs;
    int from, to;
};

static void *storm_thread(void *arg)
{
    struct storm *s = arg;
    for (int i = s->from; i < s->to; i++) {
        struct ls_error err = { 0 };
        make_reg(&s->bufs[i], "s", i);
        /* Borrowed strings: the worker copies, so the buffer may change. */
        if (store_worker_register(s->w, &s->bufs[i].r, on_done, &s->recs[i], &err) != LS_OK)
            s->recs[i].rc = LS_EIO, s->recs[i].calls = -1000;
        memset(&s->bufs[i], 'x', sizeof s->bufs[i].id);
    }
    return NULL;
}

START_TEST(test_store_worker_register_storm_batches)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker *w = start(loop, NULL);
    struct reg_buf *bufs = calloc(STORM, sizeof *bufs);
    struct rec *recs = calloc(STORM, sizeof *recs);
    pthread_t th[STORM_THREADS];
    struct storm parts[STORM_THREADS];

    for (int t = 0; t < STORM_THREADS; t++) {
        parts[t] = (struct storm){ w, bufs, recs, t * STORM / STORM_THREADS,
                                   (t + 1) * STORM / STORM_THREADS };
        ck_assert_int_eq(pthread_create(&th[t], NULL, storm_thread, &parts[t]), 0);
    }
    run_until(loop, STORM);
    for (int t = 0; t < STORM_THREADS; t++)
        pthread_join(th[t], NULL);
    for (int i = 0; i < STORM; i++) {
        ck_assert_msg(recs[i].calls == 1, "op %d completed %d times", i, recs[i].calls);
        ck_assert_msg(recs[i].rc == LS_OK, "op %d: %s", i, recs[i].msg);
    }
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    ck_assert_uint_eq(st.operations, STORM);
    ck_assert_uint_lt(st.batches, 500);
    ck_assert_uint_ge(st.batches, 1);
    ck_assert_uint_eq(st.failed_batches, 0);
    ck_assert_uint_ge(st.last_batch_size, 1);
    ck_assert_uint_gt(st.commit_us_total, 0);
    store_worker_stop(w);

    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), STORM);
    ck_assert_int_eq(query_long("SELECT count(*) FROM endpoints"), STORM);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'registration'"),
                     STORM);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations WHERE id = 's4999'"
                                " AND endpoint = 'ep-s4999' AND lifetime_s = 300"
                                " AND expires_at = timestamptz 'epoch'"
                                " + 1700000304999 * interval '1 ms'"), 1);
    struct loaded l;
    load(NULL, &l);
    ck_assert_int_eq(l.n, STORM);
    free(bufs);
    free(recs);
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_register_round_trips_fields)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker *w = start(loop, NULL);
    struct reg_buf b;
    struct rec rec = { 0 };

    exec_sql("INSERT INTO server_instances (id) VALUES ('inst-a')");
    make_reg(&b, "f", 7);
    b.r.version = "1.2";
    b.r.binding = "UQ";
    b.r.queue = true;
    b.r.sms = "+15550100";
    b.r.pid = "prof-1";
    b.r.alt_path = "/lwm2m";
    b.r.security = "psk";
    b.r.identity = "psk-id-7";
    b.r.instance_id = "inst-a";
    reg_ok(w, &b.r, &rec);
    run_until(loop, 1);
    ck_assert_int_eq(rec.rc, LS_OK);
    store_worker_stop(w);

    struct loaded l;
    load("inst-a", &l);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.first.id, "f7");
    ck_assert_str_eq(l.first.endpoint, "ep-f7");
    ck_assert_str_eq(l.first.version, "1.2");
    ck_assert_int_eq(l.first.lifetime_s, 300);
    ck_assert_str_eq(l.first.binding, "UQ");
    ck_assert(l.first.queue);
    ck_assert_str_eq(l.first.sms, "+15550100");
    ck_assert_str_eq(l.first.pid, "prof-1");
    ck_assert_str_eq(l.first.alt_path, "/lwm2m");
    ck_assert_str_eq(l.first.objects_json, "[\"/1/0\", \"/3/0\", \"/5\"]");
    ck_assert_str_eq(l.first.formats_json, "[110, 112]");
    ck_assert_str_eq(l.first.address, "127.0.0.1:10007");
    ck_assert_str_eq(l.first.security, "psk");
    ck_assert_str_eq(l.first.identity, "psk-id-7");
    ck_assert_str_eq(l.first.instance_id, "inst-a");
    ck_assert_int_eq(l.first.registered_at_ms, T0_MS + 7);
    ck_assert_int_eq(l.first.last_seen_ms, T0_MS + 7);
    ck_assert_int_eq(l.first.expires_at_ms, T0_MS + 7 + 300000);
    /* Another instance holds nothing. */
    load("inst-b", &l);
    ck_assert_int_eq(l.n, 0);
    /* The event names what a subscriber needs. */
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'registration'"
                                " AND endpoint = 'ep-f7' AND detail->>'id' = 'f7'"
                                " AND (detail->>'lifetime')::int = 300"
                                " AND detail->>'binding' = 'UQ' AND detail->>'version' = '1.2'"
                                " AND detail->>'address' = '127.0.0.1:10007'"
                                " AND detail->'objects' = '[\"/1/0\",\"/3/0\",\"/5\"]'"),
                     1);
    runtime_loop_free(loop);
}
END_TEST

static struct store_worker *replace_w;
static struct reg_buf replace_bufs[3];
static struct rec replace_recs[3];

/* Phase 0: both registers committed -> an observation of the current
 * registration, then a third Register of the same device. */
static void replace_step(struct run_ctx *c)
{
    if (c->phase != 0 || c->completed < 2)
        return;
    c->phase = 1;
    exec_sql("INSERT INTO observations (endpoint, registration_id, path, token)"
             " VALUES ('ep-old1', 'new1', '/3/0/9', '\\x0a0b')");
    reg_ok(replace_w, &replace_bufs[2].r, &replace_recs[2]);
}

START_TEST(test_store_worker_register_replaces_same_endpoint)
{
    struct runtime_loop *loop = new_loop();
    struct reg_buf *a = &replace_bufs[0], *b = &replace_bufs[1], *c = &replace_bufs[2];

    replace_w = start(loop, NULL);
    memset(replace_recs, 0, sizeof replace_recs);
    make_reg(a, "old", 1);
    make_reg(b, "new", 1);
    make_reg(c, "third", 1);
    b->r.endpoint = a->ep;    /* same device, a new Register (same batch) */
    b->r.lifetime_s = 0;      /* 1.2: no expiry */
    b->r.expires_at_ms = 0;
    c->r.endpoint = a->ep;    /* and another one, in a later batch */
    reg_ok(replace_w, &a->r, &replace_recs[0]);
    reg_ok(replace_w, &b->r, &replace_recs[1]);
    ctx.step = replace_step;
    run_until(loop, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(replace_recs[i].rc == LS_OK, "op %d: %s", i, replace_recs[i].msg);
    store_worker_stop(replace_w);

    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), 1);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations WHERE id = 'third1'"
                                " AND endpoint = 'ep-old1' AND lifetime_s = 300"), 1);
    /* The old registration's observation went with it. */
    ck_assert_int_eq(query_long("SELECT count(*) FROM observations"), 0);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'registration'"
                                " AND endpoint = 'ep-old1'"), 3);
    ck_assert_int_eq(query_long("SELECT count(*) FROM endpoints"), 1);
    struct loaded l;
    load(NULL, &l);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.first.id, "third1");
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_register_same_batch_no_expiry)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker_options opts = { .linger_ms = 200 };
    struct store_worker *w = start(loop, &opts);
    struct reg_buf a, b;
    struct rec ra = { 0 }, rb = { 0 };

    make_reg(&a, "x", 1);
    make_reg(&b, "y", 1);
    b.r.endpoint = a.ep;
    b.r.lifetime_s = 0;
    b.r.expires_at_ms = 0;
    reg_ok(w, &a.r, &ra);
    reg_ok(w, &b.r, &rb);
    run_until(loop, 2);
    ck_assert_int_eq(ra.rc, LS_OK);
    ck_assert_int_eq(rb.rc, LS_OK);
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    ck_assert_uint_eq(st.batches, 1);   /* both in one transaction */
    store_worker_stop(w);
    struct loaded l;
    load(NULL, &l);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.first.id, "y1");
    ck_assert_int_eq(l.first.lifetime_s, 0);
    ck_assert_int_eq(l.first.expires_at_ms, 0);
    runtime_loop_free(loop);
}
END_TEST

/*
 * Registers of one batch go as one group statement (the file header of
 * store/registrations.c): the activation of issued credentials must work
 * per device inside it -- each device's issued key becomes active, only
 * that device's older keys are revoked, one audit entry each -- while a
 * NoSec device in the same group changes no credential, and an Update
 * queued before a device's Register keeps its place (that Register runs
 * alone, after it).
 */
START_TEST(test_store_worker_register_group_activates_per_device)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker_options opts = { .linger_ms = 300, .shards = 1, .group_min = 2 };
    struct reg_buf b[4];
    struct rec recs[5] = { 0 };
    char sql[512];

    for (int i = 0; i < 4; i++)
        make_reg(&b[i], "g", i);
    /* ep-g0..ep-g2: an active key and a newer issued one, same mode. */
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO endpoints (name) VALUES ('ep-g%d')", i);
        exec_sql(sql);
        snprintf(sql, sizeof sql,
                 "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id,"
                 " state, activated_at) VALUES ('ep-g%d', 'server', 'psk', 'old-%d',"
                 " '\\x%056d', 1, 'active', now())", i, i, 0);
        exec_sql(sql);
        snprintf(sql, sizeof sql,
                 "INSERT INTO credentials (endpoint, scope, mode, identity, secret, key_id)"
                 " VALUES ('ep-g%d', 'server', 'psk', 'new-%d', '\\x%056d', 1)", i, i, 0);
        exec_sql(sql);
        b[i].r.security = "psk";
    }
    b[0].r.identity = "new-0";
    b[1].r.identity = "new-1";
    b[2].r.identity = "old-2";     /* registers with its active key: no change */
    /* ep-g3: NoSec, and a registration to update before its new Register. */
    exec_sql("INSERT INTO endpoints (name) VALUES ('ep-g3')");
    exec_sql("INSERT INTO registrations (id, endpoint, lwm2m_version, lifetime_s, binding,"
             " address, security, objects, registered_at, updated_at, last_seen, expires_at)"
             " VALUES ('g3-old', 'ep-g3', '1.1', 60, 'U', '127.0.0.1:1', 'nosec', '[]',"
             " now(), now(), now(), now() + interval '60 seconds')");

    struct store_worker *w = start(loop, &opts);
    struct store_registration_update u = {
        .id = "g3-old", .endpoint = "ep-g3", .lifetime_s = 120, .queue = -1,
        .last_seen_ms = T0_MS, .expires_at_ms = T0_MS + 120000,
    };
    struct ls_error err = { 0 };
    reg_ok(w, &b[0].r, &recs[0]);
    ck_assert(store_worker_update(w, &u, on_done, &recs[4], &err) == LS_OK);
    for (int i = 1; i < 4; i++)
        reg_ok(w, &b[i].r, &recs[i]);
    run_until(loop, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(recs[i].rc == LS_OK, "op %d: %s", i, recs[i].msg);
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    ck_assert_uint_eq(st.batches, 1);
    ck_assert_uint_eq(st.failed_batches, 0);
    store_worker_stop(w);

    ck_assert_int_eq(query_long("SELECT count(*) FROM credentials WHERE state = 'active'"
                                " AND identity IN ('new-0', 'new-1', 'old-2')"), 3);
    ck_assert_int_eq(query_long("SELECT count(*) FROM credentials WHERE state = 'revoked'"
                                " AND identity IN ('old-0', 'old-1')"), 2);
    ck_assert_int_eq(query_long("SELECT count(*) FROM credentials WHERE state = 'issued'"
                                " AND identity = 'new-2'"), 1);
    ck_assert_int_eq(query_long("SELECT count(*) FROM audit_log"
                                " WHERE action = 'credentials.activate'"), 2);
    ck_assert_int_eq(query_long("SELECT count(*) FROM audit_log a JOIN credentials c"
                                " ON c.endpoint = a.target AND c.identity LIKE 'old-%'"
                                " WHERE a.action = 'credentials.activate'"
                                " AND a.detail->'revoked' = jsonb_build_array(c.id)"), 2);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), 4);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations WHERE id = 'g3'"
                                " AND endpoint = 'ep-g3'"), 1);
    /* The Update landed on the old registration, before it was replaced. */
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'update'"
                                " AND detail->>'id' = 'g3-old'"), 1);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'registration'"), 4);
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_register_missing_field_refused)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker *w = start(loop, NULL);
    struct reg_buf b;
    struct ls_error err = { 0 };

    make_reg(&b, "m", 1);
    b.r.address = NULL;
    ck_assert_int_eq(store_worker_register(w, &b.r, on_done, NULL, &err), LS_EINVAL);
    ck_assert_int_eq(store_worker_update(w, &(struct store_registration_update){ .id = NULL },
                                         on_done, NULL, NULL), LS_EINVAL);
    ck_assert_int_eq(store_worker_deregister(w, NULL, "ep", "expired", on_done, NULL, NULL),
                     LS_EINVAL);
    store_worker_stop(w);
    ck_assert_int_eq(ctx.completed, 0);
    runtime_loop_free(loop);
}
END_TEST

/* ---- store_worker_update ---- */

START_TEST(test_store_worker_update_changes_fields)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker *w = start(loop, NULL);
    struct reg_buf b;
    struct rec r0 = { 0 }, r1 = { 0 }, r2 = { 0 };
    struct ls_error err = { 0 };

    make_reg(&b, "u", 1);
    b.r.sms = "+1000";
    reg_ok(w, &b.r, &r0);
    /* Queued behind the register: applied after it, in queue order. */
    struct store_registration_update u = {
        .id = "u1", .endpoint = "ep-u1", .lifetime_s = 600, .binding = "UQ", .queue = 1,
        .sms = "", .objects_json = "[\"/3/0\",\"/4/0\"]", .address = "[::1]:5683",
        .last_seen_ms = T0_MS + 5000, .expires_at_ms = T0_MS + 605000,
    };
    ck_assert_int_eq(store_worker_update(w, &u, on_done, &r1, &err), LS_OK);
    /* Everything unchanged but the times. */
    struct store_registration_update keep = {
        .id = "u1", .endpoint = "ep-u1", .lifetime_s = -1, .queue = -1,
        .last_seen_ms = T0_MS + 9000, .expires_at_ms = T0_MS + 609000,
    };
    ck_assert_int_eq(store_worker_update(w, &keep, on_done, &r2, &err), LS_OK);
    run_until(loop, 3);
    ck_assert_int_eq(r0.rc, LS_OK);
    ck_assert_msg(r1.rc == LS_OK, "%s", r1.msg);
    ck_assert_msg(r2.rc == LS_OK, "%s", r2.msg);
    store_worker_stop(w);

    struct loaded l;
    load(NULL, &l);
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.first.lifetime_s, 600);
    ck_assert_str_eq(l.first.binding, "UQ");
    ck_assert(l.first.queue);
    ck_assert_ptr_null(l.first.sms);    /* "" cleared it */
    ck_assert_str_eq(l.first.objects_json, "[\"/3/0\", \"/4/0\"]");
    ck_assert_str_eq(l.first.address, "[::1]:5683");
    ck_assert_int_eq(l.first.last_seen_ms, T0_MS + 9000);
    ck_assert_int_eq(l.first.expires_at_ms, T0_MS + 609000);
    ck_assert_int_eq(l.first.registered_at_ms, T0_MS + 1);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'update'"
                                " AND endpoint = 'ep-u1'"), 2);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'update'"
                                " AND detail->>'binding' = 'UQ'"
                                " AND (detail->>'lifetime')::int = 600"
                                " AND detail->'objects' = '[\"/3/0\",\"/4/0\"]'"), 1);
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_update_unknown_not_found)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker *w = start(loop, NULL);
    struct rec r = { 0 };
    struct store_registration_update u = {
        .id = "nope", .endpoint = "ep-nope", .lifetime_s = -1, .queue = -1,
        .last_seen_ms = T0_MS, .expires_at_ms = 0,
    };

    ck_assert_int_eq(store_worker_update(w, &u, on_done, &r, NULL), LS_OK);
    run_until(loop, 1);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.rc, LS_ENOTFOUND);
    ck_assert_str_ne(r.msg, "");
    store_worker_stop(w);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events"), 0);
    runtime_loop_free(loop);
}
END_TEST

/* ---- store_worker_deregister ---- */

static struct store_worker *dereg_w;
static struct rec dereg_recs[3];

/* Phase 0: the register committed -> an observation of it, then the
 * deregisters (one of an unknown id). */
static void dereg_step(struct run_ctx *c)
{
    if (c->phase != 0 || c->completed < 1)
        return;
    c->phase = 1;
    exec_sql("INSERT INTO observations (endpoint, registration_id, path, token)"
             " VALUES ('ep-d1', 'd1', '/3/0/9', '\\x0102')");
    ck_assert_int_eq(store_worker_deregister(dereg_w, "d1", "ep-d1", "expired", on_done,
                                             &dereg_recs[1], NULL), LS_OK);
    ck_assert_int_eq(store_worker_deregister(dereg_w, "d1", "ep-d1", "deregistered", on_done,
                                             &dereg_recs[2], NULL), LS_OK);
}

/* Updates of one batch go as one group statement: each changes its own
 * registration and logs its own event; one for a registration that is
 * gone completes with LS_ENOTFOUND and does not stop the others. */
static struct store_worker *group_w;
static struct rec group_ups[5];

/* Phase 0: the four Registers committed -> five Updates at once. */
static void update_group_step(struct run_ctx *c)
{
    static struct store_registration_update u[5];
    static char eps[5][32], ids[5][32];

    if (c->phase != 0 || c->completed < 4)
        return;
    c->phase = 1;
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i], sizeof ids[i], i < 4 ? "u%d" : "gone%d", i);
        snprintf(eps[i], sizeof eps[i], "ep-u%d", i);
        u[i] = (struct store_registration_update){
            .id = ids[i], .endpoint = eps[i], .lifetime_s = 1000 + i, .queue = i % 2,
            .sms = i == 1 ? "+1555" : NULL, .objects_json = i == 2 ? "[\"/3/0\"]" : NULL,
            .last_seen_ms = T0_MS + 5000, .expires_at_ms = T0_MS + 5000 + 1000000,
        };
        ck_assert_int_eq(store_worker_update(group_w, &u[i], on_done, &group_ups[i], NULL),
                         LS_OK);
    }
}

START_TEST(test_store_worker_update_group_settles_each)
{
    struct runtime_loop *loop = new_loop();
    struct store_worker_options opts = { .linger_ms = 300, .shards = 1, .group_min = 2 };
    struct store_worker *w = group_w = start(loop, &opts);
    struct reg_buf b[4];
    struct rec regs[4] = { 0 };
    struct rec *ups = group_ups;

    memset(group_ups, 0, sizeof group_ups);
    for (int i = 0; i < 4; i++) {
        make_reg(&b[i], "u", i);
        reg_ok(w, &b[i].r, &regs[i]);
    }
    ctx.step = update_group_step;
    run_until(loop, 9);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(ups[i].rc == LS_OK, "update %d: %s", i, ups[i].msg);
    ck_assert_int_eq(ups[4].rc, LS_ENOTFOUND);
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    ck_assert_uint_eq(st.failed_batches, 0);
    store_worker_stop(w);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations WHERE lifetime_s ="
                                " 1000 + substr(id, 2)::int AND queue = (substr(id, 2)::int % 2 = 1)"),
                     4);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations WHERE id = 'u1'"
                                " AND sms = '+1555'"), 1);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations WHERE id = 'u2'"
                                " AND objects = '[\"/3/0\"]'"), 1);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events e JOIN registrations r"
                                " ON r.endpoint = e.endpoint AND r.id = e.detail->>'id'"
                                " WHERE e.kind = 'update'"
                                " AND (e.detail->>'lifetime')::int = r.lifetime_s"), 4);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'update'"
                                " AND detail ? 'objects'"), 1);
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_deregister_deletes_and_logs)
{
    struct runtime_loop *loop = new_loop();
    struct reg_buf b;

    dereg_w = start(loop, NULL);
    memset(dereg_recs, 0, sizeof dereg_recs);
    make_reg(&b, "d", 1);
    reg_ok(dereg_w, &b.r, &dereg_recs[0]);
    ctx.step = dereg_step;
    run_until(loop, 3);
    ck_assert_int_eq(dereg_recs[0].rc, LS_OK);
    ck_assert_int_eq(dereg_recs[1].rc, LS_OK);
    ck_assert_int_eq(dereg_recs[2].rc, LS_ENOTFOUND);   /* already gone */
    store_worker_stop(dereg_w);

    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), 0);
    ck_assert_int_eq(query_long("SELECT count(*) FROM observations"), 0);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'deregistration'"
                                " AND endpoint = 'ep-d1' AND detail->>'id' = 'd1'"
                                " AND detail->>'reason' = 'expired'"), 1);
    /* The device is still known. */
    ck_assert_int_eq(query_long("SELECT count(*) FROM endpoints WHERE name = 'ep-d1'"), 1);
    ck_assert_int_eq(query_long("SELECT (string_agg(kind, ',' ORDER BY id) ="
                                " 'registration,deregistration')::int FROM events"), 1);
    runtime_loop_free(loop);
}
END_TEST

/* ---- events and LISTEN ---- */

START_TEST(test_store_worker_notifies_after_commit)
{
    struct runtime_loop *loop = new_loop();
    PGconn *listener = PQconnectdb(db.conninfo);
    ck_assert_int_eq(PQstatus(listener), CONNECTION_OK);
    PGresult *res = PQexec(listener, "LISTEN lodestar_events");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);

    struct store_worker *w = start(loop, NULL);
    struct reg_buf b[10];
    struct rec recs[10] = { 0 };
    for (int i = 0; i < 10; i++) {
        make_reg(&b[i], "n", i);
        reg_ok(w, &b[i].r, &recs[i]);
    }
    run_until(loop, 10);
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    store_worker_stop(w);

    /* Completed means committed: one notification per commit is on its
     * way, each naming its transaction's newest event. */
    long last = 0;
    int got = 0;
    int64_t until = runtime_clock_now_ms() + 5000;
    while (got < (int)st.batches && runtime_clock_now_ms() < until) {
        PGnotify *n;
        ck_assert_int_eq(PQconsumeInput(listener), 1);
        while ((n = PQnotifies(listener))) {
            ck_assert_str_eq(n->relname, "lodestar_events");
            /* Shards commit in any order: the newest overall is the max. */
            long id = atol(n->extra);
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE id = %ld", id);
            ck_assert_int_eq(query_long(sql), 1);
            if (id > last)
                last = id;
            got++;
            PQfreemem(n);
        }
        if (got < (int)st.batches) {
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(PQsocket(listener), &fds);
            struct timeval tv = { 0, 100000 };
            select(PQsocket(listener) + 1, &fds, NULL, NULL, &tv);
        }
    }
    ck_assert_int_ge(st.batches, 1);
    ck_assert_int_eq(got, (int)st.batches);
    ck_assert_int_eq(last, query_long("SELECT max(id) FROM events"));
    ck_assert_int_eq(query_long("SELECT count(*) FROM events WHERE kind = 'registration'"), 10);
    /* Nothing more: no notification per event. */
    usleep(200 * 1000);
    ck_assert_int_eq(PQconsumeInput(listener), 1);
    PGnotify *extra = PQnotifies(listener);
    ck_assert_ptr_null(extra);
    PQfinish(listener);
    runtime_loop_free(loop);
}
END_TEST

/* ---- one bad operation ---- */

START_TEST(test_store_worker_invalid_fails_alone)
{
    struct runtime_loop *loop = new_loop();
    /* Linger so that every operation below lands in one batch, and group
     * the Registers however few they are. */
    struct store_worker_options opts = { .linger_ms = 300, .shards = 1, .group_min = 2 };
    struct store_worker *w = start(loop, &opts);
    struct reg_buf b[6];
    struct rec recs[6] = { 0 };

    for (int i = 0; i < 6; i++)
        make_reg(&b[i], "v", i);
    b[1].r.version = "x.y";            /* CHECK violation: class 23 */
    b[3].r.objects_json = "{\"a\":1}"; /* CHECK jsonb_typeof = array */
    b[4].r.id = "v0";                  /* another endpoint, same id: 23505 */
    b[5].r.objects_json = "[nope";     /* not JSON: class 22 */
    for (int i = 0; i < 6; i++)
        reg_ok(w, &b[i].r, &recs[i]);
    run_until(loop, 6);
    ck_assert_msg(recs[0].rc == LS_OK, "%s", recs[0].msg);
    ck_assert_int_eq(recs[1].rc, LS_EINVAL);
    ck_assert_msg(strstr(recs[1].msg, "register") != NULL, "%s", recs[1].msg);
    ck_assert_msg(recs[2].rc == LS_OK, "%s", recs[2].msg);
    ck_assert_int_eq(recs[3].rc, LS_EINVAL);
    ck_assert_int_eq(recs[4].rc, LS_ECONFLICT);
    ck_assert_int_eq(recs[5].rc, LS_EINVAL);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(recs[i].calls, 1);
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    ck_assert_uint_eq(st.batches, 1);          /* the good ones in one commit */
    /* The batch's Registers first went as one group statement, which
     * failed; then one attempt per bad one, each running alone. */
    ck_assert_uint_eq(st.failed_batches, 5);
    ck_assert_uint_eq(st.operations, 2);
    store_worker_stop(w);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), 2);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"
                                " WHERE id IN ('v0', 'v2')"), 2);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events"), 2);
    runtime_loop_free(loop);
}
END_TEST

/* ---- database restart ---- */

static struct store_worker *restart_w;
static struct reg_buf *restart_bufs;
static struct rec *restart_recs;
static int restart_status[2];
static int restart_refused;     /* refused at once while away */

#define RESTART_BEFORE 200
#define RESTART_DURING 300

/* "$LODESTAR_TEST_PGCTL_CMD args"; start also gets "-l <log>". */
static void pg_ctl(const char *args, int *status)
{
    char cmd[2048], deflog[1024];
    const char *log = getenv("LODESTAR_TEST_PGLOG");
    if (!log || !*log) {
        snprintf(deflog, sizeof deflog, "%s/../postgres.log", getenv("LODESTAR_TEST_PGDATA"));
        log = deflog;
    }
    snprintf(cmd, sizeof cmd, "%s %s%s%s >/dev/null 2>&1", getenv("LODESTAR_TEST_PGCTL_CMD"),
             args, strncmp(args, "start", 5) == 0 ? " -l " : "",
             strncmp(args, "start", 5) == 0 ? log : "");
    *status = system(cmd);
}

static void restart_step(struct run_ctx *c)
{
    if (c->phase != 0 || c->completed < RESTART_BEFORE)
        return;
    c->phase = 1;
    pg_ctl("stop -m fast -w", &restart_status[0]);
    /* Once a worker's round has failed, its shard refuses new operations
     * at once (the caller answers 5.03): those are not lost, only never
     * taken.  How many depends on when the round fails. */
    for (int i = RESTART_BEFORE; i < RESTART_BEFORE + RESTART_DURING; i++) {
        struct ls_error err = { 0 };
        make_reg(&restart_bufs[i], "r", i);
        enum ls_rc rc = store_worker_register(restart_w, &restart_bufs[i].r, on_done,
                                              &restart_recs[i], &err);
        if (rc == LS_ETRANSIENT) {
            restart_recs[i].rc = LS_ETRANSIENT;
            restart_refused++;
            c->want--;
        } else {
            ck_assert_msg(rc == LS_OK, "%s", err.msg);
        }
    }
    usleep(1500 * 1000);   /* the worker finds the database away and retries */
    pg_ctl("start -w", &restart_status[1]);
}

START_TEST(test_store_worker_database_restart_loses_nothing)
{
    if (!getenv("LODESTAR_TEST_PGCTL_CMD") || !getenv("LODESTAR_TEST_PGDATA")) {
        fprintf(stderr, "test_registrations: no LODESTAR_TEST_PGCTL_CMD, restart test skipped\n");
        return;
    }
    struct runtime_loop *loop = new_loop();
    /* A hold longer than the restart: what was queued waits for it (the
     * default 2 s hold would answer 5.03 instead; see test_store_worker_
     * away_refuses_then_recovers). */
    struct store_worker_options o = { .hold_ms = 60000 };
    restart_w = start(loop, &o);
    restart_bufs = calloc(RESTART_BEFORE + RESTART_DURING, sizeof *restart_bufs);
    restart_recs = calloc(RESTART_BEFORE + RESTART_DURING, sizeof *restart_recs);
    for (int i = 0; i < RESTART_BEFORE; i++) {
        make_reg(&restart_bufs[i], "r", i);
        reg_ok(restart_w, &restart_bufs[i].r, &restart_recs[i]);
    }
    ctx.step = restart_step;
    restart_refused = 0;
    run_until(loop, RESTART_BEFORE + RESTART_DURING);
    ck_assert_int_eq(restart_status[0], 0);
    ck_assert_int_eq(restart_status[1], 0);
    /* Every operation taken was written; the refused ones were told. */
    ck_assert_int_lt(restart_refused, RESTART_DURING);
    int taken = RESTART_BEFORE + RESTART_DURING - restart_refused;
    for (int i = 0; i < RESTART_BEFORE + RESTART_DURING; i++) {
        if (restart_recs[i].rc == LS_ETRANSIENT && restart_recs[i].calls == 0)
            continue;
        ck_assert_int_eq(restart_recs[i].calls, 1);
        ck_assert_msg(restart_recs[i].rc == LS_OK, "op %d: %s", i, restart_recs[i].msg);
    }
    struct store_worker_stats st;
    store_worker_stats(restart_w, &st);
    ck_assert_uint_ge(st.failed_batches, 1);   /* it did see the outage */
    ck_assert_uint_eq(st.operations, (uint64_t)taken);
    store_worker_stop(restart_w);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), taken);
    ck_assert_int_eq(query_long("SELECT count(*) FROM events"), taken);
    free(restart_bufs);
    free(restart_recs);
    runtime_loop_free(loop);
}
END_TEST

/* ---- the worker's session killed between batches ---- */

static struct store_worker *kill_w;
static struct reg_buf kill_bufs[20];
static struct rec kill_recs[20];

static void kill_step(struct run_ctx *c)
{
    if (c->phase != 0 || c->completed < 10)
        return;
    c->phase = 1;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
             " WHERE datname = '%s' AND pid <> pg_backend_pid()", db.name);
    ck_assert_int_ge(query_long(sql), 1);
    for (int i = 10; i < 20; i++) {
        make_reg(&kill_bufs[i], "k", i);
        reg_ok(kill_w, &kill_bufs[i].r, &kill_recs[i]);
    }
}

START_TEST(test_store_worker_session_killed_reconnects)
{
    struct runtime_loop *loop = new_loop();
    /* The linger keeps the worker from trying the dead connection (and
     * refusing, "database unavailable") before kill_step queued all ten. */
    struct store_worker_options opts = { .shards = 1, .linger_ms = 200 };
    kill_w = start(loop, &opts);
    memset(kill_recs, 0, sizeof kill_recs);
    for (int i = 0; i < 10; i++) {
        make_reg(&kill_bufs[i], "k", i);
        reg_ok(kill_w, &kill_bufs[i].r, &kill_recs[i]);
    }
    ctx.step = kill_step;
    run_until(loop, 20);
    for (int i = 0; i < 20; i++)
        ck_assert_msg(kill_recs[i].rc == LS_OK, "op %d: %s", i, kill_recs[i].msg);
    struct store_worker_stats st;
    store_worker_stats(kill_w, &st);
    ck_assert_uint_ge(st.failed_batches, 1);   /* found the session gone */
    store_worker_stop(kill_w);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), 20);
    runtime_loop_free(loop);
}
END_TEST

/* ---- store_worker_stop ---- */

START_TEST(test_store_worker_stop_drains_queue)
{
    enum { N = 3000 };
    struct runtime_loop *loop = new_loop();
    struct store_worker *w = start(loop, NULL);
    struct reg_buf b;
    struct rec *recs = calloc(N, sizeof *recs);

    for (int i = 0; i < N; i++) {
        make_reg(&b, "q", i);
        reg_ok(w, &b.r, &recs[i]);
    }
    store_worker_stop(w);   /* writes everything before returning */
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), N);
    run_until(loop, N);     /* the completions were posted meanwhile */
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(recs[i].rc, LS_OK);
    free(recs);
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_stop_fails_rest_when_database_away)
{
    struct runtime_loop *loop = new_loop();
    struct ls_error err = { 0 };
    /* Nothing listens on port 1: every round is transient. */
    struct store_worker_options opts = { .queue_max = 10, .batch_max = 1, .shards = 1 };
    struct store_worker *w = store_worker_start_opts("host=127.0.0.1 port=1 connect_timeout=1",
                                                     loop, &opts, &err);
    ck_assert_ptr_nonnull(w);
    struct reg_buf b;
    struct rec recs[20] = { 0 };
    int accepted = 0;
    enum ls_rc rc = LS_OK;

    for (int i = 0; i < 20 && rc == LS_OK; i++) {
        make_reg(&b, "z", i);
        ls_error_clear(&err);
        rc = store_worker_register(w, &b.r, on_done, &recs[i], &err);
        accepted += rc == LS_OK;
    }
    /* Back-pressure: the bound (10 queued, 1 in flight at most), or, once
     * the worker found the database away, a refusal (issue 10.3). */
    ck_assert_msg(rc == LS_ENOMEM || rc == LS_ETRANSIENT, "%s", err.msg);
    ck_assert_int_ge(accepted, rc == LS_ENOMEM ? 10 : 1);
    ck_assert_int_le(accepted, 11);
    int64_t t0 = runtime_clock_now_ms();
    store_worker_stop(w);
    int64_t took = runtime_clock_now_ms() - t0;
    ck_assert_msg(took < 9000, "stop took %lld ms", (long long)took);
    run_until(loop, (size_t)accepted);
    for (int i = 0; i < accepted; i++) {
        ck_assert_int_eq(recs[i].calls, 1);
        ck_assert_int_eq(recs[i].rc, LS_ETRANSIENT);
    }
    runtime_loop_free(loop);
}
END_TEST

/* Issue 10.3 (FAULT): with the database away, queued operations fail
 * LS_ETRANSIENT after the hold, new ones are refused at once (the device
 * gets 5.03), and the stats say so. */
START_TEST(test_store_worker_away_refuses_then_gives_up)
{
    struct runtime_loop *loop = new_loop();
    struct ls_error err = { 0 };
    struct store_worker_options opts = { .hold_ms = 300, .shards = 1 };
    struct store_worker *w = store_worker_start_opts("host=127.0.0.1 port=1 connect_timeout=1",
                                                     loop, &opts, &err);
    ck_assert_ptr_nonnull(w);
    struct reg_buf b[5];
    struct rec recs[5] = { 0 };
    int64_t t0 = runtime_clock_now_ms();
    for (int i = 0; i < 5; i++) {
        make_reg(&b[i], "h", i);
        reg_ok(w, &b[i].r, &recs[i]);
    }
    run_until(loop, 5);
    ck_assert_int_ge(runtime_clock_now_ms() - t0, 250);   /* held, not failed at once */
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(recs[i].calls, 1);
        ck_assert_int_eq(recs[i].rc, LS_ETRANSIENT);
    }
    struct reg_buf late;
    struct rec late_rec = { 0 };
    make_reg(&late, "h", 9);
    ls_error_clear(&err);
    ck_assert_int_eq(store_worker_register(w, &late.r, on_done, &late_rec, &err), LS_ETRANSIENT);
    ck_assert_str_eq(err.msg, "database unavailable");
    struct store_worker_stats st;
    store_worker_stats(w, &st);
    ck_assert_uint_eq(st.given_up, 5);
    ck_assert_uint_eq(st.refused_away, 1);
    ck_assert_uint_eq(st.away, 1);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_gt(st.queue_max, 0);
    store_worker_stop(w);
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_store_worker_stop_null_and_after_stop)
{
    store_worker_stop(NULL);
    struct store_worker_stats st = { .batches = 9 };
    store_worker_stats(NULL, &st);
    ck_assert_uint_eq(st.batches, 0);
}
END_TEST

/* ---- sequential baseline ---- */

START_TEST(test_store_worker_sequential_mode_commits)
{
    enum { N = 500 };
    struct runtime_loop *loop = new_loop();
    struct store_worker_options opts = { .sequential = true, .linger_ms = 50 };
    struct store_worker *w = start(loop, &opts);
    struct reg_buf b;
    struct rec *recs = calloc(N + 1, sizeof *recs);

    for (int i = 0; i < N; i++) {
        make_reg(&b, "seq", i);
        if (i == 7)
            b.r.version = "9.9";
        reg_ok(w, &b.r, &recs[i]);
    }
    run_until(loop, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(recs[i].rc, i == 7 ? LS_EINVAL : LS_OK);
    store_worker_stop(w);
    ck_assert_int_eq(query_long("SELECT count(*) FROM registrations"), N - 1);
    free(recs);
    runtime_loop_free(loop);
}
END_TEST

static Suite *registrations_suite(void)
{
    Suite *s = suite_create("store_registrations");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        { "register", test_store_worker_register_storm_batches },
        { "register", test_store_worker_register_round_trips_fields },
        { "register", test_store_worker_register_replaces_same_endpoint },
        { "register", test_store_worker_register_same_batch_no_expiry },
        { "register", test_store_worker_register_missing_field_refused },
        { "register", test_store_worker_register_group_activates_per_device },
        { "register", test_store_worker_invalid_fails_alone },
        { "register", test_store_worker_notifies_after_commit },
        { "register", test_store_worker_database_restart_loses_nothing },
        { "register", test_store_worker_session_killed_reconnects },
        { "update", test_store_worker_update_changes_fields },
        { "update", test_store_worker_update_unknown_not_found },
        { "update", test_store_worker_update_group_settles_each },
        { "deregister", test_store_worker_deregister_deletes_and_logs },
        { "stop", test_store_worker_stop_drains_queue },
        { "stop", test_store_worker_stop_fails_rest_when_database_away },
        { "stop", test_store_worker_away_refuses_then_gives_up },
        { "stop", test_store_worker_stop_null_and_after_stop },
        { "sequential", test_store_worker_sequential_mode_commits },
    };
    TCase *tc = NULL;
    const char *last = "";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(cases[i].name, last) != 0) {
            tc = tcase_create(cases[i].name);
            tcase_add_checked_fixture(tc, fresh_db_setup, fresh_db_teardown);
            tcase_set_timeout(tc, 120);
            suite_add_tcase(s, tc);
            last = cases[i].name;
        }
        tcase_add_test(tc, cases[i].test);
    }
    return s;
}

int main(void)
{
    pguri = getenv("LODESTAR_TEST_PGURI");
    if (!pguri || !*pguri) {
        fprintf(stderr, "test_registrations: LODESTAR_TEST_PGURI unset, skipped\n");
        return 77;
    }
    SRunner *sr = srunner_create(registrations_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
