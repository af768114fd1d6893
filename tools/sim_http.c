/*
 * tools/sim_http.c -- one blocking HTTP request (sim_http.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum ls_rc sim_http_parse_base(const char *url, struct sockaddr_in *out, struct ls_error *err)
{
    char host[64];
    unsigned port = 0;
    memset(out, 0, sizeof *out);
    if (strncmp(url, "http://", 7) != 0 ||
        sscanf(url + 7, "%63[0-9.]:%u", host, &port) != 2 || port == 0 || port > 65535)
        return ls_error_set(err, LS_EINVAL, "bad API URL \"%s\": want http://IPv4:port", url);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return ls_error_set(err, LS_EINVAL, "bad API address \"%s\"", host);
    return LS_OK;
}

static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

enum ls_rc sim_http_request(const struct sockaddr_in *to, const char *method, const char *path,
                            const char *token, const char *body, int64_t timeout_ms,
                            int *status, struct ls_error *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    enum ls_rc rc = LS_OK;
    *status = -1;
    char *req = NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ls_error_set(err, LS_EIO, "socket: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0 && errno != EINPROGRESS) {
        rc = ls_error_set(err, LS_EIO, "connect: %s", strerror(errno));
        goto out;
    }
    size_t blen = body ? strlen(body) : 0;
    int n = asprintf(&req,
                     "%s %s HTTP/1.1\r\nHost: lodestar\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     method, path, token, blen, body ? body : "");
    if (n < 0) {
        req = NULL;
        rc = ls_error_set(err, LS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t off = 0; off < (size_t)n;) {
        if (!wait_fd(fd, POLLOUT, deadline)) {
            rc = ls_error_set(err, LS_ETRANSIENT, "timeout sending the request");
            goto out;
        }
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            rc = ls_error_set(err, LS_EIO, "send: %s", strerror(errno));
            goto out;
        }
        if (w > 0)
            off += (size_t)w;
    }
    char head[256];
    size_t got = 0;
    while (got < 12) {       /* "HTTP/1.1 200" */
        if (!wait_fd(fd, POLLIN, deadline)) {
            rc = ls_error_set(err, LS_ETRANSIENT, "timeout waiting for the answer");
            goto out;
        }
        ssize_t r = recv(fd, head + got, sizeof head - 1 - got, 0);
        if (r == 0)
            break;
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            rc = ls_error_set(err, LS_EIO, "recv: %s", strerror(errno));
            goto out;
        }
        if (r > 0)
            got += (size_t)r;
    }
    head[got] = '\0';
    if (got < 12 || strncmp(head, "HTTP/1.", 7) != 0) {
        rc = ls_error_set(err, LS_EIO, "no HTTP status line");
        goto out;
    }
    *status = atoi(head + 9);
out:
    free(req);
    close(fd);
    return rc;
}
