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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"

#define STOP_MS 10000
#define WAIT_MS 10000

static const char *pguri;

struct server {
    struct harness_server srv;      /* proc, base, admin; coap fixed across restarts */
    char prefix[24];
};

/* A UDP port nobody uses now (bound and released). */
static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void start(struct server *s)
{
    memset(s, 0, sizeof *s);
    char p[9], coap[64], models[512];
    harness_server_random_hex(p, 4);
    snprintf(s->prefix, sizeof s->prefix, "o%s-", p);
    snprintf(coap, sizeof coap, "127.0.0.1:%d", free_udp_port());
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
    suite_add_tcase(s, tc);
    return harness_run_suite(s) ? 1 : 0;
}
