/*
 * tools/config_markdown.c -- docs/configuration.md from runtime/config.c's
 * option table (the table --help prints), so the page cannot drift
 *
 *   config_markdown                 print the page
 *   config_markdown --write FILE    write it to FILE
 *   config_markdown --check FILE    exit 1 (and say how to fix) when FILE
 *                                   differs from what the table gives
 *
 * The meson test configuration_md runs --check on the committed page;
 * `ninja -C <build> configuration-md` runs --write.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/config.h"

/* The page as runtime_config_markdown writes it; caller frees. */
static char *generate(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    runtime_config_markdown(f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap) {
            char *b = realloc(buf, cap = cap * 2 + 8192);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    return buf;
}

/* The first differing line, for the message. */
static unsigned first_diff_line(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned line = 1;
    for (size_t i = 0; i < alen && i < blen && a[i] == b[i]; i++)
        line += a[i] == '\n';
    return line;
}

static int check(const char *path, const char *want, size_t wlen)
{
    size_t hlen;
    char *have = slurp(path, &hlen);
    if (!have) {
        fprintf(stderr, "config_markdown: cannot read %s\n", path);
        return 1;
    }
    int rc = 0;
    if (hlen != wlen || memcmp(have, want, wlen) != 0) {
        fprintf(stderr, "config_markdown: %s differs from runtime/config.c's option table "
                "(first at line %u); regenerate it: ninja -C <build> configuration-md\n",
                path, first_diff_line(have, hlen, want, wlen));
        rc = 1;
    }
    free(have);
    return rc;
}

static int write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "config_markdown: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t len;
    char *text = generate(&len);
    if (!text) {
        fprintf(stderr, "config_markdown: out of memory\n");
        return 1;
    }
    int rc;
    if (argc == 3 && strcmp(argv[1], "--check") == 0)
        rc = check(argv[2], text, len);
    else if (argc == 3 && strcmp(argv[1], "--write") == 0)
        rc = write_file(argv[2], text, len);
    else if (argc == 1)
        rc = fwrite(text, 1, len, stdout) == len ? 0 : 1;
    else {
        fprintf(stderr, "usage: config_markdown [--check FILE | --write FILE]\n");
        rc = 2;
    }
    free(text);
    return rc;
}
