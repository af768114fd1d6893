/*
 * web/metrics.c -- GET /metrics, Prometheus text format, no token
 *
 * Unauthenticated on purpose: it holds counts, never a device name, an
 * address or a secret, and scrapers are simplest to point at an open
 * endpoint (restrict it at the network edge if counts are sensitive).
 * The web layer writes its own counters (HTTP answers by status class,
 * auth failures, event-stream subscribers); the daemon's metrics_fn adds
 * the CoAP and store ones.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <stdio.h>
#include <stdlib.h>

static uint64_t load(atomic_uint_fast64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void write_web(struct web_http *w, FILE *out)
{
    fprintf(out, "# HELP lodestar_http_responses_total HTTP responses by status class.\n"
                 "# TYPE lodestar_http_responses_total counter\n");
    for (int c = 2; c <= 5; c++)
        fprintf(out, "lodestar_http_responses_total{class=\"%dxx\"} %llu\n", c,
                (unsigned long long)load(&web_counters.status_class[c]));
    fprintf(out, "# HELP lodestar_http_auth_failures_total Refused API calls by reason.\n"
                 "# TYPE lodestar_http_auth_failures_total counter\n");
    fprintf(out, "lodestar_http_auth_failures_total{reason=\"missing\"} %llu\n",
            (unsigned long long)load(&web_counters.auth_missing));
    fprintf(out, "lodestar_http_auth_failures_total{reason=\"invalid\"} %llu\n",
            (unsigned long long)load(&web_counters.auth_invalid));
    fprintf(out, "lodestar_http_auth_failures_total{reason=\"forbidden\"} %llu\n",
            (unsigned long long)load(&web_counters.auth_forbidden));
    fprintf(out, "lodestar_http_auth_failures_total{reason=\"throttled\"} %llu\n",
            (unsigned long long)load(&web_counters.auth_throttled));
    runtime_metrics_gauge(out, "lodestar_sse_subscribers", "Open /api/events streams.",
                          web_events_subscribers(w->events));
}

enum MHD_Result web_metrics_get(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return MHD_NO;
    fprintf(out, "# HELP lodestar_up The process answers.\n# TYPE lodestar_up gauge\n"
                 "lodestar_up 1\n");
    write_web(w, out);
    pthread_mutex_lock(&w->metrics_lock);
    if (w->metrics_fn)
        w->metrics_fn(out, w->metrics_arg);
    pthread_mutex_unlock(&w->metrics_lock);
    if (fclose(out) != 0) {
        free(text);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
