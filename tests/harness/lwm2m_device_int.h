/*
 * tests/harness/lwm2m_device_int.h -- shared inside the test device only
 *
 * The device struct and the calls between its files: lwm2m_device.c (the
 * session, blocking requests, thread, sleep, failure injection, Send),
 * lwm2m_device_tree.c (the object tree and the value API),
 * lwm2m_device_dm.c (Device Management handlers: libcoap resources) and
 * lwm2m_device_bootstrap.c (the bootstrap-client role).
 *
 * Locking: d->mu guards everything below it.  libcoap runs only with d->mu
 * held (the loop thread takes it around coap_io_process; the public calls
 * take it), so handlers run with the lock held and never take it again.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_INT_H
#define LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_INT_H

#include "lwm2m_device.h"

#include <pthread.h>

#include "lwm2m/data.h"
#include "lwm2m/format.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"

/* One leaf value of the tree; bytes owned (malloc). */
struct dev_value {
    struct lwm2m_path path;   /* resource or resource instance */
    enum lwm2m_type type;
    union {
        int64_t i;
        uint64_t u;
        double f;
        bool b;
        struct lwm2m_objlnk objlnk;
    } v;
    uint8_t *bytes;           /* STRING, OPAQUE, CORELNK */
    size_t len;
};

struct dev_tree {
    struct dev_value *vals;   /* sorted by path */
    size_t n, cap;
    struct lwm2m_path *insts; /* existing object instances, sorted */
    size_t ninst, icap;
};

struct dev_attr {
    struct lwm2m_path path;
    char text[256];           /* "pmin=10&pmax=60" normalised */
    int64_t pmax_s;           /* -1 none */
    int64_t last_notify_ms;
};

struct dev_exec {
    struct lwm2m_path path;
    char args[256];
    unsigned count;
};

struct dev_count {
    coap_pdu_code_t method;
    char path[LWM2M_PATH_STR_MAX];
    unsigned count;
};

struct dev_fail {
    coap_pdu_code_t method;   /* 0 = any */
    char path[LWM2M_PATH_STR_MAX]; /* "" = any */
    int code;                 /* class*100+detail */
    bool used;
};

#define DEV_MAX_FAILS 16

struct harness_device {
    coap_context_t *ctx;
    coap_session_t *session;
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* answered / bootstrap state changed */
    pthread_t thread;
    bool thread_running;
    volatile bool thread_stop;

    uint8_t token[8];             /* of the request in flight */
    size_t token_len;
    bool answered;
    int code;
    char location[128];
    uint8_t *answer_body;         /* payload of the answer (malloc) */
    size_t answer_len;
    bool dtls_failed;
    char server[128];             /* options.server */
    char psk_identity[256];
    uint8_t psk_key[64];
    size_t psk_key_len;
    char rpk_pem[8192];           /* libcoap keeps pointers into it */
    uint8_t cert_der[2048];       /* X.509 from DER (issue 7): likewise */
    size_t cert_der_len;
    uint8_t key_der[512];
    size_t key_der_len;

    /* LwM2M */
    char version[4];              /* "1.0", "1.1", "1.2" */
    struct lwm2m_model *model;
    struct dev_tree tree;
    struct dev_attr *attrs;
    size_t nattrs;
    struct dev_exec *execs;
    size_t nexecs;
    struct dev_count *counts;
    size_t ncounts;
    struct dev_fail fails[DEV_MAX_FAILS];
    unsigned notify_count;
    int last_format;
    struct { uint8_t tok[8]; size_t len; } observers[64]; /* established */
    size_t nobservers;
    bool asleep;
    int sock_fd;                  /* found on first sleep; -1 unknown */

    /* bootstrap */
    bool bootstrapping;           /* serve BS operations */
    bool bs_finished;
    struct harness_bs_result bs;
};

/* lwm2m_device.c */
int64_t dev_now_ms(void);
int dev_code_number(coap_pdu_code_t c);
coap_pdu_code_t dev_code_pdu(int code);
/* Pumps libcoap (or waits on cv when the thread runs) until *flag or the
 * deadline; d->mu held on entry and exit. */
void dev_wait_locked(struct harness_device *d, const bool *flag, int64_t deadline_ms);
/* Sends a request (mu held) and waits for its answer; answer body kept in
 * d->answer_body.  accept < 0: none; cf < 0: none. */
int dev_request_locked(struct harness_device *d, coap_pdu_code_t method, const char *path,
                       const char *const query[], const uint8_t *payload, size_t len, int cf,
                       int accept, int64_t timeout_ms);
/* Failure injection: true when req must be failed (code in *code, 0 =
 * drop); counts the request too. */
bool dev_check_fail(struct harness_device *d, coap_pdu_code_t method, const char *path,
                    int *code);

/* lwm2m_device_tree.c */
bool dev_tree_init(struct harness_device *d, const struct harness_device_options *o);
void dev_tree_free(struct dev_tree *t);
bool dev_tree_copy(struct dev_tree *dst, const struct dev_tree *src);
struct dev_value *dev_tree_find(struct dev_tree *t, const struct lwm2m_path *p);
bool dev_tree_has_instance(const struct dev_tree *t, uint16_t obj, uint16_t inst);
bool dev_tree_has_object(const struct dev_tree *t, uint16_t obj);
bool dev_tree_add_instance(struct dev_tree *t, uint16_t obj, uint16_t inst);
/* Removes every value (and instance) under p. */
void dev_tree_remove(struct dev_tree *t, const struct lwm2m_path *p);
/* Stores v (copying bytes); replaces a value with the same path; creates
 * the instance.  false on ENOMEM. */
bool dev_tree_put(struct dev_tree *t, const struct lwm2m_value *v);
/* Appends every value under p (sorted) to out; empty instances as NONE
 * values when p is an object or root and with_empty. */
bool dev_tree_collect(const struct dev_tree *t, const struct lwm2m_path *p,
                      struct lwm2m_data *out, bool with_empty);
bool dev_tree_exists(const struct dev_tree *t, const struct lwm2m_path *p);
/* Text form of a value (see the header). */
void dev_value_text(const struct dev_value *v, char *buf, size_t cap);
bool dev_path_parse(const char *text, struct lwm2m_path *out);
/* Resource definition or NULL. */
const struct lwm2m_resource_def *dev_resdef(struct harness_device *d, uint16_t obj,
                                            uint16_t res);
/* After a change under p: notify observers of p's resources and parents. */
void dev_changed_locked(struct harness_device *d, const struct lwm2m_path *p);

/* lwm2m_device_dm.c */
bool dev_dm_init(struct harness_device *d);
/* Makes sure libcoap resources exist for every node of the tree. */
void dev_dm_sync_resources(struct harness_device *d);
void dev_dm_periodic_locked(struct harness_device *d);
/* Encodes the values under paths in format (0 = default) for Send. */
bool dev_dm_encode(struct harness_device *d, unsigned format, const struct lwm2m_data *in,
                   const struct lwm2m_path *base, struct lwm2m_buf *out);
bool dev_format_supported(const struct harness_device *d, unsigned format);
/* Write (DM: replace or update; bootstrap: BS-Write semantics) of the
 * request payload at p; returns the CoAP code to answer. */
int dev_dm_write(struct harness_device *d, const coap_pdu_t *req, const struct lwm2m_path *p,
                 bool replace, bool bootstrap);

/* Read of p answered into resp (2.05 or an error code). */
void dev_dm_read(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                 const coap_pdu_t *req, coap_pdu_t *resp, const coap_string_t *q,
                 const struct lwm2m_path *p);

/* lwm2m_device_bootstrap.c: the BS handler for a request while
 * d->bootstrapping (path NULL: not an LwM2M path, e.g. "bs"); returns
 * true when it answered. */
bool dev_bs_handle(struct harness_device *d, coap_resource_t *r, coap_session_t *s,
                   const coap_pdu_t *req, const coap_string_t *q,
                   const struct lwm2m_path *path, coap_pdu_t *resp);

#endif /* LODESTAR_TESTS_HARNESS_LWM2M_DEVICE_INT_H */
