//! Probes for orchestrators and monitoring: `/healthz` (the process runs), `/readyz` (the
//! stores it needs answer) and `/metrics` (Prometheus text, for a scraper on this machine or
//! one presenting `METRICS_TOKEN`).

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use app::backend::state::AppState;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;
use subtle::ConstantTimeEq;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// 200 when Postgres, Redis and the ledger answer within two seconds each, else 503 naming
/// what is down (and, for the ledger, `ledger_error`: missing, unreadable, damaged or slow;
/// the details go to the log, not to whoever asks).
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
    let ledger = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.ledger.read(|v| v.head())).await {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "ledger not ready");
                Some(e.kind())
            }
            Err(_) => Some("slow"),
        }
    };
    let (postgres, redis, ledger_error) = tokio::join!(postgres, redis, ledger);
    let ledger = ledger_error.is_none();
    let word = |up: bool| if up { "up" } else { "down" };
    let down: Vec<&str> = [("postgres", postgres), ("redis", redis), ("ledger", ledger)]
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
        "checks": { "postgres": word(postgres), "redis": word(redis), "ledger": word(ledger) },
        "ledger_error": ledger_error,
    });
    (status, Json(body))
}

/// Whether `/metrics` may answer: the request comes straight from this machine (a loopback
/// peer, and no proxy header saying it relays someone else), or it presents the configured
/// token as `Authorization: Bearer …` (compared in constant time).
fn metrics_allowed(token: Option<&str>, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    let relayed = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    if !relayed && peer.is_some_and(|ip| ip.to_canonical().is_loopback()) {
        return true;
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match (token, presented) {
        (Some(token), Some(presented)) => presented.as_bytes().ct_eq(token.as_bytes()).into(),
        _ => false,
    }
}

/// Prometheus text exposition of the process's own figures (`crate::metrics`); 401 unless
/// `metrics_allowed`.
pub async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip());
    if !metrics_allowed(
        state.config.metrics_token.as_deref(),
        peer,
        request.headers(),
    ) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "Metrics need METRICS_TOKEN as a bearer token.",
        )
            .into_response();
    }
    let out = crate::metrics::render(&state.db, state.reads.replica());
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::headers;

    #[test]
    fn metrics_answer_this_machine_or_the_token_only() {
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        let mapped = Some("::ffff:127.0.0.1".parse().unwrap());
        let remote = Some(IpAddr::from([203, 0, 113, 9]));
        let none = headers(&[]);
        assert!(metrics_allowed(None, local, &none));
        assert!(metrics_allowed(None, mapped, &none));
        assert!(!metrics_allowed(None, remote, &none));
        assert!(!metrics_allowed(None, None, &none));
        let relayed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert!(!metrics_allowed(None, local, &relayed));
        let good = headers(&[("authorization", "Bearer s3cret-token")]);
        let bad = headers(&[("authorization", "Bearer s3cret-tokem")]);
        assert!(metrics_allowed(Some("s3cret-token"), remote, &good));
        assert!(!metrics_allowed(Some("s3cret-token"), remote, &bad));
        assert!(!metrics_allowed(None, remote, &good), "no token configured");
    }
}
