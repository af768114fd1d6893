#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/run.sh -- bring Lodestar up on this machine (or `run.sh stop`)
#
# Installs the Debian packages that are missing, builds a release build in
# build/, starts a private PostgreSQL cluster under .lodestar/pg (run by an
# unprivileged user when called as root: initdb refuses root; in
# /var/lib/lodestar/ when that user cannot reach the checkout), creates the
# master key and an admin API token once (.lodestar/*, mode 0600), starts
# lodestar-server and lodestar-bootstrap in the background with their logs in
# .lodestar/log/, waits until they answer, and prints the dashboard URL and
# the token.  Running it again while all is up changes nothing.
#
# Environment: LODESTAR_HTTP (default 127.0.0.1:8080), LODESTAR_PG_PORT
# (default 55432), LODESTAR_SERVER_FLAGS and LODESTAR_BOOTSTRAP_FLAGS (extra
# flags for one daemon, e.g. "--coap 127.0.0.1:15683": LODESTAR_COAP would
# apply to both), LODESTAR_NO_BUILD=1 (no package install, no build: use
# build/ as it is; the quick-start test), and every LODESTAR_* daemon
# variable (docs: README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. scripts/lib/deps.sh
. scripts/lib/pg.sh
. scripts/lib/ui.sh

state="$root/.lodestar"
http=${LODESTAR_HTTP:-127.0.0.1:8080}
pg_port=${LODESTAR_PG_PORT:-55432}

# The cluster's directory: .lodestar/pg, unless run.sh had to put it
# elsewhere (.lodestar/pgdir says where; see choose_pg_dir).
pg_dir() {
    if [ -f "$state/pgdir" ]; then cat "$state/pgdir"; else echo "$state/pg"; fi
}

# As root the cluster runs as an unprivileged user, which cannot reach a
# checkout under a private directory (/root is 0700).  Rather than open
# that directory to everyone, the cluster then lives in
# /var/lib/lodestar/pg-<hash of the checkout path>, remembered in
# .lodestar/pgdir.
choose_pg_dir() {
    [ "$(id -u)" = 0 ] && [ ! -f "$state/pgdir" ] || return 0
    pg_ensure_os_user_ || return 1
    runuser -u "$PG_OS_USER" -- test -x "$state" && return 0
    local dir
    dir="/var/lib/lodestar/pg-$(printf '%s' "$root" | sha256sum | cut -c1-12)"
    mkdir -p /var/lib/lodestar && chmod 755 /var/lib/lodestar || return 1
    echo "$dir" >"$state/pgdir"
    echo "run.sh: user $PG_OS_USER cannot reach $state, so the cluster lives in $dir"
}

running() {  # running NAME -- true when .lodestar/NAME.pid names a live process
    local pid
    pid=$(cat "$state/$1.pid" 2>/dev/null) || return 1
    kill -0 "$pid" 2>/dev/null
}

stop_daemon() {
    local pid
    running "$1" || { rm -f "$state/$1.pid"; return 0; }
    pid=$(cat "$state/$1.pid")
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$state/$1.pid"
    echo "stopped $1"
}

if [ "${1:-}" = "stop" ] || [ "${1:-}" = "--stop" ]; then
    stop_daemon lodestar-server
    stop_daemon lodestar-bootstrap
    pgdir=$(pg_dir)
    [ -d "$pgdir" ] && pg_stop "$pgdir" && echo "stopped postgresql"
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: scripts/run.sh [stop|--stop]" >&2; exit 2; }

if [ "${LODESTAR_NO_BUILD:-}" != 1 ]; then
    deps_install $LODESTAR_BUILD_PACKAGES

    echo "building (build/)..."
    buildlog=$(mktemp)
    if [ ! -f build/build.ninja ]; then
        rm -rf build
        meson setup build --buildtype=release -Dtests=false >"$buildlog" 2>&1 ||
            { tail -30 "$buildlog"; rm -rf build "$buildlog"; exit 1; }
    fi
    meson compile -C build >"$buildlog" 2>&1 || { tail -30 "$buildlog"; rm -f "$buildlog"; exit 1; }
    rm -f "$buildlog"
fi

# The dashboard's libraries (static/package.json) into static/vendor/.  The
# API works without them, so a failure (say, no registry in reach) is told
# and the daemons start anyway.
if ! { { [ "${LODESTAR_NO_BUILD:-}" = 1 ] || ui_deps_install; } &&
       ui_vendor_install "$root" "$root/.lodestar/npm-static"; }; then
    echo "run.sh: WARNING: static/vendor/ is not installed: the dashboard will not load" >&2
fi

mkdir -p "$state/log"
chmod 755 "$state"
umask 077
[ -s "$state/master.key" ] || openssl rand -hex 32 >"$state/master.key"
[ -s "$state/admin.token" ] || openssl rand -hex 24 >"$state/admin.token"
chmod 600 "$state/master.key" "$state/admin.token"
umask 022

choose_pg_dir || exit 1
pgdir=$(pg_dir)
if ! pg_running "$pgdir"; then
    pg_start "$pgdir" "$pg_port" ||
        { echo "run.sh: PostgreSQL did not start; see $pgdir/postgres.log" >&2; exit 1; }
fi
pg_create_db "$pgdir" lodestar || exit 1
db=$(pg_conninfo "$pgdir" lodestar)

export LODESTAR_DB="${LODESTAR_DB:-$db}"
export LODESTAR_MASTER_KEY="${LODESTAR_MASTER_KEY:-$(cat "$state/master.key")}"
export LODESTAR_ADMIN_TOKEN="${LODESTAR_ADMIN_TOKEN:-$(cat "$state/admin.token")}"
export LODESTAR_HTTP="$http"

start_daemon() {  # start_daemon NAME [FLAG...]
    running "$1" && return 0
    local bin
    bin=$(find build/ -type f -name "$1" -perm -u+x | head -n 1)
    [ -n "$bin" ] || { echo "run.sh: $1 was not built" >&2; exit 1; }
    nohup "$bin" "${@:2}" >>"$state/log/$1.log" 2>&1 &
    echo $! >"$state/$1.pid"
    echo "started $1 (pid $!, log .lodestar/log/$1.log)"
}
# shellcheck disable=SC2086 # the flags are words
start_daemon lodestar-bootstrap ${LODESTAR_BOOTSTRAP_FLAGS:-}
# shellcheck disable=SC2086
start_daemon lodestar-server ${LODESTAR_SERVER_FLAGS:-}

echo -n "waiting for lodestar-server"
for _ in $(seq 150); do
    if curl -fsS "http://$http/healthz" >/dev/null 2>&1; then break; fi
    running lodestar-server || { echo; tail -5 "$state/log/lodestar-server.log"; exit 1; }
    echo -n .; sleep 0.2
done
echo
curl -fsS "http://$http/healthz" >/dev/null ||
    { echo "run.sh: lodestar-server does not answer; see $state/log/" >&2; exit 1; }
running lodestar-bootstrap || { tail -5 "$state/log/lodestar-bootstrap.log"; exit 1; }

cat <<MSG

Lodestar is up.
  dashboard:    http://$http/
  health:       http://$http/healthz
  admin token:  $(cat "$state/admin.token")
  logs:         .lodestar/log/
  stop with:    scripts/run.sh stop
MSG
