#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/run-all.sh -- every benchmark scenario, one after the other, and a
# table of the figures against their targets
#
#   bench/run-all.sh [--quick] [--results FILE]
#
# Runs bench/loopback.sh (the machine's own UDP limit, first and last, so
# that a busy machine shows), registration, dtls_registration, bootstrap,
# steady_state, notify and rest_read.  Each appends its row to
# bench/RESULTS.md (--quick: to a temporary file, never RESULTS.md; with
# --results FILE: to FILE); this script adds a row to the "Full runs"
# table (wall time, targets met).  A scenario that fails is reported and
# the others still run; the exit status is non-zero when one failed (a
# missed target is not a failure).  Sized to finish within 15 minutes on
# a 2-core machine: see bench/README.md.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)

quick=()
results=""
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=(--quick) ;;
        --results) [ $# -ge 2 ] || { echo "usage: bench/run-all.sh [--quick] [--results FILE]" >&2; exit 2; }
                   results=$2; shift ;;
        --results=*) results=${1#--results=} ;;
        *) echo "usage: bench/run-all.sh [--quick] [--results FILE]" >&2; exit 2 ;;
    esac
    shift
done

work=$(mktemp -d /tmp/bench-run-all.XXXXXX) || exit 1
chmod 755 "$work"    # the template cluster's owner must reach it (pg.sh, as root)
trap 'pg_stop "$work/pg-template" >/dev/null 2>&1; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
if [ -z "$results" ]; then
    if [ ${#quick[@]} -gt 0 ]; then results=$work/RESULTS.md; else results=$root/bench/RESULTS.md; fi
fi
export BENCH_SUMMARY=$work/summary
: >"$BENCH_SUMMARY"
. bench/lib/common.sh
BENCH_NAME=run-all
BENCH_TMP=$work
BENCH_QUICK=$([ ${#quick[@]} -gt 0 ] && echo 1 || echo 0)
BENCH_RESULTS=$results
BENCH_RECORD=1
BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M')
BENCH_LOAD=$(cut -d' ' -f1 /proc/loadavg)
BENCH_MACHINE="$(nproc) cpu, $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load $BENCH_LOAD"
BENCH_COMMIT=$(bench_commit)
BENCH_BUILD=${BENCH_BUILD:-$root/build-bench-rel}
export BENCH_BUILD
bench_build

t0=$(date +%s)
# One empty cluster, copied by every scenario (bench_pg_start).
pg_start "$work/pg-template" "$(pg_free_port)" run bench >"$work/pg.log" 2>&1 &&
    pg_stop "$work/pg-template" && export BENCH_PG_TEMPLATE=$work/pg-template ||
    { cat "$work/pg.log" >&2; echo "run-all: no template cluster, each scenario runs initdb" >&2; }
scenarios=(loopback registration dtls_registration bootstrap steady_state notify rest_read loopback)
[ "$BENCH_QUICK" = 1 ] && unset 'scenarios[7]'
failed=()
for s in "${scenarios[@]}"; do
    ts=$(date +%s)
    if ! bench/$s.sh "${quick[@]}" --results "$results"; then
        failed+=("$s")
        printf '%s\t%s\t%s\t%s\t%s\n' "$s" "FAILED" "" "FAILED" "(see the output above)" >>"$BENCH_SUMMARY"
    fi
    echo "   ($s: $(($(date +%s) - ts)) s)"
done
wall=$(($(date +%s) - t0))
load_end=$(cut -d' ' -f1 /proc/loadavg)

met=$(awk -F'\t' '$4 == "met"' "$BENCH_SUMMARY" | wc -l)
missed=$(awk -F'\t' '$4 == "MISSED"' "$BENCH_SUMMARY" | wc -l)
echo
printf '%-18s | %-26s | %-24s | %s\n' scenario figure target met?
printf '%s\n' "-------------------+----------------------------+--------------------------+-------"
awk -F'\t' '{ printf "%-18s | %-26s | %-24s | %s\n", $1, $2, $3, $4 }' "$BENCH_SUMMARY"
echo
echo "wall time ${wall} s; load average ${BENCH_LOAD} at the start, $load_end at the end;" \
     "$met met, $missed missed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ ${#quick[@]} -gt 0 ] || echo "rows appended to $results"

bench_results_append_ "$results" "## Full runs (bench/run-all.sh)" \
    "| date (UTC) | commit | machine | wall time | load at end | targets met | missed | failed scenarios |" \
    "|---|---|---|---|---|---|---|---|" \
    "| $BENCH_DATE$([ "$BENCH_QUICK" = 1 ] && echo ' (quick)') | $BENCH_COMMIT | $BENCH_MACHINE | ${wall} s | $load_end | $met | $missed | ${failed[*]:-none} |"
[ ${#failed[@]} -eq 0 ]
