//! Identity and permission checks on the server, and the sign-in procedure.
//!
//! `require(permission)` is the first line of every server function; the REST API resolves a
//! bearer token to the same `Identity` and calls `authorize`. A denial answers 403 and leaves
//! an audit row with result `denied`.

use std::{net::IpAddr, time::Duration};

use chrono::Utc;
use redis::AsyncCommands;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    audit::{self, Actor, AuditEvent, Outcome},
    context::RequestContext,
    db::sessions,
    error::internal,
    passwords,
    sessions::SESSION_ROW,
    state::{self, AppState},
};
use crate::{
    auth::{Me, Permission},
    domain::Role,
    error::AppError,
};

/// Who is making the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub session_id: Uuid,
    /// An admin who has not set up two-factor authentication yet: until they do, they may
    /// only use their own profile (2FA is required for admins).
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
    match resolve_session(&state.db, row).await? {
        Some(identity) => Ok(Some(identity)),
        None => {
            // Revoked, expired or deactivated: forget it here too.
            let _ = session.flush().await;
            Ok(None)
        }
    }
}

/// The identity behind a `deltran.sessions` row that still counts.
pub async fn resolve_session(db: &PgPool, session_id: Uuid) -> Result<Option<Identity>, AppError> {
    let Some(live) = sessions::live(db, session_id).await? else {
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
    let identity = current_identity(&state)
        .await?
        .ok_or(AppError::Unauthorized)?;
    authorize(&state.db, identity, permission).await
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
            format!("{} has not set up two-factor authentication", identity.role),
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
    .severity("warning");
    super::denials::record(db, &identity, permission, event, &ctx).await?;
    Err(error)
}

/// Sign-in limits (configurable; see `.env.example`).
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    pub max_failures: u32,
    pub lockout: Duration,
    /// Failures from one client address before it is refused for `lockout`.
    pub max_failures_per_ip: u32,
}

impl LoginPolicy {
    pub fn from_config(config: &super::config::Config) -> Self {
        LoginPolicy {
            max_failures: config.login_max_failures,
            lockout: config.login_lockout,
            max_failures_per_ip: config.login_max_failures_per_ip,
        }
    }
}

/// Why a sign-in was refused. Unknown user, wrong password, inactive and locked user are all
/// `Invalid`: the caller cannot tell them apart, and they cost the same time.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginRefusal {
    Invalid,
    /// Too many failures for this username or address; retry after that many seconds.
    Locked {
        retry_after_secs: u64,
    },
    /// Password right, second factor missing: ask for the one-time code.
    OtpRequired,
    /// Redis (the failure counters) is unreachable: sign-in fails closed.
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

#[derive(Debug, Clone, sqlx::FromRow)]
struct LoginUser {
    id: Uuid,
    username: String,
    password_hash: String,
    role: Role,
    is_active: bool,
    locked: bool,
    is_2fa_enabled: bool,
}

/// Who `authenticate` let in.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// See `Identity::needs_two_factor`.
    pub needs_two_factor: bool,
}

/// A valid argon2id hash of a random password, verified against when the user does not
/// exist so that every refusal costs the same.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    passwords::hash_blocking(&Uuid::new_v4().to_string()).expect("argon2 hashes")
});

/// The Redis key counting a username's failed sign-ins (domain.md §4).
pub fn fail_key(username: &str) -> String {
    format!("deltran:login:fail:{username}")
}

fn ip_key(ip: &IpAddr) -> String {
    format!("deltran:login:ip:{ip}")
}

/// Checks a username and password (and one-time code when the user has 2FA) under the
/// brute-force limits. On success, returns the identity to open a session for (the session
/// itself is the caller's: browser or API).
pub async fn authenticate(
    state: &AppState,
    policy: LoginPolicy,
    username: &str,
    password: &str,
    otp: Option<&str>,
) -> Result<SignedInUser, LoginRefusal> {
    let ctx = RequestContext::current();
    let username: String = username.trim().to_lowercase().chars().take(64).collect();
    let mut redis = state.redis.clone();

    // Fail closed: without the counters there is no sign-in.
    let counts: (Option<u32>, Option<u32>) = match ctx.ip {
        Some(ip) => redis.mget(&[fail_key(&username), ip_key(&ip)]).await,
        None => redis
            .get::<_, Option<u32>>(fail_key(&username))
            .await
            .map(|c| (c, None)),
    }
    .map_err(|e| {
        tracing::warn!(error = %e, "sign-in refused: Redis unavailable");
        LoginRefusal::Unavailable
    })?;
    if counts.0.unwrap_or(0) >= policy.max_failures
        || counts.1.unwrap_or(0) >= policy.max_failures_per_ip
    {
        let ttl: i64 = redis
            .ttl(fail_key(&username))
            .await
            .unwrap_or(policy.lockout.as_secs() as i64);
        return Err(LoginRefusal::Locked {
            retry_after_secs: ttl.max(1) as u64,
        });
    }

    let user: Option<LoginUser> = sqlx::query_as(
        "SELECT id, username, password_hash, role, is_active, \
                coalesce(locked_until > now(), false) AS locked, is_2fa_enabled \
         FROM deltran.users WHERE username = $1",
    )
    .bind(&username)
    .fetch_optional(&state.db)
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "sign-in refused: database unavailable");
        LoginRefusal::Unavailable
    })?;
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password_ok = passwords::verify(password.to_string(), hash)
        .await
        .map_err(|_| LoginRefusal::Unavailable)?;

    let refusal = match &user {
        Some(u) if password_ok && u.is_active && !u.locked => {
            if u.is_2fa_enabled {
                match otp.map(str::trim).filter(|c| !c.is_empty()) {
                    None => return Err(LoginRefusal::OtpRequired),
                    Some(code) if second_factor_ok(state, u.id, code).await => None,
                    Some(_) => Some("wrong one-time code"),
                }
            } else {
                None
            }
        }
        Some(u) if !u.is_active => Some("inactive user"),
        Some(u) if u.locked => Some("locked user"),
        Some(_) => Some("wrong password"),
        None => Some("unknown user"),
    };
    let user_id = user.as_ref().map(|u| u.id);

    match refusal {
        None => {
            let u = user.expect("success implies a user");
            let _: Result<(), _> = redis.del(fail_key(&username)).await;
            sqlx::query(
                "UPDATE deltran.users SET failed_login_attempts = 0, locked_until = NULL, \
                 last_login_at = now(), last_login_ip = $2::text::inet WHERE id = $1",
            )
            .bind(u.id)
            .bind(ctx.ip.map(|ip| ip.to_string()))
            .execute(&state.db)
            .await
            .map_err(|_| LoginRefusal::Unavailable)?;
            Ok(SignedInUser {
                needs_two_factor: u.role == Role::Admin && !u.is_2fa_enabled,
                id: u.id,
                username: u.username,
                role: u.role,
            })
        }
        Some(reason) => Err(record_failure(state, policy, &username, user_id, reason).await),
    }
}

/// Counts a failed sign-in in Redis and Postgres, audits it (and the lockout it may cause),
/// and says what to answer.
async fn record_failure(
    state: &AppState,
    policy: LoginPolicy,
    username: &str,
    user_id: Option<Uuid>,
    reason: &str,
) -> LoginRefusal {
    let ctx = RequestContext::current();
    let window = policy.lockout.as_secs() as i64;
    let mut pipe = redis::pipe();
    pipe.atomic()
        .incr(fail_key(username), 1)
        .expire(fail_key(username), window);
    if let Some(ip) = ctx.ip {
        pipe.incr(ip_key(&ip), 1).expire(ip_key(&ip), window);
    }
    let mut redis = state.redis.clone();
    let failures: u32 = match pipe.query_async::<Vec<i64>>(&mut redis).await {
        Ok(v) => v.first().copied().unwrap_or(1) as u32,
        Err(_) => return LoginRefusal::Unavailable,
    };
    let locks_now = failures >= policy.max_failures;

    let result = async {
        let mut tx = state.db.begin().await?;
        if let Some(id) = user_id {
            sqlx::query(
                "UPDATE deltran.users SET failed_login_attempts = failed_login_attempts + 1, \
                 locked_until = CASE WHEN $2 THEN now() + make_interval(secs => $3) ELSE locked_until END \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(locks_now)
            .bind(window as f64)
            .execute(&mut *tx)
            .await?;
        }
        let actor = Actor { id: user_id, kind: "user", name: username.to_string() };
        audit::append(
            &mut tx,
            &AuditEvent::new(actor.clone(), "auth.login", "session", None)
                .outcome(Outcome::Failure, Some("invalid credentials".into()))
                .severity("notice")
                .metadata(json!({ "reason": reason, "failures": failures })),
            &ctx,
        )
        .await?;
        if locks_now {
            audit::append(
                &mut tx,
                &AuditEvent::new(actor, "auth.lockout", "user", user_id.map(|u| u.to_string()))
                    .severity("warning")
                    .metadata(json!({ "failures": failures, "lockout_seconds": window })),
                &ctx,
            )
            .await?;
        }
        tx.commit().await
    }
    .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "could not record a failed sign-in");
        return LoginRefusal::Unavailable;
    }
    if locks_now {
        LoginRefusal::Locked {
            retry_after_secs: window as u64,
        }
    } else {
        LoginRefusal::Invalid
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
        needs_two_factor,
    } = user;
    let expires_at =
        Utc::now() + chrono::Duration::from_std(state.config.session_absolute).unwrap_or_default();
    let mut tx = state.db.begin().await?;
    let session_id = sessions::open(
        &mut tx,
        user_id,
        "browser",
        None,
        ctx.ip,
        ctx.user_agent.as_deref(),
        expires_at,
    )
    .await?;
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
    session
        .cycle_id()
        .await
        .map_err(|_| AppError::Unavailable)?;
    session
        .insert(SESSION_ROW, session_id)
        .await
        .map_err(|_| AppError::Unavailable)?;
    tx.commit().await?;
    Ok(Identity {
        user_id,
        username,
        role,
        session_id,
        needs_two_factor,
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
async fn second_factor_ok(state: &AppState, user_id: Uuid, code: &str) -> bool {
    use super::{crypto, db::twofactor, totp};
    let result: Result<bool, AppError> = async {
        let Some(stored) = twofactor::load_secret(&state.db, user_id).await? else {
            return Ok(false);
        };
        let secret = crypto::decrypt(
            &state.config.totp_key,
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
                            kind: "user",
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
                            .severity("notice"),
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
