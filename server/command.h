/*
 * server/command.h -- one device operation as JSON (contract section 1)
 *
 * The command document crosses threads (HTTP -> CoAP loop), instances
 * (the commands table) and time (a queued command runs when a sleeping
 * device wakes), so it is parsed and checked in one place, here, by
 * whoever is about to act on it: web/devops.c builds it, server/devops.c
 * runs it, server/commands.c (QUEUE) stores op/path/format from it.
 *
 *   {"op":"read","path":"/3/0","format":"tlv"}
 *   {"op":"write","path":"/3/0/14","values":[{"path":"/3/0/14","value":"+02"}]}
 *   {"op":"execute","path":"/3/0/4","args":"0='x'"}
 *   {"op":"discover","path":"/3","depth":2}
 *   {"op":"attributes","path":"/3/0/9","attributes":{"pmin":10,"gt":null}}
 *   {"op":"read_composite","paths":["/3/0/0","/1/0"]}
 *
 * Checks (each failure names the field, for a 400 "bad_request"): the op is
 * known, the path parses and has a depth the op allows (Execute needs a
 * resource, Create an object, Delete an instance...), the format is a
 * known name or number, values parse with the model (a missing "type" is
 * taken from it) and lie below the path, attribute names are known and
 * their values have the right shape.  Pure: no I/O.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_COMMAND_H
#define LODESTAR_SERVER_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/data.h"
#include "lwm2m/model.h"
#include "lwm2m/path.h"
#include "runtime/err.h"

enum server_command_op {
    SERVER_COMMAND_READ,
    SERVER_COMMAND_WRITE,            /* Write-Replace: PUT */
    SERVER_COMMAND_UPDATE,           /* Write-Update (partial): POST */
    SERVER_COMMAND_EXECUTE,
    SERVER_COMMAND_CREATE,
    SERVER_COMMAND_DELETE,
    SERVER_COMMAND_DISCOVER,
    SERVER_COMMAND_ATTRIBUTES,       /* Write-Attributes: PUT ?pmin=... */
    SERVER_COMMAND_OBSERVE,
    SERVER_COMMAND_CANCEL_OBSERVE,
    SERVER_COMMAND_READ_COMPOSITE,   /* FETCH */
    SERVER_COMMAND_WRITE_COMPOSITE,  /* iPATCH */
    SERVER_COMMAND_OBSERVE_COMPOSITE,
    SERVER_COMMAND_CANCEL_OBSERVE_COMPOSITE,
};

#define SERVER_COMMAND_MAX_PATHS 256     /* composite paths */
#define SERVER_COMMAND_MAX_ARGS 4096     /* Execute argument bytes */
#define SERVER_COMMAND_MAX_ATTRS 9       /* pmin pmax gt lt st epmin epmax edge con */

struct server_command {
    enum server_command_op op;
    struct lwm2m_path path;          /* the target; "/" for composites */
    bool has_format;                 /* "format" given */
    unsigned format;                 /* CoAP content format when has_format */
    char *args;                      /* owned; Execute arguments, NULL when none */
    int depth;                       /* Discover depth 0..3; -1 when not given */
    char *queries[SERVER_COMMAND_MAX_ATTRS]; /* owned; Write-Attributes Uri-Query
                                        values: "pmin=10", "gt" (no value: remove) */
    size_t n_queries;
    char *attributes_json;           /* owned; the "attributes" object as given, or "{}" */
    struct lwm2m_data values;        /* write, update, create, write_composite */
    struct lwm2m_path *paths;        /* owned; composite paths */
    size_t n_paths;
};

/* The API name of an op ("read", "cancel_observe", ...). */
const char *server_command_op_name(enum server_command_op op);

/* The audit action / commands.op of an op: the same names. */
bool server_command_op_parse(const char *name, enum server_command_op *out);

/*
 * server_command_parse -- parse and check a command document.
 *
 * json, len   Borrowed for the call.
 * model       Borrowed, may be NULL: types values given without "type".
 * out         Caller owns; free with server_command_free(), also after a
 *             failure (it is zeroed on entry).
 *
 * Returns LS_OK, LS_EINVAL with a message naming the field ("path: ...",
 * "values: /3/0/9: expected integer, got string", "format: unknown format
 * \"xml\""), or LS_ENOMEM.
 */
enum ls_rc server_command_parse(const char *json, size_t len, const struct lwm2m_model *model,
                                struct server_command *out, struct ls_error *err) LS_MUST_CHECK;

/* Frees what a command holds; NULL ok. */
void server_command_free(struct server_command *c);

#endif /* LODESTAR_SERVER_COMMAND_H */
