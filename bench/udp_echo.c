/*
 * bench/udp_echo.c -- the loopback's own UDP packet rate on this machine:
 * a trivial echo, to tell what the kernel and the CPUs allow from what
 * the daemons do
 *
 *   udp_echo [SECONDS] [WINDOW] [SIZE]      (defaults 2, 64, 64)
 *
 * One thread echoes every datagram it receives on 127.0.0.1 (recvfrom,
 * sendto: one system call each, like a simple server); the main thread
 * keeps WINDOW datagrams of SIZE bytes in flight to it from 127.0.0.2 for
 * SECONDS and counts the round trips.  A datagram lost on the way (a full
 * socket buffer) is replaced after 100 ms of silence.  Prints one line:
 * round trips/s, datagrams/s (two per round trip, both directions through
 * the loopback) and the process's CPU time per datagram.
 *
 * Loopback only; no sleeps: blocking receives with a timeout.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_bool stop;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int udp_echo_socket(const char *ip, struct sockaddr_in *bound)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET };
    inet_pton(AF_INET, ip, &a.sin_addr);
    socklen_t len = sizeof a;
    struct timeval tv = { .tv_usec = 100000 };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)bound, &len) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *udp_echo_serve(void *arg)
{
    int fd = *(int *)arg;
    uint8_t buf[2048];
    while (!atomic_load(&stop)) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n >= 0)
            sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
    return NULL;
}

static double udp_echo_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int window = argc > 2 ? atoi(argv[2]) : 64;
    int size = argc > 3 ? atoi(argv[3]) : 64;
    if (seconds <= 0 || window <= 0 || size <= 0 || size > 1400) {
        fprintf(stderr, "usage: udp_echo [SECONDS] [WINDOW] [SIZE<=1400]\n");
        return 2;
    }
    struct sockaddr_in srv, cli;
    int sfd = udp_echo_socket("127.0.0.1", &srv);
    int cfd = udp_echo_socket("127.0.0.2", &cli);
    if (sfd < 0 || cfd < 0) {
        fprintf(stderr, "udp_echo: socket: %s\n", strerror(errno));
        return 1;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, udp_echo_serve, &sfd) != 0) {
        fprintf(stderr, "udp_echo: cannot start the echo thread\n");
        return 1;
    }
    uint8_t buf[2048];
    memset(buf, 'x', sizeof buf);
    uint64_t trips = 0, lost = 0;
    double cpu0 = udp_echo_cpu_s(), t0 = now_s(), end = t0 + seconds;
    for (int i = 0; i < window; i++)
        sendto(cfd, buf, (size_t)size, 0, (struct sockaddr *)&srv, sizeof srv);
    while (now_s() < end) {
        ssize_t n = recv(cfd, buf, sizeof buf, 0);
        if (n < 0)
            lost++; /* 100 ms of silence: one was dropped, send another */
        else
            trips++;
        sendto(cfd, buf, (size_t)size, 0, (struct sockaddr *)&srv, sizeof srv);
    }
    double wall = now_s() - t0, cpu = udp_echo_cpu_s() - cpu0;
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    close(sfd);
    close(cfd);
    printf("udp_echo: %.0f round trips/s, %.0f datagrams/s, %.2f us CPU per datagram, "
           "window %d, %d bytes, %.1f s, %llu timeouts\n",
           (double)trips / wall, 2.0 * (double)trips / wall,
           trips ? cpu * 1e6 / (2.0 * (double)trips) : 0.0, window, size, wall,
           (unsigned long long)lost);
    return trips ? 0 : 1;
}
