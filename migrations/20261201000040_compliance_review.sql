-- DelTran Console: the compliance review queue and its cases — who holds a case (claims), the
-- second reviewer a pass of a sanctions or PEP hit waits for (approvals), and the indexes of
-- the queue's filters and orders.

-- One reviewer at a time works a case, for a while: a claim expires (`expires_at`) unless its
-- holder claims again. A claim ends when the case is decided (its row is deleted).
CREATE TABLE IF NOT EXISTS deltran.compliance_claims (
    check_id   uuid        NOT NULL,
    claimed_by uuid        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT compliance_claims_pkey PRIMARY KEY (check_id),
    CONSTRAINT compliance_claims_expiry_after_claim CHECK (expires_at > claimed_at),
    CONSTRAINT compliance_claims_check_id_fkey FOREIGN KEY (check_id)
        REFERENCES deltran.compliance_checks (id) ON DELETE CASCADE,
    CONSTRAINT compliance_claims_claimed_by_fkey FOREIGN KEY (claimed_by)
        REFERENCES deltran.users (id)
);

-- A pass of a sanctions or PEP check waits here for a second reviewer: approved (the check
-- passes, reviewed by the first) or rejected (the check is undecided again). At most one is
-- pending per check; nobody decides their own.
CREATE TABLE IF NOT EXISTS deltran.compliance_approvals (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    check_id      uuid        NOT NULL,
    requested_by  uuid        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    note          text        NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',
    decided_by    uuid,
    decided_at    timestamptz,
    decision_note text,
    CONSTRAINT compliance_approvals_pkey PRIMARY KEY (id),
    CONSTRAINT compliance_approvals_status_check CHECK (status IN ('pending', 'approved', 'rejected')),
    CONSTRAINT compliance_approvals_note_check CHECK (btrim(note) <> ''),
    CONSTRAINT compliance_approvals_not_own CHECK (decided_by IS NULL OR decided_by <> requested_by),
    CONSTRAINT compliance_approvals_decided_pair CHECK (
        (status = 'pending') = (decided_by IS NULL) AND (decided_by IS NULL) = (decided_at IS NULL)),
    CONSTRAINT compliance_approvals_check_id_fkey FOREIGN KEY (check_id)
        REFERENCES deltran.compliance_checks (id) ON DELETE CASCADE,
    CONSTRAINT compliance_approvals_requested_by_fkey FOREIGN KEY (requested_by)
        REFERENCES deltran.users (id),
    CONSTRAINT compliance_approvals_decided_by_fkey FOREIGN KEY (decided_by)
        REFERENCES deltran.users (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS compliance_approvals_one_pending_idx
    ON deltran.compliance_approvals (check_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS compliance_approvals_check_id_idx
    ON deltran.compliance_approvals (check_id, requested_at);

-- The queue (requires_review=true: awaiting a decision) pages oldest or newest first by
-- compliance_checks_review_queue_idx (started_at, id); riskiest first by this one. A check
-- without a score sorts as -1, below every score.
CREATE INDEX IF NOT EXISTS compliance_checks_queue_risk_idx
    ON deltran.compliance_checks ((coalesce(risk_score, -1)) DESC, id DESC)
    WHERE requires_review AND reviewed_at IS NULL;
-- Every check, riskiest first (sort=riskiest without the queue filter, and min_risk).
CREATE INDEX IF NOT EXISTS compliance_checks_risk_idx
    ON deltran.compliance_checks ((coalesce(risk_score, -1)) DESC, id DESC);
-- matched_list: `matched_lists @> ARRAY[list]`.
CREATE INDEX IF NOT EXISTS compliance_checks_matched_lists_idx
    ON deltran.compliance_checks USING gin (matched_lists);
-- The bank filter goes through the payments' sender and receiver bank indexes, then
-- compliance_checks_payment_id_idx; the case's "earlier checks of the sender bank" likewise.

-- The console changes and removes claims and approvals (default privileges give SELECT and
-- INSERT only).
GRANT SELECT, INSERT, UPDATE, DELETE ON deltran.compliance_claims, deltran.compliance_approvals
TO deltran_runtime;
