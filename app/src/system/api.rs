//! The System page's server function.

use leptos::prelude::*;

use super::SystemHealth;
use crate::error::AppError;

crate::guard!(GetSystemHealth, SystemView);

/// PostgreSQL's and Redis' health, read now. Permission: system.view.
#[server(prefix = "/api/system", endpoint = "get_system_health")]
pub async fn get_system_health() -> Result<SystemHealth, AppError> {
    use crate::backend::{auth::require_for, state, system};
    require_for::<GetSystemHealth>().await?;
    system::health(&state::current()?).await
}
