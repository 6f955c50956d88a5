//! The Controls page's server functions: reading needs controls.view, acting (and
//! reconciling) controls.apply, deciding someone else's request controls.approve.

use leptos::prelude::*;

use super::{
    ControlOrder, ControlsOverview, HistoryList, HistoryQuery, IdempotencyRecord, ReconcileReport,
};
use crate::error::AppError;

crate::guard!(GetControls, ControlsView);

/// The controls in force with their live Redis copies, the pending requests and the rate
/// limits with their live counters. Permission: controls.view.
#[server(prefix = "/api/controls", endpoint = "get_controls")]
pub async fn get_controls() -> Result<ControlsOverview, AppError> {
    use crate::backend::{auth::require_for, controls, state};
    require_for::<GetControls>().await?;
    controls::overview(&state::current()?).await
}

crate::guard!(ActOnControl, ControlsApply);

/// Sets or lifts a control (a block or unblock: asks for approval); what happened, in a
/// sentence. Every refused field at once; `Conflict` when nothing would change.
/// Permission: controls.apply.
#[server(prefix = "/api/controls", endpoint = "act_on_control")]
pub async fn act_on_control(order: ControlOrder) -> Result<String, AppError> {
    use crate::backend::{auth::require_for, controls, state};
    let me = require_for::<ActOnControl>().await?;
    let (outcome, checked) = controls::act(&state::current()?, &me, &order).await?;
    Ok(outcome.describe(checked.verb, &checked.entity.label))
}

crate::guard!(DecideControlRequest, ControlsApprove);

/// Approves or rejects someone else's block or unblock request with a note (10–500
/// characters); `Forbidden` for one's own. Permission: controls.approve.
#[server(prefix = "/api/controls", endpoint = "decide_control_request")]
pub async fn decide_control_request(
    id: String,
    approve: bool,
    note: String,
) -> Result<String, AppError> {
    use crate::{
        backend::{auth::require_for, controls, state},
        controls::CopyWrite,
    };
    let me = require_for::<DecideControlRequest>().await?;
    let id = crate::error::parse_id(&id, "request")?;
    Ok(
        match controls::decide(&state::current()?, &me, id, approve, &note).await? {
            Some(CopyWrite::Written) => "Approved; the block is set and its Redis copy written.",
            Some(CopyWrite::Pending) => {
                "Approved; the Redis copy is pending (Redis did not answer): reconcile writes it."
            }
            None => "Rejected; nothing was changed.",
        }
        .to_string(),
    )
}

crate::guard!(ReconcileControls, ControlsApply);

/// Repairs every Redis copy that differs from Postgres; what it found. Permission:
/// controls.apply.
#[server(prefix = "/api/controls", endpoint = "reconcile_controls")]
pub async fn reconcile_controls() -> Result<ReconcileReport, AppError> {
    use crate::backend::{auth::require_for, controls, state};
    let me = require_for::<ReconcileControls>().await?;
    controls::reconcile(&state::current()?, me.actor()).await
}

crate::guard!(ListControlHistory, ControlsView);

/// A page of the controls' history (the audit rows of every control action) and how many
/// rows match. Permission: controls.view.
#[server(prefix = "/api/controls", endpoint = "list_control_history")]
pub async fn list_control_history(
    #[server(default)] query: HistoryQuery,
) -> Result<HistoryList, AppError> {
    use crate::{
        backend::{auth::require_for, db::controls::ControlHistory, db::list, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListControlHistory>().await?;
    let state = state::current()?;
    let (page, total) =
        list::read_page_with_total::<ControlHistory>(&state, me.user_id, &query, PAGE_SIZE).await?;
    Ok(HistoryList { page, total })
}

crate::guard!(LookUpIdempotencyKey, ControlsView);

/// What an idempotency key names in Redis and in Postgres. Permission: controls.view.
#[server(prefix = "/api/controls", endpoint = "look_up_idempotency_key")]
pub async fn look_up_idempotency_key(key: String) -> Result<IdempotencyRecord, AppError> {
    use crate::backend::{auth::require_for, service_state, state};
    require_for::<LookUpIdempotencyKey>().await?;
    service_state::idempotency(&state::current()?, &key).await
}

crate::guard!(ResetCircuit, ControlsApply);

/// Closes a payment service's circuit breaker, with a reason (10–500 characters), audited.
/// Permission: controls.apply.
#[server(prefix = "/api/controls", endpoint = "reset_circuit")]
pub async fn reset_circuit(service: String, reason: String) -> Result<String, AppError> {
    use crate::backend::{auth::require_for, service_state, state};
    let me = require_for::<ResetCircuit>().await?;
    service_state::reset_circuit(&state::current()?, &me, &service, &reason).await?;
    Ok(format!("The circuit of {service} is closed."))
}
