/*
 * tools/sim_dtls.h -- libcoap (GnuTLS) DTLS-PSK client sessions for the
 * load generators: lodestar-sim, bench/dtls_storm, bench/bootstrap_storm
 *
 * A session per simulated device, from a local address of the caller's
 * choice (127.0.0.0/8 spreads devices over addresses), and the plain-PSK
 * switch: with LODESTAR_BENCH_PLAIN_PSK=1 a client offers only
 * TLS_PSK_WITH_AES_128_CCM_8, the LwM2M mandatory suite, instead of
 * libcoap 4.3.1's ECDHE-PSK first (two P-256 operations per side and
 * handshake).  libcoap calls gnutls_priority_init / _set_direct with a
 * fixed string; this library interposes both and swaps the string (before
 * 2026-11-24 the swapped string still allowed every PSK cipher, and
 * TLS_PSK_WITH_AES_256_GCM_SHA384 came first: bench/results/dtls.md).  A
 * load-generator-only device.
 *
 * Its sessions send a handshake flight's records in one datagram
 * (runtime/dtls_flight.c, shared with the daemons: libcoap sets only a
 * one-datagram-per-record push function).  Built with
 * -DLODESTAR_NO_GNUTLS_TWEAKS, the packing is left out (libcoap's own
 * transport, to measure against).
 *
 * libcoap 4.3.1 polls a handshaking session's socket with select(), which
 * cannot take a descriptor >= FD_SETSIZE (1024): this library interposes
 * select() and glibc's __fdelt_chk so that a process can hold more
 * sessions than that (see sim_dtls.c).
 *
 * The storm driver runs a number of devices in several processes (each
 * its own libcoap context, libcoap is single-threaded) and gathers each
 * device's latency and completion time through pipes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_DTLS_H
#define LODESTAR_TOOLS_SIM_DTLS_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t sim_dtls_now_us(void);

/* An IPv4 address (host order) and port as libcoap wants it. */
void sim_dtls_address(coap_address_t *a, uint32_t ip, uint16_t port);

/* "HOST:PORT", "coap://HOST:PORT" or "coaps://HOST:PORT" (IPv4; the port
 * defaults to def_port); *secure says which scheme (false without one). */
bool sim_dtls_parse_address(const char *s, uint16_t def_port, coap_address_t *out,
                            bool *secure);

/*
 * sim_dtls_session -- a client session from local (NULL: any) to dst:
 * DTLS with the PSK (identity, key) when identity is not NULL, else plain
 * UDP.  The handshake starts at once; requests sent before it ends wait
 * in libcoap.  NULL when libcoap refuses (no socket, bad address).
 */
coap_session_t *sim_dtls_session(coap_context_t *ctx, const coap_address_t *local,
                                 const coap_address_t *dst, const uint8_t *identity,
                                 size_t identity_len, const uint8_t *key, size_t key_len);

/* --- the storm driver --- */

/* What one process reports: when it ran, and per finished device its
 * latency and completion time (monotonic us). */
struct sim_dtls_tally {
    int64_t start_us, end_us;
    int64_t done, failed;
    int64_t *pairs;      /* latency, end time; 2 * done entries */
};

/* Runs in each child: devices [first, first + count), window in flight;
 * fills t (pairs allocated by the child). */
typedef void (*sim_dtls_storm_fn)(int first, int count, int window, struct sim_dtls_tally *t,
                                  void *arg);

struct sim_dtls_storm {
    int64_t start_us, end_us, done, failed;
    int64_t *lat, *ends;   /* sorted, done entries each */
};

/* Forks procs children over total devices (window split between them),
 * waits for them and fills out; -1 when a pipe or fork failed. */
int sim_dtls_storm_run(int total, int procs, int window, sim_dtls_storm_fn fn, void *arg,
                       struct sim_dtls_storm *out);

/* The latency (ms) at fraction q (0.5, 0.9, 0.99) of the finished devices. */
double sim_dtls_storm_ms(const struct sim_dtls_storm *s, double q);

/* Devices per second over the whole run, and of the first 99 % over the
 * time they took (a few retransmitted stragglers do not hide the rate). */
double sim_dtls_storm_rate(const struct sim_dtls_storm *s);
double sim_dtls_storm_rate99(const struct sim_dtls_storm *s);

void sim_dtls_storm_free(struct sim_dtls_storm *s);

/* Raises the open-file limit to its hard maximum: a socket per session. */
void sim_dtls_raise_nofile(void);

#endif /* LODESTAR_TOOLS_SIM_DTLS_H */
