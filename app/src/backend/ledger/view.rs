//! Reading a ledger: events and their filters, blocks, proofs, payment states, snapshots,
//! storage figures and the verification of the whole chain. A `View` reads one open database
//! (the writer's own, or a reader's secondary instance) and never writes.

use std::path::Path;

use chrono::{DateTime, Utc};
use rocksdb::{ColumnFamily, Direction, IteratorMode, PrefixRange, ReadOptions, DB};
use uuid::Uuid;

use super::config::Settings;
use super::format::{
    self, block_index_key, block_node_key, chain_node_key, seq_key, seq_of_index_key, seq_of_key,
    Block, Event, FormatError, PaymentState, Snapshot, CF_BLOCKS, CF_EVENTS, CF_INDICES, CF_MERKLE,
    CF_SNAPSHOTS, CF_STATE, FAMILIES, GENESIS_PARENT,
};
use super::merkle::{self, Hash};
use super::LedgerError;
use crate::ledger::{FamilyStats, StorageStats};

/// A key and its value, as RocksDB's iterators give them.
type KeyValue = (Box<[u8]>, Box<[u8]>);

/// Keys scanned at most for one page of a filter no index answers (a time range): the page
/// then ends early, with a cursor to go on from.
const SCAN_BUDGET: usize = 50_000;

/// The newest position of the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The last event's sequence (0 when there are none; sequences start at 1).
    pub last_seq: u64,
    /// Sealed blocks (block numbers start at 0).
    pub blocks: u64,
    pub last_block: Option<Block>,
    /// Events after the last sealed block.
    pub unsealed: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub payment_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Which way a page of events runs: oldest first from after a cursor, or newest first from
/// before one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// The cursor of the next page (a sequence to pass back), when there may be one.
    pub next_cursor: Option<u64>,
}

/// An event's RFC 6962 inclusion proof in its block, with what ties the block into the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    pub seq: u64,
    pub block_number: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub audit_path: Vec<Hash>,
    pub root: Hash,
    pub block_hash: Hash,
    pub parent_hash: Hash,
}

impl Proof {
    /// The inclusion check of api.md, and that the block's hash is the hash of the block the
    /// proof names.
    pub fn verified(&self) -> bool {
        merkle::verify_inclusion(
            &self.leaf_hash,
            self.leaf_index,
            self.tree_size,
            &self.audit_path,
            &self.root,
        )
    }
}

/// Where the chain first fails to check.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    /// The block that does not check (None: an event after the last block).
    pub block: Option<u64>,
    /// The event at fault, when one can be named.
    pub seq: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub blocks_checked: u64,
    pub events_checked: u64,
    pub first_broken: Option<Broken>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Reads of one open ledger.
pub struct View<'a> {
    db: &'a DB,
    path: &'a Path,
}

/// A block's stored tree, as `merkle::Nodes`.
struct BlockNodes<'v, 'a> {
    view: &'v View<'a>,
    block: u64,
}

impl merkle::Nodes for BlockNodes<'_, '_> {
    type Error = LedgerError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.view
            .hash_at(&block_node_key(self.block, level, index), "block tree node")
    }
}

/// The chain tree over block hashes, as `merkle::Nodes`.
pub(super) struct ChainNodes<'v, 'a> {
    pub view: &'v View<'a>,
}

impl merkle::Nodes for ChainNodes<'_, '_> {
    type Error = LedgerError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.view
            .hash_at(&chain_node_key(level, index), "chain tree node")
    }
}

fn corrupt(what: String, why: &'static str) -> LedgerError {
    LedgerError::Corrupt(FormatError { what, why })
}

impl<'a> View<'a> {
    pub(super) fn new(db: &'a DB, path: &'a Path) -> View<'a> {
        View { db, path }
    }

    fn rocks(&self, err: rocksdb::Error) -> LedgerError {
        LedgerError::rocks(self.path, err)
    }

    pub(super) fn cf(&self, name: &str) -> Result<&'a ColumnFamily, LedgerError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| LedgerError::Unreadable {
                path: self.path.to_path_buf(),
                reason: format!("it has no column family {name}"),
            })
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        self.db.get_cf(self.cf(cf)?, key).map_err(|e| self.rocks(e))
    }

    fn hash_at(&self, key: &[u8], what: &str) -> Result<Hash, LedgerError> {
        let value = self
            .get(CF_MERKLE, key)?
            .ok_or_else(|| corrupt(what.to_string(), "missing"))?;
        value
            .as_slice()
            .try_into()
            .map_err(|_| corrupt(what.to_string(), "not 32 bytes"))
    }

    /// The last entry (key, value) of a family keyed by u64 (events, blocks, snapshots).
    fn last_entry(&self, cf: &str) -> Result<Option<KeyValue>, LedgerError> {
        self.db
            .iterator_cf(self.cf(cf)?, IteratorMode::End)
            .next()
            .transpose()
            .map_err(|e| self.rocks(e))
    }

    pub fn head(&self) -> Result<Head, LedgerError> {
        let last_seq = match self.last_entry(CF_EVENTS)? {
            Some((k, _)) => {
                seq_of_key(&k).ok_or_else(|| corrupt("event key".into(), "not 8 bytes"))?
            }
            None => 0,
        };
        let last_block = match self.last_entry(CF_BLOCKS)? {
            Some((k, v)) => Some(Block::decode(&k, &v)?),
            None => None,
        };
        let sealed = last_block.as_ref().map_or(0, |b| b.last_seq);
        Ok(Head {
            last_seq,
            blocks: last_block.as_ref().map_or(0, |b| b.number + 1),
            unsealed: last_seq.saturating_sub(sealed),
            last_block,
        })
    }

    pub fn event(&self, seq: u64) -> Result<Option<Event>, LedgerError> {
        let key = seq_key(seq);
        match self.get(CF_EVENTS, &key)? {
            Some(v) => Ok(Some(Event::decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// One page of events matching `filter`, after (ascending) or before (descending)
    /// `cursor`. A payment or type filter reads its index; a time range alone scans at most
    /// `SCAN_BUDGET` events per page.
    pub fn events(
        &self,
        filter: &EventFilter,
        order: Order,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, LedgerError> {
        // The keys to walk: an index prefix, or the events themselves.
        let prefix = match (&filter.payment_id, &filter.event_type) {
            (Some(p), _) => Some(format::payment_index_prefix(*p)),
            (None, Some(t)) => Some(format::type_index_prefix(t)),
            (None, None) => None,
        };
        let (cf, prefix) = match &prefix {
            Some(p) => (self.cf(CF_INDICES)?, p.clone()),
            None => (self.cf(CF_EVENTS)?, Vec::new()),
        };
        let start = {
            let mut k = prefix.clone();
            let seq = match (order, cursor) {
                (Order::Ascending, c) => c.unwrap_or(0).checked_add(1),
                (Order::Descending, None) => Some(u64::MAX),
                (Order::Descending, Some(c)) => c.checked_sub(1),
            };
            let Some(seq) = seq else {
                return Ok(EventPage {
                    items: Vec::new(),
                    next_cursor: None,
                });
            };
            k.extend_from_slice(&seq.to_be_bytes());
            k
        };
        let mut opts = ReadOptions::default();
        if !prefix.is_empty() {
            opts.set_iterate_range(PrefixRange(prefix.clone()));
        }
        let direction = match order {
            Order::Ascending => Direction::Forward,
            Order::Descending => Direction::Reverse,
        };
        let iter = self
            .db
            .iterator_cf_opt(cf, opts, IteratorMode::From(&start, direction));
        let mut items = Vec::new();
        let mut scanned = 0usize;
        let mut last_seen;
        for entry in iter {
            let (key, value) = entry.map_err(|e| self.rocks(e))?;
            let event = if prefix.is_empty() {
                Event::decode(&key, &value)?
            } else {
                let seq = seq_of_index_key(&key)
                    .ok_or_else(|| corrupt("index key".into(), "too short"))?;
                self.event(seq)?
                    .ok_or_else(|| corrupt(format!("event {seq}"), "indexed but missing"))?
            };
            last_seen = Some(event.seq);
            scanned += 1;
            if matches(filter, &event) {
                items.push(event);
                if items.len() == limit {
                    return Ok(EventPage {
                        next_cursor: last_seen,
                        items,
                    });
                }
            }
            if scanned == SCAN_BUDGET {
                return Ok(EventPage {
                    next_cursor: last_seen,
                    items,
                });
            }
        }
        Ok(EventPage {
            items,
            next_cursor: None,
        })
    }

    /// Every event of `payment`, oldest first.
    pub fn payment_events(&self, payment: Uuid) -> Result<Vec<Event>, LedgerError> {
        let filter = EventFilter {
            payment_id: Some(payment),
            ..Default::default()
        };
        Ok(self.events(&filter, Order::Ascending, None, 1000)?.items)
    }

    pub fn state(&self, payment: Uuid) -> Result<Option<PaymentState>, LedgerError> {
        match self.get(CF_STATE, payment.as_bytes())? {
            Some(v) => Ok(Some(PaymentState::decode(payment, &v)?)),
            None => Ok(None),
        }
    }

    /// Every payment's state, in payment id order (for the consistency check).
    pub fn states(
        &self,
    ) -> impl Iterator<Item = Result<(Uuid, PaymentState), LedgerError>> + use<'a, '_> {
        let cf = self.cf(CF_STATE);
        let iter = cf
            .ok()
            .map(|cf| self.db.iterator_cf(cf, IteratorMode::Start));
        iter.into_iter().flatten().map(|entry| {
            let (k, v) = entry.map_err(|e| self.rocks(e))?;
            let id =
                Uuid::from_slice(&k).map_err(|_| corrupt("state key".into(), "not 16 bytes"))?;
            Ok((id, PaymentState::decode(id, &v)?))
        })
    }

    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        let key = seq_key(number);
        match self.get(CF_BLOCKS, &key)? {
            Some(v) => Ok(Some(Block::decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// Up to `limit` blocks, newest first, before block `before`.
    pub fn blocks(&self, before: Option<u64>, limit: usize) -> Result<Vec<Block>, LedgerError> {
        let start = match before {
            Some(0) => return Ok(Vec::new()),
            Some(b) => seq_key(b - 1),
            None => seq_key(u64::MAX),
        };
        self.db
            .iterator_cf(
                self.cf(CF_BLOCKS)?,
                IteratorMode::From(&start, Direction::Reverse),
            )
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(|e| self.rocks(e))?;
                Ok(Block::decode(&k, &v)?)
            })
            .collect()
    }

    /// The sealed block holding event `seq`, if it is sealed.
    pub fn block_of(&self, seq: u64) -> Result<Option<Block>, LedgerError> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(PrefixRange(&b"s"[..]));
        let found = self
            .db
            .iterator_cf_opt(
                self.cf(CF_INDICES)?,
                opts,
                IteratorMode::From(&block_index_key(seq), Direction::Forward),
            )
            .next()
            .transpose()
            .map_err(|e| self.rocks(e))?;
        let Some((_, number)) = found else {
            return Ok(None);
        };
        let number =
            seq_of_key(&number).ok_or_else(|| corrupt("block index".into(), "not 8 bytes"))?;
        let block = self
            .block(number)?
            .ok_or_else(|| corrupt(format!("block {number}"), "indexed but missing"))?;
        Ok((block.first_seq..=block.last_seq)
            .contains(&seq)
            .then_some(block))
    }

    /// The events of `block`, in order.
    pub fn block_events(&self, block: &Block, limit: usize) -> Result<Vec<Event>, LedgerError> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(seq_key(block.first_seq).to_vec()..end_key(block.last_seq));
        self.db
            .iterator_cf_opt(self.cf(CF_EVENTS)?, opts, IteratorMode::Start)
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(|e| self.rocks(e))?;
                Ok(Event::decode(&k, &v)?)
            })
            .collect()
    }

    /// The inclusion proof of event `seq`; None when there is no such event or it is not
    /// sealed into a block yet. The leaf is hashed from the stored event, the path read from
    /// the stored tree: a proof never takes the block's word for either.
    pub fn proof(&self, seq: u64) -> Result<Option<Proof>, LedgerError> {
        let Some(value) = self.get(CF_EVENTS, &seq_key(seq))? else {
            return Ok(None);
        };
        let Some(block) = self.block_of(seq)? else {
            return Ok(None);
        };
        let leaf_index = seq - block.first_seq;
        let nodes = BlockNodes {
            view: self,
            block: block.number,
        };
        let audit_path =
            merkle::inclusion_proof(leaf_index, block.size(), &nodes).map_err(|e| match e {
                merkle::ProofError::Store(e) => e,
                _ => corrupt(
                    format!("block {}", block.number),
                    "its tree cannot prove its events",
                ),
            })?;
        Ok(Some(Proof {
            seq,
            block_number: block.number,
            leaf_index,
            tree_size: block.size(),
            leaf_hash: merkle::leaf_hash(&value),
            audit_path,
            root: block.merkle_root,
            block_hash: block.hash(),
            parent_hash: block.parent_hash,
        }))
    }

    /// The root of the chain tree (over block hashes) when it held `size` blocks.
    pub fn chain_root(&self, size: u64) -> Result<Hash, LedgerError> {
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        merkle::root(size, &ChainNodes { view: self })
    }

    /// The RFC 6962 consistency proof of the chain tree from `from` blocks to `to` blocks
    /// (0 < from ≤ to ≤ the blocks sealed); None for sizes out of that range.
    pub fn consistency(&self, from: u64, to: u64) -> Result<Option<Vec<Hash>>, LedgerError> {
        if from == 0 || from > to || to > self.head()?.blocks {
            return Ok(None);
        }
        match merkle::consistency_proof(from, to, &ChainNodes { view: self }) {
            Ok(proof) => Ok(Some(proof)),
            Err(merkle::ProofError::Store(e)) => Err(e),
            Err(_) => Ok(None),
        }
    }

    pub fn snapshots(&self, limit: usize) -> Result<Vec<Snapshot>, LedgerError> {
        self.db
            .iterator_cf(self.cf(CF_SNAPSHOTS)?, IteratorMode::End)
            .take(limit)
            .map(|entry| {
                let (_, v) = entry.map_err(|e| self.rocks(e))?;
                serde_json::from_slice(&v).map_err(|_| corrupt("snapshot".into(), "not JSON"))
            })
            .collect()
    }

    /// RocksDB's own figures per column family (the compression as `settings` configure it),
    /// and the block cache of this open instance.
    pub fn stats(&self, settings: &Settings) -> Result<StorageStats, LedgerError> {
        let mut families = Vec::new();
        for name in FAMILIES {
            let cf = self.cf(name)?;
            let int = |p: &str| -> Result<u64, LedgerError> {
                Ok(self
                    .db
                    .property_int_value_cf(cf, p)
                    .map_err(|e| self.rocks(e))?
                    .unwrap_or(0))
            };
            let mut sst_files = 0;
            for level in 0..7 {
                sst_files += int(&format!("rocksdb.num-files-at-level{level}"))?;
            }
            families.push(FamilyStats {
                name: name.to_string(),
                estimated_keys: int("rocksdb.estimate-num-keys")?,
                live_sst_bytes: int("rocksdb.live-sst-files-size")?,
                total_sst_bytes: int("rocksdb.total-sst-files-size")?,
                memtable_bytes: int("rocksdb.cur-size-all-mem-tables")?,
                pending_compaction_bytes: int("rocksdb.estimate-pending-compaction-bytes")?,
                sst_files,
                compression: settings.families.get(name).compression.name().to_string(),
            });
        }
        let db_int = |p: &str| -> Result<u64, LedgerError> {
            Ok(self
                .db
                .property_int_value(p)
                .map_err(|e| self.rocks(e))?
                .unwrap_or(0))
        };
        Ok(StorageStats {
            families,
            block_cache_usage: db_int("rocksdb.block-cache-usage")?,
            block_cache_capacity: db_int("rocksdb.block-cache-capacity")?,
        })
    }

    /// Checks the whole chain: every block's events are there, in order, each equal to the
    /// leaf its block's tree stored for it; every root recomputed from the events equals the
    /// block's; every block's parent is the hash of the one before, back to genesis; the
    /// events after the last block follow on. Stops at the first fault, naming the block and,
    /// when it can, the event. `progress(blocks checked, blocks in all)` is called as it goes.
    pub fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport, LedgerError> {
        let head = self.head()?;
        let mut report = VerifyReport {
            blocks_checked: 0,
            events_checked: 0,
            first_broken: None,
        };
        let events_cf = self.cf(CF_EVENTS)?;
        let mut events = self.db.iterator_cf(events_cf, IteratorMode::Start);
        let mut expected_seq = 1u64;
        let mut parent = GENESIS_PARENT;
        let blocks = self
            .db
            .iterator_cf(self.cf(CF_BLOCKS)?, IteratorMode::Start);
        let broken =
            |block: Option<u64>, seq: Option<u64>, reason: String| Broken { block, seq, reason };
        for (expected_number, entry) in blocks.enumerate() {
            let (k, v) = entry.map_err(|e| self.rocks(e))?;
            let block = match Block::decode(&k, &v) {
                Ok(b) => b,
                Err(e) => {
                    let n = seq_of_key(&k);
                    report.first_broken = Some(broken(n, None, e.to_string()));
                    return Ok(report);
                }
            };
            let n = block.number;
            let fault = if n != expected_number as u64 {
                Some(format!("block {expected_number} is missing"))
            } else if block.parent_hash != parent {
                Some("its parent hash is not the hash of the block before it".to_string())
            } else if block.first_seq != expected_seq {
                Some(format!(
                    "it starts at event {} where event {expected_seq} was due",
                    block.first_seq
                ))
            } else {
                None
            };
            if let Some(reason) = fault {
                report.first_broken = Some(broken(Some(n), None, reason));
                return Ok(report);
            }
            // Its events, against the leaves its tree stored.
            let mut leaves = Vec::with_capacity(block.size() as usize);
            let mut stored = self.stored_leaves(n)?;
            for seq in block.first_seq..=block.last_seq {
                let Some(entry) = events.next() else {
                    report.first_broken = Some(broken(
                        Some(n),
                        Some(seq),
                        format!("event {seq} is missing"),
                    ));
                    return Ok(report);
                };
                let (k, v) = entry.map_err(|e| self.rocks(e))?;
                if let Some(reason) = event_fault(seq, &k, &v) {
                    report.first_broken = Some(broken(Some(n), seq_of_key(&k), reason));
                    return Ok(report);
                }
                let leaf = merkle::leaf_hash(&v);
                match stored.next().transpose()? {
                    Some(s) if s == leaf => {}
                    _ => {
                        report.first_broken = Some(broken(
                            Some(n),
                            Some(seq),
                            format!(
                                "event {seq} is not the event block {n} sealed (its hash differs)"
                            ),
                        ));
                        return Ok(report);
                    }
                }
                leaves.push(leaf);
                report.events_checked += 1;
            }
            if merkle::MemTree::new(leaves).root() != block.merkle_root {
                report.first_broken = Some(broken(
                    Some(n),
                    None,
                    "its Merkle root is not the root of its events".into(),
                ));
                return Ok(report);
            }
            parent = block.hash();
            if self.hash_at(&chain_node_key(0, n), "chain tree leaf").ok() != Some(parent) {
                report.first_broken = Some(broken(
                    Some(n),
                    None,
                    "its hash is not the one the chain tree holds for it".into(),
                ));
                return Ok(report);
            }
            expected_seq = block.last_seq + 1;
            report.blocks_checked += 1;
            progress(report.blocks_checked, head.blocks);
        }
        // The events not sealed yet: still in order, still decodable.
        for entry in events {
            let (k, v) = entry.map_err(|e| self.rocks(e))?;
            if let Some(reason) = event_fault(expected_seq, &k, &v) {
                report.first_broken = Some(broken(None, seq_of_key(&k), reason));
                return Ok(report);
            }
            expected_seq += 1;
            report.events_checked += 1;
        }
        Ok(report)
    }

    /// The leaf hashes block `n`'s tree stored, in order.
    fn stored_leaves(
        &self,
        n: u64,
    ) -> Result<impl Iterator<Item = Result<Hash, LedgerError>> + use<'a, '_>, LedgerError> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(PrefixRange(block_node_key(n, 0, 0)[..10].to_vec()));
        Ok(self
            .db
            .iterator_cf_opt(self.cf(CF_MERKLE)?, opts, IteratorMode::Start)
            .map(move |entry| {
                let (_, v) = entry.map_err(|e| self.rocks(e))?;
                <Hash>::try_from(&v[..])
                    .map_err(|_| corrupt(format!("block {n}'s tree"), "a leaf is not 32 bytes"))
            }))
    }
}

/// Why the event stored under `key` is not event `seq`, if it is not.
fn event_fault(seq: u64, key: &[u8], value: &[u8]) -> Option<String> {
    match seq_of_key(key) {
        Some(k) if k == seq => {}
        Some(k) => return Some(format!("event {seq} is missing (the next is {k})")),
        None => return Some("an event key is not 8 bytes".into()),
    }
    // The sequence inside the value, without decoding the rest (verification reads every
    // event: it hashes the bytes, it need not build them).
    match value.get(1..9) {
        Some(s) if value[0] == format::FORMAT_VERSION && s == seq.to_be_bytes() => None,
        _ => Some(format!(
            "event {seq} does not decode as an event of sequence {seq}"
        )),
    }
}

/// The exclusive upper bound key of the events up to and including `last`.
fn end_key(last: u64) -> Vec<u8> {
    match last.checked_add(1) {
        Some(n) => seq_key(n).to_vec(),
        None => vec![0xff; 9],
    }
}

fn matches(filter: &EventFilter, e: &Event) -> bool {
    filter.payment_id.is_none_or(|p| p == e.payment_id)
        && filter
            .event_type
            .as_deref()
            .is_none_or(|t| t == e.event_type)
        && filter.from.is_none_or(|t| e.time >= t)
        && filter.to.is_none_or(|t| e.time < t)
}
