//! Sign-in sessions (`deltran.sessions`): one row per browser session or API refresh-token
//! session. A row that is revoked or past `expires_at` no longer authenticates anything. Also
//! the Sessions page's filtered, keyset-paged list of live sessions (`SessionFilter`,
//! `SessionCursor`) and its CSV export.

use std::{collections::BTreeMap, net::IpAddr};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::Stream;
use serde_json::json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    backend::{
        audit::{self, Actor, AuditEvent},
        db::list::{csv_stream, from_micros, given, time_and_id},
    },
    domain::Role,
    error::AppError,
    sessions::{SessionKind, SessionQuery, SessionRow, SessionSort},
};

/// The user behind a live session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUser {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub stale: bool,
    /// See `live` and `backend::auth::Identity::needs_two_factor`.
    pub needs_two_factor: bool,
}

/// What a new session row holds.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub kind: SessionKind,
    /// Required for API sessions.
    pub refresh_token_hash: Option<&'a str>,
    /// The sign-in presented a one-time or recovery code.
    pub second_factor: bool,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

/// Opens a session row.
pub async fn open(conn: &mut PgConnection, new: NewSession<'_>) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "INSERT INTO deltran.sessions \
           (user_id, kind, refresh_token_hash, second_factor, ip_address, user_agent, expires_at) \
         VALUES ($1, $2, $3, $4, $5::text::inet, $6, $7) RETURNING id",
    )
    .bind(new.user_id)
    .bind(new.kind.as_str())
    .bind(new.refresh_token_hash)
    .bind(new.second_factor)
    .bind(new.ip.map(|ip| ip.to_string()))
    .bind(new.user_agent)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await
}

/// The user of a session of `kind` that is neither revoked nor expired, whose user is
/// active; `stale` says its last activity is more than a minute old. A session whose
/// sign-in presented no second factor `needs_two_factor` when the account has 2FA (it was
/// opened before enrolment) or is an admin's (who must have it).
pub async fn live(
    db: &PgPool,
    session_id: Uuid,
    kind: SessionKind,
) -> sqlx::Result<Option<SessionUser>> {
    sqlx::query_as(
        "SELECT s.id AS session_id, u.id AS user_id, u.username, u.role, \
                s.last_activity_at < now() - interval '1 minute' AS stale, \
                (NOT s.second_factor AND (u.role = 'admin' OR u.is_2fa_enabled)) AS needs_two_factor \
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.kind = $2 AND s.revoked_at IS NULL AND s.expires_at > now() \
           AND u.is_active",
    )
    .bind(session_id)
    .bind(kind.as_str())
    .fetch_optional(db)
    .await
}

/// Records that a session's user has just presented a second factor (enrolling in 2FA).
pub async fn mark_second_factor(conn: &mut PgConnection, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE deltran.sessions SET second_factor = true WHERE id = $1")
        .bind(session_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn touch(db: &PgPool, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE deltran.sessions SET last_activity_at = now() WHERE id = $1")
        .bind(session_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes one session; returns whether it was live.
pub async fn revoke(conn: &mut PgConnection, session_id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let n = sqlx::query(
        "UPDATE deltran.sessions SET revoked_at = now(), revoke_reason = $2 \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Revokes every live session of a user except `keep`; returns how many.
pub async fn revoke_all_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE deltran.sessions SET revoked_at = now(), revoke_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .bind(reason)
    .execute(conn)
    .await?
    .rows_affected())
}

/// The owner of a live session, if it is live.
pub async fn owner_of_live(
    conn: &mut PgConnection,
    session_id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "SELECT user_id FROM deltran.sessions \
         WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await
}

/// The Sessions list's filters, checked; every one is optional and they combine with AND.
/// The list holds live sessions only (neither revoked nor expired).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    /// Part of the username, any case.
    pub user: Option<String>,
    pub kind: Option<SessionKind>,
    pub sort: SessionSort,
}

/// The longest username text taken.
const MAX_USER: usize = 100;

impl SessionFilter {
    /// Checks the URL's values (the cursor aside): an unknown value is a field error naming
    /// its parameter, with every bad parameter reported at once.
    pub fn parse(query: &SessionQuery) -> Result<SessionFilter, AppError> {
        let mut errors = BTreeMap::new();
        let mut refuse = |field: &str, message: String| {
            errors.insert(field.to_string(), message);
        };
        let user = given(&query.user).map(str::to_lowercase);
        if user.as_ref().is_some_and(|u| u.chars().count() > MAX_USER) {
            refuse("user", format!("at most {MAX_USER} characters"));
        }
        let kind = given(&query.kind).and_then(|k| {
            let kind = SessionKind::parse(k);
            if kind.is_none() {
                refuse("kind", format!("unknown kind {k:?} (browser or api)"));
            }
            kind
        });
        let sort = given(&query.sort).and_then(|s| {
            let sort = SessionSort::parse(s);
            if sort.is_none() {
                refuse(
                    "sort",
                    format!("unknown sort {s:?} (last_activity or created)"),
                );
            }
            sort
        });
        if !errors.is_empty() {
            return Err(AppError::Validation {
                field_errors: errors,
            });
        }
        Ok(SessionFilter {
            user,
            kind,
            sort: sort.unwrap_or_default(),
        })
    }

    /// Appends ` AND <condition>` for every filter that is set.
    fn push_conditions(&self, q: &mut QueryBuilder<Postgres>) {
        if let Some(user) = &self.user {
            // strpos, not LIKE: the text is taken literally, `%` and `_` included.
            q.push(" AND strpos(lower(u.username), ")
                .push_bind(user.clone())
                .push(") > 0");
        }
        if let Some(kind) = self.kind {
            q.push(" AND s.kind = ").push_bind(kind.as_str());
        }
    }

    /// The filter as audit metadata (strings only, as audit metadata must be).
    pub fn metadata(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("user", self.user.clone()),
            ("kind", self.kind.map(|k| k.as_str().to_string())),
            ("sort", Some(self.sort.as_str().to_string())),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        }
        m.into()
    }
}

/// Where the next page starts: the last row shown, in its sort's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCursor {
    /// `last_activity_at DESC, id DESC`.
    LastActivity(DateTime<Utc>, Uuid),
    /// `created_at DESC, id DESC`.
    Created(DateTime<Utc>, Uuid),
}

impl SessionCursor {
    fn of(row: &SessionRow, sort: SessionSort) -> SessionCursor {
        match sort {
            SessionSort::LastActivity => SessionCursor::LastActivity(row.last_activity_at, row.id),
            SessionSort::Created => SessionCursor::Created(row.created_at, row.id),
        }
    }

    /// An opaque text form for URLs: `a.<microseconds since epoch>.<id>` (last activity) or
    /// `c.<microseconds>.<id>` (created).
    pub fn encode(&self) -> String {
        match self {
            SessionCursor::LastActivity(at, id) => format!("a.{}.{id}", at.timestamp_micros()),
            SessionCursor::Created(at, id) => format!("c.{}.{id}", at.timestamp_micros()),
        }
    }

    /// Parses `encode`'s form for the list in `sort` order; `None` for anything else,
    /// a cursor of another order included.
    pub fn decode(s: &str, sort: SessionSort) -> Option<SessionCursor> {
        let (kind, rest) = s.split_once('.')?;
        let (micros, id) = time_and_id(rest)?;
        let at = from_micros(micros)?;
        match (kind, sort) {
            ("a", SessionSort::LastActivity) => Some(SessionCursor::LastActivity(at, id)),
            ("c", SessionSort::Created) => Some(SessionCursor::Created(at, id)),
            _ => None,
        }
    }

    /// Appends ` AND <rows after this cursor>`.
    fn push_after(&self, q: &mut QueryBuilder<Postgres>) {
        let (column, at, id) = match self {
            SessionCursor::LastActivity(at, id) => ("s.last_activity_at", at, id),
            SessionCursor::Created(at, id) => ("s.created_at", at, id),
        };
        q.push(format_args!(" AND ({column}, s.id) < ("))
            .push_bind(*at)
            .push(", ")
            .push_bind(*id)
            .push(")");
    }
}

/// `ORDER BY` of each sort; its last key is unique, so the order is total and keyset paging
/// neither repeats nor skips a row.
fn order_by(sort: SessionSort) -> &'static str {
    match sort {
        SessionSort::LastActivity => "s.last_activity_at DESC, s.id DESC",
        SessionSort::Created => "s.created_at DESC, s.id DESC",
    }
}

/// One page of the live sessions matching `filter`, in its sort's order, after `after`
/// (exclusive), and the cursor of the next page (`None` on the last page). `limit` is clamped
/// to 1..=1000.
pub async fn list(
    db: &PgPool,
    filter: &SessionFilter,
    after: Option<&SessionCursor>,
    limit: u32,
) -> sqlx::Result<(Vec<SessionRow>, Option<SessionCursor>)> {
    let limit = limit.clamp(1, 1000) as usize;
    let mut q = QueryBuilder::new(
        "SELECT s.id, s.user_id, u.username, s.kind, host(s.ip_address) AS ip_address, \
                s.user_agent, s.created_at, s.last_activity_at, s.expires_at \
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE s.revoked_at IS NULL AND s.expires_at > now()",
    );
    filter.push_conditions(&mut q);
    if let Some(c) = after {
        c.push_after(&mut q);
    }
    // A literal limit (a clamped integer), so the planner sees it as the raw SQL would.
    q.push(format_args!(
        " ORDER BY {} LIMIT {}",
        order_by(filter.sort),
        limit + 1
    ));
    let mut rows: Vec<SessionRow> = q.build_query_as().fetch_all(db).await?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| SessionCursor::of(r, filter.sort))
    } else {
        None
    };
    Ok((rows, next))
}

/// The action of the audit row every sessions export writes.
pub const EXPORT_ACTION: &str = "sessions.export";

/// The header of the sessions CSV.
pub const CSV_COLUMNS: [&str; 9] = [
    "username",
    "kind",
    "address",
    "user_agent",
    "created_at",
    "last_activity_at",
    "expires_at",
    "user_id",
    "id",
];

/// Records who exports which sessions (a `sessions.export` row, committed), then returns every
/// live session matching `filter`, in its sort's order, as CSV chunks read in keyset batches.
/// The caller streams it to the client.
pub async fn export(
    db: &PgPool,
    filter: &SessionFilter,
    actor: Actor,
) -> sqlx::Result<impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static> {
    audit::record_alone(
        db,
        AuditEvent::new(actor, EXPORT_ACTION, "session", None).metadata(json!({
            "format": "csv",
            "filter": filter.metadata(),
        })),
    )
    .await?;
    let (db, filter) = (db.clone(), filter.clone());
    let batch = move |after: Option<SessionCursor>| {
        let (db, filter) = (db.clone(), filter.clone());
        async move { list(&db, &filter, after.as_ref(), EXPORT_BATCH).await }
    };
    Ok(csv_stream(&CSV_COLUMNS, batch, csv_cells))
}

/// Sessions per query of an export.
const EXPORT_BATCH: u32 = 1000;

/// A session's cells, in `CSV_COLUMNS` order.
fn csv_cells(r: &SessionRow) -> Vec<Option<String>> {
    let time = |t: DateTime<Utc>| Some(t.to_rfc3339_opts(SecondsFormat::Secs, true));
    vec![
        Some(r.username.clone()),
        Some(r.kind.clone()),
        r.ip_address.clone(),
        r.user_agent.clone(),
        time(r.created_at),
        time(r.last_activity_at),
        time(r.expires_at),
        Some(r.user_id.to_string()),
        Some(r.id.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk_and_other_orders() {
        let id = Uuid::new_v4();
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        for (c, sort, other) in [
            (
                SessionCursor::LastActivity(at, id),
                SessionSort::LastActivity,
                SessionSort::Created,
            ),
            (
                SessionCursor::Created(at, id),
                SessionSort::Created,
                SessionSort::LastActivity,
            ),
        ] {
            assert_eq!(SessionCursor::decode(&c.encode(), sort), Some(c.clone()));
            assert_eq!(SessionCursor::decode(&c.encode(), other), None);
        }
        for junk in [
            "",
            "a.",
            "a.12",
            "a.x.1",
            "c.1.not-a-uuid",
            "u.admin",
            "garbage",
        ] {
            for sort in SessionSort::ALL {
                assert_eq!(SessionCursor::decode(junk, sort), None, "{junk}");
            }
        }
    }

    #[test]
    fn filters_report_every_bad_value() {
        let query = SessionQuery {
            user: Some("x".repeat(101)),
            kind: Some("pigeon".into()),
            sort: Some("age".into()),
            after: None,
        };
        let Err(AppError::Validation { field_errors }) = SessionFilter::parse(&query) else {
            panic!("bad values pass");
        };
        let fields: Vec<_> = field_errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["kind", "sort", "user"]);

        let query = SessionQuery {
            user: Some(" AdM ".into()),
            kind: Some("api".into()),
            sort: Some("created".into()),
            after: None,
        };
        let filter = SessionFilter::parse(&query).unwrap();
        assert_eq!(filter.user.as_deref(), Some("adm"));
        assert_eq!(filter.kind, Some(SessionKind::Api));
        assert_eq!(filter.sort, SessionSort::Created);
        assert_eq!(
            SessionFilter::parse(&SessionQuery::default()).unwrap(),
            SessionFilter::default()
        );
    }
}
