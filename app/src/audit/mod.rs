//! The audit log page: the filtered, keyset-paged list, a row's detail, the chain's
//! verification with progress, and the export links. The types here are shared by the page,
//! the server functions, the REST API and the exports; writing and verifying live in
//! `backend::audit`.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::Permission,
    components::list::time_range,
    error::{AppError, FieldErrors},
};

/// A complete audit row, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// `jsonb` in its text form (which the REST API sends parsed, as an object).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: String,
    pub previous_hash: String,
    pub event_hash: String,
    pub timestamp: DateTime<Utc>,
}

impl AuditRow {
    /// The console page of the resource the row names, when there is one, and the
    /// permission that page needs.
    pub fn resource_link(&self) -> Option<(String, Permission)> {
        match (self.resource_type.as_str(), &self.resource_id) {
            ("payment", Some(id)) => Some((format!("/payments/{id}"), Permission::PaymentsView)),
            ("user", _) => Some(("/users".into(), Permission::UsersView)),
            ("session", _) => Some(("/sessions".into(), Permission::SessionsManage)),
            ("audit_log" | "audit_partition", _) => Some(("/audit".into(), Permission::AuditView)),
            _ => None,
        }
    }

    /// The metadata, indented for reading.
    pub fn metadata_pretty(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.metadata)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| self.metadata.clone())
    }
}

/// The filters the audit page, the REST API and the exports offer; every field is optional
/// and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditFilter {
    /// A user id (UUID) matches `actor_id`; anything else matches `actor_name` exactly.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// `success`, `failure` or `denied`.
    pub result: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// The filter's time range for verification, `None` when it has none; an open end is
    /// the earliest or latest time Postgres keeps.
    pub fn time_range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        match (self.from, self.to) {
            (None, None) => None,
            (from, to) => Some((
                from.unwrap_or_else(|| "0001-01-01T00:00:00Z".parse().expect("a date")),
                to.unwrap_or_else(|| "9999-12-31T00:00:00Z".parse().expect("a date")),
            )),
        }
    }
}

/// The longest text a filter takes.
const MAX_TEXT: usize = 200;

/// The results a row can have.
pub const RESULTS: [&str; 3] = ["success", "failure", "denied"];

/// Where the next page starts: the last row shown, in the list's order
/// (`"timestamp" DESC, id DESC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCursor {
    pub timestamp: DateTime<Utc>,
    pub id: i64,
}

impl AuditCursor {
    /// An opaque text form for URLs: `<microseconds since epoch>.<id>`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.timestamp.timestamp_micros(), self.id)
    }

    /// Parses `encode`'s form; `None` for anything else.
    pub fn decode(s: &str) -> Option<AuditCursor> {
        let (micros, id) = s.split_once('.')?;
        Some(AuditCursor {
            timestamp: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// The filters as text, the way a URL or a form carries them (empty means unset). The audit
/// page's URL, its server functions, the downloads and `GET /api/v1/audit` all parse this.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub result: Option<String>,
    /// RFC 3339, or `YYYY-MM-DDTHH:MM[:SS]` read as UTC (what a datetime-local field sends).
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// A cursor from a previous page.
    #[serde(default)]
    pub after: Option<String>,
}

impl AuditQuery {
    /// The filter, with a field error for every value that does not parse.
    pub fn filter(&self) -> Result<AuditFilter, AppError> {
        let mut refused = FieldErrors::default();
        let filter = self.check(&mut refused);
        refused.finish(filter)
    }

    /// The filter; each value that does not parse is refused in `refused`.
    pub fn check(&self, refused: &mut FieldErrors) -> AuditFilter {
        let mut text = |field: &str, v: &Option<String>| {
            refused.check(field, v, |v| {
                (v.chars().count() <= MAX_TEXT)
                    .then(|| v.to_string())
                    .ok_or_else(|| format!("at most {MAX_TEXT} characters"))
            })
        };
        let (actor, action) = (text("actor", &self.actor), text("action", &self.action));
        let resource_type = text("resource_type", &self.resource_type);
        let resource_id = text("resource_id", &self.resource_id);
        let result = refused.check("result", &self.result, |r| {
            RESULTS
                .contains(&r)
                .then(|| r.to_string())
                .ok_or_else(|| "use success, failure or denied".to_string())
        });
        let (from, to) = time_range(refused, &self.from, &self.to);
        AuditFilter {
            actor,
            action,
            resource_type,
            resource_id,
            result,
            from,
            to,
        }
    }
}

crate::list_query!(AuditQuery, "/audit");

/// One page of the audit log.
pub type AuditPage = crate::components::list::Page<AuditRow>;

/// The first row where the chain breaks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BrokenRow {
    /// The row found broken: for a gap, the first row after it; for "head behind the
    /// anchor", the first id that should exist and does not.
    pub id: i64,
    /// The row's timestamp; `None` when the row is missing.
    pub timestamp: Option<DateTime<Utc>>,
    /// One of the `backend::audit::verify::reason` constants.
    pub reason: String,
}

/// The outcome of a verification; serialises as the REST API's `{ok, checked, first_broken}`
/// (plus `anchor`, the creation time of the anchor compared against, if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VerifyReport {
    pub ok: bool,
    pub checked: u64,
    pub first_broken: Option<BrokenRow>,
    pub anchor: Option<DateTime<Utc>>,
}

impl VerifyReport {
    /// The sentence the page and the CLI print.
    pub fn summary(&self) -> String {
        match (&self.first_broken, self.anchor) {
            (Some(b), _) => format!("Broken at row {}: {}.", b.id, b.reason),
            (None, Some(a)) => format!(
                "Intact: {} rows, head matches anchor of {}.",
                self.checked,
                a.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            (None, None) => format!(
                "Intact: {} rows (no anchor to compare with yet).",
                self.checked
            ),
        }
    }
}

/// Where a verification started from the page stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyProgress {
    pub checked: u64,
    /// Rows to check (an estimate from the id range).
    pub total: u64,
    /// Set when finished.
    pub report: Option<VerifyReport>,
    /// Set when the verification could not run to the end.
    pub error: Option<String>,
}

impl VerifyProgress {
    pub fn finished(&self) -> bool {
        self.report.is_some() || self.error.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::list::ListQuery;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = AuditCursor {
            timestamp: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: 42,
        };
        assert_eq!(AuditCursor::decode(&c.encode()), Some(c));
        assert_eq!(AuditCursor::decode("x.1"), None);
        assert_eq!(AuditCursor::decode("12"), None);
    }

    #[test]
    fn queries_parse_form_times_as_utc_and_reject_bad_values() {
        let q = AuditQuery {
            from: Some("2026-11-30T14:00".into()),
            to: Some("2026-12-01T00:00:00Z".into()),
            result: Some("denied".into()),
            actor: Some("  ".into()),
            ..Default::default()
        };
        let f = q.filter().unwrap();
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-11-30T14:00:00+00:00");
        assert_eq!(f.actor, None);
        assert_eq!(f.result.as_deref(), Some("denied"));

        let bad_result = AuditQuery {
            result: Some("ok".into()),
            ..Default::default()
        };
        assert!(matches!(
            bad_result.filter(),
            Err(AppError::Validation { field_errors }) if field_errors.contains_key("result")
        ));
        let backwards = AuditQuery {
            from: Some("2026-12-01T00:00".into()),
            to: Some("2026-11-01T00:00".into()),
            ..Default::default()
        };
        assert!(backwards.filter().is_err());
        let junk_time = AuditQuery {
            from: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(junk_time.filter().is_err());
        let long = AuditQuery {
            resource_type: Some("x".repeat(MAX_TEXT + 1)),
            actor: Some("y".repeat(MAX_TEXT)),
            ..Default::default()
        };
        let Err(AppError::Validation { field_errors }) = long.filter() else {
            panic!("an over-long filter passes");
        };
        assert_eq!(field_errors.keys().collect::<Vec<_>>(), ["resource_type"]);
        let everything_wrong = AuditQuery {
            result: Some("ok".into()),
            from: Some("yesterday".into()),
            to: Some("never".into()),
            ..Default::default()
        };
        let Err(AppError::Validation { field_errors }) = everything_wrong.filter() else {
            panic!("bad values pass");
        };
        let fields: Vec<_> = field_errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["from", "result", "to"], "every bad value at once");
    }

    #[test]
    fn query_strings_keep_only_set_fields_in_order() {
        let q = AuditQuery::from_query("from=2026-11-30T14%3A00&actor=&action=user.create");
        assert_eq!(q.actor, None);
        assert_eq!(
            q.to_query_string(),
            "action=user.create&from=2026-11-30T14%3A00"
        );
        assert_eq!(q.at(Some("1.2".into())).after.as_deref(), Some("1.2"));
    }
}
