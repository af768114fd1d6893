/*
 * tests/harness/http_client.c -- a small HTTP/1.1 client for tests
 *
 * One request per connection (Connection: close), read to EOF, so no
 * keep-alive or pipelining logic is needed; chunked responses are decoded.
 * Every socket wait is a poll with the request's deadline.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Splits "http://host:port/path" (host may be [v6]). */
static bool split_url(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                      const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + 7, *hend, *colon;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend)
            return false;
        colon = hend + 1;
        h++;
    } else {
        hend = h + strcspn(h, ":/");
        colon = hend;
    }
    if (*colon != ':' || (size_t)(hend - h) >= hcap)
        return false;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    size_t plen = strcspn(colon + 1, "/");
    if (plen == 0 || plen >= pcap)
        return false;
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    *path = colon + 1 + plen;
    if (**path == '\0')
        *path = "/";
    return true;
}

static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - harness_now_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = { .fd = fd, .events = events };
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

static int connect_to(const char *host, const char *port, int64_t deadline)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static bool send_all(int fd, const char *data, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLOUT, deadline))
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* Reads to EOF.  A reset after the server answered early (413 before the
 * body was sent) still leaves a usable answer in buf. */
static char *recv_all(int fd, int64_t deadline, size_t *len_out)
{
    size_t len = 0, cap = 8192;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 + 1 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n > 0) {
            len += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLIN, deadline))
                break;
        } else {
            break;
        }
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* Undoes Transfer-Encoding: chunked in place; returns the new length. */
static size_t dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *end;
        unsigned long n = strtoul(body + in, &end, 16);
        char *crlf = strstr(end, "\r\n");
        if (!crlf || n == 0)
            break;
        in = (size_t)(crlf - body) + 2;
        if (n > len - in)
            n = len - in;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
    body[out] = '\0';
    return out;
}

static void parse_response(char *raw, size_t len, struct harness_http_response *resp)
{
    char *hend = strstr(raw, "\r\n\r\n");
    int status;
    if (!hend || sscanf(raw, "HTTP/1.%*d %d", &status) != 1)
        return;
    resp->status = status;
    char *line_end = strstr(raw, "\r\n");
    resp->headers = strndup(line_end + 2, (size_t)(hend + 2 - (line_end + 2)));
    char *body = hend + 4;
    size_t blen = len - (size_t)(body - raw);
    char te[32];
    if (harness_http_header(resp, "Transfer-Encoding", te, sizeof te) &&
        strcasecmp(te, "chunked") == 0)
        blen = dechunk(body, blen);
    char cl[32];
    if (harness_http_header(resp, "Content-Length", cl, sizeof cl) &&
        strtoul(cl, NULL, 10) < blen)
        blen = strtoul(cl, NULL, 10);
    resp->body = malloc(blen + 1);
    memcpy(resp->body, body, blen);
    resp->body[blen] = '\0';
    resp->body_len = blen;
}

int harness_http_request(const char *method, const char *url, const char *const headers[],
                         const char *body, size_t body_len, int64_t timeout_ms,
                         struct harness_http_response *resp)
{
    char host[256], port[8];
    const char *path;
    int64_t deadline = harness_now_ms() + timeout_ms;
    memset(resp, 0, sizeof *resp);
    resp->status = -1;
    if (!split_url(url, host, sizeof host, port, sizeof port, &path))
        return -1;
    int fd = connect_to(host, port, deadline);
    if (fd < 0)
        return -1;

    char *req = NULL;
    size_t req_len = 0;
    FILE *f = open_memstream(&req, &req_len);
    fprintf(f, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nConnection: close\r\n", method, path,
            strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    for (const char *const *h = headers; h && *h; h++)
        fprintf(f, "%s\r\n", *h);
    if (body)
        fprintf(f, "Content-Length: %zu\r\n", body_len);
    fprintf(f, "\r\n");
    fclose(f);
    /* A server may answer and close before reading a large body: sending
     * can then fail while a complete answer is waiting to be read. */
    if (send_all(fd, req, req_len, deadline) && body)
        send_all(fd, body, body_len, deadline);
    free(req);
    shutdown(fd, SHUT_WR);
    size_t len;
    char *raw = recv_all(fd, deadline, &len);
    close(fd);
    parse_response(raw, len, resp);
    free(raw);
    return resp->status;
}

void harness_http_response_free(struct harness_http_response *resp)
{
    free(resp->headers);
    free(resp->body);
    resp->headers = resp->body = NULL;
}

bool harness_http_header(const struct harness_http_response *resp, const char *name,
                         char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *l = resp->headers; l && *l; ) {
        const char *e = strstr(l, "\r\n");
        if (!e)
            break;
        if (strncasecmp(l, name, nlen) == 0 && l[nlen] == ':') {
            const char *v = l + nlen + 1;
            while (*v == ' ')
                v++;
            size_t n = (size_t)(e - v);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        l = e + 2;
    }
    return false;
}
