#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/dtls_registration.sh -- DTLS-PSK handshakes + durable Registers per
# second with 1 000 clients (issue 4), and a one-shot storm of 10 000
#
# The issue's scenario, "1 000 DTLS-PSK clients: handshakes+registrations
# per second", target >= 5 000/s: 1 000 devices (BENCH_DTLS_CLIENTS; --quick
# 200), each with its own PSK credential (a factory batch made through the
# API, its keys loaded by the server before the measured window), reboot or
# reconnect over and over for BENCH_DTLS_SECONDS (default 10; --quick 3):
# every cycle is a new DTLS session with a full DTLS-PSK handshake (plain
# PSK, TLS_PSK_WITH_AES_128_CCM_8, the LwM2M mandatory suite; no
# resumption), a Register answered 2.01 after its commit (PostgreSQL with
# fsync on), and the session closed with close_notify
# (BENCH_DTLS_DEREGISTER=1: a De-register first).  lodestar-sim --cycles 0,
# BENCH_DTLS_WINDOW (default 256) cycles in flight.  Figure: Registers
# acknowledged per second over the steady window (after a 2 s warm-up until
# the end; the simulator's report), CPU per registration of the server,
# PostgreSQL and the simulator (the whole load), and after the load the
# server's /metrics: full handshakes (lodestar_dtls_handshakes_total ok,
# counted once per PSK lookup, so a resumed session would not count) and
# the sessions left (lodestar_coap_sessions: closed ones must be gone).
#
# The extra figure (BENCH_DTLS_ONESHOT=0 skips it): a one-shot storm of
# BENCH_DTLS_COUNT (default 10 000; --quick 200) devices on a fresh server,
# each one handshake + one Register, sessions held by the server as for
# registered devices (it shows their cost): lodestar-sim --psk-csv, or
# bench/dtls_storm with BENCH_DTLS_TOOL=storm (BENCH_DTLS_PROCS processes,
# at most 8 000 devices).  BENCH_DTLS_ECDHE=1: libcoap's default,
# ECDHE-PSK first, for both parts.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init dtls_registration "$@"

clients=${BENCH_DTLS_CLIENTS:-1000}
seconds=${BENCH_DTLS_SECONDS:-10}
count=${BENCH_DTLS_COUNT:-10000}
window=${BENCH_DTLS_WINDOW:-256}
procs=${BENCH_DTLS_PROCS:-2}
oneshot=${BENCH_DTLS_ONESHOT:-1}
if [ "$BENCH_QUICK" = 1 ]; then
    clients=200
    seconds=3
    count=200
fi
# dtls_storm keeps every device's session (a socket) until its process
# ends, and libcoap's DTLS client uses select() (FD_SETSIZE 1 024): at
# most 500 devices per process, 16 processes.
min_procs=$(((count + 499) / 500))
[ "$procs" -ge "$min_procs" ] || procs=$min_procs
help=$("$BENCH_BUILD/tools/lodestar-sim" --help 2>&1)
[[ $help == *--cycles* ]] || bench_die "$BENCH_BUILD/tools/lodestar-sim has no --cycles"
tool=${BENCH_DTLS_TOOL:-sim}
[ "$tool" = sim ] || [ "$procs" -le 16 ] ||
    bench_die "dtls_storm runs at most 8 000 devices (16 processes of 500)"

# Plain PSK unless told (tools/sim_dtls.h: both load generators honour it).
if [ "${BENCH_DTLS_ECDHE:-0}" != 1 ]; then export LODESTAR_BENCH_PLAIN_PSK=1; fi
suite=$([ "${LODESTAR_BENCH_PLAIN_PSK:-0}" = 1 ] && echo "plain PSK" || echo "ECDHE-PSK")

# metric NAME_WITH_LABELS -- its value in the saved /metrics text.
metric() {
    awk -v m="$1" '$1 == m { print $2 }' "$BENCH_TMP/metrics.txt" | head -1
}

# server_with_credentials N PREFIX CSV -- a fresh server, a factory batch of
# N devices (its CSV in CSV), and the wait until the server holds them all
# (TOTAL: the credentials in the database).
server_with_credentials() {
    bench_server_start
    bench_factory_csv "$1" "$2" "coaps://$BENCH_COAPS" server "$3" ||
        bench_die "factory batch failed"
    bench_wait_log "$BENCH_TMP/server.log" "credentials_loaded .*psk=$4 " 120 "$BENCH_SERVER_PID" ||
        bench_die "the server did not load the $4 credentials"
}

# ---- the issue's scenario: 1 000 clients reconnecting --------------------
bench_pg_start
csv=$BENCH_TMP/cycles.csv
server_with_credentials "$clients" dtlsc "$csv" "$clients"
dereg=()
[ "${BENCH_DTLS_DEREGISTER:-0}" = 1 ] && dereg=(--deregister)
# BENCH_PERF=1: the simulator is profiled too (perf-sim.txt; its CPU figure
# then includes perf's own overhead)
simperf=()
[ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null &&
    simperf=(perf record -F 999 -g -o "$BENCH_TMP/perf-sim.data" --)
bench_mark_begin "$BENCH_SERVER_PID"
bench_run_load "$BENCH_TMP/load.out" "${simperf[@]}" "$BENCH_BUILD/tools/lodestar-sim" \
    --server "coaps://$BENCH_COAPS" --psk-csv "$csv" --count "$clients" \
    --window "$window" --cycles 0 --duration "$seconds" "${dereg[@]}" --json
bench_mark_end
curl -fsS "http://$BENCH_HTTP/metrics" >"$BENCH_TMP/metrics.txt" 2>/dev/null
if [ ${#simperf[@]} -gt 0 ]; then
    perf report -i "$BENCH_TMP/perf-sim.data" --no-children --stdio --sort dso,symbol \
        2>/dev/null | grep -v '^#' | grep -E '^ +[0-9]' | head -40 >"$BENCH_TMP/perf-sim.txt"
    bench_log "profile of lodestar-sim: $BENCH_TMP/perf-sim.txt"
fi
rss_kb=$(bench_rss_kb "$BENCH_SERVER_PID")
bench_daemon_stop "$BENCH_SERVER_PID"
bench_mark_commits

out=$BENCH_TMP/load.out
ok=$(bench_json "$out" ops.register.ok 0)
failed=$(bench_json "$out" failures 0)
rate=$(bench_round "$(bench_json "$out" cycles.steady.per_s 0)" 0)
p50=$(bench_round "$(bench_json "$out" ops.register.latency_ms.p50 0)" 1)
p99=$(bench_round "$(bench_json "$out" ops.register.latency_ms.p99 0)" 1)
[ "${ok:-0}" -gt 0 ] 2>/dev/null || { cat "$out" "$out.err" >&2; bench_die "no registration succeeded"; }
hs_ok=$(metric 'lodestar_dtls_handshakes_total{result="ok"}')
sessions_left=$(metric lodestar_coap_sessions)
closed=$(metric lodestar_dtls_closed_total)
srv_us=$(bench_per_op_us "${BENCH_CPU_S[0]}" "$ok")
pg_us=$(bench_per_op_us "$BENCH_PG_CPU_S" "$ok")
sim_us=$(bench_per_op_us "$BENCH_LOAD_CPU_S" "$ok")
per_commit=$(bench_div "$ok" "$BENCH_COMMITS" 1)
load_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
what="lodestar-sim --cycles w$window ${seconds}s, $suite"
[ ${#dereg[@]} -gt 0 ] && what="$what, De-register"
met=$(bench_met "$rate" ge 5000)
[ "$failed" -eq 0 ] || met="MISSED"
# every Register a full handshake of its own, and no session left behind
[ "${hs_ok:-0}" -ge "$ok" ] 2>/dev/null ||
    { bench_log "only ${hs_ok:-?} full handshakes for $ok Registers"; met="MISSED"; }
bench_log "sustained: $rate reg/s steady, $ok Registers, $hs_ok handshakes, $closed closed by the devices, $sessions_left sessions left, server $srv_us µs + Postgres $pg_us µs + sim $sim_us µs CPU/reg"

# ---- the extra figure: one-shot storm of 10 000, sessions held ------------
os_rate="-" os_srv="-" os_sim="-" os_failed=0 os_col="-"
if [ "$oneshot" = 1 ]; then
    csv2=$BENCH_TMP/oneshot.csv
    if [ "$tool" = sim ]; then
        server_with_credentials "$count" dtls "$csv2" "$((clients + count))"
    else
        bench_server_start
        PGOPTIONS="-c synchronous_commit=off" LODESTAR_BENCH_PGURI=$BENCH_PGURI DTLS_STORM_SETUP_ONLY=1 \
            "$BENCH_BUILD/bench/dtls_storm" "$BENCH_COAPS" "$count" 1 1 dtls \
            >"$BENCH_TMP/setup.log" 2>&1 || { cat "$BENCH_TMP/setup.log" >&2; bench_die "credentials"; }
        bench_wait_log "$BENCH_TMP/server.log" "credentials_loaded .*psk=$((clients + count)) " 120 \
            "$BENCH_SERVER_PID" || bench_die "the server did not load the credentials"
    fi
    bench_mark_begin "$BENCH_SERVER_PID"
    if [ "$tool" = sim ]; then
        bench_run_load "$BENCH_TMP/oneshot.out" "$BENCH_BUILD/tools/lodestar-sim" \
            --server "coaps://$BENCH_COAPS" --psk-csv "$csv2" --count "$count" \
            --window "$window" --json --quiet
    else
        bench_run_load "$BENCH_TMP/oneshot.out" "$BENCH_BUILD/bench/dtls_storm" \
            "$BENCH_COAPS" "$count" "$window" "$procs" dtls
    fi
    bench_mark_end
    bench_daemon_stop "$BENCH_SERVER_PID"
    o=$BENCH_TMP/oneshot.out
    if [ "$tool" = sim ]; then
        os_ok=$(bench_json "$o" ops.register.ok 0)
        os_failed=$(bench_json "$o" failures 0)
        os_rate=$(bench_round "$(bench_json "$o" ops.register.per_s 0)" 0)
    else
        os_ok=$(bench_kv "$o" completed)
        os_failed=$(bench_kv "$o" failed)
        os_rate=$(bench_kv "$o" handshake_registrations_per_s)
    fi
    os_srv="$(bench_per_op_us "${BENCH_CPU_S[0]}" "$os_ok") µs"
    os_sim="$(bench_per_op_us "$BENCH_LOAD_CPU_S" "$os_ok") µs"
    os_col="$os_rate ($os_failed failed)"
    bench_log "one-shot: $os_ok of $count, $os_rate reg/s, $os_failed failed, server $os_srv + sim $os_sim CPU/reg"
fi

bench_record "DTLS-PSK registration storm (bench/dtls_registration.sh)" \
    "load|clients|reg/s (steady)|p50 ms|p99 ms|failed|full handshakes|sessions left|server CPU/reg|Postgres CPU/reg|sim CPU/reg|commits (reg/commit)|server RSS|load gen CPU|one-shot $count: reg/s|one-shot server CPU/reg|one-shot sim CPU/reg" \
    "$what|$clients|$rate|$p50|$p99|$failed|$hs_ok / $ok|$sessions_left|$srv_us µs|$pg_us µs|$sim_us µs|$BENCH_COMMITS ($per_commit)|$((rss_kb / 1024)) MiB|$load_share|$os_col|$os_srv|$os_sim" \
    ">= 5 000 reg/s" "$met" "$rate reg/s" \
    "($clients clients reconnecting, $what, $ok Registers, p50 $p50 ms, p99 $p99 ms, $failed failed, $hs_ok full handshakes, $sessions_left sessions left, server $srv_us µs + Postgres $pg_us µs + sim $sim_us µs CPU/reg, load generator CPU $load_share; one-shot $count: $os_rate reg/s, server $os_srv CPU/reg)"
