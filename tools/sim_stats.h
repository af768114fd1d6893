/*
 * tools/sim_stats.h -- what a lodestar-sim run measured: per operation
 * successes, failures and latencies, failures by cause, counters
 *
 * Thread-safe: the loop thread and the REST threads both record.  The
 * latencies of every operation are kept (8 bytes each), so percentiles are
 * exact; a million operations cost 8 MB.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_STATS_H
#define LODESTAR_TOOLS_SIM_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum sim_op {
    SIM_OP_REGISTER,
    SIM_OP_UPDATE,
    SIM_OP_DEREGISTER,
    SIM_OP_NOTIFY,       /* a CON notification until its ACK */
    SIM_OP_SEND,         /* POST /dp until the 2.04 (after the server's commit) */
    SIM_OP_OBSERVE,      /* REST POST .../observe until its 200 */
    SIM_OP_BOOTSTRAP,    /* Bootstrap-Request until Bootstrap-Finish */
    SIM_OP_COUNT
};

/* Requests the server made to the simulated clients, answered. */
enum sim_served {
    SIM_SERVED_READ,
    SIM_SERVED_WRITE,
    SIM_SERVED_EXECUTE,
    SIM_SERVED_DISCOVER,
    SIM_SERVED_OBSERVE,
    SIM_SERVED_CANCEL,
    SIM_SERVED_OTHER,
    SIM_SERVED_ASLEEP,   /* not served: arrived while asleep (queue mode), ignored */
    SIM_SERVED_COUNT
};

struct sim_stats;

struct sim_stats *sim_stats_new(void);
void sim_stats_free(struct sim_stats *s);

const char *sim_stats_op_name(enum sim_op op);
void sim_stats_ok(struct sim_stats *s, enum sim_op op, int64_t latency_us);
/* A failed operation; cause is short text ("timeout", "4.04", "rst"). */
void sim_stats_fail(struct sim_stats *s, enum sim_op op, const char *cause);
void sim_stats_served(struct sim_stats *s, enum sim_served what);
/* A CON request of op sent again (no answer within its timeout). */
void sim_stats_retransmit(struct sim_stats *s, enum sim_op op);
/* Telemetry values the server acknowledged (notifications + Sends). */
void sim_stats_values(struct sim_stats *s, enum sim_op op, unsigned n);

uint64_t sim_stats_ok_count(struct sim_stats *s, enum sim_op op);
uint64_t sim_stats_fail_total(struct sim_stats *s);

/* One progress line: totals and the rates since the previous line. */
void sim_stats_progress(struct sim_stats *s, FILE *f, double elapsed_s, unsigned active);

struct sim_stats_run {
    const char *scenario;
    const char *lwm2m;
    unsigned clients;
    unsigned launched;
    double elapsed_s;
    const char *prefix;
    bool cycling;               /* --cycles: report the steady window */
    unsigned cycles;            /* per client; 0 = until the end */
    double steady_from_s, steady_to_s;   /* since the start; to <= from: no window */
    uint64_t steady_registers;  /* Registers acknowledged inside it */
};

/* The final report: text, or one JSON object with json. */
void sim_stats_report(struct sim_stats *s, const struct sim_stats_run *run, bool json, FILE *f);

#endif /* LODESTAR_TOOLS_SIM_STATS_H */
