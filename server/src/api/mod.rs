//! The REST API under `/api/v1` (`deltran-console routes` lists it, `GET /api/v1/openapi.json`
//! describes it): JSON, bearer access tokens, the error shape
//! `{"error": {"code", "message", "request_id"}}`.
//!
//! Every route is declared once, with its permission, in `api()`: the router, the permission
//! guard in front of each handler, the OpenAPI document and the role × route matrix test all
//! read that one table. Each handler's first line checks its permission again.

mod audit;
mod auth;
mod banks;
mod compliance;
mod controls;
mod ledger;
pub mod openapi;
mod payments;
mod sessions;
mod settlements;
mod users;

use app::{
    auth::Permission,
    backend::{
        auth::{authorize, Identity},
        db::{
            banks::BankList,
            compliance::ComplianceList,
            controls::ControlHistory,
            list::{self, KeysetList},
            payments::PaymentList,
            sessions::SessionList,
            settlements::BatchList,
            users::UserList,
        },
        state::AppState,
        tokens,
    },
    error::AppError,
};
use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{header, request::Parts, Method},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::MethodRouter,
    Extension, Json, Router,
};
use openapi::{amount, integer, one_of, paging, path_id, query, query_list, text, time, Doc};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// An error answered in the API's shape.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::errors::respond(&self.0, crate::errors::Reader::Api)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON request body; one that is missing, not JSON or of the wrong shape is a 422 naming
/// `body`, in the API's error shape (axum's own rejection is plain text).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(body)) => Ok(Body(body)),
            Err(rejection) => Err(ApiError(AppError::field("body", rejection.body_text()))),
        }
    }
}

/// A query string read as the pages read theirs (`components::list::parse_query`: blank
/// values dropped, a repeated parameter's values joined); one that cannot be read is a 422
/// naming `query`.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        app::components::list::parse_query(parts.uri.query().unwrap_or_default())
            .map(Params)
            .map_err(|e| ApiError(AppError::field("query", e)))
    }
}

/// A list's parameters as the API takes them: its page's URL state, and `limit`.
#[derive(Debug, serde::Deserialize)]
pub struct ListParams<Q> {
    #[serde(flatten)]
    query: Q,
    limit: Option<String>,
}

/// `GET` of a list (`backend::db::list`): the list's permission first, then a page of `limit`
/// rows (default 50) as `{items, next_cursor}`, over the same engine as its page.
pub async fn list_route<L: KeysetList>(
    caller: Caller,
    State(state): State<AppState>,
    Params(p): Params<ListParams<L::Query>>,
) -> ApiResult<Json<Value>>
where
    L::Query: DeserializeOwned,
    L::Row: serde::Serialize,
{
    let me = caller.require(L::PERMISSION)?;
    let limit = limit(p.limit.as_deref(), 50)?;
    let page = list::read_page::<L>(&state, me.user_id, &p.query, limit).await?;
    Ok(Json(
        json!({ "items": page.rows, "next_cursor": page.next }),
    ))
}

/// The API's `limit` parameter: 1 to 500, `default` when not given.
pub fn limit(given: Option<&str>, default: u32) -> Result<u32, ApiError> {
    match given {
        None => Ok(default),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| ApiError(AppError::field("limit", "between 1 and 500"))),
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No identity needed (token issue and refresh, the OpenAPI document).
    Public,
    /// A valid access token whose role has the permission.
    Requires(Permission),
}

/// One row of the route table.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    pub method: Method,
    /// Under /api/v1, in OpenAPI template form (`/payments/{id}`).
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// Its parameters, body and answers, for the OpenAPI document.
    pub doc: Doc,
}

/// The caller of an authenticated route, as the guard resolved it.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl Caller {
    /// The first line of every authenticated handler.
    pub fn require(&self, permission: Permission) -> Result<&Identity, ApiError> {
        if self.0.may(permission) {
            Ok(&self.0)
        } else {
            Err(ApiError(AppError::Forbidden))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError(AppError::Unauthorized))
    }
}

/// Builds the router while recording the table.
pub struct Api {
    router: Router<AppState>,
    pub routes: Vec<RouteDoc>,
}

impl Api {
    fn route(
        mut self,
        (method, path): (Method, &'static str),
        access: Access,
        summary: &'static str,
        doc: Doc,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let guarded = handler.route_layer(middleware::from_fn(move |req: Request, next: Next| {
            guard(access, req, next)
        }));
        self.router = self.router.route(path, guarded);
        self.routes.push(RouteDoc {
            method,
            path,
            access,
            summary,
            doc,
        });
        self
    }
}

/// The audit log's filters (`AuditQuery`), for the document.
fn audit_filters() -> Vec<Value> {
    vec![
        query("actor", "A user id, or an actor's name exactly", text(200)),
        query("action", "An action exactly (`payment.cancel`)", text(200)),
        query(
            "resource_type",
            "A resource type exactly (`payment`)",
            text(200),
        ),
        query("resource_id", "A resource id exactly", text(200)),
        query("result", "The outcome", one_of(&app::audit::RESULTS)),
        query("from", "At or after this time", time()),
        query("to", "Before this time", time()),
    ]
}

/// A ledger path's number (a sequence or a block number).
fn ledger_number(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "path", "required": true, "description": description,
        "schema": { "type": "string", "pattern": "^[0-9]{1,19}$" }
    })
}

/// The API's route table.
pub fn api() -> Api {
    use app::{domain::*, payments::PaymentSort};
    use axum::routing::{delete, get, patch, post};
    use Access::*;
    use Method as M;
    let payment_statuses: Vec<&str> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    let currencies: Vec<&str> = Currency::ALL.iter().map(|c| c.code()).collect();
    let compliance: Vec<&str> = ComplianceStatus::ALL.iter().map(|c| c.as_str()).collect();
    let batch_statuses: Vec<&str> = SettlementStatus::ALL.iter().map(|s| s.as_str()).collect();
    let payment_sorts: Vec<&str> = PaymentSort::ALL.iter().map(|s| s.as_str()).collect();
    let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let entity_types: Vec<&str> = app::controls::EntityType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    Api {
        router: Router::new(),
        routes: Vec::new(),
    }
    .route(
        (M::POST, "/auth/token"),
        Public,
        "Exchange username, password (and one-time code) for an access and a refresh token",
        Doc::new().body::<auth::TokenRequest>().json::<app::backend::tokens::TokenPair>().errors(&[401]),
        post(auth::token),
    )
    .route(
        (M::POST, "/auth/refresh"),
        Public,
        "Exchange a refresh token for a new pair; the old one stops working",
        Doc::new().body::<auth::RefreshRequest>().json::<app::backend::tokens::TokenPair>().errors(&[401]),
        post(auth::refresh),
    )
    .route(
        (M::POST, "/auth/revoke"),
        Requires(Permission::SelfService),
        "End the session of the presented access token",
        Doc::new().no_content(),
        post(auth::revoke),
    )
    .route(
        (M::GET, "/me"),
        Requires(Permission::SelfService),
        "The caller: username, role and permissions",
        Doc::new().json::<app::auth::Me>(),
        get(auth::me),
    )
    .route(
        (M::GET, "/payments"),
        Requires(Permission::PaymentsView),
        "Payments, newest first unless `sort` says otherwise",
        Doc::new()
            .params([
                query("q", "The start of a reference, idempotency key or SWIFT message id", text(140)),
                query_list("status", "Any of these statuses", &payment_statuses),
                query("currency", "ISO 4217", one_of(&currencies)),
                query("bank", "The sender or receiver bank: its id, its BIC or part of its name", text(140)),
                query("account", "The sender or receiver account's id", json!({ "type": "string", "format": "uuid" })),
                query("batch", "A settlement batch's id or reference", text(140)),
                query("from", "Created at or after", time()),
                query("to", "Created before", time()),
                query("min_amount", "At least this amount", amount()),
                query("max_amount", "At most this amount", amount()),
                query("min_risk", "A risk score of at least this", integer(0, 100)),
                query("compliance", "The deciding compliance check's status", one_of(&compliance)),
                query("sort", "The order", one_of(&payment_sorts)),
            ])
            .params(paging())
            .page::<app::payments::PaymentRow>(),
        get(list_route::<PaymentList>),
    )
    .route(
        (M::GET, "/payments/{id}"),
        Requires(Permission::PaymentsView),
        "A payment with its compliance checks and its timeline",
        Doc::new().params([path_id("payment")]).json::<app::payments::PaymentDetail>().errors(&[404]),
        get(payments::detail),
    )
    .route(
        (M::POST, "/payments/{id}/cancel"),
        Requires(Permission::PaymentsCancel),
        "Cancel a pending payment with a reason (1-500 characters); 409 unless pending",
        Doc::new()
            .params([path_id("payment")])
            .body::<payments::CancelRequest>()
            .no_content()
            .errors(&[404, 409]),
        post(payments::cancel),
    )
    .route(
        (M::GET, "/banks"),
        Requires(Permission::BanksView),
        "Banks by name unless `sort` says otherwise",
        Doc::new()
            .params([
                query("q", "Part of the name or BIC, any case", text(100)),
                query("country", "ISO 3166 alpha-2", json!({ "type": "string", "pattern": "^[A-Za-z]{2}$" })),
                query("kyc", "The KYC status", one_of(&app::banks::KYC_STATUSES)),
                query("risk", "The risk rating", one_of(&app::banks::RISK_RATINGS)),
                query("active", "Active or not", one_of(&["true", "false"])),
                query("sort", "The order", one_of(&["name", "bic", "country"])),
            ])
            .params(paging())
            .page::<app::banks::BankRow>(),
        get(list_route::<BankList>),
    )
    .route(
        (M::GET, "/banks/{id}/accounts"),
        Requires(Permission::BanksView),
        "A bank's settlement accounts with their balance, available and reserved amounts",
        Doc::new().params([path_id("bank")]).list::<app::banks::Account>().errors(&[404]),
        get(banks::accounts),
    )
    .route(
        (M::GET, "/settlements"),
        Requires(Permission::SettlementsView),
        "Settlement batches, newest first unless `sort` says otherwise",
        Doc::new()
            .params([
                query_list("status", "Any of these statuses", &batch_statuses),
                query("currency", "ISO 4217", one_of(&currencies)),
                query("corridor", "The corridor, exactly", text(100)),
                query("batch_type", "The batch type, exactly", text(100)),
                query("bank", "Batches with a payment of this bank (its id)", json!({ "type": "string", "format": "uuid" })),
                query("from", "Created at or after", time()),
                query("to", "Created before", time()),
                query("sort", "The order", one_of(&["newest", "oldest", "largest"])),
            ])
            .params(paging())
            .page::<app::settlements::BatchRow>(),
        get(list_route::<BatchList>),
    )
    .route(
        (M::GET, "/settlements/{id}"),
        Requires(Permission::SettlementsView),
        "A batch with every participating bank's sends, receives and net position, its netting and what disagrees with its payments",
        Doc::new().params([path_id("batch")]).json::<app::settlements::BatchDetail>().errors(&[404]),
        get(settlements::detail),
    )
    .route(
        (M::GET, "/compliance"),
        Requires(Permission::ComplianceView),
        "Compliance checks with their payments, oldest first unless `sort` says otherwise; `requires_review=true` is the review queue",
        Doc::new()
            .params([
                query("requires_review", "`true`: awaiting a decision (the queue); `false`: the others; `any`: every check", one_of(&["true", "false", "any"])),
                query_list("check_type", "Any of these check types", &app::compliance::CHECK_TYPES),
                query_list("status", "Any of these statuses", &compliance),
                query("min_risk", "A risk score of at least this", integer(0, 100)),
                query("matched_list", "A list the check matched, exactly", text(100)),
                query("bank", "The payment's sender or receiver bank: its id, its BIC or part of its name", text(140)),
                query("from", "Started at or after", time()),
                query("to", "Started before", time()),
                query("sort", "The order", one_of(&["oldest", "newest", "riskiest"])),
            ])
            .params(paging())
            .page::<app::compliance::ComplianceRow>(),
        get(list_route::<ComplianceList>),
    )
    .route(
        (M::GET, "/compliance/{id}"),
        Requires(Permission::ComplianceView),
        "A case: the check, its payment and parties, the payment's other checks, the sender bank's last 20 earlier checks, the live claim and a pass waiting for approval",
        Doc::new().params([path_id("compliance check")]).json::<app::compliance::Case>().errors(&[404]),
        get(compliance::case),
    )
    .route(
        (M::POST, "/compliance/{id}/claim"),
        Requires(Permission::ComplianceReview),
        "Claim a case for 15 minutes (again: renew it); 409 naming the holder when someone else holds it",
        Doc::new().params([path_id("compliance check")]).json::<app::compliance::Claim>().errors(&[404, 409]),
        post(compliance::claim),
    )
    .route(
        (M::POST, "/compliance/{id}/review"),
        Requires(Permission::ComplianceReview),
        "Decide a check awaiting review: pass or fail with a note (10-2000 characters); a fail stops a payment that has not settled; a pass of a sanctions or PEP check waits for a second reviewer",
        Doc::new()
            .params([path_id("compliance check")])
            .body::<compliance::ReviewRequest>()
            .json::<app::compliance::ReviewOutcome>()
            .errors(&[404, 409]),
        post(compliance::review),
    )
    .route(
        (M::POST, "/compliance/{id}/approve"),
        Requires(Permission::ComplianceReview),
        "Approve someone else's pass waiting for a second reviewer (the check passes); 403 for one's own",
        Doc::new()
            .params([path_id("compliance check")])
            .body::<compliance::AnswerRequest>()
            .no_content()
            .errors(&[404, 409]),
        post(compliance::approve),
    )
    .route(
        (M::POST, "/compliance/{id}/reject"),
        Requires(Permission::ComplianceReview),
        "Reject someone else's pass waiting for a second reviewer (the check is undecided again); 403 for one's own",
        Doc::new()
            .params([path_id("compliance check")])
            .body::<compliance::AnswerRequest>()
            .no_content()
            .errors(&[404, 409]),
        post(compliance::reject),
    )
    .route(
        (M::GET, "/controls"),
        Requires(Permission::ControlsView),
        "The controls in force with their Redis copies and TTLs read live, the requests waiting for approval, and the rate limits with their live counters",
        Doc::new().json::<app::controls::ControlsOverview>(),
        get(controls::overview),
    )
    .route(
        (M::POST, "/controls"),
        Requires(Permission::ControlsApply),
        "Freeze, unfreeze, throttle or unthrottle (201: in force now), or ask to block or unblock (202: waits for another person's approval); 409 when nothing would change",
        Doc::new()
            .body::<app::controls::ControlOrder>()
            .created::<app::controls::ControlOutcome>()
            .also(202)
            .errors(&[409]),
        post(controls::order),
    )
    .route(
        (M::POST, "/controls/requests/{id}/approve"),
        Requires(Permission::ControlsApprove),
        "Approve someone else's block or unblock request with a note (10-500 characters); 403 for one's own",
        Doc::new()
            .params([path_id("request")])
            .body::<controls::DecisionRequest>()
            .json::<controls::Decided>()
            .errors(&[404, 409]),
        post(controls::approve),
    )
    .route(
        (M::POST, "/controls/requests/{id}/reject"),
        Requires(Permission::ControlsApprove),
        "Reject someone else's block or unblock request with a note (10-500 characters); 403 for one's own",
        Doc::new()
            .params([path_id("request")])
            .body::<controls::DecisionRequest>()
            .json::<controls::Decided>()
            .errors(&[404]),
        post(controls::reject),
    )
    .route(
        (M::POST, "/controls/reconcile"),
        Requires(Permission::ControlsApply),
        "Compare every Redis copy of a control with Postgres and repair what differs",
        Doc::new().json::<app::controls::ReconcileReport>(),
        post(controls::reconcile),
    )
    .route(
        (M::POST, "/controls/circuits/{service}/reset"),
        Requires(Permission::ControlsApply),
        "Close a payment service's circuit breaker with a reason (10-500 characters); 404 for a service with no circuit",
        Doc::new()
            .params([json!({
                "name": "service", "in": "path", "required": true,
                "description": "The service, as its circuit key names it",
                "schema": { "type": "string", "pattern": "^[a-z0-9._-]{1,64}$" }
            })])
            .body::<controls::ResetRequest>()
            .no_content()
            .errors(&[404]),
        post(controls::reset_circuit),
    )
    .route(
        (M::GET, "/controls/idempotency/{key}"),
        Requires(Permission::ControlsView),
        "What an idempotency key names: Redis' copy (payment id, status, TTL) beside the payment Postgres holds under it",
        Doc::new()
            .params([json!({
                "name": "key", "in": "path", "required": true,
                "description": "The idempotency key",
                "schema": { "type": "string", "minLength": 1, "maxLength": 200 }
            })])
            .json::<app::controls::IdempotencyRecord>(),
        get(controls::idempotency),
    )
    .route(
        (M::GET, "/controls/history"),
        Requires(Permission::ControlsView),
        "Every control action from the audit trail, newest first",
        Doc::new()
            .params([
                query("entity_type", "The entity's type", one_of(&entity_types)),
                query("entity_id", "The entity's id, exactly (with entity_type)", text(100)),
                query("action", "The action", one_of(&app::controls::HISTORY_ACTIONS)),
                query("from", "At or after", time()),
                query("to", "Before", time()),
            ])
            .params(paging())
            .page::<app::controls::HistoryRow>(),
        get(list_route::<ControlHistory>),
    )
    .route(
        (M::GET, "/ledger/events"),
        Requires(Permission::LedgerView),
        "Ledger events, newest first unless `sort=oldest`; `after` is a sequence (the `next_cursor` of the previous page)",
        Doc::new()
            .params([
                query("payment_id", "The payment's id", json!({ "type": "string", "format": "uuid" })),
                query("event_type", "The event type, exactly", json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$" })),
                query("from", "At or after", time()),
                query("to", "Before", time()),
                query("sort", "The order", one_of(&["newest", "oldest"])),
                query("limit", "Events per page (default 50)", integer(1, 500)),
                query("after", "The `next_cursor` of the previous page (a sequence)", json!({ "type": "string", "pattern": "^[0-9]{1,19}$" })),
            ])
            .page::<app::ledger::LedgerEvent>(),
        get(ledger::events),
    )
    .route(
        (M::GET, "/ledger/events/{seq}/proof"),
        Requires(Permission::LedgerView),
        "An event's RFC 6962 inclusion proof in its block (api.md's format); 409 while the event is not sealed",
        Doc::new()
            .params([ledger_number("seq", "The event's sequence number")])
            .json::<app::ledger::InclusionProof>()
            .errors(&[404, 409]),
        get(ledger::proof),
    )
    .route(
        (M::GET, "/ledger/blocks/{number}"),
        Requires(Permission::LedgerView),
        "A sealed block (number, parent hash, Merkle root, sequence range, time, hash) with its first 200 events",
        Doc::new()
            .params([ledger_number("number", "The block's number (from 0)")])
            .json::<app::ledger::BlockDetail>()
            .errors(&[404]),
        get(ledger::block),
    )
    .route(
        (M::GET, "/ledger/checkpoint"),
        Requires(Permission::LedgerView),
        "The latest signed checkpoint of the chain tree over every block's hash (size, root, time, HMAC-SHA256 signature), with whether its signature and root check today",
        Doc::new().json::<app::ledger::CheckpointStatus>().errors(&[404]),
        get(ledger::checkpoint),
    )
    .route(
        (M::GET, "/ledger/consistency"),
        Requires(Permission::LedgerView),
        "RFC 6962 consistency proof that the chain tree of `to` blocks extends the one of `from` blocks (0 < from ≤ to ≤ blocks sealed)",
        Doc::new()
            .params([
                json!({ "name": "from", "in": "query", "required": true, "description": "The older tree's size (blocks)", "schema": { "type": "string", "pattern": "^[0-9]{1,19}$" } }),
                json!({ "name": "to", "in": "query", "required": true, "description": "The newer tree's size (blocks)", "schema": { "type": "string", "pattern": "^[0-9]{1,19}$" } }),
            ])
            .json::<app::ledger::ConsistencyProof>(),
        get(ledger::consistency),
    )
    .route(
        (M::GET, "/storage/stats"),
        Requires(Permission::LedgerView),
        "RocksDB's figures per column family of the ledger (estimated keys, live and total SST bytes, memtable bytes, pending compaction, compression) and the block cache's usage",
        Doc::new().json::<app::ledger::StorageStats>(),
        get(ledger::storage_stats),
    )
    .route(
        (M::GET, "/system"),
        Requires(Permission::SystemView),
        "PostgreSQL's and Redis' health as the console sees them: server, connections, tables, indexes, long queries, lock waits, replication; role, memory, clients, throughput, slow log, keys per namespace",
        Doc::new().json::<app::system::SystemHealth>(),
        get(system),
    )
    .route(
        (M::GET, "/audit"),
        Requires(Permission::AuditView),
        "Audit rows, newest first",
        Doc::new().params(audit_filters()).params(paging()).page::<app::audit::AuditRow>(),
        get(audit::list),
    )
    .route(
        (M::GET, "/audit/verify"),
        Requires(Permission::AuditVerify),
        "Verify the hash chain (optionally from..to) against the latest signed anchor",
        Doc::new()
            .params([query("from", "From this time", time()), query("to", "Before this time", time())])
            .json::<app::audit::VerifyReport>(),
        get(audit::verify_chain),
    )
    .route(
        (M::GET, "/audit/export"),
        Requires(Permission::AuditExport),
        "Stream the filtered rows as CSV or JSON lines; the export is audited",
        Doc::new()
            .params(audit_filters())
            .params([query("format", "The file's format (default csv)", one_of(&["csv", "jsonl"]))])
            .file(&["text/csv", "application/x-ndjson"]),
        get(audit::export_rows),
    )
    .route(
        (M::GET, "/users"),
        Requires(Permission::UsersView),
        "Users by username unless `sort` says otherwise",
        Doc::new()
            .params([
                query("q", "Part of the username or e-mail, any case", text(100)),
                query("role", "The role", one_of(&roles)),
                query("status", "Active, inactive or locked", one_of(&["active", "inactive", "locked"])),
                query("tfa", "Two-factor sign-in on or off", one_of(&["on", "off"])),
                query("sort", "The order", one_of(&["username", "last_sign_in", "created"])),
            ])
            .params(paging())
            .page::<app::users::UserRow>(),
        get(list_route::<UserList>),
    )
    .route(
        (M::POST, "/users"),
        Requires(Permission::UsersManage),
        "Create a user (not an admin: raising to admin takes a second admin); every refused field at once",
        Doc::new().body::<users::NewUser>().created::<users::Created>(),
        post(users::create),
    )
    .route(
        (M::PATCH, "/users/{id}"),
        Requires(Permission::UsersManage),
        "Change a user: a role with a reason, or is_active; one change per request",
        Doc::new()
            .params([path_id("user")])
            .body::<users::UserChange>()
            .json::<users::ChangeOutcome>()
            .errors(&[404, 409]),
        patch(users::update),
    )
    .route(
        (M::GET, "/sessions"),
        Requires(Permission::SessionsManage),
        "Everyone's live sessions, most recently active first unless `sort` says otherwise",
        Doc::new()
            .params([
                query("user", "Part of the username, any case", text(100)),
                query("kind", "Browser or API", one_of(&["browser", "api"])),
                query("sort", "The order", one_of(&["last_activity", "created"])),
            ])
            .params(paging())
            .page::<app::sessions::SessionRow>(),
        get(list_route::<SessionList>),
    )
    .route(
        (M::DELETE, "/sessions/{id}"),
        Requires(Permission::SessionsManage),
        "Revoke a live session",
        Doc::new().params([path_id("session")]).no_content().errors(&[404]),
        delete(sessions::revoke),
    )
    .route(
        (M::GET, "/openapi.json"),
        Public,
        "This API's OpenAPI 3.1 description",
        Doc::new().json_any(),
        get(openapi::document),
    )
}

/// Permission: system.view. PostgreSQL's and Redis' health, read now.
async fn system(
    caller: Caller,
    State(state): State<AppState>,
) -> ApiResult<Json<app::system::SystemHealth>> {
    caller.require(Permission::SystemView)?;
    Ok(Json(app::backend::system::health(&state).await?))
}

/// The API mounted under `/api/v1`, with unknown paths answering in the API's shape.
pub fn router(state: AppState) -> Router {
    let Api { router, .. } = api();
    Router::new()
        .nest(
            "/api/v1",
            router.fallback(|| async { ApiError(AppError::NotFound) }),
        )
        .layer(Extension(state.clone()))
        .with_state(state)
}

/// The permission guard in front of each route: resolves the bearer token and checks the
/// route's permission before the handler (and its argument parsing) runs.
async fn guard(access: Access, mut req: Request, next: Next) -> Response {
    let Access::Requires(permission) = access else {
        return next.run(req).await;
    };
    let Some(state) = req.extensions().get::<AppState>().cloned() else {
        return ApiError(AppError::Unavailable).into_response();
    };
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string);
    let Some(bearer) = bearer else {
        return ApiError(AppError::Unauthorized).into_response();
    };
    let identity = match tokens::identify(&state, &bearer).await {
        Ok(identity) => identity,
        Err(e) => return ApiError(e).into_response(),
    };
    match authorize(&state.db, identity, permission).await {
        Ok(identity) => {
            let (user, reads_only) = (identity.user_id, req.method() == Method::GET);
            req.extensions_mut().insert(Caller(identity));
            let response = next.run(req).await;
            // The caller's next reads see their change (`backend::replica`).
            if !reads_only {
                state.reads.wrote(user);
            }
            response
        }
        Err(e) => ApiError(e).into_response(),
    }
}
