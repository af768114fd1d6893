# SPDX-License-Identifier: Apache-2.0
#
# scripts/lib/deps.sh -- the Debian packages Lodestar builds and runs with,
# installed only when missing.  Sourced by run.sh and test.sh.

# Needed to build and run both daemons.
LODESTAR_BUILD_PACKAGES="build-essential meson ninja-build pkg-config python3
  libcoap3-dev libcoap3-bin libmicrohttpd-dev libpq-dev libssl-dev
  libjansson-dev libcbor-dev libxml2-dev check postgresql openssl curl"

# Needed only by the test suite: fuzzing with clang, compose validation,
# the throwaway Postgres comes from the build list.
# chromium: the dashboard's end-to-end tests (tests/e2e).
# python3-yaml: the openapi_document test (scripts/check_openapi.py).
# nginx, libnginx-mod-stream: the scaleout test's UDP load balancer.
LODESTAR_TEST_PACKAGES="clang libclang-rt-14-dev docker-compose chromium python3-yaml
  nginx libnginx-mod-stream"

# deps_install PACKAGE... -- apt-get install what dpkg does not have yet.
deps_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq >/dev/null || return 1
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || return 1
}
