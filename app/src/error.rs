//! The one error type that crosses the server boundary. Internal details never leave the
//! server: an `Internal` error carries only the request id to quote to an administrator.

use std::collections::BTreeMap;

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in.")]
    Unauthorized,
    /// A sign-in was refused; the same words whatever the reason.
    #[error("Invalid username or password.")]
    InvalidCredentials,
    #[error("You do not have permission to do that.")]
    Forbidden,
    /// An admin without two-factor authentication tried something beyond their own profile.
    #[error("Admins must set up two-factor authentication first: open Profile.")]
    TwoFactorRequired,
    #[error("Not found.")]
    NotFound,
    /// Input was refused; the map holds a message per field name.
    #[error("Please correct the highlighted fields.")]
    Validation {
        field_errors: BTreeMap<String, String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("Too many attempts. Try again in {retry_after_secs} seconds.")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("A service the console depends on is unavailable. Try again shortly.")]
    Unavailable,
    #[error("Something went wrong on our side (request {request_id}).")]
    Internal { request_id: String },
    /// The request never reached the handler or its answer could not be read.
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

/// Why a value with a NUL character is refused.
pub const NUL_REFUSED: &str = "must not contain a NUL character";

/// Field errors gathered while checking a form or a URL, so that every refused value is
/// reported at once rather than the first only.
#[derive(Debug, Default)]
pub struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    /// `value`, trimmed, read by `parse` when it is given (not missing or blank); `None` when
    /// not given, and when refused (the reason is kept under `field`).
    pub fn check<T>(
        &mut self,
        field: &str,
        value: &Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let given = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        self.parse(field, given, parse)
    }

    /// `value` read by `parse` (blank or not); `None` when refused (the reason is kept under
    /// `field`).
    pub fn parse<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        // No text the database keeps or compares may hold a NUL (Postgres refuses it).
        if value.contains('\0') {
            self.refuse(field, NUL_REFUSED);
            return None;
        }
        parse(value).map_err(|why| self.refuse(field, why)).ok()
    }

    /// Refuses `field` for `why` (the first reason given for a field stays).
    pub fn refuse(&mut self, field: &str, why: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| why.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `value` when nothing was refused, else a validation error naming every field.
    pub fn finish<T>(self, value: T) -> Result<T, AppError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(AppError::Validation {
                field_errors: self.0,
            })
        }
    }
}

/// A `what`'s id (a UUID) as a URL, a form or a filter gives it; refused: "not a bank id".
pub fn uuid_of(what: &str, text: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| format!("not a {what} id"))
}

/// An id from a URL or a form; a malformed one is a field error on `id` ("not a bank id").
pub fn parse_id(id: &str, what: &str) -> Result<uuid::Uuid, AppError> {
    uuid_of(what, id).map_err(|why| AppError::field("id", why))
}

impl AppError {
    /// A validation error about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field_errors: BTreeMap::from([(field.to_string(), message.into())]),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized | AppError::InvalidCredentials => 401,
            AppError::Forbidden | AppError::TwoFactorRequired => 403,
            AppError::NotFound => 404,
            AppError::Validation { .. } => 422,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests { .. } => 429,
            AppError::Unavailable => 503,
            AppError::Internal { .. } | AppError::Transport(_) => 500,
        }
    }

    /// The seconds a client should wait before trying again (`Retry-After`), where that is
    /// known: a rate limit's own, and a few seconds for a service that is briefly unavailable.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            AppError::Unavailable => Some(5),
            _ => None,
        }
    }

    /// The stable machine-readable code of the REST error shape.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden => "forbidden",
            AppError::TwoFactorRequired => "two_factor_required",
            AppError::NotFound => "not_found",
            AppError::Validation { .. } => "validation_failed",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::Unavailable => "unavailable",
            AppError::Internal { .. } | AppError::Transport(_) => "internal",
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The caller sent arguments the function cannot read: the request's fault (422),
            // not the server's (500).
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::field("arguments", value.to_string())
            }
            other => AppError::Transport(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_show_only_the_request_id() {
        let e = AppError::Internal {
            request_id: "r-1".into(),
        };
        assert_eq!(
            e.to_string(),
            "Something went wrong on our side (request r-1)."
        );
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn a_nul_character_is_refused_whatever_the_parser() {
        let mut refused = FieldErrors::default();
        let text = refused.check("q", &Some("a\0b".into()), |v| Ok(v.to_string()));
        assert_eq!(text, None);
        let Err(AppError::Validation { field_errors }) = refused.finish(()) else {
            panic!("a NUL passed");
        };
        assert_eq!(field_errors["q"], NUL_REFUSED);
    }

    #[test]
    fn field_errors_name_the_field() {
        let AppError::Validation { field_errors } = AppError::field("bic", "bad") else {
            panic!("not a validation error");
        };
        assert_eq!(field_errors["bic"], "bad");
        assert_eq!(AppError::field("x", "y").status(), 422);
    }

    #[test]
    fn unreadable_arguments_are_the_callers_fault() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::MissingArg("id".into()));
        assert_eq!(e.status(), 422);
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args("bad".into()));
        assert_eq!(e.status(), 422);
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Request("offline".into()));
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn unavailable_and_rate_limited_say_when_to_retry() {
        assert_eq!(AppError::Unavailable.retry_after(), Some(5));
        let limited = AppError::TooManyRequests {
            retry_after_secs: 7,
        };
        assert_eq!(limited.retry_after(), Some(7));
        assert_eq!(AppError::Forbidden.retry_after(), None);
    }
}
