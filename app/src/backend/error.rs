//! Server-side failures become an `AppError` here, and their details go to the log, tagged
//! with the request id that the browser is shown instead.

use std::fmt::Display;

use crate::error::AppError;

use super::context::request_id;

/// Logs `err` with the request id and returns the opaque error the client may see.
pub fn internal(err: impl Display) -> AppError {
    let request_id = request_id();
    tracing::error!(%request_id, error = %err, "internal error");
    AppError::Internal { request_id }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => AppError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(request_id = %request_id(), error = %err, "database unavailable");
                AppError::Unavailable
            }
            _ => internal(err),
        }
    }
}

impl From<redis::RedisError> for AppError {
    fn from(err: redis::RedisError) -> Self {
        tracing::warn!(request_id = %request_id(), error = %err, "redis unavailable");
        AppError::Unavailable
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        internal(format!("{err:#}"))
    }
}

/// The name of the unique or check constraint a database error broke, if any.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}
