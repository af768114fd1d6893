/*
 * tests/harness/checked.c -- helpers that run Check suites or fail the
 * running Check test, which every integration test would otherwise spell out
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <check.h>
#include <stdio.h>

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
