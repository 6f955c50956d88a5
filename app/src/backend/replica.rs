//! Reading from the replica (`DATABASE_READ_URL`): the lists, their REST twins and the
//! dashboard read from it while it answers and replays within `READ_MAX_LAG`; everything else
//! reads the primary, and so does a caller who asked for a change in the last
//! `READ_PIN_SECONDS` (so that the page after their own write shows it). A watch job checks
//! the replica every second; a replica that fails the check is skipped (logged and counted in
//! `deltran_console_replica_skips_total`) until it passes again.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use sqlx::PgPool;
use uuid::Uuid;

/// Replica skips, counted per watch tick.
pub const SKIPS: &str = "deltran_console_replica_skips_total";
/// The replica's replay lag as last measured, in seconds.
pub const LAG: &str = "deltran_console_replica_lag_seconds";

/// Where reads go.
#[derive(Debug, Default)]
pub struct Reads {
    replica: Option<PgPool>,
    /// The last check passed.
    usable: AtomicBool,
    /// Who asked for a change, and when.
    pins: Mutex<HashMap<Uuid, Instant>>,
    pin: Duration,
}

impl Reads {
    /// Reads of `replica` (none: every read goes to the primary), a writer pinned to the
    /// primary for `pin`. The replica is used once its first check passes.
    pub fn new(replica: Option<PgPool>, pin: Duration) -> Self {
        Reads {
            replica,
            usable: AtomicBool::new(false),
            pins: Mutex::default(),
            pin,
        }
    }

    /// The pool a read for `who` (none: nobody in particular) goes to.
    pub fn pool<'a>(&'a self, primary: &'a PgPool, who: Option<Uuid>) -> &'a PgPool {
        match &self.replica {
            Some(replica) if self.usable.load(Ordering::Relaxed) && !self.pinned(who) => replica,
            _ => primary,
        }
    }

    fn pinned(&self, who: Option<Uuid>) -> bool {
        let Some(who) = who else { return false };
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        pins.retain(|_, at| now.duration_since(*at) < self.pin);
        pins.contains_key(&who)
    }

    /// `who` asked for a change: their reads go to the primary for a while.
    pub fn wrote(&self, who: Uuid) {
        if self.replica.is_some() {
            let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
            pins.insert(who, Instant::now());
        }
    }

    pub fn replica(&self) -> Option<&PgPool> {
        self.replica.as_ref()
    }

    /// Records a check's outcome; `true` when it changed whether the replica is used.
    pub fn set_usable(&self, usable: bool) -> bool {
        self.usable.swap(usable, Ordering::Relaxed) != usable
    }
}

/// Checks the replica every second until the application stops: usable while it answers
/// within 2 s and its replay lag is at most `max_lag`.
pub fn spawn_watch(state: &super::state::AppState) -> Option<tokio::task::JoinHandle<()>> {
    let replica = state.reads.replica()?.clone();
    let state = state.clone();
    let stop = state.background.clone();
    Some(state.background.clone().spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let max_lag = state.config.read_max_lag.as_secs_f64();
        loop {
            let check = async {
                tick.tick().await;
                let lag = tokio::time::timeout(
                    Duration::from_secs(2),
                    super::db::system::replica_lag(&replica),
                )
                .await;
                let (usable, why) = match lag {
                    Ok(Ok(lag)) => {
                        metrics::gauge!(LAG).set(lag);
                        (lag <= max_lag, format!("replay lag {lag:.1} s"))
                    }
                    Ok(Err(err)) => (false, format!("error: {err}")),
                    Err(_) => (false, "no answer within 2 s".to_string()),
                };
                if !usable {
                    metrics::counter!(SKIPS).increment(1);
                }
                if state.reads.set_usable(usable) {
                    if usable {
                        tracing::info!(%why, "read replica in use again");
                    } else {
                        tracing::warn!(%why, "read replica skipped: reads go to the primary");
                    }
                }
            };
            tokio::select! {
                biased;
                _ = stop.stopping() => return,
                _ = check => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://x@127.0.0.1:1/x")
            .unwrap()
    }

    #[tokio::test]
    async fn reads_go_to_the_replica_only_while_it_is_usable_and_the_reader_did_not_write() {
        let (primary, replica) = (pool(), pool());
        let reads = Reads::new(Some(replica), Duration::from_secs(60));
        let is_replica = |p: &PgPool| !std::ptr::eq(p, &primary);
        assert!(
            !is_replica(reads.pool(&primary, None)),
            "not before its first check"
        );
        assert!(reads.set_usable(true));
        assert!(!reads.set_usable(true), "no change");
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(is_replica(reads.pool(&primary, Some(me))));
        reads.wrote(me);
        assert!(
            !is_replica(reads.pool(&primary, Some(me))),
            "my reads after my write"
        );
        assert!(is_replica(reads.pool(&primary, Some(other))));
        reads.set_usable(false);
        assert!(!is_replica(reads.pool(&primary, Some(other))));
        let none = Reads::new(None, Duration::from_secs(60));
        none.set_usable(true);
        assert!(!is_replica(none.pool(&primary, None)));
    }
}
