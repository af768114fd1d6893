#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/test.sh -- the whole test suite, as CI runs it
#
# Installs what is missing, builds with ASan+UBSan in build-test/, starts a
# throwaway PostgreSQL cluster in a temporary directory on a free loopback
# port (never the machine's default cluster), runs every meson test (unit,
# db, integration, e2e: the dashboard in headless chromium), runs each
# libFuzzer target briefly when clang is there, validates
# docker-compose.yml, tears everything down even on failure, and
# prints `N passed, N failed`.  Exit status is non-zero on any failure.
#
# Environment: LODESTAR_FUZZ_SECONDS (default 20; 0 skips fuzzing).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/deps.sh
. scripts/lib/pg.sh
. scripts/lib/ui.sh

fuzz_seconds=${LODESTAR_FUZZ_SECONDS:-20}
build=build-test

# Two runs on one checkout would share build-test/ and its logs: wait.
exec 9>"$root/.test.lock"
flock 9

deps_install $LODESTAR_BUILD_PACKAGES $LODESTAR_TEST_PACKAGES ||
    { echo "test.sh: could not install packages" >&2; exit 1; }

work=$(mktemp -d /tmp/lodestar-test.XXXXXX)
chmod 755 "$work"
cleanup() {
    pg_stop "$work/pg" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
failures=()
record() {  # record NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); failures+=("$1"); fi
}

echo "== build ($build, ASan+UBSan)"
if [ ! -f "$build/build.ninja" ]; then
    rm -rf "$build"
    meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false >"$work/setup.log" 2>&1 ||
        { tail -30 "$work/setup.log"; rm -rf "$build"; echo "0 passed, 1 failed"; exit 1; }
fi
meson compile -C "$build" >"$work/compile.log" 2>&1 ||
    { tail -40 "$work/compile.log"; echo "0 passed, 1 failed"; exit 1; }

# The npm test client (tests/npm, lwm2m-node-lib): `npm ci` when
# node_modules is missing or was installed from another lock.  A failed
# install counts as a failure, or the npm_client test would only skip.
echo "== npm test client (tests/npm)"
if command -v npm >/dev/null && command -v node >/dev/null; then
    if ! cmp -s tests/npm/package-lock.json tests/npm/node_modules/.lodestar-lock; then
        if (cd tests/npm && npm ci --no-audit --no-fund) >"$work/npm.log" 2>&1; then
            cp tests/npm/package-lock.json tests/npm/node_modules/.lodestar-lock
        else
            tail -20 "$work/npm.log"; record "npm ci (tests/npm)" 1
        fi
    fi
else
    echo "npm or node not found: the npm_client test will be skipped"
fi

# The dashboard's libraries (static/vendor/) and the e2e driver
# (tests/e2e/node_modules, playwright-core): without them the e2e suite
# would only skip, so a failed install counts as a failure.
echo "== dashboard libraries (static/) and e2e driver (tests/e2e)"
if command -v npm >/dev/null && command -v node >/dev/null; then
    ui_vendor_install "$root" "$root/$build/npm-static" >"$work/ui.log" 2>&1 ||
        { tail -20 "$work/ui.log"; record "npm ci (static)" 1; }
    if ! cmp -s tests/e2e/package-lock.json tests/e2e/node_modules/.lodestar-lock; then
        if (cd tests/e2e && npm ci --no-audit --no-fund) >"$work/npm-e2e.log" 2>&1; then
            cp tests/e2e/package-lock.json tests/e2e/node_modules/.lodestar-lock
        else
            tail -20 "$work/npm-e2e.log"; record "npm ci (tests/e2e)" 1
        fi
    fi
else
    echo "npm or node not found: the e2e suite will be skipped"
fi

echo "== throwaway PostgreSQL"
port=$(pg_free_port)
pg_start "$work/pg" "$port" test || { echo "test.sh: could not start PostgreSQL" >&2; exit 1; }
pg_create_db "$work/pg" "$port" lodestar_test || exit 1
export LODESTAR_TEST_PGURI="host=127.0.0.1 port=$port dbname=lodestar_test user=$(pg_user)"
export LODESTAR_TEST_PGDATA="$work/pg/data"
export LODESTAR_TEST_PGCTL_CMD="$(pg_ctl_cmd "$work/pg")"
export LODESTAR_TEST_PGLOG="$work/pg/log"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

echo "== meson test"
meson test -C "$build" --print-errorlogs --num-processes 2 >"$work/meson-test.log" 2>&1
meson_status=$?
grep -E '^ *[0-9]+/[0-9]+ ' "$work/meson-test.log"
# Count individual Check cases where a test binary reports them, else the
# binary itself counts as one test.
counts=$(python3 scripts/lib/count_tests.py "$build/meson-logs/testlog.json" "$work/failed-tests")
read -r p f skipped <<<"$counts"
passed=$((passed + p)); failed=$((failed + f))
if [ "$meson_status" -ne 0 ]; then
    failures+=("meson test (see $build/meson-logs/testlog.txt)")
    while IFS= read -r line; do failures+=("  $line"); done <"$work/failed-tests"
    [ "$f" -gt 0 ] || { failed=$((failed + 1)); }
    sed -n '/^=* [0-9]*\/[0-9]* =*$/,$p' "$work/meson-test.log" | tail -80
    cp "$build/meson-logs/testlog.txt" "$root/$build/last-failure.txt" 2>/dev/null
fi

if [ "$fuzz_seconds" -gt 0 ] && command -v clang >/dev/null; then
    echo "== fuzz (${fuzz_seconds}s per target)"
    if [ ! -f build-fuzz/build.ninja ]; then
        rm -rf build-fuzz
        CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false \
            -Db_sanitize=address,undefined -Db_lundef=false >"$work/fuzz-setup.log" 2>&1 ||
            tail -30 "$work/fuzz-setup.log"
    fi
    if meson compile -C build-fuzz >"$work/fuzz-compile.log" 2>&1; then
        for target in build-fuzz/tests/fuzz/fuzz_*; do
            [ -f "$target" ] && [ -x "$target" ] || continue   # not meson's *.p dirs
            name=${target##*/fuzz_}
            corpus="$work/corpus-$name"
            mkdir -p "$corpus"
            cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
            if "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix="$work/crash-$name-" "$corpus" >"$work/fuzz-$name.log" 2>&1; then
                echo "fuzz_$name: ok ($(grep -o 'Done [0-9]* runs' "$work/fuzz-$name.log"))"
                record "fuzz_$name" 0
            else
                echo "fuzz_$name: FAILED"; tail -30 "$work/fuzz-$name.log"
                record "fuzz_$name" 1
            fi
        done
    else
        tail -30 "$work/fuzz-compile.log"; record "fuzz build" 1
    fi
fi

# bench/ smoke: every scenario with tiny counts (a few seconds each), on
# the binaries just built; its rows go to a temporary file, never to
# bench/RESULTS.md.
echo "== bench quick (bench/run-all.sh --quick)"
BENCH_BUILD="$root/$build" bench/run-all.sh --quick >"$work/bench.log" 2>&1
bench_status=$?
[ "$bench_status" -eq 0 ] && tail -3 "$work/bench.log" || tail -40 "$work/bench.log"
record "bench quick" $bench_status

echo "== docker-compose config"
if command -v docker-compose >/dev/null; then
    LODESTAR_MASTER_KEY=0000000000000000000000000000000000000000000000000000000000000000 \
        docker-compose -f docker-compose.yml config -q
    record "docker-compose config" $?
fi

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
