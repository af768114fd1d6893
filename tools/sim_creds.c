/*
 * tools/sim_creds.c -- PSK credentials for the load generators (see
 * sim_creds.h)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "tools/sim_creds.h"

#include <stdio.h>

#include "store/credentials.h"
#include "store/secret.h"
#include "store/store.h"
#include "tools/sim_dtls.h"

int sim_creds_insert(const char *pguri, const char *key_hex, const char *prefix,
                     const char *scope, const char *infix, int total,
                     void (*key_of)(int i, uint8_t key[16]))
{
    struct ls_error err = { 0 };
    struct store_secret_key k;
    if (store_secret_key_from_hex(key_hex, &k, &err) != LS_OK) {
        fprintf(stderr, "LODESTAR_MASTER_KEY: %s\n", err.msg);
        return -1;
    }
    struct store *s = store_open(pguri, &err);
    if (!s) {
        fprintf(stderr, "store: %s\n", err.msg);
        return -1;
    }
    int added = 0;
    int64_t t0 = sim_dtls_now_us();
    for (int i = 0; i < total; i++) {
        char ep[96], id[128];
        uint8_t key[16];
        snprintf(ep, sizeof ep, "%s-%d", prefix, i);
        snprintf(id, sizeof id, "%s-%s-%d", prefix, infix, i);
        key_of(i, key);
        struct store_credential c = {
            .endpoint = ep, .scope = scope, .mode = "psk", .identity = id,
            .secret = key, .secret_len = sizeof key, .state = "active",
        };
        enum ls_rc rc = store_credentials_insert(s, &k, &c, NULL, &err);
        if (rc == LS_OK) {
            added++;
        } else if (rc != LS_ECONFLICT) {
            fprintf(stderr, "insert %s: %s %s\n", id, err.msg, err.detail);
            store_close(s);
            return -1;
        }
    }
    store_close(s);
    fprintf(stderr, "credentials: %d added, %d present, %.1f s\n", added, total - added,
            (double)(sim_dtls_now_us() - t0) / 1e6);
    return added;
}
