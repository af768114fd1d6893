-- SPDX-License-Identifier: Apache-2.0
-- 0011: a registration without per-row triggers (issue 4, registration storm).
--
-- The store worker writes the Registers of a round as one statement
-- (store/registrations.c, SQL_REGISTER_GROUP).  Until now every row of it
-- also ran, one call per row, a PL/pgSQL trigger (workflows_on_event, for
-- the 'registration' event) and two referential-integrity triggers (the
-- foreign keys to endpoints and server_instances), and the statement ran
-- the credentials notification trigger even when it changed no
-- credential.  Measured on the group statement with 35 Registers (the
-- round size of the storm, psql loops of 21 000 on fresh databases), backend
-- CPU per registration: 38-40 us before, 29-30 us after, in three
-- alternating runs (a fourth, while other work ran: 79 against 64).
--
-- 1. A registration advances its device's workflow from a statement-level
--    trigger on registrations: one query per statement finds the few rows
--    whose endpoint has a live workflow, and only those run the step.
--    workflows_on_event keeps the 'bootstrap' events.
-- 2. The credentials update notification fires per changed row (rows
--    whose changed_xid the BEFORE trigger moved), not per statement; one
--    transaction's notifications of a channel are folded into one by
--    pg_notify (same payload).
-- 3. registrations has no foreign keys any more.  Its only writer inserts
--    the endpoint and the instance in the same statement (or already did);
--    what the cascades did, statement-level triggers on the deletes do.  A
--    registration committed while an operator deletes its endpoint in a
--    concurrent transaction may outlive the endpoint (the foreign key's
--    share lock used to order the two); the device's next Register or its
--    expiry removes it, as 0003 accepted for telemetry.

-- 1 ---------------------------------------------------------------------------
CREATE FUNCTION workflows_on_registrations() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    reg record;
    cred bigint;
BEGIN
    FOR reg IN SELECT n.id, n.endpoint FROM new_registrations n
                WHERE EXISTS (SELECT 1 FROM workflows w
                              WHERE w.kind = 'bootstrap' AND w.endpoint = n.endpoint
                                AND w.state IN ('triggered', 'bootstrap_started',
                                                'bootstrap_finished'))
    LOOP
        -- The server credential the registration's identity names.
        SELECT c.id INTO cred FROM registrations r
          JOIN credentials c ON c.endpoint = r.endpoint AND c.scope = 'server'
                            AND c.mode = r.security AND c.identity = r.identity
         WHERE r.id = reg.id AND c.state <> 'revoked'
         ORDER BY c.id DESC LIMIT 1;
        CONTINUE WHEN cred IS NULL;
        UPDATE workflows w SET state = 're_registered', step = 'registration',
               updated_at = clock_timestamp(), finished_at = clock_timestamp(),
               detail = w.detail || jsonb_build_object('credential', cred,
                        'registration', reg.id, 'steps',
                        coalesce(w.detail->'steps', '{}'::jsonb)
                        || jsonb_build_object('re_registered', clock_timestamp()))
         WHERE w.kind = 'bootstrap' AND w.endpoint = reg.endpoint
           AND w.state IN ('triggered', 'bootstrap_started', 'bootstrap_finished')
           AND (SELECT created_at FROM credentials WHERE id = cred) > w.created_at;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER workflows_registration AFTER INSERT ON registrations
    REFERENCING NEW TABLE AS new_registrations
    FOR EACH STATEMENT EXECUTE FUNCTION workflows_on_registrations();

CREATE OR REPLACE FUNCTION workflows_on_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM workflows WHERE kind = 'bootstrap'
                   AND endpoint = NEW.endpoint AND state <> 'failed') THEN
        RETURN NULL;
    END IF;
    IF NEW.detail->>'outcome' = 'success' THEN
        PERFORM workflows_advance(NEW.endpoint,
                                  ARRAY['pending', 'triggered', 'bootstrap_started'],
                                  'bootstrap_finished', 'bootstrap', NULL,
                                  jsonb_strip_nulls(jsonb_build_object(
                                      'bootstrap_session', NEW.detail->'session')),
                                  NEW.at);
        -- A session recorded after the device already re-registered (the
        -- daemon writes its records in rounds): keep the step's time.
        UPDATE workflows SET detail = detail || jsonb_build_object('steps',
                   coalesce(detail->'steps', '{}'::jsonb)
                   || jsonb_build_object('bootstrap_finished', clock_timestamp()))
                   || jsonb_strip_nulls(jsonb_build_object(
                          'bootstrap_session', NEW.detail->'session'))
         WHERE kind = 'bootstrap' AND endpoint = NEW.endpoint AND state = 're_registered'
           AND NOT (detail->'steps' ? 'bootstrap_finished')
           AND created_at <= NEW.at AND finished_at > clock_timestamp() - interval '5 minutes';
    ELSE
        PERFORM workflows_advance(NEW.endpoint, ARRAY['triggered', 'bootstrap_started'],
                                  'failed', 'bootstrap',
                                  coalesce(NEW.detail->>'cause', NEW.detail->>'outcome',
                                           'bootstrap failed'),
                                  jsonb_strip_nulls(jsonb_build_object(
                                      'bootstrap_session', NEW.detail->'session',
                                      'bootstrap_outcome', NEW.detail->'outcome')),
                                  NEW.at);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER workflows_event ON events;
CREATE TRIGGER workflows_event AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.kind = 'bootstrap' AND NEW.endpoint IS NOT NULL)
    EXECUTE FUNCTION workflows_on_event();

-- 2 ---------------------------------------------------------------------------
CREATE FUNCTION credentials_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lodestar_credentials_' || NEW.scope, pg_current_xact_id()::text);
    RETURN NULL;
END $$;

DROP TRIGGER credentials_notify_update ON credentials;
CREATE TRIGGER credentials_notify_update AFTER UPDATE ON credentials
    FOR EACH ROW WHEN (OLD.changed_xid IS DISTINCT FROM NEW.changed_xid)
    EXECUTE FUNCTION credentials_notify_row();

-- 3 ---------------------------------------------------------------------------
ALTER TABLE registrations DROP CONSTRAINT registrations_endpoint_fkey;
ALTER TABLE registrations DROP CONSTRAINT registrations_instance_id_fkey;

CREATE FUNCTION registrations_endpoints_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM registrations r USING deleted_endpoints d WHERE r.endpoint = d.name;
    RETURN NULL;
END $$;

CREATE TRIGGER registrations_endpoints_deleted AFTER DELETE ON endpoints
    REFERENCING OLD TABLE AS deleted_endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION registrations_endpoints_deleted();

CREATE FUNCTION registrations_instances_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registrations r SET instance_id = NULL
      FROM deleted_instances d WHERE r.instance_id = d.id;
    RETURN NULL;
END $$;

CREATE TRIGGER registrations_instances_deleted AFTER DELETE ON server_instances
    REFERENCING OLD TABLE AS deleted_instances
    FOR EACH STATEMENT EXECUTE FUNCTION registrations_instances_deleted();
