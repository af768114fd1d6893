/*
 * tests/integration/test_registration.c -- the Registration interface of
 * lodestar-server over CoAP and DTLS-PSK, against a real PostgreSQL
 *
 * Each test starts lodestar-server as a process on ephemeral ports
 * (--coap/--coaps/--http 127.0.0.1:0, read back from its log) and talks
 * to it with the libcoap test device (tests/harness/lwm2m_device.h) or
 * with captured datagrams replayed byte for byte.  Durability is checked
 * in Postgres with libpq right after the answer.  Endpoint names are unique
 * per test so tests never see each other's rows.  Every wait has a
 * deadline; polls re-check a condition, they never stand in for one.
 *
 * Needs LODESTAR_TEST_PGURI (exit 77 without); the database restart test
 * needs LODESTAR_TEST_PGCTL_CMD; the captures come from
 * LODESTAR_CAPTURES (default /work/shared/captures).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "lwm2m_device.h"
#include "store/credentials.h"
#include "store/secret.h"
#include "store/store.h"

#define KEY_HEX "8f2a1c0e5b7d9a3f6e4c2b1a0d9e8f7c6b5a4d3e2f1a0b9c8d7e6f5a4b3c2d1e"
#define KEY_ENV "LODESTAR_MASTER_KEY=" KEY_HEX
#define START_MS 20000
#define STOP_MS 15000
#define ANSWER_MS 5000
#define LINKS "</>;rt=\"oma.lwm2m\";ct=110,</1/0>,</3/0>,</5>"

static char db_env[1024];
static char run_tag[32];      /* makes endpoint names unique per run */

struct server {
    struct harness_proc *p;
    char coap[96];             /* 127.0.0.1:port */
    char coaps[96];
};

static const char *bin(const char *var)
{
    const char *p = getenv(var);
    ck_assert_msg(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

static void wait_addr(struct harness_proc *p, const char *proto, char *out, size_t cap)
{
    harness_wait_listening(p, proto, START_MS, out, cap);
    ck_assert_msg(strcmp(out, "127.0.0.1:0") != 0 && strcmp(out, "[::]:0") != 0,
                  "port 0 not resolved: %s", out);
}

/* extra: more flags (NULL-terminated, at most 8), or NULL. */
static void server_start_args(struct server *s, const char *coap, const char *coaps,
                              const char *const extra[])
{
    char *argv[16] = { "lodestar-server", "--coap", (char *)coap, "--coaps", (char *)coaps,
                       "--http", "127.0.0.1:0", NULL };
    for (size_t i = 0; extra && extra[i] && i < 8; i++)
        argv[7 + i] = (char *)extra[i];
    char *env[] = { KEY_ENV, db_env, NULL };
    s->p = harness_proc_spawn("server", bin("LODESTAR_SERVER_BIN"), argv, env);
    ck_assert_ptr_nonnull(s->p);
    wait_addr(s->p, "coap", s->coap, sizeof s->coap);
    wait_addr(s->p, "coaps", s->coaps, sizeof s->coaps);
    ck_assert_msg(harness_proc_wait_line(s->p, "event=started ", START_MS, NULL, 0),
                  "not started:\n%s", harness_proc_stderr(s->p));
}

static void server_start_on(struct server *s, const char *coap, const char *coaps)
{
    server_start_args(s, coap, coaps, NULL);
}

static void server_start(struct server *s)
{
    server_start_on(s, "127.0.0.1:0", "127.0.0.1:0");
}

static void server_stop(struct server *s)
{
    ck_assert_int_eq(harness_proc_stop_dump(s->p, "server", STOP_MS), 0);
    harness_proc_free(s->p);
    s->p = NULL;
}

static void ep_name(char *buf, size_t cap, const char *base)
{
    snprintf(buf, cap, "%s-%s", base, run_tag);
}

/* ---- database ---- */

/* One value from the test database; see harness_db_value. */
static const char *db_value(const char *sql, const char *arg, char *out, size_t cap)
{
    return harness_db_value(harness_pg_uri(), sql, arg, out, cap);
}

static const char *reg_field(const char *field, const char *endpoint, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM registrations WHERE endpoint = $1", field);
    return db_value(sql, endpoint, out, cap);
}

/* Polls until the registration of endpoint is gone, or the deadline. */
static bool reg_gone_within(const char *endpoint, int64_t ms)
{
    char v[64];
    int64_t deadline = harness_now_ms() + ms;
    while (harness_now_ms() < deadline) {
        if (!reg_field("id", endpoint, v, sizeof v)[0])
            return true;
        harness_sleep_ms(100);    /* poll interval */
    }
    return false;
}

static void add_psk(const char *endpoint, const char *identity, const char *key)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(KEY_HEX, &k, &err), LS_OK);
    struct store *s = store_open(harness_pg_uri(), &err);
    ck_assert_ptr_nonnull(s);
    struct store_credential c = {
        .endpoint = endpoint, .scope = "server", .mode = "psk", .identity = identity,
        .secret = (const uint8_t *)key, .secret_len = strlen(key), .state = "active",
    };
    int64_t id = 0;
    ck_assert_msg(store_credentials_insert(s, &k, &c, &id, &err) == LS_OK, "insert: %s %s",
                  err.msg, err.detail);
    ck_assert_int_gt(id, 0);
    store_close(s);
}

/* ---- devices ---- */

static struct harness_device *device(const struct server *s, const char *identity,
                                     const char *key, uint16_t port)
{
    struct harness_device_options o = {
        .server = identity ? s->coaps : s->coap, .psk_identity = identity,
        .psk_key = (const uint8_t *)key, .psk_key_len = key ? strlen(key) : 0,
        .local_port = port,
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

static int do_register(struct harness_device *d, const char *ep, const char *lt, char *loc,
                       size_t cap)
{
    char q_ep[300], q_lt[32];
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    snprintf(q_lt, sizeof q_lt, "lt=%s", lt);
    const char *q[] = { q_ep, q_lt, "lwm2m=1.1", "b=U", NULL };
    return harness_device_register(d, q, LINKS, ANSWER_MS, loc, cap);
}

/* ---- tests ---- */

START_TEST(test_register_update_deregister)
{
    struct server s;
    char ep[128], loc[128], v[256], id[64];
    server_start(&s);
    ep_name(ep, sizeof ep, "basic");
    struct harness_device *d = device(&s, NULL, NULL, 0);

    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    ck_assert_msg(strncmp(loc, "rd/", 3) == 0 && strlen(loc) > 3, "location %s", loc);
    /* Durable before the answer: the row is there right after the 2.01. */
    ck_assert_str_eq(reg_field("id", ep, id, sizeof id), loc + 3);
    ck_assert_str_eq(reg_field("lifetime_s", ep, v, sizeof v), "120");
    ck_assert_str_eq(reg_field("lwm2m_version", ep, v, sizeof v), "1.1");
    ck_assert_str_eq(reg_field("security", ep, v, sizeof v), "nosec");
    ck_assert_str_eq(reg_field("objects::text", ep, v, sizeof v), "[\"/1/0\", \"/3/0\", \"/5\"]");
    ck_assert_str_eq(reg_field("alt_path", ep, v, sizeof v), "/");

    const char *uq[] = { "lt=300", "b=UQ", NULL };
    ck_assert_int_eq(harness_device_update(d, loc, uq, NULL, ANSWER_MS), 204);
    ck_assert_str_eq(reg_field("lifetime_s", ep, v, sizeof v), "300");
    ck_assert_str_eq(reg_field("binding", ep, v, sizeof v), "UQ");
    ck_assert_str_eq(reg_field("queue::text", ep, v, sizeof v), "true");
    /* An empty Update (only "I am alive") is 2.04 too. */
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 204);
    /* An Update with a new object list replaces it. */
    ck_assert_int_eq(harness_device_update(d, loc, NULL, "</3/0>,</4/0>", ANSWER_MS), 204);
    ck_assert_str_eq(reg_field("objects::text", ep, v, sizeof v), "[\"/3/0\", \"/4/0\"]");

    ck_assert_int_eq(harness_device_deregister(d, loc, ANSWER_MS), 202);
    ck_assert_str_eq(reg_field("id", ep, v, sizeof v), "");
    /* Gone: Update and De-register are 4.04 now. */
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 404);
    ck_assert_int_eq(harness_device_deregister(d, loc, ANSWER_MS), 404);
    /* (an Update to queue mode also brings an 'awake' event: test_queue.c) */
    ck_assert_str_eq(db_value("SELECT string_agg(kind, ',' ORDER BY id) FROM events "
                              "WHERE endpoint = $1 AND kind <> 'awake'", ep, v, sizeof v),
                     "registration,update,update,update,deregistration");
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

/* Register parameter combinations and error codes. */
static const struct reg_case {
    const char *name;
    const char *query[8];       /* "EP" is replaced by ep=<unique name> */
    const char *links;          /* NULL: no payload */
    int code;
    const char *objects;        /* expected objects::text on 2.01, or NULL */
} reg_cases[] = {
    { "all defaults", { "EP", NULL }, "</1/0>", 201, "[\"/1/0\"]" },
    { "1.0 UQ", { "EP", "lt=60", "lwm2m=1.0", "b=UQ", NULL }, "</1/0>,</3/0>", 201, NULL },
    { "1.1 Q", { "EP", "lwm2m=1.1", "b=U", "Q", NULL }, "</3/0>", 201, NULL },
    { "1.2 lt 0", { "EP", "lwm2m=1.2", "lt=0", NULL }, "</3/0>", 201, NULL },
    { "sms", { "EP", "lwm2m=1.1", "b=US", "sms=123456789", NULL }, "</3/0>", 201, NULL },
    { "pid", { "EP", "lwm2m=1.2", "pid=profile-1", NULL }, "</3/0>", 201, NULL },
    { "0 and 21 ignored", { "EP", "lwm2m=1.2", NULL }, "</0/0>,</21/0>,</1/0>,</3/0>", 201,
      "[\"/1/0\", \"/3/0\"]" },
    { "alt path", { "EP", "lwm2m=1.1", NULL }, "</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/3/0>", 201,
      "[\"/3/0\"]" },
    { "1.0 quoted ct", { "EP", "lwm2m=1.0", NULL }, "</>;rt=\"oma.lwm2m\";ct=\"11543\",</3/0>",
      201, NULL },
    { "no payload", { "EP", NULL }, NULL, 201, "[]" },
    { "missing ep", { "lt=60", "lwm2m=1.1", NULL }, "</3/0>", 400, NULL },
    { "empty ep", { "ep=", "lwm2m=1.1", NULL }, "</3/0>", 400, NULL },
    { "bad lt", { "EP", "lt=abc", NULL }, "</3/0>", 400, NULL },
    { "negative lt", { "EP", "lt=-5", NULL }, "</3/0>", 400, NULL },
    { "unknown param", { "EP", "zz=1", NULL }, "</3/0>", 400, NULL },
    { "repeated ep", { "EP", "ep=other", NULL }, "</3/0>", 400, NULL },
    { "bad binding", { "EP", "b=X", NULL }, "</3/0>", 400, NULL },
    { "lwm2m 1.3", { "EP", "lwm2m=1.3", NULL }, "</3/0>", 412, NULL },
    { "lwm2m 2.0", { "EP", "lwm2m=2.0", NULL }, "</3/0>", 412, NULL },
    { "bad links", { "EP", NULL }, "</3/0", 400, NULL },
    { "not an object", { "EP", NULL }, "</foo>", 400, NULL },
};

START_TEST(test_register_params)
{
    const struct reg_case *c = &reg_cases[_i];
    struct server s;
    char ep[128], q_ep[160], loc[128], v[256];
    const char *q[8] = { NULL };
    server_start(&s);
    snprintf(ep, sizeof ep, "params%d-%s", _i, run_tag);
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    for (size_t i = 0; i < 7 && c->query[i]; i++)
        q[i] = strcmp(c->query[i], "EP") == 0 ? q_ep : c->query[i];
    struct harness_device *d = device(&s, NULL, NULL, 0);
    int code = harness_device_register(d, q, c->links, ANSWER_MS, loc, sizeof loc);
    ck_assert_msg(code == c->code, "%s: got %d, want %d", c->name, code, c->code);
    if (c->code == 201) {
        ck_assert_str_eq(reg_field("id", ep, v, sizeof v), loc + 3);
        if (c->objects)
            ck_assert_str_eq(reg_field("objects::text", ep, v, sizeof v), c->objects);
    } else {
        ck_assert_str_eq(reg_field("id", ep, v, sizeof v), "");
        ck_assert_str_eq(loc, "");
    }
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

static const struct upd_case {
    const char *name;
    const char *query[6];
    const char *links;
    int code;
    const char *field, *value;   /* checked after a 2.04 */
} upd_cases[] = {
    { "lt", { "lt=77", NULL }, NULL, 204, "lifetime_s", "77" },
    { "binding", { "b=UQ", NULL }, NULL, 204, "binding", "UQ" },
    { "queue", { "Q", NULL }, NULL, 204, "queue::text", "true" },
    { "sms", { "sms=555", NULL }, NULL, 204, "sms", "555" },
    { "objects", { NULL }, "</3/0>,</6/0>", 204, "objects::text", "[\"/3/0\", \"/6/0\"]" },
    { "ep on update", { "ep=x", NULL }, NULL, 400, "lifetime_s", "60" },
    { "same lwm2m on update", { "lt=61", "lwm2m=1.1", NULL }, NULL, 204, "lifetime_s", "61" },
    { "other lwm2m on update", { "lwm2m=1.0", NULL }, NULL, 400, "lifetime_s", "60" },
    { "bad lt", { "lt=x", NULL }, NULL, 400, "lifetime_s", "60" },
    { "unknown", { "foo=1", NULL }, NULL, 400, "lifetime_s", "60" },
    { "bad links", { NULL }, "<3", 400, "lifetime_s", "60" },
};

START_TEST(test_update_params)
{
    const struct upd_case *c = &upd_cases[_i];
    struct server s;
    char ep[128], loc[128], v[256];
    server_start(&s);
    snprintf(ep, sizeof ep, "upd%d-%s", _i, run_tag);
    struct harness_device *d = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(do_register(d, ep, "60", loc, sizeof loc), 201);
    int code = harness_device_update(d, loc, c->query[0] ? c->query : NULL, c->links,
                                     ANSWER_MS);
    ck_assert_msg(code == c->code, "%s: got %d, want %d", c->name, code, c->code);
    ck_assert_str_eq(reg_field(c->field, ep, v, sizeof v), c->value);
    /* Wrong locations. */
    ck_assert_int_eq(harness_device_update(d, "rd/nope", NULL, NULL, ANSWER_MS), 404);
    char deeper[160];
    snprintf(deeper, sizeof deeper, "%s/x", loc);
    ck_assert_int_eq(harness_device_update(d, deeper, NULL, NULL, ANSWER_MS), 404);
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

/* Real clients' Register datagrams, byte for byte. */
static const struct capture_case {
    const char *file;
    const char *endpoint;
} capture_cases[] = {
    { "anjay-1.0/01-register-req.json", "urn:dev:os:anjay-cap10" },
    { "anjay-1.1/01-register-req.json", "urn:dev:os:anjay-cap11" },
    { "anjay-1.2/01-register-req.json", "urn:dev:os:anjay-cap12" },
    { "anjay-1.0-1.2/21-register-req.json", "urn:dev:os:anjay-bsfb" },
    { "wakaama-1.1/01-register-req.json", NULL },
};

START_TEST(test_capture_replay)
{
    const struct capture_case *c = &capture_cases[_i];
    const char *dir = getenv("LODESTAR_CAPTURES");
    char path[512], v[256];
    uint8_t dgram[2048];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/work/shared/captures", c->file);
    long n = harness_capture_raw(path, dgram, sizeof dgram);
    ck_assert_msg(n > 4, "cannot read %s", path);
    struct server s;
    server_start(&s);
    struct harness_raw_answer a;
    ck_assert_int_eq(harness_raw_exchange(-1, s.coap, dgram, (size_t)n, ANSWER_MS, &a), 201);
    /* Answered after the commit, piggy-backed on the ACK (the commit is
     * quick): no empty ACK, no separate response. */
    ck_assert(!a.separate);
    ck_assert_int_eq(a.ack_ms, -1);
    ck_assert_msg(strncmp(a.location, "rd/", 3) == 0, "location %s", a.location);
    ck_assert_str_ne(db_value("SELECT endpoint FROM registrations WHERE id = $1", a.location + 3,
                              v, sizeof v), "");
    if (c->endpoint)
        ck_assert_str_eq(v, c->endpoint);
    server_stop(&s);
}
END_TEST

/* A NoSec Register: CON POST /rd?<epq>&lt=86400&lwm2m=1.1&b=U, 4-byte token
 * from mid.  Returns its length.  Options stay below 13 bytes of delta and
 * 269 of length (the endpoint query is at most 64 bytes here). */
static size_t raw_register(uint8_t *p, const char *epq, uint16_t mid)
{
    static const char links[] = "</1/0>,</3/0>";
    const char *opts[] = { "rd", epq, "lt=86400", "lwm2m=1.1", "b=U" };
    const unsigned nums[] = { 11, 15, 15, 15, 15 };
    size_t n = 0;
    unsigned last = 0;
    p[n++] = 0x44;
    p[n++] = 0x02;
    p[n++] = (uint8_t)(mid >> 8);
    p[n++] = (uint8_t)mid;
    memcpy(p + n, "tok", 3);
    p[n + 3] = (uint8_t)mid;
    n += 4;
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        size_t len = strlen(opts[i]);
        uint8_t *hdr = &p[n++];
        *hdr = (uint8_t)((nums[i] - last) << 4);
        if (len < 13) {
            *hdr |= (uint8_t)len;
        } else {
            *hdr |= 13;
            p[n++] = (uint8_t)(len - 13);
        }
        memcpy(p + n, opts[i], len);
        n += len;
        last = nums[i];
    }
    p[n++] = 0xff;
    memcpy(p + n, links, sizeof links - 1);
    return n + sizeof links - 1;
}

/* NoSec sessions are not held (server/registry.c), so libcoap's session
 * walks per datagram stay bounded by max_idle_sessions (256, server.c)
 * however many devices are registered.  300 devices, each from its own
 * open socket (own port, own libcoap session); the server logs its peak
 * session count at shutdown.  Holding them would peak at 300 or more. */
START_TEST(test_sessions_not_held)
{
    enum { DEVICES = 300 };
    int fds[DEVICES];
    struct server s;
    server_start(&s);
    for (int i = 0; i < DEVICES; i++) {
        uint8_t dgram[256];
        char epq[64];
        struct harness_raw_answer a;
        snprintf(epq, sizeof epq, "ep=held-%.24s-%d", run_tag, i);
        fds[i] = socket(AF_INET, SOCK_DGRAM, 0);
        ck_assert_int_ge(fds[i], 0);
        size_t n = raw_register(dgram, epq, (uint16_t)(1000 + i));
        ck_assert_int_eq(harness_raw_exchange(fds[i], s.coap, dgram, n, ANSWER_MS, &a), 201);
    }
    ck_assert_int_eq(harness_proc_stop(s.p, STOP_MS), 0);
    char *log = harness_proc_stderr(s.p);
    const char *line = strstr(log, "event=coap_sessions ");
    char peak[32] = "";
    ck_assert_msg(line && harness_log_field(line, "max", peak, sizeof peak),
                  "no coap_sessions line:\n%s", log);
    ck_assert_int_le(atol(peak), 256 + 4);
    ck_assert_int_gt(atol(peak), 0);
    free(log);
    harness_proc_free(s.p);
    for (int i = 0; i < DEVICES; i++)
        close(fds[i]);
}
END_TEST

/* A retransmitted Register (same MID and token) must not make a second
 * registration: the answer carries the same location. */
START_TEST(test_duplicate_register)
{
    char path[512], v[64];
    uint8_t dgram[2048];
    const char *dir = getenv("LODESTAR_CAPTURES");
    snprintf(path, sizeof path, "%s/anjay-1.1/87-register-req.json",
             dir && *dir ? dir : "/work/shared/captures");
    long n = harness_capture_raw(path, dgram, sizeof dgram);
    ck_assert_int_gt(n, 4);
    struct server s;
    server_start(&s);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct harness_raw_answer a1, a2;
    ck_assert_int_eq(harness_raw_exchange(fd, s.coap, dgram, (size_t)n, ANSWER_MS, &a1), 201);
    ck_assert_int_eq(harness_raw_exchange(fd, s.coap, dgram, (size_t)n, ANSWER_MS, &a2), 201);
    ck_assert_str_eq(a1.location, a2.location);
    ck_assert_str_eq(db_value("SELECT count(*) FROM events WHERE kind = 'registration' AND "
                              "detail->>'id' = $1", a1.location + 3, v, sizeof v), "1");
    close(fd);
    server_stop(&s);
}
END_TEST

/* ---- a request retransmitted while its commit is pending ---- */

/* A UDP socket connected to "127.0.0.1:port". */
static int raw_socket_to(const char *hostport)
{
    char host[96];
    snprintf(host, sizeof host, "%s", hostport);
    char *colon = strrchr(host, ':');
    ck_assert_ptr_nonnull(colon);
    *colon = '\0';
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* What came back for a request sent twice. */
struct twice {
    int empty_acks;      /* empty ACKs with the request's MID */
    int separate;        /* CON answers with its token (each ACKed) */
    int piggybacked;     /* ACKs with its token and a code */
    int code;            /* of the last answer, class*100+detail */
};

/* Sends the CON msg twice back to back -- the second copy arrives while
 * the first waits for its commit (a store round trip, milliseconds) --
 * and collects the answers until 500 ms after the first one (a second one
 * would come in that time) or ANSWER_MS. */
static void send_twice(int fd, const uint8_t *msg, size_t len, struct twice *t)
{
    uint16_t mid = (uint16_t)(msg[2] << 8 | msg[3]);
    size_t tkl = msg[0] & 15u;
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(send(fd, msg, len, 0), (ssize_t)len);
    ck_assert_int_eq(send(fd, msg, len, 0), (ssize_t)len);
    for (int64_t deadline = harness_now_ms() + ANSWER_MS;;) {
        int64_t now = harness_now_ms();
        if (now >= deadline)
            return;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        uint8_t m[1500];
        ssize_t n = recv(fd, m, sizeof m, 0);
        if (n < 4)
            continue;
        unsigned type = (m[0] >> 4) & 3u, code = m[1];
        if (type == 2 && code == 0 && (uint16_t)(m[2] << 8 | m[3]) == mid) {
            t->empty_acks++;
            continue;
        }
        if ((size_t)n < 4 + tkl || (m[0] & 15u) != tkl || memcmp(m + 4, msg + 4, tkl) != 0)
            continue;
        t->code = (int)(code >> 5) * 100 + (int)(code & 31);
        if (type == 0) {
            uint8_t ack[4] = { 0x60, 0, m[2], m[3] };
            ck_assert_int_eq(send(fd, ack, sizeof ack, 0), (ssize_t)sizeof ack);
            t->separate++;
        } else if (type == 2) {
            t->piggybacked++;
        }
        if (t->separate + t->piggybacked == 1)
            deadline = harness_now_ms() + 500;
    }
}

/* CON POST rd/{id} without payload (an Update), token "upd" + mid's low byte. */
static size_t raw_update(uint8_t *p, const char *id, uint16_t mid)
{
    size_t n = 0, len = strlen(id);
    ck_assert_uint_lt(len, 13);
    p[n++] = 0x44;
    p[n++] = 0x02;
    p[n++] = (uint8_t)(mid >> 8);
    p[n++] = (uint8_t)mid;
    memcpy(p + n, "upd", 3);
    p[n + 3] = (uint8_t)mid;
    n += 4;
    p[n++] = (11 << 4) | 2;
    memcpy(p + n, "rd", 2);
    n += 2;
    p[n++] = (uint8_t)len;
    memcpy(p + n, id, len);
    return n + len;
}

/* A Register and an Update, each retransmitted while its commit is
 * pending: the ACK waits for the answer (server/parked.h), so the copy
 * gets nothing, the answer comes once, piggy-backed, and the Register is
 * stored once. */
START_TEST(test_retransmitted_while_pending)
{
    struct server s;
    server_start(&s);
    char ep[64], epq[80], id[64], v[64];
    ep_name(ep, sizeof ep, "pending");
    snprintf(epq, sizeof epq, "ep=%s", ep);
    int fd = raw_socket_to(s.coap);
    uint8_t dgram[512];
    struct twice t;
    send_twice(fd, dgram, raw_register(dgram, epq, 0x5a01), &t);
    ck_assert_int_eq(t.code, 201);
    ck_assert_int_eq(t.separate, 0);
    ck_assert_int_eq(t.piggybacked, 1);
    ck_assert_int_eq(t.empty_acks, 0);
    ck_assert_str_ne(reg_field("id", ep, id, sizeof id), "");
    ck_assert_str_eq(db_value("SELECT count(*) FROM events WHERE kind = 'registration' AND "
                              "endpoint = $1", ep, v, sizeof v), "1");
    send_twice(fd, dgram, raw_update(dgram, id, 0x5a02), &t);
    ck_assert_int_eq(t.code, 204);
    ck_assert_int_eq(t.separate, 0);
    ck_assert_int_eq(t.piggybacked, 1);
    ck_assert_int_eq(t.empty_acks, 0);
    close(fd);
    server_stop(&s);
}
END_TEST

START_TEST(test_register_replaces)
{
    struct server s;
    char ep[128], loc1[128], loc2[128], v[64];
    server_start(&s);
    ep_name(ep, sizeof ep, "replace");
    struct harness_device *d1 = device(&s, NULL, NULL, 0), *d2 = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(do_register(d1, ep, "120", loc1, sizeof loc1), 201);
    ck_assert_int_eq(do_register(d2, ep, "120", loc2, sizeof loc2), 201);
    ck_assert_str_ne(loc1, loc2);
    ck_assert_str_eq(db_value("SELECT count(*) FROM registrations WHERE endpoint = $1", ep, v,
                              sizeof v), "1");
    ck_assert_str_eq(reg_field("id", ep, v, sizeof v), loc2 + 3);
    ck_assert_int_eq(harness_device_update(d1, loc1, NULL, NULL, ANSWER_MS), 404);
    ck_assert_int_eq(harness_device_update(d2, loc2, NULL, NULL, ANSWER_MS), 204);
    harness_device_free(d1);
    harness_device_free(d2);
    server_stop(&s);
}
END_TEST

/* NoSec: an Update from a new address is accepted and moves the session. */
START_TEST(test_update_from_new_address)
{
    struct server s;
    char ep[128], loc[128], a1[96], a2[96];
    server_start(&s);
    ep_name(ep, sizeof ep, "moved");
    struct harness_device *d1 = device(&s, NULL, NULL, 0), *d2 = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(do_register(d1, ep, "120", loc, sizeof loc), 201);
    reg_field("address", ep, a1, sizeof a1);
    ck_assert_int_eq(harness_device_update(d2, loc, NULL, NULL, ANSWER_MS), 204);
    reg_field("address", ep, a2, sizeof a2);
    ck_assert_str_ne(a1, a2);
    char want[32];
    snprintf(want, sizeof want, ":%u", harness_device_local_port(d2));
    ck_assert_msg(strstr(a2, want), "address %s, device port %s", a2, want);
    harness_device_free(d1);
    harness_device_free(d2);
    server_stop(&s);
}
END_TEST

/* Whether this machine can use family (AF_INET6) at all, and its loopback
 * ::1: containers and CI machines often run with IPv6 disabled. */
static bool ipv6_socket_ok(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

static bool ipv6_loopback_ok(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* "[::]" is one dual-stack socket: IPv4 and IPv6 devices both register,
 * and an IPv4 peer is recorded as such, not as ::ffff:a.b.c.d.  Without
 * IPv6 on this machine there is nothing to test (said on stderr); without
 * ::1, the IPv4 half still is. */
START_TEST(test_dual_stack)
{
    struct server s;
    char ep4[128], ep6[128], v[96], addr[200];
    if (!ipv6_socket_ok()) {
        fprintf(stderr, "test_dual_stack: no IPv6 sockets on this machine: not tested\n");
        return;
    }
    bool v6 = ipv6_loopback_ok();
    if (!v6)
        fprintf(stderr, "test_dual_stack: ::1 is not configured here: IPv4 half only\n");
    server_start_on(&s, "[::]:0", "[::]:0");
    ck_assert_msg(strncmp(s.coap, "[::]:", 5) == 0, "%s", s.coap);
    const char *port = s.coap + 5;
    ep_name(ep4, sizeof ep4, "v4");
    ep_name(ep6, sizeof ep6, "v6");
    snprintf(addr, sizeof addr, "127.0.0.1:%s", port);
    struct harness_device_options o = { .server = addr };
    struct harness_device *d4 = harness_device_new(&o);
    ck_assert_ptr_nonnull(d4);
    ck_assert_int_eq(do_register(d4, ep4, "60", NULL, 0), 201);
    ck_assert_msg(strncmp(reg_field("address", ep4, v, sizeof v), "127.0.0.1:", 10) == 0,
                  "%s", v);
    harness_device_free(d4);
    if (v6) {
        snprintf(addr, sizeof addr, "[::1]:%s", port);
        struct harness_device *d6 = harness_device_new(&o);
        ck_assert_ptr_nonnull(d6);
        ck_assert_int_eq(do_register(d6, ep6, "60", NULL, 0), 201);
        ck_assert_msg(strncmp(reg_field("address", ep6, v, sizeof v), "[::1]:", 6) == 0,
                      "%s", v);
        harness_device_free(d6);
    }
    server_stop(&s);
}
END_TEST

START_TEST(test_lifetime_expiry)
{
    struct server s;
    char ep[128], loc[128], v[256];
    server_start(&s);
    ep_name(ep, sizeof ep, "expiry");
    struct harness_device *d = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(do_register(d, ep, "1", loc, sizeof loc), 201);
    /* lifetime 1 s + grace 2 s: gone well within 10 s. */
    ck_assert_msg(reg_gone_within(ep, 10000), "registration did not expire");
    ck_assert_str_eq(db_value("SELECT detail->>'reason' FROM events WHERE endpoint = $1 AND "
                              "kind = 'deregistration'", ep, v, sizeof v), "expired");
    ck_assert(harness_proc_wait_line(s.p, "event=expired endpoint=", 5000, NULL, 0));
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 404);
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

START_TEST(test_restart_keeps_registrations)
{
    struct server s;
    char ep[128], ep2[128], loc[128], loc2[128], v[64];
    server_start(&s);
    ep_name(ep, sizeof ep, "restart");
    ep_name(ep2, sizeof ep2, "restart-exp");
    struct harness_device *d = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(do_register(d, ep, "300", loc, sizeof loc), 201);
    ck_assert_int_eq(do_register(d, ep2, "3", loc2, sizeof loc2), 201);
    harness_device_free(d);
    server_stop(&s);
    ck_assert_str_eq(reg_field("id", ep, v, sizeof v), loc + 3);

    server_start(&s);
    char *log = harness_proc_stderr(s.p);
    ck_assert_msg(strstr(log, "event=registrations_loaded count=") &&
                  !strstr(log, "event=registrations_loaded count=0 "), "%s", log);
    free(log);
    d = device(&s, NULL, NULL, 0);     /* the device comes back from a new port */
    const char *q[] = { "lt=301", NULL };
    ck_assert_int_eq(harness_device_update(d, loc, q, NULL, ANSWER_MS), 204);
    ck_assert_str_eq(reg_field("lifetime_s", ep, v, sizeof v), "301");
    /* Lifetimes run on across the restart. */
    ck_assert_msg(reg_gone_within(ep2, 10000), "loaded registration did not expire");
    ck_assert_int_eq(harness_device_deregister(d, loc, ANSWER_MS), 202);
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

/* A CoAP ping from a fresh socket, answered (RST) once the server's loop
 * ran after everything sent to it before: a barrier. */
static void coap_barrier(const struct server *s)
{
    int fd = raw_socket_to(s->coap);
    const uint8_t ping[4] = { 0x40, 0x00, 0x7b, 0x01 };
    ck_assert_int_eq(send(fd, ping, sizeof ping, 0), (ssize_t)sizeof ping);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    uint8_t m[64];
    ck_assert_int_eq(poll(&p, 1, ANSWER_MS), 1);
    ck_assert_int_ge(recv(fd, m, sizeof m, 0), 4);
    ck_assert_int_eq((m[0] >> 4) & 3, 3);       /* RST */
    close(fd);
}

/* A DTLS session closed (close_notify) while its Register waits for the
 * commit (held back by a lock): the commit is stored, the answer is not
 * sent -- nothing at all goes to the device's address (sending on the
 * dead session would start a DTLS handshake towards it) -- and the server
 * goes on serving. */
START_TEST(test_psk_closed_while_pending)
{
    struct server s;
    char ep[128], ident[128], loc[128], v[128], re[300];
    ep_name(ep, sizeof ep, "psk-gone");
    ep_name(ident, sizeof ident, "id-gone");
    add_psk(ep, ident, "gone-key-0123456789");
    server_start(&s);
    PGconn *lock = PQconnectdb(harness_pg_uri());
    ck_assert_int_eq(PQstatus(lock), CONNECTION_OK);
    PGresult *r = PQexec(lock, "BEGIN; LOCK TABLE registrations IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    struct harness_device *d = device(&s, ident, "gone-key-0123456789", 0);
    char q_ep[300];
    snprintf(q_ep, sizeof q_ep, "ep=%s", ep);
    const char *q[] = { q_ep, "lt=120", "lwm2m=1.1", "b=U", NULL };
    ck_assert_int_eq(harness_device_register(d, q, LINKS, 1500, loc, sizeof loc), -1);
    uint16_t port = harness_device_local_port(d);
    ck_assert_uint_gt(port, 0);
    harness_device_free(d);        /* close_notify */
    int trap = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(trap, (struct sockaddr *)&sa, sizeof sa), 0);
    coap_barrier(&s);              /* the close_notify was handled */
    uint8_t m[1500];
    while (recv(trap, m, sizeof m, MSG_DONTWAIT) > 0)
        ;                          /* the close's own alerts, if any */

    r = PQexec(lock, "COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(lock);
    snprintf(re, sizeof re, "event=registered endpoint=%s ", ep);
    ck_assert_msg(harness_proc_wait_line(s.p, re, ANSWER_MS, NULL, 0), "not registered:\n%s",
                  harness_proc_stderr(s.p));
    ck_assert_str_eq(reg_field("security", ep, v, sizeof v), "psk");
    coap_barrier(&s);              /* the completion was handled */
    struct pollfd p = { .fd = trap, .events = POLLIN };
    ssize_t n = poll(&p, 1, 1000) == 1 ? recv(trap, m, sizeof m, 0) : 0;
    ck_assert_msg(n == 0, "the server sent %zd bytes (first %u) to the closed session's address",
                  n, n > 0 ? m[0] : 0u);
    close(trap);

    d = device(&s, ident, "gone-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

START_TEST(test_psk)
{
    struct server s;
    char ep[128], other[128], ident[128], ident2[128], loc[128], v[128];
    ep_name(ep, sizeof ep, "psk");
    ep_name(other, sizeof other, "psk-other");
    ep_name(ident, sizeof ident, "id-psk");
    ep_name(ident2, sizeof ident2, "id-late");
    add_psk(ep, ident, "right-key-0123456789");
    server_start(&s);

    struct harness_device *d = device(&s, ident, "right-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    ck_assert_str_eq(reg_field("security", ep, v, sizeof v), "psk");
    ck_assert_str_eq(reg_field("identity", ep, v, sizeof v), ident);
    const char *uq[] = { "lt=200", NULL };
    ck_assert_int_eq(harness_device_update(d, loc, uq, NULL, ANSWER_MS), 204);
    /* The identity is bound to its endpoint. */
    ck_assert_int_eq(do_register(d, other, "120", NULL, 0), 403);
    ck_assert_str_eq(reg_field("id", other, v, sizeof v), "");
    harness_device_free(d);

    /* A NoSec device can neither update the PSK registration nor take
     * over the endpoint name. */
    d = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 404);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), 403);
    ck_assert_str_eq(reg_field("id", ep, v, sizeof v), loc + 3);
    harness_device_free(d);

    d = device(&s, ident, "wrong-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    harness_device_free(d);

    char unknown[128];
    ep_name(unknown, sizeof unknown, "id-unknown");
    d = device(&s, unknown, "whatever-key", 0);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    ck_assert(harness_device_dtls_failed(d));
    harness_device_free(d);
    ck_assert(harness_proc_wait_line(s.p, "event=dtls_refused", 5000, NULL, 0));

    /* A credential added while the server runs is usable after the NOTIFY
     * reaches it (the watcher reloads): retry with a deadline. */
    add_psk(other, ident2, "late-key-0123456789");
    int code = -1;
    int64_t deadline = harness_now_ms() + 10000;
    while (code != 201 && harness_now_ms() < deadline) {
        d = device(&s, ident2, "late-key-0123456789", 0);
        code = do_register(d, other, "120", NULL, 0);
        harness_device_free(d);
    }
    ck_assert_int_eq(code, 201);
    server_stop(&s);
}
END_TEST

/* ---- /metrics ---- */

/* GET /metrics from s's HTTP listener (its address from the log); the
 * caller frees the body. */
static char *scrape(const struct server *s)
{
    char *log = harness_proc_stderr(s->p), addr[96], url[160];
    const char *line = strstr(log, "event=listening proto=http addr=");
    ck_assert_ptr_nonnull(line);
    ck_assert(harness_log_field(line, "addr", addr, sizeof addr));
    free(log);
    snprintf(url, sizeof url, "http://%s/metrics", addr);
    struct harness_http_response r;
    ck_assert_int_eq(harness_http_request("GET", url, NULL, NULL, 0, ANSWER_MS, &r), 200);
    char *body = r.body;
    r.body = NULL;
    harness_http_response_free(&r);
    return body;
}

/* The value of one series ("name" or "name{label=\"v\"}"); -1 when absent. */
static double series(const char *body, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = body; (p = strstr(p, name)); p += n)
        if ((p == body || p[-1] == '\n') && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

/* Registration, answer and handshake counters move with real traffic on
 * a fresh server: exact where the test knows the number. */
START_TEST(test_metrics)
{
    struct server s;
    char ep[128], ident[128], loc[128];
    ep_name(ep, sizeof ep, "metrics");
    ep_name(ident, sizeof ident, "id-metrics");
    add_psk(ep, ident, "metrics-key-0123456789");
    server_start(&s);
    char *m = scrape(&s);
    ck_assert_msg(series(m, "lodestar_coap_requests_total{code=\"2.01\"}") == 0, "%s", m);
    ck_assert(series(m, "lodestar_dtls_handshakes_total{result=\"ok\"}") == 0);
    free(m);

    struct harness_device *d = device(&s, ident, "metrics-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 204);
    harness_device_free(d);
    d = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(harness_device_update(d, "/rd/nonexistent", NULL, NULL, ANSWER_MS), 404);
    harness_device_free(d);
    /* A wrong key fails at Finished with no libcoap event at all. */
    d = device(&s, ident, "wrong-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    harness_device_free(d);

    m = scrape(&s);
    ck_assert_msg(series(m, "lodestar_registrations_total") == 1, "%s", m);
    ck_assert(series(m, "lodestar_updates_total") == 1);
    ck_assert(series(m, "lodestar_registrations_current") >= 1);   /* + rows loaded */
    ck_assert(series(m, "lodestar_coap_requests_total{code=\"2.01\"}") == 1);
    ck_assert(series(m, "lodestar_coap_requests_total{code=\"2.04\"}") == 1);
    ck_assert(series(m, "lodestar_coap_requests_total{code=\"4.04\"}") == 1);
    ck_assert(series(m, "lodestar_coap_requests_total{code=\"4.03\"}") == 0);
    ck_assert(series(m, "lodestar_coap_requests_by_class_total{class=\"2xx\"}") == 2);
    ck_assert(series(m, "lodestar_coap_requests_by_class_total{class=\"4xx\"}") == 1);
    ck_assert(series(m, "lodestar_dtls_handshakes_total{result=\"ok\"}") == 1);
    ck_assert_msg(series(m, "lodestar_dtls_handshakes_total{result=\"failed\"}") >= 1,
                  "%s", m);
    ck_assert(series(m, "lodestar_store_batches_total") >= 1);
    ck_assert(series(m, "lodestar_store_operations_total") == 2);
    ck_assert(series(m, "lodestar_store_batch_size_count") >= 1);
    ck_assert(series(m, "lodestar_store_commit_seconds_count") >= 1);
    ck_assert(series(m, "lodestar_store_commit_seconds_sum") > 0);
    ck_assert(series(m, "lodestar_store_last_batch_size") >= 1);
    free(m);
    server_stop(&s);
}
END_TEST

/* A credential committed without telling the daemons (triggers off for the
 * inserting session: no NOTIFY, so the watcher never reads it): what a
 * device sees when it registers before the watcher's delta arrives. */
static void add_psk_unannounced(const char *endpoint, const char *identity, const char *key)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    uint8_t blob[256];
    char ad[300], key_id[24];
    ck_assert_int_eq(store_secret_key_from_hex(KEY_HEX, &k, &err), LS_OK);
    snprintf(ad, sizeof ad, "credential:%s", identity);
    ck_assert_int_eq(store_secret_seal(&k, (const uint8_t *)key, strlen(key), ad, blob, &err),
                     LS_OK);
    snprintf(key_id, sizeof key_id, "%u", (unsigned)k.id);
    PGconn *c = PQconnectdb(harness_pg_uri());
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    PQclear(PQexec(c, "SET session_replication_role = replica"));
    const char *v[] = { endpoint, identity, (const char *)blob, key_id };
    int len[] = { 0, 0, (int)(strlen(key) + STORE_SECRET_OVERHEAD), 0 };
    int fmt[] = { 0, 0, 1, 0 };
    PGresult *r = PQexecParams(c, "INSERT INTO endpoints (name) VALUES ($1)"
                               " ON CONFLICT (name) DO NOTHING", 1, NULL, v, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQexecParams(c, "INSERT INTO credentials (endpoint, scope, mode, identity, secret,"
                     " key_id, state, activated_at) VALUES ($1, 'server', 'psk', $2, $3,"
                     " $4::bigint, 'active', now())", 4, NULL, v, len, fmt, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The credential cache is behind a commit by the watcher's delay; a
 * handshake inside that window is looked up in Postgres instead of being
 * refused (server/credlookup.h); an unknown identity is still refused. */
START_TEST(test_psk_before_watcher)
{
    struct server s;
    char ep[128], ident[128], unknown[128];
    ep_name(ep, sizeof ep, "quiet");
    ep_name(ident, sizeof ident, "id-quiet");
    ep_name(unknown, sizeof unknown, "id-nobody");
    server_start(&s);
    add_psk_unannounced(ep, ident, "quiet-key-0123456789");

    /* An identity that is not UTF-8 is refused, and does not stop the
     * lookups of the devices after it. */
    struct harness_device *d = device(&s, "bad-\xc3\x28-identity", "whatever-key", 0);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    harness_device_free(d);
    d = device(&s, ident, "quiet-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), 201);
    harness_device_free(d);
    d = device(&s, unknown, "whatever-key", 0);
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    harness_device_free(d);
    char *m = scrape(&s);
    ck_assert_msg(series(m, "lodestar_dtls_psk_lookups_total{result=\"found\"}") == 1, "%s", m);
    ck_assert_msg(series(m, "lodestar_dtls_psk_lookups_total{result=\"not_found\"}") == 2,
                  "%s", strstr(m, "lodestar_dtls_psk_lookups_total{"));
    ck_assert(series(m, "lodestar_dtls_psk_lookups_total{result=\"failed\"}") == 0);
    ck_assert(series(m, "lodestar_dtls_psk_refused_total") == 2);
    free(m);
    server_stop(&s);
}
END_TEST

/* A device that reboots and handshakes again from the same address and
 * port, without a close_notify (LIBCOAP.md section 3). */
START_TEST(test_psk_reboot_same_port)
{
    struct server s;
    char ep[128], ident[128], loc[128], loc2[128];
    ep_name(ep, sizeof ep, "reboot");
    ep_name(ident, sizeof ident, "id-reboot");
    add_psk(ep, ident, "reboot-key-0123456789");
    server_start(&s);
    struct harness_device *d = device(&s, ident, "reboot-key-0123456789", 0);
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    uint16_t port = harness_device_local_port(d);
    ck_assert_uint_gt(port, 0);
    harness_device_crash(d);

    d = device(&s, ident, "reboot-key-0123456789", port);
    int64_t t0 = harness_now_ms();
    int code = do_register(d, ep, "120", loc2, sizeof loc2);
    /* The client's DTLS retransmits its ClientHello (1 s, 2 s, 4 s...);
     * keep waiting on the same request up to 30 s. */
    if (code < 0)
        code = harness_device_wait(d, 30000 - ANSWER_MS, loc2, sizeof loc2);
    ck_assert_msg(code == 201, "re-registration after reboot: %d after %lld ms", code,
                  (long long)(harness_now_ms() - t0));
    fprintf(stderr, "reboot: re-registered after %lld ms\n", (long long)(harness_now_ms() - t0));
    harness_device_free(d);
    server_stop(&s);
}
END_TEST

START_TEST(test_database_restart)
{
    if (!getenv("LODESTAR_TEST_PGCTL_CMD")) {
        fprintf(stderr, "LODESTAR_TEST_PGCTL_CMD unset: database restart not tested\n");
        return;
    }
    struct server s;
    char ep[128], ep2[128], loc[128], v[64];
    server_start(&s);
    ep_name(ep, sizeof ep, "pgdown");
    ep_name(ep2, sizeof ep2, "pgdown2");
    struct harness_device *d = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(harness_pg_ctl("stop -m fast -w"), 0);
    /* The first change after the stop is held by the store worker (2 s)
     * before its 5.03.  Its ACK waits for the answer only a second
     * (server/parked.h): the empty ACK comes before the device's first
     * retransmission (ACK_TIMEOUT 2 s), the 5.03 as a separate response. */
    uint8_t dgram[256];
    char epq[160];
    struct harness_raw_answer a;
    snprintf(epq, sizeof epq, "ep=held-%.24s", run_tag);
    size_t n = raw_register(dgram, epq, 4242);
    ck_assert_int_eq(harness_raw_exchange(-1, s.coap, dgram, n, ANSWER_MS, &a), 503);
    ck_assert(a.separate);
    ck_assert_msg(a.ack_ms >= 900 && a.ack_ms < 2000, "empty ACK after %lld ms",
                  (long long)a.ack_ms);
    /* No 2.01 without durability: while the database is away the request
     * is acknowledged, held a moment (the store worker's hold, 2 s), then
     * answered 5.03 (issue 10.3: never silence; tests/integration/
     * test_faults.c checks Max-Age and the load). */
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 503);
    char args[4200];
    snprintf(args, sizeof args, "start -w -l %s", harness_pg_logfile());
    ck_assert_int_eq(harness_pg_ctl(args), 0);
    /* The device tries again, as Max-Age tells it; back within seconds. */
    int code = -1;
    for (int64_t until = harness_now_ms() + 30000; code != 201 && harness_now_ms() < until;) {
        code = do_register(d, ep, "120", loc, sizeof loc);
        if (code != 201)
            harness_sleep_ms(200);   /* retry interval */
    }
    ck_assert_int_eq(code, 201);
    ck_assert_str_eq(reg_field("id", ep, v, sizeof v), loc + 3);
    /* And registrations go on as usual. */
    struct harness_device *d2 = device(&s, NULL, NULL, 0);
    ck_assert_int_eq(do_register(d2, ep2, "120", NULL, 0), 201);
    harness_device_free(d);
    harness_device_free(d2);
    server_stop(&s);
}
END_TEST


/* ---- X.509 ---- */

static char pki_dir[256];

/* Runs "openssl <args>" in pki_dir; asserts it worked. */
static void openssl(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && openssl %s >/dev/null 2>&1", pki_dir, args);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* name.key + name.pem with subject CN=cn, signed by ca (NULL: self-signed). */
static void make_cert(const char *name, const char *cn, const char *ca)
{
    char arg[1024];
    snprintf(arg, sizeof arg, "ecparam -name prime256v1 -genkey -noout -out %s.key", name);
    openssl(arg);
    if (!ca) {
        snprintf(arg, sizeof arg, "req -x509 -new -key %s.key -subj /CN=%s -days 2 -out %s.pem",
                 name, cn, name);
        openssl(arg);
        return;
    }
    snprintf(arg, sizeof arg, "req -new -key %s.key -subj /CN=%s -out %s.csr", name, cn, name);
    openssl(arg);
    snprintf(arg, sizeof arg, "x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial "
             "-days 2 -out %s.pem", name, ca, ca, name);
    openssl(arg);
}

static struct harness_device *x509_device(const struct server *s, const char *name,
                                          const char *ca)
{
    char cert[300], key[300], cafile[300];
    snprintf(cert, sizeof cert, "%s/%s.pem", pki_dir, name);
    snprintf(key, sizeof key, "%s/%s.key", pki_dir, name);
    snprintf(cafile, sizeof cafile, "%s/%s.pem", pki_dir, ca);
    struct harness_device_options o = {
        .server = s->coaps, .cert_file = cert, .key_file = key, .ca_file = cafile,
    };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

START_TEST(test_x509)
{
    char ep[128], loc[128], v[128], tmpl[] = "/tmp/lodestar-pki.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(pki_dir, sizeof pki_dir, "%s", tmpl);
    ep_name(ep, sizeof ep, "x509");
    make_cert("ca", "lodestar-test-ca", NULL);
    make_cert("other-ca", "someone-else", NULL);
    make_cert("server", "localhost", "ca");
    make_cert("device", ep, "ca");
    make_cert("foreign", ep, "other-ca");

    char cert[300], key[300], cafile[300];
    snprintf(cert, sizeof cert, "%s/server.pem", pki_dir);
    snprintf(key, sizeof key, "%s/server.key", pki_dir);
    snprintf(cafile, sizeof cafile, "%s/ca.pem", pki_dir);
    const char *extra[] = { "--dtls-cert", cert, "--dtls-key", key, "--ca-file", cafile, NULL };
    struct server s;
    server_start_args(&s, "127.0.0.1:0", "127.0.0.1:0", extra);

    /* The certificate's CN is the endpoint name: 2.01, security x509. */
    struct harness_device *d = x509_device(&s, "device", "ca");
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    ck_assert_str_eq(reg_field("security", ep, v, sizeof v), "x509");
    /* The identity names the certificate (issue 7): "sha256:" + 16 bytes
     * of the hash of its DER. */
    openssl("x509 -in device.pem -outform DER -out device.der");
    char der_path[300], want_id[64] = "sha256:";
    uint8_t der[4096], md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    snprintf(der_path, sizeof der_path, "%s/device.der", pki_dir);
    FILE *df = fopen(der_path, "rb");
    ck_assert_ptr_nonnull(df);
    size_t der_len = fread(der, 1, sizeof der, df);
    fclose(df);
    ck_assert(EVP_Digest(der, der_len, md, &md_len, EVP_sha256(), NULL));
    for (size_t i = 0; i < 16; i++)
        snprintf(want_id + 7 + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(reg_field("identity", ep, v, sizeof v), want_id);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 204);
    /* Another endpoint name than the CN: 4.00. */
    char other[160];
    snprintf(other, sizeof other, "%s-not-me", ep);
    ck_assert_int_eq(do_register(d, other, "120", NULL, 0), 400);
    harness_device_free(d);

    /* A certificate from a CA the server does not trust: no handshake. */
    d = x509_device(&s, "foreign", "ca");
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    harness_device_free(d);

    /* PSK devices share the DTLS endpoint with X.509 ones. */
    char pep[128], pid[128];
    ep_name(pep, sizeof pep, "x509-psk");
    ep_name(pid, sizeof pid, "id-x509-psk");
    add_psk(pep, pid, "psk-beside-x509");
    int code = -1;
    int64_t deadline = harness_now_ms() + 10000;    /* until the NOTIFY reloads */
    while (code != 201 && harness_now_ms() < deadline) {
        d = device(&s, pid, "psk-beside-x509", 0);
        code = do_register(d, pep, "120", NULL, 0);
        harness_device_free(d);
    }
    ck_assert_int_eq(code, 201);
    ck_assert_str_eq(reg_field("security", pep, v, sizeof v), "psk");

    ck_assert_int_eq(harness_proc_stop(s.p, STOP_MS), 0);
    harness_proc_free(s.p);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", pki_dir);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* ---- RPK ---- */

static long read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void add_rpk(const char *endpoint, const uint8_t *spki, size_t len)
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(KEY_HEX, &k, &err), LS_OK);
    struct store *s = store_open(harness_pg_uri(), &err);
    ck_assert_ptr_nonnull(s);
    struct store_credential c = {
        .endpoint = endpoint, .scope = "server", .mode = "rpk", .public_key = spki,
        .public_key_len = len, .state = "active",
    };
    ck_assert_msg(store_credentials_insert(s, &k, &c, NULL, &err) == LS_OK, "insert: %s %s",
                  err.msg, err.detail);
    store_close(s);
}

static struct harness_device *rpk_device(const struct server *s, const char *name)
{
    char key[300];
    snprintf(key, sizeof key, "%s/%s.key", pki_dir, name);
    struct harness_device_options o = { .server = s->coaps, .rpk_key_file = key };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    return d;
}

START_TEST(test_rpk)
{
    char ep[128], other[160], loc[128], v[128], arg[512], tmpl[] = "/tmp/lodestar-rpk.XXXXXX";
    uint8_t spki[1024];
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(pki_dir, sizeof pki_dir, "%s", tmpl);
    ep_name(ep, sizeof ep, "rpk");
    snprintf(other, sizeof other, "%s-other", ep);
    const char *names[] = { "server", "device", "foreign" };
    for (size_t i = 0; i < 3; i++) {
        snprintf(arg, sizeof arg, "ecparam -name prime256v1 -genkey -noout -out %s.key",
                 names[i]);
        openssl(arg);
    }
    openssl("ec -in device.key -pubout -outform DER -out device.spki");
    char path[300];
    snprintf(path, sizeof path, "%s/device.spki", pki_dir);
    long n = read_file(path, spki, sizeof spki);
    ck_assert_int_gt(n, 0);
    add_rpk(ep, spki, (size_t)n);
    add_rpk(other, (const uint8_t *)"\x30\x03\x01\x02\x03", 5);   /* someone else's */

    char key[300];
    snprintf(key, sizeof key, "%s/server.key", pki_dir);
    const char *extra[] = { "--dtls-key", key, NULL };
    struct server s;
    server_start_args(&s, "127.0.0.1:0", "127.0.0.1:0", extra);

    struct harness_device *d = rpk_device(&s, "device");
    ck_assert_int_eq(do_register(d, ep, "120", loc, sizeof loc), 201);
    ck_assert_str_eq(reg_field("security", ep, v, sizeof v), "rpk");
    /* The identity names the key: "sha256:" + 16 bytes of its hash. */
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    char want[64] = "sha256:";
    ck_assert(EVP_Digest(spki, (size_t)n, md, &md_len, EVP_sha256(), NULL));
    for (size_t i = 0; i < 16; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(reg_field("identity", ep, v, sizeof v), want);
    ck_assert_int_eq(harness_device_update(d, loc, NULL, NULL, ANSWER_MS), 204);
    /* The key is bound to its endpoint. */
    ck_assert_int_eq(do_register(d, other, "120", NULL, 0), 403);
    harness_device_free(d);

    /* A key the server does not hold: handshake refused. */
    d = rpk_device(&s, "foreign");
    ck_assert_int_eq(do_register(d, ep, "120", NULL, 0), -1);
    harness_device_free(d);
    ck_assert(harness_proc_wait_line(s.p, "unknown raw public key", 5000, NULL, 0));

    ck_assert_int_eq(harness_proc_stop(s.p, STOP_MS), 0);
    harness_proc_free(s.p);
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", pki_dir);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("integration_registration");
    TCase *tc = tcase_create("registration");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_register_update_deregister);
    tcase_add_loop_test(tc, test_register_params, 0, sizeof reg_cases / sizeof reg_cases[0]);
    tcase_add_loop_test(tc, test_update_params, 0, sizeof upd_cases / sizeof upd_cases[0]);
    tcase_add_loop_test(tc, test_capture_replay, 0,
                        sizeof capture_cases / sizeof capture_cases[0]);
    tcase_add_test(tc, test_duplicate_register);
    tcase_add_test(tc, test_retransmitted_while_pending);
    tcase_add_test(tc, test_sessions_not_held);
    tcase_add_test(tc, test_register_replaces);
    tcase_add_test(tc, test_update_from_new_address);
    tcase_add_test(tc, test_dual_stack);
    tcase_add_test(tc, test_lifetime_expiry);
    tcase_add_test(tc, test_restart_keeps_registrations);
    suite_add_tcase(s, tc);
    tc = tcase_create("dtls");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_psk);
    tcase_add_test(tc, test_psk_closed_while_pending);
    tcase_add_test(tc, test_psk_reboot_same_port);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_psk_before_watcher);
    tcase_add_test(tc, test_x509);
    tcase_add_test(tc, test_rpk);
    suite_add_tcase(s, tc);
    tc = tcase_create("database");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_database_restart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(db_env, sizeof db_env, "LODESTAR_DB=%s", harness_pg_uri());
    snprintf(run_tag, sizeof run_tag, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
    int failed = harness_run_suite(suite());
    return failed ? 1 : 0;
}
