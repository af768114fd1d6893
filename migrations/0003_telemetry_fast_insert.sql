-- SPDX-License-Identifier: Apache-2.0
-- 0003: telemetry without a per-row foreign key (issue 5, notifications).
--
-- telemetry is the one append-only table written at device rate (tens of
-- thousands of rows a second).  Its foreign key to endpoints ran a
-- referential-integrity trigger per inserted row (an index probe plus a
-- FOR KEY SHARE lock on the endpoint's row): measured, half of the
-- insert's cost (30 ms vs 13 ms per 2 000 rows; bench/results/notify.md).
-- The writer (the store worker's telemetry statement) already inserts only
-- rows whose endpoint exists (it joins endpoints), and what the cascade
-- did on an endpoint's deletion a statement-level trigger does now, once
-- per DELETE instead of once per row written.  A row inserted while its
-- endpoint is being deleted, in a concurrent transaction, may outlive it;
-- retention by age removes it.
ALTER TABLE telemetry DROP CONSTRAINT telemetry_endpoint_fkey;

CREATE FUNCTION telemetry_endpoints_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM telemetry t USING deleted_endpoints d WHERE t.endpoint = d.name;
    RETURN NULL;
END
$$;

CREATE TRIGGER telemetry_endpoints_deleted
    AFTER DELETE ON endpoints
    REFERENCING OLD TABLE AS deleted_endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION telemetry_endpoints_deleted();
