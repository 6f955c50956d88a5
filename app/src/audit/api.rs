//! The audit page's server functions: reading needs audit.view, verifying audit.verify.
//! (Exports are plain downloads, served by the server crate with audit.export.)

use leptos::prelude::*;
use uuid::Uuid;

use super::{AuditPage, AuditQuery, AuditRow, VerifyProgress};
use crate::error::AppError;

crate::guard!(ListAudit, AuditView);

/// One page of the filtered log, newest first. Permission: audit.view.
#[server(prefix = "/api/audit", endpoint = "list_audit")]
pub async fn list_audit(#[server(default)] query: AuditQuery) -> Result<AuditPage, AppError> {
    use crate::{
        backend::{auth::require_for, db::audit::AuditLog, db::list, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListAudit>().await?;
    let state = state::current()?;
    list::read_page::<AuditLog>(&state, me.user_id, &query, PAGE_SIZE).await
}

crate::guard!(GetAuditRow, AuditView);

/// One row by id. Permission: audit.view.
#[server(prefix = "/api/audit", endpoint = "get_audit_row")]
pub async fn get_audit_row(id: i64) -> Result<AuditRow, AppError> {
    use crate::{backend::auth::require_for, backend::db::audit, backend::state};
    require_for::<GetAuditRow>().await?;
    let state = state::current()?;
    audit::get(&state.db, id).await?.ok_or(AppError::NotFound)
}

crate::guard!(StartVerification, AuditVerify);

/// Starts verifying the chain, or the rows between `from` and `to`, against the latest
/// anchor; returns the job to poll. Permission: audit.verify.
#[server(prefix = "/api/audit", endpoint = "start_verification")]
pub async fn start_verification(
    from: Option<String>,
    to: Option<String>,
) -> Result<Uuid, AppError> {
    use crate::backend::{audit::verify_job, auth::require_for, state};
    let me = require_for::<StartVerification>().await?;
    let range = AuditQuery {
        from,
        to,
        ..Default::default()
    }
    .filter()?
    .time_range();
    let state = state::current()?;
    verify_job::start(&state, me.user_id, range).await
}

crate::guard!(VerificationProgress, AuditVerify);

/// How far the caller's verification `job` has got. Permission: audit.verify.
#[server(prefix = "/api/audit", endpoint = "verification_progress")]
pub async fn verification_progress(job: Uuid) -> Result<VerifyProgress, AppError> {
    use crate::backend::{audit::verify_job, auth::require_for, state};
    let me = require_for::<VerificationProgress>().await?;
    let state = state::current()?;
    verify_job::progress(&state, me.user_id, job).await
}
