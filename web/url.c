/*
 * web/url.c -- strict decoding of what arrives in a URL
 *
 * Device names are arbitrary UTF-8 (urn:imei:..., names with '/' or '%'),
 * so they reach us percent-encoded, and anything that is not a clean
 * encoding of valid UTF-8 is refused with 400 rather than guessed at: a
 * lenient decoder would let two spellings name one device, or pass bytes
 * to Postgres that it refuses later with a less useful error.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool web_url_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool web_url_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    *out_len = 0;
    if (cap == 0)
        return false;
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '\0')
            return false;
        if (c == '%') {
            if (len - i < 3)
                return false;
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    if (!web_url_utf8_valid(out, n))
        return false;
    *out_len = n;
    return true;
}

bool web_url_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int web_url_query(struct MHD_Connection *conn, const char *name, char *out, size_t cap)
{
    size_t len = 0;
    const char *v = NULL;
    /* The _n variant also sees values with binary zeros (MHD keeps the
     * length), which a '\0'-terminated lookup would silently truncate. */
    if (MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &len) != MHD_YES)
        return 0;
    if (!v) {
        out[0] = '\0';
        return 1;
    }
    size_t got;
    return web_url_decode(v, len, out, cap, &got) ? 1 : -1;
}

int web_url_query_enum(struct MHD_Connection *conn, const char *name,
                       const char *const *allowed, char *out, size_t cap)
{
    int n = web_url_query(conn, name, out, cap);
    if (n <= 0)
        return n;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(out, allowed[i]) == 0)
            return 1;
    return -1;
}

bool web_url_query_limit(struct MHD_Connection *conn, long long def, long long max,
                         long long *out)
{
    char text[24];
    int n = web_url_query(conn, "limit", text, sizeof text);
    *out = def;
    return n == 0 || (n > 0 && web_url_parse_int(text, 1, max, out));
}
