/*
 * tools/sim_coap.h -- CoAP messages (RFC 7252) built and parsed by hand for
 * the load generators: lodestar-sim and bench/reg_storm
 *
 * No libcoap: a simulated client is a few hundred bytes of state and one
 * UDP socket, so 100 000 of them fit in one process; libcoap's per-session
 * cost (LIBCOAP.md section 6) would not.  Options must be added in
 * ascending number order; payload last.  The parser never reads outside
 * the datagram and rejects what RFC 7252 section 3 forbids.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_COAP_H
#define LODESTAR_TOOLS_SIM_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

enum { SIM_COAP_CON = 0, SIM_COAP_NON = 1, SIM_COAP_ACK = 2, SIM_COAP_RST = 3 };

#define SIM_COAP_MAX 1400          /* one datagram, no blockwise */
#define SIM_COAP_MAX_OPTIONS 24

enum {
    SIM_COAP_OPT_OBSERVE = 6,
    SIM_COAP_OPT_LOCATION_PATH = 8,
    SIM_COAP_OPT_URI_PATH = 11,
    SIM_COAP_OPT_CONTENT_FORMAT = 12,
    SIM_COAP_OPT_URI_QUERY = 15,
    SIM_COAP_OPT_ACCEPT = 17,
};

/* A message under construction; data[len] is the datagram so far. */
struct sim_coap_msg {
    uint8_t data[SIM_COAP_MAX];
    size_t len;
    unsigned last_option;
    bool overflow;               /* something did not fit: do not send */
};

struct sim_coap_option {
    unsigned number;
    const uint8_t *value;        /* points into the parsed datagram */
    size_t len;
};

struct sim_coap_parsed {
    unsigned type, code;
    uint16_t mid;
    uint8_t token[8];
    size_t token_len;
    struct sim_coap_option options[SIM_COAP_MAX_OPTIONS];
    size_t noptions;
    const uint8_t *payload;
    size_t payload_len;
};

/* Starts a message: header and token (token_len <= 8). */
void sim_coap_init(struct sim_coap_msg *m, unsigned type, unsigned code, uint16_t mid,
                   const uint8_t *token, size_t token_len);
void sim_coap_option(struct sim_coap_msg *m, unsigned number, const void *value, size_t len);
/* A uint option, minimal length (0 is zero bytes). */
void sim_coap_option_uint(struct sim_coap_msg *m, unsigned number, uint32_t value);
/* Each "/"-separated segment of path as one option of number. */
void sim_coap_option_path(struct sim_coap_msg *m, unsigned number, const char *path);
void sim_coap_payload(struct sim_coap_msg *m, const void *p, size_t len);

/* Parses a datagram; LS_EPROTO with a reason when it is not valid CoAP. */
enum ls_rc sim_coap_parse(const uint8_t *buf, size_t len, struct sim_coap_parsed *out,
                          struct ls_error *err) LS_MUST_CHECK;

/* The first option of number, or NULL. */
const struct sim_coap_option *sim_coap_find(const struct sim_coap_parsed *p, unsigned number);
/* A uint option's value; def when absent. */
uint32_t sim_coap_uint(const struct sim_coap_parsed *p, unsigned number, uint32_t def);
/* The options of number joined with sep ("rd/5a3" for Location-Path). */
size_t sim_coap_join(const struct sim_coap_parsed *p, unsigned number, char sep, char *out,
                     size_t cap);

/* "2.05" style text of a code. */
void sim_coap_code_text(unsigned code, char out[8]);

#endif /* LODESTAR_TOOLS_SIM_COAP_H */
