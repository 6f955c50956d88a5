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
