//! What `/metrics` shows, through the `metrics` facade and its Prometheus recorder: HTTP
//! responses and their latency by route, method and status class, the Postgres pools (primary,
//! replica), the background jobs' runs (`app::backend::metrics::record_job`) and skips, the
//! read replica's lag and skips, and the Redis master's look-ups through Sentinel. The guard in front of it is
//! `probes::metrics`.

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};
use metrics::Unit;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

/// Responses by `route`, `method` and `class` (`2xx`, …, `5xx`).
pub const HTTP_RESPONSES: &str = "deltran_console_http_responses_total";
/// Seconds from a request's arrival to its response's head, by the same labels.
pub const HTTP_DURATION: &str = "deltran_console_http_request_duration_seconds";
/// Open Postgres connections (idle and in use), by `pool` (`primary`, `replica`).
pub const DB_POOL_CONNECTIONS: &str = "deltran_console_db_pool_connections";
/// Idle Postgres connections, by `pool`.
pub const DB_POOL_IDLE: &str = "deltran_console_db_pool_idle";
/// The most connections a pool opens, by `pool`.
pub const DB_POOL_MAX: &str = "deltran_console_db_pool_max_connections";

/// Histogram buckets, in seconds: page and API latencies up to the 30 s request limit, and
/// background jobs up to five minutes.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, made and installed as the global `metrics` recorder
/// the first time (tests build many applications in one process; they share it). Should
/// another recorder be installed already, ours still renders, without the facade's figures.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed: /metrics shows the pool only");
        }
        describe();
        // Without the exporter's own listener, someone must drain the histograms' samples
        // now and then, scraped or not. A thread: tests run each app in a runtime of its own.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("a thread for the metrics upkeep");
        handle
    })
}

fn describe() {
    use app::backend::metrics::{JOB_DURATION, JOB_RUNS};
    metrics::describe_counter!(
        HTTP_RESPONSES,
        Unit::Count,
        "HTTP responses by route, method and status class."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response head, by route, method and status class."
    );
    metrics::describe_gauge!(DB_POOL_CONNECTIONS, "Open Postgres connections, by pool.");
    metrics::describe_gauge!(DB_POOL_IDLE, "Idle Postgres connections, by pool.");
    metrics::describe_gauge!(DB_POOL_MAX, "The most connections a pool opens, by pool.");
    metrics::describe_counter!(
        app::backend::redis_conn::RERESOLUTIONS,
        Unit::Count,
        "Look-ups of the Redis master through Sentinel after errors, by outcome (moved, unchanged, failed)."
    );
    metrics::describe_counter!(
        app::backend::metrics::JOB_SKIPS,
        Unit::Count,
        "Job runs left to the instance holding the job's lease, by job."
    );
    metrics::describe_counter!(
        app::backend::replica::SKIPS,
        Unit::Count,
        "Checks that found the read replica unfit (down or lagging): reads went to the primary."
    );
    metrics::describe_gauge!(
        app::backend::replica::LAG,
        Unit::Seconds,
        "The read replica's replay lag as last measured."
    );
    metrics::describe_counter!(
        JOB_RUNS,
        Unit::Count,
        "Background job runs by job and result."
    );
    metrics::describe_histogram!(
        JOB_DURATION,
        Unit::Seconds,
        "Background job run time by job and result."
    );
}

/// The Prometheus text of everything recorded, with the pools (`primary`, and `replica` when
/// `DATABASE_READ_URL` is set) as they are now.
pub fn render(db: &PgPool, replica: Option<&PgPool>) -> String {
    let handle = install();
    for (name, pool) in std::iter::once(("primary", db)).chain(replica.map(|r| ("replica", r))) {
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => name).set(pool.size() as f64);
        metrics::gauge!(DB_POOL_IDLE, "pool" => name).set(pool.num_idle() as f64);
        metrics::gauge!(DB_POOL_MAX, "pool" => name)
            .set(pool.options().get_max_connections() as f64);
    }
    handle.render()
}

/// Counts and times every response. The route is axum's matched path (`/audit/{id}`, a
/// server function's own path), so ids in URLs do not make new series; requests no route
/// matched (static files, 404s) share `unmatched`.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => matched.as_str().to_string(),
        None => {
            let path = request.uri().path();
            if leptos::server_fn::axum::server_fn_paths().any(|(p, _)| p == path) {
                path.to_string()
            } else {
                "unmatched".to_string()
            }
        }
    };
    let method = match *request.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    let class = match response.status().as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    let labels = [
        ("route", route),
        ("method", method.into()),
        ("class", class.into()),
    ];
    metrics::counter!(HTTP_RESPONSES, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed());
    response
}
