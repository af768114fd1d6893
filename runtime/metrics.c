/*
 * runtime/metrics.c -- a Prometheus text-format /metrics listener
 *
 * The exposition is built per scrape with open_memstream, so the collect
 * function can write freely and the response has an exact length.
 * Prometheus text format 0.0.4: "# HELP", "# TYPE", then "name value".
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/httpd.h"
#include "runtime/log.h"

struct runtime_metrics {
    struct runtime_httpd *httpd;
    runtime_metrics_fn *fn;
    void *arg;
};

void runtime_metrics_gauge(FILE *out, const char *name, const char *help, double value)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, value);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *body, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
                                                  : "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result scrape(struct runtime_metrics *m, struct MHD_Connection *conn)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", 14, NULL);
    runtime_metrics_gauge(out, "lodestar_up", "1 while the process answers.", 1);
    if (m->fn)
        m->fn(out, m->arg);
    fclose(out);
    enum MHD_Result ret = reply_text(conn, MHD_HTTP_OK, text, len, NULL);
    free(text);
    return ret;
}

/* Scrapes carry no body; the first call already has everything. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *upload_data,
                                  size_t *upload_data_size, void **req)
{
    struct runtime_metrics *m = cls;
    if (*upload_data_size > 0) {
        *upload_data_size = 0;      /* discard a body nobody asked for */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", 24, NULL);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", 19,
                          "GET, HEAD");
    return scrape(m, conn);
}

struct runtime_metrics *runtime_metrics_start(const struct runtime_addr *listen,
                                              runtime_metrics_fn *fn, void *arg,
                                              struct ls_error *err)
{
    struct runtime_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the metrics listener");
        return NULL;
    }
    m->fn = fn;
    m->arg = arg;
    struct runtime_httpd_options o = {
        .listen = listen, .threads = 1, .timeout_s = 30, .handler = on_request, .cls = m,
    };
    m->httpd = runtime_httpd_start(&o, err);
    if (!m->httpd) {
        free(m);
        return NULL;
    }
    return m;
}

char *runtime_metrics_bound(const struct runtime_metrics *m, char *buf)
{
    return runtime_httpd_bound(m->httpd, buf);
}

void runtime_metrics_stop(struct runtime_metrics *m)
{
    if (!m)
        return;
    runtime_httpd_stop(m->httpd, 2000);
    free(m);
}
