//! Sign-in sessions (`deltran.sessions`): one row per browser session or API refresh-token
//! session. A row that is revoked or past `expires_at` no longer authenticates anything. Also
//! the Sessions page's list of live sessions (`SessionList` for `db::list`).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{
    auth::Permission,
    backend::db::list::{self, csv_time, from_micros, time_and_id, CsvExport, KeysetList},
    domain::Role,
    error::FieldErrors,
    sessions::{SessionKind, SessionQuery, SessionRow, SessionSort},
};

/// The user behind a live session.
#[derive(Debug, Clone)]
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
    sqlx::query_scalar!(
        "INSERT INTO deltran.sessions \
           (user_id, kind, refresh_token_hash, second_factor, ip_address, user_agent, expires_at) \
         VALUES ($1, $2, $3, $4, $5::text::inet, $6, $7) RETURNING id",
        new.user_id,
        new.kind.as_str(),
        new.refresh_token_hash,
        new.second_factor,
        new.ip.map(|ip| ip.to_string()),
        new.user_agent,
        new.expires_at,
    )
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
    sqlx::query_as!(
        SessionUser,
        r#"SELECT s.id AS session_id, u.id AS user_id, u.username, u.role AS "role: Role",
                s.last_activity_at < now() - interval '1 minute' AS "stale!",
                (NOT s.second_factor AND (u.role = 'admin' OR u.is_2fa_enabled))
                    AS "needs_two_factor!"
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.kind = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
           AND u.is_active"#,
        session_id,
        kind.as_str(),
    )
    .fetch_optional(db)
    .await
}

/// Records that a session's user has just presented a second factor (enrolling in 2FA).
pub async fn mark_second_factor(conn: &mut PgConnection, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.sessions SET second_factor = true WHERE id = $1",
        session_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn touch(db: &PgPool, session_id: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.sessions SET last_activity_at = now() WHERE id = $1",
        session_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes one session; returns whether it was live.
pub async fn revoke(conn: &mut PgConnection, session_id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "UPDATE deltran.sessions SET revoked_at = now(), revoke_reason = $2 \
         WHERE id = $1 AND revoked_at IS NULL",
        session_id,
        reason,
    )
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
    Ok(sqlx::query!(
        "UPDATE deltran.sessions SET revoked_at = now(), revoke_reason = $3 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
        user_id,
        keep,
        reason,
    )
    .execute(conn)
    .await?
    .rows_affected())
}

/// An API session found by a refresh token, and its user.
#[derive(Debug, Clone)]
pub struct RefreshSession {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
}

/// The live API session whose current refresh token hashes to `hash`, younger than
/// `absolute`, of an active user, locked for its rotation.
pub async fn lock_by_refresh_token(
    conn: &mut PgConnection,
    hash: &str,
    absolute: chrono::Duration,
) -> sqlx::Result<Option<RefreshSession>> {
    sqlx::query_as!(
        RefreshSession,
        r#"SELECT s.id AS session_id, u.id AS user_id, u.username, u.role AS "role: Role"
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id
         WHERE s.refresh_token_hash = $1 AND s.kind = 'api' AND s.revoked_at IS NULL
           AND s.expires_at > now() AND s.created_at > now() - make_interval(secs => $2)
           AND u.is_active
         FOR UPDATE OF s"#,
        hash,
        absolute.num_seconds() as f64,
    )
    .fetch_optional(conn)
    .await
}

/// The session, and its user, of a refresh token that was already exchanged.
pub async fn owner_of_used_refresh_token(
    conn: &mut PgConnection,
    hash: &str,
) -> sqlx::Result<Option<RefreshSession>> {
    sqlx::query_as!(
        RefreshSession,
        r#"SELECT s.id AS session_id, u.id AS user_id, u.username, u.role AS "role: Role"
         FROM deltran.used_refresh_tokens t
         JOIN deltran.sessions s ON s.id = t.session_id JOIN deltran.users u ON u.id = s.user_id
         WHERE t.token_hash = $1"#,
        hash,
    )
    .fetch_optional(conn)
    .await
}

/// Exchanges a session's refresh token `(used, next)` (hashes): the used one is remembered (to
/// catch its reuse), the next one current, and the session lives `ttl` more, never past
/// `absolute` from its creation.
pub async fn rotate_refresh_token(
    conn: &mut PgConnection,
    session_id: Uuid,
    (used, next): (&str, &str),
    (ttl, absolute): (chrono::Duration, chrono::Duration),
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO deltran.used_refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        used,
        session_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE deltran.sessions SET refresh_token_hash = $2, last_activity_at = now(), \
         expires_at = least(now() + make_interval(secs => $3), \
                            created_at + make_interval(secs => $4)) \
         WHERE id = $1",
        session_id,
        next,
        ttl.num_seconds() as f64,
        absolute.num_seconds() as f64,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a session (live or not) is the user's.
pub async fn is_of(conn: &mut PgConnection, session_id: Uuid, user_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM deltran.sessions WHERE id = $1 AND user_id = $2) AS "is!""#,
        session_id,
        user_id,
    )
    .fetch_one(conn)
    .await
}

/// The owner of a live session, if it is live.
pub async fn owner_of_live(
    conn: &mut PgConnection,
    session_id: Uuid,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT user_id FROM deltran.sessions \
         WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()",
        session_id,
    )
    .fetch_optional(conn)
    .await
}

/// The Sessions list (`db::list`): live sessions only (neither revoked nor expired), user
/// and kind filters, two orders.
pub struct SessionList;

/// The Sessions list's filters, checked; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    /// Part of the username, any case.
    pub user: Option<String>,
    pub kind: Option<SessionKind>,
    pub sort: SessionSort,
}

/// The longest username text taken.
const MAX_USER: usize = 100;

/// Where the next page starts: the last row shown, in its sort's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCursor {
    /// `last_activity_at DESC, id DESC`.
    LastActivity(DateTime<Utc>, Uuid),
    /// `created_at DESC, id DESC`.
    Created(DateTime<Utc>, Uuid),
}

impl KeysetList for SessionList {
    type Query = SessionQuery;
    type Filter = SessionFilter;
    type Key = SessionCursor;
    type Row = SessionRow;

    const PERMISSION: Permission = Permission::SessionsManage;
    const SELECT: &'static str = "SELECT s.id, s.user_id, u.username, s.kind, \
         host(s.ip_address) AS ip_address, s.user_agent, s.created_at, s.last_activity_at, \
         s.expires_at \
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE s.revoked_at IS NULL AND s.expires_at > now()";

    fn filter(query: &SessionQuery, refused: &mut FieldErrors) -> SessionFilter {
        SessionFilter {
            user: refused.check("user", &query.user, |u| {
                (u.chars().count() <= MAX_USER)
                    .then(|| u.to_lowercase())
                    .ok_or_else(|| format!("at most {MAX_USER} characters"))
            }),
            kind: refused.check("kind", &query.kind, |k| {
                SessionKind::parse(k).ok_or_else(|| format!("unknown kind {k:?} (browser or api)"))
            }),
            sort: refused
                .check("sort", &query.sort, |s| {
                    SessionSort::parse(s)
                        .ok_or_else(|| format!("unknown sort {s:?} (last_activity or created)"))
                })
                .unwrap_or_default(),
        }
    }

    fn after(query: &SessionQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(filter: &SessionFilter, q: &mut QueryBuilder<Postgres>) {
        if let Some(user) = &filter.user {
            // strpos, not LIKE: the text is taken literally, `%` and `_` included.
            q.push(" AND strpos(lower(u.username), ")
                .push_bind(user.clone())
                .push(") > 0");
        }
        if let Some(kind) = filter.kind {
            q.push(" AND s.kind = ").push_bind(kind.as_str());
        }
    }

    fn order_by(filter: &SessionFilter) -> &'static str {
        match filter.sort {
            SessionSort::LastActivity => "s.last_activity_at DESC, s.id DESC",
            SessionSort::Created => "s.created_at DESC, s.id DESC",
        }
    }

    fn key(row: &SessionRow, filter: &SessionFilter) -> SessionCursor {
        match filter.sort {
            SessionSort::LastActivity => SessionCursor::LastActivity(row.last_activity_at, row.id),
            SessionSort::Created => SessionCursor::Created(row.created_at, row.id),
        }
    }

    /// `a.<microseconds since epoch>.<id>` (last activity) or `c.<microseconds>.<id>`.
    fn encode(key: &SessionCursor) -> String {
        match key {
            SessionCursor::LastActivity(at, id) => format!("a.{}.{id}", at.timestamp_micros()),
            SessionCursor::Created(at, id) => format!("c.{}.{id}", at.timestamp_micros()),
        }
    }

    fn decode(text: &str, filter: &SessionFilter) -> Option<SessionCursor> {
        let (kind, rest) = text.split_once('.')?;
        let (micros, id) = time_and_id(rest)?;
        let at = from_micros(micros)?;
        match (kind, filter.sort) {
            ("a", SessionSort::LastActivity) => Some(SessionCursor::LastActivity(at, id)),
            ("c", SessionSort::Created) => Some(SessionCursor::Created(at, id)),
            _ => None,
        }
    }

    fn push_after(key: &SessionCursor, q: &mut QueryBuilder<Postgres>) {
        let (column, at, id) = match key {
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

impl CsvExport for SessionList {
    const EXPORT_ACTION: &'static str = "sessions.export";
    const RESOURCE_TYPE: &'static str = "session";
    const FILE_NAME: &'static str = "sessions";
    const CSV_COLUMNS: &'static [&'static str] = &[
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

    fn cells(r: &SessionRow) -> Vec<Option<String>> {
        vec![
            Some(r.username.clone()),
            Some(r.kind.clone()),
            r.ip_address.clone(),
            r.user_agent.clone(),
            Some(csv_time(r.created_at)),
            Some(csv_time(r.last_activity_at)),
            Some(csv_time(r.expires_at)),
            Some(r.user_id.to_string()),
            Some(r.id.to_string()),
        ]
    }

    fn metadata(f: &SessionFilter) -> serde_json::Value {
        list::metadata(&[
            ("user", f.user.clone()),
            ("kind", f.kind.map(|k| k.as_str().into())),
            ("sort", Some(f.sort.as_str().into())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    fn decode(text: &str, sort: SessionSort) -> Option<SessionCursor> {
        SessionList::decode(
            text,
            &SessionFilter {
                sort,
                ..Default::default()
            },
        )
    }

    fn parse(query: &SessionQuery) -> Result<SessionFilter, AppError> {
        list::parse::<SessionList>(query).map(|(filter, _)| filter)
    }

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
            assert_eq!(decode(&SessionList::encode(&c), sort), Some(c.clone()));
            assert_eq!(decode(&SessionList::encode(&c), other), None);
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
                assert_eq!(decode(junk, sort), None, "{junk}");
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
        let Err(AppError::Validation { field_errors }) = parse(&query) else {
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
        let filter = parse(&query).unwrap();
        assert_eq!(filter.user.as_deref(), Some("adm"));
        assert_eq!(filter.kind, Some(SessionKind::Api));
        assert_eq!(filter.sort, SessionSort::Created);
        assert_eq!(
            parse(&SessionQuery::default()).unwrap(),
            SessionFilter::default()
        );
    }
}
