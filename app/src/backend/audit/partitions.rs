//! The audit log's monthly partitions: what there is, and retention. Retention detaches
//! old partitions (`ALTER TABLE … DETACH PARTITION`), never drops them: the rows stay in a
//! table of their own, out of the live log, and each detach is itself audited in the same
//! transaction, recording where the chain was cut so that verification can start after it.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::{record, Actor, AuditEvent, Severity};
use crate::backend::{db::audit as audit_db, jobs::month_start};

/// The action of the audit row a detach writes.
pub const DETACH_ACTION: &str = "audit.partition_detach";

/// One partition of `deltran.audit_log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// Schema-qualified, e.g. `deltran.audit_log_y2026m11`.
    pub name: String,
    /// Postgres' text of the bounds (`FOR VALUES FROM (…) TO (…)` or `DEFAULT`).
    pub bounds: String,
    /// The month it holds; `None` for the DEFAULT partition.
    pub month: Option<NaiveDate>,
    /// The planner's estimate (`reltuples`); -1 before the first ANALYZE.
    pub row_estimate: i64,
    /// `pg_total_relation_size`: table, indexes and TOAST.
    pub total_bytes: i64,
}

/// `audit_log_yYYYYmMM` → its month.
pub fn month_of(name: &str) -> Option<NaiveDate> {
    let rest = name.rsplit('.').next()?.strip_prefix("audit_log_y")?;
    let (y, m) = rest.split_once('m')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// The partitions attached to `deltran.audit_log`, oldest month first, DEFAULT last.
pub async fn list_partitions(db: &PgPool) -> sqlx::Result<Vec<PartitionInfo>> {
    let rows = audit_db::partitions(db).await?;
    let mut parts: Vec<PartitionInfo> = rows
        .into_iter()
        .map(|(name, bounds, tuples, bytes)| PartitionInfo {
            month: month_of(&name),
            name,
            bounds,
            row_estimate: tuples as i64,
            total_bytes: bytes,
        })
        .collect();
    parts.sort_by_key(|p| (p.month.is_none(), p.month));
    Ok(parts)
}

/// A partition retention took out of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detached {
    pub name: String,
    pub month: NaiveDate,
    pub rows: i64,
    /// The id and hash of its newest row, where the live chain now starts from.
    pub last_id: Option<i64>,
    pub last_hash: Option<String>,
}

/// Detaches every monthly partition whose month ended more than `months` months before the
/// current month began (`months = 12` in December 2026 detaches November 2025 and older).
/// Each detach and its audit row commit together. The detached tables keep their names.
pub async fn detach_partitions_older_than(
    db: &PgPool,
    months: u32,
    actor: Actor,
) -> anyhow::Result<Vec<Detached>> {
    detach_partitions_before(db, cutoff(Utc::now(), months), actor).await
}

/// The first month that is kept.
pub fn cutoff(now: DateTime<Utc>, months: u32) -> NaiveDate {
    month_start(now.date_naive())
        .checked_sub_months(Months::new(months))
        .unwrap_or(NaiveDate::MIN)
}

/// Detaches the monthly partitions of months before `keep_from`.
pub async fn detach_partitions_before(
    db: &PgPool,
    keep_from: NaiveDate,
    actor: Actor,
) -> anyhow::Result<Vec<Detached>> {
    let mut out = Vec::new();
    for p in list_partitions(db).await? {
        let Some(month) = p.month.filter(|m| *m < keep_from) else {
            continue;
        };
        let mut tx = db.begin().await?;
        let (rows, last, last_hash) = audit_db::partition_end(&mut tx, &p.name).await?;
        audit_db::detach(&mut tx, &p.name).await?;
        let mut metadata = serde_json::json!({
            "partition": p.name,
            "month": month.format("%Y-%m").to_string(),
            "rows": rows,
        });
        if let (Some(id), Some(h)) = (last, &last_hash) {
            metadata["last_id"] = id.into();
            metadata["last_hash"] = h.clone().into();
        }
        record(
            &mut tx,
            AuditEvent::new(
                actor.clone(),
                DETACH_ACTION,
                "audit_partition",
                Some(p.name.clone()),
            )
            .severity(Severity::Notice)
            .metadata(metadata),
        )
        .await?;
        tx.commit().await?;
        out.push(Detached {
            name: p.name,
            month,
            rows,
            last_id: last,
            last_hash,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_give_their_month() {
        assert_eq!(
            month_of("deltran.audit_log_y2026m02"),
            NaiveDate::from_ymd_opt(2026, 2, 1)
        );
        assert_eq!(month_of("deltran.audit_log_default"), None);
    }

    #[test]
    fn the_cutoff_counts_whole_months() {
        let now = DateTime::parse_from_rfc3339("2026-12-15T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            cutoff(now, 12),
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
        );
    }
}
