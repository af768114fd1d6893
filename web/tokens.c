/*
 * web/tokens.c -- GET|POST /api/tokens, DELETE /api/tokens/{id} (admin)
 *
 * A created token's secret is in the 201 answer and nowhere else: the
 * database keeps its SHA-256 only, so a lost secret is replaced, not
 * recovered.  The list never shows a secret or a hash.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/log.h"

enum MHD_Result web_tokens_list(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req)
{
    struct ls_error err = { 0 };
    char *text = NULL;
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_tokens_list(w->store, &text, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    json_t *list = json_loads(text, 0, NULL);
    free(text);
    if (!list)
        return web_reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                               "cannot read the token list");
    return web_reply_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "tokens", list));
}

/* Reads {"name": "...", "role": "..."}; false with *ret queued on bad input. */
static bool parse_create(struct MHD_Connection *conn, const struct web_request *req,
                         const char **name, enum store_tokens_role *role, json_t **doc,
                         enum MHD_Result *ret)
{
    json_error_t jerr;
    *doc = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : NULL;
    const char *role_text = NULL;
    if (!*doc || !json_is_object(*doc)) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "the body must be a JSON object {\"name\":...,\"role\":...}");
        return false;
    }
    *name = json_string_value(json_object_get(*doc, "name"));
    role_text = json_string_value(json_object_get(*doc, "role"));
    if (!*name || !**name || strlen(*name) > STORE_TOKENS_NAME_MAX ||
        strlen(*name) != json_string_length(json_object_get(*doc, "name"))) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "name must be a string of 1 to %d bytes", STORE_TOKENS_NAME_MAX);
        return false;
    }
    if (!store_tokens_role_parse(role_text, role)) {
        *ret = web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "role must be \"viewer\", \"operator\" or \"admin\"");
        return false;
    }
    return true;
}

enum MHD_Result web_tokens_create(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    struct ls_error err = { 0 };
    enum MHD_Result ret;
    const char *name;
    enum store_tokens_role role;
    json_t *doc = NULL;
    char secret[STORE_TOKENS_SECRET_LEN + 1];
    uint8_t hash[STORE_TOKENS_HASH_LEN];
    int64_t id = 0;

    if (!parse_create(conn, req, &name, &role, &doc, &ret))
        goto out;
    if (store_tokens_generate(secret, hash, &err) != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_tokens_create(w->store, name, role, hash, &id, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK) {
        ret = web_reply_store_error(conn, &err);
        goto out;
    }
    ls_log_info("token_created", "id=%lld role=%s by=%lld", (long long)id,
                store_tokens_role_name(role), (long long)req->token.id);
    ret = web_reply_json(conn, MHD_HTTP_CREATED,
                         json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)id, "name", name,
                                   "role", store_tokens_role_name(role), "token", secret));
out:
    OPENSSL_cleanse(secret, sizeof secret);
    json_decref(doc);
    return ret;
}

enum MHD_Result web_tokens_delete(struct web_http *w, struct MHD_Connection *conn,
                                  struct web_request *req)
{
    long long id;
    if (!web_url_parse_int(req->param, 1, INT64_MAX, &id))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no such token");
    struct ls_error err = { 0 };
    pthread_mutex_lock(&w->store_lock);
    enum ls_rc rc = store_tokens_delete(w->store, id, req->token.id, &err);
    pthread_mutex_unlock(&w->store_lock);
    if (rc != LS_OK)
        return web_reply_store_error(conn, &err);
    /* Deleted here: stop honouring it here now, not in half a second. */
    web_auth_flush(w->auth);
    ls_log_info("token_deleted", "id=%lld by=%lld", id, (long long)req->token.id);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ret;
}
