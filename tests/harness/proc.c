/*
 * tests/harness/proc.c -- daemons as child processes, and their output
 *
 * One reader thread per process drains stdout and stderr into memory and
 * signals a condition variable; waits are timed waits on it.  The exit is
 * seen as EOF on both pipes (the daemon is their only writer), then reaped.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct stream {
    int fd;             /* read end, -1 after EOF */
    char *buf;          /* everything read, NUL-terminated */
    size_t len, cap;
};

struct harness_proc {
    char name[32];
    pid_t pid;
    bool reaped;
    int status;                 /* exit code once reaped */
    bool verbose;               /* copy output to our stderr */
    pthread_t reader;
    pthread_mutex_t lock;       /* guards the streams and cursor */
    pthread_cond_t cond;        /* output arrived or EOF */
    struct stream out, err;
    size_t cursor;              /* wait_line scans err.buf from here */
};

int64_t harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int64_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void append(struct stream *s, const char *data, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            abort();
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

/* Reads what one ready stream has; closes it at EOF. */
static void drain(struct harness_proc *p, struct stream *s)
{
    char chunk[4096];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
        return;
    pthread_mutex_lock(&p->lock);
    if (n > 0) {
        append(s, chunk, (size_t)n);
        if (p->verbose)
            fprintf(stderr, "[%s] %.*s", p->name, (int)n, chunk);
    } else {
        close(s->fd);
        s->fd = -1;
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void *reader(void *arg)
{
    struct harness_proc *p = arg;
    for (;;) {
        /* The fds change only in this thread, so reading them unlocked is safe. */
        struct pollfd fds[2] = { { .fd = p->out.fd, .events = POLLIN },
                                 { .fd = p->err.fd, .events = POLLIN } };
        if (fds[0].fd < 0 && fds[1].fd < 0)
            return NULL;
        if (poll(fds, 2, -1) < 0)
            continue;
        if (fds[0].revents)
            drain(p, &p->out);
        if (fds[1].revents)
            drain(p, &p->err);
    }
}

/* Our environment without LODESTAR_* (except LODESTAR_TEST_*), plus extra. */
static char **build_env(char *const extra[])
{
    size_t n = 0, k = 0;
    for (char **e = environ; *e; e++)
        n++;
    for (char *const *e = extra; e && *e; e++)
        n++;
    char **env = calloc(n + 1, sizeof *env);
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "LODESTAR_", 9) != 0 || strncmp(*e, "LODESTAR_TEST_", 14) == 0)
            env[k++] = *e;
    for (char *const *e = extra; e && *e; e++)
        env[k++] = *e;
    return env;
}

struct harness_proc *harness_proc_spawn(const char *name, const char *path,
                                        char *const argv[], char *const env[])
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        perror("harness: pipe2");
        return NULL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, pe[1], STDERR_FILENO);
    /* The daemon must start with default signal handling whatever the test
     * process has blocked or ignored. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    char **envp = build_env(env);
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
    free(envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        fprintf(stderr, "harness: posix_spawn %s: %s\n", path, strerror(rc));
        close(po[0]);
        close(pe[0]);
        return NULL;
    }

    struct harness_proc *p = calloc(1, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->pid = pid;
    p->out.fd = po[0];
    p->err.fd = pe[0];
    const char *v = getenv("LODESTAR_TEST_VERBOSE");
    p->verbose = v && *v && strcmp(v, "0") != 0;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    append(&p->out, "", 0);
    append(&p->err, "", 0);
    pthread_create(&p->reader, NULL, reader, p);
    return p;
}

pid_t harness_proc_pid(const struct harness_proc *p)
{
    return p->pid;
}

/* Waits on the condition variable until the absolute monotonic deadline.
 * Returns false once it has passed.  Called with p->lock held. */
static bool wait_until(struct harness_proc *p, int64_t deadline_ms)
{
    int64_t now = harness_now_ms();
    if (now >= deadline_ms)
        return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t left = deadline_ms - now;
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    return true;
}

/* Scans complete lines after the cursor; on a match copies it and moves
 * the cursor past it. */
static bool scan(struct harness_proc *p, const regex_t *re, char *line, size_t cap)
{
    size_t pos = p->cursor;
    for (;;) {
        char *start = p->err.buf + pos;
        char *nl = strchr(start, '\n');
        if (!nl)
            return false;
        *nl = '\0';
        bool hit = regexec(re, start, 0, NULL, 0) == 0;
        if (hit && line && cap)
            snprintf(line, cap, "%s", start);
        *nl = '\n';
        pos = (size_t)(nl - p->err.buf) + 1;
        if (hit) {
            p->cursor = pos;
            return true;
        }
    }
}

bool harness_proc_wait_line(struct harness_proc *p, const char *regex, int64_t timeout_ms,
                            char *line, size_t cap)
{
    regex_t re;
    if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "harness: bad regex %s\n", regex);
        return false;
    }
    int64_t deadline = harness_now_ms() + timeout_ms;
    bool found = false;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        found = scan(p, &re, line, cap);
        if (found || p->err.fd < 0 || !wait_until(p, deadline))
            break;
    }
    if (!found)         /* one last look: output may have landed at the deadline */
        found = scan(p, &re, line, cap);
    pthread_mutex_unlock(&p->lock);
    regfree(&re);
    return found;
}

static char *copy_stream(struct harness_proc *p, struct stream *s)
{
    pthread_mutex_lock(&p->lock);
    char *c = strdup(s->buf ? s->buf : "");
    pthread_mutex_unlock(&p->lock);
    return c;
}

char *harness_proc_stderr(struct harness_proc *p)
{
    return copy_stream(p, &p->err);
}

char *harness_proc_stdout(struct harness_proc *p)
{
    return copy_stream(p, &p->out);
}

int harness_proc_signal(struct harness_proc *p, int sig)
{
    return p->reaped ? -1 : kill(p->pid, sig);
}

static bool reap(struct harness_proc *p, int64_t deadline_ms)
{
    while (!p->reaped) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->reaped = true;
            p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (r < 0 && errno != EINTR)
            return false;
        /* Output is closed, so the exit is a matter of microseconds. */
        if (harness_now_ms() >= deadline_ms)
            return false;
        harness_sleep_ms(2);
    }
    return true;
}

bool harness_proc_wait_exit(struct harness_proc *p, int64_t timeout_ms, int *status)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    pthread_mutex_lock(&p->lock);
    while ((p->out.fd >= 0 || p->err.fd >= 0) && wait_until(p, deadline))
        ;
    bool closed = p->out.fd < 0 && p->err.fd < 0;
    pthread_mutex_unlock(&p->lock);
    if (!closed || !reap(p, deadline + 1000))
        return false;
    if (status)
        *status = p->status;
    return true;
}

int harness_proc_stop(struct harness_proc *p, int64_t timeout_ms)
{
    int status;
    harness_proc_signal(p, SIGTERM);
    if (harness_proc_wait_exit(p, timeout_ms, &status))
        return status;
    harness_proc_signal(p, SIGKILL);
    harness_proc_wait_exit(p, 5000, &status);
    return -1;
}

int harness_proc_stop_dump(struct harness_proc *p, const char *name, int64_t timeout_ms)
{
    int st = harness_proc_stop(p, timeout_ms);
    if (st != 0) {
        char *e = harness_proc_stderr(p);
        fprintf(stderr, "%s log:\n%s\n", name, e);
        free(e);
    }
    return st;
}

void harness_proc_free(struct harness_proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        kill(p->pid, SIGKILL);
        harness_proc_wait_exit(p, 5000, NULL);
    }
    pthread_join(p->reader, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->out.buf);
    free(p->err.buf);
    free(p);
}

bool harness_log_field(const char *line, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *s = line; (s = strstr(s, key)) != NULL; s += klen) {
        if ((s == line || s[-1] == ' ') && s[klen] == '=') {
            const char *v = s + klen + 1;
            size_t n = strcspn(v, " \n");
            if (n >= cap)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}
