/*
 * bench/reg_storm.c -- a registration storm against lodestar-server
 *
 *   reg_storm HOST:PORT CLIENTS [WINDOW] [PREFIX]
 *
 * Plays CLIENTS distinct plain-CoAP devices, each from its own UDP socket
 * (its own source port, so its own libcoap server session), WINDOW of them
 * in flight at a time (default 256).  Each sends one Register (CON, POST
 * /rd?ep=PREFIX-i&lt=86400&lwm2m=1.1&b=U with a small object list), takes
 * the empty ACK, waits for the separate 2.01 (sent after the commit),
 * acknowledges it and closes.  A request not answered within 2 s is
 * retransmitted with the same MID, as a real device would.
 *
 * Prints registrations per second and latency percentiles (request sent ->
 * 2.01 received).  Commits per second: count the distinct transactions
 * that wrote the rows, printed as a SQL query to run afterwards.
 *
 * REG_STORM_BASE=B in the environment gives device i its own source
 * address and port, 127.2.0.(1 + (B+i) / 50000) : 10000 + (B+i) % 50000,
 * distinct across runs that pass consecutive bases.  Without it the
 * kernel's ephemeral ports are reused once closed, and libcoap then sees
 * an old device's session: "held" counts above ~28 000 are not real.
 *
 * Loopback only; no sleeps: epoll with the retransmission deadline.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/sim_coap.h"

struct client {
    int fd;
    int idx;
    uint16_t mid;
    uint8_t token[4];
    uint8_t req[512];
    size_t req_len;
    int64_t sent_us, first_us;
    int tries;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The Register, built with tools/sim_coap (shared with lodestar-sim). */
static void build(struct client *c, const char *prefix)
{
    static const char links[] = "</1/0>,</3/0>,</4/0>,</5/0>";
    char ep[96];
    struct sim_coap_msg m;
    sim_coap_init(&m, SIM_COAP_CON, 0x02, c->mid, c->token, 4);    /* POST */
    sim_coap_option(&m, SIM_COAP_OPT_URI_PATH, "rd", 2);
    sim_coap_option_uint(&m, SIM_COAP_OPT_CONTENT_FORMAT, 40);
    snprintf(ep, sizeof ep, "ep=%s-%d", prefix, c->idx);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, ep, strlen(ep));
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, "lt=86400", 8);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, "lwm2m=1.1", 9);
    sim_coap_option(&m, SIM_COAP_OPT_URI_QUERY, "b=U", 3);
    sim_coap_payload(&m, links, sizeof links - 1);
    memcpy(c->req, m.data, m.len);
    c->req_len = m.len;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT CLIENTS [WINDOW] [PREFIX]\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[1]), argv[1]);
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(colon + 1)) };
    inet_pton(AF_INET, host, &dst.sin_addr);
    int total = atoi(argv[2]), window = argc > 3 ? atoi(argv[3]) : 256;
    char prefix[64];
    if (argc > 4)
        snprintf(prefix, sizeof prefix, "%s", argv[4]);
    else
        snprintf(prefix, sizeof prefix, "storm%lx", (unsigned long)time(NULL));
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    long base = getenv("REG_STORM_BASE") ? atol(getenv("REG_STORM_BASE")) : -1;
    int ep = epoll_create1(0);
    struct client *cl = calloc((size_t)window, sizeof *cl);
    int64_t *lat = calloc((size_t)total, sizeof *lat);
    int next = 0, done = 0, active = 0, retrans = 0;
    srand((unsigned)time(NULL));
    int64_t t0 = now_us();
    for (;;) {
        while (active < window && next < total) {
            struct client *c = NULL;
            for (int i = 0; i < window; i++)
                if (!cl[i].fd) {
                    c = &cl[i];
                    break;
                }
            c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                perror("socket");
                return 1;
            }
            if (base >= 0) {
                /* Distinct (address, port) per device across runs: the
                 * kernel reuses ephemeral ports, which libcoap would see as
                 * the same session.  Device g: 127.2.0.(1 + g / 50000),
                 * port 10000 + g % 50000. */
                long g = base + next;
                struct sockaddr_in src = { .sin_family = AF_INET,
                                           .sin_port = htons((uint16_t)(10000 + g % 50000)) };
                src.sin_addr.s_addr = htonl((127u << 24) | (2u << 16) | (unsigned)(1 + g / 50000));
                int one = 1;
                setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
                if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0)
                    perror("bind");
            }
            connect(c->fd, (struct sockaddr *)&dst, sizeof dst);
            c->idx = next++;
            c->mid = (uint16_t)rand();
            uint32_t tok = (uint32_t)rand();
            memcpy(c->token, &tok, 4);
            build(c, prefix);
            c->tries = 0;
            c->first_us = c->sent_us = now_us();
            send(c->fd, c->req, c->req_len, 0);
            struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            active++;
        }
        if (!active)
            break;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 100);
        int64_t now = now_us();
        for (int i = 0; i < n; i++) {
            struct client *c = evs[i].data.ptr;
            uint8_t buf[1500];
            ssize_t len;
            while ((len = recv(c->fd, buf, sizeof buf, 0)) >= 4) {
                unsigned type = (buf[0] >> 4) & 3, code = buf[1];
                if (code == 0)
                    continue;   /* empty ACK */
                if ((buf[0] & 15) != 4 || memcmp(buf + 4, c->token, 4) != 0)
                    continue;
                if (type == 0) {
                    uint8_t ack[4] = { 0x60, 0, buf[2], buf[3] };
                    send(c->fd, ack, 4, 0);
                }
                if (code != 0x41)
                    fprintf(stderr, "client %d: code %u.%02u\n", c->idx, code >> 5, code & 31);
                lat[done++] = now - c->first_us;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = 0;
                active--;
                break;
            }
        }
        for (int i = 0; i < window; i++) {
            struct client *c = &cl[i];
            if (c->fd && now - c->sent_us > 2000000) {
                send(c->fd, c->req, c->req_len, 0);
                c->sent_us = now;
                retrans++;
            }
        }
    }
    double secs = (double)(now_us() - t0) / 1e6;
    qsort(lat, (size_t)done, sizeof *lat, cmp64);
    printf("clients=%d window=%d time_s=%.2f registrations_per_s=%.0f "
           "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f retransmissions=%d\n",
           done, window, secs, done / secs, lat[done / 2] / 1000.0,
           lat[(size_t)(done * 0.99)] / 1000.0, lat[done - 1] / 1000.0, retrans);
    printf("commits: SELECT count(DISTINCT xmin::text) FROM registrations "
           "WHERE endpoint LIKE '%s-%%';\n", prefix);
    free(cl);
    free(lat);
    return 0;
}
