/*
 * runtime/httpd.h -- a libmicrohttpd listener with graceful shutdown
 *
 * Shared by the HTTP API of lodestar-server (web/) and the Prometheus
 * listener of lodestar-bootstrap (runtime/metrics.c): binding to a parsed
 * HOST:PORT (port 0 picks one; runtime_httpd_bound() tells which), MHD's
 * diagnostics routed into ls_log, and a stop that first stops accepting,
 * then lets requests in progress finish, then tears down.
 *
 * Threading model: MHD's internal epoll thread pool
 * (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, `threads` workers) with
 * MHD_ALLOW_SUSPEND_RESUME.  Thread-per-connection was rejected: it cannot
 * suspend connections, and later routes must park an HTTP request while a
 * CoAP command travels to a (possibly sleeping) device, and keep many
 * server-sent-event streams open; with a pool, a parked or idle connection
 * costs a socket, not a thread.  The handler therefore runs on one of the
 * pool's threads and must not block for long.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_HTTPD_H
#define LODESTAR_RUNTIME_HTTPD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/addr.h"
#include "runtime/err.h"

struct runtime_httpd;

/*
 * The access handler: MHD's own contract (called first with *req == NULL,
 * then with upload chunks, then once with *upload_data_size == 0), minus the
 * version argument.  *req is the handler's per-request state.
 */
typedef enum MHD_Result runtime_httpd_fn(void *cls, struct MHD_Connection *conn,
                                         const char *url, const char *method,
                                         const char *upload_data, size_t *upload_data_size,
                                         void **req);
/* Called once per request that reached the handler, with its *req
 * (possibly NULL): free it here. */
typedef void runtime_httpd_done_fn(void *cls, void *req);

struct runtime_httpd_options {
    const struct runtime_addr *listen;  /* borrowed; copied by start */
    unsigned threads;                   /* pool size; 0 = 4 */
    unsigned timeout_s;                 /* idle connection timeout; 0 = 120 */
    runtime_httpd_fn *handler;
    runtime_httpd_done_fn *done;        /* may be NULL */
    void *cls;                          /* passed to both */
    /* true: the handler gets the request path and query values exactly as
     * sent (still percent-encoded; '+' in query values is a space) and
     * decodes them itself, strictly.  MHD's own unescaping is lenient
     * (bad escapes pass through, %00 truncates) and turns %2F into a '/'
     * that routing could no longer tell from a separator.  Added for
     * web/ (issue 4). */
    bool raw_url;
    /* Added for issue 10 (HTTPS): PEM files of the certificate chain and
     * its private key, both or neither.  With them the listener speaks TLS
     * only (GnuTLS through MHD_USE_TLS); a plain HTTP request on it gets no
     * HTTP answer. */
    const char *tls_cert;
    const char *tls_key;
};

/*
 * runtime_httpd_tls_audit_fix -- call once the CoAP context exists, when
 * the HTTP listener speaks TLS.  GnuTLS's audit log hook is process-wide
 * and libcoap installs one that takes every GnuTLS session for its own
 * (gnutls_transport_get_ptr -> coap_session_t): a plain HTTP request on the
 * TLS port made it read MHD's connection as a CoAP session and crash
 * (found by tests/integration/test_https.c).  This hook logs the text at
 * debug level and touches no session.
 */
void runtime_httpd_tls_audit_fix(void);

/* True when the connection came over TLS (for Strict-Transport-Security). */
bool runtime_httpd_is_tls(struct MHD_Connection *conn);

/* Caller owns; stop with runtime_httpd_stop().  NULL with err set when the
 * address cannot be bound (the message names it and the reason). */
struct runtime_httpd *runtime_httpd_start(const struct runtime_httpd_options *opts,
                                          struct ls_error *err);

/* The bound address ("127.0.0.1:41237"), for the listening log line.
 * buf: RUNTIME_ADDR_STR_MAX bytes.  Returns buf. */
char *runtime_httpd_bound(const struct runtime_httpd *h, char *buf);

/*
 * runtime_httpd_stop -- stop accepting, wait up to drain_ms for requests in
 * progress to complete, then stop the threads (closing idle keep-alive
 * connections) and free.  NULL is a no-op.
 */
void runtime_httpd_stop(struct runtime_httpd *h, int64_t drain_ms);

#endif /* LODESTAR_RUNTIME_HTTPD_H */
