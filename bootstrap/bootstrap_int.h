/*
 * bootstrap/bootstrap_int.h -- what the files of bootstrap/ share
 *
 * struct bootstrap_server is the daemon's state, owned by the loop thread
 * except the atomic counters (read by the metrics thread).  A bs_session is
 * one bootstrap exchange: created by the /bs or /bspack handler
 * (bootstrap.c), resolved on a database thread, then driven by session.c
 * (the sequence) or pack.c (the pack answer), and recorded when it ends.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_BOOTSTRAP_BOOTSTRAP_INT_H
#define LODESTAR_BOOTSTRAP_BOOTSTRAP_INT_H

#include <coap3/coap.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bootstrap/bootstrap.h"
#include "bootstrap/x509.h"
#include "lwm2m/bsconfig.h"
#include "lwm2m/data.h"
#include "runtime/addr.h"
#include "runtime/loop.h"
#include "store/secret.h"

struct bootstrap_db;
struct runtime_coap;
struct runtime_credcache;
struct store_credentials_watch;
struct lwm2m_model;

#define BS_ENDPOINT_MAX 256      /* bytes of an endpoint name we accept */
#define BS_IDENTITY_MAX 300      /* PSK identity as text */
/* Request timeout, retransmissions and the session deadline come from the
 * configuration ("ack_timeout_ms", "max_retransmit", "session_timeout_s";
 * defaults LWM2M_BSCONFIG_*); until it is resolved the default deadline runs. */
#define BS_ISSUED_KEY_LEN 16

/* Why a session failed: the label of lodestar_bootstrap_failed_total. */
enum bs_cause {
    BS_CAUSE_NONE = 0,
    BS_CAUSE_TIMEOUT,          /* no answer to a request, or the deadline */
    BS_CAUSE_DEVICE_ERROR,     /* the client answered a write/read with an error */
    BS_CAUSE_FINISH_REJECTED,  /* 4.06 (or other error) on Bootstrap-Finish */
    BS_CAUSE_SESSION_CLOSED,   /* DTLS session went away */
    BS_CAUSE_INTERNAL,         /* database, plan, encoding */
    BS_CAUSE_SUPERSEDED,       /* a new Bootstrap-Request from the same endpoint */
    BS_CAUSE_COUNT
};
const char *bs_cause_name(enum bs_cause c);

enum bs_step {
    BS_STEP_RESOLVING = 0,     /* waiting for the database thread */
    BS_STEP_ANSWERING,         /* the /bs answer is being sent */
    BS_STEP_DISCOVER,
    BS_STEP_READ,
    BS_STEP_DELETE,
    BS_STEP_WRITE,
    BS_STEP_FINISH,
    BS_STEP_DONE,
};

struct bs_issued {
    char identity[BS_IDENTITY_MAX];     /* PSK identity; x509: the certificate id */
    uint8_t key[BS_ISSUED_KEY_LEN];     /* PSK key */
    struct bootstrap_x509_issued x509;  /* x509 accounts: key pair + certificate */
};

struct bs_session;
/* The issued credentials of bs as plan_build wants them (is: room for
 * cfg->n_servers entries; session.c and pack.c). */
void bs_session_issued(const struct bs_session *bs, struct lwm2m_bsconfig_issued *is);

struct bs_session {
    struct bootstrap_server *b;
    struct bs_session *next_all;        /* b->sessions list */
    struct bs_session *next_ready;      /* b->ready list (advance after io) */
    bool in_ready;
    bool pack;                          /* GET /bspack */
    coap_session_t *session;            /* referenced; NULL once gone */
    uint8_t req_token[8];               /* the /bs or /bspack request token */
    size_t req_token_len;
    char endpoint[BS_ENDPOINT_MAX];
    char identity[BS_IDENTITY_MAX];     /* "" on NoSec */
    bool nosec;                         /* plain CoAP: no DTLS at all */
    char address[RUNTIME_ADDR_STR_MAX];
    unsigned pct;                       /* 0 = none given */
    unsigned format;                    /* write format / pack format */
    unsigned accept;                    /* /bspack Accept */
    int64_t started_ms;
    struct runtime_loop_timer deadline;
    /* resolution result (written by the db thread, read after done) */
    enum ls_rc resolve_rc;
    char resolve_msg[160];
    char *config_name;
    const char *nosec_refused;          /* static: why NoSec is refused (4.01), cfg NULL */
    bool nosec_by_config;               /* ... because of "allow_nosec": false */
    struct lwm2m_bsconfig *cfg;
    struct bs_issued *issued;           /* cfg->n_servers entries */
    /* the sequence */
    enum bs_step step;
    struct lwm2m_bsconfig_client client;
    struct lwm2m_bsconfig_plan plan;
    bool planned;
    size_t idx;                         /* next delete / write */
    unsigned read_tries;                /* BS-Read /1 then /2 */
    bool outstanding;
    uint8_t token[8];
    size_t token_len;
    coap_pdu_code_t answer;             /* code of the last answer (0 = none) */
    /* record */
    void *requests;                     /* json_t array of {"op","path","code"} */
    enum bs_cause cause;
    char cause_text[200];
    bool finished;                      /* outcome decided, record queued */
    bool success;
};

struct bs_stats {
    atomic_ullong started, succeeded, refused, rate_limited, pack_served;
    atomic_ullong nosec_refused_credential, nosec_refused_config;
    atomic_ullong failed[BS_CAUSE_COUNT];
    atomic_ullong duration_bucket[12];  /* cumulative by bound, see bootstrap.c */
    atomic_ullong duration_count;
    atomic_ullong duration_sum_ms;
    atomic_ullong in_progress;
};

struct bs_rate;

struct bootstrap_server {
    struct runtime_loop *loop;
    struct runtime_coap *coap;
    struct bootstrap_db *db;
    struct store_credentials_watch *watch;
    struct runtime_credcache *creds;    /* loop thread */
    struct lwm2m_model *model;          /* read-only after start: any thread */
    struct store_secret_key key;
    unsigned rate_limit;                /* per endpoint per minute; 0 = off */
    int64_t issued_ttl_s;               /* expires_at of issued credentials; 0 = none */
    struct bootstrap_x509 *x509;        /* device CA (issue 7); NULL = none */
    struct bs_rate *rate;
    struct runtime_loop_timer rate_prune;
    struct bs_session *sessions;        /* every live session */
    struct bs_session *ready;           /* to advance after coap_io_process */
    struct bs_stats st;
    /* async entries answered inside a handler, freed after io */
    struct bs_fin { coap_session_t *s; uint8_t tok[8]; size_t len; } *fin;
    size_t n_fin, cap_fin;
};

/* bootstrap.c */
void bs_session_ready(struct bs_session *bs);
void bs_session_end(struct bs_session *bs, bool success, enum bs_cause cause,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void bs_session_note(struct bs_session *bs, const char *op, const char *path,
                     coap_pdu_code_t code);

/* session.c: the BS sequence */
void bs_sequence_start(struct bs_session *bs);
void bs_sequence_advance(struct bs_session *bs);
bool bs_sequence_on_response(struct bs_session *bs, const coap_pdu_t *received);
void bs_sequence_on_nack(struct bs_session *bs, coap_nack_reason_t reason);
/* "BS-Discover", "BS-Write", ... for records and logs */
const char *bs_step_name(enum bs_step step);

/* pack.c: the /bspack answer into resp (code set); false -> caller answers
 * with the code set in resp already */
void bs_pack_answer(struct bs_session *bs, coap_resource_t *r, coap_session_t *s,
                    const coap_pdu_t *req, coap_pdu_t *resp);

#endif /* LODESTAR_BOOTSTRAP_BOOTSTRAP_INT_H */
