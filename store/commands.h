/*
 * store/commands.h -- the commands table: queued and routed device operations
 *
 * A command is one device operation (the command JSON of the contract,
 * section 1) kept in Postgres while it waits: for a sleeping queue-mode
 * device (mode 'queue'), or for the instance that holds the device (mode
 * 'route', then 'held' once that instance picked it up; migration 0004).
 * Every state change writes a 'command' event and pg_notify's
 * lodestar_events in the same statement; a finished command also notifies
 * lodestar_command_done (payload: its id), a routed one lodestar_commands
 * (payload: the target instance id).  As with events, a notification only
 * says "look": readers re-read rows, so a lost one costs latency only.
 *
 * States: queued -> sent -> done | failed; queued -> expired (TTL passed,
 * or a routed call timed out before the holder picked it up).
 *
 * Ownership of registrations between instances lives here too
 * (store_commands_claim_registrations): it is the routing side's decision.
 *
 * Every function runs one statement (autocommit): no transaction spans
 * calls, so a crash between two leaves a consistent row.
 *
 * INTERFACE ROUTINES
 *   store_commands_insert            queue or route a new command
 *   store_commands_claim_next        oldest deliverable queued command -> sent
 *   store_commands_requeue / _finish / _to_queue / _abandon
 *   store_commands_take_routed       routed commands for this instance -> sent
 *   store_commands_expire            queued past expires_at -> expired
 *   store_commands_sweep             orphans of a dead instance: re-queue or fail
 *   store_commands_outcome           what a routed caller answers
 *   store_commands_get / _list       the API's JSON
 *   store_commands_holder            who holds an endpoint's registration
 *   store_commands_claim_registrations   ownership at an instance's start
 *   store_commands_release_instance  a clean stop gives its devices up
 *   store_commands_event             an events row (awake, sleeping)
 *   store_commands_listen / _socket / _consume   LISTEN on both channels
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_COMMANDS_H
#define LODESTAR_STORE_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

struct store;

#define STORE_COMMANDS_CHANNEL "lodestar_commands"
#define STORE_COMMANDS_DONE_CHANNEL "lodestar_command_done"
#define STORE_COMMANDS_DEAD_AFTER_S 30    /* an instance without heartbeat is dead */

/* A command picked up for execution; caller owns the strings
 * (store_command_clear). */
struct store_command {
    int64_t id;
    char *endpoint;
    char *body;              /* the command JSON */
    int64_t remaining_ms;    /* until expires_at (>= 0); -1 when none */
};
void store_command_clear(struct store_command *c);

/*
 * store_commands_insert -- a new command in state queued.
 * body        the command JSON (its "op", "path", "format", "ttl" fill the
 *             columns; a missing op or a bad ttl is LS_EINVAL).
 * format      the CoAP content format number, or -1.
 * created_by  api_tokens.id, 0 = none.
 * target      NULL: mode 'queue', expires_at = now + body's "ttl" seconds
 *             (default ttl_default_s); else mode 'route' towards that
 *             instance, expires_at = now + route_ms, and
 *             NOTIFY lodestar_commands.
 * LS_ENOTFOUND when the endpoint is unknown.
 */
enum ls_rc store_commands_insert(struct store *s, const char *endpoint, const char *body,
                                 int format, int64_t created_by, int64_t ttl_default_s,
                                 const char *target, int64_t route_ms, int64_t *id_out,
                                 struct ls_error *err) LS_MUST_CHECK;

/* The oldest command of endpoint queued for the device and not expired,
 * now sent by instance (commands.sent_by, for store_commands_sweep).
 * LS_ENOTFOUND when there is none.  Concurrent claimers (two instances)
 * never get the same row (FOR UPDATE SKIP LOCKED). */
enum ls_rc store_commands_claim_next(struct store *s, const char *endpoint,
                                     const char *instance, struct store_command *out,
                                     struct ls_error *err) LS_MUST_CHECK;

/* sent -> queued: the device fell asleep before it could be sent. */
enum ls_rc store_commands_requeue(struct store *s, int64_t id,
                                  struct ls_error *err) LS_MUST_CHECK;

/* -> done (http_status < 300) or failed, with the result JSON (the API's
 * body) and the CoAP code found in it; NOTIFY lodestar_command_done. */
enum ls_rc store_commands_finish(struct store *s, int64_t id, unsigned http_status,
                                 const char *result_json,
                                 struct ls_error *err) LS_MUST_CHECK;

/* A held (sent) routed command whose device sleeps: queued for the device, TTL
 * from its body (default ttl_default_s); NOTIFY lodestar_command_done. */
enum ls_rc store_commands_to_queue(struct store *s, int64_t id, int64_t ttl_default_s,
                                   struct ls_error *err) LS_MUST_CHECK;

/* A routed call gave up: still waiting for the holder -> expired. */
enum ls_rc store_commands_abandon(struct store *s, int64_t id,
                                  struct ls_error *err) LS_MUST_CHECK;

/* Routed commands waiting for instance, now sent and held; *out (free each with
 * store_command_clear, then free) and *n_out. */
enum ls_rc store_commands_take_routed(struct store *s, const char *instance,
                                      struct store_command **out, size_t *n_out,
                                      struct ls_error *err) LS_MUST_CHECK;

/*
 * store_commands_sweep -- commands an instance left 'sent' when it stopped
 * mid-delivery (crash, kill -9): 'sent' for over 30 s (DEAD_AFTER) by an
 * instance whose heartbeat is older than that (or unknown).  Run by every
 * instance at start and then every tick, so a crashed instance's commands
 * are settled within about a minute whoever survives it.
 *   - read, discover, read_composite of a queue-mode device, TTL left:
 *     re-queued (state 'queued'; delivered at the device's next wake).
 *     They change nothing on the device, so running them again is safe.
 *   - anything else: failed, 503 {"error":{"code":"interrupted"}}.  The
 *     request may have reached the device and been applied (a write, an
 *     execute, a create); running it again could apply it twice, which
 *     only the operator may decide.  Routed callers waiting for it are
 *     told (lodestar_command_done).
 * *failed_out, *requeued_out: how many.
 */
enum ls_rc store_commands_sweep(struct store *s, size_t *failed_out, size_t *requeued_out,
                                struct ls_error *err) LS_MUST_CHECK;

/* Queued commands past expires_at -> expired; *n_out how many. */
enum ls_rc store_commands_expire(struct store *s, size_t *n_out,
                                 struct ls_error *err) LS_MUST_CHECK;

/*
 * store_commands_outcome -- for a routed caller: *final_out true when the
 * command is settled, then *status_out and *json_out (caller frees) are
 * what the API answers: the stored status and result when done/failed;
 * 202 {"command":id,"state":"queued"} when queued for the device; 504
 * when expired.  false while still waiting for the holder.
 */
enum ls_rc store_commands_outcome(struct store *s, int64_t id, bool *final_out,
                                  unsigned *status_out, char **json_out,
                                  struct ls_error *err) LS_MUST_CHECK;

/* {"id","endpoint","op","path","state","created_at","updated_at",
 * "expires_at","result","coap"}; LS_ENOTFOUND when absent. */
enum ls_rc store_commands_get(struct store *s, int64_t id, char **json_out,
                              struct ls_error *err) LS_MUST_CHECK;

/* {"commands":[...],"next":id|null} of endpoint, ascending id > after,
 * state (may be NULL) only, at most limit (1..1000). */
enum ls_rc store_commands_list(struct store *s, const char *endpoint, const char *state,
                               int limit, int64_t after, char **json_out,
                               struct ls_error *err) LS_MUST_CHECK;

/* Who holds endpoint's registration. */
struct store_commands_holder {
    bool known;              /* the endpoint exists */
    bool registered;         /* it has a registration */
    bool queue;              /* in queue mode */
    bool alive;              /* its holder instance has a recent heartbeat */
    char instance[64];       /* holder id, "" when none */
};
enum ls_rc store_commands_holder(struct store *s, const char *endpoint,
                                 struct store_commands_holder *out,
                                 struct ls_error *err) LS_MUST_CHECK;

/*
 * store_commands_claim_registrations -- at an instance's start, before it
 * loads its registrations: make instance (recorded in server_instances
 * first, address may be NULL) the holder of every registration held by
 * no one, by an instance without a heartbeat for
 * STORE_COMMANDS_DEAD_AFTER_S, or by another instance that recorded the
 * same address (the same daemon restarted).  *n_out how many moved.
 */
enum ls_rc store_commands_claim_registrations(struct store *s, const char *instance,
                                              const char *address, size_t *n_out,
                                              struct ls_error *err) LS_MUST_CHECK;

/* A clean stop: the instance's heartbeat is backdated past the dead
 * limit, so the next instance to start may claim its devices at once. */
enum ls_rc store_commands_release_instance(struct store *s, const char *instance,
                                           struct ls_error *err) LS_MUST_CHECK;

/* An events row (kind e.g. "awake"), detail a JSON object, plus
 * pg_notify('lodestar_events', id). */
enum ls_rc store_commands_event(struct store *s, const char *endpoint, const char *kind,
                                const char *detail_json, struct ls_error *err) LS_MUST_CHECK;

/* LISTEN lodestar_commands and lodestar_command_done on the store's
 * connection.  Again after every reconnection. */
enum ls_rc store_commands_listen(struct store *s, struct ls_error *err) LS_MUST_CHECK;

/* The connection's socket, or -1 while down. */
int store_commands_socket(struct store *s);

/* Reads what the server sent and calls fn for each notification on the
 * two channels (done: lodestar_command_done; payload borrowed for the
 * call).  LS_ETRANSIENT when the connection broke. */
typedef void store_commands_notify_fn(void *arg, bool done, const char *payload);
enum ls_rc store_commands_consume(struct store *s, store_commands_notify_fn *fn, void *arg,
                                  struct ls_error *err) LS_MUST_CHECK;

#endif /* LODESTAR_STORE_COMMANDS_H */
