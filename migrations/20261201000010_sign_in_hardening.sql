-- Sign-in hardening (security review, issue 8).

-- Whether a session's sign-in presented a second factor (a one-time or recovery code). A
-- session opened before the user enrolled in 2FA never becomes a full session by enrolment:
-- accounts with 2FA (and every admin) may use only self-service in a session without it.
ALTER TABLE deltran.sessions
    ADD COLUMN IF NOT EXISTS second_factor boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN deltran.sessions.second_factor IS
    'The sign-in of this session presented a second factor (TOTP or recovery code).';

-- Failed sign-ins per username, known or not (so that locking reveals nothing about which
-- usernames exist). The record of truth for lockouts: Redis is shared with other services,
-- and a counter there could be deleted to resume guessing. One row is reserved (counted)
-- before the password is checked, by one atomic upsert, so parallel attempts cannot exceed
-- the limit; a success deletes the row.
CREATE TABLE IF NOT EXISTS deltran.login_failures (
    username       text        NOT NULL,
    failures       integer     NOT NULL,
    last_failed_at timestamptz NOT NULL,
    locked_until   timestamptz,
    CONSTRAINT login_failures_pkey PRIMARY KEY (username),
    CONSTRAINT login_failures_failures_check CHECK (failures >= 0)
);
COMMENT ON TABLE deltran.login_failures IS
    'Sign-in attempts not (yet) known to have succeeded, per username; locked_until is the back-off.';

-- The running console counts and forgets attempts (see 20261130000012_runtime_role.sql).
GRANT SELECT, INSERT, UPDATE, DELETE ON deltran.login_failures TO deltran_runtime;
