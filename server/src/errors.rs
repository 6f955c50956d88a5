//! How the server answers an `AppError`, in one place: the status and `Retry-After` each error
//! stands for, in the body its client reads. Internal errors were logged where they arose;
//! none of these bodies carries more than the error's message and the request id.

use app::{backend::context::request_id, error::AppError};
use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

/// Who reads the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A server function's caller: the `AppError` itself, as JSON (the browser decodes it).
    ServerFn,
    /// A REST client: `{"error": {"code", "message", "request_id"}}`.
    Api,
    /// A download: plain text, one line per refused field.
    Text,
}

/// The status `err` stands for, and its `Retry-After`, on a response head.
pub fn set_head(err: &AppError, status: &mut StatusCode, headers: &mut HeaderMap) {
    *status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(secs) = err.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// The whole answer to `err` for `reader`.
pub fn respond(err: &AppError, reader: Reader) -> Response {
    let response = match reader {
        Reader::ServerFn => Json(err).into_response(),
        Reader::Api => {
            let mut error = serde_json::json!({
                "code": err.code(),
                "message": err.to_string(),
                "request_id": request_id(),
            });
            // A refusal names each refused field, as the pages do.
            if let AppError::Validation { field_errors } = err {
                error["fields"] = serde_json::json!(field_errors);
            }
            Json(serde_json::json!({ "error": error })).into_response()
        }
        Reader::Text => {
            let message = match err {
                AppError::Validation { field_errors } => field_errors
                    .iter()
                    .map(|(field, m)| format!("{field}: {m}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                e => e.to_string(),
            };
            (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                message,
            )
                .into_response()
        }
    };
    let (mut parts, body) = response.into_parts();
    set_head(err, &mut parts.status, &mut parts.headers);
    Response::from_parts(parts, body)
}
