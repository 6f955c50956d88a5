//! Middleware every request passes: a request id and the request context, baseline security
//! headers, and request counting for /metrics.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
};

use app::backend::context::RequestContext;
use axum::{
    extract::{ConnectInfo, Request},
    http::{header, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Requests answered, by status class (1xx..5xx), for /metrics.
pub static RESPONSES: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Gives the request an id (a sane incoming `x-request-id` is kept, for tracing across
/// services), makes the request context current for everything below, and echoes the id.
pub async fn request_context(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip());
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    let ctx = RequestContext {
        request_id: request_id.clone(),
        ip,
        user_agent,
    };

    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    );
    let mut response = ctx
        .scope(tracing::Instrument::instrument(next.run(request), span))
        .await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let class = (response.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    RESPONSES[class].fetch_add(1, Ordering::Relaxed);
    response
}

/// Headers every response carries.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
