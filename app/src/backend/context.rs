//! What the current request is, for logs, errors and audit rows: set once by the server's
//! middleware for the whole request, read anywhere below it without passing it by hand.

use std::net::IpAddr;

tokio::task_local! {
    static CURRENT: RequestContext;
}

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The server's own id for the request (never the client's).
    pub request_id: String,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The `X-Request-Id` the client sent, when it is sane (to follow a request across
    /// services); audit rows keep it in their metadata as `client_request_id`.
    pub client_request_id: Option<String>,
}

impl RequestContext {
    /// Runs `fut` with this context as the current one.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The current request's context: the task's, else the one the page renderer was given
    /// (work it spawns runs in other tasks), else an empty one outside a request (CLI, jobs).
    pub fn current() -> RequestContext {
        CURRENT
            .try_with(Clone::clone)
            .ok()
            .or_else(leptos::prelude::use_context::<RequestContext>)
            .unwrap_or_default()
    }
}

/// The current request id, or `-` outside a request.
pub fn request_id() -> String {
    let id = RequestContext::current().request_id;
    if id.is_empty() {
        "-".into()
    } else {
        id
    }
}
