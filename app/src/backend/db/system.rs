//! The System page's reads of PostgreSQL's own statistics: the server, connections, cache,
//! the `deltran` schema's tables and indexes, long queries, lock waits and replication.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::system::{ConnectionCount, IndexUse, LockWait, LongQuery, Replica, TableHealth};

/// The server's version, start, role (a replica is in recovery), a replica's replay delay,
/// the database's size and `max_connections`.
pub struct Server {
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub in_recovery: bool,
    pub replay_delay_seconds: Option<f64>,
    pub database_bytes: i64,
    pub max_connections: i64,
    pub cache_hit_percent: Option<f64>,
}

pub async fn server(db: &PgPool) -> sqlx::Result<Server> {
    sqlx::query_as!(
        Server,
        r#"SELECT current_setting('server_version') AS "version!",
                  pg_postmaster_start_time() AS "started_at!",
                  pg_is_in_recovery() AS "in_recovery!",
                  CASE WHEN pg_is_in_recovery()
                       THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
                  END AS replay_delay_seconds,
                  pg_database_size(current_database()) AS "database_bytes!",
                  current_setting('max_connections')::bigint AS "max_connections!",
                  (SELECT round(100.0 * blks_hit / nullif(blks_hit + blks_read, 0), 2)::float8
                   FROM pg_stat_database WHERE datname = current_database()) AS cache_hit_percent"#
    )
    .fetch_one(db)
    .await
}

/// Connections to the whole server by state (what `max_connections` limits).
pub async fn connections(db: &PgPool) -> sqlx::Result<Vec<ConnectionCount>> {
    sqlx::query_as!(
        ConnectionCount,
        r#"SELECT coalesce(state, backend_type) AS "state!", count(*) AS "count!"
           FROM pg_stat_activity GROUP BY 1 ORDER BY 2 DESC, 1"#
    )
    .fetch_all(db)
    .await
}

/// The `deltran` tables (partitions counted in their parent), largest first.
pub async fn tables(db: &PgPool) -> sqlx::Result<Vec<TableHealth>> {
    sqlx::query_as!(
        TableHealth,
        r#"WITH t AS (
               SELECT coalesce(parent.relname, c.relname)::text AS name,
                      pg_relation_size(c.oid) AS heap, pg_indexes_size(c.oid) AS idx,
                      pg_total_relation_size(c.oid) AS total, greatest(c.reltuples, 0) AS tuples,
                      greatest(s.last_vacuum, s.last_autovacuum) AS vacuumed,
                      greatest(s.last_analyze, s.last_autoanalyze) AS analyzed
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'deltran'
               LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
               LEFT JOIN pg_class parent ON parent.oid = i.inhparent
               LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
               WHERE c.relkind = 'r')
           SELECT name AS "name!", sum(heap)::bigint AS "heap_bytes!",
                  sum(idx)::bigint AS "index_bytes!",
                  (sum(total) - sum(heap) - sum(idx))::bigint AS "toast_bytes!",
                  sum(tuples)::bigint AS "row_estimate!",
                  max(vacuumed) AS last_vacuum, max(analyzed) AS last_analyze
           FROM t GROUP BY name ORDER BY sum(total) DESC, name"#
    )
    .fetch_all(db)
    .await
}

/// The `deltran` indexes (of partitions: by their parent's name), largest first.
pub async fn indexes(db: &PgPool) -> sqlx::Result<Vec<IndexUse>> {
    sqlx::query_as!(
        IndexUse,
        r#"SELECT coalesce(parent.relname, s.relname)::text AS "table!",
                  coalesce(pi.relname, s.indexrelname)::text AS "name!",
                  sum(s.idx_scan)::bigint AS "scans!",
                  sum(pg_relation_size(s.indexrelid))::bigint AS "bytes!",
                  (sum(s.idx_scan) = 0 AND NOT bool_or(x.indisunique OR x.indisprimary)) AS "unused!"
           FROM pg_stat_user_indexes s
           JOIN pg_index x ON x.indexrelid = s.indexrelid
           LEFT JOIN pg_inherits ti ON ti.inhrelid = s.relid
           LEFT JOIN pg_class parent ON parent.oid = ti.inhparent
           LEFT JOIN pg_inherits ii ON ii.inhrelid = s.indexrelid
           LEFT JOIN pg_class pi ON pi.oid = ii.inhparent
           WHERE s.schemaname = 'deltran'
           GROUP BY 1, 2 ORDER BY sum(pg_relation_size(s.indexrelid)) DESC, 2"#
    )
    .fetch_all(db)
    .await
}

/// This database's statements running (or transactions idle) for more than five seconds,
/// longest first.
pub async fn long_queries(db: &PgPool) -> sqlx::Result<Vec<LongQuery>> {
    sqlx::query_as!(
        LongQuery,
        r#"SELECT pid AS "pid!", extract(epoch FROM now() - query_start)::float8 AS "seconds!",
                  state AS "state!", usename::text AS user, left(query, 200) AS "query!"
           FROM pg_stat_activity
           WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()
             AND backend_type = 'client backend' AND query_start < now() - interval '5 seconds'
           ORDER BY query_start"#
    )
    .fetch_all(db)
    .await
}

/// This database's sessions waiting for a lock, with the sessions blocking them.
pub async fn lock_waits(db: &PgPool) -> sqlx::Result<Vec<LockWait>> {
    sqlx::query_as!(
        LockWait,
        r#"SELECT pid AS "pid!", pg_blocking_pids(pid) AS "blocked_by!",
                  extract(epoch FROM now() - coalesce(state_change, query_start))::float8 AS "seconds!",
                  left(query, 200) AS "query!"
           FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'
           ORDER BY state_change"#
    )
    .fetch_all(db)
    .await
}

/// This server's streaming replicas and how far behind each one's replay is.
pub async fn replicas(db: &PgPool) -> sqlx::Result<Vec<Replica>> {
    sqlx::query_as!(
        Replica,
        r#"SELECT application_name AS "name!", host(client_addr) AS address, state AS "state!",
                  sync_state AS "sync_state!",
                  pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_lag_bytes,
                  extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds
           FROM pg_stat_replication ORDER BY application_name"#
    )
    .fetch_all(db)
    .await
}

/// Writes `instance`'s heartbeat: now, and `jobs` (JSON: its jobs' last runs); forgets the
/// instances not seen for a day.
pub async fn heartbeat(
    db: &PgPool,
    instance: &crate::backend::state::Instance,
    jobs: &str,
) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query!(
        "INSERT INTO deltran.console_instances (id, address, version, started_at, jobs) \
         VALUES ($1, $2, $3, $4, $5::text::jsonb) \
         ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), jobs = EXCLUDED.jobs",
        instance.id,
        instance.address,
        instance.version,
        instance.started_at,
        jobs,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM deltran.console_instances WHERE last_seen_at < now() - interval '1 day'"
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Claims this period's run of `job` for `instance` when no lease on it is in force: the lease
/// then runs for `period`. `false`: another run (on this instance or another) holds it.
pub async fn claim_job(
    db: &PgPool,
    job: &str,
    instance: uuid::Uuid,
    period: std::time::Duration,
) -> sqlx::Result<bool> {
    let claimed = sqlx::query_scalar!(
        "INSERT INTO deltran.job_leases AS l (job, holder, claimed_at, expires_at) \
         VALUES ($1, $2, now(), now() + make_interval(secs => $3)) \
         ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, \
             claimed_at = EXCLUDED.claimed_at, expires_at = EXCLUDED.expires_at, runs = l.runs + 1 \
         WHERE l.expires_at <= now() \
         RETURNING l.job",
        job,
        instance,
        period.as_secs_f64(),
    )
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}

/// A console instance's heartbeat, as stored.
pub struct InstanceRow {
    pub id: uuid::Uuid,
    pub address: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub jobs: String,
}

/// The instances seen in the last day, most recently seen first.
pub async fn instances(db: &PgPool) -> sqlx::Result<Vec<InstanceRow>> {
    sqlx::query_as!(
        InstanceRow,
        r#"SELECT id, address, version, started_at, last_seen_at, jobs::text AS "jobs!"
           FROM deltran.console_instances ORDER BY last_seen_at DESC, id"#
    )
    .fetch_all(db)
    .await
}

/// How far behind a replica's replay is, in seconds: 0 when it has replayed all it received,
/// else the age of its last replayed transaction.
pub async fn replica_lag(replica: &PgPool) -> sqlx::Result<f64> {
    sqlx::query_scalar!(
        r#"SELECT CASE
               WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
               ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
           END::float8 AS "lag!"
           WHERE pg_is_in_recovery()"#
    )
    .fetch_optional(replica)
    .await?
    .ok_or_else(|| {
        sqlx::Error::Protocol("DATABASE_READ_URL is not a replica (not in recovery)".into())
    })
}
