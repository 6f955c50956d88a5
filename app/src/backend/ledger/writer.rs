//! The ledger's one writer: appends events, seals them into blocks, takes snapshots, backs
//! the ledger up and restores it. RocksDB's lock file makes it the only one: a second writer
//! on the same path fails to open.
//!
//! Each append is one WriteBatch (events, their index entries and the payments' new states)
//! written through the WAL, and each sealed block another (its tree's nodes, the block, its
//! index entry and the chain tree's new nodes): a crash at any moment leaves a prefix of the
//! ledger in which every event has its index and state, and every block its tree.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use rocksdb::backup::{BackupEngine, BackupEngineOptions, RestoreOptions};
use rocksdb::{Env, IteratorMode, ReadOptions, WriteBatch, DB};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::config::Settings;
use super::format::{
    self, block_index_key, block_node_key, chain_node_key, payment_index_key, seq_key,
    type_index_key, Block, Event, PaymentState, Snapshot, CF_BLOCKS, CF_EVENTS, CF_INDICES,
    CF_MERKLE, CF_SNAPSHOTS, CF_STATE, FORMAT_KEY, FORMAT_VERSION, GENESIS_PARENT,
};
use super::merkle::{self, Hash};
use super::view::{ChainNodes, View};
use super::{check_format, exists, LedgerError};

/// An event to append; the writer gives it its sequence.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub payment_id: Uuid,
    pub event_type: String,
    /// A JSON value, compact; stored and hashed as given.
    pub payload: Vec<u8>,
    pub time: DateTime<Utc>,
}

/// One backup in a backup directory.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupInfo {
    pub id: u32,
    pub time: DateTime<Utc>,
    pub bytes: u64,
    pub files: u32,
}

pub struct Writer {
    db: DB,
    path: PathBuf,
    settings: Settings,
    next_seq: u64,
    /// The last sealed event (0: none).
    sealed_through: u64,
    /// Sealed blocks; the next block's number.
    blocks: u64,
    last_block_hash: Hash,
    /// The states this writer wrote, so that the next appends need not read them back.
    states: HashMap<Uuid, PaymentState>,
}

/// States the writer keeps at most (about 100 MB); past it, the cache starts again.
const STATE_CACHE: usize = 1_000_000;

impl Writer {
    /// Opens the ledger at `path` for writing, creating it when `path` is missing or an empty
    /// directory. Refuses a directory that holds something else, and a ledger of another
    /// format.
    pub fn open(path: &Path, settings: &Settings) -> Result<Writer, LedgerError> {
        let create = !exists(path);
        if create && path.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err(LedgerError::Invalid(format!(
                "{} is not empty and holds no ledger",
                path.display()
            )));
        }
        let (mut opts, families) = settings.options();
        opts.create_if_missing(create);
        opts.create_missing_column_families(create);
        let db = DB::open_cf_descriptors(&opts, path, families)
            .map_err(|e| LedgerError::rocks(path, e))?;
        if create {
            db.put(FORMAT_KEY, [FORMAT_VERSION])
                .map_err(|e| LedgerError::rocks(path, e))?;
        }
        check_format(&db, path)?;
        let mut w = Writer {
            db,
            path: path.to_path_buf(),
            settings: settings.clone(),
            next_seq: 1,
            sealed_through: 0,
            blocks: 0,
            last_block_hash: GENESIS_PARENT,
            states: HashMap::new(),
        };
        let head = w.view().head()?;
        w.next_seq = head.last_seq + 1;
        if let Some(b) = &head.last_block {
            w.sealed_through = b.last_seq;
            w.blocks = b.number + 1;
            w.last_block_hash = b.hash();
        }
        Ok(w)
    }

    pub fn view(&self) -> View<'_> {
        View::new(&self.db, &self.path)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn rocks(&self, err: rocksdb::Error) -> LedgerError {
        LedgerError::rocks(&self.path, err)
    }

    /// Appends `events` in one batch and returns the sequences they got (None for none).
    /// Every event's type is checked first: one bad event appends nothing. Payloads are
    /// stored as given (the command line checks that each is a JSON object).
    pub fn append(
        &mut self,
        events: Vec<NewEvent>,
    ) -> Result<Option<std::ops::RangeInclusive<u64>>, LedgerError> {
        for (i, e) in events.iter().enumerate() {
            if !format::valid_event_type(&e.event_type) {
                return Err(LedgerError::Invalid(format!(
                    "event {}: type {:?} is not 1-32 of a-z, 0-9 and _ starting with a letter",
                    i + 1,
                    e.event_type
                )));
            }
        }
        if events.is_empty() {
            return Ok(None);
        }
        // The fields, not `self.view()`: the state cache is read alongside.
        let view = View::new(&self.db, &self.path);
        let (cf_events, cf_indices, cf_state) = (
            view.cf(CF_EVENTS)?,
            view.cf(CF_INDICES)?,
            view.cf(CF_STATE)?,
        );
        let mut batch = WriteBatch::default();
        let mut states: HashMap<Uuid, PaymentState> = HashMap::new();
        let first = self.next_seq;
        let mut last = first;
        for (seq, e) in (first..).zip(events) {
            last = seq;
            let event = Event {
                seq,
                payment_id: e.payment_id,
                event_type: e.event_type,
                payload: e.payload,
                time: e.time.trunc_subsecs(6),
            };
            let before = match states.remove(&event.payment_id) {
                Some(s) => Some(s),
                None => match self.states.get(&event.payment_id) {
                    Some(s) => Some(s.clone()),
                    None => view.state(event.payment_id)?,
                },
            };
            let state = PaymentState::after(before, &event);
            batch.put_cf(cf_events, seq_key(seq), event.canonical());
            batch.put_cf(cf_indices, payment_index_key(event.payment_id, seq), []);
            batch.put_cf(cf_indices, type_index_key(&event.event_type, seq), []);
            states.insert(event.payment_id, state);
        }
        for (payment, state) in &states {
            batch.put_cf(cf_state, payment.as_bytes(), state.encode());
        }
        self.db.write(batch).map_err(|e| self.rocks(e))?;
        self.next_seq = last + 1;
        if self.states.len() + states.len() > STATE_CACHE {
            self.states.clear();
        }
        self.states.extend(states);
        Ok(Some(first..=last))
    }

    /// Seals every event not yet in a block into blocks of at most `block_events` events,
    /// each at `time`; returns the new blocks.
    pub fn seal(&mut self, time: DateTime<Utc>) -> Result<Vec<Block>, LedgerError> {
        let time = time.trunc_subsecs(6);
        let mut sealed = Vec::new();
        while self.sealed_through + 1 < self.next_seq {
            let first = self.sealed_through + 1;
            let last = (first + self.settings.block_events - 1).min(self.next_seq - 1);
            sealed.push(self.seal_one(first, last, time)?);
        }
        Ok(sealed)
    }

    fn seal_one(
        &mut self,
        first: u64,
        last: u64,
        time: DateTime<Utc>,
    ) -> Result<Block, LedgerError> {
        let view = self.view();
        let mut opts = ReadOptions::default();
        opts.set_iterate_range(seq_key(first).to_vec()..seq_key(last + 1).to_vec());
        let mut leaves = Vec::with_capacity((last - first + 1) as usize);
        for entry in self
            .db
            .iterator_cf_opt(view.cf(CF_EVENTS)?, opts, IteratorMode::Start)
        {
            let (_, v) = entry.map_err(|e| self.rocks(e))?;
            leaves.push(merkle::leaf_hash(&v));
        }
        if leaves.len() as u64 != last - first + 1 {
            return Err(LedgerError::Invalid(format!(
                "events {first} to {last} are not all there: cannot seal them"
            )));
        }
        let number = self.blocks;
        let tree = merkle::MemTree::new(leaves);
        let block = Block {
            number,
            parent_hash: self.last_block_hash,
            merkle_root: tree.root(),
            first_seq: first,
            last_seq: last,
            time,
        };
        let hash = block.hash();
        let cf_merkle = view.cf(CF_MERKLE)?;
        let mut batch = WriteBatch::default();
        for (level, index, node) in tree.perfect_nodes() {
            batch.put_cf(cf_merkle, block_node_key(number, level, index), node);
        }
        batch.put_cf(view.cf(CF_BLOCKS)?, seq_key(number), block.canonical());
        batch.put_cf(view.cf(CF_INDICES)?, block_index_key(last), seq_key(number));
        let chain = merkle::completed_nodes(number, hash, &ChainNodes { view: &view })?;
        for (level, index, node) in chain {
            batch.put_cf(cf_merkle, chain_node_key(level, index), node);
        }
        self.db.write(batch).map_err(|e| self.rocks(e))?;
        self.sealed_through = last;
        self.blocks += 1;
        self.last_block_hash = hash;
        Ok(block)
    }

    /// Records a snapshot: the last sequence, the sealed blocks, and a digest of every
    /// payment's state at this moment.
    pub fn snapshot(&mut self, time: DateTime<Utc>) -> Result<Snapshot, LedgerError> {
        let view = self.view();
        let mut digest = Sha256::new();
        let mut payments = 0;
        for entry in self.db.iterator_cf(view.cf(CF_STATE)?, IteratorMode::Start) {
            let (k, v) = entry.map_err(|e| self.rocks(e))?;
            digest.update(&k);
            digest.update(&v);
            payments += 1;
        }
        let snapshot = Snapshot {
            seq: self.next_seq - 1,
            time: time.trunc_subsecs(6),
            blocks: self.blocks,
            payments,
            state_digest: hex::encode(digest.finalize()),
        };
        let json = serde_json::to_vec(&snapshot).expect("a snapshot serializes");
        self.db
            .put_cf(view.cf(CF_SNAPSHOTS)?, seq_key(snapshot.seq), json)
            .map_err(|e| self.rocks(e))?;
        Ok(snapshot)
    }

    /// Writes every memtable out to SST files (the WAL already made the writes durable; this
    /// makes RocksDB's figures show where the bytes are).
    pub fn flush(&self) -> Result<(), LedgerError> {
        let view = self.view();
        let families = super::format::FAMILIES
            .iter()
            .map(|name| view.cf(name))
            .collect::<Result<Vec<_>, _>>()?;
        self.db
            .flush_cfs_opt(&families, &rocksdb::FlushOptions::default())
            .map_err(|e| self.rocks(e))
    }

    /// Backs the ledger up into `dir` (RocksDB's backup engine: a new point-in-time backup,
    /// sharing unchanged files with earlier ones), keeps the newest `keep`, checks the new one.
    pub fn backup(&self, dir: &Path, keep: usize) -> Result<BackupInfo, LedgerError> {
        let mut engine = open_backups(dir)?;
        let err = |e: rocksdb::Error| LedgerError::rocks(dir, e);
        engine
            .create_new_backup_flush(&self.db, true)
            .map_err(err)?;
        engine.purge_old_backups(keep.max(1)).map_err(err)?;
        let newest = list(&engine)
            .pop()
            .ok_or_else(|| LedgerError::Invalid("the backup was not recorded".into()))?;
        engine.verify_backup(newest.id).map_err(err)?;
        Ok(newest)
    }
}

fn open_backups(dir: &Path) -> Result<BackupEngine, LedgerError> {
    let err = |e: rocksdb::Error| LedgerError::rocks(dir, e);
    let opts = BackupEngineOptions::new(dir).map_err(err)?;
    let env = Env::new().map_err(err)?;
    BackupEngine::open(&opts, &env).map_err(err)
}

fn list(engine: &BackupEngine) -> Vec<BackupInfo> {
    let mut all: Vec<BackupInfo> = engine
        .get_backup_info()
        .into_iter()
        .map(|b| BackupInfo {
            id: b.backup_id,
            time: DateTime::from_timestamp(b.timestamp, 0).unwrap_or_default(),
            bytes: b.size,
            files: b.num_files,
        })
        .collect();
    all.sort_by_key(|b| b.id);
    all
}

/// The backups in `dir`, oldest first.
pub fn backups(dir: &Path) -> Result<Vec<BackupInfo>, LedgerError> {
    if !dir.join("meta").is_dir() {
        return Ok(Vec::new());
    }
    Ok(list(&open_backups(dir)?))
}

/// Restores backup `id` (the newest when None) from `dir` into `into`, which must be missing
/// or empty: a restore never overwrites a ledger.
pub fn restore(dir: &Path, id: Option<u32>, into: &Path) -> Result<(), LedgerError> {
    if into.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(LedgerError::Invalid(format!(
            "{} is not empty: restore into an empty or new directory",
            into.display()
        )));
    }
    if !dir.join("meta").is_dir() {
        return Err(LedgerError::Invalid(format!(
            "{} holds no ledger backups",
            dir.display()
        )));
    }
    let mut engine = open_backups(dir)?;
    let err = |e: rocksdb::Error| LedgerError::rocks(dir, e);
    let opts = RestoreOptions::default();
    match id {
        Some(id) => engine
            .restore_from_backup(into, into, &opts, id)
            .map_err(err),
        None => engine
            .restore_from_latest_backup(into, into, &opts)
            .map_err(err),
    }
}
