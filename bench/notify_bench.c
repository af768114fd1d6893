/*
 * bench/notify_bench.c -- stored notifications per second with many
 * observing devices against lodestar-server
 *
 *   notify_bench setup PGURI PREFIX
 *   notify_bench run HOST:PORT CLIENTS SECONDS WINDOW PGURI PREFIX
 *
 * The devices are the ones `REG_STORM_BASE=0 reg_storm HOST:PORT CLIENTS 256
 * PREFIX` registered (device i talks from 127.2.0.(1 + i / 50000), port
 * 10000 + i % 50000).  `setup` gives each of them one observation of
 * /3/0/9 straight in the observations table (token = 8 bytes: "NB" and the
 * device number), as the server would after an Observe; restart the server
 * so that it loads them (this is also the restart path: notifications on
 * sessions the server never saw).  `run` plays every device from its own
 * UDP socket and source address: each sends CON notifications (2.05,
 * Observe sequence, Content-Format text, the battery level) with its
 * observation's token; WINDOW notifications are in flight in total, spread
 * round-robin over the devices, so all CLIENTS keep notifying.  A
 * notification the server accepts is ACKed (it was queued to the store
 * worker); one it refuses gets RST.  After SECONDS it stops sending, waits
 * until the telemetry count stops growing, and prints sent / ACKed / RST,
 * ACKs per second and STORED rows per second (telemetry rows of PREFIX
 * devices committed, divided by the time from the first send to the last
 * commit).  NOTIFY_BENCH_RATE=N in the environment paces the sending at
 * N notifications per second (the sustainable rate: nothing shed).
 *
 * Loopback only; no sleeps: epoll with deadlines.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct dev {
    int fd;
    int idx;
    uint16_t mid;
    uint32_t seq;                 /* Observe sequence */
    bool busy;                    /* a CON in flight */
    int64_t sent_us;
    uint8_t pdu[64];
    size_t len;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static PGconn *db(const char *uri)
{
    PGconn *c = PQconnectdb(uri);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "database: %s", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

static long long count_rows(PGconn *c, const char *prefix)
{
    char like[128];
    snprintf(like, sizeof like, "%s-%%", prefix);
    const char *v[1] = { like };
    PGresult *r = PQexecParams(c, "SELECT count(*) FROM telemetry WHERE endpoint LIKE $1", 1,
                               NULL, v, NULL, NULL, 0);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
}

/* One observation of /3/0/9 per registered PREFIX device, token "NB" +
 * the device number (6 bytes, big endian). */
static int setup(const char *uri, const char *prefix)
{
    PGconn *c = db(uri);
    char like[128];
    snprintf(like, sizeof like, "%s-%%", prefix);
    const char *v[2] = { like, prefix };
    PGresult *r = PQexecParams(c,
        "INSERT INTO observations (endpoint, registration_id, path, token, format)"
        " SELECT endpoint, id, '/3/0/9',"
        " decode('4e42' || lpad(to_hex(substr(endpoint, length($2::text) + 2)::bigint), 12,"
        " '0'), 'hex'), 0 FROM registrations WHERE endpoint LIKE $1::text"
        " ON CONFLICT (endpoint, token) DO NOTHING", 2, NULL, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "setup: %s", PQerrorMessage(c));
        return 1;
    }
    printf("observations inserted: %s (restart lodestar-server now)\n", PQcmdTuples(r));
    PQclear(r);
    PQfinish(c);
    return 0;
}

/* A CON 2.05 notification: token, Observe, Content-Format 0, payload. */
static void build(struct dev *d)
{
    uint8_t *p = d->pdu;
    size_t n = 0;
    d->mid++;
    d->seq = (d->seq + 1) & 0xffffff;
    p[n++] = 0x48;                        /* ver 1, CON, token length 8 */
    p[n++] = 0x45;                        /* 2.05 */
    p[n++] = (uint8_t)(d->mid >> 8);
    p[n++] = (uint8_t)d->mid;
    uint8_t tok[8] = { 'N', 'B', 0, 0, (uint8_t)(d->idx >> 24), (uint8_t)(d->idx >> 16),
                       (uint8_t)(d->idx >> 8), (uint8_t)d->idx };
    memcpy(p + n, tok, 8);
    n += 8;
    p[n++] = 0x63;                        /* Observe (6), 3 bytes */
    p[n++] = (uint8_t)(d->seq >> 16);
    p[n++] = (uint8_t)(d->seq >> 8);
    p[n++] = (uint8_t)d->seq;
    p[n++] = 0x60;                        /* Content-Format (12), empty = 0 */
    p[n++] = 0xff;
    n += (size_t)snprintf((char *)p + n, sizeof d->pdu - n, "%u", d->seq % 101);
    d->len = n;
}

static int open_dev(struct dev *d, int idx, const struct sockaddr_in *dst, int ep)
{
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (d->fd < 0) {
        perror("socket");
        return -1;
    }
    struct sockaddr_in src = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)(10000 + idx % 50000)) };
    src.sin_addr.s_addr = htonl((127u << 24) | (2u << 16) | (unsigned)(1 + idx / 50000));
    int one = 1;
    setsockopt(d->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(d->fd, (struct sockaddr *)&src, sizeof src) != 0) {
        perror("bind");
        return -1;
    }
    connect(d->fd, (const struct sockaddr *)dst, sizeof *dst);
    d->idx = idx;
    d->mid = (uint16_t)rand();
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = d };
    epoll_ctl(ep, EPOLL_CTL_ADD, d->fd, &ev);
    return 0;
}

struct totals {
    long long sent, acked, rst, retrans;
};

/* Reads everything d has; frees its slot on ACK or RST. */
static int drain(struct dev *d, struct totals *t)
{
    uint8_t buf[256];
    ssize_t len;
    int freed = 0;
    while ((len = recv(d->fd, buf, sizeof buf, 0)) >= 4) {
        unsigned type = (buf[0] >> 4) & 3;
        uint16_t mid = (uint16_t)(buf[2] << 8 | buf[3]);
        if (!d->busy || mid != d->mid || (type != 2 && type != 3))
            continue;
        d->busy = false;
        freed++;
        if (type == 2)
            t->acked++;
        else
            t->rst++;
    }
    return freed;
}

static int run(int argc, char **argv)
{
    char host[64];
    const char *colon = strrchr(argv[2], ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[2]), argv[2]);
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(colon + 1)) };
    inet_pton(AF_INET, host, &dst.sin_addr);
    int clients = atoi(argv[3]), window = atoi(argv[5]);
    double seconds = atof(argv[4]);
    const char *prefix = argv[7];
    PGconn *c = db(argv[6]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    int ep = epoll_create1(0);
    struct dev *devs = calloc((size_t)clients, sizeof *devs);
    for (int i = 0; i < clients; i++)
        if (open_dev(&devs[i], i, &dst, ep) != 0)
            return 1;
    long long before = count_rows(c, prefix);
    struct totals t = { 0 };
    int inflight = 0, next = 0;
    double rate = getenv("NOTIFY_BENCH_RATE") ? atof(getenv("NOTIFY_BENCH_RATE")) : 0;
    int64_t t0 = now_us(), stop_at = t0 + (int64_t)(seconds * 1e6);
    for (;;) {
        int64_t now = now_us();
        bool sending = now < stop_at;
        long long allowed = rate > 0 ? (long long)(rate * (double)(now - t0) / 1e6) - t.sent
                                     : clients;
        for (int k = 0; sending && inflight < window && k < clients && allowed > 0; k++) {
            struct dev *d = &devs[next];
            next = (next + 1) % clients;
            if (d->busy)
                continue;
            build(d);
            d->busy = true;
            d->sent_us = now;
            send(d->fd, d->pdu, d->len, 0);
            t.sent++;
            inflight++;
            allowed--;
        }
        if (!sending && inflight == 0)
            break;
        struct epoll_event evs[512];
        int n = epoll_wait(ep, evs, 512, rate > 0 ? 1 : 50);
        for (int i = 0; i < n; i++)
            inflight -= drain(evs[i].data.ptr, &t);
        now = now_us();
        /* A CON without an answer in 2 s: retransmit (same MID), then
         * give up after the stop (counted as neither). */
        for (int i = 0; i < clients; i++) {
            struct dev *d = &devs[i];
            if (!d->busy || now - d->sent_us < 2000000)
                continue;
            if (!sending && now - d->sent_us > 6000000) {
                d->busy = false;
                inflight--;
                continue;
            }
            send(d->fd, d->pdu, d->len, 0);
            d->sent_us = now;
            t.retrans++;
        }
    }
    int64_t t_sent = now_us();
    /* Wait for the worker to drain: the count stops growing for 1 s. */
    long long rows = count_rows(c, prefix), last = -1;
    int64_t t_last = now_us();
    while (rows != last || now_us() - t_last < 1000000) {
        if (rows != last)
            t_last = now_us();
        last = rows;
        struct timespec ts = { 0, 100 * 1000000 };   /* poll interval of the DB count */
        nanosleep(&ts, NULL);
        rows = count_rows(c, prefix);
    }
    long long stored = rows - before;
    double send_s = (double)(t_sent - t0) / 1e6, store_s = (double)(t_last - t0) / 1e6;
    printf("clients=%d window=%d sent=%lld acked=%lld rst=%lld retransmissions=%lld "
           "send_time_s=%.2f acked_per_s=%.0f stored=%lld store_time_s=%.2f "
           "stored_per_s=%.0f\n", clients, window, t.sent, t.acked, t.rst, t.retrans, send_s,
           t.acked / send_s, stored, store_s, stored / store_s);
    for (int i = 0; i < clients; i++)
        close(devs[i].fd);
    free(devs);
    PQfinish(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "setup") == 0)
        return setup(argv[2], argv[3]);
    if (argc == 8 && strcmp(argv[1], "run") == 0)
        return run(argc, argv);
    fprintf(stderr, "usage: %s setup PGURI PREFIX\n"
                    "       %s run HOST:PORT CLIENTS SECONDS WINDOW PGURI PREFIX\n",
            argv[0], argv[0]);
    return 2;
}
