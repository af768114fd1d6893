/*
 * tools/sim_coap.c -- CoAP messages built and parsed by hand (sim_coap.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_coap.h"

#include <stdio.h>
#include <string.h>

void sim_coap_init(struct sim_coap_msg *m, unsigned type, unsigned code, uint16_t mid,
                   const uint8_t *token, size_t token_len)
{
    m->data[0] = (uint8_t)(0x40 | (type << 4) | (token_len & 15));
    m->data[1] = (uint8_t)code;
    m->data[2] = (uint8_t)(mid >> 8);
    m->data[3] = (uint8_t)mid;
    if (token_len)
        memcpy(m->data + 4, token, token_len);
    m->len = 4 + token_len;
    m->last_option = 0;
    m->overflow = false;
}

/* The 4-bit nibble and extended bytes for a delta or length. */
static size_t ext(unsigned v, uint8_t *nibble, uint8_t *out)
{
    if (v < 13) {
        *nibble = (uint8_t)v;
        return 0;
    }
    if (v < 269) {
        *nibble = 13;
        out[0] = (uint8_t)(v - 13);
        return 1;
    }
    *nibble = 14;
    out[0] = (uint8_t)((v - 269) >> 8);
    out[1] = (uint8_t)(v - 269);
    return 2;
}

void sim_coap_option(struct sim_coap_msg *m, unsigned number, const void *value, size_t len)
{
    if (number < m->last_option || len > 1024 || m->len + 5 + len > sizeof m->data) {
        m->overflow = true;
        return;
    }
    uint8_t d, l, dx[2], lx[2];
    size_t nd = ext(number - m->last_option, &d, dx), nl = ext((unsigned)len, &l, lx);
    uint8_t *p = m->data + m->len;
    *p++ = (uint8_t)(d << 4 | l);
    memcpy(p, dx, nd);
    p += nd;
    memcpy(p, lx, nl);
    p += nl;
    if (len)
        memcpy(p, value, len);
    m->len += 1 + nd + nl + len;
    m->last_option = number;
}

void sim_coap_option_uint(struct sim_coap_msg *m, unsigned number, uint32_t value)
{
    uint8_t b[4];
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
        if (n || (value >> shift) & 0xff)
            b[n++] = (uint8_t)(value >> shift);
    sim_coap_option(m, number, b, n);
}

void sim_coap_option_path(struct sim_coap_msg *m, unsigned number, const char *path)
{
    while (*path == '/')
        path++;
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : strlen(path);
        sim_coap_option(m, number, path, n);
        path += n;
        while (*path == '/')
            path++;
    }
}

void sim_coap_payload(struct sim_coap_msg *m, const void *p, size_t len)
{
    if (!len)
        return;
    if (m->len + 1 + len > sizeof m->data) {
        m->overflow = true;
        return;
    }
    m->data[m->len++] = 0xff;
    memcpy(m->data + m->len, p, len);
    m->len += len;
}

/* Reads an extended delta or length; false past the end or on 15. */
static bool read_ext(unsigned nibble, const uint8_t **p, const uint8_t *end, unsigned *out)
{
    if (nibble < 13) {
        *out = nibble;
    } else if (nibble == 13) {
        if (*p >= end)
            return false;
        *out = 13u + *(*p)++;
    } else if (nibble == 14) {
        if (end - *p < 2)
            return false;
        *out = 269u + ((unsigned)(*p)[0] << 8 | (*p)[1]);
        *p += 2;
    } else {
        return false;
    }
    return true;
}

enum ls_rc sim_coap_parse(const uint8_t *buf, size_t len, struct sim_coap_parsed *out,
                          struct ls_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < 4 || buf[0] >> 6 != 1)
        return ls_error_set(err, LS_EPROTO, "not a CoAP version 1 message");
    out->type = (buf[0] >> 4) & 3;
    out->token_len = buf[0] & 15;
    out->code = buf[1];
    out->mid = (uint16_t)(buf[2] << 8 | buf[3]);
    if (out->token_len > 8 || 4 + out->token_len > len)
        return ls_error_set(err, LS_EPROTO, "bad token length %zu", out->token_len);
    memcpy(out->token, buf + 4, out->token_len);
    const uint8_t *p = buf + 4 + out->token_len, *end = buf + len;
    unsigned number = 0;
    while (p < end) {
        if (*p == 0xff) {
            p++;
            if (p == end)
                return ls_error_set(err, LS_EPROTO, "payload marker without payload");
            out->payload = p;
            out->payload_len = (size_t)(end - p);
            break;
        }
        unsigned delta, olen;
        uint8_t h = *p++;
        if (!read_ext(h >> 4, &p, end, &delta) || !read_ext(h & 15, &p, end, &olen))
            return ls_error_set(err, LS_EPROTO, "bad option header");
        if ((size_t)(end - p) < olen)
            return ls_error_set(err, LS_EPROTO, "option runs past the datagram");
        number += delta;
        if (out->noptions == SIM_COAP_MAX_OPTIONS)
            return ls_error_set(err, LS_EPROTO, "more than %d options", SIM_COAP_MAX_OPTIONS);
        out->options[out->noptions++] = (struct sim_coap_option){ number, p, olen };
        p += olen;
    }
    return LS_OK;
}

const struct sim_coap_option *sim_coap_find(const struct sim_coap_parsed *p, unsigned number)
{
    for (size_t i = 0; i < p->noptions; i++)
        if (p->options[i].number == number)
            return &p->options[i];
    return NULL;
}

uint32_t sim_coap_uint(const struct sim_coap_parsed *p, unsigned number, uint32_t def)
{
    const struct sim_coap_option *o = sim_coap_find(p, number);
    if (!o || o->len > 4)
        return def;
    uint32_t v = 0;
    for (size_t i = 0; i < o->len; i++)
        v = v << 8 | o->value[i];
    return v;
}

size_t sim_coap_join(const struct sim_coap_parsed *p, unsigned number, char sep, char *out,
                     size_t cap)
{
    size_t n = 0;
    bool first = true;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < p->noptions; i++) {
        if (p->options[i].number != number)
            continue;
        size_t need = p->options[i].len + (first ? 0 : 1);
        if (n + need + 1 > cap)
            return n;
        if (!first)
            out[n++] = sep;
        memcpy(out + n, p->options[i].value, p->options[i].len);
        n += p->options[i].len;
        out[n] = '\0';
        first = false;
    }
    return n;
}

void sim_coap_code_text(unsigned code, char out[8])
{
    snprintf(out, 8, "%u.%02u", (code >> 5) & 7, code & 31);
}
