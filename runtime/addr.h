/*
 * runtime/addr.h -- HOST:PORT text <-> socket addresses
 *
 * The one place that knows how listen addresses are written on the command
 * line and in logs.  Accepted forms:
 *
 *   [v6]:port       "[::]:5683", "[::1]:8080", "[fe80::1%eth0]:5683"
 *   v4:port         "0.0.0.0:5683", "127.0.0.1:0"
 *   name:port       "localhost:8080" (resolved now with getaddrinfo; the
 *                   first answer wins)
 *
 * port is decimal 0..65535; 0 means "let the kernel pick" and the daemon
 * logs the bound address, formatted back with runtime_addr_format().
 * A bare IPv6 address without brackets is refused: its last ':' would be
 * ambiguous.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_ADDR_H
#define LODESTAR_RUNTIME_ADDR_H

#include <stddef.h>
#include <sys/socket.h>
#include "runtime/err.h"

/* "[" + INET6_ADDRSTRLEN(46) + "%" + IFNAMSIZ + "]:65535" + NUL, rounded up. */
#define RUNTIME_ADDR_STR_MAX 80

struct runtime_addr {
    struct sockaddr_storage ss; /* AF_INET or AF_INET6, port set */
    socklen_t len;              /* bytes of ss in use; 0 = unset */
};

/*
 * runtime_addr_parse -- parse HOST:PORT into a socket address.
 *
 * text   Borrowed.
 * out    Filled on success; zeroed (len 0) on failure.
 *
 * Returns LS_OK, or LS_EINVAL with err->msg saying what is wrong in words
 * that complete "--coap: ..." (e.g. "\"abc\" is not HOST:PORT",
 * "port \"70000\" is out of range 0..65535", "cannot resolve \"nohost\"").
 * May block on DNS for a host name; the daemons call it at start only.
 */
enum ls_rc runtime_addr_parse(const char *text, struct runtime_addr *out,
                              struct ls_error *err) LS_MUST_CHECK;

/*
 * runtime_addr_format -- "[::1]:5683" or "127.0.0.1:8080".
 *
 * buf    At least RUNTIME_ADDR_STR_MAX bytes; always NUL-terminated
 *        ("?" for an unknown family).
 * Returns buf, so that it can sit inside a log call.
 */
char *runtime_addr_format(const struct sockaddr *sa, socklen_t len, char *buf);

/* Port of an AF_INET/AF_INET6 address in host order; -1 otherwise. */
int runtime_addr_port(const struct sockaddr *sa);

#endif /* LODESTAR_RUNTIME_ADDR_H */
