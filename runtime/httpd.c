/*
 * runtime/httpd.c -- a libmicrohttpd listener with graceful shutdown
 *
 * Requests in progress are counted by wrapping the caller's per-request
 * state: the wrapper is allocated on a request's first handler call and
 * freed by MHD's completion callback, which MHD calls exactly once for
 * every request whose handler ran.  runtime_httpd_stop waits on a condition
 * variable for that count to reach zero.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/httpd.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "runtime/log.h"

struct runtime_httpd {
    struct MHD_Daemon *mhd;
    runtime_httpd_fn *handler;
    runtime_httpd_done_fn *done;
    void *cls;
    struct runtime_addr listen;     /* as requested (port may be 0) */
    pthread_mutex_t lock;           /* guards inflight */
    pthread_cond_t idle;            /* signalled when inflight drops to 0 */
    unsigned inflight;              /* requests between first call and completion */
    char *tls_cert;                 /* PEM, NUL-terminated; NULL = plain HTTP */
    char *tls_key;                  /* PEM; secret: wiped before free */
    size_t tls_key_len;
};

/* Per-request wrapper around the caller's state. */
struct wrap {
    void *user;                     /* the handler's *req */
};

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    struct runtime_httpd *h = cls;
    struct wrap *w = *req_cls;
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return MHD_NO;  /* MHD closes the connection */
        *req_cls = w;
        pthread_mutex_lock(&h->lock);
        h->inflight++;
        pthread_mutex_unlock(&h->lock);
    }
    return h->handler(h->cls, conn, url, method, upload_data, upload_data_size, &w->user);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct runtime_httpd *h = cls;
    struct wrap *w = *req_cls;
    if (!w)
        return;
    if (h->done)
        h->done(h->cls, w->user);
    free(w);
    *req_cls = NULL;
    pthread_mutex_lock(&h->lock);
    if (--h->inflight == 0)
        pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->lock);
}

/* The identity unescaper: leaves the URL as sent (see raw_url). */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
    return strlen(s);
}

/* MHD's default behaviour, spelled out: the option takes no NULL. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    return MHD_http_unescape(s);
}

/* MHD's diagnostics ("Failed to bind to port ...") as one log line each. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) LS_PRINTF(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    ls_log_warn("httpd_diagnostic", "msg=\"%s\"", msg);
}

/* Reads a whole PEM file (at most 1 MiB) into a NUL-terminated buffer. */
static char *runtime_httpd_read_pem(const char *path, size_t *len, struct ls_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ls_error_set(err, LS_EINVAL, "cannot open \"%s\": %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap, f) : 0;
    bool bad = !buf || ferror(f) || !feof(f) || n == 0;
    fclose(f);
    if (bad) {
        free(buf);
        ls_error_set(err, LS_EINVAL, "cannot read \"%s\" (empty, unreadable or over 1 MiB)",
                     path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void runtime_httpd_free_tls(struct runtime_httpd *h)
{
    if (h->tls_key) {
        explicit_bzero(h->tls_key, h->tls_key_len);
        free(h->tls_key);
    }
    free(h->tls_cert);
    h->tls_key = h->tls_cert = NULL;
}

/* Loads the TLS files into h and fills items (3 + END) for MHD_OPTION_ARRAY;
 * items[0] is END when TLS is off. */
static enum ls_rc runtime_httpd_setup_tls(struct runtime_httpd *h,
                                          const struct runtime_httpd_options *opts,
                                          struct MHD_OptionItem items[4], unsigned *flags,
                                          struct ls_error *err)
{
    items[0] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    if (!opts->tls_cert && !opts->tls_key)
        return LS_OK;
    if (!opts->tls_cert || !opts->tls_key)
        return ls_error_set(err, LS_EINVAL, "TLS needs both a certificate and a key");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return ls_error_set(err, LS_EUNSUPPORTED, "libmicrohttpd was built without TLS");
    size_t n;
    h->tls_cert = runtime_httpd_read_pem(opts->tls_cert, &n, err);
    if (!h->tls_cert)
        return LS_EINVAL;
    h->tls_key = runtime_httpd_read_pem(opts->tls_key, &h->tls_key_len, err);
    if (!h->tls_key)
        return LS_EINVAL;
    items[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert };
    items[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key };
    /* TLS 1.2 and 1.3 only. */
    items[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
                                        (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" };
    items[3] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    *flags |= MHD_USE_TLS;
    return LS_OK;
}

static void runtime_httpd_tls_audit(gnutls_session_t session, const char *text)
{
    int n = (int)strcspn(text, "\r\n\"");
    ls_log_debug("tls_audit", "msg=\"%.*s\"", n, text);
}

void runtime_httpd_tls_audit_fix(void)
{
    gnutls_global_set_audit_log_function(runtime_httpd_tls_audit);
}

bool runtime_httpd_is_tls(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return ci && ci->tls_session;
}

struct runtime_httpd *runtime_httpd_start(const struct runtime_httpd_options *opts,
                                          struct ls_error *err)
{
    struct runtime_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the http listener");
        return NULL;
    }
    h->handler = opts->handler;
    h->done = opts->done;
    h->cls = opts->cls;
    h->listen = *opts->listen;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);    /* drain deadline immune to clock steps */
    pthread_cond_init(&h->idle, &ca);
    pthread_condattr_destroy(&ca);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    /* [::] should take IPv4 too, as it does for every other Linux service. */
    if (h->listen.ss.ss_family == AF_INET6)
        flags |= MHD_USE_DUAL_STACK;
    struct MHD_OptionItem tls[4];
    if (runtime_httpd_setup_tls(h, opts, tls, &flags, err) != LS_OK) {
        runtime_httpd_free_tls(h);
        pthread_cond_destroy(&h->idle);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    int port = runtime_addr_port((const struct sockaddr *)&h->listen.ss);
    errno = 0;
    /* The logger must come first, or MHD logs earlier options its own way. */
    h->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access, h,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                              MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&h->listen.ss,
                              /* 1 means "no pool": MHD warns if told so explicitly, 0 says it quietly. */
                              MHD_OPTION_THREAD_POOL_SIZE,
                              opts->threads == 1 ? 0u : opts->threads ? opts->threads : 4u,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              opts->timeout_s ? opts->timeout_s : 120u,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_UNESCAPE_CALLBACK,
                              opts->raw_url ? keep_escaped : unescape, NULL,
                              MHD_OPTION_ARRAY, tls,
                              MHD_OPTION_END);
    if (!h->mhd) {
        char addr[RUNTIME_ADDR_STR_MAX];
        int e = errno;
        ls_error_set(err, LS_EIO, "cannot listen on %s: %s",
                     runtime_addr_format((const struct sockaddr *)&h->listen.ss, h->listen.len,
                                         addr),
                     e ? strerror(e) : h->tls_cert ?
                     "libmicrohttpd refused to start (is the TLS key the certificate's?)" :
                     "libmicrohttpd refused to start");
        runtime_httpd_free_tls(h);
        pthread_cond_destroy(&h->idle);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    return h;
}

char *runtime_httpd_bound(const struct runtime_httpd *h, char *buf)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &len) != 0)
        return runtime_addr_format((const struct sockaddr *)&h->listen.ss, h->listen.len, buf);
    return runtime_addr_format((const struct sockaddr *)&ss, len, buf);
}

void runtime_httpd_stop(struct runtime_httpd *h, int64_t drain_ms)
{
    if (!h)
        return;
    /* Quiesce hands the listening socket back: we close it after the
     * threads that might still touch it are gone (MHD's rule). */
    MHD_socket lfd = MHD_quiesce_daemon(h->mhd);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += drain_ms / 1000;
    deadline.tv_nsec += (drain_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&h->lock);
    while (h->inflight > 0)
        if (pthread_cond_timedwait(&h->idle, &h->lock, &deadline) == ETIMEDOUT)
            break;
    unsigned left = h->inflight;
    pthread_mutex_unlock(&h->lock);
    if (left > 0)
        ls_log_warn("httpd_drain_timeout", "requests=%u drain_ms=%lld", left,
                    (long long)drain_ms);

    MHD_stop_daemon(h->mhd);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    runtime_httpd_free_tls(h);
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
