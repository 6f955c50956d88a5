//! Console users.

use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    backend::{
        audit::{self, Actor, AuditEvent},
        error::violated_constraint,
    },
    domain::Role,
    error::AppError,
};

/// A user to create; username and e-mail already parsed, the password already hashed.
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

/// Creates a user and its audit row in the caller's transaction. A taken username or
/// e-mail is a field error, not a failure.
pub async fn create(
    tx: &mut Transaction<'_, Postgres>,
    user: &NewUser,
    actor: Actor,
) -> Result<Uuid, AppError> {
    let inserted = sqlx::query_scalar::<_, Uuid>(
        "INSERT INTO deltran.users (username, email, password_hash, role) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&user.username)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(user.role)
    .fetch_one(&mut **tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(err) => {
            return Err(match violated_constraint(&err) {
                Some(c) if c.contains("username") => {
                    AppError::field("username", "this username is taken")
                }
                Some(c) if c.contains("email") => {
                    AppError::field("email", "a user with this e-mail already exists")
                }
                _ => err.into(),
            })
        }
    };
    audit::record(
        tx,
        AuditEvent::new(actor, "user.create", "user", Some(id.to_string()))
            .metadata(json!({ "username": user.username, "role": user.role.as_str() })),
    )
    .await?;
    Ok(id)
}
