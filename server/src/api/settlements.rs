//! `/api/v1/settlements/{id}`: a batch with its netting, over the same backend call as the
//! batch's page (the list is `api::list_route`).

use app::{
    auth::Permission,
    backend::{settlements, state::AppState},
    error::parse_id,
    settlements::BatchDetail,
};
use axum::{
    extract::{Path, State},
    Json,
};

use super::{ApiResult, Caller};

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
