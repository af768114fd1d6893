/*
 * tools/sim_csv.c -- the factory export CSV read by lodestar-sim: RFC 4180
 * records, a header naming the columns, hex keys (see sim_csv.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_csv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 32
#define MAX_FIELD 4096

enum col {
    COL_ENDPOINT, COL_BS_URI, COL_BS_ID, COL_BS_KEY, COL_SRV_URI, COL_SRV_SSID, COL_SRV_ID,
    COL_SRV_KEY, COL_COUNT
};

static const char *const col_names[COL_COUNT] = {
    "endpoint", "bootstrap_uri", "bootstrap_identity", "bootstrap_key",
    "server_uri", "server_ssid", "server_identity", "server_key",
};

/* One record being read: its fields, NUL-terminated copies. */
struct record {
    char *field[MAX_FIELDS];
    size_t n;
};

static void record_clear(struct record *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->field[i]);
    r->n = 0;
}

static enum ls_rc record_add(struct record *r, const char *s, size_t len, size_t line,
                             struct ls_error *err)
{
    if (r->n == MAX_FIELDS)
        return ls_error_set(err, LS_EPROTO, "line %zu: more than %d fields", line, MAX_FIELDS);
    char *f = malloc(len + 1);
    if (!f)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    memcpy(f, s, len);
    f[len] = '\0';
    r->field[r->n++] = f;
    return LS_OK;
}

/*
 * Reads the record at text[*pos]: fields up to an unquoted line end or the
 * end of the input.  *line counts line ends (also inside quotes).
 */
static enum ls_rc read_record(const char *text, size_t len, size_t *pos, size_t *line,
                              struct record *r, struct ls_error *err)
{
    char buf[MAX_FIELD];
    size_t i = *pos, start_line = *line;
    for (;;) {
        size_t n = 0;
        if (i < len && text[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return ls_error_set(err, LS_EPROTO, "line %zu: unterminated quote",
                                        start_line);
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        i += 2;
                        if (n == sizeof buf)
                            return ls_error_set(err, LS_EPROTO, "line %zu: field too long",
                                                start_line);
                        buf[n++] = '"';
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n')
                    (*line)++;
                if (n == sizeof buf)
                    return ls_error_set(err, LS_EPROTO, "line %zu: field too long", start_line);
                buf[n++] = text[i++];
            }
            if (i < len && text[i] != ',' && text[i] != '\r' && text[i] != '\n')
                return ls_error_set(err, LS_EPROTO, "line %zu: text after a closing quote",
                                    start_line);
        } else {
            while (i < len && text[i] != ',' && text[i] != '\r' && text[i] != '\n') {
                if (text[i] == '"')
                    return ls_error_set(err, LS_EPROTO, "line %zu: quote inside a field",
                                        start_line);
                if (n == sizeof buf)
                    return ls_error_set(err, LS_EPROTO, "line %zu: field too long", start_line);
                buf[n++] = text[i++];
            }
        }
        enum ls_rc rc = record_add(r, buf, n, start_line, err);
        if (rc != LS_OK)
            return rc;
        if (i < len && text[i] == ',') {
            i++;
            continue;
        }
        if (i < len && text[i] == '\r')
            i++;
        if (i < len && text[i] == '\n')
            i++;
        (*line)++;
        *pos = i;
        return LS_OK;
    }
}

static enum ls_rc hex_key(const char *s, size_t line, uint8_t **out, size_t *out_len,
                          struct ls_error *err)
{
    size_t n = strlen(s);
    *out = NULL;
    *out_len = 0;
    if (n == 0)
        return LS_OK;
    if (n % 2)
        return ls_error_set(err, LS_EPROTO, "line %zu: a key is not hex", line);
    uint8_t *k = malloc(n / 2);
    if (!k)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n / 2; i++) {
        char pair[3] = { s[2 * i], s[2 * i + 1], '\0' };
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1])) {
            free(k);
            return ls_error_set(err, LS_EPROTO, "line %zu: a key is not hex", line);
        }
        k[i] = (uint8_t)strtoul(pair, NULL, 16);
    }
    *out = k;
    *out_len = n / 2;
    return LS_OK;
}

static char *dup_col(const struct record *r, const int *col, enum col c)
{
    return strdup(col[c] >= 0 && (size_t)col[c] < r->n ? r->field[col[c]] : "");
}

static enum ls_rc row_from(const struct record *r, const int *col, size_t line,
                           struct sim_csv_row *row, struct ls_error *err)
{
    memset(row, 0, sizeof *row);
    if ((size_t)col[COL_ENDPOINT] >= r->n || !r->field[col[COL_ENDPOINT]][0])
        return ls_error_set(err, LS_EPROTO, "line %zu: no endpoint", line);
    row->endpoint = dup_col(r, col, COL_ENDPOINT);
    row->bootstrap.uri = dup_col(r, col, COL_BS_URI);
    row->bootstrap.identity = dup_col(r, col, COL_BS_ID);
    row->server.uri = dup_col(r, col, COL_SRV_URI);
    row->server.identity = dup_col(r, col, COL_SRV_ID);
    if (!row->endpoint || !row->bootstrap.uri || !row->bootstrap.identity || !row->server.uri ||
        !row->server.identity)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    if (col[COL_SRV_SSID] >= 0 && (size_t)col[COL_SRV_SSID] < r->n) {
        const char *s = r->field[col[COL_SRV_SSID]];
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (*s && (*end || v > 65535))
            return ls_error_set(err, LS_EPROTO, "line %zu: server_ssid is not a number", line);
        row->server_ssid = (unsigned)v;
    }
    enum ls_rc rc = LS_OK;
    if (col[COL_BS_KEY] >= 0 && (size_t)col[COL_BS_KEY] < r->n)
        rc = hex_key(r->field[col[COL_BS_KEY]], line, &row->bootstrap.key,
                     &row->bootstrap.key_len, err);
    if (rc == LS_OK && col[COL_SRV_KEY] >= 0 && (size_t)col[COL_SRV_KEY] < r->n)
        rc = hex_key(r->field[col[COL_SRV_KEY]], line, &row->server.key, &row->server.key_len,
                     err);
    return rc;
}

static void account_free(struct sim_csv_account *a)
{
    free(a->uri);
    free(a->identity);
    if (a->key)
        memset(a->key, 0, a->key_len);
    free(a->key);
}

static void row_free(struct sim_csv_row *row)
{
    free(row->endpoint);
    account_free(&row->bootstrap);
    account_free(&row->server);
}

void sim_csv_free(struct sim_csv *c)
{
    for (size_t i = 0; i < c->count; i++)
        row_free(&c->rows[i]);
    free(c->rows);
    c->rows = NULL;
    c->count = 0;
}

static enum ls_rc header(const struct record *r, int *col, struct ls_error *err)
{
    for (int c = 0; c < COL_COUNT; c++)
        col[c] = -1;
    for (size_t i = 0; i < r->n; i++)
        for (int c = 0; c < COL_COUNT; c++)
            if (strcmp(r->field[i], col_names[c]) == 0) {
                if (col[c] >= 0)
                    return ls_error_set(err, LS_EPROTO, "line 1: column %s twice",
                                        col_names[c]);
                col[c] = (int)i;
            }
    if (col[COL_ENDPOINT] < 0)
        return ls_error_set(err, LS_EPROTO, "line 1: no endpoint column");
    return LS_OK;
}

enum ls_rc sim_csv_parse(const char *text, size_t len, struct sim_csv *out, struct ls_error *err)
{
    memset(out, 0, sizeof *out);
    struct record r = { 0 };
    size_t pos = 0, line = 1, cap = 0;
    int col[COL_COUNT];
    enum ls_rc rc = len ? read_record(text, len, &pos, &line, &r, err)
                        : ls_error_set(err, LS_EPROTO, "line 1: the CSV is empty");
    if (rc == LS_OK)
        rc = header(&r, col, err);
    record_clear(&r);
    while (rc == LS_OK && pos < len) {
        size_t at = line;
        rc = read_record(text, len, &pos, &line, &r, err);
        if (rc != LS_OK)
            break;
        if (r.n == 1 && !r.field[0][0]) {      /* an empty line */
            record_clear(&r);
            continue;
        }
        if (out->count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct sim_csv_row *rows = realloc(out->rows, ncap * sizeof *rows);
            if (!rows) {
                rc = ls_error_set(err, LS_ENOMEM, "out of memory");
                break;
            }
            out->rows = rows;
            cap = ncap;
        }
        rc = row_from(&r, col, at, &out->rows[out->count], err);
        out->count++;        /* freed below on error: row_from leaves it freeable */
        record_clear(&r);
    }
    record_clear(&r);
    if (rc != LS_OK)
        sim_csv_free(out);
    return rc;
}

enum ls_rc sim_csv_load(const char *path, struct sim_csv *out, struct ls_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ls_error_set(err, LS_EIO, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    enum ls_rc rc = buf ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
    while (rc == LS_OK) {
        if (n == cap) {
            char *b = cap < (256u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                rc = ls_error_set(err, LS_ENOMEM, "%s: too large", path);
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (rc == LS_OK && ferror(f))
        rc = ls_error_set(err, LS_EIO, "%s: read error", path);
    fclose(f);
    if (rc == LS_OK)
        rc = sim_csv_parse(buf, n, out, err);
    if (buf)
        memset(buf, 0, n);
    free(buf);
    if (rc != LS_OK)
        ls_error_prefix(err, "%s", path);
    return rc;
}
