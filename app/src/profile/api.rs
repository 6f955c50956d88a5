//! The profile's server functions: the permission (self, for all of them), then one call of
//! `backend::profile`; enrolment keeps the secret being enrolled in the session until its
//! first code confirms it.

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
    use crate::backend::{auth, profile, state};
    let me = auth::require_for::<ChangePassword>().await?;
    profile::change_password(&state::current()?, &me, &current, new, &repeat).await
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
    use crate::backend::{auth, profile, state};
    let me = auth::require_for::<ConfirmTwoFactor>().await?;
    let session = auth::current_session().await?;
    let pending: Option<String> = session
        .get(PENDING_TOTP)
        .await
        .map_err(|_| AppError::Unavailable)?;
    let codes = profile::confirm_two_factor(
        &state::current()?,
        &me,
        pending.as_deref(),
        &code,
        current.as_deref(),
    )
    .await?;
    let _ = session.remove::<String>(PENDING_TOTP).await;
    Ok(codes)
}

crate::guard!(RevokeOwnSession, SelfService);

/// Ends one of one's own other sessions. Permission: self.
#[server(prefix = "/api/profile", endpoint = "revoke_own_session")]
pub async fn revoke_own_session(id: Uuid) -> Result<(), AppError> {
    use crate::backend::{auth, profile, state};
    let me = auth::require_for::<RevokeOwnSession>().await?;
    profile::revoke_own_session(&state::current()?, &me, id).await
}
