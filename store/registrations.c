/*
 * store/registrations.c -- the batching store worker for registrations
 *
 * A shard is one thread, one connection (its own struct store), one
 * queue.  Callers on any thread append operations (register, update,
 * deregister) under the shard's mutex; its thread takes everything queued,
 * up to a batch cap, and writes it in ONE transaction.  In pipeline mode
 * (the default) the whole round is BEGIN, one prepared statement per
 * operation, the notification and COMMIT, then one Sync: a single network
 * round trip and a single commit for up to 2 000 devices.  When the COMMIT
 * is acknowledged every operation's completion is posted to the caller's
 * loop in one runtime_loop_post (one wake-up, not 2 000).
 *
 * One shard by default.  With one statement per registration one backend
 * was the bottleneck (about 50 us each, so near 20 000/s alone; two shards
 * reached 35 000, bench/results/store_worker.md); with the Register group
 * (below) one backend costs 32-41 us a registration in big rounds, and in
 * a real storm one queue makes the rounds bigger: 100 000 lodestar-sim
 * clients on the 2-core reference machine, fsync on, went from 14 118
 * reg/s (Postgres 76 us CPU each) with two shards to 15 961-16 722 (53-56
 * us) with one (bench/registration.sh).  More shards remain an option for
 * machines with cores to spare.  An operation goes
 * to the shard of its endpoint, so one device's operations share a queue
 * and stay in order.  Shards touch disjoint devices and take no lock on
 * anything shared but a missing server_instances row, so they do not
 * deadlock each other (if they ever did, 40P01 is retried).
 *
 * Failures, and why they are handled this way:
 *  - Lost connection, serialization failure, deadlock (LS_ETRANSIENT): the
 *    whole batch is retried with backoff (100 ms doubling to 2 s; the store
 *    adds its own reconnect backoff).  Nothing is lost and the order holds,
 *    because the batch is retried as it was.
 *  - One operation breaks a constraint (SQLSTATE class 22/23): pipeline
 *    results come back in order, so the first failed result names the
 *    operation exactly.  That operation is completed with its error and the
 *    batch is re-run without it.  Savepoints per operation were rejected:
 *    they cost two more statements per operation on every batch to protect
 *    against a case that is rare, and beyond 64 subtransactions a
 *    transaction's subxid cache overflows, which slows every other session's
 *    snapshots (pg_subtrans lookups) while it is open.
 *  - Any other error (42P01 after a bad migration, XX000, ...) is not the
 *    operation's fault and would hit every operation: the batch fails as a
 *    whole with LS_EIO instead of being re-run once per operation.
 *  - An update or deregister of a registration that is gone completes with
 *    LS_ENOTFOUND; it does not abort the transaction.
 *
 * The database away (issue 10.3: answer 5.03, never silence).  When a
 * round fails because the connection is gone, the shard is "away": new
 * operations are refused at once with LS_ETRANSIENT (the device gets 5.03
 * with Max-Age instead of an empty ACK and nothing after it), and the
 * operations already queued are retried for at most hold_ms (default 2 s,
 * a fast Postgres restart fits in it) from the moment the shard went away,
 * then failed with LS_ETRANSIENT.  An operation failed that way may still
 * have committed (the connection broke after COMMIT was sent): the device
 * was told 5.03 and registers again, so nothing it saw acknowledged is
 * lost.  While away and idle, the shard's thread probes the database as
 * the store's reconnect backoff allows (at most 2 s apart, store/db.c), so
 * the first request after the database's return is served.
 *
 * Queue limits (issue 10.3: a slow database, e.g. a held lock).  Each
 * shard holds at most queue_max/shards operations (telemetry 3/4 of that);
 * beyond it enqueue answers LS_ENOMEM (5.03).  The first refusal of an
 * episode logs "store_queue_full" (warning), the return below half the
 * bound logs "store_queue_ok"; refusals are counted by cause
 * (store_worker_stats: refused_full, refused_away) and the queue depth is
 * a gauge (lodestar_store_queue_depth).  Memory is bounded by the queue:
 * each queued operation is a few hundred bytes plus what its caller parked.
 *
 * Order: operations are applied in queue order inside one transaction, and
 * a retried batch is the same sequence, so operations on one registration
 * are applied in the order they were queued.
 *
 * Events: each operation inserts its events row in its own statement, and
 * each transaction ends with ONE pg_notify('lodestar_events', <its newest
 * event id>).  PostgreSQL delivers it at commit, never for a rolled-back
 * round.  Readers take a notification as "look" and select the rows after
 * their cursor (store/events.h), so one per commit wakes them as well as
 * one per event did, without its cost (about 18 us per notification at
 * commit: a quarter of the batch's time).
 *
 * Completions and shutdown: a posted batch of completions owns its
 * operations and frees them after running their callbacks, so it never
 * refers to the worker (store_worker_stop may be called on the loop thread,
 * and the loop may run the posts after the worker is freed).  When the
 * loop is already stopping, completions are dropped (freed, not run), as
 * runtime_loop_free would drop them; a post that races with the loop's
 * final drain is the one case that is dropped by the loop itself.
 *
 * Registers and Updates: those of a round go as ONE statement per kind
 * (SQL_REGISTER_GROUP, SQL_UPDATE_GROUP) whose parameter is a JSON array of
 * them, written set-based: from about 30 operations a round (group_min),
 * Postgres spends down to a third of the CPU per registration that one
 * statement per device costs (32-41 us against 68-104 us in
 * bench/store_worker_bench), so when the database is what holds a storm
 * back, its rounds grow and each costs less.  A group runs at the position of its first operation, so only
 * operations with no earlier operation of the same device in the round
 * join it (groups_mark); a device's operations stay in order.  When a
 * group statement fails with an operation's fault, the round is re-run
 * with every operation alone, which names the culprit as before.
 *
 * Telemetry (store/telemetry.h): every telemetry operation of a round is
 * written by ONE statement whose single parameter is a JSON array of them
 * (built when the round is sent), which Postgres splits into telemetry
 * rows, plus ONE "notifications" events row for all the round's
 * notifications (a Send keeps an events row of its own): a notification
 * costs its share of one statement instead of a Bind/Execute and an events
 * row of its own (bench/results/notify.md).  When that statement
 * fails with an operation's fault, the group's first operation is the one
 * settled with the error and the rest are re-run (as for any other
 * operation); the statement is written so that device data cannot break it
 * (times outside year 1970..9999 fall back to now(), an endpoint row that
 * vanished drops its telemetry rows).
 *
 * INTERFACE ROUTINES (registrations.h, telemetry.h)
 *   store_worker_start, store_worker_start_opts, store_worker_stop
 *   store_worker_register, store_worker_update, store_worker_deregister
 *   store_worker_observation_insert, _observation_delete, _telemetry
 *   store_worker_stats, store_registrations_load
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "store/registrations.h"
#include "store/telemetry.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "runtime/log.h"
#include "runtime/loop.h"
#include "store/store_int.h"

#define QUEUE_MAX_DEFAULT 50000
#define BATCH_MAX_DEFAULT 2000
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define HOLD_DEFAULT_MS 2000      /* queued operations wait this long for a lost database */
#define SHARDS_DEFAULT 1          /* see the file header */
#define STOP_DEADLINE_MS 5000   /* store_worker_stop drains at most this long */
#define PARAMS_MAX 18

/* ---- SQL ------------------------------------------------------------------ */

/* Milliseconds since the epoch as timestamptz, exactly (to_timestamp takes
 * a double and would round). */
#define MS(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 millisecond')"

/* The events insert, after a CTE named r that yields the event's
 * (endpoint, detail); returns the event id (no row: r found nothing). */
#define EVENT_TAIL(kind)                                                       \
    " INSERT INTO events (endpoint, kind, detail)"                             \
    " SELECT r.endpoint, '" kind "', r.detail FROM r RETURNING id"

/*
 * Register, in one statement: the endpoint and the holder instance exist,
 * the endpoint's previous registration is gone (its observations with it,
 * by the cascade), the new row and its event are in.  $1 endpoint, $2
 * instance id or NULL, $3.. the row.
 *
 * The delete must run before the insert (endpoint is unique).  Sub-
 * statements of one WITH run in an unspecified order unless one reads
 * another's output, so the insert selects FROM the delete's count: it
 * cannot produce its row before the delete ran to completion.  The unique
 * check then ignores the old row (deleted by this transaction), and the
 * foreign key checks run at the end of the statement, after the endpoint
 * insert.  One statement instead of two saves a Bind/Execute per
 * registration; the backend time was the same in PL/pgSQL loops.
 */
/*
 * Issue 7, rotation without lock-out: the first registration made with an
 * 'issued' server credential ($11 security = its mode, $12 identity)
 * makes it 'active' and revokes the endpoint's older server credentials
 * (lower ids: a newer issued one, from a bootstrap still under way, stays).
 * Audited, and the daemons are told (pg_notify in RETURNING: a
 * data-modifying CTE always runs, a SELECT one only when read).  Nothing
 * happens for a registration with an already active credential.
 */
#define REGISTER_ACTIVATE                                                       \
    " act AS (UPDATE credentials SET state = 'active', activated_at = now()"   \
    " WHERE endpoint = $1::text AND scope = 'server' AND state = 'issued'"     \
    " AND $11::text <> 'nosec' AND mode = $11::text AND identity = $12::text"  \
    " RETURNING id, identity, pg_notify('lodestar_credentials', id::text)),"   \
    " prev AS (UPDATE credentials SET state = 'revoked', revoked_at = now()"   \
    " WHERE endpoint = $1::text AND scope = 'server' AND state <> 'revoked'"   \
    " AND id < (SELECT max(id) FROM act) RETURNING id),"                       \
    " aud AS (INSERT INTO audit_log (actor, action, target, detail)"           \
    " SELECT 'lodestar-server', 'credentials.activate', $1::text,"             \
    " jsonb_build_object('credential', act.id, 'identity', act.identity,"      \
    " 'revoked', (SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM prev))" \
    " FROM act),"

static const char SQL_REGISTER[] =
    "WITH ep AS (INSERT INTO endpoints (name) VALUES ($1::text)"
    " ON CONFLICT (name) DO NOTHING),"
    " inst AS (INSERT INTO server_instances (id) SELECT $2::text WHERE $2::text IS NOT NULL"
    " ON CONFLICT (id) DO NOTHING),"
    " old AS (DELETE FROM registrations WHERE endpoint = $1::text RETURNING 1),"
    REGISTER_ACTIVATE
    " r AS (INSERT INTO registrations (id, endpoint, instance_id, lwm2m_version,"
    " lifetime_s, binding, queue, sms, pid, address, security, identity, objects,"
    " alt_path, registered_at, updated_at, last_seen, expires_at, formats)"
    " SELECT $3::text, $1::text, $2::text, $4::text, $5::bigint, $6::text, $7::boolean,"
    " $8::text, $9::text, $10::text, $11::text, $12::text, $13::jsonb, $14::text,"
    " " MS("$15") ", " MS("$15") ", " MS("$16") ", " MS("$17") ", $18::jsonb"
    " FROM (SELECT count(*) FROM old) AS replaced"
    " RETURNING endpoint, jsonb_build_object('id', id, 'lifetime', lifetime_s,"
    " 'binding', binding, 'version', lwm2m_version, 'address', address,"
    " 'objects', objects) AS detail)"
    EVENT_TAIL("registration");

/*
 * Many Registers in ONE statement: $1 is a JSON array of them (built by
 * group_build_ops, keys as the record below; "i" is the operation's index
 * in the round).  The same steps as SQL_REGISTER, set-based: Postgres
 * spends about a quarter of the CPU per registration that one execution of
 * SQL_REGISTER per device costs (measured with pgbench, 100 per statement:
 * 41 us against 170 us of backend CPU under the same load).  The group
 * holds each endpoint at most once, so the delete, the activation and the
 * insert never see two rows of one device.  Returns (endpoint, event id)
 * per registration (group_found maps the endpoint to its operation).
 */
static const char SQL_REGISTER_GROUP[] =
    "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, ep text, inst text,"
    " id text, v text, lt bigint, b text, q boolean, sms text, pid text, addr text, sec text,"
    " ident text, obj text, alt text, at bigint, seen bigint, exp bigint, fmt text)),"
    " ep AS (INSERT INTO endpoints (name) SELECT x.ep FROM x ON CONFLICT (name) DO NOTHING),"
    " inst AS (INSERT INTO server_instances (id) SELECT DISTINCT x.inst FROM x"
    " WHERE x.inst IS NOT NULL ON CONFLICT (id) DO NOTHING),"
    " old AS (DELETE FROM registrations o USING x WHERE o.endpoint = x.ep RETURNING 1),"
    " act AS (UPDATE credentials c SET state = 'active', activated_at = now() FROM x"
    " WHERE c.endpoint = x.ep AND c.scope = 'server' AND c.state = 'issued'"
    " AND x.sec <> 'nosec' AND c.mode = x.sec AND c.identity = x.ident"
    " RETURNING c.id, c.endpoint, c.identity, pg_notify('lodestar_credentials', c.id::text)),"
    " prev AS (UPDATE credentials c SET state = 'revoked', revoked_at = now()"
    " FROM (SELECT endpoint, max(id) AS top FROM act GROUP BY endpoint) a"
    " WHERE c.endpoint = a.endpoint AND c.scope = 'server' AND c.state <> 'revoked'"
    " AND c.id < a.top RETURNING c.id, c.endpoint),"
    " aud AS (INSERT INTO audit_log (actor, action, target, detail)"
    " SELECT 'lodestar-server', 'credentials.activate', act.endpoint,"
    " jsonb_build_object('credential', act.id, 'identity', act.identity, 'revoked',"
    " (SELECT coalesce(jsonb_agg(p.id ORDER BY p.id), '[]') FROM prev p"
    " WHERE p.endpoint = act.endpoint)) FROM act),"
    " r AS (INSERT INTO registrations (id, endpoint, instance_id, lwm2m_version,"
    " lifetime_s, binding, queue, sms, pid, address, security, identity, objects,"
    " alt_path, registered_at, updated_at, last_seen, expires_at, formats)"
    " SELECT x.id, x.ep, x.inst, x.v, x.lt, x.b, x.q, x.sms, x.pid, x.addr, x.sec, x.ident,"
    " x.obj::jsonb, x.alt, " MS("x.at") ", " MS("x.at") ", " MS("x.seen") ", " MS("x.exp") ","
    " x.fmt::jsonb"
    " FROM x, (SELECT count(*) FROM old) AS replaced ORDER BY x.i"
    " RETURNING endpoint, jsonb_build_object('id', id, 'lifetime', lifetime_s,"
    " 'binding', binding, 'version', lwm2m_version, 'address', address,"
    " 'objects', objects) AS detail),"
    " ev AS (INSERT INTO events (endpoint, kind, detail)"
    " SELECT r.endpoint, 'registration', r.detail FROM r RETURNING id, endpoint)"
    " SELECT ev.endpoint, ev.id FROM ev";

/* Many Updates in ONE statement, as SQL_REGISTER_GROUP: SQL_UPDATE over a
 * JSON array ("i" the operation's index, for the events' order; each
 * registration at most once).  Returns (endpoint, event id) per
 * registration found. */
static const char SQL_UPDATE_GROUP[] =
    "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, id text, lt bigint,"
    " b text, q boolean, sms text, obj text, addr text, seen bigint, exp bigint)),"
    " r AS (UPDATE registrations g SET"
    " lifetime_s = COALESCE(x.lt, g.lifetime_s),"
    " binding = COALESCE(x.b, g.binding),"
    " queue = COALESCE(x.q, g.queue),"
    " sms = CASE WHEN x.sms IS NULL THEN g.sms ELSE NULLIF(x.sms, '') END,"
    " objects = COALESCE(x.obj::jsonb, g.objects),"
    " address = COALESCE(x.addr, g.address),"
    " last_seen = " MS("x.seen") ", updated_at = " MS("x.seen") ","
    " expires_at = " MS("x.exp")
    " FROM x WHERE g.id = x.id"
    " RETURNING x.i, g.endpoint, jsonb_build_object('id', g.id, 'lifetime', g.lifetime_s,"
    " 'binding', g.binding, 'queue', g.queue, 'address', g.address)"
    " || CASE WHEN x.obj IS NULL THEN '{}'::jsonb"
    " ELSE jsonb_build_object('objects', x.obj::jsonb) END AS detail),"
    " ev AS (INSERT INTO events (endpoint, kind, detail)"
    " SELECT r.endpoint, 'update', r.detail FROM r ORDER BY r.i RETURNING id, endpoint)"
    " SELECT ev.endpoint, ev.id FROM ev";

/* $1 id, $2 lifetime, $3 binding, $4 queue, $5 sms ("" clears), $6 objects,
 * $7 address (NULL: unchanged), $8 last seen ms, $9 expires ms (NULL: never). */
static const char SQL_UPDATE[] =
    "WITH r AS (UPDATE registrations SET"
    " lifetime_s = COALESCE($2::bigint, lifetime_s),"
    " binding = COALESCE($3::text, binding),"
    " queue = COALESCE($4::boolean, queue),"
    " sms = CASE WHEN $5::text IS NULL THEN sms ELSE NULLIF($5::text, '') END,"
    " objects = COALESCE($6::jsonb, objects),"
    " address = COALESCE($7::text, address),"
    " last_seen = " MS("$8") ", updated_at = " MS("$8") ","
    " expires_at = " MS("$9")
    " WHERE id = $1::text"
    " RETURNING endpoint, jsonb_build_object('id', id, 'lifetime', lifetime_s,"
    " 'binding', binding, 'queue', queue, 'address', address)"
    " || CASE WHEN $6::jsonb IS NULL THEN '{}'::jsonb"
    " ELSE jsonb_build_object('objects', $6::jsonb) END AS detail)"
    EVENT_TAIL("update");

/* $1 id, $2 reason.  Observations go with the row (ON DELETE CASCADE). */
static const char SQL_DEREGISTER[] =
    "WITH r AS (DELETE FROM registrations WHERE id = $1::text"
    " RETURNING endpoint, jsonb_build_object('id', id, 'reason', $2::text) AS detail)"
    EVENT_TAIL("deregistration");

/* $1 endpoint, $2 registration id, $3 path, $4 paths (JSON array), $5 token
 * (hex), $6 format, $7 attributes.  The same token again for the endpoint
 * (a re-established observation) replaces the row. */
static const char SQL_OBS_INSERT[] =
    "INSERT INTO observations (endpoint, registration_id, path, paths, token, format,"
    " attributes) SELECT $1::text, $2::text, $3::text,"
    " CASE WHEN $4::jsonb IS NULL THEN NULL"
    " ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END,"
    " decode($5::text, 'hex'), $6::int, COALESCE($7::jsonb, '{}'::jsonb)"
    " ON CONFLICT (endpoint, token) DO UPDATE SET registration_id = EXCLUDED.registration_id,"
    " path = EXCLUDED.path, paths = EXCLUDED.paths, format = EXCLUDED.format,"
    " attributes = EXCLUDED.attributes, created_at = now(), last_notify_at = NULL"
    " RETURNING id";

static const char SQL_OBS_DELETE[] =
    "DELETE FROM observations WHERE id = $1::bigint RETURNING id";

/*
 * Every telemetry operation of a round: $1 is a JSON array of the ones
 * that get an events row each (Send): {"e": endpoint, "s": source, "k":
 * event kind, "d": detail}, in order (ORDINALITY); $2 the detail of the
 * round's ONE "notifications" event, {"notifications":[{"endpoint",
 * "detail"},...]} in queue order (NULL when the round has none), whose
 * elements are also the notifications' telemetry (source "notify"): each
 * detail is parsed once, and its "values" are the API values to store.
 *
 * One events row per round, not per notification: an events row cost as
 * much as the telemetry row it announced (heap, WAL, two btrees: about 10 us
 * at 2 000 per statement), and readers of /api/events lose nothing: the
 * SSE hub (web/events.c) splits the row into one "notification" frame per
 * element (bench/results/notify.md).
 */
static const char SQL_TELEMETRY[] =
    "WITH x AS (SELECT a.e->>'e' AS ep, a.e->>'s' AS src, a.e->>'k' AS kind, a.e->'d' AS d,"
    " a.i FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(e, i)"
    " UNION ALL SELECT n.e->>'endpoint', 'notify', NULL, n.e->'detail', n.i"
    " FROM jsonb_array_elements($2::jsonb->'notifications') WITH ORDINALITY AS n(e, i)),"
    " t AS (INSERT INTO telemetry (endpoint, path, ts, value, source)"
    " SELECT x.ep, v->>'path',"
    " CASE WHEN jsonb_typeof(v->'time') = 'number'"
    " AND (v->>'time')::float8 BETWEEN 0 AND 253402300799"
    " THEN to_timestamp((v->>'time')::float8) ELSE now() END,"
    " v - 'path' - 'time', x.src"
    " FROM x JOIN endpoints en ON en.name = x.ep"
    " CROSS JOIN LATERAL jsonb_array_elements(x.d->'values') AS v"
    " WHERE jsonb_typeof(v) = 'object' AND v ? 'path'),"
    " es AS (INSERT INTO events (endpoint, kind, detail)"
    " SELECT x.ep, x.kind, x.d FROM x WHERE x.kind IS NOT NULL ORDER BY x.i"
    " RETURNING id),"
    " eb AS (INSERT INTO events (kind, detail)"
    " SELECT 'notifications', $2::jsonb WHERE $2::jsonb IS NOT NULL RETURNING id)"
    " SELECT (SELECT count(*) FROM es) + (SELECT count(*) FROM eb)";

/*
 * Once per transaction, before COMMIT: one notification carrying the
 * session's newest event id.  Readers (store/events.h) treat it as "look"
 * and select the rows after their cursor, so one per commit is enough; one
 * per operation cost 18 us each at commit (36 ms of a 2 000-operation
 * batch, a quarter of its time).  currval is defined from the first
 * operation on (see SQL_SESSION), also for a batch that wrote no event,
 * whose notification is then a harmless "look".
 */
static const char SQL_NOTIFY[] =
    "SELECT pg_notify('lodestar_events',"
    " currval(pg_get_serial_sequence('events', 'id'))::text)";

/* Run once per connection so that SQL_NOTIFY's currval is always defined
 * (it costs one event id, a gap nobody sees). */
static const char SQL_SESSION[] =
    "SELECT nextval(pg_get_serial_sequence('events', 'id'))";

/*
 * Also once per connection: every statement of the worker (and of the
 * triggers they fire) finds its rows by key, so it must use the indexes
 * whatever the statistics say.  A plan made while the tables are empty or
 * not analyzed yet (a fresh database, a storm faster than autovacuum's
 * minute) hash-joined the round with ALL registrations, by a seq scan or a
 * full index scan, in every Register round: measured on a fresh database,
 * 74 us of backend CPU per registration over the first 21 000 instead of
 * 34, growing with the table.  These settings leave nested loops over
 * index scans as the only cheap plans.  A nested loop joining two CTEs
 * costs the product of their sizes (a round of 1 000: 65 us a
 * registration instead of 26), so the group statements join nothing back
 * to the round: they return each row's endpoint, and group_found finds
 * its operation in the round's hash of endpoints.
 */
static const char SQL_PLANNER[] =
    "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off";

static const char SQL_LOAD[] =
    "SELECT id, endpoint, lwm2m_version, lifetime_s, binding, queue::int, sms, pid,"
    " alt_path, objects::text, formats::text, address, security, identity, instance_id,"
    " (extract(epoch FROM registered_at) * 1000)::bigint,"
    " (extract(epoch FROM last_seen) * 1000)::bigint,"
    " COALESCE((extract(epoch FROM expires_at) * 1000)::bigint, 0)"
    " FROM registrations WHERE ($1::text IS NULL OR instance_id = $1::text)"
    " AND ($2::text IS NULL OR id > $2::text) ORDER BY id LIMIT $3::int";

/* Rows per page of store_registrations_load: keyset pages keep a start
 * with 100 000 registrations from holding them all in one result. */
#define LOAD_PAGE 5000

enum stmt_id { ST_REGISTER, ST_UPDATE, ST_DEREGISTER, ST_OBS_INSERT, ST_OBS_DELETE,
               ST_TELEMETRY, ST_REGISTER_GROUP, ST_UPDATE_GROUP, ST_NOTIFY, ST_COUNT };

static const struct stmt {
    const char *name;   /* prepared statement name, per connection */
    const char *sql;
    int nparams;        /* the first nparams of the operation's values */
    const char *what;   /* for error messages */
} stmts[ST_COUNT] = {
    [ST_REGISTER] = { "lsw_register", SQL_REGISTER, 18, "register" },
    [ST_UPDATE] = { "lsw_update", SQL_UPDATE, 9, "update" },
    [ST_DEREGISTER] = { "lsw_deregister", SQL_DEREGISTER, 2, "deregister" },
    [ST_OBS_INSERT] = { "lsw_obs_insert", SQL_OBS_INSERT, 7, "insert observation" },
    [ST_OBS_DELETE] = { "lsw_obs_delete", SQL_OBS_DELETE, 1, "delete observation" },
    [ST_TELEMETRY] = { "lsw_telemetry", SQL_TELEMETRY, 2, "store telemetry" },
    [ST_REGISTER_GROUP] = { "lsw_register_group", SQL_REGISTER_GROUP, 1, "register" },
    [ST_UPDATE_GROUP] = { "lsw_update_group", SQL_UPDATE_GROUP, 1, "update" },
    [ST_NOTIFY] = { "lsw_notify", SQL_NOTIFY, 0, "notify events" },
};

enum op_kind { OP_REGISTER, OP_UPDATE, OP_DEREGISTER, OP_OBS_INSERT, OP_OBS_DELETE,
               OP_TELEMETRY };

/* The statement of each kind; it returns the event id (no row: the
 * registration was not found). */
static const enum stmt_id op_stmt[] = {
    [OP_REGISTER] = ST_REGISTER,
    [OP_UPDATE] = ST_UPDATE,
    [OP_DEREGISTER] = ST_DEREGISTER,
    [OP_OBS_INSERT] = ST_OBS_INSERT,
    [OP_OBS_DELETE] = ST_OBS_DELETE,
    [OP_TELEMETRY] = ST_TELEMETRY,   /* grouped: one statement per round */
};

/* ---- operations ------------------------------------------------------------ */

struct op {
    struct op *next;                  /* queue order; then completion order */
    enum op_kind kind;
    const char *values[PARAMS_MAX];   /* into text[]; NULL is SQL NULL */
    store_worker_done_fn *done;
    store_worker_id_done_fn *done_id; /* instead of done: gets the row id */
    void *arg;                        /* done's, borrowed */
    int64_t id;                       /* first column of the result row */
    uint32_t ep_hash;                 /* endpoint_hash of its device */
    bool ep_known;                    /* the caller named the device */
    bool grouped;                     /* rides in the round's group of its kind */
    bool settled;                     /* outcome final: not sent again */
    bool found;                       /* this round's statement returned its row */
    enum ls_rc rc;                    /* outcome once settled */
    struct ls_error *err;             /* why, when rc != LS_OK; owned */
    char text[];                      /* the copied values, NUL-terminated each */
};

/* A growing text buffer (the telemetry statement's parameters). */
struct gbuf {
    char *p;
    size_t len, cap;
};

/* Registers (or Updates) of a round written by one statement. */
struct opgroup {
    struct gbuf json;                 /* the statement's one parameter */
    const char *value;                /* json.p once built */
    size_t head;                      /* index of the operation that sends it;
                                       * SIZE_MAX: no group this round */
};

enum { GROUP_REGISTER, GROUP_UPDATE, N_OPGROUPS };

/* One worker thread with its connection and queue.  A device's operations
 * always go to the same shard (by endpoint), which keeps them in order. */
struct shard {
    struct store_worker *parent;      /* statistics; borrowed */
    struct store *store;              /* this thread's own connection */
    struct runtime_loop *loop;        /* completions go here; borrowed */
    size_t queue_max, batch_max;
    int64_t linger_ms;
    bool sequential;                  /* benchmark baseline: no pipeline */
    int64_t hold_ms;                  /* queued operations wait this long while away */
    _Atomic bool away;                /* connection lost: enqueue refuses (worker sets) */
    int64_t away_since_ms;            /* worker thread: when it went away; 0 = up */
    unsigned prepared_attempts;       /* store_connect_attempts() when prepared; 0 none */
    struct op **batch;                /* this round's operations, batch_max slots */
    struct gbuf group;                /* this round's telemetry array (JSON) */
    struct gbuf notes;                /* this round's "notifications" event detail */
    const char *group_values[2];      /* { group, notes }: the telemetry statement's */
    struct opgroup groups[N_OPGROUPS];/* this round's Register and Update groups */
    uint32_t *seen;                   /* endpoint hashes met in the round */
    size_t *seen_op;                  /* per slot: the batch index that met it first */
    size_t seen_cap;                  /* slots: a power of two >= 2 * batch_max */
    bool groups_off;                  /* this batch runs every operation alone */
    size_t group_min;                 /* smaller groups run each operation alone */
    bool started;                     /* thread was created */

    pthread_t thread;
    pthread_mutex_t lock;             /* guards the fields down to stop_deadline */
    pthread_cond_t cond;              /* queue non-empty, or stop */
    struct op *head, *tail;           /* FIFO of queued operations */
    size_t queued;
    bool full_logged;                 /* "store_queue_full" logged, not yet "ok" */
    bool stopping;
    int64_t stop_deadline_ms;         /* monotonic; valid when stopping */
};

struct store_worker {
    size_t nshards;
    struct shard *shards;             /* nshards of them */
    _Atomic uint64_t batches, operations, failed_batches, last_batch_size, commit_us;
    _Atomic uint64_t telemetry_ok, telemetry_failed;   /* settled telemetry operations */
    _Atomic uint64_t refused_full, refused_away;       /* enqueue refusals by cause */
    _Atomic uint64_t given_up;        /* operations failed after hold_ms away */
};

static const struct ls_error no_error;   /* what done() gets with LS_OK */

/* Values being gathered for one operation; numbers are formatted here. */
struct params {
    int n;
    const char *v[PARAMS_MAX];
    char num[PARAMS_MAX][24];
};

static void put_str(struct params *p, const char *s)
{
    p->v[p->n++] = s;
}

/* "" and NULL both mean absent (SQL NULL). */
static void put_opt(struct params *p, const char *s)
{
    put_str(p, s && *s ? s : NULL);
}

static void put_i64(struct params *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%" PRId64, x);
    put_str(p, p->num[p->n]);
}

/* An epoch-ms time where 0 means "never" (SQL NULL). */
static void put_time(struct params *p, int64_t ms)
{
    if (ms == 0)
        put_str(p, NULL);
    else
        put_i64(p, ms);
}

/* Copies the gathered values into one allocation.  NULL on ENOMEM. */
static struct op *op_new(enum op_kind kind, const struct params *p,
                         store_worker_done_fn *done, void *arg)
{
    size_t len = 0;
    for (int i = 0; i < p->n; i++)
        len += p->v[i] ? strlen(p->v[i]) + 1 : 0;
    struct op *op = calloc(1, sizeof *op + len);
    if (!op)
        return NULL;
    char *at = op->text;
    for (int i = 0; i < p->n; i++) {
        if (!p->v[i])
            continue;
        size_t n = strlen(p->v[i]) + 1;
        memcpy(at, p->v[i], n);
        op->values[i] = at;
        at += n;
    }
    op->kind = kind;
    op->done = done;
    op->arg = arg;
    return op;
}

static void op_free(struct op *op)
{
    if (op) {
        free(op->err);
        free(op);
    }
}

/* Final outcome of an operation.  The message is best effort: without
 * memory for it, done() gets the code and an empty message. */
static void settle(struct op *op, enum ls_rc rc, const struct ls_error *err)
{
    op->settled = true;
    op->rc = rc;
    if (rc != LS_OK && !op->err && (op->err = calloc(1, sizeof *op->err)))
        *op->err = *err;
    if (op->err)
        op->err->code = rc;
}

/* ---- queue ---------------------------------------------------------------- */

/*
 * Telemetry may fill at most this share of a shard's queue: a notification
 * flood the database cannot keep up with is shed (the caller counts it)
 * before it could refuse Registers and Updates with 5.03.
 */
#define TELEMETRY_QUEUE_SHARE(max) ((max) * 3 / 4)

static enum ls_rc enqueue(struct shard *w, struct op *op, struct ls_error *err)
{
    enum ls_rc rc = LS_OK;
    size_t bound = op->kind == OP_TELEMETRY ? TELEMETRY_QUEUE_SHARE(w->queue_max) : w->queue_max;

    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        rc = ls_error_set(err, LS_ETRANSIENT, "store worker is stopping");
    } else if (atomic_load(&w->away)) {
        rc = ls_error_set(err, LS_ETRANSIENT, "database unavailable");
        atomic_fetch_add(&w->parent->refused_away, 1);
    } else if (w->queued >= bound) {
        rc = ls_error_set(err, LS_ENOMEM, "store queue full (%zu operations)", w->queued);
        atomic_fetch_add(&w->parent->refused_full, 1);
        if (!w->full_logged) {
            ls_log_warn("store_queue_full", "queued=%zu bound=%zu kind=%s", w->queued, bound,
                        op->kind == OP_TELEMETRY ? "telemetry" : "registration");
            w->full_logged = true;
        }
    }
    if (rc == LS_OK) {
        if (w->tail)
            w->tail->next = op;
        else
            w->head = op;
        w->tail = op;
        /* The worker waits only on an empty queue. */
        if (w->queued++ == 0)
            pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    if (rc != LS_OK)
        op_free(op);
    return rc;
}

static struct timespec abs_time(int64_t delay_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += delay_ms / 1000;
    ts.tv_nsec += (delay_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* With the lock held: whether a stop's drain deadline has passed. */
static bool past_deadline_locked(const struct shard *w)
{
    return w->stopping && runtime_clock_now_ms() >= w->stop_deadline_ms;
}

/* How long an idle shard that is away waits before probing the database:
 * until the store's backoff allows an attempt, at least 20 ms. */
static int64_t probe_delay_ms(const struct shard *w)
{
    int64_t d = store_retry_in_ms(w->store);
    return d < 20 ? 20 : d;
}

/*
 * Waits for work and moves up to batch_max operations into w->batch.
 * RETURNS how many; 0 when stopping with nothing queued, or (with *probe
 * set) when the shard is away and it is time to try the database again.
 * *expired is set when the stop deadline has passed (the caller fails
 * what it got).
 */
static size_t take_batch(struct shard *w, bool *expired, bool *probe)
{
    size_t n = 0;

    *probe = false;
    pthread_mutex_lock(&w->lock);
    while (!w->head && !w->stopping) {
        if (!atomic_load(&w->away)) {
            pthread_cond_wait(&w->cond, &w->lock);
            continue;
        }
        struct timespec until = abs_time(probe_delay_ms(w));
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT && !w->head) {
            *probe = true;
            pthread_mutex_unlock(&w->lock);
            return 0;
        }
    }
    if (w->linger_ms > 0 && w->head && !w->stopping) {
        struct timespec until = abs_time(w->linger_ms);
        while (!w->stopping && w->queued < w->batch_max &&
               pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
            ;
    }
    *expired = past_deadline_locked(w);
    while (w->head && n < w->batch_max) {
        struct op *op = w->head;
        w->head = op->next;
        op->next = NULL;
        w->queued--;
        w->batch[n++] = op;
    }
    if (!w->head)
        w->tail = NULL;
    if (w->full_logged && w->queued < w->queue_max / 2) {
        ls_log_info("store_queue_ok", "queued=%zu", w->queued);
        w->full_logged = false;
    }
    pthread_mutex_unlock(&w->lock);
    return n;
}

/* Sleeps delay_ms unless stopped.  RETURNS true when the stop deadline
 * has passed (give up). */
static bool backoff_wait(struct shard *w, int64_t delay_ms)
{
    struct timespec until = abs_time(delay_ms);
    bool expired;

    pthread_mutex_lock(&w->lock);
    while (!past_deadline_locked(w) &&
           pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
        ;
    expired = past_deadline_locked(w);
    pthread_mutex_unlock(&w->lock);
    return expired;
}

/* ---- completions ------------------------------------------------------------ */

/* On the loop thread: runs and frees a posted list of operations. */
static void run_completions(struct runtime_loop *loop, void *arg)
{
    (void)loop;
    for (struct op *op = arg, *next; op; op = next) {
        next = op->next;
        const struct ls_error *e = op->rc == LS_OK || !op->err ? &no_error : op->err;
        if (op->done_id)
            op->done_id(op->arg, op->rc, op->rc == LS_OK ? op->id : 0, e);
        else if (op->done)
            op->done(op->arg, op->rc, e);
        op_free(op);
    }
}

/* Counts the round's settled telemetry operations (store_worker_telemetry_stats). */
static void count_telemetry(struct shard *w, size_t n)
{
    uint64_t ok = 0, failed = 0;
    for (size_t i = 0; i < n; i++)
        if (w->batch[i]->kind == OP_TELEMETRY) {
            ok += w->batch[i]->rc == LS_OK;
            failed += w->batch[i]->rc != LS_OK;
        }
    if (ok)
        atomic_fetch_add(&w->parent->telemetry_ok, ok);
    if (failed)
        atomic_fetch_add(&w->parent->telemetry_failed, failed);
}

/* Hands this round's settled operations to the loop, in queue order. */
static void complete(struct shard *w, size_t n)
{
    struct op *head = NULL, **link = &head;
    struct ls_error err = { 0 };

    for (size_t i = 0; i < n; i++) {
        *link = w->batch[i];
        link = &w->batch[i]->next;
    }
    *link = NULL;
    if (!head)
        return;
    for (int tries = 0; !runtime_loop_stopping(w->loop); tries++) {
        if (runtime_loop_post(w->loop, run_completions, head, &err) == LS_OK)
            return;
        if (tries == 50) {
            ls_log_error("store_worker_completions_lost", "operations=%zu reason=\"%s\"",
                         n, err.msg);
            break;
        }
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000 }, NULL);
    }
    /* The loop stopped: its posts would be dropped, so are these. */
    for (struct op *op = head, *next; op; op = next) {
        next = op->next;
        op_free(op);
    }
}

/* ---- one transaction ---------------------------------------------------------- */

/*
 * Forces the store to notice a connection whose protocol state we can no
 * longer trust (a send failed mid-pipeline, a result is missing): shut the
 * socket so that libpq sees the end, then let store_check mark it down.
 */
static enum ls_rc drop_connection(struct shard *w, PGconn *conn, const char *why,
                                  struct ls_error *err)
{
    if (PQsocket(conn) >= 0)
        shutdown(PQsocket(conn), SHUT_RDWR);
    PQconsumeInput(conn);
    if (store_check(w->store, NULL, why, err) == LS_ETRANSIENT)
        return LS_ETRANSIENT;
    ls_error_clear(err);
    return ls_error_set(err, LS_ETRANSIENT, "%s: connection reset", why);
}

/* Prepares the statements once per connection. */
static enum ls_rc prepare(struct shard *w, struct ls_error *err)
{
    enum ls_rc rc = store_ensure(w->store, err);
    if (rc != LS_OK)
        return rc;
    unsigned attempts = store_connect_attempts(w->store);
    if (attempts == w->prepared_attempts)
        return LS_OK;
    PGconn *conn = store_pgconn(w->store);
    /* DEALLOCATE: a connection where an earlier attempt prepared some. */
    PGresult *res = PQexec(conn, "DEALLOCATE ALL");
    rc = store_check(w->store, res, "prepare store worker statements", err);
    PQclear(res);
    if (rc == LS_OK) {
        res = PQexec(conn, SQL_PLANNER);
        rc = store_check(w->store, res, "set store worker planner", err);
        PQclear(res);
    }
    if (rc == LS_OK) {
        res = PQexec(conn, SQL_SESSION);
        rc = store_check(w->store, res, "prepare store worker session", err);
        PQclear(res);
    }
    for (int i = 0; i < ST_COUNT && rc == LS_OK; i++) {
        res = PQprepare(conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        rc = store_check(w->store, res, "prepare store worker statements", err);
        PQclear(res);
    }
    if (rc == LS_OK)
        w->prepared_attempts = attempts;
    /* A statement that does not prepare (an old schema) is no transient
     * fault and no operation's: the batch fails as a whole. */
    return rc == LS_OK || rc == LS_ETRANSIENT ? rc : LS_EIO;
}

/* Whether a failure is the operation's own (its data broke a constraint). */
static bool op_fault(enum ls_rc rc)
{
    return rc == LS_EINVAL || rc == LS_ECONFLICT || rc == LS_ENOTFOUND;
}

static void group_found(struct shard *w, enum op_kind kind, const PGresult *res);

/* Checks an operation's result and whether it returned its event row.
 * LS_OK or as store_check. */
static enum ls_rc check_result(struct shard *w, struct op *op, enum stmt_id st,
                               const PGresult *res, struct ls_error *err)
{
    enum ls_rc rc = store_check(w->store, res, stmts[st].what, err);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (rc == LS_OK && (st == ST_REGISTER_GROUP || st == ST_UPDATE_GROUP)) {
        group_found(w, st == ST_REGISTER_GROUP ? OP_REGISTER : OP_UPDATE, res);
    } else if (rc == LS_OK) {
        op->found = PQntuples(res) > 0;
        if (op->found && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
            op->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    } else if (state && strcmp(state, "26000") == 0) {
        /* Our prepared statements are gone (DISCARD ALL, a pooler): not
         * the operation's fault; prepare again and retry. */
        w->prepared_attempts = 0;
        rc = LS_ETRANSIENT;
    }
    return rc;
}

/* ---- the telemetry group ------------------------------------------------------ */

/* Index of the round's first unsettled telemetry operation, which carries
 * the group's statement, or SIZE_MAX. */
static size_t group_head(const struct shard *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w->batch[i]->kind == OP_TELEMETRY && !w->batch[i]->settled)
            return i;
    return SIZE_MAX;
}

static bool buf_reserve(struct gbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *g = realloc(b->p, cap);
    if (!g)
        return false;
    b->p = g;
    b->cap = cap;
    return true;
}

/* Appends s as a JSON string.  false on ENOMEM. */
static bool buf_string(struct gbuf *b, const char *s)
{
    if (!buf_reserve(b, strlen(s) * 6 + 2))
        return false;
    char *o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = (char)*c;
        } else if (*c < 0x20) {
            o += sprintf(o, "\\u%04x", *c);
        } else {
            *o++ = (char)*c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    return true;
}

static bool buf_raw(struct gbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (!buf_reserve(b, n))
        return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

/* One element of the array of operations with an events row of their own
 * (Send): {"e":endpoint,"s":source,"k":kind,"d":detail}. */
static bool group_item(struct gbuf *b, const struct op *op)
{
    return buf_raw(b, "{\"e\":") && buf_string(b, op->values[0]) &&
           buf_raw(b, ",\"s\":") && buf_string(b, op->values[1]) &&
           buf_raw(b, ",\"k\":") && buf_string(b, op->values[2]) &&
           buf_raw(b, ",\"d\":") && buf_raw(b, op->values[3]) && buf_raw(b, "}");
}

/* One element of the round's "notifications" event, also its telemetry
 * (source "notify": store_worker_telemetry refuses another source for a
 * notification): {"endpoint":..,"detail":..}. */
static bool batch_item(struct gbuf *b, const struct op *op)
{
    return buf_raw(b, "{\"endpoint\":") && buf_string(b, op->values[0]) &&
           buf_raw(b, ",\"detail\":") && buf_raw(b, op->values[3]) && buf_raw(b, "}");
}

static bool is_notification(const struct op *op)
{
    return strcmp(op->values[2], "notification") == 0;
}

/*
 * Builds, from the unsettled telemetry operations, w->group, the JSON array
 * of those with an events row of their own (Send), and w->notes, the
 * detail of the round's ONE "notifications" event ({"notifications":
 * [{"endpoint","detail"}, ...]}, NULL parameter when the round has none), on the worker thread (the loop thread only copied
 * strings).  Without memory for them the telemetry operations fail with
 * LS_ENOMEM (the rest of the round goes on).
 */
static void group_build(struct shard *w, size_t n)
{
    w->group.len = w->notes.len = 0;
    bool ok = buf_raw(&w->group, "[") && buf_raw(&w->notes, "{\"notifications\":[");
    size_t groups = 0, notes = 0;

    for (size_t i = 0; ok && i < n; i++) {
        struct op *op = w->batch[i];
        if (op->kind != OP_TELEMETRY || op->settled)
            continue;
        if (is_notification(op))
            ok = (notes++ == 0 || buf_raw(&w->notes, ",")) && batch_item(&w->notes, op);
        else
            ok = (groups++ == 0 || buf_raw(&w->group, ",")) && group_item(&w->group, op);
    }
    ok = ok && buf_raw(&w->group, "]") && buf_raw(&w->notes, "]}");
    if (ok) {
        w->group.p[w->group.len] = '\0';
        w->notes.p[w->notes.len] = '\0';
        w->group_values[0] = w->group.p;
        w->group_values[1] = notes ? w->notes.p : NULL;
        return;
    }
    struct ls_error err = { 0 };
    ls_error_set(&err, LS_ENOMEM, "store telemetry: out of memory");
    for (size_t i = 0; i < n; i++)
        if (w->batch[i]->kind == OP_TELEMETRY && !w->batch[i]->settled)
            settle(w->batch[i], LS_ENOMEM, &err);
}

/* ---- the Register and Update groups -------------------------------------------- */

/*
 * What each group holds: the kind of its operations, its statement, and
 * the record keys of the operation's values in order (the columns of
 * SQL_REGISTER_GROUP / SQL_UPDATE_GROUP; store_worker_register's and
 * store_worker_update's order).
 */
static const char *const register_keys[] = {
    "ep", "inst", "id", "v", "lt", "b", "q", "sms", "pid", "addr", "sec", "ident",
    "obj", "alt", "at", "seen", "exp", "fmt", NULL,
};
static const char *const update_keys[] = {
    "id", "lt", "b", "q", "sms", "obj", "addr", "seen", "exp", NULL,
};
static const struct {
    enum op_kind kind;
    enum stmt_id st;
    const char *const *keys;
} opgroups[N_OPGROUPS] = {
    [GROUP_REGISTER] = { OP_REGISTER, ST_REGISTER_GROUP, register_keys },
    [GROUP_UPDATE] = { OP_UPDATE, ST_UPDATE_GROUP, update_keys },
};

/* The group an operation of this kind may join, or -1. */
static int opgroup_of(enum op_kind kind)
{
    for (int g = 0; g < N_OPGROUPS; g++)
        if (opgroups[g].kind == kind)
            return g;
    return -1;
}

/* FNV-1a: picks the shard, and tells the round's devices apart. */
static uint32_t endpoint_hash(const char *endpoint)
{
    uint32_t h = 2166136261u;
    for (const char *c = endpoint ? endpoint : ""; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h;
}

/* Adds a device to the round's set.  RETURNS true when it was there
 * already (or a device with the same hash was: grouping less is safe). */
static bool seen_add(struct shard *w, uint32_t hash, size_t i)
{
    uint32_t key = hash | 1u;   /* 0 marks a free slot */
    size_t mask = w->seen_cap - 1;
    for (size_t at = key & mask;; at = (at + 1) & mask) {
        if (w->seen[at] == key)
            return true;
        if (w->seen[at] == 0) {
            w->seen[at] = key;
            w->seen_op[at] = i;
            return false;
        }
    }
}

/* The batch index of the first operation of the round whose endpoint
 * hash is hash, or SIZE_MAX. */
static size_t seen_first(const struct shard *w, uint32_t hash)
{
    uint32_t key = hash | 1u;
    size_t mask = w->seen_cap - 1;
    for (size_t at = key & mask; w->seen[at]; at = (at + 1) & mask)
        if (w->seen[at] == key)
            return w->seen_op[at];
    return SIZE_MAX;
}

/*
 * Chooses the Registers and the Updates that go in the round's group
 * statements; each group runs at the position of its first operation.
 * Moving an operation earlier is safe only past operations on other
 * devices, so one joins when no earlier operation of the round touched
 * its device (a device's second operation in a round runs alone, in
 * order); an operation that does not name its device stops grouping for
 * the rest of the round.  A group smaller than group_min is no group: the
 * group statement's fixed cost (a dozen CTE scans, the JSON) outweighs its
 * gain below about 30 operations (bench/store_worker_bench, Postgres CPU
 * per registration, one statement each vs grouped: batch 20: 80 vs 101 us;
 * 50: 76 vs 57; 100: 71 vs 43; 2000: 68 vs 32).
 */
#define GROUP_MIN_DEFAULT 32
static void groups_mark(struct shard *w, size_t n)
{
    size_t count[N_OPGROUPS] = { 0 };
    bool barrier = w->groups_off;

    memset(w->seen, 0, w->seen_cap * sizeof *w->seen);
    for (int g = 0; g < N_OPGROUPS; g++)
        w->groups[g].head = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        struct op *op = w->batch[i];
        op->grouped = false;
        if (op->settled)
            continue;
        if (!op->ep_known) {
            barrier = true;
            continue;
        }
        bool again = seen_add(w, op->ep_hash, i);
        int g = opgroup_of(op->kind);
        if (g < 0 || again || barrier)
            continue;
        op->grouped = true;
        if (count[g]++ == 0)
            w->groups[g].head = i;
    }
    for (size_t i = 0; i < n; i++) {
        int g = opgroup_of(w->batch[i]->kind);
        if (g >= 0 && count[g] < w->group_min)
            w->batch[i]->grouped = false;
    }
    for (int g = 0; g < N_OPGROUPS; g++)
        if (count[g] < w->group_min)
            w->groups[g].head = SIZE_MAX;
}

/* A JSON string, or null for a NULL value. */
static bool buf_opt_string(struct gbuf *b, const char *s)
{
    return s ? buf_string(b, s) : buf_raw(b, "null");
}

/* One operation of a group: {"i": its index, key: value, ...}.  Every
 * value is a JSON string, even numbers and documents: Postgres reads them
 * with the column type's input function, so no value can change the
 * array's shape. */
static bool group_op_item(struct gbuf *b, size_t i, const struct op *op,
                          const char *const *keys)
{
    char index[32];
    snprintf(index, sizeof index, "{\"i\":%zu", i);
    bool ok = buf_raw(b, index);
    for (size_t k = 0; ok && keys[k]; k++)
        ok = buf_raw(b, ",\"") && buf_raw(b, keys[k]) && buf_raw(b, "\":") &&
             buf_opt_string(b, op->values[k]);
    return ok && buf_raw(b, "}");
}

/* Builds group g's array from its operations.  Without memory for it they
 * leave the group (each runs alone); nothing fails. */
static void group_build_ops(struct shard *w, size_t n, int g)
{
    struct opgroup *grp = &w->groups[g];
    if (grp->head == SIZE_MAX)
        return;
    grp->json.len = 0;
    bool ok = buf_raw(&grp->json, "[");
    bool first = true;
    for (size_t i = 0; ok && i < n; i++) {
        const struct op *op = w->batch[i];
        if (!op->grouped || op->kind != opgroups[g].kind)
            continue;
        ok = (first || buf_raw(&grp->json, ",")) &&
             group_op_item(&grp->json, i, op, opgroups[g].keys);
        first = false;
    }
    if (ok && buf_raw(&grp->json, "]")) {
        grp->json.p[grp->json.len] = '\0';
        grp->value = grp->json.p;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (w->batch[i]->kind == opgroups[g].kind)
            w->batch[i]->grouped = false;
    grp->head = SIZE_MAX;
}

/* A group statement's rows, (i, event id): each names its operation. */
/* A group statement's rows, (endpoint, event id) per operation it
 * applied.  The grouped operations of a round have distinct endpoint
 * hashes (groups_mark), so the hash names the operation. */
static void group_found(struct shard *w, enum op_kind kind, const PGresult *res)
{
    for (int row = 0; row < PQntuples(res); row++) {
        size_t i = seen_first(w, endpoint_hash(PQgetvalue(res, row, 0)));
        if (i >= w->batch_max || !w->batch[i] || !w->batch[i]->grouped ||
            w->batch[i]->kind != kind)
            continue;
        w->batch[i]->found = true;
        w->batch[i]->id = strtoll(PQgetvalue(res, row, 1), NULL, 10);
    }
}

/*
 * What operation i sends this round: its own statement, or for the group
 * head the telemetry statement over w->group.  false: a telemetry
 * operation that rides in the head's statement (sends nothing).
 */
static bool op_statement(struct shard *w, size_t i, size_t head, const struct stmt **st,
                         const char *const **values)
{
    struct op *op = w->batch[i];
    if (op->grouped) {
        int g = opgroup_of(op->kind);
        if (i != w->groups[g].head)
            return false;
        *st = &stmts[opgroups[g].st];
        *values = &w->groups[g].value;
        return true;
    }
    if (op->kind != OP_TELEMETRY) {
        *st = &stmts[op_stmt[op->kind]];
        *values = op->values;
        return true;
    }
    if (i != head)
        return false;
    *st = &stmts[ST_TELEMETRY];
    *values = w->group_values;
    return true;
}

/*
 * Sends BEGIN, every unsettled operation's statements, the notification
 * and COMMIT, then one Sync.  RETURNS LS_OK or LS_ETRANSIENT (the
 * connection was dropped).
 */
static enum ls_rc pipeline_send(struct shard *w, PGconn *conn, size_t n,
                                struct ls_error *err)
{
    bool ok = PQsendQueryParams(conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    size_t head = group_head(w, n);
    for (size_t i = 0; ok && i < n; i++) {
        const struct stmt *st;
        const char *const *values;
        if (w->batch[i]->settled || !op_statement(w, i, head, &st, &values))
            continue;
        ok = PQsendQueryPrepared(conn, st->name, st->nparams, values, NULL, NULL, 0) == 1;
    }
    ok = ok && PQsendQueryPrepared(conn, stmts[ST_NOTIFY].name, 0, NULL, NULL, NULL, 0) == 1;
    ok = ok && PQsendQueryParams(conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    ok = ok && PQpipelineSync(conn) == 1;
    return ok ? LS_OK : drop_connection(w, conn, "send store batch", err);
}

/*
 * Reads one query's results: the first is checked (only while no earlier
 * query failed), the rest up to the NULL that ends the query are dropped.
 * RETURNS LS_OK, the failure of this query, or LS_ETRANSIENT with the
 * connection gone (*gone set: conn must not be touched again).
 */
static enum ls_rc read_query(struct shard *w, PGconn *conn, struct op *op,
                             enum stmt_id st, bool failed_before, bool *gone,
                             struct ls_error *err)
{
    PGresult *res = PQgetResult(conn);
    enum ls_rc rc = LS_OK;

    if (!res) {
        *gone = true;
        return drop_connection(w, conn, "read store batch", err);
    }
    if (!failed_before)
        rc = op ? check_result(w, op, st, res, err)
                : store_check(w->store, res, "store batch", err);
    PQclear(res);
    if (rc == LS_ETRANSIENT && !store_is_up(w->store)) {
        *gone = true;
        return rc;
    }
    while ((res = PQgetResult(conn)))
        PQclear(res);
    return rc;
}

/*
 * One round in pipeline mode.  RETURNS LS_OK when committed; LS_ETRANSIENT
 * (retry); or the failure of the first statement that failed, with *bad
 * its operation's index (SIZE_MAX when BEGIN/COMMIT failed).
 */
static enum ls_rc round_pipeline(struct shard *w, size_t n, size_t *bad,
                                 struct ls_error *err)
{
    PGconn *conn = store_pgconn(w->store);
    enum ls_rc rc = LS_OK, first = LS_OK;
    bool gone = false;

    if (PQenterPipelineMode(conn) != 1)
        return drop_connection(w, conn, "enter pipeline mode", err);
    rc = pipeline_send(w, conn, n, err);
    if (rc != LS_OK)
        return rc;
    first = read_query(w, conn, NULL, ST_COUNT, false, &gone, err);
    size_t head = group_head(w, n);
    for (size_t i = 0; !gone && i < n; i++) {
        struct op *op = w->batch[i];
        const struct stmt *st;
        const char *const *values;
        if (op->settled || !op_statement(w, i, head, &st, &values))
            continue;
        rc = read_query(w, conn, op, (enum stmt_id)(st - stmts), first != LS_OK, &gone, err);
        if (rc != LS_OK && first == LS_OK) {
            first = rc;
            *bad = i;
        }
    }
    /* The notification, then COMMIT. */
    for (int k = 0; !gone && k < 2; k++) {
        rc = read_query(w, conn, NULL, ST_COUNT, first != LS_OK, &gone, err);
        if (first == LS_OK)
            first = rc;
    }
    if (gone)
        return LS_ETRANSIENT;
    /* The Sync's own result ends the pipeline (read_query consumed it). */
    PGresult *sync;
    while ((sync = PQgetResult(conn))) {
        bool is_sync = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
        if (is_sync)
            break;
    }
    if (PQexitPipelineMode(conn) != 1)
        return drop_connection(w, conn, "leave pipeline mode", err);
    return first;
}

/* An operation's statement, synchronously (the sequential baseline). */
static enum ls_rc exec_op(struct shard *w, size_t i, size_t head, struct ls_error *err)
{
    const struct stmt *st;
    const char *const *values;
    if (!op_statement(w, i, head, &st, &values))
        return LS_OK;
    PGresult *res = PQexecPrepared(store_pgconn(w->store), st->name, st->nparams, values,
                                   NULL, NULL, 0);
    enum ls_rc rc = check_result(w, w->batch[i], (enum stmt_id)(st - stmts), res, err);
    PQclear(res);
    return rc;
}

/* A statement without parameters, synchronously. */
static enum ls_rc exec_plain(struct shard *w, const char *sql, const char *what,
                             struct ls_error *err)
{
    PGresult *res = PQexec(store_pgconn(w->store), sql);
    enum ls_rc rc = store_check(w->store, res, what, err);
    PQclear(res);
    return rc;
}

/* One round, one statement at a time; same contract as round_pipeline. */
static enum ls_rc round_sequential(struct shard *w, size_t n, size_t *bad,
                                   struct ls_error *err)
{
    enum ls_rc rc = exec_plain(w, "BEGIN", "begin store batch", err);
    size_t head = group_head(w, n);

    for (size_t i = 0; rc == LS_OK && i < n; i++) {
        if (w->batch[i]->settled)
            continue;
        rc = exec_op(w, i, head, err);
        if (rc != LS_OK)
            *bad = i;
    }
    if (rc == LS_OK)
        rc = exec_plain(w, SQL_NOTIFY, "notify events", err);
    if (rc == LS_OK)
        rc = exec_plain(w, "COMMIT", "commit store batch", err);
    return rc;
}

/* After a failed round on a live connection: leave the aborted transaction. */
static void rollback(struct shard *w)
{
    PGconn *conn = store_pgconn(w->store);
    if (conn && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(conn, "ROLLBACK");
        if (store_check(w->store, res, "rollback store batch", NULL) != LS_OK)
            ls_log_warn("store_worker_rollback_failed", "status=%d",
                        (int)PQtransactionStatus(conn));
        PQclear(res);
    }
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* After a commit: every unsettled operation's outcome, and the stats. */
static void committed(struct shard *w, size_t n, int64_t started_us)
{
    struct ls_error nf = { 0 };
    uint64_t count = 0;

    for (size_t i = 0; i < n; i++) {
        struct op *op = w->batch[i];
        if (op->settled)
            continue;
        count++;
        /* A telemetry operation rode in its group's committed statement. */
        if (op->found || op->kind == OP_TELEMETRY) {
            settle(op, LS_OK, NULL);
            continue;
        }
        ls_error_clear(&nf);
        ls_error_set(&nf, LS_ENOTFOUND, "%s: no such %s", stmts[op_stmt[op->kind]].what,
                     op->kind == OP_OBS_DELETE ? "observation" : "registration");
        settle(op, LS_ENOTFOUND, &nf);
    }
    atomic_fetch_add(&w->parent->batches, 1);
    atomic_fetch_add(&w->parent->operations, count);
    atomic_store(&w->parent->last_batch_size, count);
    atomic_fetch_add(&w->parent->commit_us, (uint64_t)(now_us() - started_us));
}

static bool all_settled(const struct shard *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!w->batch[i]->settled)
            return false;
    return true;
}

static void settle_rest(struct shard *w, size_t n, enum ls_rc rc,
                        const struct ls_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!w->batch[i]->settled)
            settle(w->batch[i], rc, err);
}

/* The connection works again: enqueue accepts, nothing waits for a probe. */
static void back_up(struct shard *w)
{
    if (!atomic_load(&w->away))
        return;
    ls_log_info("store_worker_db_back", "away_ms=%lld",
                (long long)(runtime_clock_now_ms() - w->away_since_ms));
    w->away_since_ms = 0;
    atomic_store(&w->away, false);
}

/* The connection is gone: refuse new work from now on. */
static void gone_away(struct shard *w)
{
    if (atomic_load(&w->away))
        return;
    w->away_since_ms = runtime_clock_now_ms();
    atomic_store(&w->away, true);
}

/* An idle shard that is away tries the database (as the store's backoff
 * allows); prepare connects and prepares the statements. */
static void probe(struct shard *w)
{
    struct ls_error err = { 0 };
    if (prepare(w, &err) == LS_OK)
        back_up(w);
}

/*
 * After a transient failure: how long to wait before the next attempt, or
 * -1 to give up (away for hold_ms already).  Away, the next attempt is
 * when the store's backoff allows a connection, never after the hold.
 */
static int64_t retry_delay(struct shard *w, int64_t delay_ms)
{
    if (store_is_up(w->store))
        return delay_ms;
    gone_away(w);
    int64_t left = w->away_since_ms + w->hold_ms - runtime_clock_now_ms();
    if (left <= 0)
        return -1;
    int64_t d = probe_delay_ms(w);
    return d < left ? d : left;
}

/*
 * Writes w->batch[0..n) until every operation is settled: committed,
 * failed alone (its own constraint violation), or given up (stop deadline,
 * an error that is no operation's fault, or the database away for
 * hold_ms).
 */
static void write_batch(struct shard *w, size_t n)
{
    int64_t delay_ms = RETRY_MIN_MS;
    bool logged = false;

    w->groups_off = false;
    while (!all_settled(w, n)) {
        struct ls_error err = { 0 };
        size_t bad = SIZE_MAX;
        int64_t started = now_us();
        for (size_t i = 0; i < n; i++)
            w->batch[i]->found = false;
        group_build(w, n);
        groups_mark(w, n);
        for (int g = 0; g < N_OPGROUPS; g++)
            group_build_ops(w, n, g);
        if (all_settled(w, n))
            return;
        enum ls_rc rc = prepare(w, &err);
        if (rc == LS_OK)
            rc = w->sequential ? round_sequential(w, n, &bad, &err)
                               : round_pipeline(w, n, &bad, &err);
        if (rc == LS_OK) {
            committed(w, n, started);
            back_up(w);
            if (logged)
                ls_log_info("store_worker_resumed", "operations=%zu", n);
            return;
        }
        atomic_fetch_add(&w->parent->failed_batches, 1);
        rollback(w);
        if (rc != LS_ETRANSIENT && op_fault(rc) && bad != SIZE_MAX && w->batch[bad]->grouped) {
            /* Which operation of the group?  Run each alone to find out. */
            w->groups_off = true;
            continue;
        }
        if (rc != LS_ETRANSIENT && op_fault(rc) && bad != SIZE_MAX) {
            ls_log_info("store_operation_refused", "reason=\"%s\"", err.msg);
            settle(w->batch[bad], rc, &err);
            continue;
        }
        if (rc != LS_ETRANSIENT) {
            ls_log_error("store_batch_failed", "operations=%zu reason=\"%s\"", n, err.msg);
            settle_rest(w, n, rc, &err);
            return;
        }
        int64_t wait = retry_delay(w, delay_ms);
        if (wait < 0) {
            /* Every operation of the round, refused as a new one would be. */
            ls_log_warn("store_worker_gave_up", "operations=%zu away_ms=%lld reason=\"%s\"", n,
                        (long long)(runtime_clock_now_ms() - w->away_since_ms), err.msg);
            size_t unsettled = 0;
            for (size_t i = 0; i < n; i++)
                unsettled += !w->batch[i]->settled;
            atomic_fetch_add(&w->parent->given_up, unsettled);
            ls_error_clear(&err);
            ls_error_set(&err, LS_ETRANSIENT, "database unavailable");
            settle_rest(w, n, LS_ETRANSIENT, &err);
            return;
        }
        if (!logged) {
            ls_log_warn("store_worker_retrying", "operations=%zu reason=\"%s\"", n, err.msg);
            logged = true;
        }
        if (backoff_wait(w, wait)) {
            ls_error_clear(&err);
            ls_error_set(&err, LS_ETRANSIENT, "store worker stopped before the database came back");
            settle_rest(w, n, LS_ETRANSIENT, &err);
            return;
        }
        delay_ms = delay_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay_ms * 2;
    }
}

static void *worker_main(void *arg)
{
    struct shard *w = arg;
    bool expired = false, again = false;
    size_t n;

    while ((n = take_batch(w, &expired, &again)) > 0 || again) {
        if (n == 0) {
            probe(w);
            continue;
        }
        if (expired) {
            struct ls_error err = { 0 };
            ls_error_set(&err, LS_ETRANSIENT, "store worker stopped before writing");
            settle_rest(w, n, LS_ETRANSIENT, &err);
        } else {
            write_batch(w, n);
        }
        count_telemetry(w, n);
        complete(w, n);
    }
    return NULL;
}

/* ---- public --------------------------------------------------------------------- */

/* Sets up one shard (its thread not started).  LS_OK or LS_ENOMEM. */
static enum ls_rc shard_init(struct shard *sh, struct store_worker *w, const char *conninfo,
                             struct runtime_loop *loop, const struct store_worker_options *opts,
                             size_t queue_max, struct ls_error *err)
{
    sh->parent = w;
    sh->loop = loop;
    sh->queue_max = queue_max;
    sh->batch_max = opts->batch_max ? opts->batch_max : BATCH_MAX_DEFAULT;
    sh->linger_ms = opts->linger_ms;
    sh->group_min = opts->group_min ? opts->group_min : GROUP_MIN_DEFAULT;
    sh->sequential = opts->sequential;
    sh->hold_ms = opts->hold_ms > 0 ? opts->hold_ms : HOLD_DEFAULT_MS;
    sh->batch = calloc(sh->batch_max, sizeof *sh->batch);
    for (sh->seen_cap = 64; sh->seen_cap < 2 * sh->batch_max; sh->seen_cap *= 2)
        ;
    sh->seen = calloc(sh->seen_cap, sizeof *sh->seen);
    sh->seen_op = calloc(sh->seen_cap, sizeof *sh->seen_op);
    if (!sh->batch || !sh->seen || !sh->seen_op || !(sh->store = store_open(conninfo, err)))
        return ls_error_set(err, LS_ENOMEM, "cannot allocate the store worker");
    pthread_mutex_init(&sh->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sh->cond, &ca);
    pthread_condattr_destroy(&ca);
    return LS_OK;
}

/* Stops and frees the shards that were set up; the threads drain first,
 * all at once, so the stop deadline is shared rather than added up. */
static void shards_free(struct store_worker *w)
{
    for (size_t i = 0; i < w->nshards; i++) {
        struct shard *sh = &w->shards[i];
        if (!sh->started)
            continue;
        pthread_mutex_lock(&sh->lock);
        sh->stopping = true;
        sh->stop_deadline_ms = runtime_clock_now_ms() + STOP_DEADLINE_MS;
        pthread_cond_broadcast(&sh->cond);
        pthread_mutex_unlock(&sh->lock);
    }
    for (size_t i = 0; i < w->nshards; i++) {
        struct shard *sh = &w->shards[i];
        if (sh->started)
            pthread_join(sh->thread, NULL);   /* returns with the queue empty */
        if (sh->store) {
            pthread_cond_destroy(&sh->cond);
            pthread_mutex_destroy(&sh->lock);
        }
        store_close(sh->store);
        free(sh->batch);
        free(sh->group.p);
        for (int g = 0; g < N_OPGROUPS; g++)
            free(sh->groups[g].json.p);
        free(sh->seen);
        free(sh->seen_op);
        free(sh->notes.p);
    }
    free(w->shards);
    free(w);
}

struct store_worker *store_worker_start_opts(const char *conninfo, struct runtime_loop *loop,
                                             const struct store_worker_options *opts,
                                             struct ls_error *err)
{
    static const struct store_worker_options defaults;
    struct store_worker *w = calloc(1, sizeof *w);

    if (!opts)
        opts = &defaults;
    size_t n = opts->shards ? opts->shards : SHARDS_DEFAULT;
    size_t queue_max = opts->queue_max ? opts->queue_max : QUEUE_MAX_DEFAULT;
    if (!w || !(w->shards = calloc(n, sizeof *w->shards))) {
        free(w);
        ls_error_set(err, LS_ENOMEM, "cannot allocate the store worker");
        return NULL;
    }
    w->nshards = n;
    for (size_t i = 0; i < n; i++) {
        struct shard *sh = &w->shards[i];
        if (shard_init(sh, w, conninfo, loop, opts, (queue_max + n - 1) / n, err) != LS_OK)
            goto fail;
        int e = pthread_create(&sh->thread, NULL, worker_main, sh);
        if (e != 0) {
            ls_error_set(err, LS_EIO, "cannot start the store worker: %s", strerror(e));
            goto fail;
        }
        sh->started = true;
    }
    return w;
fail:
    shards_free(w);
    return NULL;
}

struct store_worker *store_worker_start(const char *conninfo, struct runtime_loop *loop,
                                        struct ls_error *err)
{
    return store_worker_start_opts(conninfo, loop, NULL, err);
}

void store_worker_stop(struct store_worker *w)
{
    if (w)
        shards_free(w);
}

/* Queues an operation of a device on the device's shard: every operation
 * of one device goes through the same queue and connection, in order.
 * endpoint NULL: the first shard (and the op is a barrier to grouping). */
static enum ls_rc enqueue_for(struct store_worker *w, const char *endpoint, struct op *op,
                              struct ls_error *err)
{
    op->ep_hash = endpoint_hash(endpoint);
    op->ep_known = endpoint != NULL;
    return enqueue(&w->shards[w->nshards > 1 ? op->ep_hash % w->nshards : 0], op, err);
}

enum ls_rc store_worker_register(struct store_worker *w, const struct store_registration *r,
                                 store_worker_done_fn *done, void *arg, struct ls_error *err)
{
    struct params p = { 0 };

    if (!r->id || !r->endpoint || !r->version || !r->binding || !r->address || !r->security)
        return ls_error_set(err, LS_EINVAL, "register: a required field is missing");
    put_str(&p, r->endpoint);
    put_opt(&p, r->instance_id);
    put_str(&p, r->id);
    put_str(&p, r->version);
    put_i64(&p, r->lifetime_s);
    put_str(&p, r->binding);
    put_str(&p, r->queue ? "true" : "false");
    put_opt(&p, r->sms);
    put_opt(&p, r->pid);
    put_str(&p, r->address);
    put_str(&p, r->security);
    put_opt(&p, r->identity);
    put_str(&p, r->objects_json ? r->objects_json : "[]");
    put_str(&p, r->alt_path && *r->alt_path ? r->alt_path : "/");
    put_i64(&p, r->registered_at_ms);
    put_i64(&p, r->last_seen_ms);
    put_time(&p, r->expires_at_ms);
    put_str(&p, r->formats_json ? r->formats_json : "[]");
    struct op *op = op_new(OP_REGISTER, &p, done, arg);
    if (!op)
        return ls_error_set(err, LS_ENOMEM, "register: cannot allocate an operation");
    return enqueue_for(w, r->endpoint, op, err);
}

enum ls_rc store_worker_update(struct store_worker *w, const struct store_registration_update *u,
                               store_worker_done_fn *done, void *arg, struct ls_error *err)
{
    struct params p = { 0 };

    if (!u->id)
        return ls_error_set(err, LS_EINVAL, "update: no registration id");
    put_str(&p, u->id);
    if (u->lifetime_s < 0)
        put_str(&p, NULL);
    else
        put_i64(&p, u->lifetime_s);
    put_str(&p, u->binding);
    put_str(&p, u->queue < 0 ? NULL : u->queue ? "true" : "false");
    put_str(&p, u->sms);
    put_str(&p, u->objects_json);
    put_str(&p, u->address);
    put_i64(&p, u->last_seen_ms);
    put_time(&p, u->expires_at_ms);
    struct op *op = op_new(OP_UPDATE, &p, done, arg);
    if (!op)
        return ls_error_set(err, LS_ENOMEM, "update: cannot allocate an operation");
    return enqueue_for(w, u->endpoint, op, err);
}

enum ls_rc store_worker_deregister(struct store_worker *w, const char *id,
                                   const char *endpoint, const char *reason,
                                   store_worker_done_fn *done, void *arg,
                                   struct ls_error *err)
{
    struct params p = { 0 };

    if (!id)
        return ls_error_set(err, LS_EINVAL, "deregister: no registration id");
    put_str(&p, id);
    put_str(&p, reason ? reason : "deregistered");
    struct op *op = op_new(OP_DEREGISTER, &p, done, arg);
    if (!op)
        return ls_error_set(err, LS_ENOMEM, "deregister: cannot allocate an operation");
    return enqueue_for(w, endpoint, op, err);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

enum ls_rc store_worker_observation_insert(struct store_worker *w,
                                           const struct store_observation *o,
                                           store_worker_id_done_fn *done, void *arg,
                                           struct ls_error *err)
{
    struct params p = { 0 };
    char token[17];

    if (!o->endpoint || !o->registration_id || !o->token || o->token_len < 1 ||
        o->token_len > 8 || (!o->path) == (!o->paths_json))
        return ls_error_set(err, LS_EINVAL, "insert observation: a required field is missing");
    hex(o->token, o->token_len, token);
    put_str(&p, o->endpoint);
    put_str(&p, o->registration_id);
    put_str(&p, o->path);
    put_str(&p, o->paths_json);
    put_str(&p, token);
    if (o->format < 0)
        put_str(&p, NULL);
    else
        put_i64(&p, o->format);
    put_opt(&p, o->attributes_json);
    struct op *op = op_new(OP_OBS_INSERT, &p, NULL, arg);
    if (!op)
        return ls_error_set(err, LS_ENOMEM, "insert observation: cannot allocate an operation");
    op->done_id = done;
    return enqueue_for(w, o->endpoint, op, err);
}

enum ls_rc store_worker_observation_delete(struct store_worker *w, int64_t id,
                                           const char *endpoint, store_worker_done_fn *done,
                                           void *arg, struct ls_error *err)
{
    struct params p = { 0 };

    put_i64(&p, id);
    struct op *op = op_new(OP_OBS_DELETE, &p, done, arg);
    if (!op)
        return ls_error_set(err, LS_ENOMEM, "delete observation: cannot allocate an operation");
    return enqueue_for(w, endpoint, op, err);
}

enum ls_rc store_worker_telemetry(struct store_worker *w, const char *endpoint,
                                  const char *source, const char *kind,
                                  const char *detail_json, store_worker_done_fn *done,
                                  void *arg, struct ls_error *err)
{
    struct params p = { 0 };

    if (!endpoint || !source || !kind || !detail_json)
        return ls_error_set(err, LS_EINVAL, "store telemetry: a required field is missing");
    if (strcmp(kind, "notification") == 0 && strcmp(source, "notify") != 0)
        return ls_error_set(err, LS_EINVAL, "store telemetry: a notification's source is"
                            " \"notify\"");
    put_str(&p, endpoint);
    put_str(&p, source);
    put_str(&p, kind);
    put_str(&p, detail_json);
    struct op *op = op_new(OP_TELEMETRY, &p, done, arg);
    if (!op)
        return ls_error_set(err, LS_ENOMEM, "store telemetry: cannot allocate an operation");
    return enqueue_for(w, endpoint, op, err);
}

void store_worker_telemetry_stats(const struct store_worker *w, uint64_t *committed,
                                  uint64_t *failed)
{
    *committed = w ? atomic_load(&w->telemetry_ok) : 0;
    *failed = w ? atomic_load(&w->telemetry_failed) : 0;
}

void store_worker_stats(const struct store_worker *w, struct store_worker_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    out->batches = atomic_load(&w->batches);
    out->operations = atomic_load(&w->operations);
    out->failed_batches = atomic_load(&w->failed_batches);
    out->last_batch_size = atomic_load(&w->last_batch_size);
    out->commit_us_total = atomic_load(&w->commit_us);
    out->refused_full = atomic_load(&w->refused_full);
    out->refused_away = atomic_load(&w->refused_away);
    out->given_up = atomic_load(&w->given_up);
    for (size_t i = 0; i < w->nshards; i++) {
        struct shard *sh = &w->shards[i];
        pthread_mutex_lock(&sh->lock);
        out->queued += sh->queued;
        pthread_mutex_unlock(&sh->lock);
        out->queue_max += sh->queue_max;
        out->away += atomic_load(&sh->away);
    }
}

/* Column text, NULL for SQL NULL. */
static const char *col(const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

/* Calls fn for each row of a page; copies the last id into after. */
static void load_rows(const PGresult *res, store_registration_row_fn *fn, void *arg,
                      char *after, size_t after_size)
{
    for (int i = 0; i < PQntuples(res); i++) {
        struct store_registration r = {
            .id = col(res, i, 0),
            .endpoint = col(res, i, 1),
            .version = col(res, i, 2),
            .lifetime_s = strtoll(PQgetvalue(res, i, 3), NULL, 10),
            .binding = col(res, i, 4),
            .queue = strcmp(PQgetvalue(res, i, 5), "1") == 0,
            .sms = col(res, i, 6),
            .pid = col(res, i, 7),
            .alt_path = col(res, i, 8),
            .objects_json = col(res, i, 9),
            .formats_json = col(res, i, 10),
            .address = col(res, i, 11),
            .security = col(res, i, 12),
            .identity = col(res, i, 13) ? col(res, i, 13) : "",
            .instance_id = col(res, i, 14),
            .registered_at_ms = strtoll(PQgetvalue(res, i, 15), NULL, 10),
            .last_seen_ms = strtoll(PQgetvalue(res, i, 16), NULL, 10),
            .expires_at_ms = strtoll(PQgetvalue(res, i, 17), NULL, 10),
        };
        fn(arg, &r);
    }
    if (PQntuples(res) > 0)
        snprintf(after, after_size, "%s", PQgetvalue(res, PQntuples(res) - 1, 0));
}

enum ls_rc store_registrations_load(struct store *s, const char *instance,
                                    store_registration_row_fn *fn, void *arg,
                                    struct ls_error *err)
{
    char after[64] = "", page[16];   /* ids are at most 32 characters (CHECK) */
    const char *values[3] = { instance, NULL, page };
    enum ls_rc rc = LS_OK;
    int rows;

    snprintf(page, sizeof page, "%d", LOAD_PAGE);
    do {
        PGresult *res = NULL;
        values[1] = after[0] ? after : NULL;
        rc = store_exec_text(s, "load registrations", SQL_LOAD, 3, values, &res, err);
        if (rc != LS_OK)
            break;
        rows = PQntuples(res);
        load_rows(res, fn, arg, after, sizeof after);
        PQclear(res);
    } while (rows == LOAD_PAGE);
    return rc;
}
