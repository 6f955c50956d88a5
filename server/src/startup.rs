//! Builds the whole application from a `Config` (router, state, background jobs) and serves
//! it until a shutdown signal, finishing requests in flight, then stopping its background
//! jobs. Tests build the same thing on port 0.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use app::{
    backend::{
        config::{Config, Secret},
        context::RequestContext,
        jobs::{self, Background},
        ledger,
        replica::Reads,
        session_store::RedisSessionStore,
        state::{AppState, Instance},
    },
    shell, App,
};
use axum::{middleware, response::IntoResponse, routing::get, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    trace::{DefaultOnResponse, TraceLayer},
    LatencyUnit,
};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::{db, probes};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects (lazily: the server starts even while Postgres or Redis is down), starts the
    /// background jobs (they run until `run_until` returns) and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let leptos_options = get_configuration(None)
            .context("reading the Leptos configuration")?
            .leptos_options;
        let addr: SocketAddr = config.bind.unwrap_or(leptos_options.site_addr);
        app::backend::passwords::set_concurrency(config.password_hash_concurrency);
        // Before the jobs start, so that their first runs are counted.
        crate::metrics::install();
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let listening = listener.local_addr()?.to_string();
        let replica = match &config.database_read_url {
            Some(url) => Some(db::pool(url, config.db_max_connections)?),
            None => None,
        };
        let reads = Reads::new(replica, config.read_pin);
        let ledger = ledger::Reader::new(
            config.ledger_path.clone(),
            config.ledger_reader_path.clone(),
            ledger::Settings::load(config.ledger_config.as_deref())?,
        );
        let state = AppState {
            db: db::pool(&config.database_url, config.db_max_connections)?,
            redis: db::redis_for(&config).await?,
            config: Arc::new(config),
            verify_jobs: Arc::default(),
            background: Background::default(),
            instance: Arc::new(Instance::new(listening)),
            reads: Arc::new(reads),
            ledger: Arc::new(ledger),
        };
        app::backend::replica::spawn_watch(&state);
        app::backend::redis_conn::spawn_watch(&state);
        jobs::spawn_heartbeat_job(&state);
        jobs::spawn_daily_job(
            &state.background,
            state.db.clone(),
            state.instance.id,
            state.config.audit_partitions_ahead,
            state.config.login_lockout,
        );
        jobs::spawn_controls_job(&state);
        app::backend::audit::anchor::spawn_anchor_job(
            &state.background,
            state.db.clone(),
            state.instance.id,
            state.redis.clone(),
            state.config.redis_prefix.clone(),
            state.config.data_dir.clone(),
            state.config.secret(Secret::AuditAnchor).to_string(),
            state.config.audit_anchor_interval,
        );
        let router = router(state.clone(), leptos_options);
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets requests in flight
    /// finish, then stops the background jobs and waits for them: all of it within the
    /// configured grace period from the signal (the jobs get at least [`JOBS_MIN_GRACE`]).
    /// When this returns, nothing the application started runs any more, unless the log says
    /// otherwise.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = self.state.config.shutdown_grace;
        let signalled = Arc::new(OnceLock::<Instant>::new());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = {
            let signalled = signalled.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: finishing requests in flight");
                let _ = signalled.set(Instant::now());
                let _ = stop_tx.send(());
            }
        };
        let serve = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let deadline = async move {
            let _ = stop_rx.await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            result = serve => result.context("server error"),
            _ = deadline => {
                tracing::warn!(?grace, "requests still in flight after the grace period");
                Ok(())
            }
        };
        // The jobs stop with the server, also when it failed.
        let left = signalled
            .get()
            .map_or(grace, |at| grace.saturating_sub(at.elapsed()))
            .max(JOBS_MIN_GRACE);
        let jobs_deadline = Instant::now() + left;
        let background = &self.state.background;
        if !background.stop(left).await {
            tracing::warn!(
                running = background.running(),
                "background jobs still running after the grace period"
            );
        }
        // Closing waits for every connection to come back, and one whose query was dropped
        // comes back only when Postgres answers it (perhaps only after a lock wait): bounded.
        let close = jobs_deadline
            .saturating_duration_since(Instant::now())
            .max(JOBS_MIN_GRACE);
        if tokio::time::timeout(close, self.state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still busy after the grace period");
        }
        served
    }
}

/// The least time the background jobs get to stop after the server did, however long the
/// requests in flight took: enough for a job to notice (each stops at its next await).
pub const JOBS_MIN_GRACE: Duration = Duration::from_secs(1);

/// The address `Application::build` listens on: `BIND`, else the one cargo-leptos gives.
pub fn listen_addr(config: &Config) -> anyhow::Result<SocketAddr> {
    match config.bind {
        Some(addr) => Ok(addr),
        None => Ok(get_configuration(None)
            .context("reading the Leptos configuration")?
            .leptos_options
            .site_addr),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Gives the page renderer what the middleware found out about the request: the nonce
/// `security_headers` put in the CSP header, and the request's id and client (for audit rows
/// written by server functions the renderer calls, which run outside the request's task).
fn provide_request_context() {
    let Some(parts) = use_context::<axum::http::request::Parts>() else {
        return;
    };
    if let Some(nonce) = parts.extensions.get::<crate::middleware::CspNonce>() {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0.clone()));
    }
    if let Some(ctx) = parts.extensions.get::<RequestContext>() {
        provide_context(ctx.clone());
    }
}

/// The session cookie's name: `__Host-` whenever it is Secure, so that browsers accept it only
/// from this host over HTTPS, for the whole site, never set by a sibling domain. (Browsers
/// refuse `__Host-` cookies without Secure, hence the plain name in demo mode over HTTP.)
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-deltran_session"
    } else {
        "deltran_session"
    }
}

/// Pages, server functions, the REST API, downloads, probes and static files, with the
/// middleware every request passes through.
pub fn router(state: AppState, leptos_options: LeptosOptions) -> Router {
    crate::metrics::install();
    let idle = state.config.session_idle.as_secs() as i64;
    let timeout = state.config.request_timeout;
    let secure = state.config.cookie_secure;
    let sessions = SessionManagerLayer::new(RedisSessionStore::new(&state))
        .with_name(session_cookie_name(secure))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_secure(secure)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(idle),
        ))
        .with_always_save(true);
    let routes = generate_route_list(App);
    let context_state = state.clone();
    let fallback_state = state.clone();
    let pages = Router::new()
        .leptos_routes_with_context(
            &leptos_options,
            routes,
            move || {
                provide_context(context_state.clone());
                provide_request_context();
            },
            {
                let options = leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler_with_context(
            move || {
                provide_context(fallback_state.clone());
                provide_request_context();
            },
            shell,
        ))
        .with_state(leptos_options);
    let probes = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .with_state(state.clone());
    probes
        .merge(crate::api::router(state.clone()))
        .merge(crate::downloads::router())
        .merge(pages)
        .layer(middleware::from_fn(crate::middleware::server_fn_guard))
        .layer(middleware::from_fn(crate::middleware::server_fn_status))
        .layer(sessions)
        .layer(middleware::from_fn(
            crate::middleware::session_save_unavailable,
        ))
        .layer(middleware::from_fn(crate::middleware::same_origin))
        .layer(middleware::from_fn(crate::middleware::security_headers))
        .layer(CatchPanicLayer::custom(|_| {
            // Never a panic message or a backtrace to the client.
            let body =
                serde_json::json!({"error": {"code": "internal", "message": "internal error"}});
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(body),
            )
                .into_response()
        }))
        .layer(middleware::from_fn_with_state(
            timeout,
            crate::middleware::request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(crate::middleware::BODY_LIMIT))
        // Outside the time and body limits, so that their 503 and 413 are counted and logged.
        .layer(middleware::from_fn(crate::metrics::track_requests))
        // One access line per request (method, path, ids in the span; status, latency).
        // Failures are not logged again: the line has the status, and errors are logged
        // with their context where they are converted.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::middleware::request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Millis),
                )
                .on_failure(()),
        )
        .layer(middleware::from_fn(crate::middleware::request_context))
        // Outermost, so that every layer above can read the configuration.
        .layer(axum::Extension(state))
}
