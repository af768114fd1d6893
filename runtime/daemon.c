/*
 * runtime/daemon.c -- start-up steps both daemons share
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/daemon.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "runtime/log.h"
#include "runtime/loop.h"

int runtime_daemon_configure(enum runtime_config_daemon daemon, int argc, char *const argv[],
                             struct runtime_config *cfg)
{
    struct ls_error err = { 0 };
    enum runtime_config_action action;
    const char *prog = runtime_config_program(daemon);

    if (runtime_config_parse(cfg, daemon, argc, argv, NULL, &action, &err) != LS_OK) {
        /* One line, and only the message: it never contains a secret. */
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return RUNTIME_DAEMON_EXIT_USAGE;
    }
    if (action == RUNTIME_CONFIG_HELP) {
        runtime_config_help(stdout, daemon);
        return fflush(stdout) == 0 ? RUNTIME_DAEMON_EXIT_OK : RUNTIME_DAEMON_EXIT_FAILURE;
    }
    if (action == RUNTIME_CONFIG_VERSION) {
        printf("%s %s\n", prog, runtime_config_version());
        return fflush(stdout) == 0 ? RUNTIME_DAEMON_EXIT_OK : RUNTIME_DAEMON_EXIT_FAILURE;
    }
    ls_log_level_set(cfg->log_level);
    if (runtime_signals_block(&err) != LS_OK) {
        ls_log_error("startup_failed", "error=\"%s\"", err.msg);
        runtime_config_clear(cfg);
        return RUNTIME_DAEMON_EXIT_FAILURE;
    }
    runtime_config_log(cfg);
    return -1;
}

/* Sleeps up to ms unless SIGTERM/SIGINT arrives; returns the signal or 0. */
static int wait_signal(int64_t ms)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int64_t deadline = runtime_clock_now_ms() + ms;
    for (;;) {
        int64_t left = deadline - runtime_clock_now_ms();
        if (left <= 0)
            return 0;
        struct timespec ts = { .tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000 };
        int s = sigtimedwait(&set, NULL, &ts);
        if (s > 0)
            return s;
        if (errno != EINTR)
            return 0;       /* EAGAIN: the time is up */
    }
}

enum ls_rc runtime_daemon_retry(runtime_daemon_attempt_fn *fn, void *arg, const char *event,
                                int64_t first_ms, int64_t max_ms, int *signo,
                                struct ls_error *err)
{
    int64_t delay = first_ms;
    *signo = 0;
    for (unsigned attempt = 1;; attempt++) {
        struct ls_error e = { 0 };
        enum ls_rc rc = fn(arg, &e);
        if (rc == LS_OK)
            return LS_OK;
        if (rc != LS_ETRANSIENT) {
            ls_error_set(err, rc, "%s", e.msg);
            ls_error_detail(err, "%s", e.detail);
            return rc;
        }
        ls_log_warn(event, "attempt=%u retry_ms=%lld error=\"%s\"", attempt, (long long)delay,
                    e.msg);
        *signo = wait_signal(delay);
        if (*signo)
            return ls_error_set(err, LS_ETRANSIENT, "stopped by %s while waiting",
                                strsignal(*signo));
        delay = delay * 2 > max_ms ? max_ms : delay * 2;
    }
}
