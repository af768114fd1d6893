/*
 * web/factory.c -- POST /api/factory/batches and GET
 * /api/factory/batches/{id}?format=json|csv (admin)
 *
 * A batch request names its devices ({"endpoints": [...]} or {"count": N,
 * "prefix": "dev-", "start": 1} -> dev-1 .. dev-N) and the accounts to make:
 * "bootstrap": {"uri", "security": "psk"} and/or "server": {"uri", "ssid",
 * "security": "psk"}, with "key_bytes" (16..32, default 16).  store/factory.h
 * makes them in one transaction.  The export is the one API answer that
 * carries secrets (the keys, hex); it is written to the audit log before a
 * byte of it leaves, and an export whose audit entry cannot be written is
 * refused.  Answers are marked Cache-Control: no-store.
 *
 * ?format=tlv|senml-cbor (issue 7, SIB): per-device bootstrap blobs, the
 * accounts as LwM2M objects encoded with the lwm2m/ codecs, ready to flash:
 * Security /0/0 the bootstrap account (0 uri, 1 true, 2 PSK, 3 identity,
 * 5 key), /0/1 the server account (1 false, 10 ssid) with Server /1/0
 * (0 ssid, 1 lifetime 86400, 6 false, 7 "U").  SenML CBOR: one blob of
 * every value; TLV (one object per payload): "blob" = object 0 and
 * "server_blob" = object 1.  {"id","format","count","devices":
 * [{"endpoint","blob"[,"server_blob"]}]}, base64 (standard, padded).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/codec.h"
#include "lwm2m/format.h"
#include "lwm2m/path.h"
#include "runtime/log.h"
#include "store/factory.h"

#define URI_MAX 255
#define PREFIX_MAX 180

static enum MHD_Result bad(struct MHD_Connection *conn, const char *msg)
{
    return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
}

/* ---- the request ---- */

/* An account object: {"uri": "coaps://...", "security": "psk", "ssid"}. */
static const char *parse_account(json_t *j, bool server, struct store_factory_account *a)
{
    const char *uri = json_string_value(json_object_get(j, "uri"));
    json_t *sec = json_object_get(j, "security");
    if (!json_is_object(j))
        return server ? "server: must be an object" : "bootstrap: must be an object";
    if (!uri || strncmp(uri, "coaps://", 8) != 0 || strlen(uri) > URI_MAX || !uri[8])
        return server ? "server.uri: must be a coaps:// URI of at most 255 bytes"
                      : "bootstrap.uri: must be a coaps:// URI of at most 255 bytes";
    if (sec && (!json_is_string(sec) || strcmp(json_string_value(sec), "psk") != 0))
        return server ? "server.security: only \"psk\" is supported"
                      : "bootstrap.security: only \"psk\" is supported";
    a->uri = uri;
    if (server) {
        json_t *ssid = json_object_get(j, "ssid");
        if (!json_is_integer(ssid) || json_integer_value(ssid) < 1 ||
            json_integer_value(ssid) > 65534)
            return "server.ssid: must be an integer 1..65534";
        a->ssid = (int)json_integer_value(ssid);
    }
    return NULL;
}

static bool name_ok(const char *s)
{
    size_t len = strlen(s);
    if (len < 1 || len > STORE_FACTORY_NAME_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Any name twice? (sorts a copy) */
static bool has_duplicate(const char *const *names, size_t n)
{
    const char **c = malloc(n * sizeof *c);
    bool dup = false;
    if (!c)
        return true;
    memcpy(c, names, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_names);
    for (size_t i = 1; i < n && !dup; i++)
        dup = strcmp(c[i - 1], c[i]) == 0;
    free(c);
    return dup;
}

/* The device names: borrowed from body's list, or generated into *owned
 * (one block: pointers then text). */
static const char *parse_names(json_t *body, const char ***names, size_t *n, char **owned)
{
    json_t *list = json_object_get(body, "endpoints"), *count = json_object_get(body, "count");
    if (list && count)
        return "give endpoints or count, not both";
    if (list) {
        if (!json_is_array(list) || json_array_size(list) < 1 ||
            json_array_size(list) > STORE_FACTORY_MAX_DEVICES)
            return "endpoints: must be a list of 1..100000 names";
        *n = json_array_size(list);
        *names = calloc(*n, sizeof **names);
        if (!*names)
            return "out of memory";
        for (size_t i = 0; i < *n; i++) {
            const char *s = json_string_value(json_array_get(list, i));
            if (!s || !name_ok(s))
                return "endpoints: each name has 1..200 bytes and no control characters";
            (*names)[i] = s;
        }
        return has_duplicate(*names, *n) ? "endpoints: a name appears twice" : NULL;
    }
    const char *prefix = json_string_value(json_object_get(body, "prefix"));
    json_t *start = json_object_get(body, "start");
    if (!json_is_integer(count) || json_integer_value(count) < 1 ||
        json_integer_value(count) > STORE_FACTORY_MAX_DEVICES)
        return "count: must be an integer 1..100000 (or give endpoints)";
    if (!prefix || strlen(prefix) > PREFIX_MAX || (*prefix && !name_ok(prefix)))
        return "prefix: must be a string of at most 180 bytes without control characters";
    if (start && (!json_is_integer(start) || json_integer_value(start) < 0 ||
                  json_integer_value(start) > 1000000000))
        return "start: must be an integer 0..1000000000";
    long long first = start ? json_integer_value(start) : 1;
    *n = (size_t)json_integer_value(count);
    size_t each = strlen(prefix) + 12;
    *owned = malloc(*n * (sizeof(char *) + each));
    if (!*owned)
        return "out of memory";
    *names = (const char **)(void *)*owned;
    char *text = *owned + *n * sizeof(char *);
    for (size_t i = 0; i < *n; i++, text += each) {
        snprintf(text, each, "%s%lld", prefix, first + (long long)i);
        (*names)[i] = text;
    }
    return NULL;
}

static const char *parse_batch(json_t *body, struct store_factory_batch *b, const char ***names,
                               char **owned)
{
    json_t *kb = json_object_get(body, "key_bytes"), *bs = json_object_get(body, "bootstrap"),
           *sv = json_object_get(body, "server");
    const char *msg;
    if (!json_is_object(body))
        return "the body must be a JSON object";
    if (!bs && !sv)
        return "give a bootstrap account, a server account or both";
    if (bs && (msg = parse_account(bs, false, &b->bootstrap)))
        return msg;
    if (sv && (msg = parse_account(sv, true, &b->server)))
        return msg;
    b->key_bytes = STORE_FACTORY_KEY_DEFAULT;
    if (kb) {
        if (!json_is_integer(kb) || json_integer_value(kb) < STORE_FACTORY_KEY_MIN ||
            json_integer_value(kb) > STORE_FACTORY_KEY_MAX)
            return "key_bytes: must be an integer 16..32";
        b->key_bytes = (size_t)json_integer_value(kb);
    }
    if ((msg = parse_names(body, names, &b->n, owned)))
        return msg;
    b->endpoints = *names;
    return NULL;
}

/* ---- audit ---- */

static enum ls_rc audit(struct web_http *w, struct web_request *req, const char *action,
                        int64_t batch, json_t *detail, struct ls_error *err)
{
    char target[32];
    snprintf(target, sizeof target, "batch:%" PRId64, batch);
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (!text)
        return ls_error_set(err, LS_ENOMEM, "out of memory");
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_audit_append(w->store, req->token.id, req->token.name, action, target,
                                       text, err);
    pthread_mutex_unlock(&w->store_lock);
    free(text);
    return rc;
}

enum MHD_Result web_factory_create(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req)
{
    if (!w->has_master_key)
        return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                               "factory batches need the master key");
    json_error_t jerr;
    json_t *body = req->body ? json_loadb(req->body, req->body_len, 0, &jerr) : NULL;
    if (!body)
        return bad(conn, "the body must be a JSON object");
    struct store_factory_batch b = { .token_id = req->token.id };
    const char **names = NULL;
    char *owned = NULL;
    const char *msg = parse_batch(body, &b, &names, &owned);
    enum MHD_Result ret;
    if (msg) {
        ret = bad(conn, msg);
        goto out;
    }
    char *spec = json_dumps(body, JSON_COMPACT);
    b.spec_json = spec;
    struct ls_error err = { 0 };
    int64_t id = 0;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = spec ? store_factory_create(w->store, &w->master_key, &b, &id, &err)
                         : ls_error_set(&err, LS_ENOMEM, "out of memory");
    pthread_mutex_unlock(&w->store_lock);
    free(spec);
    if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    json_t *accounts = json_array();
    if (b.bootstrap.uri)
        json_array_append_new(accounts, json_string("bootstrap"));
    if (b.server.uri)
        json_array_append_new(accounts, json_string("server"));
    if (audit(w, req, "factory.create", id,
              json_pack("{s:I,s:I,s:O,s:I}", "batch", (json_int_t)id, "count",
                        (json_int_t)b.n, "accounts", accounts, "key_bytes",
                        (json_int_t)b.key_bytes), &err) != LS_OK)
        ls_log_warn("audit_failed", "action=factory.create batch=%" PRId64 " error=\"%s\"", id,
                    err.msg);
    ret = web_reply_json(conn, MHD_HTTP_CREATED,
                         json_pack("{s:I,s:I,s:o}", "id", (json_int_t)id, "count",
                                   (json_int_t)b.n, "accounts", accounts));
out:
    free(names != (const char **)(void *)owned ? (void *)names : NULL);
    free(owned);
    json_decref(body);
    return ret;
}

/* ---- the export ---- */

struct gather {
    json_t *devices;            /* [{"endpoint", "bootstrap": {...}, "server": {...}}] */
    json_t *last;               /* the device the previous row belonged to */
    bool oom;
};

static void on_row(void *arg, const struct store_factory_row *r)
{
    struct gather *g = arg;
    char key[2 * 256 + 1];
    if (g->oom)
        return;
    if (!g->last || strcmp(json_string_value(json_object_get(g->last, "endpoint")),
                           r->endpoint) != 0) {
        g->last = json_pack("{s:s}", "endpoint", r->endpoint);
        if (!g->last || json_array_append_new(g->devices, g->last) != 0) {
            g->oom = true;
            return;
        }
    }
    for (size_t i = 0; i < r->key_len && i < 256; i++)
        snprintf(key + 2 * i, 3, "%02x", r->key[i]);
    key[2 * (r->key_len < 256 ? r->key_len : 256)] = '\0';
    json_t *acc = json_pack("{s:s?,s:s,s:s}", "uri", r->uri, "identity", r->identity, "key",
                            key);
    explicit_bzero(key, sizeof key);
    if (acc && r->ssid > 0)
        json_object_set_new(acc, "ssid", json_integer(r->ssid));
    if (!acc || json_object_set_new(g->last, r->scope, acc) != 0)
        g->oom = true;
}

bool web_factory_csv_field(const char *s, char *out, size_t cap)
{
    size_t n = strlen(out);
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (n + (quote ? 2 : 0) + 1 > cap)
        return false;
    if (quote)
        out[n++] = '"';
    for (; *s; s++) {
        if (n + (*s == '"' ? 2 : 1) + (quote ? 1 : 0) + 1 > cap)
            return false;
        if (*s == '"')
            out[n++] = '"';
        out[n++] = *s;
    }
    if (quote)
        out[n++] = '"';
    out[n] = '\0';
    return true;
}

/* One CSV line for a device ("" fields for an account it does not have). */
static bool csv_line(json_t *dev, char *line, size_t cap)
{
    static const char *const scopes[2] = { "bootstrap", "server" };
    char ssid[16];
    line[0] = '\0';
    bool ok = web_factory_csv_field(json_string_value(json_object_get(dev, "endpoint")), line,
                                    cap);
    for (size_t i = 0; i < 2 && ok; i++) {
        json_t *a = json_object_get(dev, scopes[i]);
        const char *uri = json_string_value(json_object_get(a, "uri"));
        json_t *sj = json_object_get(a, "ssid");
        snprintf(ssid, sizeof ssid, "%" JSON_INTEGER_FORMAT, json_integer_value(sj));
        const char *f[4] = { uri ? uri : "", sj ? ssid : "",
                             a ? json_string_value(json_object_get(a, "identity")) : "",
                             a ? json_string_value(json_object_get(a, "key")) : "" };
        for (size_t k = 0; k < 4 && ok; k++) {
            if (i == 0 && k == 1)
                continue;     /* a bootstrap account has no ssid column */
            ok = strlen(line) + 2 < cap && strcat(line, ",") &&
                 web_factory_csv_field(f[k] ? f[k] : "", line, cap);
        }
    }
    return ok && strlen(line) + 3 < cap && strcat(line, "\r\n");
}

static char *to_csv(json_t *devices, size_t *len_out)
{
    static const char header[] = "endpoint,bootstrap_uri,bootstrap_identity,bootstrap_key,"
                                 "server_uri,server_ssid,server_identity,server_key\r\n";
    size_t cap = sizeof header + json_array_size(devices) * 2048, n = sizeof header - 1;
    char *out = malloc(cap), line[2048];
    if (!out)
        return NULL;
    memcpy(out, header, sizeof header);
    for (size_t i = 0; i < json_array_size(devices); i++) {
        if (!csv_line(json_array_get(devices, i), line, sizeof line)) {
            explicit_bzero(out, n);
            free(out);
            return NULL;
        }
        size_t l = strlen(line);
        memcpy(out + n, line, l + 1);
        n += l;
    }
    explicit_bzero(line, sizeof line);
    *len_out = n;
    return out;
}

/* MHD frees an export with this: the keys are wiped first (every export
 * text is NUL-terminated). */
static void free_secret(void *text)
{
    explicit_bzero(text, strlen(text));
    free(text);
}

static enum MHD_Result reply_secret(struct MHD_Connection *conn, char *text, size_t len,
                                    const char *ctype, int64_t id, const char *ext)
{
    char disp[96];
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, text, free_secret);
    if (!r) {
        free_secret(text);
        return MHD_NO;
    }
    snprintf(disp, sizeof disp, "attachment; filename=\"batch-%" PRId64 ".%s\"", id, ext);
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Content-Disposition", disp);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- per-device blobs (?format=tlv|senml-cbor) ---- */

#define BLOB_LIFETIME_S 86400
#define BLOB_KEY_MAX 256

static bool put_bytes(struct lwm2m_data *d, uint16_t o, uint16_t i, uint16_t r,
                      enum lwm2m_type t, const void *p, size_t len, struct ls_error *err)
{
    struct lwm2m_path path = lwm2m_path_resource(o, i, r);
    return lwm2m_data_append_bytes(d, &path, t, p, len, err) != NULL;
}

static bool put_int(struct lwm2m_data *d, uint16_t o, uint16_t i, uint16_t r, int64_t v,
                    struct ls_error *err)
{
    struct lwm2m_path path = lwm2m_path_resource(o, i, r);
    struct lwm2m_value *x = lwm2m_data_append(d, &path, LWM2M_TYPE_INTEGER, err);
    if (x)
        x->v.i = v;
    return x != NULL;
}

static bool put_bool(struct lwm2m_data *d, uint16_t o, uint16_t i, uint16_t r, bool v,
                     struct ls_error *err)
{
    struct lwm2m_path path = lwm2m_path_resource(o, i, r);
    struct lwm2m_value *x = lwm2m_data_append(d, &path, LWM2M_TYPE_BOOLEAN, err);
    if (x)
        x->v.b = v;
    return x != NULL;
}

/* One exported account (uri, identity, hex key[, ssid]) as /0/inst. */
static bool put_account(struct lwm2m_data *d, json_t *acc, uint16_t inst, bool bs,
                        struct ls_error *err)
{
    const char *uri = json_string_value(json_object_get(acc, "uri"));
    const char *id = json_string_value(json_object_get(acc, "identity"));
    const char *hex = json_string_value(json_object_get(acc, "key"));
    uint8_t key[BLOB_KEY_MAX];
    size_t n = hex ? strlen(hex) / 2 : 0;
    if (!uri || !id || !hex || n > sizeof key)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1)
            return false;
        key[i] = (uint8_t)b;
    }
    bool ok = put_bytes(d, 0, inst, 0, LWM2M_TYPE_STRING, uri, strlen(uri), err) &&
              put_bool(d, 0, inst, 1, bs, err) && put_int(d, 0, inst, 2, 0, err) &&
              put_bytes(d, 0, inst, 3, LWM2M_TYPE_OPAQUE, id, strlen(id), err) &&
              put_bytes(d, 0, inst, 5, LWM2M_TYPE_OPAQUE, key, n, err);
    explicit_bzero(key, sizeof key);
    if (ok && !bs) {
        json_int_t ssid = json_integer_value(json_object_get(acc, "ssid"));
        ok = put_int(d, 0, inst, 10, ssid, err) && put_int(d, 1, 0, 0, ssid, err) &&
             put_int(d, 1, 0, 1, BLOB_LIFETIME_S, err) && put_bool(d, 1, 0, 6, false, err) &&
             put_bytes(d, 1, 0, 7, LWM2M_TYPE_STRING, "U", 1, err);
    }
    return ok;
}

/* Encodes the values under base as base64 into dev[name]; the buffers
 * holding keys are wiped. */
static bool put_blob(json_t *dev, const char *name, unsigned format,
                     const struct lwm2m_data *in, const struct lwm2m_path *base,
                     const struct lwm2m_model *model, struct ls_error *err)
{
    struct lwm2m_buf raw = { 0 }, b64 = { 0 };
    bool ok = lwm2m_format_encode(format, in, base, model, &raw, err) == LS_OK &&
              lwm2m_codec_base64_encode(raw.data, raw.len, false, &b64, err) == LS_OK &&
              lwm2m_buf_append(&b64, "", 1, err) == LS_OK &&
              json_object_set_new(dev, name, json_string((const char *)b64.data)) == 0;
    if (raw.data)
        explicit_bzero(raw.data, raw.len);
    if (b64.data)
        explicit_bzero(b64.data, b64.len);
    lwm2m_buf_free(&raw);
    lwm2m_buf_free(&b64);
    return ok;
}

/* A device of the JSON export -> {"endpoint","blob"[,"server_blob"]}. */
static json_t *device_blob(json_t *dev, unsigned format, const struct lwm2m_model *model)
{
    struct lwm2m_data d;
    struct ls_error err = { 0 };
    lwm2m_data_init(&d);
    json_t *bs = json_object_get(dev, "bootstrap"), *sv = json_object_get(dev, "server");
    json_t *out = json_pack("{s:O}", "endpoint", json_object_get(dev, "endpoint"));
    bool ok = out && (!bs || put_account(&d, bs, 0, true, &err)) &&
              (!sv || put_account(&d, sv, 1, false, &err));
    if (ok && format == LWM2M_FORMAT_TLV) {
        struct lwm2m_path o0 = lwm2m_path_object(0), o1 = lwm2m_path_object(1);
        struct lwm2m_data sec, srv;
        lwm2m_data_init(&sec);
        lwm2m_data_init(&srv);
        for (size_t i = 0; ok && i < d.count; i++) {
            const struct lwm2m_value *v = &d.values[i];
            struct lwm2m_data *to = v->path.id[0] == 0 ? &sec : &srv;
            struct lwm2m_value *c =
                v->type == LWM2M_TYPE_STRING || v->type == LWM2M_TYPE_OPAQUE
                    ? lwm2m_data_append_bytes(to, &v->path, v->type, v->v.bytes.ptr,
                                              v->v.bytes.len, &err)
                    : lwm2m_data_append(to, &v->path, v->type, &err);
            if (c && v->type != LWM2M_TYPE_STRING && v->type != LWM2M_TYPE_OPAQUE)
                c->v = v->v;
            ok = c != NULL;
        }
        ok = ok && put_blob(out, "blob", format, &sec, &o0, model, &err) &&
             (!srv.count || put_blob(out, "server_blob", format, &srv, &o1, model, &err));
        lwm2m_data_free(&sec);
        lwm2m_data_free(&srv);
    } else if (ok) {
        struct lwm2m_path root = lwm2m_path_root();
        ok = put_blob(out, "blob", format, &d, &root, model, &err);
    }
    lwm2m_data_free(&d);
    if (!ok) {
        ls_log_error("factory_blob_failed", "error=\"%s\"", err.msg);
        json_decref(out);
        return NULL;
    }
    return out;
}

static char *to_blobs(json_t *devices, int64_t id, int64_t count, unsigned format,
                      const struct lwm2m_model *model)
{
    json_t *list = json_array(), *dev;
    size_t i;
    json_array_foreach(devices, i, dev) {
        json_t *b = device_blob(dev, format, model);
        if (!b || json_array_append_new(list, b) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    json_t *doc = json_pack("{s:I,s:s,s:I,s:o}", "id", (json_int_t)id, "format",
                            lwm2m_format_name(format), "count", (json_int_t)count, "devices",
                            list);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

enum MHD_Result web_factory_export(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req)
{
    long long id;
    char format[16] = "json";
    if (!web_url_parse_int(req->param, 1, INT64_MAX, &id))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such batch");
    int has = web_url_query(conn, "format", format, sizeof format);
    bool blobs = strcmp(format, "tlv") == 0 || strcmp(format, "senml-cbor") == 0;
    if (has < 0 || (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0 && !blobs))
        return bad(conn, "format: must be json, csv, tlv or senml-cbor");
    if (!w->has_master_key)
        return web_reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                               "factory batches need the master key");
    struct gather g = { .devices = json_array() };
    struct ls_error err = { 0 };
    int64_t count = 0;
    char *created = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_factory_export(w->store, &w->master_key, id, on_row, &g, &count,
                                         &created, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc == LS_OK && (g.oom || !g.devices))
        rc = ls_error_set(&err, LS_ENOMEM, "out of memory");
    if (rc == LS_OK)
        rc = audit(w, req, "factory.export", id,
                   json_pack("{s:I,s:s,s:I}", "batch", (json_int_t)id, "format", format,
                             "devices", (json_int_t)json_array_size(g.devices)), &err);
    enum MHD_Result ret;
    if (rc == LS_ENOTFOUND) {
        ret = web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such batch");
    } else if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
    } else if (blobs) {
        unsigned f = strcmp(format, "tlv") == 0 ? LWM2M_FORMAT_TLV : LWM2M_FORMAT_SENML_CBOR;
        char *text = to_blobs(g.devices, id, count, f, w->model);
        ret = text ? reply_secret(conn, text, strlen(text), "application/json", id, "json")
                   : web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                     "cannot encode the blobs");
    } else if (strcmp(format, "csv") == 0) {
        size_t len = 0;
        char *text = to_csv(g.devices, &len);
        ret = text ? reply_secret(conn, text, len, "text/csv; charset=utf-8", id, "csv")
                   : web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                     "cannot write the CSV");
    } else {
        json_t *doc = json_pack("{s:I,s:s,s:I,s:O}", "id", (json_int_t)id, "created_at",
                                created ? created : "", "count", (json_int_t)count, "devices",
                                g.devices);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        ret = text ? reply_secret(conn, text, strlen(text), "application/json", id, "json")
                   : web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                     "cannot write the export");
    }
    free(created);
    json_decref(g.devices);
    return ret;
}
