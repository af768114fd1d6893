/*
 * tests/harness/harness.h -- helpers for integration tests: daemons as
 * processes, their log lines, a small HTTP client, the test database
 *
 * Synchronisation is always on an event with a deadline (a log line, an
 * exit, an HTTP answer), never on a sleep.  A spawned daemon's stderr is
 * drained by a reader thread into memory, so a chatty daemon never blocks
 * on a full pipe and every line stays available for later checks.  Set
 * LODESTAR_TEST_VERBOSE=1 to also copy each line to the test's stderr as it
 * arrives, prefixed with the daemon's name.
 *
 * INTERFACE ROUTINES
 *   harness_proc_spawn         posix_spawn with argv + extra environment
 *   harness_proc_wait_line     wait for a log line matching a regex
 *   harness_proc_signal / _wait_exit / _stop / _stop_dump / _free
 *   harness_http_request       one HTTP/1.1 request -> status, headers, body
 *   harness_log_field          "addr" of "... addr=127.0.0.1:4711 ..."
 *   harness_pg_uri / harness_pg_ctl   LODESTAR_TEST_PG* (exit 77 when unset)
 *   harness_pg_ensure_running  restart a cluster a test left stopped
 *   harness_psql               run SQL through psql (setting up odd databases)
 *   harness_now_ms, harness_sleep_ms  monotonic clock; pause between polls
 *   harness_run_suite          run a Check suite, count the failed tests
 *   harness_wait_listening     a daemon's bound address from its log
 *   harness_free_udp_port      a UDP port on 127.0.0.1 free a moment ago
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_HARNESS_H
#define LODESTAR_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct harness_proc;
struct Suite;   /* Check's Suite */

/* Exit status meson treats as "skipped". */
#define HARNESS_SKIP 77

int64_t harness_now_ms(void);

/* For polling loops that re-check a condition with a deadline; never use
 * it as the synchronisation itself. */
void harness_sleep_ms(int64_t ms);

/*
 * harness_proc_spawn -- start path with argv (argv[0] included, NULL
 * terminated) and an environment made of the test's own environment minus
 * every LODESTAR_* variable except LODESTAR_TEST_*, plus env ("NAME=value",
 * NULL terminated; may be NULL).  stdout and stderr are captured.
 * name labels the process in verbose output and failure dumps.
 * Returns NULL (with a message on stderr) when the spawn fails.
 */
struct harness_proc *harness_proc_spawn(const char *name, const char *path,
                                        char *const argv[], char *const env[]);

pid_t harness_proc_pid(const struct harness_proc *p);

/*
 * harness_proc_wait_line -- wait until a line of stderr after the cursor
 * matches regex (POSIX extended); the cursor then moves past that line, so
 * consecutive waits see consecutive events.  line/cap receive the line
 * (may be NULL/0).  Returns false when timeout_ms passes or the process
 * closes stderr (exits) first.
 */
bool harness_proc_wait_line(struct harness_proc *p, const char *regex, int64_t timeout_ms,
                            char *line, size_t cap);

/* Everything the process wrote to stderr (or stdout) so far; caller frees. */
char *harness_proc_stderr(struct harness_proc *p);
char *harness_proc_stdout(struct harness_proc *p);

int harness_proc_signal(struct harness_proc *p, int sig);

/*
 * harness_proc_wait_exit -- wait up to timeout_ms for the process to exit.
 * Returns true and sets *status to the exit code (128 + signal when killed
 * by a signal); false on timeout.
 */
bool harness_proc_wait_exit(struct harness_proc *p, int64_t timeout_ms, int *status);

/* SIGTERM, then wait up to timeout_ms; SIGKILL after that.  Returns the exit
 * status, or -1 if SIGKILL was needed. */
int harness_proc_stop(struct harness_proc *p, int64_t timeout_ms);

/* harness_proc_stop, and when the status is not 0 the process's stderr
 * goes to the test's stderr under "name log:", so a failed stop shows why. */
int harness_proc_stop_dump(struct harness_proc *p, const char *name, int64_t timeout_ms);

/* Kills (SIGKILL) if still running, reaps, frees.  NULL is a no-op. */
void harness_proc_free(struct harness_proc *p);

/* Copies the value of key=VALUE (up to the next space) from a log line. */
bool harness_log_field(const char *line, const char *key, char *out, size_t cap);

struct harness_http_response {
    int status;         /* 200, 404, ...; -1 when no valid answer came */
    char *headers;      /* raw header block, "Name: value\r\n" lines; caller frees */
    char *body;         /* NUL-terminated (chunked encoding undone); caller frees */
    size_t body_len;
};

/*
 * harness_http_request -- one request on a fresh connection
 * (Connection: close).
 *
 * url        "http://127.0.0.1:8080/path" or "http://[::1]:8080/path".
 * headers    "Name: value" strings, NULL terminated; may be NULL.
 * body       may be NULL; body_len bytes are sent with Content-Length.
 *
 * Returns resp->status; free resp with harness_http_response_free().
 */
int harness_http_request(const char *method, const char *url, const char *const headers[],
                         const char *body, size_t body_len, int64_t timeout_ms,
                         struct harness_http_response *resp);

void harness_http_response_free(struct harness_http_response *resp);

/* The value of a response header (case-insensitive name), or false. */
bool harness_http_header(const struct harness_http_response *resp, const char *name,
                         char *out, size_t cap);

/* LODESTAR_TEST_PGURI; exits HARNESS_SKIP (77) when it is unset. */
const char *harness_pg_uri(void);

/*
 * harness_pg_ctl -- run "$LODESTAR_TEST_PGCTL_CMD <args>" through sh, e.g.
 * "stop -m fast -w" or "start -w -l FILE".  Returns the command's exit
 * status, or -1 when LODESTAR_TEST_PGCTL_CMD is unset.
 */
int harness_pg_ctl(const char *args);

/*
 * harness_psql -- run sql with psql -X -q -v ON_ERROR_STOP=1 against
 * conninfo (quoted safely for the shell).  Returns psql's exit status.
 */
int harness_psql(const char *conninfo, const char *sql);

/* Path of a log file the cluster owner can write, for "start -l":
 * LODESTAR_TEST_PGLOG, else the postgres.log next to LODESTAR_TEST_PGDATA,
 * else one in /tmp. */
const char *harness_pg_logfile(void);

/* When LODESTAR_TEST_PGCTL_CMD is set and the cluster is down (a test
 * stopped it and failed before restarting it), start it again, so the
 * test binaries that come after find it running. */
void harness_pg_ensure_running(void);

/* Runs every test of s (CK_NORMAL output), frees the runner (and s);
 * returns how many tests failed. */
int harness_run_suite(struct Suite *s);

/*
 * harness_wait_listening -- wait for p's "event=listening proto=<proto>
 * addr=..." line and copy its addr into addr.  No such line within
 * timeout_ms, or one without addr, fails the running Check test.
 */
void harness_wait_listening(struct harness_proc *p, const char *proto, int64_t timeout_ms,
                            char *addr, size_t cap);

/* A UDP port on 127.0.0.1 that was free a moment ago (bound, read,
 * closed): for a daemon that must be started again on the same port.
 * Fails the running Check test when no socket can be bound. */
unsigned harness_free_udp_port(void);

#endif /* LODESTAR_TESTS_HARNESS_H */
