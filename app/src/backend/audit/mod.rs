//! The audit trail's write side: the one way to append an audit row, and the hash chain.
//!
//! Every row's `event_hash` is SHA-256 over its canonical encoding (below), which includes
//! the previous row's hash, so editing, removing or reordering any row breaks the chain from
//! there on. Appends take the next id from `deltran.audit_head`, whose single row is locked by
//! the appending transaction: the chain stays one line under any concurrency, ids have no
//! gaps, and the lock lasts exactly as long as the inserting transaction.
//!
//! # Canonical encoding, version 1
//!
//! The bytes `deltran-audit-v1` and a zero byte, then these fields in this order, each as
//! `0x00` when NULL, or `0x01`, its length as a big-endian u32 and its UTF-8 bytes:
//! id (decimal), event_id (lower-case hyphenated UUID), event_type, severity, actor_id (UUID),
//! actor_type, actor_name, action, resource_type, resource_id, result, error_message,
//! ip_address (Postgres `inet` text form, e.g. `10.0.0.1` or `::1`), user_agent, request_id,
//! metadata (the text Postgres gives for the `jsonb` value: keys ordered by length then bytes,
//! `": "` and `", "` separators), timestamp (UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, microseconds),
//! previous_hash (64 lower-case hex digits; 64 zeros before the first row).

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{context::RequestContext, db::audit::chain};

pub mod anchor;
pub mod export;
pub mod partitions;
pub mod verify;
pub mod verify_job;

/// The hash that stands before the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit row's `result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    /// `success`, `failure` or `denied`, as stored.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How much an event matters; the names are the `audit_log_severity_check` constraint's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Severity {
    Info,
    Notice,
    Warning,
    Critical,
}

/// What kind of actor did it; the names are the `audit_log_actor_type_check` constraint's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum ActorKind {
    User,
    System,
    ApiClient,
}

/// Who did it.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub kind: ActorKind,
    pub name: String,
}

impl Actor {
    pub fn system(name: &str) -> Self {
        Actor {
            id: None,
            kind: ActorKind::System,
            name: name.to_string(),
        }
    }

    pub fn user(id: Uuid, username: &str) -> Self {
        Actor {
            id: Some(id),
            kind: ActorKind::User,
            name: username.to_string(),
        }
    }
}

/// What a caller says about an event; the request context and the chain fill in the rest.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub actor: Actor,
    /// `<area>.<verb>`, e.g. `user.create`, `payment.cancel`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub result: Outcome,
    pub severity: Severity,
    pub error_message: Option<String>,
    pub metadata: Value,
}

impl AuditEvent {
    pub fn new(
        actor: Actor,
        action: &str,
        resource_type: &str,
        resource_id: Option<String>,
    ) -> Self {
        AuditEvent {
            actor,
            action: action.to_string(),
            resource_type: resource_type.to_string(),
            resource_id,
            result: Outcome::Success,
            severity: Severity::Info,
            error_message: None,
            metadata: Value::Object(Default::default()),
        }
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn outcome(mut self, result: Outcome, error: Option<String>) -> Self {
        self.result = result;
        self.error_message = error;
        self
    }
}

pub use crate::audit::AuditRow;

impl AuditRow {
    /// Builds the row that follows `previous` (id and hash), computing its hash.
    pub fn build(
        id: i64,
        previous_hash: &str,
        event: &AuditEvent,
        ctx: &RequestContext,
        timestamp: DateTime<Utc>,
    ) -> Self {
        let mut metadata = event.metadata.clone();
        if let (Some(client), Value::Object(map)) = (&ctx.client_request_id, &mut metadata) {
            map.entry("client_request_id")
                .or_insert_with(|| Value::String(client.clone()));
        }
        let mut row = AuditRow {
            id,
            event_id: Uuid::new_v4(),
            event_type: event
                .action
                .split('.')
                .next()
                .unwrap_or("event")
                .to_string(),
            severity: <&str>::from(event.severity).to_string(),
            actor_id: event.actor.id,
            actor_type: <&str>::from(event.actor.kind).to_string(),
            actor_name: event.actor.name.clone(),
            action: event.action.clone(),
            resource_type: event.resource_type.clone(),
            resource_id: event.resource_id.clone(),
            result: event.result.as_str().to_string(),
            error_message: event.error_message.clone(),
            ip_address: ctx.ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            request_id: (!ctx.request_id.is_empty()).then(|| ctx.request_id.clone()),
            metadata: jsonb_text(&metadata),
            previous_hash: previous_hash.to_string(),
            event_hash: String::new(),
            // Postgres keeps microseconds: hash exactly what will be read back.
            timestamp: timestamp.trunc_subsecs(6),
        };
        row.event_hash = row.compute_hash();
        row
    }

    /// SHA-256 of the canonical encoding, in lower-case hex.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        self.encode_into(&mut h);
        hex::encode(h.finalize())
    }

    /// Feeds the canonical encoding (version 1, see the module docs) into `h`.
    pub fn encode_into(&self, h: &mut Sha256) {
        self.fields().encode_into(h);
    }

    /// The row's fields as the canonical encoding sees them.
    pub fn fields(&self) -> CanonicalFields<'_> {
        CanonicalFields {
            id: self.id,
            event_id: self.event_id,
            event_type: Some(&self.event_type),
            severity: Some(&self.severity),
            actor_id: self.actor_id,
            actor_type: Some(&self.actor_type),
            actor_name: Some(&self.actor_name),
            action: Some(&self.action),
            resource_type: Some(&self.resource_type),
            resource_id: self.resource_id.as_deref(),
            result: Some(&self.result),
            error_message: self.error_message.as_deref(),
            ip_address: self.ip_address.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            metadata: Some(&self.metadata),
            timestamp: self.timestamp,
            previous_hash: Some(&self.previous_hash),
        }
    }
}

/// Borrowed fields of one row, in the order of the canonical encoding. Text columns are
/// `Option` because the reading side (verification) must hash a NULL that was put where the
/// writer never puts one, rather than fail to decode it: it then shows as a hash mismatch.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalFields<'a> {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub actor_id: Option<Uuid>,
    pub actor_type: Option<&'a str>,
    pub actor_name: Option<&'a str>,
    pub action: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub result: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub metadata: Option<&'a str>,
    pub timestamp: DateTime<Utc>,
    pub previous_hash: Option<&'a str>,
}

impl CanonicalFields<'_> {
    /// Feeds the canonical encoding (version 1) into `h` without allocating: verification
    /// hashes millions of rows.
    pub fn encode_into(&self, h: &mut Sha256) {
        fn text(v: Option<&str>) -> Option<&[u8]> {
            v.map(str::as_bytes)
        }
        fn field(h: &mut Sha256, v: Option<&[u8]>) {
            match v {
                None => h.update([0u8]),
                Some(s) => {
                    h.update([1u8]);
                    h.update((s.len() as u32).to_be_bytes());
                    h.update(s);
                }
            }
        }
        h.update(b"deltran-audit-v1\0");
        let mut id_buf = [0u8; 20];
        field(h, Some(decimal(self.id, &mut id_buf)));
        let mut uuid_buf = [0u8; 36];
        field(
            h,
            Some(
                self.event_id
                    .hyphenated()
                    .encode_lower(&mut uuid_buf)
                    .as_bytes(),
            ),
        );
        field(h, text(self.event_type));
        field(h, text(self.severity));
        let mut actor_buf = [0u8; 36];
        field(
            h,
            self.actor_id
                .map(|u| u.hyphenated().encode_lower(&mut actor_buf).as_bytes() as &[u8]),
        );
        field(h, text(self.actor_type));
        field(h, text(self.actor_name));
        field(h, text(self.action));
        field(h, text(self.resource_type));
        field(h, text(self.resource_id));
        field(h, text(self.result));
        field(h, text(self.error_message));
        field(h, text(self.ip_address));
        field(h, text(self.user_agent));
        field(h, text(self.request_id));
        field(h, text(self.metadata));
        field(h, Some(&timestamp_text(self.timestamp)));
        field(h, text(self.previous_hash));
    }

    /// SHA-256 of the canonical encoding.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        self.encode_into(&mut h);
        h.finalize().into()
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let negative = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), as chrono's
/// `%Y-%m-%dT%H:%M:%S%.6fZ` prints years 0 to 9999.
fn timestamp_text(t: DateTime<Utc>) -> [u8; 27] {
    use chrono::Timelike;
    let d = t.date_naive();
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for k in (at..at + width).rev() {
            out[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, d.year().clamp(0, 9999) as u32);
    put(5, 2, d.month());
    put(8, 2, d.day());
    put(11, 2, t.hour());
    put(14, 2, t.minute());
    // A leap second shows as :60 in chrono's formatting too.
    let nanos = t.nanosecond();
    put(17, 2, t.second() + nanos / 1_000_000_000);
    put(20, 6, (nanos % 1_000_000_000) / 1_000);
    out
}

/// Appends one audit row in a transaction of its own and commits it: for what changes nothing
/// but must be on record before it happens (an export, before its first byte).
pub async fn record_alone(db: &sqlx::PgPool, event: AuditEvent) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    record(&mut tx, event).await?;
    tx.commit().await
}

/// Appends one audit row inside the caller's transaction: the change and its audit row
/// commit together or not at all. Request id, client address and user agent come from the
/// current request context.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    event: AuditEvent,
) -> sqlx::Result<AuditRow> {
    append(tx, &event, &RequestContext::current()).await
}

/// Appends with an explicit context (the CLI and jobs have no request).
pub async fn append(
    conn: &mut PgConnection,
    event: &AuditEvent,
    ctx: &RequestContext,
) -> sqlx::Result<AuditRow> {
    // Taking the next id locks the head row until this transaction ends.
    let (id, previous) = chain::next(conn).await?;
    let row = AuditRow::build(id, &previous, event, ctx, Utc::now());
    chain::insert(conn, &row).await?;
    chain::set_head(conn, &row.event_hash).await?;
    Ok(row)
}

/// The text Postgres prints for a `jsonb` value: object keys ordered by length, then by
/// bytes; `": "` after keys and `", "` between items. Numbers are printed as given, so audit
/// metadata keeps to integers and strings (floats would print differently in Postgres).
pub fn jsonb_text(v: &Value) -> String {
    let mut out = String::new();
    write_jsonb(v, &mut out);
    out
}

fn write_jsonb(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| {
                a.len()
                    .cmp(&b.len())
                    .then_with(|| a.as_bytes().cmp(b.as_bytes()))
            });
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_jsonb(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jsonb_text_orders_keys_like_postgres() {
        let v = json!({"bb": 1, "a": [1, "x"], "ccc": {"z": null, "yy": true}});
        assert_eq!(
            jsonb_text(&v),
            r#"{"a": [1, "x"], "bb": 1, "ccc": {"z": null, "yy": true}}"#
        );
        assert_eq!(jsonb_text(&json!({})), "{}");
        assert_eq!(jsonb_text(&json!({"q": "a\"b\n"})), r#"{"q": "a\"b\n"}"#);
    }

    #[test]
    fn the_hash_covers_every_field_and_the_previous_hash() {
        let ev = AuditEvent::new(
            Actor::system("seed"),
            "user.create",
            "user",
            Some("u1".into()),
        );
        let ctx = RequestContext {
            request_id: "r1".into(),
            ..Default::default()
        };
        let t = Utc::now();
        let a = AuditRow::build(1, GENESIS_HASH, &ev, &ctx, t);
        assert_eq!(a.compute_hash(), a.event_hash);
        assert_eq!(a.event_hash.len(), 64);

        let mut b = a.clone();
        b.previous_hash = "1".repeat(64);
        assert_ne!(b.compute_hash(), a.event_hash);
        let mut c = a.clone();
        c.actor_name = "someone else".into();
        assert_ne!(c.compute_hash(), a.event_hash);
        let mut d = a.clone();
        d.resource_id = None;
        assert_ne!(
            d.compute_hash(),
            a.event_hash,
            "NULL differs from any string"
        );
    }

    /// The encoding as first written (allocating, chrono formatting): the fast one must match.
    fn reference_hash(r: &AuditRow) -> String {
        fn field(h: &mut Sha256, v: Option<&str>) {
            match v {
                None => h.update([0u8]),
                Some(s) => {
                    h.update([1u8]);
                    h.update((s.len() as u32).to_be_bytes());
                    h.update(s.as_bytes());
                }
            }
        }
        let mut h = Sha256::new();
        h.update(b"deltran-audit-v1\0");
        field(&mut h, Some(&r.id.to_string()));
        field(&mut h, Some(&r.event_id.hyphenated().to_string()));
        field(&mut h, Some(&r.event_type));
        field(&mut h, Some(&r.severity));
        field(&mut h, r.actor_id.map(|u| u.to_string()).as_deref());
        field(&mut h, Some(&r.actor_type));
        field(&mut h, Some(&r.actor_name));
        field(&mut h, Some(&r.action));
        field(&mut h, Some(&r.resource_type));
        field(&mut h, r.resource_id.as_deref());
        field(&mut h, Some(&r.result));
        field(&mut h, r.error_message.as_deref());
        field(&mut h, r.ip_address.as_deref());
        field(&mut h, r.user_agent.as_deref());
        field(&mut h, r.request_id.as_deref());
        field(&mut h, Some(&r.metadata));
        field(
            &mut h,
            Some(&r.timestamp.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        );
        field(&mut h, Some(&r.previous_hash));
        hex::encode(h.finalize())
    }

    #[test]
    fn the_fast_encoding_is_version_1() {
        let ctx = RequestContext {
            request_id: "r".into(),
            ip: Some("10.1.2.3".parse().unwrap()),
            user_agent: Some("ua".into()),
            ..Default::default()
        };
        for (id, at) in [
            (1, "2026-11-30T10:00:00Z"),
            (1234567890123, "1999-01-02T03:04:05.000007Z"),
            (-5, "2026-12-31T23:59:59.999999Z"),
        ] {
            let t = DateTime::parse_from_rfc3339(at).unwrap().to_utc();
            let ev = AuditEvent::new(
                Actor::user(Uuid::new_v4(), "ann"),
                "user.create",
                "user",
                Some("u".into()),
            )
            .metadata(serde_json::json!({"k": 1}));
            let row = AuditRow::build(id, GENESIS_HASH, &ev, &ctx, t);
            assert_eq!(row.event_hash, reference_hash(&row), "{id} {at}");
        }
    }

    #[test]
    fn timestamps_are_hashed_at_microsecond_precision() {
        let ev = AuditEvent::new(Actor::system("t"), "x.y", "x", None);
        let t = DateTime::parse_from_rfc3339("2026-11-30T10:00:00.123456789Z")
            .unwrap()
            .to_utc();
        let row = AuditRow::build(7, GENESIS_HASH, &ev, &RequestContext::default(), t);
        assert_eq!(row.timestamp.timestamp_subsec_nanos(), 123_456_000);
    }
}
