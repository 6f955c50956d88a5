//! The profile's server functions. Permission: self, for all of them.

use leptos::prelude::*;
use uuid::Uuid;

use super::{Profile, TwoFactorSetup};
use crate::error::AppError;

/// Session key of a TOTP secret being enrolled, until its first code confirms it.
#[cfg(feature = "ssr")]
const PENDING_TOTP: &str = "pending_totp";

/// One's own account, 2FA state and live sessions. Permission: self.
#[server(prefix = "/api/profile", endpoint = "get_profile")]
pub async fn get_profile() -> Result<Profile, AppError> {
    use crate::backend::{auth, db, state};
    let me = auth::require(crate::auth::Permission::SelfService).await?;
    let state = state::current()?;
    db::users::profile(&state.db, &me).await
}

/// Changes one's password after checking the current one; every other session of the user
/// ends. Permission: self.
#[server(prefix = "/api/profile", endpoint = "change_password")]
pub async fn change_password(current: String, new: String, repeat: String) -> Result<(), AppError> {
    use crate::backend::{audit, auth, db, passwords, state};
    let me = auth::require(crate::auth::Permission::SelfService).await?;
    let state = state::current()?;
    if new != repeat {
        return Err(AppError::field("repeat", "The two new passwords differ."));
    }
    passwords::check_strength(&new).map_err(|e| AppError::field("new", format!("Please {e}.")))?;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM deltran.users WHERE id = $1")
        .bind(me.user_id)
        .fetch_one(&state.db)
        .await?;
    if !passwords::verify(current, hash).await? {
        return Err(AppError::field(
            "current",
            "This is not your current password.",
        ));
    }
    let new_hash = passwords::hash(new).await?;
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "UPDATE deltran.users SET password_hash = $2, password_changed_at = now() WHERE id = $1",
    )
    .bind(me.user_id)
    .bind(&new_hash)
    .execute(&mut *tx)
    .await?;
    let ended =
        db::sessions::revoke_all_of(&mut tx, me.user_id, Some(me.session_id), "password changed")
            .await?;
    audit::record(
        &mut tx,
        audit::AuditEvent::new(
            me.actor(),
            "user.password_change",
            "user",
            Some(me.user_id.to_string()),
        )
        .metadata(serde_json::json!({ "other_sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Starts enrolling an authenticator: a new secret, kept in the session until confirmed.
/// Permission: self.
#[server(prefix = "/api/profile", endpoint = "begin_two_factor")]
pub async fn begin_two_factor() -> Result<TwoFactorSetup, AppError> {
    use crate::backend::{auth, totp};
    let me = auth::require(crate::auth::Permission::SelfService).await?;
    let session = crate::backend::auth::current_session().await?;
    let secret = totp::generate_secret();
    let encoded = totp::base32_encode(&secret);
    session
        .insert(PENDING_TOTP, &encoded)
        .await
        .map_err(|_| AppError::Unavailable)?;
    let uri = totp::otpauth_uri(totp::ISSUER, &me.username, &secret);
    Ok(TwoFactorSetup {
        qr_svg: totp::qr_svg(&uri),
        secret: encoded,
    })
}

/// Confirms enrolment with a first code; turns 2FA on and returns ten recovery codes, shown
/// once. Permission: self.
#[server(prefix = "/api/profile", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(code: String) -> Result<Vec<String>, AppError> {
    use crate::backend::{audit, auth, crypto, db::twofactor, recovery, state, totp};
    let me = auth::require(crate::auth::Permission::SelfService).await?;
    let state = state::current()?;
    let session = crate::backend::auth::current_session().await?;
    let pending: Option<String> = session
        .get(PENDING_TOTP)
        .await
        .map_err(|_| AppError::Unavailable)?;
    let secret = pending
        .and_then(|p| totp::base32_decode(&p))
        .ok_or_else(|| AppError::field("code", "Start the set-up again."))?;
    let Some(step) = totp::verify(&secret, &code, chrono::Utc::now().timestamp(), None) else {
        return Err(AppError::field(
            "code",
            "That code is not right. Check the time on your device.",
        ));
    };
    let codes = recovery::recovery_codes();
    let mut tx = state.db.begin().await?;
    twofactor::enrol(
        &mut tx,
        me.user_id,
        &crypto::encrypt(&state.config.totp_key, crypto::TOTP_PURPOSE, &secret),
    )
    .await?;
    twofactor::record_step(&mut tx, me.user_id, step).await?;
    twofactor::store_recovery_codes(&mut tx, me.user_id, &codes).await?;
    audit::record(
        &mut tx,
        audit::AuditEvent::new(
            me.actor(),
            "user.2fa_enrol",
            "user",
            Some(me.user_id.to_string()),
        ),
    )
    .await?;
    tx.commit().await?;
    let _ = session.remove::<String>(PENDING_TOTP).await;
    Ok(codes)
}

/// Ends one of one's own other sessions. Permission: self.
#[server(prefix = "/api/profile", endpoint = "revoke_own_session")]
pub async fn revoke_own_session(id: Uuid) -> Result<(), AppError> {
    use crate::backend::{audit, auth, db, state};
    let me = auth::require(crate::auth::Permission::SelfService).await?;
    let state = state::current()?;
    let mut tx = state.db.begin().await?;
    let owned: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deltran.sessions WHERE id = $1 AND user_id = $2)",
    )
    .bind(id)
    .bind(me.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if !owned {
        return Err(AppError::NotFound);
    }
    db::sessions::revoke(&mut tx, id, "revoked by its user").await?;
    audit::record(
        &mut tx,
        audit::AuditEvent::new(
            me.actor(),
            "session.revoke",
            "session",
            Some(id.to_string()),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
