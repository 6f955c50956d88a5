-- DelTran Console: four-eyes approvals (domain.md §2 "Four eyes").
-- A block, and lifting a block, takes two people; so does raising a user to admin.
-- The database enforces "nobody decides their own request"; the application
-- enforces who may decide (controls.approve / admin).

CREATE TABLE IF NOT EXISTS deltran.control_requests (
    id           uuid                NOT NULL DEFAULT gen_random_uuid(),
    entity_type  text                NOT NULL,
    entity_id    text                NOT NULL,
    action       deltran.action_type NOT NULL,
    operation    text                NOT NULL DEFAULT 'apply',
    params       jsonb               NOT NULL DEFAULT '{}'::jsonb,
    reason       text                NOT NULL,
    requested_by uuid                NOT NULL,
    requested_at timestamptz         NOT NULL DEFAULT now(),
    status       text                NOT NULL DEFAULT 'pending',
    decided_by   uuid,
    decided_at   timestamptz,
    decision_note text,
    CONSTRAINT control_requests_pkey PRIMARY KEY (id),
    CONSTRAINT control_requests_entity_type_check CHECK (entity_type IN ('account', 'bank', 'user', 'api_client')),
    CONSTRAINT control_requests_entity_id_check CHECK (btrim(entity_id) <> ''),
    CONSTRAINT control_requests_operation_check CHECK (operation IN ('apply', 'lift')),
    CONSTRAINT control_requests_reason_check CHECK (btrim(reason) <> ''),
    CONSTRAINT control_requests_status_check CHECK (status IN ('pending', 'approved', 'rejected')),
    CONSTRAINT control_requests_decision_pair CHECK (
        (status = 'pending' AND decided_by IS NULL AND decided_at IS NULL)
        OR (status <> 'pending' AND decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    CONSTRAINT control_requests_four_eyes CHECK (decided_by <> requested_by),
    CONSTRAINT control_requests_params_object CHECK (jsonb_typeof(params) = 'object'),
    CONSTRAINT control_requests_requested_by_fkey FOREIGN KEY (requested_by) REFERENCES deltran.users (id),
    CONSTRAINT control_requests_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES deltran.users (id)
);
COMMENT ON TABLE deltran.control_requests IS 'Four-eyes requests for controls: operation apply|lift of an action (block) on an entity. decided_by <> requested_by.';
COMMENT ON COLUMN deltran.control_requests.params IS 'The control to apply once approved: expires_at, limit_value, window_seconds, ...';

-- At most one pending request for the same control on the same entity.
CREATE UNIQUE INDEX IF NOT EXISTS control_requests_one_pending_key
    ON deltran.control_requests (entity_type, entity_id, action, operation)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS control_requests_status_idx
    ON deltran.control_requests (status, requested_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS control_requests_entity_idx
    ON deltran.control_requests (entity_type, entity_id, requested_at DESC);

CREATE TABLE IF NOT EXISTS deltran.role_change_requests (
    id           uuid              NOT NULL DEFAULT gen_random_uuid(),
    user_id      uuid              NOT NULL,
    from_role    deltran.user_role NOT NULL,
    to_role      deltran.user_role NOT NULL,
    reason       text              NOT NULL,
    requested_by uuid              NOT NULL,
    requested_at timestamptz       NOT NULL DEFAULT now(),
    status       text              NOT NULL DEFAULT 'pending',
    decided_by   uuid,
    decided_at   timestamptz,
    decision_note text,
    CONSTRAINT role_change_requests_pkey PRIMARY KEY (id),
    CONSTRAINT role_change_requests_roles_differ CHECK (from_role <> to_role),
    CONSTRAINT role_change_requests_reason_check CHECK (btrim(reason) <> ''),
    CONSTRAINT role_change_requests_status_check CHECK (status IN ('pending', 'approved', 'rejected')),
    CONSTRAINT role_change_requests_decision_pair CHECK (
        (status = 'pending' AND decided_by IS NULL AND decided_at IS NULL)
        OR (status <> 'pending' AND decided_by IS NOT NULL AND decided_at IS NOT NULL)),
    CONSTRAINT role_change_requests_four_eyes CHECK (decided_by <> requested_by),
    CONSTRAINT role_change_requests_not_self_decided CHECK (decided_by <> user_id),
    CONSTRAINT role_change_requests_user_id_fkey FOREIGN KEY (user_id) REFERENCES deltran.users (id),
    CONSTRAINT role_change_requests_requested_by_fkey FOREIGN KEY (requested_by) REFERENCES deltran.users (id),
    CONSTRAINT role_change_requests_decided_by_fkey FOREIGN KEY (decided_by) REFERENCES deltran.users (id)
);
COMMENT ON TABLE deltran.role_change_requests IS 'Four-eyes requests to change a user''s role (required for raising a user to admin). decided_by differs from requested_by and from the user.';

CREATE UNIQUE INDEX IF NOT EXISTS role_change_requests_one_pending_key
    ON deltran.role_change_requests (user_id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS role_change_requests_status_idx
    ON deltran.role_change_requests (status, requested_at DESC, id DESC);
