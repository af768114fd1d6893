/*
 * tests/unit/runtime/test_config.c -- runtime/config.c
 *
 * Every rejection path of the flag table, the env/flag precedence, the
 * defaults of both daemons, --help, and the conninfo redaction.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "runtime/config.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF"
#define SRV RUNTIME_CONFIG_SERVER
#define BS RUNTIME_CONFIG_BOOTSTRAP

static int argc_of(char *const *argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

static enum ls_rc parse(enum runtime_config_daemon d, char *const *argv, char *const *envp,
                        struct runtime_config *cfg, enum runtime_config_action *action,
                        struct ls_error *err)
{
    static char *const empty[] = { NULL };
    return runtime_config_parse(cfg, d, argc_of(argv), argv, envp ? envp : empty, action, err);
}

/* ---- rejections ------------------------------------------------------------ */

static const struct {
    enum runtime_config_daemon daemon;
    char *argv[8];
    char *envp[3];
    const char *msg;        /* exact message */
} bad[] = {
    { SRV, { "x", "--bogus", NULL }, { NULL }, "--bogus: unknown flag (see --help)" },
    { SRV, { "x", "--bogus=1", "--master-key", KEY, NULL }, { NULL },
      "--bogus: unknown flag (see --help)" },
    { SRV, { "x", "--master", KEY, NULL }, { NULL }, "--master: unknown flag (see --help)" },
    { SRV, { "x", "-d", NULL }, { NULL }, "\"-d\": unexpected argument (see --help)" },
    { SRV, { "x", "stray", NULL }, { NULL }, "\"stray\": unexpected argument (see --help)" },
    { SRV, { "x", "--", NULL }, { NULL }, "\"--\": unexpected argument (see --help)" },
    { SRV, { "x", "--metrics", "127.0.0.1:9", NULL }, { NULL },
      "--metrics: not a lodestar-server flag (see --help)" },
    { BS, { "x", "--http", "127.0.0.1:9", NULL }, { NULL },
      "--http: not a lodestar-bootstrap flag (see --help)" },
    { BS, { "x", "--static=/tmp", NULL }, { NULL },
      "--static: not a lodestar-bootstrap flag (see --help)" },
    { BS, { "x", "--admin-token", "t", NULL }, { NULL },
      "--admin-token: not a lodestar-bootstrap flag (see --help)" },
    { SRV, { "x", "--master-key", KEY, "--db", NULL }, { NULL }, "--db: missing value (CONNINFO)" },
    { SRV, { "x", "--coap", "--master-key", KEY, NULL }, { NULL },
      "--coap: missing value (HOST:PORT)" },
    { SRV, { "x", "--db=", "--master-key", KEY, NULL }, { NULL }, "--db: empty value (CONNINFO)" },
    { SRV, { "x", "--coap", "abc", "--master-key", KEY, NULL }, { NULL },
      "--coap: \"abc\" is not HOST:PORT" },
    { SRV, { "x", "--coap", ":5683", "--master-key", KEY, NULL }, { NULL },
      "--coap: \":5683\" is not HOST:PORT" },
    { SRV, { "x", "--coaps", "[::1]", "--master-key", KEY, NULL }, { NULL },
      "--coaps: \"[::1]\" is not HOST:PORT" },
    { SRV, { "x", "--coaps", "[::1]5684", "--master-key", KEY, NULL }, { NULL },
      "--coaps: \"[::1]5684\" is not HOST:PORT" },
    { SRV, { "x", "--http", "::1:8080", "--master-key", KEY, NULL }, { NULL },
      "--http: \"::1:8080\" is not HOST:PORT (write IPv6 as [addr]:port)" },
    { SRV, { "x", "--http", "127.0.0.1:", "--master-key", KEY, NULL }, { NULL },
      "--http: \"127.0.0.1:\" is not HOST:PORT (port \"\" is not a number)" },
    { SRV, { "x", "--http", "127.0.0.1:http", "--master-key", KEY, NULL }, { NULL },
      "--http: \"127.0.0.1:http\" is not HOST:PORT (port \"http\" is not a number)" },
    { SRV, { "x", "--http", "127.0.0.1:-1", "--master-key", KEY, NULL }, { NULL },
      "--http: \"127.0.0.1:-1\" is not HOST:PORT (port \"-1\" is not a number)" },
    { SRV, { "x", "--http", "127.0.0.1:65536", "--master-key", KEY, NULL }, { NULL },
      "--http: \"127.0.0.1:65536\": port 65536 is out of range 0..65535" },
    { SRV, { "x", "--http", "127.0.0.1:99999999999", "--master-key", KEY, NULL }, { NULL },
      "--http: \"127.0.0.1:99999999999\": port 99999999999 is out of range 0..65535" },
    { SRV, { "x", "--http", "[zz]:80", "--master-key", KEY, NULL }, { NULL },
      "--http: \"[zz]:80\": \"zz\" is not an IPv6 address" },
    { SRV, { "x", "--http", "[127.0.0.1]:80", "--master-key", KEY, NULL }, { NULL },
      "--http: \"[127.0.0.1]:80\": \"127.0.0.1\" is not an IPv6 address" },
    { SRV, { "x", "--http", "999.1.1.1:80", "--master-key", KEY, NULL }, { NULL }, NULL },
    { BS, { "x", "--metrics", "nope", "--master-key", KEY, NULL }, { NULL },
      "--metrics: \"nope\" is not HOST:PORT" },
    { SRV, { "x", "--log-level", "loud", "--master-key", KEY, NULL }, { NULL },
      "--log-level: \"loud\" is not a log level (error, warn, info, debug)" },
    { SRV, { "x", NULL }, { NULL },
      "--master-key: required; make one with: openssl rand -hex 32" },
    { BS, { "x", NULL }, { "LODESTAR_MASTER_KEY=", NULL },
      "--master-key: required; make one with: openssl rand -hex 32" },
    { SRV, { "x", "--master-key", "0011", NULL }, { NULL },
      "--master-key: must be exactly 64 hex digits (32 bytes), got 4 characters; "
      "make one with: openssl rand -hex 32" },
    { SRV, { "x", "--master-key", KEY "0", NULL }, { NULL },
      "--master-key: must be exactly 64 hex digits (32 bytes), got 65 characters; "
      "make one with: openssl rand -hex 32" },
    { SRV, { "x", "--master-key",
             "0011223344556677889900aabbccddeeff00112233445566778899aabbccddee", NULL }, { NULL },
      NULL /* valid: control case for the table, see below */ },
    { SRV, { "x", "--master-key",
             "g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", NULL }, { NULL },
      "--master-key: must be exactly 64 hex digits, found a non-hex character" },
    { SRV, { "x", "--master-key",
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddee f", NULL }, { NULL },
      "--master-key: must be exactly 64 hex digits, found a non-hex character" },
    { SRV, { "x", NULL }, { "LODESTAR_MASTER_KEY=abc", NULL },
      "--master-key: must be exactly 64 hex digits (32 bytes), got 3 characters; "
      "make one with: openssl rand -hex 32 (from LODESTAR_MASTER_KEY)" },
    { SRV, { "x", "--models", "/nonexistent/lodestar-models", "--master-key", KEY, NULL },
      { NULL }, "--models: \"/nonexistent/lodestar-models\" does not exist" },
    { BS, { "x", "--models=/etc/passwd", "--master-key", KEY, NULL }, { NULL },
      "--models: \"/etc/passwd\" is not a directory" },
    { SRV, { "x", "--static", "/nonexistent/static", "--master-key", KEY, NULL }, { NULL },
      "--static: \"/nonexistent/static\" does not exist" },
    { SRV, { "x", "--ca-file", "/nonexistent/ca.pem", "--master-key", KEY, NULL }, { NULL },
      "--ca-file: \"/nonexistent/ca.pem\" does not exist" },
    { BS, { "x", "--ca-file", "/tmp", "--master-key", KEY, NULL }, { NULL },
      "--ca-file: \"/tmp\" is not a regular file" },
    { SRV, { "x", "--master-key", KEY, NULL }, { "LODESTAR_COAP=abc", NULL },
      "--coap: \"abc\" is not HOST:PORT (from LODESTAR_COAP)" },
    { BS, { "x", "--master-key", KEY, NULL }, { "LODESTAR_LOG_LEVEL=chatty", NULL },
      "--log-level: \"chatty\" is not a log level (error, warn, info, debug) "
      "(from LODESTAR_LOG_LEVEL)" },
    { SRV, { "x", "--master-key", KEY, "--issued-ttl", "31622401", NULL }, { NULL },
      "--issued-ttl: \"31622401\" is not a number 0..31622400" },
    { BS, { "x", "--master-key", KEY, NULL }, { "LODESTAR_ISSUED_TTL=-1", NULL },
      "--issued-ttl: \"-1\" is not a number 0..31622400 (from LODESTAR_ISSUED_TTL)" },
};

START_TEST(test_runtime_config_parse_rejects)
{
    struct runtime_config cfg;
    enum runtime_config_action action;
    struct ls_error err = { 0 };
    enum ls_rc rc = parse(bad[_i].daemon, bad[_i].argv, bad[_i].envp, &cfg, &action, &err);
    if (bad[_i].msg == NULL && strcmp(bad[_i].argv[1], "--master-key") == 0) {
        ck_assert_msg(rc == LS_OK, "valid key refused: %s", err.msg);
        return;
    }
    ck_assert_msg(rc == LS_EINVAL, "case %d accepted", _i);
    if (bad[_i].msg)
        ck_assert_str_eq(err.msg, bad[_i].msg);
    else /* resolver wording varies: just name the flag */
        ck_assert_msg(strncmp(err.msg, "--http: ", 8) == 0, "%s", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    /* Never echo key material, not even a wrong key. */
    ck_assert_ptr_null(strstr(err.msg, "00112233"));
    ck_assert_ptr_null(strstr(err.msg, "0011 "));
    for (size_t i = 0; i < sizeof cfg.master_key; i++)
        ck_assert_uint_eq(cfg.master_key[i], 0);
}
END_TEST

/* ---- acceptance -------------------------------------------------------------- */

static struct runtime_config ok(enum runtime_config_daemon d, char *const *argv,
                                char *const *envp)
{
    struct runtime_config cfg;
    enum runtime_config_action action;
    struct ls_error err = { 0 };
    ck_assert_msg(parse(d, argv, envp, &cfg, &action, &err) == LS_OK, "%s", err.msg);
    ck_assert_int_eq(action, RUNTIME_CONFIG_RUN);
    return cfg;
}

static int port_of(const struct runtime_config_addr *a)
{
    return runtime_addr_port((const struct sockaddr *)&a->addr.ss);
}

START_TEST(test_runtime_config_parse_server_defaults)
{
    char *argv[] = { "x", "--master-key", KEY, NULL };
    struct runtime_config c = ok(SRV, argv, NULL);
    ck_assert_str_eq(c.db, "dbname=lodestar");
    ck_assert_str_eq(c.coap.text, "[::]:5683");
    ck_assert_int_eq(c.coap.addr.ss.ss_family, AF_INET6);
    ck_assert_int_eq(port_of(&c.coap), 5683);
    ck_assert_str_eq(c.coaps.text, "[::]:5684");
    ck_assert_int_eq(port_of(&c.coaps), 5684);
    ck_assert_str_eq(c.http.text, "127.0.0.1:8080");
    ck_assert_int_eq(c.http.addr.ss.ss_family, AF_INET);
    ck_assert_int_eq(port_of(&c.http), 8080);
    ck_assert_ptr_null(c.metrics.text);
    ck_assert_ptr_nonnull(c.static_dir);
    ck_assert_ptr_nonnull(strstr(c.static_dir, "static"));
    ck_assert_ptr_null(c.admin_token);
    ck_assert_ptr_null(c.models_dir);
    ck_assert_ptr_null(c.ca_file);
    ck_assert_int_eq(c.log_level, LS_LOG_INFO);
    ck_assert_uint_eq(c.master_key[0], 0x00);
    ck_assert_uint_eq(c.master_key[1], 0x11);
    ck_assert_uint_eq(c.master_key[31], 0xff);
    runtime_config_clear(&c);
    ck_assert_uint_eq(c.master_key[31], 0);
}
END_TEST

START_TEST(test_runtime_config_parse_bootstrap_defaults)
{
    char *envp[] = { "LODESTAR_MASTER_KEY=" KEY, "LODESTAR_HTTP=garbage", NULL };
    char *argv[] = { "x", NULL };
    struct runtime_config c = ok(BS, argv, envp);
    ck_assert_str_eq(c.coap.text, "[::]:5783");
    ck_assert_int_eq(port_of(&c.coap), 5783);
    ck_assert_str_eq(c.coaps.text, "[::]:5784");
    ck_assert_int_eq(port_of(&c.coaps), 5784);
    /* Not bootstrap options: their env vars are ignored, not validated. */
    ck_assert_ptr_null(c.http.text);
    ck_assert_ptr_null(c.static_dir);
    ck_assert_ptr_null(c.metrics.text);
    ck_assert_uint_eq(c.master_key[31], 0xff);
}
END_TEST

/* --issued-ttl (CREDWATCH): both daemons, default a day, 0 allowed. */
START_TEST(test_runtime_config_parse_issued_ttl)
{
    char *envp[] = { "LODESTAR_MASTER_KEY=" KEY, NULL };
    char *none[] = { "x", NULL };
    ck_assert_int_eq(ok(SRV, none, envp).issued_ttl_s, 86400);
    ck_assert_int_eq(ok(BS, none, envp).issued_ttl_s, 86400);
    char *flag[] = { "x", "--issued-ttl", "0", NULL };
    ck_assert_int_eq(ok(BS, flag, envp).issued_ttl_s, 0);
    char *env[] = { "LODESTAR_MASTER_KEY=" KEY, "LODESTAR_ISSUED_TTL=3600", NULL };
    ck_assert_int_eq(ok(SRV, none, env).issued_ttl_s, 3600);
    char *both[] = { "x", "--issued-ttl=120", NULL };
    ck_assert_int_eq(ok(SRV, both, env).issued_ttl_s, 120);
}
END_TEST

START_TEST(test_runtime_config_parse_env_used_without_flag)
{
    char *envp[] = {
        "LODESTAR_MASTER_KEY=" KEY, "LODESTAR_DB=host=db1", "LODESTAR_COAP=127.0.0.1:1",
        "LODESTAR_LOG_LEVEL=debug", "LODESTAR_METRICS=localhost:0", "LODESTAR_MODELS=/tmp",
        "LODESTAR_CA_FILE=/etc/passwd", "OTHER=1", "LODESTAR_DBX=no", NULL,
    };
    char *argv[] = { "x", NULL };
    struct runtime_config c = ok(BS, argv, envp);
    ck_assert_str_eq(c.db, "host=db1");
    ck_assert_int_eq(port_of(&c.coap), 1);
    ck_assert_int_eq(c.log_level, LS_LOG_DEBUG);
    ck_assert_str_eq(c.metrics.text, "localhost:0");
    ck_assert_int_eq(port_of(&c.metrics), 0);
    ck_assert_str_eq(c.models_dir, "/tmp");
    ck_assert_str_eq(c.ca_file, "/etc/passwd");
}
END_TEST

START_TEST(test_runtime_config_parse_flag_wins_over_env)
{
    char *envp[] = { "LODESTAR_MASTER_KEY=zz", "LODESTAR_DB=host=env",
                     "LODESTAR_HTTP=not an address", "LODESTAR_ADMIN_TOKEN=env-token", NULL };
    char *argv[] = { "x", "--master-key", KEY, "--db=host=flag", "--http", "[::1]:0",
                     "--admin-token=flag-token", NULL };
    struct runtime_config c = ok(SRV, argv, envp);
    ck_assert_str_eq(c.db, "host=flag");
    ck_assert_str_eq(c.http.text, "[::1]:0");
    ck_assert_int_eq(c.http.addr.ss.ss_family, AF_INET6);
    ck_assert_str_eq(c.admin_token, "flag-token");
    ck_assert_uint_eq(c.master_key[0], 0);
}
END_TEST

START_TEST(test_runtime_config_parse_equals_form_and_last_wins)
{
    char *argv[] = { "x", "--master-key=" KEY, "--log-level=warn", "--coap=0.0.0.0:7",
                     "--coap", "localhost:8", "--static=/tmp", NULL };
    struct runtime_config c = ok(SRV, argv, NULL);
    ck_assert_int_eq(c.log_level, LS_LOG_WARN);
    ck_assert_str_eq(c.coap.text, "localhost:8");
    ck_assert_int_eq(port_of(&c.coap), 8);
    ck_assert_str_eq(c.static_dir, "/tmp");
    /* A value may contain '=' and spaces: only the first '=' splits. */
    char *argv2[] = { "x", "--master-key", KEY, "--db=host=a port=5 dbname=b", NULL };
    struct runtime_config c2 = ok(SRV, argv2, NULL);
    ck_assert_str_eq(c2.db, "host=a port=5 dbname=b");
}
END_TEST

START_TEST(test_runtime_config_parse_help_and_version_win)
{
    struct runtime_config cfg;
    enum runtime_config_action action;
    struct ls_error err = { 0 };
    char *argv[] = { "x", "--bogus", "--help", NULL };
    ck_assert_int_eq(parse(SRV, argv, NULL, &cfg, &action, &err), LS_OK);
    ck_assert_int_eq(action, RUNTIME_CONFIG_HELP);
    char *argv2[] = { "x", "-h", NULL };
    ck_assert_int_eq(parse(BS, argv2, NULL, &cfg, &action, &err), LS_OK);
    ck_assert_int_eq(action, RUNTIME_CONFIG_HELP);
    char *argv3[] = { "x", "--coap", "abc", "--version", NULL };
    ck_assert_int_eq(parse(BS, argv3, NULL, &cfg, &action, &err), LS_OK);
    ck_assert_int_eq(action, RUNTIME_CONFIG_VERSION);
    ck_assert_str_eq(runtime_config_version(), "0.1.0");
}
END_TEST

/* ---- --help ------------------------------------------------------------------ */

static const struct {
    const char *flag, *env;
    bool server, bootstrap;
} flags[] = {
    { "--db CONNINFO", "LODESTAR_DB", true, true },
    { "--coap HOST:PORT", "LODESTAR_COAP", true, true },
    { "--coaps HOST:PORT", "LODESTAR_COAPS", true, true },
    { "--http HOST:PORT", "LODESTAR_HTTP", true, false },
    { "--static DIR", "LODESTAR_STATIC", true, false },
    { "--master-key HEX64", "LODESTAR_MASTER_KEY", true, true },
    { "--admin-token TOKEN", "LODESTAR_ADMIN_TOKEN", true, false },
    { "--models DIR", "LODESTAR_MODELS", true, true },
    { "--log-level LEVEL", "LODESTAR_LOG_LEVEL", true, true },
    { "--ca-file FILE", "LODESTAR_CA_FILE", true, true },
    { "--metrics HOST:PORT", "LODESTAR_METRICS", false, true },
};

static char *help_text(enum runtime_config_daemon d)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    runtime_config_help(f, d);
    fclose(f);
    return text;
}

START_TEST(test_runtime_config_help_lists_every_flag)
{
    char *srv = help_text(SRV), *bs = help_text(BS);
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        ck_assert_msg((strstr(srv, flags[i].flag) != NULL) == flags[i].server, "%s", flags[i].flag);
        ck_assert_msg((strstr(srv, flags[i].env) != NULL) == flags[i].server, "%s", flags[i].env);
        ck_assert_msg((strstr(bs, flags[i].flag) != NULL) == flags[i].bootstrap, "%s",
                      flags[i].flag);
        ck_assert_msg((strstr(bs, flags[i].env) != NULL) == flags[i].bootstrap, "%s",
                      flags[i].env);
    }
    ck_assert_ptr_nonnull(strstr(srv, "Usage: lodestar-server"));
    ck_assert_ptr_nonnull(strstr(bs, "Usage: lodestar-bootstrap"));
    ck_assert_ptr_nonnull(strstr(srv, "default \"[::]:5683\""));
    ck_assert_ptr_nonnull(strstr(srv, "default \"[::]:5684\""));
    ck_assert_ptr_nonnull(strstr(srv, "default \"127.0.0.1:8080\""));
    ck_assert_ptr_nonnull(strstr(srv, "default \"dbname=lodestar\""));
    ck_assert_ptr_nonnull(strstr(srv, "default \"info\""));
    ck_assert_ptr_nonnull(strstr(bs, "default \"[::]:5783\""));
    ck_assert_ptr_nonnull(strstr(bs, "default \"[::]:5784\""));
    ck_assert_ptr_nonnull(strstr(srv, "--help"));
    ck_assert_ptr_nonnull(strstr(bs, "--version"));
    free(srv);
    free(bs);
}
END_TEST

/* ---- redaction ------------------------------------------------------------------ */

static const struct {
    const char *in, *out;
} redact[] = {
    { "dbname=lodestar", "dbname=lodestar" },
    { "host=h password=secret user=u", "host=h password=*** user=u" },
    { "password = 'a b\\' c' dbname=x", "password = *** dbname=x" },
    { "PASSWORD=x", "PASSWORD=***" },
    { "passwordless=1", "passwordless=1" },
    { "postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db" },
    { "postgres://u@h/db?password=s&sslmode=require",
      "postgres://u@h/db?password=***&sslmode=require" },
    { "postgresql://h/db", "postgresql://h/db" },
    { "", "" },
};

START_TEST(test_runtime_config_redact_conninfo_table)
{
    char buf[128];
    ck_assert_str_eq(runtime_config_redact_conninfo(redact[_i].in, buf, sizeof buf),
                     redact[_i].out);
    char tiny[8];
    runtime_config_redact_conninfo(redact[_i].in, tiny, sizeof tiny);
    ck_assert_uint_lt(strlen(tiny), sizeof tiny);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_config");
    TCase *tc = tcase_create("runtime_config_parse");
    tcase_add_loop_test(tc, test_runtime_config_parse_rejects, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(tc, test_runtime_config_parse_server_defaults);
    tcase_add_test(tc, test_runtime_config_parse_bootstrap_defaults);
    tcase_add_test(tc, test_runtime_config_parse_issued_ttl);
    tcase_add_test(tc, test_runtime_config_parse_env_used_without_flag);
    tcase_add_test(tc, test_runtime_config_parse_flag_wins_over_env);
    tcase_add_test(tc, test_runtime_config_parse_equals_form_and_last_wins);
    tcase_add_test(tc, test_runtime_config_parse_help_and_version_win);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_config_help");
    tcase_add_test(tc, test_runtime_config_help_lists_every_flag);
    suite_add_tcase(s, tc);
    tc = tcase_create("runtime_config_redact_conninfo");
    tcase_add_loop_test(tc, test_runtime_config_redact_conninfo_table, 0,
                        sizeof redact / sizeof redact[0]);
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
