-- DelTran Console: schema and custom types (domain.md §3).
-- sqlx runs this file in one transaction. Every statement is idempotent:
-- CREATE TYPE has no IF NOT EXISTS, so each type is created from a DO block
-- that first looks in pg_type.

CREATE SCHEMA IF NOT EXISTS deltran;

COMMENT ON SCHEMA deltran IS 'DelTran Console data. Migrations are tracked by sqlx in public._sqlx_migrations.';

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'deltran' AND t.typname = 'user_role') THEN
        CREATE TYPE deltran.user_role AS ENUM ('admin', 'operator', 'auditor', 'viewer');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'deltran' AND t.typname = 'payment_status') THEN
        CREATE TYPE deltran.payment_status AS ENUM
            ('pending', 'processing', 'settled', 'failed', 'cancelled');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'deltran' AND t.typname = 'settlement_status') THEN
        CREATE TYPE deltran.settlement_status AS ENUM
            ('draft', 'ready', 'submitted', 'settled', 'failed', 'cancelled');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'deltran' AND t.typname = 'compliance_status') THEN
        CREATE TYPE deltran.compliance_status AS ENUM ('pending', 'pass', 'fail', 'review');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'deltran' AND t.typname = 'currency_code') THEN
        CREATE TYPE deltran.currency_code AS ENUM
            ('USD', 'EUR', 'GBP', 'JPY', 'CHF', 'CAD', 'AUD', 'CNY', 'INR', 'BRL');
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'deltran' AND t.typname = 'action_type') THEN
        CREATE TYPE deltran.action_type AS ENUM ('freeze', 'unfreeze', 'throttle', 'block');
    END IF;
END
$$;
