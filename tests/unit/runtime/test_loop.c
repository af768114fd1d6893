/*
 * tests/unit/runtime/test_loop.c -- runtime/loop.c
 *
 * Every test arms a watchdog timer that fails it if the loop does not stop
 * on its own, so a lost wake-up shows up as a failure, not a hang.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/loop.h"

#define WATCHDOG_MS 3000

static struct runtime_loop_timer watchdog;

static void on_watchdog(struct runtime_loop *loop, void *arg)
{
    ck_abort_msg("the loop did not stop by itself within %d ms", WATCHDOG_MS);
}

static struct runtime_loop *new_loop(void)
{
    struct ls_error err = { 0 };
    struct runtime_loop *loop = runtime_loop_new(&err);
    ck_assert_msg(loop != NULL, "%s", err.msg);
    runtime_loop_timer_init(&watchdog, on_watchdog, NULL);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &watchdog, WATCHDOG_MS, 0, &err), LS_OK);
    return loop;
}

static void run(struct runtime_loop *loop)
{
    struct ls_error err = { 0 };
    ck_assert_int_eq(runtime_loop_run(loop, &err), LS_OK);
    runtime_loop_timer_stop(loop, &watchdog);
}

/* ---- timers ------------------------------------------------------------------ */

struct order {
    char seen[16];
    size_t n;
    size_t stop_after;
};

struct tagged {
    struct runtime_loop_timer t;
    char tag;
    struct order *order;
};

static void on_tagged(struct runtime_loop *loop, void *arg)
{
    struct tagged *tg = arg;
    tg->order->seen[tg->order->n++] = tg->tag;
    if (tg->order->n == tg->order->stop_after)
        runtime_loop_stop(loop);
}

START_TEST(test_runtime_loop_timer_start_fires_in_order)
{
    struct runtime_loop *loop = new_loop();
    struct order order = { .stop_after = 6 };
    static const struct { char tag; int64_t delay; } plan[] = {
        { 'a', 40 }, { 'b', 10 }, { 'c', 25 }, { 'd', 10 }, { 'e', 0 }, { 'f', 0 },
    };
    struct tagged tg[6];
    /* Delays count from the loop's clock (read at its last turn, not now):
     * measured from a later reading, 40 ms could show as 39. */
    int64_t t0 = runtime_loop_now_ms(loop);
    for (int i = 0; i < 6; i++) {
        tg[i].tag = plan[i].tag;
        tg[i].order = &order;
        runtime_loop_timer_init(&tg[i].t, on_tagged, &tg[i]);
        ck_assert_int_eq(runtime_loop_timer_start(loop, &tg[i].t, plan[i].delay, 0, NULL), LS_OK);
    }
    run(loop);
    /* Equal delays keep start order (b before d: both 10 ms, e before f). */
    ck_assert_str_eq(order.seen, "efbdca");
    ck_assert_int_ge(runtime_clock_now_ms() - t0, 40);
    for (int i = 0; i < 6; i++)
        ck_assert(!runtime_loop_timer_active(&tg[i].t));
    runtime_loop_free(loop);
}
END_TEST

START_TEST(test_runtime_loop_timer_stop_prevents_firing)
{
    struct runtime_loop *loop = new_loop();
    struct order order = { .stop_after = 2 };
    struct tagged a = { .tag = 'a', .order = &order }, b = { .tag = 'b', .order = &order },
                  c = { .tag = 'c', .order = &order };
    runtime_loop_timer_init(&a.t, on_tagged, &a);
    runtime_loop_timer_init(&b.t, on_tagged, &b);
    runtime_loop_timer_init(&c.t, on_tagged, &c);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &a.t, 5, 0, NULL), LS_OK);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &b.t, 10, 0, NULL), LS_OK);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &c.t, 15, 0, NULL), LS_OK);
    runtime_loop_timer_stop(loop, &b.t);
    runtime_loop_timer_stop(loop, &b.t);        /* idempotent */
    ck_assert(!runtime_loop_timer_active(&b.t));
    /* Restarting moves a timer: a now fires after c. */
    ck_assert_int_eq(runtime_loop_timer_start(loop, &a.t, 30, 0, NULL), LS_OK);
    run(loop);
    ck_assert_str_eq(order.seen, "ca");
    ck_assert_int_eq(runtime_loop_timer_start(loop, &a.t, -1, 0, NULL), LS_EINVAL);
    runtime_loop_free(loop);
}
END_TEST

struct periodic {
    struct runtime_loop_timer t;
    int fired;
    int64_t first_ms, last_ms;
};

static void on_periodic(struct runtime_loop *loop, void *arg)
{
    struct periodic *p = arg;
    if (p->fired++ == 0)
        p->first_ms = runtime_loop_now_ms(loop);
    p->last_ms = runtime_loop_now_ms(loop);
    if (p->fired == 5) {
        runtime_loop_timer_stop(loop, &p->t);     /* stop from its own callback */
        runtime_loop_stop(loop);
    }
}

START_TEST(test_runtime_loop_timer_start_periodic)
{
    struct runtime_loop *loop = new_loop();
    struct periodic p = { 0 };
    runtime_loop_timer_init(&p.t, on_periodic, &p);
    int64_t t0 = runtime_clock_now_ms();
    ck_assert_int_eq(runtime_loop_timer_start(loop, &p.t, 10, 10, NULL), LS_OK);
    run(loop);
    ck_assert_int_eq(p.fired, 5);
    ck_assert(!runtime_loop_timer_active(&p.t));
    /* A timer never fires before it is due: the first at +10 ms, the fifth
     * four periods later, at +50 ms (wake-ups may be late by a ms, not early). */
    ck_assert_int_ge(p.first_ms - t0, 10);
    ck_assert_int_ge(p.last_ms - t0, 50);
    ck_assert_int_lt(p.last_ms - p.first_ms, 1000);
    runtime_loop_free(loop);
}
END_TEST

/* A timer re-armed with delay 0 from its own callback must not starve the
 * loop: the stop posted meanwhile still gets through. */
static int zero_count;
static struct runtime_loop_timer zero_timer;

static void on_zero(struct runtime_loop *loop, void *arg)
{
    if (++zero_count == 100)
        runtime_loop_stop(loop);
    else
        ck_assert_int_eq(runtime_loop_timer_start(loop, &zero_timer, 0, 0, NULL), LS_OK);
}

START_TEST(test_runtime_loop_timer_start_zero_delay_rearm)
{
    struct runtime_loop *loop = new_loop();
    runtime_loop_timer_init(&zero_timer, on_zero, NULL);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &zero_timer, 0, 0, NULL), LS_OK);
    run(loop);
    ck_assert_int_eq(zero_count, 100);
    runtime_loop_free(loop);
}
END_TEST

/* ---- posts and stop from other threads --------------------------------------- */

struct post_state {
    struct runtime_loop *loop;
    pthread_t loop_thread;
    int next;               /* next expected sequence number */
    bool wrong_thread, out_of_order;
};

struct post_item {
    struct post_state *st;
    int seq;
    bool last;
};

static void on_post(struct runtime_loop *loop, void *arg)
{
    struct post_item *it = arg;
    if (!pthread_equal(pthread_self(), it->st->loop_thread))
        it->st->wrong_thread = true;
    if (it->seq != it->st->next++)
        it->st->out_of_order = true;
    if (it->last)
        runtime_loop_stop(loop);
    free(it);
}

static void *poster(void *arg)
{
    struct post_state *st = arg;
    for (int i = 0; i < 500; i++) {
        struct post_item *it = malloc(sizeof *it);
        *it = (struct post_item){ .st = st, .seq = i, .last = i == 499 };
        ck_assert_int_eq(runtime_loop_post(st->loop, on_post, it, NULL), LS_OK);
    }
    return NULL;
}

START_TEST(test_runtime_loop_post_from_thread_wakes_loop)
{
    struct runtime_loop *loop = new_loop();
    struct post_state st = { .loop = loop, .loop_thread = pthread_self() };
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, poster, &st), 0);
    run(loop);          /* no timer but the watchdog: only posts can stop it */
    pthread_join(t, NULL);
    ck_assert_int_eq(st.next, 500);
    ck_assert(!st.wrong_thread);
    ck_assert(!st.out_of_order);
    runtime_loop_free(loop);
}
END_TEST

static void *stopper(void *arg)
{
    runtime_loop_stop(arg);
    return NULL;
}

START_TEST(test_runtime_loop_stop_from_thread)
{
    struct runtime_loop *loop = new_loop();
    pthread_t t;
    ck_assert(!runtime_loop_stopping(loop));
    ck_assert_int_eq(pthread_create(&t, NULL, stopper, loop), 0);
    run(loop);          /* returns whether the stop lands before or during run */
    pthread_join(t, NULL);
    ck_assert(runtime_loop_stopping(loop));
    runtime_loop_free(loop);
}
END_TEST

/* ---- signals ------------------------------------------------------------------ */

static int got_signal;

static void on_signal(struct runtime_loop *loop, int signo, void *arg)
{
    got_signal = signo;
    runtime_loop_stop(loop);
}

START_TEST(test_runtime_loop_signals_sigterm)
{
    struct ls_error err = { 0 };
    ck_assert_int_eq(runtime_signals_block(&err), LS_OK);
    struct runtime_loop *loop = new_loop();
    ck_assert_int_eq(runtime_loop_signals(loop, on_signal, NULL, &err), LS_OK);
    ck_assert_int_eq(raise(SIGTERM), 0);     /* blocked: stays pending for the signalfd */
    run(loop);
    ck_assert_int_eq(got_signal, SIGTERM);
    got_signal = 0;
    ck_assert_int_eq(raise(SIGPIPE), 0);     /* ignored, the process survives */
    runtime_loop_free(loop);
}
END_TEST

/* ---- fd watches ------------------------------------------------------------------ */

struct pair {
    int fds[2][2];
    struct runtime_loop_watch *w[2];
    int calls;
};

static void on_readable(struct runtime_loop *loop, int fd, unsigned events, void *arg)
{
    struct pair *p = arg;
    p->calls++;
    ck_assert(events & RUNTIME_LOOP_IN);
    /* Remove both watches: the other one's pending event must be dropped. */
    runtime_loop_watch_remove(loop, p->w[0]);
    runtime_loop_watch_remove(loop, p->w[1]);
    p->w[0] = p->w[1] = NULL;
    runtime_loop_stop(loop);
}

START_TEST(test_runtime_loop_watch_remove_inside_batch)
{
    struct runtime_loop *loop = new_loop();
    struct pair p = { 0 };
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pipe(p.fds[i]), 0);
        ck_assert_int_eq(write(p.fds[i][1], "x", 1), 1);
        ck_assert_int_eq(runtime_loop_watch_add(loop, p.fds[i][0], RUNTIME_LOOP_IN, on_readable,
                                                &p, &p.w[i], NULL), LS_OK);
    }
    run(loop);
    ck_assert_int_eq(p.calls, 1);
    for (int i = 0; i < 2; i++) {
        close(p.fds[i][0]);
        close(p.fds[i][1]);
    }
    runtime_loop_free(loop);
}
END_TEST

static void on_echo(struct runtime_loop *loop, int fd, unsigned events, void *arg)
{
    char *buf = arg;
    ck_assert_int_eq(read(fd, buf, 5), 5);
    runtime_loop_stop(loop);
}

static void on_writable(struct runtime_loop *loop, int fd, unsigned events, void *arg)
{
    struct runtime_loop_watch **w = arg;
    ck_assert(events & RUNTIME_LOOP_OUT);
    ck_assert_int_eq(write(fd, "hello", 5), 5);
    ck_assert_int_eq(runtime_loop_watch_modify(loop, *w, 0, NULL), LS_OK);
}

START_TEST(test_runtime_loop_watch_add_read_write)
{
    struct runtime_loop *loop = new_loop();
    int fds[2];
    char buf[6] = "";
    struct runtime_loop_watch *rw, *ww;
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(runtime_loop_watch_add(loop, fds[0], RUNTIME_LOOP_IN, on_echo, buf, &rw,
                                            NULL), LS_OK);
    ck_assert_int_eq(runtime_loop_watch_add(loop, fds[1], RUNTIME_LOOP_OUT, on_writable, &ww,
                                            &ww, NULL), LS_OK);
    run(loop);
    ck_assert_str_eq(buf, "hello");
    struct ls_error err = { 0 };
    struct runtime_loop_watch *bad;
    ck_assert_int_eq(runtime_loop_watch_add(loop, 9999, RUNTIME_LOOP_IN, on_echo, buf, &bad,
                                            &err), LS_EIO);
    ck_assert_ptr_null(bad);
    ck_assert_str_ne(err.msg, "");
    runtime_loop_watch_remove(loop, rw);
    runtime_loop_watch_remove(loop, ww);
    runtime_loop_watch_remove(loop, NULL);
    close(fds[0]);
    close(fds[1]);
    runtime_loop_free(loop);
}
END_TEST

/* ---- idle costs nothing ------------------------------------------------------------ */

static void on_stop(struct runtime_loop *loop, void *arg)
{
    runtime_loop_stop(loop);
}

START_TEST(test_runtime_loop_run_idle_uses_no_cpu)
{
    struct runtime_loop *loop = new_loop();
    struct runtime_loop_timer t;
    runtime_loop_timer_init(&t, on_stop, NULL);
    ck_assert_int_eq(runtime_loop_timer_start(loop, &t, 300, 0, NULL), LS_OK);
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    int64_t t0 = runtime_clock_now_ms();
    run(loop);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    int64_t cpu_ms = (c1.tv_sec - c0.tv_sec) * 1000 + (c1.tv_nsec - c0.tv_nsec) / 1000000;
    ck_assert_int_ge(runtime_clock_now_ms() - t0, 300);
    ck_assert_msg(cpu_ms < 30, "idle loop used %lld ms of CPU in 300 ms", (long long)cpu_ms);
    runtime_loop_free(loop);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_loop");
    TCase *tc = tcase_create("runtime_loop_timer");
    tcase_add_test(tc, test_runtime_loop_timer_start_fires_in_order);
    tcase_add_test(tc, test_runtime_loop_timer_stop_prevents_firing);
    tcase_add_test(tc, test_runtime_loop_timer_start_periodic);
    tcase_add_test(tc, test_runtime_loop_timer_start_zero_delay_rearm);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_loop_post");
    tcase_add_test(tc, test_runtime_loop_post_from_thread_wakes_loop);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_loop_stop");
    tcase_add_test(tc, test_runtime_loop_stop_from_thread);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_loop_signals");
    tcase_add_test(tc, test_runtime_loop_signals_sigterm);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_loop_watch");
    tcase_add_test(tc, test_runtime_loop_watch_remove_inside_batch);
    tcase_add_test(tc, test_runtime_loop_watch_add_read_write);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_loop_run");
    tcase_add_test(tc, test_runtime_loop_run_idle_uses_no_cpu);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
