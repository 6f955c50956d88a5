//! `/api/v1/payments/{id}`: a payment with its timeline, and its cancellation, over the same
//! backend calls as the payment's page (the list is `api::list_route`).

use app::{
    auth::Permission,
    backend::{payments, state::AppState},
    error::parse_id,
    payments::PaymentDetail,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;

use super::{ApiResult, Body, Caller};

/// Permission: payments.view. 422 for a malformed id, 404 for an unknown one.
pub async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentDetail>> {
    caller.require(Permission::PaymentsView)?;
    Ok(Json(
        payments::detail(&state, parse_id(&id, "payment")?).await?,
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
