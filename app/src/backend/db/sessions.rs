//! Sign-in sessions (`deltran.sessions`): one row per browser session or API refresh-token
//! session. A row that is revoked or past `expires_at` no longer authenticates anything.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::Role;

/// The user behind a live session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUser {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub stale: bool,
    /// An admin without 2FA (see `backend::auth::Identity::needs_two_factor`).
    pub needs_two_factor: bool,
}

/// Opens a session row; `kind` is `browser` or `api`.
pub async fn open(
    conn: &mut PgConnection,
    user_id: Uuid,
    kind: &str,
    refresh_token_hash: Option<&str>,
    ip: Option<IpAddr>,
    user_agent: Option<&str>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    sqlx::query_scalar(
        "INSERT INTO deltran.sessions (user_id, kind, refresh_token_hash, ip_address, user_agent, expires_at) \
         VALUES ($1, $2, $3, $4::text::inet, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(kind)
    .bind(refresh_token_hash)
    .bind(ip.map(|ip| ip.to_string()))
    .bind(user_agent)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

/// The user of a session that is neither revoked nor expired, whose user is active; `stale`
/// says its last activity is more than a minute old.
pub async fn live(db: &PgPool, session_id: Uuid) -> sqlx::Result<Option<SessionUser>> {
    sqlx::query_as(
        "SELECT s.id AS session_id, u.id AS user_id, u.username, u.role, \
                s.last_activity_at < now() - interval '1 minute' AS stale, \
                (u.role = 'admin' AND NOT u.is_2fa_enabled) AS needs_two_factor \
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND u.is_active",
    )
    .bind(session_id)
    .fetch_optional(db)
    .await
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

/// Every live session (neither revoked nor expired), most recently active first.
pub async fn list_live(db: &PgPool) -> sqlx::Result<Vec<crate::sessions::SessionRow>> {
    sqlx::query_as(
        "SELECT s.id, s.user_id, u.username, s.kind, host(s.ip_address) AS ip_address, \
                s.user_agent, s.created_at, s.last_activity_at, s.expires_at \
         FROM deltran.sessions s JOIN deltran.users u ON u.id = s.user_id \
         WHERE s.revoked_at IS NULL AND s.expires_at > now() \
         ORDER BY s.last_activity_at DESC, s.id LIMIT 1000",
    )
    .fetch_all(db)
    .await
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
