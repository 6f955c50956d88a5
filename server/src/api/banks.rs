//! `/api/v1/banks/{id}/accounts`, over the same backend calls as a bank's page (the list,
//! `/api/v1/banks`, is `api::list_route`).

use app::{
    auth::Permission,
    backend::{db::banks, state::AppState},
    banks::Account,
    error::{parse_id, AppError},
};
use axum::{
    extract::{Path, State},
    Json,
};

use super::{ApiResult, Caller};

/// Permission: banks.view. 422 for a malformed id, 404 for an unknown bank.
pub async fn accounts(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Account>>> {
    caller.require(Permission::BanksView)?;
    let id = parse_id(&id, "bank")?;
    banks::get(&state.db, id).await?.ok_or(AppError::NotFound)?;
    Ok(Json(banks::accounts(&state.db, id).await?))
}
