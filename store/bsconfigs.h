/*
 * store/bsconfigs.h -- bootstrap configurations (table bootstrap_configs)
 *
 * A configuration is a JSON object (docs/bootstrap.md) stored whole in
 * body, with three columns lifted out of it so that resolution is a query:
 * endpoint (a device's own configuration), match (a template: a glob on
 * the endpoint name) and priority (templates are tried in (priority, name)
 * order).  The one named "default" has neither endpoint nor match.  This
 * file stores what it is given: validating a body is the caller's job
 * (lwm2m/bsconfig.h), and the web layer passes its JSON through.
 *
 * Globs are POSIX fnmatch(3) patterns without flags: `*` any string
 * (including "" and "/"), `?` one character, `[abc]`, `[a-z]`, `[!a]`, and
 * `\` quoting the next character.  Matching runs in C on the (name, match)
 * pairs only; the body travels once, for the configuration chosen.
 *
 * Key material in a body (servers[].credentials.key,
 * bootstrap_account.key) is a secret: nothing here logs a body; the web
 * layer masks it on the way out (docs/bootstrap.md).
 *
 * INTERFACE ROUTINES
 *   store_bsconfigs_put       insert or replace one configuration
 *   store_bsconfigs_get       one configuration as JSON
 *   store_bsconfigs_list      a page of configurations, summary only
 *   store_bsconfigs_delete    delete by name
 *   store_bsconfigs_resolve   device > first matching template > default
 *   store_bsconfigs_resolve_nosec  the same for a NoSec request, unless a
 *                             credential of the endpoint bars NoSec
 *   store_bsconfigs_import    many device configurations, one transaction
 *   store_bsconfigs_glob_match  the glob semantics used by resolve
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_BSCONFIGS_H
#define LODESTAR_STORE_BSCONFIGS_H

#include <stdbool.h>
#include <stddef.h>
#include "runtime/err.h"

struct store;

#define STORE_BSCONFIGS_DEFAULT "default"  /* the name of the fallback configuration */
#define STORE_BSCONFIGS_NAME_MAX 1024      /* bytes of a name (as endpoints.name) */
#define STORE_BSCONFIGS_LIMIT_MAX 1000     /* configurations per list page */

/*
 * store_bsconfigs_put -- insert or replace the configuration name.
 *
 * endpoint, match  At most one non-NULL: a device configuration, a
 *                  template, or neither (only for the name "default").
 * priority         Template order (lower first); stored for every kind.
 * body_json        A JSON object (text), stored as jsonb.
 * created          Set to true when the row is new, false when replaced.
 *
 * Returns LS_OK; LS_EINVAL when the kind breaks the table's rules
 * (endpoint and match both set, default with either, another name with
 * neither); LS_ECONFLICT when another configuration already names this
 * endpoint (err names it); or a store error.
 */
enum ls_rc store_bsconfigs_put(struct store *s, const char *name, const char *endpoint,
                               const char *match, int priority, const char *body_json,
                               bool *created, struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bsconfigs_get -- configuration name as one JSON object in
 * *json_out (caller frees): {"name","kind":"device|template|default",
 * "endpoint","match","priority","created_at","updated_at","body":{...}}
 * (keys unmasked).  LS_ENOTFOUND when there is no such configuration.
 */
enum ls_rc store_bsconfigs_get(struct store *s, const char *name, char **json_out,
                               struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bsconfigs_list -- up to limit (1..STORE_BSCONFIGS_LIMIT_MAX)
 * configurations whose name sorts after `after` (NULL: from the start),
 * of one kind ("device", "template", "default"; NULL: any), by name, as a
 * JSON array (caller frees *json_out) of {"name","kind","endpoint","match",
 * "priority","updated_at"}.  *more is true when more follow.
 */
enum ls_rc store_bsconfigs_list(struct store *s, const char *kind, const char *after,
                                int limit, char **json_out, bool *more,
                                struct ls_error *err) LS_MUST_CHECK;

/* Deletes configuration name; LS_ENOTFOUND when there is none. */
enum ls_rc store_bsconfigs_delete(struct store *s, const char *name,
                                  struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bsconfigs_resolve -- the configuration that applies to endpoint:
 * the one whose endpoint column equals it, else the first template (by
 * priority, then name) whose match glob matches it, else "default".
 *
 * name_out, body_json_out  Caller owns both on LS_OK (free()); the body is
 *                          the stored JSON object, keys unmasked.  Both
 *                          set to NULL on entry.
 *
 * Returns LS_OK, LS_ENOTFOUND when nothing applies (no default either), or
 * a store error (LS_ETRANSIENT while the database is away).
 */
enum ls_rc store_bsconfigs_resolve(struct store *s, const char *endpoint,
                                   char **name_out, char **body_json_out,
                                   struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bsconfigs_resolve_nosec -- store_bsconfigs_resolve for a request
 * that came over plain CoAP (NoSec), with the check that keeps it from
 * taking over a device in the same query: when the endpoint has a
 * bootstrap-scope credential in any state ('revoked' too: a revoked
 * bootstrap account is reopened only by a new factory account, never by
 * NoSec; a live one of mode 'nosec' alone does not count), or any
 * credential from a factory batch (credentials.batch_id), *barred_out is
 * set to a static text saying which, nothing is resolved (both outputs
 * NULL) and LS_OK is returned.  Otherwise *barred_out is NULL and the rest
 * is store_bsconfigs_resolve.
 */
enum ls_rc store_bsconfigs_resolve_nosec(struct store *s, const char *endpoint,
                                         char **name_out, char **body_json_out,
                                         const char **barred_out,
                                         struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bsconfigs_import -- insert or replace many device configurations
 * in one transaction: all or nothing.
 *
 * rows_json  A JSON array (text) of {"name","endpoint","priority","body"}
 *            objects, already validated by the caller; names and endpoints
 *            unique within the array.  A device that already has a
 *            configuration under another name loses it (the import's row
 *            replaces it).
 * imported   Set to the number of rows written.
 *
 * Returns LS_OK; LS_ECONFLICT when a row's name is taken by a template or
 * the default (err names it; nothing is written); LS_EINVAL when the data
 * breaks a constraint; or a store error.
 */
enum ls_rc store_bsconfigs_import(struct store *s, const char *rows_json, size_t *imported,
                                  struct ls_error *err) LS_MUST_CHECK;

/* true when endpoint matches the glob pattern (see the file comment). */
bool store_bsconfigs_glob_match(const char *pattern, const char *endpoint);

#endif /* LODESTAR_STORE_BSCONFIGS_H */
