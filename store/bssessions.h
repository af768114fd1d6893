/*
 * store/bssessions.h -- bootstrap sessions, their events, issued credentials
 *
 * lodestar-bootstrap records every bootstrap exchange it ran (table
 * bootstrap_sessions: endpoint, config used, address, outcome; the rest --
 * identity, each request and its answer, failure cause, duration -- in the
 * detail JSON) together with an events row of kind "bootstrap" and a
 * pg_notify('lodestar_events', id), in one statement, so that the
 * server's /api/events stream shows it (store/events.h).  A refused
 * request (unknown endpoint, identity bound to another endpoint, rate
 * limit) is only an event: a sessions row would create an endpoints row
 * for any name an unauthenticated client sends.
 *
 * Fresh management credentials issued during a bootstrap are stored here
 * too: store_credentials_insert (sealed secret, NOTIFY
 * lodestar_credentials) plus the account's server URI and SSID, in one
 * transaction, so lodestar-server accepts the identity once it commits.
 *
 * INTERFACE ROUTINES
 *   store_bssessions_record    one finished session + its event
 *   store_bssessions_record_batch  many sessions / refusals, one commit
 *   store_bssessions_refused   an event for a refused request
 *   store_bssessions_list      an endpoint's sessions, newest first (API);
 *                              endpoint NULL: every device's
 *   store_bssessions_issue     store a server credential for an endpoint
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_BSSESSIONS_H
#define LODESTAR_STORE_BSSESSIONS_H

#include <stdbool.h>
#include <stdint.h>
#include "runtime/err.h"
#include "store/secret.h"

struct store;

#define STORE_BSSESSIONS_LIMIT_MAX 1000

struct store_bssession {
    const char *endpoint;       /* required */
    const char *config_name;    /* NULL when none was resolved */
    const char *trigger;        /* "client" (NULL = "client") */
    const char *address;        /* "127.0.0.1:40000"; may be NULL */
    const char *outcome;        /* "success" | "failed" | "timeout" | "refused" */
    int64_t duration_ms;        /* started_at = now() - duration */
    const char *detail_json;    /* JSON object: identity, pct, format, requests, cause... */
    bool event_only;            /* batch: a refused request (store_bssessions_refused):
                                 * only endpoint and detail_json are used */
};

/*
 * store_bssessions_record -- insert the finished session (creating the
 * endpoint with origin 'bootstrap' if new) and its "bootstrap" event, then
 * notify.  *id_out (may be NULL) gets the session id.  LS_EINVAL when
 * detail_json is not a JSON object or the outcome is not one of the four.
 */
enum ls_rc store_bssessions_record(struct store *s, const struct store_bssession *r,
                                   int64_t *id_out, struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bssessions_record_batch -- write n records (sessions, and
 * refusals marked event_only) in ONE transaction: pipeline mode, BEGIN,
 * one statement per record, one pg_notify('lodestar_events', <newest
 * event id>), COMMIT, one Sync -- one round trip and one commit for the
 * lot.  rcs[i] gets each record's outcome: a record whose own data breaks
 * a constraint (LS_EINVAL, ...) is left out with its error and the rest
 * is written again; lost connections and serialization failures are
 * retried (a few attempts), after which the remaining records get
 * LS_ETRANSIENT.  RETURNS LS_OK when every record is written, else the
 * first failure (err describes it).
 */
enum ls_rc store_bssessions_record_batch(struct store *s, const struct store_bssession *rs,
                                         size_t n, enum ls_rc *rcs,
                                         struct ls_error *err) LS_MUST_CHECK;

/* An events row (kind "bootstrap", detail {"outcome":"refused",...} merged
 * with detail_json) for a request that never became a session. */
enum ls_rc store_bssessions_refused(struct store *s, const char *endpoint,
                                    const char *detail_json,
                                    struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bssessions_list -- up to limit (1..STORE_BSSESSIONS_LIMIT_MAX)
 * sessions of endpoint (NULL: of every device, newest recorded first,
 * optionally only those with outcome; NULL: any), newest first, as a JSON
 * array (caller frees
 * *json_out) of {"id","endpoint","config","trigger","address",
 * "started_at","finished_at","outcome", and the detail's members:
 * "identity","pct","format","requests":[{"op","path","code"}...],"cause",
 * "duration_ms"}.  "[]" for an endpoint with none.
 */
enum ls_rc store_bssessions_list(struct store *s, const char *endpoint, const char *outcome,
                                 int limit,
                                 char **json_out, struct ls_error *err) LS_MUST_CHECK;

/*
 * store_bssessions_issue -- store a PSK management credential of endpoint
 * (scope 'server', mode 'psk', state 'issued', server_uri, ssid), its key
 * sealed under key.  already_ok: a live credential with the same identity
 * (a configured key recorded again on every bootstrap) is success, not
 * LS_ECONFLICT.  *id_out (may be NULL) gets the id (0 when it existed).
 */
enum ls_rc store_bssessions_issue(struct store *s, const struct store_secret_key *key,
                                  const char *endpoint, const char *identity,
                                  const uint8_t *psk, size_t psk_len, const char *server_uri,
                                  int ssid, bool already_ok, int64_t *id_out,
                                  struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_BSSESSIONS_H */
