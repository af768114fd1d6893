#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/loopback.sh -- the machine's own limit: UDP packets per second
# through the loopback with a trivial echo (bench/udp_echo: one thread
# echoing with recvfrom/sendto, the other keeping 64 datagrams of 64 bytes
# in flight), no daemon, no database.  Every CoAP exchange of the other
# scenarios costs at least two such datagrams (request and answer; a
# durable Register four: Register, empty ACK, separate 2.01, its ACK), so
# this bounds what any server could do here.  No target: a reference.
set -uo pipefail
. "$(dirname "$0")/lib/common.sh"
bench_init loopback "$@"

secs=3
[ "$BENCH_QUICK" = 1 ] && secs=1
"$BENCH_BUILD/bench/udp_echo" "$secs" 64 64 >"$BENCH_TMP/echo.out" 2>&1 ||
    { cat "$BENCH_TMP/echo.out" >&2; bench_die "udp_echo failed"; }
"$BENCH_BUILD/bench/udp_echo" "$secs" 1 64 >"$BENCH_TMP/echo1.out" 2>&1 ||
    { cat "$BENCH_TMP/echo1.out" >&2; bench_die "udp_echo failed"; }
read_fig() {  # read_fig FILE "round trips/s" -- the number before the label
    grep -oE "[0-9.]+ $2" "$1" | head -1 | cut -d' ' -f1
}
rt=$(read_fig "$BENCH_TMP/echo.out" "round trips/s")
dg=$(read_fig "$BENCH_TMP/echo.out" "datagrams/s")
cpu=$(read_fig "$BENCH_TMP/echo.out" "us CPU per datagram")
rt1=$(read_fig "$BENCH_TMP/echo1.out" "round trips/s")

bench_record "Machine limit: loopback UDP echo (bench/loopback.sh)" \
    "round trips/s (64 in flight)|datagrams/s|CPU µs/datagram|round trips/s (1 in flight)" \
    "$rt|$dg|$cpu|$rt1" "-" "-" "$dg datagrams/s" \
    "(trivial UDP echo on loopback, 64 in flight: $rt round trips/s, $cpu µs CPU per datagram; 1 in flight: $rt1 round trips/s)"
