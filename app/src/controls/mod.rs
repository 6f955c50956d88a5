//! Controls: freezes, throttles and blocks on accounts, banks, users and API clients, with
//! Postgres (`deltran.rate_limits`) the record and a Redis hash per entity
//! (`{prefix}control:{entity_type}:{entity_id}`) the copy the payment services read on their
//! hot path. Freeze, unfreeze, throttle and lifting a throttle take effect at once; a block and
//! lifting one are requests that someone else approves. Shared by the Controls page, a bank's
//! page, the server functions and the REST API; the rules live in `backend::controls`, the SQL
//! in `backend::db::controls`, the Redis copy in `backend::control_copy`.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{EnumCount, VariantArray};
use uuid::Uuid;

use crate::{components::list::Page, domain::all};

/// What a control can be put on (`rate_limits.entity_type`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum EntityType {
    Account,
    Bank,
    User,
    ApiClient,
}

impl EntityType {
    pub const ALL: [EntityType; EntityType::COUNT] = all(EntityType::VARIANTS);

    /// The database's, the Redis key's and the URL's name: `account`, `bank`, `user`,
    /// `api_client`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A kind of control, in rising severity (`rate_limits.action_type`, and its `limit_type`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ControlKind {
    /// At most `limit_value` payments per `window_seconds`.
    Throttle,
    /// No payments out until unfrozen.
    Freeze,
    /// Nothing at all; takes two people to set and to lift.
    Block,
}

impl ControlKind {
    pub const ALL: [ControlKind; ControlKind::COUNT] = all(ControlKind::VARIANTS);

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What an operator asks for: one of the kinds, set or lifted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    strum::EnumCount,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Verb {
    Freeze,
    Unfreeze,
    Throttle,
    Unthrottle,
    Block,
    Unblock,
}

impl Verb {
    pub const ALL: [Verb; Verb::COUNT] = all(Verb::VARIANTS);

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind of control this sets or lifts.
    pub fn kind(self) -> ControlKind {
        match self {
            Verb::Freeze | Verb::Unfreeze => ControlKind::Freeze,
            Verb::Throttle | Verb::Unthrottle => ControlKind::Throttle,
            Verb::Block | Verb::Unblock => ControlKind::Block,
        }
    }

    /// Whether this lifts a control rather than setting one.
    pub fn lifts(self) -> bool {
        matches!(self, Verb::Unfreeze | Verb::Unthrottle | Verb::Unblock)
    }

    /// Whether it waits for a second person (a block, and lifting one).
    pub fn needs_approval(self) -> bool {
        self.kind() == ControlKind::Block
    }

    /// The verb that lifts a control of `kind`.
    pub fn lifting(kind: ControlKind) -> Verb {
        match kind {
            ControlKind::Throttle => Verb::Unthrottle,
            ControlKind::Freeze => Verb::Unfreeze,
            ControlKind::Block => Verb::Unblock,
        }
    }
}

/// Reasons and notes: at least this many characters, trimmed…
pub const MIN_REASON: usize = 10;
/// …and at most this many.
pub const MAX_REASON: usize = 500;

/// What a control is on, named for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Entity {
    pub entity_type: EntityType,
    pub entity_id: String,
    /// The bank's BIC and name, the account's bank and number, the user's name; the id for an
    /// API client.
    pub label: String,
    /// The bank whose page shows it (a bank's own id, an account's bank).
    pub bank_id: Option<Uuid>,
}

impl Entity {
    /// Where the entity's page is, if it has one.
    pub fn href(&self) -> Option<String> {
        self.bank_id.map(|b| format!("/banks/{b}"))
    }
}

/// An operator's order: set or lift a control (`POST /api/v1/controls`, the Controls form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ControlOrder {
    /// `account`, `bank`, `user` or `api_client`.
    pub entity_type: String,
    /// The account's, bank's or user's id; an API client's own identifier.
    pub entity_id: String,
    /// freeze, unfreeze, throttle, unthrottle, block or unblock.
    pub action: String,
    /// Why, 10 to 500 characters.
    pub reason: String,
    /// When the control lifts itself (freeze, throttle, block; UTC, in the future).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// A throttle's payments per window.
    #[serde(default)]
    pub limit_value: Option<i64>,
    /// A throttle's window, in seconds.
    #[serde(default)]
    pub window_seconds: Option<i64>,
}

/// Whether the Redis copy was written when the action committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum CopyWrite {
    Written,
    /// Redis could not be written; the action stands and reconcile writes the copy.
    Pending,
}

/// What an order came to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ControlOutcome {
    /// In force (or lifted) now.
    Applied { redis: CopyWrite },
    /// Waits for someone else's approval.
    PendingApproval { request_id: Uuid },
}

impl ControlOutcome {
    /// One sentence for the page.
    pub fn describe(&self, verb: Verb, label: &str) -> String {
        match self {
            ControlOutcome::Applied { redis } => {
                let done = match verb {
                    Verb::Freeze => "frozen",
                    Verb::Unfreeze => "unfrozen",
                    Verb::Throttle => "throttled",
                    Verb::Unthrottle => "no longer throttled",
                    Verb::Block => "blocked",
                    Verb::Unblock => "unblocked",
                };
                match redis {
                    CopyWrite::Written => format!("{label} {done}; the Redis copy is written."),
                    CopyWrite::Pending => format!(
                        "{label} {done}. The Redis copy is pending (Redis did not answer); \
                         reconcile writes it."
                    ),
                }
            }
            ControlOutcome::PendingApproval { .. } => format!(
                "Request to {verb} {label} made; it takes effect once another operator approves it."
            ),
        }
    }
}

/// How the Redis copy of an entity's control compares with Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum CopyState {
    InSync,
    /// No key: written later by reconcile.
    Missing,
    /// A key whose fields or TTL are not what Postgres says.
    Different,
    /// A key for an entity with no control in force.
    Stale,
    /// The entity has a more severe control; the key holds that one.
    Covered,
    /// Redis did not answer.
    Unknown,
}

impl CopyState {
    pub fn label(self) -> &'static str {
        match self {
            CopyState::InSync => "in sync",
            CopyState::Missing => "missing",
            CopyState::Different => "different",
            CopyState::Stale => "stale",
            CopyState::Covered => "covered by a stronger control",
            CopyState::Unknown => "Redis unavailable",
        }
    }
}

/// A control in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Control {
    pub id: Uuid,
    pub entity: Entity,
    pub kind: ControlKind,
    pub reason: Option<String>,
    /// Who set it (for a block: who asked for it).
    pub set_by: Option<String>,
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    /// A throttle's payments per window.
    pub limit_value: Option<i64>,
    pub window_seconds: Option<i32>,
    /// Its Redis copy, read live.
    pub redis: CopyState,
    /// The copy's time to live in seconds (none: no expiry, or no key).
    pub redis_ttl: Option<i64>,
}

/// A block or unblock waiting for a second person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ControlRequest {
    pub id: Uuid,
    pub entity: Entity,
    /// block or unblock.
    pub verb: Verb,
    pub reason: String,
    pub requested_by: Option<String>,
    pub requested_by_id: Uuid,
    pub requested_at: DateTime<Utc>,
    /// Undecided by then, it expires.
    pub expires_at: DateTime<Utc>,
    /// When the block, once approved, lifts itself.
    pub block_until: Option<DateTime<Utc>>,
}

/// A rate limit (a throttle's, or a standing one) with its live counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RateLimit {
    pub id: Uuid,
    pub entity: Entity,
    pub limit_type: String,
    pub limit_value: i64,
    pub window_seconds: i32,
    /// Set by an operator's throttle rather than standing configuration.
    pub throttle: bool,
    /// `{prefix}ratelimit:{entity_type}:{entity_id}:{limit_type}` now (none: no key, or Redis
    /// unavailable).
    pub count: Option<i64>,
    /// Seconds left in the current window.
    pub window_left: Option<i64>,
}

/// A circuit breaker of a payment service, as Redis holds it
/// (`{prefix}circuit:{service}`: `state`, `failures`, `opened_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Circuit {
    pub service: String,
    /// closed, open or half_open (as written by the service).
    pub state: String,
    pub failures: Option<i64>,
    pub opened_at: Option<String>,
}

/// What an idempotency key names: Redis' copy (`{prefix}idempotency:{key}`: the payment's id
/// and status) beside the payment Postgres holds under that key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IdempotencyRecord {
    pub key: String,
    /// The payment id Redis holds, if the key is there.
    pub redis_payment_id: Option<String>,
    pub redis_status: Option<String>,
    /// Seconds until Redis forgets the key.
    pub ttl: Option<i64>,
    /// The payment Postgres holds with this key.
    pub payment_id: Option<Uuid>,
    pub payment_reference: Option<String>,
    pub payment_status: Option<String>,
}

impl IdempotencyRecord {
    /// Whether Redis and Postgres name the same payment in the same status.
    pub fn agrees(&self) -> bool {
        self.redis_payment_id.as_deref() == self.payment_id.map(|p| p.to_string()).as_deref()
            && (self.redis_status.is_none() || self.redis_status == self.payment_status)
    }
}

/// The Controls page: what is in force, what waits for approval, the rate limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ControlsOverview {
    pub controls: Vec<Control>,
    pub requests: Vec<ControlRequest>,
    pub rate_limits: Vec<RateLimit>,
    /// The payment services' circuit breakers.
    pub circuits: Vec<Circuit>,
    /// Redis answered while the copies were read.
    pub redis_up: bool,
}

/// One difference reconcile found between Postgres and a Redis copy, and repaired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Drift {
    /// The Redis key.
    pub key: String,
    /// missing, different or stale.
    pub state: CopyState,
    /// What differed.
    pub detail: String,
}

/// What a reconcile run found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReconcileReport {
    /// Entities with a control in force.
    pub entities: i64,
    /// `control:*` keys found in Redis.
    pub keys: i64,
    /// Every copy it wrote or removed.
    pub repaired: Vec<Drift>,
}

impl ReconcileReport {
    pub fn describe(&self) -> String {
        match self.repaired.len() {
            0 => format!(
                "All {} Redis copies are in sync ({} keys checked).",
                self.entities, self.keys
            ),
            n => format!(
                "Repaired {n} Redis {}: {}.",
                if n == 1 { "copy" } else { "copies" },
                self.repaired
                    .iter()
                    .map(|d| format!("{} ({})", d.key, d.state.label()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The actions of the history (after `control.`).
pub const HISTORY_ACTIONS: [&str; 13] = [
    "freeze",
    "unfreeze",
    "throttle",
    "unthrottle",
    "block",
    "unblock",
    "block_requested",
    "unblock_requested",
    "request_rejected",
    "request_expired",
    "expire",
    "reconcile",
    "circuit_reset",
];

/// A row of the controls' history: the audit rows of every control action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HistoryRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_name: String,
    /// `control.freeze`, `control.block_requested`, `control.expire`, …
    pub action: String,
    /// `{entity_type}:{entity_id}`.
    pub resource_id: Option<String>,
    pub result: String,
    pub reason: Option<String>,
}

/// The history's filters as the URL holds them (and `GET /api/v1/controls/history` takes
/// them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub entity_type: Option<String>,
    /// The entity's id, exactly.
    pub entity_id: Option<String>,
    /// An action: `freeze`, `unfreeze`, … (without `control.`).
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub after: Option<String>,
}

crate::list_query!(HistoryQuery, "/controls/history");

/// A page of the history, and how many rows match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryList {
    pub page: Page<HistoryRow>,
    pub total: crate::components::list::Total,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_name_their_kind_and_which_need_two_people() {
        assert_eq!(Verb::Unfreeze.kind(), ControlKind::Freeze);
        assert!(Verb::Unthrottle.lifts() && !Verb::Throttle.lifts());
        let two: Vec<Verb> = Verb::ALL
            .into_iter()
            .filter(|v| v.needs_approval())
            .collect();
        assert_eq!(two, [Verb::Block, Verb::Unblock]);
        for kind in ControlKind::ALL {
            assert_eq!(Verb::lifting(kind).kind(), kind);
        }
        assert!(ControlKind::Block > ControlKind::Freeze);
        assert!(ControlKind::Freeze > ControlKind::Throttle);
    }

    #[test]
    fn names_are_the_contracts() {
        assert_eq!(EntityType::ApiClient.as_str(), "api_client");
        assert_eq!(
            "api_client".parse::<EntityType>(),
            Ok(EntityType::ApiClient)
        );
        assert_eq!(Verb::Unblock.as_str(), "unblock");
        assert!("lift".parse::<Verb>().is_err());
    }
}
