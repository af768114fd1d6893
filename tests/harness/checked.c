/*
 * tests/harness/checked.c -- helpers that run Check suites or fail the
 * running Check test, which every integration test would otherwise spell out
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int harness_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

void harness_wait_listening(struct harness_proc *p, const char *proto, int64_t timeout_ms,
                            char *addr, size_t cap)
{
    char re[96], line[512];
    snprintf(re, sizeof re, "event=listening proto=%s addr=", proto);
    ck_assert_msg(harness_proc_wait_line(p, re, timeout_ms, line, sizeof line),
                  "no %s listening line:\n%s", proto, harness_proc_stderr(p));
    ck_assert(harness_log_field(line, "addr", addr, cap));
}

unsigned harness_free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}
