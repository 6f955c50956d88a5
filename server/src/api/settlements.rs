//! `/api/v1/settlements`: the batches and a batch with its netting, over the same backend
//! calls as the Settlements pages.

use app::{
    auth::Permission,
    backend::{
        db::{list, settlements::BatchList},
        settlements,
        state::AppState,
    },
    error::parse_id,
    settlements::{BatchDetail, BatchQuery},
};
use axum::{
    extract::{Path, State},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Caller, Params};

/// The Settlements page's parameters plus the API's own `limit`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiBatchQuery {
    #[serde(flatten)]
    query: BatchQuery,
    limit: Option<String>,
}

/// Permission: settlements.view. `{items, next_cursor}`.
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<ApiBatchQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::SettlementsView)?;
    let limit = super::limit(q.limit.as_deref(), 50)?;
    let page = list::page::<BatchList>(&state.db, &q.query, limit).await?;
    Ok(Json(
        json!({ "items": page.rows, "next_cursor": page.next }),
    ))
}

/// Permission: settlements.view. 422 for a malformed id, 404 for an unknown one.
pub async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<BatchDetail>> {
    caller.require(Permission::SettlementsView)?;
    Ok(Json(
        settlements::detail(&state.db, parse_id(&id, "batch")?).await?,
    ))
}
