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
 * LODESTAR_BENCH_PLAIN_PSK=1 this client offers plain PSK only: it
 * interposes gnutls_priority_init / _set_direct (which libcoap calls with
 * a fixed string) and swaps the string.  A benchmark-only device.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/credentials.h"
#include "store/secret.h"
#include "store/store.h"

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

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void psk_key(int i, uint8_t key[16])
{
    for (int k = 0; k < 16; k++)
        key[k] = (uint8_t)(i * 31 + k * 7 + 1);
}

/* ---- plain PSK (see the header) ---- */

#define PLAIN_PSK "NORMAL:-KX-ALL:+PSK:+AES-128-CCM-8:-VERS-TLS1.3"

static const char *priority(const char *wanted)
{
    const char *e = getenv("LODESTAR_BENCH_PLAIN_PSK");
    return e && strcmp(e, "1") == 0 && wanted && strstr(wanted, "PSK") ? PLAIN_PSK : wanted;
}

int gnutls_priority_init(void **cache, const char *priorities, const char **err_pos);
int gnutls_priority_init(void **cache, const char *priorities, const char **err_pos)
{
    int (*real)(void **, const char *, const char **) =
        (int (*)(void **, const char *, const char **))dlsym(RTLD_NEXT, "gnutls_priority_init");
    return real(cache, priority(priorities), err_pos);
}

int gnutls_priority_set_direct(void *session, const char *priorities, const char **err_pos);
int gnutls_priority_set_direct(void *session, const char *priorities, const char **err_pos)
{
    int (*real)(void *, const char *, const char **) =
        (int (*)(void *, const char *, const char **))dlsym(RTLD_NEXT,
                                                            "gnutls_priority_set_direct");
    return real(session, priority(priorities), err_pos);
}

/* ---- credentials ---- */

static int insert_credentials(const char *pguri, const char *key_hex, int total)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    if (store_secret_key_from_hex(key_hex, &k, &err) != LS_OK) {
        fprintf(stderr, "LODESTAR_MASTER_KEY: %s\n", err.msg);
        return -1;
    }
    struct store *s = store_open(pguri, &err);
    if (!s) {
        fprintf(stderr, "store: %s\n", err.msg);
        return -1;
    }
    int added = 0;
    int64_t t0 = now_us();
    for (int i = 0; i < total; i++) {
        char ep[96], id[96];
        uint8_t key[16];
        snprintf(ep, sizeof ep, "%s-%d", prefix, i);
        snprintf(id, sizeof id, "%s-id-%d", prefix, i);
        psk_key(i, key);
        struct store_credential c = {
            .endpoint = ep, .scope = "server", .mode = "psk", .identity = id,
            .secret = key, .secret_len = sizeof key, .state = "active",
        };
        enum ls_rc rc = store_credentials_insert(s, &k, &c, NULL, &err);
        if (rc == LS_OK)
            added++;
        else if (rc != LS_ECONFLICT) {
            fprintf(stderr, "insert %s: %s %s\n", id, err.msg, err.detail);
            store_close(s);
            return -1;
        }
    }
    store_close(s);
    fprintf(stderr, "credentials: %d added, %d present, %.1f s\n", added, total - added,
            (double)(now_us() - t0) / 1e6);
    return 0;
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
    coap_dtls_cpsk_t cpsk;
    memset(&cpsk, 0, sizeof cpsk);
    cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    cpsk.psk_info.identity.s = (const uint8_t *)id;
    cpsk.psk_info.identity.length = strlen(id);
    cpsk.psk_info.key.s = key;
    cpsk.psk_info.key.length = sizeof key;
    d->start_us = now_us();
    d->state = 1;
    d->s = coap_new_client_session_psk2(ctx, NULL, dst, COAP_PROTO_DTLS, &cpsk);
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

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Runs devices [first, first+count) with window in flight; writes to fd:
 * start_us, end_us, done, failed, then (latency, completion time) of each
 * done device (int64 each). */
static void run_process(const coap_address_t *dst, int first, int count, int window, int fd)
{
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
    int64_t t1 = now_us();
    int64_t head[4] = { t0, t1, n_done, n_failed + (n_devs - next) };
    int64_t *lat = malloc(2 * sizeof *lat * (size_t)(n_done + 1));
    int n = 0;
    for (int i = 0; i < n_devs; i++)
        if (devs[i].state == 2) {
            lat[n++] = devs[i].lat_us;
            lat[n++] = devs[i].end_us;
        }
    if (write(fd, head, sizeof head) != sizeof head ||
        write(fd, lat, sizeof *lat * (size_t)n) != (ssize_t)(sizeof *lat * (size_t)n))
        perror("write");
    free(lat);
    for (int i = 0; i < n_devs; i++)
        if (devs[i].s)
            coap_session_release(devs[i].s);
    coap_free_context(ctx);
    free(devs);
}

static int read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT CLIENTS [WINDOW] [PROCS] [PREFIX]\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon)
        return 2;
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[1]), argv[1]);
    int total = atoi(argv[2]), window = argc > 3 ? atoi(argv[3]) : 64;
    int procs = argc > 4 ? atoi(argv[4]) : 2;
    prefix = argc > 5 ? argv[5] : "dtls";
    if (total <= 0 || window <= 0 || procs <= 0 || procs > 16)
        return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    const char *pguri = getenv("LODESTAR_BENCH_PGURI"), *key = getenv("LODESTAR_MASTER_KEY");
    if (pguri && *pguri && key && *key) {
        if (insert_credentials(pguri, key, total) != 0)
            return 1;
        sleep(SETTLE_S);    /* the server's watcher reloads after the NOTIFYs */
    }

    coap_startup();
    coap_set_log_level(LOG_ERR);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)atoi(colon + 1));
    dst.size = sizeof dst.addr.sin;
    if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1)
        return 2;

    int fds[16];
    pid_t pids[16];
    for (int p = 0; p < procs; p++) {
        int pf[2];
        if (pipe(pf) != 0)
            return 1;
        int first = total * p / procs, count = total * (p + 1) / procs - first;
        pids[p] = fork();
        if (pids[p] == 0) {
            close(pf[0]);
            run_process(&dst, first, count, (window + procs - 1) / procs, pf[1]);
            close(pf[1]);
            _exit(0);
        }
        close(pf[1]);
        fds[p] = pf[0];
    }
    int64_t start = INT64_MAX, end = 0, done = 0, failed = 0;
    int64_t *lat = malloc(sizeof *lat * (size_t)total), *ends = malloc(sizeof *ends * (size_t)total);
    int64_t *pair = malloc(2 * sizeof *pair * (size_t)total);
    for (int p = 0; p < procs; p++) {
        int64_t head[4];
        if (read_all(fds[p], head, sizeof head) == 0) {
            if (head[0] < start)
                start = head[0];
            if (head[1] > end)
                end = head[1];
            if (read_all(fds[p], pair, 2 * sizeof *pair * (size_t)head[2]) == 0)
                for (int64_t i = 0; i < head[2]; i++, done++) {
                    lat[done] = pair[2 * i];
                    ends[done] = pair[2 * i + 1];
                }
            failed += head[3];
        }
        close(fds[p]);
        waitpid(pids[p], NULL, 0);
    }
    qsort(lat, (size_t)done, sizeof *lat, cmp_i64);
    qsort(ends, (size_t)done, sizeof *ends, cmp_i64);
    double secs = (double)(end - start) / 1e6;
    /* The rate of the bulk: 99 % of the devices over the time they took,
     * so that a few retransmitted stragglers (2 s CoAP timer) do not hide
     * the throughput; both are reported. */
    int64_t n99 = done * 99 / 100;
    double secs99 = n99 ? (double)(ends[n99 - 1] - start) / 1e6 : 0;
    printf("clients=%d window=%d procs=%d time_s=%.2f completed=%lld failed=%lld "
           "handshake_registrations_per_s=%.0f first_99pct_per_s=%.0f "
           "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f\n",
           total, window, procs, secs, (long long)done, (long long)failed,
           secs > 0 ? (double)done / secs : 0, secs99 > 0 ? (double)n99 / secs99 : 0,
           done ? (double)lat[done / 2] / 1000 : 0, done ? (double)lat[done * 9 / 10] / 1000 : 0,
           done ? (double)lat[done * 99 / 100] / 1000 : 0);
    free(lat);
    free(ends);
    free(pair);
    return failed ? 1 : 0;
}
