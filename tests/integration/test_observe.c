/*
 * tests/integration/test_observe.c -- observations that outlive a server
 * restart, notifications stored as telemetry and evented, and Send, with
 * lodestar-server as a process, a real PostgreSQL and the libcoap test
 * device (tests/harness/lwm2m_device.h) over loopback
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).  Each test
 * starts its own server on a fixed CoAP port (a restart must come back on
 * the same port: the device keeps notifying there) and names its devices
 * with a random prefix.  Everything is awaited with deadlines: telemetry by
 * polling the REST API, events on an /api/events stream read over a raw
 * socket (HTTP/1.0, no chunking).  A "nothing more arrives" check always
 * waits for a positive signal that would have come after it (a value of
 * another, still observed resource changed in the same device step).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"
#include "store/credentials.h"
#include "store/secret.h"
#include "store/store.h"

#define STOP_MS 10000
#define WAIT_MS 10000

static const char *pguri;

struct server {
    struct harness_server srv;      /* proc, base, admin; coap fixed across restarts */
    char prefix[24];
};

static void start(struct server *s)
{
    memset(s, 0, sizeof *s);
    char p[9], coap[64], models[512];
    harness_server_random_hex(p, 4);
    snprintf(s->prefix, sizeof s->prefix, "o%s-", p);
    snprintf(coap, sizeof coap, "127.0.0.1:%u", harness_free_udp_port());
    snprintf(models, sizeof models, "%s/tests/data/models", getenv("LODESTAR_SOURCE_ROOT"));
    const char *extra[] = { "--models", models, NULL };
    struct harness_server_options o = { .coap = coap, .extra = extra, .stop_ms = STOP_MS };
    harness_server_start(&s->srv, &o);
}

static json_t *call_json(const struct server *s, const char *method, const char *path,
                         const char *body, int want_status)
{
    char url[2048], auth[256];
    snprintf(url, sizeof url, "%s%s", s->srv.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", s->srv.admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    struct harness_http_response r;
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, 20000,
                                  &r);
    ck_assert_msg(st == want_status, "%s %s: status %d, want %d: %s", method, path, st,
                  want_status, r.body ? r.body : "");
    json_t *j = json_loads(r.body ? r.body : "", 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: not JSON: %s", method, path, r.body);
    harness_http_response_free(&r);
    return j;
}

/* ---- events ---- */

struct stream {
    int fd;
    char buf[262144];
    size_t len;
};

static void stream_open(struct stream *st, const struct server *s, const char *ep)
{
    const char *hp = s->srv.base + strlen("http://");
    char host[64];
    snprintf(host, sizeof host, "%s", hp);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(colon + 1)) };
    ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    st->fd = socket(AF_INET, SOCK_STREAM, 0);
    st->len = 0;
    ck_assert_int_eq(connect(st->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /api/events?ep=%s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s"
                     "\r\n\r\n", ep, hp, s->srv.admin);
    ck_assert_int_eq(write(st->fd, req, (size_t)n), n);
}

/* Waits until text appears after offset *from; moves *from past it. */
static bool stream_wait(struct stream *st, size_t *from, const char *text, int64_t timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        st->buf[st->len] = '\0';
        char *hit = strstr(st->buf + *from, text);
        if (hit) {
            *from = (size_t)(hit - st->buf) + strlen(text);
            return true;
        }
        int64_t left = deadline - harness_now_ms();
        if (left <= 0 || st->len + 1 >= sizeof st->buf)
            return false;
        struct pollfd p = { .fd = st->fd, .events = POLLIN };
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t n = read(st->fd, st->buf + st->len, sizeof st->buf - 1 - st->len);
        if (n <= 0)
            return false;
        st->len += (size_t)n;
    }
}

/* ---- telemetry ---- */

/* How many telemetry rows of ep under path have value text want (JSON
 * dump of the "value" member) and source. */
static int count_rows(const struct server *s, const char *ep, const char *path,
                      const char *want, const char *source)
{
    char url[512];
    snprintf(url, sizeof url, "/api/devices/%s/telemetry?path=%s&limit=1000", ep, path);
    json_t *j = call_json(s, "GET", url, NULL, 200);
    json_t *rows = json_object_get(j, "telemetry");
    ck_assert(json_is_array(rows));
    size_t i;
    json_t *row;
    int n = 0;
    json_array_foreach(rows, i, row) {
        char *v = json_dumps(json_object_get(json_object_get(row, "value"), "value"),
                             JSON_ENCODE_ANY | JSON_COMPACT);
        if (v && strcmp(v, want) == 0 &&
            strcmp(json_string_value(json_object_get(row, "source")), source) == 0)
            n++;
        free(v);
    }
    json_decref(j);
    return n;
}

/* Polls the telemetry API until a row with the value is there. */
static void wait_row(const struct server *s, const char *ep, const char *path,
                     const char *want, const char *source)
{
    int64_t deadline = harness_now_ms() + WAIT_MS;
    while (count_rows(s, ep, path, want, source) == 0) {
        ck_assert_msg(harness_now_ms() < deadline, "%s %s: no telemetry row with value %s",
                      ep, path, want);
        harness_sleep_ms(50);       /* poll interval */
    }
}

/* ---- devices ---- */

static struct harness_device *device(const struct server *s, const char *ep,
                                     const char *version)
{
    struct harness_device_options o = { .server = s->srv.coap, .version = version };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    char loc[64];
    ck_assert_int_eq(harness_device_register_lwm2m(d, ep, 300, NULL, false, NULL, 5000, loc,
                                                   sizeof loc), 201);
    ck_assert(harness_device_start_thread(d));
    return d;
}

static int64_t observe(const struct server *s, const char *ep, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "/api/devices/%s%s/observe", ep, path);
    json_t *j = call_json(s, "POST", url, NULL, 200);
    json_int_t id = json_integer_value(json_object_get(j, "observation"));
    ck_assert_int_gt(id, 0);
    json_decref(j);
    return id;
}

static const char *cancel(const struct server *s, const char *ep, const char *path, int want)
{
    static char mode[16];
    char url[256];
    snprintf(url, sizeof url, "/api/devices/%s%s/observe", ep, path);
    json_t *j = call_json(s, "DELETE", url, NULL, want);
    const char *m = json_string_value(json_object_get(j, "mode"));
    snprintf(mode, sizeof mode, "%s", m ? m : "");
    json_decref(j);
    return mode;
}

static const char *db_value(const char *sql, const char *arg)
{
    static char out[256];
    return harness_db_value(pguri, sql, arg, out, sizeof out);
}

/* ---- tests ---- */

START_TEST(test_observe_survives_restart_and_cancels)
{
    struct server s;
    start(&s);
    char ep[64];
    snprintf(ep, sizeof ep, "%sdev", s.prefix);
    struct harness_device *d = device(&s, ep, "1.1");
    struct stream ev;
    size_t at = 0;
    stream_open(&ev, &s, ep);
    ck_assert(stream_wait(&ev, &at, ": connected", 5000));

    int64_t battery = observe(&s, ep, "/3/0/9");
    observe(&s, ep, "/32769/0/1");
    /* The 2.05 that established it is the first telemetry. */
    wait_row(&s, ep, "/3/0/9", "100", "notify");
    ck_assert(harness_device_set_value(d, "/3/0/9", "55"));
    wait_row(&s, ep, "/3/0/9", "55", "notify");
    char want[128];
    snprintf(want, sizeof want, "\"observation\": %lld", (long long)battery);
    ck_assert_msg(stream_wait(&ev, &at, "event: notification", WAIT_MS), "%s", ev.buf);
    ck_assert_msg(stream_wait(&ev, &at, want, WAIT_MS), "%s", ev.buf);
    close(ev.fd);

    /* Restart on the same CoAP port: the device keeps its observations
     * and notifies on a new session with the same tokens. */
    harness_server_halt(&s.srv);
    harness_server_spawn(&s.srv);
    at = 0;
    stream_open(&ev, &s, ep);
    ck_assert(stream_wait(&ev, &at, ": connected", 5000));
    ck_assert(harness_device_set_value(d, "/3/0/9", "56"));
    wait_row(&s, ep, "/3/0/9", "56", "notify");
    ck_assert_msg(stream_wait(&ev, &at, "event: notification", WAIT_MS), "%s", ev.buf);
    ck_assert_msg(stream_wait(&ev, &at, "\"value\": 56", WAIT_MS), "%s", ev.buf);
    ck_assert(harness_device_set_value(d, "/32769/0/1", "-6"));
    wait_row(&s, ep, "/32769/0/1", "-6", "notify");

    /* Passive cancel (this server never sent the Observe: libcoap has no
     * state for it): dropped now, the next notification is RST. */
    ck_assert_str_eq(cancel(&s, ep, "/3/0/9", 200), "passive");
    cancel(&s, ep, "/3/0/9", 404);
    ck_assert(harness_device_set_values(d, "{\"values\":[{\"path\":\"/3/0/9\",\"value\":57},"
                                           "{\"path\":\"/32769/0/1\",\"value\":-7}]}"));
    wait_row(&s, ep, "/32769/0/1", "-7", "notify");
    ck_assert_int_eq(count_rows(&s, ep, "/3/0/9", "57", "notify"), 0);

    /* Active cancel of one this server established. */
    observe(&s, ep, "/32769/0/2");
    wait_row(&s, ep, "/32769/0/2", "7", "notify");
    ck_assert_str_eq(cancel(&s, ep, "/32769/0/2", 200), "active");
    ck_assert(harness_device_set_values(d, "{\"values\":[{\"path\":\"/32769/0/2\",\"value\":8},"
                                           "{\"path\":\"/32769/0/1\",\"value\":-8}]}"));
    wait_row(&s, ep, "/32769/0/1", "-8", "notify");
    ck_assert_int_eq(count_rows(&s, ep, "/32769/0/2", "8", "notify"), 0);
    ck_assert_str_eq(db_value("SELECT count(*) FROM observations WHERE endpoint = $1", ep),
                     "1");
    close(ev.fd);
    harness_device_free(d);
    harness_server_stop(&s.srv);
}
END_TEST

START_TEST(test_observe_deregister_forgets)
{
    struct server s;
    start(&s);
    char ep[64];
    snprintf(ep, sizeof ep, "%sdereg", s.prefix);
    struct harness_device_options o = { .server = s.srv.coap, .version = "1.1" };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    char loc[64];
    ck_assert_int_eq(harness_device_register_lwm2m(d, ep, 300, NULL, false, NULL, 5000, loc,
                                                   sizeof loc), 201);
    ck_assert(harness_device_start_thread(d));
    observe(&s, ep, "/3/0/9");
    ck_assert_str_eq(db_value("SELECT count(*) FROM observations WHERE endpoint = $1", ep),
                     "1");
    ck_assert_int_eq(harness_device_deregister(d, loc, 5000), 202);
    ck_assert_str_eq(db_value("SELECT count(*) FROM observations WHERE endpoint = $1", ep),
                     "0");
    /* Registered again: the old observation is gone from memory too. */
    ck_assert_int_eq(harness_device_register_lwm2m(d, ep, 300, NULL, false, NULL, 5000, loc,
                                                   sizeof loc), 201);
    cancel(&s, ep, "/3/0/9", 404);
    harness_device_free(d);
    harness_server_stop(&s.srv);
}
END_TEST

START_TEST(test_send_formats_and_refusals)
{
    struct server s;
    start(&s);
    char ep[64];
    snprintf(ep, sizeof ep, "%ssend", s.prefix);
    struct harness_device *d = device(&s, ep, "1.2");
    struct stream ev;
    size_t at = 0;
    stream_open(&ev, &s, ep);
    ck_assert(stream_wait(&ev, &at, ": connected", 5000));
    static const unsigned formats[] = { 110, 112, 11544 };
    for (int i = 0; i < 3; i++) {
        char values[256], want[32];
        snprintf(values, sizeof values,
                 "{\"values\":[{\"path\":\"/32769/0/1\",\"type\":\"integer\",\"value\":%d,"
                 "\"time\":1700000000},{\"path\":\"/32769/0/0\",\"type\":\"string\","
                 "\"value\":\"s%d\"}]}", 1000 + i, i);
        ck_assert_int_eq(harness_device_send_values(d, formats[i], values, 5000), 204);
        /* Durable before the 2.04: the rows are there already. */
        snprintf(want, sizeof want, "%d", 1000 + i);
        ck_assert_int_eq(count_rows(&s, ep, "/32769/0/1", want, "send"), 1);
        snprintf(want, sizeof want, "\"s%d\"", i);
        ck_assert_int_eq(count_rows(&s, ep, "/32769/0/0", want, "send"), 1);
        ck_assert_msg(stream_wait(&ev, &at, "event: send", WAIT_MS), "%s", ev.buf);
    }
    /* SenML carries the device's time; LwM2M CBOR has none (arrival time). */
    ck_assert_str_eq(db_value("SELECT count(*) FROM telemetry WHERE endpoint = $1"
                              " AND ts = to_timestamp(1700000000)", ep), "2");
    /* Malformed payload, unsupported and missing format: 4.00. */
    ck_assert_int_eq(harness_device_request(d, COAP_REQUEST_CODE_POST, "dp", NULL, "[{\"n\":",
                                            110, 5000, NULL, 0), 400);
    ck_assert_int_eq(harness_device_request(d, COAP_REQUEST_CODE_POST, "dp", NULL, "12", 0,
                                            5000, NULL, 0), 400);
    ck_assert_int_eq(harness_device_request(d, COAP_REQUEST_CODE_POST, "dp", NULL, "[]", -1,
                                            5000, NULL, 0), 400);
    /* Wakaama's captured Send (zero-length token) from an address that is
     * not registered: 4.04. */
    static const char wakaama[] =
        "40028fa8b26470116eff5b7b22626e223a222f332f302f222c226e223a223133222c2276223a33"
        "3136323936343032367d5d";
    uint8_t dgram[128];
    size_t n = strlen(wakaama) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        sscanf(wakaama + 2 * i, "%2x", &b);
        dgram[i] = (uint8_t)b;
    }
    struct harness_raw_answer a;
    ck_assert_int_eq(harness_raw_exchange(-1, s.srv.coap, dgram, n, 5000, &a), 404);
    close(ev.fd);
    harness_device_free(d);
    harness_server_stop(&s.srv);
}
END_TEST


START_TEST(test_observe_composite)
{
    struct server s;
    start(&s);
    char ep[64], url[256];
    snprintf(ep, sizeof ep, "%scomp", s.prefix);
    struct harness_device *d = device(&s, ep, "1.1");
    struct stream ev;
    size_t at = 0;
    stream_open(&ev, &s, ep);
    ck_assert(stream_wait(&ev, &at, ": connected", 5000));
    snprintf(url, sizeof url, "/api/devices/%s/composite", ep);
    json_t *j = call_json(&s, "POST", url,
                          "{\"op\":\"observe\",\"paths\":[\"/3/0/9\",\"/32769/0/1\"]}", 200);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "observation")), 0);
    json_decref(j);
    ck_assert(harness_device_set_values(d, "{\"values\":[{\"path\":\"/3/0/9\",\"value\":61},"
                                           "{\"path\":\"/32769/0/1\",\"value\":-61}]}"));
    wait_row(&s, ep, "/3/0/9", "61", "notify");
    wait_row(&s, ep, "/32769/0/1", "-61", "notify");
    ck_assert_msg(stream_wait(&ev, &at, "\"paths\": [\"/3/0/9\", \"/32769/0/1\"]", WAIT_MS),
                  "%s", ev.buf);
    /* The path filter takes whole segments: /3/0 has only /3/0/9 here. */
    ck_assert_int_eq(count_rows(&s, ep, "/32769", "-61", "notify"), 1);
    ck_assert_int_eq(count_rows(&s, ep, "/3/0", "-61", "notify"), 0);
    json_decref(call_json(&s, "GET", "/api/devices/nobody-here/telemetry", NULL, 404));
    snprintf(url, sizeof url, "/api/devices/%s/telemetry?since=yesterday", ep);
    json_decref(call_json(&s, "GET", url, NULL, 400));
    close(ev.fd);
    harness_device_free(d);
    harness_server_stop(&s.srv);
}
END_TEST

/* ---- a store round's notifications as one events row (INGEST) ---- */

/* GET /api/events, every device when ep is NULL, with Last-Event-ID when
 * last_id >= 0. */
static void stream_open_at(struct stream *st, const struct server *s, const char *ep,
                           long long last_id)
{
    const char *hp = s->srv.base + strlen("http://");
    char host[64];
    snprintf(host, sizeof host, "%s", hp);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(colon + 1)) };
    ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    st->fd = socket(AF_INET, SOCK_STREAM, 0);
    st->len = 0;
    ck_assert_int_eq(connect(st->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[1024], last[64] = "";
    if (last_id >= 0)
        snprintf(last, sizeof last, "Last-Event-ID: %lld\r\n", last_id);
    int n = snprintf(req, sizeof req,
                     "GET /api/events%s%s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s"
                     "\r\n%s\r\n", ep ? "?ep=" : "", ep ? ep : "", hp, s->srv.admin, last);
    ck_assert_int_eq(write(st->fd, req, (size_t)n), n);
}

/*
 * Notifications are stored as ONE "notifications" events row per store
 * round; /api/events still shows each as a "notification" event of its
 * device, live and replayed (Last-Event-ID), filtered per element by ?ep=,
 * and the row's id follows its frames as an id-only block.
 */
START_TEST(test_events_split_notifications)
{
    struct server s;
    start(&s);
    char a[64], b[64], want[128];
    snprintf(a, sizeof a, "%sev-a", s.prefix);
    snprintf(b, sizeof b, "%sev-b", s.prefix);
    long long before = atoll(db_value("SELECT coalesce(max(id), 0) FROM events", NULL));
    struct stream all, only_a;
    size_t at_all = 0, at_a = 0;
    stream_open_at(&all, &s, NULL, -1);
    stream_open_at(&only_a, &s, a, -1);
    ck_assert(stream_wait(&all, &at_all, ": connected", 5000));
    ck_assert(stream_wait(&only_a, &at_a, ": connected", 5000));
    struct harness_device *da = device(&s, a, "1.1"), *db = device(&s, b, "1.1");
    observe(&s, a, "/3/0/9");
    observe(&s, b, "/3/0/9");
    ck_assert(harness_device_set_value(da, "/3/0/9", "31"));
    ck_assert(harness_device_set_value(db, "/3/0/9", "32"));
    wait_row(&s, a, "/3/0/9", "31", "notify");
    wait_row(&s, b, "/3/0/9", "32", "notify");
    /* The table holds rounds, not notifications. */
    ck_assert_str_eq(db_value("SELECT count(*) FROM events WHERE kind = 'notification'", NULL),
                     "0");
    ck_assert_str_eq(db_value("SELECT count(*) FROM events e, jsonb_array_elements("
                              "e.detail->'notifications') n WHERE e.kind = 'notifications'"
                              " AND n->>'endpoint' = $1", a), "2");
    /* Unfiltered: both devices' notifications, each its own frame. */
    snprintf(want, sizeof want, "\"endpoint\" : \"%s\", \"kind\" : \"notification\"", b);
    ck_assert_msg(stream_wait(&all, &at_all, want, WAIT_MS), "%s", all.buf);
    at_all = 0;
    snprintf(want, sizeof want, "\"endpoint\" : \"%s\", \"kind\" : \"notification\"", a);
    ck_assert_msg(stream_wait(&all, &at_all, want, WAIT_MS), "%s", all.buf);
    ck_assert_msg(stream_wait(&all, &at_all, "\"value\": 31", WAIT_MS), "%s", all.buf);
    /* Filtered: a's notifications only, then the row's id on its own. */
    ck_assert_msg(stream_wait(&only_a, &at_a, "\"value\": 31", WAIT_MS), "%s", only_a.buf);
    ck_assert_msg(stream_wait(&only_a, &at_a, "\n\nid: ", WAIT_MS), "%s", only_a.buf);
    ck_assert_ptr_null(strstr(only_a.buf, b));
    ck_assert_ptr_null(strstr(only_a.buf, "notifications"));
    close(all.fd);
    close(only_a.fd);
    /* Replay from before: the same frames, again filtered per element. */
    struct stream replay;
    size_t at_r = 0;
    stream_open_at(&replay, &s, b, before);
    ck_assert_msg(stream_wait(&replay, &at_r, "\"value\": 32", WAIT_MS), "%s", replay.buf);
    ck_assert_ptr_null(strstr(replay.buf, "\"value\": 31"));
    snprintf(want, sizeof want, "\"endpoint\" : \"%s\"", a);
    ck_assert_ptr_null(strstr(replay.buf, want));
    close(replay.fd);
    harness_device_free(da);
    harness_device_free(db);
    harness_server_stop(&s.srv);
}
END_TEST

/* ---- DTLS-PSK on sessions no registration holds (INGEST) ---- */

static void add_psk(const char *endpoint, const char *identity, const char *key)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(HARNESS_SERVER_KEY_HEX, &k, &err), LS_OK);
    struct store *st = store_open(pguri, &err);
    ck_assert_ptr_nonnull(st);
    struct store_credential c = {
        .endpoint = endpoint, .scope = "server", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)key, .secret_len = strlen(key), .state = "active",
    };
    int64_t id = 0;
    ck_assert_msg(store_credentials_insert(st, &k, &c, &id, &err) == LS_OK, "insert: %s %s",
                  err.msg, err.detail);
    store_close(st);
}

struct raw {
    int code;           /* response code as a number (204), 0 while none */
    bool rst;
};

static coap_response_t raw_response(coap_session_t *s, const coap_pdu_t *sent,
                                    const coap_pdu_t *received, const coap_mid_t mid)
{
    (void)sent;
    (void)mid;
    struct raw *r = coap_session_get_app_data(s);
    coap_pdu_code_t c = coap_pdu_get_code(received);
    r->code = (int)(c >> 5) * 100 + (int)(c & 0x1f);
    return COAP_RESPONSE_OK;
}

static void raw_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t why,
                     const coap_mid_t mid)
{
    (void)sent;
    (void)mid;
    struct raw *r = coap_session_get_app_data(s);
    if (why == COAP_NACK_RST)
        r->rst = true;
}

/*
 * One CON on a NEW DTLS-PSK session (as a device's first message after a
 * server restart): a request (POST uri_path) or, with uri_path NULL, a
 * 2.05 notification carrying token, Observe seq and payload.  RETURNS the
 * response code (204), 0 for an empty ACK (a notification accepted), -2
 * for RST, -1 when nothing came in time.
 */
static int raw_dtls(const char *server, const char *identity, const char *key,
                    const char *uri_path, const uint8_t *token, size_t token_len,
                    unsigned format, const char *payload)
{
    char host[64];
    snprintf(host, sizeof host, "%s", server);
    char *colon = strrchr(host, ':');
    ck_assert_ptr_nonnull(colon);
    *colon = '\0';
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)atoi(colon + 1));
    ck_assert_int_eq(inet_pton(AF_INET, host, &dst.addr.sin.sin_addr), 1);
    dst.size = sizeof dst.addr.sin;

    coap_context_t *ctx = coap_new_context(NULL);
    ck_assert_ptr_nonnull(ctx);
    coap_register_response_handler(ctx, raw_response);
    coap_register_nack_handler(ctx, raw_nack);
    coap_dtls_cpsk_t c = { .version = COAP_DTLS_CPSK_SETUP_VERSION };
    c.psk_info.identity.s = (const uint8_t *)identity;
    c.psk_info.identity.length = strlen(identity);
    c.psk_info.key.s = (const uint8_t *)key;
    c.psk_info.key.length = strlen(key);
    coap_session_t *s = coap_new_client_session_psk2(ctx, NULL, &dst, COAP_PROTO_DTLS, &c);
    ck_assert_ptr_nonnull(s);
    struct raw r = { 0 };
    coap_session_set_app_data(s, &r);
    bool notify = uri_path == NULL;
    coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON,
                                    notify ? COAP_RESPONSE_CODE_CONTENT : COAP_REQUEST_CODE_POST,
                                    coap_new_message_id(s), coap_session_max_pdu_size(s));
    ck_assert_ptr_nonnull(pdu);
    ck_assert(coap_add_token(pdu, token_len, token));
    uint8_t buf[4];
    if (notify)
        coap_add_option(pdu, COAP_OPTION_OBSERVE, coap_encode_var_safe(buf, sizeof buf, 7), buf);
    else
        coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(uri_path),
                        (const uint8_t *)uri_path);
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(buf, sizeof buf, format), buf);
    coap_add_data(pdu, strlen(payload), (const uint8_t *)payload);
    ck_assert_int_ne(coap_send(s, pdu), COAP_INVALID_MID);
    int64_t deadline = harness_now_ms() + WAIT_MS;
    int result = -1;
    while (harness_now_ms() < deadline) {
        coap_io_process(ctx, 100);
        if (r.rst || r.code) {
            result = r.rst ? -2 : r.code;
            break;
        }
        if (notify && coap_can_exit(ctx)) {   /* the ACK took it off the queue */
            result = 0;
            break;
        }
    }
    coap_session_release(s);
    coap_free_context(ctx);
    return result;
}

/* The value of one /metrics series (name with labels), -1 when absent. */
static long long metric(const struct server *s, const char *series)
{
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", s->srv.base);
    struct harness_http_response r;
    int st = harness_http_request("GET", url, NULL, NULL, 0, 20000, &r);
    ck_assert_int_eq(st, 200);
    long long v = -1;
    for (const char *p = r.body; p && (p = strstr(p, series)); p += strlen(series))
        if ((p == r.body || p[-1] == '\n') && p[strlen(series)] == ' ') {
            v = atoll(p + strlen(series) + 1);
            break;
        }
    harness_http_response_free(&r);
    return v;
}

static struct harness_device *psk_device(const struct server *s, const char *ep,
                                         const char *identity, const char *key)
{
    struct harness_device_options o = {
        .server = s->srv.coaps, .version = "1.1", .psk_identity = identity,
        .psk_key = (const uint8_t *)key, .psk_key_len = strlen(key),
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    char loc[64];
    ck_assert_int_eq(harness_device_register_lwm2m(d, ep, 300, NULL, false, NULL, 5000, loc,
                                                   sizeof loc), 201);
    ck_assert(harness_device_start_thread(d));
    return d;
}

/*
 * Issue 5, DTLS: after a restart the device's notifications and Sends come
 * on a new DTLS session that no registration holds.  They are the
 * registration's when the session's PSK identity is the one it was made
 * with (not merely a live credential: another device's key gets RST /
 * 4.04); a Send binds the session, as an Update would.
 */
START_TEST(test_dtls_psk_fresh_session_after_restart)
{
    struct server s;
    start(&s);
    char ep[64], other[64], ident[64], ident2[64], url[256];
    snprintf(ep, sizeof ep, "%spsk", s.prefix);
    snprintf(other, sizeof other, "%spsk-other", s.prefix);
    snprintf(ident, sizeof ident, "%sid", s.prefix);
    snprintf(ident2, sizeof ident2, "%sid-other", s.prefix);
    add_psk(ep, ident, "psk-observe-key-0123");
    add_psk(other, ident2, "psk-other-key-0123");
    /* The credentials are read at start. */
    harness_server_halt(&s.srv);
    harness_server_spawn(&s.srv);
    struct harness_device *d = psk_device(&s, ep, ident, "psk-observe-key-0123");
    int64_t obs = observe(&s, ep, "/3/0/9");
    wait_row(&s, ep, "/3/0/9", "100", "notify");
    char id[24], hex[24];
    snprintf(id, sizeof id, "%lld", (long long)obs);
    snprintf(hex, sizeof hex, "%s",
             db_value("SELECT encode(token, 'hex') FROM observations WHERE id = $1::bigint", id));
    uint8_t token[8];
    size_t tlen = strlen(hex) / 2;
    ck_assert_uint_ge(tlen, 1);
    for (size_t i = 0; i < tlen; i++) {
        unsigned b;
        sscanf(hex + 2 * i, "%2x", &b);
        token[i] = (uint8_t)b;
    }
    /* Power cut (frees d), then a server restart: every DTLS session is gone. */
    harness_device_crash(d);
    harness_server_halt(&s.srv);
    harness_server_spawn(&s.srv);

    /* Another device's key with this observation's token: refused (RST). */
    ck_assert_int_eq(raw_dtls(s.srv.coaps, ident2, "psk-other-key-0123", NULL, token, tlen, 0,
                              "13"), -2);
    /* The device's own identity on a new session: accepted and stored. */
    ck_assert_int_eq(raw_dtls(s.srv.coaps, ident, "psk-observe-key-0123", NULL, token, tlen, 0,
                              "77"), 0);
    wait_row(&s, ep, "/3/0/9", "77", "notify");
    ck_assert_int_eq(count_rows(&s, ep, "/3/0/9", "13", "notify"), 0);

    /* Send on a new session, before any Update: 2.04 after the commit. */
    static const uint8_t t1[] = { 0x51 }, t2[] = { 0x52 };
    ck_assert_int_eq(raw_dtls(s.srv.coaps, ident, "psk-observe-key-0123", "dp", t1, 1, 110,
                              "[{\"n\":\"/3/0/9\",\"v\":42}]"), 204);
    ck_assert_int_eq(count_rows(&s, ep, "/3/0/9", "42", "send"), 1);
    /* A live credential whose device is not registered: 4.04. */
    ck_assert_int_eq(raw_dtls(s.srv.coaps, ident2, "psk-other-key-0123", "dp", t2, 1, 110,
                              "[{\"n\":\"/3/0/9\",\"v\":43}]"), 404);
    snprintf(url, sizeof url, "/api/devices/%s/telemetry?path=/3/0/9", other);
    json_decref(call_json(&s, "GET", url, NULL, 200));
    ck_assert_int_eq(count_rows(&s, other, "/3/0/9", "43", "send"), 0);
    /* /metrics of this run (since the restart): what happened to them. */
    ck_assert_int_eq(metric(&s, "lodestar_notifications_total{result=\"unknown\"}"), 1);
    ck_assert_int_eq(metric(&s, "lodestar_notifications_total{result=\"queued\"}"), 1);
    ck_assert_int_eq(metric(&s, "lodestar_notifications_total{result=\"dropped_store_full\"}"),
                     0);
    ck_assert_int_eq(metric(&s, "lodestar_send_total{result=\"stored\"}"), 1);
    ck_assert_int_eq(metric(&s, "lodestar_send_total{result=\"refused\"}"), 1);
    ck_assert_int_eq(metric(&s, "lodestar_telemetry_committed_total"), 2);
    harness_server_stop(&s.srv);
}
END_TEST

/* ---- duplicated datagrams (RFC 7252 4.5) ---- */

struct copt {
    uint16_t num;
    const void *v;
    size_t len;
};

/* Appends an option delta or length nibble's extension bytes. */
static size_t opt_ext(uint8_t *p, size_t x, uint8_t *nibble)
{
    if (x < 13) {
        *nibble = (uint8_t)x;
        return 0;
    }
    if (x < 269) {
        *nibble = 13;
        p[0] = (uint8_t)(x - 13);
        return 1;
    }
    *nibble = 14;
    p[0] = (uint8_t)((x - 269) >> 8);
    p[1] = (uint8_t)(x - 269);
    return 2;
}

/* Encodes a CoAP datagram; opts in ascending number order. */
static size_t dgram_make(uint8_t *buf, uint8_t type, uint8_t code, uint16_t mid,
                         const uint8_t *tok, size_t tkl, const struct copt *opts, size_t nopts,
                         const char *payload)
{
    size_t n = 0;
    buf[n++] = (uint8_t)(0x40 | type << 4 | tkl);
    buf[n++] = code;
    buf[n++] = (uint8_t)(mid >> 8);
    buf[n++] = (uint8_t)mid;
    if (tkl)
        memcpy(buf + n, tok, tkl);
    n += tkl;
    uint16_t prev = 0;
    for (size_t i = 0; i < nopts; i++) {
        uint8_t ext[4], dn, ln;
        size_t h = n++;
        size_t e = opt_ext(ext, opts[i].num - prev, &dn);
        e += opt_ext(ext + e, opts[i].len, &ln);
        buf[h] = (uint8_t)(dn << 4 | ln);
        memcpy(buf + n, ext, e);
        n += e;
        memcpy(buf + n, opts[i].v, opts[i].len);
        n += opts[i].len;
        prev = opts[i].num;
    }
    if (payload && *payload) {
        buf[n++] = 0xff;
        memcpy(buf + n, payload, strlen(payload));
        n += strlen(payload);
    }
    return n;
}

/* A connected UDP socket towards the server's CoAP address. */
static int raw_socket(const struct server *s)
{
    char host[sizeof s->srv.coap];
    snprintf(host, sizeof host, "%s", s->srv.coap);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(colon + 1)) };
    ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Registers ep (LwM2M 1.1, </3/0>, </32769/0>) from fd with a raw POST /rd. */
static void raw_register(const struct server *s, int fd, const char *ep)
{
    char q1[96];
    snprintf(q1, sizeof q1, "ep=%s", ep);
    static const uint8_t cf_link = 40;
    const struct copt opts[] = {
        { 11, "rd", 2 }, { 12, &cf_link, 1 }, { 15, q1, strlen(q1) }, { 15, "lt=300", 6 },
        { 15, "lwm2m=1.1", 9 },
    };
    uint8_t buf[512];
    static const uint8_t tok[] = { 0x7e, 0x01 };
    size_t n = dgram_make(buf, 0, 0x02, 0x0101, tok, sizeof tok, opts, 5, "</3/0>,</32769/0>");
    struct harness_raw_answer a;
    ck_assert_int_eq(harness_raw_exchange(fd, s->srv.coap, buf, n, 5000, &a), 201);
}

START_TEST(test_send_duplicate_stored_once)
{
    struct server s;
    start(&s);
    char ep[64];
    snprintf(ep, sizeof ep, "%sdupsend", s.prefix);
    int fd = raw_socket(&s);
    raw_register(&s, fd, ep);

    static const uint8_t cf_senml = 110;
    const struct copt opts[] = { { 11, "dp", 2 }, { 12, &cf_senml, 1 } };
    static const uint8_t tok[] = { 0x5e, 0x4d, 0x01 };
    uint8_t buf[256];
    size_t n = dgram_make(buf, 0, 0x02, 0x2345, tok, sizeof tok, opts, 2,
                          "[{\"n\":\"/32769/0/1\",\"v\":4242}]");
    struct harness_raw_answer a1, a2;
    /* The retransmission comes after the answer (the device lost it). */
    ck_assert_int_eq(harness_raw_exchange(fd, s.srv.coap, buf, n, 5000, &a1), 204);
    ck_assert_int_eq(count_rows(&s, ep, "/32769/0/1", "4242", "send"), 1);
    ck_assert_int_eq(harness_raw_exchange(fd, s.srv.coap, buf, n, 5000, &a2), 204);
    ck_assert_int_eq(a1.code, a2.code);
    /* The 2.04 follows the commit: a second row would be there now. */
    ck_assert_int_eq(count_rows(&s, ep, "/32769/0/1", "4242", "send"), 1);

    /* Zero-length token, and the retransmission while the commit is
     * pending: still one row, and a third copy gets the same 2.04. */
    n = dgram_make(buf, 0, 0x02, 0x2346, NULL, 0, opts, 2,
                   "[{\"n\":\"/32769/0/1\",\"v\":4343}]");
    ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
    ck_assert_int_eq(harness_raw_exchange(fd, s.srv.coap, buf, n, 5000, &a1), 204);
    ck_assert_int_eq(harness_raw_exchange(fd, s.srv.coap, buf, n, 5000, &a2), 204);
    ck_assert_int_eq(count_rows(&s, ep, "/32769/0/1", "4343", "send"), 1);

    /* Same token, new MID: a new Send, stored. */
    n = dgram_make(buf, 0, 0x02, 0x2347, tok, sizeof tok, opts, 2,
                   "[{\"n\":\"/32769/0/1\",\"v\":4242}]");
    ck_assert_int_eq(harness_raw_exchange(fd, s.srv.coap, buf, n, 5000, &a1), 204);
    ck_assert_int_eq(count_rows(&s, ep, "/32769/0/1", "4242", "send"), 2);
    close(fd);
    harness_server_stop(&s.srv);
}
END_TEST

struct observe_call {
    const struct server *s;
    char url[256];
    int status;
};

static void *observe_thread(void *arg)
{
    struct observe_call *c = arg;
    char url[512], auth[256];
    snprintf(url, sizeof url, "%s%s", c->s->srv.base, c->url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->s->srv.admin);
    const char *headers[] = { auth, NULL };
    struct harness_http_response r;
    c->status = harness_http_request("POST", url, headers, NULL, 0, 20000, &r);
    harness_http_response_free(&r);
    return NULL;
}

/* Reads datagrams from fd until one of type/mid (mid < 0: any mid) comes;
 * copies it to buf.  Returns its length or 0 at the deadline. */
static size_t raw_await(int fd, int type, int mid, uint8_t *buf, size_t cap)
{
    int64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)(deadline - harness_now_ms())) <= 0)
            continue;
        ssize_t n = recv(fd, buf, cap, 0);
        if (n >= 4 && (buf[0] >> 4 & 3) == type &&
            (mid < 0 || (buf[2] << 8 | buf[3]) == mid))
            return (size_t)n;
    }
    return 0;
}

/* Sends a CON 2.05 notification and waits for the server's ACK of it. */
static void raw_notify(int fd, const uint8_t *tok, size_t tkl, uint16_t mid, uint8_t seq,
                       const char *value)
{
    static const uint8_t cf_text = 0;
    const struct copt opts[] = { { 6, &seq, 1 }, { 12, &cf_text, 0 } };
    uint8_t buf[256], in[1500];
    size_t n = dgram_make(buf, 0, 0x45, mid, tok, tkl, opts, 2, value);
    ck_assert_int_eq(send(fd, buf, n, 0), (ssize_t)n);
    ck_assert_msg(raw_await(fd, 2, mid, in, sizeof in) > 0, "no ACK for notification %04x",
                  mid);
}

START_TEST(test_notification_duplicate_stored_once)
{
    struct server s;
    start(&s);
    char ep[64];
    snprintf(ep, sizeof ep, "%sdupnotify", s.prefix);
    int fd = raw_socket(&s);
    raw_register(&s, fd, ep);

    /* The Observe request comes to our socket while the API call waits. */
    struct observe_call c = { .s = &s };
    snprintf(c.url, sizeof c.url, "/api/devices/%s/3/0/9/observe", ep);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, observe_thread, &c), 0);
    uint8_t in[1500], out[256];
    size_t n;
    do {        /* a CON GET whose first option is Observe (6) */
        n = raw_await(fd, 0, -1, in, sizeof in);
        ck_assert_uint_gt(n, 4);
    } while (in[1] != 0x01 || n <= 4 + (in[0] & 0x0fu) || in[4 + (in[0] & 0x0f)] >> 4 != 6);
    size_t tkl = in[0] & 0x0f;
    uint8_t tok[8];
    ck_assert_uint_le(tkl, 8);
    memcpy(tok, in + 4, tkl);
    uint16_t mid = (uint16_t)(in[2] << 8 | in[3]);
    static const uint8_t seq1 = 1, cf_text = 0;
    const struct copt opts[] = { { 6, &seq1, 1 }, { 12, &cf_text, 0 } };
    size_t m = dgram_make(out, 2, 0x45, mid, tok, tkl, opts, 2, "7");
    ck_assert_int_eq(send(fd, out, m, 0), (ssize_t)m);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(c.status, 200);
    wait_row(&s, ep, "/3/0/9", "7", "notify");

    /* Notification A, then B, then A again (our first ACK was lost):
     * libcoap only drops a repeat of the last CON, so A reaches the
     * server twice and is ACKed both times. */
    raw_notify(fd, tok, tkl, 0x3001, 2, "10");
    raw_notify(fd, tok, tkl, 0x3002, 3, "11");
    raw_notify(fd, tok, tkl, 0x3001, 2, "10");
    raw_notify(fd, tok, tkl, 0x3003, 4, "12");
    wait_row(&s, ep, "/3/0/9", "12", "notify");
    ck_assert_int_eq(count_rows(&s, ep, "/3/0/9", "10", "notify"), 1);
    ck_assert_int_eq(count_rows(&s, ep, "/3/0/9", "11", "notify"), 1);
    close(fd);
    harness_server_stop(&s.srv);
}
END_TEST

int main(void)
{
    pguri = harness_pg_uri();
    Suite *s = suite_create("observe");
    TCase *tc = tcase_create("observe");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_observe_survives_restart_and_cancels);
    tcase_add_test(tc, test_observe_deregister_forgets);
    tcase_add_test(tc, test_observe_composite);
    tcase_add_test(tc, test_send_formats_and_refusals);
    tcase_add_test(tc, test_dtls_psk_fresh_session_after_restart);
    tcase_add_test(tc, test_events_split_notifications);
    tcase_add_test(tc, test_send_duplicate_stored_once);
    tcase_add_test(tc, test_notification_duplicate_stored_once);
    suite_add_tcase(s, tc);
    return harness_run_suite(s) ? 1 : 0;
}
