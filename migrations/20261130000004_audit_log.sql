-- DelTran Console: audit_log, partitioned by month on "timestamp".
--
-- * PostgreSQL 15: identity columns are not allowed on partitioned tables before
--   PG 17, so id comes from an explicit sequence (bigserial semantics).
-- * Only the DEFAULT partition is created here. Monthly partitions are created
--   ahead of time by the application at start-up:
--       SELECT deltran.ensure_audit_partitions(date_trunc('month', now())::date, 3);
--   The DEFAULT partition guarantees that no audit row is ever refused for lack
--   of a partition.
-- * Month boundaries are UTC midnights.

CREATE SEQUENCE IF NOT EXISTS deltran.audit_log_id_seq AS bigint;

CREATE TABLE IF NOT EXISTS deltran.audit_log (
    id            bigint      NOT NULL DEFAULT nextval('deltran.audit_log_id_seq'),
    event_id      uuid        NOT NULL DEFAULT gen_random_uuid(),
    event_type    text        NOT NULL,
    severity      text        NOT NULL DEFAULT 'info',
    actor_id      uuid,
    actor_type    text        NOT NULL DEFAULT 'user',
    actor_name    text,
    action        text        NOT NULL,
    resource_type text,
    resource_id   text,
    result        text        NOT NULL,
    error_message text,
    ip_address    inet,
    user_agent    text,
    request_id    text,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    previous_hash text,
    event_hash    text        NOT NULL,
    "timestamp"   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_log_pkey PRIMARY KEY (id, "timestamp"),
    CONSTRAINT audit_log_severity_check CHECK (severity IN ('info', 'notice', 'warning', 'critical')),
    CONSTRAINT audit_log_actor_type_check CHECK (actor_type IN ('user', 'system', 'api_client')),
    CONSTRAINT audit_log_result_check CHECK (result IN ('success', 'failure', 'denied')),
    CONSTRAINT audit_log_previous_hash_format CHECK (previous_hash IS NULL OR previous_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT audit_log_event_hash_format CHECK (event_hash ~ '^[0-9a-f]{64}$')
) PARTITION BY RANGE ("timestamp");

ALTER SEQUENCE deltran.audit_log_id_seq OWNED BY deltran.audit_log.id;

COMMENT ON TABLE deltran.audit_log IS 'Append-only audit trail with a SHA-256 hash chain; partitioned by month (UTC). UPDATE, DELETE and TRUNCATE are refused by triggers.';
COMMENT ON COLUMN deltran.audit_log.actor_id IS 'No FK on purpose: an audit row must never be refused, and it outlives users.';
COMMENT ON COLUMN deltran.audit_log.previous_hash IS 'event_hash of the previous row in the chain (lowercase hex); NULL only for the first row.';
COMMENT ON COLUMN deltran.audit_log.event_hash IS 'SHA-256 (lowercase hex) over the canonical encoding of the row and previous_hash.';

CREATE TABLE IF NOT EXISTS deltran.audit_log_default
    PARTITION OF deltran.audit_log DEFAULT;

-- Append-only guards. The row trigger defined on the partitioned parent is cloned
-- by PostgreSQL onto every partition (existing, created or attached later), so an
-- UPDATE / DELETE aimed directly at a partition is refused too. TRUNCATE triggers
-- are statement-level and NOT cloned: the parent and every partition get their own
-- (create_audit_partition adds it; ensure_audit_partitions re-checks all partitions).
CREATE OR REPLACE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON deltran.audit_log
    FOR EACH ROW EXECUTE FUNCTION deltran.reject_mutation('audit_log');
CREATE OR REPLACE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON deltran.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION deltran.reject_mutation('audit_log');
CREATE OR REPLACE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON deltran.audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION deltran.reject_mutation('audit_log');

-- Adds the TRUNCATE guard to every partition of audit_log that lacks it
-- (partitions attached by hand, or created before this function existed).
-- Returns the number of partitions it had to fix.
CREATE OR REPLACE FUNCTION deltran.guard_audit_partitions()
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part  regclass;
    fixed integer := 0;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass
        FROM pg_catalog.pg_inherits i
        WHERE i.inhparent = 'deltran.audit_log'::regclass
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                       WHERE t.tgrelid = part AND t.tgname = 'audit_log_no_truncate') THEN
            EXECUTE format('CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON %s '
                           'FOR EACH STATEMENT EXECUTE FUNCTION deltran.reject_mutation(%L)',
                           part, 'audit_log');
            fixed := fixed + 1;
        END IF;
    END LOOP;
    RETURN fixed;
END
$$;

-- Creates deltran.audit_log_yYYYYmMM for the (UTC) month containing "month", if it
-- does not exist yet, and returns its schema-qualified name
-- ('deltran.audit_log_y2026m12'); returns the name as well when it already exists.
-- When the DEFAULT partition already holds rows of that month PostgreSQL would
-- refuse the CREATE ... PARTITION OF; the function then RAISEs a NOTICE and
-- returns NULL instead of failing (those rows stay in the DEFAULT partition).
CREATE OR REPLACE FUNCTION deltran.create_audit_partition(month date)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_day date;
    next_day  date;
    lo        timestamptz;
    hi        timestamptz;
    part_name text;
BEGIN
    IF month IS NULL THEN
        RAISE NOTICE 'create_audit_partition: month is NULL, nothing to do';
        RETURN NULL;
    END IF;

    first_day := date_trunc('month', month::timestamp)::date;
    next_day  := (first_day + interval '1 month')::date;
    lo        := first_day::timestamp AT TIME ZONE 'UTC';
    hi        := next_day::timestamp AT TIME ZONE 'UTC';
    part_name := format('audit_log_y%sm%s', to_char(first_day, 'FMYYYY'), to_char(first_day, 'MM'));

    -- Serialise concurrent callers (several console instances starting at once).
    PERFORM pg_advisory_xact_lock(hashtext('deltran.audit_log.partitions'));

    IF to_regclass(format('deltran.%I', part_name)) IS NOT NULL THEN
        PERFORM deltran.guard_audit_partitions();
        RETURN 'deltran.' || part_name;
    END IF;

    IF EXISTS (SELECT 1 FROM deltran.audit_log_default d
               WHERE d."timestamp" >= lo AND d."timestamp" < hi) THEN
        RAISE NOTICE 'audit_log partition % not created: the DEFAULT partition already holds rows between % and %; they stay there',
            part_name, lo, hi;
        RETURN NULL;
    END IF;

    BEGIN
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS deltran.%I PARTITION OF deltran.audit_log FOR VALUES FROM (%L) TO (%L)',
            part_name,
            to_char(first_day, 'YYYY-MM-DD') || ' 00:00:00+00',
            to_char(next_day,  'YYYY-MM-DD') || ' 00:00:00+00');
    EXCEPTION
        -- a row reached the DEFAULT partition between the check and the CREATE
        WHEN check_violation THEN
            RAISE NOTICE 'audit_log partition % not created: %', part_name, SQLERRM;
            RETURN NULL;
        -- a partition with another name already covers (part of) this month
        WHEN invalid_object_definition THEN
            RAISE NOTICE 'audit_log partition % not created: %', part_name, SQLERRM;
            RETURN NULL;
    END;

    EXECUTE format('CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON deltran.%I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION deltran.reject_mutation(%L)',
                   part_name, 'audit_log');
    EXECUTE format('COMMENT ON TABLE deltran.%I IS %L', part_name,
                   format('audit_log partition for %s (UTC), created by deltran.create_audit_partition', to_char(first_day, 'YYYY-MM')));
    RETURN 'deltran.' || part_name;
END
$$;
COMMENT ON FUNCTION deltran.create_audit_partition(date) IS
    'Creates deltran.audit_log_yYYYYmMM for the UTC month containing the argument (if missing) and returns its qualified name; NULL + NOTICE when the DEFAULT partition already holds rows of that month.';

-- Calls create_audit_partition for "months" consecutive months starting with the
-- month containing from_month; returns how many partitions it newly created.
-- Also re-applies the TRUNCATE guard to any partition that lacks it.
CREATE OR REPLACE FUNCTION deltran.ensure_audit_partitions(from_month date, months integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_day date;
    m         date;
    i         integer;
    created   integer := 0;
    existed   boolean;
    result    text;
BEGIN
    IF from_month IS NULL OR months IS NULL OR months <= 0 THEN
        RETURN 0;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('deltran.audit_log.partitions'));
    first_day := date_trunc('month', from_month::timestamp)::date;

    FOR i IN 0 .. months - 1 LOOP
        m := (first_day + make_interval(months => i))::date;
        existed := to_regclass(format('deltran.%I',
                       format('audit_log_y%sm%s', to_char(m, 'FMYYYY'), to_char(m, 'MM')))) IS NOT NULL;
        result := deltran.create_audit_partition(m);
        IF result IS NOT NULL AND NOT existed THEN
            created := created + 1;
        END IF;
    END LOOP;

    PERFORM deltran.guard_audit_partitions();
    RETURN created;
END
$$;
COMMENT ON FUNCTION deltran.ensure_audit_partitions(date, integer) IS
    'Creates the monthly audit_log partitions for N months from from_month; returns the number newly created. Called by the application at start-up.';
