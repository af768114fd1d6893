-- SPDX-License-Identifier: Apache-2.0
-- 0010: which master key the stored secrets are sealed under (issue 10.6,
-- secrets at rest, `lodestar-server --rotate-master-key`).
--
-- Every sealed secret already carries the id of the key that sealed it
-- (credentials.key_id, store/secret.h: the first 4 bytes of
-- SHA-256("lodestar-key-id" || key)).  This one-row table records the id of
-- the database's current master key, so that
--   * a daemon started with another key refuses to start (store/rekey.c,
--     store_rekey_check) instead of silently skipping every credential it
--     cannot open;
--   * a writer still holding an old key after a rotation cannot add a
--     secret the others cannot read (the trigger below refuses it);
--   * the rotation (store_rekey_rotate) knows, row by row, which key each
--     value is under: a re-run skips the rows already under the new key.
--
-- The first sealed secret written (or the first daemon started) claims the
-- row.  For a database that already holds secrets, the key id most of them
-- carry claims it here.
CREATE TABLE master_key (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    key_id           bigint NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
    previous_key_id  bigint CHECK (previous_key_id BETWEEN 0 AND 4294967295),
    rotated_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

INSERT INTO master_key (key_id)
SELECT key_id FROM credentials WHERE key_id IS NOT NULL
 GROUP BY key_id ORDER BY count(*) DESC, max(id) DESC LIMIT 1;

-- A sealed value must be under the current key; with no row yet, its key
-- becomes the current one.  Concurrent first writers: ON CONFLICT waits
-- for the winner, and the re-read sees it.
CREATE FUNCTION master_key_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cur bigint;
BEGIN
    SELECT key_id INTO cur FROM master_key;
    IF NOT FOUND THEN
        INSERT INTO master_key (key_id) VALUES (NEW.key_id) ON CONFLICT DO NOTHING;
        SELECT key_id INTO cur FROM master_key;
    END IF;
    IF cur <> NEW.key_id THEN
        RAISE EXCEPTION 'secret sealed under master key id % but the database''s is %',
            lpad(to_hex(NEW.key_id), 8, '0'), lpad(to_hex(cur), 8, '0')
            USING ERRCODE = 'check_violation',
                  HINT = 'restart every daemon with the current --master-key '
                         '(docs/operations.md)';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER credentials_master_key_insert BEFORE INSERT ON credentials
    FOR EACH ROW WHEN (NEW.key_id IS NOT NULL)
    EXECUTE FUNCTION master_key_guard();
CREATE TRIGGER credentials_master_key_update BEFORE UPDATE OF key_id, secret ON credentials
    FOR EACH ROW WHEN (NEW.key_id IS NOT NULL AND (NEW.key_id IS DISTINCT FROM OLD.key_id
                       OR NEW.secret IS DISTINCT FROM OLD.secret))
    EXECUTE FUNCTION master_key_guard();
