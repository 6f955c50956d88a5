//! What the ledger pages and the REST API ask of the ledger, as the DTOs of `crate::ledger`:
//! each call checks its input, reads through the console's `Reader` (one consistent view, on
//! the blocking pool) and maps a ledger that is missing or unreadable to 503, a damaged one to
//! an internal error (logged with its details).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::checkpoint;
use super::format::{self, Block, Event};
use super::merkle::to_hex;
use super::view::{EventFilter, Order};
use super::{LedgerError, Proof};
use crate::backend::config::Secret;
use crate::backend::{error::internal, state::AppState};
use crate::components::list::{time_range, Page};
use crate::error::{AppError, FieldErrors};
use crate::ledger::{
    BlockDetail, BlockPage, BlockQuery, CheckpointStatus, ConsistencyProof, EventDetail, EventPage,
    EventQuery, InclusionProof, LedgerBlock, LedgerEvent, LedgerHead, LedgerSnapshot,
    LedgerStorage, LedgerVerification, PaymentLedger, PaymentState, StorageStats,
    BLOCK_EVENTS_SHOWN,
};

impl From<LedgerError> for AppError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Missing(_) | LedgerError::Unreadable { .. } => {
                tracing::warn!(error = %err, "ledger unavailable");
                AppError::Unavailable
            }
            other => internal(other),
        }
    }
}

pub fn event_dto(e: Event) -> LedgerEvent {
    LedgerEvent {
        seq: e.seq,
        hash: to_hex(&e.hash()),
        // A payload that is not JSON (another writer's) is shown as its text.
        payload: serde_json::from_slice(&e.payload).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&e.payload).into_owned())
        }),
        payment_id: e.payment_id,
        event_type: e.event_type,
        time: e.time,
    }
}

pub fn block_dto(b: &Block) -> LedgerBlock {
    LedgerBlock {
        number: b.number,
        parent_hash: to_hex(&b.parent_hash),
        merkle_root: to_hex(&b.merkle_root),
        first_seq: b.first_seq,
        last_seq: b.last_seq,
        events: b.size(),
        time: b.time,
        hash: to_hex(&b.hash()),
    }
}

pub fn proof_dto(p: &Proof) -> InclusionProof {
    InclusionProof {
        seq: p.seq,
        block_number: p.block_number,
        leaf_index: p.leaf_index,
        tree_size: p.tree_size,
        leaf_hash: to_hex(&p.leaf_hash),
        audit_path: p.audit_path.iter().map(to_hex).collect(),
        root: to_hex(&p.root),
        block_hash: to_hex(&p.block_hash),
        parent_hash: to_hex(&p.parent_hash),
    }
}

fn state_dto(payment_id: Uuid, s: format::PaymentState) -> PaymentState {
    PaymentState {
        payment_id,
        status: s.status,
        last_seq: s.last_seq,
        events: s.events,
        updated: s.updated,
    }
}

/// A sequence or block number from a URL.
fn number(what: &str, text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .map_err(|_| format!("not a {what} (a whole number)"))
}

/// Reads a path's sequence or block number; refused: a field error on `id`.
pub fn parse_number(text: &str, what: &str) -> Result<u64, AppError> {
    number(what, text).map_err(|why| AppError::field("id", why))
}

/// The events list's query, checked.
struct Checked {
    filter: EventFilter,
    order: Order,
    cursor: Option<u64>,
}

fn check(query: &EventQuery) -> Result<Checked, AppError> {
    let mut refused = FieldErrors::default();
    let payment_id = refused.check("payment_id", &query.payment_id, |v| {
        crate::error::uuid_of("payment", v)
    });
    let event_type = refused.check("event_type", &query.event_type, |v| {
        if format::valid_event_type(v) {
            Ok(v.to_string())
        } else {
            Err("an event type: lower-case letters, digits and _".into())
        }
    });
    let (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        time_range(&mut refused, &query.from, &query.to);
    let order = refused
        .check("sort", &query.sort, |v| match v {
            "newest" => Ok(Order::Descending),
            "oldest" => Ok(Order::Ascending),
            other => Err(format!("unknown sort {other:?} (newest or oldest)")),
        })
        .unwrap_or(Order::Descending);
    let cursor = refused.check("after", &query.after, |v| number("sequence", v));
    refused.finish(Checked {
        filter: EventFilter {
            payment_id,
            event_type,
            from,
            to,
        },
        order,
        cursor,
    })
}

/// One page of the events matching `query`.
pub async fn events(
    state: &AppState,
    query: &EventQuery,
    limit: u32,
) -> Result<EventPage, AppError> {
    let c = check(query)?;
    let page = state
        .ledger
        .read(move |v| v.events(&c.filter, c.order, c.cursor, limit as usize))
        .await?;
    Ok(Page {
        rows: page.items.into_iter().map(event_dto).collect(),
        next: page.next_cursor.map(|s| s.to_string()),
    })
}

/// Event `seq` with its block, its proof (checked here) and its payment's state.
pub async fn event(state: &AppState, seq: u64) -> Result<EventDetail, AppError> {
    let found = state
        .ledger
        .read(move |v| {
            let Some(event) = v.event(seq)? else {
                return Ok(None);
            };
            let block = v.block_of(seq)?;
            let proof = v.proof(seq)?;
            let st = v.state(event.payment_id)?;
            Ok(Some((event, block, proof, st)))
        })
        .await?;
    let (event, block, proof, st) = found.ok_or(AppError::NotFound)?;
    let payment_id = event.payment_id;
    Ok(EventDetail {
        event: event_dto(event),
        block: block.as_ref().map(block_dto),
        proof_verified: proof.as_ref().is_some_and(Proof::verified),
        proof: proof.as_ref().map(proof_dto),
        state: st.map(|s| state_dto(payment_id, s)),
    })
}

/// Event `seq`'s inclusion proof: 404 for no such event, 409 while it is not sealed.
pub async fn proof(state: &AppState, seq: u64) -> Result<InclusionProof, AppError> {
    let (exists, proof) = state
        .ledger
        .read(move |v| Ok((v.event(seq)?.is_some(), v.proof(seq)?)))
        .await?;
    match (exists, proof) {
        (false, _) => Err(AppError::NotFound),
        (true, None) => Err(AppError::Conflict(
            "the event is not sealed into a block yet: it has no proof until then".into(),
        )),
        (true, Some(p)) => Ok(proof_dto(&p)),
    }
}

/// Block `number` with its first events.
pub async fn block(state: &AppState, number: u64) -> Result<BlockDetail, AppError> {
    let found = state
        .ledger
        .read(move |v| {
            let Some(block) = v.block(number)? else {
                return Ok(None);
            };
            let events = v.block_events(&block, BLOCK_EVENTS_SHOWN)?;
            let next = v.block(number + 1)?.map(|b| b.number);
            Ok(Some((block, events, next)))
        })
        .await?;
    let (block, events, next) = found.ok_or(AppError::NotFound)?;
    Ok(BlockDetail {
        block: block_dto(&block),
        events: events.into_iter().map(event_dto).collect(),
        next,
    })
}

/// One page of blocks, newest first.
pub async fn blocks(
    state: &AppState,
    query: &BlockQuery,
    limit: u32,
) -> Result<BlockPage, AppError> {
    let mut refused = FieldErrors::default();
    let before = refused.check("after", &query.after, |v| number("block number", v));
    refused.finish(())?;
    let blocks = state
        .ledger
        .read(move |v| v.blocks(before, limit as usize + 1))
        .await?;
    let more = blocks.len() > limit as usize;
    let rows: Vec<LedgerBlock> = blocks.iter().take(limit as usize).map(block_dto).collect();
    Ok(Page {
        next: more
            .then(|| rows.last().map(|b| b.number.to_string()))
            .flatten(),
        rows,
    })
}

fn head_dto(h: super::Head) -> LedgerHead {
    LedgerHead {
        last_seq: h.last_seq,
        blocks: h.blocks,
        unsealed: h.unsealed,
        last_block_hash: h.last_block.map(|b| to_hex(&b.hash())),
    }
}

/// RocksDB's figures per column family.
pub async fn stats(state: &AppState) -> Result<StorageStats, AppError> {
    let reader = state.ledger.clone();
    Ok(state
        .ledger
        .read(move |v| v.stats(reader.settings()))
        .await?)
}

/// The head, the figures and the newest snapshots.
pub async fn storage(state: &AppState) -> Result<LedgerStorage, AppError> {
    let reader = state.ledger.clone();
    let (head, stats, snapshots) = state
        .ledger
        .read(move |v| Ok((v.head()?, v.stats(reader.settings())?, v.snapshots(20)?)))
        .await?;
    Ok(LedgerStorage {
        head: head_dto(head),
        stats,
        snapshots: snapshots
            .into_iter()
            .map(|s| LedgerSnapshot {
                seq: s.seq,
                time: s.time,
                blocks: s.blocks,
                payments: s.payments,
                state_digest: s.state_digest,
            })
            .collect(),
    })
}

/// One whole-chain verification at a time per console: each reads the whole ledger, and
/// every role may ask for one.
static VERIFYING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// Checks the whole chain (see `View::verify`); 429 while another runs.
pub async fn verify(state: &AppState) -> Result<LedgerVerification, AppError> {
    let _running = VERIFYING
        .try_acquire()
        .map_err(|_| AppError::TooManyRequests {
            retry_after_secs: 5,
        })?;
    let report = state.ledger.read(|v| v.verify(&mut |_, _| {})).await?;
    let broken = report.first_broken.clone();
    Ok(LedgerVerification {
        ok: report.ok(),
        blocks_checked: report.blocks_checked,
        events_checked: report.events_checked,
        broken_block: broken.as_ref().and_then(|b| b.block),
        broken_seq: broken.as_ref().and_then(|b| b.seq),
        reason: broken.map(|b| b.reason),
    })
}

/// The latest signed checkpoint (Redis' copy, else the file under `DATA_DIR`), checked: its
/// signature, and that the ledger's chain tree at its size has its root. 404 when none was
/// ever taken.
pub async fn checkpoint(state: &AppState) -> Result<CheckpointStatus, AppError> {
    use redis::AsyncCommands;
    let mut redis = state.redis.clone();
    let copy: Option<String> = redis
        .get(checkpoint::redis_key(&state.config.redis_prefix))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ledger checkpoint not read from Redis: reading the file");
            None
        });
    let c = copy
        .and_then(|json| serde_json::from_str::<checkpoint::Checkpoint>(&json).ok())
        .or_else(|| checkpoint::latest(&state.config.data_dir))
        .ok_or(AppError::NotFound)?;
    let size = c.size;
    let (blocks_now, root_then) = state
        .ledger
        .read(move |v| {
            let blocks = v.head()?.blocks;
            let root = (size <= blocks).then(|| v.chain_root(size)).transpose()?;
            Ok((blocks, root))
        })
        .await?;
    Ok(CheckpointStatus {
        signature_valid: c.verify_signature(state.config.secret(Secret::AuditAnchor)),
        matches_ledger: root_then.is_some_and(|r| to_hex(&r) == c.root),
        blocks_now,
        size: c.size,
        root: c.root,
        time: c.time,
        signature: c.signature,
    })
}

/// The consistency proof of the chain tree from `from` to `to` blocks: 422 for sizes out of
/// range (0 < from ≤ to ≤ the blocks sealed).
pub async fn consistency(
    state: &AppState,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<ConsistencyProof, AppError> {
    let mut refused = FieldErrors::default();
    let mut size = |field: &str, given: Option<&str>| {
        let given = given.map(str::to_string);
        let parsed = refused.check(field, &given, |v| number("number of blocks", v));
        if given.is_none_or(|g| g.trim().is_empty()) {
            refused.refuse(field, "required: a number of blocks");
        }
        parsed
    };
    let (from, to) = (size("from", from), size("to", to));
    refused.finish(())?;
    let (Some(from), Some(to)) = (from, to) else {
        return Err(AppError::field("from", "required: a number of blocks"));
    };
    let found = state
        .ledger
        .read(move |v| {
            let Some(proof) = v.consistency(from, to)? else {
                return Ok(None);
            };
            Ok(Some((v.chain_root(from)?, v.chain_root(to)?, proof)))
        })
        .await?;
    let (from_root, to_root, proof) = found
        .ok_or_else(|| AppError::field("to", "sizes must be 0 < from ≤ to ≤ the blocks sealed"))?;
    Ok(ConsistencyProof {
        from,
        to,
        from_root: to_hex(&from_root),
        to_root: to_hex(&to_root),
        proof: proof.iter().map(to_hex).collect(),
    })
}

/// Payment `id`'s ledger events and state; a ledger that cannot be read is `available:
/// false`, not an error, so that the payment's page still shows.
pub async fn payment(state: &AppState, id: Uuid) -> PaymentLedger {
    let read = state
        .ledger
        .read(move |v| Ok((v.state(id)?, v.payment_events(id)?)))
        .await;
    match read {
        Ok((st, events)) => PaymentLedger {
            available: true,
            state: st.map(|s| state_dto(id, s)),
            events: events.into_iter().map(event_dto).collect(),
        },
        Err(e) => {
            tracing::warn!(error = %e, payment = %id, "ledger events of a payment not read");
            PaymentLedger {
                available: false,
                state: None,
                events: Vec::new(),
            }
        }
    }
}
