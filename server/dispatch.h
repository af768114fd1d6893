/*
 * server/dispatch.h -- device operations from the HTTP threads to the loop
 *
 * The web_device_submit_fn that lodestar-server hands to web_http_devices
 * (contract section 2): an HTTP thread copies the call and posts it to the
 * CoAP loop; there the registration is looked up, and the operation runs
 * now (server_devops_execute) when the device is held here and may be
 * sent to (server_commands_can_send), else it goes to server_commands_submit
 * (queued for a sleeping device, routed to the holder instance, or 404).
 * Without a commands module a device not held here is 404 "not_registered".
 *
 * Shutdown: a call posted but not yet run when the loop stopped is answered
 * 503 by server_dispatch_free, so that no HTTP connection stays suspended.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_DISPATCH_H
#define LODESTAR_SERVER_DISPATCH_H

#include "runtime/err.h"
#include "web/http.h"

struct runtime_loop;
struct server_registry;
struct server_devops;
struct server_commands;
struct server_dispatch;

/* loop, r, d borrowed; c borrowed and may be NULL.  Caller owns; free with
 * server_dispatch_free.  NULL on ENOMEM. */
struct server_dispatch *server_dispatch_new(struct runtime_loop *loop, struct server_registry *r,
                                            struct server_devops *d, struct server_commands *c,
                                            struct ls_error *err);

/* The web_device_submit_fn; arg is the struct server_dispatch.  Any thread. */
void server_dispatch_submit(void *arg, const struct web_device_call *call,
                            web_device_done_fn *done, void *ctx);

/* After the loop stopped and the hook was cleared (web_http_devices(w,
 * NULL, NULL)): answers 503 to every call not yet run, frees.  NULL ok. */
void server_dispatch_free(struct server_dispatch *s);

#endif /* LODESTAR_SERVER_DISPATCH_H */
