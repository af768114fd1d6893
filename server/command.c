/*
 * server/command.c -- parse and check a command document (command.h)
 *
 * jansson stays inside this file.  Values go through the API's own value
 * parser (lwm2m_api_json_decode reads the "values" member of the same
 * document and ignores the rest), so a value is typed and checked exactly
 * as everywhere else in the API.
 *
 * Which depths an op accepts (Core TS 1.2, "Device Management and Service
 * Enablement Interface"): Execute a resource; Create an object; Delete an
 * instance (or a resource instance, 1.2); Write an instance, resource or
 * resource instance; Write-Update an instance or resource; Read, Discover,
 * Observe and Write-Attributes anything but the root.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "server/command.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwm2m/api_json.h"
#include "lwm2m/format.h"

static const char *const op_names[] = {
    [SERVER_COMMAND_READ] = "read",
    [SERVER_COMMAND_WRITE] = "write",
    [SERVER_COMMAND_UPDATE] = "update",
    [SERVER_COMMAND_EXECUTE] = "execute",
    [SERVER_COMMAND_CREATE] = "create",
    [SERVER_COMMAND_DELETE] = "delete",
    [SERVER_COMMAND_DISCOVER] = "discover",
    [SERVER_COMMAND_ATTRIBUTES] = "attributes",
    [SERVER_COMMAND_OBSERVE] = "observe",
    [SERVER_COMMAND_CANCEL_OBSERVE] = "cancel_observe",
    [SERVER_COMMAND_READ_COMPOSITE] = "read_composite",
    [SERVER_COMMAND_WRITE_COMPOSITE] = "write_composite",
    [SERVER_COMMAND_OBSERVE_COMPOSITE] = "observe_composite",
    [SERVER_COMMAND_CANCEL_OBSERVE_COMPOSITE] = "cancel_observe_composite",
};
#define N_OPS (sizeof op_names / sizeof op_names[0])

/* Allowed path depths per op, as a bit set (1 << depth). */
static const unsigned op_depths[] = {
    [SERVER_COMMAND_READ] = 0x1e,
    [SERVER_COMMAND_WRITE] = 0x1c,
    [SERVER_COMMAND_UPDATE] = 0x0c,
    [SERVER_COMMAND_EXECUTE] = 0x08,
    [SERVER_COMMAND_CREATE] = 0x02,
    [SERVER_COMMAND_DELETE] = 0x14,
    [SERVER_COMMAND_DISCOVER] = 0x0e,
    [SERVER_COMMAND_ATTRIBUTES] = 0x1e,
    [SERVER_COMMAND_OBSERVE] = 0x1e,
    [SERVER_COMMAND_CANCEL_OBSERVE] = 0x1e,
    [SERVER_COMMAND_READ_COMPOSITE] = 0x1f,
    [SERVER_COMMAND_WRITE_COMPOSITE] = 0x1f,
    [SERVER_COMMAND_OBSERVE_COMPOSITE] = 0x1f,
    [SERVER_COMMAND_CANCEL_OBSERVE_COMPOSITE] = 0x1f,
};

const char *server_command_op_name(enum server_command_op op)
{
    return (unsigned)op < N_OPS ? op_names[op] : "unknown";
}

bool server_command_op_parse(const char *name, enum server_command_op *out)
{
    for (size_t i = 0; name && i < N_OPS; i++)
        if (strcmp(name, op_names[i]) == 0) {
            *out = (enum server_command_op)i;
            return true;
        }
    return false;
}

static bool is_composite(enum server_command_op op)
{
    return op >= SERVER_COMMAND_READ_COMPOSITE;
}

static bool takes_values(enum server_command_op op)
{
    return op == SERVER_COMMAND_WRITE || op == SERVER_COMMAND_UPDATE ||
           op == SERVER_COMMAND_CREATE || op == SERVER_COMMAND_WRITE_COMPOSITE;
}

void server_command_free(struct server_command *c)
{
    if (!c)
        return;
    free(c->args);
    for (size_t i = 0; i < c->n_queries; i++)
        free(c->queries[i]);
    free(c->attributes_json);
    lwm2m_data_free(&c->values);
    free(c->paths);
    memset(c, 0, sizeof *c);
    c->depth = -1;
}

static enum ls_rc parse_path_text(const char *field, json_t *v, struct lwm2m_path *out,
                                  struct ls_error *err)
{
    if (!json_is_string(v))
        return ls_error_set(err, LS_EINVAL, "%s: must be a string like \"/3/0/1\"", field);
    struct ls_error perr = { 0 };
    if (lwm2m_path_parse(json_string_value(v), json_string_length(v), out, &perr) != LS_OK)
        return ls_error_set(err, LS_EINVAL, "%s: %s", field, perr.msg);
    return LS_OK;
}

static enum ls_rc parse_op_path(json_t *root, struct server_command *c, struct ls_error *err)
{
    json_t *op = json_object_get(root, "op");
    if (!json_is_string(op) || !server_command_op_parse(json_string_value(op), &c->op))
        return ls_error_set(err, LS_EINVAL, "op: must be one of read, write, update, execute, "
                                            "create, delete, discover, attributes, observe, "
                                            "cancel_observe, *_composite");
    json_t *path = json_object_get(root, "path");
    if (is_composite(c->op) && !path) {
        c->path = lwm2m_path_root();
        return LS_OK;
    }
    if (parse_path_text("path", path, &c->path, err) != LS_OK)
        return err ? err->code : LS_EINVAL;
    if (!(op_depths[c->op] & (1u << c->path.depth))) {
        char p[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(&c->path, p);
        return ls_error_set(err, LS_EINVAL, "path: %s is not allowed on %s",
                            server_command_op_name(c->op), p);
    }
    return LS_OK;
}

static enum ls_rc parse_format(json_t *root, struct server_command *c, struct ls_error *err)
{
    json_t *f = json_object_get(root, "format");
    if (!f || json_is_null(f))
        return LS_OK;
    char num[24];
    const char *name = NULL;
    if (json_is_string(f)) {
        name = json_string_value(f);
    } else if (json_is_integer(f)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(f));
        name = num;
    }
    if (!name || !lwm2m_format_parse(name, &c->format) || c->format == LWM2M_FORMAT_LINK)
        return ls_error_set(err, LS_EINVAL, "format: unknown format \"%.40s\"",
                            name ? name : "?");
    c->has_format = true;
    return LS_OK;
}

static enum ls_rc parse_args(json_t *root, struct server_command *c, struct ls_error *err)
{
    json_t *a = json_object_get(root, "args");
    if (!a || json_is_null(a))
        return LS_OK;
    if (c->op != SERVER_COMMAND_EXECUTE)
        return ls_error_set(err, LS_EINVAL, "args: only execute takes arguments");
    size_t n = json_is_string(a) ? json_string_length(a) : 0;
    if (!json_is_string(a) || n > SERVER_COMMAND_MAX_ARGS ||
        strlen(json_string_value(a)) != n)
        return ls_error_set(err, LS_EINVAL, "args: must be text of at most %d bytes",
                            SERVER_COMMAND_MAX_ARGS);
    if (n == 0)
        return LS_OK;
    c->args = strdup(json_string_value(a));
    return c->args ? LS_OK : ls_error_set(err, LS_ENOMEM, "args: out of memory");
}

static enum ls_rc parse_depth(json_t *root, struct server_command *c, struct ls_error *err)
{
    json_t *d = json_object_get(root, "depth");
    if (!d || json_is_null(d))
        return LS_OK;
    if (c->op != SERVER_COMMAND_DISCOVER || !json_is_integer(d) || json_integer_value(d) < 0 ||
        json_integer_value(d) > 3)
        return ls_error_set(err, LS_EINVAL, "depth: an integer 0..3, for discover only");
    c->depth = (int)json_integer_value(d);
    return LS_OK;
}

/* Shortest %g text that reads back to d. */
static void format_double(double d, char *buf, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

/* One attribute -> one Uri-Query value ("pmin=10", or "pmin" to remove). */
static enum ls_rc attr_query(const char *key, json_t *v, char **out, struct ls_error *err)
{
    static const char *const ints[] = { "pmin", "pmax", "epmin", "epmax" };
    static const char *const nums[] = { "gt", "lt", "st" };
    static const char *const flags[] = { "edge", "con" };
    char text[64];
    int kind = -1;
    for (size_t i = 0; i < 4; i++)
        kind = strcmp(key, ints[i]) == 0 ? 0 : kind;
    for (size_t i = 0; i < 3; i++)
        kind = strcmp(key, nums[i]) == 0 ? 1 : kind;
    for (size_t i = 0; i < 2; i++)
        kind = strcmp(key, flags[i]) == 0 ? 2 : kind;
    if (kind < 0)
        return ls_error_set(err, LS_EINVAL, "attributes: unknown attribute \"%.32s\"", key);
    if (json_is_null(v)) {
        snprintf(text, sizeof text, "%s", key);
    } else if (kind == 0 && json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(text, sizeof text, "%s=%lld", key, (long long)json_integer_value(v));
    } else if (kind == 1 && json_is_number(v) && isfinite(json_number_value(v)) &&
               (strcmp(key, "st") != 0 || json_number_value(v) >= 0)) {
        char num[40];
        format_double(json_number_value(v), num, sizeof num);
        snprintf(text, sizeof text, "%s=%s", key, num);
    } else if (kind == 2 && (json_is_boolean(v) || (json_is_integer(v) &&
                                                    (json_integer_value(v) == 0 ||
                                                     json_integer_value(v) == 1)))) {
        bool on = json_is_boolean(v) ? json_is_true(v) : json_integer_value(v) == 1;
        snprintf(text, sizeof text, "%s=%d", key, on ? 1 : 0);
    } else {
        return ls_error_set(err, LS_EINVAL, "attributes.%s: %s, or null to remove it", key,
                            kind == 0   ? "must be a non-negative integer"
                            : kind == 1 ? "must be a number (st: not negative)"
                                        : "must be 0 or 1");
    }
    *out = strdup(text);
    return *out ? LS_OK : ls_error_set(err, LS_ENOMEM, "attributes: out of memory");
}

/* pmin <= pmax and epmin <= epmax when both are given (Core TS 1.2: an
 * inconsistent set is refused with 4.00; refusing it here names the field). */
static enum ls_rc check_attr_pairs(json_t *a, struct ls_error *err)
{
    static const char *const pairs[][2] = { { "pmin", "pmax" }, { "epmin", "epmax" } };
    for (size_t i = 0; i < 2; i++) {
        json_t *lo = json_object_get(a, pairs[i][0]), *hi = json_object_get(a, pairs[i][1]);
        if (json_is_integer(lo) && json_is_integer(hi) &&
            json_integer_value(lo) > json_integer_value(hi))
            return ls_error_set(err, LS_EINVAL, "attributes: %s must not exceed %s",
                                pairs[i][0], pairs[i][1]);
    }
    return LS_OK;
}

static enum ls_rc parse_attributes(json_t *root, struct server_command *c, struct ls_error *err)
{
    json_t *a = json_object_get(root, "attributes");
    bool takes = c->op == SERVER_COMMAND_ATTRIBUTES || c->op == SERVER_COMMAND_OBSERVE ||
                 c->op == SERVER_COMMAND_OBSERVE_COMPOSITE;
    if (a && !json_is_null(a) && !takes)
        return ls_error_set(err, LS_EINVAL, "attributes: not taken by %s",
                            server_command_op_name(c->op));
    if (a && !json_is_null(a) && !json_is_object(a))
        return ls_error_set(err, LS_EINVAL, "attributes: must be an object");
    if (c->op == SERVER_COMMAND_ATTRIBUTES && json_object_size(a) == 0)
        return ls_error_set(err, LS_EINVAL, "attributes: give at least one attribute");
    const char *key;
    json_t *v;
    json_object_foreach(a, key, v) {
        if (attr_query(key, v, &c->queries[c->n_queries], err) != LS_OK)
            return err ? err->code : LS_EINVAL;
        c->n_queries++;
    }
    if (check_attr_pairs(a, err) != LS_OK)
        return LS_EINVAL;
    c->attributes_json = a && json_is_object(a) ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS)
                                                : strdup("{}");
    return c->attributes_json ? LS_OK : ls_error_set(err, LS_ENOMEM, "out of memory");
}

static enum ls_rc parse_paths(json_t *root, struct server_command *c, struct ls_error *err)
{
    json_t *p = json_object_get(root, "paths");
    bool needs = is_composite(c->op) && c->op != SERVER_COMMAND_WRITE_COMPOSITE;
    if (!needs) {
        if (p && !json_is_null(p))
            return ls_error_set(err, LS_EINVAL, "paths: only read, observe and cancel "
                                                "composites take paths");
        return LS_OK;
    }
    size_t n = json_array_size(p);
    if (!json_is_array(p) || n == 0 || n > SERVER_COMMAND_MAX_PATHS)
        return ls_error_set(err, LS_EINVAL, "paths: must be an array of 1..%d paths",
                            SERVER_COMMAND_MAX_PATHS);
    c->paths = calloc(n, sizeof *c->paths);
    if (!c->paths)
        return ls_error_set(err, LS_ENOMEM, "paths: out of memory");
    for (size_t i = 0; i < n; i++) {
        char field[24];
        snprintf(field, sizeof field, "paths[%zu]", i);
        if (parse_path_text(field, json_array_get(p, i), &c->paths[i], err) != LS_OK)
            return LS_EINVAL;
        if (c->paths[i].depth == 0)
            return ls_error_set(err, LS_EINVAL, "%s: the root is not allowed", field);
        c->n_paths++;
    }
    return LS_OK;
}

/* Values must be given where the op writes, and lie below the path. */
static enum ls_rc check_values(const struct server_command *c, bool given, struct ls_error *err)
{
    if (!takes_values(c->op)) {
        if (given)
            return ls_error_set(err, LS_EINVAL, "values: not taken by %s",
                                server_command_op_name(c->op));
        return LS_OK;
    }
    if (c->values.count == 0 && c->op != SERVER_COMMAND_CREATE)
        return ls_error_set(err, LS_EINVAL, "values: give at least one value");
    for (size_t i = 0; i < c->values.count; i++) {
        const struct lwm2m_path *vp = &c->values.values[i].path;
        if (lwm2m_path_has_prefix(vp, &c->path))
            continue;
        char a[LWM2M_PATH_STR_MAX], b[LWM2M_PATH_STR_MAX];
        lwm2m_path_format(vp, a);
        lwm2m_path_format(&c->path, b);
        return ls_error_set(err, LS_EINVAL, "values: %s is not below the path %s", a, b);
    }
    if (c->op == SERVER_COMMAND_CREATE) {
        for (size_t i = 1; i < c->values.count; i++)
            if (c->values.values[i].path.id[1] != c->values.values[0].path.id[1])
                return ls_error_set(err, LS_EINVAL, "values: create makes one instance: "
                                                    "every path must name the same one");
    }
    return LS_OK;
}

static enum ls_rc parse_values(const char *json, size_t len, json_t *root,
                               const struct lwm2m_model *model, struct server_command *c,
                               struct ls_error *err)
{
    json_t *v = json_object_get(root, "values");
    bool given = v && !json_is_null(v);
    if (given && takes_values(c->op)) {
        struct ls_error verr = { 0 };
        if (lwm2m_api_json_decode(json, len, model, &c->values, &verr) != LS_OK)
            return ls_error_set(err, verr.code == LS_ENOMEM ? LS_ENOMEM : LS_EINVAL,
                                "values: %s", verr.msg);
    }
    return check_values(c, given, err);
}

enum ls_rc server_command_parse(const char *json, size_t len, const struct lwm2m_model *model,
                                struct server_command *out, struct ls_error *err)
{
    memset(out, 0, sizeof *out);
    out->depth = -1;
    lwm2m_data_init(&out->values);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return ls_error_set(err, LS_EINVAL, "command: not a JSON object (%s)",
                            root ? "another type" : jerr.text);
    }
    enum ls_rc rc = parse_op_path(root, out, err);
    if (rc == LS_OK)
        rc = parse_format(root, out, err);
    if (rc == LS_OK)
        rc = parse_args(root, out, err);
    if (rc == LS_OK)
        rc = parse_depth(root, out, err);
    if (rc == LS_OK)
        rc = parse_attributes(root, out, err);
    if (rc == LS_OK)
        rc = parse_paths(root, out, err);
    if (rc == LS_OK)
        rc = parse_values(json, len, root, model, out, err);
    json_decref(root);
    return rc;
}
