//! `/api/v1/audit`: the audit log, its verification and its export.

use app::{
    auth::Permission,
    backend::{
        audit::{anchor::latest_anchor, export, verify::verify, AuditRow},
        db::audit::{self as audit_db, AuditCursor, AuditFilter},
        error::internal,
        state::AppState,
    },
    error::AppError,
};
use axum::{
    body::Body,
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Caller};

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    result: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<String>,
    limit: Option<u32>,
    format: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, AppError> {
        if let Some(r) = self.result.as_deref() {
            if !["success", "failure", "denied"].contains(&r) {
                return Err(AppError::field("result", "use success, failure or denied"));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                return Err(AppError::field("to", "must be after from"));
            }
        }
        Ok(AuditFilter {
            actor: self.actor.clone(),
            action: self.action.clone(),
            resource_type: self.resource_type.clone(),
            resource_id: self.resource_id.clone(),
            result: self.result.clone(),
            from: self.from,
            to: self.to,
        })
    }
}

fn row_json(r: &AuditRow) -> Value {
    json!({
        "id": r.id, "event_id": r.event_id, "timestamp": r.timestamp, "event_type": r.event_type,
        "severity": r.severity, "actor_id": r.actor_id, "actor_type": r.actor_type,
        "actor_name": r.actor_name, "action": r.action, "resource_type": r.resource_type,
        "resource_id": r.resource_id, "result": r.result, "error_message": r.error_message,
        "ip_address": r.ip_address, "user_agent": r.user_agent, "request_id": r.request_id,
        "metadata": serde_json::from_str::<Value>(&r.metadata).unwrap_or(Value::Null),
        "previous_hash": r.previous_hash, "event_hash": r.event_hash,
    })
}

/// Permission: audit.view. Newest first, keyset paging with `after`.
pub async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::AuditView)?;
    let filter = q.filter()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::field("limit", "between 1 and 500").into());
    }
    let after = match q.after.as_deref() {
        Some(a) => Some(
            AuditCursor::decode(a)
                .ok_or_else(|| AppError::field("after", "not a cursor this API gave"))?,
        ),
        None => None,
    };
    let (rows, next) = audit_db::list(&state.db, &filter, after, limit).await?;
    Ok(Json(json!({
        "items": rows.iter().map(row_json).collect::<Vec<_>>(),
        "next_cursor": next.map(|c| c.encode()),
    })))
}

/// Permission: audit.verify. Checks the chain (optionally a time range) against the latest
/// signed anchor.
pub async fn verify_chain(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::AuditVerify)?;
    let range = match (q.from, q.to) {
        (None, None) => None,
        (from, to) => Some((
            from.unwrap_or(DateTime::<Utc>::MIN_UTC),
            to.unwrap_or_else(Utc::now),
        )),
    };
    let mut redis = state.redis.clone();
    let anchor = latest_anchor(
        &state.config.data_dir,
        Some(&mut redis),
        &state.config.audit_anchor_key,
    )
    .await
    .map_err(|e| internal(format!("audit anchor: {e:#}")))?;
    let report = verify(&state.db, range, anchor.as_ref(), |_, _| {}).await?;
    Ok(Json(serde_json::to_value(report).map_err(internal)?))
}

/// Permission: audit.export. Streams CSV or JSON lines of the filtered range; the export
/// itself is audited.
pub async fn export_rows(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let me = caller.require(Permission::AuditExport)?;
    let filter = q.filter()?;
    let format = export::ExportFormat::parse(q.format.as_deref().unwrap_or("csv"))
        .ok_or_else(|| AppError::field("format", "csv or jsonl"))?;
    let stream = export::export(&state.db, &filter, format, me.actor()).await?;
    let name = format!(
        "audit-{}.{}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        if format == export::ExportFormat::Csv {
            "csv"
        } else {
            "jsonl"
        }
    );
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
