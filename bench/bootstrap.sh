#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/bootstrap.sh -- bootstrap storm over DTLS-PSK
#
# 5 000 devices (--quick: 200), each with its own bootstrap-scope PSK
# credential, each a full DTLS-PSK handshake with lodestar-bootstrap and a
# complete bootstrap: Bootstrap-Request, BS-Discover, BS-Delete /0 and /1,
# BS-Write of the Security and Server instances, Bootstrap-Finish (2.04),
# every session record stored (PostgreSQL with fsync on).  Figure:
# complete bootstraps per second, target >= 3 000/s (issue 6).
#
# The load: bench/bootstrap_storm, plain PSK (TLS_PSK_WITH_AES_128_CCM_8,
# the LwM2M mandatory suite; BENCH_BS_ECDHE=1: ECDHE-PSK first), one
# template configuration with a NoSec server account (BENCH_BS_CONFIG=issue:
# a PSK account whose key is issued per bootstrap), BENCH_BS_WINDOW in
# flight over BENCH_BS_PROCS processes.  The credentials and the template
# are stored before the daemon starts (it loads them at start), outside
# the measured window.
#
# BENCH_BS_TOOL=sim: the production line instead -- a factory batch with
# bootstrap accounts (POST /api/factory/batches, CSV export), a template
# giving each device a NoSec account on lodestar-server, and lodestar-sim
# --scenario bootstrap --factory-csv: DTLS-PSK bootstrap, then a Register
# with what was written.  The figure is then bootstraps per second over
# the whole run (registrations included), both daemons sharing the CPUs.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init bootstrap "$@"

count=${BENCH_BS_COUNT:-5000}
window=${BENCH_BS_WINDOW:-64}
procs=${BENCH_BS_PROCS:-2}
config=${BENCH_BS_CONFIG:-nosec}
[ "$BENCH_QUICK" = 1 ] && count=200

tool=${BENCH_BS_TOOL:-storm}

# run_storm -- bootstrap_storm against lodestar-bootstrap alone.
run_storm() {
    # The first start creates the schema; the set-up goes in between.
    bench_bootstrap_start
    bench_daemon_stop "$BENCH_BS_PID"
    PGOPTIONS="-c synchronous_commit=off" LODESTAR_BENCH_PGURI=$BENCH_PGURI BS_STORM_SETUP_ONLY=1 \
        "$BENCH_BUILD/bench/bootstrap_storm" 127.0.0.1:1 "$count" "$window" "$procs" psk "$config" bs \
        >"$BENCH_TMP/setup.log" 2>&1 || { cat "$BENCH_TMP/setup.log" >&2; bench_die "set-up failed"; }
    bench_bootstrap_start --bs-rate-limit 0
    if [ "${BENCH_BS_ECDHE:-0}" != 1 ]; then export LODESTAR_BENCH_PLAIN_PSK=1; fi
    bench_mark_begin "$BENCH_BS_PID"
    bench_run_load "$BENCH_TMP/load.out" "$BENCH_BUILD/bench/bootstrap_storm" \
        "$BENCH_BS_COAPS" "$count" "$window" "$procs" psk "$config" bs
    bench_mark_end
    local out=$BENCH_TMP/load.out
    ok=$(bench_kv "$out" completed)
    failed=$(bench_kv "$out" failed)
    rate=$(bench_kv "$out" bootstraps_per_s)
    p50=$(bench_kv "$out" p50_ms)
    p99=$(bench_kv "$out" p99_ms)
    what="bootstrap_storm w$window x$procs, $config"
    [ "${LODESTAR_BENCH_PLAIN_PSK:-0}" = 1 ] && what="$what, plain PSK" || what="$what, ECDHE-PSK"
}

# run_sim -- factory batch, template, lodestar-sim bootstrap + Register.
run_sim() {
    bench_server_start
    bench_bootstrap_start --bs-rate-limit 0
    local csv=$BENCH_TMP/factory.csv
    bench_factory_csv "$count" bs "coaps://$BENCH_BS_COAPS" bootstrap "$csv" ||
        bench_die "factory batch failed"
    bench_api PUT /api/bootstrap/configs/bench "{\"match\": \"bs-*\", \"priority\": 1,
        \"servers\": [{\"uri\": \"coap://$BENCH_COAP\", \"ssid\": 101, \"security\": \"nosec\",
        \"lifetime\": 86400, \"binding\": \"U\"}]}" >/dev/null || bench_die "template refused"
    # The bootstrap daemon's credential watcher must hold the batch's keys.
    local n
    for ((n = 0; n < 600; n++)); do
        [ "$(curl -fsS "http://$BENCH_BS_METRICS/metrics" 2>/dev/null |
             awk '$1 == "lodestar_credentials_loaded{scope=\"bootstrap\"}" { print $2 }')" = "$count" ] && break
        [ "$n" -gt 40 ] && break   # no such gauge: 2 s is plenty for one delta read
        sleep 0.05
    done
    if [ "${BENCH_BS_ECDHE:-0}" != 1 ]; then export LODESTAR_BENCH_PLAIN_PSK=1; fi
    bench_mark_begin "$BENCH_BS_PID" "$BENCH_SERVER_PID"
    bench_run_load "$BENCH_TMP/sim.json" "$BENCH_BUILD/tools/lodestar-sim" \
        --scenario bootstrap --bootstrap "coaps://$BENCH_BS_COAPS" --factory-csv "$csv" \
        --server "coap://$BENCH_COAP" --count "$count" --window "$window" --json --quiet
    bench_mark_end
    local j=$BENCH_TMP/sim.json
    ok=$(bench_json "$j" ops.bootstrap.ok 0)
    failed=$(bench_json "$j" failures 0)
    rate=$(bench_round "$(bench_json "$j" ops.bootstrap.per_s 0)" 0)
    p50=$(bench_json "$j" ops.bootstrap.latency_ms.p50 0)
    p99=$(bench_json "$j" ops.bootstrap.latency_ms.p99 0)
    what="lodestar-sim --factory-csv w$window, then Register ($(bench_json "$j" ops.register.ok 0) ok)"
    bench_daemon_stop "$BENCH_SERVER_PID"
}

bench_pg_start
case $tool in
    storm) run_storm ;;
    sim) run_sim ;;
    *) bench_die "BENCH_BS_TOOL: storm or sim" ;;
esac
rss_kb=$(bench_rss_kb "$BENCH_BS_PID")
bench_daemon_stop "$BENCH_BS_PID"
bench_mark_commits

[ "${ok:-0}" -gt 0 ] 2>/dev/null ||
    { cat "$BENCH_TMP"/load.out* "$BENCH_TMP"/sim.json* >&2 2>/dev/null; bench_die "no bootstrap completed"; }
p50=$(bench_round "$p50" 1)
p99=$(bench_round "$p99" 1)
sessions=$(bench_sql "SELECT count(*) FROM bootstrap_sessions WHERE endpoint LIKE 'bs-%' AND outcome = 'success'" 2>/dev/null)
srv_us=$(bench_per_op_us "${BENCH_CPU_S[0]}" "$ok")
pg_us=$(bench_per_op_us "$BENCH_PG_CPU_S" "$ok")
load_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
met=$(bench_met "$rate" ge 3000)
[ "$failed" -eq 0 ] || met="MISSED"

bench_record "Bootstrap storm over DTLS-PSK (bench/bootstrap.sh)" \
    "load|clients|bootstraps/s|p50 ms|p99 ms|failed|sessions stored|daemon CPU/bootstrap|Postgres CPU/bootstrap|commits|daemon RSS|load gen CPU" \
    "$what|$ok|$rate|$p50|$p99|$failed|${sessions:-?}|$srv_us µs|$pg_us µs|$BENCH_COMMITS|$((rss_kb / 1024)) MiB|$load_share" \
    ">= 3 000 bootstraps/s" "$met" "$rate bootstraps/s" \
    "($ok clients, $what, p50 $p50 ms, p99 $p99 ms, $failed failed, ${sessions:-?} sessions stored, daemon $srv_us µs + Postgres $pg_us µs CPU each, load generator CPU $load_share)"
