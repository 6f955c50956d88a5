//! System health, read-only (system.view): PostgreSQL (server, connections, cache, the
//! `deltran` tables and indexes, slow queries and lock waits, vacuum, replication) and Redis
//! (role and replicas, memory, clients, throughput, hit ratio, the slow log, keys and memory per
//! namespace of the console's prefix, sampled with SCAN). Shared by the System page, its server
//! function and `GET /api/v1/system`; the reads live in `backend::system` and
//! `backend::db::system`.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Everything the System page shows, read at `read_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SystemHealth {
    pub read_at: DateTime<Utc>,
    pub postgres: PostgresHealth,
    pub redis: RedisHealth,
    /// The ledger's RocksDB figures, as the ledger's storage page shows them; None when the
    /// ledger cannot be read.
    pub ledger: Option<crate::ledger::StorageStats>,
    /// The console instances whose heartbeat was seen in the last day.
    pub instances: Vec<ConsoleInstance>,
}

/// A console instance, from its heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ConsoleInstance {
    pub id: uuid::Uuid,
    /// Where it listens.
    pub address: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The last run of each of its background jobs, by name.
    pub jobs: Vec<JobState>,
    /// The instance answering this request.
    pub this_one: bool,
}

/// A background job's last run on an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct JobState {
    pub name: String,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub seconds: f64,
}

/// PostgreSQL as the console's pool sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PostgresHealth {
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// A streaming replica (read-only), not the primary.
    pub in_recovery: bool,
    /// On a replica: how old the last replayed transaction is, in seconds.
    pub replay_delay_seconds: Option<f64>,
    pub database_bytes: i64,
    pub max_connections: i64,
    /// Connections by state (`active`, `idle`, `idle in transaction`, …).
    pub connections: Vec<ConnectionCount>,
    /// Blocks found in shared buffers, of all blocks read, in percent.
    pub cache_hit_percent: Option<f64>,
    pub tables: Vec<TableHealth>,
    pub indexes: Vec<IndexUse>,
    /// Queries running for more than 5 seconds.
    pub long_queries: Vec<LongQuery>,
    /// Sessions waiting for a lock.
    pub lock_waits: Vec<LockWait>,
    pub replicas: Vec<Replica>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct ConnectionCount {
    pub state: String,
    pub count: i64,
}

/// A table of the `deltran` schema (a partitioned table counts its partitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TableHealth {
    pub name: String,
    pub heap_bytes: i64,
    pub index_bytes: i64,
    pub toast_bytes: i64,
    /// The planner's estimate of its live rows.
    pub row_estimate: i64,
    pub last_vacuum: Option<DateTime<Utc>>,
    pub last_analyze: Option<DateTime<Utc>>,
}

/// An index of the `deltran` schema and how often it was used since the statistics were reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IndexUse {
    pub table: String,
    pub name: String,
    pub scans: i64,
    pub bytes: i64,
    /// Never scanned, and not one that enforces a key.
    pub unused: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LongQuery {
    pub pid: i32,
    pub seconds: f64,
    pub state: String,
    pub user: Option<String>,
    /// The statement's first 200 characters.
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LockWait {
    pub pid: i32,
    /// The sessions it waits for.
    pub blocked_by: Vec<i32>,
    pub seconds: f64,
    /// The statement's first 200 characters.
    pub query: String,
}

/// A streaming replica of this server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Replica {
    pub name: String,
    pub address: Option<String>,
    pub state: String,
    pub sync_state: String,
    /// How far its replay is behind this server's WAL, in bytes.
    pub replay_lag_bytes: Option<i64>,
    pub replay_lag_seconds: Option<f64>,
}

/// Redis as the console's connection sees it; `error` when it did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RedisHealth {
    pub error: Option<String>,
    pub info: Option<RedisInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RedisInfo {
    pub version: String,
    /// `master` or `slave`.
    pub role: String,
    pub uptime_seconds: i64,
    pub connected_clients: i64,
    pub used_memory: i64,
    pub used_memory_peak: i64,
    /// 0: no limit.
    pub maxmemory: i64,
    pub maxmemory_policy: String,
    pub ops_per_sec: i64,
    /// Key lookups that found their key, in percent (none before the first lookup).
    pub hit_percent: Option<f64>,
    /// The replicas a master reports (`ip:port`, state, offset).
    pub replicas: Vec<String>,
    /// The ten slowest recent commands; none when the console's Redis user may not read the
    /// slow log (`+slowlog|get`).
    pub slowlog: Option<Vec<SlowCommand>>,
    /// Keys under the console's prefix, by their first name segment, sampled.
    pub namespaces: Vec<Namespace>,
    /// How many keys the sample read (at most `NAMESPACE_SAMPLE`).
    pub sampled_keys: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SlowCommand {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub micros: i64,
    /// The command's name and its first arguments, cut short.
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Namespace {
    /// `console`, `control`, `ratelimit`, …
    pub name: String,
    pub keys: i64,
    /// `MEMORY USAGE` summed over its sampled keys.
    pub bytes: i64,
}

/// Keys the namespace sample reads at most.
pub const NAMESPACE_SAMPLE: usize = 2000;

/// `1.5 MB`.
pub fn format_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_read_them() {
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1500), "1.5 kB");
        assert_eq!(format_bytes(2_500_000_000), "2.5 GB");
    }
}
