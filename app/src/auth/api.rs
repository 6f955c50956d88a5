//! Sign-in, sign-out and "who am I" as server functions.

use leptos::prelude::*;

use super::Me;
use crate::error::AppError;

crate::guard!(CurrentUser, public);

/// The signed-in user, or `None`. Permission: none (it is how pages find out).
#[server(prefix = "/api/auth", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    use crate::backend::{auth, state};
    let state = state::current()?;
    Ok(auth::current_identity(&state).await?.map(|i| i.me()))
}

/// What a sign-in attempt came to, when it did not fail outright.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LoginOutcome {
    SignedIn,
    /// The password was right; the account needs its one-time code too.
    OtpRequired,
}

crate::guard!(Login, public);

/// Signs in with username, password and, for accounts with 2FA, a one-time code; on success
/// redirects to `next` (a path on this site) or the dashboard. Permission: none.
#[server(prefix = "/api/auth", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    otp: Option<String>,
    next: Option<String>,
) -> Result<LoginOutcome, AppError> {
    use crate::backend::auth::{self, LoginPolicy, LoginRefusal};
    let state = crate::backend::state::current()?;
    let policy = LoginPolicy::from_config(&state.config);
    let user = match auth::authenticate(&state, policy, &username, &password, otp.as_deref()).await
    {
        Ok(user) => user,
        Err(LoginRefusal::OtpRequired) => return Ok(LoginOutcome::OtpRequired),
        Err(refusal) => return Err(refusal.into()),
    };
    let session = crate::backend::auth::current_session().await?;
    let me = auth::open_browser_session(&state, &session, user).await?;
    // An admin without 2FA goes straight to setting it up: nothing else is open to them.
    leptos_axum::redirect(&if me.needs_two_factor {
        "/profile".to_string()
    } else {
        safe_next(next.as_deref())
    });
    Ok(LoginOutcome::SignedIn)
}

crate::guard!(Logout, SelfService);

/// Ends the current browser session. Permission: self.
#[server(prefix = "/api/auth", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::backend::auth;
    let me = auth::require_for::<Logout>().await?;
    let state = crate::backend::state::current()?;
    let session = crate::backend::auth::current_session().await?;
    auth::close_browser_session(&state, &session, &me).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Where to go after signing in: a path on this site, never another site. Only printable
/// ASCII without spaces or backslashes is followed: browsers drop tabs and newlines from
/// URLs (`/\t/evil.example` is read as `//evil.example`) and read `\` as `/`, and a CR or LF
/// could not go into the `Location` header at all.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/login")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/payments?x=1")), "/payments?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "javascript:x",
            "/login",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/\u{7f}/evil.example",
            "/\u{a0}/evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
