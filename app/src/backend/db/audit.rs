//! Reading the audit trail: the filtered, keyset-paged list the audit page and
//! `GET /api/v1/audit` show, and one row by id. Writing is `backend::audit::record` only.

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

pub use crate::audit::{AuditCursor, AuditFilter, AuditRow};

/// The columns of `AuditRow`, read so that the text hashed is the text Postgres stores.
pub const ROW_COLUMNS: &str = "id, event_id, event_type, severity, actor_id, actor_type, \
     actor_name, action, resource_type, resource_id, result, error_message, \
     host(ip_address) AS ip_address, user_agent, request_id, metadata::text AS metadata, \
     previous_hash, event_hash, \"timestamp\"";

impl AuditFilter {
    /// Appends ` AND <condition>` for every filter that is set.
    pub fn push_conditions(&self, q: &mut QueryBuilder<Postgres>) {
        if let Some(actor) = self.actor.as_deref().filter(|s| !s.is_empty()) {
            match Uuid::parse_str(actor) {
                Ok(id) => q.push(" AND actor_id = ").push_bind(id),
                Err(_) => q.push(" AND actor_name = ").push_bind(actor.to_string()),
            };
        }
        for (column, value) in [
            ("action", &self.action),
            ("resource_type", &self.resource_type),
            ("resource_id", &self.resource_id),
            ("result", &self.result),
        ] {
            if let Some(v) = value.as_deref().filter(|s| !s.is_empty()) {
                q.push(format_args!(" AND {column} = "))
                    .push_bind(v.to_string());
            }
        }
        if let Some(from) = self.from {
            q.push(" AND \"timestamp\" >= ").push_bind(from);
        }
        if let Some(to) = self.to {
            q.push(" AND \"timestamp\" < ").push_bind(to);
        }
    }
}

/// One page of rows matching `filter`, newest first, after `after` (exclusive), and the
/// cursor of the next page (`None` on the last page). `limit` is clamped to 1..=1000.
/// Keyset paging over the `("timestamp" DESC, id DESC)` indexes: page 10 000 costs what
/// page 1 does.
pub async fn list(
    db: &PgPool,
    filter: &AuditFilter,
    after: Option<AuditCursor>,
    limit: u32,
) -> sqlx::Result<(Vec<AuditRow>, Option<AuditCursor>)> {
    let limit = limit.clamp(1, 1000) as i64;
    let mut q = QueryBuilder::new(format!(
        "SELECT {ROW_COLUMNS} FROM deltran.audit_log WHERE true"
    ));
    filter.push_conditions(&mut q);
    if let Some(c) = after {
        // The plain bound is redundant with the row comparison, but it lets Postgres prune
        // the newer partitions and bound the index scan: deep pages cost what page 1 does.
        q.push(" AND \"timestamp\" <= ").push_bind(c.timestamp);
        q.push(" AND (\"timestamp\", id) < (")
            .push_bind(c.timestamp)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    // A literal limit (a clamped integer), so the planner sees it as the raw SQL would.
    q.push(format_args!(
        " ORDER BY \"timestamp\" DESC, id DESC LIMIT {}",
        limit + 1
    ));
    let mut rows: Vec<AuditRow> = q.build_query_as().fetch_all(db).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| AuditCursor {
            timestamp: r.timestamp,
            id: r.id,
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// One row by id, or `None`.
pub async fn get(db: &PgPool, id: i64) -> sqlx::Result<Option<AuditRow>> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {ROW_COLUMNS} FROM deltran.audit_log WHERE id = "
    ));
    q.push_bind(id).push(" LIMIT 1");
    q.build_query_as().fetch_optional(db).await
}
