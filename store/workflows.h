/*
 * store/workflows.h -- credential workflows (issue 7): server-initiated
 * bootstrap of one device and bulk rotations (migrations/0005_workflows.sql)
 *
 * The web layer creates a workflow (and its audit entry, in the same
 * statement), records the outcome of the trigger, and reads workflows
 * back; every later step is written by the triggers of migration 0005 from
 * the rows the daemons write anyway.
 *
 * INTERFACE ROUTINES
 *   store_workflows_target         what the trigger needs of a device
 *   store_workflows_create         one bootstrap workflow + audit entry
 *   store_workflows_triggered      pending -> triggered, or failed
 *   store_workflows_get            one workflow as JSON
 *   store_workflows_rotation_create  a rotation, its devices' workflows and
 *                                  their audit entries, one statement
 *   store_workflows_rotation_done  the rotation's devices were all triggered
 *   store_workflows_rotation_get   a rotation's progress as JSON
 *   store_workflows_endpoints      every known endpoint name (for a glob)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_WORKFLOWS_H
#define LODESTAR_STORE_WORKFLOWS_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"
#include "store/store.h"

struct store_workflows_target {
    bool known;                 /* the endpoint exists */
    bool registered;            /* it has a registration */
    char version[4];            /* its lwm2m_version ("1.0" ...) */
    int server_instance;        /* lowest /1/x in its object links; -1 none */
    unsigned server_instances;  /* how many /1/x its object links list */
    int ssid;                   /* ssid of the server credential it registered
                                 * with; -1 unknown */
};

enum ls_rc store_workflows_target(struct store *s, const char *endpoint,
                                  struct store_workflows_target *out,
                                  struct ls_error *err) LS_MUST_CHECK;

/* Creates a 'bootstrap' workflow in state pending, and the audit entry
 * "device.bootstrap" (who, why, the workflow id).  reason may be NULL. */
enum ls_rc store_workflows_create(struct store *s, const char *endpoint, int64_t token_id,
                                  const char *actor, const char *reason, int64_t *id_out,
                                  struct ls_error *err) LS_MUST_CHECK;

/* The trigger's outcome: ok moves pending to triggered (a later state is
 * kept); !ok fails a live workflow at step 'trigger' with cause.
 * detail_json (an object, may be NULL) is merged into detail.  at_us: when
 * the trigger was sent (microseconds since the epoch; kept as triggered_at
 * the first time). */
enum ls_rc store_workflows_triggered(struct store *s, int64_t id, bool ok, const char *cause,
                                     const char *detail_json, int64_t at_us,
                                     struct ls_error *err) LS_MUST_CHECK;

/* {"id","kind","endpoint","state","step","cause","created_by","actor",
 * "reason","created_at","updated_at","triggered_at","finished_at",
 * "detail"}; LS_ENOTFOUND when there is none of that kind. */
enum ls_rc store_workflows_get(struct store *s, int64_t id, char **json_out,
                               struct ls_error *err) LS_MUST_CHECK;

/* endpoints_json: JSON array of names (in trigger order).  Creates the
 * rotation, one pending child per name, an audit entry per child and one
 * "bootstrap.rotation" entry.  *children_json_out (caller frees):
 * [[id, "endpoint"], ...] in order. */
enum ls_rc store_workflows_rotation_create(struct store *s, const char *endpoints_json,
                                           double rate, const char *match, int64_t token_id,
                                           const char *actor, const char *reason,
                                           int64_t *id_out, char **children_json_out,
                                           struct ls_error *err) LS_MUST_CHECK;

enum ls_rc store_workflows_rotation_done(struct store *s, int64_t id,
                                         struct ls_error *err) LS_MUST_CHECK;

/* {"id","state","rate","total","pending","triggered","finished","failed",
 * "created_at","updated_at","actor","reason","match"}; LS_ENOTFOUND. */
enum ls_rc store_workflows_rotation_get(struct store *s, int64_t id, char **json_out,
                                        struct ls_error *err) LS_MUST_CHECK;

/* Every endpoint name, as a JSON array text (caller frees). */
enum ls_rc store_workflows_endpoints(struct store *s, char **json_out,
                                     struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_WORKFLOWS_H */
