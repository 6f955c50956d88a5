//! The sessions area's changes, shared by the Sessions page's server functions and the REST
//! API: an admin revokes one live session, or every live session of a user; each with its
//! `session.revoke` audit row in the same transaction. SQL is `db::sessions`'.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    audit::{self, AuditEvent},
    auth::Identity,
    db::sessions,
};
use crate::error::AppError;

/// Revokes one live session; `NotFound` if there is no live session of that id.
pub async fn revoke(db: &PgPool, me: &Identity, session_id: Uuid) -> Result<(), AppError> {
    let mut tx = db.begin().await?;
    let owner = sessions::owner_of_live(&mut tx, session_id)
        .await?
        .ok_or(AppError::NotFound)?;
    sessions::revoke(&mut tx, session_id, "revoked by an admin").await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            me.actor(),
            "session.revoke",
            "session",
            Some(session_id.to_string()),
        )
        .metadata(json!({ "user_id": owner.to_string() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes every live session of a user but the caller's own current one; returns how many.
pub async fn revoke_all_of(db: &PgPool, me: &Identity, user_id: Uuid) -> Result<u64, AppError> {
    let mut tx = db.begin().await?;
    let keep = (user_id == me.user_id).then_some(me.session_id);
    let n = sessions::revoke_all_of(&mut tx, user_id, keep, "revoked by an admin").await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            me.actor(),
            "session.revoke",
            "user",
            Some(user_id.to_string()),
        )
        .metadata(json!({ "all_of_user": true, "sessions_revoked": n })),
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
