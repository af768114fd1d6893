/*
 * bench/devops_bench.c -- REST Read of /3/0 on awake devices, offered at a
 * fixed rate: achieved requests/s and latency percentiles
 *
 *   ./build-bench/bench/devops_bench COAP_ADDR HTTP_ADDR TOKEN DEVICES RATE SECONDS [CONNS]
 *   e.g. devops_bench 127.0.0.1:5683 127.0.0.1:8080 $TOKEN 50 2000 10 32
 *
 * DEVICES plain-CoAP devices (one libcoap client context, one session and
 * local port each, on a thread of their own) register and answer GET /3/0
 * with a fixed TLV instance.  CONNS HTTP/1.1 keep-alive connections, one
 * thread each, send GET /api/devices/bench-<n>/3/0 on a fixed schedule
 * (RATE/CONNS per connection, round robin over the devices); latency is
 * measured from the scheduled send time, so a slow answer is not hidden
 * by the sender waiting for it (no coordinated omission).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static bool parse_addr(const char *text, struct sockaddr_in *a)
{
    char host[64];
    const char *c = strrchr(text, ':');
    if (!c || (size_t)(c - text) >= sizeof host)
        return false;
    memcpy(host, text, (size_t)(c - text));
    host[c - text] = '\0';
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)atoi(c + 1));
    return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

/* ---- the devices ---- */

static atomic_int registered;
static atomic_bool stop_devices;

static void hnd_read(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                     const coap_string_t *q, coap_pdu_t *resp)
{
    (void)r; (void)s; (void)req; (void)q;
    /* TLV: resource 0 "Lodestar", resource 9 battery 100 */
    static const uint8_t tlv[] = { 0xc8, 0x00, 0x08, 'L', 'o', 'd', 'e', 's', 't', 'a', 'r',
                                   0xc1, 0x09, 100 };
    uint8_t b[4];
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(b, sizeof b, 11542),
                    b);
    coap_add_data(resp, sizeof tlv, tlv);
}

static coap_response_t on_resp(coap_session_t *s, const coap_pdu_t *sent,
                               const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    (void)s; (void)sent; (void)mid;
    if (coap_pdu_get_code(rcvd) == COAP_RESPONSE_CODE_CREATED)
        atomic_fetch_add(&registered, 1);
    return COAP_RESPONSE_OK;
}

struct devices {
    const char *server;
    int n;
};

static void *device_thread(void *arg)
{
    struct devices *d = arg;
    coap_context_t *ctx = coap_new_context(NULL);
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx, on_resp);
    coap_resource_t *r = coap_resource_init(coap_make_str_const("3/0"), 0);
    coap_register_handler(r, COAP_REQUEST_GET, hnd_read);
    coap_add_resource(ctx, r);
    struct sockaddr_in sa;
    parse_addr(d->server, &sa);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin = sa;
    dst.size = sizeof sa;
    for (int i = 0; i < d->n; i++) {
        coap_session_t *s = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
        coap_pdu_t *p = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, s);
        uint8_t tok[8];
        size_t tl;
        coap_session_new_token(s, &tl, tok);
        coap_add_token(p, tl, tok);
        char q[64];
        coap_add_option(p, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"rd");
        int n = snprintf(q, sizeof q, "ep=bench-%d", i);
        coap_add_option(p, COAP_OPTION_URI_QUERY, (size_t)n, (const uint8_t *)q);
        coap_add_option(p, COAP_OPTION_URI_QUERY, 6, (const uint8_t *)"lt=600");
        coap_add_option(p, COAP_OPTION_URI_QUERY, 9, (const uint8_t *)"lwm2m=1.1");
        coap_add_data(p, 6, (const uint8_t *)"</3/0>");
        coap_send(s, p);
        coap_io_process(ctx, COAP_IO_NO_WAIT);
    }
    while (!atomic_load(&stop_devices))
        coap_io_process(ctx, 100);
    coap_free_context(ctx);
    return NULL;
}

/* ---- the HTTP side ---- */

struct conn {
    struct sockaddr_in http;
    const char *token;
    int devices, id, per_conn_rate;
    int64_t start_us, end_us;
    int64_t *lat;          /* microseconds */
    size_t n, cap;
    int errors;
};

static int connect_http(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one response (headers + Content-Length body); returns the status. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        char *cl = strcasestr(buf, "Content-Length:");
        size_t body = cl ? (size_t)atol(cl + 15) : 0;
        if (have >= (size_t)(end + 4 - buf) + body)
            return atoi(buf + 9);
    }
}

static void *http_thread(void *arg)
{
    struct conn *c = arg;
    int fd = connect_http(&c->http);
    char req[512], buf[8192];
    int64_t interval = 1000000 / c->per_conn_rate;
    int64_t due = c->start_us + (int64_t)c->id * interval / 64;
    int dev = c->id;
    while (due < c->end_us) {
        int64_t now = now_us();
        if (now < due)
            usleep((useconds_t)(due - now));
        int n = snprintf(req, sizeof req,
                         "GET /api/devices/bench-%d/3/0 HTTP/1.1\r\nHost: b\r\n"
                         "Authorization: Bearer %s\r\n\r\n", dev % c->devices, c->token);
        dev += 7;
        if (fd < 0 || write(fd, req, (size_t)n) != n || read_response(fd, buf, sizeof buf) != 200) {
            c->errors++;
            if (fd >= 0)
                close(fd);
            fd = connect_http(&c->http);
        } else {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 4096;
                c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
            }
            c->lat[c->n++] = now_us() - due;
        }
        due += interval;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s COAP_ADDR HTTP_ADDR TOKEN DEVICES RATE SECONDS [CONNS]\n",
                argv[0]);
        return 2;
    }
    coap_startup();
    coap_set_log_level(LOG_ERR);
    struct devices d = { .server = argv[1], .n = atoi(argv[4]) };
    int rate = atoi(argv[5]), secs = atoi(argv[6]), conns = argc > 7 ? atoi(argv[7]) : 32;
    pthread_t dt;
    pthread_create(&dt, NULL, device_thread, &d);
    int64_t deadline = now_us() + 20000000;
    while (atomic_load(&registered) < d.n && now_us() < deadline)
        usleep(10000);
    if (atomic_load(&registered) < d.n) {
        fprintf(stderr, "only %d of %d devices registered\n", atomic_load(&registered), d.n);
        return 1;
    }
    struct conn *c = calloc((size_t)conns, sizeof *c);
    pthread_t *ht = calloc((size_t)conns, sizeof *ht);
    int64_t start = now_us() + 200000;
    for (int i = 0; i < conns; i++) {
        parse_addr(argv[2], &c[i].http);
        c[i].token = argv[3];
        c[i].devices = d.n;
        c[i].id = i;
        c[i].per_conn_rate = rate / conns > 0 ? rate / conns : 1;
        c[i].start_us = start;
        c[i].end_us = start + (int64_t)secs * 1000000;
        pthread_create(&ht[i], NULL, http_thread, &c[i]);
    }
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(ht[i], NULL);
        total += c[i].n;
        errors += c[i].errors;
    }
    int64_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, c[i].lat, c[i].n * sizeof *all);
        k += c[i].n;
        free(c[i].lat);
    }
    qsort(all, total, sizeof *all, cmp64);
#define PCT(p) (total ? (double)all[(size_t)((double)(total - 1) * (p))] / 1000.0 : 0.0)
    printf("| devices | offered req/s | achieved req/s | errors | p50 ms | p90 ms | p99 ms | "
           "max ms |\n|---|---|---|---|---|---|---|---|\n");
    printf("| %d | %d | %.0f | %d | %.2f | %.2f | %.2f | %.2f |\n", d.n,
           c[0].per_conn_rate * conns, (double)total / secs, errors, PCT(0.5), PCT(0.9),
           PCT(0.99), total ? (double)all[total - 1] / 1000.0 : 0.0);
    atomic_store(&stop_devices, true);
    pthread_join(dt, NULL);
    free(all);
    free(c);
    free(ht);
    return 0;
}
