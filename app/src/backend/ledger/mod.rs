//! The RocksDB ledger: an append-only, provable record of every payment's events.
//!
//! `format` is the on-disk layout, `merkle` the RFC 6962 trees, `config` the `rocksdb.toml`
//! settings. `Writer` is the one process that appends to a ledger (the CLI, the demo seed,
//! the tests); the console only ever reads one through a `Reader`, a RocksDB secondary
//! instance that catches up with the writer on demand. Both read through `View`, so what the
//! CLI verifies is what the pages show. Every call here blocks: async callers go through
//! `Reader::read`, which runs it on the blocking pool.

pub mod checkpoint;
pub mod config;
pub mod format;
pub mod merkle;
pub mod queries;
mod reader;
pub mod reconcile;
mod view;
mod writer;

use std::path::{Path, PathBuf};

pub use config::Settings;
pub use reader::Reader;
pub use view::{Broken, EventFilter, EventPage, Head, Order, Proof, VerifyReport, View};
pub use writer::{backups, restore, BackupInfo, NewEvent, Writer};

/// Why the ledger could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// No ledger at the configured path (no `CURRENT` file).
    #[error("no ledger at {0}")]
    Missing(PathBuf),
    /// RocksDB refused to open or read it.
    #[error("the ledger at {path} cannot be read: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    /// A stored value does not decode.
    #[error("the ledger is damaged: {0}")]
    Corrupt(#[from] format::FormatError),
    /// Bad input to the writer (an event type, a payload, a path).
    #[error("{0}")]
    Invalid(String),
}

impl LedgerError {
    /// One word for the kind of failure, for answers that must not carry paths or details.
    pub fn kind(&self) -> &'static str {
        match self {
            LedgerError::Missing(_) => "missing",
            LedgerError::Unreadable { .. } => "unreadable",
            LedgerError::Corrupt(_) => "damaged",
            LedgerError::Invalid(_) => "invalid",
        }
    }

    fn rocks(path: &Path, err: rocksdb::Error) -> LedgerError {
        LedgerError::Unreadable {
            path: path.to_path_buf(),
            reason: err.into_string(),
        }
    }
}

/// True when `path` holds a RocksDB database. Checked before every open that must not create
/// one: rust-rocksdb creates the directory on any open, read-only and secondary included.
pub fn exists(path: &Path) -> bool {
    path.join("CURRENT").is_file()
}

/// Refuses a database that is not a ledger of this format.
fn check_format(db: &rocksdb::DB, path: &Path) -> Result<(), LedgerError> {
    match db
        .get(format::FORMAT_KEY)
        .map_err(|e| LedgerError::rocks(path, e))?
    {
        Some(v) if v == [format::FORMAT_VERSION] => Ok(()),
        Some(v) => Err(LedgerError::Invalid(format!(
            "{} is a ledger of format {v:?}; this console reads format {}",
            path.display(),
            format::FORMAT_VERSION
        ))),
        None => Err(LedgerError::Invalid(format!(
            "{} is a RocksDB database but not a ledger",
            path.display()
        ))),
    }
}
