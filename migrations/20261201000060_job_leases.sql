-- Which console instance runs each background job this period. The jobs that must run once
-- across instances (audit partitions and sign-in purge, audit anchors, control expiry and
-- reconcile) claim their run here first: a claim succeeds only once the last one's lease has
-- expired, in one statement (so it works through PgBouncer in transaction mode, where a
-- session-level advisory lock would not). The heartbeat stays per instance.
CREATE TABLE IF NOT EXISTS deltran.job_leases (
    job        text        NOT NULL,
    -- The instance (console_instances.id) that claimed the current period.
    holder     uuid        NOT NULL,
    claimed_at timestamptz NOT NULL,
    -- Until then no other run of the job starts, on any instance.
    expires_at timestamptz NOT NULL,
    -- Runs claimed so far, across instances.
    runs       bigint      NOT NULL DEFAULT 1,
    CONSTRAINT job_leases_pkey PRIMARY KEY (job),
    CONSTRAINT job_leases_expiry CHECK (expires_at >= claimed_at)
);

GRANT SELECT, INSERT, UPDATE ON deltran.job_leases TO deltran_runtime;
