/*
 * tools/sim_dtls.c -- libcoap DTLS-PSK client sessions and the storm
 * driver of the load generators (see sim_dtls.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_dtls.h"

#include "runtime/dtls_flight.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t sim_dtls_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- plain PSK (see the header) ---- */

#define PLAIN_PSK "NORMAL:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8:-MAC-ALL:+AEAD:-VERS-TLS1.3"

static const char *priority(const char *wanted)
{
    const char *e = getenv("LODESTAR_BENCH_PLAIN_PSK");
    return e && strcmp(e, "1") == 0 && wanted && strstr(wanted, "PSK") ? PLAIN_PSK : wanted;
}

int gnutls_priority_init(gnutls_priority_t *cache, const char *priorities, const char **err_pos)
{
    int (*real)(gnutls_priority_t *, const char *, const char **) =
        (int (*)(gnutls_priority_t *, const char *, const char **))dlsym(RTLD_NEXT,
                                                                         "gnutls_priority_init");
    return real(cache, priority(priorities), err_pos);
}

int gnutls_priority_set_direct(gnutls_session_t session, const char *priorities,
                               const char **err_pos)
{
    int (*real)(gnutls_session_t, const char *, const char **) =
        (int (*)(gnutls_session_t, const char *, const char **))dlsym(
            RTLD_NEXT, "gnutls_priority_set_direct");
    return real(session, priority(priorities), err_pos);
}


/* ---- more than FD_SETSIZE sessions ----
 *
 * libcoap 4.3.1's GnuTLS glue polls a session's socket during the
 * handshake with select(): receive_timeout() does FD_SET(fd) on three
 * fd_sets and select(fd + 1, ..., timeout 0), and only looks at the
 * return value.  A socket per session, so past about 1 000 sessions the
 * fd is >= FD_SETSIZE: glibc's fortified FD_SET aborts ("bit out of range
 * 0 - FD_SETSIZE"), and unfortified it would write past the fd_set.  So
 * both are interposed here: __fdelt_chk (what the fortified FD_SET /
 * FD_ISSET call) maps a large fd to the first word of the set instead of
 * aborting, which stays inside the set; and select() with nfds above
 * FD_SETSIZE polls fd nfds - 1 (the one fd libcoap asked about) with
 * poll(), for readability if readfds was given and writability if
 * writefds was, and returns how many of those are ready.  Below
 * FD_SETSIZE both behave as glibc's. */

long int __fdelt_chk(long int d);
long int __fdelt_chk(long int d)
{
    if (d < 0)
        abort();
    return d < FD_SETSIZE ? d / __NFDBITS : 0;
}

int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
           struct timeval *timeout)
{
    if (nfds <= FD_SETSIZE) {
        static int (*real)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
        if (!real)      /* once: libcoap selects several times per handshake */
            real = (int (*)(int, fd_set *, fd_set *, fd_set *, struct timeval *))dlsym(
                RTLD_NEXT, "select");
        return real(nfds, readfds, writefds, exceptfds, timeout);
    }
    struct pollfd pfd = { .fd = nfds - 1,
                          .events = (short)((readfds ? POLLIN : 0) | (writefds ? POLLOUT : 0)) };
    int ms = timeout ? (int)(timeout->tv_sec * 1000 + timeout->tv_usec / 1000) : -1;
    int n = poll(&pfd, 1, ms);
    if (readfds)
        memset(readfds, 0, sizeof *readfds);
    if (writefds)
        memset(writefds, 0, sizeof *writefds);
    if (exceptfds)
        memset(exceptfds, 0, sizeof *exceptfds);
    if (n <= 0)
        return n;
    return ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) && readfds ? 1 : 0) +
           ((pfd.revents & POLLOUT) && writefds ? 1 : 0);
}

/* ---- addresses and sessions ---- */

void sim_dtls_address(coap_address_t *a, uint32_t ip, uint16_t port)
{
    coap_address_init(a);
    a->addr.sin.sin_family = AF_INET;
    a->addr.sin.sin_addr.s_addr = htonl(ip);
    a->addr.sin.sin_port = htons(port);
    a->size = sizeof a->addr.sin;
}

bool sim_dtls_parse_address(const char *s, uint16_t def_port, coap_address_t *out,
                            bool *secure)
{
    *secure = false;
    if (strncmp(s, "coaps://", 8) == 0) {
        *secure = true;
        s += 8;
    } else if (strncmp(s, "coap://", 7) == 0) {
        s += 7;
    }
    char host[64], rest[8];
    unsigned port = def_port;
    int n = sscanf(s, "%63[0-9.]:%u%7s", host, &port, rest);
    struct in_addr in;
    if (n < 1 || n > 2 || port == 0 || port > 65535 || inet_pton(AF_INET, host, &in) != 1)
        return false;
    sim_dtls_address(out, ntohl(in.s_addr), (uint16_t)port);
    return true;
}

coap_session_t *sim_dtls_session(coap_context_t *ctx, const coap_address_t *local,
                                 const coap_address_t *dst, const uint8_t *identity,
                                 size_t identity_len, const uint8_t *key, size_t key_len)
{
    if (!identity)
        return coap_new_client_session(ctx, local, dst, COAP_PROTO_UDP);
    runtime_dtls_flight_link();   /* flights in one datagram */
    coap_dtls_cpsk_t cpsk;
    memset(&cpsk, 0, sizeof cpsk);
    cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    cpsk.psk_info.identity.s = identity;
    cpsk.psk_info.identity.length = identity_len;
    cpsk.psk_info.key.s = key;
    cpsk.psk_info.key.length = key_len;
    return coap_new_client_session_psk2(ctx, local, dst, COAP_PROTO_DTLS, &cpsk);
}

void sim_dtls_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- the storm driver ---- */

static int read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* In the child: runs fn, writes start, end, done, failed and the pairs. */
static void child(int first, int count, int window, sim_dtls_storm_fn fn, void *arg, int fd)
{
    struct sim_dtls_tally t = { 0 };
    fn(first, count, window, &t, arg);
    int64_t head[4] = { t.start_us, t.end_us, t.done, t.failed };
    size_t n = 2 * sizeof *t.pairs * (size_t)t.done;
    if (write(fd, head, sizeof head) != sizeof head ||
        (n && write(fd, t.pairs, n) != (ssize_t)n))
        perror("write");
    free(t.pairs);
}

int sim_dtls_storm_run(int total, int procs, int window, sim_dtls_storm_fn fn, void *arg,
                       struct sim_dtls_storm *out)
{
    memset(out, 0, sizeof *out);
    out->start_us = INT64_MAX;
    int fds[16];
    pid_t pids[16];
    if (procs < 1 || procs > 16)
        return -1;
    for (int p = 0; p < procs; p++) {
        int pf[2];
        if (pipe(pf) != 0)
            return -1;
        int first = total * p / procs, count = total * (p + 1) / procs - first;
        pids[p] = fork();
        if (pids[p] < 0)
            return -1;
        if (pids[p] == 0) {
            close(pf[0]);
            child(first, count, (window + procs - 1) / procs, fn, arg, pf[1]);
            close(pf[1]);
            _exit(0);
        }
        close(pf[1]);
        fds[p] = pf[0];
    }
    out->lat = malloc(sizeof *out->lat * (size_t)(total + 1));
    out->ends = malloc(sizeof *out->ends * (size_t)(total + 1));
    int64_t *pair = malloc(2 * sizeof *pair * (size_t)(total + 1));
    for (int p = 0; p < procs; p++) {
        int64_t head[4];
        if (out->lat && out->ends && pair && read_all(fds[p], head, sizeof head) == 0 &&
            head[2] >= 0 && out->done + head[2] <= total) {
            if (head[0] < out->start_us)
                out->start_us = head[0];
            if (head[1] > out->end_us)
                out->end_us = head[1];
            if (read_all(fds[p], pair, 2 * sizeof *pair * (size_t)head[2]) == 0)
                for (int64_t i = 0; i < head[2]; i++, out->done++) {
                    out->lat[out->done] = pair[2 * i];
                    out->ends[out->done] = pair[2 * i + 1];
                }
            out->failed += head[3];
        }
        close(fds[p]);
        waitpid(pids[p], NULL, 0);
    }
    free(pair);
    if (!out->lat || !out->ends)
        return -1;
    qsort(out->lat, (size_t)out->done, sizeof *out->lat, cmp_i64);
    qsort(out->ends, (size_t)out->done, sizeof *out->ends, cmp_i64);
    return 0;
}

double sim_dtls_storm_ms(const struct sim_dtls_storm *s, double q)
{
    if (!s->done)
        return 0;
    int64_t i = (int64_t)((double)s->done * q);
    if (i >= s->done)
        i = s->done - 1;
    return (double)s->lat[i] / 1000;
}

double sim_dtls_storm_rate(const struct sim_dtls_storm *s)
{
    double secs = s->done ? (double)(s->ends[s->done - 1] - s->start_us) / 1e6 : 0;
    return secs > 0 ? (double)s->done / secs : 0;
}

double sim_dtls_storm_rate99(const struct sim_dtls_storm *s)
{
    int64_t n99 = s->done * 99 / 100;
    double secs = n99 ? (double)(s->ends[n99 - 1] - s->start_us) / 1e6 : 0;
    return secs > 0 ? (double)n99 / secs : 0;
}

void sim_dtls_storm_free(struct sim_dtls_storm *s)
{
    free(s->lat);
    free(s->ends);
    s->lat = s->ends = NULL;
}
