/*
 * web/events.c -- GET /api/events: server-sent events from the events table
 *
 * One hub per server: a thread with its own store connection that LISTENs
 * on lodestar_events.  A notification (or the 15 s heartbeat, as a safety
 * net) makes it select the rows after the last id it published, in id
 * order, and append each, formatted once, to the queue of every
 * subscriber whose ?ep= filter matches.  The payload of a notification is
 * never read: it only says "look" (store/events.h).
 *
 * A subscriber is an MHD response built on a content-reader callback.  When
 * its queue is empty the callback suspends the connection (so an idle
 * stream costs a socket, not a thread or a busy loop) and the hub resumes
 * it when it appends.  A queue is bounded (QUEUE_MAX): a client too slow
 * to drain it is dropped, not allowed to grow our memory; it reconnects
 * with Last-Event-ID and resumes from the table.
 *
 * Locking: hub->lock guards the subscriber list, every queue and the
 * flags.  No MHD function is called with it held: the callback releases it
 * before suspending and the hub resumes outside it, because MHD takes its
 * own mutexes inside those calls and may destroy a response (which takes
 * hub->lock in on_free) while holding them.  A connection marked suspended
 * cannot complete, so the hub may still resume it after unlocking; a
 * resume that overtakes the suspend cancels it (MHD's documented
 * behaviour), and the callback is simply called again.
 *
 * Resuming: Last-Event-ID replays up to BACKLOG_MAX events from the table
 * (id > Last-Event-ID and up to the hub's position when the client
 * joined; the hub delivers the rest).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "runtime/log.h"
#include "store/events.h"

#define HEARTBEAT_MS 15000
#define RETRY_MS 1000               /* wait between attempts while the database is away */
#define QUEUE_MAX (1024 * 1024)     /* bytes queued for one client before it is dropped */
#define BACKLOG_MAX 1000            /* events rows replayed for Last-Event-ID (also at
                                     * most QUEUE_MAX bytes) */
#define FETCH_BATCH 50              /* rows per hub read: a "notifications" row holds a
                                     * whole store round (hundreds of kB) */
#define REPLAY_PAGE 20              /* rows per Last-Event-ID replay read */
#define EP_MAX 1024

struct client {
    struct client *prev, *next;     /* hub list */
    struct web_events *hub;
    struct MHD_Connection *conn;
    char *ep;                       /* filter; NULL = every event */
    char *buf;                      /* queued bytes [off, len) */
    size_t len, off, cap;
    int64_t last_id;                /* newest event id queued (or skipped) */
    bool suspended;                 /* the callback suspended (or is about to) */
    bool closing;                   /* end the stream at the next read */
};

struct web_events {
    pthread_mutex_t lock;
    struct client *clients;         /* list head */
    unsigned n_clients;
    int64_t last_id;                /* newest id published; -1 until known */
    bool closing;                   /* no new subscribers */
    bool stop;                      /* hub thread: leave */
    int wake_fd;                    /* eventfd: stop */
    pthread_t thread;
    bool thread_started;
    struct store *store;            /* the hub thread's LISTEN connection */
    struct MHD_Connection **resume; /* hub thread scratch */
    size_t resume_cap;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *web_events_frame(int64_t id, const char *kind, const char *json)
{
    /* A data line may not hold a newline: each line gets its own "data:". */
    size_t lines = 1;
    for (const char *p = json; *p; p++)
        lines += *p == '\n';
    size_t cap = 64 + strlen(kind) + strlen(json) + lines * 7;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = (size_t)snprintf(out, cap, "id: %" PRId64 "\nevent: %s\ndata: ", id, kind);
    for (const char *p = json; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n') {
            memcpy(out + n, "\ndata: ", 7);
            n += 7;
            continue;
        }
        out[n++] = *p;
    }
    memcpy(out + n, "\n\n", 3);
    return out;
}

/*
 * A "notifications" event (store/registrations.c: one events row per
 * store round for all its notifications, detail {"notifications":
 * [{"endpoint","detail"}, ...]}; store_events_after formats its elements,
 * store/events.h) reaches subscribers as one "notification" frame per
 * element, shaped like any event ({"id","at","endpoint","kind","detail"},
 * id the row's), each without an id line, followed by an
 * id-only frame "id: N" that moves the client's Last-Event-ID past the row
 * (an SSE block with no data sets the id and dispatches nothing).  A client
 * that drops mid-row resumes from the previous id and gets the whole row
 * again: at least once, never lost.  ?ep= filters element by element.
 */
struct batch {
    size_t n;
    char **eps;                     /* element endpoints */
    char **frames;                  /* "event: notification\ndata: ...\n\n" */
    char idline[48];                /* "id: N\n\n" */
};

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->eps[i]);
        free(b->frames[i]);
    }
    free(b->eps);
    free(b->frames);
    memset(b, 0, sizeof *b);
}

static bool is_batch(const struct store_event *ev)
{
    return strcmp(ev->kind, "notifications") == 0;
}

/* Adds one line of a "notifications" event (store/events.h: <endpoint as
 * a JSON string> TAB <event JSON>) to b.  false on ENOMEM; a malformed
 * line is skipped. */
static bool batch_line(struct batch *b, const char *line, size_t len)
{
    const char *tab = memchr(line, '\t', len);
    if (!tab)
        return true;
    json_t *name = json_loadb(line, (size_t)(tab - line), JSON_DECODE_ANY, NULL);
    const char *ep = json_string_value(name);
    char *frame = NULL;
    int flen = (int)(len - (size_t)(tab + 1 - line));
    bool ok = !ep || asprintf(&frame, "event: notification\ndata: %.*s\n\n", flen, tab + 1) >= 0;
    if (ok && ep) {
        b->eps[b->n] = strdup(ep);
        b->frames[b->n] = frame;
        ok = b->eps[b->n] != NULL;
        if (ok)
            b->n++;
        else
            free(frame);
    }
    json_decref(name);
    return ok;
}

/* Splits a "notifications" event; false on ENOMEM. */
static bool batch_split(const struct store_event *ev, struct batch *b)
{
    memset(b, 0, sizeof *b);
    snprintf(b->idline, sizeof b->idline, "id: %" PRId64 "\n\n", ev->id);
    size_t lines = 1;
    for (const char *p = ev->json; *p; p++)
        lines += *p == '\n';
    bool ok = (b->eps = calloc(lines, sizeof *b->eps)) &&
              (b->frames = calloc(lines, sizeof *b->frames));
    for (const char *p = ev->json; ok && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        ok = batch_line(b, p, len);
        p += len + (nl != NULL);
    }
    if (!ok)
        batch_free(b);
    return ok;
}

/* The text of b for a client whose filter is ep (NULL: all): the matching
 * frames and the id line; NULL when nothing matches (or ENOMEM). */
static char *batch_text(const struct batch *b, const char *ep)
{
    size_t len = strlen(b->idline), k = 0, matched = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!ep || strcmp(ep, b->eps[i]) == 0) {
            len += strlen(b->frames[i]);
            matched++;
        }
    char *out = matched ? malloc(len + 1) : NULL;
    if (!out)
        return NULL;
    for (size_t i = 0; i < b->n; i++)
        if (!ep || strcmp(ep, b->eps[i]) == 0) {
            size_t l = strlen(b->frames[i]);
            memcpy(out + k, b->frames[i], l);
            k += l;
        }
    memcpy(out + k, b->idline, strlen(b->idline) + 1);
    return out;
}

/* What a client with filter ep gets for ev; NULL for nothing. */
static char *event_text(const struct store_event *ev, const char *ep)
{
    if (!is_batch(ev))
        return web_events_frame(ev->id, ev->kind, ev->json);
    struct batch b;
    if (!batch_split(ev, &b))
        return NULL;
    char *text = batch_text(&b, ep);
    batch_free(&b);
    return text;
}

/* Appends to a client's queue; drops the client when it would overflow.
 * Returns true when the client needs a resume.  hub->lock held. */
static bool enqueue_locked(struct client *c, const char *text, size_t n)
{
    if (c->closing)
        return false;
    if (c->off > 0 && c->off == c->len)
        c->off = c->len = 0;
    if (c->len - c->off + n > QUEUE_MAX) {
        ls_log_warn("sse_client_dropped", "reason=slow queued=%zu", c->len - c->off);
        c->closing = true;
        /* The peer may never read again: do not hold its backlog until
         * MHD's idle timeout closes the connection. */
        free(c->buf);
        c->buf = NULL;
        c->len = c->off = c->cap = 0;
    } else {
        if (c->len + n > c->cap) {
            /* Compact first; grow only for what is really pending. */
            memmove(c->buf, c->buf + c->off, c->len - c->off);
            c->len -= c->off;
            c->off = 0;
            size_t cap = c->cap ? c->cap : 4096;
            while (cap < c->len + n)
                cap *= 2;
            char *b = cap != c->cap ? realloc(c->buf, cap) : c->buf;
            if (!b) {
                c->closing = true;
                goto wake;
            }
            c->buf = b;
            c->cap = cap;
        }
        memcpy(c->buf + c->len, text, n);
        c->len += n;
    }
wake:
    if (!c->suspended)
        return false;
    c->suspended = false;
    return true;
}

/* Adds conn to the hub thread's resume list (hub->lock held). */
static void want_resume_locked(struct web_events *e, struct MHD_Connection *conn, size_t *n)
{
    if (*n == e->resume_cap) {
        size_t cap = e->resume_cap ? 2 * e->resume_cap : 64;
        struct MHD_Connection **r = realloc(e->resume, cap * sizeof *r);
        if (!r)
            return;     /* that client wakes at the next heartbeat instead */
        e->resume = r;
        e->resume_cap = cap;
    }
    e->resume[(*n)++] = conn;
}

/* Publishes one frame to every matching client, then resumes them. */
static void publish(struct web_events *e, const struct store_event *ev, const char *frame,
                    bool heartbeat)
{
    size_t n_resume = 0, len = strlen(frame);
    pthread_mutex_lock(&e->lock);
    for (struct client *c = e->clients; c; c = c->next) {
        if (!heartbeat) {
            if (ev->id <= c->last_id)
                continue;
            c->last_id = ev->id;
            if (c->ep && (!ev->endpoint || strcmp(c->ep, ev->endpoint) != 0))
                continue;
        }
        if (enqueue_locked(c, frame, len))
            want_resume_locked(e, c->conn, &n_resume);
    }
    if (!heartbeat)
        e->last_id = ev->id;
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < n_resume; i++)
        MHD_resume_connection(e->resume[i]);
}

/* Publishes a "notifications" event: each client gets its elements. */
static void publish_batch(struct web_events *e, const struct store_event *ev)
{
    pthread_mutex_lock(&e->lock);
    bool nobody = !e->clients;
    if (nobody)
        e->last_id = ev->id;
    pthread_mutex_unlock(&e->lock);
    if (nobody)
        return;     /* nothing to split for */
    struct batch b;
    if (!batch_split(ev, &b)) {
        ls_log_warn("sse_batch_dropped", "id=%" PRId64 " reason=\"cannot split\"", ev->id);
        return;
    }
    char *all = batch_text(&b, NULL);
    size_t n_resume = 0;
    pthread_mutex_lock(&e->lock);
    for (struct client *c = e->clients; c; c = c->next) {
        if (ev->id <= c->last_id)
            continue;
        c->last_id = ev->id;
        char *mine = c->ep ? batch_text(&b, c->ep) : all;
        if (mine && enqueue_locked(c, mine, strlen(mine)))
            want_resume_locked(e, c->conn, &n_resume);
        if (mine != all)
            free(mine);
    }
    e->last_id = ev->id;
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < n_resume; i++)
        MHD_resume_connection(e->resume[i]);
    free(all);
    batch_free(&b);
}

/* Publishes every event after the hub's position.  false on a store error. */
static bool catch_up(struct web_events *e)
{
    struct ls_error err = { 0 };
    if (e->last_id < 0 && store_events_last_id(e->store, &e->last_id, &err) != LS_OK) {
        e->last_id = -1;
        return false;
    }
    /* Nobody subscribed: move to the newest id instead of reading (and
     * having Postgres format) every event since; a notification flood
     * would otherwise cost the database as much again.  Checked under the
     * lock after the query, so a client that joined meanwhile is served by
     * the reads below, and one joining later starts at the new position. */
    int64_t newest = 0;
    if (store_events_last_id(e->store, &newest, &err) != LS_OK)
        return false;
    pthread_mutex_lock(&e->lock);
    bool nobody = !e->clients;
    if (nobody && newest > e->last_id)
        e->last_id = newest;
    pthread_mutex_unlock(&e->lock);
    if (nobody)
        return true;
    for (;;) {
        struct store_event *evs = NULL;
        size_t n = 0;
        if (store_events_after(e->store, e->last_id, NULL, FETCH_BATCH, &evs, &n, &err) != LS_OK) {
            ls_log_debug("sse_fetch_failed", "error=\"%s\"", err.msg);
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (is_batch(&evs[i])) {
                publish_batch(e, &evs[i]);
                continue;
            }
            char *frame = web_events_frame(evs[i].id, evs[i].kind, evs[i].json);
            if (frame)
                publish(e, &evs[i], frame, false);
            free(frame);
        }
        store_events_free(evs, n);
        if (n < FETCH_BATCH)
            return true;
    }
}

/*
 * Reads the notifications pending on the connection and catches up until
 * none is left.  libpq keeps a notification that arrived while a query ran
 * (catch_up's) in its own buffer, and the socket will not wake poll() for
 * it again: the hub must empty that buffer before it sleeps, or an event
 * would wait for the next heartbeat.  false when the connection broke.
 */
static bool drain_pending(struct web_events *e)
{
    for (;;) {
        struct ls_error err = { 0 };
        unsigned count = 0;
        if (store_events_consume(e->store, &count, &err) != LS_OK)
            return false;
        if (count == 0)
            return true;
        if (!catch_up(e))
            return false;
    }
}

static void *hub_main(void *arg)
{
    struct web_events *e = arg;
    bool listening = false;
    int64_t next_beat = now_ms() + HEARTBEAT_MS;
    while (!__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE)) {
        if (!listening) {
            /* A failed call left the store down; this one reconnects
             * (when the backoff allows) and listens on the new session. */
            struct ls_error err = { 0 };
            listening = store_events_listen(e->store, &err) == LS_OK && catch_up(e);
        }
        if (listening && !drain_pending(e))
            listening = false;
        int pgfd = listening ? store_events_socket(e->store) : -1;
        struct pollfd fds[2] = { { .fd = e->wake_fd, .events = POLLIN },
                                 { .fd = pgfd, .events = POLLIN } };
        int64_t wait = next_beat - now_ms();
        if (!listening && wait > RETRY_MS)
            wait = RETRY_MS;
        int rc = poll(fds, pgfd >= 0 ? 2 : 1, wait < 0 ? 0 : (int)wait);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && pgfd >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) &&
            !drain_pending(e))
            listening = false;
        if (now_ms() >= next_beat) {
            next_beat = now_ms() + HEARTBEAT_MS;
            if (listening && !catch_up(e))
                listening = false;
            publish(e, NULL, ": heartbeat\n\n", true);
        }
    }
    return NULL;
}

struct web_events *web_events_start(const char *conninfo, struct ls_error *err)
{
    struct web_events *e = calloc(1, sizeof *e);
    if (!e) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the event hub");
        return NULL;
    }
    pthread_mutex_init(&e->lock, NULL);
    e->last_id = -1;
    e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->wake_fd < 0) {
        ls_error_set(err, LS_EIO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    e->store = store_open(conninfo, err);
    if (!e->store)
        goto fail;
    /* The hub's position before any client can join: a client takes it as
     * its own, and a hub that learnt it only at its first read (after a
     * slow first connect) would start past events that happened after the
     * client joined, and never send them.  The database is up: the server
     * just migrated it; if not, the first read sets it. */
    struct ls_error pos_err = { 0 };
    if (store_events_last_id(e->store, &e->last_id, &pos_err) != LS_OK) {
        e->last_id = -1;
        ls_log_warn("sse_position_unknown", "error=\"%s\"", pos_err.msg);
    }
    if (pthread_create(&e->thread, NULL, hub_main, e) != 0) {
        ls_error_set(err, LS_EIO, "cannot start the event hub thread");
        goto fail;
    }
    e->thread_started = true;
    return e;
fail:
    web_events_stop(e);
    return NULL;
}

void web_events_close_streams(struct web_events *e)
{
    if (!e)
        return;
    size_t n = 0, cap = 0;
    struct MHD_Connection **list = NULL;
    pthread_mutex_lock(&e->lock);
    e->closing = true;
    cap = e->n_clients;
    list = cap ? calloc(cap, sizeof *list) : NULL;
    for (struct client *c = e->clients; c; c = c->next) {
        c->closing = true;
        if (c->suspended && list && n < cap) {
            c->suspended = false;
            list[n++] = c->conn;
        }
    }
    pthread_mutex_unlock(&e->lock);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(list[i]);
    free(list);
}

void web_events_stop(struct web_events *e)
{
    if (!e)
        return;
    if (e->thread_started) {
        __atomic_store_n(&e->stop, true, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(e->wake_fd, &one, sizeof one) < 0)
            ls_log_warn("sse_wake_failed", "error=\"%s\"", strerror(errno));
        pthread_join(e->thread, NULL);
    }
    if (e->wake_fd >= 0)
        close(e->wake_fd);
    store_close(e->store);
    free(e->resume);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

unsigned web_events_subscribers(struct web_events *e)
{
    pthread_mutex_lock(&e->lock);
    unsigned n = e->n_clients;
    pthread_mutex_unlock(&e->lock);
    return n;
}

/* MHD's content reader: hand out queued bytes, or suspend until more. */
static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct client *c = cls;
    struct web_events *e = c->hub;
    pthread_mutex_lock(&e->lock);
    if (c->closing) {
        pthread_mutex_unlock(&e->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (c->off < c->len) {
        size_t n = c->len - c->off < max ? c->len - c->off : max;
        memcpy(buf, c->buf + c->off, n);
        c->off += n;
        pthread_mutex_unlock(&e->lock);
        return (ssize_t)n;
    }
    c->suspended = true;
    pthread_mutex_unlock(&e->lock);
    /* Returning 0 without suspending would make MHD poll us in a loop. */
    MHD_suspend_connection(c->conn);
    return 0;
}

static void free_client(struct client *c)
{
    if (!c)
        return;
    free(c->ep);
    free(c->buf);
    free(c);
}

/* The response is gone (stream ended or client left): unlink and free. */
static void on_free(void *cls)
{
    struct client *c = cls;
    struct web_events *e = c->hub;
    pthread_mutex_lock(&e->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        e->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    e->n_clients--;
    pthread_mutex_unlock(&e->lock);
    free_client(c);
}

/* Appends f (freed) to *text; false on ENOMEM. */
static bool append_text(char **text, size_t *len, char *f)
{
    size_t l = strlen(f);
    char *t = realloc(*text, *len + l + 1);
    if (t) {
        memcpy(t + *len, f, l + 1);
        *text = t;
        *len += l;
    }
    free(f);
    return t != NULL;
}

/*
 * The Last-Event-ID replay, prepended to the client's queue: at most
 * BACKLOG_MAX rows and QUEUE_MAX bytes, read REPLAY_PAGE rows at a time
 * (a "notifications" row holds a whole store round, hundreds of kB: a
 * page of BACKLOG_MAX of them could take hundreds of MB).
 */
static enum ls_rc replay(struct web_http *w, struct client *c, int64_t from, int64_t upto,
                         struct ls_error *err)
{
    char *text = NULL;
    size_t total = 0, rows = 0;
    enum ls_rc rc = LS_OK;
    for (bool more = true; rc == LS_OK && more;) {
        struct store_event *evs = NULL;
        size_t n = 0;
        pthread_mutex_lock(&w->store_lock);
        rc = store_events_after(w->store, from, c->ep, REPLAY_PAGE, &evs, &n, err);
        pthread_mutex_unlock(&w->store_lock);
        more = rc == LS_OK && n == REPLAY_PAGE;
        for (size_t i = 0; rc == LS_OK && i < n; i++) {
            if (evs[i].id > upto || rows >= BACKLOG_MAX || total >= QUEUE_MAX) {
                more = false;
                break;
            }
            from = evs[i].id;
            rows++;
            char *f = event_text(&evs[i], c->ep);
            if (f && !append_text(&text, &total, f))
                rc = ls_error_set(err, LS_ENOMEM, "cannot replay events");
        }
        store_events_free(evs, n);
    }
    if (rc != LS_OK) {
        free(text);
        return rc;
    }
    char *pending = NULL;
    pthread_mutex_lock(&w->events->lock);
    size_t queued = c->len - c->off;
    pending = malloc(total + queued + 1);
    if (pending) {
        if (total)
            memcpy(pending, text, total);
        if (queued)
            memcpy(pending + total, c->buf + c->off, queued);
        free(c->buf);
        c->buf = pending;
        c->off = 0;
        c->len = c->cap = total + queued;
    }
    pthread_mutex_unlock(&w->events->lock);
    free(text);
    return pending ? LS_OK : ls_error_set(err, LS_ENOMEM, "cannot replay events");
}

/* Reads ?ep= and Last-Event-ID; false with *ret queued on bad input. */
static bool parse_stream(struct MHD_Connection *conn, struct client *c, int64_t *from,
                         enum MHD_Result *ret)
{
    char ep[EP_MAX + 1];
    int has_ep = web_url_query(conn, "ep", ep, sizeof ep);
    if (has_ep < 0) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "ep must be percent-encoded UTF-8 of at most %d bytes", EP_MAX);
        return false;
    }
    if (has_ep > 0 && *ep && !(c->ep = strdup(ep))) {
        *ret = MHD_NO;
        return false;
    }
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    long long v = -1;
    if (last && *last && !web_url_parse_int(last, 0, INT64_MAX, &v)) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "Last-Event-ID must be an event id");
        return false;
    }
    *from = v;
    return true;
}

enum MHD_Result web_events_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    struct web_events *e = w->events;
    enum MHD_Result ret = MHD_NO;
    int64_t from = -1, joined_at;
    struct client *c = calloc(1, sizeof *c);
    if (!c)
        return MHD_NO;
    c->hub = e;
    c->conn = conn;
    if (!parse_stream(conn, c, &from, &ret)) {
        free_client(c);
        return ret;
    }
    static const char hello[] = "retry: 3000\n: connected\n\n";
    c->buf = strdup(hello);
    c->len = c->cap = c->buf ? sizeof hello - 1 : 0;
    struct MHD_Response *r = c->buf ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
                                                                        on_read, c, on_free)
                                    : NULL;
    if (!r) {
        free_client(c);
        return MHD_NO;
    }
    /* Linked now; from here on_free (when r is destroyed) owns c. */
    pthread_mutex_lock(&e->lock);
    c->next = e->clients;
    if (e->clients)
        e->clients->prev = c;
    e->clients = c;
    e->n_clients++;
    c->closing = e->closing;        /* shutting down: the stream ends at once */
    joined_at = c->last_id = e->last_id;
    pthread_mutex_unlock(&e->lock);

    struct ls_error err = { 0 };
    if (from >= 0 && joined_at > from && replay(w, c, from, joined_at, &err) != LS_OK) {
        MHD_destroy_response(r);    /* on_free unlinks and frees c */
        return web_reply_store_error(conn, &err);
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    ret = web_queue(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
