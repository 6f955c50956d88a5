//! Middleware every request passes: a request id and the request context, baseline security
//! headers and a time limit, and the span of the access log (tower-http's `TraceLayer`, set up
//! in `startup::router`). Request counts for /metrics are `crate::metrics`'s.

use std::{net::SocketAddr, time::Duration};

use app::{
    backend::{
        auth,
        context::{client_ip, RequestContext},
        state::AppState,
    },
    error::AppError,
};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Just outside the session layer: a session that could not be saved (Redis away, as in a
/// failover) answers 503 with `Retry-After`, as the requests that need Redis do, instead of
/// the bare 500 tower-sessions gives (see `session_store::watch_store`).
pub async fn session_save_unavailable(request: Request, next: Next) -> Response {
    let (response, store_failed) =
        app::backend::session_store::watch_store(next.run(request)).await;
    if store_failed && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!("session not saved: redis unavailable");
        return crate::errors::respond(&AppError::Unavailable, crate::errors::Reader::Text);
    }
    response
}

/// Gives the request the server's own id (a sane incoming `x-request-id` is kept beside it, as
/// the client's, for tracing across services: a client must not choose the id audit rows and
/// error messages quote), makes the request context current for everything below, and echoes
/// the server's id. (tower-http's request-id layers keep a client's id instead of ours, so
/// this stays ours; the access log's span, [`request_span`], reads the id from here.)
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string);
    let trusted = request
        .extensions()
        .get::<AppState>()
        .map_or(&[][..], |s| &s.config.trusted_proxies);
    let forwarded_for = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| client_ip(ci.0.ip(), forwarded_for, trusted));
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    let ctx = RequestContext {
        request_id: request_id.clone(),
        ip,
        user_agent,
        client_request_id: client_request_id.clone(),
    };

    // Also in the request, for the page renderer (work it spawns runs outside this task) and
    // for the access log's span.
    request.extensions_mut().insert(ctx.clone());
    let mut response = ctx.scope(next.run(request)).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// The span of a request, for tower-http's `TraceLayer` (inside `request_context`): every log
/// line written while the request is handled names its method, path and ids, and the layer's
/// access line ("finished processing request") adds the status and latency.
pub fn request_span(request: &Request) -> tracing::Span {
    let ctx = request.extensions().get::<RequestContext>();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = ctx.map_or("-", |c| c.request_id.as_str()),
        client_request_id = ctx.and_then(|c| c.client_request_id.as_deref()).unwrap_or("-"),
    )
}

/// The most a request body may hold. Server functions and the REST API take small forms and
/// JSON, and nothing uploads (a backup is restored on the command line), so one limit serves
/// every route; a larger body is refused with 413 before anything reads it.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Responses that stream for as long as the data lasts (downloads, the REST export): the
/// request time limit does not apply to them.
fn untimed(path: &str) -> bool {
    path.starts_with("/downloads/") || path == "/api/v1/audit/export"
}

/// Answers 503 when a request has no response within `timeout` (`REQUEST_TIMEOUT_SECONDS`),
/// dropping the work (an open transaction rolls back). Streaming downloads are exempt.
pub async fn request_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if untimed(request.uri().path()) {
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path, ?timeout, "request timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "The request took too long.",
            )
                .into_response()
        }
    }
}

/// The CSP nonce of the current request: made here, used by the page renderer for every
/// script it emits, and named in the `Content-Security-Policy` header.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// Headers every response carries: a Content-Security-Policy without `unsafe-inline` scripts
/// (only scripts carrying this response's nonce run), no framing, no sniffing, and HSTS when
/// the request came over TLS (as a proxy in front reports it).
pub async fn security_headers(mut request: Request, next: Next) -> Response {
    let nonce = {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let tls = request
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Server functions answer every error with 500; this gives each the status its `AppError`
/// stands for (401, 403, 422, 429 and 503 with `Retry-After`, …), from one place.
pub async fn server_fn_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        crate::errors::set_head(&err, &mut parts.status, &mut parts.headers);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The second lock on server functions: before one runs (and before its arguments are
/// parsed), the caller must have the permission its `guard!` declares; a server function
/// without one is refused outright.
pub async fn server_fn_guard(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_server_fn = path.starts_with("/api/")
        && !path.starts_with("/api/v1/")
        && leptos::server_fn::axum::server_fn_paths().any(|(p, _)| p == path);
    if !is_server_fn {
        return next.run(request).await;
    }
    let Some(access) = server_fn_access(path) else {
        tracing::error!(path, "server function without a guard! refused");
        return server_fn_error(AppError::Forbidden);
    };
    let Some(permission) = access.access else {
        return next.run(request).await;
    };
    let (Some(state), Some(session)) = (
        request.extensions().get::<AppState>().cloned(),
        request
            .extensions()
            .get::<tower_sessions::Session>()
            .cloned(),
    ) else {
        return server_fn_error(AppError::Unavailable);
    };
    let identity = match auth::session_identity(&state, &session).await {
        Ok(Some(identity)) => identity,
        Ok(None) => return server_fn_error(AppError::Unauthorized),
        Err(e) => return server_fn_error(e),
    };
    match auth::authorize(&state.db, identity, permission).await {
        Ok(identity) => {
            let user = identity.user_id;
            // Handed on, so that the function's own check needs no second look-up.
            request.extensions_mut().insert(identity);
            let response = next.run(request).await;
            if may_write(permission) {
                state.reads.wrote(user);
            }
            response
        }
        Err(e) => server_fn_error(e),
    }
}

/// Whether a server function under `permission` may change something (then its caller's
/// next reads go to the primary, `backend::replica`): all but the reading ones.
fn may_write(permission: app::auth::Permission) -> bool {
    !permission.name().ends_with(".view")
}

/// Who may call the server function at `path`, from the `guard!` declarations (read once).
fn server_fn_access(path: &str) -> Option<app::auth::ServerFnAccess> {
    static ALL: std::sync::LazyLock<Vec<app::auth::ServerFnAccess>> =
        std::sync::LazyLock::new(app::auth::server_fns);
    ALL.iter().find(|f| f.path == path).copied()
}

/// An error answered the way server functions answer theirs.
fn server_fn_error(err: AppError) -> Response {
    crate::errors::respond(&err, crate::errors::Reader::ServerFn)
}

/// The sign-in server function: a cross-site form must not sign a victim's browser in to an
/// attacker's account (login CSRF), so it needs a same-origin request even without cookies.
const SIGN_IN_PATH: &str = "/api/auth/login";

/// Refuses a state-changing request that carries cookies (or signs in) but comes from
/// another site: its `Origin` (or, failing that, `Referer`) must be this host. SameSite
/// cookies already stop most of these; this is the second lock. Other requests without
/// cookies (API clients with bearer tokens) carry no ambient authority and pass.
pub async fn same_origin(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let ambient =
        request.headers().contains_key(header::COOKIE) || request.uri().path() == SIGN_IN_PATH;
    if safe || !ambient || from_this_host(request.headers()) {
        return next.run(request).await;
    }
    tracing::warn!(
        origin = ?request.headers().get(header::ORIGIN),
        path = %request.uri().path(),
        "cross-site request refused"
    );
    (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response()
}

/// Whether the request's `Origin` (or, failing that, `Referer`) names this host.
pub fn from_this_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match source {
        Some(s) => {
            let rest = s
                .strip_prefix("https://")
                .or_else(|| s.strip_prefix("http://"))
                .unwrap_or("");
            rest.split('/').next() == Some(host)
        }
        None => false,
    }
}

/// Request headers made of `(name, value)` pairs, for the unit tests of the server's
/// request checks.
#[cfg(test)]
pub(crate) fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_host_counts_as_same_origin() {
        assert!(from_this_host(&headers(&[
            ("host", "a.example:3000"),
            ("origin", "http://a.example:3000")
        ])));
        assert!(from_this_host(&headers(&[
            ("host", "a.example"),
            ("referer", "https://a.example/x")
        ])));
        assert!(!from_this_host(&headers(&[
            ("host", "a.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(!from_this_host(&headers(&[
            ("host", "a.example"),
            ("origin", "https://a.example.evil.example")
        ])));
        assert!(!from_this_host(&headers(&[("host", "a.example")])));
    }
}
