//! Background jobs the server runs: daily housekeeping creates audit partitions ahead of
//! time (at start-up and then daily, so the default partition only ever catches the
//! unexpected) and forgets failed sign-ins that have aged out.

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use sqlx::PgPool;

/// The first day of the month `date` is in.
pub fn month_start(date: NaiveDate) -> NaiveDate {
    date.with_day(1).expect("day 1 exists in every month")
}

/// Creates the current month's audit partition and `ahead` more; returns how many were new.
pub async fn ensure_audit_partitions(db: &PgPool, ahead: u32) -> sqlx::Result<i32> {
    ensure_audit_partitions_from(db, month_start(Utc::now().date_naive()), ahead as i32 + 1).await
}

/// Creates the partitions of `months` months starting with the one `from` is in.
pub async fn ensure_audit_partitions_from(
    db: &PgPool,
    from: NaiveDate,
    months: i32,
) -> sqlx::Result<i32> {
    sqlx::query_scalar("SELECT deltran.ensure_audit_partitions($1, $2)")
        .bind(month_start(from))
        .bind(months)
        .fetch_one(db)
        .await
}

/// Runs the housekeeping once a day until the process stops: `ahead` months of audit
/// partitions, and the failed sign-ins older than `login_window`.
pub fn spawn_daily_job(
    db: PgPool,
    ahead: u32,
    login_window: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every_day = tokio::time::interval(Duration::from_secs(24 * 60 * 60));
        loop {
            every_day.tick().await;
            let partitions = ensure_audit_partitions(&db, ahead);
            match super::metrics::timed_job("audit_partitions", partitions).await {
                Ok(created) => tracing::info!(created, "audit partitions checked"),
                Err(err) => tracing::error!(error = %err, "audit partition job failed"),
            }
            let purge = super::db::logins::purge_stale(&db, login_window);
            match super::metrics::timed_job("login_purge", purge).await {
                Ok(purged) => tracing::info!(purged, "stale failed sign-ins forgotten"),
                Err(err) => tracing::error!(error = %err, "failed sign-in purge failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_start_is_the_first() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(month_start(d), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
    }
}
