#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/registration.sh -- registration storms, plain CoAP, durable answers
#
# Two storms against one lodestar-server, one row each (issue 4: "a
# registration storm ... and the same storm again while 100 000 other
# devices are registered"):
#   1. 100 000 distinct lodestar-sim clients (--quick: 500;
#      BENCH_REG_COUNT) register as fast as lodestar-server answers
#      (--window Registers in flight); they stay registered;
#   2. then 10 000 NEW clients (another --prefix; --quick: 200;
#      BENCH_REG_COUNT2, 0 = skip) register while the first storm's
#      clients are held.
# Every 2.01 is sent after the commit holding the registration
# (PostgreSQL with fsync on).  Figure per storm: registrations per second
# (first Register sent -> last 2.01), target >= 20 000/s.  Also: latency
# p50/p99, retransmissions, the server's and Postgres's CPU per
# registration, store commits (registrations per commit: the server's
# lodestar_store_batches_total over the storm, as both storms run in one
# server), the server's RSS after the storm, and the simulator's CPU share
# (it shares the machine).  With BENCH_PERF=1 the profile of each storm is
# kept (perf-reg.txt, perf-reg2.txt).
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init registration "$@"

count=${BENCH_REG_COUNT:-100000}
count2=${BENCH_REG_COUNT2:-10000}
window=${BENCH_REG_WINDOW:-512}
[ "$BENCH_QUICK" = 1 ] && { count=500; count2=200; }

metric() {  # metric NAME -- from lodestar-server's /metrics
    curl -fsS -H "Authorization: Bearer $BENCH_TOKEN" "http://$BENCH_HTTP/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n { print $2 }'
}

# storm N PREFIX HELD -- one storm of N new clients while HELD others are
# registered; records its row.
storm() {
    local n=$1 prefix=$2 held=$3 j=$BENCH_TMP/sim-$2.json b0 b1
    # the second storm's summary line (run-all.sh) says which it is
    [ "$held" = 0 ] || local BENCH_NAME=${BENCH_NAME}_held
    b0=$(metric lodestar_store_batches_total)
    bench_mark_begin "$BENCH_SERVER_PID"
    bench_run_load "$j" "$BENCH_BUILD/tools/lodestar-sim" \
        --server "coap://$BENCH_COAP" --count "$n" --window "$window" \
        --prefix "$prefix" --json --quiet
    bench_mark_end
    b1=$(metric lodestar_store_batches_total)
    if [ -f "$BENCH_TMP/perf.txt" ]; then
        mv "$BENCH_TMP/perf.txt" "$BENCH_TMP/perf-$prefix.txt"
        mv "$BENCH_TMP/perf.data" "$BENCH_TMP/perf-$prefix.data" 2>/dev/null
        bench_log "profile of the storm of $prefix-*: $BENCH_TMP/perf-$prefix.txt"
    fi
    local rss_kb ok failed rate p50 p99 retx srv_us pg_us commits per_commit sim_share met
    rss_kb=$(bench_rss_kb "$BENCH_SERVER_PID")
    ok=$(bench_json "$j" ops.register.ok 0)
    failed=$(bench_json "$j" failures 0)
    [ "$ok" -gt 0 ] || { cat "$j" "$j.err" >&2; bench_die "no registration succeeded"; }
    rate=$(bench_round "$(bench_json "$j" ops.register.per_s 0)" 0)
    p50=$(bench_round "$(bench_json "$j" ops.register.latency_ms.p50 0)" 1)
    p99=$(bench_round "$(bench_json "$j" ops.register.latency_ms.p99 0)" 1)
    retx=$(bench_json "$j" ops.register.retransmissions 0)
    srv_us=$(bench_per_op_us "${BENCH_CPU_S[0]}" "$ok")
    pg_us=$(bench_per_op_us "$BENCH_PG_CPU_S" "$ok")
    b0=${b0:-0} b1=${b1:-0}
    commits=$(( ${b1%.*} - ${b0%.*} ))
    per_commit=$(bench_div "$ok" "$commits" 1)
    sim_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
    met=$(bench_met "$rate" ge 20000)
    [ "$failed" -eq 0 ] || met="MISSED"
    bench_record "Registration storm, plain CoAP (bench/registration.sh)" \
        "registered before|clients|reg/s|p50 ms|p99 ms|failed|retrans|server CPU/reg|Postgres CPU/reg|store commits (reg/commit)|server RSS|sim CPU" \
        "$held|$ok|$rate|$p50|$p99|$failed|$retx|$srv_us µs|$pg_us µs|$commits ($per_commit)|$((rss_kb / 1024)) MiB|$sim_share" \
        ">= 20 000 reg/s" "$met" "$rate reg/s" \
        "($ok new clients, $held held, p50 $p50 ms, p99 $p99 ms, $failed failed, server ${srv_us} µs + Postgres ${pg_us} µs CPU/reg, sim CPU $sim_share)"
    STORM_OK=$ok
}

bench_pg_start
bench_server_start
storm "$count" reg 0
if [ "$count2" -gt 0 ]; then
    held=$(metric lodestar_registrations_current)
    storm "$count2" reg2 "${held:-$STORM_OK}"
fi
bench_daemon_stop "$BENCH_SERVER_PID"
