-- DelTran Console: reporting views.

-- Payments still in flight (pending or processing), with both banks' BIC and name.
CREATE OR REPLACE VIEW deltran.v_active_payments AS
SELECT p.id,
       p.payment_reference,
       p.status,
       p.amount,
       p.currency,
       p.risk_score,
       p.sender_bank_id,
       sb.bic_code AS sender_bic,
       sb.name     AS sender_bank_name,
       p.receiver_bank_id,
       rb.bic_code AS receiver_bic,
       rb.name     AS receiver_bank_name,
       p.sender_account_id,
       p.receiver_account_id,
       p.batch_id,
       p.compliance_check_id,
       p.idempotency_key,
       p.created_at,
       p.updated_at,
       p.processed_at
FROM deltran.payments p
JOIN deltran.banks sb ON sb.id = p.sender_bank_id
JOIN deltran.banks rb ON rb.id = p.receiver_bank_id
WHERE p.status IN ('pending', 'processing');
COMMENT ON VIEW deltran.v_active_payments IS 'Payments with status pending or processing, with sender and receiver bank BIC and name.';

-- Balances per bank and currency (all accounts, open or closed; active ones counted apart).
CREATE OR REPLACE VIEW deltran.v_bank_balances AS
SELECT b.id                                      AS bank_id,
       b.bic_code,
       b.name                                    AS bank_name,
       b.country_code,
       a.currency,
       count(*)::bigint                          AS account_count,
       count(*) FILTER (WHERE a.is_active)::bigint AS active_account_count,
       sum(a.balance)                        AS total_balance,
       sum(a.available_balance)              AS total_available,
       sum(a.reserved_balance)               AS total_reserved
FROM deltran.banks b
JOIN deltran.bank_accounts a ON a.bank_id = b.id
GROUP BY b.id, b.bic_code, b.name, b.country_code, a.currency;
COMMENT ON VIEW deltran.v_bank_balances IS 'Per bank and currency: number of accounts and sums of balance, available and reserved.';

-- Payment volume per UTC day (of created_at), currency and status.
CREATE OR REPLACE VIEW deltran.v_daily_volume AS
SELECT (p.created_at AT TIME ZONE 'UTC')::date AS day,
       p.currency,
       p.status,
       count(*)::bigint                        AS payment_count,
       sum(p.amount)                       AS total_amount
FROM deltran.payments p
GROUP BY 1, 2, 3;
COMMENT ON VIEW deltran.v_daily_volume IS 'Per UTC day of created_at, currency and status: payment count and total amount.';
