/*
 * tests/integration/test_devops.c -- device management operations through
 * the REST API, end to end: lodestar-server as a process, a real Postgres,
 * and the harness LwM2M device (tests/harness/lwm2m_device.h) over CoAP on
 * loopback
 *
 * Each test starts its own server (fresh database per run, random admin
 * token, ephemeral ports, --models tests/data/models for object 32769) and
 * registers a device that answers on its own thread.  Values are checked
 * both ways: what the API wrote is read back from the device's tree, and
 * what the device holds is what the API reads.  Waiting is always on an
 * answer with a deadline.
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 = skipped without it).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"

#define STOP_MS 10000
#define HTTP_MS 20000

struct fixture {
    struct harness_server srv;      /* proc, base, coap, admin */
    struct harness_device *dev;
    char ep[40];
    char loc[64];                   /* rd/<id> */
};

static void start_server(struct fixture *f)
{
    const char *models = getenv("LODESTAR_MODELS_DIR");
    ck_assert_msg(models && *models, "LODESTAR_MODELS_DIR is not set");
    const char *extra[] = { "--models", models, NULL };
    struct harness_server_options o = { .db_prefix = "devops", .who = "devops",
                                        .extra = extra, .stop_ms = STOP_MS };
    harness_server_start(&f->srv, &o);
}

/* Server + a registered device of version, answering on its own thread. */
static void setup(struct fixture *f, const char *version)
{
    memset(f, 0, sizeof *f);
    start_server(f);
    char r[9];
    harness_server_random_hex(r, 4);
    snprintf(f->ep, sizeof f->ep, "devops-%s", r);
    struct harness_device_options o = { .server = f->srv.coap, .version = version };
    f->dev = harness_device_new(&o);
    ck_assert_ptr_nonnull(f->dev);
    ck_assert_int_eq(harness_device_register_lwm2m(f->dev, f->ep, 300, NULL, false, NULL, 5000,
                                                   f->loc, sizeof f->loc),
                     201);
    ck_assert(harness_device_start_thread(f->dev));
}

static void teardown(struct fixture *f)
{
    harness_device_free(f->dev);
    harness_server_stop(&f->srv);
}

/* One API call on the device; path is what follows /api/devices/{ep}. */
static json_t *dev_call(struct fixture *f, const char *method, const char *path,
                        const char *body, int want)
{
    char url[512], auth[128];
    snprintf(url, sizeof url, "%s/api/devices/%s%s", f->srv.base, f->ep, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f->srv.admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    struct harness_http_response r;
    int st = harness_http_request(method, url, headers, body, body ? strlen(body) : 0, HTTP_MS,
                                  &r);
    ck_assert_msg(st == want, "%s %s: status %d, want %d: %.300s", method, path, st, want,
                  r.body ? r.body : "");
    json_t *j = json_loads(r.body, 0, NULL);
    ck_assert_msg(j != NULL, "%s %s: not JSON: %.300s", method, path, r.body);
    harness_http_response_free(&r);
    return j;
}

/* The value of path in a result's "values", or NULL. */
static json_t *value_at(json_t *res, const char *path)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res, "values"), i, v)
        if (strcmp(json_string_value(json_object_get(v, "path")), path) == 0)
            return json_object_get(v, "value");
    return NULL;
}

static void assert_error(json_t *j, const char *code, const char *coap)
{
    json_t *e = json_object_get(j, "error");
    ck_assert_msg(e != NULL, "no error object");
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "message")));
    if (coap)
        ck_assert_str_eq(json_string_value(json_object_get(e, "coap")), coap);
    json_decref(j);
}

/* ---- reads ---- */

static const char *const formats_11[] = { "tlv", "senml-json", "senml-cbor", "json", NULL };

START_TEST(test_read_every_format)
{
    struct fixture f;
    setup(&f, "1.1");
    /* No ?format=: the device picks (TLV for an instance on 1.1). */
    json_t *j = dev_call(&f, "GET", "/3/0", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.05");
    ck_assert_str_eq(json_string_value(value_at(j, "/3/0/0")), "Lodestar");
    ck_assert_int_eq(json_integer_value(value_at(j, "/3/0/9")), 100);
    json_decref(j);
    for (size_t i = 0; formats_11[i]; i++) {
        char path[64];
        snprintf(path, sizeof path, "/32769/0?format=%s", formats_11[i]);
        j = dev_call(&f, "GET", path, NULL, 200);
        ck_assert_str_eq(json_string_value(json_object_get(j, "format")), formats_11[i]);
        ck_assert_str_eq(json_string_value(value_at(j, "/32769/0/0")), "hello");
        ck_assert_int_eq(json_integer_value(value_at(j, "/32769/0/1")), -5);
        ck_assert_int_eq(json_integer_value(value_at(j, "/32769/0/2")), 7);
        ck_assert(json_real_value(value_at(j, "/32769/0/3")) == 1.5 ||
                  json_number_value(value_at(j, "/32769/0/3")) == 1.5);
        ck_assert(json_is_true(value_at(j, "/32769/0/4")));
        ck_assert_str_eq(json_string_value(value_at(j, "/32769/0/5")), "AQID");
        ck_assert_int_eq(json_integer_value(value_at(j, "/32769/0/6")), 1700000000);
        ck_assert_str_eq(json_string_value(value_at(j, "/32769/0/7")), "3:0");
        ck_assert_int_eq(json_integer_value(value_at(j, "/32769/0/9/1")), 20);
        json_decref(j);
    }
    /* A single resource as text, and as the device's own choice. */
    j = dev_call(&f, "GET", "/3/0/1?format=text", NULL, 200);
    ck_assert_str_eq(json_string_value(value_at(j, "/3/0/1")), "harness");
    ck_assert_str_eq(json_string_value(json_object_get(j, "format")), "text");
    json_decref(j);
    ck_assert_int_eq(harness_device_last_format(f.dev), 0);
    teardown(&f);
}
END_TEST

/* ---- writes, read back both ways ---- */

static const char *const all_types =
    "{\"values\":["
    "{\"path\":\"/32769/0/0\",\"type\":\"string\",\"value\":\"w-%s\"},"
    "{\"path\":\"/32769/0/1\",\"type\":\"integer\",\"value\":-77},"
    "{\"path\":\"/32769/0/2\",\"type\":\"unsigned\",\"value\":4000000000},"
    "{\"path\":\"/32769/0/3\",\"type\":\"float\",\"value\":2.25},"
    "{\"path\":\"/32769/0/4\",\"type\":\"boolean\",\"value\":false},"
    "{\"path\":\"/32769/0/5\",\"type\":\"opaque\",\"value\":\"3q2+7w==\"},"
    "{\"path\":\"/32769/0/6\",\"type\":\"time\",\"value\":1800000000},"
    "{\"path\":\"/32769/0/7\",\"type\":\"objlnk\",\"value\":\"1:0\"},"
    "{\"path\":\"/32769/0/11\",\"value\":\"x-%s\"}]}";

START_TEST(test_write_every_format)
{
    struct fixture f;
    setup(&f, "1.1");
    char body[1024], path[96], buf[64], want[64];
    for (size_t i = 0; formats_11[i]; i++) {
        const char *fmt = formats_11[i];
        snprintf(body, sizeof body, all_types, fmt, fmt);
        snprintf(path, sizeof path, "/32769/0?format=%s", fmt);
        json_t *j = dev_call(&f, "PATCH", path, body, 200);
        ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.04");
        json_decref(j);
        /* On the device. */
        snprintf(want, sizeof want, "w-%s", fmt);
        ck_assert(harness_device_get_value(f.dev, "/32769/0/0", buf, sizeof buf));
        ck_assert_str_eq(buf, want);
        ck_assert(harness_device_get_value(f.dev, "/32769/0/1", buf, sizeof buf));
        ck_assert_str_eq(buf, "-77");
        ck_assert(harness_device_get_value(f.dev, "/32769/0/2", buf, sizeof buf));
        ck_assert_str_eq(buf, "4000000000");
        ck_assert(harness_device_get_value(f.dev, "/32769/0/4", buf, sizeof buf));
        ck_assert_str_eq(buf, "0");
        ck_assert(harness_device_get_value(f.dev, "/32769/0/5", buf, sizeof buf));
        ck_assert_str_eq(buf, "deadbeef");
        ck_assert(harness_device_get_value(f.dev, "/32769/0/7", buf, sizeof buf));
        ck_assert_str_eq(buf, "1:0");
        /* And through the API again, in the same format. */
        j = dev_call(&f, "GET", path, NULL, 200);
        ck_assert_str_eq(json_string_value(value_at(j, "/32769/0/0")), want);
        ck_assert(json_number_value(value_at(j, "/32769/0/3")) == 2.25);
        ck_assert_int_eq(json_integer_value(value_at(j, "/32769/0/6")), 1800000000);
        ck_assert_str_eq(json_string_value(value_at(j, "/32769/0/5")), "3q2+7w==");
        json_decref(j);
    }
    /* Write-Replace of one resource: text by default, no type needed. */
    json_t *j = dev_call(&f, "PUT", "/32769/0/11",
                         "{\"values\":[{\"path\":\"/32769/0/11\",\"value\":\"plain\"}]}", 200);
    json_decref(j);
    ck_assert(harness_device_get_value(f.dev, "/32769/0/11", buf, sizeof buf));
    ck_assert_str_eq(buf, "plain");
    ck_assert_int_ge(harness_device_request_count(f.dev, COAP_REQUEST_CODE_PUT, "/32769/0/11"),
                     1);
    teardown(&f);
}
END_TEST

/* ---- execute, create, delete, discover, attributes ---- */

START_TEST(test_other_operations)
{
    struct fixture f;
    setup(&f, "1.1");
    char buf[256];
    json_t *j = dev_call(&f, "POST", "/32769/0/10", "0='go',1", 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.04");
    json_decref(j);
    ck_assert_uint_eq(harness_device_last_execute(f.dev, "/32769/0/10", buf, sizeof buf), 1);
    ck_assert_str_eq(buf, "0='go',1");

    j = dev_call(&f, "POST", "/32769",
                 "{\"values\":[{\"path\":\"/32769/4/0\",\"value\":\"new\"},"
                 "{\"path\":\"/32769/4/1\",\"value\":3}]}", 201);
    ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.01");
    ck_assert_str_eq(json_string_value(json_object_get(j, "location")), "/32769/4");
    json_decref(j);
    ck_assert(harness_device_has_instance(f.dev, "/32769/4"));
    ck_assert(harness_device_get_value(f.dev, "/32769/4/0", buf, sizeof buf));
    ck_assert_str_eq(buf, "new");

    j = dev_call(&f, "DELETE", "/32769/4", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.02");
    json_decref(j);
    ck_assert(!harness_device_has_instance(f.dev, "/32769/4"));

    j = dev_call(&f, "PUT", "/3/0/9/attributes?pmin=10&pmax=60&gt=50.5", NULL, 200);
    json_decref(j);
    ck_assert(harness_device_attributes(f.dev, "/3/0/9", buf, sizeof buf));
    ck_assert_str_eq(buf, "pmin=10&pmax=60&gt=50.5");
    j = dev_call(&f, "PUT", "/3/0/9/attributes?gt=", NULL, 200);
    json_decref(j);
    ck_assert(harness_device_attributes(f.dev, "/3/0/9", buf, sizeof buf));
    ck_assert_str_eq(buf, "pmin=10&pmax=60");

    j = dev_call(&f, "GET", "/3/0/discover", NULL, 200);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "links")), "</3/0/9>"));
    json_t *entries = json_object_get(j, "entries");
    ck_assert_int_gt(json_array_size(entries), 5);
    size_t i;
    json_t *e;
    bool found = false;
    json_array_foreach(entries, i, e)
        if (strcmp(json_string_value(json_object_get(e, "path")), "/3/0/9") == 0) {
            found = true;
            json_t *a = json_object_get(e, "attributes");
            ck_assert_str_eq(json_string_value(json_object_get(a, "pmin")), "10");
        }
    ck_assert(found);
    json_decref(j);

    /* Composite read and write (1.1: SenML CBOR by default). */
    j = dev_call(&f, "POST", "/composite",
                 "{\"op\":\"read\",\"paths\":[\"/3/0/0\",\"/32769/0/1\"]}", 200);
    ck_assert_str_eq(json_string_value(value_at(j, "/3/0/0")), "Lodestar");
    ck_assert_int_eq(json_array_size(json_object_get(j, "values")), 2);
    json_decref(j);
    j = dev_call(&f, "POST", "/composite?format=senml-json",
                 "{\"op\":\"write\",\"values\":[{\"path\":\"/32769/0/11\",\"value\":\"cw\"},"
                 "{\"path\":\"/3/0/14\",\"value\":\"+02:00\"}]}", 200);
    json_decref(j);
    ck_assert(harness_device_get_value(f.dev, "/32769/0/11", buf, sizeof buf));
    ck_assert_str_eq(buf, "cw");
    ck_assert(harness_device_get_value(f.dev, "/3/0/14", buf, sizeof buf));
    ck_assert_str_eq(buf, "+02:00");

    /* The audit log has one entry per operation, newest first. */
    char url[256], auth[128];
    snprintf(url, sizeof url, "%s/api/audit?limit=3", f.srv.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", f.srv.admin);
    const char *headers[] = { auth, NULL };
    struct harness_http_response r;
    ck_assert_int_eq(harness_http_request("GET", url, headers, NULL, 0, HTTP_MS, &r), 200);
    j = json_loads(r.body, 0, NULL);
    harness_http_response_free(&r);
    json_t *list = json_object_get(j, "entries");
    ck_assert_int_eq(json_array_size(list), 3);
    json_t *first = json_array_get(list, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "action")),
                     "device.write_composite");
    ck_assert_str_eq(json_string_value(json_object_get(first, "target")), f.ep);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(first, "detail"),
                                                        "status")), 200);
    ck_assert(json_is_integer(json_object_get(j, "next")));
    json_decref(j);
    teardown(&f);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_errors)
{
    struct fixture f;
    setup(&f, "1.1");
    assert_error(dev_call(&f, "GET", "/3/x", NULL, 400), "bad_request", NULL);
    assert_error(dev_call(&f, "GET", "/70000", NULL, 400), "bad_request", NULL);
    assert_error(dev_call(&f, "GET", "/3/0?format=xml", NULL, 400), "bad_request", NULL);
    assert_error(dev_call(&f, "GET", "/3/0?timeout=0", NULL, 400), "bad_request", NULL);
    assert_error(dev_call(&f, "POST", "/3/0", NULL, 400), "bad_request", NULL);
    assert_error(dev_call(&f, "PUT", "/32769/0/1",
                          "{\"values\":[{\"path\":\"/32769/0/1\",\"value\":\"nope\"}]}", 400),
                 "bad_request", NULL);
    assert_error(dev_call(&f, "PUT", "/32769/0/1", "not json", 400), "bad_request", NULL);
    assert_error(dev_call(&f, "PUT", "/32769/0/1",
                          "{\"values\":[{\"path\":\"/3/0/1\",\"value\":\"x\"}]}", 400),
                 "bad_request", NULL);
    assert_error(dev_call(&f, "POST", "/composite", "{\"op\":\"dance\"}", 400), "bad_request",
                 NULL);
    /* Oversized body: 413 with a JSON error. */
    size_t big = 5u << 20;
    char *body = malloc(big + 1);
    memset(body, 'a', big);
    body[big] = '\0';
    assert_error(dev_call(&f, "PUT", "/5/0/0", body, 413), "too_large", NULL);
    free(body);
    /* Device answers mapped: 4.04 -> 404, 4.05 -> 405, 5.00 -> 502. */
    assert_error(dev_call(&f, "GET", "/32769/9", NULL, 404), "device_error", "4.04");
    assert_error(dev_call(&f, "GET", "/32769/0/10", NULL, 405), "device_error", "4.05");
    harness_device_fail_next(f.dev, COAP_REQUEST_CODE_GET, "/3/0", 500);
    assert_error(dev_call(&f, "GET", "/3/0", NULL, 502), "device_error", "5.00");
    harness_device_fail_next(f.dev, COAP_REQUEST_CODE_GET, "/3/0", 401);
    assert_error(dev_call(&f, "GET", "/3/0", NULL, 403), "device_error", "4.01");
    /* A name never heard of. */
    char save[40];
    strcpy(save, f.ep);
    strcpy(f.ep, "no-such-device");
    assert_error(dev_call(&f, "GET", "/3/0", NULL, 404), "not_found", NULL);
    strcpy(f.ep, save);
    /* A frozen device: 504 after ?timeout=, then the device works again. */
    harness_device_sleep(f.dev);
    int64_t t0 = harness_now_ms();
    assert_error(dev_call(&f, "GET", "/3/0?timeout=1", NULL, 504), "timeout", NULL);
    ck_assert_int_lt(harness_now_ms() - t0, 4000);
    /* A second request waits behind the abandoned one and times out too. */
    assert_error(dev_call(&f, "GET", "/3/0/1?timeout=1", NULL, 504), "timeout", NULL);
    harness_device_wake(f.dev);
    json_t *j = dev_call(&f, "GET", "/3/0/1?timeout=20", NULL, 200);
    ck_assert_str_eq(json_string_value(value_at(j, "/3/0/1")), "harness");
    json_decref(j);
    /* Known but de-registered. */
    ck_assert_int_eq(harness_device_deregister(f.dev, f.loc, 5000), 202);
    assert_error(dev_call(&f, "GET", "/3/0", NULL, 404), "not_registered", NULL);
    teardown(&f);
}
END_TEST

/* ---- block-wise ---- */

START_TEST(test_large_write_and_read)
{
    struct fixture f;
    setup(&f, "1.1");
    size_t n = 1u << 20;
    unsigned char *img = malloc(n);
    for (size_t i = 0; i < n; i++)
        img[i] = (unsigned char)(i * 7 + (i >> 11));
    /* base64 of the image */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = 4 * ((n + 2) / 3);
    char *enc = malloc(olen + 1), *p = enc;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)img[i] << 16 | (i + 1 < n ? img[i + 1] << 8 : 0) |
                     (i + 2 < n ? img[i + 2] : 0);
        *p++ = b64[v >> 18 & 63];
        *p++ = b64[v >> 12 & 63];
        *p++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *p++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *p = '\0';
    size_t blen = olen + 128;
    char *body = malloc(blen);
    snprintf(body, blen, "{\"values\":[{\"path\":\"/5/0/0\",\"value\":\"%s\"}]}", enc);
    json_t *j = dev_call(&f, "PUT", "/5/0/0?timeout=60", body, 200);
    json_decref(j);
    uint8_t *got = NULL;
    size_t got_len = 0;
    ck_assert(harness_device_get_opaque(f.dev, "/5/0/0", &got, &got_len));
    ck_assert_uint_eq(got_len, n);
    ck_assert(memcmp(got, img, n) == 0);
    free(got);
    /* And the large read back (Block2). */
    j = dev_call(&f, "GET", "/5/0/0?timeout=60", NULL, 200);
    ck_assert_str_eq(json_string_value(value_at(j, "/5/0/0")), enc);
    json_decref(j);
    free(body);
    free(enc);
    free(img);
    teardown(&f);
}
END_TEST

/* ---- observe ---- */

START_TEST(test_observe_and_cancel)
{
    struct fixture f;
    setup(&f, "1.1");
    json_t *j = dev_call(&f, "POST", "/3/0/9/observe?pmin=1", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "coap")), "2.05");
    ck_assert_int_gt(json_integer_value(json_object_get(j, "observation")), 0);
    ck_assert_int_eq(json_integer_value(value_at(j, "/3/0/9")), 100);
    json_decref(j);
    j = dev_call(&f, "DELETE", "/3/0/9/observe", NULL, 200);
    ck_assert(json_is_true(json_object_get(j, "cancelled")));
    json_decref(j);
    assert_error(dev_call(&f, "DELETE", "/3/0/9/observe", NULL, 404), "not_found", NULL);
    teardown(&f);
}
END_TEST

/* ---- LwM2M 1.0: TLV by default ---- */

START_TEST(test_version_10_defaults)
{
    struct fixture f;
    setup(&f, "1.0");
    json_t *j = dev_call(&f, "PUT", "/32769/0",
                         "{\"values\":[{\"path\":\"/32769/0/11\",\"value\":\"tlv!\"}]}", 200);
    json_decref(j);
    char buf[32];
    ck_assert(harness_device_get_value(f.dev, "/32769/0/11", buf, sizeof buf));
    ck_assert_str_eq(buf, "tlv!");
    /* 1.0 has no composite operations: the device's 4.05 comes back. */
    assert_error(dev_call(&f, "POST", "/composite", "{\"op\":\"read\",\"paths\":[\"/3/0\"]}",
                          405),
                 "device_error", "4.05");
    teardown(&f);
}
END_TEST

/* A device that announced only ct=11542 (TLV) in its 1.1 Register: a
 * multi-value write without ?format= goes in TLV (the registry keeps the
 * announcement), which the device decodes and applies.  The format chosen
 * is asserted by the pure checks of server_devops_write_format; the
 * harness does not record an incoming request's Content-Format. */
START_TEST(test_announced_format)
{
    struct fixture f;
    memset(&f, 0, sizeof f);
    start_server(&f);
    snprintf(f.ep, sizeof f.ep, "devops-ct");
    struct harness_device_options o = { .server = f.srv.coap, .version = "1.1" };
    f.dev = harness_device_new(&o);
    ck_assert_ptr_nonnull(f.dev);
    char ep[64];
    snprintf(ep, sizeof ep, "ep=%s", f.ep);
    const char *query[] = { ep, "lt=300", "lwm2m=1.1", NULL };
    ck_assert_int_eq(harness_device_register(f.dev, query,
                                             "</>;rt=\"oma.lwm2m\";ct=11542,</1/0>,</3/0>,"
                                             "</32769/0>", 5000, f.loc, sizeof f.loc),
                     201);
    ck_assert(harness_device_start_thread(f.dev));
    json_t *j = dev_call(&f, "PUT", "/32769/0",
                         "{\"values\":[{\"path\":\"/32769/0/11\",\"value\":\"ct!\"}]}", 200);
    json_decref(j);
    char buf[32];
    ck_assert(harness_device_get_value(f.dev, "/32769/0/11", buf, sizeof buf));
    ck_assert_str_eq(buf, "ct!");
    teardown(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("devops");
    TCase *tc = tcase_create("devops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_read_every_format);
    tcase_add_test(tc, test_write_every_format);
    tcase_add_test(tc, test_other_operations);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_large_write_and_read);
    tcase_add_test(tc, test_observe_and_cancel);
    tcase_add_test(tc, test_version_10_defaults);
    tcase_add_test(tc, test_announced_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    harness_pg_uri();   /* exits 77 when unset */
    int failed = harness_run_suite(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
