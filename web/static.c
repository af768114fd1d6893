/*
 * web/static.c -- the dashboard's files under --static, at /
 *
 * No token: these files hold no data (the page asks the API, with a
 * token, for everything it shows).  A request path is decoded strictly,
 * checked segment by segment (no "..", no ".", no backslash, no control
 * bytes), then resolved with realpath() and served only if the result
 * still lies under the static root: a symlink inside the tree that points
 * out of it is refused like "..".  Only regular files are served.
 *
 * Every answer carries a Content-Security-Policy that allows nothing but
 * this origin (no inline script or style, no framing), nosniff, and
 * Referrer-Policy: no-referrer.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CSP "default-src 'self'; connect-src 'self'; img-src 'self' data:; " \
            "style-src 'self'; script-src 'self'; frame-ancestors 'none'"

bool web_static_relpath(const char *path, char *out, size_t cap)
{
    if (path[0] != '/')
        return false;
    const char *p = path + 1;
    if (!*p)
        p = "index.html";
    size_t n = strlen(p);
    if (n + 1 > cap)
        return false;
    /* Walk the segments: each must be a plain, non-empty name. */
    const char *seg = p;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '/' || c == '\0') {
            size_t len = (size_t)(p + i - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') ||
                (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            seg = p + i + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    memcpy(out, p, n + 1);
    return true;
}

const char *web_static_content_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".json", "application/json" },
        { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t e = strlen(types[i].ext);
        if (n > e && strcmp(name + n - e, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

static enum MHD_Result not_found(struct MHD_Connection *conn)
{
    return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such file");
}

/* Opens root/rel if it resolves to a regular file under root; -1 if not. */
static int open_under(const char *root, const char *rel, struct stat *st)
{
    char joined[PATH_MAX], real[PATH_MAX];
    size_t rlen = strlen(root);
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", root, rel) >= sizeof joined)
        return -1;
    if (!realpath(joined, real))
        return -1;
    if (strncmp(real, root, rlen) != 0 || (real[rlen] != '/' && real[rlen] != '\0'))
        return -1;
    /* O_NOFOLLOW: the resolved path has no symlink left, unless one was
     * swapped in since; then refuse rather than follow it. */
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

enum MHD_Result web_static_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    size_t plen = strlen(req->path), dlen;
    char decoded[PATH_MAX], rel[PATH_MAX];
    if (!w->static_root)
        return not_found(conn);
    if (plen >= sizeof decoded || !web_url_decode(req->path, plen, decoded, sizeof decoded, &dlen))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "the path is not valid percent-encoded UTF-8");
    if (!web_static_relpath(decoded, rel, sizeof rel))
        return not_found(conn);
    struct stat st;
    int fd = open_under(w->static_root, rel, &st);
    if (fd < 0)
        return not_found(conn);
    /* MHD owns fd from here and closes it with the response. */
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, web_static_content_type(rel));
    MHD_add_response_header(r, "Content-Security-Policy", CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
