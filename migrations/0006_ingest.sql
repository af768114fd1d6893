-- SPDX-License-Identifier: Apache-2.0
-- 0006: one btree on telemetry for its reads (issue 5, notification ingest),
-- and the instance delivering a command (commands.sent_by).
--
-- telemetry is written at device rate; every index is maintained for every
-- row.  What reads it:
--   * GET /api/devices/{ep}/telemetry (store/telemetry.c): endpoint = $1,
--     optional ts range, optional path prefix (path = $2 OR path LIKE
--     '$2/%': a filter, not an index condition), ORDER BY ts, id with a
--     keyset cursor on (ts, id);
--   * the endpoints deletion trigger (0003): endpoint = name;
--   * retention by age: the BRIN index on received_at.
-- (endpoint, ts, id) serves the first two alone, in order and without a
-- sort, so the two btrees it replaces ((endpoint, path, ts) and
-- (endpoint, ts)) are dropped: one btree insert per row instead of two
-- (bench/results/notify.md).  The primary key stays: ids are the cursor's
-- tie-breaker and must stay unique.
CREATE INDEX telemetry_endpoint_ts_id ON telemetry (endpoint, ts, id);
DROP INDEX telemetry_endpoint_path_ts;
DROP INDEX telemetry_endpoint_ts;

-- Commands left 'sent' by an instance that stopped mid-delivery (crash,
-- kill -9): sent_by names the instance delivering a command (set when it
-- claims one), so that any instance can tell an orphan from a delivery in
-- progress (store_commands_sweep: sent_by has no live heartbeat).  No
-- foreign key: the sweep treats a vanished instance row as dead.
ALTER TABLE commands ADD COLUMN sent_by text;
