//! The console's view of a live ledger: a RocksDB secondary instance on the writer's files,
//! with its own directory for its own logs, that catches up with the writer on demand.
//!
//! A secondary has no snapshots and its view moves only inside `try_catch_up_with_primary`,
//! so catching up takes the write side of a lock and every read the read side: one request
//! sees one state of the ledger from its first read to its last (a proof and its block come
//! from the same catch-up). Catch-ups are at most one per `CATCH_UP_EVERY`. The reader never
//! writes to the ledger, and never opens a path without a ledger in it (rust-rocksdb would
//! create the directory); a ledger that appears later is opened on the next request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rocksdb::DB;

use super::config::Settings;
use super::view::View;
use super::{check_format, exists, LedgerError};

/// How stale a read may be: the writer's appends show within this.
pub const CATCH_UP_EVERY: Duration = Duration::from_millis(250);

pub struct Reader {
    primary: PathBuf,
    secondary: PathBuf,
    settings: Settings,
    db: RwLock<Option<DB>>,
    caught_up: Mutex<Option<Instant>>,
}

impl Reader {
    /// A reader of the ledger at `primary`, keeping its own files in `secondary` (one per
    /// console instance). Opens nothing yet.
    pub fn new(primary: PathBuf, secondary: PathBuf, settings: Settings) -> Reader {
        Reader {
            primary,
            secondary,
            settings,
            db: RwLock::new(None),
            caught_up: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.primary
    }

    /// The reader's own directory.
    pub fn secondary_path(&self) -> &Path {
        &self.secondary
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs `read` on one consistent view of the ledger, caught up first when the last
    /// catch-up is older than `CATCH_UP_EVERY`. Blocks: async code calls `read`.
    pub fn with_view<T>(
        &self,
        read: impl FnOnce(&View) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        self.refresh()?;
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let db = guard.as_ref().ok_or_else(|| LedgerError::Unreadable {
            path: self.primary.clone(),
            reason: "it was closed while being read; try again".into(),
        })?;
        read(&View::new(db, &self.primary))
    }

    /// `with_view` on the blocking pool.
    pub async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&View) -> Result<T, LedgerError> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.with_view(read))
            .await
            .map_err(|e| LedgerError::Unreadable {
                path: self.primary.clone(),
                reason: format!("the read stopped: {e}"),
            })?
    }

    /// Opens the secondary when it is not open, or catches it up when that is due. A failed
    /// catch-up closes it, so the next request opens it afresh (the ledger may have been
    /// replaced, or restored).
    fn refresh(&self) -> Result<(), LedgerError> {
        let mut caught_up = self
            .caught_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = caught_up.is_none_or(|t| t.elapsed() >= CATCH_UP_EVERY);
        let open = self
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        if open && !due {
            return Ok(());
        }
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        let result = match db.as_ref() {
            Some(open) => open
                .try_catch_up_with_primary()
                .map_err(|e| LedgerError::rocks(&self.primary, e)),
            None => self.open().map(|opened| *db = Some(opened)),
        };
        match result {
            Ok(()) => *caught_up = Some(Instant::now()),
            Err(_) => {
                *db = None;
                *caught_up = None;
            }
        }
        result
    }

    fn open(&self) -> Result<DB, LedgerError> {
        if !exists(&self.primary) {
            return Err(LedgerError::Missing(self.primary.clone()));
        }
        std::fs::create_dir_all(&self.secondary).map_err(|e| LedgerError::Unreadable {
            path: self.secondary.clone(),
            reason: format!("cannot create the reader's directory: {e}"),
        })?;
        let (opts, families) = self.settings.options();
        let db =
            DB::open_cf_descriptors_as_secondary(&opts, &self.primary, &self.secondary, families)
                .map_err(|e| LedgerError::rocks(&self.primary, e))?;
        check_format(&db, &self.primary)?;
        Ok(db)
    }
}
