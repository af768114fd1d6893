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
 *   store_workflows_list, _rotation_list  the newest, for the dashboard
 *   store_workflows_endpoints      every known endpoint name (for a glob)
 *   store_workflows_rotation_beat / _claim  rotations resumed after their
 *                                  server stopped
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
 * "bootstrap.rotation" entry.  runner names the trigger thread that runs it
 * (detail.runner, with detail.beat = now: see store_workflows_rotation_beat).  *children_json_out (caller frees):
 * [[id, "endpoint"], ...] in order. */
enum ls_rc store_workflows_rotation_create(struct store *s, const char *endpoints_json,
                                           double rate, const char *match, int64_t token_id,
                                           const char *actor, const char *reason,
                                           const char *runner, int64_t *id_out,
                                           char **children_json_out,
                                           struct ls_error *err) LS_MUST_CHECK;

enum ls_rc store_workflows_rotation_done(struct store *s, int64_t id,
                                         struct ls_error *err) LS_MUST_CHECK;

/* {"id","state","rate","total","pending","triggered","finished","failed",
 * "created_at","updated_at","actor","reason","match"}; LS_ENOTFOUND. */
/* Newest first, at most limit, as a JSON array text (caller frees) of
 * store_workflows_get's objects: only those in state (NULL: any), and of
 * rotation (-1: any; 0: none, the single-device ones). */
enum ls_rc store_workflows_list(struct store *s, const char *state, int64_t rotation,
                                int limit, char **json_out,
                                struct ls_error *err) LS_MUST_CHECK;
/* Newest first, at most limit, as a JSON array text of
 * store_workflows_rotation_get's objects. */
enum ls_rc store_workflows_rotation_list(struct store *s, int limit, char **json_out,
                                         struct ls_error *err) LS_MUST_CHECK;

enum ls_rc store_workflows_rotation_get(struct store *s, int64_t id, char **json_out,
                                        struct ls_error *err) LS_MUST_CHECK;

/*
 * Rotations survive their server (resume).  A pending rotation's
 * detail.runner names the trigger thread that paces it, detail.beat when
 * that thread last said it is alive.
 * store_workflows_rotation_beat -- beat (release false: beat = now) or let
 *         go (release true: beat removed, so the next claim takes them at
 *         once) every pending rotation of runner.
 * store_workflows_rotation_claim -- take over the pending rotations whose
 *         beat is missing or older than stale_s seconds (their server
 *         stopped or died), at most 16 per call, FOR UPDATE SKIP LOCKED so
 *         that two servers never claim the same one.  *json_out (caller
 *         frees): [{"id","rate","token","actor","last_us","children":[[id,
 *         "ep"], ...]}], children = the rotation's devices still pending, in
 *         order; last_us = its latest trigger (microseconds since the epoch,
 *         null when none), so that the rate holds across the take-over.
 */
enum ls_rc store_workflows_rotation_beat(struct store *s, const char *runner, bool release,
                                         struct ls_error *err) LS_MUST_CHECK;
enum ls_rc store_workflows_rotation_claim(struct store *s, const char *runner, int stale_s,
                                          char **json_out, struct ls_error *err) LS_MUST_CHECK;

/* Every endpoint name, as a JSON array text (caller frees). */
enum ls_rc store_workflows_endpoints(struct store *s, char **json_out,
                                     struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_WORKFLOWS_H */
