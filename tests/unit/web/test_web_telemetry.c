/*
 * tests/unit/web/test_web_telemetry.c -- the since/until parser of
 * GET /api/devices/{ep}/telemetry (web_telemetry_parse_time)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>

#include "web/web_int.h"

static const struct {
    const char *in;
    bool ok;
    int64_t us;
} cases[] = {
    { "0", true, 0 },
    { "1700000000000", true, INT64_C(1700000000000000) },
    { "2023-11-14T22:13:20Z", true, INT64_C(1700000000000000) },
    { "2023-11-14T22:13:20.5Z", true, INT64_C(1700000000500000) },
    { "2023-11-14t22:13:20.123456z", true, INT64_C(1700000000123456) },
    { "2023-11-15T00:13:20+02:00", true, INT64_C(1700000000000000) },
    { "2023-11-14T20:13:20-02:00", true, INT64_C(1700000000000000) },
    { "1970-01-01T00:00:00Z", true, 0 },
    { "1969-12-31T23:59:59Z", true, -1000000 },
    { "2024-02-29T00:00:00Z", true, INT64_C(1709164800000000) },
    { "", false, 0 },
    { "-5", false, 0 },
    { "2023-11-14", false, 0 },
    { "2023-11-14T22:13:20", false, 0 },             /* no offset */
    { "2023-13-14T22:13:20Z", false, 0 },
    { "2023-11-32T22:13:20Z", false, 0 },
    { "2023-11-14T24:13:20Z", false, 0 },
    { "2023-11-14T22:13:20.Z", false, 0 },
    { "2023-11-14T22:13:20+2:00", false, 0 },
    { "2023-11-14T22:13:20Zjunk", false, 0 },
    { "1e12", false, 0 },
    { "99999999999999999999", false, 0 },
};

START_TEST(test_web_telemetry_parse_time_table)
{
    int64_t us = 42;
    bool ok = web_telemetry_parse_time(cases[_i].in, &us);
    ck_assert_msg(ok == cases[_i].ok, "\"%s\": ok %d", cases[_i].in, ok);
    if (ok)
        ck_assert_msg(us == cases[_i].us, "\"%s\": %lld", cases[_i].in, (long long)us);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("web_telemetry");
    TCase *tc = tcase_create("web_telemetry_parse_time");
    tcase_add_loop_test(tc, test_web_telemetry_parse_time_table, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
