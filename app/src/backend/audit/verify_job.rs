//! Verifications started from the audit page. Each runs in the background; its progress is
//! kept in Redis under `{REDIS_PREFIX}audit:verify:{job}` for an hour, readable only by the user
//! who started it, so that the page can poll it (and any instance of the console answers).
//! Each reads the whole chain, so a console instance runs at most one per user and
//! [`MAX_RUNNING`] in all; more is 429. The jobs are the application's background tasks
//! (`AppState::background`): stopping the console ends them, and their last progress says so.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
};

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use super::{anchor::console_anchor, verify::verify};
use crate::{
    audit::VerifyProgress,
    backend::{redis_conn::Redis, state::AppState},
    error::AppError,
};

/// How long a job's progress stays readable.
const TTL_SECS: u64 = 3600;

/// Verifications one console instance runs at once, whoever started them.
pub const MAX_RUNNING: usize = 2;

/// Why a verification ended without a result when the console stopped under it.
const STOPPED: &str = "The console stopped before the verification finished";

/// What a refused caller is told to wait, in seconds.
const RETRY_AFTER_SECS: u64 = 5;

/// Who has a verification running in this instance (one in `AppState`).
#[derive(Debug, Default)]
pub struct Running(Mutex<HashSet<Uuid>>);

/// A running job's place; given back when dropped, whatever ends the job.
struct Slot {
    running: Arc<Running>,
    owner: Uuid,
}

impl Running {
    /// A place for `owner`'s job: 429 while they have one running, or `MAX_RUNNING` run.
    fn claim(self: &Arc<Self>, owner: Uuid) -> Result<Slot, AppError> {
        let mut running = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if running.contains(&owner) || running.len() >= MAX_RUNNING {
            return Err(AppError::TooManyRequests {
                retry_after_secs: RETRY_AFTER_SECS,
            });
        }
        running.insert(owner);
        Ok(Slot {
            running: self.clone(),
            owner,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.owner);
    }
}

fn key(prefix: &str, job: Uuid) -> String {
    format!("{prefix}audit:verify:{job}")
}

#[derive(Serialize, Deserialize)]
struct Stored {
    owner: Uuid,
    progress: VerifyProgress,
}

async fn save(
    redis: &mut Redis,
    key: &str,
    owner: Uuid,
    progress: VerifyProgress,
) -> redis::RedisResult<()> {
    let json = serde_json::to_string(&Stored { owner, progress }).expect("serialisable");
    redis.set_ex(key, json, TTL_SECS).await
}

/// Starts verifying the chain (or the rows of `range`) against the highest anchor kept, and
/// returns the job's id. 429 while `owner` has a verification running, or the instance runs
/// `MAX_RUNNING`.
pub async fn start(
    state: &AppState,
    owner: Uuid,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<Uuid, AppError> {
    let slot = state.verify_jobs.claim(owner)?;
    let job = Uuid::new_v4();
    let key = key(&state.config.redis_prefix, job);
    let mut redis = state.redis.clone();
    let pending = VerifyProgress {
        checked: 0,
        total: 0,
        report: None,
        error: None,
    };
    save(&mut redis, &key, owner, pending).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot store verification progress");
        AppError::Unavailable
    })?;
    let state = state.clone();
    // Tracked by the application, so that stopping it ends the job (the result then says so).
    let background = state.background.clone();
    background.spawn(async move {
        let (tx, mut rx) = watch::channel((0u64, 0u64));
        let writer = {
            let mut redis = redis.clone();
            let key = key.clone();
            state.background.spawn(async move {
                while rx.changed().await.is_ok() {
                    let (checked, total) = *rx.borrow_and_update();
                    let now = VerifyProgress {
                        checked,
                        total,
                        report: None,
                        error: None,
                    };
                    if let Err(e) = save(&mut redis, &key, owner, now).await {
                        tracing::warn!(error = %e, "cannot store verification progress");
                    }
                }
            })
        };
        let run = async {
            let anchor = console_anchor(&state).await?;
            let report = verify(&state.db, range, anchor.as_ref(), move |checked, total| {
                let _ = tx.send((checked, total));
            })
            .await?;
            anyhow::Ok(report)
        };
        let outcome = tokio::select! {
            biased;
            _ = state.background.stopping() => Err(anyhow::anyhow!(STOPPED)),
            outcome = run => outcome,
        };
        // The progress sender went with `run`, so the writer ends after its last save.
        let _ = writer.await;
        // Free before the result shows, so that the next one may start once it does.
        drop(slot);
        let last = match outcome {
            Ok(report) => VerifyProgress {
                checked: report.checked,
                total: report.checked,
                report: Some(report),
                error: None,
            },
            Err(e) if state.background.is_stopping() => {
                tracing::warn!(%job, error = format!("{e:#}"), "audit verification stopped");
                VerifyProgress {
                    checked: 0,
                    total: 0,
                    report: None,
                    error: Some(format!("{STOPPED}; start it again.")),
                }
            }
            Err(e) => {
                tracing::error!(%job, error = format!("{e:#}"), "audit verification failed");
                VerifyProgress {
                    checked: 0,
                    total: 0,
                    report: None,
                    error: Some(
                        "The verification could not run to the end; the server log has the cause."
                            .into(),
                    ),
                }
            }
        };
        if let Err(e) = save(&mut redis, &key, owner, last).await {
            tracing::warn!(error = %e, "cannot store verification result");
        }
    });
    Ok(job)
}

/// The progress of `job`, if `owner` started it and it is not older than an hour.
pub async fn progress(
    state: &AppState,
    owner: Uuid,
    job: Uuid,
) -> Result<VerifyProgress, AppError> {
    let mut redis = state.redis.clone();
    let json: Option<String> = redis
        .get(key(&state.config.redis_prefix, job))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot read verification progress");
            AppError::Unavailable
        })?;
    match json.and_then(|j| serde_json::from_str::<Stored>(&j).ok()) {
        Some(stored) if stored.owner == owner => Ok(stored.progress),
        _ => Err(AppError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_user_and_max_running_in_all() {
        let running = Arc::new(Running::default());
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let first = running.claim(a).unwrap();
        assert!(matches!(
            running.claim(a),
            Err(AppError::TooManyRequests { .. })
        ));
        let second = running.claim(b).unwrap();
        assert!(running.claim(c).is_err(), "two run already");
        drop(first);
        let _third = running.claim(c).unwrap();
        assert!(running.claim(a).is_err(), "full again");
        drop(second);
        assert!(running.claim(a).is_ok());
    }
}
