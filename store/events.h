/*
 * store/events.h -- the events table as a stream (LISTEN lodestar_events)
 *
 * Writers (the registration store worker) insert an events row and call
 * pg_notify('lodestar_events', ...) in the same transaction.  A reader
 * never trusts the notification's payload: a notification only says
 * "look", and the reader selects the rows after the last id it handled, in
 * id order.  So a lost or coalesced notification costs latency, not
 * events, and one query serves any number of notifications.
 *
 * INTERFACE ROUTINES
 *   store_events_listen      LISTEN on this store's connection
 *   store_events_socket      the connection's fd, to poll for notifications
 *   store_events_consume     read the socket, count pending notifications
 *   store_events_after       rows with id > after, in order
 *   store_events_last_id     the newest id (where a fresh stream starts)
 *   store_events_free        release an array of store_event
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LODESTAR_STORE_EVENTS_H
#define LODESTAR_STORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include "runtime/err.h"

struct store;

#define STORE_EVENTS_CHANNEL "lodestar_events"

struct store_event {
    int64_t id;
    char kind[33];          /* "registration", "update", ... (^[a-z][a-z_]{0,31}$) */
    char *endpoint;         /* NULL when the event names no device */
    char *json;             /* {"id","at","endpoint","kind","detail"}; for kind
                             * "notifications" (a store round's notifications,
                             * store/telemetry.h) one line per element (of
                             * endpoint, when filtered): <endpoint as a JSON
                             * string> TAB <a "notification" event's JSON> */
};

/* LISTEN lodestar_events on the store's connection (connecting when due).
 * Call again after every reconnection: a new session listens to nothing. */
enum ls_rc store_events_listen(struct store *s, struct ls_error *err) LS_MUST_CHECK;

/* The connection's socket, or -1 while down. */
int store_events_socket(struct store *s);

/* Reads what the server sent; *count gets the notifications on
 * STORE_EVENTS_CHANNEL that were pending (all are consumed).
 * LS_ETRANSIENT when the connection broke (the store is then down). */
enum ls_rc store_events_consume(struct store *s, unsigned *count,
                                struct ls_error *err) LS_MUST_CHECK;

/*
 * store_events_after -- up to limit events with id > after, ascending,
 * only those of endpoint when it is not NULL.  *events_out (free with
 * store_events_free) and *n_out get them.
 */
enum ls_rc store_events_after(struct store *s, int64_t after, const char *endpoint,
                              int limit, struct store_event **events_out, size_t *n_out,
                              struct ls_error *err) LS_MUST_CHECK;

/* The newest event id, 0 when the table is empty. */
enum ls_rc store_events_last_id(struct store *s, int64_t *id_out,
                                struct ls_error *err) LS_MUST_CHECK;

void store_events_free(struct store_event *events, size_t n);

#endif /* LODESTAR_STORE_EVENTS_H */
