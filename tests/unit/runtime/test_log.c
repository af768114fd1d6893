/*
 * tests/unit/runtime/test_log.c -- runtime/log.c
 *
 * Output is captured by pointing fd 2 at a temporary file (each test runs
 * in its own forked process, so nothing leaks between tests).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/config.h"
#include "runtime/log.h"

/* Redirects stderr into a temp file; returns the file to read back. */
static FILE *capture(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
    return f;
}

/* Everything written so far, NUL-terminated; caller frees. */
static char *captured(FILE *f)
{
    long n = lseek(fileno(f), 0, SEEK_END);
    ck_assert_int_ge(n, 0);
    char *buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(pread(fileno(f), buf, (size_t)n, 0), n);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_ls_log_write_format)
{
    FILE *f = capture();
    ls_log_level_set(LS_LOG_INFO);
    ls_log_info("listening", "proto=coap addr=%s", "[::]:5683");
    char *out = captured(f);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                                  "\\.[0-9]{3}Z level=info event=listening proto=coap "
                                  "addr=\\[::\\]:5683\n$", REG_EXTENDED), 0);
    ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "bad line: %s", out);
    regfree(&re);
    free(out);
    fclose(f);
}
END_TEST


static size_t fmt_at(char *buf, size_t cap, int64_t ms, enum ls_log_level lvl, const char *ev,
                     const char *fmt, ...) LS_PRINTF(6, 7);
static size_t fmt_at(char *buf, size_t cap, int64_t ms, enum ls_log_level lvl, const char *ev,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = ls_log_format(buf, cap, ms, lvl, ev, fmt, ap);
    va_end(ap);
    return n;
}

START_TEST(test_ls_log_format_timestamp_and_empty_fields)
{
    char buf[256];
    size_t n = fmt_at(buf, sizeof buf, 1795474201123LL, LS_LOG_WARN, "stopped", "%s", "");
    ck_assert_str_eq(buf, "2026-11-23T22:50:01.123Z level=warn event=stopped\n");
    ck_assert_uint_eq(n, strlen(buf));
    fmt_at(buf, sizeof buf, 0, LS_LOG_DEBUG, "e", "k=%d", 7);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z level=debug event=e k=7\n");
}
END_TEST

START_TEST(test_ls_log_format_escapes_control_characters)
{
    char buf[256];
    fmt_at(buf, sizeof buf, 0, LS_LOG_INFO, "ev\nil", "endpoint=%s", "a\nb\rc\td\x01" "e\x7f");
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z level=info event=ev\\nil "
                          "endpoint=a\\nb\\rc\\td\\x01e\\x7f\n");
    ck_assert_uint_eq(count_lines(buf), 1);
}
END_TEST

START_TEST(test_ls_log_format_cuts_long_lines)
{
    static char big[3 * LS_LOG_LINE_MAX];
    memset(big, 'x', sizeof big - 1);
    char buf[2 * LS_LOG_LINE_MAX];
    size_t n = fmt_at(buf, sizeof buf, 0, LS_LOG_INFO, "big", "v=%s", big);
    ck_assert_uint_lt(n, LS_LOG_LINE_MAX);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_str_eq(buf + n - 4, "...\n");
    ck_assert_uint_eq(count_lines(buf), 1);
    /* A small caller buffer is respected too, and escapes never split. */
    char small[64];
    n = fmt_at(small, sizeof small, 0, LS_LOG_INFO, "big", "v=%s", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n");
    ck_assert_uint_lt(n, sizeof small);
    ck_assert_str_eq(small + n - 4, "...\n");
    ck_assert_ptr_null(strstr(small, "\\\n"));
}
END_TEST

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

START_TEST(test_ls_log_macros_filter_before_evaluating)
{
    FILE *f = capture();
    ls_log_level_set(LS_LOG_WARN);
    evaluated = 0;
    ls_log_debug("hidden", "n=%d", side_effect());
    ls_log_info("hidden", "n=%d", side_effect());
    ck_assert_int_eq(evaluated, 0);
    ls_log_warn("shown", "n=%d", side_effect());
    ls_log_error("shown", "n=%d", side_effect());
    ck_assert_int_eq(evaluated, 2);
    char *out = captured(f);
    ck_assert_uint_eq(count_lines(out), 2);
    ck_assert_ptr_null(strstr(out, "hidden"));
    ck_assert_ptr_nonnull(strstr(out, "level=warn event=shown n=1"));
    ck_assert_ptr_nonnull(strstr(out, "level=error event=shown n=2"));
    free(out);
    fclose(f);
}
END_TEST

static const struct {
    const char *text;
    bool ok;
    enum ls_log_level level;
} level_cases[] = {
    { "error", true, LS_LOG_ERROR }, { "warn", true, LS_LOG_WARN },
    { "warning", true, LS_LOG_WARN }, { "info", true, LS_LOG_INFO },
    { "debug", true, LS_LOG_DEBUG }, { "DEBUG", true, LS_LOG_DEBUG },
    { "", false, 0 }, { "verbose", false, 0 }, { "info ", false, 0 }, { "3", false, 0 },
    { "inf", false, 0 }, { "debugging", false, 0 },
};

START_TEST(test_ls_log_level_parse_table)
{
    enum ls_log_level l = (enum ls_log_level)99;
    bool ok = ls_log_level_parse(level_cases[_i].text, &l);
    ck_assert_msg(ok == level_cases[_i].ok, "\"%s\"", level_cases[_i].text);
    if (ok) {
        ck_assert_int_eq(l, level_cases[_i].level);
        ck_assert_str_eq(ls_log_level_name(l), level_cases[_i].text[0] == 'D' ? "debug"
                         : strcmp(level_cases[_i].text, "warning") == 0 ? "warn"
                         : level_cases[_i].text);
    } else {
        ck_assert_int_eq(l, 99);
    }
    ck_assert(!ls_log_level_parse(NULL, &l));
}
END_TEST

/* Threads write whole lines: hammer from several threads, every line intact. */
static void *writer(void *arg)
{
    for (int i = 0; i < 200; i++)
        ls_log_info("t", "thread=%ld i=%d pad=%0200d", (long)(intptr_t)arg, i, 0);
    return NULL;
}

START_TEST(test_ls_log_write_lines_do_not_interleave)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_ge(dup2(fds[1], STDERR_FILENO), 0);
    close(fds[1]);
    FILE *sink = tmpfile();
    pthread_t t[4];
    ls_log_level_set(LS_LOG_INFO);
    /* A reader process keeps the pipe drained so writers never block. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(STDERR_FILENO);   /* our copy of the write end, or read never ends */
        char b[8192];
        ssize_t n;
        while ((n = read(fds[0], b, sizeof b)) > 0)
            if (write(fileno(sink), b, (size_t)n) != n)
                _exit(1);
        _exit(0);
    }
    close(fds[0]);
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    close(STDERR_FILENO);
    int st;
    waitpid(pid, &st, 0);
    char *out = captured(sink);
    ck_assert_uint_eq(count_lines(out), 800);
    regex_t re;
    ck_assert_int_eq(regcomp(&re, "^[^\n]*Z level=info event=t thread=[0-3] i=[0-9]+ pad=0{200}$",
                             REG_EXTENDED | REG_NEWLINE), 0);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
        ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "mangled: %s", line);
    regfree(&re);
    free(out);
    fclose(sink);
}
END_TEST

/* A master key given on the command line never reaches a log line, even at
 * debug level, where the whole configuration is logged. */
START_TEST(test_runtime_config_log_hides_secrets)
{
    static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char *const argv[] = {
        "lodestar-server", "--master-key", (char *)key, "--admin-token", "tok-SECRET-123",
        "--db", "host=db password='p@ss word' user=x", "--log-level", "debug", NULL,
    };
    char *const envp[] = { NULL };
    struct runtime_config cfg;
    enum runtime_config_action action;
    struct ls_error err = { 0 };
    FILE *f = capture();
    ck_assert_int_eq(runtime_config_parse(&cfg, RUNTIME_CONFIG_SERVER, 9, argv, envp, &action,
                                          &err), LS_OK);
    ls_log_level_set(cfg.log_level);
    runtime_config_log(&cfg);
    char *out = captured(f);
    ck_assert_uint_eq(count_lines(out), 1);
    ck_assert_ptr_nonnull(strstr(out, "event=config"));
    ck_assert_ptr_nonnull(strstr(out, "master_key=set"));
    ck_assert_ptr_nonnull(strstr(out, "admin_token=set"));
    ck_assert_ptr_nonnull(strstr(out, "password=***"));
    ck_assert_ptr_null(strstr(out, key));
    ck_assert_ptr_null(strstr(out, "00112233"));
    ck_assert_ptr_null(strstr(out, "tok-SECRET"));
    ck_assert_ptr_null(strstr(out, "p@ss"));
    runtime_config_clear(&cfg);
    free(out);
    fclose(f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_log");
    TCase *tc = tcase_create("ls_log_write");
    tcase_add_test(tc, test_ls_log_write_format);
    tcase_add_test(tc, test_ls_log_write_lines_do_not_interleave);
    suite_add_tcase(s, tc);
    tc = tcase_create("ls_log_format");
    tcase_add_test(tc, test_ls_log_format_timestamp_and_empty_fields);
    tcase_add_test(tc, test_ls_log_format_escapes_control_characters);
    tcase_add_test(tc, test_ls_log_format_cuts_long_lines);
    suite_add_tcase(s, tc);
    tc = tcase_create("ls_log_macros");
    tcase_add_test(tc, test_ls_log_macros_filter_before_evaluating);
    suite_add_tcase(s, tc);
    tc = tcase_create("ls_log_level_parse");
    tcase_add_loop_test(tc, test_ls_log_level_parse_table, 0,
                        sizeof level_cases / sizeof level_cases[0]);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_config_log");
    tcase_add_test(tc, test_runtime_config_log_hides_secrets);
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
