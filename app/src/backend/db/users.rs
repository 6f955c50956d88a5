//! Console users: creation and the changes the Users page makes, and the Users list
//! (`UserList`: filters, orders, cursors and CSV cells for `db::list`).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use crate::{
    auth::Permission,
    backend::{
        audit::{self, Actor, AuditEvent},
        db::list::{self, csv_time, from_micros, time_and_id, CsvExport, KeysetList},
        error::violated_constraint,
    },
    domain::Role,
    error::{AppError, FieldErrors},
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
    let inserted = sqlx::query_scalar!(
        "INSERT INTO deltran.users (username, email, password_hash, role) \
         VALUES ($1, $2, $3, $4) RETURNING id",
        user.username,
        user.email,
        user.password_hash,
        user.role as Role,
    )
    .fetch_one(&mut **tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(err) => {
            return Err(match violated_constraint(&err) {
                Some("users_username_key") => AppError::field("username", "this username is taken"),
                // The e-mail is unique in any case too (`lower(email)`).
                Some("users_email_key" | "users_email_lower_key") => {
                    AppError::field("email", "a user with this e-mail already exists")
                }
                _ => err.into(),
            });
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

/// What a sign-in checks of the user it names.
#[derive(Debug, Clone)]
pub struct LoginUser {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    pub is_2fa_enabled: bool,
}

/// The user a sign-in names, if there is one (active or not).
pub async fn login_user(db: &PgPool, username: &str) -> sqlx::Result<Option<LoginUser>> {
    sqlx::query_as!(
        LoginUser,
        r#"SELECT id, username, password_hash, role AS "role: Role", is_active, is_2fa_enabled
         FROM deltran.users WHERE username = $1"#,
        username
    )
    .fetch_optional(db)
    .await
}

/// Records a successful sign-in's time and address.
pub async fn record_sign_in(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    ip: Option<std::net::IpAddr>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.users SET last_login_at = now(), last_login_ip = $2::text::inet \
         WHERE id = $1",
        id,
        ip.map(|ip| ip.to_string()),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A user's password hash (PHC string).
pub async fn password_hash(db: &PgPool, id: Uuid) -> sqlx::Result<String> {
    sqlx::query_scalar!("SELECT password_hash FROM deltran.users WHERE id = $1", id)
        .fetch_one(db)
        .await
}

/// The profile page's figures for the signed-in user.
pub async fn profile(
    db: &sqlx::PgPool,
    me: &crate::backend::auth::Identity,
) -> Result<crate::profile::Profile, AppError> {
    let user = sqlx::query!(
        "SELECT email, is_2fa_enabled FROM deltran.users WHERE id = $1",
        me.user_id
    )
    .fetch_one(db)
    .await?;
    let (email, two_factor) = (user.email, user.is_2fa_enabled);
    let recovery_codes_left =
        crate::backend::db::twofactor::unused_recovery_codes(db, me.user_id).await?;
    let sessions = sqlx::query_as!(
        crate::profile::OwnSession,
        r#"SELECT id, kind, host(ip_address) AS ip_address, user_agent, created_at,
                last_activity_at, expires_at, id = $2 AS "current!"
         FROM deltran.sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
         ORDER BY last_activity_at DESC LIMIT 100"#,
        me.user_id,
        me.session_id,
    )
    .fetch_all(db)
    .await?;
    Ok(crate::profile::Profile {
        username: me.username.clone(),
        email,
        role: me.role,
        two_factor,
        recovery_codes_left,
        sessions,
    })
}

/// The Users list (`db::list`): search, role, status and 2FA filters, three orders.
pub struct UserList;

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

impl KeysetList for UserList {
    type Query = UserQuery;
    type Filter = UserFilter;
    type Key = UserCursor;
    type Row = UserRow;

    // A lockout that has run out shows as none.
    const PERMISSION: Permission = Permission::UsersView;
    const SELECT: &'static str = "SELECT id, username, email, role, is_active, is_2fa_enabled, \
         last_login_at, CASE WHEN locked_until > now() THEN locked_until END AS locked_until, \
         created_at FROM deltran.users WHERE true";

    fn filter(query: &UserQuery, refused: &mut FieldErrors) -> UserFilter {
        UserFilter {
            search: refused.check("q", &query.q, |q| {
                (q.chars().count() <= MAX_SEARCH)
                    .then(|| q.to_lowercase())
                    .ok_or_else(|| format!("at most {MAX_SEARCH} characters"))
            }),
            role: refused.check("role", &query.role, |r| {
                r.parse::<Role>().map_err(|e| e.to_string())
            }),
            status: refused.check("status", &query.status, |s| {
                UserStatus::parse(s)
                    .ok_or_else(|| format!("unknown status {s:?} (active, inactive or locked)"))
            }),
            two_factor: refused.check("tfa", &query.tfa, |t| match t {
                "on" => Ok(true),
                "off" => Ok(false),
                other => Err(format!("unknown 2FA value {other:?} (on or off)")),
            }),
            sort: refused
                .check("sort", &query.sort, |s| {
                    UserSort::parse(s).ok_or_else(|| {
                        format!("unknown sort {s:?} (username, last_sign_in or created)")
                    })
                })
                .unwrap_or_default(),
        }
    }

    fn after(query: &UserQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(filter: &UserFilter, q: &mut QueryBuilder<Postgres>) {
        if let Some(search) = &filter.search {
            // strpos, not LIKE: the text is taken literally, `%` and `_` included.
            q.push(" AND (strpos(lower(username), ")
                .push_bind(search.clone())
                .push(") > 0 OR strpos(lower(email), ")
                .push_bind(search.clone())
                .push(") > 0)");
        }
        if let Some(role) = filter.role {
            q.push(" AND role = ").push_bind(role);
        }
        q.push(match filter.status {
            None => "",
            Some(UserStatus::Active) => {
                " AND is_active AND NOT coalesce(locked_until > now(), false)"
            }
            Some(UserStatus::Inactive) => " AND NOT is_active",
            Some(UserStatus::Locked) => " AND is_active AND locked_until > now()",
        });
        if let Some(on) = filter.two_factor {
            q.push(" AND is_2fa_enabled = ").push_bind(on);
        }
    }

    fn order_by(filter: &UserFilter) -> &'static str {
        match filter.sort {
            UserSort::Username => "username",
            UserSort::LastSignIn => "last_login_at DESC NULLS LAST, id DESC",
            UserSort::Created => "created_at DESC, id DESC",
        }
    }

    fn key(row: &UserRow, filter: &UserFilter) -> UserCursor {
        match filter.sort {
            UserSort::Username => UserCursor::Username(row.username.clone()),
            UserSort::LastSignIn => UserCursor::LastSignIn(row.last_login_at, row.id),
            UserSort::Created => UserCursor::Created(row.created_at, row.id),
        }
    }

    /// `u.<username>`, `l.<microseconds since epoch, or never>.<id>` or
    /// `c.<microseconds>.<id>`.
    fn encode(key: &UserCursor) -> String {
        match key {
            UserCursor::Username(name) => format!("u.{name}"),
            UserCursor::LastSignIn(at, id) => format!(
                "l.{}.{id}",
                at.map_or("never".into(), |t| t.timestamp_micros().to_string())
            ),
            UserCursor::Created(at, id) => format!("c.{}.{id}", at.timestamp_micros()),
        }
    }

    fn decode(text: &str, filter: &UserFilter) -> Option<UserCursor> {
        let (kind, rest) = text.split_once('.')?;
        match (kind, filter.sort) {
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

    fn push_after(key: &UserCursor, q: &mut QueryBuilder<Postgres>) {
        match key {
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

impl CsvExport for UserList {
    const EXPORT_ACTION: &'static str = "users.export";
    const RESOURCE_TYPE: &'static str = "user";
    const FILE_NAME: &'static str = "users";
    const CSV_COLUMNS: &'static [&'static str] = &[
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

    fn cells(r: &UserRow) -> Vec<Option<String>> {
        vec![
            Some(r.username.clone()),
            Some(r.email.clone()),
            Some(r.role.as_str().into()),
            Some(r.status().as_str().into()),
            Some(if r.is_2fa_enabled { "on" } else { "off" }.into()),
            r.last_login_at.map(csv_time),
            r.locked_until.map(csv_time),
            Some(csv_time(r.created_at)),
            Some(r.id.to_string()),
        ]
    }

    fn metadata(f: &UserFilter) -> serde_json::Value {
        list::metadata(&[
            ("q", f.search.clone()),
            ("role", f.role.map(|r| r.as_str().into())),
            ("status", f.status.map(|s| s.as_str().into())),
            (
                "tfa",
                f.two_factor.map(|on| if on { "on" } else { "off" }.into()),
            ),
            ("sort", Some(f.sort.as_str().into())),
        ])
    }
}

/// Pending role-change requests, oldest first.
pub async fn pending_role_changes(
    db: &sqlx::PgPool,
) -> sqlx::Result<Vec<crate::users::RoleChangeRequest>> {
    sqlx::query_as!(
        crate::users::RoleChangeRequest,
        r#"SELECT r.id, r.user_id, u.username, r.from_role AS "from_role: Role",
                r.to_role AS "to_role: Role", r.reason, q.username AS requested_by,
                r.requested_at
         FROM deltran.role_change_requests r
         JOIN deltran.users u ON u.id = r.user_id
         JOIN deltran.users q ON q.id = r.requested_by
         WHERE r.status = 'pending' ORDER BY r.requested_at, r.id"#,
    )
    .fetch_all(db)
    .await
}

/// The fields a mutation needs to know about its target, locked for the transaction.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub is_active: bool,
}

/// Locks a user's row for the rest of the transaction; `NotFound` if there is none.
pub async fn lock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> Result<Target, AppError> {
    sqlx::query_as!(
        Target,
        r#"SELECT id, username, role AS "role: Role", is_active FROM deltran.users
           WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(AppError::NotFound)
}

/// The active admins' ids, their rows locked for the rest of the transaction. Taken before
/// the target's row by every change that may leave fewer admins (demotion, deactivation), so
/// that two admins demoting or deactivating each other at once are serialised: the second
/// sees the first's change and finds itself the last admin.
pub async fn lock_active_admins(tx: &mut Transaction<'_, Postgres>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM deltran.users WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await
}

/// A user's role, unlocked (to decide what a change needs before its transaction starts);
/// `NotFound` if there is no such user.
pub async fn role_of(db: &PgPool, id: Uuid) -> Result<Role, AppError> {
    sqlx::query_scalar!(
        r#"SELECT role AS "role: Role" FROM deltran.users WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)
}

pub async fn set_role(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    role: Role,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.users SET role = $2 WHERE id = $1",
        id,
        role as Role
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_active(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    active: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.users SET is_active = $2 WHERE id = $1",
        id,
        active
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn set_password_hash(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE deltran.users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
        id,
        password_hash
    )
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
    let inserted = sqlx::query_scalar!(
        "INSERT INTO deltran.role_change_requests (user_id, from_role, to_role, reason, requested_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        user.id,
        user.role as Role,
        to_role as Role,
        reason,
        requested_by,
    )
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
#[derive(Debug, Clone)]
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
    sqlx::query_as!(
        PendingRequest,
        r#"SELECT id, user_id, to_role AS "to_role: Role", requested_by
           FROM deltran.role_change_requests WHERE id = $1 AND status = 'pending' FOR UPDATE"#,
        id,
    )
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
    sqlx::query!(
        "UPDATE deltran.role_change_requests \
         SET status = $2, decided_by = $3, decided_at = now() WHERE id = $1",
        id,
        status,
        decided_by,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str, sort: UserSort) -> Option<UserCursor> {
        UserList::decode(
            text,
            &UserFilter {
                sort,
                ..Default::default()
            },
        )
    }

    fn parse(query: &UserQuery) -> Result<UserFilter, AppError> {
        list::parse::<UserList>(query).map(|(filter, _)| filter)
    }

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
            assert_eq!(decode(&UserList::encode(&c), sort), Some(c.clone()));
            let other = if sort == UserSort::Created {
                UserSort::Username
            } else {
                UserSort::Created
            };
            assert_eq!(decode(&UserList::encode(&c), other), None);
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
            assert_eq!(decode(junk, UserSort::Created), None, "{junk}");
            assert_eq!(decode(junk, UserSort::LastSignIn), None, "{junk}");
        }
        assert_eq!(decode("u.", UserSort::Username), None);
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
        let Err(AppError::Validation { field_errors }) = parse(&query) else {
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
        let filter = parse(&query).unwrap();
        assert_eq!(filter.search.as_deref(), Some("ad"));
        assert_eq!(filter.role, Some(Role::Auditor));
        assert_eq!(filter.status, Some(UserStatus::Locked));
        assert_eq!(filter.two_factor, Some(false));
        assert_eq!(filter.sort, UserSort::Created);
        assert_eq!(parse(&UserQuery::default()).unwrap(), UserFilter::default());
    }
}
