//! Identity and permission checks on the server, and the sign-in procedure.
//!
//! `require(permission)` is the first line of every server function; the REST API resolves a
//! bearer token to the same `Identity` and calls `authorize`. A denial answers 403 and leaves
//! an audit row with result `denied`.

use std::net::IpAddr;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    audit::{self, Actor, ActorKind, AuditEvent, Outcome, Severity},
    context::RequestContext,
    db::{
        logins::{self, Attempt, LockoutRule},
        sessions, users,
    },
    error::internal,
    passwords,
    session_store::SESSION_ROW,
    state::{self, AppState},
};
use crate::{
    auth::{Me, Permission},
    domain::Role,
    error::AppError,
    sessions::SessionKind,
};

/// Who is making the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub session_id: Uuid,
    /// The session's sign-in presented no second factor, but the account has 2FA (the
    /// session predates enrolment) or is an admin's (admins must set it up): until one is
    /// presented, only the user's own profile is open.
    pub needs_two_factor: bool,
}

impl Identity {
    /// Whether this identity may use `permission` now: the role has it, and an admin without
    /// 2FA is limited to self-service.
    pub fn may(&self, permission: Permission) -> bool {
        self.role.can(permission)
            && (!self.needs_two_factor || permission == Permission::SelfService)
    }

    pub fn actor(&self) -> Actor {
        Actor::user(self.user_id, &self.username)
    }

    pub fn me(&self) -> Me {
        Me {
            username: self.username.clone(),
            role: self.role,
            permissions: Permission::ALL
                .into_iter()
                .filter(|p| self.may(*p))
                .collect(),
            needs_two_factor: self.needs_two_factor,
        }
    }
}

/// The browser session of the current server-function call or page render, if signed in.
pub async fn current_identity(state: &AppState) -> Result<Option<Identity>, AppError> {
    session_identity(state, &current_session().await?).await
}

/// The browser session of the current server-function call or page render.
pub async fn current_session() -> Result<tower_sessions::Session, AppError> {
    leptos_axum::extract()
        .await
        .map_err(|e| internal(format!("session layer missing: {e}")))
}

/// The identity a browser session stands for, if it still counts.
pub async fn session_identity(
    state: &AppState,
    session: &tower_sessions::Session,
) -> Result<Option<Identity>, AppError> {
    let row: Option<Uuid> = session.get(SESSION_ROW).await.map_err(|e| {
        tracing::warn!(error = %e, "session store unavailable");
        AppError::Unavailable
    })?;
    let Some(row) = row else { return Ok(None) };
    match resolve_session(&state.db, row, SessionKind::Browser).await? {
        Some(identity) => Ok(Some(identity)),
        None => {
            // Revoked, expired or deactivated: forget it here too.
            let _ = session.flush().await;
            Ok(None)
        }
    }
}

/// The identity behind a `deltran.sessions` row of `kind` that still counts (a cookie never
/// stands for an API session, nor a token for a browser one).
pub async fn resolve_session(
    db: &PgPool,
    session_id: Uuid,
    kind: SessionKind,
) -> Result<Option<Identity>, AppError> {
    let Some(live) = sessions::live(db, session_id, kind).await? else {
        return Ok(None);
    };
    if live.stale {
        sessions::touch(db, session_id).await?;
    }
    Ok(Some(Identity {
        user_id: live.user_id,
        username: live.username,
        role: live.role,
        session_id: live.session_id,
        needs_two_factor: live.needs_two_factor,
    }))
}

/// The first line of every server function: the signed-in user, if their role has
/// `permission`. 401 without a session, 403 (and an audit row) without the permission.
pub async fn require(permission: Permission) -> Result<Identity, AppError> {
    let state = state::current()?;
    // The server's guard resolved the caller of a server function already; a page rendered
    // on the server calls the functions directly, and they look the session up themselves.
    let resolved = leptos_axum::extract::<axum::Extension<Identity>>().await;
    let identity = match resolved {
        Ok(axum::Extension(identity)) => identity,
        Err(_) => current_identity(&state)
            .await?
            .ok_or(AppError::Unauthorized)?,
    };
    authorize(&state.db, identity, permission).await
}

/// `require` with the permission `guard!` declared for the server function `F`: the first
/// line of every guarded server function.
pub async fn require_for<F: crate::auth::Guarded>() -> Result<Identity, AppError> {
    require(F::PERMISSION).await
}

/// Checks `identity` against the matrix; a denial is audited.
pub async fn authorize(
    db: &PgPool,
    identity: Identity,
    permission: Permission,
) -> Result<Identity, AppError> {
    if identity.may(permission) {
        return Ok(identity);
    }
    let ctx = RequestContext::current();
    let (why, error) = if identity.role.can(permission) {
        (
            "the session was signed in without a second factor".to_string(),
            AppError::TwoFactorRequired,
        )
    } else {
        (
            format!("{} lacks {}", identity.role, permission),
            AppError::Forbidden,
        )
    };
    let event = AuditEvent::new(
        identity.actor(),
        "access.denied",
        "permission",
        Some(permission.name().into()),
    )
    .outcome(Outcome::Denied, Some(why))
    .severity(Severity::Warning);
    super::denials::record(db, &identity, permission, event, &ctx).await?;
    Err(error)
}

/// Sign-in limits (configurable; see `.env.example`).
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Per username (known or not), kept in Postgres: see `db::logins::LockoutRule`.
    pub account: LockoutRule,
    /// Attempts from one client address (an IPv6 /64), across usernames, within
    /// `account.window`, before the address is refused until the window ends.
    pub max_attempts_per_ip: u32,
}

impl LoginPolicy {
    pub fn from_config(config: &super::config::Config) -> Self {
        LoginPolicy {
            account: LockoutRule {
                max_failures: config.login_max_failures,
                window: config.login_lockout,
                backoff: config.login_backoff,
            },
            max_attempts_per_ip: config.login_max_failures_per_ip,
        }
    }
}

/// Why a sign-in was refused. Unknown user, wrong password and inactive user are all
/// `Invalid`: the caller cannot tell them apart, and they cost the same time.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginRefusal {
    Invalid,
    /// Too many attempts for this username or address; retry after that many seconds.
    Locked {
        retry_after_secs: u64,
    },
    /// Password right, second factor missing: ask for the one-time code.
    OtpRequired,
    /// Postgres or Redis (the attempt counters) is unreachable: sign-in fails closed.
    Unavailable,
}

impl From<LoginRefusal> for AppError {
    fn from(r: LoginRefusal) -> Self {
        match r {
            LoginRefusal::Invalid => AppError::InvalidCredentials,
            LoginRefusal::Locked { retry_after_secs } => {
                AppError::TooManyRequests { retry_after_secs }
            }
            LoginRefusal::OtpRequired => AppError::field(
                "otp",
                "Enter the one-time code from your authenticator app.",
            ),
            LoginRefusal::Unavailable => AppError::Unavailable,
        }
    }
}

fn unavailable(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> LoginRefusal {
    move |e| {
        tracing::warn!(error = %e, "sign-in refused: {what} unavailable");
        LoginRefusal::Unavailable
    }
}

/// Who `authenticate` let in.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// The sign-in presented a one-time or recovery code (recorded on the session).
    pub second_factor: bool,
}

/// A valid argon2id hash of a random password, verified against when the user does not
/// exist so that every refusal costs the same.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    passwords::hash_blocking(&Uuid::new_v4().to_string()).expect("argon2 hashes")
});

/// The Redis key counting sign-in attempts from one client address (docs/redis.md); IPv6
/// addresses count per /64, the block one subscriber usually holds.
pub fn address_key(prefix: &str, ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{prefix}login:ip:{v4}"),
        IpAddr::V6(v6) => {
            let block = ipnet::Ipv6Net::new(v6, 64).expect("64 is a valid prefix length");
            format!("{prefix}login:ip:{}", block.trunc())
        }
    }
}

/// Counts an attempt from `ip` and refuses it above the limit. One script, so concurrent
/// attempts cannot both read a count below the limit; the window starts with the first
/// attempt and is not extended by later ones.
async fn reserve_address(
    state: &AppState,
    policy: LoginPolicy,
    ip: Option<IpAddr>,
) -> Result<(), LoginRefusal> {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(
            "local n = redis.call('INCR', KEYS[1]) \
             if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end \
             return {n, redis.call('TTL', KEYS[1])}",
        )
    });
    let Some(ip) = ip else { return Ok(()) };
    let (count, ttl): (u32, i64) = SCRIPT
        .key(address_key(&state.config.redis_prefix, ip))
        .arg(policy.account.window.as_secs().max(1))
        .invoke_async(&mut state.redis.clone())
        .await
        .map_err(|e| unavailable("Redis")(&e))?;
    if count > policy.max_attempts_per_ip {
        return Err(LoginRefusal::Locked {
            retry_after_secs: ttl.max(1) as u64,
        });
    }
    Ok(())
}

/// Gives a successful sign-in's reservation back to its address: only failures count. A
/// counter that expired meanwhile is left alone: a plain DECR would re-create it at -1, with
/// no TTL, for ever (and one attempt more for the address).
async fn release_address(state: &AppState, ip: Option<IpAddr>) {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
        redis::Script::new(
            "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end \
             return 0",
        )
    });
    if let Some(ip) = ip {
        let key = address_key(&state.config.redis_prefix, ip);
        let _: Result<i64, _> = SCRIPT.key(key).invoke_async(&mut state.redis.clone()).await;
    }
}

/// Locked until `until`: `Retry-After` in whole seconds, rounded up.
fn retry_after(until: chrono::DateTime<Utc>) -> LoginRefusal {
    let millis = (until - Utc::now()).num_milliseconds().max(1) as u64;
    LoginRefusal::Locked {
        retry_after_secs: millis.div_ceil(1000),
    }
}

/// Checks a username and password (and one-time code when the user has 2FA) under the
/// brute-force limits. Each attempt is counted for its address and its username before
/// anything is checked; a success takes it back. On success, returns the identity to open a
/// session for (the session itself is the caller's: browser or API).
pub async fn authenticate(
    state: &AppState,
    policy: LoginPolicy,
    username: &str,
    password: &str,
    otp: Option<&str>,
) -> Result<SignedInUser, LoginRefusal> {
    let ip = RequestContext::current().ip;
    reserve_address(state, policy, ip).await?;
    // Text that cannot be a username is refused before it is written anywhere (the audit
    // log, the counters): it is unauthenticated input.
    let Ok(username) = crate::domain::parse_username(username) else {
        return Err(record_failure(state, None, None, "malformed username", 0, None).await);
    };
    let (failures, lock) = match logins::reserve(&state.db, &username, policy.account).await {
        Ok(Attempt::Allowed { failures, lock }) => (failures, lock),
        Ok(Attempt::Locked { until }) => return Err(retry_after(until)),
        Err(e) => return Err(unavailable("Postgres")(&e)),
    };

    let user = users::login_user(&state.db, &username)
        .await
        .map_err(|e| unavailable("Postgres")(&e))?;
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password_ok = passwords::verify(password.to_string(), hash)
        .await
        .map_err(|_| LoginRefusal::Unavailable)?;

    let refusal = match &user {
        Some(u) if password_ok && u.is_active => match (u.is_2fa_enabled, otp) {
            (false, _) => None,
            (true, None) => return Err(LoginRefusal::OtpRequired),
            (true, Some(code)) if code.trim().is_empty() => return Err(LoginRefusal::OtpRequired),
            (true, Some(code)) if second_factor_ok(state, u.id, code.trim()).await => None,
            (true, Some(_)) => Some("wrong one-time code"),
        },
        Some(u) if !u.is_active => Some("inactive user"),
        Some(_) => Some("wrong password"),
        None => Some("unknown user"),
    };
    if let Some(reason) = refusal {
        let user_id = user.map(|u| u.id);
        return Err(record_failure(state, Some(&username), user_id, reason, failures, lock).await);
    }
    let user = user.expect("no refusal implies a user");

    let mut tx = state
        .db
        .begin()
        .await
        .map_err(|e| unavailable("Postgres")(&e))?;
    let signed_in = async {
        logins::clear(&mut tx, &username).await?;
        users::record_sign_in(&mut tx, user.id, ip).await
    }
    .await;
    signed_in.map_err(|e| unavailable("Postgres")(&e))?;
    tx.commit().await.map_err(|e| unavailable("Postgres")(&e))?;
    release_address(state, ip).await;
    Ok(SignedInUser {
        second_factor: user.is_2fa_enabled,
        id: user.id,
        username: user.username,
        role: user.role,
    })
}

/// Audits a failed sign-in (and the lockout it caused, if any) and says what to answer. The
/// attempt was already counted by `logins::reserve`.
async fn record_failure(
    state: &AppState,
    username: Option<&str>,
    user_id: Option<Uuid>,
    reason: &str,
    failures: i32,
    lock: Option<chrono::DateTime<Utc>>,
) -> LoginRefusal {
    let ctx = RequestContext::current();
    let actor = Actor {
        id: user_id,
        kind: ActorKind::User,
        name: username.unwrap_or("-").to_string(),
    };
    let result = async {
        let mut tx = state.db.begin().await?;
        audit::append(
            &mut tx,
            &AuditEvent::new(actor.clone(), "auth.login", "session", None)
                .outcome(Outcome::Failure, Some("invalid credentials".into()))
                .severity(Severity::Notice)
                .metadata(json!({ "reason": reason, "failures": failures })),
            &ctx,
        )
        .await?;
        if let Some(until) = lock {
            let seconds = (until - Utc::now()).num_seconds().max(1);
            audit::append(
                &mut tx,
                &AuditEvent::new(
                    actor,
                    "auth.lockout",
                    "user",
                    user_id.map(|u| u.to_string()),
                )
                .severity(Severity::Warning)
                .metadata(json!({ "failures": failures, "lockout_seconds": seconds })),
                &ctx,
            )
            .await?;
        }
        tx.commit().await
    }
    .await;
    match (result, lock) {
        (Err(err), _) => {
            tracing::error!(error = %err, "could not record a failed sign-in");
            LoginRefusal::Unavailable
        }
        (Ok(()), Some(until)) => retry_after(until),
        (Ok(()), None) => LoginRefusal::Invalid,
    }
}

/// Opens a browser session for a signed-in user: the session row and its audit row in one
/// transaction, then a fresh session id in the cookie (no fixation).
pub async fn open_browser_session(
    state: &AppState,
    session: &tower_sessions::Session,
    user: SignedInUser,
) -> Result<Identity, AppError> {
    let ctx = RequestContext::current();
    let SignedInUser {
        id: user_id,
        username,
        role,
        second_factor,
    } = user;
    let expires_at =
        Utc::now() + chrono::Duration::from_std(state.config.session_absolute).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let session_id = sessions::open(
        &mut tx,
        sessions::NewSession {
            user_id,
            kind: SessionKind::Browser,
            refresh_token_hash: None,
            second_factor,
            ip: ctx.ip,
            user_agent: ctx.user_agent.as_deref(),
            expires_at,
        },
    )
    .await?;
    // The session store (Redis) before the audit row: appending locks the chain's head until
    // the commit, and no network call may hold it.
    session
        .cycle_id()
        .await
        .map_err(|_| AppError::Unavailable)?;
    session
        .insert(SESSION_ROW, session_id)
        .await
        .map_err(|_| AppError::Unavailable)?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            Actor::user(user_id, &username),
            "auth.login",
            "session",
            Some(session_id.to_string()),
        )
        .metadata(json!({ "kind": "browser" })),
    )
    .await?;
    tx.commit().await?;
    Ok(Identity {
        user_id,
        username,
        role,
        session_id,
        needs_two_factor: role == Role::Admin && !second_factor,
    })
}

/// Signs the current browser session out: the row is revoked (audited) and the record deleted.
pub async fn close_browser_session(
    state: &AppState,
    session: &tower_sessions::Session,
    identity: &Identity,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut tx, identity.session_id, "signed out").await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            identity.actor(),
            "auth.logout",
            "session",
            Some(identity.session_id.to_string()),
        ),
    )
    .await?;
    tx.commit().await?;
    session.flush().await.map_err(|_| AppError::Unavailable)?;
    Ok(())
}

/// Checks a one-time code (or, failing that, an unused recovery code) for a user with 2FA
/// enabled. A code's time step is recorded, so the same code never works twice.
pub async fn second_factor_ok(state: &AppState, user_id: Uuid, code: &str) -> bool {
    use super::{config::Secret, crypto, db::twofactor, totp};
    let result: Result<bool, AppError> = async {
        let Some(stored) = twofactor::load_secret(&state.db, user_id).await? else {
            return Ok(false);
        };
        let secret = crypto::decrypt(
            state.config.secret(Secret::TotpEncryption),
            crypto::TOTP_PURPOSE,
            &stored.encrypted_secret,
        )
        .map_err(|e| internal(format!("cannot decrypt a TOTP secret: {e:?}")))?;
        let mut tx = state.db.begin().await?;
        let accepted =
            match totp::verify(&secret, code, Utc::now().timestamp(), stored.last_used_step) {
                Some(step) => twofactor::record_step(&mut tx, user_id, step).await?,
                None => {
                    let used = twofactor::use_recovery_code(&mut tx, user_id, code).await?;
                    if used {
                        let actor = Actor {
                            id: Some(user_id),
                            kind: ActorKind::User,
                            name: String::new(),
                        };
                        audit::record(
                            &mut tx,
                            AuditEvent::new(
                                actor,
                                "auth.recovery_code",
                                "user",
                                Some(user_id.to_string()),
                            )
                            .severity(Severity::Notice),
                        )
                        .await?;
                    }
                    used
                }
            };
        tx.commit().await?;
        Ok(accepted)
    }
    .await;
    result.unwrap_or(false)
}

/// Re-authentication before a sensitive change: the signed-in user's own password again,
/// under the sign-in limits. The attempt is reserved like a sign-in's (`logins::reserve`), so
/// a wrong one counts as a failed sign-in (audit row, lockout); `Ok(false)` when wrong, 429
/// once the account is locked.
pub async fn own_password_ok(
    state: &AppState,
    me: &Identity,
    password: &str,
) -> Result<bool, AppError> {
    let attempt = reserve_own(state, me).await?;
    let hash = users::password_hash(&state.db, me.user_id).await?;
    let ok = passwords::verify(password.to_string(), hash).await?;
    settle(
        state,
        me,
        attempt,
        ok,
        "wrong password when re-authenticating",
    )
    .await
}

/// Re-authentication with one of the signed-in user's own one-time codes (or recovery
/// codes), counted like `own_password_ok`.
pub async fn own_code_ok(state: &AppState, me: &Identity, code: &str) -> Result<bool, AppError> {
    let attempt = reserve_own(state, me).await?;
    let code = code.trim();
    let ok = !code.is_empty() && second_factor_ok(state, me.user_id, code).await;
    settle(
        state,
        me,
        attempt,
        ok,
        "wrong one-time code when re-authenticating",
    )
    .await
}

/// The failure number and lock of a re-authentication, should it be wrong.
type Reserved = (i32, Option<chrono::DateTime<Utc>>);

async fn reserve_own(state: &AppState, me: &Identity) -> Result<Reserved, AppError> {
    let policy = LoginPolicy::from_config(&state.config);
    match logins::reserve(&state.db, &me.username, policy.account).await? {
        Attempt::Allowed { failures, lock } => Ok((failures, lock)),
        Attempt::Locked { until } => Err(retry_after(until).into()),
    }
}

async fn settle(
    state: &AppState,
    me: &Identity,
    (failures, lock): Reserved,
    ok: bool,
    reason: &str,
) -> Result<bool, AppError> {
    if ok {
        logins::clear(&mut *state.db.acquire().await?, &me.username).await?;
        return Ok(true);
    }
    let refusal = record_failure(
        state,
        Some(&me.username),
        Some(me.user_id),
        reason,
        failures,
        lock,
    )
    .await;
    match refusal {
        LoginRefusal::Invalid => Ok(false),
        refusal => Err(refusal.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_count_alone_and_ipv6_per_64() {
        let key = |ip: &str| address_key("deltran:", ip.parse().unwrap());
        assert_eq!(key("203.0.113.7"), "deltran:login:ip:203.0.113.7");
        assert_eq!(
            key("2001:db8:1:2:aaaa::1"),
            "deltran:login:ip:2001:db8:1:2::/64"
        );
        assert_eq!(
            key("2001:db8:1:2:ffff::9"),
            key("2001:db8:1:2::5"),
            "one /64, one counter"
        );
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }
}
