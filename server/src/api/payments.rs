//! `/api/v1/payments`: the list, a payment with its timeline, and cancellation, over the same
//! backend calls as the Payments pages.

use app::{
    auth::Permission,
    backend::{
        db::{list, payments::PaymentList},
        payments,
        state::AppState,
    },
    error::parse_id,
    payments::{PaymentDetail, PaymentQuery},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Body, Caller, Params};

/// The Payments page's parameters plus the API's own `limit`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiPaymentQuery {
    #[serde(flatten)]
    query: PaymentQuery,
    limit: Option<String>,
}

/// Permission: payments.view. `{items, next_cursor}`; at most `limit` (default 50) items.
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<ApiPaymentQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::PaymentsView)?;
    let limit = super::limit(q.limit.as_deref(), 50)?;
    let page = list::page::<PaymentList>(&state.db, &q.query, limit).await?;
    Ok(Json(
        json!({ "items": page.rows, "next_cursor": page.next }),
    ))
}

/// Permission: payments.view. 422 for a malformed id, 404 for an unknown one.
pub async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentDetail>> {
    caller.require(Permission::PaymentsView)?;
    Ok(Json(
        payments::detail(&state.db, parse_id(&id, "payment")?).await?,
    ))
}

/// Why the payment is cancelled.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CancelRequest {
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
}

/// Permission: payments.cancel. 204 when cancelled; 409 unless pending.
pub async fn cancel(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<CancelRequest>,
) -> ApiResult<StatusCode> {
    let me = caller.require(Permission::PaymentsCancel)?;
    let id = parse_id(&id, "payment")?;
    payments::cancel(&state.db, me, id, &req.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}
