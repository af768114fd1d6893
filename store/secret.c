/*
 * store/secret.c -- AES-256-GCM sealing of secrets at rest (store/secret.h)
 *
 * A blob is nonce(12) | ciphertext | tag(16).  The nonce comes from
 * RAND_bytes for every seal: with random 96-bit nonces NIST SP 800-38D
 * allows 2^32 seals under one key, far beyond the number of credentials a
 * deployment issues before rotating the master key.  The associated data
 * (e.g. "credential:42") is authenticated but not stored, so a blob copied
 * to another row or purpose fails its tag check.
 *
 * Key id: the first 4 bytes of SHA-256("lodestar-key-id" || key), read as
 * a big-endian uint32.  It is stored beside each blob so that a reader can
 * pick the right key after a rotation; the domain-separation prefix keeps
 * the id from being a bare hash of the key.  32 bits reveal nothing useful
 * about a 256-bit key.
 *
 * Plaintext buffers are wiped with OPENSSL_cleanse on every failure path,
 * so a caller never sees half-decrypted bytes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_ID_DOMAIN "lodestar-key-id"

_Static_assert(NONCE_LEN + TAG_LEN == STORE_SECRET_OVERHEAD,
               "blob layout must match STORE_SECRET_OVERHEAD");

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static uint32_t key_id(const uint8_t key[STORE_SECRET_KEY_LEN])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    uint8_t buf[sizeof KEY_ID_DOMAIN - 1 + STORE_SECRET_KEY_LEN];

    memcpy(buf, KEY_ID_DOMAIN, sizeof KEY_ID_DOMAIN - 1);
    memcpy(buf + sizeof KEY_ID_DOMAIN - 1, key, STORE_SECRET_KEY_LEN);
    SHA256(buf, sizeof buf, md);
    OPENSSL_cleanse(buf, sizeof buf);
    uint32_t id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 |
                  (uint32_t)md[2] << 8 | (uint32_t)md[3];
    OPENSSL_cleanse(md, sizeof md);
    return id;
}

enum ls_rc store_secret_key_from_hex(const char *hex, struct store_secret_key *out,
                                     struct ls_error *err)
{
    enum ls_rc rc = LS_OK;

    memset(out, 0, sizeof *out);
    if (!hex) {
        rc = ls_error_set(err, LS_EINVAL, "master key missing");
        goto out;
    }
    size_t n = strlen(hex);
    if (n != 2 * STORE_SECRET_KEY_LEN) {
        /* Never echo the key itself: only its length. */
        rc = ls_error_set(err, LS_EINVAL,
                          "master key must be %d hex characters, got %zu",
                          2 * STORE_SECRET_KEY_LEN, n);
        goto out;
    }
    for (size_t i = 0; i < STORE_SECRET_KEY_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            rc = ls_error_set(err, LS_EINVAL,
                              "master key has a non-hex character at offset %zu",
                              hi < 0 ? 2 * i : 2 * i + 1);
            goto out;
        }
        out->key[i] = (uint8_t)(hi << 4 | lo);
    }
    out->id = key_id(out->key);
out:
    if (rc != LS_OK)
        OPENSSL_cleanse(out, sizeof *out);
    return rc;
}

void store_secret_key_from_bytes(const uint8_t raw[STORE_SECRET_KEY_LEN],
                                 struct store_secret_key *out)
{
    memcpy(out->key, raw, STORE_SECRET_KEY_LEN);
    out->id = key_id(out->key);
}

/* GCM takes lengths as int; refuse anything that would not fit. */
static enum ls_rc check_len(size_t len, const char *ad, struct ls_error *err)
{
    if (len > (size_t)INT32_MAX - STORE_SECRET_OVERHEAD)
        return ls_error_set(err, LS_EINVAL, "secret too large (%zu bytes)", len);
    if (ad && strlen(ad) > (size_t)INT32_MAX)
        return ls_error_set(err, LS_EINVAL, "associated data too large");
    return LS_OK;
}

/*
 * store_secret_seal -- see secret.h.  ad NULL is the same as "".
 */
enum ls_rc store_secret_seal(const struct store_secret_key *k,
                             const uint8_t *plain, size_t len,
                             const char *ad, uint8_t *out,
                             struct ls_error *err)
{
    enum ls_rc rc = check_len(len, ad, err);
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0;

    if (rc != LS_OK)
        return rc;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx) {
        rc = ls_error_set(err, LS_ENOMEM, "cannot allocate cipher context");
        goto out;
    }
    if (RAND_bytes(out, NONCE_LEN) != 1) {
        rc = ls_error_set(err, LS_EIO, "RAND_bytes failed");
        goto out;
    }
    size_t adlen = ad ? strlen(ad) : 0;
    uint8_t *ct = out + NONCE_LEN;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, out) != 1 ||
        (adlen && EVP_EncryptUpdate(ctx, NULL, &n, (const uint8_t *)ad, (int)adlen) != 1) ||
        (len && EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) != 1) ||
        EVP_EncryptFinal_ex(ctx, ct + len, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + len) != 1) {
        rc = ls_error_set(err, LS_EIO, "AES-256-GCM encryption failed");
        goto out;
    }
out:
    if (rc != LS_OK)
        OPENSSL_cleanse(out, len + STORE_SECRET_OVERHEAD);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/*
 * store_secret_open -- see secret.h.  Every failure after the length check
 * is reported as the same LS_EPROTO: telling a wrong key from a tampered
 * blob would help nobody but an attacker, and GCM cannot tell them apart.
 */
enum ls_rc store_secret_open(const struct store_secret_key *k,
                             const uint8_t *blob, size_t len,
                             const char *ad, uint8_t *out,
                             struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t plen = 0;
    int n = 0;

    if (len < STORE_SECRET_OVERHEAD)
        return ls_error_set(err, LS_EPROTO, "sealed secret too short (%zu bytes)", len);
    plen = len - STORE_SECRET_OVERHEAD;
    rc = check_len(plen, ad, err);
    if (rc != LS_OK)
        goto out;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx) {
        rc = ls_error_set(err, LS_ENOMEM, "cannot allocate cipher context");
        goto out;
    }
    size_t adlen = ad ? strlen(ad) : 0;
    const uint8_t *ct = blob + NONCE_LEN;
    /* The tag must be set before Final; EVP takes a non-const pointer
     * but only reads it, so copy rather than cast const away. */
    uint8_t tag[TAG_LEN];
    memcpy(tag, ct + plen, TAG_LEN);
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, blob) != 1 ||
        (adlen && EVP_DecryptUpdate(ctx, NULL, &n, (const uint8_t *)ad, (int)adlen) != 1) ||
        (plen && EVP_DecryptUpdate(ctx, out, &n, ct, (int)plen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + plen, &n) != 1) {
        rc = ls_error_set(err, LS_EPROTO,
                          "sealed secret does not open (wrong key, context or tampered)");
        goto out;
    }
out:
    if (rc != LS_OK && plen)
        OPENSSL_cleanse(out, plen);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}
