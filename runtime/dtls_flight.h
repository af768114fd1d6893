/*
 * runtime/dtls_flight.h -- DTLS handshake flights in one datagram
 *
 * runtime/dtls_flight.c interposes GnuTLS's
 * gnutls_transport_set_push_function so that libcoap's DTLS sessions send
 * a handshake flight in one datagram instead of one per record (the file
 * says why and how).  Nothing to call for that; but a static library's
 * object is only linked when something names it, so every user calls
 * runtime_dtls_flight_link once (it does nothing).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef RUNTIME_DTLS_FLIGHT_H
#define RUNTIME_DTLS_FLIGHT_H

void runtime_dtls_flight_link(void);

#endif
