# SPDX-License-Identifier: Apache-2.0
#
# Multi-stage image holding both daemons.  The build stage compiles with
# Debian 12's -dev packages; the runtime stage carries only the shared
# libraries and runs as an unprivileged user.  Pick the daemon with the
# command: `lodestar-server` (default) or `lodestar-bootstrap`.

# The dashboard's front-end libraries (static/package.json, pinned by its
# lock), copied into static/vendor/ by the same script run.sh uses.
FROM debian:12 AS ui
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY static ./static
COPY scripts/lib/ui.sh ./scripts/lib/ui.sh
RUN bash -c '. scripts/lib/ui.sh && ui_vendor_install /src /tmp/npm-static'

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential meson ninja-build \
      pkg-config python3 libcoap3-dev libmicrohttpd-dev libpq-dev libssl-dev \
      libjansson-dev libcbor-dev libxml2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --buildtype=release -Dtests=false --prefix=/usr \
 && meson compile -C /build \
 && DESTDIR=/out meson install -C /build

FROM debian:12
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcoap3 libmicrohttpd12 libpq5 \
      libssl3 libjansson4 libcbor0.8 libxml2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home lodestar
COPY --from=build /out/ /
COPY --from=ui /src/static /usr/share/lodestar/static
# Plain HTTP beyond loopback needs LODESTAR_HTTP_INSECURE (issue 10): set
# LODESTAR_HTTP_CERT/LODESTAR_HTTP_KEY instead, unless a TLS proxy fronts it.
ENV LODESTAR_STATIC=/usr/share/lodestar/static \
    LODESTAR_HTTP=0.0.0.0:8080 \
    LODESTAR_HTTP_INSECURE=1
USER lodestar
EXPOSE 5683/udp 5684/udp 5783/udp 5784/udp 8080/tcp
CMD ["lodestar-server"]
