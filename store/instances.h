/*
 * store/instances.h -- running daemon instances (server_instances)
 *
 * Each lodestar-server process picks a random instance id at start,
 * records it here with its CoAP address, and refreshes last_heartbeat
 * periodically, so that registrations can name their holder and a later
 * issue can route commands to it and detect dead instances.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_INSTANCES_H
#define LODESTAR_STORE_INSTANCES_H

#include "runtime/err.h"

struct store;

#define STORE_INSTANCE_ID_LEN 16   /* characters of a generated id */

/* Fills id (STORE_INSTANCE_ID_LEN + 1 bytes) with a random url-safe id. */
enum ls_rc store_instances_new_id(char *id, struct ls_error *err) LS_MUST_CHECK;

/* Inserts (or refreshes) the row of instance id; kind "server" |
 * "bootstrap"; address may be NULL. */
enum ls_rc store_instances_register(struct store *s, const char *id, const char *kind,
                                    const char *address, struct ls_error *err) LS_MUST_CHECK;

/* Sets last_heartbeat = now() (re-inserting the row if someone deleted it). */
enum ls_rc store_instances_heartbeat(struct store *s, const char *id, const char *kind,
                                     struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_INSTANCES_H */
