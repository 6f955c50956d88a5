//! The ledger pages' server functions, all under ledger.view. (The proof's JSON download is a
//! plain download, served by the server crate.)

use leptos::prelude::*;

use super::{
    BlockDetail, BlockPage, BlockQuery, EventDetail, EventPage, EventQuery, LedgerStorage,
    LedgerVerification,
};
use crate::error::AppError;

crate::guard!(ListLedgerEvents, LedgerView);

/// One page of ledger events matching the filters (`EventQuery`'s fields). Permission:
/// ledger.view.
#[server(prefix = "/api/ledger", endpoint = "list_events")]
pub async fn list_ledger_events(
    #[server(default)] query: EventQuery,
) -> Result<EventPage, AppError> {
    use crate::{
        backend::{auth::require_for, ledger::queries, state},
        components::list::PAGE_SIZE,
    };
    require_for::<ListLedgerEvents>().await?;
    queries::events(&state::current()?, &query, PAGE_SIZE).await
}

crate::guard!(GetLedgerEvent, LedgerView);

/// An event with its block, its inclusion proof (verified on the server) and its payment's
/// state. Permission: ledger.view.
#[server(prefix = "/api/ledger", endpoint = "get_event")]
pub async fn get_ledger_event(id: String) -> Result<EventDetail, AppError> {
    use crate::backend::{auth::require_for, ledger::queries, state};
    require_for::<GetLedgerEvent>().await?;
    let seq = queries::parse_number(&id, "sequence")?;
    queries::event(&state::current()?, seq).await
}

crate::guard!(ListLedgerBlocks, LedgerView);

/// One page of sealed blocks, newest first. Permission: ledger.view.
#[server(prefix = "/api/ledger", endpoint = "list_blocks")]
pub async fn list_ledger_blocks(
    #[server(default)] query: BlockQuery,
) -> Result<BlockPage, AppError> {
    use crate::{
        backend::{auth::require_for, ledger::queries, state},
        components::list::PAGE_SIZE,
    };
    require_for::<ListLedgerBlocks>().await?;
    queries::blocks(&state::current()?, &query, PAGE_SIZE).await
}

crate::guard!(GetLedgerBlock, LedgerView);

/// A block with its events. Permission: ledger.view.
#[server(prefix = "/api/ledger", endpoint = "get_block")]
pub async fn get_ledger_block(id: String) -> Result<BlockDetail, AppError> {
    use crate::backend::{auth::require_for, ledger::queries, state};
    require_for::<GetLedgerBlock>().await?;
    let number = queries::parse_number(&id, "block number")?;
    queries::block(&state::current()?, number).await
}

crate::guard!(GetLedgerStorage, LedgerView);

/// The ledger's head, RocksDB's figures per column family and the newest snapshots.
/// Permission: ledger.view.
#[server(prefix = "/api/ledger", endpoint = "get_storage")]
pub async fn get_ledger_storage() -> Result<LedgerStorage, AppError> {
    use crate::backend::{auth::require_for, ledger::queries, state};
    require_for::<GetLedgerStorage>().await?;
    queries::storage(&state::current()?).await
}

crate::guard!(VerifyLedger, LedgerView);

/// Checks the whole chain: every block's root from its events, every parent link back to
/// genesis. Permission: ledger.view.
#[server(prefix = "/api/ledger", endpoint = "verify")]
pub async fn verify_ledger() -> Result<LedgerVerification, AppError> {
    use crate::backend::{auth::require_for, ledger::queries, state};
    require_for::<VerifyLedger>().await?;
    queries::verify(&state::current()?).await
}

crate::guard!(ReconcileLedger, LedgerView);

/// Checks the ledger against Postgres (payments' states, settled events, batches' totals).
/// Permission: ledger.view.
#[server(prefix = "/api/ledger", endpoint = "reconcile")]
pub async fn reconcile_ledger() -> Result<super::Reconciliation, AppError> {
    use crate::backend::{auth::require_for, ledger::reconcile, state};
    require_for::<ReconcileLedger>().await?;
    reconcile::reconcile(&state::current()?).await
}
