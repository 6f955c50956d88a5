-- DelTran Console: indexes for the filters, sorts and keyset pagination of the pages
-- (domain.md §6, api.md filters). Unique constraints already give indexes on
-- users(email, username), sessions(refresh_token_hash), banks(bic_code),
-- bank_accounts(bank_id, account_number, currency) (which also serves "accounts of
-- a bank"), payments(payment_reference, idempotency_key),
-- settlement_batches(batch_reference), rate_limits(entity_type, entity_id, limit_type).

-- users ----------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS users_role_idx ON deltran.users (role);
CREATE INDEX IF NOT EXISTS users_bank_id_idx ON deltran.users (bank_id) WHERE bank_id IS NOT NULL;

-- sessions -------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON deltran.sessions (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON deltran.sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_active_idx ON deltran.sessions (last_activity_at DESC)
    WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS used_refresh_tokens_session_id_idx ON deltran.used_refresh_tokens (session_id);

-- banks ----------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS banks_country_code_idx ON deltran.banks (country_code);
CREATE INDEX IF NOT EXISTS banks_is_active_idx ON deltran.banks (is_active);
CREATE INDEX IF NOT EXISTS banks_name_idx ON deltran.banks (name);

-- bank_accounts --------------------------------------------------------------
-- bank_id: covered by bank_accounts_bank_number_currency_key (bank_id leads).
CREATE INDEX IF NOT EXISTS bank_accounts_currency_idx ON deltran.bank_accounts (currency);

-- payments (keyset pagination on (created_at DESC, id DESC) everywhere) --------
CREATE INDEX IF NOT EXISTS payments_created_at_id_idx
    ON deltran.payments (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_status_created_at_idx
    ON deltran.payments (status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_currency_created_at_idx
    ON deltran.payments (currency, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_sender_bank_id_idx
    ON deltran.payments (sender_bank_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_receiver_bank_id_idx
    ON deltran.payments (receiver_bank_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_batch_id_idx
    ON deltran.payments (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_amount_idx ON deltran.payments (amount);
CREATE INDEX IF NOT EXISTS payments_sender_account_id_idx
    ON deltran.payments (sender_account_id) WHERE sender_account_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_receiver_account_id_idx
    ON deltran.payments (receiver_account_id) WHERE receiver_account_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_compliance_check_id_idx
    ON deltran.payments (compliance_check_id) WHERE compliance_check_id IS NOT NULL;

-- Text search on payment_reference (q=): a trigram GIN index (serves ILIKE '%x%')
-- when pg_trgm is available and can be created; otherwise a text_pattern_ops
-- B-tree (serves prefix LIKE 'x%'). pg_trgm is a trusted extension (PG 13+), so the
-- database owner may create it. If it is already installed, its schema is used.
DO $$
DECLARE
    trgm_schema text;
BEGIN
    IF to_regclass('deltran.payments_reference_search_idx') IS NOT NULL THEN
        RETURN;
    END IF;

    SELECT n.nspname INTO trgm_schema
    FROM pg_catalog.pg_extension e
    JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';

    IF trgm_schema IS NULL
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pg_trgm') THEN
        -- public first (the usual place); if this role may not create objects
        -- there (PG 15 default), in deltran; otherwise give up on trigrams.
        BEGIN
            CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
            trgm_schema := 'public';
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm could not be created in schema public (%)', SQLERRM;
        END;
        IF trgm_schema IS NULL THEN
            BEGIN
                CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA deltran;
                trgm_schema := 'deltran';
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'pg_trgm could not be created (%); falling back to text_pattern_ops', SQLERRM;
            END;
        END IF;
    END IF;

    IF trgm_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX payments_reference_search_idx ON deltran.payments '
                       'USING gin (payment_reference %I.gin_trgm_ops)', trgm_schema);
    ELSE
        CREATE INDEX payments_reference_search_idx ON deltran.payments (payment_reference text_pattern_ops);
    END IF;
END
$$;

-- settlement_batches -----------------------------------------------------------
CREATE INDEX IF NOT EXISTS settlement_batches_created_at_id_idx
    ON deltran.settlement_batches (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS settlement_batches_status_created_at_idx
    ON deltran.settlement_batches (status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS settlement_batches_currency_created_at_idx
    ON deltran.settlement_batches (currency, created_at DESC, id DESC);

-- compliance_checks ------------------------------------------------------------
CREATE INDEX IF NOT EXISTS compliance_checks_review_queue_idx
    ON deltran.compliance_checks (started_at, id)
    WHERE requires_review AND reviewed_at IS NULL;
CREATE INDEX IF NOT EXISTS compliance_checks_payment_id_idx
    ON deltran.compliance_checks (payment_id);
CREATE INDEX IF NOT EXISTS compliance_checks_status_idx
    ON deltran.compliance_checks (status, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS compliance_checks_check_type_idx
    ON deltran.compliance_checks (check_type, started_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS compliance_checks_started_at_id_idx
    ON deltran.compliance_checks (started_at DESC, id DESC);

-- transaction_log --------------------------------------------------------------
CREATE INDEX IF NOT EXISTS transaction_log_payment_id_idx
    ON deltran.transaction_log (payment_id, "timestamp", id) WHERE payment_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS transaction_log_account_id_timestamp_idx
    ON deltran.transaction_log (account_id, "timestamp" DESC, id DESC);

-- rate_limits ------------------------------------------------------------------
CREATE INDEX IF NOT EXISTS rate_limits_active_action_idx
    ON deltran.rate_limits (action_type, entity_type, entity_id) WHERE is_active;
CREATE INDEX IF NOT EXISTS rate_limits_is_active_idx
    ON deltran.rate_limits (is_active, action_type);
CREATE INDEX IF NOT EXISTS rate_limits_action_expires_at_idx
    ON deltran.rate_limits (action_expires_at) WHERE is_active AND action_expires_at IS NOT NULL;

-- audit_log (partitioned indexes on the parent; PostgreSQL creates the matching
-- index on every existing and future partition) ---------------------------------
CREATE INDEX IF NOT EXISTS audit_log_timestamp_id_idx
    ON deltran.audit_log ("timestamp" DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_actor_name_timestamp_idx
    ON deltran.audit_log (actor_name, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS audit_log_actor_id_timestamp_idx
    ON deltran.audit_log (actor_id, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS audit_log_action_timestamp_idx
    ON deltran.audit_log (action, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS audit_log_resource_idx
    ON deltran.audit_log (resource_type, resource_id, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS audit_log_result_timestamp_idx
    ON deltran.audit_log (result, "timestamp" DESC);
CREATE INDEX IF NOT EXISTS audit_log_event_id_idx
    ON deltran.audit_log (event_id);
