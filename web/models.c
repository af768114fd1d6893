/*
 * web/models.c -- GET /api/models and GET /api/models/{id} (viewer)
 *
 * The object models this server types values with: the built-in core
 * objects plus whatever --models loaded.  {id} answers the newest version
 * known; ?version=1.1 picks one.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

#include <string.h>

#include "lwm2m/model.h"

static const char *operations(unsigned ops)
{
    if (ops & LWM2M_OP_EXECUTE)
        return "E";
    if ((ops & LWM2M_OP_READ) && (ops & LWM2M_OP_WRITE))
        return "RW";
    if (ops & LWM2M_OP_READ)
        return "R";
    if (ops & LWM2M_OP_WRITE)
        return "W";
    return "";
}

/* {"id","name","version","urn"} of one object; "resources" when full. */
static json_t *object_json(const struct lwm2m_object_def *d, bool full)
{
    json_t *o = json_pack("{s:i,s:s,s:s,s:s}", "id", (int)d->id, "name", d->name ? d->name : "",
                          "version", d->version ? d->version : "", "urn", d->urn ? d->urn : "");
    if (!o || !full)
        return o;
    json_t *res = json_array();
    for (size_t i = 0; res && i < d->n_resources; i++) {
        const struct lwm2m_resource_def *r = &d->resources[i];
        json_array_append_new(
            res, json_pack("{s:i,s:s,s:s,s:s,s:b,s:b,s:s}", "id", (int)r->id, "name",
                           r->name ? r->name : "", "type", lwm2m_type_name(r->type),
                           "operations", operations(r->operations), "multiple", r->multiple,
                           "mandatory", r->mandatory, "units", r->units ? r->units : ""));
    }
    json_object_set_new(o, "multiple", json_boolean(d->multiple));
    json_object_set_new(o, "mandatory", json_boolean(d->mandatory));
    json_object_set_new(o, "description", json_string(d->description ? d->description : ""));
    json_object_set_new(o, "resources", res ? res : json_null());
    return o;
}

enum MHD_Result web_models_list(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req)
{
    json_t *list = json_array();
    size_t n = lwm2m_model_count(w->model);
    for (size_t i = 0; list && i < n; i++)
        json_array_append_new(list, object_json(lwm2m_model_at(w->model, i), false));
    return web_reply_json(conn, MHD_HTTP_OK, json_pack("{s:o}", "models", list));
}

enum MHD_Result web_models_get(struct web_http *w, struct MHD_Connection *conn,
                               struct web_request *req)
{
    long long id;
    char version[16];
    int has_version = web_url_query(conn, "version", version, sizeof version);
    if (!web_url_parse_int(req->param, 0, 65535, &id))
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found",
                               "object ids are integers from 0 to 65535");
    if (has_version < 0)
        return web_reply_error(conn, MHD_HTTP_BAD_REQUEST, "bad_request",
                               "version must be like 1.0");
    const struct lwm2m_object_def *d =
        lwm2m_model_object(w->model, (uint16_t)id, has_version > 0 ? version : NULL);
    if (!d)
        return web_reply_error(conn, MHD_HTTP_NOT_FOUND, "not_found", "no model for object %lld",
                               id);
    return web_reply_json(conn, MHD_HTTP_OK, object_json(d, true));
}
