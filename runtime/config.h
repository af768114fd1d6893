/*
 * runtime/config.h -- daemon configuration from flags and environment
 *
 * Implements the flag table of docs/ARCHITECTURE.md ("Fixed interface")
 * exactly: every flag has an environment variable, the flag wins, both
 * "--flag value" and "--flag=value" work, and each daemon accepts only its
 * own flags.  Validation happens here, once, so that a bad value stops the
 * daemon before it touches the database: runtime_config_parse fills
 * err->msg with one line that names the flag, e.g.
 *
 *   --coap: "abc" is not HOST:PORT
 *   --master-key: required; make one with: openssl rand -hex 32
 *
 * and the daemon prints "<program>: <msg>" and exits 2.
 *
 * The master key is held only as 32 bytes; the hex text is never copied,
 * printed, logged or shown as a --help default.  The admin token and any
 * password inside --db are never logged either (runtime_config_log redacts).
 *
 * --static defaults to RUNTIME_CONFIG_STATIC_DIR, a compile-time define set
 * by runtime/meson.build to <source root>/static: the tree is the install
 * until packaging sets it to the packaged location.  Paths given by flag or
 * environment must exist (directories for --static/--models, a readable
 * regular file for --ca-file); the compiled-in default is not checked.
 *
 * Empty environment variables count as unset (docker-compose and systemd
 * files often carry "LODESTAR_MODELS=" placeholders); an empty flag value
 * is an error.
 *
 * INTERFACE ROUTINES
 *   runtime_config_parse   argv + environment -> struct runtime_config
 *   runtime_config_help    the --help text of one daemon
 *   runtime_config_log     one debug line describing the config, no secrets
 *   runtime_config_clear   wipe the key material
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_RUNTIME_CONFIG_H
#define LODESTAR_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "runtime/addr.h"
#include "runtime/err.h"
#include "runtime/log.h"

#define RUNTIME_CONFIG_MASTER_KEY_LEN 32 /* bytes; 64 hex digits on input */

enum runtime_config_daemon {
    RUNTIME_CONFIG_SERVER,      /* lodestar-server */
    RUNTIME_CONFIG_BOOTSTRAP,   /* lodestar-bootstrap */
};

/* What main() should do after a successful parse. */
enum runtime_config_action {
    RUNTIME_CONFIG_RUN,
    RUNTIME_CONFIG_HELP,        /* --help / -h: print runtime_config_help, exit 0 */
    RUNTIME_CONFIG_VERSION,     /* --version: print "<program> <version>", exit 0 */
};

/* A listen address: the text as given (for messages) and its parse. */
struct runtime_config_addr {
    const char *text;           /* borrowed (argv, environ or a literal); NULL = unset */
    struct runtime_addr addr;   /* valid when text != NULL */
};

/*
 * Every string is borrowed from argv, the environment or a static default
 * and stays valid as long as those do (the life of the process for main's
 * argv and environ).  NULL means "not configured".
 */
struct runtime_config {
    enum runtime_config_daemon daemon;
    const char *db;                         /* libpq conninfo; may hold a password */
    struct runtime_config_addr coap;
    struct runtime_config_addr coaps;
    struct runtime_config_addr http;        /* server only */
    struct runtime_config_addr metrics;     /* bootstrap only; text NULL = off */
    const char *static_dir;                 /* server only; an existing directory */
    const char *admin_token;                /* server only; secret, NULL = none */
    const char *models_dir;                 /* existing directory or NULL */
    const char *ca_file;                    /* readable regular file or NULL */
    enum ls_log_level log_level;
    uint8_t master_key[RUNTIME_CONFIG_MASTER_KEY_LEN]; /* secret */
    /* Added in issue 4 (public-key DTLS): the server's own certificate and
     * key, readable regular files or NULL.  Both (with --ca-file): X.509;
     * the key alone: raw public keys (RPK); checked by runtime/coap.c. */
    const char *dtls_cert;
    const char *dtls_key;
    /* Added in issue 6 (bootstrap): --bs-rate-limit, bootstrap requests
     * accepted per endpoint per minute; 0 = no limit. */
    unsigned bs_rate_limit;
    /* Added by CREDWATCH: --issued-ttl, seconds an issued credential may
     * wait for its first registration (the bootstrap daemon sets
     * expires_at, the server revokes it after); 0 = never. */
    int64_t issued_ttl_s;
    /* Added in issue 10 (HTTPS): --http-cert/--http-key, readable regular
     * files (both or neither); with them --http speaks TLS only.
     * --http-insecure allows plain HTTP on a non-loopback --http. */
    const char *http_cert;
    const char *http_key;
    bool http_insecure;
    /* Added in issue 10 (abuse, runtime/ratelimit.h): --reg-rate-limit
     * NoSec Registers per source address per second after a burst of
     * --reg-rate-burst (limit 0 = off); --nosec-max live NoSec
     * registrations (0 = no cap); --dtls-max-handshakes DTLS sessions in
     * handshake at once (0 = libcoap's 100); --dtls-handshake-timeout
     * seconds before a half-open handshake is dropped (0 = libcoap's). */
    unsigned reg_rate_limit;
    unsigned reg_rate_burst;
    unsigned nosec_max;
    unsigned dtls_max_handshakes;
    unsigned dtls_handshake_timeout_s;
    /* Added in issue 10 (secrets at rest, OPS): --rotate-master-key, the
     * key every stored secret is re-encrypted to (store/rekey.h); then
     * lodestar-server exits instead of serving.  Wiped with master_key. */
    bool rotate_master_key;
    uint8_t new_master_key[RUNTIME_CONFIG_MASTER_KEY_LEN]; /* secret */
    /* Added in issue 7 (X.509 issuing, CRED; bootstrap only):
     * --device-ca-cert/--device-ca-key, the device CA (PEM files, both or
     * neither) that signs issued device certificates, valid
     * --device-cert-days; --server-cert, lodestar-server's certificate
     * written as /0/x/4 of issued x509 accounts.  NULL = not configured. */
    const char *device_ca_cert;
    const char *device_ca_key;
    unsigned device_cert_days;
    const char *server_cert;
};

/* "lodestar-server" or "lodestar-bootstrap". */
const char *runtime_config_program(enum runtime_config_daemon daemon);

/* The project version, e.g. "0.1.0" (from meson.build). */
const char *runtime_config_version(void);

/*
 * runtime_config_parse -- build the configuration of one daemon.
 *
 * argc, argv   As main() got them; argv[0] is skipped.  Borrowed (see above).
 * envp         NULL-terminated "NAME=value" array to read LODESTAR_* from;
 *              NULL means the process environment.  Borrowed.
 * cfg          Filled on success; on failure its key is wiped and the rest
 *              is unspecified.
 * action       What to do next (run, print help, print version).
 * err          On failure err->msg is the one-line message naming the flag.
 *
 * Returns LS_OK or LS_EINVAL.  A --help or --version anywhere wins over
 * other errors on the line, so "--help" always works.
 */
enum ls_rc runtime_config_parse(struct runtime_config *cfg,
                                enum runtime_config_daemon daemon,
                                int argc, char *const argv[],
                                char *const envp[],
                                enum runtime_config_action *action,
                                struct ls_error *err) LS_MUST_CHECK;

/* Writes the --help text of daemon to out: usage, then one entry per flag
 * with its environment variable and default. */
void runtime_config_help(FILE *out, enum runtime_config_daemon daemon);

/* Writes docs/configuration.md: both daemons' flags, environment variables
 * and defaults from the same table as runtime_config_help
 * (tools/config_markdown prints it; the configuration_md test compares). */
void runtime_config_markdown(FILE *out);

/* Logs event=config at debug level: addresses, directories, log level, the
 * db conninfo with any password replaced by "***", master_key=set and
 * admin_token=set|unset.  Never a secret. */
void runtime_config_log(const struct runtime_config *cfg);

/* Wipes the master keys (explicit_bzero); safe to call twice. */
void runtime_config_clear(struct runtime_config *cfg);

/*
 * runtime_config_redact_conninfo -- copy conninfo with passwords hidden.
 *
 * Handles keyword/value strings ("password=x", "password='a b'") and URIs
 * ("postgresql://user:secret@host/db" and "?password=x").  buf/cap: the
 * caller's buffer, always NUL-terminated.  Returns buf.
 */
char *runtime_config_redact_conninfo(const char *conninfo, char *buf, size_t cap);

#endif /* LODESTAR_RUNTIME_CONFIG_H */
