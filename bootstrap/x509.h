/*
 * bootstrap/x509.h -- Lodestar's device CA: a fresh key pair and a signed
 * certificate per bootstrap for x509 server accounts whose configuration
 * says "credentials": "issue" (issue 7)
 *
 * lodestar-bootstrap loads the CA (--device-ca-cert, --device-ca-key, PEM)
 * at start.  Each issue makes an EC P-256 key pair (OpenSSL EVP), and a v3
 * certificate: subject CN = the endpoint name, issuer = the CA's subject,
 * a random 127-bit serial, valid from 5 minutes ago (clock skew) for
 * --device-cert-days days, CA:FALSE, digitalSignature, clientAuth, signed
 * with SHA-256.  The private key leaves as PKCS#8 DER (a secret: wiped by
 * bootstrap_x509_issued_clear); the certificate as DER and PEM, and as its
 * id "sha256:<hex of the first 16 bytes of SHA-256(certificate DER)>": the
 * credential's identity, which lodestar-server derives the same way from
 * the certificate a device presents (runtime/coap.h, cert id).
 *
 * --server-cert (PEM, optional) is lodestar-server's certificate, written
 * as Server Public Key (/0/x/4) of the issued accounts.
 *
 * Thread-safe after load: issues run on the database threads.
 *
 * INTERFACE ROUTINES
 *   bootstrap_x509_load          read the CA (and server certificate)
 *   bootstrap_x509_free
 *   bootstrap_x509_can_issue     a CA is configured
 *   bootstrap_x509_server_cert   the server certificate DER, or NULL
 *   bootstrap_x509_issue         key pair + certificate for one endpoint
 *   bootstrap_x509_issued_clear  wipe and free an issue's buffers
 *   bootstrap_x509_cert_id       the id of a certificate DER
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_BOOTSTRAP_X509_H
#define LODESTAR_BOOTSTRAP_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

#define BOOTSTRAP_X509_ID_LEN 39        /* "sha256:" + 32 hex digits */
#define BOOTSTRAP_X509_CN_MAX 64        /* X.520 ub-common-name */

struct bootstrap_x509;

struct bootstrap_x509_issued {
    uint8_t *cert;                      /* device certificate, DER; owned */
    size_t cert_len;
    uint8_t *key;                       /* private key, PKCS#8 DER; owned, secret */
    size_t key_len;
    char *cert_pem;                     /* the certificate, PEM; owned */
    char id[BOOTSTRAP_X509_ID_LEN + 1]; /* "sha256:..." */
};

/*
 * bootstrap_x509_load -- ca_cert and ca_key both or neither (then nothing
 * can be issued); server_cert may be NULL.  days: validity, >= 1.  *out is
 * NULL when none of the files is given.  LS_EINVAL: a file that does not
 * read as PEM, a key that does not match the certificate, one of the pair
 * missing.
 */
enum ls_rc bootstrap_x509_load(const char *ca_cert, const char *ca_key,
                               const char *server_cert, unsigned days,
                               struct bootstrap_x509 **out, struct ls_error *err) LS_MUST_CHECK;
void bootstrap_x509_free(struct bootstrap_x509 *x);

bool bootstrap_x509_can_issue(const struct bootstrap_x509 *x);

/* The --server-cert certificate as DER (borrowed), or NULL. */
const uint8_t *bootstrap_x509_server_cert(const struct bootstrap_x509 *x, size_t *len);

/*
 * bootstrap_x509_issue -- a fresh key pair and certificate for cn (the
 * endpoint name, 1..64 bytes).  out is filled (clear it after use, also
 * after failure).  LS_EIO: no CA (x NULL or without one: our
 * configuration), an OpenSSL failure; LS_EINVAL: a CN too long.
 */
enum ls_rc bootstrap_x509_issue(const struct bootstrap_x509 *x, const char *cn,
                                struct bootstrap_x509_issued *out,
                                struct ls_error *err) LS_MUST_CHECK;
void bootstrap_x509_issued_clear(struct bootstrap_x509_issued *is);

/* "sha256:" + hex of the first 16 bytes of SHA-256(der) into out. */
void bootstrap_x509_cert_id(const uint8_t *der, size_t len,
                            char out[BOOTSTRAP_X509_ID_LEN + 1]);

#endif /* LODESTAR_BOOTSTRAP_X509_H */
