-- The console instances that run against this database, each writing a heartbeat (its
-- address, version, start and the last run of each of its background jobs) every
-- HEARTBEAT_SECONDS; the System page lists those seen in the last day.
CREATE TABLE IF NOT EXISTS deltran.console_instances (
    id           uuid        NOT NULL,
    address      text        NOT NULL,
    version      text        NOT NULL,
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    jobs         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT console_instances_pkey PRIMARY KEY (id),
    CONSTRAINT console_instances_jobs_object CHECK (jsonb_typeof(jobs) = 'object')
);
COMMENT ON COLUMN deltran.console_instances.jobs IS
    'Per job name: {"at": RFC 3339, "ok": bool, "seconds": number} of its last run.';

GRANT SELECT, INSERT, UPDATE, DELETE ON deltran.console_instances TO deltran_runtime;
