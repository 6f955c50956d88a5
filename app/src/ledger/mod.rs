//! The ledger pages' data: events (filters by payment, type and time; keyset pages by
//! sequence, newest or oldest first), an event with its block and its inclusion proof, blocks,
//! a payment's ledger state, snapshots, storage figures and the verification of the whole
//! chain. Shared by the pages, the server functions and the REST API; the RocksDB side is
//! `backend::ledger`. Hashes travel as lowercase hex.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::components::list::Page;

/// An event as the pages and the API show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerEvent {
    pub seq: u64,
    pub payment_id: Uuid,
    pub event_type: String,
    pub time: DateTime<Utc>,
    /// SHA-256 of the event's canonical bytes.
    pub hash: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

/// The events list's filters, order and cursor as the URL holds them (and
/// `GET /api/v1/ledger/events` takes them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventQuery {
    pub payment_id: Option<String>,
    pub event_type: Option<String>,
    /// At or after (UTC).
    pub from: Option<String>,
    /// Before (UTC).
    pub to: Option<String>,
    /// `newest` (the default) or `oldest`.
    pub sort: Option<String>,
    /// A sequence: the page holds the events after it (`oldest`) or before it (`newest`).
    pub after: Option<String>,
}

crate::list_query!(EventQuery, "/ledger");

pub type EventPage = Page<LedgerEvent>;

/// A sealed block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerBlock {
    pub number: u64,
    pub parent_hash: String,
    pub merkle_root: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub events: u64,
    pub time: DateTime<Utc>,
    /// SHA-256 of the block's canonical bytes (number, parent, root, range, time).
    pub hash: String,
}

/// A block and its events (the first `BLOCK_EVENTS_SHOWN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BlockDetail {
    pub block: LedgerBlock,
    pub events: Vec<LedgerEvent>,
    /// The next block's number, when there is one.
    pub next: Option<u64>,
}

/// Events a block's page lists; the rest are a link to the events list.
pub const BLOCK_EVENTS_SHOWN: usize = 200;

/// The blocks list's cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockQuery {
    /// A block number: the page holds the blocks before it.
    pub after: Option<String>,
}

impl crate::components::list::ListQuery for BlockQuery {
    const PATH: &'static str = "/ledger/blocks";

    fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    fn at(&self, after: Option<String>) -> Self {
        BlockQuery { after }
    }
}

pub type BlockPage = Page<LedgerBlock>;

/// An event's RFC 6962 inclusion proof, in the JSON of api.md: the inclusion check of
/// `leaf_hash` at `leaf_index` in a tree of `tree_size` with `audit_path` yields `root`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    pub seq: u64,
    pub block_number: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: String,
    pub audit_path: Vec<String>,
    pub root: String,
    pub block_hash: String,
    pub parent_hash: String,
}

/// Where a payment stands in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentState {
    pub payment_id: Uuid,
    pub status: String,
    pub last_seq: u64,
    pub events: u32,
    pub updated: DateTime<Utc>,
}

/// An event's page: the event, its block (once sealed), its proof checked on the server,
/// and its payment's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    pub event: LedgerEvent,
    pub block: Option<LedgerBlock>,
    pub proof: Option<InclusionProof>,
    /// The proof's inclusion check, run on the server.
    pub proof_verified: bool,
    pub state: Option<PaymentState>,
}

/// The ledger's head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerHead {
    pub last_seq: u64,
    pub blocks: u64,
    pub unsealed: u64,
    pub last_block_hash: Option<String>,
}

/// A point-in-time marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerSnapshot {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub blocks: u64,
    pub payments: u64,
    pub state_digest: String,
}

/// RocksDB's figures for one column family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FamilyStats {
    pub name: String,
    pub estimated_keys: u64,
    pub live_sst_bytes: u64,
    pub total_sst_bytes: u64,
    pub memtable_bytes: u64,
    pub pending_compaction_bytes: u64,
    pub sst_files: u64,
    pub compression: String,
}

/// `GET /api/v1/storage/stats`: every column family, and the block cache of the console's
/// reader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StorageStats {
    pub families: Vec<FamilyStats>,
    pub block_cache_usage: u64,
    pub block_cache_capacity: u64,
}

/// The storage page: the head, the figures and the latest snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerStorage {
    pub head: LedgerHead,
    pub stats: StorageStats,
    pub snapshots: Vec<LedgerSnapshot>,
}

/// The verification of the whole chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LedgerVerification {
    pub ok: bool,
    pub blocks_checked: u64,
    pub events_checked: u64,
    /// The first block that does not check (none: an event after the last block).
    pub broken_block: Option<u64>,
    /// The event at fault, when one can be named.
    pub broken_seq: Option<u64>,
    pub reason: Option<String>,
}

/// A payment's ledger events and state, for its timeline; `available` is false when the
/// ledger cannot be read (the rest of the payment's page still shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentLedger {
    pub available: bool,
    pub state: Option<PaymentState>,
    pub events: Vec<LedgerEvent>,
}

/// `GET /api/v1/ledger/checkpoint`: the latest signed checkpoint of the chain tree (over every
/// block's hash), and what the console found checking it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CheckpointStatus {
    /// Blocks in the tree it signed.
    pub size: u64,
    pub root: String,
    pub time: DateTime<Utc>,
    /// HMAC-SHA256 (hex) of `deltran-ledger-checkpoint-v1\n{size}\n{root}\n{time}\n`.
    pub signature: String,
    /// The signature is the configured key's.
    pub signature_valid: bool,
    /// The ledger's chain tree at `size` blocks has this root today.
    pub matches_ledger: bool,
    /// Blocks sealed now.
    pub blocks_now: u64,
}

/// `GET /api/v1/ledger/consistency?from=N&to=M`: RFC 6962 §2.1.2's proof that the chain tree
/// of `to` blocks extends the one of `from` blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

/// What a difference between the ledger and Postgres is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum DifferenceKind {
    /// A payment with no event in the ledger.
    MissingFromLedger,
    /// The ledger's state is not Postgres' status.
    StatusDiffers,
    /// Settled in Postgres without a `settled` event.
    SettledWithoutEvent,
    /// Ledger events of a payment Postgres does not have.
    UnknownPayment,
    /// A batch whose settled events do not add up to its count and gross amount.
    BatchTotal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Difference {
    pub kind: DifferenceKind,
    pub payment_id: Option<Uuid>,
    pub batch_id: Option<Uuid>,
    pub detail: String,
}

/// The ledger against Postgres (`deltran-console ledger reconcile`, the reconcile page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Reconciliation {
    pub payments_checked: u64,
    pub events_in_ledger: u64,
    pub batches_checked: u64,
    /// Every difference found; `listed` holds the first 200.
    pub differences: u64,
    pub listed: Vec<Difference>,
}
