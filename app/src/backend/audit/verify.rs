//! Verifying the hash chain: every row's hash is recomputed from what Postgres stores, every
//! `previous_hash` must be the hash of the row before, ids must follow each other without a
//! gap, and the chain must still hold the last signed anchor.
//!
//! Rows are read in keyset batches by id (constant memory); the next batch is fetched while
//! the current one is hashed, so Postgres and the hashing run side by side.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{anchor::Anchor, CanonicalFields, GENESIS_HASH};
use crate::backend::db::audit as audit_db;

/// Rows per query.
pub const BATCH: i64 = 10_000;

/// Why a row breaks the chain.
pub mod reason {
    pub const HASH_MISMATCH: &str = "hash mismatch";
    pub const GAP_IN_IDS: &str = "gap in ids";
    pub const BROKEN_LINK: &str = "broken link";
    pub const HEAD_BEHIND_ANCHOR: &str = "head behind the anchor";
    pub const ANCHOR_MISMATCH: &str = "anchor mismatch";
}

pub use crate::audit::{BrokenRow, VerifyReport};

/// A row as verification reads it: nullable everywhere, so tampering with NULLs shows as a
/// hash mismatch instead of a decoding error.
#[derive(Debug, sqlx::FromRow)]
pub struct ChainRow {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: Option<String>,
    pub severity: Option<String>,
    pub actor_id: Option<Uuid>,
    pub actor_type: Option<String>,
    pub actor_name: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub metadata: Option<String>,
    pub previous_hash: Option<String>,
    pub event_hash: String,
    pub timestamp: DateTime<Utc>,
}

impl ChainRow {
    pub fn fields(&self) -> CanonicalFields<'_> {
        CanonicalFields {
            id: self.id,
            event_id: self.event_id,
            event_type: self.event_type.as_deref(),
            severity: self.severity.as_deref(),
            actor_id: self.actor_id,
            actor_type: self.actor_type.as_deref(),
            actor_name: self.actor_name.as_deref(),
            action: self.action.as_deref(),
            resource_type: self.resource_type.as_deref(),
            resource_id: self.resource_id.as_deref(),
            result: self.result.as_deref(),
            error_message: self.error_message.as_deref(),
            ip_address: self.ip_address.as_deref(),
            user_agent: self.user_agent.as_deref(),
            request_id: self.request_id.as_deref(),
            metadata: self.metadata.as_deref(),
            timestamp: self.timestamp,
            previous_hash: self.previous_hash.as_deref(),
        }
    }
}

/// Streams the rows with `after < id <= until` (all when `until` is `None`) in batches of
/// `BATCH`, ordered by id; the next batch is read while the caller works on this one.
pub fn read_batches(
    db: PgPool,
    after: i64,
    until: Option<i64>,
) -> mpsc::Receiver<sqlx::Result<Vec<ChainRow>>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut last = after;
        loop {
            let batch = audit_db::chain_batch(&db, last, until.unwrap_or(i64::MAX), BATCH).await;
            let done = match &batch {
                Ok(rows) => {
                    if let Some(r) = rows.last() {
                        last = r.id;
                    }
                    (rows.len() as i64) < BATCH
                }
                Err(_) => true,
            };
            if tx.send(batch).await.is_err() || done {
                return;
            }
        }
    });
    rx
}

/// Checks the chain, or the part of it whose timestamps fall in `range` (from inclusive, to
/// exclusive; the first row in range must link to the row before it). `anchor`, when given,
/// must be found in the checked rows with the same hash and row count, or the head must not
/// be behind it. `progress(checked, total_estimate)` is called after each batch.
pub async fn verify(
    db: &PgPool,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    anchor: Option<&Anchor>,
    mut progress: impl FnMut(u64, u64) + Send,
) -> sqlx::Result<VerifyReport> {
    let bounds = audit_db::id_range(db, range).await?;
    let mut report = VerifyReport {
        ok: true,
        checked: 0,
        first_broken: None,
        anchor: anchor.map(|a| a.created_at),
    };
    let (first_id, last_id) = match bounds {
        (Some(lo), Some(hi)) => (lo, hi),
        _ => {
            // Nothing to check; a full check with an anchor means rows went missing.
            if let (None, Some(a)) = (range, anchor) {
                if a.last_id > 0 {
                    report.fail(1, None, reason::HEAD_BEHIND_ANCHOR);
                }
            }
            return Ok(report);
        }
    };
    let total = (last_id - first_id + 1).max(0) as u64;

    // The hash the first row must link to.
    let expected_previous: Option<String> = if first_id == 1 {
        Some(GENESIS_HASH.to_string())
    } else {
        let before = audit_db::hash_of(db, first_id - 1).await?;
        match (before, range) {
            (Some(h), _) => Some(h),
            // A full check that starts after id 1: the rows before were detached by retention
            // (which records where it cut) or are missing.
            (None, None) => detached_boundary(db, first_id - 1).await?,
            (None, Some(_)) => None,
        }
    };

    let until = if range.is_some() { Some(last_id) } else { None };
    let mut batches = read_batches(db.clone(), first_id - 1, until);
    let mut prev_id = first_id - 1;
    let mut prev_hash: Option<[u8; 32]> = None;
    let mut first_row = true;
    let mut seen_anchor = false;
    let mut hex_buf = [0u8; 64];
    'outer: while let Some(batch) = batches.recv().await {
        let batch = batch?;
        for row in &batch {
            let broken = if row.id != prev_id + 1 {
                Some(reason::GAP_IN_IDS)
            } else {
                let hash = row.fields().hash();
                hex::encode_to_slice(hash, &mut hex_buf).expect("64 hex digits");
                let link_ok = match (first_row, prev_hash) {
                    (true, _) => match &expected_previous {
                        Some(h) => row.previous_hash.as_deref() == Some(h.as_str()),
                        None => false,
                    },
                    (false, Some(p)) => row.previous_hash.as_deref().is_some_and(|s| hex_eq(s, &p)),
                    (false, None) => false,
                };
                let r = if hex_buf[..] != *row.event_hash.as_bytes() {
                    Some(reason::HASH_MISMATCH)
                } else if !link_ok {
                    Some(reason::BROKEN_LINK)
                } else {
                    None
                };
                prev_hash = Some(hash);
                r
            };
            if let Some(why) = broken {
                report.fail(row.id, Some(row.timestamp), why);
                break 'outer;
            }
            if let Some(a) = anchor {
                if row.id == a.last_id {
                    seen_anchor = true;
                    let chain_len = row.id;
                    if row.event_hash != a.last_hash || chain_len != a.row_count {
                        report.checked += 1;
                        report.fail(row.id, Some(row.timestamp), reason::ANCHOR_MISMATCH);
                        break 'outer;
                    }
                }
            }
            first_row = false;
            prev_id = row.id;
            report.checked += 1;
        }
        progress(report.checked, total);
    }
    if report.ok {
        if let Some(a) = anchor {
            // A range check says nothing about rows outside it.
            let anchor_in_scope = range.is_none() || (first_id..=last_id).contains(&a.last_id);
            if anchor_in_scope && !seen_anchor && a.last_id > prev_id {
                report.fail(prev_id + 1, None, reason::HEAD_BEHIND_ANCHOR);
            }
        }
    }
    Ok(report)
}

impl VerifyReport {
    fn fail(&mut self, id: i64, timestamp: Option<DateTime<Utc>>, why: &str) {
        self.ok = false;
        self.first_broken = Some(BrokenRow {
            id,
            timestamp,
            reason: why.to_string(),
        });
    }
}

/// The hash retention recorded when it detached the partition that ended with `last_id`.
async fn detached_boundary(db: &PgPool, last_id: i64) -> sqlx::Result<Option<String>> {
    audit_db::recorded_boundary(db, super::partitions::DETACH_ACTION, last_id).await
}

fn hex_eq(s: &str, bytes: &[u8; 32]) -> bool {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(bytes, &mut buf).expect("64 hex digits");
    s.as_bytes() == buf
}

/// The baseline `verify` is measured against: the same rows read the same way, and SHA-256
/// over the same column bytes, without the canonical framing or any check. Returns the rows
/// read and a digest over everything (so the work cannot be skipped).
pub async fn raw_read_and_hash(db: &PgPool) -> sqlx::Result<(u64, String)> {
    let mut batches = read_batches(db.clone(), 0, None);
    let mut rows = 0u64;
    let mut all = Sha256::new();
    while let Some(batch) = batches.recv().await {
        for r in &batch? {
            let mut h = Sha256::new();
            h.update(r.id.to_be_bytes());
            h.update(r.event_id.as_bytes());
            for s in [
                &r.event_type,
                &r.severity,
                &r.actor_type,
                &r.actor_name,
                &r.action,
                &r.resource_type,
                &r.resource_id,
                &r.result,
                &r.error_message,
                &r.ip_address,
                &r.user_agent,
                &r.request_id,
                &r.metadata,
                &r.previous_hash,
            ] {
                h.update(s.as_deref().unwrap_or("").as_bytes());
            }
            if let Some(a) = r.actor_id {
                h.update(a.as_bytes());
            }
            h.update(r.timestamp.timestamp_micros().to_be_bytes());
            all.update(h.finalize());
            rows += 1;
        }
    }
    Ok((rows, hex::encode(all.finalize())))
}
