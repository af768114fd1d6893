-- SPDX-License-Identifier: Apache-2.0
--
-- 0001_initial.sql -- the first Lodestar schema
--
-- Never edit this file once it has landed: change the schema with a new
-- migration.  store/migrate.c runs it in one transaction (so no BEGIN or
-- COMMIT here) and records it in schema_migrations.
--
-- Conventions:
--  * A device is keyed by its LwM2M endpoint client name (endpoints.name).
--    Other tables refer to it by name, not by a surrogate id: the name is
--    immutable (a device that changes its name is a new device), it is what
--    every API call and CoAP request carries, and it saves a join on every
--    hot query.
--  * A child row that cannot outlive its device cascades on delete; history
--    that must survive (audit log, events) has no foreign key to endpoints.
--  * Times are timestamptz (sessions run with TimeZone=UTC).  Enumerations
--    are text with a CHECK, which reads well in psql and in the API's JSON.
--  * Sealed secrets are bytea blobs nonce|ciphertext|tag (store/secret.h)
--    with the uint32 id of the master key that sealed them.

-- Every device name Lodestar has heard of: from a registration, a bootstrap,
-- a factory batch or the API.
CREATE TABLE endpoints (
    name        text PRIMARY KEY
                CHECK (name <> '' AND octet_length(name) <= 1024),
    origin      text NOT NULL DEFAULT 'registration'
                CHECK (origin IN ('registration', 'bootstrap', 'factory', 'api')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A running lodestar-server (or lodestar-bootstrap) process.  Registrations
-- and commands name the instance that holds the device's CoAP session.
CREATE TABLE server_instances (
    id              text PRIMARY KEY CHECK (id <> ''),
    kind            text NOT NULL DEFAULT 'server'
                    CHECK (kind IN ('server', 'bootstrap')),
    address         text,           -- CoAP(S) host:port the instance listens on
    started_at      timestamptz NOT NULL DEFAULT now(),
    last_heartbeat  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_instances_heartbeat ON server_instances (last_heartbeat);

-- REST API bearer tokens: only the SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (name <> ''),
    role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    sha256        bytea NOT NULL UNIQUE CHECK (octet_length(sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

-- A factory batch: the request that generated identities and keys for a
-- production run; its credentials point back here for the export.
CREATE TABLE factory_batches (
    id            bigserial PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    spec          jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
    device_count  integer NOT NULL DEFAULT 0 CHECK (device_count >= 0)
);

-- Security credentials of a device, for its bootstrap account or for a
-- management server account.  Issued credentials become active with the
-- first registration that uses them, which revokes the endpoint's older
-- ones (so a failed bootstrap never locks a device out).
CREATE TABLE credentials (
    id            bigserial PRIMARY KEY,
    endpoint      text NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    scope         text NOT NULL CHECK (scope IN ('bootstrap', 'server')),
    mode          text NOT NULL CHECK (mode IN ('psk', 'rpk', 'x509', 'nosec')),
    identity      text,             -- PSK identity; CN for x509; '' or a key hash for rpk
    secret        bytea,            -- sealed PSK key or private key
    key_id        bigint CHECK (key_id BETWEEN 0 AND 4294967295),
    public_key    bytea,            -- RPK: the device's SubjectPublicKeyInfo (DER)
    certificate   text,             -- x509: the device certificate (PEM)
    server_uri    text,             -- the account's server URI (coaps://host:port)
    ssid          integer CHECK (ssid BETWEEN 1 AND 65534),
    state         text NOT NULL DEFAULT 'issued'
                  CHECK (state IN ('issued', 'active', 'revoked')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,
    revoked_at    timestamptz,
    expires_at    timestamptz,
    batch_id      bigint REFERENCES factory_batches (id) ON DELETE SET NULL,
    CHECK ((secret IS NULL) = (key_id IS NULL)),
    CHECK (secret IS NULL OR octet_length(secret) >= 28),
    CHECK (mode <> 'psk' OR (identity IS NOT NULL AND identity <> '' AND secret IS NOT NULL)),
    CHECK (mode <> 'rpk' OR public_key IS NOT NULL),
    CHECK (mode <> 'nosec' OR secret IS NULL),
    CHECK ((state = 'revoked') = (revoked_at IS NOT NULL)),
    CHECK (state <> 'active' OR activated_at IS NOT NULL)
);
-- A handshake looks a PSK identity (or an RPK public key) up among live
-- credentials: it must name one device only.  Revoked rows keep theirs for
-- the record.  An empty identity (rpk, nosec) identifies nothing.
CREATE UNIQUE INDEX credentials_live_identity ON credentials (scope, mode, identity)
    WHERE state <> 'revoked' AND identity IS NOT NULL AND identity <> '';
CREATE UNIQUE INDEX credentials_live_public_key ON credentials (scope, public_key)
    WHERE state <> 'revoked' AND public_key IS NOT NULL;
CREATE INDEX credentials_endpoint ON credentials (endpoint, scope, state);
CREATE INDEX credentials_batch ON credentials (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX credentials_expiry ON credentials (expires_at)
    WHERE expires_at IS NOT NULL AND state <> 'revoked';

-- Bootstrap configurations (JSON body, see docs).  One names a device
-- (endpoint), a template matches names with a glob (match), and the one
-- named 'default' has neither.  Resolution: device, else the first
-- matching template in (priority, name) order, else default.  endpoint has
-- no foreign key: an operator may configure a device before it is ever
-- heard of, and the configuration is intent, not device state.
CREATE TABLE bootstrap_configs (
    name        text PRIMARY KEY CHECK (name <> ''),
    endpoint    text UNIQUE CHECK (endpoint <> ''),
    match       text CHECK (match <> ''),
    priority    integer NOT NULL DEFAULT 100,
    body        jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (endpoint IS NULL OR match IS NULL),
    CHECK ((name = 'default') = (endpoint IS NULL AND match IS NULL))
);
CREATE INDEX bootstrap_configs_templates ON bootstrap_configs (priority, name)
    WHERE match IS NOT NULL;

-- One bootstrap exchange with a device and how it ended.  config_name has
-- no foreign key: the history outlives a deleted configuration.
CREATE TABLE bootstrap_sessions (
    id           bigserial PRIMARY KEY,
    endpoint     text NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    config_name  text,
    trigger      text NOT NULL DEFAULT 'client'
                 CHECK (trigger IN ('client', 'server', 'factory')),
    address      text,              -- the client's host:port
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text CHECK (outcome IN ('success', 'failed', 'timeout', 'refused')),
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK ((outcome IS NULL) = (finished_at IS NULL))
);
CREATE INDEX bootstrap_sessions_endpoint ON bootstrap_sessions (endpoint, started_at DESC);
CREATE INDEX bootstrap_sessions_running ON bootstrap_sessions (started_at)
    WHERE finished_at IS NULL;

-- The current registration of each device (LwM2M Register / Update).  A
-- new Register replaces the row (and, through the cascade, the
-- observations of the old registration).  id is the /rd/<id> location.
CREATE TABLE registrations (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,32}$'),
    endpoint       text NOT NULL UNIQUE REFERENCES endpoints (name) ON DELETE CASCADE,
    lwm2m_version  text NOT NULL CHECK (lwm2m_version IN ('1.0', '1.1', '1.2')),
    lifetime_s     bigint NOT NULL CHECK (lifetime_s >= 0),  -- 0 = no expiry (1.2)
    binding        text NOT NULL DEFAULT 'U' CHECK (binding ~ '^[UTSNQ]{1,6}$'),
    queue          boolean NOT NULL DEFAULT false,
    sms            text,              -- MSISDN from sms=
    pid            text,              -- Profile ID from pid= (1.2)
    address        text NOT NULL,     -- the client's host:port as seen by the server
    security       text NOT NULL CHECK (security IN ('nosec', 'psk', 'rpk', 'x509')),
    identity       text,              -- PSK identity, CN or key hash; '' for nosec
    objects        jsonb NOT NULL DEFAULT '[]'::jsonb
                   CHECK (jsonb_typeof(objects) = 'array'),  -- ["/1/0", "/3/0", "/5"]
    formats        jsonb NOT NULL DEFAULT '[]'::jsonb
                   CHECK (jsonb_typeof(formats) = 'array'),  -- ct= numbers on </>
    alt_path       text NOT NULL DEFAULT '/',
    registered_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),  -- last Register or Update
    last_seen      timestamptz NOT NULL DEFAULT now(),  -- any message from the device
    expires_at     timestamptz,        -- NULL when lifetime_s = 0
    instance_id    text REFERENCES server_instances (id) ON DELETE SET NULL,
    CHECK ((lifetime_s = 0) = (expires_at IS NULL))
);
CREATE INDEX registrations_expiry ON registrations (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX registrations_instance ON registrations (instance_id);

-- Active observations (single path or composite), kept so that a restarted
-- instance still recognises the notifications a device keeps sending.
CREATE TABLE observations (
    id               bigserial PRIMARY KEY,
    endpoint         text NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    registration_id  text REFERENCES registrations (id) ON DELETE CASCADE,
    path             text,             -- single observe: '/3/0/9'
    paths            text[],           -- composite observe
    token            bytea NOT NULL CHECK (octet_length(token) BETWEEN 1 AND 8),
    format           integer CHECK (format BETWEEN 0 AND 65535),  -- CoAP content format
    attributes       jsonb NOT NULL DEFAULT '{}'::jsonb
                     CHECK (jsonb_typeof(attributes) = 'object'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_notify_at   timestamptz,
    CHECK ((path IS NULL) <> (paths IS NULL)),
    CHECK (paths IS NULL OR cardinality(paths) >= 1),
    UNIQUE (endpoint, token)
);
CREATE INDEX observations_registration ON observations (registration_id);

-- Device operations.  An operation on a sleeping (queue mode) device, or on
-- one held by another instance, waits here; LISTEN/NOTIFY wakes the holder.
CREATE TABLE commands (
    id               bigserial PRIMARY KEY,
    endpoint         text NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    op               text NOT NULL CHECK (op ~ '^[a-z][a-z_]{0,31}$'),
    path             text,
    format           integer CHECK (format BETWEEN 0 AND 65535),
    body             jsonb,
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'sent', 'done', 'failed', 'expired')),
    result           jsonb,
    coap_code        text CHECK (coap_code ~ '^[0-7]\.[0-3][0-9]$'),
    created_by       bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    target_instance  text REFERENCES server_instances (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz
);
CREATE INDEX commands_endpoint_state ON commands (endpoint, state, id);
CREATE INDEX commands_pending ON commands (target_instance, id)
    WHERE state IN ('queued', 'sent');
CREATE INDEX commands_pending_expiry ON commands (expires_at)
    WHERE state IN ('queued', 'sent') AND expires_at IS NOT NULL;

-- Values from notifications and Send, time-ordered.  value is the API's
-- value object ({"type": "float", "value": 21.5}).  ts is the device's
-- timestamp when it sent one, else received_at.
CREATE TABLE telemetry (
    id           bigserial PRIMARY KEY,
    endpoint     text NOT NULL REFERENCES endpoints (name) ON DELETE CASCADE,
    path         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    ts           timestamptz NOT NULL DEFAULT now(),
    value        jsonb NOT NULL,
    source       text NOT NULL CHECK (source IN ('notify', 'send'))
);
CREATE INDEX telemetry_endpoint_path_ts ON telemetry (endpoint, path, ts);
CREATE INDEX telemetry_endpoint_ts ON telemetry (endpoint, ts);
-- Retention deletes by age: BRIN is tiny on an append-only, time-ordered table.
CREATE INDEX telemetry_received_brin ON telemetry USING brin (received_at);

-- What happened to devices (the server-sent event stream, persisted).
-- endpoint has no foreign key: events about refused, unknown devices count.
CREATE TABLE events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    endpoint  text,
    kind      text NOT NULL CHECK (kind ~ '^[a-z][a-z_]{0,31}$'),
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX events_endpoint ON events (endpoint, id) WHERE endpoint IS NOT NULL;
CREATE INDEX events_at_brin ON events USING brin (at);

-- Who did what through the API.  No foreign keys to what it names: the
-- record outlives devices; the actor's token id survives token deletion as
-- a plain number, and actor keeps the token's name at the time.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_token_id  bigint,
    actor           text,
    action          text NOT NULL CHECK (action <> ''),
    target          text,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_target ON audit_log (target, id) WHERE target IS NOT NULL;
