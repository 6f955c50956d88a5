//! The dashboard's server functions.

use leptos::prelude::*;

use super::DashboardSummary;
use crate::error::AppError;

crate::guard!(GetSummary, DashboardView);

/// The figures of the dashboard, computed from the database on each call.
/// Permission: dashboard.view.
#[server(prefix = "/api/dashboard", endpoint = "get_summary")]
pub async fn get_summary() -> Result<DashboardSummary, AppError> {
    let me = crate::backend::auth::require_for::<GetSummary>().await?;
    let state = crate::backend::state::current()?;
    state
        .read(Some(me.user_id), |db| async move {
            Ok(crate::backend::db::dashboard::summary(&db, 30).await?)
        })
        .await
}
