/*
 * tests/unit/web/test_web_devops.c -- the pure parts of web/devops.c: the
 * device operation URL (LwM2M path + suffix) and the op each method makes
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/path.h"
#include "web/web_int.h"

struct target {
    const char *tail;
    bool ok;
    unsigned depth;
    enum web_devops_suffix suffix;
};

static const struct target targets[] = {
    { "3", true, 1, WEB_DEVOPS_PLAIN },
    { "3/0", true, 2, WEB_DEVOPS_PLAIN },
    { "3/0/1", true, 3, WEB_DEVOPS_PLAIN },
    { "3/0/7/1", true, 4, WEB_DEVOPS_PLAIN },
    { "3/0/discover", true, 2, WEB_DEVOPS_DISCOVER },
    { "3/0/9/attributes", true, 3, WEB_DEVOPS_ATTRIBUTES },
    { "3/0/9/observe", true, 3, WEB_DEVOPS_OBSERVE },
    { "3/0/7/1/observe", true, 4, WEB_DEVOPS_OBSERVE },
    { "observe", false, 0, 0 },
    { "discover", false, 0, 0 },
    { "", false, 0, 0 },
    { "x", false, 0, 0 },
    { "3/x", false, 0, 0 },
    { "3//0", false, 0, 0 },
    { "3/0/1/2/3", false, 0, 0 },
    { "65535", false, 0, 0 },
    { "-1", false, 0, 0 },
    { "3/0/observe/1", false, 0, 0 },
    { "%33/0", false, 0, 0 },
    { "3/0/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/24/25", false, 0, 0 },
};

START_TEST(test_web_devops_parse_target_table)
{
    const struct target *t = &targets[_i];
    struct lwm2m_path p;
    enum web_devops_suffix s;
    char msg[200] = "";
    bool ok = web_devops_parse_target(t->tail, &p, &s, msg, sizeof msg);
    ck_assert_msg(ok == t->ok, "%s: %d (%s)", t->tail, ok, msg);
    if (ok) {
        ck_assert_uint_eq(p.depth, t->depth);
        ck_assert_int_eq(s, t->suffix);
    } else {
        ck_assert_msg(strncmp(msg, "path:", 5) == 0, "%s: %s", t->tail, msg);
    }
}
END_TEST

START_TEST(test_web_devops_op_for_methods)
{
    ck_assert_str_eq(web_devops_op_for("GET", WEB_DEVOPS_PLAIN, 2), "read");
    ck_assert_str_eq(web_devops_op_for("GET", WEB_DEVOPS_DISCOVER, 1), "discover");
    ck_assert_str_eq(web_devops_op_for("PUT", WEB_DEVOPS_PLAIN, 3), "write");
    ck_assert_str_eq(web_devops_op_for("PUT", WEB_DEVOPS_ATTRIBUTES, 3), "attributes");
    ck_assert_str_eq(web_devops_op_for("PATCH", WEB_DEVOPS_PLAIN, 2), "update");
    ck_assert_str_eq(web_devops_op_for("POST", WEB_DEVOPS_PLAIN, 1), "create");
    ck_assert_str_eq(web_devops_op_for("POST", WEB_DEVOPS_PLAIN, 3), "execute");
    ck_assert_str_eq(web_devops_op_for("DELETE", WEB_DEVOPS_PLAIN, 2), "delete");
    ck_assert_str_eq(web_devops_op_for("POST", WEB_DEVOPS_OBSERVE, 3), "observe");
    ck_assert_str_eq(web_devops_op_for("DELETE", WEB_DEVOPS_OBSERVE, 3), "cancel_observe");
    ck_assert_ptr_null(web_devops_op_for("POST", WEB_DEVOPS_PLAIN, 2));
    ck_assert_ptr_null(web_devops_op_for("GET", WEB_DEVOPS_OBSERVE, 3));
    ck_assert_ptr_null(web_devops_op_for("PUT", WEB_DEVOPS_DISCOVER, 3));
    ck_assert_ptr_null(web_devops_op_for("POST", WEB_DEVOPS_ATTRIBUTES, 3));
    ck_assert_ptr_null(web_devops_op_for("OPTIONS", WEB_DEVOPS_PLAIN, 3));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("web_devops");
    TCase *tc = tcase_create("web_devops");
    tcase_add_loop_test(tc, test_web_devops_parse_target_table, 0,
                        sizeof targets / sizeof targets[0]);
    tcase_add_test(tc, test_web_devops_op_for_methods);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
