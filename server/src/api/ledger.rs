//! `/api/v1/ledger/…` and `/api/v1/storage/stats`: the ledger's events, an event's inclusion
//! proof, a block, the signed checkpoint and consistency proofs, and RocksDB's figures, over the same backend calls as the ledger pages.

use app::{
    auth::Permission,
    backend::{ledger::queries, state::AppState},
    ledger::{
        BlockDetail, CheckpointStatus, ConsistencyProof, EventQuery, InclusionProof, StorageStats,
    },
};
use axum::{
    extract::{Path, State},
    Json,
};
use serde_json::{json, Value};

use super::{limit, ApiResult, Caller, ListParams, Params};

/// Permission: ledger.view. `{items, next_cursor}`, newest first unless `sort=oldest`.
pub async fn events(
    caller: Caller,
    State(state): State<AppState>,
    Params(p): Params<ListParams<EventQuery>>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::LedgerView)?;
    let limit = limit(p.limit.as_deref(), 50)?;
    let page = queries::events(&state, &p.query, limit).await?;
    Ok(Json(
        json!({ "items": page.rows, "next_cursor": page.next }),
    ))
}

/// Permission: ledger.view. 422 for a malformed sequence, 404 for none, 409 while the event
/// is not sealed into a block.
pub async fn proof(
    caller: Caller,
    State(state): State<AppState>,
    Path(seq): Path<String>,
) -> ApiResult<Json<InclusionProof>> {
    caller.require(Permission::LedgerView)?;
    let seq = queries::parse_number(&seq, "sequence")?;
    Ok(Json(queries::proof(&state, seq).await?))
}

/// Permission: ledger.view. A block with its first events; 404 for none.
pub async fn block(
    caller: Caller,
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> ApiResult<Json<BlockDetail>> {
    caller.require(Permission::LedgerView)?;
    let number = queries::parse_number(&number, "block number")?;
    Ok(Json(queries::block(&state, number).await?))
}

/// Permission: ledger.view.
pub async fn storage_stats(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<StorageStats>> {
    caller.require(Permission::LedgerView)?;
    Ok(Json(queries::stats(&state).await?))
}

/// Permission: ledger.view. 404 until a checkpoint was taken.
pub async fn checkpoint(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<CheckpointStatus>> {
    caller.require(Permission::LedgerView)?;
    Ok(Json(queries::checkpoint(&state).await?))
}

#[derive(Debug, serde::Deserialize)]
pub struct Sizes {
    from: Option<String>,
    to: Option<String>,
}

/// Permission: ledger.view. 422 unless 0 < from ≤ to ≤ the blocks sealed.
pub async fn consistency(
    caller: Caller,
    State(state): State<AppState>,
    Params(sizes): Params<Sizes>,
) -> ApiResult<Json<ConsistencyProof>> {
    caller.require(Permission::LedgerView)?;
    let proof = queries::consistency(&state, sizes.from.as_deref(), sizes.to.as_deref()).await?;
    Ok(Json(proof))
}
