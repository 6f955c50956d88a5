//! Reading the audit trail: the filtered, keyset-paged list the audit page and
//! `GET /api/v1/audit` show (`AuditLog` for `db::list`), and one row by id. Writing is
//! `backend::audit::record` only.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use super::list::KeysetList;
pub use crate::audit::{AuditCursor, AuditFilter, AuditQuery, AuditRow};
use crate::{auth::Permission, error::FieldErrors};

/// The columns of `AuditRow`, read so that the text hashed is the text Postgres stores (a
/// macro, so that the list's `SELECT` can be built from it at compile time).
macro_rules! row_columns {
    () => {
        "id, event_id, event_type, severity, actor_id, actor_type, actor_name, action, \
         resource_type, resource_id, result, error_message, host(ip_address) AS ip_address, \
         user_agent, request_id, metadata::text AS metadata, previous_hash, event_hash, \
         \"timestamp\""
    };
}
pub const ROW_COLUMNS: &str = row_columns!();

/// The audit log's list (`db::list`): newest first (`"timestamp" DESC, id DESC`), over the
/// indexes of that order, so page 10 000 costs what page 1 does.
pub struct AuditLog;

impl KeysetList for AuditLog {
    type Query = AuditQuery;
    type Filter = AuditFilter;
    type Key = AuditCursor;
    type Row = AuditRow;

    const PERMISSION: Permission = Permission::AuditView;
    const SELECT: &'static str = concat!(
        "SELECT ",
        row_columns!(),
        " FROM deltran.audit_log WHERE true"
    );

    fn filter(query: &AuditQuery, refused: &mut FieldErrors) -> AuditFilter {
        query.check(refused)
    }

    fn after(query: &AuditQuery) -> &Option<String> {
        &query.after
    }

    fn push_conditions(filter: &AuditFilter, q: &mut QueryBuilder<Postgres>) {
        if let Some(actor) = filter.actor.as_deref().filter(|s| !s.is_empty()) {
            match Uuid::parse_str(actor) {
                Ok(id) => q.push(" AND actor_id = ").push_bind(id),
                Err(_) => q.push(" AND actor_name = ").push_bind(actor.to_string()),
            };
        }
        for (column, value) in [
            ("action", &filter.action),
            ("resource_type", &filter.resource_type),
            ("resource_id", &filter.resource_id),
            ("result", &filter.result),
        ] {
            if let Some(v) = value.as_deref().filter(|s| !s.is_empty()) {
                q.push(format_args!(" AND {column} = "))
                    .push_bind(v.to_string());
            }
        }
        if let Some(from) = filter.from {
            q.push(" AND \"timestamp\" >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND \"timestamp\" < ").push_bind(to);
        }
    }

    fn order_by(_: &AuditFilter) -> &'static str {
        "\"timestamp\" DESC, id DESC"
    }

    fn key(row: &AuditRow, _: &AuditFilter) -> AuditCursor {
        AuditCursor {
            timestamp: row.timestamp,
            id: row.id,
        }
    }

    fn encode(key: &AuditCursor) -> String {
        key.encode()
    }

    fn decode(text: &str, _: &AuditFilter) -> Option<AuditCursor> {
        AuditCursor::decode(text)
    }

    fn push_after(c: &AuditCursor, q: &mut QueryBuilder<Postgres>) {
        push_after(c, q)
    }
}

/// ` AND <rows after c>` in the audit log's order (`"timestamp" DESC, id DESC`), for every
/// list over `deltran.audit_log`. The plain bound is redundant with the row comparison, but it
/// lets Postgres prune the newer partitions and bound the index scan: deep pages cost what
/// page 1 does.
pub fn push_after(c: &AuditCursor, q: &mut QueryBuilder<Postgres>) {
    q.push(" AND \"timestamp\" <= ").push_bind(c.timestamp);
    q.push(" AND (\"timestamp\", id) < (")
        .push_bind(c.timestamp)
        .push(", ")
        .push_bind(c.id)
        .push(")");
}

/// Creates the monthly partitions of `months` months from the one starting on `first` that do
/// not exist yet (`deltran.ensure_audit_partitions`); how many were new.
pub async fn create_partitions(
    db: &PgPool,
    first: chrono::NaiveDate,
    months: i32,
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        r#"SELECT deltran.ensure_audit_partitions($1, $2) AS "created!""#,
        first,
        months
    )
    .fetch_one(db)
    .await
}

/// One row by id, or `None`.
pub async fn get(db: &PgPool, id: i64) -> sqlx::Result<Option<AuditRow>> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {ROW_COLUMNS} FROM deltran.audit_log WHERE id = "
    ));
    q.push_bind(id).push(" LIMIT 1");
    q.build_query_as().fetch_optional(db).await
}

/// The newest row's id and hash (appends hold the head lock until they commit, so committed
/// ids are always a prefix and this is its end).
pub async fn last_row(db: &PgPool) -> sqlx::Result<Option<(i64, String)>> {
    Ok(
        sqlx::query!("SELECT id, event_hash FROM deltran.audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(db)
            .await?
            .map(|r| (r.id, r.event_hash)),
    )
}

/// How many rows have an id up to `last_id`, and the lowest id among them.
pub async fn count_up_to(db: &PgPool, last_id: i64) -> sqlx::Result<(i64, Option<i64>)> {
    let r = sqlx::query!(
        r#"SELECT count(*) AS "count!", min(id) AS first FROM deltran.audit_log WHERE id <= $1"#,
        last_id
    )
    .fetch_one(db)
    .await?;
    Ok((r.count, r.first))
}

/// The hash of row `id`, if it is there.
pub async fn hash_of(db: &PgPool, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "SELECT event_hash FROM deltran.audit_log WHERE id = $1 LIMIT 1",
        id
    )
    .fetch_optional(db)
    .await
}

/// The lowest and highest ids, of every row or of those with `from <= timestamp < to`.
pub async fn id_range(
    db: &PgPool,
    within: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> sqlx::Result<(Option<i64>, Option<i64>)> {
    let (from, to) = within.unzip();
    let r = sqlx::query!(
        r#"SELECT min(id) AS first, max(id) AS last FROM deltran.audit_log
           WHERE ($1::timestamptz IS NULL OR ("timestamp" >= $1 AND "timestamp" < $2))"#,
        from,
        to
    )
    .fetch_one(db)
    .await?;
    Ok((r.first, r.last))
}

/// The `last_hash` the newest `action` row (a retention detach) recorded for the partition
/// that ended with `last_id`.
pub async fn recorded_boundary(
    db: &PgPool,
    action: &str,
    last_id: i64,
) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT metadata->>'last_hash' FROM deltran.audit_log \
         WHERE action = $1 AND (metadata->>'last_id')::bigint = $2 ORDER BY id DESC LIMIT 1",
        action,
        last_id
    )
    .fetch_optional(db)
    .await?
    .flatten())
}

/// Up to `limit` rows with `after < id <= until`, by id, as verification reads them.
pub async fn chain_batch(
    db: &PgPool,
    after: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<crate::backend::audit::verify::ChainRow>> {
    sqlx::query_as(concat!(
        "SELECT ",
        row_columns!(),
        " FROM deltran.audit_log WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3"
    ))
    .bind(after)
    .bind(until)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Up to `limit` rows after id `after` that `filter` keeps, by id (an export's batches).
pub async fn export_batch(
    db: &PgPool,
    filter: &AuditFilter,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<crate::backend::audit::verify::ChainRow>> {
    let mut q = QueryBuilder::new(concat!(
        "SELECT ",
        row_columns!(),
        " FROM deltran.audit_log WHERE id > "
    ));
    q.push_bind(after);
    AuditLog::push_conditions(filter, &mut q);
    q.push(" ORDER BY id LIMIT ").push_bind(limit);
    q.build_query_as().fetch_all(db).await
}

/// The partitions attached to `deltran.audit_log`: name (schema-qualified), bounds, the
/// planner's row estimate and total bytes.
pub async fn partitions(db: &PgPool) -> sqlx::Result<Vec<(String, String, f32, i64)>> {
    Ok(sqlx::query!(
        r#"SELECT c.oid::regclass::text AS "name!", pg_get_expr(c.relpartbound, c.oid) AS "bounds!",
                  c.reltuples, pg_total_relation_size(c.oid) AS "bytes!"
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'deltran.audit_log'::regclass"#
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.name, r.bounds, r.reltuples, r.bytes))
    .collect())
}

/// A partition's rows, and its newest row's id and hash. `partition` is a name `partitions`
/// gave (the catalog's, never a caller's).
pub async fn partition_end(
    tx: &mut Transaction<'_, Postgres>,
    partition: &str,
) -> sqlx::Result<(i64, Option<i64>, Option<String>)> {
    let (rows, last): (i64, Option<i64>) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT count(*), max(id) FROM {partition}"
    )))
    .fetch_one(&mut **tx)
    .await?;
    let hash = match last {
        Some(id) => Some(
            sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT event_hash FROM {partition} WHERE id = $1"
            )))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?,
        ),
        None => None,
    };
    Ok((rows, last, hash))
}

/// Detaches `partition` (a name `partitions` gave) from the log; its rows stay in it.
pub async fn detach(tx: &mut Transaction<'_, Postgres>, partition: &str) -> sqlx::Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "ALTER TABLE deltran.audit_log DETACH PARTITION {partition}"
    )))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The statements of an append (`backend::audit::append`): the chain's head and the row.
pub mod chain {
    use sqlx::PgConnection;

    use crate::audit::AuditRow;

    /// The next id and the hash it chains to; the head row stays locked until the
    /// transaction ends, so appends are serial.
    pub async fn next(conn: &mut PgConnection) -> sqlx::Result<(i64, String)> {
        let head = sqlx::query!(
            "UPDATE deltran.audit_head SET last_id = last_id + 1 RETURNING last_id, last_hash"
        )
        .fetch_one(conn)
        .await?;
        Ok((head.last_id, head.last_hash))
    }

    /// Writes the row as built (the text forms of `inet` and `jsonb` cast back).
    pub async fn insert(conn: &mut PgConnection, r: &AuditRow) -> sqlx::Result<()> {
        sqlx::query!(
            r#"INSERT INTO deltran.audit_log (id, event_id, event_type, severity, actor_id,
                   actor_type, actor_name, action, resource_type, resource_id, result,
                   error_message, ip_address, user_agent, request_id, metadata, previous_hash,
                   event_hash, "timestamp")
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::inet, $14,
                       $15, $16::text::jsonb, $17, $18, $19)"#,
            r.id,
            r.event_id,
            r.event_type,
            r.severity,
            r.actor_id,
            r.actor_type,
            r.actor_name,
            r.action,
            r.resource_type,
            r.resource_id,
            r.result,
            r.error_message,
            r.ip_address,
            r.user_agent,
            r.request_id,
            r.metadata,
            r.previous_hash,
            r.event_hash,
            r.timestamp,
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Moves the head to the row just written.
    pub async fn set_head(conn: &mut PgConnection, hash: &str) -> sqlx::Result<()> {
        sqlx::query!("UPDATE deltran.audit_head SET last_hash = $1", hash)
            .execute(conn)
            .await?;
        Ok(())
    }
}
