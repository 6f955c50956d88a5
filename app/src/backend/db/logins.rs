//! Failed sign-ins per username (`deltran.login_failures`), the record lockouts are decided
//! on. Its SQL is checked at compile time (`query!`, data in `.sqlx/`). An attempt is counted before its password is checked, in one upsert, so that parallel
//! attempts queue on the row and cannot get more guesses than the limit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// What reserving an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go on and check the credentials. Should they be wrong, this is failure number
    /// `failures`, and the username is locked until `lock` (when set).
    Allowed {
        failures: i32,
        lock: Option<DateTime<Utc>>,
    },
    /// Refused without checking anything, until `until` (not counted: waiting renews nothing).
    Locked { until: DateTime<Utc> },
}

/// The lockout rule: after `max_failures` failures within `window` (counted from the last
/// one), each further failure locks the username for `backoff` doubled per extra failure, at
/// most `window`. A locked username is refused without counting, so a lock cannot be renewed
/// by hammering it: when it ends, the right password (and one-time code) gets in.
#[derive(Debug, Clone, Copy)]
pub struct LockoutRule {
    pub max_failures: u32,
    pub window: Duration,
    pub backoff: Duration,
}

impl LockoutRule {
    /// The failure number a new attempt would be, given the username's last failure and
    /// count, and the lock it leaves behind (`None`: not locked).
    pub fn next(
        &self,
        previous: Option<(i32, DateTime<Utc>)>,
        now: DateTime<Utc>,
    ) -> (i32, Option<DateTime<Utc>>) {
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let failures = match previous {
            Some((n, last)) if now - last < window => n.saturating_add(1),
            _ => 1,
        };
        let over = failures - self.max_failures as i32;
        let lock = (over >= 0).then(|| {
            let backoff = self.backoff.saturating_mul(1 << over.min(20) as u32);
            now + chrono::Duration::from_std(backoff.min(self.window)).unwrap_or(window)
        });
        (failures, lock)
    }
}

/// Counts an attempt for `username` unless it is locked, and locks it when this attempt
/// reaches the limit (so that the attempts queued behind it on the row lock are refused).
pub async fn reserve(db: &PgPool, username: &str, rule: LockoutRule) -> sqlx::Result<Attempt> {
    let mut tx = db.begin().await?;
    // The row first, so that even the first attempts queue on its lock.
    sqlx::query!(
        "INSERT INTO deltran.login_failures (username, failures, last_failed_at) \
         VALUES ($1, 0, now()) ON CONFLICT (username) DO NOTHING",
        username,
    )
    .execute(&mut *tx)
    .await?;
    let row = sqlx::query!(
        "SELECT failures, last_failed_at, locked_until FROM deltran.login_failures \
         WHERE username = $1 FOR UPDATE",
        username,
    )
    .fetch_one(&mut *tx)
    .await?;
    let now = Utc::now();
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        return Ok(Attempt::Locked { until });
    }
    let (failures, lock) = rule.next(Some((row.failures, row.last_failed_at)), now);
    sqlx::query!(
        "UPDATE deltran.login_failures SET failures = $2, last_failed_at = $3, locked_until = $4 \
         WHERE username = $1",
        username,
        failures,
        now,
        lock,
    )
    .execute(&mut *tx)
    .await?;
    // Mirrored on the account, for the Users page.
    sqlx::query!(
        "UPDATE deltran.users SET failed_login_attempts = $2, locked_until = $3 WHERE username = $1",
        username,
        failures,
        lock,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt::Allowed { failures, lock })
}

/// Forgets a username's failures: after a successful sign-in, and when an admin unlocks it.
pub async fn clear(conn: &mut PgConnection, username: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "DELETE FROM deltran.login_failures WHERE username = $1",
        username
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE deltran.users SET failed_login_attempts = 0, locked_until = NULL \
         WHERE username = $1",
        username,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes rows whose failures have aged out of the window and are not locked (the daily
/// housekeeping job: unknown usernames would otherwise stay forever).
pub async fn purge_stale(db: &PgPool, window: Duration) -> sqlx::Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM deltran.login_failures \
         WHERE last_failed_at < now() - make_interval(secs => $1) \
           AND (locked_until IS NULL OR locked_until <= now())",
        window.as_secs_f64(),
    )
    .execute(db)
    .await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: LockoutRule = LockoutRule {
        max_failures: 5,
        window: Duration::from_secs(900),
        backoff: Duration::from_secs(30),
    };

    #[test]
    fn the_limit_locks_with_a_doubling_backoff_capped_at_the_window() {
        let now = Utc::now();
        let ago = |s| now - chrono::Duration::seconds(s);
        assert_eq!(RULE.next(None, now), (1, None));
        assert_eq!(RULE.next(Some((3, ago(10))), now), (4, None));
        let lock = |n, secs| (n, Some(now + chrono::Duration::seconds(secs)));
        assert_eq!(RULE.next(Some((4, ago(10))), now), lock(5, 30));
        assert_eq!(RULE.next(Some((5, ago(40))), now), lock(6, 60));
        assert_eq!(RULE.next(Some((7, ago(300))), now), lock(8, 240));
        assert_eq!(RULE.next(Some((40, ago(899))), now), lock(41, 900));
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let now = Utc::now();
        let long_ago = now - chrono::Duration::seconds(901);
        assert_eq!(RULE.next(Some((9, long_ago)), now), (1, None));
    }
}
