/*
 * tests/unit/server/test_commands.c -- the parts of server/commands.c that
 * need no database: the command checks before anything is stored (400
 * answered at once, naming the field), queue-mode awake state
 * (server_commands_can_send), and a stop with no database ever reached.
 *
 * The command thread points at a port where nothing listens: it only
 * fails to connect, which these tests never wait for.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/loop.h"
#include "server/commands.h"
#include "server/registry.h"
#include "web/http.h"

#define NO_DB "host=127.0.0.1 port=1 dbname=none connect_timeout=1"

static struct runtime_loop *loop;
static struct server_commands *cmds;

static void setup(void)
{
    loop = runtime_loop_new(NULL);
    ck_assert_ptr_nonnull(loop);
    cmds = server_commands_start(NO_DB, loop, "unit-instance", NULL, NULL, NULL);
    ck_assert_ptr_nonnull(cmds);
}

static void teardown(void)
{
    server_commands_stop(cmds);
    runtime_loop_free(loop);
}

struct answer {
    int calls;
    unsigned status;
    char body[512];
};

static void on_done(void *ctx, unsigned status, const char *json)
{
    struct answer *a = ctx;
    a->calls++;
    a->status = status;
    snprintf(a->body, sizeof a->body, "%s", json);
}

static const struct {
    const char *json;
    const char *field;     /* expected in the message */
} bad_cases[] = {
    { "", "command" },
    { "[1]", "command" },
    { "{\"path\":\"/3/0\"}", "op" },
    { "{\"op\":\"reboot\",\"path\":\"/3/0\"}", "op" },
    { "{\"op\":\"read\",\"path\":3}", "path" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"ttl\":0}", "ttl" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"ttl\":-5}", "ttl" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"ttl\":\"1h\"}", "ttl" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"ttl\":1e12}", "ttl" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"format\":\"xml\"}", "format" },
    { "{\"op\":\"read\",\"path\":\"/3/0\",\"format\":70000}", "format" },
};

START_TEST(test_server_commands_submit_bad_command_table)
{
    struct answer a = { 0 };
    struct web_device_call call = { .endpoint = "dev", .command_json = bad_cases[_i].json,
                                    .timeout_ms = 5000 };
    server_commands_submit(cmds, NULL, &call, on_done, &a);
    ck_assert_int_eq(a.calls, 1);              /* at once, before any database */
    ck_assert_uint_eq(a.status, 400);
    ck_assert_ptr_nonnull(strstr(a.body, "\"bad_request\""));
    ck_assert_msg(strstr(a.body, bad_cases[_i].field), "%s", a.body);
}
END_TEST

START_TEST(test_server_commands_submit_without_handle)
{
    struct answer a = { 0 };
    struct web_device_call call = { .endpoint = "dev",
                                    .command_json = "{\"op\":\"read\",\"path\":\"/3/0\"}" };
    server_commands_submit(NULL, NULL, &call, on_done, &a);
    ck_assert_int_eq(a.calls, 1);
    ck_assert_uint_eq(a.status, 503);
}
END_TEST

START_TEST(test_server_commands_submit_stop_answers_503)
{
    /* a good command waits for the (absent) database; the stop answers it */
    struct answer a = { 0 };
    struct web_device_call call = { .endpoint = "dev",
                                    .command_json = "{\"op\":\"read\",\"path\":\"/3/0\","
                                                    "\"format\":\"tlv\",\"ttl\":60}" };
    server_commands_submit(cmds, NULL, &call, on_done, &a);
    server_commands_stop(cmds);
    cmds = NULL;
    ck_assert_int_eq(a.calls, 1);
    ck_assert_uint_eq(a.status, 503);
}
END_TEST

START_TEST(test_server_commands_can_send_queue_mode)
{
    struct server_reg *plain = server_reg_new("plain", NULL, NULL, "/", "[]", NULL);
    struct server_reg *q = server_reg_new("sleepy", NULL, NULL, "/", "[]", NULL);
    ck_assert_ptr_nonnull(plain);
    ck_assert_ptr_nonnull(q);
    q->queue = true;
    ck_assert(server_commands_can_send(cmds, plain));
    ck_assert(!server_commands_can_send(cmds, q));          /* asleep until it talks */
    server_commands_device_awake(cmds, q);
    ck_assert(server_commands_can_send(cmds, q));
    server_commands_device_awake(cmds, plain);               /* not queue mode: no-op */
    server_commands_device_awake(NULL, q);                   /* no handle: no-op */
    ck_assert(server_commands_can_send(NULL, plain));
    ck_assert(!server_commands_can_send(NULL, q));
    server_reg_free(plain);
    server_reg_free(q);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server_commands");
    TCase *tc = tcase_create("server_commands");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_server_commands_submit_bad_command_table, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_server_commands_submit_without_handle);
    tcase_add_test(tc, test_server_commands_submit_stop_answers_503);
    tcase_add_test(tc, test_server_commands_can_send_queue_mode);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
