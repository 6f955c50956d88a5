//! Figures the background jobs report to `/metrics`, through the `metrics` facade (the
//! server installs the Prometheus recorder; without one these calls do nothing).

use std::time::Duration;

/// Runs of each background job, by job and result (`ok` or `error`).
pub const JOB_RUNS: &str = "deltran_console_job_runs_total";
/// Runs of a job left to the instance holding its lease (`jobs::claim`), by job.
pub const JOB_SKIPS: &str = "deltran_console_job_skips_total";
/// How long each background job ran, in seconds, by job and result.
pub const JOB_DURATION: &str = "deltran_console_job_duration_seconds";

/// Records one run of the background job `name`: counted in [`JOB_RUNS`] and timed in
/// [`JOB_DURATION`], labelled `ok` or `error` after `result`.
pub fn record_job<T, E>(name: &'static str, result: &Result<T, E>, duration: Duration) {
    let labels = [
        ("job", name),
        ("result", if result.is_ok() { "ok" } else { "error" }),
    ];
    metrics::counter!(JOB_RUNS, &labels).increment(1);
    metrics::histogram!(JOB_DURATION, &labels).record(duration);
}
