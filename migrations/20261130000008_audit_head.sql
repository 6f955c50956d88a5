-- The head of the audit hash chain: the last id and hash, in one row.
--
-- Appending an audit row takes the next id from here with an UPDATE, which locks this row
-- until the appending transaction ends. That serialises appends (the chain stays one line,
-- ids have no gaps) without a lock that outlives the transaction. The head is a convenience
-- for writers, not evidence: verification recomputes the chain from the rows and compares
-- it with the signed anchors kept outside Postgres.

CREATE TABLE IF NOT EXISTS deltran.audit_head (
    singleton  boolean     NOT NULL DEFAULT true,
    last_id    bigint      NOT NULL DEFAULT 0,
    last_hash  text        NOT NULL DEFAULT repeat('0', 64),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_head_pkey PRIMARY KEY (singleton),
    CONSTRAINT audit_head_singleton CHECK (singleton),
    CONSTRAINT audit_head_last_id_check CHECK (last_id >= 0),
    CONSTRAINT audit_head_last_hash_format CHECK (last_hash ~ '^[0-9a-f]{64}$')
);

INSERT INTO deltran.audit_head (singleton) VALUES (true) ON CONFLICT DO NOTHING;

COMMENT ON TABLE deltran.audit_head IS
    'Head of the audit hash chain (last id and event_hash); locked by each append for the length of its transaction.';
