/*
 * tests/unit/lwm2m/suite_util.h -- what every Check suite in tests/unit/lwm2m
 * repeats: the built-in model as a fixture, main(), and hex vectors
 * decoded into a caller's buffer
 *
 * Apart from capture_util.h because some tests define their own
 * assert_int & co.; header-only so each test binary stays one .c file.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_TESTS_SUITE_UTIL_H
#define LODESTAR_TESTS_SUITE_UTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/model.h"

/*
 * The built-in model as a checked fixture: `model` is fresh for every
 * test (tcase_add_checked_fixture(tc, setup, teardown)).  A macro because
 * the variable and the two functions must live in the test's own file.
 */
#define SUITE_MODEL_FIXTURE                                                            \
    static struct lwm2m_model *model;                                                    \
    static void setup(void)                                                              \
    {                                                                                    \
        model = lwm2m_model_new(NULL);                                                   \
        ck_assert_ptr_nonnull(model);                                                    \
    }                                                                                    \
    static void teardown(void)                                                           \
    {                                                                                    \
        lwm2m_model_free(model);                                                         \
    }

/* main() of every test binary: runs the suite, exit status for meson. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Decodes hex text (no spaces) into out, which the caller sized; returns the length. */
static inline size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

#endif /* LODESTAR_TESTS_SUITE_UTIL_H */
