/*
 * tests/integration/test_https.c -- the HTTP API over TLS, security
 * headers, token brute force slowed (issue 10, part 1)
 *
 * A self-signed certificate (EC P-256, CN and SAN 127.0.0.1) is made with
 * the OpenSSL API into a temporary directory; lodestar-server runs with
 * --http-cert/--http-key; a small OpenSSL client (one request per
 * connection, read to EOF) checks answers and headers.  Plain HTTP on the
 * TLS port must get no HTTP answer.  Twenty-odd bad tokens from one address
 * turn into 429 with Retry-After, for good tokens too, and are counted in
 * /metrics.  Bad flag combinations stop the daemon with exit 2.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_server.h"

#define TEST_HTTPS_MS 10000
#define TEST_HTTPS_FAIL_LIMIT 20    /* web/auth.c AUTH_FAIL_LIMIT */

static char test_https_dir[64];
static char test_https_cert[128];
static char test_https_key[128];

/* ---- a self-signed certificate ---------------------------------------------- */

static void test_https_write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_X509(f, cert), 1);
    ck_assert_int_eq(fclose(f), 0);
}

static void test_https_make_cert(void)
{
    snprintf(test_https_dir, sizeof test_https_dir, "/tmp/lodestar-https-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(test_https_dir));
    snprintf(test_https_cert, sizeof test_https_cert, "%s/cert.pem", test_https_dir);
    snprintf(test_https_key, sizeof test_https_key, "%s/key.pem", test_https_dir);
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(key);
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(X509_set_version(x, 2), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1",
                               -1, -1, 0);
    ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
                                              "IP:127.0.0.1");
    ck_assert_ptr_nonnull(ext);
    ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    test_https_write_pem(test_https_key, key, NULL);
    test_https_write_pem(test_https_cert, NULL, x);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void test_https_remove_cert(void)
{
    unlink(test_https_cert);
    unlink(test_https_key);
    rmdir(test_https_dir);
}

/* ---- a minimal HTTPS client ------------------------------------------------ */

struct test_https_answer {
    int status;             /* -1: no HTTP answer */
    char *text;             /* the whole answer, headers and body */
};

static int test_https_connect(const char *hostport)
{
    char host[64], port[16];
    const char *colon = strrchr(hostport, ':');
    ck_assert_ptr_nonnull(colon);
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    snprintf(port, sizeof port, "%s", colon + 1);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    ck_assert_int_eq(getaddrinfo(host, port, &hints, &res), 0);
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, res->ai_addr, res->ai_addrlen), 0);
    freeaddrinfo(res);
    /* Every read and write waits at most this long. */
    struct timeval tv = { .tv_sec = TEST_HTTPS_MS / 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads the whole answer (to EOF) and parses the status line. */
static void test_https_read(SSL *ssl, struct test_https_answer *a)
{
    size_t len = 0, cap = 4096;
    a->text = malloc(cap + 1);
    ck_assert_ptr_nonnull(a->text);
    for (;;) {
        if (cap - len < 1024) {
            cap *= 2;
            a->text = realloc(a->text, cap + 1);
            ck_assert_ptr_nonnull(a->text);
        }
        int n = SSL_read(ssl, a->text + len, (int)(cap - len));
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    a->text[len] = '\0';
    int st;
    a->status = sscanf(a->text, "HTTP/1.%*d %d", &st) == 1 ? st : -1;
}

/* One request over TLS, verifying the server with the test's certificate. */
static int test_https_request(const char *hostport, const char *method, const char *path,
                              const char *token, struct test_https_answer *a)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, test_https_cert, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int fd = test_https_connect(hostport);
    SSL *ssl = SSL_new(ctx);
    ck_assert_ptr_nonnull(ssl);
    SSL_set_fd(ssl, fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    ck_assert_msg(SSL_connect(ssl) == 1, "TLS handshake failed: %s",
                  ERR_error_string(ERR_get_error(), NULL));
    char req[1024], auth[700] = "";
    if (token)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n",
                     method, path, hostport, auth);
    ck_assert_int_eq(SSL_write(ssl, req, n), n);
    test_https_read(ssl, a);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    return a->status;
}

/* The value of header name in a's head, or false. */
static bool test_https_header(const struct test_https_answer *a, const char *name, char *out,
                              size_t cap)
{
    size_t n = strlen(name);
    const char *end = strstr(a->text, "\r\n\r\n");
    for (const char *p = strstr(a->text, "\r\n"); p && (!end || p < end);
         p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\r"), v);
            return true;
        }
    }
    return false;
}

static void test_https_free(struct test_https_answer *a)
{
    free(a->text);
    a->text = NULL;
}

/* ---- fixtures ---------------------------------------------------------------- */

static struct harness_server test_https_srv;

static void test_https_start(void)
{
    test_https_make_cert();
    const char *extra[] = { "--http-cert", test_https_cert, "--http-key", test_https_key,
                            NULL };
    struct harness_server_options o = { .db_prefix = "https", .migrate = true,
                                        .who = "test_https", .extra = extra };
    harness_server_start(&test_https_srv, &o);
}

static void test_https_stop(void)
{
    harness_server_stop(&test_https_srv);
    test_https_remove_cert();
}

/* ---- tests ------------------------------------------------------------------- */

START_TEST(test_https_serves_with_security_headers)
{
    struct test_https_answer a;
    char v[256];
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/healthz", NULL, &a), 200);
    ck_assert(test_https_header(&a, "Strict-Transport-Security", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "max-age="));
    ck_assert(test_https_header(&a, "Content-Security-Policy", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "default-src 'self'"));
    ck_assert(test_https_header(&a, "X-Content-Type-Options", v, sizeof v));
    ck_assert_str_eq(v, "nosniff");
    ck_assert(test_https_header(&a, "Referrer-Policy", v, sizeof v));
    ck_assert_str_eq(v, "no-referrer");
    test_https_free(&a);

    /* An authenticated API call, a 404 and the dashboard: headers on all. */
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/api/whoami",
                                        test_https_srv.admin, &a), 200);
    ck_assert(test_https_header(&a, "Strict-Transport-Security", v, sizeof v));
    test_https_free(&a);
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/api/nothing",
                                        test_https_srv.admin, &a), 404);
    ck_assert(test_https_header(&a, "Content-Security-Policy", v, sizeof v));
    ck_assert(test_https_header(&a, "Referrer-Policy", v, sizeof v));
    test_https_free(&a);
    int st = test_https_request(test_https_srv.http, "GET", "/", NULL, &a);
    ck_assert_msg(st == 200 || st == 404, "GET / over TLS: %d", st);
    ck_assert(test_https_header(&a, "Content-Security-Policy", v, sizeof v));
    ck_assert(test_https_header(&a, "X-Content-Type-Options", v, sizeof v));
    test_https_free(&a);
}
END_TEST

START_TEST(test_https_refuses_plain_http)
{
    char url[200];
    snprintf(url, sizeof url, "http://%s/healthz", test_https_srv.http);
    struct harness_http_response r;
    int st = harness_http_request("GET", url, NULL, NULL, 0, TEST_HTTPS_MS, &r);
    ck_assert_msg(st == -1, "plain HTTP on the TLS port answered %d", st);
    harness_http_response_free(&r);
    /* Still serving TLS afterwards. */
    struct test_https_answer a;
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/healthz", NULL, &a), 200);
    test_https_free(&a);
}
END_TEST

/* lodestar_http_auth_failures_total{reason="throttled"} from /metrics. */
static long test_https_throttled(void)
{
    struct test_https_answer a;
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/metrics", NULL, &a), 200);
    const char *p = strstr(a.text, "lodestar_http_auth_failures_total{reason=\"throttled\"} ");
    ck_assert_ptr_nonnull(p);
    long n = strtol(strchr(p, ' ') + 1, NULL, 10);
    test_https_free(&a);
    return n;
}

START_TEST(test_https_token_flood_is_throttled)
{
    struct test_https_answer a;
    char v[64], bad[80];
    ck_assert_int_eq(test_https_throttled(), 0);
    int n401 = 0;
    for (int i = 0; i < TEST_HTTPS_FAIL_LIMIT; i++) {
        snprintf(bad, sizeof bad, "guess-%d", i);
        n401 += test_https_request(test_https_srv.http, "GET", "/api/whoami", bad, &a) == 401;
        test_https_free(&a);
    }
    ck_assert_int_eq(n401, TEST_HTTPS_FAIL_LIMIT);
    /* The next guess, and even the right token, now wait. */
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/api/whoami", "guess-x",
                                        &a), 429);
    ck_assert(test_https_header(&a, "Retry-After", v, sizeof v));
    long retry = strtol(v, NULL, 10);
    ck_assert_int_gt(retry, 0);
    ck_assert_int_le(retry, 60);
    ck_assert_ptr_nonnull(strstr(a.text, "\"too_many_requests\""));
    test_https_free(&a);
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/api/whoami",
                                        test_https_srv.admin, &a), 429);
    test_https_free(&a);
    ck_assert_int_eq(test_https_throttled(), 2);
    /* Routes without a token are not throttled. */
    ck_assert_int_eq(test_https_request(test_https_srv.http, "GET", "/healthz", NULL, &a), 200);
    test_https_free(&a);
}
END_TEST

/* ---- flags ------------------------------------------------------------------- */

/* Runs lodestar-server with argv and returns its exit status and stderr. */
static int test_https_run_flags(char *const argv[], char **log)
{
    char *env[] = { "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, NULL };
    struct harness_proc *p = harness_proc_spawn("server", getenv("LODESTAR_SERVER_BIN"), argv,
                                                env);
    ck_assert_ptr_nonnull(p);
    int st = -1;
    ck_assert(harness_proc_wait_exit(p, TEST_HTTPS_MS, &st));
    *log = harness_proc_stderr(p);
    harness_proc_free(p);
    return st;
}

START_TEST(test_https_flags_checked)
{
    test_https_make_cert();
    char *log;
    char *half[] = { "lodestar-server", "--http-cert", test_https_cert, NULL };
    ck_assert_int_eq(test_https_run_flags(half, &log), 2);
    ck_assert_ptr_nonnull(strstr(log, "--http-cert: needs --http-key too"));
    free(log);
    char *open_plain[] = { "lodestar-server", "--http", "0.0.0.0:0", NULL };
    ck_assert_int_eq(test_https_run_flags(open_plain, &log), 2);
    ck_assert_ptr_nonnull(strstr(log, "--http-insecure"));
    free(log);
    char *missing[] = { "lodestar-server", "--http-cert", "/nonexistent.pem", "--http-key",
                        test_https_key, NULL };
    ck_assert_int_eq(test_https_run_flags(missing, &log), 2);
    ck_assert_ptr_nonnull(strstr(log, "--http-cert"));
    free(log);
    char *bad_bool[] = { "lodestar-server", "--http-insecure=maybe", NULL };
    ck_assert_int_eq(test_https_run_flags(bad_bool, &log), 2);
    ck_assert_ptr_nonnull(strstr(log, "--http-insecure"));
    free(log);
    char *help[] = { "lodestar-server", "--help", NULL };
    ck_assert_int_eq(test_https_run_flags(help, &log), 0);
    free(log);
    test_https_remove_cert();
}
END_TEST

/* --http-insecure: plain HTTP beyond loopback, headers but no HSTS. */
START_TEST(test_https_insecure_plain_http)
{
    struct harness_server s;
    const char *extra[] = { "--http", "0.0.0.0:0", "--http-insecure", NULL };
    struct harness_server_options o = { .db_prefix = "httpsplain", .migrate = true,
                                        .who = "test_https", .extra = extra };
    harness_server_start(&s, &o);
    char url[200], v[256];
    snprintf(url, sizeof url, "%s/healthz", s.base);
    struct harness_http_response r;
    ck_assert_int_eq(harness_http_request("GET", url, NULL, NULL, 0, TEST_HTTPS_MS, &r), 200);
    ck_assert(harness_http_header(&r, "Content-Security-Policy", v, sizeof v));
    ck_assert(harness_http_header(&r, "X-Content-Type-Options", v, sizeof v));
    ck_assert(harness_http_header(&r, "Referrer-Policy", v, sizeof v));
    ck_assert(!harness_http_header(&r, "Strict-Transport-Security", v, sizeof v));
    harness_http_response_free(&r);
    harness_server_stop(&s);
}
END_TEST

static Suite *test_https_suite(void)
{
    Suite *s = suite_create("https");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, test_https_start, test_https_stop);
    tcase_add_test(tc, test_https_serves_with_security_headers);
    tcase_add_test(tc, test_https_refuses_plain_http);
    tcase_add_test(tc, test_https_token_flood_is_throttled);
    suite_add_tcase(s, tc);
    TCase *flags = tcase_create("flags");
    tcase_set_timeout(flags, 60);
    tcase_add_test(flags, test_https_flags_checked);
    tcase_add_test(flags, test_https_insecure_plain_http);
    suite_add_tcase(s, flags);
    return s;
}

int main(void)
{
    harness_pg_uri();   /* exit 77 without a test database */
    return harness_run_suite(test_https_suite()) ? 1 : 0;
}
