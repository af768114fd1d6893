-- SPDX-License-Identifier: Apache-2.0
-- 0004: queue mode and routing between lodestar-server instances (issue 5).
--
-- mode says who a command in state 'queued' waits for:
--   'queue'  the device (a sleeping queue-mode device; delivered in id order
--            when it next talks, by whichever instance it talks to),
--   'route'  the holder instance (target_instance) to pick it up,
--   'held'   picked up by the holder, which decides (run now, or queue).
-- http_status and http_body are the HTTP status and body the API answered
-- (or would have answered) for the command's result, so that a routed call
-- answers byte for byte as a local one would (result, jsonb, reorders keys).
ALTER TABLE commands
    ADD COLUMN mode text NOT NULL DEFAULT 'queue'
        CHECK (mode IN ('queue', 'route', 'held')),
    ADD COLUMN http_status integer CHECK (http_status BETWEEN 100 AND 599),
    ADD COLUMN http_body text;

CREATE INDEX commands_queued_endpoint ON commands (endpoint, id)
    WHERE state = 'queued' AND mode = 'queue';
