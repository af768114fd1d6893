#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/dtls_registration.sh -- DTLS-PSK registration storm, durable answers
#
# 10 000 devices (--quick: 200), each with its own PSK credential, each a
# full DTLS-PSK handshake with lodestar-server and then one Register,
# answered 2.01 after the commit (PostgreSQL with fsync on).  Figure:
# handshake + registrations per second, target >= 5 000/s (issue 4).
#
# The load: lodestar-sim with a factory batch's CSV (--psk-csv: the batch
# is made through the API, its keys loaded by the server, before the
# measured window), BENCH_DTLS_WINDOW (default 256: measured best of
# 64/256/512) handshakes + Registers in flight; or, when the simulator has
# no DTLS or with BENCH_DTLS_TOOL=storm, bench/dtls_storm (libcoap/GnuTLS
# clients in BENCH_DTLS_PROCS processes, at most 8 000 devices).  Both
# offer plain PSK (TLS_PSK_WITH_AES_128_CCM_8, the LwM2M mandatory suite);
# BENCH_DTLS_ECDHE=1: libcoap's default, ECDHE-PSK first.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init dtls_registration "$@"

count=${BENCH_DTLS_COUNT:-10000}
window=${BENCH_DTLS_WINDOW:-256}
procs=${BENCH_DTLS_PROCS:-2}
[ "$BENCH_QUICK" = 1 ] && count=200
# dtls_storm keeps every device's session (a socket) until its process
# ends, and libcoap's DTLS client uses select() (FD_SETSIZE 1 024): at
# most 500 devices per process, 16 processes.
min_procs=$(((count + 499) / 500))
[ "$procs" -ge "$min_procs" ] || procs=$min_procs
tool=${BENCH_DTLS_TOOL:-}
if [ -z "$tool" ]; then
    help=$("$BENCH_BUILD/tools/lodestar-sim" --help 2>&1)
    if [[ $help == *--psk-csv* ]]; then
        tool=sim
    else
        tool=storm
    fi
fi

[ "$tool" = sim ] || [ "$procs" -le 16 ] ||
    bench_die "dtls_storm runs at most 8 000 devices (16 processes of 500); lodestar-sim has no --psk-csv"

bench_pg_start
bench_server_start

# The credentials, before the measured window; then wait until the
# server's credential watcher holds all of them.
if [ "$tool" = sim ]; then
    csv=$BENCH_TMP/factory.csv
    bench_factory_csv "$count" dtls "coaps://$BENCH_COAPS" server "$csv" ||
        bench_die "factory batch failed"
else
    PGOPTIONS="-c synchronous_commit=off" LODESTAR_BENCH_PGURI=$BENCH_PGURI DTLS_STORM_SETUP_ONLY=1 \
        "$BENCH_BUILD/bench/dtls_storm" "$BENCH_COAPS" "$count" 1 1 dtls \
        >"$BENCH_TMP/setup.log" 2>&1 || { cat "$BENCH_TMP/setup.log" >&2; bench_die "credentials"; }
fi
bench_wait_log "$BENCH_TMP/server.log" "credentials_loaded .*psk=$count " 120 "$BENCH_SERVER_PID" ||
    bench_die "the server did not load the $count credentials"

# Plain PSK unless told (tools/sim_dtls.h: both load generators honour it).
if [ "${BENCH_DTLS_ECDHE:-0}" != 1 ]; then export LODESTAR_BENCH_PLAIN_PSK=1; fi
suite=$([ "${LODESTAR_BENCH_PLAIN_PSK:-0}" = 1 ] && echo "plain PSK" || echo "ECDHE-PSK")
bench_mark_begin "$BENCH_SERVER_PID"
if [ "$tool" = sim ]; then
    bench_run_load "$BENCH_TMP/load.out" "$BENCH_BUILD/tools/lodestar-sim" \
        --server "coaps://$BENCH_COAPS" --psk-csv "$csv" --count "$count" \
        --window "$window" --json --quiet
else
    bench_run_load "$BENCH_TMP/load.out" "$BENCH_BUILD/bench/dtls_storm" \
        "$BENCH_COAPS" "$count" "$window" "$procs" dtls
fi
bench_mark_end
rss_kb=$(bench_rss_kb "$BENCH_SERVER_PID")
bench_daemon_stop "$BENCH_SERVER_PID"
bench_mark_commits

out=$BENCH_TMP/load.out
if [ "$tool" = sim ]; then
    ok=$(bench_json "$out" ops.register.ok 0)
    failed=$(bench_json "$out" failures 0)
    rate=$(bench_round "$(bench_json "$out" ops.register.per_s 0)" 0)
    p50=$(bench_json "$out" ops.register.latency_ms.p50 0)
    p99=$(bench_json "$out" ops.register.latency_ms.p99 0)
    what="lodestar-sim --psk-csv w$window, $suite"
else
    ok=$(bench_kv "$out" completed)
    failed=$(bench_kv "$out" failed)
    rate=$(bench_kv "$out" handshake_registrations_per_s)
    p50=$(bench_kv "$out" p50_ms)
    p99=$(bench_kv "$out" p99_ms)
    what="dtls_storm w$window x$procs, $suite"
fi
[ "${ok:-0}" -gt 0 ] 2>/dev/null || { cat "$out" "$out.err" >&2; bench_die "no registration succeeded"; }
p50=$(bench_round "$p50" 1)
p99=$(bench_round "$p99" 1)
srv_us=$(bench_per_op_us "${BENCH_CPU_S[0]}" "$ok")
pg_us=$(bench_per_op_us "$BENCH_PG_CPU_S" "$ok")
per_commit=$(bench_div "$ok" "$BENCH_COMMITS" 1)
load_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
met=$(bench_met "$rate" ge 5000)
[ "$failed" -eq 0 ] || met="MISSED"

bench_record "DTLS-PSK registration storm (bench/dtls_registration.sh)" \
    "load|clients|reg/s|p50 ms|p99 ms|failed|server CPU/reg|Postgres CPU/reg|commits (reg/commit)|server RSS|load gen CPU" \
    "$what|$ok|$rate|$p50|$p99|$failed|$srv_us µs|$pg_us µs|$BENCH_COMMITS ($per_commit)|$((rss_kb / 1024)) MiB|$load_share" \
    ">= 5 000 reg/s" "$met" "$rate reg/s" \
    "($ok clients, $what, p50 $p50 ms, p99 $p99 ms, $failed failed, server $srv_us µs + Postgres $pg_us µs CPU/reg, load generator CPU $load_share)"
