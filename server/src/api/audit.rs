//! `/api/v1/audit`: the audit log, its verification and its export.

use app::{
    audit::AuditQuery,
    auth::Permission,
    backend::{
        audit::{anchor::console_anchor, export, verify::verify, AuditRow},
        db::{
            audit::AuditLog,
            list::{self, Page},
        },
        error::internal,
        state::AppState,
    },
    error::AppError,
};
use axum::{extract::State, response::Response, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Caller, Params};

/// The filters of `AuditQuery` plus the API's own `limit` and `format`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiAuditQuery {
    #[serde(flatten)]
    query: AuditQuery,
    limit: Option<String>,
    format: Option<String>,
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
    Params(q): Params<ApiAuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::AuditView)?;
    let limit = super::limit(q.limit.as_deref(), 100)?;
    let Page { rows, next } = list::page::<AuditLog>(&state.db, &q.query, limit).await?;
    Ok(Json(json!({
        "items": rows.iter().map(row_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// Permission: audit.verify. Checks the chain (optionally a time range) against the latest
/// signed anchor.
pub async fn verify_chain(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<ApiAuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::AuditVerify)?;
    let range = q.query.filter()?.time_range();
    let anchor = console_anchor(&state).await?;
    let report = verify(&state.db, range, anchor.as_ref(), |_, _| {}).await?;
    Ok(Json(serde_json::to_value(report).map_err(internal)?))
}

/// Permission: audit.export. Streams CSV or JSON lines of the filtered range; the export
/// itself is audited.
pub async fn export_rows(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<ApiAuditQuery>,
) -> ApiResult<Response> {
    let me = caller.require(Permission::AuditExport)?;
    let filter = q.query.filter()?;
    let format = export::ExportFormat::parse(q.format.as_deref().unwrap_or("csv"))
        .ok_or_else(|| AppError::field("format", "csv or jsonl"))?;
    Ok(crate::downloads::export_response(&state, &filter, format, me).await?)
}
