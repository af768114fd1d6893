/*
 * tests/integration/test_faults.c -- faults with nothing acknowledged lost
 * (issue 10.3): lodestar-server killed -9 in a registration storm,
 * PostgreSQL restarted under load, PostgreSQL slow (a held lock),
 * lodestar-bootstrap killed mid-session
 *
 * The daemons and lodestar-sim run as processes against a fresh database
 * on the test cluster (LODESTAR_TEST_PGURI; exit 77 without it).  What a
 * client saw acknowledged comes from the simulator's --ack-log (one line
 * per 2.01 / 2.04, flushed as it arrives, so a kill loses none of them);
 * one SQL statement compares it with the rows (ACK_SQL).  Probes are raw
 * CoAP datagrams (probe_register, probe_ping) so that the test sees the
 * code and Max-Age of every answer, and silence as silence.
 *
 * Sizes: FAULT_CLIENTS (default 2 000) clients in the kill test; the soak
 * (scripts/soak.sh) runs the same binary with 20 000.  The database restart
 * test needs LODESTAR_TEST_PGCTL_CMD (skipped without).  Figures go to
 * stderr as "figure: ..." lines.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_db.h"
#include "harness_server.h"
#include "lwm2m_device.h"

#define START_MS 20000
#define STOP_MS 15000
#define SIM_WAIT_MS 60000
#define RECOVER_MS 5000        /* issue 10.3: back within 5 s of the database */
#define MAX_AGE_S 5            /* server/registration.c RETRY_AFTER_S */

static char run_tag[16];

static const char *bin(const char *var)
{
    const char *p = getenv(var);
    ck_assert_msg(p && *p, "%s is not set (run through meson test)", var);
    return p;
}

static long env_long(const char *var, long def)
{
    const char *v = getenv(var);
    return v && *v ? strtol(v, NULL, 10) : def;
}

/* ---- raw CoAP probes --------------------------------------------------------- */

struct probe_answer {
    int code;               /* class*100+detail; -1: silence until the deadline */
    int max_age;            /* Max-Age option, -1 when absent */
    bool separate;          /* came as a separate (CON) response */
    char location[64];      /* "rd/<id>" of a 2.01 */
};

static int udp_to(const char *hostport)
{
    char host[64];
    unsigned port = 0;
    ck_assert_int_eq(sscanf(hostport, "%63[0-9.]:%u", host, &port), 2);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    ck_assert_int_eq(inet_pton(AF_INET, host, &a.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* One option (delta and length up to 268 each). */
static size_t put_option(uint8_t *p, unsigned delta, const void *v, size_t len)
{
    size_t n = 1;
    unsigned d = delta < 13 ? delta : 13, l = len < 13 ? (unsigned)len : 13;
    p[0] = (uint8_t)(d << 4 | l);
    if (d == 13)
        p[n++] = (uint8_t)(delta - 13);
    if (l == 13)
        p[n++] = (uint8_t)(len - 13);
    memcpy(p + n, v, len);
    return n + len;
}

/* Reads the options of a message; fills max_age and location. */
static void parse_options(const uint8_t *m, size_t len, size_t at, struct probe_answer *a)
{
    unsigned number = 0;
    a->max_age = -1;
    a->location[0] = '\0';
    while (at < len && m[at] != 0xff) {
        unsigned d = m[at] >> 4, l = m[at] & 15;
        at++;
        if (d == 13)
            d = 13 + m[at++];
        else if (d == 14) {
            d = 269 + (m[at] << 8 | m[at + 1]);
            at += 2;
        }
        if (l == 13)
            l = 13 + m[at++];
        else if (l == 14) {
            l = 269 + (m[at] << 8 | m[at + 1]);
            at += 2;
        }
        if (at + l > len)
            return;
        number += d;
        if (number == 14) {
            a->max_age = 0;
            for (unsigned i = 0; i < l; i++)
                a->max_age = a->max_age << 8 | m[at + i];
        } else if (number == 8) {
            size_t n = strlen(a->location);
            snprintf(a->location + n, sizeof a->location - n, "%s%.*s", n ? "/" : "", (int)l,
                     (const char *)m + at);
        }
        at += l;
    }
}

/* Sends a CON request (msg, len) and waits for its answer, piggy-backed or
 * separate (ACKed); an RST counts as code 0. */
static struct probe_answer exchange(int fd, const uint8_t *msg, size_t len, int64_t timeout_ms)
{
    struct probe_answer a = { .code = -1, .max_age = -1 };
    uint16_t mid = (uint16_t)(msg[2] << 8 | msg[3]);
    size_t tkl = msg[0] & 15;
    int64_t deadline = harness_now_ms() + timeout_ms, resend = harness_now_ms() + 2000;
    ck_assert_int_eq(send(fd, msg, len, 0), (ssize_t)len);
    for (;;) {
        int64_t now = harness_now_ms();
        if (now >= deadline)
            return a;
        if (now >= resend) {     /* CoAP retransmission of an unanswered CON */
            ck_assert_int_eq(send(fd, msg, len, 0), (ssize_t)len);
            resend = now + 2000;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t wait = (deadline < resend ? deadline : resend) - now;
        if (poll(&p, 1, (int)wait) <= 0)
            continue;
        uint8_t m[1500];
        ssize_t n = recv(fd, m, sizeof m, 0);
        if (n < 4)
            continue;
        unsigned type = (m[0] >> 4) & 3, code = m[1];
        uint16_t rmid = (uint16_t)(m[2] << 8 | m[3]);
        if (type == 3 && rmid == mid) {          /* RST: the ping's answer */
            a.code = 0;
            return a;
        }
        if (code == 0 && type == 2 && rmid == mid) {
            resend = deadline;                    /* empty ACK: a separate answer follows */
            continue;
        }
        if ((size_t)n < 4 + (m[0] & 15u) || (m[0] & 15u) != tkl ||
            memcmp(m + 4, msg + 4, tkl) != 0)
            continue;                             /* not ours */
        if (type == 0) {                          /* separate CON answer: ACK it */
            uint8_t ack[4] = { 0x60, 0, m[2], m[3] };
            ck_assert_int_eq(send(fd, ack, 4, 0), 4);
            a.separate = true;
        }
        a.code = (int)(code >> 5) * 100 + (int)(code & 31);
        parse_options(m, (size_t)n, 4 + tkl, &a);
        return a;
    }
}

/* POST /rd?ep=<ep>&lt=300&lwm2m=1.1 with </1/0>,</3/0> over plain UDP. */
static struct probe_answer probe_register(const char *server, const char *ep, int64_t timeout_ms)
{
    uint8_t m[512];
    size_t n = 0;
    uint16_t mid = (uint16_t)random();
    uint32_t tok = (uint32_t)random();
    m[n++] = 0x44;                       /* ver 1, CON, TKL 4 */
    m[n++] = 0x02;                       /* POST */
    m[n++] = (uint8_t)(mid >> 8);
    m[n++] = (uint8_t)mid;
    memcpy(m + n, &tok, 4);
    n += 4;
    char q[160];
    n += put_option(m + n, 11, "rd", 2);                 /* Uri-Path */
    uint8_t cf = 40;
    n += put_option(m + n, 1, &cf, 1);                   /* Content-Format 40 */
    snprintf(q, sizeof q, "ep=%s", ep);
    n += put_option(m + n, 3, q, strlen(q));             /* Uri-Query */
    n += put_option(m + n, 0, "lt=300", 6);
    n += put_option(m + n, 0, "lwm2m=1.1", 9);
    static const char links[] = "</1/0>,</3/0>";
    m[n++] = 0xff;
    memcpy(m + n, links, sizeof links - 1);
    n += sizeof links - 1;
    int fd = udp_to(server);
    struct probe_answer a = exchange(fd, m, n, timeout_ms);
    close(fd);
    return a;
}

/* A CoAP ping (empty CON): the answer is an RST from libcoap's I/O, so it
 * shows the CoAP thread is alive.  Returns the round-trip in ms or -1. */
static int64_t probe_ping(const char *server, int64_t timeout_ms)
{
    uint16_t mid = (uint16_t)random();
    uint8_t m[4] = { 0x40, 0, (uint8_t)(mid >> 8), (uint8_t)mid };
    int fd = udp_to(server);
    int64_t t0 = harness_now_ms();
    struct probe_answer a = exchange(fd, m, 4, timeout_ms);
    close(fd);
    return a.code == 0 ? harness_now_ms() - t0 : -1;
}

/* ---- daemons and the simulator ----------------------------------------------- */

struct env {
    struct harness_server s;
    struct harness_proc *bs;      /* lodestar-bootstrap, when started */
    char bs_coap[96];
    char prefix[24];              /* the simulator's endpoint names */
    char ack_path[256];           /* its --ack-log */
};

/* coap: the server's --coap (NULL: 127.0.0.1:0). */
static void env_start(struct env *e, const char *const *server_env, const char *coap)
{
    memset(e, 0, sizeof *e);
    struct harness_server_options o = { .db_prefix = "faults", .migrate = true,
                                        .who = "test_faults", .stop_ms = STOP_MS,
                                        .env = server_env, .coap = coap };
    harness_server_start(&e->s, &o);
    char hex[9];
    harness_server_random_hex(hex, 4);
    snprintf(e->prefix, sizeof e->prefix, "f%s", hex);
    snprintf(e->ack_path, sizeof e->ack_path, "/tmp/lodestar-faults-%s.ack", hex);
    unlink(e->ack_path);
}

static void bootstrap_spawn(struct env *e, const char *coap)
{
    char *argv[] = { "lodestar-bootstrap", "--coap", (char *)coap, "--coaps", "127.0.0.1:0",
                     NULL };
    char *envv[] = { "LODESTAR_MASTER_KEY=" HARNESS_SERVER_KEY_HEX, e->s.db_env, NULL };
    e->bs = harness_proc_spawn("bootstrap", bin("LODESTAR_BOOTSTRAP_BIN"), argv, envv);
    ck_assert_ptr_nonnull(e->bs);
    harness_wait_listening(e->bs, "coap", START_MS, e->bs_coap, sizeof e->bs_coap);
    ck_assert_msg(harness_proc_wait_line(e->bs, "event=started ", START_MS, NULL, 0),
                  "lodestar-bootstrap did not start:\n%s", harness_proc_stderr(e->bs));
}

static void env_stop(struct env *e)
{
    if (e->bs) {
        ck_assert_int_eq(harness_proc_stop_dump(e->bs, "bootstrap", STOP_MS), 0);
        harness_proc_free(e->bs);
    }
    harness_server_stop(&e->s);
    unlink(e->ack_path);
}

static void api_put(const struct env *e, const char *path, const char *body, int want)
{
    char url[512], auth[128];
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s%s", e->s.base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", e->s.admin);
    const char *headers[] = { auth, "Content-Type: application/json", NULL };
    int st = harness_http_request("PUT", url, headers, body, strlen(body), 30000, &r);
    ck_assert_msg(st == want, "PUT %s: %d: %s", path, st, r.body ? r.body : "");
    harness_http_response_free(&r);
}

/* The value of a Prometheus series (exact name with labels), or -1. */
static double metric(const struct env *e, const char *series)
{
    char url[256];
    struct harness_http_response r;
    snprintf(url, sizeof url, "%s/metrics", e->s.base);
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", e->s.admin);
    const char *headers[] = { auth, NULL };
    ck_assert_int_eq(harness_http_request("GET", url, headers, NULL, 0, 10000, &r), 200);
    double v = -1;
    size_t len = strlen(series);
    for (const char *l = r.body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        if (strncmp(l, series, len) == 0 && l[len] == ' ') {
            v = strtod(l + len + 1, NULL);
            break;
        }
    }
    harness_http_response_free(&r);
    return v;
}

/* lodestar-sim against the server's CoAP port with the env's prefix and
 * ack log, plus extra flags (NULL terminated). */
static struct harness_proc *sim_spawn(const struct env *e, const char *const *extra)
{
    char server[160];
    snprintf(server, sizeof server, "coap://%s", e->s.coap);
    char *argv[40] = { "lodestar-sim", "--server", server, "--prefix", (char *)e->prefix,
                       "--ack-log", (char *)e->ack_path, "--json", "--quiet" };
    size_t n = 9;
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_uint_lt(n, 38);
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    struct harness_proc *p = harness_proc_spawn("sim", bin("LODESTAR_SIM_BIN"), argv, NULL);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Lines of the ack log that start with kind ("register", "send"). */
static long ack_lines(const struct env *e, const char *kind)
{
    FILE *f = fopen(e->ack_path, "r");
    if (!f)
        return 0;
    char line[256];
    long n = 0;
    size_t k = strlen(kind);
    while (fgets(line, sizeof line, f))
        n += strncmp(line, kind, k) == 0 && line[k] == ' ';
    fclose(f);
    return n;
}

/* Polls until the ack log has at least regs registrations and sends Sends. */
static bool await_acks(const struct env *e, long regs, long sends, int64_t timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < deadline) {
        if (ack_lines(e, "register") >= regs && ack_lines(e, "send") >= sends)
            return true;
        harness_sleep_ms(50);     /* poll interval */
    }
    return false;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return buf;
}

/*
 * The ack log ($1) against the database: per endpoint its last
 * acknowledged registration must be the row it has, and the values of its
 * acknowledged Sends must be telemetry rows (source 'send'; at least as
 * many: a Send retried after a lost answer may be stored twice).
 * Answers "acked_regs missing_regs acked_values stored_values short_eps".
 */
static const char ACK_SQL[] =
    "WITH a AS (SELECT split_part(l, ' ', 1) AS k, split_part(l, ' ', 2) AS ep,"
    " split_part(l, ' ', 3) AS v, n"
    " FROM regexp_split_to_table($1, E'\\n') WITH ORDINALITY AS t(l, n) WHERE l <> ''),"
    " reg AS (SELECT DISTINCT ON (ep) ep, v FROM a WHERE k = 'register' ORDER BY ep, n DESC),"
    " snd AS (SELECT ep, sum(v::int) AS acked FROM a WHERE k = 'send' GROUP BY ep),"
    " st AS (SELECT snd.ep, snd.acked, (SELECT count(*) FROM telemetry t"
    " WHERE t.endpoint = snd.ep AND t.source = 'send') AS stored FROM snd)"
    " SELECT (SELECT count(*) FROM reg) || ' ' ||"
    " (SELECT count(*) FROM reg LEFT JOIN registrations r ON r.endpoint = reg.ep"
    " WHERE r.id IS NULL OR 'rd/' || r.id <> reg.v) || ' ' ||"
    " (SELECT coalesce(sum(acked), 0) FROM st) || ' ' ||"
    " (SELECT coalesce(sum(least(stored, acked)), 0) FROM st) || ' ' ||"
    " (SELECT count(*) FROM st WHERE stored < acked)";

struct ack_check {
    long regs, missing_regs, values, stored_values, short_eps;
};

static struct ack_check ack_compare(const struct env *e)
{
    struct ack_check c = { 0 };
    char *text = read_all(e->ack_path), out[256];
    harness_db_value(e->s.db.conninfo, ACK_SQL, text, out, sizeof out);
    free(text);
    ck_assert_int_eq(sscanf(out, "%ld %ld %ld %ld %ld", &c.regs, &c.missing_regs, &c.values,
                            &c.stored_values, &c.short_eps), 5);
    return c;
}

/* The simulator's --json report, after it exited (NULL: not JSON). */
static json_t *sim_report(struct harness_proc *p)
{
    char *out = harness_proc_stdout(p);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    return j;
}

/* report.failures (or whatever the report calls them) as text for figures. */
static char *report_text(json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT) : strdup("(no report)");
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static bool alive(struct harness_proc *p)
{
    int status;
    return !harness_proc_wait_exit(p, 0, &status);
}

/* ---- 1. kill -9 of lodestar-server in a registration storm ------------------- */

START_TEST(test_kill_server_in_storm)
{
    struct env e;
    long clients = env_long("FAULT_CLIENTS", 2000);
    char count[24], rate[24];
    snprintf(count, sizeof count, "%ld", clients);
    /* The storm lasts about 4 s: the kill lands while Registers are in
     * flight, not after the last one. */
    snprintf(rate, sizeof rate, "%ld", clients / 4 > 0 ? clients / 4 : 1);
    /* A fixed port: the restarted server recognises its address and takes
     * over the registrations of the killed one at once (store/commands.c
     * claim), as a restart in place does in production. */
    char coap[64];
    snprintf(coap, sizeof coap, "127.0.0.1:%u", harness_free_udp_port());
    env_start(&e, NULL, coap);
    /* Clients register (up to 512 in flight), each then Sends every 0.5 s:
     * registrations and Sends in flight together. */
    const char *extra[] = { "--count", count, "--rate", rate, "--scenario", "send",
                            "--interval", "0.5", "--duration", "120", NULL };
    struct harness_proc *sim = sim_spawn(&e, extra);
    /* Mid-storm: half the clients registered, Sends acknowledged. */
    ck_assert_msg(await_acks(&e, clients / 2, 20, SIM_WAIT_MS),
                  "storm too slow: %ld registered, %ld Sends", ack_lines(&e, "register"),
                  ack_lines(&e, "send"));
    ck_assert_int_eq(harness_proc_signal(e.s.proc, SIGKILL), 0);
    int status = 0;
    ck_assert(harness_proc_wait_exit(e.s.proc, 10000, &status));
    ck_assert_int_eq(status, 128 + SIGKILL);
    /* Nothing can be acknowledged any more: stop the simulator too. */
    harness_proc_signal(sim, SIGKILL);
    harness_proc_wait_exit(sim, 10000, &status);
    harness_proc_free(sim);

    struct ack_check c = ack_compare(&e);
    char like[40], rows[32];
    snprintf(like, sizeof like, "%s-%%", e.prefix);
    harness_db_value(e.s.db.conninfo, "SELECT count(*) FROM registrations WHERE endpoint LIKE $1",
                     like, rows, sizeof rows);
    fprintf(stderr, "figure: kill -9 storm clients=%ld acked_registrations=%ld missing=%ld "
            "rows=%s (committed, some not yet answered) acked_send_values=%ld stored=%ld "
            "short_endpoints=%ld\n", clients, c.regs, c.missing_regs, rows, c.values,
            c.stored_values, c.short_eps);
    ck_assert_int_ge(atol(rows), c.regs);
    ck_assert_int_ge(c.regs, clients / 2);
    ck_assert_int_lt(c.regs, clients);     /* killed mid-storm */
    ck_assert_int_gt(c.values, 0);
    ck_assert_int_eq(c.missing_regs, 0);
    ck_assert_int_eq(c.short_eps, 0);
    ck_assert_int_eq(c.stored_values, c.values);

    /* The server comes back on the same database with what was stored. */
    harness_proc_free(e.s.proc);
    e.s.proc = NULL;
    int64_t t0 = harness_now_ms();
    harness_server_spawn(&e.s);
    char *log = harness_proc_stderr(e.s.proc), loaded[32] = "?";
    const char *at = strstr(log, "event=registrations_loaded ");
    if (at)
        harness_log_field(at, "count", loaded, sizeof loaded);
    free(log);
    fprintf(stderr, "figure: restart after kill -9 took %lld ms, registrations loaded %s\n",
            (long long)(harness_now_ms() - t0), loaded);
    ck_assert_int_ge(atol(loaded), c.regs);
    char ep[64];
    snprintf(ep, sizeof ep, "after-kill-%s", run_tag);
    ck_assert_int_eq(probe_register(e.s.coap, ep, 10000).code, 201);
    env_stop(&e);
}
END_TEST

/* ---- 2. PostgreSQL restarted under load --------------------------------------- */

/* A NoSec Bootstrap-Request (with a harness device) to the bootstrap
 * server: the answer to POST /bs (204 and the session runs; 503; -1). */
static int bootstrap_request(const struct env *e, const char *ep, int64_t timeout_ms)
{
    struct harness_device_options o = { .server = e->bs_coap, .no_server_instance = true };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    struct harness_bs_result r = { 0 };
    harness_device_bootstrap(d, ep, -1, false, timeout_ms, &r);
    harness_device_free(d);
    return r.request_code;
}

static void pg_start(void)
{
    char args[4200];
    snprintf(args, sizeof args, "start -w -l %s", harness_pg_logfile());
    ck_assert_int_eq(harness_pg_ctl(args), 0);
}

START_TEST(test_database_restart_under_load)
{
    if (!getenv("LODESTAR_TEST_PGCTL_CMD")) {
        fprintf(stderr, "LODESTAR_TEST_PGCTL_CMD unset: database restart not tested\n");
        return;
    }
    struct env e;
    char ep[96], body[512];
    env_start(&e, NULL, NULL);
    bootstrap_spawn(&e, "127.0.0.1:0");
    snprintf(body, sizeof body, "{\"match\":\"*\",\"servers\":[{\"uri\":\"coap://%s\","
             "\"ssid\":101,\"security\":\"nosec\",\"lifetime\":300}]}", e.s.coap);
    api_put(&e, "/api/bootstrap/configs/faults", body, 201);
    snprintf(ep, sizeof ep, "bs-before-%s", run_tag);
    ck_assert_int_eq(bootstrap_request(&e, ep, 10000), 204);

    /* The load: 200 new clients a second for 20 s, each Sending every
     * second once registered. */
    const char *extra[] = { "--count", "4000", "--rate", "200", "--scenario", "send",
                            "--interval", "1", "--duration", "24", NULL };
    struct harness_proc *sim = sim_spawn(&e, extra);
    ck_assert(await_acks(&e, 300, 0, SIM_WAIT_MS));

    ck_assert_int_eq(harness_pg_ctl("stop -m fast -w"), 0);
    int64_t stopped = harness_now_ms();
    /* Away: every Register is answered, and answered 5.03 with Max-Age
     * (the first may wait the worker's hold, about 2 s, as a separate
     * response); never silence. */
    int probes = 0, unavailable = 0;
    while (harness_now_ms() - stopped < 4000) {
        snprintf(ep, sizeof ep, "away-%d-%s", probes, run_tag);
        struct probe_answer a = probe_register(e.s.coap, ep, 8000);
        probes++;
        ck_assert_msg(a.code == 503, "Register while the database is away: %d", a.code);
        ck_assert_int_eq(a.max_age, MAX_AGE_S);
        unavailable++;
        harness_sleep_ms(200);   /* probe interval */
    }
    snprintf(ep, sizeof ep, "bs-away-%s", run_tag);
    int bs_code = bootstrap_request(&e, ep, 8000);
    ck_assert_msg(bs_code == 503, "Bootstrap-Request while the database is away: %d", bs_code);
    ck_assert(alive(e.s.proc));
    ck_assert(alive(e.bs));
    double away = metric(&e, "lodestar_store_database_away");
    ck_assert_msg(away >= 1, "lodestar_store_database_away %g", away);

    pg_start();
    int64_t back = harness_now_ms(), reg_ms = -1, bs_ms = -1;
    for (int i = 0; reg_ms < 0 && harness_now_ms() - back < 3 * RECOVER_MS; i++) {
        snprintf(ep, sizeof ep, "back-%d-%s", i, run_tag);
        struct probe_answer a = probe_register(e.s.coap, ep, 8000);
        ck_assert_msg(a.code == 201 || a.code == 503, "Register after the restart: %d", a.code);
        if (a.code == 201)
            reg_ms = harness_now_ms() - back;
        else
            harness_sleep_ms(100);   /* retry interval */
    }
    for (int i = 0; bs_ms < 0 && harness_now_ms() - back < 3 * RECOVER_MS; i++) {
        snprintf(ep, sizeof ep, "bs-back-%d-%s", i, run_tag);
        int code = bootstrap_request(&e, ep, 8000);
        ck_assert_msg(code == 204 || code == 503, "Bootstrap-Request after the restart: %d",
                      code);
        if (code == 204)
            bs_ms = harness_now_ms() - back;
        else
            harness_sleep_ms(100);   /* retry interval */
    }
    fprintf(stderr, "figure: database restart: probes_503=%d of %d, bootstrap 503, "
            "first 2.01 after %lld ms, first bootstrap 2.04 after %lld ms\n", unavailable,
            probes, (long long)reg_ms, (long long)bs_ms);
    ck_assert_msg(reg_ms >= 0 && reg_ms < RECOVER_MS, "server back after %lld ms",
                  (long long)reg_ms);
    ck_assert_msg(bs_ms >= 0 && bs_ms < RECOVER_MS, "bootstrap back after %lld ms",
                  (long long)bs_ms);

    int status = -1;
    ck_assert_msg(harness_proc_wait_exit(sim, SIM_WAIT_MS, &status), "lodestar-sim hangs");
    json_t *rep = sim_report(sim);
    char *rt = report_text(json_object_get(rep, "failures_by_cause"));
    /* Every client the outage hit was told 5.03, none was left without an
     * answer (a timeout). */
    const char *cause;
    json_t *n;
    json_object_foreach(json_object_get(rep, "failures_by_cause"), cause, n)
        ck_assert_msg(strstr(cause, "5.03") != NULL, "lodestar-sim failures: %s", rt);
    fprintf(stderr, "figure: simulator under the restart: status=%d failures=%s\n", status, rt);
    free(rt);
    json_decref(rep);
    harness_proc_free(sim);
    double refused = metric(&e, "lodestar_store_refused_total{reason=\"database_away\"}") +
                     metric(&e, "lodestar_store_refused_total{reason=\"given_up\"}");
    fprintf(stderr, "figure: server refused %g store operations while away\n", refused);
    ck_assert(refused >= unavailable);

    struct ack_check c = ack_compare(&e);
    fprintf(stderr, "figure: restart under load acked_registrations=%ld missing=%ld "
            "acked_send_values=%ld stored=%ld short_endpoints=%ld\n", c.regs, c.missing_regs,
            c.values, c.stored_values, c.short_eps);
    ck_assert_int_ge(c.regs, 300);
    ck_assert_int_eq(c.missing_regs, 0);
    ck_assert_int_gt(c.values, 0);
    ck_assert_int_eq(c.short_eps, 0);
    ck_assert_int_eq(c.stored_values, c.values);
    env_stop(&e);
}
END_TEST

/* ---- 3. PostgreSQL slow: a held lock ----------------------------------------------- */

START_TEST(test_held_lock)
{
    struct env e;
    char ep[96];
    const char *senv[] = { "LODESTAR_STORE_QUEUE=1000", NULL };
    env_start(&e, senv, NULL);
    snprintf(ep, sizeof ep, "lock-before-%s", run_tag);
    ck_assert_int_eq(probe_register(e.s.coap, ep, 10000).code, 201);
    ck_assert_int_eq(metric(&e, "lodestar_store_queue_limit"), 1000);
    long rss_before = rss_kb(harness_proc_pid(e.s.proc));

    /* A session holds the lock every Register needs. */
    PGconn *lock = PQconnectdb(e.s.db.conninfo);
    ck_assert_int_eq(PQstatus(lock), CONNECTION_OK);
    PGresult *r = PQexec(lock, "BEGIN; LOCK TABLE registrations IN ACCESS EXCLUSIVE MODE");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    /* 5 000 clients at once: 1 000 wait in the queue, the rest are refused. */
    const char *extra[] = { "--count", "5000", "--window", "5000", NULL };
    struct harness_proc *sim = sim_spawn(&e, extra);
    ck_assert_msg(harness_proc_wait_line(e.s.proc, "event=store_queue_full ", 60000, NULL, 0),
                  "no store_queue_full line");
    /* Every shard's queue full (the line comes with the first one). */
    int64_t deadline = harness_now_ms() + 30000;
    while (metric(&e, "lodestar_store_queue_depth") < 1000 && harness_now_ms() < deadline)
        harness_sleep_ms(50);    /* poll interval */
    /* The CoAP thread answers: a ping, and a Register at once with 5.03. */
    long rss_peak = 0;
    int64_t ping_max = 0;
    int full = 0;
    for (int i = 0; i < 10; i++) {
        int64_t rtt = probe_ping(e.s.coap, 3000);
        ck_assert_msg(rtt >= 0, "no answer to a CoAP ping under the held lock");
        ping_max = rtt > ping_max ? rtt : ping_max;
        snprintf(ep, sizeof ep, "lock-%d-%s", i, run_tag);
        struct probe_answer a = probe_register(e.s.coap, ep, 3000);
        ck_assert_msg(a.code == 503 && !a.separate, "Register with the queue full: %d%s",
                      a.code, a.separate ? " (separate)" : "");
        ck_assert_int_eq(a.max_age, MAX_AGE_S);
        full++;
        long kb = rss_kb(harness_proc_pid(e.s.proc));
        rss_peak = kb > rss_peak ? kb : rss_peak;
        harness_sleep_ms(200);   /* probe interval */
    }
    ck_assert_int_eq(metric(&e, "lodestar_store_queue_depth"), 1000);
    ck_assert_int_eq(metric(&e, "lodestar_store_database_away"), 0);   /* slow, not away */
    double refused = metric(&e, "lodestar_store_refused_total{reason=\"queue_full\"}");
    ck_assert(refused >= full);
    int status = -1;
    /* The simulator's refused clients are done; its queued ones wait. */
    r = PQexec(lock, "COMMIT");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(lock);
    ck_assert_msg(harness_proc_wait_exit(sim, SIM_WAIT_MS, &status), "lodestar-sim hangs");
    json_t *rep = sim_report(sim);
    json_t *reg = json_object_get(json_object_get(rep, "ops"), "register");
    long ok = (long)json_integer_value(json_object_get(reg, "ok"));
    long failed = (long)json_integer_value(json_object_get(reg, "failed"));
    char *causes = report_text(json_object_get(rep, "failures_by_cause"));
    long refused_503 = (long)json_integer_value(
        json_object_get(json_object_get(rep, "failures_by_cause"), "register: 5.03"));
    json_decref(rep);
    harness_proc_free(sim);
    ck_assert_msg(harness_proc_wait_line(e.s.proc, "event=store_queue_ok ", 30000, NULL, 0),
                  "no store_queue_ok line");
    long rss_after = rss_kb(harness_proc_pid(e.s.proc));
    struct ack_check c = ack_compare(&e);
    fprintf(stderr, "figure: held lock queue=1000 refused_queue_full=%g ping_max_ms=%lld "
            "rss_kb before=%ld peak=%ld after=%ld sim_registered=%ld sim_failed=%ld (%s) "
            "acked=%ld missing=%ld\n", refused, (long long)ping_max, rss_before, rss_peak,
            rss_after, ok, failed, causes, c.regs, c.missing_regs);
    free(causes);
    ck_assert_int_eq(c.missing_regs, 0);
    /* Every client had an answer: 2.01 (queued, or in the batch the lock
     * stopped: at most 1 000 + a batch per shard) or 5.03 at once. */
    ck_assert_int_eq(ok + refused_503, 5000);
    ck_assert_int_eq(failed, refused_503);
    ck_assert_int_eq(c.regs, ok);
    ck_assert_int_ge(ok, 1000);
    ck_assert_int_le(ok, 1000 + 2 * 2000);
    /* Bounded: 1 000 parked Registers and 4 000 refused ones cost little. */
    ck_assert_msg(rss_peak - rss_before < 256 * 1024, "RSS grew %ld kB",
                  rss_peak - rss_before);
    env_stop(&e);
}
END_TEST

/* ---- 4. lodestar-bootstrap killed mid-session -------------------------------------- */

/*
 * A UDP relay between the device and lodestar-bootstrap.  When it relays
 * the session's first BS-Write (a CON PUT from the bootstrap server), it
 * kills the bootstrap server at once (SIGKILL): the device got that write,
 * the session never finished.  upstream can be changed (a restarted
 * daemon has a new port).
 */
struct relay {
    int front, back;                  /* device side, daemon side */
    struct sockaddr_in device, upstream;
    bool have_device;
    pthread_mutex_t lock;
    atomic_bool stop, kill_armed, killed;
    atomic_int kill_pid;
    pthread_t thread;
    char addr[64];                    /* where the device sends */
};

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p[2] = { { r->front, POLLIN, 0 }, { r->back, POLLIN, 0 } };
        if (poll(p, 2, 50) <= 0)
            continue;
        uint8_t m[2048];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        if (p[0].revents & POLLIN) {
            ssize_t n = recvfrom(r->front, m, sizeof m, 0, (struct sockaddr *)&from, &fl);
            pthread_mutex_lock(&r->lock);
            r->device = from;
            r->have_device = true;
            struct sockaddr_in up = r->upstream;
            pthread_mutex_unlock(&r->lock);
            if (n > 0)
                sendto(r->back, m, (size_t)n, 0, (struct sockaddr *)&up, sizeof up);
        }
        if (p[1].revents & POLLIN) {
            ssize_t n = recvfrom(r->back, m, sizeof m, 0, (struct sockaddr *)&from, &fl);
            pthread_mutex_lock(&r->lock);
            struct sockaddr_in dev = r->device;
            bool have = r->have_device;
            pthread_mutex_unlock(&r->lock);
            if (n < 4 || !have)
                continue;
            sendto(r->front, m, (size_t)n, 0, (struct sockaddr *)&dev, sizeof dev);
            bool put = ((m[0] >> 4) & 3) == 0 && m[1] == 0x03;
            if (put && atomic_load(&r->kill_armed)) {
                kill(atomic_load(&r->kill_pid), SIGKILL);
                atomic_store(&r->kill_armed, false);
                atomic_store(&r->killed, true);
            }
        }
    }
    return NULL;
}

static void relay_set_upstream(struct relay *r, const char *hostport)
{
    char host[64];
    unsigned port = 0;
    ck_assert_int_eq(sscanf(hostport, "%63[0-9.]:%u", host, &port), 2);
    pthread_mutex_lock(&r->lock);
    r->upstream = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, host, &r->upstream.sin_addr);
    pthread_mutex_unlock(&r->lock);
}

static void relay_start(struct relay *r, const char *upstream)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->front = socket(AF_INET, SOCK_DGRAM, 0);
    r->back = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(r->front, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(bind(r->back, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(r->front, (struct sockaddr *)&a, &al), 0);
    snprintf(r->addr, sizeof r->addr, "127.0.0.1:%u", ntohs(a.sin_port));
    relay_set_upstream(r, upstream);
    ck_assert_int_eq(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(struct relay *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->front);
    close(r->back);
    pthread_mutex_destroy(&r->lock);
}

/* "state" of the credential with this identity ("" when none). */
static const char *cred_state(const struct env *e, const char *identity, char *out, size_t cap)
{
    return harness_db_value(e->s.db.conninfo, "SELECT state FROM credentials WHERE identity = $1",
                            identity, out, cap);
}

START_TEST(test_bootstrap_killed_mid_session)
{
    struct env e;
    char ep[96], body[512], v[64], n_issued[32];
    env_start(&e, NULL, NULL);
    bootstrap_spawn(&e, "127.0.0.1:0");
    snprintf(body, sizeof body, "{\"match\":\"*\",\"servers\":[{\"uri\":\"coaps://%s\","
             "\"ssid\":101,\"security\":\"psk\",\"credentials\":\"issue\",\"lifetime\":300}]}",
             e.s.coaps);
    api_put(&e, "/api/bootstrap/configs/faults", body, 201);
    snprintf(ep, sizeof ep, "bskill-%s", run_tag);

    struct relay r;
    relay_start(&r, e.bs_coap);
    atomic_store(&r.kill_pid, harness_proc_pid(e.bs));
    atomic_store(&r.kill_armed, true);
    struct harness_device_options o = { .server = r.addr, .no_server_instance = true };
    struct harness_device *d = harness_device_new(&o);
    ck_assert_ptr_nonnull(d);
    struct harness_bs_result res = { 0 };
    ck_assert(!harness_device_bootstrap(d, ep, -1, false, 4000, &res));
    ck_assert(atomic_load(&r.killed));
    ck_assert_int_eq(res.request_code, 204);
    ck_assert(!res.finished);
    int status = 0;
    ck_assert(harness_proc_wait_exit(e.bs, 10000, &status));
    ck_assert_int_eq(status, 128 + SIGKILL);
    harness_proc_free(e.bs);
    e.bs = NULL;
    /* The killed session's credential: issued, never active. */
    harness_db_value(e.s.db.conninfo,
                     "SELECT string_agg(identity, ',') FROM credentials WHERE endpoint = $1"
                     " AND scope = 'server'", ep, n_issued, sizeof n_issued);
    char killed_identity[128];
    snprintf(killed_identity, sizeof killed_identity, "%s", n_issued);
    ck_assert_msg(killed_identity[0] && !strchr(killed_identity, ','),
                  "credentials after the killed session: \"%s\"", killed_identity);
    ck_assert_str_eq(cred_state(&e, killed_identity, v, sizeof v), "issued");

    /* The daemon is back (new port); the device retries the bootstrap. */
    bootstrap_spawn(&e, "127.0.0.1:0");
    relay_set_upstream(&r, e.bs_coap);
    int64_t t0 = harness_now_ms();
    memset(&res, 0, sizeof res);
    ck_assert_msg(harness_device_bootstrap(d, ep, -1, false, 15000, &res),
                  "retry: request %d finished %d", res.request_code, res.finished);
    int64_t bs_ms = harness_now_ms() - t0;
    struct harness_device_account acct;
    ck_assert(harness_device_server_account(d, 0, &acct));
    ck_assert_int_eq(acct.security_mode, 0);
    ck_assert_str_ne(acct.identity, killed_identity);
    ck_assert_str_eq(cred_state(&e, acct.identity, v, sizeof v), "issued");
    ck_assert_str_eq(cred_state(&e, killed_identity, v, sizeof v), "issued");

    /* It registers with the completed session's key (once the server has
     * loaded it); that one becomes active and the killed one is revoked. */
    char loc[128];
    int code = -1;
    int64_t deadline = harness_now_ms() + 20000;
    struct harness_device *dev = NULL;
    while (code != 201 && harness_now_ms() < deadline) {
        harness_device_free(dev);
        dev = harness_device_new_for_account(d, &acct);
        ck_assert_ptr_nonnull(dev);
        code = harness_device_register_lwm2m(dev, ep, 300, NULL, false, NULL, 5000, loc,
                                             sizeof loc);
        if (code != 201)
            harness_sleep_ms(200);   /* retry interval while the server loads the key */
    }
    ck_assert_int_eq(code, 201);
    ck_assert_str_eq(cred_state(&e, acct.identity, v, sizeof v), "active");
    ck_assert_str_eq(cred_state(&e, killed_identity, v, sizeof v), "revoked");
    harness_db_value(e.s.db.conninfo,
                     "SELECT count(*) FROM credentials WHERE endpoint = $1 AND state = 'active'",
                     ep, v, sizeof v);
    ck_assert_str_eq(v, "1");
    fprintf(stderr, "figure: bootstrap killed at the first BS-Write; retry bootstrapped in "
            "%lld ms; killed session's credential revoked, new one active\n", (long long)bs_ms);
    harness_device_free(dev);
    harness_device_free(d);
    relay_stop(&r);
    env_stop(&e);
}
END_TEST

/* One case per fault, so that meson runs each as a test of its own
 * (CK_RUN_CASE, tests/integration/meson.build), each well under 90 s. */
static void add_case(Suite *s, const char *name, const TTest *test)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 600);   /* the soak's 20 000 clients; meson bounds the suite's */
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

static Suite *suite(void)
{
    Suite *s = suite_create("integration_faults");
    add_case(s, "kill_server", test_kill_server_in_storm);
    add_case(s, "held_lock", test_held_lock);
    add_case(s, "kill_bootstrap", test_bootstrap_killed_mid_session);
    add_case(s, "database_restart", test_database_restart_under_load);
    return s;
}

int main(void)
{
    harness_pg_uri();   /* exit 77 without a database */
    snprintf(run_tag, sizeof run_tag, "%x", (unsigned)getpid());
    srandom((unsigned)getpid() ^ (unsigned)harness_now_ms());
    int failed = harness_run_suite(suite());
    harness_pg_ensure_running();
    return failed ? 1 : 0;
}
