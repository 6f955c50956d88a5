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

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::context::RequestContext;

/// The hash that stands before the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub id: Option<Uuid>,
    /// `user`, `system` or `api_client`.
    pub kind: &'static str,
    pub name: String,
}

impl Actor {
    pub fn system(name: &str) -> Self {
        Actor {
            id: None,
            kind: "system",
            name: name.to_string(),
        }
    }

    pub fn user(id: Uuid, username: &str) -> Self {
        Actor {
            id: Some(id),
            kind: "user",
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
    pub severity: &'static str,
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
            severity: "info",
            error_message: None,
            metadata: Value::Object(Default::default()),
        }
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    pub fn severity(mut self, severity: &'static str) -> Self {
        self.severity = severity;
        self
    }

    pub fn outcome(mut self, result: Outcome, error: Option<String>) -> Self {
        self.result = result;
        self.error_message = error;
        self
    }
}

/// A complete audit row, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub severity: String,
    pub actor_id: Option<Uuid>,
    pub actor_type: String,
    pub actor_name: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub result: String,
    pub error_message: Option<String>,
    /// `inet` in its text form.
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// `jsonb` in its text form.
    pub metadata: String,
    pub previous_hash: String,
    pub event_hash: String,
    pub timestamp: DateTime<Utc>,
}

impl AuditRow {
    /// Builds the row that follows `previous` (id and hash), computing its hash.
    pub fn build(
        id: i64,
        previous_hash: &str,
        event: &AuditEvent,
        ctx: &RequestContext,
        timestamp: DateTime<Utc>,
    ) -> Self {
        let mut row = AuditRow {
            id,
            event_id: Uuid::new_v4(),
            event_type: event
                .action
                .split('.')
                .next()
                .unwrap_or("event")
                .to_string(),
            severity: event.severity.to_string(),
            actor_id: event.actor.id,
            actor_type: event.actor.kind.to_string(),
            actor_name: event.actor.name.clone(),
            action: event.action.clone(),
            resource_type: event.resource_type.clone(),
            resource_id: event.resource_id.clone(),
            result: event.result.as_str().to_string(),
            error_message: event.error_message.clone(),
            ip_address: ctx.ip.map(|ip| ip.to_string()),
            user_agent: ctx.user_agent.clone(),
            request_id: (!ctx.request_id.is_empty()).then(|| ctx.request_id.clone()),
            metadata: jsonb_text(&event.metadata),
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
        h.update(b"deltran-audit-v1\0");
        field(h, Some(&self.id.to_string()));
        field(h, Some(&self.event_id.hyphenated().to_string()));
        field(h, Some(&self.event_type));
        field(h, Some(&self.severity));
        field(
            h,
            self.actor_id.map(|u| u.hyphenated().to_string()).as_deref(),
        );
        field(h, Some(&self.actor_type));
        field(h, Some(&self.actor_name));
        field(h, Some(&self.action));
        field(h, Some(&self.resource_type));
        field(h, self.resource_id.as_deref());
        field(h, Some(&self.result));
        field(h, self.error_message.as_deref());
        field(h, self.ip_address.as_deref());
        field(h, self.user_agent.as_deref());
        field(h, self.request_id.as_deref());
        field(h, Some(&self.metadata));
        field(
            h,
            Some(&self.timestamp.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        );
        field(h, Some(&self.previous_hash));
    }
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
    let (id, previous): (i64, String) = sqlx::query_as(
        "UPDATE deltran.audit_head SET last_id = last_id + 1 RETURNING last_id, last_hash",
    )
    .fetch_one(&mut *conn)
    .await?;
    let row = AuditRow::build(id, &previous, event, ctx, Utc::now());
    insert(conn, &row).await?;
    sqlx::query("UPDATE deltran.audit_head SET last_hash = $1")
        .bind(&row.event_hash)
        .execute(&mut *conn)
        .await?;
    Ok(row)
}

async fn insert(conn: &mut PgConnection, r: &AuditRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO deltran.audit_log (id, event_id, event_type, severity, actor_id, actor_type, \
         actor_name, action, resource_type, resource_id, result, error_message, ip_address, \
         user_agent, request_id, metadata, previous_hash, event_hash, \"timestamp\") \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13::inet,$14,$15,$16::jsonb,$17,$18,$19)",
    )
    .bind(r.id)
    .bind(r.event_id)
    .bind(&r.event_type)
    .bind(&r.severity)
    .bind(r.actor_id)
    .bind(&r.actor_type)
    .bind(&r.actor_name)
    .bind(&r.action)
    .bind(&r.resource_type)
    .bind(&r.resource_id)
    .bind(&r.result)
    .bind(&r.error_message)
    .bind(&r.ip_address)
    .bind(&r.user_agent)
    .bind(&r.request_id)
    .bind(&r.metadata)
    .bind(&r.previous_hash)
    .bind(&r.event_hash)
    .bind(r.timestamp)
    .execute(conn)
    .await?;
    Ok(())
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
