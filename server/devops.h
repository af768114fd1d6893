/*
 * server/devops.h -- LwM2M device management operations over CoAP
 *
 * A command document (server/command.h, contract section 1) becomes one
 * CoAP request to a registered, reachable device; its answer becomes the
 * API's result JSON.  Everything runs on the loop thread that owns
 * libcoap.  This module owns the context's response handler (a response
 * whose (session, token) matches a request in flight completes it; any
 * other response or notification goes to server_observe_on_notify) and
 * hooks runtime/coap's NACK handler.
 *
 * One request in flight per device (LwM2M queue mode and RFC 7252 NSTART
 * 1): later commands for the same endpoint wait in a FIFO.  Each command
 * has its own deadline, counted from submission: when it passes, the
 * caller gets 504 at once even if libcoap keeps retransmitting (4.3.1 has
 * no call to cancel a CON); the request is then forgotten, a late answer
 * is ignored, and the next command of the device goes out (libcoap's own
 * NSTART queue holds it until the abandoned CON ends).
 *
 * Formats.  ?format= wins.  Otherwise writes use the device's LwM2M
 * version default: TLV for 1.0 (the one multi-value format 1.0 clients
 * must support), SenML CBOR for 1.1 and 1.2 (Leshan's choice too; every
 * 1.1 client supports one of SenML CBOR/JSON, and CBOR is the compact
 * one), plain text/opaque for a single resource value of a 1.0 device.
 * Reads send no Accept without ?format=: the device answers in the format
 * it prefers and every format is decoded.  The ct= list of the Register
 * payload is not kept by the registry (server/registry.h), so it is not
 * consulted.  Composite operations always use SenML (CBOR by default).
 *
 * Result and error JSON: contract section 1.  Device 4.xx -> the same
 * HTTP number (4.01 -> 403), 5.xx -> 502, with "coap"; no answer -> 504.
 *
 * INTERFACE ROUTINES
 *   server_devops_new / _free
 *   server_devops_set_registry      where observe results find their reg
 *   server_devops_execute           run a command on a reachable device
 *   server_devops_error_json        the API error body (shared with dispatch)
 *   server_devops_default_format    the version default (tests, docs)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_SERVER_DEVOPS_H
#define LODESTAR_SERVER_DEVOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/err.h"

struct runtime_coap;
struct runtime_loop;
struct lwm2m_model;
struct server_observe;
struct server_registry;
struct server_reg;
struct server_devops;

/* Same type as server/observe.h's (C17 allows the identical redefinition). */
typedef void server_devops_done_fn(void *arg, unsigned http_status, const char *json);

/*
 * server_devops_new -- take over coap's response handler and NACK hook.
 * coap, loop, model, obs borrowed (obs may be NULL: observe answers 501);
 * all must outlive the result.  Caller owns; free with server_devops_free.
 */
struct server_devops *server_devops_new(struct runtime_coap *coap, struct runtime_loop *loop,
                                        const struct lwm2m_model *model,
                                        struct server_observe *obs, struct ls_error *err);

/* Every command not yet answered gets 503 "shutting down"; sessions are
 * released.  Loop thread, before runtime_coap_free.  NULL ok. */
void server_devops_free(struct server_devops *d);

/* The registry (borrowed) in which an observe's registration is found again
 * when the device answered. */
void server_devops_set_registry(struct server_devops *d, struct server_registry *r);

/*
 * server_devops_execute -- run command_json on reg now (the device is
 * reachable).  command_json borrowed for the call; reg borrowed for the
 * call (the endpoint is copied).  done is called exactly once, on the loop
 * thread, possibly before this returns (a bad command: 400).
 */
void server_devops_execute(struct server_devops *d, struct server_reg *reg,
                           const char *command_json, int64_t timeout_ms,
                           server_devops_done_fn *done, void *arg);

/*
 * server_devops_error_json -- {"error":{"code":..,"message":..[,"coap":..]}}
 * as a malloc'd string (NULL on ENOMEM).  coap may be NULL.  Bytes of the
 * message that are not printable ASCII become '?'.
 */
char *server_devops_error_json(const char *code, const char *coap, const char *fmt, ...)
    LS_PRINTF(3, 4);

/* The content format writes use on a device of LwM2M version ("1.0"...). */
unsigned server_devops_default_format(const char *version);

/*
 * server_devops_write_format -- the format of a multi-value write (no
 * ?format=): the best of ct[0..n) (the device's ct= at Register) among
 * senml-cbor > lwm2m-cbor > senml-json > tlv > tlv(1542) > json > json(1543);
 * composite: senml-cbor or senml-json only.  None of them announced: the
 * version's default (composite: senml-cbor).
 */
unsigned server_devops_write_format(const char *version, const uint16_t *ct, size_t n,
                                    bool composite);

/* Fills reg->formats from registrations.formats text ("[110,112]"; NULL
 * is []); false (formats left empty) when the text is not such a list. */
bool server_devops_formats_parse(const char *json, struct server_reg *reg);

/* Requests in flight or waiting (tests, /metrics). */
unsigned server_devops_pending(const struct server_devops *d);

#endif /* LODESTAR_SERVER_DEVOPS_H */
