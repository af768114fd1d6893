-- SPDX-License-Identifier: Apache-2.0
-- 0005: credential workflows (issue 7): server-initiated bootstrap and bulk
-- rotations.
--
-- A 'bootstrap' workflow follows one device through
--   pending -> triggered -> bootstrap_started -> bootstrap_finished
--           -> re_registered                       (or failed: step, cause)
-- A 'rotation' is the parent of many bootstrap workflows (parent); its own
-- state is 'pending' while its devices are being triggered at the requested
-- rate, 'triggered' once every one was, or 'failed'.
--
-- pending -> triggered (or failed at step 'trigger') is written by
-- lodestar-server's web layer when the device acknowledged the Execute of
-- /1/x/9, the command was queued, or (1.0) its credentials were revoked.
-- Every later step is derived here, by triggers, from the rows the daemons
-- already write in the same transactions: a server credential 'issued' for
-- the endpoint (bootstrap_started: the bootstrap daemon issues before the
-- device sees its keys), its 'bootstrap' event (bootstrap_finished, or
-- failed with the event's cause), and a 'registration' event whose
-- registration uses a server credential created after the workflow
-- (re_registered).  Triggers rather than a LISTEN thread: the step commits
-- with the fact that caused it, whichever daemon or instance wrote it, and
-- nothing is missed while lodestar-server is down.  States only move
-- forward; re_registered and failed are final.
CREATE TABLE workflows (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('bootstrap', 'rotation')),
    parent        bigint REFERENCES workflows (id) ON DELETE CASCADE,
    endpoint      text,             -- bootstrap: the device; rotation: NULL
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'triggered', 'bootstrap_started',
                                   'bootstrap_finished', 're_registered', 'failed')),
    step          text,             -- the step reached (or where it failed)
    cause         text,             -- why it failed
    created_by    bigint,           -- the API token's id (no FK: outlives tokens)
    actor         text,             -- the token's name at the time
    reason        text,             -- ?reason=
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    triggered_at  timestamptz,
    finished_at   timestamptz,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb
                  CHECK (jsonb_typeof(detail) = 'object'),
    CHECK ((kind = 'bootstrap') = (endpoint IS NOT NULL)),
    CHECK ((state = 'failed') = (cause IS NOT NULL))
);
CREATE INDEX workflows_endpoint ON workflows (endpoint, state) WHERE kind = 'bootstrap';
CREATE INDEX workflows_parent ON workflows (parent, id) WHERE parent IS NOT NULL;

-- Moves the live bootstrap workflows of ep that are in one of from_states
-- to state; steps keeps the time of each state reached.
CREATE FUNCTION workflows_advance(ep text, from_states text[], to_state text, to_step text,
                                  why text, extra jsonb, since timestamptz)
RETURNS void LANGUAGE sql AS $$
    UPDATE workflows SET state = to_state, step = to_step, cause = why,
           updated_at = clock_timestamp(),
           finished_at = CASE WHEN to_state IN ('re_registered', 'failed')
                              THEN clock_timestamp() END,
           detail = detail || extra || jsonb_build_object('steps',
                    coalesce(detail->'steps', '{}'::jsonb)
                    || jsonb_build_object(to_state, clock_timestamp()))
     WHERE kind = 'bootstrap' AND endpoint = ep AND state = ANY (from_states)
       AND created_at <= since;
$$;

CREATE FUNCTION workflows_on_credential() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.scope = 'server' AND NEW.state = 'issued' THEN
        PERFORM workflows_advance(NEW.endpoint, ARRAY['pending', 'triggered'],
                                  'bootstrap_started', 'bootstrap', NULL,
                                  jsonb_build_object('issued_credential', NEW.id),
                                  NEW.created_at);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER workflows_credential AFTER INSERT ON credentials
    FOR EACH ROW WHEN (NEW.scope = 'server' AND NEW.state = 'issued')
    EXECUTE FUNCTION workflows_on_credential();

CREATE FUNCTION workflows_on_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cred bigint;
BEGIN
    -- Most registrations have no workflow: one index probe, nothing else.
    IF NOT EXISTS (SELECT 1 FROM workflows WHERE kind = 'bootstrap'
                   AND endpoint = NEW.endpoint
                   AND (state NOT IN ('re_registered', 'failed')
                        OR (NEW.kind = 'bootstrap' AND state = 're_registered'))) THEN
        RETURN NULL;
    END IF;
    IF NEW.kind = 'bootstrap' AND NEW.detail->>'outcome' = 'success' THEN
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
    ELSIF NEW.kind = 'bootstrap' THEN
        PERFORM workflows_advance(NEW.endpoint, ARRAY['triggered', 'bootstrap_started'],
                                  'failed', 'bootstrap',
                                  coalesce(NEW.detail->>'cause', NEW.detail->>'outcome',
                                           'bootstrap failed'),
                                  jsonb_strip_nulls(jsonb_build_object(
                                      'bootstrap_session', NEW.detail->'session',
                                      'bootstrap_outcome', NEW.detail->'outcome')),
                                  NEW.at);
    ELSIF NEW.kind = 'registration' THEN
        -- The registration (same statement, already in) and the server
        -- credential its identity names.
        SELECT c.id INTO cred FROM registrations r
          JOIN credentials c ON c.endpoint = r.endpoint AND c.scope = 'server'
                            AND c.mode = r.security AND c.identity = r.identity
         WHERE r.endpoint = NEW.endpoint AND c.state <> 'revoked'
         ORDER BY c.id DESC LIMIT 1;
        IF cred IS NOT NULL THEN
            UPDATE workflows w SET state = 're_registered', step = 'registration',
                   updated_at = clock_timestamp(), finished_at = clock_timestamp(),
                   detail = w.detail || jsonb_build_object('credential', cred,
                            'registration', NEW.detail->'id', 'steps',
                            coalesce(w.detail->'steps', '{}'::jsonb)
                            || jsonb_build_object('re_registered', clock_timestamp()))
             WHERE w.kind = 'bootstrap' AND w.endpoint = NEW.endpoint
               AND w.state IN ('triggered', 'bootstrap_started', 'bootstrap_finished')
               AND (SELECT created_at FROM credentials WHERE id = cred) > w.created_at;
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- WHEN keeps the hot path (notification and Send events) free of any
-- PL/pgSQL call.
CREATE TRIGGER workflows_event AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.kind IN ('bootstrap', 'registration') AND NEW.endpoint IS NOT NULL)
    EXECUTE FUNCTION workflows_on_event();

-- Every state change of a device's workflow is an event (kind 'workflow',
-- on the stream of GET /api/events like every other event).
CREATE FUNCTION workflows_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ev bigint;
BEGIN
    INSERT INTO events (endpoint, kind, detail)
    VALUES (NEW.endpoint, 'workflow', jsonb_strip_nulls(jsonb_build_object(
                'workflow', NEW.id, 'state', NEW.state, 'step', NEW.step,
                'cause', NEW.cause, 'rotation', NEW.parent)))
    RETURNING id INTO ev;
    PERFORM pg_notify('lodestar_events', ev::text);
    RETURN NULL;
END $$;

CREATE TRIGGER workflows_change AFTER UPDATE OF state ON workflows
    FOR EACH ROW WHEN (NEW.kind = 'bootstrap' AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION workflows_on_change();
