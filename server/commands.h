/*
 * server/commands.h -- queue mode, durable commands, routing between instances
 *
 * A device operation that cannot run now becomes a row in the commands
 * table: a queue-mode device that sleeps gets it when it next talks
 * (queued -> sent -> done | failed, or expired after its TTL), and a
 * device held by another live lodestar-server instance gets it through
 * that instance (target_instance + NOTIFY lodestar_commands; the holder
 * answers with NOTIFY lodestar_command_done and the caller's HTTP request
 * gets the result as if local).
 *
 * Threads: every call here is made on the loop thread (the one that owns
 * libcoap).  The commands table is worked on a command thread with its
 * own Postgres connections (one for the work, one that LISTENs), so the
 * loop never waits on the database; results come back to the loop
 * through runtime_loop_post.
 *
 * Queue mode (LwM2M 1.1 Core 6.5 / 1.0 binding "UQ"): after any message
 * from a queue-mode device it is awake for MAX_TRANSMIT_WAIT (93 s by
 * default, see SERVER_COMMANDS_AWAKE_MS); while awake, operations run
 * inline and its queued commands are delivered in order, one outstanding
 * at a time.
 *
 * INTERFACE ROUTINES
 *   server_commands_start / _stop
 *   server_commands_can_send        may an operation run inline now?
 *   server_commands_submit          queue, route to the holder, or 404
 *   server_commands_device_awake    a device talked: deliver its queue
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_COMMANDS_H
#define LODESTAR_SERVER_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"
#include "runtime/loop.h"

#define SERVER_COMMANDS_AWAKE_MS 93000           /* MAX_TRANSMIT_WAIT, RFC 7252 4.8.2 */
#define SERVER_COMMANDS_TTL_DEFAULT_S 86400      /* a queued command's default "ttl" */

struct server_commands;
struct server_registry;
struct server_reg;
struct server_devops;
struct web_device_call;

/* Same type as web/http.h's (C11 allows the identical typedef twice). */
typedef void web_device_done_fn(void *ctx, unsigned http_status, const char *json);

/*
 * server_commands_start -- open the command thread's connections to
 * conninfo (borrowed), LISTEN, and start delivering.  instance_id is this
 * instance's server_instances id (borrowed, copied); r and d are borrowed
 * for the life of the handle.  Caller owns; stop with server_commands_stop.
 * NULL with err set when the database cannot be reached or ENOMEM.
 */
struct server_commands *server_commands_start(const char *conninfo,
                                              struct runtime_loop *loop,
                                              const char *instance_id,
                                              struct server_registry *r,
                                              struct server_devops *d,
                                              struct ls_error *err);

/* Stops the thread; pending HTTP calls get 503.  Loop thread.  NULL ok. */
void server_commands_stop(struct server_commands *c);

/* true when an operation on reg may run now: not queue mode, or queue
 * mode and awake.  Loop thread. */
bool server_commands_can_send(struct server_commands *c, const struct server_reg *reg);

/*
 * server_commands_submit -- an operation that cannot run inline.
 * reg NULL: not held here -> routed to the holder instance (the caller
 * waits up to call->timeout_ms; 504 on timeout), or 404 not_registered.
 * reg non-NULL (a sleeping queue-mode device): stored as queued,
 * 202 {"command":id,"state":"queued"}.  call is borrowed for the call;
 * done is called exactly once, from the loop thread.
 */
void server_commands_submit(struct server_commands *c, struct server_reg *reg,
                            const struct web_device_call *call, web_device_done_fn *done,
                            void *ctx);

/* reg talked (Register, Update, Send, notification): a queue-mode device is
 * awake for SERVER_COMMANDS_AWAKE_MS from now; its queued commands are
 * delivered in order.  Loop thread.  NULL c is a no-op. */
void server_commands_device_awake(struct server_commands *c, struct server_reg *reg);

#endif /* LODESTAR_SERVER_COMMANDS_H */
