/*
 * web/openapi.c -- GET /api/openapi.yaml: the API's OpenAPI 3.1 document
 *
 * docs/openapi.yaml is compiled in at build time (scripts/embed_text.py,
 * web/meson.build), so the document served is the one the binary was
 * built with, whatever is installed beside it.  The unit test web_openapi
 * checks that document against web/http.c's route table, route by route.
 * Authenticated (viewer) like every /api route (ARCHITECTURE.md).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "web/web_int.h"

/* scripts/embed_text.py: web_openapi_yaml.c in the build directory. */
extern const char web_openapi_yaml[];
extern const size_t web_openapi_yaml_len;

const char *web_openapi_text(size_t *len)
{
    *len = web_openapi_yaml_len;
    return web_openapi_yaml;
}

enum MHD_Result web_openapi_get(struct web_http *w, struct MHD_Connection *conn,
                                struct web_request *req)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        web_openapi_yaml_len, (void *)web_openapi_yaml, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/yaml; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = web_queue(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}
