#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/notify.sh -- notification ingest: stored notifications per second
#
# 10 000 observing devices (--quick: 300) send CON notifications as fast
# as lodestar-server ACKs them; each ACKed notification is one telemetry
# row committed with fsync on.  Figure: stored notifications per second,
# target >= 50 000/s (issue 5).  Also: sent (ACKed), shed
# (lodestar_notifications_total{result="dropped_store_full"}), the
# server's and Postgres's CPU per stored notification, the load
# generator's CPU share.
#
# Default load (BENCH_NOTIFY_TOOL=bench): bench/reg_storm registers the
# devices (one source address, hence --reg-rate-limit 0 on the server), the
# observations of /3/0/9 are stored (notify_bench setup) and the server
# restarted, as after a restart; bench/notify_bench then keeps 512
# notifications in flight over all devices for BENCH_NOTIFY_DURATION s
# (default 20; --quick 2) and counts the stored rows.
#
# BENCH_NOTIFY_TOOL=sim: lodestar-sim registers the clients, the server is
# asked through the REST API to observe /3303/0/5700 on each of them (8
# threads; this set-up is slow while the first clients already notify:
# about 35 observations/s on a loaded 2-core machine), and every client
# notifies every BENCH_NOTIFY_INTERVAL s (default 0.15).  A sampler reads
# lodestar_telemetry_committed_total twice a second; the figure is the
# rate over the last 60 % of the time the count grows.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init notify "$@"

count=${BENCH_NOTIFY_COUNT:-10000}
tool=${BENCH_NOTIFY_TOOL:-bench}
interval=${BENCH_NOTIFY_INTERVAL:-0.15}
duration=${BENCH_NOTIFY_DURATION:-}
[ -n "$duration" ] || { [ "$tool" = sim ] && duration=40 || duration=20; }
if [ "$BENCH_QUICK" = 1 ]; then count=300; duration=$([ "$tool" = sim ] && echo 3 || echo 2); fi

metrics() {
    curl -fsS -H "Authorization: Bearer $BENCH_TOKEN" "http://$BENCH_HTTP/metrics" 2>/dev/null
}
metric() {  # metric NAME_WITH_LABELS -- from a /metrics text on stdin
    awk -v n="$1" '$1 == n { print $2 }'
}

# run_bench -- reg_storm, observations stored, restart, notify_bench.
# Sets sent, stored, rate, observed, failed.
run_bench() {
    bench_server_start --reg-rate-limit 0
    REG_STORM_BASE=0 "$BENCH_BUILD/bench/reg_storm" "$BENCH_COAP" "$count" 256 nb \
        >"$BENCH_TMP/reg.out" 2>&1 || { cat "$BENCH_TMP/reg.out" >&2; bench_die "reg_storm failed"; }
    "$BENCH_BUILD/bench/notify_bench" setup "$BENCH_PGURI" nb >"$BENCH_TMP/setup.out" 2>&1 ||
        { cat "$BENCH_TMP/setup.out" >&2; bench_die "notify_bench setup failed"; }
    bench_daemon_stop "$BENCH_SERVER_PID"
    bench_server_start --reg-rate-limit 0
    bench_mark_begin "$BENCH_SERVER_PID"
    bench_run_load "$BENCH_TMP/load.out" "$BENCH_BUILD/bench/notify_bench" run \
        "$BENCH_COAP" "$count" "$duration" 512 "$BENCH_PGURI" nb
    bench_mark_end
    local out=$BENCH_TMP/load.out
    sent=$(bench_kv "$out" acked)
    stored=$(bench_kv "$out" stored)
    rate=$(bench_kv "$out" stored_per_s)
    observed=$(bench_round "$(bench_sql "SELECT count(*) FROM observations" 2>/dev/null)" 0)
    failed=$(bench_kv "$out" rst)
    what="notify_bench, 512 in flight"
    offered="-"
}

# run_sim -- lodestar-sim observe, the stored rate from /metrics samples.
run_sim() {
    bench_server_start
    # The sampler: "epoch-seconds committed" twice a second until killed.
    (
        while :; do
            v=$(metrics | metric lodestar_telemetry_committed_total)
            echo "$(date +%s.%N) ${v:-0}"
            sleep 0.5
        done
    ) >"$BENCH_TMP/samples" &
    local sampler=$! last=-1 now
    BENCH_PIDS+=("$sampler")
    bench_mark_begin "$BENCH_SERVER_PID"
    bench_run_load "$BENCH_TMP/sim.json" "$BENCH_BUILD/tools/lodestar-sim" \
        --server "coap://$BENCH_COAP" --count "$count" --scenario observe \
        --interval "$interval" --duration "$duration" --prefix nt \
        --api "http://$BENCH_HTTP" --token "$BENCH_TOKEN" --api-threads 8 --json --quiet
    # The last notifications may still be queued: wait (with a deadline)
    # until the stored count stops growing.
    for _ in $(seq 40); do
        now=$(metrics | metric lodestar_telemetry_committed_total)
        [ "$now" = "$last" ] && break
        last=$now
        sleep 0.5
    done
    bench_mark_end
    bench_daemon_stop "$sampler"
    local j=$BENCH_TMP/sim.json
    sent=$(bench_json "$j" ops.notify.ok 0)
    observed=$(bench_json "$j" ops.observe.ok 0)
    failed=$(bench_json "$j" failures 0)
    stored=$(metrics | metric lodestar_telemetry_committed_total)
    # From 40 % into the growth period to its end.
    rate=$(awk '
        { t[NR] = $1; v[NR] = $2 }
        END {
            for (i = 1; i <= NR && v[i] == 0; i++) ;
            first = i
            for (j = NR; j > first && v[j] == v[j - 1]; j--) ;
            last = j
            if (last <= first) { print 0; exit }
            ta = t[first] + 0.4 * (t[last] - t[first])
            for (a = first; a < last && t[a] < ta; a++) ;
            if (t[last] - t[a] <= 0) { print 0; exit }
            printf "%.0f", (v[last] - v[a]) / (t[last] - t[a])
        }' "$BENCH_TMP/samples")
    what="lodestar-sim observe, interval $interval s"
    offered=$(awk -v c="$count" -v i="$interval" 'BEGIN { printf "%.0f", c / i }')
}

bench_pg_start
case $tool in
    bench) run_bench ;;
    sim) run_sim ;;
    *) bench_die "BENCH_NOTIFY_TOOL: bench or sim" ;;
esac
shed=$(metrics | metric 'lodestar_notifications_total{result="dropped_store_full"}')
rss_kb=$(bench_rss_kb "$BENCH_SERVER_PID")
bench_daemon_stop "$BENCH_SERVER_PID"
bench_mark_commits

[ "${stored:-0}" -gt 0 ] 2>/dev/null ||
    { cat "$BENCH_TMP"/load.out* "$BENCH_TMP"/sim.json* >&2 2>/dev/null; bench_die "nothing stored"; }
srv_us=$(bench_per_op_us "${BENCH_CPU_S[0]}" "$stored")
pg_us=$(bench_per_op_us "$BENCH_PG_CPU_S" "$stored")
load_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
met=$(bench_met "$rate" ge 50000)

bench_record "Notification ingest, stored notifications/s (bench/notify.sh)" \
    "load|clients observed|offered/s|stored/s|sent (ACKed)|stored|shed|RST/failed|server CPU/stored|Postgres CPU/stored|commits|server RSS|load gen CPU" \
    "$what|$observed|$offered|$rate|$sent|$stored|${shed:-0}|$failed|$srv_us µs|$pg_us µs|$BENCH_COMMITS|$((rss_kb / 1024)) MiB|$load_share" \
    ">= 50 000 stored/s" "$met" "$rate stored/s" \
    "($what, $observed observed, $sent sent, $stored stored, ${shed:-0} shed, $failed RST/failed, server $srv_us µs + Postgres $pg_us µs CPU/stored, load generator CPU $load_share)"
