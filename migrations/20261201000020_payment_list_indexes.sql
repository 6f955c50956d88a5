-- DelTran Console: indexes of the Payments list's search box and its "largest first" order.

-- q= finds a payment by the start of its reference, idempotency key or SWIFT message id
-- (LIKE 'x%'): text_pattern_ops B-trees serve a prefix whatever the database's collation.
CREATE INDEX IF NOT EXISTS payments_reference_prefix_idx
    ON deltran.payments (payment_reference text_pattern_ops);
CREATE INDEX IF NOT EXISTS payments_idempotency_key_prefix_idx
    ON deltran.payments (idempotency_key text_pattern_ops) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_swift_message_id_prefix_idx
    ON deltran.payments (swift_message_id text_pattern_ops) WHERE swift_message_id IS NOT NULL;

-- sort=largest pages by (amount DESC, id DESC); this index also serves min/max amount, so it
-- replaces the plain one on amount.
CREATE INDEX IF NOT EXISTS payments_amount_id_idx ON deltran.payments (amount DESC, id DESC);
DROP INDEX IF EXISTS deltran.payments_amount_idx;

-- The search box finds by prefix (above), so the trigram index on the reference, which served
-- a substring search nothing offers any more, only slowed every insert.
DROP INDEX IF EXISTS deltran.payments_reference_search_idx;
