//! `/api/v1/users`: creating a user and changing one, over the same backend calls as the Users
//! page (`backend::users`: its validation, rules and audit rows; the list is
//! `api::list_route`).

use app::{
    auth::Permission,
    backend::{state::AppState, users as service},
    error::{parse_id, AppError},
    users::RoleChangeOutcome,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};

use super::{ApiResult, Body, Caller};

/// A new user. Nobody starts as admin here: raising to admin takes a second admin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    #[schema(pattern = "^[a-z0-9._-]{3,64}$")]
    username: String,
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// operator, auditor or viewer.
    #[schema(pattern = "^(operator|auditor|viewer)$")]
    role: String,
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

/// The id of what was created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    id: uuid::Uuid,
}

/// Permission: users.manage. 201 `{id}`; every refused field at once (422), a taken username
/// or e-mail included.
pub async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Body(new): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let me = caller.require(Permission::UsersManage)?;
    let input = service::NewUserInput {
        username: &new.username,
        email: &new.email,
        role: &new.role,
        password: &new.password,
    };
    let id = service::create(
        &state.db,
        input,
        me.actor(),
        service::AdminCreation::Refused,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// One change to a user: a new role (with a reason), or activation. Reactivating an admin
/// takes the caller's own password and one-time code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UserChange {
    #[schema(pattern = "^(admin|operator|auditor|viewer)$")]
    role: Option<String>,
    reason: Option<String>,
    is_active: Option<bool>,
    own_password: Option<String>,
    own_code: Option<String>,
}

/// What a change came to: `role` is `Changed`, or `Pending` while raising to admin waits for a
/// second admin.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeOutcome {
    role: Option<RoleChangeOutcome>,
    is_active: Option<bool>,
}

/// Permission: users.manage. One change per request (a role, or activation); nobody changes
/// their own account here; the last admin stays.
pub async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(change): Body<UserChange>,
) -> ApiResult<Json<ChangeOutcome>> {
    let me = caller.require(Permission::UsersManage)?;
    let id = parse_id(&id, "user")?;
    let outcome = match (change.role, change.is_active) {
        (Some(role), None) => {
            let reason = change.reason.unwrap_or_default();
            let role = service::change_role(&state, me, id, role, reason).await?;
            ChangeOutcome {
                role: Some(role),
                is_active: None,
            }
        }
        (None, Some(false)) => {
            service::deactivate(&state, me, id).await?;
            ChangeOutcome {
                role: None,
                is_active: Some(false),
            }
        }
        (None, Some(true)) => {
            service::activate(&state, me, id, change.own_password, change.own_code).await?;
            ChangeOutcome {
                role: None,
                is_active: Some(true),
            }
        }
        _ => return Err(AppError::field("body", "give one change: a role, or is_active").into()),
    };
    Ok(Json(outcome))
}
