//! One's own account (permission: self), shared by the Profile page's server functions: a new
//! password (checked against the current one; every other session ends), enrolling an
//! authenticator (a first code confirms it; with 2FA on already, a code of the current one is
//! needed too; ten recovery codes), and ending one of one's other sessions. Each change and
//! its audit row commit together. SQL is `db::users`', `db::sessions`' and `db::twofactor`'.

use uuid::Uuid;

use super::{
    audit::{self, AuditEvent},
    auth::{self, Identity},
    config::Secret,
    crypto,
    db::{sessions, twofactor, users},
    passwords, recovery,
    state::AppState,
    totp,
};
use crate::error::AppError;

fn about_me(me: &Identity, action: &str) -> AuditEvent {
    AuditEvent::new(me.actor(), action, "user", Some(me.user_id.to_string()))
}

/// Changes `me`'s password after checking the current one; every other session of theirs
/// ends. A wrong current password counts as a failed sign-in (429 once locked out).
pub async fn change_password(
    state: &AppState,
    me: &Identity,
    current: &str,
    new: String,
    repeat: &str,
) -> Result<(), AppError> {
    if new != repeat {
        return Err(AppError::field("repeat", "The two new passwords differ."));
    }
    passwords::check_strength(&new).map_err(|e| AppError::field("new", format!("Please {e}.")))?;
    if !auth::own_password_ok(state, me, current).await? {
        return Err(AppError::field(
            "current",
            "This is not your current password.",
        ));
    }
    let new_hash = passwords::hash(new).await?;
    let mut tx = state.db.begin().await?;
    users::set_password_hash(&mut tx, me.user_id, &new_hash).await?;
    let ended =
        sessions::revoke_all_of(&mut tx, me.user_id, Some(me.session_id), "password changed")
            .await?;
    audit::record(
        &mut tx,
        about_me(me, "user.password_change")
            .metadata(serde_json::json!({ "other_sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns 2FA on with `pending` (the base32 secret being enrolled, as the session kept it) once
/// `code` is one of its codes; returns ten recovery codes, shown once. With 2FA on already,
/// `current` must be a code of the current authenticator (or a recovery code), counted like a
/// sign-in: a session alone cannot move the second factor to another device. Every other
/// session ends, and this one counts as having shown a second factor.
pub async fn confirm_two_factor(
    state: &AppState,
    me: &Identity,
    pending: Option<&str>,
    code: &str,
    current: Option<&str>,
) -> Result<Vec<String>, AppError> {
    let secret = pending
        .and_then(totp::base32_decode)
        .ok_or_else(|| AppError::field("code", "Start the set-up again."))?;
    let Some(step) = totp::verify(&secret, code, chrono::Utc::now().timestamp(), None) else {
        return Err(AppError::field(
            "code",
            "That code is not right. Check the time on your device.",
        ));
    };
    if twofactor::load_secret(&state.db, me.user_id)
        .await?
        .is_some()
    {
        let current = current.unwrap_or_default();
        if current.trim().is_empty() {
            return Err(AppError::field(
                "current",
                "Two-factor sign-in is on: enter a code from your current authenticator app.",
            ));
        }
        if !auth::own_code_ok(state, me, current).await? {
            return Err(AppError::field(
                "current",
                "That is not a code of your current authenticator app.",
            ));
        }
    }
    let codes = recovery::recovery_codes();
    let mut tx = state.db.begin().await?;
    twofactor::enrol(
        &mut tx,
        me.user_id,
        &crypto::encrypt(
            state.config.secret(Secret::TotpEncryption),
            crypto::TOTP_PURPOSE,
            &secret,
        ),
    )
    .await?;
    twofactor::record_step(&mut tx, me.user_id, step).await?;
    twofactor::store_recovery_codes(&mut tx, me.user_id, &codes).await?;
    // This session has just shown a code; any other was opened without one (perhaps by
    // someone who had only the password) and must not inherit the second factor.
    sessions::mark_second_factor(&mut tx, me.session_id).await?;
    sessions::revoke_all_of(&mut tx, me.user_id, Some(me.session_id), "2FA enrolled").await?;
    audit::record(&mut tx, about_me(me, "user.2fa_enrol")).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Ends one of `me`'s own sessions; `NotFound` for a session that is not theirs.
pub async fn revoke_own_session(state: &AppState, me: &Identity, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    if !sessions::is_of(&mut tx, id, me.user_id).await? {
        return Err(AppError::NotFound);
    }
    sessions::revoke(&mut tx, id, "revoked by its user").await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
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
