-- DelTran Console: updated_at maintenance and append-only guards.

-- One function for every table that has updated_at.
CREATE OR REPLACE FUNCTION deltran.touch_updated_at()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Only a real change moves updated_at (a no-op UPDATE leaves it alone).
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION deltran.touch_updated_at() IS 'BEFORE UPDATE row trigger: sets updated_at = now() when the row changed.';

CREATE OR REPLACE TRIGGER users_touch_updated_at
    BEFORE UPDATE ON deltran.users
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();
CREATE OR REPLACE TRIGGER banks_touch_updated_at
    BEFORE UPDATE ON deltran.banks
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();
CREATE OR REPLACE TRIGGER bank_accounts_touch_updated_at
    BEFORE UPDATE ON deltran.bank_accounts
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();
CREATE OR REPLACE TRIGGER payments_touch_updated_at
    BEFORE UPDATE ON deltran.payments
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();
CREATE OR REPLACE TRIGGER settlement_batches_touch_updated_at
    BEFORE UPDATE ON deltran.settlement_batches
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();
CREATE OR REPLACE TRIGGER compliance_checks_touch_updated_at
    BEFORE UPDATE ON deltran.compliance_checks
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();
CREATE OR REPLACE TRIGGER rate_limits_touch_updated_at
    BEFORE UPDATE ON deltran.rate_limits
    FOR EACH ROW EXECUTE FUNCTION deltran.touch_updated_at();

-- Append-only guard. TG_ARGV[0] is the logical table name used in the message,
-- so that a trigger cloned onto an audit_log partition still says "audit_log".
CREATE OR REPLACE FUNCTION deltran.reject_mutation()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    logical_name text := coalesce(TG_ARGV[0], TG_TABLE_NAME);
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', logical_name, TG_OP
        USING ERRCODE = 'P0001',
              DETAIL = format('%s on %I.%I was refused by trigger %s.', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_NAME),
              HINT = 'Rows of this table are never updated or deleted; write a new row instead.';
END
$$;
COMMENT ON FUNCTION deltran.reject_mutation() IS 'Trigger that refuses UPDATE / DELETE / TRUNCATE with "<table> is append-only".';

CREATE OR REPLACE TRIGGER transaction_log_append_only
    BEFORE UPDATE OR DELETE ON deltran.transaction_log
    FOR EACH ROW EXECUTE FUNCTION deltran.reject_mutation('transaction_log');
CREATE OR REPLACE TRIGGER transaction_log_no_truncate
    BEFORE TRUNCATE ON deltran.transaction_log
    FOR EACH STATEMENT EXECUTE FUNCTION deltran.reject_mutation('transaction_log');
