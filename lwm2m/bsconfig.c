/*
 * lwm2m/bsconfig.c -- bootstrap configurations: parse, validate, build writes
 *
 * The body's shape is documented in bsconfig.h.  Parsing walks the jansson
 * tree once, naming each field as it goes ("servers[0].ssid") so that every
 * error says where it is.  Building the plan maps the configuration onto
 * the OMA objects (Core TS 1.2 Security /0, Server /1, ACL /2, OSCORE /21;
 * LWM2M.md lists the resource ids) and chooses instance ids: the bootstrap
 * account's /0 id is kept, the rest take the lowest ids no surviving client
 * instance uses.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "lwm2m/bsconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"
#include "lwm2m/format.h"
#include "lwm2m/link.h"

#define FIELD_MAX 96
#define IDENTITY_MAX 128   /* bytes of a PSK identity */
#define KEY_MAX 4096       /* bytes of a key or certificate */
#define URI_MAX 255

/* ------------------------------------------------------------------ */
/* parse helpers: every failure names its field                         */

static LS_PRINTF(3, 4) enum ls_rc bad(struct ls_error *err, const char *field,
                                      const char *fmt, ...)
{
    char msg[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ls_error_set(err, LS_EINVAL, "%s: %s", field, msg);
}

static void field_name(char out[FIELD_MAX], const char *prefix, const char *key)
{
    /* Truncation is accepted: the name keeps its start. */
    if (snprintf(out, FIELD_MAX, "%s%s%s", prefix, *prefix ? "." : "", key) < 0)
        out[0] = '\0';
}

static enum ls_rc check_keys(const json_t *obj, const char *prefix,
                             const char *const *allowed, struct ls_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], key) == 0;
        if (!ok) {
            char f[FIELD_MAX];
            field_name(f, prefix, key);
            return bad(err, f, "unknown field");
        }
    }
    return LS_OK;
}

static enum ls_rc get_bool(const json_t *obj, const char *prefix, const char *key, bool dflt,
                           bool *out, struct ls_error *err)
{
    const json_t *v = json_object_get(obj, key);
    char f[FIELD_MAX];
    *out = dflt;
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_boolean(v)) {
        field_name(f, prefix, key);
        return bad(err, f, "must be true or false");
    }
    *out = json_is_true(v);
    return LS_OK;
}

static enum ls_rc get_int(const json_t *obj, const char *prefix, const char *key,
                          int64_t min, int64_t max, struct lwm2m_bsconfig_int *out,
                          struct ls_error *err)
{
    const json_t *v = json_object_get(obj, key);
    char f[FIELD_MAX];
    out->set = false;
    if (!v || json_is_null(v))
        return LS_OK;
    field_name(f, prefix, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return bad(err, f, "must be an integer %lld..%lld", (long long)min, (long long)max);
    out->set = true;
    out->v = json_integer_value(v);
    return LS_OK;
}

/* A boolean stored as 0/1 (resources that are absent unless configured). */
static enum ls_rc get_flag(const json_t *obj, const char *prefix, const char *key,
                           struct lwm2m_bsconfig_int *out, struct ls_error *err)
{
    const json_t *v = json_object_get(obj, key);
    char f[FIELD_MAX];
    out->set = false;
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_boolean(v)) {
        field_name(f, prefix, key);
        return bad(err, f, "must be true or false");
    }
    out->set = true;
    out->v = json_is_true(v);
    return LS_OK;
}

static enum ls_rc get_string(const json_t *obj, const char *prefix, const char *key,
                             bool required, size_t max, char **out, struct ls_error *err)
{
    const json_t *v = json_object_get(obj, key);
    char f[FIELD_MAX];
    *out = NULL;
    field_name(f, prefix, key);
    if (!v || json_is_null(v))
        return required ? bad(err, f, "required") : LS_OK;
    if (!json_is_string(v))
        return bad(err, f, "must be a string");
    size_t n = json_string_length(v);
    if (n == 0 || n > max || memchr(json_string_value(v), '\0', n))
        return bad(err, f, "must be 1..%zu characters without NUL", max);
    *out = strdup(json_string_value(v));
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "%s: out of memory", f);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static enum ls_rc get_hex(const json_t *obj, const char *prefix, const char *key,
                          bool required, struct lwm2m_bsconfig_bytes *out,
                          struct ls_error *err)
{
    const json_t *v = json_object_get(obj, key);
    char f[FIELD_MAX];
    out->ptr = NULL;
    out->len = 0;
    field_name(f, prefix, key);
    if (!v || json_is_null(v))
        return required ? bad(err, f, "required") : LS_OK;
    if (!json_is_string(v))
        return bad(err, f, "must be a hex string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n % 2 || n / 2 > KEY_MAX)
        return bad(err, f, "must be an even number of hex digits, 2..%d", 2 * KEY_MAX);
    uint8_t *p = malloc(n / 2);
    if (!p)
        return ls_error_set(err, LS_ENOMEM, "%s: out of memory", f);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(p);
            return bad(err, f, "must be hex digits only");
        }
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    out->ptr = p;
    out->len = n / 2;
    return LS_OK;
}

static void bytes_free(struct lwm2m_bsconfig_bytes *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
}

/* ------------------------------------------------------------------ */
/* accounts                                                             */

static enum ls_rc parse_security(const json_t *obj, const char *prefix, const char *uri,
                                 enum lwm2m_bsconfig_security *out, struct ls_error *err)
{
    static const char *const names[] = { "psk", "rpk", "x509", "nosec" };
    const json_t *v = json_object_get(obj, "security");
    char f[FIELD_MAX];
    bool secure = strncmp(uri, "coaps", 5) == 0;
    field_name(f, prefix, "security");
    if (!v || json_is_null(v)) {
        *out = secure ? LWM2M_BSCONFIG_PSK : LWM2M_BSCONFIG_NOSEC;
        return LS_OK;
    }
    for (unsigned i = 0; i < 4; i++) {
        if (json_is_string(v) && strcmp(json_string_value(v), names[i]) == 0) {
            *out = (enum lwm2m_bsconfig_security)i;
            if (secure == (*out == LWM2M_BSCONFIG_NOSEC))
                return bad(err, f, "%s does not fit the uri scheme (coap:// is nosec, "
                           "coaps:// is psk, rpk or x509)", names[i]);
            return LS_OK;
        }
    }
    return bad(err, f, "must be one of psk, rpk, x509, nosec");
}

static enum ls_rc parse_uri(const json_t *obj, const char *prefix, char **out,
                            struct ls_error *err)
{
    static const char *const schemes[] = { "coap://", "coaps://", "coap+tcp://",
                                           "coaps+tcp://", NULL };
    char f[FIELD_MAX];
    enum ls_rc rc = get_string(obj, prefix, "uri", true, URI_MAX, out, err);
    if (rc != LS_OK)
        return rc;
    for (size_t i = 0; schemes[i]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(*out, schemes[i], n) == 0 && (*out)[n])
            return LS_OK;
    }
    field_name(f, prefix, "uri");
    return bad(err, f, "must be a coap://, coaps://, coap+tcp:// or coaps+tcp:// URI");
}

/* identity/key or public_key/secret_key/server_public_key, in obj. */
static enum ls_rc parse_keys(const json_t *obj, const char *prefix,
                             struct lwm2m_bsconfig_security_account *a, struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    char f[FIELD_MAX];
    if (a->security == LWM2M_BSCONFIG_PSK) {
        if ((rc = get_string(obj, prefix, "identity", true, IDENTITY_MAX, &a->identity,
                             err)) != LS_OK ||
            (rc = get_hex(obj, prefix, "key", true, &a->key, err)) != LS_OK)
            return rc;
        if (a->key.len > 64) {
            field_name(f, prefix, "key");
            return bad(err, f, "a PSK is at most 64 bytes");
        }
        return LS_OK;
    }
    if (a->security == LWM2M_BSCONFIG_NOSEC)
        return LS_OK;
    if ((rc = get_hex(obj, prefix, "public_key", true, &a->public_key, err)) != LS_OK ||
        (rc = get_hex(obj, prefix, "secret_key", true, &a->secret_key, err)) != LS_OK ||
        (rc = get_hex(obj, prefix, "server_public_key", false, &a->server_public_key,
                      err)) != LS_OK)
        return rc;
    return LS_OK;
}

static enum ls_rc parse_credentials(const json_t *obj, const char *prefix,
                                    struct lwm2m_bsconfig_security_account *a,
                                    struct ls_error *err)
{
    static const char *const psk_keys[] = { "identity", "key", NULL };
    static const char *const pki_keys[] = { "public_key", "secret_key", "server_public_key",
                                            NULL };
    const json_t *v = json_object_get(obj, "credentials");
    char f[FIELD_MAX];
    field_name(f, prefix, "credentials");
    if (a->security == LWM2M_BSCONFIG_NOSEC) {
        if (v && !json_is_null(v))
            return bad(err, f, "not allowed with security nosec");
        return LS_OK;
    }
    if (!v || json_is_null(v))
        return bad(err, f, "required with security %s (\"issue\" or an object)",
                   a->security == LWM2M_BSCONFIG_PSK ? "psk" : "rpk/x509");
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "issue") != 0)
            return bad(err, f, "must be \"issue\" or an object");
        if (a->security != LWM2M_BSCONFIG_PSK && a->security != LWM2M_BSCONFIG_X509)
            return bad(err, f, "\"issue\" is only supported with security psk or x509");
        a->cred = LWM2M_BSCONFIG_CRED_ISSUE;
        return LS_OK;
    }
    if (!json_is_object(v))
        return bad(err, f, "must be \"issue\" or an object");
    enum ls_rc rc = check_keys(v, f, a->security == LWM2M_BSCONFIG_PSK ? psk_keys : pki_keys,
                               err);
    if (rc == LS_OK)
        rc = parse_keys(v, f, a, err);
    a->cred = LWM2M_BSCONFIG_CRED_GIVEN;
    return rc;
}

static void account_free(struct lwm2m_bsconfig_security_account *a)
{
    free(a->uri);
    free(a->identity);
    bytes_free(&a->key);
    bytes_free(&a->public_key);
    bytes_free(&a->server_public_key);
    bytes_free(&a->secret_key);
}

static enum ls_rc parse_bootstrap_account(const json_t *v, struct lwm2m_bsconfig *c,
                                          struct ls_error *err)
{
    static const char *const keys[] = { "uri", "security", "identity", "key", "public_key",
                                        "server_public_key", "secret_key", "hold_off",
                                        "timeout", NULL };
    const char *p = "bootstrap_account";
    struct lwm2m_bsconfig_security_account *a = &c->bootstrap_account;
    enum ls_rc rc;
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_object(v))
        return bad(err, p, "must be null or an object");
    c->has_bootstrap_account = true;
    if ((rc = check_keys(v, p, keys, err)) != LS_OK ||
        (rc = parse_uri(v, p, &a->uri, err)) != LS_OK ||
        (rc = parse_security(v, p, a->uri, &a->security, err)) != LS_OK ||
        (rc = parse_keys(v, p, a, err)) != LS_OK ||
        (rc = get_int(v, p, "hold_off", 0, UINT32_MAX, &a->hold_off, err)) != LS_OK ||
        (rc = get_int(v, p, "timeout", 0, UINT32_MAX, &a->timeout, err)) != LS_OK)
        return rc;
    a->cred = a->security == LWM2M_BSCONFIG_NOSEC ? LWM2M_BSCONFIG_CRED_NONE
                                                  : LWM2M_BSCONFIG_CRED_GIVEN;
    return LS_OK;
}

static enum ls_rc parse_oscore(const json_t *v, const char *prefix,
                               struct lwm2m_bsconfig_oscore *o, struct ls_error *err)
{
    static const char *const keys[] = { "master_secret", "sender_id", "recipient_id",
                                        "aead_algorithm", "hkdf_algorithm", "master_salt",
                                        "id_context", NULL };
    char f[FIELD_MAX];
    enum ls_rc rc;
    if (!v || json_is_null(v))
        return LS_OK;
    field_name(f, prefix, "oscore");
    if (!json_is_object(v))
        return bad(err, f, "must be an object");
    o->set = true;
    if ((rc = check_keys(v, f, keys, err)) != LS_OK ||
        (rc = get_hex(v, f, "master_secret", true, &o->master_secret, err)) != LS_OK ||
        (rc = get_hex(v, f, "sender_id", false, &o->sender_id, err)) != LS_OK ||
        (rc = get_hex(v, f, "recipient_id", false, &o->recipient_id, err)) != LS_OK ||
        (rc = get_hex(v, f, "master_salt", false, &o->master_salt, err)) != LS_OK ||
        (rc = get_hex(v, f, "id_context", false, &o->id_context, err)) != LS_OK ||
        (rc = get_int(v, f, "aead_algorithm", -65536, 65535, &o->aead_algorithm, err)) !=
            LS_OK ||
        (rc = get_int(v, f, "hkdf_algorithm", -65536, 65535, &o->hkdf_algorithm, err)) !=
            LS_OK)
        return rc;
    return LS_OK;
}

static void oscore_free(struct lwm2m_bsconfig_oscore *o)
{
    bytes_free(&o->master_secret);
    bytes_free(&o->sender_id);
    bytes_free(&o->recipient_id);
    bytes_free(&o->master_salt);
    bytes_free(&o->id_context);
}

static enum ls_rc parse_server_numbers(const json_t *v, const char *f,
                                       struct lwm2m_bsconfig_server *s, struct ls_error *err)
{
    struct lwm2m_bsconfig_int lifetime;
    enum ls_rc rc;
    if ((rc = get_int(v, f, "lifetime", 0, INT32_MAX, &lifetime, err)) != LS_OK ||
        (rc = get_int(v, f, "pmin", 0, INT32_MAX, &s->pmin, err)) != LS_OK ||
        (rc = get_int(v, f, "pmax", 0, INT32_MAX, &s->pmax, err)) != LS_OK ||
        (rc = get_int(v, f, "disable_timeout", 0, INT32_MAX, &s->disable_timeout, err)) !=
            LS_OK ||
        (rc = get_flag(v, f, "mute_send", &s->mute_send, err)) != LS_OK ||
        (rc = get_int(v, f, "default_notification_mode", 0, 1, &s->default_notification_mode,
                      err)) != LS_OK ||
        (rc = get_int(v, f, "registration_priority", 0, UINT32_MAX, &s->registration_priority,
                      err)) != LS_OK ||
        (rc = get_int(v, f, "initial_registration_delay", 0, UINT32_MAX,
                      &s->initial_registration_delay, err)) != LS_OK ||
        (rc = get_flag(v, f, "bootstrap_on_failure", &s->bootstrap_on_failure, err)) != LS_OK ||
        (rc = get_int(v, f, "retry_count", 0, UINT32_MAX, &s->retry_count, err)) != LS_OK ||
        (rc = get_int(v, f, "retry_timer", 0, UINT32_MAX, &s->retry_timer, err)) != LS_OK ||
        (rc = get_int(v, f, "sequence_delay", 0, UINT32_MAX, &s->sequence_delay, err)) !=
            LS_OK ||
        (rc = get_int(v, f, "sequence_retry_count", 0, UINT32_MAX, &s->sequence_retry_count,
                      err)) != LS_OK ||
        (rc = get_int(v, f, "hold_off", 0, UINT32_MAX, &s->sec.hold_off, err)) != LS_OK)
        return rc;
    s->lifetime_s = lifetime.set ? lifetime.v : 86400;
    if (s->pmin.set && s->pmax.set && s->pmax.v && s->pmax.v < s->pmin.v) {
        char g[FIELD_MAX];
        field_name(g, f, "pmax");
        return bad(err, g, "must not be below pmin");
    }
    return LS_OK;
}

static enum ls_rc parse_binding(const json_t *v, const char *f, char **out,
                                struct ls_error *err)
{
    char g[FIELD_MAX];
    enum ls_rc rc = get_string(v, f, "binding", false, 8, out, err);
    if (rc != LS_OK)
        return rc;
    if (!*out)
        return (*out = strdup("U")) ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
    field_name(g, f, "binding");
    for (const char *p = *out; *p; p++)
        if (!strchr("UMHTSNQ", *p))
            return bad(err, g, "must be made of U, M, H, T, S, N, Q");
    return LS_OK;
}

static enum ls_rc parse_server(const json_t *v, size_t i, struct lwm2m_bsconfig_server *s,
                               struct ls_error *err)
{
    static const char *const keys[] = {
        "uri", "ssid", "security", "credentials", "lifetime", "binding", "pmin", "pmax",
        "notification_storing", "disable_timeout", "mute_send", "default_notification_mode",
        "registration_priority", "initial_registration_delay", "bootstrap_on_failure",
        "retry_count", "retry_timer", "sequence_delay", "sequence_retry_count", "hold_off",
        "oscore", NULL
    };
    char f[FIELD_MAX], g[FIELD_MAX];
    struct lwm2m_bsconfig_int ssid;
    enum ls_rc rc;
    snprintf(f, sizeof f, "servers[%zu]", i);
    if (!json_is_object(v))
        return bad(err, f, "must be an object");
    if ((rc = check_keys(v, f, keys, err)) != LS_OK ||
        (rc = parse_uri(v, f, &s->sec.uri, err)) != LS_OK)
        return rc;
    field_name(g, f, "ssid");
    if (!json_object_get(v, "ssid"))
        return bad(err, g, "required");
    if (get_int(v, f, "ssid", 1, LWM2M_ID_MAX, &ssid, NULL) != LS_OK || !ssid.set)
        return bad(err, g, "must be 1..65534");
    s->ssid = (uint16_t)ssid.v;
    if ((rc = parse_security(v, f, s->sec.uri, &s->sec.security, err)) != LS_OK ||
        (rc = parse_credentials(v, f, &s->sec, err)) != LS_OK ||
        (rc = parse_server_numbers(v, f, s, err)) != LS_OK ||
        (rc = parse_binding(v, f, &s->binding, err)) != LS_OK ||
        (rc = get_bool(v, f, "notification_storing", true, &s->notification_storing, err)) !=
            LS_OK ||
        (rc = parse_oscore(json_object_get(v, "oscore"), f, &s->oscore, err)) != LS_OK)
        return rc;
    return LS_OK;
}

static enum ls_rc parse_servers(const json_t *v, struct lwm2m_bsconfig *c,
                                struct ls_error *err)
{
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_array(v) || json_array_size(v) > LWM2M_BSCONFIG_MAX_SERVERS)
        return bad(err, "servers", "must be an array of at most %d server accounts",
                   LWM2M_BSCONFIG_MAX_SERVERS);
    c->servers = calloc(json_array_size(v) + 1, sizeof *c->servers);
    if (!c->servers)
        return ls_error_set(err, LS_ENOMEM, "servers: out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        c->n_servers = i + 1;
        enum ls_rc rc = parse_server(json_array_get(v, i), i, &c->servers[i], err);
        if (rc != LS_OK)
            return rc;
        for (size_t k = 0; k < i; k++) {
            if (c->servers[k].ssid == c->servers[i].ssid) {
                char f[FIELD_MAX];
                snprintf(f, sizeof f, "servers[%zu].ssid", i);
                return bad(err, f, "%u is already used by servers[%zu]", c->servers[i].ssid,
                           k);
            }
        }
    }
    return LS_OK;
}

/* ------------------------------------------------------------------ */
/* delete, read, format, acl, instances                                 */

static enum ls_rc parse_path(const json_t *v, const char *f, uint8_t max_depth,
                             struct lwm2m_path *out, struct ls_error *err)
{
    struct ls_error pe = { 0 };
    if (!json_is_string(v))
        return bad(err, f, "must be a path string");
    if (lwm2m_path_parse(json_string_value(v), json_string_length(v), out, &pe) != LS_OK)
        return bad(err, f, "%s", pe.msg);
    if (out->depth > max_depth)
        return bad(err, f, "must be %s", max_depth == 2 ? "\"/\", /o or /o/i" : "/o/i");
    return LS_OK;
}

static enum ls_rc parse_deletes(const json_t *v, struct lwm2m_bsconfig *c,
                                struct ls_error *err)
{
    static const struct lwm2m_path dflt[] = { { { 0 }, 1 }, { { 1 }, 1 } };
    size_t n = v && !json_is_null(v) ? json_array_size(v) : 2;
    if (v && !json_is_null(v) && (!json_is_array(v) || n > LWM2M_BSCONFIG_MAX_ITEMS))
        return bad(err, "delete", "must be an array of at most %d paths",
                   LWM2M_BSCONFIG_MAX_ITEMS);
    c->deletes = calloc(n + 1, sizeof *c->deletes);
    if (!c->deletes)
        return ls_error_set(err, LS_ENOMEM, "delete: out of memory");
    if (!v || json_is_null(v)) {
        memcpy(c->deletes, dflt, sizeof dflt);
        c->n_deletes = 2;
        return LS_OK;
    }
    for (size_t i = 0; i < n; i++) {
        char f[FIELD_MAX];
        struct lwm2m_path *p = &c->deletes[i];
        snprintf(f, sizeof f, "delete[%zu]", i);
        enum ls_rc rc = parse_path(json_array_get(v, i), f, 2, p, err);
        if (rc != LS_OK)
            return rc;
        if (p->depth >= 1 && p->id[0] == 3 && (p->depth == 1 || p->id[1] == 0))
            return bad(err, f, "the Device object instance /3/0 is never deleted");
        c->n_deletes = i + 1;
    }
    return LS_OK;
}

static enum ls_rc parse_read(const json_t *v, struct lwm2m_bsconfig *c, struct ls_error *err)
{
    c->read = LWM2M_BSCONFIG_READ_NONE;
    if (!v || json_is_null(v) || json_is_false(v))
        return LS_OK;
    if (json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "/1") == 0))
        c->read = LWM2M_BSCONFIG_READ_SERVER;
    else if (json_is_string(v) && strcmp(json_string_value(v), "/2") == 0)
        c->read = LWM2M_BSCONFIG_READ_ACL;
    else
        return bad(err, "read", "must be false, true, \"/1\" or \"/2\"");
    return LS_OK;
}

static enum ls_rc parse_format(const json_t *v, struct lwm2m_bsconfig *c, struct ls_error *err)
{
    unsigned f;
    c->format = 0;
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_string(v) || !lwm2m_format_parse(json_string_value(v), &f) ||
        !(f == LWM2M_FORMAT_TLV || f == LWM2M_FORMAT_SENML_JSON ||
          f == LWM2M_FORMAT_SENML_CBOR || f == LWM2M_FORMAT_LWM2M_CBOR))
        return bad(err, "format", "must be null, \"tlv\", \"senml-json\", \"senml-cbor\" or "
                                  "\"lwm2m-cbor\"");
    c->format = f;
    return LS_OK;
}

static enum ls_rc parse_acl_entries(const json_t *v, const char *f,
                                    struct lwm2m_bsconfig_acl *a, struct ls_error *err)
{
    const char *key;
    json_t *bits;
    char g[FIELD_MAX];
    field_name(g, f, "acl");
    if (!v || !json_is_object(v) || json_object_size(v) > 64)
        return bad(err, g, "must be an object {\"<ssid>\": bits} of at most 64 entries");
    a->ssid = calloc(json_object_size(v) + 1, sizeof *a->ssid);
    a->bits = calloc(json_object_size(v) + 1, sizeof *a->bits);
    if (!a->ssid || !a->bits)
        return ls_error_set(err, LS_ENOMEM, "%s: out of memory", g);
    json_object_foreach((json_t *)v, key, bits) {
        char *end;
        unsigned long id = strtoul(key, &end, 10);
        if (!*key || *end || key[0] == '-' || key[0] == '+' || id >= 65535)
            return bad(err, g, "key \"%.20s\" must be a short server id 0..65534", key);
        if (!json_is_integer(bits) || json_integer_value(bits) < 0 ||
            json_integer_value(bits) > 31)
            return bad(err, g, "\"%s\" must be an integer 0..31 (R=1 W=2 E=4 D=8 C=16)", key);
        a->ssid[a->n] = (uint16_t)id;
        a->bits[a->n++] = (uint8_t)json_integer_value(bits);
    }
    return LS_OK;
}

static enum ls_rc parse_acl(const json_t *v, size_t i, struct lwm2m_bsconfig_acl *a,
                            struct ls_error *err)
{
    static const char *const keys[] = { "object", "instance", "acl", "owner", NULL };
    char f[FIELD_MAX], g[FIELD_MAX];
    struct lwm2m_bsconfig_int obj, inst;
    enum ls_rc rc;
    snprintf(f, sizeof f, "acl[%zu]", i);
    if (!json_is_object(v))
        return bad(err, f, "must be an object");
    if ((rc = check_keys(v, f, keys, err)) != LS_OK ||
        (rc = get_int(v, f, "object", 1, LWM2M_ID_MAX, &obj, err)) != LS_OK ||
        (rc = get_int(v, f, "instance", 0, 65535, &inst, err)) != LS_OK ||
        (rc = get_int(v, f, "owner", 1, 65535, &a->owner, err)) != LS_OK)
        return rc;
    if (!obj.set || !inst.set) {
        field_name(g, f, obj.set ? "instance" : "object");
        return bad(err, g, "required");
    }
    a->object = (uint16_t)obj.v;
    a->instance = (uint16_t)inst.v;
    return parse_acl_entries(json_object_get(v, "acl"), f, a, err);
}

static enum ls_rc parse_acls(const json_t *v, struct lwm2m_bsconfig *c, struct ls_error *err)
{
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_array(v) || json_array_size(v) > LWM2M_BSCONFIG_MAX_ITEMS)
        return bad(err, "acl", "must be an array of at most %d entries",
                   LWM2M_BSCONFIG_MAX_ITEMS);
    c->acls = calloc(json_array_size(v) + 1, sizeof *c->acls);
    if (!c->acls)
        return ls_error_set(err, LS_ENOMEM, "acl: out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        c->n_acls = i + 1;
        enum ls_rc rc = parse_acl(json_array_get(v, i), i, &c->acls[i], err);
        if (rc != LS_OK)
            return rc;
    }
    return LS_OK;
}

static enum ls_rc parse_instance_values(const json_t *vals, const char *f,
                                        const struct lwm2m_model *model,
                                        struct lwm2m_bsconfig_instance *in,
                                        struct ls_error *err)
{
    struct ls_error ve = { 0 };
    char g[FIELD_MAX];
    field_name(g, f, "values");
    if (!json_is_array(vals))
        return bad(err, g, "must be an array of API values");
    json_t *wrap = json_pack("{sO}", "values", (json_t *)vals);
    char *text = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
    json_decref(wrap);
    if (!text)
        return ls_error_set(err, LS_ENOMEM, "%s: out of memory", g);
    enum ls_rc rc = lwm2m_api_json_decode(text, strlen(text), model, &in->values, &ve);
    free(text);
    if (rc != LS_OK)
        return ls_error_set(err, rc, "%s: %s", g, ve.msg);
    for (size_t k = 0; k < in->values.count; k++) {
        if (!lwm2m_path_has_prefix(&in->values.values[k].path, &in->path) ||
            in->values.values[k].path.depth <= LWM2M_DEPTH_INSTANCE) {
            char p[LWM2M_PATH_STR_MAX];
            lwm2m_path_format(&in->values.values[k].path, p);
            return bad(err, g, "%s is not a resource of the instance", p);
        }
    }
    lwm2m_data_sort(&in->values);
    return LS_OK;
}

static enum ls_rc parse_instance(const json_t *v, size_t i, const struct lwm2m_model *model,
                                 struct lwm2m_bsconfig_instance *in, struct ls_error *err)
{
    static const char *const keys[] = { "path", "values", NULL };
    char f[FIELD_MAX], g[FIELD_MAX];
    enum ls_rc rc;
    lwm2m_data_init(&in->values);
    snprintf(f, sizeof f, "instances[%zu]", i);
    if (!json_is_object(v))
        return bad(err, f, "must be an object");
    if ((rc = check_keys(v, f, keys, err)) != LS_OK)
        return rc;
    field_name(g, f, "path");
    if (!json_object_get(v, "path"))
        return bad(err, g, "required");
    if ((rc = parse_path(json_object_get(v, "path"), g, 2, &in->path, err)) != LS_OK)
        return rc;
    if (in->path.depth != LWM2M_DEPTH_INSTANCE)
        return bad(err, g, "must be an instance path /o/i");
    if (in->path.id[0] == 0 || in->path.id[0] == 1)
        return bad(err, g, "Security and Server instances come from \"servers\"");
    return parse_instance_values(json_object_get(v, "values"), f, model, in, err);
}

static enum ls_rc parse_instances(const json_t *v, const struct lwm2m_model *model,
                                  struct lwm2m_bsconfig *c, struct ls_error *err)
{
    if (!v || json_is_null(v))
        return LS_OK;
    if (!json_is_array(v) || json_array_size(v) > LWM2M_BSCONFIG_MAX_ITEMS)
        return bad(err, "instances", "must be an array of at most %d entries",
                   LWM2M_BSCONFIG_MAX_ITEMS);
    c->instances = calloc(json_array_size(v) + 1, sizeof *c->instances);
    if (!c->instances)
        return ls_error_set(err, LS_ENOMEM, "instances: out of memory");
    for (size_t i = 0; i < json_array_size(v); i++) {
        c->n_instances = i + 1;
        enum ls_rc rc = parse_instance(json_array_get(v, i), i, model, &c->instances[i], err);
        if (rc != LS_OK)
            return rc;
        for (size_t k = 0; k < i; k++) {
            if (lwm2m_path_equal(&c->instances[k].path, &c->instances[i].path)) {
                char f[FIELD_MAX];
                snprintf(f, sizeof f, "instances[%zu].path", i);
                return bad(err, f, "already given by instances[%zu]", k);
            }
        }
    }
    return LS_OK;
}

static enum ls_rc parse_top(const json_t *root, const struct lwm2m_model *model,
                            struct lwm2m_bsconfig *c, struct ls_error *err)
{
    static const char *const keys[] = { "endpoint", "match", "priority", "description",
                                        "delete", "discover", "read", "format", "pack",
                                        "allow_nosec", "bootstrap_account", "servers", "acl", "instances",
                                        "ack_timeout_ms", "max_retransmit",
                                        "session_timeout_s", NULL };
    struct lwm2m_bsconfig_int prio, ack, retrans, deadline;
    enum ls_rc rc;
    if (!json_is_object(root))
        return bad(err, "json", "the configuration must be an object");
    if ((rc = check_keys(root, "", keys, err)) != LS_OK ||
        (rc = get_string(root, "", "endpoint", false, 255, &c->endpoint, err)) != LS_OK ||
        (rc = get_string(root, "", "match", false, 255, &c->match, err)) != LS_OK ||
        (rc = get_string(root, "", "description", false, 1024, &c->description, err)) !=
            LS_OK ||
        (rc = get_int(root, "", "priority", INT32_MIN, INT32_MAX, &prio, err)) != LS_OK ||
        (rc = get_int(root, "", "ack_timeout_ms", 1000, 60000, &ack, err)) != LS_OK ||
        (rc = get_int(root, "", "max_retransmit", 1, 10, &retrans, err)) != LS_OK ||
        (rc = get_int(root, "", "session_timeout_s", 1, 3600, &deadline, err)) != LS_OK ||
        (rc = parse_deletes(json_object_get(root, "delete"), c, err)) != LS_OK ||
        (rc = get_bool(root, "", "discover", false, &c->discover, err)) != LS_OK ||
        (rc = parse_read(json_object_get(root, "read"), c, err)) != LS_OK ||
        (rc = parse_format(json_object_get(root, "format"), c, err)) != LS_OK ||
        (rc = get_bool(root, "", "pack", true, &c->pack, err)) != LS_OK ||
        (rc = get_bool(root, "", "allow_nosec", true, &c->allow_nosec, err)) != LS_OK ||
        (rc = parse_bootstrap_account(json_object_get(root, "bootstrap_account"), c, err)) !=
            LS_OK ||
        (rc = parse_servers(json_object_get(root, "servers"), c, err)) != LS_OK ||
        (rc = parse_acls(json_object_get(root, "acl"), c, err)) != LS_OK ||
        (rc = parse_instances(json_object_get(root, "instances"), model, c, err)) != LS_OK)
        return rc;
    if (c->endpoint && c->match)
        return bad(err, "match", "a configuration has \"endpoint\" or \"match\", not both");
    c->priority = prio.set ? prio.v : 100;
    c->ack_timeout_ms = ack.set ? ack.v : LWM2M_BSCONFIG_ACK_TIMEOUT_MS;
    c->max_retransmit = retrans.set ? retrans.v : LWM2M_BSCONFIG_MAX_RETRANSMIT;
    c->session_timeout_s = deadline.set ? deadline.v : LWM2M_BSCONFIG_SESSION_TIMEOUT_S;
    return LS_OK;
}

enum ls_rc lwm2m_bsconfig_parse(const char *json, size_t len, const struct lwm2m_model *model,
                                struct lwm2m_bsconfig **out, struct ls_error *err)
{
    json_error_t je;
    *out = NULL;
    if (len > LWM2M_BSCONFIG_MAX_LEN)
        return bad(err, "json", "%zu bytes exceed the limit of %u", len,
                   LWM2M_BSCONFIG_MAX_LEN);
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return ls_error_set(err, LS_ENOMEM, "json: out of memory");
        return bad(err, "json", "%s at line %d column %d", je.text, je.line, je.column);
    }
    struct lwm2m_bsconfig *c = calloc(1, sizeof *c);
    enum ls_rc rc = c ? parse_top(root, model, c, err)
                      : ls_error_set(err, LS_ENOMEM, "out of memory");
    json_decref(root);
    if (rc != LS_OK) {
        lwm2m_bsconfig_free(c);
        return rc;
    }
    *out = c;
    return LS_OK;
}

void lwm2m_bsconfig_free(struct lwm2m_bsconfig *c)
{
    if (!c)
        return;
    free(c->endpoint);
    free(c->match);
    free(c->description);
    free(c->deletes);
    account_free(&c->bootstrap_account);
    for (size_t i = 0; i < c->n_servers; i++) {
        account_free(&c->servers[i].sec);
        free(c->servers[i].binding);
        oscore_free(&c->servers[i].oscore);
    }
    free(c->servers);
    for (size_t i = 0; i < c->n_acls; i++) {
        free(c->acls[i].ssid);
        free(c->acls[i].bits);
    }
    free(c->acls);
    for (size_t i = 0; i < c->n_instances; i++)
        lwm2m_data_free(&c->instances[i].values);
    free(c->instances);
    free(c);
}

/* ------------------------------------------------------------------ */
/* client facts                                                         */

void lwm2m_bsconfig_client_init(struct lwm2m_bsconfig_client *cl)
{
    memset(cl, 0, sizeof *cl);
    cl->bs_instance = -1;
}

enum ls_rc lwm2m_bsconfig_client_discover(struct lwm2m_bsconfig_client *cl, const char *links,
                                          size_t len, struct ls_error *err)
{
    struct lwm2m_link_list list;
    int bs = -1, without_ssid = 0, in_zero = 0;
    enum ls_rc rc = lwm2m_link_parse(links, len, &list, err);
    if (rc != LS_OK)
        return rc;
    for (size_t i = 0; i < list.count; i++) {
        const struct lwm2m_link *l = &list.links[i];
        const struct lwm2m_link_attr *v = lwm2m_link_attr_find(l, "lwm2m");
        if (v && v->value)
            snprintf(cl->version, sizeof cl->version, "%s", v->value);
        if (!l->is_path || l->path.depth != LWM2M_DEPTH_INSTANCE)
            continue;
        if (cl->n < LWM2M_BSCONFIG_MAX_CLIENT_INSTANCES)
            cl->instances[cl->n++] = l->path;
        if (l->path.id[0] == 0) {
            in_zero++;
            if (!lwm2m_link_attr_find(l, "ssid")) {
                without_ssid++;
                bs = l->path.id[1];
            }
        }
    }
    lwm2m_link_list_free(&list);
    cl->discovered = true;
    cl->bs_instance = without_ssid == 1 ? bs : -1;
    /* A 1.0 client may list only the bootstrap account, without ssid. */
    if (in_zero == 1 && without_ssid == 0)
        cl->bs_instance = -1;
    return LS_OK;
}

/* ------------------------------------------------------------------ */
/* plan                                                                 */

struct ids {
    const struct lwm2m_bsconfig *c;
    const struct lwm2m_bsconfig_client *cl;
    int bs;                       /* /0 id of the BS account; -1 none */
    struct lwm2m_bsconfig_plan *p;
    uint16_t oscore[LWM2M_BSCONFIG_MAX_SERVERS]; /* /21 ids taken before their write */
    size_t n_oscore;
};

static bool deleted(const struct lwm2m_bsconfig *c, const struct lwm2m_path *inst)
{
    for (size_t i = 0; i < c->n_deletes; i++)
        if (lwm2m_path_has_prefix(inst, &c->deletes[i]))
            return true;
    return false;
}

static bool id_used(const struct ids *x, uint16_t obj, uint16_t id)
{
    if (obj == 0 && x->bs == id)
        return true;
    for (size_t i = 0; x->cl && i < x->cl->n; i++) {
        const struct lwm2m_path *q = &x->cl->instances[i];
        if (q->id[0] != obj || q->id[1] != id)
            continue;
        /* the unknown BS account hides among the /0 instances: keep them all */
        if (obj == 0 && x->bs < 0)
            return true;
        if (!deleted(x->c, q))
            return true;
    }
    for (size_t i = 0; i < x->p->n_writes; i++)
        if (x->p->writes[i].path.id[0] == obj && x->p->writes[i].path.id[1] == id)
            return true;
    for (size_t i = 0; i < x->c->n_instances; i++)
        if (x->c->instances[i].path.id[0] == obj && x->c->instances[i].path.id[1] == id)
            return true;
    for (size_t i = 0; obj == 21 && i < x->n_oscore; i++)
        if (x->oscore[i] == id)
            return true;
    return false;
}

static enum ls_rc free_id(const struct ids *x, uint16_t obj, uint16_t *out,
                          struct ls_error *err)
{
    for (uint32_t id = 0; id <= LWM2M_ID_MAX; id++) {
        if (!id_used(x, obj, (uint16_t)id)) {
            *out = (uint16_t)id;
            return LS_OK;
        }
    }
    return ls_error_set(err, LS_EINVAL, "no free instance id in object %u", obj);
}

static struct lwm2m_bsconfig_write *new_write(struct lwm2m_bsconfig_plan *p, uint16_t obj,
                                              uint16_t inst, struct ls_error *err)
{
    struct lwm2m_bsconfig_write *w =
        realloc(p->writes, (p->n_writes + 1) * sizeof *p->writes);
    if (!w) {
        ls_error_set(err, LS_ENOMEM, "out of memory building the bootstrap plan");
        return NULL;
    }
    p->writes = w;
    w = &p->writes[p->n_writes++];
    w->path = lwm2m_path_instance(obj, inst);
    lwm2m_data_init(&w->data);
    return w;
}

static enum ls_rc put_int(struct lwm2m_bsconfig_write *w, uint16_t res, enum lwm2m_type t,
                          int64_t v, struct ls_error *err)
{
    struct lwm2m_path p = lwm2m_path_child(&w->path, res);
    struct lwm2m_value *val = lwm2m_data_append(&w->data, &p, t, err);
    if (!val)
        return LS_ENOMEM;
    if (t == LWM2M_TYPE_BOOLEAN)
        val->v.b = v != 0;
    else if (t == LWM2M_TYPE_UNSIGNED)
        val->v.u = (uint64_t)v;
    else
        val->v.i = v;
    return LS_OK;
}

static enum ls_rc put_opt(struct lwm2m_bsconfig_write *w, uint16_t res, enum lwm2m_type t,
                          const struct lwm2m_bsconfig_int *v, struct ls_error *err)
{
    return v->set ? put_int(w, res, t, v->v, err) : LS_OK;
}

static enum ls_rc put_bytes(struct lwm2m_bsconfig_write *w, uint16_t res, enum lwm2m_type t,
                            const void *b, size_t len, struct ls_error *err)
{
    struct lwm2m_path p = lwm2m_path_child(&w->path, res);
    return lwm2m_data_append_bytes(&w->data, &p, t, b ? b : "", b ? len : 0, err) ? LS_OK
                                                                                : LS_ENOMEM;
}

static enum ls_rc put_security(struct lwm2m_bsconfig_write *w,
                               const struct lwm2m_bsconfig_security_account *a, bool bs,
                               const struct lwm2m_bsconfig_issued *issued,
                               struct ls_error *err)
{
    const void *id = a->identity ? (const void *)a->identity : a->public_key.ptr;
    size_t id_len = a->identity ? strlen(a->identity) : a->public_key.len;
    const void *key = a->security == LWM2M_BSCONFIG_PSK ? a->key.ptr : a->secret_key.ptr;
    size_t key_len = a->security == LWM2M_BSCONFIG_PSK ? a->key.len : a->secret_key.len;
    enum ls_rc rc;
    const void *spk = a->server_public_key.ptr;
    size_t spk_len = a->server_public_key.len;
    if (a->cred == LWM2M_BSCONFIG_CRED_ISSUE) {
        id = issued->identity;
        id_len = strlen(issued->identity);
        key = issued->key;
        key_len = issued->key_len;
    }
    if (a->cred == LWM2M_BSCONFIG_CRED_ISSUE && a->security == LWM2M_BSCONFIG_X509) {
        id = issued->cert;          /* /0/x/3: the device certificate */
        id_len = issued->cert_len;
        if (issued->server_cert) {
            spk = issued->server_cert;
            spk_len = issued->server_cert_len;
        }
    }
    if ((rc = put_bytes(w, 0, LWM2M_TYPE_STRING, a->uri, strlen(a->uri), err)) != LS_OK ||
        (rc = put_int(w, 1, LWM2M_TYPE_BOOLEAN, bs, err)) != LS_OK ||
        (rc = put_int(w, 2, LWM2M_TYPE_INTEGER, a->security, err)) != LS_OK ||
        (rc = put_bytes(w, 3, LWM2M_TYPE_OPAQUE, id, id_len, err)) != LS_OK ||
        (rc = put_bytes(w, 4, LWM2M_TYPE_OPAQUE, spk, spk_len, err)) != LS_OK ||
        (rc = put_bytes(w, 5, LWM2M_TYPE_OPAQUE, key, key_len, err)) != LS_OK ||
        (rc = put_opt(w, 11, LWM2M_TYPE_INTEGER, &a->hold_off, err)) != LS_OK ||
        (rc = put_opt(w, 12, LWM2M_TYPE_INTEGER, &a->timeout, err)) != LS_OK)
        return rc;
    return LS_OK;
}

static enum ls_rc put_server(struct lwm2m_bsconfig_write *w,
                             const struct lwm2m_bsconfig_server *s, struct ls_error *err)
{
    enum ls_rc rc;
    if ((rc = put_int(w, 0, LWM2M_TYPE_INTEGER, s->ssid, err)) != LS_OK ||
        (rc = put_int(w, 1, LWM2M_TYPE_INTEGER, s->lifetime_s, err)) != LS_OK ||
        (rc = put_opt(w, 2, LWM2M_TYPE_INTEGER, &s->pmin, err)) != LS_OK ||
        (rc = put_opt(w, 3, LWM2M_TYPE_INTEGER, &s->pmax, err)) != LS_OK ||
        (rc = put_opt(w, 5, LWM2M_TYPE_INTEGER, &s->disable_timeout, err)) != LS_OK ||
        (rc = put_int(w, 6, LWM2M_TYPE_BOOLEAN, s->notification_storing, err)) != LS_OK ||
        (rc = put_bytes(w, 7, LWM2M_TYPE_STRING, s->binding, strlen(s->binding), err)) !=
            LS_OK ||
        (rc = put_opt(w, 13, LWM2M_TYPE_UNSIGNED, &s->registration_priority, err)) != LS_OK ||
        (rc = put_opt(w, 14, LWM2M_TYPE_UNSIGNED, &s->initial_registration_delay, err)) !=
            LS_OK ||
        (rc = put_opt(w, 16, LWM2M_TYPE_BOOLEAN, &s->bootstrap_on_failure, err)) != LS_OK ||
        (rc = put_opt(w, 17, LWM2M_TYPE_UNSIGNED, &s->retry_count, err)) != LS_OK ||
        (rc = put_opt(w, 18, LWM2M_TYPE_UNSIGNED, &s->retry_timer, err)) != LS_OK ||
        (rc = put_opt(w, 19, LWM2M_TYPE_UNSIGNED, &s->sequence_delay, err)) != LS_OK ||
        (rc = put_opt(w, 20, LWM2M_TYPE_UNSIGNED, &s->sequence_retry_count, err)) != LS_OK ||
        (rc = put_opt(w, 23, LWM2M_TYPE_BOOLEAN, &s->mute_send, err)) != LS_OK ||
        (rc = put_opt(w, 26, LWM2M_TYPE_INTEGER, &s->default_notification_mode, err)) != LS_OK)
        return rc;
    return LS_OK;
}

static enum ls_rc put_oscore(struct lwm2m_bsconfig_write *w,
                             const struct lwm2m_bsconfig_oscore *o, struct ls_error *err)
{
    enum ls_rc rc;
    if ((rc = put_bytes(w, 0, LWM2M_TYPE_OPAQUE, o->master_secret.ptr, o->master_secret.len,
                        err)) != LS_OK ||
        (rc = put_bytes(w, 1, LWM2M_TYPE_OPAQUE, o->sender_id.ptr, o->sender_id.len, err)) !=
            LS_OK ||
        (rc = put_bytes(w, 2, LWM2M_TYPE_OPAQUE, o->recipient_id.ptr, o->recipient_id.len,
                        err)) != LS_OK ||
        (rc = put_opt(w, 3, LWM2M_TYPE_INTEGER, &o->aead_algorithm, err)) != LS_OK ||
        (rc = put_opt(w, 4, LWM2M_TYPE_INTEGER, &o->hkdf_algorithm, err)) != LS_OK)
        return rc;
    if (o->master_salt.ptr &&
        (rc = put_bytes(w, 5, LWM2M_TYPE_OPAQUE, o->master_salt.ptr, o->master_salt.len,
                        err)) != LS_OK)
        return rc;
    if (o->id_context.ptr &&
        (rc = put_bytes(w, 6, LWM2M_TYPE_OPAQUE, o->id_context.ptr, o->id_context.len,
                        err)) != LS_OK)
        return rc;
    return LS_OK;
}

/* Security + OSCORE of server k; the Server instance comes in a second pass
 * so that the writes go /0, /1, /2, /21 as LWM2M.md's order says. */
static enum ls_rc plan_security(struct ids *x, size_t k,
                                const struct lwm2m_bsconfig_issued *issued,
                                uint16_t *oscore_iid, struct ls_error *err)
{
    const struct lwm2m_bsconfig_server *s = &x->c->servers[k];
    uint16_t iid;
    enum ls_rc rc;
    if (s->sec.cred == LWM2M_BSCONFIG_CRED_ISSUE &&
        (!issued || !issued[k].identity ||
         (s->sec.security == LWM2M_BSCONFIG_X509 && !issued[k].cert)))
        return ls_error_set(err, LS_EINVAL, "servers[%zu]: no issued credentials given", k);
    if ((rc = free_id(x, 0, &iid, err)) != LS_OK)
        return rc;
    struct lwm2m_bsconfig_write *w = new_write(x->p, 0, iid, err);
    if (!w)
        return LS_ENOMEM;
    x->p->server_security_iid[k] = iid;
    rc = put_security(w, &s->sec, false, issued ? &issued[k] : NULL, err);
    if (rc == LS_OK)
        rc = put_int(w, 10, LWM2M_TYPE_INTEGER, s->ssid, err);
    if (rc == LS_OK && s->oscore.set) {
        struct lwm2m_value *v;
        struct lwm2m_path p = lwm2m_path_child(&w->path, 17);
        if ((rc = free_id(x, 21, oscore_iid, err)) != LS_OK)
            return rc;
        x->oscore[x->n_oscore++] = *oscore_iid;
        if (!(v = lwm2m_data_append(&w->data, &p, LWM2M_TYPE_OBJLNK, err)))
            return LS_ENOMEM;
        v->v.objlnk = (struct lwm2m_objlnk){ 21, *oscore_iid };
    }
    return rc;
}

static enum ls_rc plan_acl(struct ids *x, const struct lwm2m_bsconfig_acl *a,
                           struct ls_error *err)
{
    uint16_t iid;
    enum ls_rc rc = free_id(x, 2, &iid, err);
    struct lwm2m_bsconfig_write *w = rc == LS_OK ? new_write(x->p, 2, iid, err) : NULL;
    if (!w)
        return rc != LS_OK ? rc : LS_ENOMEM;
    if ((rc = put_int(w, 0, LWM2M_TYPE_INTEGER, a->object, err)) != LS_OK ||
        (rc = put_int(w, 1, LWM2M_TYPE_INTEGER, a->instance, err)) != LS_OK)
        return rc;
    for (size_t i = 0; i < a->n; i++) {
        struct lwm2m_path p = lwm2m_path_resource_instance(2, iid, 2, a->ssid[i]);
        struct lwm2m_value *v = lwm2m_data_append(&w->data, &p, LWM2M_TYPE_INTEGER, err);
        if (!v)
            return LS_ENOMEM;
        v->v.i = a->bits[i];
    }
    return put_opt(w, 3, LWM2M_TYPE_INTEGER, &a->owner, err);
}

static enum ls_rc copy_value(struct lwm2m_data *d, const struct lwm2m_value *v,
                             struct ls_error *err)
{
    struct lwm2m_value *n;
    if (v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE ||
        v->type == LWM2M_TYPE_CORELNK) {
        n = lwm2m_data_append_bytes(d, &v->path, v->type, v->v.bytes.ptr, v->v.bytes.len, err);
        return n ? LS_OK : LS_ENOMEM;
    }
    n = lwm2m_data_append(d, &v->path, v->type, err);
    if (!n)
        return LS_ENOMEM;
    n->v = v->v;
    return LS_OK;
}

static enum ls_rc plan_deletes(struct ids *x, struct ls_error *err)
{
    const struct lwm2m_bsconfig *c = x->c;
    x->p->deletes = calloc(c->n_deletes + 1, sizeof *x->p->deletes);
    if (!x->p->deletes)
        return ls_error_set(err, LS_ENOMEM, "out of memory building the bootstrap plan");
    for (size_t i = 0; i < c->n_deletes; i++) {
        const struct lwm2m_path *d = &c->deletes[i];
        if (d->depth == 2 && d->id[0] == 0 && d->id[1] == x->bs)
            continue; /* never the bootstrap account */
        x->p->deletes[x->p->n_deletes++] = *d;
    }
    return LS_OK;
}

static enum ls_rc plan_accounts(struct ids *x, const struct lwm2m_bsconfig_issued *issued,
                                struct ls_error *err)
{
    const struct lwm2m_bsconfig *c = x->c;
    uint16_t oscore_iid[LWM2M_BSCONFIG_MAX_SERVERS];
    enum ls_rc rc;
    if (c->has_bootstrap_account) {
        struct lwm2m_bsconfig_write *w = new_write(x->p, 0, (uint16_t)x->bs, err);
        if (!w || (rc = put_security(w, &c->bootstrap_account, true, NULL, err)) != LS_OK)
            return w ? rc : LS_ENOMEM;
    }
    for (size_t k = 0; k < c->n_servers; k++)
        if ((rc = plan_security(x, k, issued, &oscore_iid[k], err)) != LS_OK)
            return rc;
    for (size_t k = 0; k < c->n_servers; k++) {
        uint16_t iid;
        if ((rc = free_id(x, 1, &iid, err)) != LS_OK)
            return rc;
        struct lwm2m_bsconfig_write *w = new_write(x->p, 1, iid, err);
        if (!w || (rc = put_server(w, &c->servers[k], err)) != LS_OK)
            return w ? rc : LS_ENOMEM;
    }
    for (size_t k = 0; k < c->n_acls; k++)
        if ((rc = plan_acl(x, &c->acls[k], err)) != LS_OK)
            return rc;
    for (size_t k = 0; k < c->n_servers; k++) {
        if (!c->servers[k].oscore.set)
            continue;
        struct lwm2m_bsconfig_write *w = new_write(x->p, 21, oscore_iid[k], err);
        if (!w || (rc = put_oscore(w, &c->servers[k].oscore, err)) != LS_OK)
            return w ? rc : LS_ENOMEM;
    }
    return LS_OK;
}

enum ls_rc lwm2m_bsconfig_plan_build(const struct lwm2m_bsconfig *c,
                                     const struct lwm2m_bsconfig_client *cl,
                                     const struct lwm2m_bsconfig_issued *issued,
                                     struct lwm2m_bsconfig_plan *out, struct ls_error *err)
{
    struct ids x = { .c = c, .cl = cl, .p = out };
    enum ls_rc rc;
    memset(out, 0, sizeof *out);
    /* Unknown bootstrap account id: assume the usual factory /0/0.  A client
     * that listed /0 instances without telling which is the BS account keeps
     * them all (id_used). */
    x.bs = cl && cl->bs_instance >= 0 ? cl->bs_instance : (cl && cl->discovered ? -1 : 0);
    if (x.bs < 0 && c->has_bootstrap_account)
        x.bs = 0;
    out->server_security_iid = calloc(c->n_servers + 1, sizeof *out->server_security_iid);
    if (!out->server_security_iid)
        return ls_error_set(err, LS_ENOMEM, "out of memory building the bootstrap plan");
    if ((rc = plan_deletes(&x, err)) != LS_OK || (rc = plan_accounts(&x, issued, err)) != LS_OK)
        return rc;
    for (size_t k = 0; k < c->n_instances; k++) {
        const struct lwm2m_bsconfig_instance *in = &c->instances[k];
        struct lwm2m_bsconfig_write *w = new_write(out, in->path.id[0], in->path.id[1], err);
        if (!w)
            return LS_ENOMEM;
        for (size_t i = 0; i < in->values.count; i++)
            if ((rc = copy_value(&w->data, &in->values.values[i], err)) != LS_OK)
                return rc;
    }
    for (size_t i = 0; i < out->n_writes; i++)
        lwm2m_data_sort(&out->writes[i].data);
    return LS_OK;
}

enum ls_rc lwm2m_bsconfig_plan_pack(const struct lwm2m_bsconfig_plan *p, struct lwm2m_data *out,
                                    struct ls_error *err)
{
    lwm2m_data_init(out);
    for (size_t i = 0; i < p->n_writes; i++) {
        for (size_t k = 0; k < p->writes[i].data.count; k++) {
            enum ls_rc rc = copy_value(out, &p->writes[i].data.values[k], err);
            if (rc != LS_OK) {
                lwm2m_data_free(out);
                return rc;
            }
        }
    }
    lwm2m_data_sort(out);
    return LS_OK;
}

void lwm2m_bsconfig_plan_free(struct lwm2m_bsconfig_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_writes; i++)
        lwm2m_data_free(&p->writes[i].data);
    free(p->writes);
    free(p->deletes);
    free(p->server_security_iid);
    memset(p, 0, sizeof *p);
}
