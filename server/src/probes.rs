//! Probes for orchestrators and monitoring: `/healthz` (the process runs), `/readyz` (the
//! stores it needs answer) and `/metrics` (Prometheus text).

use std::{sync::atomic::Ordering, time::Duration};

use app::backend::state::AppState;
use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// 200 when Postgres and Redis answer within two seconds each, else 503 naming what is down.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let postgres = async {
        matches!(
            tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(&state.db)).await,
            Ok(Ok(_))
        )
    };
    let redis = async {
        let mut conn = state.redis.clone();
        let ping = redis::cmd("PING");
        let answer =
            tokio::time::timeout(CHECK_TIMEOUT, ping.query_async::<String>(&mut conn)).await;
        matches!(answer, Ok(Ok(_)))
    };
    let (postgres, redis) = tokio::join!(postgres, redis);
    let word = |up: bool| if up { "up" } else { "down" };
    let down: Vec<&str> = [("postgres", postgres), ("redis", redis)]
        .into_iter()
        .filter(|(_, up)| !up)
        .map(|(name, _)| name)
        .collect();
    let status = if down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if down.is_empty() { "ready" } else { "unavailable" },
        "down": down,
        "checks": { "postgres": word(postgres), "redis": word(redis) },
    });
    (status, Json(body))
}

/// Prometheus text exposition of the process's own figures.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::from(
        "# HELP deltran_console_http_responses_total HTTP responses by status class.\n\
         # TYPE deltran_console_http_responses_total counter\n",
    );
    for (i, counter) in crate::middleware::RESPONSES.iter().enumerate() {
        out.push_str(&format!(
            "deltran_console_http_responses_total{{class=\"{}xx\"}} {}\n",
            i + 1,
            counter.load(Ordering::Relaxed)
        ));
    }
    out.push_str(&format!(
        "# HELP deltran_console_db_pool_connections Open Postgres connections.\n\
         # TYPE deltran_console_db_pool_connections gauge\n\
         deltran_console_db_pool_connections {}\n\
         # HELP deltran_console_db_pool_idle Idle Postgres connections.\n\
         # TYPE deltran_console_db_pool_idle gauge\n\
         deltran_console_db_pool_idle {}\n",
        state.db.size(),
        state.db.num_idle()
    ));
    ([("content-type", "text/plain; version=0.0.4")], out)
}
