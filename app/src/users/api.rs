//! The Users page's server functions: the permission check, then one call of the users area
//! (`backend::users`, which validates, applies the rules and commits with the audit row).
//! Reading needs users.view; every change needs users.manage.

use leptos::prelude::*;
use uuid::Uuid;

use super::{RoleChangeOutcome, UserQuery, UsersOverview};
use crate::error::AppError;

#[cfg(feature = "ssr")]
mod imp {
    pub use crate::{
        backend::{auth::require_for, db::list, db::users, state, users as service},
        components::list::PAGE_SIZE,
    };
}

crate::guard!(ListUsers, UsersView);

/// One page of the users matching the filters (`UserQuery`'s fields: an unknown value or a
/// cursor this list did not give is a field error naming the parameter), the next page's
/// cursor, and every pending role change. Permission: users.view.
#[server(prefix = "/api/users", endpoint = "list_users")]
pub async fn list_users(#[server(default)] query: UserQuery) -> Result<UsersOverview, AppError> {
    use imp::*;
    let me = require_for::<ListUsers>().await?;
    let state = state::current()?;
    let query = &query;
    state
        .read(Some(me.user_id), |db| async move {
            let page = list::page::<users::UserList>(&db, query, PAGE_SIZE).await?;
            Ok(UsersOverview {
                users: page.rows,
                next: page.next,
                pending: users::pending_role_changes(&db).await?,
            })
        })
        .await
}

crate::guard!(CreateUser, UsersManage);

/// Creates a user. A taken username or e-mail, a malformed field or a weak password is a
/// field error and writes nothing. Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "create_user")]
pub async fn create_user(
    username: String,
    email: String,
    role: String,
    password: String,
) -> Result<Uuid, AppError> {
    use imp::*;
    let me = require_for::<CreateUser>().await?;
    let state = state::current()?;
    let input = service::NewUserInput {
        username: &username,
        email: &email,
        role: &role,
        password: &password,
    };
    service::create(
        &state.db,
        input,
        me.actor(),
        service::AdminCreation::Refused,
    )
    .await
}

crate::guard!(ChangeRole, UsersManage);

/// Changes a user's role. Raising to admin only files a request that another admin must
/// approve; any other change takes effect at once and ends the user's sessions.
/// Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "change_role")]
pub async fn change_role(
    user_id: Uuid,
    role: String,
    reason: String,
) -> Result<RoleChangeOutcome, AppError> {
    use imp::*;
    let me = require_for::<ChangeRole>().await?;
    service::change_role(&state::current()?, &me, user_id, role, reason).await
}

crate::guard!(ApproveRoleChange, UsersManage);

/// Approves another admin's pending role change: the role takes effect and the user's
/// sessions end. Nobody approves their own request, nor a change of their own role.
/// Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "approve_role_change")]
pub async fn approve_role_change(request_id: Uuid) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<ApproveRoleChange>().await?;
    service::decide_role_change(&state::current()?, &me, request_id, true).await
}

crate::guard!(RejectRoleChange, UsersManage);

/// Rejects a pending role change (someone else's). Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "reject_role_change")]
pub async fn reject_role_change(request_id: Uuid) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<RejectRoleChange>().await?;
    service::decide_role_change(&state::current()?, &me, request_id, false).await
}

crate::guard!(DeactivateUser, UsersManage);

/// Deactivates a user: they can no longer sign in and every session of theirs ends. Not
/// oneself, nor the last active admin. Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "deactivate_user")]
pub async fn deactivate_user(user_id: Uuid) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<DeactivateUser>().await?;
    service::deactivate(&state::current()?, &me, user_id).await
}

crate::guard!(ActivateUser, UsersManage);

/// Reactivates a user; an admin only with the caller's own password and one-time code
/// (`own_password`, `own_code`). Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "activate_user")]
pub async fn activate_user(
    user_id: Uuid,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<ActivateUser>().await?;
    service::activate(&state::current()?, &me, user_id, own_password, own_code).await
}

crate::guard!(UnlockUser, UsersManage);

/// Ends a sign-in lockout: forgets the username's failed sign-ins.
/// Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "unlock_user")]
pub async fn unlock_user(user_id: Uuid) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<UnlockUser>().await?;
    service::unlock(&state::current()?, &me, user_id).await
}

crate::guard!(ResetPassword, UsersManage);

/// Sets a new password for another user and ends their sessions; for an admin only with the
/// caller's own password and one-time code (`own_password`, `own_code`). One's own password
/// is changed on Profile, with the current one. Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "reset_password")]
pub async fn reset_password(
    user_id: Uuid,
    password: String,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<ResetPassword>().await?;
    let state = state::current()?;
    service::reset_password(&state, &me, user_id, password, own_password, own_code).await
}

crate::guard!(ResetTwoFactor, UsersManage);

/// Turns another user's two-factor sign-in off (secret and recovery codes forgotten), so they
/// can enrol again, and ends all their sessions; for an admin only with the caller's own
/// password and one-time code (`own_password`, `own_code`). Permission: users.manage.
#[server(prefix = "/api/users", endpoint = "reset_two_factor")]
pub async fn reset_two_factor(
    user_id: Uuid,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<(), AppError> {
    use imp::*;
    let me = require_for::<ResetTwoFactor>().await?;
    service::reset_two_factor(&state::current()?, &me, user_id, own_password, own_code).await
}
