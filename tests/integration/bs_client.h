/*
 * tests/integration/bs_client.h -- a minimal libcoap bootstrap client for
 * test_bootstrap.c (see bs_client.c)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_BS_CLIENT_H
#define LODESTAR_TESTS_BS_CLIENT_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bs_client;

struct bs_client_result {
    int pack_code;        /* GET /bspack answer; 0 not tried, -1 none */
    int request_code;     /* POST /bs answer; 0 not sent, -1 none */
    bool finished;
    int finish_code;      /* what the client answered Finish: 204 / 406 */
    unsigned discovers, reads, writes, deletes, failed_writes;
    unsigned write_format;  /* Content-Format of the last BS-Write */
};

struct bs_client_account {   /* the first non-bootstrap /0 instance */
    char uri[256];
    int mode;
    char identity[256];
    uint8_t key[64];
    size_t key_len;
    int ssid;
};

/* server "127.0.0.1:port"; identity NULL = plain CoAP */
struct bs_client *bs_client_new(const char *server, const char *version, const char *identity,
                                const char *key);
void bs_client_free(struct bs_client *c);
void bs_client_fail_next(struct bs_client *c, coap_pdu_code_t method, const char *path,
                         int code);
/* ep NULL: no ep=; pct < 0: no pct=.  true when Finish was answered 2.04
 * (or a pack was applied). */
bool bs_client_bootstrap(struct bs_client *c, const char *ep, int pct, bool try_pack,
                         int64_t timeout_ms, struct bs_client_result *r);
bool bs_client_account(struct bs_client *c, struct bs_client_account *a);

#endif
