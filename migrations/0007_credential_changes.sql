-- SPDX-License-Identifier: Apache-2.0
-- 0007: credential change tracking (CREDWATCH).
--
-- The daemons keep their credentials in memory (runtime/credcache.h) and
-- used to reload and decrypt a whole scope on every change.  Now a watcher
-- reads only the rows changed since its last read:
--   changed_xid  the transaction that last changed what a cache holds
--                (insert; state to or from 'revoked'; identity, secret,
--                key, endpoint).  Activation (issued -> active) does not
--                count: the cache holds both states alike.
-- A watcher reads "changed_xid >= X" where X is the xmin of the snapshot
-- of its previous read: every transaction that had not committed at that
-- read has an xid >= X, so a change is never missed, whatever order
-- transactions commit in (rows seen twice are applied twice, harmlessly).
-- Notifications: one per statement and scope, on the channel
-- lodestar_credentials_<scope>, payload = the transaction id (identical
-- payloads of one transaction are folded by Postgres); 'full' after a
-- delete (a deleted live row cannot be found by a delta read).
-- The older channel lodestar_credentials is still sent by the code that
-- sent it; the watchers no longer listen to it.

ALTER TABLE credentials ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX credentials_changed ON credentials (scope, changed_xid);

CREATE FUNCTION credentials_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.state = 'revoked') IS DISTINCT FROM (NEW.state = 'revoked')
       OR OLD.identity IS DISTINCT FROM NEW.identity
       OR OLD.secret IS DISTINCT FROM NEW.secret
       OR OLD.key_id IS DISTINCT FROM NEW.key_id
       OR OLD.public_key IS DISTINCT FROM NEW.public_key
       OR OLD.endpoint IS DISTINCT FROM NEW.endpoint
       OR OLD.scope IS DISTINCT FROM NEW.scope
       OR OLD.mode IS DISTINCT FROM NEW.mode THEN
        NEW.changed_xid := pg_current_xact_id();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER credentials_touch BEFORE UPDATE ON credentials
    FOR EACH ROW EXECUTE FUNCTION credentials_touch();

CREATE FUNCTION credentials_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lodestar_credentials_' || scope, pg_current_xact_id()::text)
       FROM (SELECT DISTINCT scope FROM changed_rows
             WHERE changed_xid = pg_current_xact_id()) s;
    RETURN NULL;
END $$;
CREATE TRIGGER credentials_notify_insert AFTER INSERT ON credentials
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_notify_changed();
CREATE TRIGGER credentials_notify_update AFTER UPDATE ON credentials
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_notify_changed();

CREATE FUNCTION credentials_notify_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lodestar_credentials_' || scope, 'full')
       FROM (SELECT DISTINCT scope FROM gone_rows WHERE state <> 'revoked') s;
    RETURN NULL;
END $$;
CREATE TRIGGER credentials_notify_delete AFTER DELETE ON credentials
    REFERENCING OLD TABLE AS gone_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credentials_notify_deleted();
