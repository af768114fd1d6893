/*
 * runtime/loop.h -- the event loop: fds, timers, cross-thread posts, signals
 *
 * One loop per thread that owns non-thread-safe state (libcoap above all:
 * LIBCOAP.md section 5).  The loop is an epoll set holding
 *   - the caller's fd watches (libcoap's fd, libpq's socket, ...),
 *   - an eventfd that wakes it for runtime_loop_post() and runtime_loop_stop(),
 *   - optionally a signalfd for SIGTERM/SIGINT.
 * Timers live in a min-heap ordered by (due time, start order); epoll_wait's
 * timeout is the time to the earliest one.  A timerfd per timer (or one
 * re-armed timerfd) was rejected: it costs a syscall per start/stop and an
 * fd per timer, while the heap costs O(log n) in memory and the epoll_wait we
 * make anyway carries the timeout.  Resolution is 1 ms, which is what every
 * caller (lifetimes, backoffs, command timeouts) asks for.  An idle loop
 * sleeps in epoll_wait: no polling, 0 CPU.
 *
 * Threading: everything here must be called on the loop thread except
 * runtime_loop_post(), runtime_loop_stop() and runtime_clock_now_ms(),
 * which any thread may call.
 *
 * Signals: call runtime_signals_block() in main() before starting any
 * thread (threads inherit the mask), so that SIGTERM/SIGINT are delivered
 * only through the loop's signalfd and never interrupt a random thread.
 *
 * INTERFACE ROUTINES
 *   runtime_loop_new / _free / _run / _stop      lifecycle
 *   runtime_loop_now_ms, runtime_clock_now_ms     monotonic time
 *   runtime_loop_watch_add / _modify / _remove    fd readiness callbacks
 *   runtime_loop_timer_init / _start / _stop      one-shot and periodic timers
 *   runtime_loop_post                             run a function on the loop thread
 *   runtime_signals_block, runtime_loop_signals   SIGTERM/SIGINT via signalfd
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_LOOP_H
#define LODESTAR_RUNTIME_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

struct runtime_loop;
struct runtime_loop_watch;

/* Readiness bits for watches (callbacks may also get ERR, which includes
 * hang-up: read the fd to learn what happened). */
#define RUNTIME_LOOP_IN  0x1u
#define RUNTIME_LOOP_OUT 0x2u
#define RUNTIME_LOOP_ERR 0x4u

typedef void runtime_loop_fd_fn(struct runtime_loop *loop, int fd, unsigned events, void *arg);
typedef void runtime_loop_timer_fn(struct runtime_loop *loop, void *arg);
typedef void runtime_loop_post_fn(struct runtime_loop *loop, void *arg);
typedef void runtime_loop_signal_fn(struct runtime_loop *loop, int signo, void *arg);

/*
 * A timer is embedded in the caller's own struct (libuv style) rather than
 * allocated by the loop: stopping it is then always safe, before or after it
 * fired, and starting needs no allocation besides growing the heap.
 * Fields are private to loop.c.  Rule: stop a timer before freeing it.
 */
struct runtime_loop_timer {
    runtime_loop_timer_fn *fn;  /* callback */
    void *arg;                  /* its argument, borrowed */
    int64_t due_ms;             /* monotonic ms of the next firing */
    int64_t period_ms;          /* 0 = one-shot */
    uint64_t seq;               /* start order, breaks ties in due_ms */
    size_t heap_idx;            /* position in the heap; SIZE_MAX = stopped */
};

/*
 * runtime_loop_new -- create a loop (epoll set + eventfd).
 * Caller owns; free with runtime_loop_free().  NULL with err set on failure.
 */
struct runtime_loop *runtime_loop_new(struct ls_error *err);

/*
 * runtime_loop_free -- close the loop's fds and free it.  Watches still
 * registered are freed (their fds are NOT closed: the caller owns them);
 * posts not yet run are dropped without running.  NULL is a no-op.
 */
void runtime_loop_free(struct runtime_loop *loop);

/*
 * runtime_loop_run -- dispatch fd events, timers and posts until
 * runtime_loop_stop().  Returns LS_OK after a stop, LS_EIO if epoll_wait
 * fails.  Posts made before the stop are run before it returns.  A stop
 * requested before run() makes it return at once.
 */
enum ls_rc runtime_loop_run(struct runtime_loop *loop, struct ls_error *err);

/* Asks the loop to return from runtime_loop_run().  Any thread; idempotent;
 * async-signal-safe. */
void runtime_loop_stop(struct runtime_loop *loop);

/* Whether runtime_loop_stop() was called.  Any thread. */
bool runtime_loop_stopping(const struct runtime_loop *loop);

/* Monotonic time in ms, cached when the current iteration woke up: all
 * callbacks of one iteration see the same now.  Loop thread only. */
int64_t runtime_loop_now_ms(const struct runtime_loop *loop);

/* Monotonic clock in ms, read now.  Any thread. */
int64_t runtime_clock_now_ms(void);

/*
 * runtime_loop_watch_add -- call fn(loop, fd, events, arg) when fd is ready.
 *
 * fd       Borrowed; the caller closes it after removing the watch.
 * events   RUNTIME_LOOP_IN and/or RUNTIME_LOOP_OUT (level-triggered).
 * out      Loop owns the watch; release with runtime_loop_watch_remove().
 *
 * Returns LS_OK, LS_ENOMEM or LS_EIO (epoll_ctl failed, e.g. a regular file).
 */
enum ls_rc runtime_loop_watch_add(struct runtime_loop *loop, int fd, unsigned events,
                                  runtime_loop_fd_fn *fn, void *arg,
                                  struct runtime_loop_watch **out,
                                  struct ls_error *err) LS_MUST_CHECK;

/* Changes the events a watch waits for (e.g. add OUT while a send queue is
 * non-empty). */
enum ls_rc runtime_loop_watch_modify(struct runtime_loop *loop, struct runtime_loop_watch *w,
                                     unsigned events, struct ls_error *err) LS_MUST_CHECK;

/* Removes and frees a watch.  Safe inside any callback, including the
 * watch's own: pending events for it in the current batch are dropped.
 * NULL is a no-op. */
void runtime_loop_watch_remove(struct runtime_loop *loop, struct runtime_loop_watch *w);

/* Prepares an embedded timer; it starts stopped. */
void runtime_loop_timer_init(struct runtime_loop_timer *t, runtime_loop_timer_fn *fn,
                             void *arg);

/*
 * runtime_loop_timer_start -- (re)arm a timer.
 *
 * delay_ms    First firing after this many ms (>= 0; 0 = next iteration).
 * period_ms   0 for one-shot; > 0 to repeat every period_ms after that.  A
 *             periodic timer that falls behind skips the missed ticks
 *             instead of firing them in a burst.
 *
 * Restarting an armed timer moves it.  Timers due at the same ms fire in
 * the order they were started.  Returns LS_OK or LS_ENOMEM (heap growth).
 */
enum ls_rc runtime_loop_timer_start(struct runtime_loop *loop, struct runtime_loop_timer *t,
                                    int64_t delay_ms, int64_t period_ms,
                                    struct ls_error *err) LS_MUST_CHECK;

/* Disarms a timer; a no-op when it is not armed.  Safe in any callback. */
void runtime_loop_timer_stop(struct runtime_loop *loop, struct runtime_loop_timer *t);

static inline bool runtime_loop_timer_active(const struct runtime_loop_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

/*
 * runtime_loop_post -- run fn(loop, arg) on the loop thread, soon.
 *
 * Any thread.  Posts run in the order they were made, outside any lock.
 * arg is passed through untouched; ownership is the caller's business (a
 * post that is dropped by runtime_loop_free never runs).
 * Returns LS_OK or LS_ENOMEM.
 */
enum ls_rc runtime_loop_post(struct runtime_loop *loop, runtime_loop_post_fn *fn, void *arg,
                             struct ls_error *err) LS_MUST_CHECK;

/*
 * runtime_signals_block -- block SIGTERM and SIGINT in the calling thread
 * (threads created afterwards inherit it) and ignore SIGPIPE, so that a
 * peer closing a socket mid-write cannot kill the daemon.  Call first thing
 * in main().
 */
enum ls_rc runtime_signals_block(struct ls_error *err) LS_MUST_CHECK;

/*
 * runtime_loop_signals -- deliver SIGTERM and SIGINT to fn on the loop
 * thread through a signalfd.  Needs runtime_signals_block() first (a signal
 * that is not blocked is handled by its default action instead).  Calling
 * it again replaces fn/arg.
 */
enum ls_rc runtime_loop_signals(struct runtime_loop *loop, runtime_loop_signal_fn *fn,
                                void *arg, struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_RUNTIME_LOOP_H */
