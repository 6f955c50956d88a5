//! The SQL of the controls area: controls in force (`deltran.rate_limits` rows with an
//! action), setting and lifting them, the four-eyes requests (`deltran.control_requests`),
//! the rate limits, the expiry of both, and the history list (the audit rows of
//! `resource_type = 'control'`). Entities are named through `deltran.v_control_entities`.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::list::KeysetList;
use crate::{
    audit::AuditCursor,
    auth::Permission,
    components::list::time_range,
    controls::{ControlKind, EntityType, HistoryQuery, HistoryRow, Verb, HISTORY_ACTIONS},
    error::FieldErrors,
};

/// A control in force, as stored (`backend::controls` adds the Redis copy's state).
#[derive(Debug, Clone)]
pub struct ControlRow {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: String,
    pub kind: String,
    pub reason: Option<String>,
    pub set_by: Option<String>,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub limit_value: i64,
    pub window_seconds: i32,
    pub label: Option<String>,
    pub bank_id: Option<Uuid>,
}

/// What an entity is called, and the bank whose page shows it; `None` when no such entity.
pub async fn entity(
    db: &PgPool,
    entity_type: EntityType,
    entity_id: &str,
) -> sqlx::Result<Option<(String, Option<Uuid>)>> {
    Ok(sqlx::query!(
        r#"SELECT label AS "label!", bank_id FROM deltran.v_control_entities
           WHERE entity_type = $1 AND entity_id = $2"#,
        entity_type.as_str(),
        entity_id,
    )
    .fetch_optional(db)
    .await?
    .map(|r| (r.label, r.bank_id)))
}

/// Every control in force (not lifted, not past its expiry), or those of one entity; by
/// entity, the most severe first.
pub async fn in_force(
    db: &PgPool,
    only: Option<(EntityType, &str)>,
) -> sqlx::Result<Vec<ControlRow>> {
    let (entity_type, entity_id) = only.map(|(t, id)| (t.as_str(), id)).unzip();
    sqlx::query_as!(
        ControlRow,
        r#"SELECT r.id, r.entity_type, r.entity_id, r.action_type::text AS "kind!", r.reason,
                  u.username AS "set_by?", r.created_at AS since, r.action_expires_at AS until,
                  r.limit_value, r.window_seconds, e.label AS "label?", e.bank_id AS "bank_id?"
           FROM deltran.rate_limits r
           LEFT JOIN deltran.users u ON u.id = r.created_by
           LEFT JOIN deltran.v_control_entities e
                  ON e.entity_type = r.entity_type AND e.entity_id = r.entity_id
           WHERE r.is_active AND r.action_type IN ('freeze', 'throttle', 'block')
             AND (r.action_expires_at IS NULL OR r.action_expires_at > now())
             AND ($1::text IS NULL OR (r.entity_type = $1 AND r.entity_id = $2))
           ORDER BY r.entity_type, r.entity_id,
                    array_position(ARRAY['block', 'freeze', 'throttle'], r.action_type::text),
                    r.id"#,
        entity_type,
        entity_id,
    )
    .fetch_all(db)
    .await
}

/// What a new control holds.
#[derive(Debug, Clone)]
pub struct NewControl<'a> {
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub kind: ControlKind,
    pub reason: &'a str,
    pub until: Option<DateTime<Utc>>,
    pub limit_value: i64,
    pub window_seconds: i32,
    pub set_by: Uuid,
}

/// Puts the control in force and returns its id; `None` when one of its kind already is (a
/// throttle instead takes the new limit, window, reason and expiry).
pub async fn set(
    tx: &mut Transaction<'_, Postgres>,
    c: &NewControl<'_>,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"INSERT INTO deltran.rate_limits AS r
               (entity_type, entity_id, limit_type, limit_value, window_seconds, action_type,
                action_expires_at, reason, created_by)
           VALUES ($1, $2, $3, $4, $5, $3::text::deltran.action_type, $6, $7, $8)
           ON CONFLICT (entity_type, entity_id, limit_type) DO UPDATE
           SET limit_value = EXCLUDED.limit_value, window_seconds = EXCLUDED.window_seconds,
               action_type = EXCLUDED.action_type, action_expires_at = EXCLUDED.action_expires_at,
               reason = EXCLUDED.reason, created_by = EXCLUDED.created_by, is_active = true,
               current_count = 0, window_start = now(), created_at = now()
           WHERE NOT r.is_active OR r.action_expires_at <= now() OR r.limit_type = 'throttle'
           RETURNING r.id"#,
        c.entity_type.as_str(),
        c.entity_id,
        c.kind.as_str(),
        c.limit_value,
        c.window_seconds,
        c.until,
        c.reason,
        c.set_by,
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Lifts the entity's control of `kind`; its id, or `None` when none was in force.
pub async fn lift(
    tx: &mut Transaction<'_, Postgres>,
    entity_type: EntityType,
    entity_id: &str,
    kind: ControlKind,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"UPDATE deltran.rate_limits SET is_active = false
           WHERE entity_type = $1 AND entity_id = $2 AND limit_type = $3
             AND action_type IS NOT NULL AND is_active
             AND (action_expires_at IS NULL OR action_expires_at > now())
           RETURNING id"#,
        entity_type.as_str(),
        entity_id,
        kind.as_str(),
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Whether the entity has a control of `kind` in force.
pub async fn has(
    db: &PgPool,
    entity_type: EntityType,
    entity_id: &str,
    kind: ControlKind,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM deltran.rate_limits
             WHERE entity_type = $1 AND entity_id = $2 AND limit_type = $3
               AND action_type IS NOT NULL AND is_active
               AND (action_expires_at IS NULL OR action_expires_at > now())) AS "has!""#,
        entity_type.as_str(),
        entity_id,
        kind.as_str(),
    )
    .fetch_one(db)
    .await
}

/// A control lifted by the clock.
#[derive(Debug, Clone)]
pub struct Expired {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: String,
    pub kind: String,
    pub until: Option<DateTime<Utc>>,
}

/// Lifts every control whose expiry has passed; what it lifted.
pub async fn lift_expired(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Vec<Expired>> {
    sqlx::query_as!(
        Expired,
        r#"UPDATE deltran.rate_limits SET is_active = false
           WHERE is_active AND action_type IS NOT NULL AND action_expires_at <= now()
           RETURNING id, entity_type, entity_id, action_type::text AS "kind!",
                     action_expires_at AS until"#
    )
    .fetch_all(&mut **tx)
    .await
}

/// A block or unblock request, as stored.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: String,
    pub operation: String,
    pub reason: String,
    pub requested_by: Uuid,
    pub requester: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub block_until: Option<String>,
    pub label: Option<String>,
    pub bank_id: Option<Uuid>,
}

/// The `operation` a request stores for `verb`: `apply` (block) or `lift` (unblock).
pub fn operation(verb: Verb) -> &'static str {
    if verb.lifts() {
        "lift"
    } else {
        "apply"
    }
}

/// A block or unblock request, to file.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    /// block or unblock.
    pub verb: Verb,
    pub reason: &'a str,
    /// When the block, once approved, lifts itself.
    pub block_until: Option<DateTime<Utc>>,
    pub requested_by: Uuid,
    /// Undecided this many hours after it was made, it expires.
    pub expires_after_hours: i32,
}

/// Files a request; the unique violation of `control_requests_one_pending_key` when one is
/// already pending for the same entity and operation.
pub async fn request(tx: &mut Transaction<'_, Postgres>, r: &NewRequest<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar!(
        r#"INSERT INTO deltran.control_requests
               (entity_type, entity_id, action, operation, params, reason, requested_by, expires_at)
           VALUES ($1, $2, 'block', $3,
                   jsonb_strip_nulls(jsonb_build_object('expires_at', $4::timestamptz)),
                   $5, $6, now() + make_interval(hours => $7))
           RETURNING id"#,
        r.entity_type.as_str(),
        r.entity_id,
        operation(r.verb),
        r.block_until,
        r.reason,
        r.requested_by,
        r.expires_after_hours,
    )
    .fetch_one(&mut **tx)
    .await
}

/// The pending requests (not past their expiry), oldest first.
pub async fn pending_requests(db: &PgPool) -> sqlx::Result<Vec<RequestRow>> {
    sqlx::query_as!(
        RequestRow,
        r#"SELECT q.id, q.entity_type, q.entity_id, q.operation, q.reason, q.requested_by,
                  u.username AS "requester?", q.requested_at, q.expires_at,
                  q.params->>'expires_at' AS block_until,
                  e.label AS "label?", e.bank_id AS "bank_id?"
           FROM deltran.control_requests q
           LEFT JOIN deltran.users u ON u.id = q.requested_by
           LEFT JOIN deltran.v_control_entities e
                  ON e.entity_type = q.entity_type AND e.entity_id = q.entity_id
           WHERE q.status = 'pending' AND q.expires_at > now()
           ORDER BY q.requested_at, q.id"#
    )
    .fetch_all(db)
    .await
}

/// The pending request `id` (not past its expiry), locked until the transaction ends;
/// `None` when there is none (or no longer).
pub async fn lock_request(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as!(
        RequestRow,
        r#"SELECT q.id, q.entity_type, q.entity_id, q.operation, q.reason, q.requested_by,
                  u.username AS "requester?", q.requested_at, q.expires_at,
                  q.params->>'expires_at' AS block_until,
                  e.label AS "label?", e.bank_id AS "bank_id?"
           FROM deltran.control_requests q
           LEFT JOIN deltran.users u ON u.id = q.requested_by
           LEFT JOIN deltran.v_control_entities e
                  ON e.entity_type = q.entity_type AND e.entity_id = q.entity_id
           WHERE q.status = 'pending' AND q.expires_at > now() AND q.id = $1
           FOR UPDATE OF q"#,
        id
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Records the decision (`approved` or `rejected`) on a locked pending request.
pub async fn decide(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
    decided_by: Uuid,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.control_requests \
         SET status = $2, decided_by = $3, decided_at = now(), decision_note = $4 \
         WHERE id = $1 AND status = 'pending'",
        id,
        status,
        decided_by,
        note,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A request nobody decided in time.
#[derive(Debug, Clone)]
pub struct ExpiredRequest {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: String,
    pub operation: String,
}

/// Marks the pending requests past their expiry `expired`; which.
pub async fn expire_requests(
    tx: &mut Transaction<'_, Postgres>,
) -> sqlx::Result<Vec<ExpiredRequest>> {
    sqlx::query_as!(
        ExpiredRequest,
        "UPDATE deltran.control_requests SET status = 'expired', decided_at = now() \
         WHERE status = 'pending' AND expires_at <= now() \
         RETURNING id, entity_type, entity_id, operation"
    )
    .fetch_all(&mut **tx)
    .await
}

/// A rate limit in force, a throttle's or a standing one.
#[derive(Debug, Clone)]
pub struct LimitRow {
    pub id: Uuid,
    pub entity_type: String,
    pub entity_id: String,
    pub limit_type: String,
    pub limit_value: i64,
    pub window_seconds: i32,
    pub throttle: bool,
    pub label: Option<String>,
    pub bank_id: Option<Uuid>,
}

/// Every rate limit in force (throttles first), by entity.
pub async fn rate_limits(db: &PgPool) -> sqlx::Result<Vec<LimitRow>> {
    sqlx::query_as!(
        LimitRow,
        r#"SELECT r.id, r.entity_type, r.entity_id, r.limit_type, r.limit_value, r.window_seconds,
                  (r.action_type IS NOT NULL) AS "throttle!", e.label AS "label?",
                  e.bank_id AS "bank_id?"
           FROM deltran.rate_limits r
           LEFT JOIN deltran.v_control_entities e
                  ON e.entity_type = r.entity_type AND e.entity_id = r.entity_id
           WHERE r.is_active AND (r.action_type IS NULL OR r.action_type = 'throttle')
             AND (r.action_expires_at IS NULL OR r.action_expires_at > now())
           ORDER BY r.action_type IS NULL, r.entity_type, r.entity_id, r.limit_type"#
    )
    .fetch_all(db)
    .await
}

/// The controls' history (`db::list`): the audit rows about controls, newest first.
pub struct ControlHistory;

/// The history's checked filters.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub resource: Option<String>,
    pub entity_type: Option<EntityType>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl KeysetList for ControlHistory {
    type Query = HistoryQuery;
    type Filter = HistoryFilter;
    type Key = AuditCursor;
    type Row = HistoryRow;

    const PERMISSION: Permission = Permission::ControlsView;
    const SELECT: &'static str = "SELECT id, \"timestamp\" AS at, actor_name, action, \
         resource_id, result, metadata->>'reason' AS reason \
         FROM deltran.audit_log WHERE resource_type = 'control'";

    fn filter(query: &HistoryQuery, refused: &mut FieldErrors) -> HistoryFilter {
        let (from, to) = time_range(refused, &query.from, &query.to);
        let entity_type = refused.check("entity_type", &query.entity_type, |t| {
            t.parse::<EntityType>()
                .map_err(|_| "one of account, bank, user, api_client".to_string())
        });
        let entity_id = refused.check("entity_id", &query.entity_id, |id| {
            (id.chars().count() <= 100)
                .then(|| id.to_lowercase())
                .ok_or_else(|| "at most 100 characters".to_string())
        });
        if entity_id.is_some() && entity_type.is_none() && query.entity_type.is_none() {
            refused.refuse("entity_type", "give the entity's type with its id");
        }
        HistoryFilter {
            resource: entity_type
                .zip(entity_id)
                .map(|(t, id)| format!("{}:{id}", t.as_str())),
            entity_type,
            action: refused.check("action", &query.action, |a| {
                HISTORY_ACTIONS
                    .contains(&a)
                    .then(|| format!("control.{a}"))
                    .ok_or_else(|| format!("one of {}", HISTORY_ACTIONS.join(", ")))
            }),
            from,
            to,
        }
    }

    fn after(query: &HistoryQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(f: &HistoryFilter, q: &mut QueryBuilder<Postgres>) {
        match (&f.resource, f.entity_type) {
            (Some(resource), _) => {
                q.push(" AND resource_id = ").push_bind(resource.clone());
            }
            (None, Some(t)) => {
                q.push(" AND resource_id LIKE ")
                    .push_bind(format!("{}:%", t.as_str()));
            }
            (None, None) => {}
        }
        if let Some(action) = &f.action {
            q.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(from) = f.from {
            q.push(" AND \"timestamp\" >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND \"timestamp\" < ").push_bind(to);
        }
    }

    fn order_by(_: &HistoryFilter) -> &'static str {
        "\"timestamp\" DESC, id DESC"
    }

    fn key(row: &HistoryRow, _: &HistoryFilter) -> AuditCursor {
        AuditCursor {
            timestamp: row.at,
            id: row.id,
        }
    }

    fn encode(key: &AuditCursor) -> String {
        key.encode()
    }

    fn decode(text: &str, _: &HistoryFilter) -> Option<AuditCursor> {
        AuditCursor::decode(text)
    }

    fn push_after(c: &AuditCursor, q: &mut QueryBuilder<Postgres>) {
        super::audit::push_after(c, q)
    }
}
