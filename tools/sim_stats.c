/*
 * tools/sim_stats.c -- run statistics of lodestar-sim (sim_stats.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_stats.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CAUSES 32

struct op_stats {
    uint64_t ok, fail, values, retransmits;
    int64_t *lat;             /* microseconds, one per success */
    size_t n, cap;
    uint64_t ok_at_last;      /* for the progress line's rate */
};

struct cause {
    char name[48];
    uint64_t n;
};

struct sim_stats {
    pthread_mutex_t mu;
    struct op_stats ops[SIM_OP_COUNT];
    struct cause causes[MAX_CAUSES];
    size_t ncauses;
    uint64_t served[SIM_SERVED_COUNT];
    double last_progress_s;
};

static const char *const op_names[SIM_OP_COUNT] = {
    "register", "update", "deregister", "notify", "send", "observe", "bootstrap",
};

static const char *const served_names[SIM_SERVED_COUNT] = {
    "read", "write", "execute", "discover", "observe", "cancel_observe", "other",
    "ignored_asleep",
};

struct sim_stats *sim_stats_new(void)
{
    struct sim_stats *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

void sim_stats_free(struct sim_stats *s)
{
    if (!s)
        return;
    for (int i = 0; i < SIM_OP_COUNT; i++)
        free(s->ops[i].lat);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *sim_stats_op_name(enum sim_op op)
{
    return op < SIM_OP_COUNT ? op_names[op] : "?";
}

void sim_stats_ok(struct sim_stats *s, enum sim_op op, int64_t latency_us)
{
    pthread_mutex_lock(&s->mu);
    struct op_stats *o = &s->ops[op];
    o->ok++;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1024;
        int64_t *lat = realloc(o->lat, cap * sizeof *lat);
        if (lat) {
            o->lat = lat;
            o->cap = cap;
        }
    }
    if (o->n < o->cap)
        o->lat[o->n++] = latency_us;
    pthread_mutex_unlock(&s->mu);
}

void sim_stats_fail(struct sim_stats *s, enum sim_op op, const char *cause)
{
    char name[48];
    snprintf(name, sizeof name, "%s: %s", op_names[op], cause);
    pthread_mutex_lock(&s->mu);
    s->ops[op].fail++;
    size_t i;
    for (i = 0; i < s->ncauses; i++)
        if (strcmp(s->causes[i].name, name) == 0)
            break;
    if (i == s->ncauses && i < MAX_CAUSES) {
        snprintf(s->causes[i].name, sizeof s->causes[i].name, "%s", name);
        s->ncauses++;
    }
    if (i < MAX_CAUSES)
        s->causes[i].n++;
    pthread_mutex_unlock(&s->mu);
}

void sim_stats_served(struct sim_stats *s, enum sim_served what)
{
    pthread_mutex_lock(&s->mu);
    s->served[what]++;
    pthread_mutex_unlock(&s->mu);
}

void sim_stats_retransmit(struct sim_stats *s, enum sim_op op)
{
    pthread_mutex_lock(&s->mu);
    s->ops[op].retransmits++;
    pthread_mutex_unlock(&s->mu);
}

void sim_stats_values(struct sim_stats *s, enum sim_op op, unsigned n)
{
    pthread_mutex_lock(&s->mu);
    s->ops[op].values += n;
    pthread_mutex_unlock(&s->mu);
}

uint64_t sim_stats_ok_count(struct sim_stats *s, enum sim_op op)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->ops[op].ok;
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint64_t sim_stats_fail_total(struct sim_stats *s)
{
    uint64_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SIM_OP_COUNT; i++)
        n += s->ops[i].fail;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void sim_stats_progress(struct sim_stats *s, FILE *f, double elapsed_s, unsigned active)
{
    pthread_mutex_lock(&s->mu);
    double dt = elapsed_s - s->last_progress_s;
    fprintf(f, "[%6.1fs] clients=%u", elapsed_s, active);
    for (int i = 0; i < SIM_OP_COUNT; i++) {
        struct op_stats *o = &s->ops[i];
        if (!o->ok && !o->fail)
            continue;
        fprintf(f, " %s=%llu(%.0f/s)", op_names[i], (unsigned long long)o->ok,
                dt > 0 ? (double)(o->ok - o->ok_at_last) / dt : 0.0);
        if (o->fail)
            fprintf(f, "/fail=%llu", (unsigned long long)o->fail);
        o->ok_at_last = o->ok;
    }
    fputc('\n', f);
    fflush(f);
    s->last_progress_s = elapsed_s;
    pthread_mutex_unlock(&s->mu);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const struct op_stats *o, double q)
{
    if (!o->n)
        return 0;
    size_t i = (size_t)(q * (double)(o->n - 1) + 0.5);
    return (double)o->lat[i] / 1000.0;
}

static json_t *op_json(const struct op_stats *o, double elapsed_s)
{
    json_t *j = json_pack("{s:I,s:I,s:f}", "ok", (json_int_t)o->ok, "failed",
                          (json_int_t)o->fail, "per_s",
                          elapsed_s > 0 ? (double)o->ok / elapsed_s : 0.0);
    if (o->values)
        json_object_set_new(j, "values", json_integer((json_int_t)o->values));
    json_object_set_new(j, "retransmissions", json_integer((json_int_t)o->retransmits));
    if (o->n) {
        json_t *l = json_pack("{s:f,s:f,s:f,s:f}", "p50", pct_ms(o, 0.50), "p90",
                              pct_ms(o, 0.90), "p99", pct_ms(o, 0.99), "max",
                              pct_ms(o, 1.0));
        json_object_set_new(j, "latency_ms", l);
    }
    return j;
}

static void report_json(struct sim_stats *s, const struct sim_stats_run *run, FILE *f)
{
    json_t *root = json_pack("{s:s,s:s,s:s,s:i,s:i,s:f}", "scenario", run->scenario, "lwm2m",
                             run->lwm2m, "prefix", run->prefix, "clients", (int)run->clients,
                             "launched", (int)run->launched, "elapsed_s", run->elapsed_s);
    json_t *ops = json_object(), *fails = json_object(), *served = json_object();
    uint64_t ok = 0, failed = 0;
    for (int i = 0; i < SIM_OP_COUNT; i++) {
        ok += s->ops[i].ok;
        failed += s->ops[i].fail;
        if (s->ops[i].ok || s->ops[i].fail)
            json_object_set_new(ops, op_names[i], op_json(&s->ops[i], run->elapsed_s));
    }
    for (size_t i = 0; i < s->ncauses; i++)
        json_object_set_new(fails, s->causes[i].name, json_integer((json_int_t)s->causes[i].n));
    for (int i = 0; i < SIM_SERVED_COUNT; i++)
        json_object_set_new(served, served_names[i], json_integer((json_int_t)s->served[i]));
    json_object_set_new(root, "successes", json_integer((json_int_t)ok));
    json_object_set_new(root, "failures", json_integer((json_int_t)failed));
    json_object_set_new(root, "operations_per_s",
                        json_real(run->elapsed_s > 0 ? (double)ok / run->elapsed_s : 0));
    if (run->cycling) {
        json_t *cy = json_pack("{s:i,s:I}", "per_client", (int)run->cycles, "registers",
                               (json_int_t)s->ops[SIM_OP_REGISTER].ok);
        double w = run->steady_to_s - run->steady_from_s;
        if (w > 0)
            json_object_set_new(cy, "steady",
                                json_pack("{s:f,s:f,s:I,s:f}", "from_s", run->steady_from_s,
                                          "to_s", run->steady_to_s, "registers",
                                          (json_int_t)run->steady_registers, "per_s",
                                          (double)run->steady_registers / w));
        json_object_set_new(root, "cycles", cy);
    }
    json_object_set_new(root, "failures_by_cause", fails);
    json_object_set_new(root, "ops", ops);
    json_object_set_new(root, "served", served);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text)
        fprintf(f, "%s\n", text);
    free(text);
    json_decref(root);
}

static void report_text(struct sim_stats *s, const struct sim_stats_run *run, FILE *f)
{
    uint64_t ok = 0, failed = 0;
    for (int i = 0; i < SIM_OP_COUNT; i++) {
        ok += s->ops[i].ok;
        failed += s->ops[i].fail;
    }
    fprintf(f, "scenario=%s lwm2m=%s clients=%u launched=%u elapsed_s=%.2f successes=%llu "
               "failures=%llu ops_per_s=%.0f prefix=%s\n",
            run->scenario, run->lwm2m, run->clients, run->launched, run->elapsed_s,
            (unsigned long long)ok, (unsigned long long)failed,
            run->elapsed_s > 0 ? (double)ok / run->elapsed_s : 0.0, run->prefix);
    fprintf(f, "%-11s %9s %7s %9s %9s %9s %9s %9s %8s\n", "operation", "ok", "failed", "per_s",
            "p50_ms", "p90_ms", "p99_ms", "max_ms", "retrans");
    for (int i = 0; i < SIM_OP_COUNT; i++) {
        const struct op_stats *o = &s->ops[i];
        if (!o->ok && !o->fail)
            continue;
        fprintf(f, "%-11s %9llu %7llu %9.0f %9.2f %9.2f %9.2f %9.2f %8llu\n", op_names[i],
                (unsigned long long)o->ok, (unsigned long long)o->fail,
                run->elapsed_s > 0 ? (double)o->ok / run->elapsed_s : 0.0, pct_ms(o, 0.5),
                pct_ms(o, 0.9), pct_ms(o, 0.99), pct_ms(o, 1.0),
                (unsigned long long)o->retransmits);
    }
    double w = run->steady_to_s - run->steady_from_s;
    if (run->cycling && w > 0)
        fprintf(f, "cycles: steady window %.2f-%.2f s: %llu registers, %.0f/s\n",
                run->steady_from_s, run->steady_to_s,
                (unsigned long long)run->steady_registers,
                (double)run->steady_registers / w);
    for (size_t i = 0; i < s->ncauses; i++)
        fprintf(f, "failure %s: %llu\n", s->causes[i].name, (unsigned long long)s->causes[i].n);
    fprintf(f, "served:");
    for (int i = 0; i < SIM_SERVED_COUNT; i++)
        fprintf(f, " %s=%llu", served_names[i], (unsigned long long)s->served[i]);
    fputc('\n', f);
}

void sim_stats_report(struct sim_stats *s, const struct sim_stats_run *run, bool json, FILE *f)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < SIM_OP_COUNT; i++)
        if (s->ops[i].n)
            qsort(s->ops[i].lat, s->ops[i].n, sizeof *s->ops[i].lat, cmp64);
    if (json)
        report_json(s, run, f);
    else
        report_text(s, run, f);
    pthread_mutex_unlock(&s->mu);
}
