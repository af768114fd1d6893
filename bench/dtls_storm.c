/*
 * bench/dtls_storm.c -- DTLS-PSK handshakes + Registers against lodestar-server
 *
 *   dtls_storm HOST:PORT CLIENTS [WINDOW] [PROCS] [PREFIX]
 *
 * With LODESTAR_BENCH_PGURI and LODESTAR_MASTER_KEY set, first inserts
 * CLIENTS PSK credentials (endpoint PREFIX-i, identity PREFIX-id-i, a
 * 16-byte key derived from i) with store_credentials_insert -- the same
 * code and sealing the server reads -- skipping ones that exist, then
 * waits SETTLE_S seconds for the server's credential watcher to reload.
 * DTLS_STORM_SETUP_ONLY=1: only insert the credentials, then exit (the
 * caller waits for the server to have loaded them).
 * It starts no server: HOST:PORT is lodestar-server's --coaps address.
 *
 * Then PROCS processes (default 2) each run their share of the CLIENTS
 * devices with libcoap 4.3.1 (GnuTLS), WINDOW/PROCS sessions in flight per
 * process (default WINDOW 64): each device is a new client session (own
 * UDP socket and source port), so a full PSK handshake, then one Register
 * (CON POST /rd?ep=..&lt=86400&lwm2m=1.1&b=U, 27-byte link payload); the
 * server ACKs at once and sends the separate 2.01 after the commit.
 * Latency = session created -> 2.01 received.  Sessions stay open until
 * the process ends (devices keep them), then are released.
 *
 * Bounded: a device not answered within DEVICE_S counts as failed, and a
 * process stops after RUN_S whatever is left.  Loopback only.
 *
 * Cipher suite.  libcoap 4.3.1's GnuTLS client offers ECDHE-PSK first, so
 * every handshake costs two P-256 operations per side; LwM2M devices use
 * the mandatory plain-PSK suite TLS_PSK_WITH_AES_128_CCM_8.  With
 * LODESTAR_BENCH_PLAIN_PSK=1 this client offers plain PSK only (see
 * tools/sim_dtls.h, whose sessions, storm driver and credential set-up
 * (tools/sim_creds.h) this program uses).  A benchmark-only device.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <coap3/coap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/sim_creds.h"
#include "tools/sim_dtls.h"

#define SETTLE_S 3
#define DEVICE_S 20
#define RUN_S 120
#define LINKS "</1/0>,</3/0>,</4/0>,</5/0>"

struct dev {
    coap_session_t *s;
    int idx;
    int64_t start_us;
    int64_t lat_us, end_us; /* once done */
    int state;              /* 0 idle, 1 in flight, 2 done, 3 failed */
};

static struct dev *devs;
static int n_devs, n_done, n_failed;
static const char *prefix;

#define now_us sim_dtls_now_us

static void psk_key(int i, uint8_t key[16])
{
    for (int k = 0; k < 16; k++)
        key[k] = (uint8_t)(i * 31 + k * 7 + 1);
}

/* ---- credentials ---- */

static int insert_credentials(const char *pguri, const char *key_hex, int total)
{
    return sim_creds_insert(pguri, key_hex, prefix, "server", "id", total, psk_key) < 0 ? -1 : 0;
}

/* ---- one process's devices ---- */

static struct dev *dev_of(coap_session_t *s)
{
    return coap_session_get_app_data(s);
}

static void finish(struct dev *d, int state)
{
    if (d->state != 1)
        return;
    d->state = state;
    if (state == 2)
        n_done++;
    else
        n_failed++;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    struct dev *d = dev_of(s);
    if (!d)
        return COAP_RESPONSE_OK;
    coap_pdu_code_t code = coap_pdu_get_code(rcvd);
    if (code == COAP_RESPONSE_CODE_CREATED) {
        d->end_us = now_us();
        d->lat_us = d->end_us - d->start_us;
        finish(d, 2);
    } else if (code) {
        fprintf(stderr, "device %d: code %u.%02u\n", d->idx, code >> 5, code & 31);
        finish(d, 3);
    }
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    struct dev *d = dev_of(s);
    if (d && d->state == 1)
        fprintf(stderr, "device %d: nack %d\n", d->idx, (int)reason);
    if (d)
        finish(d, 3);
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct dev *d = dev_of(s);
    if (d && d->state == 1 && (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED)) {
        fprintf(stderr, "device %d: dtls event 0x%x\n", d->idx, (unsigned)ev);
        finish(d, 3);
    }
    return 0;
}

static int start_device(coap_context_t *ctx, const coap_address_t *dst, struct dev *d)
{
    char ep[128], id[96];
    uint8_t key[16];
    snprintf(id, sizeof id, "%s-id-%d", prefix, d->idx);
    psk_key(d->idx, key);
    d->start_us = now_us();
    d->state = 1;
    d->s = sim_dtls_session(ctx, NULL, dst, (const uint8_t *)id, strlen(id), key, sizeof key);
    if (!d->s) {
        finish(d, 3);
        return -1;
    }
    coap_session_set_app_data(d->s, d);
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
                                    coap_new_message_id(d->s), coap_session_max_pdu_size(d->s));
    uint8_t tok[8], buf[4];
    size_t tl;
    coap_session_new_token(d->s, &tl, tok);
    coap_add_token(pdu, tl, tok);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"rd");
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(buf, sizeof buf, COAP_MEDIATYPE_APPLICATION_LINK_FORMAT),
                    buf);
    snprintf(ep, sizeof ep, "ep=%s-%d", prefix, d->idx);
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(ep), (const uint8_t *)ep);
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, 8, (const uint8_t *)"lt=86400");
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, 9, (const uint8_t *)"lwm2m=1.1");
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, 3, (const uint8_t *)"b=U");
    coap_add_data(pdu, strlen(LINKS), (const uint8_t *)LINKS);
    if (coap_send(d->s, pdu) == COAP_INVALID_MID) {
        finish(d, 3);
        return -1;
    }
    return 0;
}

/* Runs devices [first, first+count) with window in flight (in a child of
 * sim_dtls_storm_run); reports them in t. */
static void run_process(int first, int count, int window, struct sim_dtls_tally *t, void *arg)
{
    const coap_address_t *dst = arg;
    coap_context_t *ctx = coap_new_context(NULL);
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx, on_response);
    coap_register_nack_handler(ctx, on_nack);
    coap_register_event_handler(ctx, on_event);
    devs = calloc((size_t)count, sizeof *devs);
    n_devs = count;
    int next = 0;
    int64_t t0 = now_us(), deadline = t0 + (int64_t)RUN_S * 1000000;
    while (n_done + n_failed < n_devs && now_us() < deadline) {
        while (next < n_devs && next - (n_done + n_failed) < window) {
            devs[next].idx = first + next;
            start_device(ctx, dst, &devs[next]);
            next++;
        }
        coap_io_process(ctx, 5);
        int64_t now = now_us();
        for (int i = 0; i < next; i++)
            if (devs[i].state == 1 && now - devs[i].start_us > (int64_t)DEVICE_S * 1000000)
                finish(&devs[i], 3);
    }
    *t = (struct sim_dtls_tally){ .start_us = t0, .end_us = now_us(),
                                  .failed = n_failed + (n_devs - next) };
    t->pairs = malloc(2 * sizeof *t->pairs * (size_t)(n_done + 1));
    for (int i = 0; t->pairs && i < n_devs; i++)
        if (devs[i].state == 2) {
            t->pairs[2 * t->done] = devs[i].lat_us;
            t->pairs[2 * t->done++ + 1] = devs[i].end_us;
        }
    for (int i = 0; i < n_devs; i++)
        if (devs[i].s)
            coap_session_release(devs[i].s);
    coap_free_context(ctx);
    free(devs);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT CLIENTS [WINDOW] [PROCS] [PREFIX]\n", argv[0]);
        return 2;
    }
    coap_address_t dst;
    bool secure;
    if (!sim_dtls_parse_address(argv[1], 5684, &dst, &secure))
        return 2;
    int total = atoi(argv[2]), window = argc > 3 ? atoi(argv[3]) : 64;
    int procs = argc > 4 ? atoi(argv[4]) : 2;
    prefix = argc > 5 ? argv[5] : "dtls";
    if (total <= 0 || window <= 0 || procs <= 0 || procs > 16)
        return 2;
    sim_dtls_raise_nofile();

    const char *pguri = getenv("LODESTAR_BENCH_PGURI"), *key = getenv("LODESTAR_MASTER_KEY");
    if (pguri && *pguri && key && *key) {
        if (insert_credentials(pguri, key, total) != 0)
            return 1;
        if (getenv("DTLS_STORM_SETUP_ONLY"))
            return 0;       /* bench/dtls_registration.sh: set-up apart from the storm */
        sleep(SETTLE_S);    /* the server's watcher reloads after the NOTIFYs */
    }

    coap_startup();
    coap_set_log_level(LOG_ERR);
    struct sim_dtls_storm st;
    if (sim_dtls_storm_run(total, procs, window, run_process, &dst, &st) != 0)
        return 1;
    /* The rate of the bulk: 99 % of the devices over the time they took,
     * so that a few retransmitted stragglers (2 s CoAP timer) do not hide
     * the throughput; both are reported. */
    double secs = (double)(st.end_us - st.start_us) / 1e6;
    printf("clients=%d window=%d procs=%d time_s=%.2f completed=%lld failed=%lld "
           "handshake_registrations_per_s=%.0f first_99pct_per_s=%.0f "
           "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f\n",
           total, window, procs, secs, (long long)st.done, (long long)st.failed,
           secs > 0 ? (double)st.done / secs : 0, sim_dtls_storm_rate99(&st),
           sim_dtls_storm_ms(&st, 0.5), sim_dtls_storm_ms(&st, 0.9), sim_dtls_storm_ms(&st, 0.99));
    int64_t failed = st.failed;
    sim_dtls_storm_free(&st);
    return failed ? 1 : 0;
}
