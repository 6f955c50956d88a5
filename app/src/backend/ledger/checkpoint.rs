//! Signed checkpoints of the chain tree (the RFC 6962 tree over every block's hash): its size
//! and root at a moment, signed with HMAC-SHA256 under `AUDIT_ANCHOR_KEY`, taken by the writer
//! when it seals blocks and kept outside the ledger, as the audit anchors are: files under
//! `<data_dir>/ledger-checkpoints/` (`checkpoint-<size>.json`, and `latest.json` replaced
//! atomically) and a copy in Redis (`{REDIS_PREFIX}ledger:checkpoint`) for the consoles.
//!
//! A checkpoint held by an auditor, and a consistency proof from its size to today's
//! (`View::consistency`), prove that today's ledger only grew from it: no block was changed,
//! removed or put in between (what per-block trees alone cannot show).

use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};
use crate::backend::audit::anchor::{sign_hex, verify_hex};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    /// Blocks in the chain tree.
    pub size: u64,
    /// The chain tree's root (hex).
    pub root: String,
    pub time: DateTime<Utc>,
    /// HMAC-SHA256 (hex) of `signed_bytes` under the signing key.
    pub signature: String,
}

impl Checkpoint {
    /// Signs `(size, root)` now.
    pub fn new(size: u64, root: &Hash, key: &str) -> Checkpoint {
        let mut c = Checkpoint {
            size,
            root: merkle::to_hex(root),
            time: Utc::now().trunc_subsecs(6),
            signature: String::new(),
        };
        c.signature = sign_hex(key.as_bytes(), &c.signed_bytes());
        c
    }

    /// What the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "deltran-ledger-checkpoint-v1\n{}\n{}\n{}\n",
            self.size,
            self.root,
            self.time.format("%Y-%m-%dT%H:%M:%S%.6fZ")
        )
        .into_bytes()
    }

    pub fn verify_signature(&self, key: &str) -> bool {
        verify_hex(key.as_bytes(), &self.signed_bytes(), &self.signature)
    }
}

/// The Redis key of the latest checkpoint's copy.
pub fn redis_key(prefix: &str) -> String {
    format!("{prefix}ledger:checkpoint")
}

/// `<data_dir>/ledger-checkpoints`.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger-checkpoints")
}

/// Writes `checkpoint-<size>.json` (kept) and replaces `latest.json` (through a rename, so a
/// reader never sees half a file).
pub fn write(data_dir: &Path, c: &Checkpoint) -> std::io::Result<()> {
    let dir = dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::to_vec_pretty(c).expect("a checkpoint serializes");
    std::fs::write(dir.join(format!("checkpoint-{}.json", c.size)), &json)?;
    let tmp = dir.join("latest.json.tmp");
    std::fs::write(&tmp, &json)?;
    std::fs::rename(tmp, dir.join("latest.json"))
}

/// Signs the chain tree as `writer` leaves it and writes the checkpoint's files; None while
/// no block is sealed.
pub fn take(
    writer: &super::Writer,
    data_dir: &Path,
    key: &str,
) -> Result<Option<Checkpoint>, super::LedgerError> {
    let view = writer.view();
    let size = view.head()?.blocks;
    if size == 0 {
        return Ok(None);
    }
    let c = Checkpoint::new(size, &view.chain_root(size)?, key);
    write(data_dir, &c).map_err(|e| super::LedgerError::Unreadable {
        path: dir(data_dir),
        reason: format!("cannot write the checkpoint: {e}"),
    })?;
    Ok(Some(c))
}

/// Copies `c` to Redis for the consoles; a failure is logged, not fatal (the files are the
/// record).
pub async fn copy_to_redis(
    redis: &mut (impl redis::aio::ConnectionLike + Send),
    prefix: &str,
    c: &Checkpoint,
) {
    let json = serde_json::to_string(c).expect("a checkpoint serializes");
    let set: redis::RedisResult<()> = redis::cmd("SET")
        .arg(redis_key(prefix))
        .arg(json)
        .query_async(redis)
        .await;
    if let Err(err) = set {
        tracing::warn!(error = %err, "ledger checkpoint not copied to Redis");
    }
}

/// The latest checkpoint written under `data_dir`, if any.
pub fn latest(data_dir: &Path) -> Option<Checkpoint> {
    let text = std::fs::read(dir(data_dir).join("latest.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_signed_over_its_size_root_and_time() {
        let c = Checkpoint::new(7, &[3; 32], "k".repeat(32).as_str());
        assert!(c.verify_signature(&"k".repeat(32)));
        assert!(!c.verify_signature(&"j".repeat(32)));
        let mut grown = c.clone();
        grown.size = 8;
        assert!(!grown.verify_signature(&"k".repeat(32)));
        let back: Checkpoint = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
