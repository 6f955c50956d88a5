//! `/api/v1/sessions`: everyone's live sessions and revoking one, over the same backend calls
//! as the Sessions page.

use app::{
    auth::Permission,
    backend::{
        db::{list, sessions::SessionList},
        sessions,
        state::AppState,
    },
    error::parse_id,
    sessions::SessionQuery,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Caller, Params};

/// The Sessions page's parameters plus the API's own `limit`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiSessionQuery {
    #[serde(flatten)]
    query: SessionQuery,
    limit: Option<String>,
}

/// Permission: sessions.manage. `{items, next_cursor}`: live sessions only.
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<ApiSessionQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::SessionsManage)?;
    let limit = super::limit(q.limit.as_deref(), 50)?;
    let page = list::page::<SessionList>(&state.db, &q.query, limit).await?;
    Ok(Json(
        json!({ "items": page.rows, "next_cursor": page.next }),
    ))
}

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
