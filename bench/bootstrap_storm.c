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
 * once its Finish answer went out (the next turn of the loop), which keeps
 * a process's sockets few (libcoap 4.3.1's DTLS client path uses select();
 * tools/sim_dtls.c makes more than FD_SETSIZE sockets safe).
 *
 * Bounded: a device not finished within DEVICE_S counts as failed, and a
 * process stops after RUN_S whatever is left.  Loopback only.
 *
 * LODESTAR_BENCH_PLAIN_PSK=1 offers only TLS_PSK_WITH_AES_128_CCM_8, the
 * LwM2M mandatory suite (tools/sim_dtls.h, whose sessions, storm driver
 * and credential set-up (tools/sim_creds.h) this program uses).  A
 * benchmark-only device.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/sim_creds.h"
#include "tools/sim_dtls.h"

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

#define now_us sim_dtls_now_us

static void psk_key(int i, uint8_t key[16])
{
    for (int k = 0; k < 16; k++)
        key[k] = (uint8_t)(i * 37 + k * 11 + 3);
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
    return sim_creds_insert(pguri, key_hex, prefix, "bootstrap", "bs", total, psk_key);
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
    char id[96];
    uint8_t key[16];
    snprintf(id, sizeof id, "%s-bs-%d", prefix, idx);
    psk_key(idx, key);
    return sim_dtls_session(ctx, local, dst, use_psk ? (const uint8_t *)id : NULL, strlen(id),
                            key, sizeof key);
}

static int start_device(coap_context_t *ctx, const coap_address_t *dst, struct dev *d)
{
    coap_address_t local;
    sim_dtls_address(&local, 0x7F030001u + (uint32_t)(addr_base + d->idx), 0);
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

/* Runs devices [first, first+count) with window in flight (in a child of
 * sim_dtls_storm_run); reports them in t. */
static void run_process(int first, int count, int window, struct sim_dtls_tally *t, void *arg)
{
    const coap_address_t *dst = arg;
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
    *t = (struct sim_dtls_tally){ .start_us = t0, .end_us = now_us(),
                                  .failed = n_failed + (count - next) };
    t->pairs = malloc(2 * sizeof *t->pairs * (size_t)(n_done + 1));
    for (int i = 0; t->pairs && i < count; i++)
        if (devs[i].state == DEV_DONE) {
            t->pairs[2 * t->done] = devs[i].lat_us;
            t->pairs[2 * t->done++ + 1] = devs[i].end_us;
        }
    for (int i = 0; i < count; i++)
        if (devs[i].s)
            coap_session_release(devs[i].s);
    coap_io_process(ctx, COAP_IO_NO_WAIT);
    coap_free_context(ctx);
    free(devs);
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
    coap_address_t dst;
    bool secure;
    if (!sim_dtls_parse_address(argv[1], 5784, &dst, &secure))
        return 2;
    int total = atoi(argv[2]), window = argc > 3 ? atoi(argv[3]) : 64;
    int procs = argc > 4 ? atoi(argv[4]) : 2;
    use_psk = argc > 5 && strcmp(argv[5], "psk") == 0;
    bool issue = argc > 6 && strcmp(argv[6], "issue") == 0;
    prefix = argc > 7 ? argv[7] : "bsstorm";
    addr_base = getenv("BS_STORM_BASE") ? atol(getenv("BS_STORM_BASE")) : 0;
    if (total <= 0 || window <= 0 || procs <= 0 || procs > 16)
        return 2;
    sim_dtls_raise_nofile();
    if (set_up(total, issue) != 0)
        return 1;
    if (getenv("BS_STORM_SETUP_ONLY"))
        return 0;

    coap_startup();
    coap_set_log_level(LOG_ERR);
    struct sim_dtls_storm st;
    if (sim_dtls_storm_run(total, procs, window, run_process, &dst, &st) != 0)
        return 1;
    double secs = st.done ? (double)(st.ends[st.done - 1] - st.start_us) / 1e6 : 0;
    printf("clients=%d window=%d procs=%d mode=%s config=%s time_s=%.2f completed=%lld "
           "failed=%lld bootstraps_per_s=%.0f first_99pct_per_s=%.0f "
           "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f\n",
           total, window, procs, use_psk ? "psk" : "coap", issue ? "issue" : "nosec", secs,
           (long long)st.done, (long long)st.failed, sim_dtls_storm_rate(&st),
           sim_dtls_storm_rate99(&st), sim_dtls_storm_ms(&st, 0.5), sim_dtls_storm_ms(&st, 0.9),
           sim_dtls_storm_ms(&st, 0.99));
    int64_t failed = st.failed;
    sim_dtls_storm_free(&st);
    return failed ? 1 : 0;
}
