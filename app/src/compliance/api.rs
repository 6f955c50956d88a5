//! The compliance pages' server functions: reading needs compliance.view; claiming, deciding
//! and a second reviewer's approval or rejection need compliance.review. (The CSV is a plain
//! download, served by the server crate.)

use leptos::prelude::*;

use super::{Case, Claim, ComplianceList, ComplianceQuery, ReviewOutcome};
use crate::error::AppError;

crate::guard!(ListCompliance, ComplianceView);

/// One page of the compliance checks matching the filters (`ComplianceQuery`'s fields: an
/// unknown value or a foreign cursor is a field error naming the parameter), the next page's
/// cursor and how many match in all. Permission: compliance.view.
#[server(prefix = "/api/compliance", endpoint = "list_compliance")]
pub async fn list_compliance(
    #[server(default)] query: ComplianceQuery,
) -> Result<ComplianceList, AppError> {
    use crate::{
        backend::{auth::require_for, db::compliance, db::list, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListCompliance>().await?;
    let state = state::current()?;
    let (page, total) = list::read_page_with_total::<compliance::ComplianceList>(
        &state, me.user_id, &query, PAGE_SIZE,
    )
    .await?;
    Ok(ComplianceList { page, total })
}

crate::guard!(GetCase, ComplianceView);

/// A check's case: the check, its payment and parties, the payment's other checks, the sender
/// bank's earlier checks, the live claim and a pass waiting for approval. A malformed id is a
/// field error, an unknown one `NotFound`. Permission: compliance.view.
#[server(prefix = "/api/compliance", endpoint = "get_case")]
pub async fn get_case(id: String) -> Result<Case, AppError> {
    use crate::backend::{auth::require_for, compliance, state};
    let me = require_for::<GetCase>().await?;
    let id = crate::error::parse_id(&id, "compliance check")?;
    let state = state::current()?;
    compliance::case(&state.db, &me, id).await
}

crate::guard!(ClaimCase, ComplianceReview);

/// Claims a case for 15 minutes (again: renews it); `Conflict` naming the holder when someone
/// else holds it. Permission: compliance.review.
#[server(prefix = "/api/compliance", endpoint = "claim_case")]
pub async fn claim_case(id: String) -> Result<Claim, AppError> {
    use crate::backend::{auth::require_for, compliance, state};
    let me = require_for::<ClaimCase>().await?;
    let id = crate::error::parse_id(&id, "compliance check")?;
    let state = state::current()?;
    compliance::claim(&state.db, &me, id).await
}

crate::guard!(ReviewCase, ComplianceReview);

/// Decides a case: `decision` pass or fail, a note of 10–2000 characters; a pass of a
/// sanctions or PEP check waits for a second reviewer. Permission: compliance.review.
#[server(prefix = "/api/compliance", endpoint = "review_case")]
pub async fn review_case(
    id: String,
    decision: String,
    note: String,
) -> Result<ReviewOutcome, AppError> {
    use crate::backend::{auth::require_for, compliance, state};
    let me = require_for::<ReviewCase>().await?;
    let id = crate::error::parse_id(&id, "compliance check")?;
    let state = state::current()?;
    compliance::review(&state.db, &me, id, &decision, &note).await
}

crate::guard!(ApproveCase, ComplianceReview);

/// Approves someone else's pass waiting for a second reviewer (the check passes), with a note;
/// `Forbidden` for one's own. Permission: compliance.review.
#[server(prefix = "/api/compliance", endpoint = "approve_case")]
pub async fn approve_case(id: String, note: String) -> Result<(), AppError> {
    use crate::backend::{auth::require_for, compliance, state};
    let me = require_for::<ApproveCase>().await?;
    let id = crate::error::parse_id(&id, "compliance check")?;
    let state = state::current()?;
    compliance::answer(&state.db, &me, id, true, &note).await
}

crate::guard!(RejectCase, ComplianceReview);

/// Rejects someone else's pass waiting for a second reviewer (the check is undecided again),
/// with a note; `Forbidden` for one's own. Permission: compliance.review.
#[server(prefix = "/api/compliance", endpoint = "reject_case")]
pub async fn reject_case(id: String, note: String) -> Result<(), AppError> {
    use crate::backend::{auth::require_for, compliance, state};
    let me = require_for::<RejectCase>().await?;
    let id = crate::error::parse_id(&id, "compliance check")?;
    let state = state::current()?;
    compliance::answer(&state.db, &me, id, false, &note).await
}
