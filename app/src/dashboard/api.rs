//! The dashboard's server functions.

use leptos::prelude::*;

use super::DashboardSummary;
use crate::error::AppError;

/// The figures of the dashboard, computed from the database on each call.
/// Permission: dashboard.view.
#[server(prefix = "/api/dashboard", endpoint = "get_summary")]
pub async fn get_summary() -> Result<DashboardSummary, AppError> {
    crate::backend::auth::require(crate::auth::Permission::DashboardView).await?;
    let state = crate::backend::state::current()?;
    Ok(crate::backend::db::dashboard::summary(&state.db, 30).await?)
}
