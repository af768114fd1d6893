/*
 * runtime/daemon.h -- start-up steps both daemons share
 *
 * main() of lodestar-server and lodestar-bootstrap:
 *   1. runtime_daemon_configure: flags + env, --help/--version, exit 2 on a
 *      bad value, log level, SIGTERM/SIGINT blocked (before any thread).
 *   2. runtime_daemon_retry: wait for a dependency (the database) with
 *      exponential backoff, giving up only on SIGTERM/SIGINT.
 * Store-agnostic on purpose: runtime/ sits below store/ in the build.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_DAEMON_H
#define LODESTAR_RUNTIME_DAEMON_H

#include <stdint.h>
#include "runtime/config.h"
#include "runtime/err.h"

/* Exit statuses of both daemons. */
#define RUNTIME_DAEMON_EXIT_OK      0   /* stopped by SIGTERM/SIGINT, or --help */
#define RUNTIME_DAEMON_EXIT_FAILURE 1   /* runtime failure (migration refused, bind failed) */
#define RUNTIME_DAEMON_EXIT_USAGE   2   /* bad flag or value */

/*
 * runtime_daemon_configure -- steps 1 above.
 *
 * Returns -1 when the daemon should go on with *cfg filled (caller wipes it
 * with runtime_config_clear at exit), otherwise the exit status: 0 after
 * printing --help or --version to stdout, 2 after printing
 * "<program>: <message>" (one line) to stderr, 1 if signals cannot be
 * blocked.
 */
int runtime_daemon_configure(enum runtime_config_daemon daemon, int argc, char *const argv[],
                             struct runtime_config *cfg);

/* One attempt: LS_OK = ready; LS_ETRANSIENT = try again later; anything
 * else = give up. */
typedef enum ls_rc runtime_daemon_attempt_fn(void *arg, struct ls_error *err);

/*
 * runtime_daemon_retry -- call fn until it succeeds, waiting first_ms,
 * doubling up to max_ms, between attempts.  The waits are sigtimedwait on
 * SIGTERM/SIGINT (blocked by runtime_daemon_configure), so a stop request
 * ends the wait at once.  Each failed attempt logs event=<event> at warn
 * with the attempt number, the reason and the delay.
 *
 * Returns LS_OK when fn succeeded; LS_ETRANSIENT with *signo set when a
 * signal arrived first (the caller exits 0); fn's error otherwise.
 */
enum ls_rc runtime_daemon_retry(runtime_daemon_attempt_fn *fn, void *arg, const char *event,
                                int64_t first_ms, int64_t max_ms, int *signo,
                                struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_RUNTIME_DAEMON_H */
