/*
 * bootstrap/x509.c -- the device CA: issued key pairs and certificates for
 * x509 server accounts; see x509.h
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "bootstrap/x509.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKEW_S 300              /* notBefore this far back: device clocks drift */
#define SERIAL_BYTES 16

struct bootstrap_x509 {
    X509 *ca;                   /* NULL: nothing can be issued */
    EVP_PKEY *ca_key;
    unsigned days;
    uint8_t *server_cert;       /* DER; NULL when not configured */
    size_t server_cert_len;
};

/* The first OpenSSL error as text after what. */
static enum ls_rc ssl_fail(struct ls_error *err, enum ls_rc rc, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return ls_error_set(err, rc, "%s%s%s", what, e ? ": " : "", e ? buf : "");
}

static X509 *read_cert(const char *path, struct ls_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ls_error_set(err, LS_EINVAL, "%s: cannot open", path);
        return NULL;
    }
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!c)
        ssl_fail(err, LS_EINVAL, "not a PEM certificate");
    return c;
}

static EVP_PKEY *read_key(const char *path, struct ls_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        ls_error_set(err, LS_EINVAL, "%s: cannot open", path);
        return NULL;
    }
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!k)
        ssl_fail(err, LS_EINVAL, "not a PEM private key");
    return k;
}

/* c as DER into a new buffer. */
static enum ls_rc cert_der(X509 *c, uint8_t **out, size_t *len, struct ls_error *err)
{
    int n = i2d_X509(c, NULL);
    if (n <= 0)
        return ssl_fail(err, LS_EIO, "certificate to DER");
    uint8_t *buf = malloc((size_t)n), *p = buf;
    if (!buf)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    if (i2d_X509(c, &p) != n) {
        free(buf);
        return ssl_fail(err, LS_EIO, "certificate to DER");
    }
    *out = buf;
    *len = (size_t)n;
    return LS_OK;
}

static enum ls_rc load_ca(struct bootstrap_x509 *x, const char *ca_cert, const char *ca_key,
                          struct ls_error *err)
{
    if (!ca_cert != !ca_key)
        return ls_error_set(err, LS_EINVAL, "%s: needs %s too",
                            ca_cert ? "--device-ca-cert" : "--device-ca-key",
                            ca_cert ? "--device-ca-key" : "--device-ca-cert");
    if (!ca_cert)
        return LS_OK;
    if (!(x->ca = read_cert(ca_cert, err))) {
        ls_error_prefix(err, "--device-ca-cert %s", ca_cert);
        return LS_EINVAL;
    }
    if (!(x->ca_key = read_key(ca_key, err))) {
        ls_error_prefix(err, "--device-ca-key %s", ca_key);
        return LS_EINVAL;
    }
    if (X509_check_private_key(x->ca, x->ca_key) != 1)
        return ssl_fail(err, LS_EINVAL,
                        "--device-ca-key: the key does not match --device-ca-cert");
    return LS_OK;
}

enum ls_rc bootstrap_x509_load(const char *ca_cert, const char *ca_key,
                               const char *server_cert, unsigned days,
                               struct bootstrap_x509 **out, struct ls_error *err)
{
    *out = NULL;
    if (!ca_cert && !ca_key && !server_cert)
        return LS_OK;
    struct bootstrap_x509 *x = calloc(1, sizeof *x);
    if (!x)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    x->days = days ? days : 365;
    enum ls_rc rc = load_ca(x, ca_cert, ca_key, err);
    if (rc == LS_OK && server_cert) {
        X509 *sc = read_cert(server_cert, err);
        rc = sc ? cert_der(sc, &x->server_cert, &x->server_cert_len, err) : LS_EINVAL;
        if (rc != LS_OK)
            ls_error_prefix(err, "--server-cert %s", server_cert);
        X509_free(sc);
    }
    if (rc != LS_OK) {
        bootstrap_x509_free(x);
        return rc;
    }
    *out = x;
    return LS_OK;
}

void bootstrap_x509_free(struct bootstrap_x509 *x)
{
    if (!x)
        return;
    X509_free(x->ca);
    EVP_PKEY_free(x->ca_key);
    free(x->server_cert);
    free(x);
}

bool bootstrap_x509_can_issue(const struct bootstrap_x509 *x)
{
    return x && x->ca && x->ca_key;
}

const uint8_t *bootstrap_x509_server_cert(const struct bootstrap_x509 *x, size_t *len)
{
    *len = x ? x->server_cert_len : 0;
    return x ? x->server_cert : NULL;
}

void bootstrap_x509_cert_id(const uint8_t *der, size_t len,
                            char out[BOOTSTRAP_X509_ID_LEN + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    out[0] = '\0';
    if (!EVP_Digest(der, len, md, &n, EVP_sha256(), NULL) || n < 16)
        return;
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < 16; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* A random positive serial of SERIAL_BYTES bytes. */
static bool set_serial(X509 *c)
{
    uint8_t raw[SERIAL_BYTES];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    raw[0] = (uint8_t)((raw[0] & 0x7f) | 0x01);   /* positive, never shorter */
    BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    bool ok = ai && X509_set_serialNumber(c, ai) == 1;
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return ok;
}

static bool add_ext(X509 *c, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, c, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = e && X509_add_ext(c, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* The unsigned-then-signed certificate of key for cn. */
static X509 *make_cert(const struct bootstrap_x509 *x, EVP_PKEY *key, const char *cn)
{
    X509 *c = X509_new();
    X509_NAME *name = c ? X509_get_subject_name(c) : NULL;
    bool ok = c && name && X509_set_version(c, 2) == 1 && set_serial(c) &&
              X509_gmtime_adj(X509_getm_notBefore(c), -SKEW_S) &&
              X509_gmtime_adj(X509_getm_notAfter(c), (long)x->days * 86400L) &&
              X509_set_pubkey(c, key) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const uint8_t *)cn, -1,
                                         -1, 0) == 1 &&
              X509_set_issuer_name(c, X509_get_subject_name(x->ca)) == 1 &&
              add_ext(c, x->ca, NID_basic_constraints, "critical,CA:FALSE") &&
              add_ext(c, x->ca, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
              add_ext(c, x->ca, NID_ext_key_usage, "clientAuth") &&
              add_ext(c, x->ca, NID_subject_key_identifier, "hash") &&
              add_ext(c, x->ca, NID_authority_key_identifier, "keyid") &&
              X509_sign(c, x->ca_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

/* key as PKCS#8 DER into out (wiped when freed). */
static enum ls_rc key_der(EVP_PKEY *key, struct bootstrap_x509_issued *out,
                          struct ls_error *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
    uint8_t *p = n > 0 ? malloc((size_t)n) : NULL;
    out->key = p;
    if (p && i2d_PKCS8_PRIV_KEY_INFO(p8, &p) == n)
        out->key_len = (size_t)n;
    PKCS8_PRIV_KEY_INFO_free(p8);
    return out->key_len ? LS_OK : ssl_fail(err, LS_EIO, "private key to PKCS#8");
}

static enum ls_rc cert_pem(X509 *c, struct bootstrap_x509_issued *out, struct ls_error *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = bio && PEM_write_bio_X509(bio, c) == 1 ? BIO_get_mem_data(bio, &data) : 0;
    if (n > 0 && (out->cert_pem = malloc((size_t)n + 1))) {
        memcpy(out->cert_pem, data, (size_t)n);
        out->cert_pem[n] = '\0';
    }
    BIO_free(bio);
    return out->cert_pem ? LS_OK : ssl_fail(err, LS_EIO, "certificate to PEM");
}

enum ls_rc bootstrap_x509_issue(const struct bootstrap_x509 *x, const char *cn,
                                struct bootstrap_x509_issued *out, struct ls_error *err)
{
    memset(out, 0, sizeof *out);
    if (!bootstrap_x509_can_issue(x))
        return ls_error_set(err, LS_EIO, "x509 credentials to issue but no device CA "
                            "(--device-ca-cert, --device-ca-key)");
    size_t n = strlen(cn);
    if (n == 0 || n > BOOTSTRAP_X509_CN_MAX)
        return ls_error_set(err, LS_EINVAL, "endpoint name of %zu bytes cannot be a "
                            "certificate CN (1..%d)", n, BOOTSTRAP_X509_CN_MAX);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!key)
        return ssl_fail(err, LS_EIO, "EC P-256 key generation");
    X509 *c = make_cert(x, key, cn);
    enum ls_rc rc = c ? LS_OK : ssl_fail(err, LS_EIO, "certificate signing");
    if (rc == LS_OK)
        rc = cert_der(c, &out->cert, &out->cert_len, err);
    if (rc == LS_OK)
        rc = key_der(key, out, err);
    if (rc == LS_OK)
        rc = cert_pem(c, out, err);
    if (rc == LS_OK)
        bootstrap_x509_cert_id(out->cert, out->cert_len, out->id);
    X509_free(c);
    EVP_PKEY_free(key);
    return rc;
}

void bootstrap_x509_issued_clear(struct bootstrap_x509_issued *is)
{
    if (!is)
        return;
    if (is->key)
        explicit_bzero(is->key, is->key_len);
    free(is->key);
    free(is->cert);
    free(is->cert_pem);
    memset(is, 0, sizeof *is);
}
