/*
 * runtime/config.c -- daemon configuration from flags and environment
 *
 * One static table describes every option (flag, env var, argument name,
 * kind, which daemons have it, defaults); parsing, validation, --help and
 * the debug log line are all driven from it, so they cannot disagree.
 * getopt_long was rejected: it accepts unique prefixes ("--mast"), prints
 * its own multi-line errors and keeps global state that tests must reset.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "runtime/config.h"

#include <errno.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LODESTAR_VERSION
#error "LODESTAR_VERSION must be set by runtime/meson.build"
#endif
#ifndef RUNTIME_CONFIG_STATIC_DIR
#error "RUNTIME_CONFIG_STATIC_DIR must be set by runtime/meson.build"
#endif

extern char **environ;

enum opt_id {
    OPT_DB, OPT_COAP, OPT_COAPS, OPT_HTTP, OPT_STATIC, OPT_MASTER_KEY,
    OPT_ADMIN_TOKEN, OPT_MODELS, OPT_LOG_LEVEL, OPT_CA_FILE, OPT_METRICS,
    OPT_DTLS_CERT, OPT_DTLS_KEY, OPT_BS_RATE_LIMIT,
    OPT_HTTP_CERT, OPT_HTTP_KEY, OPT_HTTP_INSECURE, OPT_ISSUED_TTL,
    OPT_REG_RATE_LIMIT, OPT_REG_RATE_BURST, OPT_NOSEC_MAX,        /* issue 10 (ABUSE) */
    OPT_DTLS_MAX_HANDSHAKES, OPT_DTLS_HANDSHAKE_TIMEOUT,          /* issue 10 (ABUSE) */
    OPT_ROTATE_MASTER_KEY,                                        /* issue 10 (OPS) */
    OPT_DEVICE_CA_CERT, OPT_DEVICE_CA_KEY, OPT_DEVICE_CERT_DAYS,  /* issue 7 (CRED) */
    OPT_SERVER_CERT,                                              /* issue 7 (CRED) */
    OPT_COUNT
};

/* KIND_BOOL (issue 10): a flag without a value ("--http-insecure"); its
 * environment variable takes 1/true/yes or 0/false/no. */
enum opt_kind { KIND_STRING, KIND_ADDR, KIND_DIR, KIND_FILE, KIND_LEVEL, KIND_KEY, KIND_UINT,
                KIND_BOOL };

#define FOR_SERVER    (1u << RUNTIME_CONFIG_SERVER)
#define FOR_BOOTSTRAP (1u << RUNTIME_CONFIG_BOOTSTRAP)
#define FOR_BOTH      (FOR_SERVER | FOR_BOOTSTRAP)

struct opt {
    const char *flag;           /* "--db" */
    const char *env;            /* "LODESTAR_DB" */
    const char *arg;            /* argument name in --help */
    enum opt_kind kind;
    unsigned daemons;           /* FOR_* mask */
    const char *def[2];         /* default per daemon; NULL = none */
    const char *help;           /* one line for --help */
};

static const struct opt opts[OPT_COUNT] = {
    [OPT_DB] = { "--db", "LODESTAR_DB", "CONNINFO", KIND_STRING, FOR_BOTH,
        { "dbname=lodestar", "dbname=lodestar" },
        "PostgreSQL connection string (libpq keyword=value or URI)" },
    [OPT_COAP] = { "--coap", "LODESTAR_COAP", "HOST:PORT", KIND_ADDR, FOR_BOTH,
        { "[::]:5683", "[::]:5783" }, "CoAP (UDP, no security) listen address" },
    [OPT_COAPS] = { "--coaps", "LODESTAR_COAPS", "HOST:PORT", KIND_ADDR, FOR_BOTH,
        { "[::]:5684", "[::]:5784" }, "CoAPS (DTLS) listen address" },
    [OPT_HTTP] = { "--http", "LODESTAR_HTTP", "HOST:PORT", KIND_ADDR, FOR_SERVER,
        { "127.0.0.1:8080", NULL }, "HTTP API and dashboard listen address (port 0: pick one)" },
    [OPT_STATIC] = { "--static", "LODESTAR_STATIC", "DIR", KIND_DIR, FOR_SERVER,
        { RUNTIME_CONFIG_STATIC_DIR, NULL }, "directory of the browser dashboard served at /" },
    [OPT_MASTER_KEY] = { "--master-key", "LODESTAR_MASTER_KEY", "HEX64", KIND_KEY,
        FOR_BOTH, { NULL, NULL },
        "32-byte key (64 hex digits, or @FILE holding them) that encrypts stored secrets; "
        "required" },
    [OPT_ADMIN_TOKEN] = { "--admin-token", "LODESTAR_ADMIN_TOKEN", "TOKEN", KIND_STRING,
        FOR_SERVER, { NULL, NULL }, "ensure an admin API token with this secret exists" },
    [OPT_MODELS] = { "--models", "LODESTAR_MODELS", "DIR", KIND_DIR, FOR_BOTH,
        { NULL, NULL }, "directory of extra DDF XML object models" },
    [OPT_LOG_LEVEL] = { "--log-level", "LODESTAR_LOG_LEVEL", "LEVEL", KIND_LEVEL, FOR_BOTH,
        { "info", "info" }, "error, warn, info or debug" },
    [OPT_CA_FILE] = { "--ca-file", "LODESTAR_CA_FILE", "FILE", KIND_FILE, FOR_BOTH,
        { NULL, NULL }, "CA bundle (PEM) for X.509 device certificates" },
    [OPT_METRICS] = { "--metrics", "LODESTAR_METRICS", "HOST:PORT", KIND_ADDR, FOR_BOOTSTRAP,
        { NULL, NULL }, "Prometheus /metrics listen address (port 0: pick one)" },
    [OPT_DTLS_CERT] = { "--dtls-cert", "LODESTAR_DTLS_CERT", "FILE", KIND_FILE, FOR_BOTH,
        { NULL, NULL }, "server certificate (PEM) for X.509 DTLS; with --dtls-key and --ca-file" },
    [OPT_DTLS_KEY] = { "--dtls-key", "LODESTAR_DTLS_KEY", "FILE", KIND_FILE, FOR_BOTH,
        { NULL, NULL }, "private key (PEM) of --dtls-cert" },
    [OPT_BS_RATE_LIMIT] = { "--bs-rate-limit", "LODESTAR_BS_RATE_LIMIT", "N", KIND_UINT,
        FOR_BOOTSTRAP, { NULL, "30" },
        "bootstrap requests accepted per endpoint per minute (more: 4.29); 0 = no limit" },
    [OPT_HTTP_CERT] = { "--http-cert", "LODESTAR_HTTP_CERT", "FILE", KIND_FILE, FOR_SERVER,
        { NULL, NULL }, "certificate chain (PEM) to serve --http over TLS; with --http-key" },
    [OPT_HTTP_KEY] = { "--http-key", "LODESTAR_HTTP_KEY", "FILE", KIND_FILE, FOR_SERVER,
        { NULL, NULL }, "private key (PEM) of --http-cert" },
    [OPT_HTTP_INSECURE] = { "--http-insecure", "LODESTAR_HTTP_INSECURE", "", KIND_BOOL,
        FOR_SERVER, { NULL, NULL },
        "allow plain HTTP on a non-loopback --http (without it: --http-cert/--http-key)" },
    [OPT_ISSUED_TTL] = { "--issued-ttl", "LODESTAR_ISSUED_TTL", "SECONDS", KIND_UINT, FOR_BOTH,
        { "86400", "86400" },
        "issued credentials never used to register expire after this; 0 = never" },
    /* Issue 10 (abuse): registration spam and DTLS handshake floods. */
    [OPT_REG_RATE_LIMIT] = { "--reg-rate-limit", "LODESTAR_REG_RATE_LIMIT", "N", KIND_UINT,
        FOR_SERVER, { "100", NULL },
        "NoSec Registers accepted per source address (IPv6: per /64) per second, beyond "
        "--reg-rate-burst (more: 4.29 with Max-Age); 0 = no limit" },
    [OPT_REG_RATE_BURST] = { "--reg-rate-burst", "LODESTAR_REG_RATE_BURST", "N", KIND_UINT,
        FOR_SERVER, { "2000", NULL },
        "NoSec Registers one source address may send at once before --reg-rate-limit applies "
        "(a non-transparent UDP proxy is one address)" },
    [OPT_NOSEC_MAX] = { "--nosec-max", "LODESTAR_NOSEC_MAX", "N", KIND_UINT, FOR_SERVER,
        { "0", NULL },
        "live NoSec (unauthenticated) registrations at most; a new NoSec endpoint beyond it "
        "gets 5.03 with Max-Age 60; 0 = no cap" },
    [OPT_DTLS_MAX_HANDSHAKES] = { "--dtls-max-handshakes", "LODESTAR_DTLS_MAX_HANDSHAKES", "N",
        KIND_UINT, FOR_BOTH, { "1000", "1000" },
        "DTLS sessions in handshake at once (more ClientHellos are dropped); 0 = libcoap's 100" },
    [OPT_DTLS_HANDSHAKE_TIMEOUT] = { "--dtls-handshake-timeout", "LODESTAR_DTLS_HANDSHAKE_TIMEOUT",
        "SECONDS", KIND_UINT, FOR_BOTH, { "15", "15" },
        "a DTLS handshake not finished after this is dropped and its state freed; "
        "0 = libcoap's own (about 30 s)" },
    /* Issue 10 (secrets at rest, OPS): a one-shot command, not a setting. */
    [OPT_ROTATE_MASTER_KEY] = { "--rotate-master-key", "LODESTAR_ROTATE_MASTER_KEY",
        "HEX64", KIND_KEY, FOR_SERVER, { NULL, NULL },
        "re-encrypt every stored secret from --master-key to this key (64 hex digits, or "
        "@FILE) in one transaction, then exit without serving (docs/operations.md)" },
    /* Issue 7 (X.509 issuing, CRED): the device CA lodestar-bootstrap signs
     * the certificates of "credentials": "issue" x509 accounts with. */
    [OPT_DEVICE_CA_CERT] = { "--device-ca-cert", "LODESTAR_DEVICE_CA_CERT", "FILE", KIND_FILE,
        FOR_BOOTSTRAP, { NULL, NULL },
        "device CA certificate (PEM): issuer of the certificates issued for x509 server "
        "accounts (with --device-ca-key; docs/bootstrap.md)" },
    [OPT_DEVICE_CA_KEY] = { "--device-ca-key", "LODESTAR_DEVICE_CA_KEY", "FILE", KIND_FILE,
        FOR_BOOTSTRAP, { NULL, NULL },
        "the device CA's private key (PEM); a secret: keep the file readable by the daemon only" },
    [OPT_DEVICE_CERT_DAYS] = { "--device-cert-days", "LODESTAR_DEVICE_CERT_DAYS", "DAYS",
        KIND_UINT, FOR_BOOTSTRAP, { NULL, "365" },
        "validity of an issued device certificate, in days (1..36500)" },
    [OPT_SERVER_CERT] = { "--server-cert", "LODESTAR_SERVER_CERT", "FILE", KIND_FILE,
        FOR_BOOTSTRAP, { NULL, NULL },
        "lodestar-server's DTLS certificate (PEM), written as Server Public Key /0/x/4 of "
        "issued x509 accounts; unset: the configuration's server_public_key, if any" },
};

/* Settings that have only an environment variable (read where they are
 * used, e.g. server/commands.c); listed here so that --help and
 * docs/configuration.md (runtime_config_markdown) show them too.  The
 * defaults repeat the constants of the code that reads them. */
struct env_only {
    const char *env;
    unsigned daemons;           /* FOR_* mask */
    const char *def;
    const char *help;
};

static const struct env_only env_only[] = {
    { "LODESTAR_QUEUE_AWAKE_MS", FOR_SERVER, "93000",
      "ms a queue-mode device stays reachable after it talks (SERVER_COMMANDS_AWAKE_MS)" },
    { "LODESTAR_COMMAND_TTL", FOR_SERVER, "86400",
      "seconds a queued command lives without its own \"ttl\" (SERVER_COMMANDS_TTL_DEFAULT_S)" },
    { "LODESTAR_STORE_QUEUE", FOR_SERVER, "50000",
      "store operations (Registers, Updates, Sends, notifications) waiting for the database at "
      "most; beyond it the device gets 5.03 with Max-Age (store/registrations.c)" },
};

#define N_ENV_ONLY (sizeof env_only / sizeof env_only[0])

enum source { SRC_NONE, SRC_FLAG, SRC_ENV, SRC_DEFAULT };

/* The raw text of every option and where it came from, before validation. */
struct raw {
    const char *val[OPT_COUNT];
    enum source src[OPT_COUNT];
};

const char *runtime_config_program(enum runtime_config_daemon daemon)
{
    return daemon == RUNTIME_CONFIG_BOOTSTRAP ? "lodestar-bootstrap" : "lodestar-server";
}

const char *runtime_config_version(void)
{
    return LODESTAR_VERSION;
}

static bool has_opt(enum runtime_config_daemon daemon, const struct opt *o)
{
    return (o->daemons & (1u << daemon)) != 0;
}

static const struct opt *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strlen(opts[i].flag) == len && memcmp(opts[i].flag, name, len) == 0)
            return &opts[i];
    return NULL;
}

static const char *env_lookup(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* --help and --version win over every error, so look for them first. */
static bool find_action(int argc, char *const argv[], enum runtime_config_action *action)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *action = RUNTIME_CONFIG_HELP;
            return true;
        }
        if (strcmp(argv[i], "--version") == 0) {
            *action = RUNTIME_CONFIG_VERSION;
            return true;
        }
    }
    return false;
}

/* Collects flag values from argv into raw; each failure names the flag. */
static enum ls_rc scan_argv(enum runtime_config_daemon daemon, int argc, char *const argv[],
                            struct raw *raw, struct ls_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return ls_error_set(err, LS_EINVAL, "\"%s\": unexpected argument (see --help)", a);
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const struct opt *o = find_flag(a, nlen);
        if (!o)
            return ls_error_set(err, LS_EINVAL, "%.*s: unknown flag (see --help)", (int)nlen, a);
        if (!has_opt(daemon, o))
            return ls_error_set(err, LS_EINVAL, "%s: not a %s flag (see --help)", o->flag,
                                runtime_config_program(daemon));
        const char *v;
        if (o->kind == KIND_BOOL && !eq) {
            v = "1";
        } else if (eq) {
            v = eq + 1;
        } else {
            /* "--db --coap x" is a forgotten value, not a conninfo "--coap". */
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
                return ls_error_set(err, LS_EINVAL, "%s: missing value (%s)", o->flag, o->arg);
            v = argv[++i];
        }
        if (v[0] == '\0')
            return ls_error_set(err, LS_EINVAL, "%s: empty value (%s)", o->flag, o->arg);
        raw->val[o - opts] = v;
        raw->src[o - opts] = SRC_FLAG;
    }
    return LS_OK;
}

/* Fills what argv left unset from the environment, then from defaults. */
static void fill_env_and_defaults(enum runtime_config_daemon daemon, char *const envp[],
                                  struct raw *raw)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        if (!has_opt(daemon, &opts[i]) || raw->src[i] != SRC_NONE)
            continue;
        const char *v = env_lookup(envp, opts[i].env);
        if (v && v[0]) {
            raw->val[i] = v;
            raw->src[i] = SRC_ENV;
        } else if (opts[i].def[daemon]) {
            raw->val[i] = opts[i].def[daemon];
            raw->src[i] = SRC_DEFAULT;
        }
    }
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Never echoes the text: even a wrong key may be a real key mistyped. */
static enum ls_rc parse_key_text(const char *text, uint8_t key[RUNTIME_CONFIG_MASTER_KEY_LEN],
                                 struct ls_error *err)
{
    size_t n = strlen(text);
    if (n != 2 * RUNTIME_CONFIG_MASTER_KEY_LEN)
        return ls_error_set(err, LS_EINVAL,
                            "must be exactly 64 hex digits (32 bytes), got %zu characters; "
                            "make one with: openssl rand -hex 32", n);
    for (size_t i = 0; i < RUNTIME_CONFIG_MASTER_KEY_LEN; i++) {
        int hi = hexval((unsigned char)text[2 * i]), lo = hexval((unsigned char)text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            explicit_bzero(key, RUNTIME_CONFIG_MASTER_KEY_LEN);
            return ls_error_set(err, LS_EINVAL,
                                "must be exactly 64 hex digits, found a non-hex character");
        }
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return LS_OK;
}

/*
 * Issue 10 (OPS): "@FILE" reads the key from a file (64 hex digits, a
 * trailing newline allowed), so it need not be on a command line or in an
 * environment; e.g. a systemd credential or a Docker secret.  The file's
 * bytes are wiped after use.
 */
static enum ls_rc parse_key(const char *text, uint8_t key[RUNTIME_CONFIG_MASTER_KEY_LEN],
                            struct ls_error *err)
{
    if (text[0] != '@')
        return parse_key_text(text, key, err);
    char buf[2 * RUNTIME_CONFIG_MASTER_KEY_LEN + 64];
    FILE *f = fopen(text + 1, "re");
    if (!f)
        return ls_error_set(err, LS_EINVAL, "cannot read key file \"%s\": %s", text + 1,
                            strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool too_long = n == sizeof buf - 1 && fgetc(f) != EOF;
    fclose(f);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    enum ls_rc rc = too_long ? ls_error_set(err, LS_EINVAL, "key file \"%s\" is too long "
                                            "(want 64 hex digits)", text + 1)
                             : parse_key_text(buf, key, err);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

static enum ls_rc check_path(const char *path, bool want_dir, struct ls_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ls_error_set(err, LS_EINVAL, "\"%s\" does not exist", path);
    if (want_dir && !S_ISDIR(st.st_mode))
        return ls_error_set(err, LS_EINVAL, "\"%s\" is not a directory", path);
    if (!want_dir && !S_ISREG(st.st_mode))
        return ls_error_set(err, LS_EINVAL, "\"%s\" is not a regular file", path);
    if (access(path, want_dir ? R_OK | X_OK : R_OK) != 0)
        return ls_error_set(err, LS_EINVAL, "\"%s\" is not readable", path);
    return LS_OK;
}

static enum ls_rc parse_bool(const char *v, bool *out, struct ls_error *err)
{
    if (strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0)
        *out = true;
    else if (strcasecmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0)
        *out = false;
    else
        return ls_error_set(err, LS_EINVAL, "\"%s\" is not 1/true/yes or 0/false/no", v);
    return LS_OK;
}

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
static bool is_loopback(const struct runtime_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(in6) ||
               (IN6_IS_ADDR_V4MAPPED(in6) && in6->s6_addr[12] == 127);
    }
    return false;
}

/* Issue 10: TLS needs both files; plain HTTP beyond loopback needs
 * --http-insecure, so tokens never cross a network in clear by accident. */
static enum ls_rc check_http_tls(const struct runtime_config *cfg, struct ls_error *err)
{
    if (cfg->daemon != RUNTIME_CONFIG_SERVER)
        return LS_OK;
    if (!cfg->http_cert != !cfg->http_key)
        return ls_error_set(err, LS_EINVAL, "%s: needs %s too", cfg->http_cert ? "--http-cert"
                            : "--http-key", cfg->http_cert ? "--http-key" : "--http-cert");
    if (!cfg->http_cert && !cfg->http_insecure && cfg->http.text && !is_loopback(&cfg->http.addr))
        return ls_error_set(err, LS_EINVAL, "--http: %s is not a loopback address: give "
                            "--http-cert and --http-key, or --http-insecure for plain HTTP",
                            cfg->http.text);
    return LS_OK;
}

static struct runtime_config_addr *addr_field(struct runtime_config *cfg, enum opt_id id)
{
    switch (id) {
    case OPT_COAP: return &cfg->coap;
    case OPT_COAPS: return &cfg->coaps;
    case OPT_HTTP: return &cfg->http;
    case OPT_METRICS: return &cfg->metrics;
    default: return NULL;
    }
}

static void store_string(struct runtime_config *cfg, enum opt_id id, const char *v)
{
    switch (id) {
    case OPT_DB: cfg->db = v; break;
    case OPT_STATIC: cfg->static_dir = v; break;
    case OPT_ADMIN_TOKEN: cfg->admin_token = v; break;
    case OPT_MODELS: cfg->models_dir = v; break;
    case OPT_CA_FILE: cfg->ca_file = v; break;
    case OPT_DTLS_CERT: cfg->dtls_cert = v; break;
    case OPT_DTLS_KEY: cfg->dtls_key = v; break;
    case OPT_HTTP_CERT: cfg->http_cert = v; break;
    case OPT_HTTP_KEY: cfg->http_key = v; break;
    case OPT_DEVICE_CA_CERT: cfg->device_ca_cert = v; break;
    case OPT_DEVICE_CA_KEY: cfg->device_ca_key = v; break;
    case OPT_SERVER_CERT: cfg->server_cert = v; break;
    default: break;
    }
}

/* Issue 10 (abuse): the limits' numbers. */
static void store_uint(struct runtime_config *cfg, enum opt_id id, unsigned n)
{
    switch (id) {
    case OPT_REG_RATE_LIMIT: cfg->reg_rate_limit = n; break;
    case OPT_REG_RATE_BURST: cfg->reg_rate_burst = n; break;
    case OPT_NOSEC_MAX: cfg->nosec_max = n; break;
    case OPT_DTLS_MAX_HANDSHAKES: cfg->dtls_max_handshakes = n; break;
    case OPT_DTLS_HANDSHAKE_TIMEOUT: cfg->dtls_handshake_timeout_s = n; break;
    default: break;
    }
}

/* Validates one present option and stores it in cfg. */
static enum ls_rc apply(struct runtime_config *cfg, enum opt_id id, const char *v,
                        struct ls_error *err)
{
    const struct opt *o = &opts[id];
    switch (o->kind) {
    case KIND_ADDR: {
        struct runtime_config_addr *a = addr_field(cfg, id);
        a->text = v;
        return runtime_addr_parse(v, &a->addr, err);
    }
    case KIND_LEVEL:
        if (!ls_log_level_parse(v, &cfg->log_level))
            return ls_error_set(err, LS_EINVAL, "\"%s\" is not a log level (error, warn, info, "
                                "debug)", v);
        return LS_OK;
    case KIND_KEY:
        if (id == OPT_ROTATE_MASTER_KEY) {
            cfg->rotate_master_key = true;
            return parse_key(v, cfg->new_master_key, err);
        }
        return parse_key(v, cfg->master_key, err);
    case KIND_DIR:
    case KIND_FILE: {
        enum ls_rc rc = check_path(v, o->kind == KIND_DIR, err);
        if (rc == LS_OK)
            store_string(cfg, id, v);
        return rc;
    }
    case KIND_STRING:
        store_string(cfg, id, v);
        return LS_OK;
    case KIND_UINT: {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        unsigned long max = id == OPT_ISSUED_TTL ? 31622400 : 1000000;   /* TTL: a year */
        if (id == OPT_DEVICE_CERT_DAYS)
            max = 36500;
        if (!*v || *end || *v == '-' || *v == '+' || errno || n > max ||
            (id == OPT_DEVICE_CERT_DAYS && n == 0))
            return ls_error_set(err, LS_EINVAL, "\"%s\" is not a number %d..%lu", v,
                                id == OPT_DEVICE_CERT_DAYS, max);
        if (id == OPT_DEVICE_CERT_DAYS)
            cfg->device_cert_days = (unsigned)n;
        else if (id == OPT_ISSUED_TTL)
            cfg->issued_ttl_s = (int64_t)n;
        else if (id == OPT_BS_RATE_LIMIT)
            cfg->bs_rate_limit = (unsigned)n;
        else
            store_uint(cfg, id, (unsigned)n);
        return LS_OK;
    }
    case KIND_BOOL:
        return parse_bool(v, &cfg->http_insecure, err);
    }
    return LS_OK;
}

/* Validates every option in table order; the first failure is reported
 * as "<flag>: <what is wrong>", plus where the value came from if not argv. */
static enum ls_rc validate(struct runtime_config *cfg, const struct raw *raw,
                           struct ls_error *err)
{
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];
        if (!has_opt(cfg->daemon, o))
            continue;
        if (!raw->val[i]) {
            if (i == OPT_MASTER_KEY)
                return ls_error_set(err, LS_EINVAL, "%s: required; make one with: "
                                    "openssl rand -hex 32", o->flag);
            continue;
        }
        /* A default path is not checked: the compiled-in static/ may be
         * absent (an empty directory is not in git), and refusing to start
         * over a dashboard nobody asked for would be worse than a 404. */
        if (raw->src[i] == SRC_DEFAULT && (o->kind == KIND_DIR || o->kind == KIND_FILE)) {
            store_string(cfg, (enum opt_id)i, raw->val[i]);
            continue;
        }
        struct ls_error e = { 0 };
        if (apply(cfg, (enum opt_id)i, raw->val[i], &e) != LS_OK) {
            const char *from = raw->src[i] == SRC_ENV ? " (from " : "";
            return ls_error_set(err, LS_EINVAL, "%s: %s%s%s%s", o->flag, e.msg, from,
                                raw->src[i] == SRC_ENV ? o->env : "",
                                raw->src[i] == SRC_ENV ? ")" : "");
        }
    }
    return LS_OK;
}

enum ls_rc runtime_config_parse(struct runtime_config *cfg,
                                enum runtime_config_daemon daemon,
                                int argc, char *const argv[],
                                char *const envp[],
                                enum runtime_config_action *action,
                                struct ls_error *err)
{
    struct raw raw = { 0 };
    enum ls_rc rc;

    memset(cfg, 0, sizeof *cfg);
    cfg->daemon = daemon;
    cfg->log_level = LS_LOG_INFO;
    *action = RUNTIME_CONFIG_RUN;
    if (find_action(argc, argv, action))
        return LS_OK;
    rc = scan_argv(daemon, argc, argv, &raw, err);
    if (rc != LS_OK)
        goto out;
    fill_env_and_defaults(daemon, envp ? envp : environ, &raw);
    rc = validate(cfg, &raw, err);
    if (rc == LS_OK)
        rc = check_http_tls(cfg, err);
out:
    if (rc != LS_OK)
        runtime_config_clear(cfg);
    return rc;
}

void runtime_config_help(FILE *out, enum runtime_config_daemon daemon)
{
    const char *prog = runtime_config_program(daemon);
    fprintf(out, "Usage: %s [OPTION]...\n", prog);
    fprintf(out, "%s\n\n", daemon == RUNTIME_CONFIG_SERVER
            ? "Lodestar LwM2M Server with its HTTP API."
            : "Lodestar LwM2M Bootstrap-Server.");
    fprintf(out, "Every option can also be set by its environment variable; the flag wins.\n"
                 "Both \"--flag value\" and \"--flag=value\" work.  HOST:PORT is [v6]:port,\n"
                 "v4:port or name:port; port 0 picks a free port and logs it.\n\n");
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];
        if (!has_opt(daemon, o))
            continue;
        char head[48];
        snprintf(head, sizeof head, "%s%s%s", o->flag, o->arg[0] ? " " : "", o->arg);
        fprintf(out, "  %-24s %s\n", head, o->help);
        /* Defaults come from the table, and the key has none: nothing secret
         * can appear here. */
        if (o->def[daemon])
            fprintf(out, "  %-24s env %s, default \"%s\"\n", "", o->env, o->def[daemon]);
        else if (o->kind == KIND_KEY)
            fprintf(out, "  %-24s env %s (preferred: flags show in ps), no default\n", "",
                    o->env);
        else
            fprintf(out, "  %-24s env %s, default: none\n", "", o->env);
    }
    fprintf(out, "  %-24s %s\n", "--help", "print this help and exit");
    fprintf(out, "  %-24s %s\n", "--version", "print the version and exit");
    bool env_header = false;
    for (size_t i = 0; i < N_ENV_ONLY; i++) {
        if (!(env_only[i].daemons & (1u << daemon)))
            continue;
        if (!env_header)
            fprintf(out, "\nEnvironment only:\n");
        env_header = true;
        fprintf(out, "  %-24s %s\n  %-24s default \"%s\"\n", env_only[i].env, env_only[i].help,
                "", env_only[i].def);
    }
    fprintf(out, "\nExit status: 0 after SIGTERM/SIGINT, 1 on a runtime failure, "
                 "2 on a bad option.\n");
}

void runtime_config_clear(struct runtime_config *cfg)
{
    if (!cfg)
        return;
    explicit_bzero(cfg->master_key, sizeof cfg->master_key);
    explicit_bzero(cfg->new_master_key, sizeof cfg->new_master_key);
}

/* Bounded appender for the redaction; cuts silently at cap - 1. */
struct outbuf {
    char *buf;
    size_t len, cap;
};

static void out_put(struct outbuf *o, const char *s, size_t n)
{
    size_t room = o->cap - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Skips a keyword/value or URI-query value starting at q. */
static const char *skip_value(const char *q)
{
    if (*q == '\'') {
        for (q++; *q && *q != '\''; q++)
            if (*q == '\\' && q[1])
                q++;
        return *q ? q + 1 : q;
    }
    return q + strcspn(q, " \t\r\n&");
}

/* Copies a URI prefix up to its userinfo password, which becomes ***.
 * Returns where the generic scan should continue. */
static const char *redact_userinfo(const char *ci, struct outbuf *o)
{
    if (strncmp(ci, "postgresql://", 13) != 0 && strncmp(ci, "postgres://", 11) != 0)
        return ci;
    const char *auth = strstr(ci, "://") + 3;
    size_t alen = strcspn(auth, "/?");
    const char *at = memrchr(auth, '@', alen);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon)
        return ci;
    out_put(o, ci, (size_t)(colon + 1 - ci));
    out_put(o, "***", 3);
    return at;
}

char *runtime_config_redact_conninfo(const char *conninfo, char *buf, size_t cap)
{
    struct outbuf o = { buf, 0, cap };
    buf[0] = '\0';
    if (!conninfo)
        return buf;
    const char *p = redact_userinfo(conninfo, &o);
    while (*p) {
        bool boundary = p == conninfo || strchr(" \t?&", p[-1]) != NULL;
        if (boundary && strncasecmp(p, "password", 8) == 0) {
            const char *q = p + 8;
            q += strspn(q, " \t");
            if (*q == '=') {
                q++;
                q += strspn(q, " \t");
                out_put(&o, p, (size_t)(q - p));
                out_put(&o, "***", 3);
                p = skip_value(q);
                continue;
            }
        }
        out_put(&o, p++, 1);
    }
    return buf;
}

static const char *addr_text(const struct runtime_config_addr *a)
{
    return a->text ? a->text : "-";
}

void runtime_config_log(const struct runtime_config *cfg)
{
    if (!ls_log_enabled(LS_LOG_DEBUG))
        return;
    char db[512];
    runtime_config_redact_conninfo(cfg->db, db, sizeof db);
    /* The master key is required, so a parsed config always has one: say
     * "set" and nothing else about it. */
    ls_log_debug("config", "daemon=%s version=%s db=\"%s\" coap=%s coaps=%s http=%s "
                 "metrics=%s static=%s models=%s ca_file=%s log_level=%s master_key=set "
                 "admin_token=%s",
                 runtime_config_program(cfg->daemon), LODESTAR_VERSION, db,
                 addr_text(&cfg->coap), addr_text(&cfg->coaps), addr_text(&cfg->http),
                 addr_text(&cfg->metrics), cfg->static_dir ? cfg->static_dir : "-",
                 cfg->models_dir ? cfg->models_dir : "-", cfg->ca_file ? cfg->ca_file : "-",
                 ls_log_level_name(cfg->log_level), cfg->admin_token ? "set" : "unset");
}

/* One cell of a Markdown table: '|' escaped, backquotes kept. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void md_default(FILE *out, enum runtime_config_daemon daemon, const struct opt *o)
{
    const char *d = o->def[daemon];
    if (d && o == &opts[OPT_STATIC])      /* an absolute path of the build machine */
        fputs("the source tree's `static/` (compile-time)", out);
    else if (d)
        fprintf(out, "`%s`", d);
    else if (o == &opts[OPT_MASTER_KEY])
        fputs("none (required)", out);
    else if (o->kind == KIND_BOOL)
        fputs("off", out);
    else
        fputs("none", out);
}

static void md_daemon(FILE *out, enum runtime_config_daemon daemon)
{
    fprintf(out, "## %s\n\n", runtime_config_program(daemon));
    fprintf(out, "%s\n\n", daemon == RUNTIME_CONFIG_SERVER
            ? "Lodestar LwM2M Server with its HTTP API."
            : "Lodestar LwM2M Bootstrap-Server.");
    fputs("| Flag | Environment variable | Default | Meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < OPT_COUNT; i++) {
        const struct opt *o = &opts[i];
        if (!has_opt(daemon, o))
            continue;
        fprintf(out, "| `%s%s%s` | `%s` | ", o->flag, o->arg[0] ? " " : "", o->arg, o->env);
        md_default(out, daemon, o);
        fputs(" | ", out);
        md_cell(out, o->help);
        if (o->kind == KIND_BOOL)
            fputs(" (environment: 1/true/yes or 0/false/no)", out);
        fputs(" |\n", out);
    }
    fputs("| `--help` |  |  | print the help and exit |\n"
          "| `--version` |  |  | print the version and exit |\n", out);
    bool any = false;
    for (size_t i = 0; i < N_ENV_ONLY; i++) {
        if (!(env_only[i].daemons & (1u << daemon)))
            continue;
        if (!any)
            fputs("\nEnvironment only:\n\n| Environment variable | Default | Meaning |\n"
                  "|---|---|---|\n", out);
        any = true;
        fprintf(out, "| `%s` | `%s` | ", env_only[i].env, env_only[i].def);
        md_cell(out, env_only[i].help);
        fputs(" |\n", out);
    }
    fputs("\n", out);
}

void runtime_config_markdown(FILE *out)
{
    fputs("<!-- Generated from runtime/config.c by tools/config_markdown: do not edit.\n"
          "     Regenerate: ninja -C <build> configuration-md -->\n"
          "# Configuration reference\n\n"
          "Every flag of both daemons and its environment variable, from the table\n"
          "`--help` prints (runtime/config.c), so the two cannot drift: the test\n"
          "`configuration_md` fails when this page and the table differ.\n\n"
          "- The flag wins over the environment variable; an empty environment\n"
          "  variable counts as unset, an empty flag value is an error.\n"
          "- Both `--flag value` and `--flag=value` work; unknown flags, and flags of\n"
          "  the other daemon, are refused.\n"
          "- `HOST:PORT` is `[v6]:port`, `v4:port` or `name:port`; port 0 picks a free\n"
          "  port and logs it.\n"
          "- A bad value stops the daemon before it touches the database, with one\n"
          "  line naming the flag, and exit status 2.  Exit status: 0 after\n"
          "  SIGTERM/SIGINT, 1 on a runtime failure, 2 on a bad option.\n"
          "- Secrets (`--master-key`, `--admin-token`, a password in `--db`) are never\n"
          "  logged; prefer their environment variables, since flags show in `ps`.\n\n",
          out);
    md_daemon(out, RUNTIME_CONFIG_SERVER);
    md_daemon(out, RUNTIME_CONFIG_BOOTSTRAP);
}
