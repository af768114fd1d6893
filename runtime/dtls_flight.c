/*
 * runtime/dtls_flight.c -- DTLS handshake flights in one datagram
 *
 * libcoap 4.3.1 gives GnuTLS a push function (one datagram per call) and
 * no vectored one, so GnuTLS's writev emulation sends every record of a
 * handshake flight in a datagram of its own: ServerHello and
 * ServerHelloDone, then ChangeCipherSpec and Finished, 4 datagrams where 2
 * do (RFC 6347 4.1.1: a datagram may carry several records); a client's
 * ClientKeyExchange, ChangeCipherSpec and Finished, 3 where 1 does.  Each
 * costs a sendmsg, a receive and a loop turn at the peer: on the 2 cores
 * of the DTLS bench about a tenth of the server's CPU per handshake, and
 * as much of the simulator's (bench/results/dtls.md).
 *
 * libcoap sets its push function with gnutls_transport_set_push_function;
 * this file defines that symbol, so in an executable that links it
 * libcoap's call lands here (an executable's exported definition
 * interposes the library's, as lodestar-sim does for the priority
 * string).  It is passed on to GnuTLS, and for libcoap's own push function
 * (recognised by the library it lives in: libmicrohttpd's HTTPS sessions
 * keep theirs untouched) a vectored push is added that packs the records
 * GnuTLS flushes together into datagrams of at most FLIGHT_MAX bytes, each
 * sent through libcoap's push function: GnuTLS's own socket transport
 * (sendmsg of the whole iovec) sends flights the same way.  A record
 * larger than that (a certificate chain fragment) goes alone, as before.
 * Built with -DLODESTAR_NO_GNUTLS_TWEAKS it is left out (libcoap's own
 * transport, for before/after measurements).  Verified by the PSK, RPK
 * and X.509 suites (test clients without the packing) and lodestar-sim
 * (both sides packing).
 *
 * Linked into lodestar-server and lodestar-bootstrap (runtime/coap.c) and
 * into lodestar-sim and the bench's DTLS clients (tools/sim_dtls.c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/dtls_flight.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>

void runtime_dtls_flight_link(void)
{
}

#ifndef LODESTAR_NO_GNUTLS_TWEAKS   /* -D...: libcoap's own transport, to measure against */
#define FLIGHT_MAX 1280             /* the IPv6 minimum MTU: never more per datagram */

typedef ssize_t flight_push_fn(gnutls_transport_ptr_t, const void *, size_t);
static flight_push_fn *flight_coap_push;   /* libcoap's datagram push, once seen */

static ssize_t flight_send(gnutls_transport_ptr_t ptr, const void *data, size_t len,
                           ssize_t *sent)
{
    ssize_t r = flight_coap_push(ptr, data, len);
    if (r > 0)
        *sent += r;
    return r;
}

/* GnuTLS's vectored push: records packed into datagrams; the bytes sent
 * (GnuTLS keeps the rest for later), or the failing push's result. */
static ssize_t flight_vec_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int n)
{
    uint8_t buf[FLIGHT_MAX];
    size_t fill = 0;
    ssize_t sent = 0, r = 1;
    for (int i = 0; i < n && r > 0; i++) {
        if (fill && fill + iov[i].iov_len > sizeof buf) {
            r = flight_send(ptr, buf, fill, &sent);
            fill = 0;
        }
        if (r > 0 && iov[i].iov_len > sizeof buf) {
            r = flight_send(ptr, iov[i].iov_base, iov[i].iov_len, &sent);
        } else if (r > 0) {
            memcpy(buf + fill, iov[i].iov_base, iov[i].iov_len);
            fill += iov[i].iov_len;
        }
    }
    if (fill && r > 0)
        r = flight_send(ptr, buf, fill, &sent);
    return sent > 0 ? sent : r > 0 ? 0 : r;
}

static bool flight_is_libcoap(flight_push_fn *fn)
{
    Dl_info info;
    return fn && dladdr((void *)fn, &info) && info.dli_fname &&
           strstr(info.dli_fname, "libcoap");
}

void gnutls_transport_set_push_function(gnutls_session_t session, gnutls_push_func push_func)
{
    static void (*real)(gnutls_session_t, gnutls_push_func);
    void (*set)(gnutls_session_t, gnutls_push_func) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!set) {
        set = (void (*)(gnutls_session_t, gnutls_push_func))dlsym(
            RTLD_NEXT, "gnutls_transport_set_push_function");
        __atomic_store_n(&real, set, __ATOMIC_RELEASE);
    }
    set(session, push_func);
    static flight_push_fn *other;       /* the last one seen that is not libcoap's */
    flight_push_fn *fn = (flight_push_fn *)push_func, *none = NULL;
    if (!fn)
        return;
    /* dladdr only for a function not seen last time (it costs a walk of
     * the loaded objects; this runs once per DTLS session) */
    if (fn != __atomic_load_n(&flight_coap_push, __ATOMIC_ACQUIRE) &&
        (fn == __atomic_load_n(&other, __ATOMIC_RELAXED) || !flight_is_libcoap(fn))) {
        __atomic_store_n(&other, fn, __ATOMIC_RELAXED);
        return;
    }
    /* the first libcoap push seen is the one packed for (4.3.1 over UDP has
     * one; a TCP session's would differ and stays unpacked) */
    __atomic_compare_exchange_n(&flight_coap_push, &none, fn, false, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&flight_coap_push, __ATOMIC_ACQUIRE) == fn)
        gnutls_transport_set_vec_push_function(session, flight_vec_push);
}
#endif
