//! API tokens: short-lived JWT access tokens (HS256, `JWT_SECRET`) naming their session, and
//! opaque refresh tokens stored only as SHA-256 in `deltran.sessions`. Every refresh rotates
//! the refresh token; presenting one that was already used revokes the whole session. However
//! often it is refreshed, a session ends `API_SESSION_ABSOLUTE_HOURS` after its first token.

use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    audit::{self, Actor, AuditEvent, Outcome, Severity},
    auth::{resolve_session, Identity, SignedInUser},
    config::Secret,
    context::RequestContext,
    db::sessions,
    state::AppState,
};
use crate::{domain::Role, error::AppError, sessions::SessionKind};

/// How long an access token is good for.
pub const ACCESS_TTL: Duration = Duration::minutes(15);
/// How long a refresh token (and its API session) is good for without use, within the
/// session's absolute lifetime.
pub const REFRESH_TTL: Duration = Duration::days(7);

/// The absolute lifetime of an API session (`API_SESSION_ABSOLUTE_HOURS`).
fn absolute(state: &AppState) -> Duration {
    Duration::from_std(state.config.api_session_absolute).unwrap_or(REFRESH_TTL)
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    role: Role,
    iat: i64,
    exp: i64,
}

/// What `POST /api/v1/auth/token` and `/refresh` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn access_token(
    state: &AppState,
    user_id: Uuid,
    session_id: Uuid,
    role: Role,
) -> Result<TokenPair, AppError> {
    let now = Utc::now();
    let claims = Claims {
        sub: user_id,
        sid: session_id,
        role,
        iat: now.timestamp(),
        exp: (now + ACCESS_TTL).timestamp(),
    };
    let key = EncodingKey::from_secret(state.config.secret(Secret::Jwt).as_bytes())
        .map_err(super::error::internal)?;
    let access_token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(super::error::internal)?;
    Ok(TokenPair {
        access_token,
        token_type: "Bearer".into(),
        expires_in: ACCESS_TTL.num_seconds(),
        refresh_token: String::new(),
    })
}

/// Opens an API session for a user who just authenticated: the session row (holding the
/// refresh token's hash) and its audit row in one transaction.
pub async fn issue(state: &AppState, user: &SignedInUser) -> Result<TokenPair, AppError> {
    let ctx = RequestContext::current();
    let refresh = new_refresh_token();
    let mut tx = state.db.begin().await?;
    let sid = sessions::open(
        &mut tx,
        sessions::NewSession {
            user_id: user.id,
            kind: SessionKind::Api,
            refresh_token_hash: Some(&sha256_hex(&refresh)),
            second_factor: user.second_factor,
            ip: ctx.ip,
            user_agent: ctx.user_agent.as_deref(),
            expires_at: Utc::now() + REFRESH_TTL.min(absolute(state)),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            Actor::user(user.id, &user.username),
            "token.issue",
            "session",
            Some(sid.to_string()),
        ),
    )
    .await?;
    tx.commit().await?;
    let mut pair = access_token(state, user.id, sid, user.role)?;
    pair.refresh_token = refresh;
    Ok(pair)
}

/// Exchanges a refresh token for a new pair. The old token stops working; presenting a token
/// that was already exchanged revokes its session (someone else has it).
pub async fn refresh(state: &AppState, presented: &str) -> Result<TokenPair, AppError> {
    let hash = sha256_hex(presented.trim());
    let mut tx = state.db.begin().await?;
    let live = sessions::lock_by_refresh_token(&mut tx, &hash, absolute(state)).await?;
    let Some(sessions::RefreshSession {
        session_id: sid,
        user_id,
        username,
        role,
    }) = live
    else {
        let reused = sessions::owner_of_used_refresh_token(&mut tx, &hash).await?;
        if let Some(sessions::RefreshSession {
            session_id: sid,
            user_id,
            username,
            ..
        }) = reused
        {
            sessions::revoke(&mut tx, sid, "refresh token reuse").await?;
            audit::record(
                &mut tx,
                AuditEvent::new(
                    Actor::user(user_id, &username),
                    "token.reuse",
                    "session",
                    Some(sid.to_string()),
                )
                .outcome(
                    Outcome::Denied,
                    Some("a used refresh token was presented; session revoked".into()),
                )
                .severity(Severity::Critical),
            )
            .await?;
            tx.commit().await?;
        }
        return Err(AppError::Unauthorized);
    };
    let next = new_refresh_token();
    sessions::rotate_refresh_token(
        &mut tx,
        sid,
        (&hash, &sha256_hex(&next)),
        (REFRESH_TTL, absolute(state)),
    )
    .await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            Actor::user(user_id, &username),
            "token.refresh",
            "session",
            Some(sid.to_string()),
        ),
    )
    .await?;
    tx.commit().await?;
    let mut pair = access_token(state, user_id, sid, role)?;
    pair.refresh_token = next;
    Ok(pair)
}

/// The identity behind a bearer access token: a valid signature, not expired, and its
/// session still live (revocation takes effect before the token expires).
pub async fn identify(state: &AppState, bearer: &str) -> Result<Identity, AppError> {
    let key = DecodingKey::from_secret(state.config.secret(Secret::Jwt).as_bytes())
        .map_err(super::error::internal)?;
    let data = jsonwebtoken::decode::<Claims>(bearer, &key, &Validation::new(Algorithm::HS256))
        .map_err(|_| AppError::Unauthorized)?;
    let identity = resolve_session(&state.db, data.claims.sid, SessionKind::Api)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if identity.user_id != data.claims.sub {
        return Err(AppError::Unauthorized);
    }
    Ok(identity)
}

/// Ends the session an access token belongs to.
pub async fn revoke(state: &AppState, identity: &Identity) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    sessions::revoke(&mut tx, identity.session_id, "revoked by its holder").await?;
    audit::record(
        &mut tx,
        AuditEvent::new(
            identity.actor(),
            "token.revoke",
            "session",
            Some(identity.session_id.to_string()),
        )
        .metadata(json!({ "kind": "api" })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
