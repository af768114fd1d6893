/*
 * runtime/addr.c -- HOST:PORT text <-> socket addresses
 *
 * Splitting is done here rather than by getaddrinfo so that each kind of
 * mistake gets its own message; resolution itself is getaddrinfo with
 * AI_NUMERICSERV (a port is never a service name: "http" would silently
 * become 80 on one machine and fail on another).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/addr.h"

#include <net/if.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Longest host part accepted: a DNS name is at most 253 characters. */
#define HOST_MAX 256

/* Splits text into host and port strings; the port is validated here. */
static enum ls_rc split(const char *text, char *host, char *port, bool *bracketed,
                        struct ls_error *err)
{
    const char *colon, *h = text;
    size_t hlen;

    *bracketed = text[0] == '[';
    if (*bracketed) {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return ls_error_set(err, LS_EINVAL, "\"%s\" is not HOST:PORT", text);
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return ls_error_set(err, LS_EINVAL, "\"%s\" is not HOST:PORT", text);
        hlen = (size_t)(colon - text);
        if (memchr(text, ':', hlen))
            return ls_error_set(err, LS_EINVAL,
                                "\"%s\" is not HOST:PORT (write IPv6 as [addr]:port)", text);
    }
    if (hlen == 0 || hlen >= HOST_MAX)
        return ls_error_set(err, LS_EINVAL, "\"%s\" is not HOST:PORT", text);
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || strspn(p, "0123456789") != plen)
        return ls_error_set(err, LS_EINVAL, "\"%s\" is not HOST:PORT (port \"%s\" is not a number)",
                            text, p);
    if (plen > 5 || strtol(p, NULL, 10) > 65535)
        return ls_error_set(err, LS_EINVAL, "\"%s\": port %s is out of range 0..65535", text, p);
    snprintf(port, 8, "%ld", strtol(p, NULL, 10));
    return LS_OK;
}

enum ls_rc runtime_addr_parse(const char *text, struct runtime_addr *out,
                              struct ls_error *err)
{
    char host[HOST_MAX], port[8];
    bool bracketed;
    struct addrinfo *res = NULL;
    enum ls_rc rc;

    memset(out, 0, sizeof *out);
    if (!text || !text[0])
        return ls_error_set(err, LS_EINVAL, "\"\" is not HOST:PORT");
    rc = split(text, host, port, &bracketed, err);
    if (rc != LS_OK)
        goto out;

    struct addrinfo hints = {
        .ai_flags = AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0),
        .ai_family = bracketed ? AF_INET6 : AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    int gai = getaddrinfo(host, port, &hints, &res);
    if ((gai != 0 || !res) && bracketed) {
        rc = ls_error_set(err, LS_EINVAL, "\"%s\": \"%s\" is not an IPv6 address", text, host);
        goto out;
    }
    if (gai != 0 || !res) {
        rc = ls_error_set(err, LS_EINVAL, "cannot resolve \"%s\" in \"%s\": %s", host, text,
                          gai_strerror(gai));
        goto out;
    }
    if (res->ai_addrlen > sizeof out->ss) {
        rc = ls_error_set(err, LS_EINVAL, "\"%s\": unsupported address family", text);
        goto out;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    rc = LS_OK;
out:
    if (res)
        freeaddrinfo(res);
    return rc;
}

char *runtime_addr_format(const struct sockaddr *sa, socklen_t len, char *buf)
{
    /* Numeric forms only: an IPv6 address, '%' and an interface name fit. */
    char host[INET6_ADDRSTRLEN + 1 + IF_NAMESIZE + 1], serv[8];

    strcpy(buf, "?");
    if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return buf;
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return buf;
    if (sa->sa_family == AF_INET6)
        snprintf(buf, RUNTIME_ADDR_STR_MAX, "[%s]:%s", host, serv);
    else
        snprintf(buf, RUNTIME_ADDR_STR_MAX, "%s:%s", host, serv);
    return buf;
}

int runtime_addr_port(const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa && sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return -1;
}
