/*
 * tests/harness/pg.c -- the test database, as scripts/lib/pg.sh exports it
 *
 * LODESTAR_TEST_PGURI      conninfo of a scratch database
 * LODESTAR_TEST_PGCTL_CMD  "pg_ctl -D DIR" (with a runuser prefix as root);
 *                          we append "stop -m fast -w" / "start -w -l FILE"
 * LODESTAR_TEST_PGDATA     the cluster's data directory
 * LODESTAR_TEST_PGLOG      server log for "start -l" (optional)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "harness.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *harness_pg_uri(void)
{
    const char *uri = getenv("LODESTAR_TEST_PGURI");
    if (!uri || !*uri) {
        fprintf(stderr, "LODESTAR_TEST_PGURI is not set: skipping (scripts/test.sh sets it)\n");
        exit(HARNESS_SKIP);
    }
    return uri;
}

int harness_pg_ctl(const char *args)
{
    const char *cmd = getenv("LODESTAR_TEST_PGCTL_CMD");
    if (!cmd || !*cmd)
        return -1;
    char *line = NULL;
    if (asprintf(&line, "%s %s >/dev/null", cmd, args) < 0)
        return -1;
    int st = system(line);
    free(line);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

const char *harness_pg_logfile(void)
{
    static char path[4096];
    const char *log = getenv("LODESTAR_TEST_PGLOG");
    if (log && *log)
        return log;
    const char *data = getenv("LODESTAR_TEST_PGDATA");
    if (!data || !*data)
        return "/tmp/lodestar-test-postgres.log";
    char copy[4000];
    snprintf(copy, sizeof copy, "%s", data);
    snprintf(path, sizeof path, "%s/postgres.log", dirname(copy));
    return path;
}

void harness_pg_ensure_running(void)
{
    if (!getenv("LODESTAR_TEST_PGCTL_CMD") || harness_pg_ctl("status") == 0)
        return;
    char args[4200];
    snprintf(args, sizeof args, "start -w -l %s", harness_pg_logfile());
    harness_pg_ctl(args);
}

/* Single-quotes s for sh: every ' becomes '\''. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

int harness_psql(const char *conninfo, const char *sql)
{
    char *cmd = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&cmd, &len);
    /* Notices ("does not exist, skipping") would only clutter test logs. */
    fputs("PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d ", f);
    put_quoted(f, conninfo);
    fputs(" -c ", f);
    put_quoted(f, sql);
    fputs(" >/dev/null", f);
    fclose(f);
    int st = system(cmd);
    free(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}
