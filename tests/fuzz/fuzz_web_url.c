/*
 * tests/fuzz/fuzz_web_url.c -- what the web layer does with URL bytes:
 * strict percent-decoding, the static-file path check, the LIKE prefix
 * escape and SSE framing, on arbitrary input
 *
 * Invariants checked: a decoded result is valid UTF-8 with no NUL; an
 * accepted static path never holds a ".." segment or starts with '/'; the
 * escaped prefix fits its documented bound; a frame ends with a blank line
 * and holds no bare newline inside a data line.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/devices.h"
#include "web/web_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *out = malloc(size + 1);
    size_t n = 0;
    if (web_url_decode((const char *)data, size, out, size + 1, &n)) {
        if (!web_url_utf8_valid(out, n) || memchr(out, '\0', n))
            abort();
        char rel[4200];
        char *path = malloc(n + 2);
        path[0] = '/';
        memcpy(path + 1, out, n + 1);
        if (web_static_relpath(path, rel, sizeof rel)) {
            if (rel[0] == '/' || strstr(rel, "/../") || strncmp(rel, "../", 3) == 0 ||
                strcmp(rel, "..") == 0 || (strlen(rel) >= 3 && strcmp(rel + strlen(rel) - 3, "/..") == 0))
                abort();
        }
        size_t cap = 2 * n + 2;
        char *pat = malloc(cap);
        if (!store_devices_like_prefix(out, pat, cap))
            abort();
        free(pat);
        char *frame = web_events_frame(1, "update", out);
        size_t fl = strlen(frame);
        if (fl < 2 || frame[fl - 1] != '\n' || frame[fl - 2] != '\n')
            abort();
        if (strstr(frame, "\n\n") != frame + fl - 2)
            abort();
        free(frame);
        free(path);
    }
    free(out);
    return 0;
}
