//! Bounds the audit rows that permission denials write: a client repeating a forbidden call
//! must not flood the audit log. Each session gets `ROWS_PER_MINUTE` denial rows a minute per
//! permission; the denials beyond that are counted, and the next row written for that session
//! and permission carries the count as `metadata.unrecorded_denials`.
//!
//! The count is the process's own (kept in memory): `authorize` has no Redis at hand, and a
//! per-process bound already caps what each console instance writes. It is per session, not
//! per user, so one user's sessions do not silence each other; a new session costs a sign-in,
//! which is audited and limited on its own.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    audit::{self, AuditEvent},
    auth::Identity,
    context::RequestContext,
};
use crate::{auth::Permission, error::AppError};

/// Denial rows per session and permission in one window.
pub const ROWS_PER_MINUTE: u32 = 10;

const WINDOW: Duration = Duration::from_secs(60);

/// Beyond this many tracked (session, permission) pairs, finished windows are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
struct Window {
    started: Instant,
    recorded: u32,
    /// Denials not written since the last row that was.
    unrecorded: u64,
}

type Windows = HashMap<(Uuid, Permission), Window>;

static WINDOWS: LazyLock<Mutex<Windows>> = LazyLock::new(Mutex::default);

/// Whether a denial at `now` gets its own row: `Some(n)` with the `n` denials left unrecorded
/// before it, or `None` when this one is only counted.
fn admit(windows: &mut Windows, key: (Uuid, Permission), now: Instant) -> Option<u64> {
    if windows.len() >= MAX_TRACKED {
        let before: u64 = windows.values().map(|w| w.unrecorded).sum();
        windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
        let lost = before - windows.values().map(|w| w.unrecorded).sum::<u64>();
        if lost > 0 {
            tracing::warn!(lost, "denials left unrecorded and no longer counted");
        }
    }
    let w = windows.entry(key).or_insert(Window {
        started: now,
        recorded: 0,
        unrecorded: 0,
    });
    if now.duration_since(w.started) >= WINDOW {
        w.started = now;
        w.recorded = 0;
    }
    if w.recorded < ROWS_PER_MINUTE {
        w.recorded += 1;
        Some(std::mem::take(&mut w.unrecorded))
    } else {
        w.unrecorded += 1;
        None
    }
}

/// Writes the audit row of a denial (in a transaction of its own), unless the session has
/// had its share of denial rows for `permission` this minute; then the denial is only counted.
pub async fn record(
    db: &PgPool,
    identity: &Identity,
    permission: Permission,
    event: AuditEvent,
    ctx: &RequestContext,
) -> Result<(), AppError> {
    let admitted = {
        let mut windows = WINDOWS.lock().unwrap_or_else(|e| e.into_inner());
        admit(
            &mut windows,
            (identity.session_id, permission),
            Instant::now(),
        )
    };
    let Some(unrecorded) = admitted else {
        tracing::warn!(
            user = %identity.username,
            permission = permission.name(),
            "denial not audited: too many this minute"
        );
        return Ok(());
    };
    let event = match unrecorded {
        0 => event,
        n => event.metadata(json!({ "unrecorded_denials": n })),
    };
    let mut conn = db.acquire().await?;
    let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
    audit::append(&mut tx, &event, ctx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_records_its_share_and_the_next_row_counts_the_rest() {
        let mut windows = Windows::new();
        let key = (Uuid::new_v4(), Permission::UsersManage);
        let t0 = Instant::now();
        for _ in 0..ROWS_PER_MINUTE {
            assert_eq!(admit(&mut windows, key, t0), Some(0));
        }
        for _ in 0..5 {
            assert_eq!(admit(&mut windows, key, t0 + Duration::from_secs(30)), None);
        }
        // Another permission, or another session, has its own share.
        let other = (key.0, Permission::AuditView);
        assert_eq!(admit(&mut windows, other, t0), Some(0));
        assert_eq!(admit(&mut windows, (Uuid::new_v4(), key.1), t0), Some(0));
        // A minute on: a row again, saying how many went unrecorded.
        let later = t0 + WINDOW;
        assert_eq!(admit(&mut windows, key, later), Some(5));
        assert_eq!(admit(&mut windows, key, later), Some(0));
    }
}
