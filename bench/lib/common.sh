# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/lib/common.sh -- what every bench/<scenario>.sh shares
#
# Source it from a scenario script, then call bench_init NAME "$@" first.
# It builds the release binaries when they are missing (BENCH_BUILD,
# default build-bench-rel/, never the ASan test build unless told), starts a
# throwaway PostgreSQL (scripts/lib/pg.sh, fsync on: every figure is
# durable) and the daemons on loopback with ports they pick themselves,
# samples the daemons' RSS (/proc/PID/status) and CPU time (/proc/PID/stat),
# Postgres's CPU and commit count (pg_stat_database.xact_commit), and
# appends one row per run to bench/RESULTS.md, one table per scenario.
# Everything it started is stopped on exit, failure and Ctrl-C included.
#
# Options every scenario takes (bench_init parses them):
#   --quick            a few seconds with tiny counts; the row goes to a
#                      temporary file, never to bench/RESULTS.md
#   --results FILE     append the row to FILE instead
#   --no-record        print the result line only
# Environment:
#   BENCH_BUILD        build directory (default build-bench-rel; set up with
#                      --buildtype=release -Dtests=false when missing)
#   BENCH_RESULTS      like --results
#   BENCH_SUMMARY      a file to which the result is also appended as one
#                      tab-separated line (run-all.sh's table)
#   BENCH_KEEP=1       keep the temporary directory (logs) after the run
#   BENCH_PIN=1        daemons on CPU 0, load generator on CPU 1 (taskset)
#   BENCH_PERF=1       perf record -g on the (first) measured daemon during
#                      the load; flat profile in the kept temporary directory
#   BENCH_LOG_LEVEL    the daemons' --log-level (default info, as deployed)
#   BENCH_PG_TEMPLATE  a stopped cluster directory (DIR/data) to copy instead
#                      of running initdb (run-all.sh sets it)

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$BENCH_ROOT/scripts/lib/pg.sh"

BENCH_NAME=""
BENCH_QUICK=0
BENCH_RECORD=1
BENCH_TMP=""
BENCH_PIDS=()          # processes to stop on exit (daemons, background load)
BENCH_CLK_TCK=$(getconf CLK_TCK)

bench_die() {
    echo "bench/$BENCH_NAME: $*" >&2
    exit 1
}

bench_log() {
    echo "bench/$BENCH_NAME: $*" >&2
}

# --- set-up and clean-up ---------------------------------------------------

bench_usage() {
    echo "usage: bench/$BENCH_NAME.sh [--quick] [--results FILE] [--no-record]" >&2
    exit 2
}

# bench_init NAME "$@" -- parse the common options, make the temporary
# directory, install the exit trap, note the machine's state at the start.
bench_init() {
    BENCH_NAME=$1
    shift
    BENCH_RESULTS=${BENCH_RESULTS:-}
    while [ $# -gt 0 ]; do
        case $1 in
            --quick) BENCH_QUICK=1 ;;
            --results) [ $# -ge 2 ] || bench_usage; BENCH_RESULTS=$2; shift ;;
            --results=*) BENCH_RESULTS=${1#--results=} ;;
            --no-record) BENCH_RECORD=0 ;;
            -h|--help) bench_usage ;;
            *) echo "bench/$BENCH_NAME: unknown option $1" >&2; bench_usage ;;
        esac
        shift
    done
    BENCH_TMP=$(mktemp -d "/tmp/bench-$BENCH_NAME.XXXXXX") || exit 1
    chmod 755 "$BENCH_TMP"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    if [ -z "$BENCH_RESULTS" ]; then
        if [ "$BENCH_QUICK" = 1 ]; then
            BENCH_RESULTS=$BENCH_TMP/RESULTS.md
        else
            BENCH_RESULTS=$BENCH_ROOT/bench/RESULTS.md
        fi
    fi
    BENCH_DATE=$(date -u '+%Y-%m-%d %H:%M')
    BENCH_LOAD=$(cut -d' ' -f1 /proc/loadavg)
    BENCH_MACHINE="$(nproc) cpu, $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' \
        /proc/meminfo), load $BENCH_LOAD"
    BENCH_COMMIT=$(bench_commit)
    BENCH_BUILD=${BENCH_BUILD:-$BENCH_ROOT/build-bench-rel}
    bench_build
}

# The commit checked out, read from .git without running git.
bench_commit() {
    local g=$BENCH_ROOT/.git head ref
    head=$(cat "$g/HEAD" 2>/dev/null) || { echo unknown; return; }
    case $head in
        "ref: "*)
            ref=${head#ref: }
            if [ -f "$g/$ref" ]; then
                head=$(cat "$g/$ref")
            else
                head=$(awk -v r="$ref" '$2 == r { print $1 }' "$g/packed-refs" 2>/dev/null)
            fi ;;
    esac
    [ -n "$head" ] && echo "${head:0:7}" || echo unknown
}

bench_cleanup() {
    local rc=$? pid
    trap - EXIT
    for pid in "${BENCH_PIDS[@]}"; do
        bench_stop_pid "$pid"
    done
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP/pg" ]; then
        pg_stop "$BENCH_TMP/pg" >/dev/null 2>&1
    fi
    if [ -n "$BENCH_TMP" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "$BENCH_QUICK" = 0 ]; }; then
            echo "bench/$BENCH_NAME: logs kept in $BENCH_TMP" >&2
        else
            rm -rf "$BENCH_TMP"
        fi
    fi
    exit "$rc"
}

# bench_stop_pid PID -- SIGTERM, wait up to 10 s, then SIGKILL.
bench_stop_pid() {
    local pid=$1 _
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# bench_forget_pid PID -- a stopped process need not be stopped again.
bench_forget_pid() {
    local p keep=()
    for p in "${BENCH_PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    BENCH_PIDS=("${keep[@]}")
}

# bench_build -- the binaries the scenarios run, built when missing.
bench_build() {
    local t missing=0
    for t in server/lodestar-server bootstrap/lodestar-bootstrap tools/lodestar-sim \
             bench/dtls_storm bench/bootstrap_storm bench/devops_bench bench/udp_echo; do
        [ -x "$BENCH_BUILD/$t" ] || missing=1
    done
    [ "$missing" = 0 ] && return 0
    bench_log "building release binaries in $BENCH_BUILD"
    if [ ! -f "$BENCH_BUILD/build.ninja" ]; then
        meson setup "$BENCH_BUILD" "$BENCH_ROOT" --buildtype=release -Dtests=false \
            >"$BENCH_TMP/setup.log" 2>&1 || { tail -20 "$BENCH_TMP/setup.log" >&2; bench_die "meson setup failed"; }
    fi
    ninja -C "$BENCH_BUILD" >"$BENCH_TMP/build.log" 2>&1 ||
        { tail -30 "$BENCH_TMP/build.log" >&2; bench_die "build failed"; }
}

# bench_pin CPU -- the taskset prefix when BENCH_PIN=1, else nothing.
bench_pin() {
    [ "${BENCH_PIN:-0}" = 1 ] && echo "taskset -c $1"
}

# --- PostgreSQL --------------------------------------------------------------

# bench_pg_start -- a fresh cluster (fsync and synchronous_commit on) with
# database "bench"; sets BENCH_PGDIR, BENCH_PGURI.
bench_pg_start() {
    BENCH_PGDIR=$BENCH_TMP/pg
    local port
    port=$(pg_free_port) || bench_die "no free port"
    # run-all.sh makes one empty cluster and each scenario starts from a
    # copy of it (initdb costs seconds on a busy 2-core machine).
    if [ -n "${BENCH_PG_TEMPLATE:-}" ] && [ -f "$BENCH_PG_TEMPLATE/data/PG_VERSION" ]; then
        mkdir -p "$BENCH_PGDIR" && cp -a "$BENCH_PG_TEMPLATE/data" "$BENCH_PGDIR/data" ||
            bench_die "cannot copy $BENCH_PG_TEMPLATE"
    fi
    pg_start "$BENCH_PGDIR" "$port" run bench >"$BENCH_TMP/pg-start.log" 2>&1 ||
        { cat "$BENCH_TMP/pg-start.log" >&2; bench_die "PostgreSQL did not start"; }
    BENCH_PGURI=$(pg_conninfo "$BENCH_PGDIR" bench) || bench_die "no conninfo"
    export BENCH_PGURI
}

# bench_sql SQL -- one value from the bench database.  Each call is a
# committed transaction of its own: counted (in a file, since callers run
# it in subshells) so that bench_mark_commits can leave them out.
bench_sql() {
    printf . >>"$BENCH_TMP/sql-calls"
    "$PG_BIN/psql" -XqtA -d "$BENCH_PGURI" -c "$1"
}

bench_sql_calls_() {
    stat -c %s "$BENCH_TMP/sql-calls" 2>/dev/null || echo 0
}

bench_pg_commits() {
    bench_sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'"
}

# CPU ticks of the whole cluster: the postmaster, its live children, and
# the children it has reaped (cutime/cstime), so backends that ended
# during the run still count.
bench_pg_ticks() {
    local pm t=0 p
    pm=$(head -1 "$BENCH_PGDIR/data/postmaster.pid" 2>/dev/null) || { echo 0; return; }
    t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat" 2>/dev/null || echo 0)
    for p in $(ps -o pid= --ppid "$pm"); do
        t=$((t + $(bench_ticks "$p")))
    done
    echo "$t"
}

# --- processes -------------------------------------------------------------

# bench_ticks PID -- user + system CPU ticks of a live process (0 if gone).
bench_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# bench_rss_kb PID [VmRSS|VmHWM]
bench_rss_kb() {
    awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# bench_wait_log FILE REGEX SECONDS PID -- poll FILE until a line matches,
# with a deadline; fails when PID dies first.
bench_wait_log() {
    local file=$1 re=$2 secs=$3 pid=$4 n
    for ((n = 0; n < secs * 20; n++)); do
        grep -qE "$re" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# bench_listen_addr FILE PROTO -- the address a daemon logged for PROTO.
bench_listen_addr() {
    grep -E "listening.*proto=$2 " "$1" | head -1 | sed -E 's/.*addr=([^ ]+).*/\1/'
}

bench_secrets_() {
    [ -n "${LODESTAR_MASTER_KEY:-}" ] && [ -n "${BENCH_TOKEN:-}" ] && return 0
    LODESTAR_MASTER_KEY=$(openssl rand -hex 32)
    BENCH_TOKEN=$(openssl rand -hex 24)
    export LODESTAR_MASTER_KEY
}

# bench_server_start [EXTRA FLAGS] -- lodestar-server on loopback, every
# port chosen by the daemon (logged).  Sets BENCH_SERVER_PID, BENCH_COAP,
# BENCH_COAPS, BENCH_HTTP, BENCH_TOKEN (an admin API token).
bench_server_start() {
    bench_secrets_
    local log=$BENCH_TMP/server.log
    : >"$log"
    # The addresses come from the "listening" lines, logged at info: a
    # BENCH_LOG_LEVEL above info makes the start-up wait fail.
    LODESTAR_ADMIN_TOKEN=$BENCH_TOKEN \
        $(bench_pin 0) "$BENCH_BUILD/server/lodestar-server" --db "$BENCH_PGURI" \
        --coap 127.0.0.1:0 --coaps 127.0.0.1:0 --http 127.0.0.1:0 \
        --log-level "${BENCH_LOG_LEVEL:-info}" "$@" >>"$log" 2>&1 &
    BENCH_SERVER_PID=$!
    BENCH_PIDS+=("$BENCH_SERVER_PID")
    local p
    for p in http coap coaps; do
        bench_wait_log "$log" "listening.*proto=$p " 60 "$BENCH_SERVER_PID" ||
            { tail -20 "$log" >&2; bench_die "lodestar-server did not start (log level must be info)"; }
    done
    BENCH_COAP=$(bench_listen_addr "$log" coap)
    BENCH_COAPS=$(bench_listen_addr "$log" coaps)
    BENCH_HTTP=$(bench_listen_addr "$log" http)
    [ -n "$BENCH_COAP" ] && [ -n "$BENCH_HTTP" ] || bench_die "no listening addresses in $log"
    local n
    for ((n = 0; n < 600; n++)); do
        curl -fsS "http://$BENCH_HTTP/healthz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    bench_die "lodestar-server does not answer /healthz"
}

# bench_server_wait_credentials -- the credential watcher's first load done.
bench_server_wait_credentials() {
    bench_wait_log "$BENCH_TMP/server.log" 'credentials_loaded' 60 "$BENCH_SERVER_PID" ||
        bench_die "lodestar-server never logged credentials_loaded"
}

# bench_bootstrap_start [EXTRA FLAGS] -- lodestar-bootstrap likewise.  Sets
# BENCH_BS_PID, BENCH_BS_COAP, BENCH_BS_COAPS, BENCH_BS_METRICS.
bench_bootstrap_start() {
    bench_secrets_
    local log=$BENCH_TMP/bootstrap.log
    : >"$log"
    $(bench_pin 0) "$BENCH_BUILD/bootstrap/lodestar-bootstrap" --db "$BENCH_PGURI" \
        --coap 127.0.0.1:0 --coaps 127.0.0.1:0 --metrics 127.0.0.1:0 \
        --log-level "${BENCH_LOG_LEVEL:-info}" "$@" >>"$log" 2>&1 &
    BENCH_BS_PID=$!
    BENCH_PIDS+=("$BENCH_BS_PID")
    local p
    for p in metrics coap coaps; do
        bench_wait_log "$log" "listening.*proto=$p " 60 "$BENCH_BS_PID" ||
            { tail -20 "$log" >&2; bench_die "lodestar-bootstrap did not start"; }
    done
    BENCH_BS_COAP=$(bench_listen_addr "$log" coap)
    BENCH_BS_COAPS=$(bench_listen_addr "$log" coaps)
    BENCH_BS_METRICS=$(bench_listen_addr "$log" metrics)
}

# bench_api METHOD PATH [BODY] -- an admin call to lodestar-server's API;
# the answer on stdout, non-zero on an HTTP error.
bench_api() {
    local args=(-fsS -X "$1" -H "Authorization: Bearer $BENCH_TOKEN")
    [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    curl "${args[@]}" "http://$BENCH_HTTP$2"
}

# bench_factory_csv COUNT PREFIX URI server|bootstrap OUT -- a factory
# batch of COUNT devices PREFIX-1 .. PREFIX-COUNT with a PSK account of
# that kind at URI (POST /api/factory/batches), its CSV export in OUT.
bench_factory_csv() {
    local count=$1 prefix=$2 uri=$3 kind=$4 out=$5 account id
    if [ "$kind" = server ]; then
        account="\"server\": {\"uri\": \"$uri\", \"ssid\": 101, \"security\": \"psk\"}"
    else
        account="\"bootstrap\": {\"uri\": \"$uri\", \"security\": \"psk\"}"
    fi
    id=$(bench_api POST /api/factory/batches \
        "{\"count\": $count, \"prefix\": \"$prefix-\", $account}" >"$BENCH_TMP/batch.json" &&
        bench_json "$BENCH_TMP/batch.json" id) || return 1
    [ -n "$id" ] || return 1
    bench_api GET "/api/factory/batches/$id?format=csv" >"$out"
}

# bench_daemon_stop PID -- stop one daemon now (its backends then flush
# their statistics, so xact_commit is complete afterwards).
bench_daemon_stop() {
    bench_stop_pid "$1"
    bench_forget_pid "$1"
}

# --- measuring -------------------------------------------------------------

# bench_mark_begin PID... -- CPU ticks of the given daemons and of
# Postgres, the commit count and the time, before the load.
bench_mark_begin() {
    local p
    BENCH_MARK_PIDS=("$@")
    BENCH_MARK_TICKS=()
    for p in "$@"; do BENCH_MARK_TICKS+=("$(bench_ticks "$p")"); done
    BENCH_MARK_PG=$(bench_pg_ticks)
    BENCH_MARK_COMMITS=$(bench_pg_commits)
    BENCH_MARK_SQL=$(bench_sql_calls_)
    if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null; then
        perf record -F 999 -g -p "$1" -o "$BENCH_TMP/perf.data" >"$BENCH_TMP/perf.log" 2>&1 &
        BENCH_PERF_PID=$!
        BENCH_PIDS+=("$BENCH_PERF_PID")
    fi
    BENCH_MARK_T0=$(date +%s.%N)
}

# With BENCH_PERF=1: stop perf, write the flat profile (self time by
# library and symbol) to $BENCH_TMP/perf.txt and keep the directory.
bench_perf_end_() {
    [ -n "${BENCH_PERF_PID:-}" ] || return 0
    kill -INT "$BENCH_PERF_PID" 2>/dev/null
    wait "$BENCH_PERF_PID" 2>/dev/null
    bench_forget_pid "$BENCH_PERF_PID"
    BENCH_PERF_PID=""
    perf report -i "$BENCH_TMP/perf.data" --no-children --stdio --sort dso,symbol \
        2>/dev/null | grep -v '^#' | grep -E '^ +[0-9]' | head -40 >"$BENCH_TMP/perf.txt"
    BENCH_KEEP=1
    bench_log "profile of PID ${BENCH_MARK_PIDS[0]}: $BENCH_TMP/perf.txt (perf.data next to it)"
}

# bench_mark_end -- after the load (daemons still running): sets
# BENCH_CPU_S (one value per daemon given to bench_mark_begin, seconds),
# BENCH_PG_CPU_S, BENCH_WALL_S.  Commits: bench_mark_commits, after the
# daemons stopped.
bench_mark_end() {
    local i t
    BENCH_WALL_S=$(awk -v a="$BENCH_MARK_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    BENCH_CPU_S=()
    for i in "${!BENCH_MARK_PIDS[@]}"; do
        t=$(bench_ticks "${BENCH_MARK_PIDS[$i]}")
        BENCH_CPU_S+=("$(bench_div "$((t - BENCH_MARK_TICKS[i]))" "$BENCH_CLK_TCK" 2)")
    done
    t=$(bench_pg_ticks)
    BENCH_PG_CPU_S=$(bench_div "$((t - BENCH_MARK_PG))" "$BENCH_CLK_TCK" 2)
    bench_perf_end_
}

# bench_mark_commits -- BENCH_COMMITS: transactions committed in the bench
# database since bench_mark_begin, this script's own queries left out.
# Call after the daemons stopped: a backend reports its counts when it has
# been idle for a while or when it exits, so this waits (with a deadline)
# until no other backend is connected to the database, then reads.
bench_mark_commits() {
    local n others now
    for ((n = 0; n < 100; n++)); do
        others=$(bench_sql "SELECT count(*) FROM pg_stat_activity
                            WHERE datname = 'bench' AND pid <> pg_backend_pid()")
        [ "$others" = 0 ] && break
        sleep 0.1
    done
    local calls=$(($(bench_sql_calls_) - BENCH_MARK_SQL))
    now=$(bench_pg_commits)
    # the query in bench_mark_begin counts too (its commit is reported after it)
    BENCH_COMMITS=$((now - BENCH_MARK_COMMITS - calls - 1))
    [ "$BENCH_COMMITS" -ge 0 ] || BENCH_COMMITS=0
}

# bench_run_load OUT CMD... -- run the load generator (foreground), stdout
# to OUT, stderr to OUT.err; sets BENCH_LOAD_RC, BENCH_LOAD_CPU_S (its
# user + system CPU, children included) and BENCH_LOAD_WALL_S.
bench_run_load() {
    local out=$1 t0 t1
    shift
    t0=$(date +%s.%N)
    (
        # shellcheck disable=SC2046
        $(bench_pin 1) "$@" >"$out" 2>"$out.err"
        rc=$?
        times >"$out.times"
        exit $rc
    )
    BENCH_LOAD_RC=$?
    t1=$(date +%s.%N)
    BENCH_LOAD_WALL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    BENCH_LOAD_CPU_S=$(bench_times_children_ "$out.times")
}

# The second line of `times` (children): "XmY.YYYs XmY.YYYs".
bench_times_children_() {
    sed -n 2p "$1" 2>/dev/null | awk '{
        s = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2] }
        printf "%.2f", s }'
}

# --- arithmetic and formatting ---------------------------------------------

# bench_div A B [DECIMALS]
bench_div() {
    awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN { if (b == 0) print "0"; else printf "%.*f", d, a / b }'
}

# bench_kv FILE KEY -- VALUE of "KEY=VALUE" in a line of FILE (the bench
# programs' output).
bench_kv() {
    tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k { v = $2 } END { print v }'
}

# bench_round X [DECIMALS]
bench_round() {
    awk -v x="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, x }'
}

# bench_per_op_us CPU_S OPS -- microseconds of CPU per operation.
bench_per_op_us() {
    awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", c * 1e6 / n; else print "-" }'
}

# bench_json FILE PATH [DEFAULT] -- the value at a dotted PATH
# ("ops.register.ok") of a JSON file, DEFAULT when missing (python3, so
# that nothing beyond scripts/run.sh's packages is needed).
bench_json() {
    python3 - "$1" "$2" "${3-}" <<'PY' 2>/dev/null || echo "${3-}"
import json, sys
path, value = sys.argv[2], None
try:
    with open(sys.argv[1]) as f:
        value = json.load(f)
    for key in path.split("."):
        value = value[key]
except (OSError, ValueError, KeyError, TypeError):
    value = None
print(sys.argv[3] if value is None else value)
PY
}

# bench_met VALUE OP TARGET -- "met" or "MISSED" (OP: ge or le).
bench_met() {
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
        ok = (op == "ge") ? (v + 0 >= t + 0) : (v + 0 <= t + 0)
        print (ok ? "met" : "MISSED") }'
}

# bench_share CPU_S WALL_S -- CPU seconds over wall seconds, in % of one core.
bench_share() {
    awk -v c="$1" -v w="$2" 'BEGIN { if (w > 0) printf "%.0f %%", 100 * c / w; else print "-" }'
}

# --- results ---------------------------------------------------------------

# bench_record TITLE HEADERS VALUES TARGET MET FIGURE DETAILS
#   TITLE    the scenario's table in RESULTS.md ("## TITLE")
#   HEADERS  the figure columns, "|"-separated ("reg/s|p50 ms|p99 ms")
#   VALUES   the run's values, "|"-separated, same count
#   TARGET   e.g. ">= 20 000 reg/s"; MET "met" or "MISSED"
#   FIGURE   the headline figure with its unit; DETAILS a short free text
# Appends the row (date, commit, machine, values, target, met) under the
# scenario's table in BENCH_RESULTS (the table is created when missing),
# prints the one result line, and appends it to BENCH_SUMMARY when set.
bench_record() {
    local title=$1 headers=$2 values=$3 target=$4 met=$5 figure=$6 details=$7
    local hdr row sep
    hdr="| date (UTC) | commit | machine | ${headers//|/ | } | target | met? |"
    sep=$(echo "$hdr" | sed -E 's/[^|]+/---/g')
    row="| $BENCH_DATE | $BENCH_COMMIT | $BENCH_MACHINE | ${values//|/ | } | $target | $met |"
    [ "$BENCH_QUICK" = 1 ] && row="| $BENCH_DATE (quick) | ${row#| $BENCH_DATE | }"
    if [ "$BENCH_RECORD" = 1 ]; then
        bench_results_append_ "$BENCH_RESULTS" "## $title" "$hdr" "$sep" "$row" ||
            bench_log "could not write $BENCH_RESULTS"
    fi
    echo "$BENCH_NAME: $figure (target $target: $met) $details"
    if [ -n "${BENCH_SUMMARY:-}" ]; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$BENCH_NAME" "$figure" "$target" "$met" "$details" \
            >>"$BENCH_SUMMARY"
    fi
}

# bench_results_append_ FILE HEADING HDR SEP ROW -- ROW goes after the last
# table line of HEADING's section; a missing section (or file) is added at
# the end with its table header.  A section whose header differs (the
# columns changed) gets a new table under it.
bench_results_append_() {
    local file=$1 heading=$2 hdr=$3 sep=$4 row=$5 tmp
    if [ ! -f "$file" ]; then
        printf '# Lodestar benchmark results\n\nRows appended by bench/*.sh (bench/README.md).\n' >"$file"
    fi
    tmp=$(mktemp "$file.XXXXXX") || return 1
    # Two passes over the file: the first finds the section and the last
    # line of its table with this header, the second prints with the row.
    awk -v heading="$heading" -v hdr="$hdr" -v sep="$sep" -v row="$row" '
        NR == FNR {
            if (/^## /) { if (insec) sec_end = FNR - 1; insec = ($0 == heading) ? 1 : 0
                          if (insec && !sec_start) sec_start = FNR; else if (insec) insec = 0 }
            if (insec && $0 == hdr) intable = 1
            else if (intable && !/^\|/) intable = 0
            if (insec && intable) last_row = FNR
            blank[FNR] = ($0 ~ /^[ \t]*$/)
            nlines = FNR
            next
        }
        FNR == 1 { if (sec_start && !sec_end) sec_end = nlines
                   while (sec_end > sec_start && blank[sec_end]) sec_end-- }
        { print }
        last_row && FNR == last_row { print row }
        !last_row && sec_start && FNR == sec_end { print ""; print hdr; print sep; print row }
        END { if (!sec_start) { print ""; print heading; print ""; print hdr; print sep; print row } }
    ' "$file" "$file" >"$tmp" && chmod 644 "$tmp" && mv "$tmp" "$file"
}
