//! Signed anchors: the chain's head (last id, its hash, the chain length) at a moment,
//! signed with HMAC-SHA256 under `AUDIT_ANCHOR_KEY` and kept outside Postgres, so that rows
//! removed from the end, or a chain re-hashed after an edit, no longer match it.
//!
//! Files: `<data_dir>/audit-anchors/anchor-<timestamp>.json` (one per anchor, kept) and
//! `latest.json` (replaced atomically). Redis key `{REDIS_PREFIX}audit:anchor` holds a copy for the
//! other services; only the files are evidence, and the highest anchor kept is the one that
//! counts: a new anchor is refused when the chain no longer holds what it signed.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};

use crate::backend::{config::Secret, db::audit as audit_db, redis_conn::Redis};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::PgPool;

use super::{Actor, AuditEvent, Outcome, Severity};

/// The Redis key holding a copy of the latest anchor (JSON).
pub fn redis_key(prefix: &str) -> String {
    format!("{prefix}audit:anchor")
}

/// The head of the chain at `created_at`, signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub last_id: i64,
    pub last_hash: String,
    /// Rows in the chain up to `last_id`, counted from the first row ever written (rows
    /// detached by retention included); ids have no gaps, so this equals `last_id`.
    pub row_count: i64,
    pub created_at: DateTime<Utc>,
    /// HMAC-SHA256 (hex) of `signed_bytes` under the anchor key.
    pub signature: String,
}

impl Anchor {
    /// Builds and signs an anchor.
    pub fn new(last_id: i64, last_hash: &str, row_count: i64, key: &str) -> Anchor {
        let mut a = Anchor {
            last_id,
            last_hash: last_hash.to_string(),
            row_count,
            created_at: Utc::now().trunc_subsecs(6),
            signature: String::new(),
        };
        a.signature = sign_hex(key.as_bytes(), &a.signed_bytes());
        a
    }

    /// What the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "deltran-audit-anchor-v1\n{}\n{}\n{}\n{}\n",
            self.last_id,
            self.last_hash,
            self.row_count,
            self.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
        )
        .into_bytes()
    }

    /// Whether the signature is this key's.
    pub fn verify_signature(&self, key: &str) -> bool {
        verify_hex(key.as_bytes(), &self.signed_bytes(), &self.signature)
    }
}

/// HMAC-SHA256 of `message` under `key`, as lower-case hex: how anchors and evidence
/// manifests carry their signatures.
pub fn sign_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` (lower-case hex, as [`sign_hex`] writes it) is the HMAC-SHA256 of
/// `message` under `key`. The MAC is compared in constant time (`Mac::verify_slice`).
pub fn verify_hex(key: &[u8], message: &[u8], signature: &str) -> bool {
    if !signature
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return false;
    }
    let Ok(signature) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.verify_slice(&signature).is_ok()
}

/// `<data_dir>/audit-anchors`.
pub fn anchor_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-anchors")
}

/// The action of the critical audit row written when the head cannot be anchored.
pub const REFUSED_ACTION: &str = "audit.anchor_refused";

/// Signs the current head (the newest committed row) and writes it to the anchor
/// directory and to Redis. The Redis copy failing is logged, not fatal: the file is the
/// record. Returns `None` when the audit log is empty and was never anchored.
///
/// Refuses (an error, a critical `audit.anchor_refused` row and an error in the log) when the
/// chain no longer holds the highest anchor kept: the head is below it, or the row it signed
/// has another hash. Signing then would bless a truncated or rewritten chain.
pub async fn anchor_now(
    db: &PgPool,
    redis: Option<(&mut Redis, &str)>,
    data_dir: &Path,
    key: &str,
) -> anyhow::Result<Option<Anchor>> {
    let previous = highest_anchor(data_dir, key)?;
    // Appends hold the head lock until they commit, so committed ids are always a prefix.
    let head = audit_db::last_row(db).await?;
    if let Some(previous) = &previous {
        let head_id = head.as_ref().map_or(0, |(id, _)| *id);
        if let Some(why) = lost(db, previous, head_id).await? {
            return Err(refuse(db, previous, head_id, why).await);
        }
    }
    let Some((last_id, last_hash)) = head else {
        return Ok(None);
    };
    let (present, first) = audit_db::count_up_to(db, last_id).await?;
    let row_count = present + first.unwrap_or(1) - 1;
    let anchor = Anchor::new(last_id, &last_hash, row_count, key);
    write_files(data_dir, &anchor)?;
    if let Some((conn, prefix)) = redis {
        let json = serde_json::to_string(&anchor)?;
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(redis_key(prefix))
            .arg(json)
            .query_async(conn)
            .await;
        if let Err(err) = set {
            tracing::warn!(error = %err, "audit anchor not copied to Redis");
        }
    }
    Ok(Some(anchor))
}

/// What the chain lost since `previous` was signed, if anything: rows at its end (the head
/// `head_id` is below it) or the row it signed (missing, or with another hash).
async fn lost(db: &PgPool, previous: &Anchor, head_id: i64) -> sqlx::Result<Option<String>> {
    let signed = format!(
        "the anchor of {} (row {})",
        previous.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
        previous.last_id
    );
    if head_id < previous.last_id {
        return Ok(Some(format!(
            "the chain ends at row {head_id}, below {signed}: rows were cut from its end"
        )));
    }
    let hash = audit_db::hash_of(db, previous.last_id).await?;
    Ok(match hash {
        Some(h) if h == previous.last_hash => None,
        Some(_) => Some(format!(
            "row {} no longer has the hash {signed} signed: the chain was rewritten",
            previous.last_id
        )),
        None => Some(format!(
            "row {} is missing, though {signed} signed it",
            previous.last_id
        )),
    })
}

/// Records a refused anchor (critical audit row, error log) and returns the error to report.
async fn refuse(db: &PgPool, previous: &Anchor, head_id: i64, why: String) -> anyhow::Error {
    tracing::error!(reason = %why, "audit anchor refused: the chain lost anchored rows");
    let event = AuditEvent::new(
        Actor::system("audit-anchor"),
        REFUSED_ACTION,
        "audit_log",
        None,
    )
    .severity(Severity::Critical)
    .outcome(Outcome::Failure, Some(why.clone()))
    .metadata(serde_json::json!({
        "anchor_last_id": previous.last_id,
        "anchor_created_at": previous.created_at.to_rfc3339(),
        "head_id": head_id,
    }));
    if let Err(err) = super::record_alone(db, event).await {
        tracing::error!(error = %err, "could not record the refused audit anchor");
    }
    anyhow::anyhow!("audit anchor refused: {why}")
}

fn write_files(data_dir: &Path, anchor: &Anchor) -> anyhow::Result<()> {
    let dir = anchor_dir(data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(anchor)?;
    let stamp = anchor.created_at.format("%Y%m%dT%H%M%S%.6fZ");
    let named = dir.join(format!("anchor-{stamp}.json"));
    let tmp = dir.join(format!(".anchor-{stamp}.tmp"));
    for target in [named, dir.join("latest.json")] {
        std::fs::write(&tmp, &json).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(())
}

/// The highest anchor kept: of every `anchor-*.json` and `latest.json` in the anchor
/// directory, the one with the highest `last_id` (the latest of those). `None` when there is
/// no anchor file: the Redis copy is never taken instead, as anyone who can write to Redis
/// could put a shorter chain's anchor there. An anchor file whose signature does not verify
/// under `key` is an error, never silently skipped.
pub fn highest_anchor(data_dir: &Path, key: &str) -> anyhow::Result<Option<Anchor>> {
    let dir = anchor_dir(data_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut highest: Option<Anchor> = None;
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_anchor =
            name == "latest.json" || (name.starts_with("anchor-") && name.ends_with(".json"));
        if !is_anchor {
            continue;
        }
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let anchor: Anchor = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an audit anchor", path.display()))?;
        anyhow::ensure!(
            anchor.verify_signature(key),
            "the audit anchor in {} has a signature that does not verify with AUDIT_ANCHOR_KEY",
            path.display()
        );
        if highest
            .as_ref()
            .is_none_or(|h| (anchor.last_id, anchor.created_at) > (h.last_id, h.created_at))
        {
            highest = Some(anchor);
        }
    }
    Ok(highest)
}

/// The highest anchor kept by the running console (its data directory, its key); an
/// unreadable anchor store is an internal error, logged, never shown.
pub async fn console_anchor(
    state: &crate::backend::state::AppState,
) -> Result<Option<Anchor>, crate::error::AppError> {
    highest_anchor(
        &state.config.data_dir,
        state.config.secret(Secret::AuditAnchor),
    )
    .map_err(|e| crate::backend::error::internal(format!("audit anchor: {e:#}")))
}

/// Anchors the chain every `every` (the first run at once; once across the instances of
/// `instance`'s database) until `background` stops; an anchor in progress then is dropped (the
/// files are renamed into place, never half-written).
#[allow(clippy::too_many_arguments)]
pub fn spawn_anchor_job(
    background: &crate::backend::jobs::Background,
    db: PgPool,
    instance: uuid::Uuid,
    mut redis: Redis,
    redis_prefix: String,
    data_dir: PathBuf,
    key: String,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let stop = background.clone();
    background.spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            let run = async {
                tick.tick().await;
                if !crate::backend::jobs::claim(&db, "audit_anchor", instance, every).await {
                    return;
                }
                let anchoring = anchor_now(&db, Some((&mut redis, &redis_prefix)), &data_dir, &key);
                match stop.timed("audit_anchor", anchoring).await {
                    Ok(Some(a)) => tracing::info!(last_id = a.last_id, "audit chain anchored"),
                    Ok(None) => {}
                    Err(err) => tracing::error!(error = %err, "audit anchor job failed"),
                }
            };
            tokio::select! {
                biased;
                _ = stop.stopping() => return,
                _ = run => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            sign_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            sign_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_changed_field_or_key_breaks_the_signature() {
        let a = Anchor::new(10, &"a".repeat(64), 10, "k1");
        assert!(a.verify_signature("k1"));
        assert!(!a.verify_signature("k2"));
        let mut b = a.clone();
        b.last_id = 9;
        assert!(!b.verify_signature("k1"));
    }

    #[test]
    fn only_the_exact_hex_signature_verifies() {
        let sig = sign_hex(b"k", b"m");
        assert!(verify_hex(b"k", b"m", &sig));
        assert!(!verify_hex(b"k", b"m", &sig.to_uppercase()));
        assert!(!verify_hex(b"k", b"m", &sig[..62]));
        assert!(!verify_hex(b"k", b"m", ""));
        assert!(!verify_hex(b"k", b"m", "zz"));
    }
}
