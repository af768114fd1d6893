/*
 * store/secret.h -- secrets at rest: AES-256-GCM under the master key
 *
 * Every secret (PSK keys, private keys) is stored as a sealed blob plus the
 * id of the key that sealed it, so the master key can be rotated later: a
 * reader looks the key up by id.  The blob is nonce(12) | ciphertext | tag(16);
 * the nonce is random (OpenSSL RAND_bytes) for every seal.  The associated
 * data binds a blob to its purpose (e.g. "credential:42"), so a ciphertext
 * copied to another row does not open.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_SECRET_H
#define LODESTAR_STORE_SECRET_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

#define STORE_SECRET_KEY_LEN 32
#define STORE_SECRET_OVERHEAD (12 + 16)

struct store_secret_key {
    uint8_t key[STORE_SECRET_KEY_LEN];
    uint32_t id;   /* stored beside each blob; derived from the key (see .c) */
};

/* Parses 64 hex characters into a key and computes its id. */
enum ls_rc store_secret_key_from_hex(const char *hex, struct store_secret_key *out,
                                     struct ls_error *err) LS_MUST_CHECK;

/* Added by OPS (issue 10.6): the same from 32 raw bytes (runtime_config's
 * master_key), computing the id. */
void store_secret_key_from_bytes(const uint8_t raw[STORE_SECRET_KEY_LEN],
                                 struct store_secret_key *out);

/*
 * store_secret_seal -- encrypt plain (len bytes) with ad as associated data.
 * out must hold len + STORE_SECRET_OVERHEAD bytes.
 */
enum ls_rc store_secret_seal(const struct store_secret_key *k,
                             const uint8_t *plain, size_t len,
                             const char *ad, uint8_t *out,
                             struct ls_error *err) LS_MUST_CHECK;

/*
 * store_secret_open -- decrypt blob (len bytes) sealed with ad.  out must
 * hold len - STORE_SECRET_OVERHEAD bytes.  A wrong key, a different ad or
 * any tampering gives LS_EPROTO and leaves out zeroed.
 */
enum ls_rc store_secret_open(const struct store_secret_key *k,
                             const uint8_t *blob, size_t len,
                             const char *ad, uint8_t *out,
                             struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_SECRET_H */
