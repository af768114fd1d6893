/*
 * store/devices.h -- read-only device queries for the REST API
 *
 * Postgres assembles the JSON (json_build_object), so a device's shape is
 * defined once, next to the columns it comes from, and the web layer passes
 * it through.  Nothing here returns a secret: credentials appear with
 * their identity and state, never their key material.
 *
 * INTERFACE ROUTINES
 *   store_devices_list           one page of devices, by endpoint name
 *   store_devices_get            one device with registration and credentials
 *   store_devices_like_prefix    a LIKE pattern matching a literal prefix
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_DEVICES_H
#define LODESTAR_STORE_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/err.h"

struct store;

#define STORE_DEVICES_LIMIT_MAX 1000

/*
 * store_devices_like_prefix -- escape prefix for "LIKE $n ESCAPE '\'" so
 * that %, _ and \ match themselves, and append the trailing %.  out has
 * cap bytes; 2 * strlen(prefix) + 2 always suffices.  false when it does
 * not fit.
 */
bool store_devices_like_prefix(const char *prefix, char *out, size_t cap);

/*
 * store_devices_list -- up to limit devices (1..STORE_DEVICES_LIMIT_MAX)
 * whose name sorts after `after` (NULL: from the start) and starts with
 * prefix (NULL: any), ordered by name.  *json_out (caller frees) is a JSON
 * array of {"endpoint","registered","lwm2m","binding","queue","address",
 * "security","lifetime","registered_at","last_seen"} (registration fields
 * null when not registered).  *more is true when more devices follow.
 */
enum ls_rc store_devices_list(struct store *s, const char *after, const char *prefix,
                              int limit, char **json_out, bool *more,
                              struct ls_error *err) LS_MUST_CHECK;

/*
 * store_devices_get -- the device named endpoint as one JSON object
 * (ARCHITECTURE.md: endpoint, registered, registration, credentials) in
 * *json_out (caller frees).  LS_ENOTFOUND when the name was never seen.
 */
enum ls_rc store_devices_get(struct store *s, const char *endpoint, char **json_out,
                             struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_DEVICES_H */
