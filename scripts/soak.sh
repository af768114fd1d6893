#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/soak.sh -- the long fault runs (issue 10.3), not part of test.sh
#
# Runs tests/integration/test_faults.c at full size against a throwaway
# PostgreSQL cluster (its own directory and free loopback port, torn down
# on exit):
#   kill_server       lodestar-server killed -9 in the middle of a
#                     registration storm of LODESTAR_SOAK_CLIENTS (default
#                     20 000) lodestar-sim clients, each Sending every 0.5 s
#                     once registered; every registration and Send value the
#                     simulator saw acknowledged (--ack-log) must be in
#                     PostgreSQL
#   database_restart  PostgreSQL stopped and started under load: 5.03 with
#                     Max-Age while it is away, back within 5 s
#   held_lock         a session holds ACCESS EXCLUSIVE on registrations:
#                     queue bounded, 5.03 at once, RSS measured
#   kill_bootstrap    lodestar-bootstrap killed at a session's first
#                     BS-Write; the retry completes, only its key is active
# and prints every "figure:" line the tests wrote.  meson test (suite
# integration) runs the same cases at 2 000 clients.
#
# Environment:
#   LODESTAR_SOAK_CLIENTS  clients of the kill test (default 20000)
#   LODESTAR_SOAK_BUILD    build directory (default build-soak: ASan+UBSan,
#                          set up when missing); any configured build works
#   LODESTAR_SOAK_ROUNDS   how many times to run the cases (default 1)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
. scripts/lib/pg.sh

clients=${LODESTAR_SOAK_CLIENTS:-20000}
build=${LODESTAR_SOAK_BUILD:-build-soak}
rounds=${LODESTAR_SOAK_ROUNDS:-1}

work=$(mktemp -d /tmp/lodestar-soak.XXXXXX)
chmod 755 "$work"
cleanup() {
    pg_stop "$work/pg" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== build ($build)"
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Dtests=true \
        >"$work/setup.log" 2>&1 || { tail -30 "$work/setup.log"; exit 1; }
fi
ninja -C "$build" server/lodestar-server bootstrap/lodestar-bootstrap tools/lodestar-sim \
    tests/integration/test_faults >"$work/compile.log" 2>&1 ||
    { tail -40 "$work/compile.log"; exit 1; }

echo "== throwaway PostgreSQL"
port=$(pg_free_port)
pg_start "$work/pg" "$port" test || { echo "soak.sh: could not start PostgreSQL" >&2; exit 1; }
pg_create_db "$work/pg" "$port" lodestar_test || exit 1
user=$(pg_user) || exit 1
ctl=$(pg_ctl_cmd "$work/pg") || exit 1
export LODESTAR_TEST_PGURI="host=127.0.0.1 port=$port dbname=lodestar_test user=$user"
export LODESTAR_TEST_PGDATA="$work/pg/data"
export LODESTAR_TEST_PGCTL_CMD="$ctl"
export LODESTAR_TEST_PGLOG="$work/pg/log"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export LODESTAR_SERVER_BIN="$root/$build/server/lodestar-server"
export LODESTAR_BOOTSTRAP_BIN="$root/$build/bootstrap/lodestar-bootstrap"
export LODESTAR_SIM_BIN="$root/$build/tools/lodestar-sim"

# 20 000 simulated clients need as many sessions and a large UDP backlog.
ulimit -n 65536 2>/dev/null || true

failed=0
for round in $(seq 1 "$rounds"); do
    for case in kill_server database_restart held_lock kill_bootstrap; do
        echo "== round $round: $case ($clients clients in kill_server)"
        start=$(date +%s)
        if CK_RUN_CASE=$case FAULT_CLIENTS=$clients timeout 900 \
            "$build/tests/integration/test_faults" >"$work/$case.log" 2>&1; then
            status=passed
        else
            status=FAILED; failed=$((failed + 1))
            grep -vE '^ *(server|sim|bootstrap)[:|]' "$work/$case.log" | tail -40
        fi
        grep -h '^figure:' "$work/$case.log" | sed 's/^/   /'
        echo "   $case: $status in $(( $(date +%s) - start )) s"
    done
done
if [ "$failed" -gt 0 ]; then
    echo "soak: $failed case(s) failed"
    exit 1
fi
echo "soak: every case passed"
