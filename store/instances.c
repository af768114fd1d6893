/*
 * store/instances.c -- running daemon instances (store/instances.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/instances.h"

#include <openssl/rand.h>

#include "store/store_int.h"

static const char url_safe[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

enum ls_rc store_instances_new_id(char *id, struct ls_error *err)
{
    unsigned char r[STORE_INSTANCE_ID_LEN];
    if (RAND_bytes(r, sizeof r) != 1)
        return ls_error_set(err, LS_EIO, "instance id: no randomness");
    for (size_t i = 0; i < sizeof r; i++)
        id[i] = url_safe[r[i] & 63];
    id[STORE_INSTANCE_ID_LEN] = '\0';
    return LS_OK;
}

enum ls_rc store_instances_register(struct store *s, const char *id, const char *kind,
                                    const char *address, struct ls_error *err)
{
    static const char sql[] =
        "INSERT INTO server_instances (id, kind, address) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address,"
        " last_heartbeat = now()";
    const char *values[3] = { id, kind, address };
    return store_exec_text(s, "register instance", sql, 3, values, NULL, err);
}

enum ls_rc store_instances_heartbeat(struct store *s, const char *id, const char *kind,
                                     struct ls_error *err)
{
    static const char sql[] =
        "INSERT INTO server_instances (id, kind) VALUES ($1, $2)"
        " ON CONFLICT (id) DO UPDATE SET last_heartbeat = now()";
    const char *values[2] = { id, kind };
    return store_exec_text(s, "instance heartbeat", sql, 2, values, NULL, err);
}
