/*
 * web/bootstrap.c -- bootstrap configurations (admin) and a device's
 * bootstrap sessions (viewer)
 *
 *   GET    /api/bootstrap/configs            page of summaries (?kind=&after=&limit=)
 *   GET    /api/bootstrap/configs/{name}     one configuration, keys masked
 *                                            (?secrets=true: unmasked, audited)
 *   PUT    /api/bootstrap/configs/{name}     create (201) or replace (200)
 *   DELETE /api/bootstrap/configs/{name}     204
 *   POST   /api/bootstrap/configs:import     many device configurations,
 *                                            JSON list or CSV, all or nothing
 *   GET    /api/devices/{ep}/bootstrap-sessions   (?limit=&outcome=)
 *   GET    /api/bootstrap/sessions           every device's, newest first
 *                                            (?limit=&outcome=)
 *
 * A body is validated with lwm2m_bsconfig_parse (the same parser the
 * bootstrap daemon runs), so what the API accepts is exactly what a
 * bootstrap can use, and a 400 names the bad field.  The body's
 * "endpoint" or "match" decides the kind; "default" has neither.
 *
 * Sessions hold no key (an issued identity, never its key): a viewer may
 * list them.
 *
 * Key material (every "key", "secret_key" and "master_secret" string in a
 * body) is a secret: it is never logged, and GET masks it unless the
 * admin asks for ?secrets=true, which is audited.  Configurations are
 * admin-only (a viewer cannot read them at all).  docs/bootstrap.md has
 * the format, the import formats and the reasons.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <strings.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/bsconfig.h"
#include "runtime/log.h"
#include "store/bsconfigs.h"
#include "store/audit.h"
#include "store/bssessions.h"

#define MASK "********"
#define LIMIT_DEFAULT 100
#define SESSIONS_LIMIT_DEFAULT 50
#define SESSIONS_LIMIT_MAX STORE_BSSESSIONS_LIMIT_MAX
#define IMPORT_MAX 100000           /* rows per import */

/* --- audit ------------------------------------------------------------- */

/*
 * One audit entry per configuration change, after the change committed.
 * Best effort: the change stands when the audit write fails, and the
 * failure is logged (never the body: it may hold keys).  Consumes detail.
 */
static void audit(struct web_http *w, const struct web_request *req, const char *action,
                  const char *target, json_t *detail)
{
    struct ls_error err = { 0 };
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_audit_append(w->store, req->token.id, req->token.name, action, target,
                                       text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        ls_log_warn("audit_failed", "action=%s target=\"%.64s\" error=\"%s\"", action,
                    target ? target : "", err.msg);
    free(text);
}

/* --- masking ------------------------------------------------------------ */

static bool is_secret_member(const char *key)
{
    return strcmp(key, "key") == 0 || strcmp(key, "secret_key") == 0 ||
           strcmp(key, "master_secret") == 0;
}

/* Replaces every secret string member, at any depth, with MASK. */
static void mask_secrets(json_t *j)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (is_secret_member(k) && json_is_string(v))
                json_object_set_new(j, k, json_string(MASK));
            else
                mask_secrets(v);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            mask_secrets(v);
    }
}

/* --- list, get, delete -------------------------------------------------- */

/* ?kind=, ?after=, ?limit=; false with *ret queued when one is bad. */
static bool list_query(struct MHD_Connection *conn, char *kind, size_t kcap, char *after,
                       size_t acap, long long *limit, enum MHD_Result *ret)
{
    char limtext[16];
    int hk = web_url_query(conn, "kind", kind, kcap);
    int ha = web_url_query(conn, "after", after, acap);
    int hl = web_url_query(conn, "limit", limtext, sizeof limtext);
    *limit = LIMIT_DEFAULT;
    if (hk < 0 || (hk > 0 && strcmp(kind, "device") != 0 && strcmp(kind, "template") != 0 &&
                   strcmp(kind, "default") != 0)) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "kind must be device, template or default");
        return false;
    }
    if (ha < 0) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "after must be percent-encoded UTF-8 of at most %d bytes",
                               STORE_BSCONFIGS_NAME_MAX);
        return false;
    }
    if (hl < 0 || (hl > 0 && !web_url_parse_int(limtext, 1, STORE_BSCONFIGS_LIMIT_MAX, limit))) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d",
                               STORE_BSCONFIGS_LIMIT_MAX);
        return false;
    }
    if (hk == 0)
        kind[0] = '\0';
    if (ha == 0)
        after[0] = '\0';
    return true;
}

enum MHD_Result web_bootstrap_list(struct web_http *w, struct MHD_Connection *conn,
                                   struct web_request *req)
{
    (void)req;
    char kind[16], after[STORE_BSCONFIGS_NAME_MAX + 1];
    long long limit;
    enum MHD_Result ret;
    if (!list_query(conn, kind, sizeof kind, after, sizeof after, &limit, &ret))
        return ret;
    struct ls_error err = { 0 };
    char *text = NULL;
    bool more = false;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_bsconfigs_list(w->store, *kind ? kind : NULL, *after ? after : NULL,
                                         (int)limit, &text, &more, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    return web_reply_page(conn, text, more, "configs", "name");
}

/* The stored configuration name as JSON (caller decrefs), or NULL with
 * err set (LS_ENOTFOUND, a store error, or LS_EIO for unreadable JSON). */
static json_t *load_config(struct web_http *w, const char *name, struct ls_error *err)
{
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_bsconfigs_get(w->store, name, &text, err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return NULL;
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    if (!j)
        ls_error_set(err, LS_EIO, "cannot read the stored configuration");
    return j;
}

static bool name_ok(const struct web_request *req)
{
    return req->param_len > 0 && req->param_len <= STORE_BSCONFIGS_NAME_MAX;
}

enum MHD_Result web_bootstrap_get(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    char secrets[8];
    int hs = web_url_query(conn, "secrets", secrets, sizeof secrets);
    if (hs < 0 || (hs > 0 && strcmp(secrets, "true") != 0 && strcmp(secrets, "false") != 0))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "secrets must be true or false");
    bool reveal = hs > 0 && strcmp(secrets, "true") == 0;
    if (!name_ok(req))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
                               "no such bootstrap configuration");
    struct ls_error err = { 0 };
    json_t *cfg = load_config(w, req->param, &err);
    if (!cfg)
        return web_reply_store_error(conn, &err);
    if (reveal)
        audit(w, req, "bootstrap.config.reveal", req->param, NULL);
    else
        mask_secrets(json_object_get(cfg, "body"));
    return web_reply_json(conn, MHD_HTTP_OK, cfg);
}

enum MHD_Result web_bootstrap_delete(struct web_http *w, struct MHD_Connection *conn,
                                     struct web_request *req)
{
    if (!name_ok(req))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
                               "no such bootstrap configuration");
    struct ls_error err = { 0 };
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_bsconfigs_delete(w->store, req->param, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    audit(w, req, "bootstrap.config.delete", req->param, NULL);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}

/* --- put ---------------------------------------------------------------- */

/* What a valid body says about where it is stored. */
struct placement {
    const char *endpoint;   /* borrowed from the parsed config; NULL when absent */
    const char *match;
    int priority;
};

/*
 * Validates body (len bytes of JSON) for configuration name: the parser's
 * rules, then the kind rules.  On success *cfg (caller frees with
 * lwm2m_bsconfig_free) backs *pl.  On failure msg gets the message, which
 * starts with the bad field.
 */
static bool validate(struct web_http *w, const char *name, const char *body, size_t len,
                     struct lwm2m_bsconfig **cfg, struct placement *pl, char *msg, size_t cap)
{
    struct ls_error err = { 0 };
    *cfg = NULL;
    if (lwm2m_bsconfig_parse(body, len, w->model, cfg, &err) != LS_OK) {
        snprintf(msg, cap, "%s", err.msg);
        return false;
    }
    pl->endpoint = (*cfg)->endpoint;
    pl->match = (*cfg)->match;
    if ((*cfg)->priority < INT_MIN || (*cfg)->priority > INT_MAX) {
        snprintf(msg, cap, "priority: must be a 32-bit integer");
        return false;
    }
    pl->priority = (int)(*cfg)->priority;
    bool is_default = strcmp(name, STORE_BSCONFIGS_DEFAULT) == 0;
    if (is_default && (pl->endpoint || pl->match)) {
        snprintf(msg, cap, "%s: the configuration named default has neither endpoint nor match",
                 pl->endpoint ? "endpoint" : "match");
        return false;
    }
    if (!is_default && !pl->endpoint && !pl->match) {
        snprintf(msg, cap, "endpoint: a configuration other than default needs \"endpoint\" "
                           "(a device) or \"match\" (a template)");
        return false;
    }
    if (pl->endpoint && pl->match) {
        snprintf(msg, cap, "match: a configuration has endpoint or match, not both");
        return false;
    }
    return true;
}

static const char *kind_of(const struct placement *pl)
{
    return pl->endpoint ? "device" : pl->match ? "template" : "default";
}

enum MHD_Result web_bootstrap_put(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    char msg[256];
    struct lwm2m_bsconfig *cfg = NULL;
    struct placement pl = { 0 };
    enum MHD_Result ret;
    if (!name_ok(req))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "name: must be 1 to %d bytes", STORE_BSCONFIGS_NAME_MAX);
    if (!req->body || !validate(w, req->param, req->body, req->body_len, &cfg, &pl, msg,
                                sizeof msg)) {
        ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s",
                              req->body ? msg : "the body must be a JSON object");
        goto out;
    }
    struct ls_error err = { 0 };
    bool created = false;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_bsconfigs_put(w->store, req->param, pl.endpoint, pl.match,
                                        pl.priority, req->body, &created, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    audit(w, req, created ? "bootstrap.config.create" : "bootstrap.config.replace", req->param,
          json_pack("{s:s,s:s?,s:s?,s:i}", "kind", kind_of(&pl), "endpoint", pl.endpoint,
                    "match", pl.match, "priority", pl.priority));
    json_t *stored = load_config(w, req->param, &err);
    if (!stored) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    mask_secrets(json_object_get(stored, "body"));
    ret = web_reply_json(conn, created ? MHD_HTTP_CREATED : MHD_HTTP_OK, stored);
out:
    lwm2m_bsconfig_free(cfg);
    return ret;
}

/* --- import ------------------------------------------------------------- */

/* Where an import item came from, for error messages. */
struct import_src {
    bool csv;
    size_t *lines;          /* CSV: the line each item starts on; NULL for JSON */
};

static void item_label(const struct import_src *src, size_t i, char *out, size_t cap)
{
    if (src->csv)
        snprintf(out, cap, "line %zu", src->lines[i]);
    else
        snprintf(out, cap, "[%zu]", i);
}

/* The body of template `name` (cached in templates), without its own
 * endpoint/match/priority; NULL with msg set when it cannot be had. */
static json_t *template_body(struct web_http *w, json_t *templates, const char *name,
                             char *msg, size_t cap)
{
    json_t *body = json_object_get(templates, name);
    if (body)
        return body;
    struct ls_error err = { 0 };
    json_t *cfg = load_config(w, name, &err);
    if (!cfg) {
        snprintf(msg, cap, "template: %s", err.code == LS_ENOTFOUND
                                               ? "no such bootstrap configuration"
                                               : "cannot read the configuration");
        return NULL;
    }
    body = json_incref(json_object_get(cfg, "body"));
    json_decref(cfg);
    json_object_del(body, "endpoint");
    json_object_del(body, "match");
    json_object_del(body, "priority");
    json_object_set_new(templates, name, body);
    return body;
}

/*
 * Turns one import item into a stored row {"name","endpoint","priority",
 * "body"}: the template's body (if any) overlaid with the item's members,
 * validated.  NULL with msg (starting with the field) on bad input.
 */
static json_t *import_row(struct web_http *w, json_t *templates, json_t *item, char *msg,
                          size_t cap)
{
    if (!json_is_object(item)) {
        snprintf(msg, cap, "must be a JSON object");
        return NULL;
    }
    const char *ep = json_string_value(json_object_get(item, "endpoint"));
    json_t *jname = json_object_get(item, "name");
    json_t *jtpl = json_object_get(item, "template");
    if (!ep || !*ep || strlen(ep) > STORE_BSCONFIGS_NAME_MAX) {
        snprintf(msg, cap, "endpoint: required, a string of 1 to %d bytes",
                 STORE_BSCONFIGS_NAME_MAX);
        return NULL;
    }
    if (json_object_get(item, "match")) {
        snprintf(msg, cap, "match: an import holds device configurations only");
        return NULL;
    }
    const char *name = jname ? json_string_value(jname) : ep;
    if (!name || !*name || strlen(name) > STORE_BSCONFIGS_NAME_MAX ||
        strcmp(name, STORE_BSCONFIGS_DEFAULT) == 0) {
        snprintf(msg, cap, "name: must be a string of 1 to %d bytes, not \"default\"",
                 STORE_BSCONFIGS_NAME_MAX);
        return NULL;
    }
    if (jtpl && !json_is_string(jtpl)) {
        snprintf(msg, cap, "template: must be the name of a configuration");
        return NULL;
    }
    json_t *body = json_object();
    if (jtpl) {
        json_t *tb = template_body(w, templates, json_string_value(jtpl), msg, cap);
        if (!tb) {
            json_decref(body);
            return NULL;
        }
        json_object_update(body, tb);
    }
    json_object_update(body, item);
    json_object_del(body, "name");
    json_object_del(body, "template");
    char *text = json_dumps(body, JSON_COMPACT);
    struct lwm2m_bsconfig *cfg = NULL;
    struct ls_error err = { 0 };
    json_t *row = NULL;
    if (!text)
        snprintf(msg, cap, "cannot serialise the configuration");
    else if (lwm2m_bsconfig_parse(text, strlen(text), w->model, &cfg, &err) != LS_OK)
        snprintf(msg, cap, "%s", err.msg);
    else if (cfg->priority < INT_MIN || cfg->priority > INT_MAX)
        snprintf(msg, cap, "priority: must be a 32-bit integer");
    else
        row = json_pack("{s:s,s:s,s:I,s:O}", "name", name, "endpoint", ep, "priority",
                        (json_int_t)cfg->priority, "body", body);
    lwm2m_bsconfig_free(cfg);
    free(text);
    json_decref(body);
    return row;
}

/* Every item -> rows; names and endpoints unique.  NULL with msg. */
static json_t *import_rows(struct web_http *w, json_t *items, const struct import_src *src,
                           char *msg, size_t cap)
{
    json_t *rows = json_array(), *templates = json_object(), *seen_ep = json_object(),
           *seen_name = json_object();
    char label[48], why[200];
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        item_label(src, i, label, sizeof label);
        json_t *row = import_row(w, templates, item, why, sizeof why);
        if (!row) {
            snprintf(msg, cap, "%s: %s", label, why);
            goto fail;
        }
        const char *ep = json_string_value(json_object_get(row, "endpoint"));
        const char *name = json_string_value(json_object_get(row, "name"));
        if (json_object_get(seen_ep, ep) || json_object_get(seen_name, name)) {
            snprintf(msg, cap, "%s: %s \"%.64s\" appears twice in the import", label,
                     json_object_get(seen_ep, ep) ? "endpoint" : "name",
                     json_object_get(seen_ep, ep) ? ep : name);
            json_decref(row);
            goto fail;
        }
        json_object_set(seen_ep, ep, json_true());
        json_object_set(seen_name, name, json_true());
        json_array_append_new(rows, row);
    }
    json_decref(templates);
    json_decref(seen_ep);
    json_decref(seen_name);
    return rows;
fail:
    json_decref(rows);
    json_decref(templates);
    json_decref(seen_ep);
    json_decref(seen_name);
    return NULL;
}

static bool is_csv(struct MHD_Connection *conn)
{
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    return ct && strncasecmp(ct, "text/csv", 8) == 0 && (ct[8] == '\0' || ct[8] == ';' ||
                                                         ct[8] == ' ');
}

/* The request's items (JSON list, or CSV converted); NULL with msg. */
static json_t *import_items(struct MHD_Connection *conn, const struct web_request *req,
                            struct import_src *src, char *msg, size_t cap)
{
    src->csv = is_csv(conn);
    src->lines = NULL;
    if (!req->body) {
        snprintf(msg, cap, "the body is empty");
        return NULL;
    }
    if (src->csv)
        return web_bootstrap_csv_items(req->body, req->body_len, &src->lines, msg, cap);
    json_error_t jerr;
    json_t *items = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!items || !json_is_array(items)) {
        if (items)
            snprintf(msg, cap, "the body must be a JSON list of devices");
        else
            snprintf(msg, cap, "json: %s at line %d column %d", jerr.text, jerr.line,
                     jerr.column);
        json_decref(items);
        return NULL;
    }
    return items;
}

enum MHD_Result web_bootstrap_import(struct web_http *w, struct MHD_Connection *conn,
                                     struct web_request *req)
{
    char msg[256];
    struct import_src src = { 0 };
    json_t *rows = NULL;
    char *text = NULL;
    enum MHD_Result ret;
    json_t *items = import_items(conn, req, &src, msg, sizeof msg);
    if (items && json_array_size(items) > IMPORT_MAX)
        snprintf(msg, sizeof msg, "an import holds at most %d devices", IMPORT_MAX);
    else if (items)
        rows = import_rows(w, items, &src, msg, sizeof msg);
    if (!rows) {
        ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request", "%s", msg);
        goto out;
    }
    text = json_dumps(rows, JSON_COMPACT);
    if (!text) {
        ret = web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                              "cannot serialise the import");
        goto out;
    }
    struct ls_error err = { 0 };
    size_t n = 0;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_bsconfigs_import(w->store, text, &n, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    audit(w, req, "bootstrap.config.import", NULL,
          json_pack("{s:I,s:s}", "imported", (json_int_t)n, "format", src.csv ? "csv" : "json"));
    ret = web_reply_json(conn, MHD_HTTP_OK, json_pack("{s:I}", "imported", (json_int_t)n));
out:
    free(text);
    free(src.lines);
    json_decref(rows);
    json_decref(items);
    return ret;
}

/* --- CSV ---------------------------------------------------------------- */

/* The columns an import CSV may have (docs/bootstrap.md). */
static const char *const csv_columns[] = {
    "endpoint", "name", "template", "priority", "server_uri", "ssid", "security",
    "identity", "key", "lifetime", "binding",
};
#define N_CSV_COLUMNS (sizeof csv_columns / sizeof csv_columns[0])

struct csv {
    const char *p, *end;    /* unread input */
    size_t line;            /* 1-based line of p */
    char *buf;              /* the field being read */
    size_t len, cap;
};

static bool csv_put(struct csv *c, char ch)
{
    if (c->len + 1 >= c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 64;
        char *nb = realloc(c->buf, ncap);
        if (!nb)
            return false;
        c->buf = nb;
        c->cap = ncap;
    }
    c->buf[c->len++] = ch;
    return true;
}

/* Is p at an end of record (LF or CRLF)?  *n gets its length. */
static bool csv_eol(const struct csv *c, const char *p, size_t *n)
{
    if (p < c->end && *p == '\n')
        return (*n = 1), true;
    if (p + 1 < c->end && p[0] == '\r' && p[1] == '\n')
        return (*n = 2), true;
    return false;
}

/* A quoted field's content after its opening quote; false with msg. */
static bool csv_quoted(struct csv *c, char *msg, size_t cap)
{
    size_t start = c->line;
    for (;;) {
        if (c->p >= c->end) {
            snprintf(msg, cap, "line %zu: a quoted field is not closed", start);
            return false;
        }
        char ch = *c->p++;
        if (ch == '"') {
            if (c->p < c->end && *c->p == '"')
                c->p++;
            else
                return true;
        } else if (ch == '\n') {
            c->line++;
        }
        if (!csv_put(c, ch)) {
            snprintf(msg, cap, "out of memory");
            return false;
        }
    }
}

/*
 * Reads one field into c->buf.  *last is set when the record ends after
 * it.  false with msg on malformed input (RFC 4180: a quote only opens a
 * field, and only a separator or the end of the record follows its close).
 */
static bool csv_field(struct csv *c, bool *last, bool *quoted, char *msg, size_t cap)
{
    size_t n;
    c->len = 0;
    *quoted = c->p < c->end && *c->p == '"';
    if (*quoted) {
        c->p++;
        if (!csv_quoted(c, msg, cap))
            return false;
    }
    while (c->p < c->end && *c->p != ',' && !csv_eol(c, c->p, &n)) {
        if (*quoted || *c->p == '"') {
            snprintf(msg, cap, "line %zu: a quote inside an unquoted field, or text after "
                               "a closing quote", c->line);
            return false;
        }
        if (!csv_put(c, *c->p++)) {
            snprintf(msg, cap, "out of memory");
            return false;
        }
    }
    *last = true;
    if (c->p < c->end && *c->p == ',') {
        c->p++;
        *last = false;
    } else if (csv_eol(c, c->p, &n)) {
        c->p += n;
        c->line++;
    }
    c->buf[c->len] = '\0';  /* csv_put kept room: cap > len */
    return true;
}

/* One record as a JSON array of strings; NULL at the end of input or on
 * error (msg[0] set).  Blank lines are skipped. */
static json_t *csv_record(struct csv *c, size_t *start_line, char *msg, size_t cap)
{
    size_t n;
    while (csv_eol(c, c->p, &n)) {
        c->p += n;
        c->line++;
    }
    if (c->p >= c->end || (c->buf == NULL && !csv_put(c, '\0')))
        return NULL;
    *start_line = c->line;
    json_t *rec = json_array();
    bool last = false, quoted;
    while (!last) {
        if (!csv_field(c, &last, &quoted, msg, cap))
            goto fail;
        if (memchr(c->buf, '\0', c->len) || !web_url_utf8_valid(c->buf, c->len)) {
            snprintf(msg, cap, "line %zu: a field is not valid UTF-8 text", *start_line);
            goto fail;
        }
        json_array_append_new(rec, json_stringn(c->buf, c->len));
    }
    return rec;
fail:
    json_decref(rec);
    return NULL;
}

/* Column index of each header name (-1 absent); false with msg. */
static bool csv_header(json_t *hdr, int col[N_CSV_COLUMNS], char *msg, size_t cap)
{
    size_t i, k;
    json_t *v;
    for (k = 0; k < N_CSV_COLUMNS; k++)
        col[k] = -1;
    json_array_foreach(hdr, i, v) {
        const char *name = json_string_value(v);
        for (k = 0; k < N_CSV_COLUMNS && strcmp(name, csv_columns[k]) != 0; k++)
            ;
        if (k == N_CSV_COLUMNS) {
            snprintf(msg, cap, "line 1: unknown column \"%.40s\"", name);
            return false;
        }
        if (col[k] >= 0) {
            snprintf(msg, cap, "line 1: column \"%s\" appears twice", name);
            return false;
        }
        col[k] = (int)i;
    }
    if (col[0] < 0) {
        snprintf(msg, cap, "line 1: the header needs an \"endpoint\" column");
        return false;
    }
    return true;
}

/* The record's value for column k; "" when the column is absent. */
static const char *csv_get(json_t *rec, const int col[N_CSV_COLUMNS], size_t k)
{
    return col[k] < 0 ? "" : json_string_value(json_array_get(rec, (size_t)col[k]));
}

/* Sets obj.key to the integer in text; false with msg when it is not one. */
static bool csv_int(json_t *obj, const char *key, const char *text, size_t line, char *msg,
                    size_t cap)
{
    long long v;
    bool neg = text[0] == '-';
    if (!web_url_parse_int(text + neg, 0, LLONG_MAX, &v)) {
        snprintf(msg, cap, "line %zu: %s: must be an integer", line, key);
        return false;
    }
    json_object_set_new(obj, key, json_integer(neg ? -v : v));
    return true;
}

/* Sets obj.key to text unless text is empty. */
static void csv_str(json_t *obj, const char *key, const char *text)
{
    if (*text)
        json_object_set_new(obj, key, json_string(text));
}

/* The server account of a record's server columns; false with msg. */
static bool csv_server(json_t *item, json_t *rec, const int col[N_CSV_COLUMNS], size_t line,
                       char *msg, size_t cap)
{
    const char *uri = csv_get(rec, col, 4), *ssid = csv_get(rec, col, 5),
               *sec = csv_get(rec, col, 6), *id = csv_get(rec, col, 7),
               *key = csv_get(rec, col, 8), *life = csv_get(rec, col, 9),
               *bind = csv_get(rec, col, 10);
    if (!*uri) {
        if (*ssid || *sec || *id || *key || *life || *bind) {
            snprintf(msg, cap, "line %zu: server_uri: required when another server column "
                               "has a value", line);
            return false;
        }
        return true;
    }
    if ((*id != '\0') != (*key != '\0')) {
        snprintf(msg, cap, "line %zu: %s: identity and key go together", line,
                 *id ? "key" : "identity");
        return false;
    }
    json_t *srv = json_object();
    json_object_set_new(item, "servers", json_pack("[o]", srv));
    csv_str(srv, "uri", uri);
    csv_str(srv, "security", sec);
    csv_str(srv, "binding", bind);
    if ((*ssid && !csv_int(srv, "ssid", ssid, line, msg, cap)) ||
        (*life && !csv_int(srv, "lifetime", life, line, msg, cap)))
        return false;
    if (*id)
        json_object_set_new(srv, "credentials", json_pack("{s:s,s:s}", "identity", id,
                                                          "key", key));
    else if (strcmp(sec, "psk") == 0 || (!*sec && strncmp(uri, "coaps://", 8) == 0))
        json_object_set_new(srv, "credentials", json_string("issue"));
    return true;
}

/* One data record -> an import item; NULL with msg. */
static json_t *csv_item(json_t *rec, json_t *hdr, const int col[N_CSV_COLUMNS], size_t line,
                        char *msg, size_t cap)
{
    if (json_array_size(rec) != json_array_size(hdr)) {
        snprintf(msg, cap, "line %zu: %zu fields where the header has %zu", line,
                 json_array_size(rec), json_array_size(hdr));
        return NULL;
    }
    json_t *item = json_object();
    json_object_set_new(item, "endpoint", json_string(csv_get(rec, col, 0)));
    csv_str(item, "name", csv_get(rec, col, 1));
    csv_str(item, "template", csv_get(rec, col, 2));
    const char *prio = csv_get(rec, col, 3);
    if ((*prio && !csv_int(item, "priority", prio, line, msg, cap)) ||
        !csv_server(item, rec, col, line, msg, cap)) {
        json_decref(item);
        return NULL;
    }
    return item;
}

/* Appends line to *lines (grown as needed); false on ENOMEM. */
static bool push_line(size_t **lines, size_t n, size_t line)
{
    if ((n & (n - 1)) == 0) {   /* 0, 1, 2, 4, ...: grow to the next power of two */
        size_t *nl = realloc(*lines, (n ? 2 * n : 1) * sizeof **lines);
        if (!nl)
            return false;
        *lines = nl;
    }
    (*lines)[n] = line;
    return true;
}

json_t *web_bootstrap_csv_items(const char *text, size_t len, size_t **lines_out, char *msg,
                                size_t cap)
{
    struct csv c = { .p = text, .end = text + len, .line = 1 };
    int col[N_CSV_COLUMNS];
    size_t line = 0;
    json_t *items = NULL, *rec = NULL;
    *lines_out = NULL;
    msg[0] = '\0';
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        c.p += 3;   /* a UTF-8 byte order mark, as spreadsheets write */
    json_t *hdr = csv_record(&c, &line, msg, cap);
    if (!hdr) {
        if (!msg[0])
            snprintf(msg, cap, "line 1: the CSV needs a header line");
        goto out;
    }
    if (!csv_header(hdr, col, msg, cap))
        goto out;
    items = json_array();
    while ((rec = csv_record(&c, &line, msg, cap))) {
        json_t *item = csv_item(rec, hdr, col, line, msg, cap);
        json_decref(rec);
        if (!item || !push_line(lines_out, json_array_size(items), line)) {
            if (item)
                snprintf(msg, cap, "out of memory");
            json_decref(item);
            break;
        }
        json_array_append_new(items, item);
    }
out:
    if (msg[0]) {
        json_decref(items);
        items = NULL;
        free(*lines_out);
        *lines_out = NULL;
    }
    json_decref(hdr);
    free(c.buf);
    return items;
}

/* --- sessions ----------------------------------------------------------- */

/* The sessions of endpoint (NULL: every device's), as ?limit= and
 * ?outcome= ask. */
static enum MHD_Result reply_sessions(struct web_http *w, struct MHD_Connection *conn,
                                      const char *endpoint)
{
    static const char *const outcomes[] = { "success", "failed", "timeout", "refused", NULL };
    char outcome[16];
    long long limit;
    if (!web_url_query_limit(conn, SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX, &limit))
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "limit must be an integer from 1 to %d", SESSIONS_LIMIT_MAX);
    int ho = web_url_query_enum(conn, "outcome", outcomes, outcome, sizeof outcome);
    if (ho < 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "outcome must be success, failed, timeout or refused");
    struct ls_error err = { 0 };
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_bssessions_list(w->store, endpoint, ho > 0 ? outcome : NULL,
                                          (int)limit, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    return web_reply_list(conn, rc, text, &err, "sessions");
}

enum MHD_Result web_bootstrap_sessions(struct web_http *w, struct MHD_Connection *conn,
                                       struct web_request *req)
{
    if (!req->param || req->param_len == 0 || req->param_len > STORE_BSCONFIGS_NAME_MAX)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such device");
    return reply_sessions(w, conn, req->param);
}

enum MHD_Result web_bootstrap_sessions_all(struct web_http *w, struct MHD_Connection *conn,
                                           struct web_request *req)
{
    (void)req;
    return reply_sessions(w, conn, NULL);
}
