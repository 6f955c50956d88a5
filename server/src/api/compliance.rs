//! `/api/v1/compliance/{id}`: a case, claiming it, deciding it and a second reviewer's
//! approval or rejection of a pass, over the same backend calls as the case page (the list is
//! `api::list_route`).

use app::{
    auth::Permission,
    backend::{compliance, state::AppState},
    compliance::{Case, Claim, ReviewOutcome},
    error::parse_id,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;

use super::{ApiResult, Body, Caller};

/// Permission: compliance.view. 422 for a malformed id, 404 for an unknown one.
pub async fn case(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Case>> {
    let me = caller.require(Permission::ComplianceView)?;
    let id = parse_id(&id, "compliance check")?;
    Ok(Json(compliance::case(&state.db, me, id).await?))
}

/// Permission: compliance.review. The claim (15 minutes; again: renewed); 409 naming the
/// holder when someone else holds it, or when the check has a decision.
pub async fn claim(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Claim>> {
    let me = caller.require(Permission::ComplianceReview)?;
    let id = parse_id(&id, "compliance check")?;
    Ok(Json(compliance::claim(&state.db, me, id).await?))
}

/// A reviewer's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewRequest {
    /// `pass` or `fail`.
    #[schema(pattern = "^(pass|fail)$")]
    decision: String,
    /// 10 to 2000 characters, trimmed.
    #[schema(min_length = 10, max_length = 2000)]
    note: String,
}

/// Permission: compliance.review. 200 with the outcome (`decided`, or `pending_approval` for a
/// pass of a sanctions or PEP check); 409 when decided already or held by someone else.
pub async fn review(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ReviewRequest>,
) -> ApiResult<Json<ReviewOutcome>> {
    let me = caller.require(Permission::ComplianceReview)?;
    let id = parse_id(&id, "compliance check")?;
    Ok(Json(
        compliance::review(&state.db, me, id, &req.decision, &req.note).await?,
    ))
}

/// A second reviewer's note.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AnswerRequest {
    /// 10 to 2000 characters, trimmed.
    #[schema(min_length = 10, max_length = 2000)]
    note: String,
}

/// Permission: compliance.review. 204 when approved (the check passes); 403 for one's own
/// pass; 409 when no pass waits.
pub async fn approve(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AnswerRequest>,
) -> ApiResult<StatusCode> {
    let me = caller.require(Permission::ComplianceReview)?;
    let id = parse_id(&id, "compliance check")?;
    compliance::answer(&state.db, me, id, true, &req.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Permission: compliance.review. 204 when rejected (the check is undecided again); 403 for
/// one's own pass; 409 when no pass waits.
pub async fn reject(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AnswerRequest>,
) -> ApiResult<StatusCode> {
    let me = caller.require(Permission::ComplianceReview)?;
    let id = parse_id(&id, "compliance check")?;
    compliance::answer(&state.db, me, id, false, &req.note).await?;
    Ok(StatusCode::NO_CONTENT)
}
