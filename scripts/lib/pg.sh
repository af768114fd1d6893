# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/lib/pg.sh -- throwaway PostgreSQL clusters for tests and run.sh
#
# Source it (". scripts/lib/pg.sh"); it only defines functions.  A cluster
# lives in one directory DIR: DIR/data (the cluster), DIR/postgres.log,
# DIR/port, and the unix socket in DIR itself.  It listens on 127.0.0.1
# only and trusts every local connection: a development and test cluster,
# never a deployment.
#
# initdb and postgres refuse to run as root.  As root these functions run
# them as the unprivileged system user "lodestar" (created with useradd -r
# on first use) through runuser, and DIR is chown'ed to it; DIR's parents
# must then be searchable by that user (/tmp is; /root is not).  The
# database superuser is "lodestar" as root, else the invoking user.
#
# FUNCTIONS
#   pg_find_bin                 print the newest /usr/lib/postgresql/*/bin; sets PG_BIN
#   pg_free_port                print a free TCP port on 127.0.0.1
#   pg_start DIR PORT [MODE] [DB]
#                               initdb if DIR/data is missing, (re)write its
#                               settings, start, wait for pg_isready, create
#                               database DB (default lodestar).  MODE "test"
#                               turns fsync off (fast, unsafe on a crash).
#   pg_stop DIR                 stop the cluster (fast shutdown), if running
#   pg_create_db DIR [PORT] DB  create database DB if missing
#   pg_user                     print the database superuser name
#   pg_conninfo DIR DB          print "host=127.0.0.1 port=P dbname=DB user=U"
#   pg_ctl_cmd DIR              print the pg_ctl command for this cluster, to
#                               which a caller appends "stop -m fast -w" or
#                               "start -w -l FILE" (runuser prefix when root)
#   pg_test_env DIR DB          export LODESTAR_TEST_PGURI, LODESTAR_TEST_PGDATA,
#                               LODESTAR_TEST_PGCTL, LODESTAR_TEST_PGCTL_CMD
#
# Every function returns non-zero with a one-line message on stderr when
# something fails.

PG_OS_USER=lodestar

pg_err_() {
    echo "pg.sh: $*" >&2
    return 1
}

pg_is_root_() {
    [ "$(id -u)" = 0 ]
}

# Runs a command as the cluster owner (from /, when the owner cannot enter
# the current directory: a checkout under /root; the paths given are
# absolute).
pg_as_owner_() {
    if pg_is_root_; then
        if runuser -u "$PG_OS_USER" -- test -x "$PWD" 2>/dev/null; then
            runuser -u "$PG_OS_USER" -- "$@"
        else
            (cd / && runuser -u "$PG_OS_USER" -- "$@")
        fi
    else
        "$@"
    fi
}

pg_user() {
    if pg_is_root_; then
        echo "$PG_OS_USER"
    else
        id -un
    fi
}

pg_find_bin() {
    local d best=""
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] || continue
        # Versioned directories: keep the highest major version.
        if [ -z "$best" ] || [ "$(basename "$(dirname "$d")")" -gt \
                               "$(basename "$(dirname "$best")")" ] 2>/dev/null; then
            best=$d
        fi
    done
    if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1; then
        best=$(dirname "$(command -v pg_ctl)")
    fi
    [ -n "$best" ] || { pg_err_ "no PostgreSQL server binaries (apt-get install postgresql)"; return 1; }
    PG_BIN=$best
    echo "$best"
}

pg_free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
    fi
    # Fallback: probe random high ports until nothing answers.
    local n port
    for ((n = 0; n < 200; n++)); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    pg_err_ "no free TCP port found"
}

pg_ensure_os_user_() {
    pg_is_root_ || return 0
    id "$PG_OS_USER" >/dev/null 2>&1 && return 0
    # Another script may create it at the same moment: re-check on failure.
    useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$PG_OS_USER" 2>/dev/null ||
        id "$PG_OS_USER" >/dev/null 2>&1 ||
        pg_err_ "cannot create system user $PG_OS_USER"
}

pg_ctl_cmd() {
    local dir=$1
    [ -n "$PG_BIN" ] || pg_find_bin >/dev/null || return 1
    if pg_is_root_; then
        echo "runuser -u $PG_OS_USER -- $PG_BIN/pg_ctl -D $dir/data"
    else
        echo "$PG_BIN/pg_ctl -D $dir/data"
    fi
}

pg_conninfo() {
    local dir=$1 db=${2:-lodestar}
    [ -f "$dir/port" ] || { pg_err_ "$dir: no cluster started here"; return 1; }
    echo "host=127.0.0.1 port=$(cat "$dir/port") dbname=$db user=$(pg_user)"
}

pg_initdb_() {
    local dir=$1
    pg_as_owner_ "$PG_BIN/initdb" -D "$dir/data" -U "$(pg_user)" --auth=trust \
        -E UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; pg_err_ "initdb failed in $dir/data"; return 1; }
    echo "include_if_exists = 'lodestar.conf'" >>"$dir/data/postgresql.conf"
}

# Written on every start, so a new port or mode takes effect; pg_ctl start
# without options (as the restart test does) then finds the same settings.
pg_write_conf_() {
    local dir=$1 port=$2 mode=$3
    {
        echo "# written by scripts/lib/pg.sh on every pg_start"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "max_connections = 200"
        if [ "$mode" = test ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >"$dir/data/lodestar.conf"
    chmod 644 "$dir/data/lodestar.conf"
    pg_is_root_ && chown "$PG_OS_USER" "$dir/data/lodestar.conf"
    echo "$port" >"$dir/port"
}

pg_wait_ready_() {
    local port=$1 _
    for _ in $(seq 1 120); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres && return 0
        sleep 0.25
    done
    pg_err_ "server on port $port not ready after 30 s"
}

pg_start() {
    local dir=$1 port=$2 mode=${3:-run} db=${4:-lodestar}
    if [ -z "$dir" ] || [ -z "$port" ]; then
        pg_err_ "usage: pg_start DIR PORT [test|run] [DB]"
        return 1
    fi
    pg_find_bin >/dev/null || return 1
    pg_ensure_os_user_ || return 1
    mkdir -p "$dir" || return 1
    dir=$(cd "$dir" && pwd)
    if pg_is_root_; then
        chown "$PG_OS_USER" "$dir" && chmod 755 "$dir" || return 1
        runuser -u "$PG_OS_USER" -- test -w "$dir" ||
            { pg_err_ "$dir is not reachable by user $PG_OS_USER (check its parents)"; return 1; }
    fi
    [ -f "$dir/data/PG_VERSION" ] || pg_initdb_ "$dir" || return 1
    if pg_as_owner_ "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        pg_err_ "a cluster is already running in $dir/data; pg_stop it first"
        return 1
    fi
    pg_write_conf_ "$dir" "$port" "$mode" || return 1
    pg_is_root_ && touch "$dir/postgres.log" && chown "$PG_OS_USER" "$dir/postgres.log"
    pg_as_owner_ "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
        >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; pg_err_ "cannot start the cluster in $dir"; return 1; }
    pg_wait_ready_ "$port" || return 1
    pg_create_db "$dir" "$db"
}

# pg_running DIR -- true when the cluster in DIR is up.
pg_running() {
    local dir=$1
    [ -f "$dir/data/PG_VERSION" ] || return 1
    pg_find_bin >/dev/null || return 1
    pg_as_owner_ "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

pg_stop() {
    local dir=$1
    [ -n "$dir" ] || { pg_err_ "usage: pg_stop DIR"; return 1; }
    [ -f "$dir/data/PG_VERSION" ] || return 0
    pg_find_bin >/dev/null || return 1
    pg_as_owner_ "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || return 0
    pg_as_owner_ "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
        pg_err_ "cannot stop the cluster in $dir"
}

pg_create_db() {
    local dir=$1 db=$2 port
    # Also accepted: pg_create_db DIR PORT DB (the port is in DIR/port anyway).
    [ $# -ge 3 ] && db=$3
    case $db in
        ''|*[!A-Za-z0-9_]*) pg_err_ "bad database name '$db' (letters, digits, _)"; return 1 ;;
    esac
    [ -f "$dir/port" ] || { pg_err_ "$dir: no cluster started here"; return 1; }
    port=$(cat "$dir/port")
    [ -n "$PG_BIN" ] || pg_find_bin >/dev/null || return 1
    if [ "$("$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U "$(pg_user)" -d postgres -XtAc \
            "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ]; then
        return 0
    fi
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$(pg_user)" "$db" ||
        pg_err_ "cannot create database $db"
}

pg_test_env() {
    local dir=$1 db=${2:-lodestar_test}
    dir=$(cd "$dir" && pwd) || return 1
    [ -n "$PG_BIN" ] || pg_find_bin >/dev/null || return 1
    LODESTAR_TEST_PGURI=$(pg_conninfo "$dir" "$db") || return 1
    LODESTAR_TEST_PGDATA=$dir/data
    LODESTAR_TEST_PGCTL=$PG_BIN/pg_ctl
    LODESTAR_TEST_PGCTL_CMD=$(pg_ctl_cmd "$dir")
    export LODESTAR_TEST_PGURI LODESTAR_TEST_PGDATA LODESTAR_TEST_PGCTL LODESTAR_TEST_PGCTL_CMD
}
