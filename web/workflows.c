/*
 * web/workflows.c -- server-initiated bootstrap and bulk rotations (issue 7)
 *   POST /api/devices/{ep}/bootstrap?reason=       (operator) -> {"workflow": id}
 *   GET  /api/workflows/{id}                       (viewer)
 *   POST /api/bootstrap/rotations                  (admin)    -> {"rotation": id}
 *        {"endpoints": [...]} or {"match": "<glob>"}, "rate": devices/s, "reason"
 *   GET  /api/bootstrap/rotations/{id}             (viewer)   progress
 *   GET  /api/workflows?state=&rotation=&limit=     (viewer)   the newest
 *   GET  /api/bootstrap/rotations?limit=            (viewer)   the newest
 *
 * A request creates the workflow rows (and their audit entries: who, why)
 * and hands the triggers to the trigger thread here, which sends them in
 * order, each not before its due time (a rotation's device i is due at
 * start + i / rate), so the rate holds however fast the devices answer.
 * The trigger of one device:
 *   1.1+  Execute /1/x/9 (Bootstrap-Request Trigger) through the device
 *         operation hook (web_http_devices), so a sleeping queue-mode device
 *         gets it queued like any command.  x is the /1 instance in the
 *         registration's object links when it lists one; when it lists
 *         several, /1 is read first and x is the instance whose Short Server
 *         ID is the ssid of the credential the device registered with.
 *   1.0   no /1/x/9: its management credentials are revoked
 *         (store_credentials_revoke_list), lodestar-server's watcher cuts
 *         its DTLS session, and the device falls back to its bootstrap
 *         account (the documented fallback; audited as credentials.revoke).
 * The outcome (acknowledged, queued, or failed with the cause) is recorded
 * on this thread (store_workflows_triggered); every later step comes from
 * the triggers of migrations/0005_workflows.sql.
 *
 * Rotations survive their server.  Each trigger thread has a random runner
 * id; a rotation records the runner that paces it and a heartbeat (beat)
 * the thread refreshes every second (store_workflows_rotation_beat).  Every
 * second the thread also claims the pending rotations whose beat is gone
 * (their server stopped: web_workflows_stop removes its beats) or older
 * than STALE_S (their server died), and queues their devices still
 * 'pending', in order, at the rotation's rate.  A device is 'pending' until
 * its trigger is recorded, and only 'pending' devices are queued, so a
 * resumed rotation triggers each remaining device once; at start the first
 * tick resumes what the previous run of this server left.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/log.h"
#include "store/bsconfigs.h"
#include "store/credentials.h"
#include "store/workflows.h"

#define REASON_MAX 500
#define NAME_MAX_BYTES 1024
#define ROTATION_MAX 100000
#define RATE_MAX 10000.0          /* devices per second */
#define RATE_DEFAULT 10.0
#define TRIGGER_TIMEOUT_MS 10000  /* the Execute's answer */
#define STOP_WAIT_MS 5000         /* outstanding triggers at stop */
#define TICK_US 1000000           /* rotation heartbeat and claim period */
#define STALE_S 5                 /* a rotation beat older than this is orphaned */

/* A rotation's pacing, shared by its jobs: consecutive triggers at least
 * interval apart, even after a stall (no catch-up burst). */
struct wf_rot {
    int64_t interval_us;
    int64_t next_us;              /* no trigger of the rotation before this */
    size_t refs;                  /* jobs left */
};

/* One device to trigger. */
struct wf_job {
    struct wf_job *next;
    int64_t id;                   /* its workflow */
    int64_t rotation;             /* parent, 0 = none */
    bool last;                    /* the rotation's last device */
    int64_t due_us;               /* CLOCK_MONOTONIC */
    int64_t sent_us;              /* CLOCK_REALTIME when it was sent */
    struct wf_rot *rot;           /* the rotation's pacing; NULL for one device */
    int64_t token_id;
    char *actor;
    char *endpoint;
};

/* A device operation's answer, from the hook's done. */
struct wf_answer {
    struct wf_answer *next;
    struct web_workflows *wf;
    int64_t id;
    int64_t sent_us;              /* CLOCK_REALTIME of the trigger */
    int read_ssid;                /* > 0: the answer to a Read of /1, looking
                                   * for the instance with this ssid */
    struct wf_job *job;           /* read_ssid > 0: the job, to go on with */
    unsigned status;
    char *json;
};

struct web_workflows {
    struct web_http *w;
    pthread_t thread;
    pthread_mutex_t mu;           /* guards everything below */
    pthread_cond_t cv;
    bool stop;
    struct wf_job *jobs;          /* sorted by due_us */
    struct wf_answer *answers;
    unsigned outstanding;         /* submitted, done not yet called */
    char runner[33];              /* random id of this trigger thread */
    int64_t next_tick_us;         /* CLOCK_MONOTONIC of the next beat + claim */
};

static int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void job_free(struct wf_job *j)
{
    if (!j)
        return;
    if (j->rot && --j->rot->refs == 0)
        free(j->rot);
    free(j->actor);
    free(j->endpoint);
    free(j);
}

static struct wf_job *job_new(int64_t id, const char *endpoint, int64_t rotation,
                              int64_t due_us, const struct store_token *tok)
{
    struct wf_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->id = id;
    j->rotation = rotation;
    j->due_us = due_us;
    j->token_id = tok->id;
    j->actor = strdup(tok->name);
    j->endpoint = strdup(endpoint);
    if (!j->actor || !j->endpoint) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* Merges a chain of jobs (sorted by due_us, head first) into the queue.
 * mu held. */
static void enqueue_locked(struct web_workflows *wf, struct wf_job *chain)
{
    struct wf_job **at = &wf->jobs;
    while (chain) {
        struct wf_job *j = chain;
        chain = j->next;
        while (*at && (*at)->due_us <= j->due_us)
            at = &(*at)->next;
        j->next = *at;
        *at = j;
        at = &j->next;
    }
    pthread_cond_signal(&wf->cv);
}

static void enqueue(struct web_workflows *wf, struct wf_job *chain)
{
    pthread_mutex_lock(&wf->mu);
    enqueue_locked(wf, chain);
    pthread_mutex_unlock(&wf->mu);
}

/* ---- recording outcomes (trigger thread) ---- */

static void record(struct web_workflows *wf, int64_t id, int64_t at_us, bool ok,
                   const char *cause, json_t *detail)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    struct ls_error err = { 0 };
    pthread_mutex_lock(&wf->w->store_lock);
    enum ls_rc rc = store_workflows_triggered(wf->w->store, id, ok, cause, text, at_us,
                                              &err);
    pthread_mutex_unlock(&wf->w->store_lock);
    if (rc != LS_OK)
        ls_log_error("workflow_record_failed", "workflow=%" PRId64 " error=\"%s\"", id,
                     err.msg);
    free(text);
}

/* The Execute's answer: 200 acknowledged, 202 queued, else the error. */
static void record_answer(struct web_workflows *wf, const struct wf_answer *a)
{
    json_t *body = a->json ? json_loads(a->json, 0, NULL) : NULL;
    json_t *e = json_object_get(body, "error");
    if (a->status == 200 || a->status == 202) {
        json_t *d = json_object();
        json_object_set_new(d, "trigger_status", json_integer(a->status));
        if (json_object_get(body, "coap"))
            json_object_set(d, "coap", json_object_get(body, "coap"));
        if (json_object_get(body, "command"))
            json_object_set(d, "command", json_object_get(body, "command"));
        record(wf, a->id, a->sent_us, true, NULL, d);
    } else {
        char cause[400];
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *coap = json_string_value(json_object_get(e, "coap"));
        snprintf(cause, sizeof cause, "%s%s%s%s%s", code ? code : "error",
                 msg ? ": " : "", msg ? msg : "", coap ? " coap " : "", coap ? coap : "");
        record(wf, a->id, a->sent_us, false, cause,
               json_pack("{s:i}", "trigger_status", (int)a->status));
    }
    json_decref(body);
}

/* The hook's done: any thread, exactly once. */
static void on_answer(void *ctx, unsigned status, const char *json)
{
    struct wf_answer *a = ctx;
    struct web_workflows *wf = a->wf;
    a->status = status;
    a->json = json ? strdup(json) : NULL;
    pthread_mutex_lock(&wf->mu);
    a->next = wf->answers;
    wf->answers = a;
    wf->outstanding--;
    pthread_cond_broadcast(&wf->cv);
    pthread_mutex_unlock(&wf->mu);
}

/* ---- triggering (trigger thread) ---- */

/* 1.0: revoke the management credentials; the server cuts the session. */
static void trigger_revoke(struct web_workflows *wf, const struct wf_job *j)
{
    struct web_http *w = wf->w;
    json_t *list = json_pack("[s]", j->endpoint);
    char *names = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    char *revoked = NULL, why[96];
    int64_t n = 0;
    struct ls_error err = { 0 };
    snprintf(why, sizeof why, "bootstrap workflow %" PRId64 " (LwM2M 1.0 fallback)", j->id);
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = names ? store_credentials_revoke_list(w->store, names, "server", &n,
                                                          &revoked, &err)
                          : ls_error_set(&err, LS_ENOMEM, "out of memory");
    json_t *ad = json_pack("{s:s,s:s,s:I,s:I}", "reason", why, "scope", "server", "workflow",
                           (json_int_t)j->id, "revoked", (json_int_t)n);
    char *adt = ad ? json_dumps(ad, JSON_COMPACT) : NULL;
    json_decref(ad);
    if (rc == LS_OK && n > 0 && adt)
        rc = store_audit_append(w->store, j->token_id, j->actor, "credentials.revoke",
                                j->endpoint, adt, &err);
    pthread_mutex_unlock(&w->store_lock);
    free(adt);
    free(names);
    free(revoked);
    if (rc != LS_OK)
        record(wf, j->id, j->sent_us, false, err.msg, NULL);
    else if (n == 0)
        record(wf, j->id, j->sent_us, false, "no_credentials: a 1.0 device without live "
               "management credentials cannot be made to bootstrap",
               json_pack("{s:s}", "method", "revoke"));
    else
        record(wf, j->id, j->sent_us, true, NULL,
               json_pack("{s:s,s:I}", "method", "revoke", "revoked", (json_int_t)n));
}

static struct wf_job *job_clone(const struct wf_job *j)
{
    struct wf_job *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->id = j->id;
    c->token_id = j->token_id;
    c->sent_us = j->sent_us;
    c->actor = strdup(j->actor);
    c->endpoint = strdup(j->endpoint);
    if (!c->actor || !c->endpoint) {
        job_free(c);
        return NULL;
    }
    return c;
}

/* A device operation for j through the hook; the answer comes back to the
 * trigger thread (record_answer). */
static void submit(struct web_workflows *wf, const struct wf_job *j, const char *cmd,
                   int read_ssid)
{
    struct wf_answer *a = calloc(1, sizeof *a);
    if (a && read_ssid > 0 && !(a->job = job_clone(j))) {
        free(a);
        a = NULL;
    }
    if (!a) {
        record(wf, j->id, j->sent_us, false, "internal: out of memory", NULL);
        return;
    }
    a->wf = wf;
    a->id = j->id;
    a->sent_us = j->sent_us;
    a->read_ssid = read_ssid;
    struct web_device_call call = {
        .endpoint = j->endpoint, .command_json = cmd, .timeout_ms = TRIGGER_TIMEOUT_MS,
        .actor_token_id = j->token_id, .actor = j->actor,
    };
    pthread_mutex_lock(&wf->mu);
    wf->outstanding++;
    pthread_mutex_unlock(&wf->mu);
    pthread_mutex_lock(&wf->w->devices_lock);
    if (wf->w->devices_fn)
        wf->w->devices_fn(wf->w->devices_arg, &call, on_answer, a);
    else
        on_answer(a, 503, "{\"error\":{\"code\":\"unavailable\",\"message\":\"device "
                          "operations are not available\"}}");
    pthread_mutex_unlock(&wf->w->devices_lock);
}

/* 1.1+: Execute /1/x/9 through the device operation hook. */
static void trigger_execute(struct web_workflows *wf, const struct wf_job *j, int inst)
{
    char path[32], cmd[96];
    snprintf(path, sizeof path, "/1/%d/9", inst);
    snprintf(cmd, sizeof cmd, "{\"op\":\"execute\",\"path\":\"%s\"}", path);
    record(wf, j->id, j->sent_us, true, NULL,
           json_pack("{s:s,s:s}", "method", "execute", "path", path));
    submit(wf, j, cmd, 0);
}

/* The answer to the Read of /1: Execute on the instance whose Short Server
 * ID (/1/x/0) is the one this server's credential carries. */
static void on_read(struct web_workflows *wf, const struct wf_answer *a)
{
    json_t *body = a->json ? json_loads(a->json, 0, NULL) : NULL, *v;
    size_t i;
    int inst = -1;
    json_array_foreach(json_object_get(body, "values"), i, v) {
        unsigned x;
        char tail;
        const char *p = json_string_value(json_object_get(v, "path"));
        json_t *val = json_object_get(v, "value");
        if (inst < 0 && p && sscanf(p, "/1/%u/0%c", &x, &tail) == 1 && x < 65535 &&
            json_is_integer(val) && json_integer_value(val) == a->read_ssid)
            inst = (int)x;
    }
    json_decref(body);
    char cause[128];
    if (a->status != 200)
        snprintf(cause, sizeof cause, "read_failed: reading /1 answered HTTP %u", a->status);
    else if (inst < 0)
        snprintf(cause, sizeof cause, "no_server_instance: no /1 instance has ssid %d",
                 a->read_ssid);
    if (a->status != 200 || inst < 0)
        record(wf, a->id, a->sent_us, false, cause, json_pack("{s:i}", "ssid", a->read_ssid));
    else
        trigger_execute(wf, a->job, inst);
}

static void trigger(struct web_workflows *wf, const struct wf_job *j)
{
    struct store_workflows_target t;
    struct ls_error err = { 0 };
    pthread_mutex_lock(&wf->w->store_lock);
    enum ls_rc rc = store_workflows_target(wf->w->store, j->endpoint, &t, &err);
    pthread_mutex_unlock(&wf->w->store_lock);
    if (rc != LS_OK)
        record(wf, j->id, j->sent_us, false, err.msg, NULL);
    else if (!t.known)
        record(wf, j->id, j->sent_us, false, "not_found: no such device", NULL);
    else if (!t.registered)
        record(wf, j->id, j->sent_us, false, "not_registered: the device is not registered",
               NULL);
    else if (strcmp(t.version, "1.0") == 0)
        trigger_revoke(wf, j);
    else if (t.server_instance < 0)
        record(wf, j->id, j->sent_us, false,
               "no_server_instance: the registration lists no /1 instance", NULL);
    else if (t.server_instances > 1 && t.ssid > 0)
        submit(wf, j, "{\"op\":\"read\",\"path\":\"/1\"}", t.ssid);  /* then on_read */
    else
        trigger_execute(wf, j, t.server_instance);
    if (j->last) {
        pthread_mutex_lock(&wf->w->store_lock);
        if (store_workflows_rotation_done(wf->w->store, j->rotation, &err) != LS_OK)
            ls_log_error("rotation_record_failed", "rotation=%" PRId64 " error=\"%s\"",
                         j->rotation, err.msg);
        pthread_mutex_unlock(&wf->w->store_lock);
    }
}

static struct wf_job *rotation_jobs(json_t *children, int64_t rotation, double rate,
                                    int64_t start, const struct store_token *tok);

/* Queues the devices of the rotations claimed from a stopped server (a
 * claimed rotation with none left is done). */
static void resume_claimed(struct web_workflows *wf, const char *claimed)
{
    json_t *list = json_loads(claimed, 0, NULL), *r;
    size_t i;
    struct ls_error err = { 0 };
    json_array_foreach(list, i, r) {
        int64_t id = json_integer_value(json_object_get(r, "id"));
        double rate = json_number_value(json_object_get(r, "rate"));
        json_t *children = json_object_get(r, "children");
        struct store_token tok = { .id = json_integer_value(json_object_get(r, "token")) };
        const char *actor = json_string_value(json_object_get(r, "actor"));
        snprintf(tok.name, sizeof tok.name, "%s", actor ? actor : "");
        ls_log_info("rotation_resumed", "rotation=%" PRId64 " pending=%zu", id,
                    json_array_size(children));
        if (json_array_size(children) == 0) {
            pthread_mutex_lock(&wf->w->store_lock);
            if (store_workflows_rotation_done(wf->w->store, id, &err) != LS_OK)
                ls_log_error("rotation_record_failed", "rotation=%" PRId64 " error=\"%s\"", id,
                             err.msg);
            pthread_mutex_unlock(&wf->w->store_lock);
            continue;
        }
        if (!(rate > 0 && rate <= RATE_MAX))
            rate = RATE_DEFAULT;
        /* the rate holds across the take-over: not before the previous
         * server's last trigger + 1 / rate */
        int64_t start = mono_us();
        json_t *last = json_object_get(r, "last_us");
        if (json_is_integer(last)) {
            int64_t wait = json_integer_value(last) + (int64_t)(1e6 / rate) - real_us();
            if (wait > 0)
                start += wait;
        }
        enqueue(wf, rotation_jobs(children, id, rate, start, &tok));
    }
    json_decref(list);
}

/* Every TICK_US on the trigger thread: our rotations' heartbeat, then the
 * claim of orphaned ones.  A database away now is tried again next tick. */
static void tick(struct web_workflows *wf)
{
    struct ls_error err = { 0 };
    char *claimed = NULL;
    pthread_mutex_lock(&wf->w->store_lock);
    enum ls_rc rc = store_workflows_rotation_beat(wf->w->store, wf->runner, false, &err);
    if (rc == LS_OK)
        rc = store_workflows_rotation_claim(wf->w->store, wf->runner, STALE_S, &claimed, &err);
    pthread_mutex_unlock(&wf->w->store_lock);
    if (rc != LS_OK)
        ls_log_debug("rotation_tick_failed", "error=\"%s\"", err.msg);
    else
        resume_claimed(wf, claimed);
    free(claimed);
}

/* A job's due time, paced: not before its rotation's previous trigger +
 * interval.  The head of the queue is its rotation's next job (a
 * rotation's jobs are queued in order), so pacing the head paces them all
 * and keeps their order. */
static int64_t effective_due(const struct wf_job *j)
{
    return j->rot && j->rot->next_us > j->due_us ? j->rot->next_us : j->due_us;
}

static void *run(void *arg)
{
    struct web_workflows *wf = arg;
    pthread_mutex_lock(&wf->mu);
    while (!wf->stop) {
        if (wf->answers) {
            struct wf_answer *list = wf->answers;
            wf->answers = NULL;
            pthread_mutex_unlock(&wf->mu);
            while (list) {
                struct wf_answer *a = list;
                list = a->next;
                if (a->read_ssid > 0)
                    on_read(wf, a);
                else
                    record_answer(wf, a);
                job_free(a->job);
                free(a->json);
                free(a);
            }
            pthread_mutex_lock(&wf->mu);
            continue;
        }
        int64_t now = mono_us(), due = wf->jobs ? effective_due(wf->jobs) : 0;
        if (now >= wf->next_tick_us) {
            wf->next_tick_us = now + TICK_US;
            pthread_mutex_unlock(&wf->mu);
            tick(wf);
            pthread_mutex_lock(&wf->mu);
            continue;
        }
        if (wf->jobs && due <= now) {
            struct wf_job *j = wf->jobs;
            wf->jobs = j->next;
            if (j->rot)
                j->rot->next_us = now + j->rot->interval_us;
            j->sent_us = real_us();
            pthread_mutex_unlock(&wf->mu);
            trigger(wf, j);
            job_free(j);
            pthread_mutex_lock(&wf->mu);
            continue;
        }
        struct timespec ts;   /* the next due time (the rate limit), a tick, or a change */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = (wf->jobs && due < wf->next_tick_us ? due : wf->next_tick_us) - now;
        ts.tv_sec += wait / 1000000;
        ts.tv_nsec += (wait % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&wf->cv, &wf->mu, &ts);
    }
    pthread_mutex_unlock(&wf->mu);
    return NULL;
}

struct web_workflows *web_workflows_start(struct web_http *w, struct ls_error *err)
{
    struct web_workflows *wf = calloc(1, sizeof *wf);
    if (!wf) {
        ls_error_set(err, LS_ENOMEM, "workflows: out of memory");
        return NULL;
    }
    wf->w = w;
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        free(wf);
        ls_error_set(err, LS_EIO, "workflows: no randomness for the runner id");
        return NULL;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(wf->runner + 2 * i, 3, "%02x", rnd[i]);
    pthread_mutex_init(&wf->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wf->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&wf->thread, NULL, run, wf) != 0) {
        pthread_cond_destroy(&wf->cv);
        pthread_mutex_destroy(&wf->mu);
        free(wf);
        ls_error_set(err, LS_EIO, "workflows: cannot start the trigger thread");
        return NULL;
    }
    return wf;
}

void web_workflows_stop(struct web_workflows *wf)
{
    if (!wf)
        return;
    pthread_mutex_lock(&wf->mu);
    wf->stop = true;
    pthread_cond_broadcast(&wf->cv);
    pthread_mutex_unlock(&wf->mu);
    pthread_join(wf->thread, NULL);
    /* Let go of our rotations: the next server to tick (this one when it
     * starts again) resumes their pending devices at once. */
    struct ls_error err = { 0 };
    pthread_mutex_lock(&wf->w->store_lock);
    if (store_workflows_rotation_beat(wf->w->store, wf->runner, true, &err) != LS_OK)
        ls_log_warn("rotation_release_failed", "error=\"%s\"", err.msg);
    pthread_mutex_unlock(&wf->w->store_lock);
    /* The server answered every call before the web layer stops (main.c);
     * wait a bounded time for a straggler so its done finds us alive. */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += STOP_WAIT_MS / 1000;
    pthread_mutex_lock(&wf->mu);
    while (wf->outstanding &&
           pthread_cond_timedwait(&wf->cv, &wf->mu, &deadline) == 0)
        ;   /* on_answer broadcasts */
    bool leak = wf->outstanding != 0;
    pthread_mutex_unlock(&wf->mu);
    while (wf->jobs) {
        struct wf_job *j = wf->jobs;
        wf->jobs = j->next;
        job_free(j);
    }
    while (wf->answers) {
        struct wf_answer *a = wf->answers;
        wf->answers = a->next;
        job_free(a->job);
        free(a->json);
        free(a);
    }
    if (leak) {
        ls_log_warn("workflows_outstanding", "count=%u", wf->outstanding);
        return;   /* a done may still come: keep the struct */
    }
    pthread_cond_destroy(&wf->cv);
    pthread_mutex_destroy(&wf->mu);
    free(wf);
}

/* ---- handlers ---- */

static enum MHD_Result bad(struct MHD_Connection *conn, const char *msg)
{
    return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
}

/* ?reason= (wins) or the body's "reason".  NULL or a 400 message. */
static const char *reason_of(struct MHD_Connection *conn, json_t *body, char *out, size_t cap)
{
    int q = web_url_query(conn, "reason", out, cap);
    if (q < 0)
        return "reason: must be percent-encoded UTF-8 of at most 500 bytes";
    json_t *r = json_object_get(body, "reason");
    if (q == 0 && r) {
        const char *s = json_string_value(r);
        if (!s || strlen(s) >= cap)
            return "reason: must be a string of at most 500 bytes";
        snprintf(out, cap, "%s", s);
    }
    return NULL;
}

enum MHD_Result web_workflows_bootstrap(struct web_http *w, struct MHD_Connection *conn,
                                        struct web_request *req)
{
    char reason[REASON_MAX + 1] = "";
    json_t *body = NULL;
    if (req->body && !((body = json_loadb(req->body, req->body_len, 0, NULL)) &&
                       json_is_object(body))) {
        json_decref(body);
        return bad(conn, "the body must be a JSON object");
    }
    const char *msg = reason_of(conn, body, reason, sizeof reason);
    json_decref(body);
    if (msg)
        return bad(conn, msg);
    if (!w->workflows)
        return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                               "workflows are not available");
    struct store_workflows_target t;
    struct ls_error err = { 0 };
    int64_t id = 0;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_workflows_target(w->store, req->param, &t, &err);
    if (rc == LS_OK && t.registered)
        rc = store_workflows_create(w->store, req->param, req->token.id, req->token.name,
                                    reason[0] ? reason : NULL, &id, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    if (!t.known)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    if (!t.registered)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_registered",
                               "the device is not registered");
    struct wf_job *j = job_new(id, req->param, 0, mono_us(), &req->token);
    if (!j)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "out of memory");
    enqueue(w->workflows, j);
    return web_reply_json(conn, MHD_HTTP_ACCEPTED,
                          json_pack("{s:I,s:s}", "workflow", (json_int_t)id, "state",
                                    "pending"));
}

static bool parse_id(const char *param, int64_t *id)
{
    long long v;
    if (!param || !web_url_parse_int(param, 1, INT64_MAX, &v))
        return false;
    *id = v;
    return true;
}

typedef enum ls_rc get_fn(struct store *s, int64_t id, char **json_out, struct ls_error *err);

static enum MHD_Result get_json(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req, get_fn *fn, const char *what)
{
    int64_t id;
    if (!parse_id(req->param, &id))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such %s", what);
    char *text = NULL;
    struct ls_error err = { 0 };
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = fn(w->store, id, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc == LS_ENOTFOUND)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such %s", what);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    if (!j)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "bad JSON");
    return web_reply_json(conn, MHD_HTTP_OK, j);
}

enum MHD_Result web_workflows_get(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    return get_json(w, conn, req, store_workflows_get, "workflow");
}

enum MHD_Result web_workflows_rotation_get(struct web_http *w, struct MHD_Connection *conn,
                                           struct web_request *req)
{
    return get_json(w, conn, req, store_workflows_rotation_get, "rotation");
}

#define LIST_DEFAULT 50
#define LIST_MAX 1000

enum MHD_Result web_workflows_list(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req)
{
    static const char *const states[] = {
        "pending", "triggered", "bootstrap_started", "bootstrap_finished", "re_registered",
        "failed", NULL,
    };
    char state[24], rot[24];
    long long limit, rotation = -1;
    (void)req;
    if (!web_url_query_limit(conn, LIST_DEFAULT, LIST_MAX, &limit))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d", LIST_MAX);
    int hs = web_url_query_enum(conn, "state", states, state, sizeof state);
    if (hs < 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "state must be pending, triggered, bootstrap_started, "
                               "bootstrap_finished, re_registered or failed");
    int hr = web_url_query(conn, "rotation", rot, sizeof rot);
    if (hr > 0 && strcmp(rot, "none") == 0)
        rotation = 0;
    else if (hr < 0 || (hr > 0 && !web_url_parse_int(rot, 1, INT64_MAX, &rotation)))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "rotation must be a rotation id or none");
    char *text = NULL;
    struct ls_error err = { 0 };
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_workflows_list(w->store, hs > 0 ? state : NULL, rotation, (int)limit,
                                         &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    return web_reply_list(conn, rc, text, &err, "workflows");
}

enum MHD_Result web_workflows_rotation_list(struct web_http *w, struct MHD_Connection *conn,
                                            struct web_request *req)
{
    long long limit;
    (void)req;
    if (!web_url_query_limit(conn, LIST_DEFAULT, LIST_MAX, &limit))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d", LIST_MAX);
    char *text = NULL;
    struct ls_error err = { 0 };
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_workflows_rotation_list(w->store, (int)limit, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    return web_reply_list(conn, rc, text, &err, "rotations");
}

/* The endpoints of a rotation body: a checked list, or the glob's matches. */
static const char *rotation_targets(struct web_http *w, json_t *body, json_t **out,
                                    struct ls_error *err, bool *store_failed)
{
    json_t *list = json_object_get(body, "endpoints");
    json_t *match = json_object_get(body, "match");
    *out = NULL;
    if ((list != NULL) == (match != NULL))
        return "give either endpoints (a list of names) or match (a glob), not both";
    if (list) {
        if (!json_is_array(list) || json_array_size(list) == 0 ||
            json_array_size(list) > ROTATION_MAX)
            return "endpoints: must be a list of 1..100000 names";
        json_t *seen = json_object(), *v;
        size_t i;
        json_array_foreach(list, i, v) {
            const char *s = json_string_value(v);
            if (!s || !*s || strlen(s) > NAME_MAX_BYTES) {
                json_decref(seen);
                return "endpoints: every name must be a string of 1..1024 bytes";
            }
            if (json_object_get(seen, s)) {
                json_decref(seen);
                return "endpoints: a name is given twice";
            }
            json_object_set_new(seen, s, json_true());
        }
        json_decref(seen);
        *out = json_incref(list);
        return NULL;
    }
    const char *glob = json_string_value(match);
    if (!glob || !*glob || strlen(glob) > NAME_MAX_BYTES)
        return "match: must be a glob of 1..1024 bytes";
    char *all = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_workflows_endpoints(w->store, &all, err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK) {
        *store_failed = true;
        return "store";
    }
    json_t *names = json_loads(all, 0, NULL), *hit = json_array(), *v;
    free(all);
    size_t i;
    json_array_foreach(names, i, v)
        if (store_bsconfigs_glob_match(glob, json_string_value(v)))
            json_array_append(hit, v);
    json_decref(names);
    if (json_array_size(hit) == 0) {
        json_decref(hit);
        return "match: no device matches";
    }
    if (json_array_size(hit) > ROTATION_MAX) {
        json_decref(hit);
        return "match: more than 100000 devices";
    }
    *out = hit;
    return NULL;
}

/* The rotation's jobs, device i due at start (CLOCK_MONOTONIC) + i / rate. */
static struct wf_job *rotation_jobs(json_t *children, int64_t rotation, double rate,
                                    int64_t start, const struct store_token *tok)
{
    struct wf_job *head = NULL, **tail = &head;
    struct wf_rot *rot = calloc(1, sizeof *rot);
    if (!rot)
        return NULL;
    rot->interval_us = (int64_t)(1e6 / rate);
    rot->next_us = start;
    size_t i, n = json_array_size(children);
    json_t *c;
    json_array_foreach(children, i, c) {
        int64_t due = start + (int64_t)((double)i * 1e6 / rate);
        struct wf_job *j = job_new(json_integer_value(json_array_get(c, 0)),
                                   json_string_value(json_array_get(c, 1)), rotation, due, tok);
        if (!j)
            break;
        j->rot = rot;
        rot->refs++;
        j->last = i + 1 == n;
        *tail = j;
        tail = &j->next;
    }
    if (!rot->refs)
        free(rot);
    return head;
}

enum MHD_Result web_workflows_rotation_create(struct web_http *w, struct MHD_Connection *conn,
                                              struct web_request *req)
{
    char reason[REASON_MAX + 1] = "";
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    json_t *targets = NULL;
    enum MHD_Result ret;
    struct ls_error err = { 0 };
    bool store_failed = false;
    const char *msg = json_is_object(body) ? reason_of(conn, body, reason, sizeof reason)
                                           : "the body must be a JSON object";
    json_t *rate_j = json_object_get(body, "rate");
    double rate = rate_j ? json_number_value(rate_j) : RATE_DEFAULT;
    if (!msg && rate_j && (!json_is_number(rate_j) || rate <= 0 || rate > RATE_MAX))
        msg = "rate: must be a number of devices per second in (0, 10000]";
    if (!msg)
        msg = rotation_targets(w, body, &targets, &err, &store_failed);
    if (store_failed) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    if (msg) {
        ret = bad(conn, msg);
        goto out;
    }
    if (!w->workflows) {
        ret = web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                              "workflows are not available");
        goto out;
    }
    char *names = json_dumps(targets, JSON_COMPACT), *children_text = NULL;
    int64_t id = 0;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = names ? store_workflows_rotation_create(
                                w->store, names, rate,
                                json_string_value(json_object_get(body, "match")),
                                req->token.id, req->token.name, reason[0] ? reason : NULL,
                                w->workflows->runner, &id, &children_text, &err)
                          : ls_error_set(&err, LS_ENOMEM, "out of memory");
    pthread_mutex_unlock(&w->store_lock);
    free(names);
    if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    json_t *children = json_loads(children_text, 0, NULL);
    free(children_text);
    enqueue(w->workflows, rotation_jobs(children, id, rate, mono_us(), &req->token));
    ret = web_reply_json(conn, MHD_HTTP_ACCEPTED,
                         json_pack("{s:I,s:I,s:f}", "rotation", (json_int_t)id, "total",
                                   (json_int_t)json_array_size(children), "rate", rate));
    json_decref(children);
out:
    json_decref(targets);
    json_decref(body);
    return ret;
}
