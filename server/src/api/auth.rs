//! `/api/v1/auth/*` and `/api/v1/me`.

use app::backend::{
    auth::{authenticate, LoginPolicy, LoginRefusal},
    state::AppState,
    tokens::{self, TokenPair},
};
use app::{auth::Me, auth::Permission};
use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

use super::{ApiError, ApiResult, Body, Caller};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    username: String,
    password: String,
    otp: Option<String>,
}

/// Public. 401 with one message for every kind of wrong credential; 429 with `Retry-After`
/// when locked out; 422 (field `otp`) when the account needs its one-time code.
pub async fn token(
    State(state): State<AppState>,
    Body(req): Body<TokenRequest>,
) -> ApiResult<Json<TokenPair>> {
    let policy = LoginPolicy::from_config(&state.config);
    let user = authenticate(
        &state,
        policy,
        &req.username,
        &req.password,
        req.otp.as_deref(),
    )
    .await
    .map_err(|r: LoginRefusal| ApiError(r.into()))?;
    Ok(Json(tokens::issue(&state, &user).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Public: the refresh token is the credential.
pub async fn refresh(
    State(state): State<AppState>,
    Body(req): Body<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    Ok(Json(tokens::refresh(&state, &req.refresh_token).await?))
}

/// Permission: self.
pub async fn revoke(caller: Caller, State(state): State<AppState>) -> ApiResult<StatusCode> {
    let me = caller.require(Permission::SelfService)?;
    tokens::revoke(&state, me).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: self.
pub async fn me(caller: Caller) -> ApiResult<Json<Me>> {
    let me = caller.require(Permission::SelfService)?;
    Ok(Json(me.me()))
}
