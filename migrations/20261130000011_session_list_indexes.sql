-- The Sessions page's two orders over live sessions, each with the id that makes it total
-- (keyset paging: `(last_activity_at, id) < (…)`, `(created_at, id) < (…)`).
CREATE INDEX IF NOT EXISTS sessions_live_activity_idx
    ON deltran.sessions (last_activity_at DESC, id DESC) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_live_created_idx
    ON deltran.sessions (created_at DESC, id DESC) WHERE revoked_at IS NULL;
-- Superseded by sessions_live_activity_idx.
DROP INDEX IF EXISTS deltran.sessions_active_idx;
