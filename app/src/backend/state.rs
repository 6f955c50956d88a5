//! The state every request handler and server function shares: pools and configuration.

use std::sync::Arc;

use sqlx::PgPool;

use super::config::Config;
use crate::error::AppError;

#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    /// Redis: `REDIS_URL`, or the master Sentinel names, followed across failovers.
    pub redis: super::redis_conn::Redis,
    pub config: Arc<Config>,
    /// The audit verifications this instance runs.
    pub verify_jobs: Arc<super::audit::verify_job::Running>,
    /// The application's background tasks: spawn there, not with `tokio::spawn`, so that
    /// stopping the application stops them.
    pub background: super::jobs::Background,
    /// Who this instance is (its heartbeat names it).
    pub instance: Arc<Instance>,
    /// Where reads go: the replica of `DATABASE_READ_URL`, when it is fit to be read.
    pub reads: Arc<super::replica::Reads>,
    /// The ledger, read through a secondary instance of this process's own.
    pub ledger: Arc<super::ledger::Reader>,
}

impl AppState {
    /// Runs the read `read` for `who` on the pool `backend::replica` picks; when that was the
    /// replica and it did not answer, it is skipped from now on and the read runs again on
    /// the primary, so a replica that goes away costs no failed request.
    pub async fn read<T, F, Fut>(&self, who: Option<uuid::Uuid>, read: F) -> Result<T, AppError>
    where
        F: Fn(PgPool) -> Fut,
        Fut: std::future::Future<Output = Result<T, AppError>>,
    {
        let pool = self.reads.pool(&self.db, who);
        let on_replica = !std::ptr::eq(pool, &self.db);
        match read(pool.clone()).await {
            Err(AppError::Unavailable) if on_replica => {
                if self.reads.set_usable(false) {
                    tracing::warn!(
                        "read replica did not answer: skipped, the read retried on the primary"
                    );
                }
                read(self.db.clone()).await
            }
            other => other,
        }
    }
}

/// One running console: an id of its own, where it listens, its version and start.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: uuid::Uuid,
    pub address: String,
    pub version: &'static str,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl Instance {
    /// This process, listening on (or named by) `address`, starting now.
    pub fn new(address: impl Into<String>) -> Self {
        Instance {
            id: uuid::Uuid::new_v4(),
            address: address.into(),
            version: env!("CARGO_PKG_VERSION"),
            started_at: chrono::Utc::now(),
        }
    }
}

impl axum::extract::FromRef<AppState> for Arc<Config> {
    fn from_ref(s: &AppState) -> Self {
        s.config.clone()
    }
}

/// The state inside a server function or a page rendered on the server; the server
/// provides it as Leptos context on both paths.
pub fn current() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| super::error::internal("AppState missing from the Leptos context"))
}
