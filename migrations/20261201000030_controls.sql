-- Controls (freeze, throttle, block) and their four-eyes requests, as the Controls page and
-- `POST /api/v1/controls` use them.
--
-- A control is a deltran.rate_limits row with an action_type; its limit_type is the action's
-- name ('freeze', 'throttle', 'block'), so an entity holds at most one control of each kind
-- (the table's unique key). A freeze or a block limits nothing by count: its limit_value and
-- window_seconds are 1 (the table requires both to be positive).
--
-- A block, and lifting one, is a request first: deltran.control_requests, approved or
-- rejected by someone else, or expired when nobody decided it in time.

ALTER TABLE deltran.control_requests ADD COLUMN IF NOT EXISTS expires_at timestamptz;
UPDATE deltran.control_requests SET expires_at = requested_at + interval '24 hours'
WHERE expires_at IS NULL;
ALTER TABLE deltran.control_requests ALTER COLUMN expires_at SET NOT NULL;
COMMENT ON COLUMN deltran.control_requests.expires_at IS
    'A pending request not decided by then expires (CONTROL_REQUEST_HOURS after it was made).';

ALTER TABLE deltran.control_requests
    DROP CONSTRAINT IF EXISTS control_requests_status_check,
    DROP CONSTRAINT IF EXISTS control_requests_decision_pair;
ALTER TABLE deltran.control_requests
    ADD CONSTRAINT control_requests_status_check
        CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    -- Decided by a person (approved, rejected), by the clock (expired), or not yet.
    ADD CONSTRAINT control_requests_decision_pair CHECK (
        (status = 'pending' AND decided_by IS NULL AND decided_at IS NULL)
        OR (status = 'expired' AND decided_by IS NULL AND decided_at IS NOT NULL)
        OR (status IN ('approved', 'rejected') AND decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    -- Only a block takes two people.
    ADD CONSTRAINT control_requests_action_check CHECK (action = 'block'),
    ADD CONSTRAINT control_requests_expiry_after_request CHECK (expires_at > requested_at);

-- (One pending request per entity and operation is control_requests_one_pending_key, made
-- with the table: a second is refused with 409.)

-- What a control's entity_type and entity_id name, for people: a bank's BIC and name, an
-- account's bank and number, a user's name (API clients have no table: their id is their name).
CREATE OR REPLACE VIEW deltran.v_control_entities AS
    SELECT 'bank'::text AS entity_type, b.id::text AS entity_id,
           b.bic_code || ' ' || b.name AS label, b.id AS bank_id
    FROM deltran.banks b
    UNION ALL
    SELECT 'account', a.id::text, b.bic_code || ' ' || a.account_number || ' ' || a.currency::text,
           a.bank_id
    FROM deltran.bank_accounts a JOIN deltran.banks b ON b.id = a.bank_id
    UNION ALL
    SELECT 'user', u.id::text, u.username, NULL::uuid
    FROM deltran.users u;

GRANT SELECT ON deltran.v_control_entities TO deltran_runtime;
