//! Console users: creation and the changes the Users page makes, the filtered, keyset-paged
//! list (`UserFilter`, `UserCursor`) and its CSV export.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::Stream;
use serde_json::json;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::{
    backend::{
        audit::{self, Actor, AuditEvent},
        db::list::{csv_stream, from_micros, given, time_and_id},
        error::violated_constraint,
    },
    domain::Role,
    error::AppError,
    users::{UserQuery, UserRow, UserSort, UserStatus},
};

/// A user to create; username and e-mail already parsed, the password already hashed.
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

/// Creates a user and its audit row in the caller's transaction. A taken username or
/// e-mail is a field error, not a failure.
pub async fn create(
    tx: &mut Transaction<'_, Postgres>,
    user: &NewUser,
    actor: Actor,
) -> Result<Uuid, AppError> {
    let inserted = sqlx::query_scalar::<_, Uuid>(
        "INSERT INTO deltran.users (username, email, password_hash, role) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&user.username)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.role)
    .fetch_one(&mut **tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(err) => {
            return Err(match violated_constraint(&err) {
                Some(c) if c.contains("username") => {
                    AppError::field("username", "this username is taken")
                }
                Some(c) if c.contains("email") => {
                    AppError::field("email", "a user with this e-mail already exists")
                }
                _ => err.into(),
            })
        }
    };
    audit::record(
        tx,
        AuditEvent::new(actor, "user.create", "user", Some(id.to_string()))
            .metadata(json!({ "username": user.username, "role": user.role.as_str() })),
    )
    .await?;
    Ok(id)
}

type At = chrono::DateTime<chrono::Utc>;
/// id, kind, address, user agent, created, last active, expires.
type SessionRow = (Uuid, String, Option<String>, Option<String>, At, At, At);

/// The profile page's figures for the signed-in user.
pub async fn profile(
    db: &sqlx::PgPool,
    me: &crate::backend::auth::Identity,
) -> Result<crate::profile::Profile, AppError> {
    let (email, two_factor): (String, bool) =
        sqlx::query_as("SELECT email, is_2fa_enabled FROM deltran.users WHERE id = $1")
            .bind(me.user_id)
            .fetch_one(db)
            .await?;
    let recovery_codes_left =
        crate::backend::db::twofactor::unused_recovery_codes(db, me.user_id).await?;
    let rows: Vec<SessionRow> = sqlx::query_as(
        "SELECT id, kind, host(ip_address), user_agent, created_at, last_activity_at, expires_at \
         FROM deltran.sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() \
         ORDER BY last_activity_at DESC LIMIT 100",
    )
    .bind(me.user_id)
    .fetch_all(db)
    .await?;
    Ok(crate::profile::Profile {
        username: me.username.clone(),
        email,
        role: me.role,
        two_factor,
        recovery_codes_left,
        sessions: rows
            .into_iter()
            .map(
                |(id, kind, ip_address, user_agent, created_at, last_activity_at, expires_at)| {
                    crate::profile::OwnSession {
                        id,
                        kind,
                        ip_address,
                        user_agent,
                        created_at,
                        last_activity_at,
                        expires_at,
                        current: id == me.session_id,
                    }
                },
            )
            .collect(),
    })
}

/// The columns of `UserRow`; a lockout that has run out shows as none.
const ROW_COLUMNS: &str = "id, username, email, role, is_active, is_2fa_enabled, last_login_at, \
     CASE WHEN locked_until > now() THEN locked_until END AS locked_until, created_at";

/// The Users list's filters, checked; every one is optional and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFilter {
    /// Part of the username or the e-mail, any case.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
    /// Two-factor sign-in on (`true`) or off.
    pub two_factor: Option<bool>,
    pub sort: UserSort,
}

/// The longest search text taken.
const MAX_SEARCH: usize = 100;

impl UserFilter {
    /// Checks the URL's values (the cursor aside): an unknown value is a field error naming
    /// its parameter, with every bad parameter reported at once.
    pub fn parse(query: &UserQuery) -> Result<UserFilter, AppError> {
        let mut errors = BTreeMap::new();
        let mut refuse = |field: &str, message: String| {
            errors.insert(field.to_string(), message);
        };
        let search = given(&query.q).map(str::to_lowercase);
        if search
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_SEARCH)
        {
            refuse("q", format!("at most {MAX_SEARCH} characters"));
        }
        let role = given(&query.role).and_then(|r| {
            r.parse::<Role>()
                .map_err(|e| refuse("role", e.to_string()))
                .ok()
        });
        let status = given(&query.status).and_then(|s| {
            let status = UserStatus::parse(s);
            if status.is_none() {
                refuse(
                    "status",
                    format!("unknown status {s:?} (active, inactive or locked)"),
                );
            }
            status
        });
        let two_factor = given(&query.tfa).and_then(|t| match t {
            "on" => Some(true),
            "off" => Some(false),
            other => {
                refuse("tfa", format!("unknown 2FA value {other:?} (on or off)"));
                None
            }
        });
        let sort = given(&query.sort).and_then(|s| {
            let sort = UserSort::parse(s);
            if sort.is_none() {
                refuse(
                    "sort",
                    format!("unknown sort {s:?} (username, last_sign_in or created)"),
                );
            }
            sort
        });
        if !errors.is_empty() {
            return Err(AppError::Validation {
                field_errors: errors,
            });
        }
        Ok(UserFilter {
            search,
            role,
            status,
            two_factor,
            sort: sort.unwrap_or_default(),
        })
    }

    /// Appends ` AND <condition>` for every filter that is set.
    fn push_conditions(&self, q: &mut QueryBuilder<Postgres>) {
        if let Some(search) = &self.search {
            // strpos, not LIKE: the text is taken literally, `%` and `_` included.
            q.push(" AND (strpos(lower(username), ")
                .push_bind(search.clone())
                .push(") > 0 OR strpos(lower(email), ")
                .push_bind(search.clone())
                .push(") > 0)");
        }
        if let Some(role) = self.role {
            q.push(" AND role = ").push_bind(role);
        }
        q.push(match self.status {
            None => "",
            Some(UserStatus::Active) => {
                " AND is_active AND NOT coalesce(locked_until > now(), false)"
            }
            Some(UserStatus::Inactive) => " AND NOT is_active",
            Some(UserStatus::Locked) => " AND is_active AND locked_until > now()",
        });
        if let Some(on) = self.two_factor {
            q.push(" AND is_2fa_enabled = ").push_bind(on);
        }
    }

    /// The filter as audit metadata (strings only, as audit metadata must be).
    pub fn metadata(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("q", self.search.clone()),
            ("role", self.role.map(|r| r.as_str().to_string())),
            ("status", self.status.map(|s| s.as_str().to_string())),
            (
                "tfa",
                self.two_factor
                    .map(|on| if on { "on" } else { "off" }.to_string()),
            ),
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
pub enum UserCursor {
    /// `username` ascending (usernames are unique).
    Username(String),
    /// `last_login_at DESC NULLS LAST, id DESC`.
    LastSignIn(Option<DateTime<Utc>>, Uuid),
    /// `created_at DESC, id DESC`.
    Created(DateTime<Utc>, Uuid),
}

impl UserCursor {
    fn of(row: &UserRow, sort: UserSort) -> UserCursor {
        match sort {
            UserSort::Username => UserCursor::Username(row.username.clone()),
            UserSort::LastSignIn => UserCursor::LastSignIn(row.last_login_at, row.id),
            UserSort::Created => UserCursor::Created(row.created_at, row.id),
        }
    }

    /// An opaque text form for URLs: `u.<username>`, `l.<microseconds since epoch, or
    /// never>.<id>` or `c.<microseconds>.<id>`.
    pub fn encode(&self) -> String {
        match self {
            UserCursor::Username(name) => format!("u.{name}"),
            UserCursor::LastSignIn(at, id) => format!(
                "l.{}.{id}",
                at.map_or("never".into(), |t| t.timestamp_micros().to_string())
            ),
            UserCursor::Created(at, id) => format!("c.{}.{id}", at.timestamp_micros()),
        }
    }

    /// Parses `encode`'s form for the list in `sort` order; `None` for anything else,
    /// a cursor of another order included.
    pub fn decode(s: &str, sort: UserSort) -> Option<UserCursor> {
        let (kind, rest) = s.split_once('.')?;
        match (kind, sort) {
            ("u", UserSort::Username) if !rest.is_empty() => {
                Some(UserCursor::Username(rest.to_string()))
            }
            ("l", UserSort::LastSignIn) => {
                let (micros, id) = time_and_id(rest)?;
                let at = if micros == "never" {
                    None
                } else {
                    Some(from_micros(micros)?)
                };
                Some(UserCursor::LastSignIn(at, id))
            }
            ("c", UserSort::Created) => {
                let (micros, id) = time_and_id(rest)?;
                Some(UserCursor::Created(from_micros(micros)?, id))
            }
            _ => None,
        }
    }

    /// Appends ` AND <rows after this cursor>`.
    fn push_after(&self, q: &mut QueryBuilder<Postgres>) {
        match self {
            UserCursor::Username(name) => {
                q.push(" AND username > ").push_bind(name.clone());
            }
            UserCursor::LastSignIn(Some(at), id) => {
                // Later in DESC NULLS LAST order: earlier, or equal with a smaller id, or never.
                q.push(" AND (last_login_at < ")
                    .push_bind(*at)
                    .push(" OR (last_login_at = ")
                    .push_bind(*at)
                    .push(" AND id < ")
                    .push_bind(*id)
                    .push(") OR last_login_at IS NULL)");
            }
            UserCursor::LastSignIn(None, id) => {
                q.push(" AND last_login_at IS NULL AND id < ")
                    .push_bind(*id);
            }
            UserCursor::Created(at, id) => {
                q.push(" AND (created_at, id) < (")
                    .push_bind(*at)
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
        }
    }
}

/// `ORDER BY` of each sort; its last key is unique, so the order is total and keyset paging
/// neither repeats nor skips a row.
fn order_by(sort: UserSort) -> &'static str {
    match sort {
        UserSort::Username => "username",
        UserSort::LastSignIn => "last_login_at DESC NULLS LAST, id DESC",
        UserSort::Created => "created_at DESC, id DESC",
    }
}

/// One page of the users matching `filter`, in its sort's order, after `after` (exclusive),
/// and the cursor of the next page (`None` on the last page). `limit` is clamped to 1..=1000.
pub async fn list(
    db: &PgPool,
    filter: &UserFilter,
    after: Option<&UserCursor>,
    limit: u32,
) -> sqlx::Result<(Vec<UserRow>, Option<UserCursor>)> {
    let limit = limit.clamp(1, 1000) as usize;
    let mut q = QueryBuilder::new(format!(
        "SELECT {ROW_COLUMNS} FROM deltran.users WHERE true"
    ));
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
    let mut rows: Vec<UserRow> = q.build_query_as().fetch_all(db).await?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| UserCursor::of(r, filter.sort))
    } else {
        None
    };
    Ok((rows, next))
}

/// The action of the audit row every users export writes.
pub const EXPORT_ACTION: &str = "users.export";

/// The header of the users CSV.
pub const CSV_COLUMNS: [&str; 9] = [
    "username",
    "email",
    "role",
    "status",
    "two_factor",
    "last_sign_in",
    "locked_until",
    "created_at",
    "id",
];

/// Records who exports which users (a `users.export` row, committed), then returns every user
/// matching `filter`, in its sort's order, as CSV chunks: read in keyset batches, so memory
/// stays constant whatever the size. The caller streams it to the client.
pub async fn export(
    db: &PgPool,
    filter: &UserFilter,
    actor: Actor,
) -> sqlx::Result<impl Stream<Item = sqlx::Result<Bytes>> + Send + 'static> {
    audit::record_alone(
        db,
        AuditEvent::new(actor, EXPORT_ACTION, "user", None).metadata(json!({
            "format": "csv",
            "filter": filter.metadata(),
        })),
    )
    .await?;
    let (db, filter) = (db.clone(), filter.clone());
    let batch = move |after: Option<UserCursor>| {
        let (db, filter) = (db.clone(), filter.clone());
        async move { list(&db, &filter, after.as_ref(), EXPORT_BATCH).await }
    };
    Ok(csv_stream(&CSV_COLUMNS, batch, csv_cells))
}

/// Users per query of an export.
const EXPORT_BATCH: u32 = 1000;

/// A user's cells, in `CSV_COLUMNS` order.
fn csv_cells(r: &UserRow) -> Vec<Option<String>> {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    vec![
        Some(r.username.clone()),
        Some(r.email.clone()),
        Some(r.role.as_str().into()),
        Some(r.status().as_str().into()),
        Some(if r.is_2fa_enabled { "on" } else { "off" }.into()),
        time(r.last_login_at),
        time(r.locked_until),
        time(Some(r.created_at)),
        Some(r.id.to_string()),
    ]
}

/// Pending role-change requests, oldest first.
pub async fn pending_role_changes(
    db: &sqlx::PgPool,
) -> sqlx::Result<Vec<crate::users::RoleChangeRequest>> {
    sqlx::query_as(
        "SELECT r.id, r.user_id, u.username, r.from_role, r.to_role, r.reason, \
                q.username AS requested_by, r.requested_at \
         FROM deltran.role_change_requests r \
         JOIN deltran.users u ON u.id = r.user_id \
         JOIN deltran.users q ON q.id = r.requested_by \
         WHERE r.status = 'pending' ORDER BY r.requested_at, r.id",
    )
    .fetch_all(db)
    .await
}

/// The fields a mutation needs to know about its target, locked for the transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Target {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub is_active: bool,
}

/// Locks a user's row for the rest of the transaction; `NotFound` if there is none.
pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<Target, AppError> {
    sqlx::query_as(
        "SELECT id, username, role, is_active FROM deltran.users WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)
}

/// The active admins' ids, their rows locked for the rest of the transaction. Taken before
/// the target's row by every change that may leave fewer admins (demotion, deactivation), so
/// that two admins demoting or deactivating each other at once are serialised: the second
/// sees the first's change and finds itself the last admin.
pub async fn lock_active_admins(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM deltran.users WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await
}

/// A user's role, unlocked (to decide what a change needs before its transaction starts);
/// `NotFound` if there is no such user.
pub async fn role_of(db: &PgPool, id: Uuid) -> Result<Role, AppError> {
    sqlx::query_scalar("SELECT role FROM deltran.users WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn set_role(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    role: Role,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE deltran.users SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_active(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    active: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE deltran.users SET is_active = $2 WHERE id = $1")
        .bind(id)
        .bind(active)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn set_password_hash(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE deltran.users SET password_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Files a request to change a user's role; a second pending request for the same user is a
/// conflict.
pub async fn request_role_change(
    tx: &mut Transaction<'_, Postgres>,
    user: &Target,
    to_role: Role,
    reason: &str,
    requested_by: Uuid,
) -> Result<Uuid, AppError> {
    let inserted = sqlx::query_scalar::<_, Uuid>(
        "INSERT INTO deltran.role_change_requests (user_id, from_role, to_role, reason, requested_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user.id)
    .bind(user.role)
    .bind(to_role)
    .bind(reason)
    .bind(requested_by)
    .fetch_one(&mut **tx)
    .await;
    inserted.map_err(|err| match violated_constraint(&err) {
        Some("role_change_requests_one_pending_key") => AppError::Conflict(format!(
            "{} already has a pending role change.",
            user.username
        )),
        _ => err.into(),
    })
}

/// A pending role-change request, locked for the transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRequest {
    pub id: Uuid,
    pub user_id: Uuid,
    pub to_role: Role,
    pub requested_by: Uuid,
}

pub async fn lock_pending_request(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
) -> Result<PendingRequest, AppError> {
    sqlx::query_as(
        "SELECT id, user_id, to_role, requested_by FROM deltran.role_change_requests \
         WHERE id = $1 AND status = 'pending' FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)
}

/// Records the decision on a pending request (`approved` or `rejected`).
pub async fn decide_role_change(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    status: &str,
    decided_by: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deltran.role_change_requests \
         SET status = $2, decided_by = $3, decided_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(decided_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk_and_other_orders() {
        let id = Uuid::new_v4();
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        for (c, sort) in [
            (UserCursor::Username("a.b-c".into()), UserSort::Username),
            (UserCursor::LastSignIn(Some(at), id), UserSort::LastSignIn),
            (UserCursor::LastSignIn(None, id), UserSort::LastSignIn),
            (UserCursor::Created(at, id), UserSort::Created),
        ] {
            assert_eq!(UserCursor::decode(&c.encode(), sort), Some(c.clone()));
            let other = if sort == UserSort::Created {
                UserSort::Username
            } else {
                UserSort::Created
            };
            assert_eq!(UserCursor::decode(&c.encode(), other), None);
        }
        for junk in [
            "",
            "u.",
            "x.1",
            "c.12",
            "c.x.1",
            "l.1.not-a-uuid",
            "garbage",
        ] {
            assert_eq!(UserCursor::decode(junk, UserSort::Created), None, "{junk}");
            assert_eq!(
                UserCursor::decode(junk, UserSort::LastSignIn),
                None,
                "{junk}"
            );
        }
        assert_eq!(UserCursor::decode("u.", UserSort::Username), None);
    }

    #[test]
    fn filters_report_every_bad_value() {
        let query = UserQuery {
            role: Some("superuser".into()),
            status: Some("asleep".into()),
            tfa: Some("maybe".into()),
            sort: Some("age".into()),
            q: Some("x".repeat(101)),
            after: None,
        };
        let Err(AppError::Validation { field_errors }) = UserFilter::parse(&query) else {
            panic!("bad values pass");
        };
        let fields: Vec<_> = field_errors.keys().map(String::as_str).collect();
        assert_eq!(fields, ["q", "role", "sort", "status", "tfa"]);

        let query = UserQuery {
            q: Some(" Ad ".into()),
            role: Some("auditor".into()),
            status: Some("locked".into()),
            tfa: Some("off".into()),
            sort: Some("created".into()),
            after: None,
        };
        let filter = UserFilter::parse(&query).unwrap();
        assert_eq!(filter.search.as_deref(), Some("ad"));
        assert_eq!(filter.role, Some(Role::Auditor));
        assert_eq!(filter.status, Some(UserStatus::Locked));
        assert_eq!(filter.two_factor, Some(false));
        assert_eq!(filter.sort, UserSort::Created);
        assert_eq!(
            UserFilter::parse(&UserQuery::default()).unwrap(),
            UserFilter::default()
        );
    }
}
