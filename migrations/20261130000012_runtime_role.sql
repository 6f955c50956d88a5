-- The role the running console (`serve`) works under: deltran_runtime.
--
-- Two roles in production: the owner of the schema runs `migrate up` (and the maintenance
-- commands: restore, audit detach) and owns every object; the console serves as a login
-- role that is granted deltran_runtime (GRANT deltran_runtime TO <login role>), which owns
-- nothing and can do no DDL. It reads and writes the ordinary tables, but may only read and
-- append the append-only ones (audit_log and its partitions, transaction_log): UPDATE,
-- DELETE and TRUNCATE are not granted, and as it owns nothing it can neither disable their
-- triggers nor drop them. The one-row audit_head is updated by every append.
--
-- Roles are cluster-wide, so the role is created only when missing (and a concurrent
-- creation from another database of the cluster is not an error); the grants are per
-- database.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'deltran_runtime') THEN
        CREATE ROLE deltran_runtime NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA deltran TO deltran_runtime;

GRANT SELECT, INSERT, UPDATE, DELETE ON
    deltran.banks,
    deltran.users,
    deltran.sessions,
    deltran.used_refresh_tokens,
    deltran.bank_accounts,
    deltran.settlement_batches,
    deltran.payments,
    deltran.compliance_checks,
    deltran.rate_limits,
    deltran.control_requests,
    deltran.role_change_requests,
    deltran.recovery_codes
TO deltran_runtime;

GRANT SELECT ON deltran.v_active_payments, deltran.v_bank_balances, deltran.v_daily_volume
TO deltran_runtime;

-- Append-only.
GRANT SELECT, INSERT ON deltran.transaction_log, deltran.audit_log TO deltran_runtime;
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
        WHERE i.inhparent = 'deltran.audit_log'::regclass
    LOOP
        EXECUTE format('GRANT SELECT, INSERT ON %s TO deltran_runtime', part);
    END LOOP;
END
$$;
GRANT SELECT, UPDATE ON deltran.audit_head TO deltran_runtime;

GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA deltran TO deltran_runtime;

-- What the owner creates later in the schema: readable and appendable by default (the
-- partition job's new audit partitions above all); a later migration grants UPDATE and
-- DELETE on an ordinary table explicitly.
ALTER DEFAULT PRIVILEGES IN SCHEMA deltran GRANT SELECT, INSERT ON TABLES TO deltran_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA deltran GRANT USAGE, SELECT ON SEQUENCES TO deltran_runtime;

-- The partition job runs in the console, as deltran_runtime, but creating a partition (and
-- its TRUNCATE guard) takes the owner of audit_log: these run as their owner. Their
-- search_path is fixed (pg_catalog, pg_temp) and only the runtime role may call them.
ALTER FUNCTION deltran.ensure_audit_partitions(date, integer) SECURITY DEFINER;
ALTER FUNCTION deltran.create_audit_partition(date) SECURITY DEFINER;
REVOKE EXECUTE ON FUNCTION deltran.ensure_audit_partitions(date, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION deltran.create_audit_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION deltran.ensure_audit_partitions(date, integer) TO deltran_runtime;
GRANT EXECUTE ON FUNCTION deltran.create_audit_partition(date) TO deltran_runtime;
