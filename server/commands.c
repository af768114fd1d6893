/*
 * server/commands.c -- queue mode, durable commands, routing between instances
 *
 * Two threads.  The loop thread (libcoap's) keeps what must be decided at
 * once: which queue-mode devices are awake (a hash by endpoint, each entry
 * with its MAX_TRANSMIT_WAIT timer), the HTTP calls waiting for a routed
 * command, and the hand-off to server_devops_execute.  The command thread
 * owns one Postgres connection that both works (store/commands.c, one
 * autocommit statement per change) and LISTENs on lodestar_commands and
 * lodestar_command_done: one connection suffices because libpq keeps
 * notifications that arrive during a query for PQnotifies.
 *
 * Loop -> thread: jobs in a FIFO (mutex + eventfd).  Thread -> loop:
 * finished jobs in an outbox drained by one runtime_loop_post (the
 * credential watcher's pattern), so a stop frees what is left in one place.
 *
 * QUEUE DELIVERY.  device_awake on a queue-mode device: awake until now +
 * awake_ms ('awake' event when it was asleep); if no delivery is in
 * progress, claim the oldest queued command (queued -> sent, FOR UPDATE
 * SKIP LOCKED so two instances never send the same one), run it through
 * devops, store the result (done | failed), then claim the next: in order,
 * one outstanding at a time.  A command claimed just as the window closed
 * goes back to queued.  When the window ends: 'sleeping' event.  A command
 * that fails on the device (timeout included) is failed, not retried: the
 * caller sees its result and decides.
 *
 * ROUTING.  An API call for a device this instance does not hold: the
 * command thread looks up the holder (registrations.instance_id and its
 * heartbeat).  Live holder: insert a 'route' command with target_instance
 * and NOTIFY lodestar_commands; the holder takes it (-> sent, mode
 * 'held'), runs it (or queues it for its sleeping queue-mode device, or
 * fails it 404 when it no longer holds the device) and finishes it with
 * NOTIFY lodestar_command_done; this instance reads the outcome and
 * answers the waiting call with the stored status and body.  The wait is
 * the call's timeout plus ROUTE_MARGIN_MS (the holder answers 504 itself
 * at the timeout); past it the caller gets 504 and a command the holder
 * never took is marked expired (one it took ends done/failed on its own).
 * Dead or no holder: a queue-mode device's command is queued for whichever
 * instance the device next talks to (202); otherwise 404 not_registered.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/commands.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lwm2m/format.h"
#include "runtime/log.h"
#include "server/command.h"
#include "server/devops.h"
#include "server/registry.h"
#include "store/commands.h"
#include "store/store.h"
#include "web/http.h"

#define AWAKE_BUCKETS 4096
#define TICK_MS 1000               /* expiry sweep, missed-notification check */
#define ROUTE_MARGIN_MS 1000       /* past the holder's own timeout */
#define DELIVERY_TIMEOUT_MS 10000  /* a queued command sent to the woken device */
#define TTL_MAX_S (366LL * 86400)

enum job_kind {
    J_QUEUE,      /* insert for a held sleeping device -> 202 */
    J_ROUTE,      /* not held here: route, queue or 404 */
    J_CLAIM,      /* next queued command of an awake device */
    J_FINISH,     /* store a result */
    J_REQUEUE,    /* sent -> queued */
    J_TO_QUEUE,   /* a held routed command waits for its device */
    J_ABANDON,    /* a routed wait timed out */
    J_EVENT,      /* awake / sleeping */
    J_ROUTED,     /* thread -> loop only: a routed command to run here */
    J_OUTCOME,    /* thread -> loop only: a routed command settled */
};

/* One unit of work; travels loop -> thread -> loop (answer filled). */
struct job {
    struct job *next;
    enum job_kind kind;
    char *endpoint;                  /* owned */
    char *body;                      /* owned: command JSON, result JSON, event detail */
    int format;                      /* -1 = none */
    int64_t actor;                   /* api_tokens.id, 0 = none */
    int64_t timeout_ms;
    int64_t id;                      /* command id */
    char event[16];                  /* J_EVENT kind */
    web_device_done_fn *done;        /* J_QUEUE / J_ROUTE caller */
    void *ctx;
    /* answer */
    unsigned status;                 /* 0 = no HTTP answer (J_ROUTE: routed, wait) */
    char *answer;                    /* owned JSON */
    int64_t remaining_ms;            /* J_CLAIM / J_ROUTED */
    bool found;                      /* J_CLAIM: a command came */
    /* a routed call waiting on the loop */
    struct runtime_loop_timer timer;
    struct server_commands *c;
    struct job *prev_wait, *next_wait;
};

/* A queue-mode device in its awake window (or delivering past it). */
struct awake {
    struct awake *next;              /* hash chain */
    struct server_commands *c;
    char *endpoint;                  /* owned */
    int64_t until_ms;                /* loop clock; 0 = asleep */
    bool busy;                       /* a claim or a command in flight */
    struct runtime_loop_timer timer;
};

/* A command of an awake device in devops. */
struct delivery {
    struct server_commands *c;       /* NULL once stopped: devops may answer later */
    int64_t id;
    char *endpoint;
    struct delivery *prev, *next;    /* c->deliveries */
};

struct server_commands {
    struct runtime_loop *loop;
    struct server_registry *registry;
    struct server_devops *devops;
    char instance[64];
    char *conninfo;
    int64_t awake_ms;
    int64_t ttl_default_s;
    bool stopping;
    /* loop thread */
    struct awake *buckets[AWAKE_BUCKETS];
    struct job *waiting;             /* routed calls, by the timer */
    struct delivery *deliveries;     /* commands in devops */
    /* shared */
    pthread_t thread;
    int wake_fd;                     /* eventfd: jobs or stop */
    pthread_mutex_t lock;            /* guards the fields below */
    struct job *jobs, *jobs_tail;    /* loop -> thread */
    struct job *outbox, *outbox_tail;/* thread -> loop */
    bool posted;                     /* a drain post is pending */
    bool stop;
    /* command thread */
    int64_t *awaited;                /* routed command ids we wait for */
    size_t n_awaited, cap_awaited;
    bool routed_due;                 /* a lodestar_commands notification came */
};

/* ---- helpers ---- */

static char *error_json(const char *code, const char *fmt, ...) LS_PRINTF(2, 3);
static char *error_json(const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->endpoint);
    free(j->body);
    free(j->answer);
    free(j);
}

static struct job *job_new(struct server_commands *c, enum job_kind kind, const char *endpoint,
                           const char *body)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->kind = kind;
    j->c = c;
    j->format = -1;
    j->endpoint = endpoint ? strdup(endpoint) : NULL;
    j->body = body ? strdup(body) : NULL;
    if ((endpoint && !j->endpoint) || (body && !j->body)) {
        job_free(j);
        return NULL;
    }
    return j;
}

static void wake(struct server_commands *c)
{
    uint64_t one = 1;
    if (write(c->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        ls_log_warn("commands_wake_failed", "error=\"%s\"", strerror(errno));
}

/* Loop thread: hand j to the command thread.  false when stopping. */
static bool submit_job(struct server_commands *c, struct job *j)
{
    pthread_mutex_lock(&c->lock);
    bool ok = !c->stop;
    if (ok) {
        if (c->jobs_tail)
            c->jobs_tail->next = j;
        else
            c->jobs = j;
        c->jobs_tail = j;
    }
    pthread_mutex_unlock(&c->lock);
    if (ok)
        wake(c);
    return ok;
}

/* Fire-and-forget job; logged when it cannot be queued. */
static void background(struct server_commands *c, struct job *j, const char *what)
{
    if (!j || !submit_job(c, j)) {
        ls_log_warn("command_job_dropped", "what=%s", what);
        job_free(j);
    }
}

/* ---- the awake table (loop thread) ---- */

static size_t bucket_of(const char *endpoint)
{
    uint64_t h = 1469598103934665603ULL;    /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)endpoint; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % AWAKE_BUCKETS);
}

static struct awake *awake_find(const struct server_commands *c, const char *endpoint)
{
    for (struct awake *a = c->buckets[bucket_of(endpoint)]; a; a = a->next)
        if (strcmp(a->endpoint, endpoint) == 0)
            return a;
    return NULL;
}

static void awake_drop(struct awake *a)
{
    struct awake **pp = &a->c->buckets[bucket_of(a->endpoint)];
    while (*pp != a)
        pp = &(*pp)->next;
    *pp = a->next;
    runtime_loop_timer_stop(a->c->loop, &a->timer);
    free(a->endpoint);
    free(a);
}

static bool is_awake(const struct server_commands *c, const struct awake *a)
{
    return a && a->until_ms > runtime_loop_now_ms(c->loop);
}

static void post_event(struct server_commands *c, const char *endpoint, const char *kind,
                       const char *detail)
{
    struct job *j = job_new(c, J_EVENT, endpoint, detail);
    if (j)
        snprintf(j->event, sizeof j->event, "%s", kind);
    background(c, j, kind);
}

static void on_sleep(struct runtime_loop *loop, void *arg)
{
    struct awake *a = arg;
    (void)loop;
    a->until_ms = 0;
    ls_log_debug("device_sleeping", "endpoint=%s", a->endpoint);
    post_event(a->c, a->endpoint, "sleeping", "{}");
    if (!a->busy)
        awake_drop(a);
}

static void claim_next(struct server_commands *c, struct awake *a)
{
    struct job *j = job_new(c, J_CLAIM, a->endpoint, NULL);
    if (!j || !submit_job(c, j)) {
        job_free(j);
        return;
    }
    a->busy = true;
}

/* ---- loop thread: answers from the command thread ---- */

static void delivered(void *arg, unsigned http_status, const char *json)
{
    struct delivery *d = arg;
    struct server_commands *c = d->c;
    if (!c) {                        /* stopped meanwhile: the row stays 'sent' */
        free(d->endpoint);
        free(d);
        return;
    }
    if (d->prev)
        d->prev->next = d->next;
    else
        c->deliveries = d->next;
    if (d->next)
        d->next->prev = d->prev;
    struct job *j = job_new(c, J_FINISH, d->endpoint, json ? json : "{}");
    if (j) {
        j->id = d->id;
        j->status = http_status;
    }
    ls_log_info("command_delivered", "id=%" PRId64 " endpoint=%s status=%u", d->id,
                d->endpoint, http_status);
    background(c, j, "finish");
    free(d->endpoint);
    free(d);
}

/* Runs command id (body) on the device now. */
static void run_command(struct server_commands *c, struct server_reg *reg, int64_t id,
                        const char *body, int64_t timeout_ms)
{
    struct delivery *d = calloc(1, sizeof *d);
    if (d && !(d->endpoint = strdup(reg->endpoint))) {
        free(d);
        d = NULL;
    }
    if (!d) {
        char *e = error_json("internal", "out of memory");
        struct job *j = job_new(c, J_FINISH, reg->endpoint, e ? e : "{}");
        if (j) {
            j->id = id;
            j->status = 503;
        }
        background(c, j, "finish");
        free(e);
        return;
    }
    d->c = c;
    d->id = id;
    d->next = c->deliveries;
    if (d->next)
        d->next->prev = d;
    c->deliveries = d;
    server_devops_execute(c->devops, reg, body, timeout_ms, delivered, d);
}

static void claimed(struct server_commands *c, struct job *j)
{
    struct awake *a = awake_find(c, j->endpoint);
    struct server_reg *reg = server_registry_by_endpoint(c->registry, j->endpoint);
    if (!j->found) {
        if (a) {
            a->busy = false;
            if (!a->until_ms)
                awake_drop(a);
        }
        return;
    }
    if (!a || !is_awake(c, a) || !reg) {
        struct job *r = job_new(c, J_REQUEUE, j->endpoint, NULL);
        if (r)
            r->id = j->id;
        background(c, r, "requeue");
        if (a) {
            a->busy = false;
            if (!a->until_ms)
                awake_drop(a);
        }
        return;
    }
    int64_t t = DELIVERY_TIMEOUT_MS;
    if (j->remaining_ms >= 0 && j->remaining_ms < t)
        t = j->remaining_ms > 1000 ? j->remaining_ms : 1000;
    run_command(c, reg, j->id, j->body, t);
}

/* A finished delivery: the next one, if the device is still awake. */
static void finished(struct server_commands *c, struct job *j)
{
    struct awake *a = j->endpoint ? awake_find(c, j->endpoint) : NULL;
    if (!a || !a->busy)
        return;
    a->busy = false;
    if (is_awake(c, a))
        claim_next(c, a);
    else if (!a->until_ms)
        awake_drop(a);
}

/* A routed command for a device this instance should hold. */
static void routed_here(struct server_commands *c, struct job *j)
{
    struct server_reg *reg = server_registry_by_endpoint(c->registry, j->endpoint);
    if (reg && server_commands_can_send(c, reg)) {
        run_command(c, reg, j->id, j->body, j->remaining_ms > 0 ? j->remaining_ms : 1000);
        return;
    }
    struct job *r;
    if (reg) {           /* a sleeping queue-mode device */
        r = job_new(c, J_TO_QUEUE, j->endpoint, NULL);
    } else {
        char *e = error_json("not_registered", "device \"%s\" is not registered",
                             j->endpoint);
        r = job_new(c, J_FINISH, j->endpoint, e ? e : "{}");
        if (r)
            r->status = 404;
        free(e);
    }
    if (r)
        r->id = j->id;
    background(c, r, "routed");
}

static void wait_unlink(struct server_commands *c, struct job *j)
{
    if (j->prev_wait)
        j->prev_wait->next_wait = j->next_wait;
    else
        c->waiting = j->next_wait;
    if (j->next_wait)
        j->next_wait->prev_wait = j->prev_wait;
    runtime_loop_timer_stop(c->loop, &j->timer);
}

static void route_timeout(struct runtime_loop *loop, void *arg)
{
    struct job *j = arg;
    struct server_commands *c = j->c;
    (void)loop;
    wait_unlink(c, j);
    char *e = error_json("timeout",
                         "no answer in %" PRId64 " s from the instance holding device \"%s\"",
                         (j->timeout_ms + ROUTE_MARGIN_MS) / 1000, j->endpoint);
    j->done(j->ctx, 504, e ? e : "{}");
    free(e);
    j->kind = J_ABANDON;
    j->done = NULL;
    if (!submit_job(c, j))
        job_free(j);
}

/* J_ROUTE answered: either settled (status) or routed (wait for outcome). */
static void route_answered(struct server_commands *c, struct job *j)
{
    struct ls_error err = { 0 };
    if (j->status) {
        j->done(j->ctx, j->status, j->answer ? j->answer : "{}");
        job_free(j);
        return;
    }
    runtime_loop_timer_init(&j->timer, route_timeout, j);
    if (runtime_loop_timer_start(c->loop, &j->timer, j->timeout_ms + ROUTE_MARGIN_MS, 0,
                                 &err) != LS_OK) {
        route_timeout(c->loop, j);
        return;
    }
    j->prev_wait = NULL;
    j->next_wait = c->waiting;
    if (c->waiting)
        c->waiting->prev_wait = j;
    c->waiting = j;
}

static void outcome(struct server_commands *c, struct job *o)
{
    for (struct job *j = c->waiting; j; j = j->next_wait)
        if (j->id == o->id) {
            wait_unlink(c, j);
            j->done(j->ctx, o->status, o->answer ? o->answer : "{}");
            job_free(j);
            return;
        }
}

static void handle_answer(struct server_commands *c, struct job *j)
{
    switch (j->kind) {
    case J_QUEUE:
        j->done(j->ctx, j->status, j->answer ? j->answer : "{}");
        break;
    case J_ROUTE:
        route_answered(c, j);
        return;           /* kept while waiting */
    case J_CLAIM:
        claimed(c, j);
        break;
    case J_FINISH:
        finished(c, j);
        break;
    case J_ROUTED:
        routed_here(c, j);
        break;
    case J_OUTCOME:
        outcome(c, j);
        break;
    default:
        break;
    }
    job_free(j);
}

static void drain_outbox(struct runtime_loop *loop, void *arg)
{
    struct server_commands *c = arg;
    (void)loop;
    pthread_mutex_lock(&c->lock);
    struct job *j = c->outbox;
    c->outbox = c->outbox_tail = NULL;
    c->posted = false;
    pthread_mutex_unlock(&c->lock);
    while (j) {
        struct job *next = j->next;
        j->next = NULL;
        handle_answer(c, j);
        j = next;
    }
}

/* ---- the command thread ---- */

/* Command thread: hand j back to the loop. */
static void answer(struct server_commands *c, struct job *j)
{
    pthread_mutex_lock(&c->lock);
    j->next = NULL;
    if (c->outbox_tail)
        c->outbox_tail->next = j;
    else
        c->outbox = j;
    c->outbox_tail = j;
    bool post = !c->posted;
    c->posted = true;
    pthread_mutex_unlock(&c->lock);
    if (post && runtime_loop_post(c->loop, drain_outbox, c, NULL) != LS_OK) {
        pthread_mutex_lock(&c->lock);
        c->posted = false;     /* the next answer tries again */
        pthread_mutex_unlock(&c->lock);
        ls_log_warn("commands_post_failed", "reason=\"out of memory\"");
    }
}

/* The HTTP status of a store failure for a waiting caller. */
static void fail_call(struct job *j, const struct ls_error *err)
{
    switch (err->code) {
    case LS_EINVAL:
        j->status = 400;
        j->answer = error_json("bad_request", "%s", err->msg);
        break;
    case LS_ENOTFOUND:
        j->status = 404;
        j->answer = error_json("not_found", "no device named \"%s\"", j->endpoint);
        break;
    default:
        j->status = 503;
        j->answer = error_json("unavailable", "the database is not available");
        break;
    }
}

static char *queued_json(int64_t id)
{
    char buf[96];
    snprintf(buf, sizeof buf, "{\"command\":%" PRId64 ",\"state\":\"queued\"}", id);
    return strdup(buf);
}

static void do_queue(struct server_commands *c, struct store *s, struct job *j)
{
    struct ls_error err = { 0 };
    if (store_commands_insert(s, j->endpoint, j->body, j->format, j->actor, c->ttl_default_s,
                              NULL, 0, &j->id, &err) != LS_OK) {
        fail_call(j, &err);
        return;
    }
    ls_log_info("command_queued", "id=%" PRId64 " endpoint=%s", j->id, j->endpoint);
    j->status = 202;
    j->answer = queued_json(j->id);
}

static void await_add(struct server_commands *c, int64_t id)
{
    if (c->n_awaited == c->cap_awaited) {
        size_t cap = c->cap_awaited ? c->cap_awaited * 2 : 16;
        int64_t *v = realloc(c->awaited, cap * sizeof *v);
        if (!v)
            return;     /* the caller times out instead */
        c->awaited = v;
        c->cap_awaited = cap;
    }
    c->awaited[c->n_awaited++] = id;
}

static void await_remove(struct server_commands *c, int64_t id)
{
    for (size_t i = 0; i < c->n_awaited; i++)
        if (c->awaited[i] == id) {
            c->awaited[i] = c->awaited[--c->n_awaited];
            return;
        }
}

static void do_route(struct server_commands *c, struct store *s, struct job *j)
{
    struct ls_error err = { 0 };
    struct store_commands_holder h;
    if (store_commands_holder(s, j->endpoint, &h, &err) != LS_OK) {
        fail_call(j, &err);
        return;
    }
    if (!h.known) {
        j->status = 404;
        j->answer = error_json("not_found", "no device named \"%s\"", j->endpoint);
    } else if (h.registered && h.alive && strcmp(h.instance, c->instance) != 0) {
        if (store_commands_insert(s, j->endpoint, j->body, j->format, j->actor,
                                  c->ttl_default_s, h.instance, j->timeout_ms, &j->id,
                                  &err) != LS_OK) {
            fail_call(j, &err);
            return;
        }
        ls_log_info("command_routed", "id=%" PRId64 " endpoint=%s instance=%s", j->id,
                    j->endpoint, h.instance);
        await_add(c, j->id);        /* status 0: the loop waits */
    } else if (h.registered && h.queue && strcmp(h.instance, c->instance) != 0) {
        do_queue(c, s, j);          /* its holder stopped: whoever it talks to next */
    } else {
        j->status = 404;
        j->answer = error_json("not_registered",
                               h.registered ? "device \"%s\" is held by an instance that "
                                              "stopped; it must register again"
                                            : "device \"%s\" is not registered",
                               j->endpoint);
    }
}

static void do_claim(struct server_commands *c, struct store *s, struct job *j)
{
    struct ls_error err = { 0 };
    struct store_command cmd;
    enum ls_rc rc = store_commands_claim_next(s, j->endpoint, c->instance, &cmd, &err);
    if (rc == LS_OK) {
        j->found = true;
        j->id = cmd.id;
        j->remaining_ms = cmd.remaining_ms;
        free(j->body);
        j->body = cmd.body;
        cmd.body = NULL;
        store_command_clear(&cmd);
    } else if (rc != LS_ENOTFOUND) {
        ls_log_warn("command_claim_failed", "endpoint=%s error=\"%s\"", j->endpoint, err.msg);
    }
}

/* Jobs whose failure is logged and dropped (the row stays as it was; the
 * expiry sweep or the next wake-up settles it). */
static void do_background(struct server_commands *c, struct store *s, struct job *j)
{
    struct ls_error err = { 0 };
    enum ls_rc rc = LS_OK;
    switch (j->kind) {
    case J_FINISH:
        rc = store_commands_finish(s, j->id, j->status, j->body, &err);
        if (rc == LS_EINVAL) {       /* a body that is not JSON: keep the status */
            char *e = error_json("internal", "the result was not valid JSON");
            memset(&err, 0, sizeof err);
            rc = store_commands_finish(s, j->id, j->status, e ? e : "{}", &err);
            free(e);
        }
        break;
    case J_REQUEUE:
        rc = store_commands_requeue(s, j->id, &err);
        break;
    case J_TO_QUEUE:
        rc = store_commands_to_queue(s, j->id, c->ttl_default_s, &err);
        break;
    case J_ABANDON:
        await_remove(c, j->id);
        rc = store_commands_abandon(s, j->id, &err);
        break;
    case J_EVENT: {
        /* detail: {"instance":..} plus, for awake, how long it lasts */
        json_t *d = json_pack("{s:s}", "instance", c->instance);
        if (d && strcmp(j->event, "awake") == 0)
            json_object_set_new(d, "awake_ms", json_integer(c->awake_ms));
        char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        rc = text ? store_commands_event(s, j->endpoint, j->event, text, &err) : LS_ENOMEM;
        free(text);
        break;
    }
    default:
        break;
    }
    if (rc != LS_OK && rc != LS_ENOTFOUND)
        ls_log_warn("command_store_failed", "id=%" PRId64 " error=\"%s\"", j->id, err.msg);
}

static void run_job(struct server_commands *c, struct store *s, struct job *j)
{
    switch (j->kind) {
    case J_QUEUE:
        do_queue(c, s, j);
        answer(c, j);
        return;
    case J_ROUTE:
        do_route(c, s, j);
        answer(c, j);
        return;
    case J_CLAIM:
        do_claim(c, s, j);
        answer(c, j);
        return;
    case J_FINISH:
        do_background(c, s, j);
        answer(c, j);        /* the loop claims the next one */
        return;
    default:
        do_background(c, s, j);
        job_free(j);
        return;
    }
}

/* Routed commands for this instance -> the loop. */
static void take_routed(struct server_commands *c, struct store *s)
{
    struct ls_error err = { 0 };
    struct store_command *v = NULL;
    size_t n = 0;
    if (store_commands_take_routed(s, c->instance, &v, &n, &err) != LS_OK) {
        if (err.code != LS_ETRANSIENT)
            ls_log_warn("routed_take_failed", "error=\"%s\"", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct job *j = job_new(c, J_ROUTED, v[i].endpoint, v[i].body);
        if (j) {
            j->id = v[i].id;
            j->remaining_ms = v[i].remaining_ms;
            answer(c, j);
        }
        store_command_clear(&v[i]);
    }
    free(v);
}

/* Settled routed commands this instance waits for -> the loop. */
static void check_awaited(struct server_commands *c, struct store *s, int64_t only)
{
    for (size_t i = 0; i < c->n_awaited;) {
        int64_t id = c->awaited[i];
        struct ls_error err = { 0 };
        bool final = false;
        unsigned status = 0;
        char *json = NULL;
        if ((only && id != only) ||
            store_commands_outcome(s, id, &final, &status, &json, &err) != LS_OK || !final) {
            free(json);
            i++;
            continue;
        }
        c->awaited[i] = c->awaited[--c->n_awaited];
        struct job *j = job_new(c, J_OUTCOME, NULL, NULL);
        if (!j) {
            free(json);
            continue;
        }
        j->id = id;
        j->status = status;
        j->answer = json;
        answer(c, j);
    }
}

static void on_notify(void *arg, bool done, const char *payload)
{
    struct server_commands *c = arg;
    if (!done) {
        if (strcmp(payload, c->instance) == 0)
            c->routed_due = true;
        return;
    }
    /* done: look at it only if we wait for it (checked in thread_main). */
    int64_t id = strtoll(payload, NULL, 10);
    for (size_t i = 0; i < c->n_awaited; i++)
        if (c->awaited[i] == id) {
            c->awaited[i] = -id;     /* mark: settled, to be read */
            return;
        }
}

/* True when on_notify marked an awaited id that check_marked has not read. */
static bool any_marked(const struct server_commands *c)
{
    for (size_t i = 0; i < c->n_awaited; i++)
        if (c->awaited[i] < 0)
            return true;
    return false;
}

/* Reads the outcome of every id marked by on_notify. */
static void check_marked(struct server_commands *c, struct store *s)
{
    for (size_t i = 0; i < c->n_awaited; i++)
        if (c->awaited[i] < 0) {
            c->awaited[i] = -c->awaited[i];
            check_awaited(c, s, c->awaited[i]);
            i = (size_t)-1;          /* the array changed: rescan */
        }
}

static struct job *next_job(struct server_commands *c, bool *stop)
{
    pthread_mutex_lock(&c->lock);
    struct job *j = c->jobs;
    if (j) {
        c->jobs = j->next;
        if (!c->jobs)
            c->jobs_tail = NULL;
        j->next = NULL;
    }
    *stop = c->stop;
    pthread_mutex_unlock(&c->lock);
    return j;
}

/* Commands a dead instance left 'sent' (store_commands_sweep): at start
 * (the first tick) and every tick after. */
static void sweep(struct store *s)
{
    struct ls_error err = { 0 };
    size_t failed = 0, requeued = 0;
    if (store_commands_sweep(s, &failed, &requeued, &err) != LS_OK &&
        err.code != LS_ETRANSIENT)
        ls_log_warn("command_sweep_failed", "error=\"%s\"", err.msg);
    if (failed || requeued)
        ls_log_warn("commands_orphaned", "failed=%zu requeued=%zu", failed, requeued);
}

static void tick(struct server_commands *c, struct store *s)
{
    struct ls_error err = { 0 };
    size_t n = 0;
    if (store_commands_expire(s, &n, &err) != LS_OK && err.code != LS_ETRANSIENT)
        ls_log_warn("command_expiry_failed", "error=\"%s\"", err.msg);
    if (n)
        ls_log_info("commands_expired", "count=%zu", n);
    sweep(s);
    take_routed(c, s);
    check_awaited(c, s, 0);
}

static void *thread_main(void *arg)
{
    struct server_commands *c = arg;
    struct store *s = store_open(c->conninfo, NULL);
    bool listening = false, stop = false;
    int64_t next_tick = 0;
    while (s && !stop) {
        struct ls_error err = { 0 };
        if (!listening && store_commands_listen(s, &err) == LS_OK) {
            listening = true;
            c->routed_due = true;     /* whatever came while we were away */
        }
        struct job *j;
        while ((j = next_job(c, &stop)) != NULL)
            run_job(c, s, j);
        if (stop)
            break;
        if (listening && store_commands_consume(s, on_notify, c, &err) != LS_OK)
            listening = false;
        check_marked(c, s);
        if (c->routed_due) {
            c->routed_due = false;
            take_routed(c, s);
        }
        int64_t now = runtime_clock_now_ms();
        if (now >= next_tick) {
            tick(c, s);
            next_tick = now + TICK_MS;
        }
        /* A notification that arrived during the queries above waits in
         * libpq's buffer, and the socket will not wake poll() for it:
         * read it now and, if it asks for work, do not sleep. */
        if (listening && store_commands_consume(s, on_notify, c, &err) != LS_OK)
            listening = false;
        int fd = listening ? store_commands_socket(s) : -1;
        struct pollfd p[2] = { { .fd = c->wake_fd, .events = POLLIN },
                               { .fd = fd, .events = POLLIN } };
        int64_t wait = next_tick - runtime_clock_now_ms();
        if (!listening && wait > 500)
            wait = 500;             /* reconnect pace while away */
        if (c->routed_due || any_marked(c))
            wait = 0;
        if (poll(p, 2, (int)(wait > 0 ? wait : 0)) < 0 && errno != EINTR)
            break;
        if (p[0].revents) {
            uint64_t v;
            if (read(c->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
                break;
        }
    }
    if (s) {
        struct ls_error err = { 0 };
        if (store_commands_release_instance(s, c->instance, &err) != LS_OK)
            ls_log_debug("instance_release_failed", "error=\"%s\"", err.msg);
    }
    store_close(s);
    return NULL;
}

/* ---- the interface ---- */

static int64_t env_ms(const char *name, int64_t def, int64_t unit)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return def;
    long long n = strtoll(v, &end, 10);
    if (*end || n <= 0) {
        ls_log_warn("bad_environment", "name=%s value_ignored=true", name);
        return def;
    }
    return (int64_t)n * unit;
}

struct server_commands *server_commands_start(const char *conninfo, struct runtime_loop *loop,
                                              const char *instance_id,
                                              struct server_registry *r,
                                              struct server_devops *d, struct ls_error *err)
{
    struct server_commands *c = calloc(1, sizeof *c);
    if (!c || !(c->conninfo = strdup(conninfo))) {
        free(c);
        ls_error_set(err, LS_ENOMEM, "commands: out of memory");
        return NULL;
    }
    c->loop = loop;
    c->registry = r;
    c->devops = d;
    snprintf(c->instance, sizeof c->instance, "%s", instance_id);
    /* Documented in docs/configuration.md (queue mode). */
    c->awake_ms = env_ms("LODESTAR_QUEUE_AWAKE_MS", SERVER_COMMANDS_AWAKE_MS, 1);
    c->ttl_default_s = env_ms("LODESTAR_COMMAND_TTL", SERVER_COMMANDS_TTL_DEFAULT_S, 1);
    pthread_mutex_init(&c->lock, NULL);
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake_fd < 0 || pthread_create(&c->thread, NULL, thread_main, c) != 0) {
        ls_error_set(err, LS_EIO, "commands: cannot start the thread: %s", strerror(errno));
        if (c->wake_fd >= 0)
            close(c->wake_fd);
        pthread_mutex_destroy(&c->lock);
        free(c->conninfo);
        free(c);
        return NULL;
    }
    return c;
}

/* Stop: every caller still waiting gets 503. */
static void fail_waiting(struct job *j)
{
    if (j->done && j->status && j->answer && (j->kind == J_QUEUE || j->kind == J_ROUTE)) {
        j->done(j->ctx, j->status, j->answer);    /* answered, not yet drained */
    } else if (j->done && (j->kind == J_QUEUE || j->kind == J_ROUTE)) {
        char *e = error_json("unavailable", "the server is shutting down");
        j->done(j->ctx, 503, e ? e : "{}");
        free(e);
    }
    job_free(j);
}

void server_commands_stop(struct server_commands *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_mutex_unlock(&c->lock);
    wake(c);
    pthread_join(c->thread, NULL);
    /* Answers not yet drained, then jobs never run, then routed waits. */
    struct job *lists[2] = { c->outbox, c->jobs };
    c->outbox = c->outbox_tail = c->jobs = c->jobs_tail = NULL;
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            struct job *n = lists[i]->next;
            fail_waiting(lists[i]);
            lists[i] = n;
        }
    while (c->waiting) {
        struct job *j = c->waiting;
        wait_unlink(c, j);
        fail_waiting(j);
    }
    for (struct delivery *d = c->deliveries; d; d = d->next)
        d->c = NULL;
    for (size_t b = 0; b < AWAKE_BUCKETS; b++)
        while (c->buckets[b])
            awake_drop(c->buckets[b]);
    close(c->wake_fd);
    pthread_mutex_destroy(&c->lock);
    free(c->awaited);
    free(c->conninfo);
    free(c);
}

bool server_commands_can_send(struct server_commands *c, const struct server_reg *reg)
{
    if (!reg->queue)
        return true;
    return c && is_awake(c, awake_find(c, reg->endpoint));
}

void server_commands_device_awake(struct server_commands *c, struct server_reg *reg)
{
    struct ls_error err = { 0 };
    if (!c || !reg || !reg->queue)
        return;
    struct awake *a = awake_find(c, reg->endpoint);
    if (!a) {
        a = calloc(1, sizeof *a);
        if (!a || !(a->endpoint = strdup(reg->endpoint))) {
            free(a);
            return;
        }
        a->c = c;
        runtime_loop_timer_init(&a->timer, on_sleep, a);
        size_t b = bucket_of(a->endpoint);
        a->next = c->buckets[b];
        c->buckets[b] = a;
    }
    if (!a->until_ms) {
        ls_log_debug("device_awake", "endpoint=%s", a->endpoint);
        post_event(c, a->endpoint, "awake", NULL);
    }
    a->until_ms = runtime_loop_now_ms(c->loop) + c->awake_ms;
    if (runtime_loop_timer_start(c->loop, &a->timer, c->awake_ms, 0, &err) != LS_OK)
        ls_log_warn("awake_timer_failed", "endpoint=%s", a->endpoint);
    if (!a->busy)
        claim_next(c, a);
}

/* Checks what the commands table needs from the command JSON: an object
 * with a known "op", a string or absent "path", a known "format", a
 * positive "ttl" (seconds).  The full check is devops's, at delivery. */
static bool check_command(const char *json, int *format, char *why, size_t cap)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    enum server_command_op op;
    const char *why_text = NULL;
    json_t *v;
    *format = -1;
    if (!json_is_object(j))
        why_text = "command: not a JSON object";
    else if (!json_is_string(v = json_object_get(j, "op")) ||
             !server_command_op_parse(json_string_value(v), &op))
        why_text = "op: unknown operation";
    else if ((v = json_object_get(j, "path")) && !json_is_string(v))
        why_text = "path: must be a string";
    else if ((v = json_object_get(j, "ttl")) &&
             (!json_is_number(v) || json_number_value(v) <= 0 ||
              json_number_value(v) > (double)TTL_MAX_S))
        why_text = "ttl: must be a number of seconds, 1 to 31622400";
    else if ((v = json_object_get(j, "format")) && !json_is_null(v)) {
        unsigned f = 0;
        if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 65536)
            *format = (int)json_integer_value(v);
        else if (json_is_string(v) && lwm2m_format_parse(json_string_value(v), &f))
            *format = (int)f;
        else
            why_text = "format: unknown format";
    }
    json_decref(j);
    if (why_text)
        snprintf(why, cap, "%s", why_text);
    return !why_text;
}

void server_commands_submit(struct server_commands *c, struct server_reg *reg,
                            const struct web_device_call *call, web_device_done_fn *done,
                            void *ctx)
{
    char why[96];
    int format = -1;
    if (!c) {
        char *e = error_json("unavailable", "commands are not available");
        done(ctx, 503, e ? e : "{}");
        free(e);
        return;
    }
    if (!check_command(call->command_json, &format, why, sizeof why)) {
        char *e = error_json("bad_request", "%s", why);
        done(ctx, 400, e ? e : "{}");
        free(e);
        return;
    }
    struct job *j = job_new(c, reg ? J_QUEUE : J_ROUTE, call->endpoint, call->command_json);
    if (j) {
        j->format = format;
        j->actor = call->actor_token_id;
        j->timeout_ms = call->timeout_ms > 0 ? call->timeout_ms : 5000;
        j->done = done;
        j->ctx = ctx;
    }
    if (!j || !submit_job(c, j)) {
        job_free(j);
        char *e = error_json("unavailable", "cannot queue the command now");
        done(ctx, 503, e ? e : "{}");
        free(e);
    }
}
