//! The Sessions page's server functions, all under sessions.manage; the revocations are
//! `backend::sessions`'.

use leptos::prelude::*;
use uuid::Uuid;

use super::{SessionList, SessionQuery};
use crate::error::AppError;

crate::guard!(ListSessions, SessionsManage);

/// One page of the live sessions matching the filters (`SessionQuery`'s fields: an unknown
/// value or a cursor this list did not give is a field error naming the parameter) and the
/// next page's cursor. Permission: sessions.manage.
#[server(prefix = "/api/sessions", endpoint = "list_sessions")]
pub async fn list_sessions(
    #[server(default)] query: SessionQuery,
) -> Result<SessionList, AppError> {
    use crate::{
        backend::{auth::require_for, db::list, db::sessions::SessionList, state},
        components::list::PAGE_SIZE,
    };
    let me = require_for::<ListSessions>().await?;
    let state = state::current()?;
    list::read_page::<SessionList>(&state, me.user_id, &query, PAGE_SIZE).await
}

crate::guard!(RevokeSession, SessionsManage);

/// Revokes one live session; `NotFound` if it is not live. Permission: sessions.manage.
#[server(prefix = "/api/sessions", endpoint = "revoke_session")]
pub async fn revoke_session(session_id: Uuid) -> Result<(), AppError> {
    use crate::backend::{auth::require_for, sessions, state};
    let me = require_for::<RevokeSession>().await?;
    sessions::revoke(&state::current()?.db, &me, session_id).await
}

crate::guard!(RevokeUserSessions, SessionsManage);

/// Revokes every live session of a user (but not the caller's own current one); returns how
/// many. Permission: sessions.manage.
#[server(prefix = "/api/sessions", endpoint = "revoke_user_sessions")]
pub async fn revoke_user_sessions(user_id: Uuid) -> Result<u64, AppError> {
    use crate::backend::{auth::require_for, sessions, state};
    let me = require_for::<RevokeUserSessions>().await?;
    sessions::revoke_all_of(&state::current()?.db, &me, user_id).await
}
