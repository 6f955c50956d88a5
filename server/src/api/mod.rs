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
pub mod openapi;
mod payments;
mod settlements;

use app::{
    auth::Permission,
    backend::{auth::authorize, auth::Identity, state::AppState, tokens},
    error::AppError,
};
use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, Method},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::MethodRouter,
    Extension, Json, Router,
};
use serde::de::DeserializeOwned;

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
        method: Method,
        path: &'static str,
        access: Access,
        summary: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let axum_path = path.to_string();
        let guarded = handler.route_layer(middleware::from_fn(move |req: Request, next: Next| {
            guard(access, req, next)
        }));
        self.router = self.router.route(&axum_path, guarded);
        self.routes.push(RouteDoc {
            method,
            path,
            access,
            summary,
        });
        self
    }
}

/// The API's route table.
pub fn api() -> Api {
    use axum::routing::{get, post};
    use Access::*;
    Api {
        router: Router::new(),
        routes: Vec::new(),
    }
    .route(
        Method::POST,
        "/auth/token",
        Public,
        "Exchange username, password (and one-time code) for an access and a refresh token",
        post(auth::token),
    )
    .route(
        Method::POST,
        "/auth/refresh",
        Public,
        "Exchange a refresh token for a new pair; the old one stops working",
        post(auth::refresh),
    )
    .route(
        Method::POST,
        "/auth/revoke",
        Requires(Permission::SelfService),
        "End the session of the presented access token",
        post(auth::revoke),
    )
    .route(
        Method::GET,
        "/me",
        Requires(Permission::SelfService),
        "The caller: username, role and permissions",
        get(auth::me),
    )
    .route(
        Method::GET,
        "/payments",
        Requires(Permission::PaymentsView),
        "Payments, newest first unless `sort` says otherwise; filters q, status (comma-separated), currency, bank, account, batch, from, to, min_amount, max_amount, min_risk, compliance; `limit` up to 500, cursor `after`",
        get(payments::list),
    )
    .route(
        Method::GET,
        "/payments/{id}",
        Requires(Permission::PaymentsView),
        "A payment with its compliance checks and its timeline",
        get(payments::detail),
    )
    .route(
        Method::POST,
        "/payments/{id}/cancel",
        Requires(Permission::PaymentsCancel),
        "Cancel a pending payment with a reason (1-500 characters); 409 unless pending",
        post(payments::cancel),
    )
    .route(
        Method::GET,
        "/banks",
        Requires(Permission::BanksView),
        "Banks by name unless `sort` says otherwise (bic, country); filters q (name or BIC), country, kyc, risk, active; `limit` up to 500, cursor `after`",
        get(banks::list),
    )
    .route(
        Method::GET,
        "/banks/{id}/accounts",
        Requires(Permission::BanksView),
        "A bank's settlement accounts with their balance, available and reserved amounts",
        get(banks::accounts),
    )
    .route(
        Method::GET,
        "/settlements",
        Requires(Permission::SettlementsView),
        "Settlement batches, newest first unless `sort` says otherwise (oldest, largest); filters status (comma-separated), currency, corridor, batch_type, bank, from, to; `limit` up to 500, cursor `after`",
        get(settlements::list),
    )
    .route(
        Method::GET,
        "/settlements/{id}",
        Requires(Permission::SettlementsView),
        "A batch with every participating bank's sends, receives and net position, its netting and what disagrees with its payments",
        get(settlements::detail),
    )
    .route(
        Method::GET,
        "/audit",
        Requires(Permission::AuditView),
        "Audit rows, newest first; filters actor, action, resource_type, resource_id, result, from, to; cursor `after`",
        get(audit::list),
    )
    .route(
        Method::GET,
        "/audit/verify",
        Requires(Permission::AuditVerify),
        "Verify the hash chain (optionally from..to) against the latest signed anchor",
        get(audit::verify_chain),
    )
    .route(
        Method::GET,
        "/audit/export",
        Requires(Permission::AuditExport),
        "Stream the filtered rows as CSV or JSON lines (format=csv|jsonl); the export is audited",
        get(audit::export_rows),
    )
    .route(
        Method::GET,
        "/openapi.json",
        Public,
        "This API's OpenAPI 3 description",
        get(openapi::document),
    )
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
            req.extensions_mut().insert(Caller(identity));
            next.run(req).await
        }
        Err(e) => ApiError(e).into_response(),
    }
}
