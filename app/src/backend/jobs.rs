//! Background jobs the server runs, and the [`Background`] they run in: they start with the
//! application and stop with it. Daily housekeeping creates audit partitions ahead of time (at
//! start-up and then daily, so the default partition only ever catches the unexpected) and
//! forgets failed sign-ins that have aged out. With several instances on one database, each
//! job but the heartbeat runs once per period across them: a run first claims the period's
//! lease ([`claim`]).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// The application's background tasks (the jobs below, the anchor job, the verifications
/// started from the audit page). One per application, in `AppState`; clones share it.
/// [`Background::stop`] asks every task to end and waits for them, so nothing outlives the
/// application that started it (the next test's database, Redis keys and files included).
#[derive(Clone, Debug, Default)]
pub struct Background {
    tracker: TaskTracker,
    token: CancellationToken,
    /// The last run of each job, for the heartbeat.
    runs: Arc<Mutex<BTreeMap<&'static str, JobRun>>>,
}

/// How a job's last run went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRun {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub seconds: f64,
    /// Runs of the job on this instance so far.
    pub runs: u64,
}

impl Background {
    /// Runs `task` as one of the application's tasks. A task that loops must end when
    /// [`Background::stopping`] resolves; one that is spawned after `stop` sees it at once.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Resolves once the application is stopping.
    pub async fn stopping(&self) {
        self.token.cancelled().await
    }

    /// Whether `stop` was called.
    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Runs `job` as one run of the job `name`: timed and counted in the metrics, and kept as
    /// its last run for the heartbeat.
    pub async fn timed<T, E>(
        &self,
        name: &'static str,
        job: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = std::time::Instant::now();
        let result = job.await;
        let elapsed = started.elapsed();
        super::metrics::record_job(name, &result, elapsed);
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let before = runs.get(name).map_or(0, |r| r.runs);
        let run = JobRun {
            at: Utc::now(),
            ok: result.is_ok(),
            seconds: elapsed.as_secs_f64(),
            runs: before + 1,
        };
        runs.insert(name, run);
        drop(runs);
        result
    }

    /// The last run of each job so far.
    pub fn runs(&self) -> BTreeMap<&'static str, JobRun> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Asks every task to stop and waits for them for at most `grace`; `false` when some were
    /// still running then (they are dropped with the runtime).
    pub async fn stop(&self, grace: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// Whether this instance runs this period's run of `job` (every `period`): it does when it
/// claims the job's lease in `deltran.job_leases`, which no other instance then gets for the
/// period. The lease is a little shorter than the period, so that the holder's next tick,
/// however late, finds it expired. A claim that fails (Postgres away) skips the run, as the
/// run would have failed; either is logged, a run left to another instance is counted in
/// `deltran_console_job_skips_total`.
pub async fn claim(db: &PgPool, job: &'static str, instance: uuid::Uuid, period: Duration) -> bool {
    let lease = period.saturating_sub((period / 10).min(Duration::from_secs(1)));
    match super::db::system::claim_job(db, job, instance, lease).await {
        Ok(true) => true,
        Ok(false) => {
            metrics::counter!(super::metrics::JOB_SKIPS, "job" => job).increment(1);
            tracing::debug!(job, "job run left to the instance that holds its lease");
            false
        }
        Err(err) => {
            tracing::warn!(job, error = %err, "job lease not claimed: run skipped");
            false
        }
    }
}

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
    super::db::audit::create_partitions(db, month_start(from), months).await
}

/// Runs the housekeeping at once and then once a day (once across instances) until
/// `background` stops: `ahead` months of audit partitions, and the failed sign-ins older than
/// `login_window`. A run in progress when the application stops is dropped (each statement is
/// its own transaction).
pub fn spawn_daily_job(
    background: &Background,
    db: PgPool,
    instance: uuid::Uuid,
    ahead: u32,
    login_window: Duration,
) -> JoinHandle<()> {
    let stop = background.clone();
    background.spawn(async move {
        let day = Duration::from_secs(24 * 60 * 60);
        let mut every_day = tokio::time::interval(day);
        loop {
            let run = async {
                every_day.tick().await;
                if !claim(&db, "housekeeping", instance, day).await {
                    return;
                }
                let partitions = ensure_audit_partitions(&db, ahead);
                match stop.timed("audit_partitions", partitions).await {
                    Ok(created) => tracing::info!(created, "audit partitions checked"),
                    Err(err) => tracing::error!(error = %err, "audit partition job failed"),
                }
                let purge = super::db::logins::purge_stale(&db, login_window);
                match stop.timed("login_purge", purge).await {
                    Ok(purged) => tracing::info!(purged, "stale failed sign-ins forgotten"),
                    Err(err) => tracing::error!(error = %err, "failed sign-in purge failed"),
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

/// At start-up and then every `CONTROL_RECONCILE_SECONDS` (once across instances) until the
/// application stops: lifts
/// the controls past their expiry and expires the undecided requests (audited as the
/// system), then reconciles the Redis copies with Postgres (`backend::controls`). A run that
/// fails (Redis or Postgres down) is logged and tried again at the next tick.
pub fn spawn_controls_job(state: &super::state::AppState) -> JoinHandle<()> {
    let state = state.clone();
    let stop = state.background.clone();
    state.background.clone().spawn(async move {
        let mut tick = tokio::time::interval(state.config.control_reconcile);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let run = async {
                tick.tick().await;
                let (db, me, period) =
                    (&state.db, state.instance.id, state.config.control_reconcile);
                if !claim(db, "controls", me, period).await {
                    return;
                }
                let expire = super::controls::expire(&state);
                match stop.timed("controls_expire", expire).await {
                    Ok((0, 0)) => {}
                    Ok((controls, requests)) => {
                        tracing::info!(controls, requests, "expired controls and requests lifted")
                    }
                    Err(err) => tracing::error!(error = %err, "control expiry failed"),
                }
                let actor = super::audit::Actor::system("reconcile");
                let reconcile = super::controls::reconcile(&state, actor);
                if let Err(err) = stop.timed("controls_reconcile", reconcile).await {
                    tracing::warn!(error = %err, "control reconcile failed; retried next tick");
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

/// Writes this instance's heartbeat (its address, version, start and its jobs' last runs) at
/// once and then every `HEARTBEAT_SECONDS` until the application stops; forgets instances
/// not seen for a day.
pub fn spawn_heartbeat_job(state: &super::state::AppState) -> JoinHandle<()> {
    let state = state.clone();
    let stop = state.background.clone();
    state.background.clone().spawn(async move {
        let mut tick = tokio::time::interval(state.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let run = async {
                tick.tick().await;
                let jobs = serde_json::to_string(&stop.runs()).unwrap_or_else(|_| "{}".into());
                let beat = super::db::system::heartbeat(&state.db, &state.instance, &jobs);
                if let Err(err) = beat.await {
                    tracing::warn!(error = %err, "heartbeat not written");
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

    #[tokio::test]
    async fn stop_ends_the_tasks_and_waits_for_them() {
        let background = Background::default();
        let (ran_tx, mut ran) = tokio::sync::mpsc::unbounded_channel();
        let stop = background.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            loop {
                tokio::select! {
                    biased;
                    _ = stop.stopping() => return,
                    _ = tick.tick() => { let _ = ran_tx.send(()); }
                }
            }
        });
        ran.recv().await.expect("the task runs");
        assert_eq!(background.running(), 1);
        assert!(
            background.stop(Duration::from_secs(5)).await,
            "it stops in time"
        );
        assert_eq!(background.running(), 0);
        assert!(ran.recv().await.is_none(), "and runs no more");
        // A task started after the stop sees it at once.
        let late = background.clone();
        let ended = background.spawn(async move { late.stopping().await });
        tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("a late task stops at once")
            .unwrap();
    }

    #[tokio::test]
    async fn stop_gives_up_after_the_grace() {
        let background = Background::default();
        background.spawn(std::future::pending::<()>());
        assert!(!background.stop(Duration::from_millis(20)).await);
    }

    #[test]
    fn month_start_is_the_first() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(month_start(d), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
    }
}
