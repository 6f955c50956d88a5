-- DelTran Console: core tables (domain.md §3, tables 1-9; audit_log is in 000004).
-- Conventions: uuid primary keys from gen_random_uuid() (built in since PG 13),
-- money numeric(20,2), every timestamp timestamptz, every object schema-qualified.
-- Named constraints so that the application can map violations to messages.

-- 3. banks ------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.banks (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    bic_code        text        NOT NULL,
    name            text        NOT NULL,
    country_code    text        NOT NULL,
    is_active       boolean     NOT NULL DEFAULT true,
    risk_rating     text        NOT NULL DEFAULT 'medium',
    kyc_status      text        NOT NULL DEFAULT 'pending',
    kyc_verified_at timestamptz,
    contact_name    text,
    contact_email   text,
    contact_phone   text,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT banks_pkey PRIMARY KEY (id),
    CONSTRAINT banks_bic_code_key UNIQUE (bic_code),
    CONSTRAINT banks_bic_code_format CHECK (bic_code ~ '^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
    CONSTRAINT banks_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT banks_country_code_format CHECK (country_code ~ '^[A-Z]{2}$'),
    CONSTRAINT banks_risk_rating_check CHECK (risk_rating IN ('low', 'medium', 'high', 'critical')),
    CONSTRAINT banks_kyc_status_check CHECK (kyc_status IN ('pending', 'verified', 'rejected', 'expired')),
    CONSTRAINT banks_kyc_verified_at_check CHECK (kyc_status <> 'verified' OR kyc_verified_at IS NOT NULL),
    CONSTRAINT banks_contact_email_format CHECK (
        contact_email IS NULL
        OR (length(contact_email) <= 254
            AND contact_email ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$')),
    CONSTRAINT banks_contact_phone_format CHECK (
        contact_phone IS NULL OR contact_phone ~ '^\+?[0-9][0-9 ().-]{3,31}$'),
    CONSTRAINT banks_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE deltran.banks IS 'Participant banks of the DelTran network.';
COMMENT ON COLUMN deltran.banks.risk_rating IS 'low | medium | high | critical';
COMMENT ON COLUMN deltran.banks.kyc_status IS 'pending | verified | rejected | expired';

-- 1. users ------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.users (
    id                    uuid              NOT NULL DEFAULT gen_random_uuid(),
    email                 text              NOT NULL,
    username              text              NOT NULL,
    display_name          text,
    password_hash         text              NOT NULL,
    password_changed_at   timestamptz,
    role                  deltran.user_role NOT NULL DEFAULT 'viewer',
    bank_id               uuid,
    is_active             boolean           NOT NULL DEFAULT true,
    is_2fa_enabled        boolean           NOT NULL DEFAULT false,
    totp_secret           bytea,
    totp_last_used_step   bigint,
    last_login_at         timestamptz,
    last_login_ip         inet,
    failed_login_attempts integer           NOT NULL DEFAULT 0,
    locked_until          timestamptz,
    metadata              jsonb             NOT NULL DEFAULT '{}'::jsonb,
    created_by            uuid,
    created_at            timestamptz       NOT NULL DEFAULT now(),
    updated_at            timestamptz       NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_email_format CHECK (
        length(email) <= 254
        AND email ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}$'),
    CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9._-]{3,64}$'),
    CONSTRAINT users_password_hash_argon2id CHECK (
        password_hash ~ '^\$argon2id\$v=[0-9]+\$[a-z]=[0-9]+(,[a-z]+=[^,$]+)*\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$'),
    CONSTRAINT users_totp_required_for_2fa CHECK (NOT is_2fa_enabled OR totp_secret IS NOT NULL),
    CONSTRAINT users_failed_login_attempts_check CHECK (failed_login_attempts >= 0),
    CONSTRAINT users_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT users_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES deltran.banks (id),
    CONSTRAINT users_created_by_fkey FOREIGN KEY (created_by) REFERENCES deltran.users (id)
);
-- Case-insensitive uniqueness on top of the plain UNIQUE (email), which stays
-- so that ON CONFLICT (email) keeps working.
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON deltran.users (lower(email));
COMMENT ON TABLE deltran.users IS 'Console users. Deactivate, never delete (audit and ledger rows refer to them).';
COMMENT ON COLUMN deltran.users.password_hash IS 'argon2id PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash';
COMMENT ON COLUMN deltran.users.totp_secret IS 'TOTP secret, encrypted by the application before it is stored (never plaintext).';
COMMENT ON COLUMN deltran.users.totp_last_used_step IS 'Last accepted TOTP time step, to refuse a replayed code.';

-- 2. sessions ---------------------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.sessions (
    id                 uuid        NOT NULL DEFAULT gen_random_uuid(),
    user_id            uuid        NOT NULL,
    kind               text        NOT NULL DEFAULT 'api',
    refresh_token_hash text,
    ip_address         inet,
    user_agent         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    last_activity_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at         timestamptz,
    revoke_reason      text,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_refresh_token_hash_key UNIQUE (refresh_token_hash),
    CONSTRAINT sessions_kind_check CHECK (kind IN ('browser', 'api')),
    CONSTRAINT sessions_api_has_refresh_token CHECK (kind <> 'api' OR refresh_token_hash IS NOT NULL),
    CONSTRAINT sessions_expires_after_created CHECK (expires_at > created_at),
    CONSTRAINT sessions_revoke_reason_needs_revoked_at CHECK (revoke_reason IS NULL OR revoked_at IS NOT NULL),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES deltran.users (id) ON DELETE CASCADE
);
COMMENT ON TABLE deltran.sessions IS 'Sign-in sessions: api = JWT refresh-token session, browser = console session (tower-sessions record lives in Redis).';
COMMENT ON COLUMN deltran.sessions.refresh_token_hash IS 'SHA-256 (hex) of the current refresh token; required for kind = api.';

-- Refresh tokens already rotated away, so that presenting one again can be
-- detected (reuse => revoke the whole session). Not in the spec; welcome extra.
CREATE TABLE IF NOT EXISTS deltran.used_refresh_tokens (
    token_hash text        NOT NULL,
    session_id uuid        NOT NULL,
    used_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT used_refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT used_refresh_tokens_session_id_fkey FOREIGN KEY (session_id)
        REFERENCES deltran.sessions (id) ON DELETE CASCADE
);

-- 4. bank_accounts ----------------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.bank_accounts (
    id                uuid                  NOT NULL DEFAULT gen_random_uuid(),
    bank_id           uuid                  NOT NULL,
    account_number    text                  NOT NULL,
    currency          deltran.currency_code NOT NULL,
    balance           numeric(20,2)         NOT NULL DEFAULT 0,
    available_balance numeric(20,2)         NOT NULL DEFAULT 0,
    reserved_balance  numeric(20,2)         NOT NULL DEFAULT 0,
    is_active         boolean               NOT NULL DEFAULT true,
    opened_at         timestamptz           NOT NULL DEFAULT now(),
    closed_at         timestamptz,
    metadata          jsonb                 NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz           NOT NULL DEFAULT now(),
    updated_at        timestamptz           NOT NULL DEFAULT now(),
    CONSTRAINT bank_accounts_pkey PRIMARY KEY (id),
    CONSTRAINT bank_accounts_bank_number_currency_key UNIQUE (bank_id, account_number, currency),
    -- target of the composite FKs from payments (account must belong to the bank)
    CONSTRAINT bank_accounts_id_bank_id_key UNIQUE (id, bank_id),
    CONSTRAINT bank_accounts_account_number_check CHECK (btrim(account_number) <> '' AND length(account_number) <= 64),
    CONSTRAINT bank_accounts_balance_nonneg CHECK (balance >= 0),
    CONSTRAINT bank_accounts_available_nonneg CHECK (available_balance >= 0),
    CONSTRAINT bank_accounts_reserved_nonneg CHECK (reserved_balance >= 0),
    CONSTRAINT bank_accounts_balance_sum CHECK (balance = available_balance + reserved_balance),
    CONSTRAINT bank_accounts_closed_after_opened CHECK (closed_at IS NULL OR closed_at >= opened_at),
    CONSTRAINT bank_accounts_closed_inactive CHECK (closed_at IS NULL OR NOT is_active),
    CONSTRAINT bank_accounts_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT bank_accounts_bank_id_fkey FOREIGN KEY (bank_id) REFERENCES deltran.banks (id)
);
COMMENT ON TABLE deltran.bank_accounts IS 'Settlement accounts of banks, one per (bank, account number, currency). balance = available + reserved.';

-- 7. settlement_batches -----------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.settlement_batches (
    id                uuid                      NOT NULL DEFAULT gen_random_uuid(),
    batch_reference   text                      NOT NULL,
    corridor_id       text,
    netting_window_id text,
    batch_type        text                      NOT NULL DEFAULT 'net',
    status            deltran.settlement_status NOT NULL DEFAULT 'draft',
    total_payments    integer                   NOT NULL DEFAULT 0,
    gross_amount      numeric(20,2)             NOT NULL DEFAULT 0,
    net_amount        numeric(20,2)             NOT NULL DEFAULT 0,
    currency          deltran.currency_code     NOT NULL,
    metadata          jsonb                     NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz               NOT NULL DEFAULT now(),
    updated_at        timestamptz               NOT NULL DEFAULT now(),
    finalized_at      timestamptz,
    submitted_at      timestamptz,
    settled_at        timestamptz,
    CONSTRAINT settlement_batches_pkey PRIMARY KEY (id),
    CONSTRAINT settlement_batches_batch_reference_key UNIQUE (batch_reference),
    CONSTRAINT settlement_batches_batch_reference_check CHECK (btrim(batch_reference) <> ''),
    CONSTRAINT settlement_batches_batch_type_check CHECK (btrim(batch_type) <> ''),
    CONSTRAINT settlement_batches_total_payments_check CHECK (total_payments >= 0),
    CONSTRAINT settlement_batches_gross_amount_check CHECK (gross_amount >= 0),
    CONSTRAINT settlement_batches_net_amount_check CHECK (net_amount >= 0 AND net_amount <= gross_amount),
    CONSTRAINT settlement_batches_settled_at_check CHECK (status <> 'settled' OR settled_at IS NOT NULL),
    CONSTRAINT settlement_batches_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
COMMENT ON COLUMN deltran.settlement_batches.corridor_id IS 'Identifier of the corridor in the DelTran settlement engine (opaque text, e.g. USD-EUR).';
COMMENT ON COLUMN deltran.settlement_batches.netting_window_id IS 'Identifier of the netting window in the settlement engine (opaque text).';
COMMENT ON COLUMN deltran.settlement_batches.batch_type IS 'Free text, e.g. gross | net | bilateral_net | multilateral_net.';

-- 5. payments ---------------------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.payments (
    id                  uuid                   NOT NULL DEFAULT gen_random_uuid(),
    payment_reference   text                   NOT NULL,
    sender_bank_id      uuid                   NOT NULL,
    receiver_bank_id    uuid                   NOT NULL,
    sender_account_id   uuid,
    receiver_account_id uuid,
    amount              numeric(20,2)          NOT NULL,
    currency            deltran.currency_code  NOT NULL,
    status              deltran.payment_status NOT NULL DEFAULT 'pending',
    compliance_check_id uuid,
    risk_score          smallint,
    batch_id            uuid,
    swift_message_type  text,
    swift_message_id    text,
    idempotency_key     text,
    created_at          timestamptz            NOT NULL DEFAULT now(),
    updated_at          timestamptz            NOT NULL DEFAULT now(),
    processed_at        timestamptz,
    settled_at          timestamptz,
    cancelled_at        timestamptz,
    cancelled_by        uuid,
    cancel_reason       text,
    failure_reason      text,
    remittance_info     text,
    metadata            jsonb                  NOT NULL DEFAULT '{}'::jsonb,
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    CONSTRAINT payments_payment_reference_key UNIQUE (payment_reference),
    CONSTRAINT payments_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT payments_payment_reference_check CHECK (btrim(payment_reference) <> ''),
    CONSTRAINT payments_amount_positive CHECK (amount > 0),
    CONSTRAINT payments_distinct_banks CHECK (sender_bank_id <> receiver_bank_id),
    CONSTRAINT payments_risk_score_range CHECK (risk_score IS NULL OR risk_score BETWEEN 0 AND 100),
    CONSTRAINT payments_settled_at_check CHECK (status <> 'settled' OR settled_at IS NOT NULL),
    CONSTRAINT payments_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT payments_sender_bank_id_fkey FOREIGN KEY (sender_bank_id) REFERENCES deltran.banks (id),
    CONSTRAINT payments_receiver_bank_id_fkey FOREIGN KEY (receiver_bank_id) REFERENCES deltran.banks (id),
    -- the account, when given, must belong to the bank on the same side
    CONSTRAINT payments_sender_account_fkey FOREIGN KEY (sender_account_id, sender_bank_id)
        REFERENCES deltran.bank_accounts (id, bank_id),
    CONSTRAINT payments_receiver_account_fkey FOREIGN KEY (receiver_account_id, receiver_bank_id)
        REFERENCES deltran.bank_accounts (id, bank_id),
    CONSTRAINT payments_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES deltran.settlement_batches (id),
    CONSTRAINT payments_cancelled_by_fkey FOREIGN KEY (cancelled_by) REFERENCES deltran.users (id)
);
COMMENT ON COLUMN deltran.payments.compliance_check_id IS 'The deciding compliance check (deferrable FK to compliance_checks, checked at commit).';
COMMENT ON COLUMN deltran.payments.risk_score IS '0..100';

-- 8. compliance_checks ------------------------------------------------------
CREATE TABLE IF NOT EXISTS deltran.compliance_checks (
    id              uuid                      NOT NULL DEFAULT gen_random_uuid(),
    payment_id      uuid                      NOT NULL,
    check_type      text                      NOT NULL,
    status          deltran.compliance_status NOT NULL DEFAULT 'pending',
    risk_score      smallint,
    flags           jsonb                     NOT NULL DEFAULT '[]'::jsonb,
    matched_lists   text[]                    NOT NULL DEFAULT '{}'::text[],
    requires_review boolean                   NOT NULL DEFAULT false,
    reviewed_by     uuid,
    reviewed_at     timestamptz,
    review_notes    text,
    started_at      timestamptz               NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    updated_at      timestamptz               NOT NULL DEFAULT now(),
    CONSTRAINT compliance_checks_pkey PRIMARY KEY (id),
    CONSTRAINT compliance_checks_check_type_check CHECK (check_type IN ('sanctions', 'aml', 'kyc', 'pep', 'travel_rule')),
    CONSTRAINT compliance_checks_risk_score_range CHECK (risk_score IS NULL OR risk_score BETWEEN 0 AND 100),
    CONSTRAINT compliance_checks_review_pair CHECK ((reviewed_by IS NULL) = (reviewed_at IS NULL)),
    CONSTRAINT compliance_checks_review_needs_note CHECK (
        reviewed_at IS NULL OR (review_notes IS NOT NULL AND btrim(review_notes) <> '')),
    CONSTRAINT compliance_checks_completed_after_started CHECK (completed_at IS NULL OR completed_at >= started_at),
    CONSTRAINT compliance_checks_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES deltran.payments (id),
    CONSTRAINT compliance_checks_reviewed_by_fkey FOREIGN KEY (reviewed_by) REFERENCES deltran.users (id)
);
COMMENT ON COLUMN deltran.compliance_checks.flags IS 'Screening hits / flags as JSON (array by default).';

-- payments.compliance_check_id -> compliance_checks: the two tables refer to each
-- other, so this FK is added afterwards, DEFERRABLE INITIALLY DEFERRED (checked at
-- commit: a payment and its check may be inserted in either order in one transaction).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                   WHERE conname = 'payments_compliance_check_id_fkey'
                     AND conrelid = 'deltran.payments'::regclass) THEN
        ALTER TABLE deltran.payments
            ADD CONSTRAINT payments_compliance_check_id_fkey FOREIGN KEY (compliance_check_id)
            REFERENCES deltran.compliance_checks (id) ON DELETE SET NULL
            DEFERRABLE INITIALLY DEFERRED;
    END IF;
END
$$;

-- 6. transaction_log (append-only; triggers in 000003) ----------------------
CREATE TABLE IF NOT EXISTS deltran.transaction_log (
    id               bigserial     NOT NULL,
    payment_id       uuid,
    transaction_type text          NOT NULL,
    account_id       uuid          NOT NULL,
    debit_amount     numeric(20,2) NOT NULL DEFAULT 0,
    credit_amount    numeric(20,2) NOT NULL DEFAULT 0,
    balance_after    numeric(20,2) NOT NULL,
    description      text,
    "timestamp"      timestamptz   NOT NULL DEFAULT now(),
    processed_by     uuid,
    CONSTRAINT transaction_log_pkey PRIMARY KEY (id),
    CONSTRAINT transaction_log_transaction_type_check CHECK (btrim(transaction_type) <> ''),
    CONSTRAINT transaction_log_amounts_nonneg CHECK (debit_amount >= 0 AND credit_amount >= 0),
    -- exactly one side of the movement is positive (debit xor credit)
    CONSTRAINT transaction_log_debit_xor_credit CHECK ((debit_amount > 0) <> (credit_amount > 0)),
    CONSTRAINT transaction_log_balance_after_nonneg CHECK (balance_after >= 0),
    -- plain NO ACTION FKs on purpose: CASCADE / SET NULL would have to modify this table
    CONSTRAINT transaction_log_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES deltran.payments (id),
    CONSTRAINT transaction_log_account_id_fkey FOREIGN KEY (account_id) REFERENCES deltran.bank_accounts (id),
    CONSTRAINT transaction_log_processed_by_fkey FOREIGN KEY (processed_by) REFERENCES deltran.users (id)
);
COMMENT ON TABLE deltran.transaction_log IS 'Immutable account movements. UPDATE, DELETE and TRUNCATE are refused by triggers.';
COMMENT ON COLUMN deltran.transaction_log.debit_amount IS '0 or positive; exactly one of debit_amount / credit_amount is > 0.';

-- 9. rate_limits (also the record of truth for controls) --------------------
CREATE TABLE IF NOT EXISTS deltran.rate_limits (
    id                uuid                NOT NULL DEFAULT gen_random_uuid(),
    entity_type       text                NOT NULL,
    entity_id         text                NOT NULL,
    limit_type        text                NOT NULL,
    limit_value       bigint              NOT NULL,
    window_seconds    integer             NOT NULL,
    current_count     bigint              NOT NULL DEFAULT 0,
    window_start      timestamptz         NOT NULL DEFAULT now(),
    is_active         boolean             NOT NULL DEFAULT true,
    action_type       deltran.action_type,
    action_expires_at timestamptz,
    reason            text,
    created_by        uuid,
    created_at        timestamptz         NOT NULL DEFAULT now(),
    updated_at        timestamptz         NOT NULL DEFAULT now(),
    CONSTRAINT rate_limits_pkey PRIMARY KEY (id),
    CONSTRAINT rate_limits_entity_limit_key UNIQUE (entity_type, entity_id, limit_type),
    CONSTRAINT rate_limits_entity_type_check CHECK (entity_type IN ('account', 'bank', 'user', 'api_client')),
    CONSTRAINT rate_limits_entity_id_check CHECK (btrim(entity_id) <> ''),
    CONSTRAINT rate_limits_limit_type_check CHECK (btrim(limit_type) <> ''),
    CONSTRAINT rate_limits_limit_value_positive CHECK (limit_value > 0),
    CONSTRAINT rate_limits_window_seconds_positive CHECK (window_seconds > 0),
    CONSTRAINT rate_limits_current_count_nonneg CHECK (current_count >= 0),
    CONSTRAINT rate_limits_created_by_fkey FOREIGN KEY (created_by) REFERENCES deltran.users (id)
);
COMMENT ON TABLE deltran.rate_limits IS 'Rate limits and controls (freeze / throttle / block) per entity. Postgres is the record of truth; Redis deltran:ratelimit:* and deltran:control:* are copies.';
COMMENT ON COLUMN deltran.rate_limits.entity_id IS 'Text: uuid of an account / bank / user, or an API client id.';
