/*
 * tests/unit/store/test_secret.c -- store/secret.c
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <check.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "store/secret.h"

static const char *const key_hex_a =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char *const key_hex_b =
    "F00102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";

static struct store_secret_key load(const char *hex)
{
    struct store_secret_key k;
    struct ls_error err = { 0 };
    ck_assert_msg(store_secret_key_from_hex(hex, &k, &err) == LS_OK, "%s", err.msg);
    return k;
}

/* ---- store_secret_key_from_hex ---- */

static const struct {
    const char *hex;
    int ok;
} hex_cases[] = {
    { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1 },
    { "F00102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", 1 },
    { "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 1 },
    { "", 0 },
    { "00", 0 },
    /* 63 and 65 characters */
    { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", 0 },
    { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0", 0 },
    { "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0 },
    { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", 0 },
    { " 00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0 },
    { "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0 },
    { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e-f", 0 },
    /* 128 characters: a 64-byte key is not a 32-byte key */
    { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 0 },
};

START_TEST(test_store_secret_key_from_hex_table)
{
    struct store_secret_key k;
    struct ls_error err = { 0 };
    memset(&k, 0xAA, sizeof k);
    enum ls_rc rc = store_secret_key_from_hex(hex_cases[_i].hex, &k, &err);
    if (hex_cases[_i].ok) {
        ck_assert_msg(rc == LS_OK, "refused \"%s\": %s", hex_cases[_i].hex, err.msg);
        return;
    }
    ck_assert_msg(rc == LS_EINVAL, "accepted \"%s\"", hex_cases[_i].hex);
    ck_assert_str_ne(err.msg, "");
    /* A refused key leaves nothing of itself behind. */
    static const struct store_secret_key zero;
    ck_assert_mem_eq(&k, &zero, sizeof k);
}
END_TEST

START_TEST(test_store_secret_key_from_hex_null)
{
    struct store_secret_key k;
    ck_assert_int_eq(store_secret_key_from_hex(NULL, &k, NULL), LS_EINVAL);
}
END_TEST

START_TEST(test_store_secret_key_from_hex_bytes_and_id)
{
    struct store_secret_key k = load(key_hex_a);
    for (unsigned i = 0; i < STORE_SECRET_KEY_LEN; i++)
        ck_assert_uint_eq(k.key[i], i);

    /* The documented derivation: SHA-256("lodestar-key-id" || key)[0..3], BE. */
    uint8_t buf[15 + STORE_SECRET_KEY_LEN], md[SHA256_DIGEST_LENGTH];
    memcpy(buf, "lodestar-key-id", 15);
    memcpy(buf + 15, k.key, STORE_SECRET_KEY_LEN);
    SHA256(buf, sizeof buf, md);
    uint32_t want = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 |
                    (uint32_t)md[2] << 8 | md[3];
    ck_assert_uint_eq(k.id, want);

    struct store_secret_key k2 = load(key_hex_b);
    ck_assert_uint_ne(k.id, k2.id);
    /* Case does not matter. */
    struct store_secret_key upper = load(
        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    ck_assert_uint_eq(upper.id, k.id);
}
END_TEST

/* ---- store_secret_seal / store_secret_open ---- */

static const size_t lengths[] = { 0, 1, 15, 16, 17, 32, 255, 4096 };

START_TEST(test_store_secret_seal_round_trip)
{
    struct store_secret_key k = load(key_hex_a);
    size_t len = lengths[_i];
    uint8_t *plain = malloc(len + 1), *blob = malloc(len + STORE_SECRET_OVERHEAD),
            *back = malloc(len + 1);
    struct ls_error err = { 0 };
    for (size_t i = 0; i < len; i++)
        plain[i] = (uint8_t)(i * 7 + 3);

    ck_assert_int_eq(store_secret_seal(&k, plain, len, "credential:42", blob, &err), LS_OK);
    if (len)
        ck_assert_mem_ne(blob + 12, plain, len);
    ck_assert_int_eq(store_secret_open(&k, blob, len + STORE_SECRET_OVERHEAD,
                                       "credential:42", back, &err), LS_OK);
    if (len)
        ck_assert_mem_eq(back, plain, len);
    free(plain);
    free(blob);
    free(back);
}
END_TEST

START_TEST(test_store_secret_seal_fresh_nonce)
{
    struct store_secret_key k = load(key_hex_a);
    static const uint8_t plain[16] = "sixteen byte key";
    uint8_t b1[16 + STORE_SECRET_OVERHEAD], b2[sizeof b1];
    ck_assert_int_eq(store_secret_seal(&k, plain, 16, "a", b1, NULL), LS_OK);
    ck_assert_int_eq(store_secret_seal(&k, plain, 16, "a", b2, NULL), LS_OK);
    ck_assert_mem_ne(b1, b2, 12);          /* nonce */
    ck_assert_mem_ne(b1 + 12, b2 + 12, 16); /* hence ciphertext */
}
END_TEST

START_TEST(test_store_secret_seal_null_ad_is_empty)
{
    struct store_secret_key k = load(key_hex_a);
    static const uint8_t plain[4] = { 1, 2, 3, 4 };
    uint8_t blob[4 + STORE_SECRET_OVERHEAD], back[4];
    ck_assert_int_eq(store_secret_seal(&k, plain, 4, NULL, blob, NULL), LS_OK);
    ck_assert_int_eq(store_secret_open(&k, blob, sizeof blob, "", back, NULL), LS_OK);
    ck_assert_mem_eq(back, plain, 4);
}
END_TEST

/* A fixed sealed blob of 20 plaintext bytes under key a, ad "credential:7". */
struct sealed {
    struct store_secret_key k;
    uint8_t plain[20];
    uint8_t blob[20 + STORE_SECRET_OVERHEAD];
};

static struct sealed make_sealed(void)
{
    struct sealed s;
    s.k = load(key_hex_a);
    for (unsigned i = 0; i < sizeof s.plain; i++)
        s.plain[i] = (uint8_t)(0xC0 + i);
    ck_assert_int_eq(store_secret_seal(&s.k, s.plain, sizeof s.plain, "credential:7",
                                       s.blob, NULL), LS_OK);
    return s;
}

/* out is pre-filled with garbage: a refusal must leave it zeroed. */
static void assert_refused(const struct store_secret_key *k, const uint8_t *blob,
                           size_t len, const char *ad)
{
    uint8_t out[64];
    struct ls_error err = { 0 };
    memset(out, 0xAA, sizeof out);
    ck_assert_int_eq(store_secret_open(k, blob, len, ad, out, &err), LS_EPROTO);
    ck_assert_str_ne(err.msg, "");
    if (len >= STORE_SECRET_OVERHEAD)
        for (size_t i = 0; i < len - STORE_SECRET_OVERHEAD; i++)
            ck_assert_uint_eq(out[i], 0);
}

START_TEST(test_store_secret_open_wrong_key)
{
    struct sealed s = make_sealed();
    struct store_secret_key other = load(key_hex_b);
    assert_refused(&other, s.blob, sizeof s.blob, "credential:7");
    /* One flipped key bit is as wrong as any other key. */
    struct store_secret_key near = s.k;
    near.key[31] ^= 1;
    assert_refused(&near, s.blob, sizeof s.blob, "credential:7");
}
END_TEST

START_TEST(test_store_secret_open_different_ad)
{
    struct sealed s = make_sealed();
    assert_refused(&s.k, s.blob, sizeof s.blob, "credential:8");
    assert_refused(&s.k, s.blob, sizeof s.blob, "credential:7 ");
    assert_refused(&s.k, s.blob, sizeof s.blob, "");
    assert_refused(&s.k, s.blob, sizeof s.blob, NULL);
}
END_TEST

/* Every byte of the blob -- nonce, ciphertext and tag -- is covered. */
START_TEST(test_store_secret_open_tampered_byte)
{
    struct sealed s = make_sealed();
    s.blob[_i] ^= 0x01;
    assert_refused(&s.k, s.blob, sizeof s.blob, "credential:7");
    s.blob[_i] ^= 0x81;
    assert_refused(&s.k, s.blob, sizeof s.blob, "credential:7");
}
END_TEST

START_TEST(test_store_secret_open_truncated_or_extended)
{
    struct sealed s = make_sealed();
    /* Cut the tag short, drop the ciphertext's last byte, or append one. */
    assert_refused(&s.k, s.blob, sizeof s.blob - 1, "credential:7");
    assert_refused(&s.k, s.blob, STORE_SECRET_OVERHEAD, "credential:7");
    assert_refused(&s.k, s.blob, STORE_SECRET_OVERHEAD - 1, "credential:7");
    assert_refused(&s.k, s.blob, 0, "credential:7");
    uint8_t longer[sizeof s.blob + 1];
    memcpy(longer, s.blob, sizeof s.blob);
    longer[sizeof s.blob] = 0;
    assert_refused(&s.k, longer, sizeof longer, "credential:7");
    /* And the untouched blob still opens. */
    uint8_t out[20];
    ck_assert_int_eq(store_secret_open(&s.k, s.blob, sizeof s.blob, "credential:7",
                                       out, NULL), LS_OK);
    ck_assert_mem_eq(out, s.plain, sizeof out);
}
END_TEST

START_TEST(test_store_secret_open_swapped_blobs)
{
    /* A blob copied to another row opens only under its own ad. */
    struct sealed a = make_sealed();
    uint8_t b[20 + STORE_SECRET_OVERHEAD], out[20];
    ck_assert_int_eq(store_secret_seal(&a.k, a.plain, 20, "credential:8", b, NULL), LS_OK);
    assert_refused(&a.k, b, sizeof b, "credential:7");
    ck_assert_int_eq(store_secret_open(&a.k, b, sizeof b, "credential:8", out, NULL), LS_OK);
}
END_TEST

static Suite *secret_suite(void)
{
    Suite *s = suite_create("store_secret");
    TCase *tc = tcase_create("store_secret_key_from_hex");
    tcase_add_loop_test(tc, test_store_secret_key_from_hex_table, 0,
                        sizeof hex_cases / sizeof hex_cases[0]);
    tcase_add_test(tc, test_store_secret_key_from_hex_null);
    tcase_add_test(tc, test_store_secret_key_from_hex_bytes_and_id);
    suite_add_tcase(s, tc);

    tc = tcase_create("store_secret_seal");
    tcase_add_loop_test(tc, test_store_secret_seal_round_trip, 0,
                        sizeof lengths / sizeof lengths[0]);
    tcase_add_test(tc, test_store_secret_seal_fresh_nonce);
    tcase_add_test(tc, test_store_secret_seal_null_ad_is_empty);
    suite_add_tcase(s, tc);

    tc = tcase_create("store_secret_open");
    tcase_add_test(tc, test_store_secret_open_wrong_key);
    tcase_add_test(tc, test_store_secret_open_different_ad);
    tcase_add_loop_test(tc, test_store_secret_open_tampered_byte, 0,
                        20 + STORE_SECRET_OVERHEAD);
    tcase_add_test(tc, test_store_secret_open_truncated_or_extended);
    tcase_add_test(tc, test_store_secret_open_swapped_blobs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(secret_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
