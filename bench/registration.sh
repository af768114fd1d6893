#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/registration.sh -- registration storm, plain CoAP, durable answers
#
# 100 000 distinct lodestar-sim clients (--quick: 500) register as fast as
# lodestar-server answers (--window Registers in flight); every 2.01 is
# sent after the commit holding the registration (PostgreSQL with fsync
# on).  Figure: registrations per second over the whole storm (first
# Register sent -> last 2.01), target >= 20 000/s (issue 4).  Also: latency
# p50/p99, retransmissions, the server's and Postgres's CPU per
# registration, commits (registrations per commit), the server's RSS, and
# the simulator's CPU share (it shares the machine).
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init registration "$@"

count=${BENCH_REG_COUNT:-100000}
window=${BENCH_REG_WINDOW:-512}
[ "$BENCH_QUICK" = 1 ] && count=500

bench_pg_start
bench_server_start
bench_mark_begin "$BENCH_SERVER_PID"
bench_run_load "$BENCH_TMP/sim.json" "$BENCH_BUILD/tools/lodestar-sim" \
    --server "coap://$BENCH_COAP" --count "$count" --window "$window" \
    --prefix reg --json --quiet
bench_mark_end
rss_kb=$(bench_rss_kb "$BENCH_SERVER_PID")
bench_daemon_stop "$BENCH_SERVER_PID"
bench_mark_commits

j=$BENCH_TMP/sim.json
ok=$(bench_json "$j" ops.register.ok 0)
failed=$(bench_json "$j" failures 0)
[ "$ok" -gt 0 ] || { cat "$j" "$j.err" >&2; bench_die "no registration succeeded"; }
rate=$(bench_round "$(bench_json "$j" ops.register.per_s 0)" 0)
p50=$(bench_round "$(bench_json "$j" ops.register.latency_ms.p50 0)" 1)
p99=$(bench_round "$(bench_json "$j" ops.register.latency_ms.p99 0)" 1)
retx=$(bench_json "$j" ops.register.retransmissions 0)
srv_us=$(bench_per_op_us "${BENCH_CPU_S[0]}" "$ok")
pg_us=$(bench_per_op_us "$BENCH_PG_CPU_S" "$ok")
per_commit=$(bench_div "$ok" "$BENCH_COMMITS" 1)
sim_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
met=$(bench_met "$rate" ge 20000)
[ "$failed" -eq 0 ] || met="MISSED"

bench_record "Registration storm, plain CoAP (bench/registration.sh)" \
    "clients|reg/s|p50 ms|p99 ms|failed|retrans|server CPU/reg|Postgres CPU/reg|commits (reg/commit)|server RSS|sim CPU" \
    "$ok|$rate|$p50|$p99|$failed|$retx|$srv_us µs|$pg_us µs|$BENCH_COMMITS ($per_commit)|$((rss_kb / 1024)) MiB|$sim_share" \
    ">= 20 000 reg/s" "$met" "$rate reg/s" \
    "($ok clients, p50 $p50 ms, p99 $p99 ms, $failed failed, server ${srv_us} µs + Postgres ${pg_us} µs CPU/reg, sim CPU $sim_share)"
