//! The settlement pages' server functions, under settlements.view. (The CSV is a plain
//! download, served by the server crate.)

use leptos::prelude::*;

use super::{BatchDetail, BatchPage, BatchQuery, NettingDay};
use crate::error::AppError;

crate::guard!(ListBatches, SettlementsView);

/// One page of the batches matching the filters (`BatchQuery`'s fields). Permission:
/// settlements.view.
#[server(prefix = "/api/settlements", endpoint = "list_batches")]
pub async fn list_batches(#[server(default)] query: BatchQuery) -> Result<BatchPage, AppError> {
    use crate::{
        backend::{auth::require_for, db::list, db::settlements::BatchList, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListBatches>().await?;
    let state = state::current()?;
    list::read_page::<BatchList>(&state, me.user_id, &query, PAGE_SIZE).await
}

crate::guard!(GetBatch, SettlementsView);

/// A batch with its netting; a malformed id is a field error, an unknown one `NotFound`.
/// Permission: settlements.view.
#[server(prefix = "/api/settlements", endpoint = "get_batch")]
pub async fn get_batch(id: String) -> Result<BatchDetail, AppError> {
    use crate::backend::{auth::require_for, settlements, state};
    require_for::<GetBatch>().await?;
    let id = crate::error::parse_id(&id, "batch")?;
    let state = state::current()?;
    settlements::detail(&state.db, id).await
}

crate::guard!(GetNettingDay, SettlementsView);

/// A netting day (`YYYY-MM-DD`, UTC): every bank's net position per currency over its batches.
/// Permission: settlements.view.
#[server(prefix = "/api/settlements", endpoint = "get_netting_day")]
pub async fn get_netting_day(day: String) -> Result<NettingDay, AppError> {
    use crate::backend::{auth::require_for, settlements, state};
    require_for::<GetNettingDay>().await?;
    let day = chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::field("day", "a day like 2026-11-30"))?;
    let state = state::current()?;
    settlements::day(&state.db, day).await
}
