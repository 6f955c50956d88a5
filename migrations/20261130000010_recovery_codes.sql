-- DelTran Console: recovery codes for two-factor sign-in (backend::recovery).
-- Ten single-use codes per user, stored as SHA-256 hex (of user id and canonical code, so a
-- code is found by value). Depends only on deltran.users (000002); not on 000009.

CREATE TABLE IF NOT EXISTS deltran.recovery_codes (
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL,
    code_hash  text        NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT recovery_codes_pkey PRIMARY KEY (id),
    -- Its index leads with user_id, so it also serves "this user's codes" and the cascade
    -- from users; a separate index on user_id alone would only duplicate it.
    CONSTRAINT recovery_codes_user_id_code_hash_key UNIQUE (user_id, code_hash),
    CONSTRAINT recovery_codes_code_hash_format CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT recovery_codes_user_id_fkey FOREIGN KEY (user_id) REFERENCES deltran.users (id) ON DELETE CASCADE
);
COMMENT ON TABLE deltran.recovery_codes IS 'Single-use two-factor recovery codes, hashed. used_at is set once, when a code is spent.';
COMMENT ON COLUMN deltran.recovery_codes.code_hash IS 'lower-case hex SHA-256 of "<user id>:<code without dashes, lower case>"';
