/*
 * runtime/loop.c -- the event loop: fds, timers, cross-thread posts, signals
 *
 * One iteration: compute the time to the earliest timer, epoll_wait that
 * long, cache now, dispatch the fd events of the batch, then fire the
 * timers that are due.  The eventfd is both the post-queue doorbell and the
 * stop doorbell.  See loop.h for the design choices.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* Events taken per epoll_wait; more simply wait for the next iteration. */
#define BATCH_MAX 64

struct runtime_loop_watch {
    int fd;                         /* borrowed from the caller */
    runtime_loop_fd_fn *fn;
    void *arg;
    struct runtime_loop_watch *prev, *next; /* all live watches, for free() */
};

struct post {
    runtime_loop_post_fn *fn;
    void *arg;
    struct post *next;
};

struct runtime_loop {
    int epfd;                           /* the epoll set */
    int wakefd;                         /* eventfd: posts and stop */
    int sigfd;                          /* signalfd, -1 until runtime_loop_signals */
    struct runtime_loop_watch *wake_watch, *sig_watch;
    runtime_loop_signal_fn *sig_fn;
    void *sig_arg;
    struct runtime_loop_watch *watches; /* list head of live watches */
    struct epoll_event *batch;          /* batch being dispatched, else NULL */
    int batch_n;                        /* events in batch */
    struct runtime_loop_timer **heap;   /* min-heap on (due_ms, seq) */
    size_t heap_len, heap_cap;
    uint64_t next_seq;                  /* start order counter for timers */
    int64_t now_ms;                     /* cached at each wake-up */
    atomic_bool stop;                   /* set by runtime_loop_stop, any thread */
    pthread_mutex_t post_lock;          /* guards post_head/post_tail */
    struct post *post_head, *post_tail; /* FIFO of pending posts */
};

int64_t runtime_clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t runtime_loop_now_ms(const struct runtime_loop *loop)
{
    return loop->now_ms;
}

/* ---- timer heap ---------------------------------------------------------- */

static bool before(const struct runtime_loop_timer *a, const struct runtime_loop_timer *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct runtime_loop *loop, size_t i, struct runtime_loop_timer *t)
{
    loop->heap[i] = t;
    t->heap_idx = i;
}

static void sift_up(struct runtime_loop *loop, size_t i)
{
    struct runtime_loop_timer *t = loop->heap[i];
    while (i > 0 && before(t, loop->heap[(i - 1) / 2])) {
        heap_set(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(loop, i, t);
}

static void sift_down(struct runtime_loop *loop, size_t i)
{
    struct runtime_loop_timer *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->heap_len)
            break;
        if (c + 1 < loop->heap_len && before(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!before(loop->heap[c], t))
            break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, t);
}

static void heap_remove(struct runtime_loop *loop, struct runtime_loop_timer *t)
{
    size_t i = t->heap_idx;
    struct runtime_loop_timer *last = loop->heap[--loop->heap_len];
    t->heap_idx = SIZE_MAX;
    if (i == loop->heap_len)
        return;
    heap_set(loop, i, last);
    sift_up(loop, i);
    sift_down(loop, last->heap_idx);
}

static enum ls_rc heap_push(struct runtime_loop *loop, struct runtime_loop_timer *t,
                            struct ls_error *err)
{
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? 2 * loop->heap_cap : 16;
        struct runtime_loop_timer **h = realloc(loop->heap, cap * sizeof *h);
        if (!h)
            return ls_error_set(err, LS_ENOMEM, "cannot grow the timer heap to %zu", cap);
        loop->heap = h;
        loop->heap_cap = cap;
    }
    heap_set(loop, loop->heap_len++, t);
    sift_up(loop, t->heap_idx);
    return LS_OK;
}

void runtime_loop_timer_init(struct runtime_loop_timer *t, runtime_loop_timer_fn *fn, void *arg)
{
    memset(t, 0, sizeof *t);
    t->fn = fn;
    t->arg = arg;
    t->heap_idx = SIZE_MAX;
}

enum ls_rc runtime_loop_timer_start(struct runtime_loop *loop, struct runtime_loop_timer *t,
                                    int64_t delay_ms, int64_t period_ms, struct ls_error *err)
{
    if (delay_ms < 0 || period_ms < 0)
        return ls_error_set(err, LS_EINVAL, "negative timer delay or period");
    if (runtime_loop_timer_active(t))
        heap_remove(loop, t);
    t->due_ms = runtime_clock_now_ms() + delay_ms;
    t->period_ms = period_ms;
    t->seq = loop->next_seq++;
    return heap_push(loop, t, err);
}

void runtime_loop_timer_stop(struct runtime_loop *loop, struct runtime_loop_timer *t)
{
    if (t && runtime_loop_timer_active(t))
        heap_remove(loop, t);
}

/* Fires due timers.  Timers started by these callbacks (seq >= limit) wait
 * for the next iteration, so a callback re-arming itself with delay 0
 * cannot spin here forever.  Because the heap is ordered by (due, seq) and
 * such a timer is due at most `now`, every older due timer precedes it. */
static void run_timers(struct runtime_loop *loop)
{
    uint64_t limit = loop->next_seq;
    while (loop->heap_len > 0 && !atomic_load(&loop->stop)) {
        struct runtime_loop_timer *t = loop->heap[0];
        if (t->due_ms > loop->now_ms || t->seq >= limit)
            break;
        heap_remove(loop, t);
        if (t->period_ms > 0) {
            t->due_ms += t->period_ms;
            if (t->due_ms <= loop->now_ms)     /* fell behind: skip, no burst */
                t->due_ms = loop->now_ms + t->period_ms;
            t->seq = loop->next_seq++;
            /* The slot just freed by heap_remove guarantees capacity. */
            (void)heap_push(loop, t, NULL);
        }
        t->fn(loop, t->arg);
    }
}

/* epoll_wait timeout: ms until the earliest timer, -1 when there is none. */
static int next_timeout(const struct runtime_loop *loop)
{
    if (loop->heap_len == 0)
        return -1;
    int64_t d = loop->heap[0]->due_ms - runtime_clock_now_ms();
    if (d <= 0)
        return 0;
    return d > 24 * 3600 * 1000 ? 24 * 3600 * 1000 : (int)d;
}

/* ---- fd watches ------------------------------------------------------------ */

static uint32_t to_epoll(unsigned events)
{
    return ((events & RUNTIME_LOOP_IN) ? EPOLLIN : 0u) | ((events & RUNTIME_LOOP_OUT) ? EPOLLOUT : 0u);
}

static unsigned from_epoll(uint32_t ev)
{
    return ((ev & EPOLLIN) ? RUNTIME_LOOP_IN : 0u) | ((ev & EPOLLOUT) ? RUNTIME_LOOP_OUT : 0u) |
           ((ev & (EPOLLERR | EPOLLHUP)) ? RUNTIME_LOOP_ERR : 0u);
}

enum ls_rc runtime_loop_watch_add(struct runtime_loop *loop, int fd, unsigned events,
                                  runtime_loop_fd_fn *fn, void *arg,
                                  struct runtime_loop_watch **out, struct ls_error *err)
{
    *out = NULL;
    struct runtime_loop_watch *w = calloc(1, sizeof *w);
    if (!w)
        return ls_error_set(err, LS_ENOMEM, "cannot allocate a watch for fd %d", fd);
    w->fd = fd;
    w->fn = fn;
    w->arg = arg;
    struct epoll_event ev = { .events = to_epoll(events), .data.ptr = w };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        enum ls_rc rc = ls_error_set(err, LS_EIO, "epoll_ctl add fd %d: %s", fd, strerror(errno));
        free(w);
        return rc;
    }
    w->next = loop->watches;
    if (w->next)
        w->next->prev = w;
    loop->watches = w;
    *out = w;
    return LS_OK;
}

enum ls_rc runtime_loop_watch_modify(struct runtime_loop *loop, struct runtime_loop_watch *w,
                                     unsigned events, struct ls_error *err)
{
    struct epoll_event ev = { .events = to_epoll(events), .data.ptr = w };
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
        return ls_error_set(err, LS_EIO, "epoll_ctl mod fd %d: %s", w->fd, strerror(errno));
    return LS_OK;
}

static void unlink_watch(struct runtime_loop *loop, struct runtime_loop_watch *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
}

void runtime_loop_watch_remove(struct runtime_loop *loop, struct runtime_loop_watch *w)
{
    if (!w)
        return;
    /* The fd may already be closed by a careless caller; nothing to undo then. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    /* Danger zone: the batch being dispatched may still name w. */
    for (int i = 0; loop->batch && i < loop->batch_n; i++)
        if (loop->batch[i].data.ptr == w)
            loop->batch[i].data.ptr = NULL;
    unlink_watch(loop, w);
    free(w);
}

/* ---- posts and stop ------------------------------------------------------- */

static void ring(struct runtime_loop *loop)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
    ssize_t n = write(loop->wakefd, &one, sizeof one);
    (void)n;
}

enum ls_rc runtime_loop_post(struct runtime_loop *loop, runtime_loop_post_fn *fn, void *arg,
                             struct ls_error *err)
{
    struct post *p = malloc(sizeof *p);
    if (!p)
        return ls_error_set(err, LS_ENOMEM, "cannot allocate a post");
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    pthread_mutex_lock(&loop->post_lock);
    bool was_empty = loop->post_head == NULL;
    if (loop->post_tail)
        loop->post_tail->next = p;
    else
        loop->post_head = p;
    loop->post_tail = p;
    pthread_mutex_unlock(&loop->post_lock);
    /* A non-empty queue has already rung and not yet been drained. */
    if (was_empty)
        ring(loop);
    return LS_OK;
}

/* Takes the whole queue under the lock, then runs it without the lock so
 * that a post may post again (it lands in the next batch). */
static void drain_posts(struct runtime_loop *loop)
{
    pthread_mutex_lock(&loop->post_lock);
    struct post *p = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_lock);
    while (p) {
        struct post *next = p->next;
        p->fn(loop, p->arg);
        free(p);
        p = next;
    }
}

static void on_wake(struct runtime_loop *loop, int fd, unsigned events, void *arg)
{
    uint64_t count;
    /* Reset the counter before draining: a post racing with us rings again. */
    ssize_t n = read(fd, &count, sizeof count);
    (void)n;
    drain_posts(loop);
}

void runtime_loop_stop(struct runtime_loop *loop)
{
    atomic_store(&loop->stop, true);
    ring(loop);
}

bool runtime_loop_stopping(const struct runtime_loop *loop)
{
    return atomic_load(&loop->stop);
}

/* ---- signals --------------------------------------------------------------- */

static void term_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

enum ls_rc runtime_signals_block(struct ls_error *err)
{
    sigset_t set;
    term_set(&set);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        return ls_error_set(err, LS_EIO, "pthread_sigmask: %s", strerror(rc));
    struct sigaction sa = { .sa_handler = SIG_IGN };
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return ls_error_set(err, LS_EIO, "sigaction SIGPIPE: %s", strerror(errno));
    return LS_OK;
}

static void on_signal(struct runtime_loop *loop, int fd, unsigned events, void *arg)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (loop->sig_fn)
            loop->sig_fn(loop, (int)si.ssi_signo, loop->sig_arg);
}

enum ls_rc runtime_loop_signals(struct runtime_loop *loop, runtime_loop_signal_fn *fn, void *arg,
                                struct ls_error *err)
{
    loop->sig_fn = fn;
    loop->sig_arg = arg;
    if (loop->sigfd >= 0)
        return LS_OK;
    sigset_t set;
    term_set(&set);
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0)
        return ls_error_set(err, LS_EIO, "signalfd: %s", strerror(errno));
    return runtime_loop_watch_add(loop, loop->sigfd, RUNTIME_LOOP_IN, on_signal, NULL,
                                  &loop->sig_watch, err);
}

/* ---- lifecycle ------------------------------------------------------------- */

struct runtime_loop *runtime_loop_new(struct ls_error *err)
{
    struct runtime_loop *loop = calloc(1, sizeof *loop);
    if (!loop) {
        ls_error_set(err, LS_ENOMEM, "cannot allocate the event loop");
        return NULL;
    }
    loop->wakefd = loop->sigfd = -1;
    atomic_init(&loop->stop, false);
    pthread_mutex_init(&loop->post_lock, NULL);
    loop->now_ms = runtime_clock_now_ms();
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        ls_error_set(err, LS_EIO, "epoll_create1: %s", strerror(errno));
        goto fail;
    }
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0) {
        ls_error_set(err, LS_EIO, "eventfd: %s", strerror(errno));
        goto fail;
    }
    if (runtime_loop_watch_add(loop, loop->wakefd, RUNTIME_LOOP_IN, on_wake, NULL,
                               &loop->wake_watch, err) != LS_OK)
        goto fail;
    return loop;
fail:
    runtime_loop_free(loop);
    return NULL;
}

void runtime_loop_free(struct runtime_loop *loop)
{
    if (!loop)
        return;
    while (loop->watches) {
        struct runtime_loop_watch *w = loop->watches;
        loop->watches = w->next;
        free(w);
    }
    for (size_t i = 0; i < loop->heap_len; i++)
        loop->heap[i]->heap_idx = SIZE_MAX;
    free(loop->heap);
    for (struct post *p = loop->post_head, *next; p; p = next) {
        next = p->next;
        free(p);
    }
    if (loop->sigfd >= 0)
        close(loop->sigfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    pthread_mutex_destroy(&loop->post_lock);
    free(loop);
}

static void dispatch(struct runtime_loop *loop, struct epoll_event *ev, int n)
{
    loop->batch = ev;
    loop->batch_n = n;
    for (int i = 0; i < n; i++) {
        struct runtime_loop_watch *w = ev[i].data.ptr;
        if (w)      /* NULL: removed by an earlier callback of this batch */
            w->fn(loop, w->fd, from_epoll(ev[i].events), w->arg);
    }
    loop->batch = NULL;
    loop->batch_n = 0;
}

enum ls_rc runtime_loop_run(struct runtime_loop *loop, struct ls_error *err)
{
    struct epoll_event ev[BATCH_MAX];

    while (!atomic_load(&loop->stop)) {
        int n = epoll_wait(loop->epfd, ev, BATCH_MAX, next_timeout(loop));
        if (n < 0 && errno != EINTR)
            return ls_error_set(err, LS_EIO, "epoll_wait: %s", strerror(errno));
        loop->now_ms = runtime_clock_now_ms();
        if (n > 0)
            dispatch(loop, ev, n);
        run_timers(loop);
    }
    drain_posts(loop);
    return LS_OK;
}
