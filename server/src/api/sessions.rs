//! `DELETE /api/v1/sessions/{id}`, over the same backend call as the Sessions page (the list
//! is `api::list_route`).

use app::{
    auth::Permission,
    backend::{sessions, state::AppState},
    error::parse_id,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
};

use super::{ApiResult, Caller};

/// Permission: sessions.manage. 204; 404 unless the session is live.
pub async fn revoke(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let me = caller.require(Permission::SessionsManage)?;
    sessions::revoke(&state.db, me, parse_id(&id, "session")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
