#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/fuzz.sh -- build every libFuzzer target (clang, ASan + UBSan) and
# run each one for a given time or number of executions, keeping corpora.
#
# Usage: scripts/fuzz.sh [-t SECONDS | -n RUNS] [-b BUILD_DIR] [-j JOBS] [TARGET...]
#   -t SECONDS   run each target for SECONDS (libFuzzer -max_total_time)
#   -n RUNS      run each target for RUNS executions (libFuzzer -runs)
#                (default: -t 60)
#   -b DIR       build directory (default build-fuzz-sh; made with meson if absent)
#   -j JOBS      how many targets run at the same time (default 1)
#   TARGET       target names (link, tlv, ...); default every fuzz_* built
#
# Corpora live in tests/fuzz/corpus/<target>/.  Each run works on a scratch
# copy of it; new inputs are then merged back with -merge=1, so the stored
# corpus only grows by inputs that add coverage.  Crashes, leaks, timeouts
# and out-of-memory inputs land in tests/fuzz/findings/<target>/ (not
# merged into the corpus) and make the script exit 1.  SIGINT to a running
# fuzz_<target> stops that target early (its corpus is still merged).
#
# Per target it prints one line: executions, exec/s, seconds, coverage
# ("cov:" and "ft:" of libFuzzer's last status line), corpus size and
# findings.  Logs: $LODESTAR_FUZZ_LOGS (default /tmp/lodestar-fuzz-logs).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2

mode=time
amount=60
build=build-fuzz-sh
jobs=1
while getopts "t:n:b:j:h" opt; do
    case $opt in
    t) mode=time; amount=$OPTARG ;;
    n) mode=runs; amount=$OPTARG ;;
    b) build=$OPTARG ;;
    j) jobs=$OPTARG ;;
    h) sed -n '4,24p' "$0"; exit 0 ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
case $amount in
'' | *[!0-9]*) echo "fuzz.sh: -t/-n needs a number" >&2; exit 2 ;;
esac

logs=${LODESTAR_FUZZ_LOGS:-/tmp/lodestar-fuzz-logs}
mkdir -p "$logs"

if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang is required" >&2
    exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" -Dfuzz=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false >"$logs/setup.log" 2>&1 ||
        { tail -30 "$logs/setup.log"; exit 2; }
fi
meson compile -C "$build" >"$logs/compile.log" 2>&1 ||
    { tail -40 "$logs/compile.log"; exit 2; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for t in "$build"/tests/fuzz/fuzz_*; do
        [ -f "$t" ] && [ -x "$t" ] || continue   # not meson's *.p dirs
        targets+=("${t##*/fuzz_}")
    done
fi

# One target: fuzz a scratch copy of its corpus, merge back, summarise.
run_target() {
    local name=$1 bin="$build/tests/fuzz/fuzz_$1"
    local corpus="tests/fuzz/corpus/$name" scratch findings="tests/fuzz/findings/$name"
    local log="$logs/$name.log" limit start end status
    if [ ! -x "$bin" ]; then
        echo "fuzz_$name: no such target" >&2
        return 1
    fi
    mkdir -p "$corpus"
    scratch=$(mktemp -d "/tmp/lodestar-fuzz-$name.XXXXXX")
    cp "$corpus"/. "$scratch"/ -r 2>/dev/null
    if [ "$mode" = time ]; then limit=-max_total_time=$amount; else limit=-runs=$amount; fi
    mkdir -p "$findings"
    start=$(date +%s)
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
        "$bin" "$limit" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$findings/" "$scratch" >"$log" 2>&1
    status=$?
    end=$(date +%s)
    # Merge: only inputs that add coverage join the stored corpus.
    "$bin" -merge=1 "$corpus" "$scratch" >"$logs/$name.merge.log" 2>&1
    rm -rf "$scratch"
    rmdir "$findings" 2>/dev/null
    local runs cov ft found
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    [ -n "$runs" ] || runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | head -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    found=$(ls "$findings" 2>/dev/null | wc -l)
    local secs=$((end - start)) rate=0
    [ "$secs" -gt 0 ] && rate=$(( ${runs:-0} / secs ))
    printf 'fuzz_%-16s runs=%s exec_s=%s seconds=%s cov=%s ft=%s corpus=%s findings=%s status=%s\n' \
        "$name" "${runs:-?}" "$rate" "$secs" "${cov:-?}" "${ft:-?}" \
        "$(ls "$corpus" | wc -l)" "$found" "$status"
    # 72: libFuzzer's exit status after SIGINT (run interrupted), not a finding.
    if [ "$status" -eq 72 ] && [ "$found" -eq 0 ]; then
        echo "fuzz_$name: interrupted (SIGINT) after ${runs:-?} runs"
        return 0
    fi
    if [ "$status" -ne 0 ] || [ "$found" -gt 0 ]; then
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -10
        return 1
    fi
    return 0
}

failed=0
running=0
for t in "${targets[@]}"; do
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
[ "$failed" -eq 0 ] && echo "fuzz.sh: no findings" || echo "fuzz.sh: FINDINGS (see above)"
exit "$failed"
