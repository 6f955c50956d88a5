//! The profile's server functions. Permission: self, for all of them.

use leptos::prelude::*;
use uuid::Uuid;

use super::{Profile, TwoFactorSetup};
use crate::error::AppError;

/// Session key of a TOTP secret being enrolled, until its first code confirms it.
#[cfg(feature = "ssr")]
const PENDING_TOTP: &str = "pending_totp";

crate::guard!(GetProfile, SelfService);

/// One's own account, 2FA state and live sessions. Permission: self.
#[server(prefix = "/api/profile", endpoint = "get_profile")]
pub async fn get_profile() -> Result<Profile, AppError> {
    use crate::backend::{auth, db, state};
    let me = auth::require_for::<GetProfile>().await?;
    let state = state::current()?;
    db::users::profile(&state.db, &me).await
}

crate::guard!(ChangePassword, SelfService);

/// Changes one's password after checking the current one; every other session of the user
/// ends. A wrong current password counts as a failed sign-in (429 once locked out).
/// Permission: self.
#[server(prefix = "/api/profile", endpoint = "change_password")]
pub async fn change_password(current: String, new: String, repeat: String) -> Result<(), AppError> {
    use crate::backend::{audit, auth, db, passwords, state};
    let me = auth::require_for::<ChangePassword>().await?;
    let state = state::current()?;
    if new != repeat {
        return Err(AppError::field("repeat", "The two new passwords differ."));
    }
    passwords::check_strength(&new).map_err(|e| AppError::field("new", format!("Please {e}.")))?;
    if !auth::own_password_ok(&state, &me, &current).await? {
        return Err(AppError::field(
            "current",
            "This is not your current password.",
        ));
    }
    let new_hash = passwords::hash(new).await?;
    let mut tx = state.db.begin().await?;
    db::users::set_password_hash(&mut tx, me.user_id, &new_hash).await?;
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

crate::guard!(BeginTwoFactor, SelfService);

/// Starts enrolling an authenticator: a new secret, kept in the session until confirmed.
/// Permission: self.
#[server(prefix = "/api/profile", endpoint = "begin_two_factor")]
pub async fn begin_two_factor() -> Result<TwoFactorSetup, AppError> {
    use crate::backend::{auth, totp};
    let me = auth::require_for::<BeginTwoFactor>().await?;
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

crate::guard!(ConfirmTwoFactor, SelfService);

/// Confirms enrolment with a first code; turns 2FA on and returns ten recovery codes, shown
/// once. When 2FA is on already (enrolling another authenticator), `current` must be a code
/// of the current one (or a recovery code), counted like a sign-in: a session alone cannot
/// move the second factor to an attacker's device. Permission: self.
#[server(prefix = "/api/profile", endpoint = "confirm_two_factor")]
pub async fn confirm_two_factor(
    code: String,
    current: Option<String>,
) -> Result<Vec<String>, AppError> {
    use crate::backend::{
        audit, auth, config::Secret, crypto, db, db::twofactor, recovery, state, totp,
    };
    let me = auth::require_for::<ConfirmTwoFactor>().await?;
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
        if !auth::own_code_ok(&state, &me, &current).await? {
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
    db::sessions::mark_second_factor(&mut tx, me.session_id).await?;
    db::sessions::revoke_all_of(&mut tx, me.user_id, Some(me.session_id), "2FA enrolled").await?;
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

crate::guard!(RevokeOwnSession, SelfService);

/// Ends one of one's own other sessions. Permission: self.
#[server(prefix = "/api/profile", endpoint = "revoke_own_session")]
pub async fn revoke_own_session(id: Uuid) -> Result<(), AppError> {
    use crate::backend::{audit, auth, db, state};
    let me = auth::require_for::<RevokeOwnSession>().await?;
    let state = state::current()?;
    let mut tx = state.db.begin().await?;
    if !db::sessions::is_of(&mut tx, id, me.user_id).await? {
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
