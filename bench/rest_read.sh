#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/rest_read.sh -- REST Read latency under load
#
# bench/devops_bench registers 50 awake plain-CoAP devices and sends
# GET /api/devices/<ep>/3/0 (a CoAP Read to the device, its TLV answer
# decoded and returned as JSON) at a fixed offered rate, BENCH_REST_RATE
# (default 2 000 req/s, issue 5) over 32 keep-alive connections, for
# BENCH_REST_SECONDS (default 15); latency is measured from each request's
# scheduled send time (no coordinated omission).  Meanwhile lodestar-sim
# keeps BENCH_REST_BACKGROUND (default 10 000) other clients registered,
# with Updates (lifetime 30 s), so the server's loop, store worker and
# Postgres are not idle.  Figure: p99 latency, target <= 5 ms (issue 5).
# --quick: 10 devices, 200 req/s, 2 s, 300 background clients.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init rest_read "$@"

devices=${BENCH_REST_DEVICES:-50}
rate=${BENCH_REST_RATE:-2000}
secs=${BENCH_REST_SECONDS:-15}
background=${BENCH_REST_BACKGROUND:-10000}
if [ "$BENCH_QUICK" = 1 ]; then devices=10; rate=200; secs=2; background=300; fi

bench_pg_start
bench_server_start

metric() {
    curl -fsS -H "Authorization: Bearer $BENCH_TOKEN" "http://$BENCH_HTTP/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n { print $2 }'
}

# The background population; stopped (SIGTERM) after the reads.
"$BENCH_BUILD/tools/lodestar-sim" --server "coap://$BENCH_COAP" --count "$background" \
    --prefix bg --lifetime 30 --duration 3600 --quiet --json \
    >"$BENCH_TMP/sim.json" 2>"$BENCH_TMP/sim.err" &
sim=$!
BENCH_PIDS+=("$sim")
for ((n = 0; n < 1200; n++)); do
    held=$(metric lodestar_registrations_current)
    [ "${held:-0}" -ge "$background" ] && break
    kill -0 "$sim" 2>/dev/null || { cat "$BENCH_TMP/sim.err" >&2; bench_die "lodestar-sim ended"; }
    sleep 0.1
done
[ "${held:-0}" -ge "$background" ] || bench_die "only ${held:-0} of $background background clients registered"

bench_mark_begin "$BENCH_SERVER_PID"
bench_run_load "$BENCH_TMP/load.out" "$BENCH_BUILD/bench/devops_bench" \
    "$BENCH_COAP" "$BENCH_HTTP" "$BENCH_TOKEN" "$devices" "$rate" "$secs" 32
bench_mark_end
updates=$(metric lodestar_updates_total)
bench_daemon_stop "$sim"
bench_daemon_stop "$BENCH_SERVER_PID"
bench_mark_commits

# "| devices | offered | achieved | errors | p50 | p90 | p99 | max |"
row=$(grep -E '^\| *[0-9]' "$BENCH_TMP/load.out" | tail -1)
[ -n "$row" ] || { cat "$BENCH_TMP/load.out" "$BENCH_TMP/load.out.err" >&2; bench_die "devops_bench failed"; }
IFS='|' read -r _ _ offered achieved errors p50 p90 p99 max _ <<<"$row"
offered=${offered// /}; achieved=${achieved// /}; errors=${errors// /}
p50=${p50// /}; p90=${p90// /}; p99=${p99// /}; max=${max// /}
srv_share=$(bench_share "${BENCH_CPU_S[0]}" "$BENCH_WALL_S")
pg_share=$(bench_share "$BENCH_PG_CPU_S" "$BENCH_WALL_S")
load_share=$(bench_share "$BENCH_LOAD_CPU_S" "$BENCH_LOAD_WALL_S")
met=$(bench_met "$p99" le 5)
[ "$errors" = 0 ] || met="MISSED"

bench_record "REST Read latency under load (bench/rest_read.sh)" \
    "devices|offered req/s|achieved req/s|errors|p50 ms|p90 ms|p99 ms|max ms|background clients|server CPU|Postgres CPU|devops_bench CPU|commits" \
    "$devices|$offered|$achieved|$errors|$p50|$p90|$p99|$max|$held (Updates: ${updates:-?})|$srv_share|$pg_share|$load_share|$BENCH_COMMITS" \
    "p99 <= 5 ms" "$met" "p99 $p99 ms" \
    "($achieved of $offered req/s, $errors errors, p50 $p50 ms, p90 $p90 ms, max $max ms, $held background clients, server CPU $srv_share)"
