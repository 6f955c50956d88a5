//! `/api/v1/banks`: the list and a bank's accounts, over the same backend calls as the Banks
//! pages.

use app::{
    auth::Permission,
    backend::{
        db::{banks, banks::BankList, list},
        state::AppState,
    },
    banks::{Account, BankQuery},
    error::{parse_id, AppError},
};
use axum::{
    extract::{Path, State},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Caller, Params};

/// The Banks page's parameters plus the API's own `limit`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiBankQuery {
    #[serde(flatten)]
    query: BankQuery,
    limit: Option<String>,
}

/// Permission: banks.view. `{items, next_cursor}`.
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<ApiBankQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::BanksView)?;
    let limit = super::limit(q.limit.as_deref(), 50)?;
    let page = list::page::<BankList>(&state.db, &q.query, limit).await?;
    Ok(Json(
        json!({ "items": page.rows, "next_cursor": page.next }),
    ))
}

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
