//! `/api/v1/controls`: what is in force, ordering a control, deciding someone else's request
//! and reconciling, over the same backend calls as the Controls page (`backend::controls`;
//! the history is `api::list_route`).

use app::{
    auth::Permission,
    backend::{auth::Identity, controls, service_state, state::AppState},
    controls::{
        ControlOrder, ControlOutcome, ControlsOverview, CopyWrite, IdempotencyRecord,
        ReconcileReport,
    },
    error::parse_id,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};

use super::{ApiResult, Body, Caller};

/// Permission: controls.view. The controls in force with their Redis copies and TTLs read
/// live, the pending requests and the rate limits with their live counters.
pub async fn overview(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<ControlsOverview>> {
    caller.require(Permission::ControlsView)?;
    Ok(Json(controls::overview(&state).await?))
}

/// Permission: controls.apply. 201 with `{outcome: "applied", redis}` for a freeze, unfreeze,
/// throttle or unthrottle; 202 with `{outcome: "pending_approval", request_id}` for a block
/// or unblock; 409 when nothing would change or such a request is already waiting.
pub async fn order(
    caller: Caller,
    State(state): State<AppState>,
    Body(order): Body<ControlOrder>,
) -> ApiResult<(StatusCode, Json<ControlOutcome>)> {
    let me = caller.require(Permission::ControlsApply)?;
    let (outcome, _) = controls::act(&state, me, &order).await?;
    let status = match outcome {
        ControlOutcome::Applied { .. } => StatusCode::CREATED,
        ControlOutcome::PendingApproval { .. } => StatusCode::ACCEPTED,
    };
    Ok((status, Json(outcome)))
}

/// The note on a decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    #[schema(min_length = 10, max_length = 500)]
    note: String,
}

/// What a decision came to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Decided {
    /// `approved` or `rejected`.
    status: &'static str,
    /// For an approval: whether the Redis copy was written (`pending`: reconcile writes it).
    redis: Option<CopyWrite>,
}

/// The decision of `me` (whose controls.approve the handler checked) on request `id`.
async fn decide(
    me: &Identity,
    state: AppState,
    id: String,
    note: String,
    approve: bool,
) -> ApiResult<Json<Decided>> {
    let id = parse_id(&id, "request")?;
    let redis = controls::decide(&state, me, id, approve, &note).await?;
    Ok(Json(Decided {
        status: if approve { "approved" } else { "rejected" },
        redis,
    }))
}

/// Permission: controls.approve. Approves someone else's pending request: the block is set
/// or lifted now. 403 for one's own request (audited), 404 unless pending.
pub async fn approve(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DecisionRequest>,
) -> ApiResult<Json<Decided>> {
    let me = caller.require(Permission::ControlsApprove)?;
    decide(me, state, id, req.note, true).await
}

/// Permission: controls.approve. Rejects someone else's pending request; nothing changes.
pub async fn reject(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DecisionRequest>,
) -> ApiResult<Json<Decided>> {
    let me = caller.require(Permission::ControlsApprove)?;
    decide(me, state, id, req.note, false).await
}

/// Permission: controls.apply. Repairs every Redis copy that differs from Postgres; what it
/// found and repaired.
pub async fn reconcile(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<ReconcileReport>> {
    let me = caller.require(Permission::ControlsApply)?;
    Ok(Json(controls::reconcile(&state, me.actor()).await?))
}

/// Why a circuit is closed by hand.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetRequest {
    #[schema(min_length = 10, max_length = 500)]
    reason: String,
}

/// Permission: controls.apply. Closes a payment service's circuit breaker (204), audited; 404
/// for a service with no circuit.
pub async fn reset_circuit(
    caller: Caller,
    State(state): State<AppState>,
    Path(service): Path<String>,
    Body(req): Body<ResetRequest>,
) -> ApiResult<StatusCode> {
    let me = caller.require(Permission::ControlsApply)?;
    service_state::reset_circuit(&state, me, &service, &req.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: controls.view. What an idempotency key names in Redis and in Postgres.
pub async fn idempotency(
    caller: Caller,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<Json<IdempotencyRecord>> {
    caller.require(Permission::ControlsView)?;
    Ok(Json(service_state::idempotency(&state, &key).await?))
}
