//! Console users.

use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    backend::{
        audit::{self, Actor, AuditEvent},
        error::violated_constraint,
    },
    domain::Role,
    error::AppError,
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

/// A user as the Users page lists them.
pub async fn list(db: &sqlx::PgPool) -> sqlx::Result<Vec<crate::users::UserRow>> {
    sqlx::query_as(
        "SELECT id, username, email, role, is_active, is_2fa_enabled, last_login_at, \
                CASE WHEN locked_until > now() THEN locked_until END AS locked_until \
         FROM deltran.users ORDER BY username",
    )
    .fetch_all(db)
    .await
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

/// Active admins other than `except`.
pub async fn other_active_admins(
    tx: &mut Transaction<'_, Postgres>,
    except: Uuid,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM deltran.users WHERE role = 'admin' AND is_active AND id <> $1",
    )
    .bind(except)
    .fetch_one(&mut **tx)
    .await
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

/// Clears the lockout in Postgres (the Redis counter is the caller's).
pub async fn unlock(tx: &mut Transaction<'_, Postgres>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE deltran.users SET locked_until = NULL, failed_login_attempts = 0 WHERE id = $1",
    )
    .bind(id)
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
