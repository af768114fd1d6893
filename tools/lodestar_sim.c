/*
 * tools/lodestar_sim.c -- lodestar-sim: many LwM2M clients in one process,
 * a load generator for lodestar-server
 *
 *   lodestar-sim --server coap://127.0.0.1:5683 --count 20000 --rate 0
 *                [--scenario register|observe|send|mixed|bootstrap] [--duration S]
 *                [--lwm2m 1.0|1.1|1.2] [--format NAME] [--json] ...
 *
 * One thread runs one epoll loop over 64 shared UDP sockets (each client
 * has its own source address 127.A.x.y, set per datagram with IP_PKTINFO,
 * and a socket's port: the server sees a distinct peer per client, and
 * neither 64 K ports nor the file descriptor limit bound the count; an
 * answer's destination address names its client), a timer heap
 * (retransmissions, Updates, notifications, Sends) and the launch pacing
 * (--rate new clients per second, at most --window Registers in flight).
 * The protocol of one client is sim_client.c; its objects sim_device.c.
 * In the observe and mixed scenarios the server is asked to observe each
 * client through the REST API (--api, --token) by a few threads with
 * blocking HTTP, as an operator would.
 *
 * End of a run: with --duration 0 (the default for "register") when every
 * client finished registering; otherwise after --duration seconds, when
 * periodic work stops, optional De-registers go out, and requests still in
 * flight are awaited (at most 35 s).  A progress line per second goes to
 * stderr, the report to stdout (--json: one JSON object).  Exit status 0
 * when nothing failed, 1 when something did, 2 on bad usage.
 *
 * coaps:// (--server with --psk-csv, --bootstrap with --factory-csv):
 * each client gets a libcoap DTLS-PSK client session of its own, bound to
 * its 127.A.x.y address (sim_coaps.c); libcoap's fd is one more entry in
 * the epoll set.  --ack-log writes a line per acknowledged Register, Send
 * and bootstrap as it happens.  --queue clients really sleep (--awake,
 * --sleep): they ignore what arrives while asleep and wake with an Update.
 *
 * --cycles (register scenario): devices that reboot or reconnect.  Each
 * client does cycles of a new session (a full DTLS-PSK handshake over
 * coaps://), Register until its 2.01, with --deregister a De-register, and
 * the session closed (close_notify); --window bounds the cycles in flight
 * and waiting clients take turns (FIFO).  The report's "cycles" object
 * gives the Registers acknowledged per second over a steady window (after
 * --warmup, until the run stops), which leaves out the ramp-up and the
 * tail of a one-shot storm.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lwm2m/format.h"
#include "tools/sim.h"
#include "tools/sim_dtls.h"
#include "tools/sim_http.h"

struct timer {
    int64_t at;
    uint32_t idx;
};

struct sim_run {
    struct sim_options opt;
    struct sim_client_env env;
    struct sim_client *clients;
    unsigned launched, finished, registering;
    uint32_t *ready;       /* --cycles: clients waiting for their next cycle (a ring) */
    size_t ready_head, ready_tail;
    int64_t steady_t0, steady_t1;   /* --cycles: the steady window (monotonic us; 0: not yet) */
    uint64_t steady_n0, steady_n1;  /* Registers acknowledged at its ends */
    struct timer *heap;
    size_t nheap, capheap;
    int ep;
    int *socks;            /* shared UDP sockets, bound to 0.0.0.0:<kernel port> */
    unsigned nsocks;
    /* REST observe requests: a queue of client numbers, worker threads */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t *obsq;
    size_t obs_head, obs_tail, obs_cap;
    unsigned obs_busy;
    bool obs_quit;
    pthread_t *threads;
};

static volatile sig_atomic_t interrupted;

#define COAPS_TAG UINT32_MAX      /* epoll: libcoap's fd (sim_coaps.c) */

int64_t sim_run_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double sim_run_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- timer heap (lazy deletion: an entry is current when it equals the
 * client's timer_at) --- */

static void heap_push(struct sim_run *r, int64_t at, uint32_t idx)
{
    if (r->nheap == r->capheap) {
        size_t cap = r->capheap ? r->capheap * 2 : 4096;
        struct timer *h = realloc(r->heap, cap * sizeof *h);
        if (!h) {
            fprintf(stderr, "lodestar-sim: out of memory (timers)\n");
            exit(1);
        }
        r->heap = h;
        r->capheap = cap;
    }
    size_t i = r->nheap++;
    while (i > 0 && r->heap[(i - 1) / 2].at > at) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = (struct timer){ at, idx };
}

static struct timer heap_pop(struct sim_run *r)
{
    struct timer top = r->heap[0], last = r->heap[--r->nheap];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= r->nheap)
            break;
        if (k + 1 < r->nheap && r->heap[k + 1].at < r->heap[k].at)
            k++;
        if (r->heap[k].at >= last.at)
            break;
        r->heap[i] = r->heap[k];
        i = k;
    }
    if (r->nheap)
        r->heap[i] = last;
    return top;
}

void sim_run_schedule(struct sim_run *r, struct sim_client *c)
{
    int64_t at = sim_client_next(&r->env, c);
    if (at == INT64_MAX || at == c->timer_at)
        return;
    c->timer_at = at;
    heap_push(r, at, c->dev.idx);
}

/* --- REST observe workers --- */

static void obs_enqueue(struct sim_run *r, uint32_t idx)
{
    pthread_mutex_lock(&r->mu);
    if (r->obs_tail - r->obs_head == r->obs_cap) {
        size_t cap = r->obs_cap ? r->obs_cap * 2 : 1024;
        uint32_t *q = malloc(cap * sizeof *q);
        if (q) {
            for (size_t i = r->obs_head; i < r->obs_tail; i++)
                q[i - r->obs_head] = r->obsq[i % r->obs_cap];
            free(r->obsq);
            r->obsq = q;
            r->obs_tail -= r->obs_head;
            r->obs_head = 0;
            r->obs_cap = cap;
        }
    }
    if (r->obs_tail - r->obs_head < r->obs_cap)
        r->obsq[r->obs_tail++ % r->obs_cap] = idx;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void *obs_worker(void *arg)
{
    struct sim_run *r = arg;
    char ep[80], path[256], body[] = "{}";
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (r->obs_head == r->obs_tail && !r->obs_quit)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->obs_head == r->obs_tail) {
            pthread_mutex_unlock(&r->mu);
            return NULL;
        }
        uint32_t idx = r->obsq[r->obs_head++ % r->obs_cap];
        r->obs_busy++;
        pthread_mutex_unlock(&r->mu);

        sim_client_endpoint(&r->opt, idx, ep, sizeof ep);
        snprintf(path, sizeof path, "/api/devices/%s%s/observe", ep, r->opt.observe_path);
        int status;
        struct ls_error err = { 0 };
        int64_t t0 = sim_run_now_us();
        if (sim_http_request(&r->opt.api, "POST", path, r->opt.token, body, 30000, &status,
                             &err) != LS_OK) {
            sim_stats_fail(r->env.stats, SIM_OP_OBSERVE, "http");
        } else if (status != 200) {
            char cause[16];
            snprintf(cause, sizeof cause, "http %d", status);
            sim_stats_fail(r->env.stats, SIM_OP_OBSERVE, cause);
        } else {
            sim_stats_ok(r->env.stats, SIM_OP_OBSERVE, sim_run_now_us() - t0);
        }
        pthread_mutex_lock(&r->mu);
        r->obs_busy--;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
}

/* The run ends: observations not asked for yet never will be; they are
 * reported as failures of their own cause.  Calls in flight finish. */
static void obs_drop(struct sim_run *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->obs_tail - r->obs_head;
    r->obs_head = r->obs_tail;
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++)
        sim_stats_fail(r->env.stats, SIM_OP_OBSERVE, "not asked before the end");
}

static bool obs_idle(struct sim_run *r)
{
    pthread_mutex_lock(&r->mu);
    bool idle = r->obs_head == r->obs_tail && r->obs_busy == 0;
    pthread_mutex_unlock(&r->mu);
    return idle;
}

/* --- client callbacks --- */

static void on_registered(struct sim_run *r, struct sim_client *c)
{
    if (c->wants_observe && r->opt.api_set)
        obs_enqueue(r, c->dev.idx);
}

/* The steady window of --cycles ends when the run stops or when the first
 * client is done for good (from then on fewer cycles are in flight). */
static void steady_end(struct sim_run *r)
{
    if (!r->opt.cycling || r->steady_t1)
        return;
    r->steady_t1 = sim_run_now_us();
    r->steady_n1 = sim_stats_ok_count(r->env.stats, SIM_OP_REGISTER);
}

static void on_finished(struct sim_run *r, struct sim_client *c)
{
    (void)c;
    r->finished++;
    r->registering--;
    if (r->opt.cycles)
        steady_end(r);
}

/* --cycles: the client waits for a place in the window (FIFO). */
static void on_cycled(struct sim_run *r, struct sim_client *c)
{
    r->registering--;
    r->ready[r->ready_tail++ % r->opt.count] = c->dev.idx;
}

/* --- options --- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: lodestar-sim --server coap[s]://HOST:PORT [options]\n"
            "  --count N            simulated clients (default 100)\n"
            "  --rate R             new clients per second (default 0: as fast as --window)\n"
            "  --window W           Registers in flight at once (default 512)\n"
            "  --duration S         seconds to run (default: register: until all registered,\n"
            "                       others 10)\n"
            "  --scenario NAME      register | observe | send | mixed | bootstrap (default\n"
            "                       register; bootstrap: Bootstrap-Request to --bootstrap,\n"
            "                       then Register with the coap:// Server account written)\n"
            "  --bootstrap URI      coap://HOST:PORT of lodestar-bootstrap (NoSec), or\n"
            "                       coaps://HOST:PORT with --factory-csv (DTLS-PSK)\n"
            "  --psk-csv FILE       the factory export CSV (GET /api/factory/batches/ID?\n"
            "                       format=csv): with --server coaps://, client i registers\n"
            "                       over DTLS-PSK as row i's endpoint with its server_identity\n"
            "                       and server_key (--count defaults to the rows)\n"
            "  --factory-csv FILE   the same CSV for --scenario bootstrap: DTLS-PSK bootstrap\n"
            "                       with the bootstrap_* columns, then Register with what was\n"
            "                       written (coaps:// with the PSK written to /0/x/3 and\n"
            "                       /0/x/5, or coap://)\n"
            "  --lwm2m V            1.0 | 1.1 | 1.2 (default 1.1)\n"
            "  --format NAME        content format of answers and notifications (default\n"
            "                       tlv for 1.0, senml-cbor otherwise)\n"
            "  --lifetime S         registration lifetime; Updates at 80%% (default 300)\n"
            "  --interval S         seconds between notifications / Sends (default 1)\n"
            "  --queue              queue mode (b=UQ / Q) that really sleeps: a client ignores\n"
            "                       everything once --awake S (default 5) passed since it\n"
            "                       last sent anything, and wakes after --sleep S (default\n"
            "                       30) with an Update\n"
            "  --deregister         de-register every client at the end (with --cycles: in\n"
            "                       every cycle, before the session is closed)\n"
            "  --cycles N           register scenario: each client does N cycles (0: until\n"
            "                       --duration ends) of a new session (over DTLS a full\n"
            "                       handshake), Register until its 2.01, optionally\n"
            "                       De-register, session closed (DTLS close_notify); --window\n"
            "                       cycles in flight; the report's \"cycles\" gives the\n"
            "                       Registers per second over the steady window\n"
            "  --warmup S           with --cycles: the steady window starts S after the start\n"
            "                       (default 2, at most a quarter of --duration) and ends when\n"
            "                       the run stops or the first client is done\n"
            "  --prefix P           endpoint names P-0 .. P-(N-1) (default simXXXXXX)\n"
            "  --src-net A          source addresses 127.A.x.y (default random)\n"
            "  --api URL --token T  REST API, to ask for observations (observe, mixed)\n"
            "  --api-threads N      concurrent REST calls (default 4)\n"
            "  --observe-path P     what is observed (default /3303/0/5700)\n"
            "  --ack-log FILE       append a line per acknowledged operation, flushed as it\n"
            "                       arrives: \"register EP LOCATION\" (2.01), \"send EP N\"\n"
            "                       (2.04 to a Send of N values), \"bootstrap EP\" (Finish\n"
            "                       answered 2.04)\n"
            "  --json               final report as JSON\n"
            "  --quiet              no progress lines\n"
            "  --quick              smoke run: 20 clients, 2 s, interval 0.5 s, quiet\n");
}

static bool parse_server(const char *s, struct sockaddr_in *out, bool *secure)
{
    *secure = false;
    unsigned port = 5683;
    if (strncmp(s, "coap://", 7) == 0) {
        s += 7;
    } else if (strncmp(s, "coaps://", 8) == 0) {
        s += 8;
        *secure = true;
        port = 5684;
    }
    char host[64];
    int n = sscanf(s, "%63[0-9.]:%u", host, &port);
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return n >= 1 && port > 0 && port < 65536 && inet_pton(AF_INET, host, &out->sin_addr) == 1;
}

/* --psk-csv / --factory-csv: the accounts, and the count when not given. */
static int load_csv(struct sim_options *o, bool have_count)
{
    bool secure = o->bootstrap_set ? o->bootstrap_secure : o->server_secure;
    if (!o->csv_path) {
        if (secure) {
            fprintf(stderr, "lodestar-sim: %s coaps:// needs the PSK accounts: %s FILE\n",
                    o->bootstrap_set ? "--bootstrap" : "--server",
                    o->bootstrap_set ? "--factory-csv" : "--psk-csv");
            return 2;
        }
        return 0;
    }
    struct ls_error err = { 0 };
    if (sim_csv_load(o->csv_path, &o->csv, &err) != LS_OK) {
        fprintf(stderr, "lodestar-sim: %s\n", err.msg);
        return 2;
    }
    if (!o->csv.count) {
        fprintf(stderr, "lodestar-sim: %s: no devices\n", o->csv_path);
        return 2;
    }
    if (!have_count)
        o->count = (unsigned)o->csv.count;
    if (o->count > o->csv.count) {
        fprintf(stderr, "lodestar-sim: --count %u but %s has %zu devices\n", o->count,
                o->csv_path, o->csv.count);
        return 2;
    }
    for (size_t i = 0; secure && i < o->count; i++) {
        const struct sim_csv_account *a = o->bootstrap_set ? &o->csv.rows[i].bootstrap
                                                           : &o->csv.rows[i].server;
        if (!a->identity[0] || !a->key_len) {
            fprintf(stderr, "lodestar-sim: %s: %s has no %s account\n", o->csv_path,
                    o->csv.rows[i].endpoint, o->bootstrap_set ? "bootstrap" : "server");
            return 2;
        }
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct sim_options *o)
{
    enum { O_COUNT = 256, O_RATE, O_WINDOW, O_DURATION, O_SCENARIO, O_SERVER, O_LWM2M,
           O_FORMAT, O_JSON, O_QUIET, O_QUEUE, O_DEREG, O_LIFETIME, O_INTERVAL, O_PREFIX,
           O_SRC, O_API, O_TOKEN, O_API_THREADS, O_OBS_PATH, O_HELP, O_BOOTSTRAP, O_QUICK,
           O_ACK_LOG, O_PSK_CSV, O_FACTORY_CSV, O_AWAKE, O_SLEEP, O_CYCLES, O_WARMUP };
    static const struct option longs[] = {
        { "count", 1, 0, O_COUNT }, { "rate", 1, 0, O_RATE }, { "window", 1, 0, O_WINDOW },
        { "duration", 1, 0, O_DURATION }, { "scenario", 1, 0, O_SCENARIO },
        { "server", 1, 0, O_SERVER }, { "lwm2m", 1, 0, O_LWM2M }, { "format", 1, 0, O_FORMAT },
        { "json", 0, 0, O_JSON }, { "quiet", 0, 0, O_QUIET }, { "queue", 0, 0, O_QUEUE },
        { "deregister", 0, 0, O_DEREG }, { "lifetime", 1, 0, O_LIFETIME },
        { "interval", 1, 0, O_INTERVAL }, { "prefix", 1, 0, O_PREFIX },
        { "src-net", 1, 0, O_SRC }, { "api", 1, 0, O_API }, { "token", 1, 0, O_TOKEN },
        { "api-threads", 1, 0, O_API_THREADS }, { "observe-path", 1, 0, O_OBS_PATH },
        { "bootstrap", 1, 0, O_BOOTSTRAP }, { "quick", 0, 0, O_QUICK },
        { "ack-log", 1, 0, O_ACK_LOG }, { "psk-csv", 1, 0, O_PSK_CSV },
        { "factory-csv", 1, 0, O_FACTORY_CSV }, { "awake", 1, 0, O_AWAKE },
        { "sleep", 1, 0, O_SLEEP }, { "cycles", 1, 0, O_CYCLES }, { "warmup", 1, 0, O_WARMUP },
        { "help", 0, 0, O_HELP }, { 0, 0, 0, 0 },
    };
    bool have_server = false, have_format = false, have_duration = false, quick = false,
         have_count = false, have_interval = false, have_warmup = false;
    const char *format = NULL;
    *o = (struct sim_options){ .count = 100, .window = 512, .lwm2m = "1.1", .lifetime_s = 300,
                               .interval_s = 1.0, .scenario_name = "register",
                               .api_threads = 4, .observe_path = "/3303/0/5700",
                               .awake_s = 5, .sleep_s = 30 };
    srand((unsigned)(time(NULL) ^ getpid()));
    o->src_net = (uint8_t)(10 + rand() % 240);
    int ch;
    struct ls_error err = { 0 };
    while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case O_COUNT:
            o->count = (unsigned)strtoul(optarg, &end, 10);
            have_count = true;
            break;
        case O_RATE: o->rate = strtod(optarg, &end); break;
        case O_WINDOW: o->window = (unsigned)strtoul(optarg, &end, 10); break;
        case O_DURATION: o->duration_s = strtod(optarg, &end); have_duration = true; break;
        case O_SCENARIO: o->scenario_name = optarg; break;
        case O_SERVER:
            if (!parse_server(optarg, &o->server, &o->server_secure)) {
                fprintf(stderr, "lodestar-sim: bad --server \"%s\" (coap[s]://IPv4:port)\n",
                        optarg);
                return 2;
            }
            have_server = true;
            break;
        case O_LWM2M: o->lwm2m = optarg; break;
        case O_FORMAT: format = optarg; have_format = true; break;
        case O_JSON: o->json = true; break;
        case O_QUIET: o->quiet = true; break;
        case O_QUEUE: o->queue = true; break;
        case O_DEREG: o->deregister = true; break;
        case O_LIFETIME: o->lifetime_s = (int)strtol(optarg, &end, 10); break;
        case O_INTERVAL:
            o->interval_s = strtod(optarg, &end);
            have_interval = true;
            break;
        case O_QUICK: quick = true; break;
        case O_PREFIX: o->prefix = optarg; break;
        case O_SRC: {
            unsigned a;
            if (sscanf(optarg, "%u", &a) != 1 || a < 1 || a > 254) {
                fprintf(stderr, "lodestar-sim: bad --src-net \"%s\" (1..254)\n", optarg);
                return 2;
            }
            o->src_net = (uint8_t)a;
            break;
        }
        case O_API:
            if (sim_http_parse_base(optarg, &o->api, &err) != LS_OK) {
                fprintf(stderr, "lodestar-sim: %s\n", err.msg);
                return 2;
            }
            o->api_set = true;
            break;
        case O_TOKEN: o->token = optarg; break;
        case O_API_THREADS: o->api_threads = (unsigned)strtoul(optarg, &end, 10); break;
        case O_OBS_PATH: o->observe_path = optarg; break;
        case O_ACK_LOG: o->ack_log_path = optarg; break;
        case O_AWAKE: o->awake_s = strtod(optarg, &end); break;
        case O_SLEEP: o->sleep_s = strtod(optarg, &end); break;
        case O_CYCLES:
            o->cycles = (unsigned)strtoul(optarg, &end, 10);
            o->cycling = true;
            break;
        case O_WARMUP: o->warmup_s = strtod(optarg, &end); have_warmup = true; break;
        case O_PSK_CSV: case O_FACTORY_CSV:
            if (o->csv_path) {
                fprintf(stderr, "lodestar-sim: one --psk-csv or --factory-csv\n");
                return 2;
            }
            o->csv_path = optarg;
            break;
        case O_BOOTSTRAP:
            if (!parse_server(optarg, &o->bootstrap, &o->bootstrap_secure)) {
                fprintf(stderr, "lodestar-sim: bad --bootstrap \"%s\" (coap[s]://IPv4:port)\n",
                        optarg);
                return 2;
            }
            o->bootstrap_set = true;
            break;
        case O_HELP: case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
        if (end && *end) {
            fprintf(stderr, "lodestar-sim: bad number \"%s\"\n", optarg);
            return 2;
        }
    }
    if (optind < argc || (!have_server && !o->bootstrap_set)) {
        usage(stderr);
        return 2;
    }
    static const char *const names[] = { "register", "observe", "send", "mixed", "bootstrap" };
    o->scenario = (enum sim_scenario)-1;
    for (int i = 0; i < 5; i++)
        if (strcmp(o->scenario_name, names[i]) == 0)
            o->scenario = (enum sim_scenario)i;
    if ((int)o->scenario < 0) {
        fprintf(stderr, "lodestar-sim: unknown scenario \"%s\" (register, observe, send, "
                        "mixed, bootstrap)\n", o->scenario_name);
        return 2;
    }
    if ((o->scenario == SIM_BOOTSTRAP) != o->bootstrap_set) {
        fprintf(stderr, "lodestar-sim: scenario bootstrap and --bootstrap go together\n");
        return 2;
    }
    int rc = load_csv(o, have_count);
    if (rc)
        return rc;
    if (strcmp(o->lwm2m, "1.0") && strcmp(o->lwm2m, "1.1") && strcmp(o->lwm2m, "1.2")) {
        fprintf(stderr, "lodestar-sim: --lwm2m must be 1.0, 1.1 or 1.2\n");
        return 2;
    }
    bool v10 = strcmp(o->lwm2m, "1.0") == 0;
    o->format = v10 ? LWM2M_FORMAT_TLV : LWM2M_FORMAT_SENML_CBOR;
    if (have_format && !lwm2m_format_parse(format, &o->format)) {
        fprintf(stderr, "lodestar-sim: unknown --format \"%s\"\n", format);
        return 2;
    }
    o->send_format = LWM2M_FORMAT_SENML_CBOR;
    if (o->format == LWM2M_FORMAT_SENML_JSON || o->format == LWM2M_FORMAT_LWM2M_CBOR)
        o->send_format = o->format;
    if (v10 && (o->scenario == SIM_SEND || o->scenario == SIM_MIXED)) {
        fprintf(stderr, "lodestar-sim: Send needs LwM2M 1.1 or later\n");
        return 2;
    }
    if ((o->scenario == SIM_OBSERVE || o->scenario == SIM_MIXED) && (!o->api_set || !o->token)) {
        fprintf(stderr, "lodestar-sim: scenario %s needs --api and --token (the server is "
                        "asked to observe through its REST API)\n", o->scenario_name);
        return 2;
    }
    if (!o->count || o->count > 2000000 || o->window == 0 || o->lifetime_s < 10 ||
        o->interval_s <= 0 || o->rate < 0 || o->duration_s < 0 || !o->api_threads ||
        o->api_threads > 64 || o->awake_s <= 0 || o->sleep_s <= 0) {
        fprintf(stderr, "lodestar-sim: a number is out of range (count 1..2000000, window > 0, "
                        "lifetime >= 10, interval > 0, api-threads 1..64, awake and sleep > 0)\n");
        return 2;
    }
    if (quick) {      /* a smoke run of a few seconds */
        if (!have_count)
            o->count = o->csv.count && o->csv.count < 20 ? (unsigned)o->csv.count : 20;
        if (!have_interval)
            o->interval_s = 0.5;
        if (!have_duration && o->scenario != SIM_REGISTER && o->scenario != SIM_BOOTSTRAP)
            o->duration_s = 2;
        o->quiet = true;
    }
    if (!have_duration && o->scenario != SIM_REGISTER && o->scenario != SIM_BOOTSTRAP)
        o->duration_s = 10;
    if (o->cycling && (o->scenario != SIM_REGISTER || o->queue)) {
        fprintf(stderr, "lodestar-sim: --cycles goes with the register scenario only\n");
        return 2;
    }
    if (o->cycling && !o->cycles && o->duration_s <= 0) {
        fprintf(stderr, "lodestar-sim: --cycles 0 (until the end) needs --duration\n");
        return 2;
    }
    if (have_warmup && (!o->cycling || o->warmup_s < 0)) {
        fprintf(stderr, "lodestar-sim: --warmup goes with --cycles and is >= 0\n");
        return 2;
    }
    if (o->cycling && !have_warmup)
        o->warmup_s = o->duration_s > 0 && o->duration_s < 8 ? o->duration_s / 4 : 2;
    if (o->ack_log_path) {
        o->ack_log = fopen(o->ack_log_path, "a");
        if (!o->ack_log) {
            fprintf(stderr, "lodestar-sim: --ack-log %s: %s\n", o->ack_log_path, strerror(errno));
            return 2;
        }
        setvbuf(o->ack_log, NULL, _IOLBF, 0);
    }
    if (!o->prefix) {
        snprintf(o->prefix_buf, sizeof o->prefix_buf, "sim%06x", (unsigned)rand() & 0xffffff);
        o->prefix = o->prefix_buf;
    }
    return 0;
}

/* --- the loop --- */

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Client idx sends from 127.A.x.y on socket idx % nsocks, where
 * a = idx / nsocks, x = a / 254, y = 1 + a % 254: distinct (address, port)
 * pairs, and the destination address of a datagram names its client. */
static uint32_t client_addr(const struct sim_run *r, uint32_t idx)
{
    uint32_t a = idx / r->nsocks;
    return 127u << 24 | (uint32_t)r->opt.src_net << 16 | (a / 254) << 8 | (1 + a % 254);
}

/* A DTLS client (a socket of its own) has an address of its own:
 * 127.A.x.y with y = 1 + idx % 254, x = idx / 254 (then the next A). */
static uint32_t own_addr(const struct sim_run *r, uint32_t idx)
{
    uint32_t rest = idx / 254, net = (r->opt.src_net - 1 + rest / 256) % 254 + 1;
    return 127u << 24 | net << 16 | (rest % 256) << 8 | (1 + idx % 254);
}

static bool client_of(const struct sim_run *r, unsigned sock, uint32_t addr, uint32_t *idx)
{
    if (addr >> 16 != (127u << 8 | r->opt.src_net) || (addr & 255) == 0 || (addr & 255) == 255)
        return false;
    uint32_t a = ((addr >> 8) & 255) * 254 + (addr & 255) - 1;
    *idx = a * r->nsocks + sock;
    return *idx < r->launched;
}

/* --cycles: the next cycle of a client that waited for it. */
static void relaunch(struct sim_run *r, uint32_t idx)
{
    struct sim_client *c = &r->clients[idx];
    r->registering++;
    sim_client_cycle(&r->env, c);
    sim_run_schedule(r, c);
}

static void launch(struct sim_run *r, uint32_t idx)
{
    struct sim_client *c = &r->clients[idx];
    enum sim_scenario s = r->opt.scenario;
    bool coaps = r->opt.bootstrap_set ? r->opt.bootstrap_secure : r->opt.server_secure;
    sim_client_start(&r->env, c, idx, r->socks[idx % r->nsocks],
                     coaps ? own_addr(r, idx) : client_addr(r, idx));
    c->sends = s == SIM_SEND || (s == SIM_MIXED && idx % 3 == 1);
    c->wants_observe = s == SIM_OBSERVE || (s == SIM_MIXED && idx % 3 == 0);
    r->launched++;
    r->registering++;
    sim_run_schedule(r, c);
}

/* Every datagram waiting on shared socket k, to its client. */
static void readable(struct sim_run *r, unsigned k)
{
    uint8_t buf[1500];
    for (int n = 0; n < 512; n++) {
        struct iovec iov = { buf, sizeof buf };
        union {
            char b[CMSG_SPACE(sizeof(struct in_pktinfo))];
            struct cmsghdr align;
        } ctl;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                             .msg_controllen = sizeof ctl.b };
        ssize_t len = recvmsg(r->socks[k], &mh, MSG_DONTWAIT);
        if (len < 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != IPPROTO_IP || cm->cmsg_type != IP_PKTINFO)
                continue;
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            uint32_t idx;
            if (client_of(r, k, ntohl(pi.ipi_addr.s_addr), &idx))
                sim_client_datagram(&r->env, &r->clients[idx], buf, (size_t)len);
        }
    }
}

/* The shared sockets: few file descriptors for any number of clients. */
static bool open_sockets(struct sim_run *r)
{
    r->nsocks = r->opt.count < 64 ? r->opt.count : 64;
    r->socks = calloc(r->nsocks, sizeof *r->socks);
    if (!r->socks)
        return false;
    for (unsigned k = 0; k < r->nsocks; k++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1,
            rcv = 8 << 20, snd = 2 << 20;
        struct sockaddr_in any = { .sin_family = AF_INET };
        if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0 ||
            bind(fd, (struct sockaddr *)&any, sizeof any) != 0) {
            fprintf(stderr, "lodestar-sim: socket: %s\n", strerror(errno));
            return false;
        }
        /* bursts of answers for thousands of clients: big buffers (FORCE
         * passes rmem_max when allowed; the plain one is the fallback) */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd) != 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
        r->socks[k] = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = k };
        if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            fprintf(stderr, "lodestar-sim: epoll_ctl: %s\n", strerror(errno));
            return false;
        }
    }
    return true;
}

static void run_timers(struct sim_run *r, int64_t now)
{
    while (r->nheap && r->heap[0].at <= now) {
        struct timer t = heap_pop(r);
        struct sim_client *c = &r->clients[t.idx];
        if (c->timer_at != t.at)
            continue;          /* superseded */
        c->timer_at = 0;
        sim_client_tick(&r->env, c, now);
        sim_run_schedule(r, c);
    }
}

static bool any_outstanding(struct sim_run *r)
{
    for (unsigned i = 0; i < r->launched; i++)
        if (r->clients[i].has_out)
            return true;
    return false;
}

static int run(struct sim_run *r)
{
    const struct sim_options *o = &r->opt;
    int64_t t0 = sim_run_now_us(), next_progress = t0 + 1000000, stop_at = 0, drain_until = 0;
    bool stopping = false, dereg_sent = false;
    struct epoll_event evs[512];
    for (;;) {
        int64_t now = sim_run_now_us();
        double el = (double)(now - t0) / 1e6;
        /* launches: paced by --rate, bounded by --window */
        if (!stopping) {
            unsigned target = o->count;
            if (o->rate > 0 && el * o->rate + 1 < (double)target)
                target = (unsigned)(el * o->rate) + 1;
            for (int n = 0; n < 2000 && r->registering < o->window; n++) {
                if (r->launched < target)
                    launch(r, r->launched);
                else if (r->ready_head != r->ready_tail)
                    relaunch(r, r->ready[r->ready_head++ % o->count]);
                else
                    break;
            }
            if (o->cycling && !r->steady_t0 && el >= o->warmup_s) {
                r->steady_t0 = now;
                r->steady_n0 = sim_stats_ok_count(r->env.stats, SIM_OP_REGISTER);
            }
        }
        /* end conditions */
        if (!stopping) {
            bool all = r->launched == o->count && r->finished == o->count;
            if (interrupted || (o->duration_s > 0 && el >= o->duration_s) ||
                (o->duration_s == 0 && all)) {
                stopping = true;
                r->env.stopping = true;
                steady_end(r);
                obs_drop(r);
                stop_at = now;
                drain_until = now + 35000000;
            }
        }
        if (stopping) {
            /* De-register once no REST observe is in flight: the server
             * would otherwise answer it 404 for a device that just left */
            if (o->deregister && !o->cycling && !dereg_sent && obs_idle(r)) {
                bool pending = false;
                for (unsigned i = 0; i < r->launched; i++) {
                    struct sim_client *c = &r->clients[i];
                    if (c->state == SIM_C_REGISTERED) {
                        if (sim_client_deregister(&r->env, c))
                            sim_run_schedule(r, c);
                        else
                            pending = true;
                    }
                }
                dereg_sent = !pending;
            }
            if ((dereg_sent || !o->deregister || o->cycling) && !any_outstanding(r) &&
                obs_idle(r))
                break;
            if (now >= drain_until || interrupted > 1)
                break;
        }
        if (now >= next_progress) {
            if (!o->quiet)
                sim_stats_progress(r->env.stats, stderr, el, r->launched);
            next_progress += 1000000;
        }
        /* wait: the next timer, launch, progress line, at most 100 ms */
        int64_t wake = next_progress;
        if (r->nheap && r->heap[0].at < wake)
            wake = r->heap[0].at;
        if (!stopping && r->registering < o->window &&
            (r->launched < o->count || r->ready_head != r->ready_tail))
            wake = now;
        int timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
        if (timeout > 100 || stopping)
            timeout = timeout > 100 ? 100 : timeout;
        int n = epoll_wait(r->ep, evs, 512, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == COAPS_TAG)
                sim_coaps_process();
            else
                readable(r, evs[i].data.u32);
        }
        run_timers(r, sim_run_now_us());
    }
    (void)stop_at;
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_run r = { 0 };
    int rc = parse_options(argc, argv, &r.opt);
    if (rc)
        return rc;
    struct ls_error err = { 0 };
    struct lwm2m_model *model = lwm2m_model_new(&err);
    struct sim_stats *stats = sim_stats_new();
    r.clients = calloc(r.opt.count, sizeof *r.clients);
    r.ready = r.opt.cycling ? calloc(r.opt.count, sizeof *r.ready) : NULL;
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!model || !stats || !r.clients || r.ep < 0 || (r.opt.cycling && !r.ready)) {
        fprintf(stderr, "lodestar-sim: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < r.opt.count; i++)
        r.clients[i].fd = -1;
    if (!open_sockets(&r))
        return 1;
    r.env = (struct sim_client_env){ .opt = &r.opt, .stats = stats, .model = model, .run = &r,
                                     .registered = on_registered, .finished = on_finished,
                                     .cycled = on_cycled };
    bool coaps = r.opt.server_secure || r.opt.bootstrap_secure;
    if (coaps) {
        sim_dtls_raise_nofile();     /* a socket per DTLS session */
        if (!sim_coaps_start(&r.env, r.ep, COAPS_TAG)) {
            fprintf(stderr, "lodestar-sim: cannot start libcoap\n");
            return 1;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    bool api = r.opt.api_set && (r.opt.scenario == SIM_OBSERVE || r.opt.scenario == SIM_MIXED);
    unsigned nthreads = api ? r.opt.api_threads : 0;
    r.threads = calloc(nthreads ? nthreads : 1, sizeof *r.threads);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_create(&r.threads[i], NULL, obs_worker, &r);

    int64_t t0 = sim_run_now_us();
    run(&r);
    double elapsed = (double)(sim_run_now_us() - t0) / 1e6;

    pthread_mutex_lock(&r.mu);
    r.obs_quit = true;
    r.obs_head = r.obs_tail;     /* drop what was not asked yet */
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(r.threads[i], NULL);

    /* whatever is still in flight now is a failure of its own kind */
    for (unsigned i = 0; i < r.launched; i++)
        if (r.clients[i].has_out)
            sim_stats_fail(stats, r.clients[i].out.op, "unfinished");
    struct sim_stats_run info = { .scenario = r.opt.scenario_name, .lwm2m = r.opt.lwm2m,
                                  .clients = r.opt.count, .launched = r.launched,
                                  .elapsed_s = elapsed, .prefix = r.opt.prefix,
                                  .cycling = r.opt.cycling, .cycles = r.opt.cycles };
    if (r.opt.cycling && r.steady_t0 && r.steady_t1 > r.steady_t0) {
        info.steady_from_s = (double)(r.steady_t0 - t0) / 1e6;
        info.steady_to_s = (double)(r.steady_t1 - t0) / 1e6;
        info.steady_registers = r.steady_n1 - r.steady_n0;
    }
    sim_stats_report(stats, &info, r.opt.json, stdout);
    int status = sim_stats_fail_total(stats) ? 1 : 0;

    for (unsigned i = 0; i < r.launched; i++)
        sim_client_close(&r.clients[i]);
    sim_coaps_stop();
    sim_csv_free(&r.opt.csv);
    free(r.clients);
    free(r.ready);
    free(r.heap);
    free(r.obsq);
    free(r.threads);
    for (unsigned k = 0; k < r.nsocks; k++)
        close(r.socks[k]);
    free(r.socks);
    close(r.ep);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    sim_stats_free(stats);
    lwm2m_model_free(model);
    if (r.opt.ack_log)
        fclose(r.opt.ack_log);
    return status;
}
