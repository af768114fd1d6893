/*
 * bench/bootstrap_storm.c -- complete bootstraps per second against lodestar-bootstrap
 *
 *   bootstrap_storm HOST:PORT CLIENTS [WINDOW] [PROCS] [coap|psk] [nosec|issue] [PREFIX]
 *
 * HOST:PORT is a running lodestar-bootstrap's --coap (mode coap) or --coaps
 * (mode psk) address; this program starts no daemon.  With
 * LODESTAR_BENCH_PGURI set it first stores a template configuration
 * (bootstrap_configs row "bench-PREFIX", match "PREFIX-*", priority 1:
 * BS-Discover first, the default deletes of /0 and /1, one server account
 * coap://127.0.0.1:5683 NoSec, or with "issue" coaps://127.0.0.1:5684 PSK
 * with "credentials": "issue" -- a fresh identity and key stored per
 * bootstrap); in mode psk, with LODESTAR_MASTER_KEY too, it inserts CLIENTS
 * bootstrap-scope PSK credentials (endpoint PREFIX-i, identity
 * PREFIX-bs-i, a 16-byte key derived from i) with store_credentials_insert
 * -- the code and sealing the daemon reads -- skipping ones that exist,
 * then waits SETTLE_S for the daemon's credential watcher to reload.
 * BS_STORM_SETUP_ONLY=1: only this set-up (run it before starting the
 * daemon, which then loads the credentials at start: no settling).
 *
 * Then PROCS processes (default 2) each run their share of the CLIENTS
 * devices with libcoap (GnuTLS), WINDOW/PROCS in flight per process
 * (default WINDOW 64).  Each device is a new client session bound to its
 * own source address 127.3.x.y (BS_STORM_BASE=B shifts the range by B, so
 * that runs passing consecutive bases never meet an old session on the
 * daemon), so in mode psk a full handshake; it sends CON POST
 * /bs?ep=PREFIX-i&pct=11542 and then answers the Bootstrap-Server like a
 * device: BS-Discover (GET / Accept 40) with its links (bootstrap account
 * /0/0, /1/0, /3/0), BS-Delete 2.02, BS-Write 2.04 (payload and
 * Content-Format present, not decoded), Bootstrap-Finish 2.04.  Latency =
 * session created -> Finish received.  A device's session is released
 * once its Finish answer went out (the next turn of the loop): libcoap
 * 4.3.1's DTLS client path uses select(), so a process must stay under
 * FD_SETSIZE sockets.
 *
 * Bounded: a device not finished within DEVICE_S counts as failed, and a
 * process stops after RUN_S whatever is left.  Loopback only.
 *
 * LODESTAR_BENCH_PLAIN_PSK=1 offers only TLS_PSK_WITH_AES_128_CCM_8, the
 * LwM2M mandatory suite, as bench/dtls_storm.c does (it interposes
 * gnutls_priority_init; see there).  A benchmark-only device.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <dlfcn.h>
#include <libpq-fe.h>
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
#define RUN_S 180
#define PCT_TLV 11542
#define DISCOVER_LINKS "</>;lwm2m=1.1,</0/0>,</1/0>;ssid=101,</3/0>"

enum dev_state { DEV_IDLE, DEV_RUNNING, DEV_DONE, DEV_FAILED };

struct dev {
    coap_session_t *s;
    int idx;
    int64_t start_us, lat_us, end_us;
    enum dev_state state;
    unsigned requests;        /* server requests answered */
};

static const char *prefix;
static bool use_psk;
static long addr_base;
static int n_done, n_failed;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void psk_key(int i, uint8_t key[16])
{
    for (int k = 0; k < 16; k++)
        key[k] = (uint8_t)(i * 37 + k * 11 + 3);
}

/* ---- plain PSK (see bench/dtls_storm.c) ---- */

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

/* ---- set-up in the database ---- */

static int put_config(const char *pguri, bool issue)
{
    char name[128], match[128], body[512];
    snprintf(name, sizeof name, "bench-%s", prefix);
    snprintf(match, sizeof match, "%s-*", prefix);
    if (issue)
        snprintf(body, sizeof body,
                 "{\"match\":\"%s\",\"priority\":1,\"discover\":true,\"servers\":[{\"uri\":"
                 "\"coaps://127.0.0.1:5684\",\"ssid\":101,\"security\":\"psk\","
                 "\"credentials\":\"issue\",\"lifetime\":300}]}", match);
    else
        snprintf(body, sizeof body,
                 "{\"match\":\"%s\",\"priority\":1,\"discover\":true,\"servers\":[{\"uri\":"
                 "\"coap://127.0.0.1:5683\",\"ssid\":101,\"lifetime\":300}]}", match);
    PGconn *c = PQconnectdb(pguri);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "database: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    const char *v[3] = { name, match, body };
    PGresult *r = PQexecParams(c,
                               "INSERT INTO bootstrap_configs (name, match, priority, body)"
                               " VALUES ($1, $2, 1, $3::jsonb) ON CONFLICT (name) DO UPDATE"
                               " SET match = EXCLUDED.match, body = EXCLUDED.body",
                               3, NULL, v, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        fprintf(stderr, "config: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

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
        snprintf(id, sizeof id, "%s-bs-%d", prefix, i);
        psk_key(i, key);
        struct store_credential c = {
            .endpoint = ep, .scope = "bootstrap", .mode = "psk", .identity = id,
            .secret = key, .secret_len = sizeof key, .state = "active",
        };
        enum ls_rc rc = store_credentials_insert(s, &k, &c, NULL, &err);
        if (rc == LS_OK) {
            added++;
        } else if (rc != LS_ECONFLICT) {
            fprintf(stderr, "insert %s: %s %s\n", id, err.msg, err.detail);
            store_close(s);
            return -1;
        }
    }
    store_close(s);
    fprintf(stderr, "credentials: %d added, %d present, %.1f s\n", added, total - added,
            (double)(now_us() - t0) / 1e6);
    return added;
}

/* ---- the device ---- */

static void finish(struct dev *d, enum dev_state state)
{
    if (d->state != DEV_RUNNING)
        return;
    d->state = state;
    if (state == DEV_DONE)
        n_done++;
    else
        n_failed++;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid)
{
    struct dev *d = coap_session_get_app_data(s);
    coap_pdu_code_t code = coap_pdu_get_code(rcvd);
    if (d && code && code != COAP_RESPONSE_CODE_CHANGED) {
        fprintf(stderr, "device %d: Bootstrap-Request answered %u.%02u\n", d->idx, code >> 5,
                code & 31);
        finish(d, DEV_FAILED);
    }
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    struct dev *d = coap_session_get_app_data(s);
    if (d && d->state == DEV_RUNNING) {
        fprintf(stderr, "device %d: nack %d\n", d->idx, (int)reason);
        finish(d, DEV_FAILED);
    }
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct dev *d = coap_session_get_app_data(s);
    if (d && d->state == DEV_RUNNING &&
        (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED)) {
        fprintf(stderr, "device %d: dtls event 0x%x\n", d->idx, (unsigned)ev);
        finish(d, DEV_FAILED);
    }
    return 0;
}

/* What the Bootstrap-Server asks of the device. */
static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    struct dev *d = coap_session_get_app_data(s);
    coap_pdu_code_t m = coap_pdu_get_code(req);
    coap_string_t *uri = coap_get_uri_path(req);
    bool bs = uri && uri->length == 2 && memcmp(uri->s, "bs", 2) == 0;
    coap_delete_string(uri);
    if (!d) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_FOUND);
        return;
    }
    d->requests++;
    if (m == COAP_REQUEST_CODE_GET) {           /* BS-Discover */
        uint8_t b[4];
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(b, sizeof b, COAP_MEDIATYPE_APPLICATION_LINK_FORMAT),
                        b);
        coap_add_data(resp, strlen(DISCOVER_LINKS), (const uint8_t *)DISCOVER_LINKS);
    } else if (m == COAP_REQUEST_CODE_DELETE) { /* BS-Delete */
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_DELETED);
    } else if (m == COAP_REQUEST_CODE_PUT) {    /* BS-Write */
        size_t len = 0;
        const uint8_t *data = NULL;
        coap_opt_iterator_t it;
        bool ok = coap_get_data(req, &len, &data) && len > 0 &&
                  coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
        coap_pdu_set_code(resp, ok ? COAP_RESPONSE_CODE_CHANGED : COAP_RESPONSE_CODE_BAD_REQUEST);
    } else if (m == COAP_REQUEST_CODE_POST && bs) { /* Bootstrap-Finish */
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CHANGED);
        d->end_us = now_us();
        d->lat_us = d->end_us - d->start_us;
        finish(d, DEV_DONE);
    } else {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE_NOT_ALLOWED);
    }
}

static coap_session_t *open_session(coap_context_t *ctx, const coap_address_t *dst,
                                    const coap_address_t *local, int idx)
{
    if (!use_psk)
        return coap_new_client_session(ctx, local, dst, COAP_PROTO_UDP);
    char id[96];
    uint8_t key[16];
    snprintf(id, sizeof id, "%s-bs-%d", prefix, idx);
    psk_key(idx, key);
    coap_dtls_cpsk_t cpsk;
    memset(&cpsk, 0, sizeof cpsk);
    cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    cpsk.psk_info.identity.s = (const uint8_t *)id;
    cpsk.psk_info.identity.length = strlen(id);
    cpsk.psk_info.key.s = key;
    cpsk.psk_info.key.length = sizeof key;
    return coap_new_client_session_psk2(ctx, local, dst, COAP_PROTO_DTLS, &cpsk);
}

static int start_device(coap_context_t *ctx, const coap_address_t *dst, struct dev *d)
{
    coap_address_t local;
    coap_address_init(&local);
    local.addr.sin.sin_family = AF_INET;
    local.addr.sin.sin_addr.s_addr = htonl(0x7F030001u + (uint32_t)(addr_base + d->idx));
    local.size = sizeof local.addr.sin;
    d->start_us = now_us();
    d->state = DEV_RUNNING;
    d->s = open_session(ctx, dst, &local, d->idx);
    if (!d->s) {
        finish(d, DEV_FAILED);
        return -1;
    }
    coap_session_set_app_data(d->s, d);
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
                                    coap_new_message_id(d->s), coap_session_max_pdu_size(d->s));
    uint8_t tok[8];
    size_t tl;
    char q[128];
    coap_session_new_token(d->s, &tl, tok);
    coap_add_token(pdu, tl, tok);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, 2, (const uint8_t *)"bs");
    snprintf(q, sizeof q, "ep=%s-%d", prefix, d->idx);
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(q), (const uint8_t *)q);
    snprintf(q, sizeof q, "pct=%d", PCT_TLV);
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(q), (const uint8_t *)q);
    if (coap_send(d->s, pdu) == COAP_INVALID_MID) {
        finish(d, DEV_FAILED);
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
    coap_register_response_handler(ctx, on_response);
    coap_register_nack_handler(ctx, on_nack);
    coap_register_event_handler(ctx, on_event);
    coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);
    coap_register_handler(r, COAP_REQUEST_GET, on_request);
    coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
    coap_register_handler(r, COAP_REQUEST_POST, on_request);
    coap_add_resource(ctx, r);
    struct dev *devs = calloc((size_t)count, sizeof *devs);
    int next = 0;
    int64_t t0 = now_us(), deadline = t0 + (int64_t)RUN_S * 1000000;
    while (n_done + n_failed < count && now_us() < deadline) {
        while (next < count && next - (n_done + n_failed) < window) {
            devs[next].idx = first + next;
            start_device(ctx, dst, &devs[next]);
            next++;
        }
        coap_io_process(ctx, 5);
        int64_t now = now_us();
        for (int i = 0; i < next; i++) {
            if (devs[i].state != DEV_RUNNING && devs[i].s) {
                coap_session_set_app_data(devs[i].s, NULL);
                coap_session_release(devs[i].s);   /* the Finish answer left */
                devs[i].s = NULL;
            }
            if (devs[i].state == DEV_RUNNING &&
                now - devs[i].start_us > (int64_t)DEVICE_S * 1000000) {
                fprintf(stderr, "device %d: no Finish in %d s (%u requests)\n", devs[i].idx,
                        DEVICE_S, devs[i].requests);
                finish(&devs[i], DEV_FAILED);
            }
        }
    }
    /* let the last Finish answers leave */
    coap_io_process(ctx, COAP_IO_NO_WAIT);
    int64_t t1 = now_us();
    int64_t head[4] = { t0, t1, n_done, n_failed + (count - next) };
    int64_t *lat = malloc(2 * sizeof *lat * (size_t)(n_done + 1));
    int n = 0;
    for (int i = 0; i < count; i++)
        if (devs[i].state == DEV_DONE) {
            lat[n++] = devs[i].lat_us;
            lat[n++] = devs[i].end_us;
        }
    if (write(fd, head, sizeof head) != sizeof head ||
        write(fd, lat, sizeof *lat * (size_t)n) != (ssize_t)(sizeof *lat * (size_t)n))
        perror("write");
    free(lat);
    for (int i = 0; i < count; i++)
        if (devs[i].s)
            coap_session_release(devs[i].s);
    coap_io_process(ctx, COAP_IO_NO_WAIT);
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

static int set_up(int total, bool issue)
{
    const char *pguri = getenv("LODESTAR_BENCH_PGURI"), *key = getenv("LODESTAR_MASTER_KEY");
    if (!pguri || !*pguri)
        return 0;
    if (put_config(pguri, issue) != 0)
        return -1;
    if (use_psk && key && *key) {
        int added = insert_credentials(pguri, key, total);
        if (added < 0)
            return -1;
        if (added > 0 && !getenv("BS_STORM_SETUP_ONLY"))
            sleep(SETTLE_S);   /* the daemon's watcher reloads after the NOTIFYs */
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST:PORT CLIENTS [WINDOW] [PROCS] [coap|psk] "
                        "[nosec|issue] [PREFIX]\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    if (!colon)
        return 2;
    snprintf(host, sizeof host, "%.*s", (int)(colon - argv[1]), argv[1]);
    int total = atoi(argv[2]), window = argc > 3 ? atoi(argv[3]) : 64;
    int procs = argc > 4 ? atoi(argv[4]) : 2;
    use_psk = argc > 5 && strcmp(argv[5], "psk") == 0;
    bool issue = argc > 6 && strcmp(argv[6], "issue") == 0;
    prefix = argc > 7 ? argv[7] : "bsstorm";
    addr_base = getenv("BS_STORM_BASE") ? atol(getenv("BS_STORM_BASE")) : 0;
    if (total <= 0 || window <= 0 || procs <= 0 || procs > 16)
        return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (set_up(total, issue) != 0)
        return 1;
    if (getenv("BS_STORM_SETUP_ONLY"))
        return 0;

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
    double secs = done ? (double)(ends[done - 1] - start) / 1e6 : 0;
    int64_t n99 = done * 99 / 100;
    double secs99 = n99 ? (double)(ends[n99 - 1] - start) / 1e6 : 0;
    printf("clients=%d window=%d procs=%d mode=%s config=%s time_s=%.2f completed=%lld "
           "failed=%lld bootstraps_per_s=%.0f first_99pct_per_s=%.0f "
           "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f\n",
           total, window, procs, use_psk ? "psk" : "coap", issue ? "issue" : "nosec", secs,
           (long long)done, (long long)failed, secs > 0 ? (double)done / secs : 0,
           secs99 > 0 ? (double)n99 / secs99 : 0, done ? (double)lat[done / 2] / 1000 : 0,
           done ? (double)lat[done * 9 / 10] / 1000 : 0,
           done ? (double)lat[done * 99 / 100] / 1000 : 0);
    free(lat);
    free(ends);
    free(pair);
    return failed ? 1 : 0;
}
