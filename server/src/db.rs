//! Connections and migrations.

use std::time::Duration;

use anyhow::Context;
use app::backend::{config::Config, redis_conn::Redis};
use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

/// The migrations in `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so the server starts (and reports itself not ready)
/// while Postgres is down, and recovers by itself when it comes back.
pub fn pool(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .with_context(|| "DATABASE_URL is not a valid postgres:// URL")?;
    // Every statement is planned for the values it is given, as one written by hand would be:
    // a cached generic plan cannot use the prefix index for the search box's `LIKE $1`, nor
    // choose between a filter's index and the time index by how many rows the value matches.
    // Planning a page's query costs a fraction of a millisecond.
    let options = options.options([("plan_cache_mode", "force_custom_plan")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options))
}

/// A pool for a command that needs the database now: fails with a clear message if it is down.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    connect_to(&config.database_url).await
}

/// A pool on a direct connection to the primary (`DATABASE_DIRECT_URL`, else `DATABASE_URL`),
/// for what a transaction-mode pooler cannot carry: the migrator's session-level advisory
/// lock (`migrate`, `restore`).
pub async fn connect_direct(config: &Config) -> anyhow::Result<PgPool> {
    connect_to(config.direct_url()).await
}

async fn connect_to(url: &str) -> anyhow::Result<PgPool> {
    let pool = pool(url, 4)?;
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .with_context(|| {
            format!(
                "cannot reach Postgres at {}",
                app::backend::config::redact_url(url)
            )
        })?;
    Ok(pool)
}

/// A connection to the Redis server of `url` that connects on first use and reconnects after
/// failures.
pub fn redis(url: &str) -> anyhow::Result<Redis> {
    Redis::direct(url).context("REDIS_URL is not a valid redis:// URL")
}

/// The console's Redis: the master the Sentinels of `REDIS_SENTINELS` name (followed across
/// failovers, with the credentials of `REDIS_URL`), else the server of `REDIS_URL`.
pub async fn redis_for(config: &Config) -> anyhow::Result<Redis> {
    if config.redis_sentinels.is_empty() {
        return redis(&config.redis_url);
    }
    Redis::sentinel(
        &config.redis_sentinels,
        &config.redis_master_name,
        &config.redis_url,
    )
    .await
    .context("REDIS_SENTINELS or REDIS_URL is not valid")
}

/// Applies the pending migrations; returns how many were applied.
pub async fn migrate_up(pool: &PgPool) -> anyhow::Result<usize> {
    let before = applied_versions(pool).await?.len();
    MIGRATOR.run(pool).await.context("migration failed")?;
    Ok(applied_versions(pool).await?.len() - before)
}

/// Versions recorded as applied (empty before the first migration).
pub async fn applied_versions(pool: &PgPool) -> anyhow::Result<Vec<i64>> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public._sqlx_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await?;
    if !exists {
        return Ok(vec![]);
    }
    Ok(sqlx::query_scalar(
        "SELECT version FROM public._sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(pool)
    .await?)
}

/// One line per migration: whether it is applied, its version and description.
pub async fn migrate_status(pool: &PgPool) -> anyhow::Result<Vec<(bool, i64, String)>> {
    let applied = applied_versions(pool).await?;
    Ok(MIGRATOR
        .iter()
        .map(|m| {
            (
                applied.contains(&m.version),
                m.version,
                m.description.to_string(),
            )
        })
        .collect())
}
