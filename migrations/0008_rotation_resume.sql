-- SPDX-License-Identifier: Apache-2.0
-- 0008: rotations survive their server (issue 7, CRED).
--
-- Every lodestar-server beats its pending rotations and claims the ones
-- nobody paces any more once a second (web/workflows.c, store/workflows.c:
-- detail.runner, detail.beat).  Both statements look for pending rotations
-- only: this index keeps them off the (large) table of device workflows.
CREATE INDEX workflows_rotation_pending ON workflows (id)
    WHERE kind = 'rotation' AND state = 'pending';
