/*
 * tests/harness/lwm2m_device.c -- libcoap LwM2M test device: session,
 * blocking requests, device thread, sleep, failure injection, Send, and
 * raw replay (lwm2m_device.h)
 *
 * Each device owns its own libcoap context, so tests can run several
 * devices at once from one thread; the response handler finds its device
 * through the context's app data and matches the answer by token.  The
 * object tree is lwm2m_device_tree.c, the DM handlers lwm2m_device_dm.c,
 * the bootstrap role lwm2m_device_bootstrap.c.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m_device_int.h"

#include "lwm2m/api_json.h"
#include "lwm2m/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


int64_t dev_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool parse_addr(const char *text, coap_address_t *a)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host)
        return false;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    int port = atoi(colon + 1);
    coap_address_init(a);
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']')
            return false;
        host[n - 1] = '\0';
        a->addr.sin6.sin6_family = AF_INET6;
        a->addr.sin6.sin6_port = htons((uint16_t)port);
        a->size = sizeof a->addr.sin6;
        return inet_pton(AF_INET6, host + 1, &a->addr.sin6.sin6_addr) == 1;
    }
    a->addr.sin.sin_family = AF_INET;
    a->addr.sin.sin_port = htons((uint16_t)port);
    a->size = sizeof a->addr.sin;
    return inet_pton(AF_INET, host, &a->addr.sin.sin_addr) == 1;
}

int dev_code_number(coap_pdu_code_t c)
{
    return (int)(c >> 5) * 100 + (int)(c & 0x1f);
}

coap_pdu_code_t dev_code_pdu(int code)
{
    return (coap_pdu_code_t)COAP_RESPONSE_CODE(code);
}

static void join_location(const coap_pdu_t *pdu, char *out, size_t cap)
{
    coap_opt_iterator_t it;
    coap_opt_filter_t f;
    coap_opt_t *opt;
    size_t len = 0;
    out[0] = '\0';
    coap_option_filter_clear(&f);
    coap_option_filter_set(&f, COAP_OPTION_LOCATION_PATH);
    coap_option_iterator_init(pdu, &it, &f);
    while ((opt = coap_option_next(&it))) {
        int n = snprintf(out + len, cap - len, "%s%.*s", len ? "/" : "",
                         (int)coap_opt_length(opt), (const char *)coap_opt_value(opt));
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *recv, const coap_mid_t mid)
{
    struct harness_device *d = coap_get_app_data(coap_session_get_context(s));
    coap_bin_const_t tok = coap_pdu_get_token(recv);
    if (!d || tok.length != d->token_len || memcmp(tok.s, d->token, tok.length) != 0)
        return COAP_RESPONSE_OK;
    d->code = dev_code_number(coap_pdu_get_code(recv));
    join_location(recv, d->location, sizeof d->location);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    free(d->answer_body);
    d->answer_body = NULL;
    d->answer_len = 0;
    if (coap_get_data_large(recv, &len, &data, &off, &total) && len) {
        d->answer_body = malloc(len);
        if (d->answer_body) {
            memcpy(d->answer_body, data, len);
            d->answer_len = len;
        }
    }
    d->answered = true;
    pthread_cond_broadcast(&d->cv);
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    struct harness_device *d = coap_get_app_data(coap_session_get_context(s));
    if (d && reason == COAP_NACK_TLS_FAILED)
        d->dtls_failed = true;
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct harness_device *d = coap_get_app_data(coap_session_get_context(s));
    if (d && (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED))
        d->dtls_failed = true;
    return 0;
}

static coap_session_t *open_session(struct harness_device *d,
                                    const struct harness_device_options *o,
                                    const coap_address_t *dst)
{
    coap_address_t local;
    coap_address_init(&local);
    local.addr.sa.sa_family = dst->addr.sa.sa_family;
    local.size = dst->size;
    if (dst->addr.sa.sa_family == AF_INET6)
        local.addr.sin6.sin6_port = htons(o->local_port);
    else
        local.addr.sin.sin_port = htons(o->local_port);
    const coap_address_t *lp = o->local_port ? &local : NULL;
    if (o->rpk_key_file) {
        FILE *f = fopen(o->rpk_key_file, "r");
        size_t n = f ? fread(d->rpk_pem, 1, sizeof d->rpk_pem - 1, f) : 0;
        if (f)
            fclose(f);
        if (!n)
            return NULL;
        coap_dtls_pki_t pki;
        memset(&pki, 0, sizeof pki);
        pki.version = COAP_DTLS_PKI_SETUP_VERSION;
        pki.verify_peer_cert = 1;
        pki.is_rpk_not_cert = 1;
        pki.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
        pki.pki_key.key.pem_buf.public_cert = (const uint8_t *)d->rpk_pem;
        pki.pki_key.key.pem_buf.private_key = (const uint8_t *)d->rpk_pem;
        pki.pki_key.key.pem_buf.public_cert_len = n + 1;
        pki.pki_key.key.pem_buf.private_key_len = n + 1;
        return coap_new_client_session_pki(d->ctx, lp, dst, COAP_PROTO_DTLS, &pki);
    }
    if (o->cert_der) {
        if (o->cert_der_len > sizeof d->cert_der || o->key_der_len > sizeof d->key_der ||
            !o->key_der)
            return NULL;
        memcpy(d->cert_der, o->cert_der, o->cert_der_len);
        d->cert_der_len = o->cert_der_len;
        memcpy(d->key_der, o->key_der, o->key_der_len);
        d->key_der_len = o->key_der_len;
        coap_dtls_pki_t pki;
        memset(&pki, 0, sizeof pki);
        pki.version = COAP_DTLS_PKI_SETUP_VERSION;
        pki.pki_key.key_type = COAP_PKI_KEY_ASN1;
        pki.pki_key.key.asn1.public_cert = d->cert_der;
        pki.pki_key.key.asn1.public_cert_len = d->cert_der_len;
        pki.pki_key.key.asn1.private_key = d->key_der;
        pki.pki_key.key.asn1.private_key_len = d->key_der_len;
        pki.pki_key.key.asn1.private_key_type = COAP_ASN1_PKEY_EC;
        return coap_new_client_session_pki(d->ctx, lp, dst, COAP_PROTO_DTLS, &pki);
    }
    if (o->cert_file) {
        coap_dtls_pki_t pki;
        memset(&pki, 0, sizeof pki);
        pki.version = COAP_DTLS_PKI_SETUP_VERSION;
        pki.verify_peer_cert = 1;
        pki.check_common_ca = 1;
        pki.cert_chain_validation = 1;
        pki.cert_chain_verify_depth = 3;
        pki.pki_key.key_type = COAP_PKI_KEY_PEM;
        pki.pki_key.key.pem.public_cert = o->cert_file;
        pki.pki_key.key.pem.private_key = o->key_file;
        pki.pki_key.key.pem.ca_file = o->ca_file;
        return coap_new_client_session_pki(d->ctx, lp, dst, COAP_PROTO_DTLS, &pki);
    }
    if (!o->psk_identity)
        return coap_new_client_session(d->ctx, lp, dst, COAP_PROTO_UDP);
    coap_dtls_cpsk_t c;
    memset(&c, 0, sizeof c);
    snprintf(d->psk_identity, sizeof d->psk_identity, "%s", o->psk_identity);
    size_t kl = o->psk_key_len < sizeof d->psk_key ? o->psk_key_len : sizeof d->psk_key;
    memcpy(d->psk_key, o->psk_key, kl);
    d->psk_key_len = kl;
    c.version = COAP_DTLS_CPSK_SETUP_VERSION;
    c.psk_info.identity.s = (const uint8_t *)d->psk_identity;
    c.psk_info.identity.length = strlen(d->psk_identity);
    c.psk_info.key.s = d->psk_key;
    c.psk_info.key.length = kl;
    return coap_new_client_session_psk2(d->ctx, lp, dst, COAP_PROTO_DTLS, &c);
}

static bool version_valid(const char *v)
{
    return v && (!strcmp(v, "1.0") || !strcmp(v, "1.1") || !strcmp(v, "1.2"));
}

struct harness_device *harness_device_new(const struct harness_device_options *o)
{
    coap_address_t dst;
    if (!parse_addr(o->server, &dst)) {
        fprintf(stderr, "harness_device_new: bad server address %s\n", o->server);
        return NULL;
    }
    if (o->version && !version_valid(o->version)) {
        fprintf(stderr, "harness_device_new: bad version %s\n", o->version);
        return NULL;
    }
    struct harness_device *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->sock_fd = -1;
    d->last_format = -1;
    snprintf(d->version, sizeof d->version, "%s", o->version ? o->version : "1.1");
    snprintf(d->server, sizeof d->server, "%s", o->server);
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    if (!dev_tree_init(d, o))
        goto fail;
    d->ctx = coap_new_context(NULL);
    if (!d->ctx)
        goto fail;
    coap_set_app_data(d->ctx, d);
    coap_context_set_block_mode(d->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(d->ctx, on_response);
    coap_register_nack_handler(d->ctx, on_nack);
    coap_register_event_handler(d->ctx, on_event);
    if (!dev_dm_init(d))
        goto fail;
    d->session = open_session(d, o, &dst);
    if (!d->session) {
        fprintf(stderr, "harness_device_new: no session to %s (port %u busy?)\n", o->server,
                o->local_port);
        goto fail;
    }
    uint8_t seed[8];
    coap_prng(seed, sizeof seed);
    coap_session_init_token(d->session, sizeof seed, seed);
    return d;
fail:
    if (d->ctx)
        coap_free_context(d->ctx);
    dev_tree_free(&d->tree);
    lwm2m_model_free(d->model);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
    return NULL;
}

void harness_device_free(struct harness_device *d)
{
    if (!d)
        return;
    harness_device_stop_thread(d);
    coap_session_release(d->session);
    coap_free_context(d->ctx);
    dev_tree_free(&d->tree);
    lwm2m_model_free(d->model);
    free(d->attrs);
    free(d->execs);
    free(d->counts);
    free(d->answer_body);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

/* The UDP socket bound to the session's local port, or -1. */
static int session_fd(struct harness_device *d, int from)
{
    uint16_t port = harness_device_local_port(d);
    for (int fd = from; fd < 4096 && port; fd++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM)
            continue;
        uint16_t p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        if (p == port)
            return fd;
    }
    return -1;
}

void harness_device_crash(struct harness_device *d)
{
    if (!d)
        return;
    harness_device_stop_thread(d);
    /* Find the session's socket and swap an unconnected, unbound socket in
     * under the same number: whatever libcoap sends while freeing (a DTLS
     * close_notify) then fails, and the port is released. */
    for (int fd = session_fd(d, 3); fd >= 0; fd = session_fd(d, fd + 1)) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
            break;
        int dummy = socket(ss.ss_family, SOCK_DGRAM, 0);
        if (dummy >= 0) {
            dup2(dummy, fd);
            close(dummy);
        }
    }
    harness_device_free(d);
}

static bool add_path(coap_pdu_t *pdu, const char *path)
{
    while (*path) {
        const char *slash = strchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : strlen(path);
        if (n && !coap_add_option(pdu, COAP_OPTION_URI_PATH, n, (const uint8_t *)path))
            return false;
        path += n + (slash ? 1 : 0);
    }
    return true;
}

/* Asleep: waits up to wait_ms for datagrams (mu released meanwhile), then
 * reads and drops them, unless the device woke in between (the datagram
 * is then libcoap's). */
static void drain_socket_locked(struct harness_device *d, int wait_ms)
{
    if (d->sock_fd < 0)
        d->sock_fd = session_fd(d, 3);
    int fd = d->sock_fd;
    if (fd < 0)
        return;
    pthread_mutex_unlock(&d->mu);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n = poll(&p, 1, wait_ms);
    pthread_mutex_lock(&d->mu);
    if (n <= 0 || !d->asleep)
        return;
    uint8_t buf[2048];
    while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
        ;
}

/* One turn of the loop with mu held: at most wait_ms in coap_io_process. */
static void turn_locked(struct harness_device *d, unsigned wait_ms)
{
    if (d->asleep) {
        drain_socket_locked(d, (int)wait_ms);
        return;
    }
    dev_dm_sync_resources(d);
    dev_dm_periodic_locked(d);
    coap_io_process(d->ctx, wait_ms ? wait_ms : COAP_IO_NO_WAIT);
}

void dev_wait_locked(struct harness_device *d, const bool *flag, int64_t deadline_ms)
{
    while (!*flag && dev_now_ms() < deadline_ms) {
        int64_t left = deadline_ms - dev_now_ms();
        if (d->thread_running) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (left < 50 ? left : 50) * 1000000;
            ts.tv_sec += ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        } else {
            turn_locked(d, (unsigned)(left < 20 ? (left > 0 ? left : 1) : 20));
        }
    }
}

static void *thread_main(void *arg)
{
    struct harness_device *d = arg;
    int fd = coap_context_get_coap_fd(d->ctx);
    while (!d->thread_stop) {
        if (fd >= 0 && !d->asleep) {
            struct pollfd p = { .fd = fd, .events = POLLIN };
            poll(&p, 1, 10);
        }
        pthread_mutex_lock(&d->mu);
        turn_locked(d, d->asleep ? 10 : 0);
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

bool harness_device_start_thread(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    bool ok = d->thread_running;
    if (!ok) {
        d->thread_stop = false;
        ok = pthread_create(&d->thread, NULL, thread_main, d) == 0;
        d->thread_running = ok;
    }
    pthread_mutex_unlock(&d->mu);
    return ok;
}

void harness_device_stop_thread(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    bool running = d->thread_running;
    d->thread_stop = true;
    pthread_mutex_unlock(&d->mu);
    if (!running)
        return;
    pthread_join(d->thread, NULL);
    pthread_mutex_lock(&d->mu);
    d->thread_running = false;
    pthread_mutex_unlock(&d->mu);
}

static void release_buf(coap_session_t *s, void *p)
{
    (void)s;
    free(p);
}

static void add_uint_option(coap_pdu_t *pdu, uint16_t number, unsigned v)
{
    uint8_t buf[4];
    coap_add_option(pdu, number, coap_encode_var_safe(buf, sizeof buf, v), buf);
}

int dev_request_locked(struct harness_device *d, coap_pdu_code_t method, const char *path,
                       const char *const query[], const uint8_t *payload, size_t len, int cf,
                       int accept, int64_t timeout_ms)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, method, d->session);
    if (!pdu)
        return -1;
    coap_session_new_token(d->session, &d->token_len, d->token);
    coap_add_token(pdu, d->token_len, d->token);
    add_path(pdu, path);
    if (cf >= 0)
        add_uint_option(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)cf);
    for (size_t i = 0; query && query[i]; i++)
        coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(query[i]),
                        (const uint8_t *)query[i]);
    if (accept >= 0)
        add_uint_option(pdu, COAP_OPTION_ACCEPT, (unsigned)accept);
    d->answered = false;
    d->code = -1;
    d->location[0] = '\0';
    free(d->answer_body);
    d->answer_body = NULL;
    d->answer_len = 0;
    if (payload && len > 1024) {
        /* Block1 by libcoap; the buffer must outlive the transfer. */
        uint8_t *copy = malloc(len);
        if (!copy) {
            coap_delete_pdu(pdu);
            return -1;
        }
        memcpy(copy, payload, len);
        if (!coap_add_data_large_request(d->session, pdu, len, copy,
                                         release_buf, copy)) {
            coap_delete_pdu(pdu);
            return -1;
        }
    } else if (payload) {
        coap_add_data(pdu, len, payload);
    }
    if (coap_send(d->session, pdu) == COAP_INVALID_MID)
        return -1;
    dev_wait_locked(d, &d->answered, dev_now_ms() + timeout_ms);
    return d->answered ? d->code : -1;
}

int harness_device_request(struct harness_device *d, coap_pdu_code_t method, const char *path,
                           const char *const query[], const char *payload, int cf,
                           int64_t timeout_ms, char *location, size_t cap)
{
    pthread_mutex_lock(&d->mu);
    int code = dev_request_locked(d, method, path, query, (const uint8_t *)payload,
                                  payload ? strlen(payload) : 0, cf, -1, timeout_ms);
    if (location && cap)
        snprintf(location, cap, "%s", d->location);
    pthread_mutex_unlock(&d->mu);
    return code;
}

int harness_device_register(struct harness_device *d, const char *const query[],
                            const char *links, int64_t timeout_ms, char *location, size_t cap)
{
    return harness_device_request(d, COAP_REQUEST_CODE_POST, "rd", query, links,
                                  links ? COAP_MEDIATYPE_APPLICATION_LINK_FORMAT : -1,
                                  timeout_ms, location, cap);
}

int harness_device_update(struct harness_device *d, const char *location,
                          const char *const query[], const char *links, int64_t timeout_ms)
{
    return harness_device_request(d, COAP_REQUEST_CODE_POST, location, query, links,
                                  links ? COAP_MEDIATYPE_APPLICATION_LINK_FORMAT : -1,
                                  timeout_ms, NULL, 0);
}

int harness_device_deregister(struct harness_device *d, const char *location,
                              int64_t timeout_ms)
{
    return harness_device_request(d, COAP_REQUEST_CODE_DELETE, location, NULL, NULL, -1,
                                  timeout_ms, NULL, 0);
}

int harness_device_wait(struct harness_device *d, int64_t timeout_ms, char *location,
                        size_t cap)
{
    pthread_mutex_lock(&d->mu);
    dev_wait_locked(d, &d->answered, dev_now_ms() + timeout_ms);
    if (location && cap)
        snprintf(location, cap, "%s", d->location);
    int code = d->answered ? d->code : -1;
    pthread_mutex_unlock(&d->mu);
    return code;
}

void harness_device_run(struct harness_device *d, int64_t ms)
{
    static const bool never = false;
    pthread_mutex_lock(&d->mu);
    dev_wait_locked(d, &never, dev_now_ms() + ms);
    pthread_mutex_unlock(&d->mu);
}

bool harness_device_dtls_failed(const struct harness_device *d)
{
    return d->dtls_failed;
}

uint16_t harness_device_local_port(const struct harness_device *d)
{
    const coap_address_t *a = coap_session_get_addr_local(d->session);
    if (!a)
        return 0;
    return a->addr.sa.sa_family == AF_INET6 ? ntohs(a->addr.sin6.sin6_port)
                                            : ntohs(a->addr.sin.sin_port);
}

coap_context_t *harness_device_context(struct harness_device *d)
{
    return d->ctx;
}

const char *harness_device_version(const struct harness_device *d)
{
    return d->version;
}

/* ---- registration helpers ---- */

int harness_device_register_lwm2m(struct harness_device *d, const char *endpoint,
                                  int64_t lifetime_s, const char *binding, bool queue,
                                  const char *const extra_query[], int64_t timeout_ms,
                                  char *location, size_t cap)
{
    char ep[300], lt[32], ver[16], b[32];
    const char *q[40];
    size_t n = 0;
    bool v10 = !strcmp(d->version, "1.0");
    snprintf(ep, sizeof ep, "ep=%s", endpoint);
    snprintf(lt, sizeof lt, "lt=%lld", (long long)lifetime_s);
    snprintf(ver, sizeof ver, "lwm2m=%s", d->version);
    snprintf(b, sizeof b, "b=%s%s", binding ? binding : "U", queue && v10 ? "Q" : "");
    q[n++] = ep;
    q[n++] = lt;
    q[n++] = ver;
    q[n++] = b;
    if (queue && !v10)
        q[n++] = "Q";
    for (size_t i = 0; extra_query && extra_query[i] && n < 39; i++)
        q[n++] = extra_query[i];
    q[n] = NULL;
    char links[2048];
    harness_device_links(d, links, sizeof links);
    return harness_device_register(d, q, links, timeout_ms, location, cap);
}

/* ---- sleep ---- */

void harness_device_sleep(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    if (d->sock_fd < 0)
        d->sock_fd = session_fd(d, 3);
    d->asleep = true;
    pthread_mutex_unlock(&d->mu);
}

void harness_device_wake(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    d->asleep = false;
    pthread_mutex_unlock(&d->mu);
}

bool harness_device_asleep(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    bool a = d->asleep;
    pthread_mutex_unlock(&d->mu);
    return a;
}

/* ---- failure injection ---- */

void harness_device_fail_next(struct harness_device *d, coap_pdu_code_t method,
                              const char *path, int code)
{
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < DEV_MAX_FAILS; i++) {
        struct dev_fail *f = &d->fails[i];
        if (f->used)
            continue;
        f->used = true;
        f->method = method;
        f->code = code;
        struct lwm2m_path p;
        if (path && dev_path_parse(path, &p))
            lwm2m_path_format(&p, f->path);
        else
            f->path[0] = '\0';
        break;
    }
    pthread_mutex_unlock(&d->mu);
}

static void count_request(struct harness_device *d, coap_pdu_code_t method, const char *path)
{
    for (size_t i = 0; i < d->ncounts; i++)
        if (d->counts[i].method == method && !strcmp(d->counts[i].path, path)) {
            d->counts[i].count++;
            return;
        }
    struct dev_count *c = realloc(d->counts, (d->ncounts + 1) * sizeof *c);
    if (!c)
        return;
    d->counts = c;
    c[d->ncounts].method = method;
    snprintf(c[d->ncounts].path, sizeof c[d->ncounts].path, "%s", path);
    c[d->ncounts].count = 1;
    d->ncounts++;
}

bool dev_check_fail(struct harness_device *d, coap_pdu_code_t method, const char *path,
                    int *code)
{
    count_request(d, method, path);
    for (size_t i = 0; i < DEV_MAX_FAILS; i++) {
        struct dev_fail *f = &d->fails[i];
        if (!f->used || (f->method && f->method != method) ||
            (f->path[0] && strcmp(f->path, path) != 0))
            continue;
        f->used = false;
        *code = f->code;
        return true;
    }
    return false;
}

unsigned harness_device_request_count(struct harness_device *d, coap_pdu_code_t method,
                                      const char *path)
{
    char want[LWM2M_PATH_STR_MAX] = "";
    struct lwm2m_path p;
    if (path && dev_path_parse(path, &p))
        lwm2m_path_format(&p, want);
    unsigned n = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < d->ncounts; i++)
        if ((!method || d->counts[i].method == method) &&
            (!path || !strcmp(d->counts[i].path, want)))
            n += d->counts[i].count;
    pthread_mutex_unlock(&d->mu);
    return n;
}

unsigned harness_device_notify_count(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    unsigned n = d->notify_count;
    pthread_mutex_unlock(&d->mu);
    return n;
}

int harness_device_last_format(struct harness_device *d)
{
    pthread_mutex_lock(&d->mu);
    int f = d->last_format;
    pthread_mutex_unlock(&d->mu);
    return f;
}

/* ---- Send ---- */

static int send_data_locked(struct harness_device *d, unsigned format,
                            const struct lwm2m_data *data, int64_t timeout_ms)
{
    if (!format)
        format = LWM2M_FORMAT_SENML_CBOR;
    struct lwm2m_buf buf = { 0 };
    struct lwm2m_path root = lwm2m_path_root();
    if (!dev_dm_encode(d, format, data, &root, &buf)) {
        lwm2m_buf_free(&buf);
        return -1;
    }
    int code = dev_request_locked(d, COAP_REQUEST_CODE_POST, "dp", NULL, buf.data, buf.len,
                                  (int)format, -1, timeout_ms);
    lwm2m_buf_free(&buf);
    return code;
}

int harness_device_send(struct harness_device *d, unsigned format, const char *const paths[],
                        int64_t timeout_ms)
{
    struct lwm2m_data data;
    lwm2m_data_init(&data);
    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; paths && paths[i]; i++) {
        struct lwm2m_path p;
        if (!dev_path_parse(paths[i], &p) || !dev_tree_collect(&d->tree, &p, &data, false)) {
            fprintf(stderr, "harness_device_send: bad path %s\n", paths[i]);
            pthread_mutex_unlock(&d->mu);
            lwm2m_data_free(&data);
            return -1;
        }
    }
    int code = send_data_locked(d, format, &data, timeout_ms);
    pthread_mutex_unlock(&d->mu);
    lwm2m_data_free(&data);
    return code;
}

int harness_device_send_values(struct harness_device *d, unsigned format,
                               const char *values_json, int64_t timeout_ms)
{
    struct lwm2m_data data;
    struct ls_error err = { 0 };
    pthread_mutex_lock(&d->mu);
    if (lwm2m_api_json_decode(values_json, strlen(values_json), d->model, &data, &err) !=
        LS_OK) {
        fprintf(stderr, "harness_device_send_values: %s\n", err.msg);
        pthread_mutex_unlock(&d->mu);
        lwm2m_data_free(&data);
        return -1;
    }
    int code = send_data_locked(d, format, &data, timeout_ms);
    pthread_mutex_unlock(&d->mu);
    lwm2m_data_free(&data);
    return code;
}

/* ---- raw datagrams ---- */

long harness_capture_raw(const char *json_path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(json_path, "r");
    if (!f)
        return -1;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strstr(text, "\"raw_hex\"");
    if (!p || !(p = strchr(p + 9, '"')))
        return -1;
    p++;
    size_t len = 0;
    while (p[0] && p[0] != '"' && p[1] && len < cap) {
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1)
            return -1;
        buf[len++] = (uint8_t)v;
        p += 2;
    }
    return (long)len;
}

struct raw_msg {
    unsigned type;          /* 0 CON, 1 NON, 2 ACK, 3 RST */
    unsigned code;
    unsigned mid;
    const uint8_t *token;
    size_t token_len;
    char location[128];
};

/* Decodes header, token and Location-Path options (RFC 7252 section 3). */
static bool raw_decode(const uint8_t *b, size_t n, struct raw_msg *m)
{
    if (n < 4 || (b[0] >> 6) != 1)
        return false;
    m->type = (b[0] >> 4) & 3;
    m->token_len = b[0] & 15;
    m->code = b[1];
    m->mid = (unsigned)b[2] << 8 | b[3];
    if (m->token_len > 8 || 4 + m->token_len > n)
        return false;
    m->token = b + 4;
    m->location[0] = '\0';
    size_t i = 4 + m->token_len, loc = 0;
    unsigned number = 0;
    while (i < n && b[i] != 0xff) {
        unsigned delta = b[i] >> 4, len = b[i] & 15;
        i++;
        if (delta == 13 && i < n) delta = 13 + b[i++];
        else if (delta == 14 && i + 1 < n) { delta = 269 + (b[i] << 8 | b[i + 1]); i += 2; }
        if (len == 13 && i < n) len = 13 + b[i++];
        else if (len == 14 && i + 1 < n) { len = 269 + (b[i] << 8 | b[i + 1]); i += 2; }
        if (delta == 15 || len == 15 || i + len > n)
            return false;
        number += delta;
        if (number == COAP_OPTION_LOCATION_PATH && loc + len + 2 < sizeof m->location) {
            if (loc)
                m->location[loc++] = '/';
            memcpy(m->location + loc, b + i, len);
            loc += len;
            m->location[loc] = '\0';
        }
        i += len;
    }
    return true;
}

int harness_raw_exchange(int fd, const char *server, const uint8_t *dgram, size_t len,
                         int64_t timeout_ms, struct harness_raw_answer *answer)
{
    coap_address_t dst;
    struct raw_msg req;
    int own = -1;
    memset(answer, 0, sizeof *answer);
    answer->code = -1;
    answer->ack_ms = -1;
    if (!parse_addr(server, &dst) || !raw_decode(dgram, len, &req))
        return -1;
    if (fd < 0)
        fd = own = socket(dst.addr.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, dgram, len, 0, &dst.addr.sa, dst.size) != (ssize_t)len)
        goto out;
    int64_t sent = dev_now_ms(), deadline = sent + timeout_ms;
    uint8_t buf[2048];
    while (answer->code < 0 && dev_now_ms() < deadline) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)(deadline - dev_now_ms())) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        struct raw_msg m;
        if (n <= 0 || !raw_decode(buf, (size_t)n, &m))
            continue;
        if (m.type == 2 && m.code == 0) {   /* empty ACK: the answer comes separately */
            if (m.mid == req.mid && answer->ack_ms < 0)
                answer->ack_ms = dev_now_ms() - sent;
            continue;
        }
        if (m.token_len != req.token_len || memcmp(m.token, req.token, m.token_len) != 0)
            continue;
        if (m.type == 0) {   /* separate CON response: acknowledge it */
            uint8_t ack[4] = { 0x60, 0, (uint8_t)(m.mid >> 8), (uint8_t)m.mid };
            if (sendto(fd, ack, sizeof ack, 0, &dst.addr.sa, dst.size) < 0)
                break;
            answer->separate = true;
        }
        answer->code = (int)(m.code >> 5) * 100 + (int)(m.code & 31);
        snprintf(answer->location, sizeof answer->location, "%s", m.location);
    }
out:
    if (own >= 0)
        close(own);
    return answer->code;
}
