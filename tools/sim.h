/*
 * tools/sim.h -- lodestar-sim internals shared by its files: the options,
 * one simulated client, the run (loop state)
 *
 * lodestar_sim.c parses flags and runs the loop; sim_client.c is one
 * client's protocol state machine (Register, Update, De-register, Send,
 * notifications, answers to the server's requests).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TOOLS_SIM_H
#define LODESTAR_TOOLS_SIM_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lwm2m/model.h"
#include "tools/sim_coap.h"
#include "tools/sim_csv.h"
#include "tools/sim_device.h"
#include "tools/sim_firmware.h"
#include "tools/sim_stats.h"

enum sim_scenario { SIM_REGISTER, SIM_OBSERVE, SIM_SEND, SIM_MIXED, SIM_BOOTSTRAP };

struct sim_options {
    unsigned count;            /* --count */
    double rate;               /* --rate new clients/s; 0 = as fast as the window allows */
    unsigned window;           /* --window Registers in flight at once */
    double duration_s;         /* --duration; 0 = until every client registered */
    enum sim_scenario scenario;
    const char *scenario_name;
    struct sockaddr_in server; /* --server */
    bool server_secure;        /* coaps://: DTLS-PSK with --psk-csv's server accounts */
    bool bootstrap_set;        /* --bootstrap: Bootstrap-Request first */
    struct sockaddr_in bootstrap;
    bool bootstrap_secure;     /* coaps://: DTLS-PSK with --factory-csv's bootstrap accounts */
    const char *csv_path;      /* --psk-csv / --factory-csv */
    struct sim_csv csv;        /* its rows: client i is row i (endpoint names too) */
    const char *lwm2m;         /* --lwm2m 1.0 | 1.1 | 1.2 */
    unsigned format;           /* --format: answers to reads without Accept, notifications */
    unsigned send_format;      /* Send: SenML CBOR unless --format names a SenML/CBOR one */
    bool json;                 /* --json */
    bool quiet;                /* --quiet: no progress lines */
    bool queue;                /* --queue: sleeps after --awake, wakes every --sleep */
    double awake_s;            /* --awake: awake this long after it last sent anything */
    double sleep_s;            /* --sleep: then asleep (answers nothing) this long */
    bool deregister;           /* --deregister at the end (with --cycles: in every cycle) */
    bool cycling;              /* --cycles given: clients register again and again */
    unsigned cycles;           /* --cycles N per client; 0 = until --duration ends */
    double warmup_s;           /* --warmup: the steady window starts this long after the start */
    int lifetime_s;            /* --lifetime */
    double interval_s;         /* --interval: notifications, Sends */
    const char *prefix;        /* --prefix of endpoint names */
    char prefix_buf[32];
    uint8_t src_net;           /* --src-net: source addresses 127.A.x.y */
    bool api_set;              /* --api URL --token T: observe through the REST API */
    struct sockaddr_in api;
    const char *token;
    unsigned api_threads;      /* --api-threads */
    const char *observe_path;  /* --observe-path, default /3303/0/5700 */
    const char *ack_log_path;  /* --ack-log FILE */
    FILE *ack_log;             /* one line per acknowledged operation, flushed */
};

enum sim_state {
    SIM_C_IDLE,           /* not launched */
    SIM_C_BOOTSTRAPPING,  /* Bootstrap-Request sent, waiting for Finish */
    SIM_C_REGISTERING,
    SIM_C_REGISTERED,
    SIM_C_DONE,           /* de-registered, or gave up */
};

/* A PSK account: identity and key (not owned). */
struct sim_psk {
    const uint8_t *id;
    size_t id_len;
    const uint8_t *key;
    size_t key_len;
};

/* What the Bootstrap-Server wrote for the LwM2M Server account. */
struct sim_bs_account {
    struct sockaddr_in addr;
    bool secure;              /* coaps:// */
    unsigned mode;            /* /0/x/2: 0 PSK, 3 NoSec */
    uint8_t identity[128];    /* /0/x/3 */
    size_t identity_len;
    uint8_t key[64];          /* /0/x/5 */
    size_t key_len;
};

/* The one CON request a client has in flight (NSTART = 1). */
struct sim_out {
    enum sim_op op;
    uint16_t mid;
    uint8_t token[4];
    bool acked;           /* empty ACK seen: waiting for a separate response */
    uint8_t tries;
    int64_t first_us, deadline_us, timeout_us;
    uint8_t *data;        /* the datagram, for retransmissions; heap */
    uint16_t len;
    unsigned values;      /* telemetry values it carries */
};

struct sim_client {
    int fd;               /* the shared socket it sends on (not owned) */
    uint32_t src_addr;    /* its own source address, host order */
    const struct sockaddr_in *peer;   /* where its datagrams go */
    uint8_t state;        /* enum sim_state */
    bool observing;
    bool sends;           /* this client sends Send periodically */
    bool wants_observe;   /* this client asks the REST API to observe it */
    struct sim_dev dev;
    char location[24];    /* "rd/xyz" from the 2.01 */
    struct sim_out out;
    bool has_out;
    int64_t timer_at;     /* the heap entry that is current */
    int64_t next_update_us, next_notify_us, next_send_us;
    uint8_t obs_token[8];
    uint8_t obs_token_len;
    struct lwm2m_path obs_path;
    unsigned obs_format;
    uint32_t obs_seq;
    uint16_t next_mid;
    uint16_t last_srv_mid;        /* de-duplication of the server's CONs */
    bool has_last_srv;
    bool bs_has_server;           /* a Server account was written in bootstrap */
    bool bs_finish_due;           /* Finish answered: Register next */
    int64_t bs_start_us, bs_deadline_us;
    struct sockaddr_in bs_server; /* its URI */
    struct sim_bs_account *bs;    /* written in bootstrap; heap */
    /* libcoap transport (sim_coaps.c): DTLS-PSK, or UDP after such a bootstrap */
    bool lc;
    bool lc_has_mid;
    uint16_t lc_mid;              /* the last request handed to libcoap */
    void *lc_session;             /* coap_session_t */
    const struct sockaddr_in *lc_peer;   /* where lc_session goes */
    struct sim_psk psk;           /* the account for the current peer (id NULL: no DTLS) */
    struct sim_firmware *fw;      /* /5/0/0 written, or being written; heap */
    int64_t awake_until;          /* --queue: asleep from then until + --sleep */
    uint8_t reg_retries;          /* Register / Bootstrap-Request retried (DTLS) */
    unsigned cycles_done;         /* --cycles: cycles ended */
    int64_t reg_retry_at;         /* when the next one goes out; 0: none due */
    uint8_t *last_resp;           /* the answer to last_srv_mid; heap */
    uint16_t last_resp_len;
};

struct sim_run;

/* Called by the client code; implemented in lodestar_sim.c. */
void sim_run_schedule(struct sim_run *r, struct sim_client *c);
int64_t sim_run_now_us(void);
double sim_run_wall_s(void);

/* sim_client.c */
struct sim_client_env {
    const struct sim_options *opt;
    struct sim_stats *stats;
    const struct lwm2m_model *model;
    struct sim_run *run;
    bool stopping;                 /* no new periodic work */
    void (*registered)(struct sim_run *r, struct sim_client *c);   /* first 2.01 */
    void (*finished)(struct sim_run *r, struct sim_client *c);     /* Register ended */
    /* --cycles: a cycle ended well and the client (SIM_C_IDLE, session
     * closed) waits for the run to start its next one with sim_client_cycle */
    void (*cycled)(struct sim_run *r, struct sim_client *c);
};

void sim_client_endpoint(const struct sim_options *opt, uint32_t idx, char *out, size_t cap);
/* Sends the Register (or Bootstrap-Request) from src_addr on socket fd. */
void sim_client_start(struct sim_client_env *e, struct sim_client *c, uint32_t idx, int fd,
                      uint32_t src_addr);
/* --cycles: the next cycle of a client that cycled (a new DTLS session,
 * so a full handshake, then Register). */
void sim_client_cycle(struct sim_client_env *e, struct sim_client *c);
/* A datagram that arrived for this client. */
void sim_client_datagram(struct sim_client_env *e, struct sim_client *c, const uint8_t *buf,
                         size_t len);
/* Timers: retransmission, give-up, periodic Update / notification / Send. */
void sim_client_tick(struct sim_client_env *e, struct sim_client *c, int64_t now_us);
/* The next time tick should run, or INT64_MAX. */
int64_t sim_client_next(const struct sim_client_env *e, const struct sim_client *c);
/* De-register (when registered and idle); true when a request went out. */
bool sim_client_deregister(struct sim_client_env *e, struct sim_client *c);
void sim_client_close(struct sim_client *c);
/* The transport under the client failed (DTLS handshake, session gone):
 * the outstanding request, if any, fails with cause. */
void sim_client_transport_failed(struct sim_client_env *e, struct sim_client *c,
                                 const char *cause);

/* sim_coaps.c: clients with lc set send and receive through libcoap. */
bool sim_coaps_start(struct sim_client_env *e, int epfd, uint32_t tag);
void sim_coaps_process(void);   /* libcoap's fd readable, or a loop turn */
void sim_coaps_xmit(struct sim_client *c, const uint8_t *data, size_t len);
void sim_coaps_close(struct sim_client *c);
void sim_coaps_stop(void);

#endif /* LODESTAR_TOOLS_SIM_H */
