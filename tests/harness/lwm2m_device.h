/*
 * tests/harness/lwm2m_device.h -- a libcoap LwM2M test device, and raw
 * datagram replay, for integration tests
 *
 * harness_device: one libcoap client context with one session to the
 * server, plain UDP, DTLS-PSK or DTLS with an X.509 certificate, optionally from a fixed local port (to
 * play a device that reboots and comes back from the same address).  The
 * Registration interface calls block until the answer arrives or the
 * deadline passes, driving coap_io_process with a bounded timeout: no
 * sleeps.  Separate responses (empty ACK now, CON answer later) are
 * handled by libcoap.  The device answers GET /3/0 (text) so that later
 * tests can read from it; extend it with harness_device_context().
 *
 * CoAP codes are returned as class*100 + detail: 201, 204, 404; -1 when no
 * answer came before the deadline (harness_device_dtls_failed() then says
 * whether the handshake was refused).
 *
 * harness_raw_*: send bytes exactly as captured (the raw_hex of
 * /work/shared/captures/<client>/NN-*.json) over a plain UDP socket and
 * decode the answer, acknowledging a separate CON response.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_H
#define LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct harness_device;

struct harness_device_options {
    const char *server;            /* "127.0.0.1:5683" or "[::1]:5684" */
    const char *psk_identity;      /* NULL: plain CoAP; else DTLS-PSK */
    const uint8_t *psk_key;
    size_t psk_key_len;
    uint16_t local_port;           /* 0: ephemeral */
    const char *cert_file;         /* X.509 instead of PSK: the device's */
    const char *key_file;          /*   certificate and key (PEM), and the */
    const char *ca_file;           /*   CA that signed the server's */
    const char *rpk_key_file;      /* RPK instead: the device's EC key (PEM) */
};

/* NULL (message on stderr) when the address is bad or the session cannot
 * be created.  DTLS handshakes start with the first request. */
struct harness_device *harness_device_new(const struct harness_device_options *o);

/* Frees the session and context; over DTLS libcoap sends a close_notify
 * (an orderly shutdown).  harness_device_crash is the power-cut variant. */
void harness_device_free(struct harness_device *d);

/* Drops the device without any goodbye: the socket is closed and the
 * DTLS state forgotten, as a power cut would. */
void harness_device_crash(struct harness_device *d);

/*
 * harness_device_register -- POST /rd with query (NULL-terminated list of
 * "ep=dev-1", "lt=60", ...; sent as separate Uri-Query options, in order)
 * and links (link-format payload; NULL for none).  location receives
 * "rd/<id>" from the 2.01's Location-Path.  Returns the code or -1.
 */
int harness_device_register(struct harness_device *d, const char *const query[],
                            const char *links, int64_t timeout_ms, char *location,
                            size_t cap);

/* POST /<location>?query with optional links.  Returns the code or -1. */
int harness_device_update(struct harness_device *d, const char *location,
                          const char *const query[], const char *links, int64_t timeout_ms);

/* DELETE /<location>.  Returns the code or -1. */
int harness_device_deregister(struct harness_device *d, const char *location,
                              int64_t timeout_ms);

/* Any request: method COAP_REQUEST_CODE_*, path "a/b/c" (may be ""),
 * query as above (may be NULL), payload (may be NULL) with content format
 * cf (-1 = none). */
int harness_device_request(struct harness_device *d, coap_pdu_code_t method, const char *path,
                           const char *const query[], const char *payload, int cf,
                           int64_t timeout_ms, char *location, size_t cap);

/* Keeps waiting for the answer to the last request (after one of the
 * calls above returned -1 on its deadline).  Returns the code or -1. */
int harness_device_wait(struct harness_device *d, int64_t timeout_ms, char *location,
                        size_t cap);

/* Drives I/O for ms (answers server requests meanwhile). */
void harness_device_run(struct harness_device *d, int64_t ms);

/* True once a DTLS handshake of this device failed or was refused. */
bool harness_device_dtls_failed(const struct harness_device *d);

/* The local port the session uses (after the first request). */
uint16_t harness_device_local_port(const struct harness_device *d);

coap_context_t *harness_device_context(struct harness_device *d);

/* ---- raw datagrams ---- */

/* Reads the "raw_hex" field of a capture JSON file into buf.  Returns the
 * byte count, or -1. */
long harness_capture_raw(const char *json_path, uint8_t *buf, size_t cap);

struct harness_raw_answer {
    int code;              /* class*100+detail; -1: none before the deadline */
    bool separate;         /* came as a separate CON response (we ACKed it) */
    char location[128];    /* Location-Path joined with '/' ("rd/abc") */
};

/* Sends dgram from a fresh UDP socket (or fd >= 0: the caller's socket) to
 * server ("127.0.0.1:5683") and waits for the response matching its token.
 * Returns answer->code. */
int harness_raw_exchange(int fd, const char *server, const uint8_t *dgram, size_t len,
                         int64_t timeout_ms, struct harness_raw_answer *answer);

#endif /* LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_H */
