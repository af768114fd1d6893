/*
 * store/startup.c -- what a daemon does with the database before it serves
 *
 * Both daemons wait for PostgreSQL (it may start after them, as under
 * docker-compose), then apply the embedded migrations.  It lives in store/
 * rather than runtime/ because runtime/ builds below store/.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/store.h"

#include "runtime/daemon.h"
#include "runtime/log.h"

static enum ls_rc connect_once(void *arg, struct ls_error *err)
{
    return store_connect(arg, err);
}

int store_startup(struct store *s)
{
    struct ls_error err = { 0 };
    int signo = 0, applied = 0;
    enum ls_rc rc = runtime_daemon_retry(connect_once, s, "db_unavailable", 250, 10000,
                                         &signo, &err);
    if (rc != LS_OK && signo)
        return RUNTIME_DAEMON_EXIT_OK;
    if (rc != LS_OK) {
        ls_log_error("db_failed", "error=\"%s\" detail=\"%s\"", err.msg, err.detail);
        return RUNTIME_DAEMON_EXIT_FAILURE;
    }
    if (store_migrate(s, &applied, &err) != LS_OK) {
        ls_log_error("migrate_failed", "error=\"%s\" detail=\"%s\" known_schema=%d", err.msg,
                     err.detail, store_known_schema_version());
        return RUNTIME_DAEMON_EXIT_FAILURE;
    }
    ls_log_info("migrated", "applied=%d schema=%d", applied, store_known_schema_version());
    return -1;
}
