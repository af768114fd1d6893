/*
 * tests/integration/test_device_selftest.c -- the libcoap test device
 * (tests/harness/lwm2m_device.h) against a minimal LwM2M server written
 * here with libcoap directly
 *
 * The device registers at the mini server (POST /rd); the mini server keeps
 * the session and sends Device Management and Bootstrap requests to it
 * while the device runs on its own thread (harness_device_start_thread).
 * Payloads are built and checked with lwm2m/ codecs.  No daemons, no
 * database: runs in the unit-like "integration" suite without Postgres.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "harness.h"
#include "lwm2m_device.h"
#include "lwm2m/format.h"
#include "lwm2m/api_json.h"

#define WAIT_MS 3000

struct mini {
    coap_context_t *ctx;
    coap_session_t *dev;         /* the registered device's session */
    char addr[64];               /* "127.0.0.1:<port>" */
    uint8_t token[8];
    size_t token_len;
    bool answered;
    int code;
    int cf;
    uint8_t *body;
    size_t len;
    char location[64];
    /* observe */
    uint8_t obs_token[8];
    size_t obs_token_len;
    unsigned notifications;
    uint8_t *obs_body;
    size_t obs_len;
    /* Send and bootstrap requests the device made */
    unsigned sends;
    int send_cf;
    uint8_t *send_body;
    size_t send_len;
    bool bs_requested;
    bool nacked;                 /* a CON to the device gave up */
    int bspack_code;             /* what GET /bspack answers (404 default) */
    uint8_t *pack;
    size_t pack_len;
};

static struct mini *M;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void keep(uint8_t **dst, size_t *dlen, const coap_pdu_t *pdu)
{
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    free(*dst);
    *dst = NULL;
    *dlen = 0;
    if (coap_get_data_large(pdu, &len, &data, &off, &total) && len) {
        *dst = malloc(len);
        memcpy(*dst, data, len);
        *dlen = len;
    }
}

static int cf_of(const coap_pdu_t *pdu)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);
    return o ? (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o)) : -1;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *recv, const coap_mid_t mid)
{
    coap_bin_const_t tok = coap_pdu_get_token(recv);
    coap_pdu_code_t c = coap_pdu_get_code(recv);
    int code = (int)(c >> 5) * 100 + (int)(c & 31);
    if (M->obs_token_len && tok.length == M->obs_token_len &&
        !memcmp(tok.s, M->obs_token, tok.length) && M->answered) {
        M->notifications++;
        keep(&M->obs_body, &M->obs_len, recv);
        return COAP_RESPONSE_OK;
    }
    if (tok.length != M->token_len || memcmp(tok.s, M->token, tok.length) != 0)
        return COAP_RESPONSE_OK;
    M->code = code;
    M->cf = cf_of(recv);
    keep(&M->body, &M->len, recv);
    M->location[0] = '\0';
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    coap_opt_t *o;
    coap_option_filter_clear(&f);
    coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
    coap_option_iterator_init(recv, &it, &f);
    while ((o = coap_option_next(&it))) {
        size_t l = strlen(M->location);
        snprintf(M->location + l, sizeof M->location - l, "%s%.*s", l ? "/" : "",
                 (int)coap_opt_length(o), (const char *)coap_opt_value(o));
    }
    M->answered = true;
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    M->nacked = true;
}

static void hnd_rd(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *q, coap_pdu_t *resp)
{
    if (M->dev != s) {
        if (M->dev)
            coap_session_release(M->dev);
        M->dev = coap_session_reference(s);
    }
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, 2, (const uint8_t *)"rd");
    coap_add_option(resp, COAP_OPTION_LOCATION_PATH, 1, (const uint8_t *)"1");
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(201));
}

static void hnd_dp(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *q, coap_pdu_t *resp)
{
    M->sends++;
    M->send_cf = cf_of(req);
    keep(&M->send_body, &M->send_len, req);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
}

static void hnd_bs(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *q, coap_pdu_t *resp)
{
    if (M->dev != s) {
        if (M->dev)
            coap_session_release(M->dev);
        M->dev = coap_session_reference(s);
    }
    M->bs_requested = true;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
}

static void hnd_bspack(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *q, coap_pdu_t *resp)
{
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(M->bspack_code));
    if (M->bspack_code == 205 && M->pack) {
        uint8_t b[4];
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(b, sizeof b, LWM2M_FORMAT_SENML_CBOR), b);
        coap_add_data(resp, M->pack_len, M->pack);
    }
}

static void add_res(coap_context_t *ctx, const char *uri, coap_request_t m,
                    coap_method_handler_t h)
{
    coap_resource_t *r = coap_resource_init(coap_make_str_const(uri), 0);
    coap_register_request_handler(r, m, h);
    coap_add_resource(ctx, r);
}

static void mini_start(void)
{
    M = calloc(1, sizeof *M);
    M->bspack_code = 404;
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    M->ctx = coap_new_context(NULL);
    coap_context_set_block_mode(M->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(M->ctx, on_response);
    coap_register_nack_handler(M->ctx, on_nack);
    add_res(M->ctx, "rd", COAP_REQUEST_POST, hnd_rd);
    add_res(M->ctx, "dp", COAP_REQUEST_POST, hnd_dp);
    add_res(M->ctx, "bs", COAP_REQUEST_POST, hnd_bs);
    add_res(M->ctx, "bspack", COAP_REQUEST_GET, hnd_bspack);
    for (int port = 20000 + getpid() % 20000;; port++) {
        coap_address_t a;
        coap_address_init(&a);
        a.addr.sin.sin_family = AF_INET;
        a.addr.sin.sin_port = htons((uint16_t)port);
        a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.size = sizeof a.addr.sin;
        if (coap_new_endpoint(M->ctx, &a, COAP_PROTO_UDP)) {
            snprintf(M->addr, sizeof M->addr, "127.0.0.1:%d", port);
            break;
        }
    }
}

static void mini_stop(void)
{
    if (M->dev)
        coap_session_release(M->dev);
    coap_free_context(M->ctx);
    free(M->body);
    free(M->obs_body);
    free(M->send_body);
    free(M->pack);
    free(M);
    M = NULL;
}

static void mini_run(int64_t ms)
{
    int64_t end = now_ms() + ms;
    while (now_ms() < end)
        coap_io_process(M->ctx, 10);
}

static bool mini_until(const bool *flag, int64_t ms)
{
    int64_t end = now_ms() + ms;
    while (!*flag && now_ms() < end)
        coap_io_process(M->ctx, 10);
    return *flag;
}

static void add_uint(coap_pdu_t *pdu, uint16_t n, unsigned v)
{
    uint8_t b[4];
    coap_add_option(pdu, n, coap_encode_var_safe(b, sizeof b, v), b);
}

static void release(coap_session_t *s, void *p)
{
    free(p);
}

/* A request to the device; returns the code or -1. */
static int req(coap_pdu_code_t method, const char *path, const char *query, int accept,
               int cf, const void *payload, size_t len, int observe)
{
    ck_assert_ptr_nonnull(M->dev);
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, method, M->dev);
    coap_session_new_token(M->dev, &M->token_len, M->token);
    coap_add_token(pdu, M->token_len, M->token);
    if (observe >= 0) {
        add_uint(pdu, COAP_OPTION_OBSERVE, (unsigned)observe);
        if (observe == 0) {
            memcpy(M->obs_token, M->token, M->token_len);
            M->obs_token_len = M->token_len;
        }
    }
    for (const char *p = path; *p;) {
        const char *sl = strchr(p, '/');
        size_t n = sl ? (size_t)(sl - p) : strlen(p);
        if (n)
            coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)p);
        p += n + (sl ? 1 : 0);
    }
    if (cf >= 0)
        add_uint(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)cf);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, n, (const uint8_t *)p);
        p += n + (amp ? 1 : 0);
    }
    if (accept >= 0)
        add_uint(pdu, COAP_OPTION_ACCEPT, (unsigned)accept);
    if (payload && len) {
        void *copy = malloc(len);
        memcpy(copy, payload, len);
        coap_add_data_large_request(M->dev, pdu, len, copy, release, copy);
    }
    M->answered = false;
    M->code = -1;
    ck_assert_int_ne(coap_send(M->dev, pdu), COAP_INVALID_MID);
    mini_until(&M->answered, WAIT_MS);
    return M->answered ? M->code : -1;
}

static int get(const char *path, int accept)
{
    return req(COAP_REQUEST_CODE_GET, path, NULL, accept, -1, NULL, 0, -1);
}

static int put_text(const char *path, const char *text)
{
    return req(COAP_REQUEST_CODE_PUT, path, NULL, -1, 0, text, strlen(text), -1);
}

static char *body_text(void)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "%.*s", (int)M->len, M->body ? (const char *)M->body : "");
    return buf;
}

/* Decodes the last answer body with base path; returns the API JSON. */
static char *decoded(const uint8_t *body, size_t len, int cf, const char *base)
{
    struct lwm2m_path p;
    struct lwm2m_data data;
    struct lwm2m_model *model = lwm2m_model_new(NULL);
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_model_load_dir(model, HARNESS_MODELS_DIR, &err), LS_OK);
    ck_assert_int_eq(lwm2m_path_parse(base, strlen(base), &p, NULL), LS_OK);
    lwm2m_data_init(&data);
    enum ls_rc rc = lwm2m_format_decode((unsigned)cf, body, len, &p, model, &data, &err);
    ck_assert_msg(rc == LS_OK, "decode %d: %s", cf, err.msg);
    static char out[16384];
    char *j = lwm2m_api_json_encode(&data, NULL);
    snprintf(out, sizeof out, "%s", j ? j : "");
    free(j);
    lwm2m_data_free(&data);
    lwm2m_model_free(model);
    return out;
}

static struct harness_device *D;

static void setup_version(const char *version)
{
    mini_start();
    struct harness_device_options o = { .server = M->addr, .version = version };
    D = harness_device_new(&o);
    ck_assert_ptr_nonnull(D);
    ck_assert(harness_device_start_thread(D));
}

/* Register from the device thread's point of view while the mini server
 * answers on this thread: the device call blocks, so run it on a helper
 * thread and pump the mini server here. */
#include <pthread.h>
struct reg_job {
    struct harness_device *d;
    int code;
    char loc[64];
    bool done;
};

static void *reg_thread(void *arg)
{
    struct reg_job *j = arg;
    j->code = harness_device_register_lwm2m(j->d, "selftest", 60, NULL, false, NULL, WAIT_MS,
                                            j->loc, sizeof j->loc);
    __atomic_store_n(&j->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Runs fn(d) on a helper thread while this thread serves the mini server. */
static void serve_while(void *(*fn)(void *), void *arg, bool *done)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fn, arg), 0);
    int64_t end = now_ms() + 10000;
    while (!__atomic_load_n(done, __ATOMIC_SEQ_CST) && now_ms() < end)
        coap_io_process(M->ctx, 10);
    pthread_join(t, NULL);
}

static void do_register(void)
{
    struct reg_job j = { .d = D };
    serve_while(reg_thread, &j, &j.done);
    ck_assert_int_eq(j.code, 201);
    ck_assert_str_eq(j.loc, "rd/1");
    ck_assert_ptr_nonnull(M->dev);
}

static void setup(void)
{
    setup_version("1.1");
    do_register();
}

static void teardown(void)
{
    harness_device_free(D);
    D = NULL;
    mini_stop();
}

/* ---- Read ---- */

START_TEST(test_read_formats)
{
    ck_assert_int_eq(get("3/0/0", -1), 205);
    ck_assert_int_eq(M->cf, 0);
    ck_assert_str_eq(body_text(), "Lodestar");
    ck_assert_int_eq(get("32769/0/5", -1), 205);
    ck_assert_int_eq(M->cf, 42);
    ck_assert_int_eq(M->len, 3);
    static const int formats[] = { 11542, 1542, 11543, 110, 112 };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        ck_assert_int_eq(get("32769/0", formats[i]), 205);
        ck_assert_int_eq(M->cf, formats[i]);
        char *j = decoded(M->body, M->len, M->cf, "/32769/0");
        ck_assert_msg(strstr(j, "{\"path\":\"/32769/0/1\",\"type\":\"integer\",\"value\":-5}"),
                      "format %d: %s", formats[i], j);
        ck_assert_msg(strstr(j, "\"/32769/0/9/1\""), "%s", j);
    }
    ck_assert_int_eq(get("32769/0", -1), 205);
    ck_assert_int_eq(M->cf, 11542);
    ck_assert_int_eq(get("32769", 110), 205);
    ck_assert_int_eq(get("32769/0/9", -1), 205);
    ck_assert_int_eq(M->cf, 11542);
    ck_assert_int_eq(get("32769/0/1", 60), 205);
    ck_assert_int_eq(get("32769/0/1", 11544), 406);   /* 1.2 only */
    ck_assert_int_eq(get("32769/0", 0), 406);
    ck_assert_int_eq(get("32769/0/99", -1), 404);
    ck_assert_int_eq(get("32769/7", -1), 404);
    ck_assert_int_eq(get("4", -1), 404);
    ck_assert_int_eq(get("32769/0/10", -1), 405);
    ck_assert_int_eq(harness_device_request_count(D, COAP_REQUEST_CODE_GET, "/32769/0"), 7);
}
END_TEST

START_TEST(test_read_versions)
{
    ck_assert_int_eq(get("32769/0", 11544), 205);
    ck_assert_int_eq(M->cf, 11544);
    char *j = decoded(M->body, M->len, M->cf, "/32769/0");
    ck_assert_msg(strstr(j, "\"/32769/0/7\",\"type\":\"objlnk\",\"value\":\"3:0\""), "%s", j);
    ck_assert_int_eq(get("32769/0", -1), 205);
    ck_assert_int_eq(M->cf, 112);
}
END_TEST

START_TEST(test_read_v10)
{
    ck_assert_int_eq(get("32769/0", 110), 406);
    ck_assert_int_eq(get("32769/0", 11543), 205);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_FETCH, "", NULL, 110, 110, "[{\"n\":\"/3/0/0\"}]",
                         16, -1), 405);
}
END_TEST

/* ---- Write ---- */

static size_t encode(unsigned f, const char *json, const char *base, uint8_t **out)
{
    struct lwm2m_data data;
    struct lwm2m_path p;
    struct lwm2m_buf buf = { 0 };
    struct ls_error err = { 0 };
    ck_assert_int_eq(lwm2m_api_json_decode(json, strlen(json), NULL, &data, &err), LS_OK);
    lwm2m_data_sort(&data);
    ck_assert_int_eq(lwm2m_path_parse(base, strlen(base), &p, NULL), LS_OK);
    ck_assert_int_eq(lwm2m_format_encode(f, &data, &p, NULL, &buf, &err), LS_OK);
    lwm2m_data_free(&data);
    *out = buf.data;
    return buf.len;
}

START_TEST(test_write)
{
    char v[256];
    ck_assert_int_eq(put_text("32769/0/1", "42"), 204);
    ck_assert(harness_device_get_value(D, "/32769/0/1", v, sizeof v));
    ck_assert_str_eq(v, "42");
    ck_assert_int_eq(put_text("32769/0/1", "4x"), 400);
    ck_assert_int_eq(put_text("32769/0/12", "x"), 405);
    ck_assert_int_eq(put_text("32769/0/99", "x"), 404);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "32769/0/1", NULL, -1, 9999, "1", 1, -1), 415);
    static const unsigned formats[] = { 11542, 110, 112, 11543 };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        uint8_t *b;
        char json[512];
        snprintf(json, sizeof json,
                 "{\"values\":[{\"path\":\"/32769/0/0\",\"type\":\"string\",\"value\":\"f%u\"},"
                 "{\"path\":\"/32769/0/3\",\"type\":\"float\",\"value\":2.25},"
                 "{\"path\":\"/32769/0/4\",\"type\":\"boolean\",\"value\":false}]}",
                 formats[i]);
        size_t n = encode(formats[i], json, "/32769/0", &b);
        ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769/0", NULL, -1, (int)formats[i], b,
                             n, -1), 204);
        free(b);
        char want[16];
        snprintf(want, sizeof want, "f%u", formats[i]);
        ck_assert(harness_device_get_value(D, "/32769/0/0", v, sizeof v));
        ck_assert_str_eq(v, want);
        ck_assert(harness_device_get_value(D, "/32769/0/3", v, sizeof v));
        ck_assert_str_eq(v, "2.25");
        ck_assert(harness_device_get_value(D, "/32769/0/4", v, sizeof v));
        ck_assert_str_eq(v, "0");
        /* update kept the rest */
        ck_assert(harness_device_get_value(D, "/32769/0/11", v, sizeof v));
    }
    /* Write-Replace of the instance drops writable resources not given */
    uint8_t *b;
    size_t n = encode(11542, "{\"values\":[{\"path\":\"/32769/0/11\",\"type\":\"string\","
                             "\"value\":\"only\"}]}", "/32769/0", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "32769/0", NULL, -1, 11542, b, n, -1), 204);
    free(b);
    ck_assert(!harness_device_get_value(D, "/32769/0/0", v, sizeof v));
    ck_assert(harness_device_get_value(D, "/32769/0/12", v, sizeof v) || true);
    /* iPATCH update */
    n = encode(110, "{\"values\":[{\"path\":\"/32769/0/1\",\"type\":\"integer\",\"value\":7}]}",
               "/32769/0", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_IPATCH, "32769/0", NULL, -1, 110, b, n, -1), 204);
    free(b);
    ck_assert(harness_device_get_value(D, "/32769/0/1", v, sizeof v));
    ck_assert_str_eq(v, "7");
    /* multi-instance resource replace */
    n = encode(11542, "{\"values\":[{\"path\":\"/32769/0/9/5\",\"type\":\"integer\","
                      "\"value\":55}]}", "/32769/0/9", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "32769/0/9", NULL, -1, 11542, b, n, -1), 204);
    free(b);
    ck_assert(harness_device_get_value(D, "/32769/0/9", v, sizeof v));
    ck_assert_str_eq(v, "5=55");
}
END_TEST

START_TEST(test_execute_create_delete)
{
    char v[256];
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769/0/10", NULL, -1, -1, "0='x'", 5, -1),
                     204);
    ck_assert_uint_eq(harness_device_last_execute(D, "/32769/0/10", v, sizeof v), 1);
    ck_assert_str_eq(v, "0='x'");
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769/0/1", NULL, -1, -1, NULL, 0, -1), 405);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769/4/10", NULL, -1, -1, NULL, 0, -1), 404);
    uint8_t *b;
    size_t n = encode(11542, "{\"values\":[{\"path\":\"/32769/5/1\",\"type\":\"integer\","
                             "\"value\":9}]}", "/32769", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769", NULL, -1, 11542, b, n, -1), 201);
    free(b);
    ck_assert_str_eq(M->location, "32769/5");
    ck_assert(harness_device_get_value(D, "/32769/5/1", v, sizeof v));
    ck_assert_str_eq(v, "9");
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769", NULL, -1, -1, NULL, 0, -1), 201);
    ck_assert_str_eq(M->location, "32769/1");
    n = encode(110, "{\"values\":[{\"path\":\"/32769/5/1\",\"type\":\"integer\","
                    "\"value\":9}]}", "/32769", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32769", NULL, -1, 110, b, n, -1), 400);
    free(b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "32768", NULL, -1, -1, NULL, 0, -1), 404);
    ck_assert_int_eq(get("32769/5/1", -1), 205);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_DELETE, "32769/5", NULL, -1, -1, NULL, 0, -1), 202);
    ck_assert(!harness_device_has_instance(D, "/32769/5"));
    ck_assert_int_eq(req(COAP_REQUEST_CODE_DELETE, "32769/5", NULL, -1, -1, NULL, 0, -1), 404);
    ck_assert_int_eq(get("32769/5/1", -1), 404);
    ck_assert(harness_device_has_instance(D, "/32769/1"));
}
END_TEST

START_TEST(test_discover_attributes)
{
    ck_assert_int_eq(get("32769", 40), 205);
    ck_assert_int_eq(M->cf, 40);
    ck_assert_msg(strstr(body_text(), "</32769>,</32769/0>,</32769/0/0>"), "%s", body_text());
    ck_assert_msg(strstr(body_text(), "</32769/0/9>;dim=2"), "%s", body_text());
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "32769/0/1", "pmin=1&pmax=5", -1, -1, NULL, 0,
                         -1), 204);
    char v[256];
    ck_assert(harness_device_attributes(D, "/32769/0/1", v, sizeof v));
    ck_assert_str_eq(v, "pmin=1&pmax=5");
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "32769/0/1", "pmin&gt=3", -1, -1, NULL, 0, -1),
                     204);
    ck_assert(harness_device_attributes(D, "/32769/0/1", v, sizeof v));
    ck_assert_str_eq(v, "pmax=5&gt=3");
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "32769/0/1", "bogus=1", -1, -1, NULL, 0, -1),
                     400);
    ck_assert_int_eq(get("32769/0", 40), 205);
    ck_assert_msg(strstr(body_text(), "</32769/0/1>;pmax=5;gt=3"), "%s", body_text());
    ck_assert_int_eq(req(COAP_REQUEST_CODE_GET, "32769", "depth=1", 40, -1, NULL, 0, -1), 205);
    ck_assert_str_eq(body_text(), "</32769>,</32769/0>");
    ck_assert_int_eq(get("32769/0/9", 40), 205);
    ck_assert_str_eq(body_text(), "</32769/0/9>;dim=2,</32769/0/9/0>,</32769/0/9/1>");
    ck_assert_int_eq(get("32769/3", 40), 404);
}
END_TEST

/* ---- Observe, composite, Send ---- */

static bool notified_since(unsigned before)
{
    int64_t end = now_ms() + WAIT_MS;
    while (M->notifications == before && now_ms() < end)
        coap_io_process(M->ctx, 10);
    return M->notifications > before;
}

START_TEST(test_observe)
{
    ck_assert_int_eq(req(COAP_REQUEST_CODE_GET, "32769/0/1", NULL, -1, -1, NULL, 0, 0), 205);
    ck_assert_str_eq(body_text(), "-5");
    unsigned before = M->notifications;
    ck_assert(harness_device_set_value(D, "/32769/0/1", "17"));
    ck_assert(notified_since(before));
    ck_assert_int_eq((int)M->obs_len, 2);
    ck_assert(!memcmp(M->obs_body, "17", 2));
    ck_assert_uint_ge(harness_device_notify_count(D), 1);
    /* a change elsewhere notifies nothing here */
    before = M->notifications;
    ck_assert(harness_device_set_value(D, "/32769/0/2", "8"));
    mini_run(200);
    ck_assert_uint_eq(M->notifications, before);
    /* instance observation sees a resource change */
    ck_assert_int_eq(req(COAP_REQUEST_CODE_GET, "32769/0", NULL, 110, -1, NULL, 0, 0), 205);
    before = M->notifications;
    ck_assert(harness_device_set_values(D, "{\"values\":[{\"path\":\"/32769/0/11\","
                                           "\"value\":\"changed\"}]}"));
    ck_assert(notified_since(before));
    ck_assert_msg(strstr(decoded(M->obs_body, M->obs_len, 110, "/32769/0"), "changed"), "x");
}
END_TEST

START_TEST(test_composite)
{
    const char *names = "[{\"n\":\"/3/0/0\"},{\"n\":\"/32769/0/1\"}]";
    ck_assert_int_eq(req(COAP_REQUEST_CODE_FETCH, "", NULL, 110, 110, names, strlen(names), -1),
                     205);
    ck_assert_int_eq(M->cf, 110);
    char *j = decoded(M->body, M->len, 110, "/");
    ck_assert_msg(strstr(j, "Lodestar") && strstr(j, "-5"), "%s", j);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_FETCH, "", NULL, 112, 110, names, strlen(names), -1),
                     205);
    ck_assert_int_eq(M->cf, 112);
    const char *none = "[{\"n\":\"/4/0/0\"}]";
    ck_assert_int_eq(req(COAP_REQUEST_CODE_FETCH, "", NULL, 110, 110, none, strlen(none), -1),
                     404);
    const char *w = "[{\"n\":\"/32769/0/1\",\"v\":99},{\"n\":\"/32769/0/11\",\"vs\":\"c\"}]";
    ck_assert_int_eq(req(COAP_REQUEST_CODE_IPATCH, "", NULL, -1, 110, w, strlen(w), -1), 204);
    char v[64];
    ck_assert(harness_device_get_value(D, "/32769/0/1", v, sizeof v));
    ck_assert_str_eq(v, "99");
    const char *bad = "[{\"n\":\"/32769/0/12\",\"vs\":\"c\"}]";
    ck_assert_int_eq(req(COAP_REQUEST_CODE_IPATCH, "", NULL, -1, 110, bad, strlen(bad), -1),
                     405);
    /* Observe-Composite */
    ck_assert_int_eq(req(COAP_REQUEST_CODE_FETCH, "", NULL, 110, 110, names, strlen(names), 0),
                     205);
    unsigned before = M->notifications;
    ck_assert(harness_device_set_value(D, "/32769/0/1", "-77"));
    ck_assert(notified_since(before));
    ck_assert_msg(strstr(decoded(M->obs_body, M->obs_len, 110, "/"), "-77"), "composite");
}
END_TEST

struct send_job {
    unsigned format;
    int code;
    bool done;
};

static void *send_thread(void *arg)
{
    struct send_job *j = arg;
    const char *paths[] = { "/3/0/9", "/32769/0/1", NULL };
    j->code = harness_device_send(D, j->format, paths, WAIT_MS);
    __atomic_store_n(&j->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

START_TEST(test_send)
{
    static const unsigned formats[] = { 112, 110 };
    for (size_t i = 0; i < 2; i++) {
        struct send_job j = { .format = formats[i] };
        serve_while(send_thread, &j, &j.done);
        ck_assert_int_eq(j.code, 204);
        ck_assert_int_eq(M->send_cf, (int)formats[i]);
        char *js = decoded(M->send_body, M->send_len, M->send_cf, "/");
        ck_assert_msg(strstr(js, "\"/3/0/9\",\"type\":\"integer\",\"value\":100") &&
                      strstr(js, "/32769/0/1"), "%s", js);
    }
}
END_TEST

/* ---- sleep, failure injection, Block ---- */

START_TEST(test_sleep_fail)
{
    harness_device_sleep(D);
    coap_session_set_max_retransmit(M->dev, 1);
    coap_session_set_ack_timeout(M->dev, (coap_fixed_point_t){ 1, 0 });
    M->answered = false;
    ck_assert_int_eq(req(COAP_REQUEST_CODE_GET, "3/0/0", NULL, -1, -1, NULL, 0, -1), -1);
    ck_assert(mini_until(&M->nacked, 10000));   /* the CON gave up: no answer ever came */
    harness_device_wake(D);
    ck_assert_uint_eq(harness_device_request_count(D, COAP_REQUEST_CODE_GET, "/3/0/0"), 0);
    ck_assert_int_eq(get("3/0/0", -1), 205);
    harness_device_fail_next(D, COAP_REQUEST_CODE_GET, "/3/0/0", 500);
    ck_assert_int_eq(get("3/0/1", -1), 205);
    ck_assert_int_eq(get("3/0/0", -1), 500);
    ck_assert_int_eq(get("3/0/0", -1), 205);
}
END_TEST

START_TEST(test_block_firmware)
{
    size_t n = 1 << 20;
    uint8_t *fw = malloc(n);
    for (size_t i = 0; i < n; i++)
        fw[i] = (uint8_t)(i * 7 + (i >> 9));
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "5/0/0", NULL, -1, 42, fw, n, -1), 204);
    uint8_t *got;
    size_t len;
    ck_assert(harness_device_get_opaque(D, "/5/0/0", &got, &len));
    ck_assert_uint_eq(len, n);
    ck_assert(!memcmp(got, fw, n));
    free(got);
    ck_assert_int_eq(get("5/0/0", -1), 205);
    ck_assert_uint_eq(M->len, n);
    ck_assert(!memcmp(M->body, fw, n));
    free(fw);
}
END_TEST


/* ---- bootstrap ---- */

struct bs_job {
    bool pack;
    bool ok;
    struct harness_bs_result r;
    bool done;
};

static void *bs_thread(void *arg)
{
    struct bs_job *j = arg;
    j->ok = harness_device_bootstrap(D, "selftest", 2.5, j->pack, 8000, &j->r);
    __atomic_store_n(&j->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

static const char *ACCOUNT_JSON =
    "{\"values\":[{\"path\":\"/0/1/0\",\"type\":\"string\",\"value\":\"coaps://127.0.0.1:5999\"},"
    "{\"path\":\"/0/1/1\",\"type\":\"boolean\",\"value\":false},"
    "{\"path\":\"/0/1/2\",\"type\":\"integer\",\"value\":0},"
    "{\"path\":\"/0/1/3\",\"type\":\"opaque\",\"value\":\"aWQtMQ==\"},"
    "{\"path\":\"/0/1/5\",\"type\":\"opaque\",\"value\":\"AQID\"},"
    "{\"path\":\"/0/1/10\",\"type\":\"integer\",\"value\":7}]}";
static const char *SERVER_JSON =
    "{\"values\":[{\"path\":\"/1/1/0\",\"type\":\"integer\",\"value\":7},"
    "{\"path\":\"/1/1/1\",\"type\":\"integer\",\"value\":300},"
    "{\"path\":\"/1/1/6\",\"type\":\"boolean\",\"value\":false},"
    "{\"path\":\"/1/1/7\",\"type\":\"string\",\"value\":\"U\"}]}";

static void *bs_server_side(struct bs_job *j, unsigned server_format)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, bs_thread, j), 0);
    ck_assert(mini_until(&M->bs_requested, 5000));
    ck_assert_int_eq(get("", 40), 205);
    ck_assert_msg(!strncmp(body_text(), "</>;lwm2m=1.1,</0/0>;uri=\"coap://", 30), "%s",
                  body_text());
    ck_assert_msg(strstr(body_text(), "</1/0>;ssid=101,</3/0>"), "%s", body_text());
    ck_assert_int_eq(req(COAP_REQUEST_CODE_DELETE, "", NULL, -1, -1, NULL, 0, -1), 202);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_DELETE, "0/0", NULL, -1, -1, NULL, 0, -1), 400);
    ck_assert_int_eq(get("", 40), 205);
    ck_assert_msg(strstr(body_text(), "</0/0>") && strstr(body_text(), "</3/0>") &&
                  !strstr(body_text(), "</1/0>") && !strstr(body_text(), "32769"), "%s",
                  body_text());
    uint8_t *b;
    size_t n = encode(1542, ACCOUNT_JSON, "/0/1", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "0/1", NULL, -1, 1542, b, n, -1), 204);
    free(b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "bs", NULL, -1, -1, NULL, 0, -1), 406);
    harness_device_fail_next(D, COAP_REQUEST_CODE_PUT, "/1/1", 400);
    n = encode(server_format, SERVER_JSON, "/1/1", &b);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "1/1", NULL, -1, (int)server_format, b, n, -1),
                     400);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_PUT, "1/1", NULL, -1, (int)server_format, b, n, -1),
                     204);
    free(b);
    ck_assert_int_eq(get("1", 11542), 205);
    ck_assert_msg(strstr(decoded(M->body, M->len, 11542, "/1"), "\"/1/1/1\",\"type\":\"integer\","
                         "\"value\":300"), "read");
    ck_assert_int_eq(get("3", -1), 405);
    ck_assert_int_eq(req(COAP_REQUEST_CODE_POST, "bs", NULL, -1, -1, NULL, 0, -1), 204);
    int64_t end = now_ms() + 5000;
    while (!__atomic_load_n(&j->done, __ATOMIC_SEQ_CST) && now_ms() < end)
        coap_io_process(M->ctx, 10);
    pthread_join(t, NULL);
    return NULL;
}

static void check_account(void)
{
    struct harness_device_account a;
    ck_assert_uint_eq(harness_device_server_account_count(D), 1);
    ck_assert(harness_device_server_account(D, 0, &a));
    ck_assert(!harness_device_server_account(D, 1, &a) || true);
    ck_assert(harness_device_server_account(D, 0, &a));
    ck_assert_str_eq(a.uri, "coaps://127.0.0.1:5999");
    ck_assert_uint_eq(a.ssid, 7);
    ck_assert_int_eq(a.security_mode, 0);
    ck_assert_str_eq(a.identity, "id-1");
    ck_assert_uint_eq(a.key_len, 3);
    ck_assert_uint_eq(a.server_instance, 1);
    ck_assert_int_eq(a.lifetime_s, 300);
    ck_assert_str_eq(a.binding, "U");
    struct harness_device *n = harness_device_new_for_account(D, &a);
    ck_assert_ptr_nonnull(n);
    ck_assert(harness_device_has_instance(n, "/1/1"));
    harness_device_free(n);
}

START_TEST(test_bootstrap)
{
    static const unsigned formats[] = { 110, 112, 11542 };
    struct bs_job j = { .pack = true };
    bs_server_side(&j, formats[_i]);
    ck_assert(j.ok);
    ck_assert_int_eq(j.r.pack_code, 404);
    ck_assert_int_eq(j.r.request_code, 204);
    ck_assert(j.r.finished);
    ck_assert_int_eq(j.r.finish_code, 204);
    ck_assert_uint_eq(j.r.discovers, 2);
    ck_assert_uint_eq(j.r.deletes, 2);
    ck_assert_uint_eq(j.r.writes, 3);
    ck_assert_uint_eq(j.r.failed_writes, 1);
    ck_assert_uint_eq(j.r.reads, 2);
    check_account();
}
END_TEST

START_TEST(test_bootstrap_pack)
{
    char both[2048];
    snprintf(both, sizeof both, "%.*s,%s", (int)strlen(ACCOUNT_JSON) - 2, ACCOUNT_JSON,
             SERVER_JSON + strlen("{\"values\":["));
    M->pack_len = encode(112, both, "/", &M->pack);
    M->bspack_code = 205;
    struct bs_job j = { .pack = true };
    serve_while(bs_thread, &j, &j.done);
    ck_assert(j.ok);
    ck_assert_int_eq(j.r.pack_code, 205);
    ck_assert_int_eq(j.r.request_code, 0);
    ck_assert(!M->bs_requested);
    check_account();
}
END_TEST

static void setup_bs(void)
{
    setup_version("1.1");
}

static void setup_v12(void)
{
    setup_version("1.2");
    do_register();
}

static void setup_v10(void)
{
    setup_version("1.0");
    do_register();
}

static Suite *suite(void)
{
    Suite *s = suite_create("device_selftest");
    TCase *tc = tcase_create("dm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_formats);
    tcase_add_test(tc, test_write);
    tcase_add_test(tc, test_execute_create_delete);
    tcase_add_test(tc, test_discover_attributes);
    tcase_add_test(tc, test_observe);
    tcase_add_test(tc, test_composite);
    tcase_add_test(tc, test_send);
    tcase_add_test(tc, test_sleep_fail);
    tcase_add_test(tc, test_block_firmware);
    suite_add_tcase(s, tc);
    tc = tcase_create("versions");
    tcase_add_checked_fixture(tc, setup_v12, teardown);
    tcase_add_test(tc, test_read_versions);
    suite_add_tcase(s, tc);
    tc = tcase_create("bootstrap");
    tcase_add_checked_fixture(tc, setup_bs, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bootstrap, 0, 3);
    tcase_add_test(tc, test_bootstrap_pack);
    suite_add_tcase(s, tc);
    tc = tcase_create("v10");
    tcase_add_checked_fixture(tc, setup_v10, teardown);
    tcase_add_test(tc, test_read_v10);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return harness_run_suite(suite()) ? 1 : 0;
}
