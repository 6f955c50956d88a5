//! The users area's rules, one call per change, shared by the Users page's server functions,
//! the REST API and the command line: validation, the transaction, the rules (the last
//! admin stays, nobody changes their own account here, raising to admin takes a second
//! admin, another admin's account takes re-authentication) and the audit row, committed
//! together. SQL is `db::users`'.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    audit::{self, Actor, AuditEvent, Severity},
    auth::{self, Identity},
    db::{sessions, twofactor, users},
    passwords,
    state::AppState,
};
use crate::{
    domain::{parse_email, parse_username, Role},
    error::{AppError, FieldErrors},
    users::RoleChangeOutcome,
};

/// What creating a user takes, as typed.
pub struct NewUserInput<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub password: &'a str,
}

/// Who may make an admin right away: the command line (to set up the first admin), never a
/// page, where raising to admin takes a second admin's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCreation {
    Allowed,
    Refused,
}

/// Creates a user and its audit row in one transaction. Every refused field is reported at
/// once and nothing is written; a taken username or e-mail is a field error too.
pub async fn create(
    db: &PgPool,
    input: NewUserInput<'_>,
    actor: Actor,
    admins: AdminCreation,
) -> Result<Uuid, AppError> {
    let mut refused = FieldErrors::default();
    let username = refused.parse("username", input.username, |u| {
        parse_username(u).map_err(|e| e.to_string())
    });
    let email = refused.parse("email", input.email, |e| {
        parse_email(e).map_err(|e| e.to_string())
    });
    let role = refused.parse("role", input.role, |r| {
        let role = r.parse::<Role>().map_err(|e| e.to_string())?;
        // Four eyes: nobody becomes admin on one admin's word, not even a new user.
        if role == Role::Admin && admins == AdminCreation::Refused {
            return Err(
                "a new user cannot start as admin: create them with another role, \
                        then raise them (another admin approves)"
                    .into(),
            );
        }
        Ok(role)
    });
    refused.parse("password", input.password, passwords::check_strength);
    let (Some(username), Some(email), Some(role)) = refused.finish((username, email, role))? else {
        unreachable!("every field parsed when none was refused");
    };
    let password_hash = passwords::hash(input.password.to_string()).await?;
    let mut tx = db.begin().await?;
    let new = users::NewUser {
        username,
        email,
        role,
        password_hash,
    };
    let id = users::create(&mut tx, &new, actor).await?;
    tx.commit().await?;
    Ok(id)
}

/// Changes a user's role. Raising to admin only files a request that another admin must
/// approve; any other change takes effect at once and ends the user's sessions.
///
pub async fn change_role(
    state: &AppState,
    me: &Identity,
    user_id: Uuid,
    role: String,
    reason: String,
) -> Result<RoleChangeOutcome, AppError> {
    let role: Role = role
        .parse()
        .map_err(|e: crate::domain::ParseError| AppError::field("role", e.to_string()))?;
    let reason = reason.trim().to_string();
    if reason.is_empty() {
        return Err(AppError::field("reason", "give a reason for the change"));
    }
    not_self(me, user_id, "change the role of")?;
    let mut tx = state.db.begin().await?;
    let admins = users::lock_active_admins(&mut tx).await?;
    let user = users::lock(&mut tx, user_id).await?;
    if user.role == role {
        return Err(AppError::field(
            "role",
            format!("{} is already {role}", user.username),
        ));
    }
    let outcome = if role == Role::Admin {
        let request = users::request_role_change(&mut tx, &user, role, &reason, me.user_id).await?;
        audit::record(
            &mut tx,
            about(me, "user.role_change_requested", user.id).metadata(json!({
                "request_id": request.to_string(),
                "from": user.role.as_str(),
                "to": role.as_str(),
                "reason": reason,
            })),
        )
        .await?;
        RoleChangeOutcome::Pending
    } else {
        keeps_an_admin(&admins, &user)?;
        users::set_role(&mut tx, user.id, role).await?;
        let ended = sessions::revoke_all_of(&mut tx, user.id, None, "role changed").await?;
        audit::record(
            &mut tx,
            about(me, "user.role_changed", user.id).metadata(json!({
                "from": user.role.as_str(),
                "to": role.as_str(),
                "reason": reason,
                "sessions_revoked": ended,
            })),
        )
        .await?;
        RoleChangeOutcome::Changed
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Approves (or rejects) another admin's pending role change: approved, the role takes
/// effect and the user's sessions end. Nobody decides their own request, nor a change of
/// their own role.
pub async fn decide_role_change(
    state: &AppState,
    me: &Identity,
    request_id: Uuid,
    approve: bool,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let request = users::lock_pending_request(&mut tx, request_id).await?;
    if request.requested_by == me.user_id {
        return Err(AppError::Conflict(
            "You cannot decide your own request; another admin must.".into(),
        ));
    }
    not_self(me, request.user_id, "decide a role change of")?;
    let admins = users::lock_active_admins(&mut tx).await?;
    let user = users::lock(&mut tx, request.user_id).await?;
    if approve && request.to_role != Role::Admin {
        keeps_an_admin(&admins, &user)?;
    }
    let status = if approve { "approved" } else { "rejected" };
    users::decide_role_change(&mut tx, request.id, status, me.user_id).await?;
    // Every row this changes first, the audit rows last: an append locks the chain's head
    // until the commit, and a transaction that then waited on a session row (a token refresh
    // holds its row while it appends) would deadlock with it.
    let ended = if approve {
        users::set_role(&mut tx, user.id, request.to_role).await?;
        Some(sessions::revoke_all_of(&mut tx, user.id, None, "role changed").await?)
    } else {
        None
    };
    let action = if approve {
        "user.role_change_approved"
    } else {
        "user.role_change_rejected"
    };
    audit::record(
        &mut tx,
        about(me, action, user.id).metadata(
            json!({ "request_id": request.id.to_string(), "to": request.to_role.as_str() }),
        ),
    )
    .await?;
    if let Some(ended) = ended {
        audit::record(
            &mut tx,
            about(me, "user.role_changed", user.id).metadata(json!({
                "from": user.role.as_str(),
                "to": request.to_role.as_str(),
                "request_id": request.id.to_string(),
                "sessions_revoked": ended,
            })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Deactivates a user: they can no longer sign in and every session of theirs ends. Not
/// oneself, nor the last active admin.
pub async fn deactivate(state: &AppState, me: &Identity, user_id: Uuid) -> Result<(), AppError> {
    not_self(me, user_id, "deactivate")?;
    let mut tx = state.db.begin().await?;
    let admins = users::lock_active_admins(&mut tx).await?;
    let user = users::lock(&mut tx, user_id).await?;
    if !user.is_active {
        return Err(AppError::Conflict(format!(
            "{} is already inactive.",
            user.username
        )));
    }
    keeps_an_admin(&admins, &user)?;
    users::set_active(&mut tx, user.id, false).await?;
    sign_out_and_commit(
        tx,
        me,
        &user,
        ("user.deactivate", Severity::Info),
        "user deactivated",
    )
    .await
}

/// Reactivates a user; an admin only with the caller's own password and one-time code
/// (`own_password`, `own_code`).
pub async fn activate(
    state: &AppState,
    me: &Identity,
    user_id: Uuid,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<(), AppError> {
    not_self(me, user_id, "reactivate")?;
    let (mut tx, user) =
        begin_reauthenticated(state, me, user_id, (own_password, own_code)).await?;
    if user.is_active {
        return Err(AppError::Conflict(format!(
            "{} is already active.",
            user.username
        )));
    }
    users::set_active(&mut tx, user.id, true).await?;
    audit::record(
        &mut tx,
        about(me, "user.activate", user.id).metadata(json!({ "username": user.username })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a sign-in lockout: forgets the username's failed sign-ins.
pub async fn unlock(state: &AppState, me: &Identity, user_id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let user = users::lock(&mut tx, user_id).await?;
    crate::backend::db::logins::clear(&mut tx, &user.username).await?;
    audit::record(
        &mut tx,
        about(me, "user.unlock", user.id).metadata(json!({ "username": user.username })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password for another user and ends their sessions; for an admin only with the
/// caller's own password and one-time code (`own_password`, `own_code`). One's own password
/// is changed on Profile, with the current one.
pub async fn reset_password(
    state: &AppState,
    me: &Identity,
    user_id: Uuid,
    password: String,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<(), AppError> {
    not_self(me, user_id, "reset the password of")?;
    check_password(&password)?;
    let password_hash = passwords::hash(password).await?;
    let (mut tx, user) =
        begin_reauthenticated(state, me, user_id, (own_password, own_code)).await?;
    users::set_password_hash(&mut tx, user.id, &password_hash).await?;
    sign_out_and_commit(
        tx,
        me,
        &user,
        ("user.password_reset", Severity::Notice),
        "password reset",
    )
    .await
}

/// Turns another user's two-factor sign-in off (secret and recovery codes forgotten), so they
/// can enrol again, and ends all their sessions; for an admin only with the caller's own
/// password and one-time code (`own_password`, `own_code`).
pub async fn reset_two_factor(
    state: &AppState,
    me: &Identity,
    user_id: Uuid,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<(), AppError> {
    not_self(me, user_id, "reset two-factor sign-in of")?;
    let (mut tx, user) =
        begin_reauthenticated(state, me, user_id, (own_password, own_code)).await?;
    twofactor::disable(&mut tx, user.id).await?;
    sign_out_and_commit(
        tx,
        me,
        &user,
        ("user.2fa_reset", Severity::Notice),
        "two-factor reset",
    )
    .await
}

/// Refuses changes an admin makes to their own account from this page (they could lock
/// themselves out; their own profile is the place for that).
/// The audit row of a change `me` made to a user (resource `user`, its id).
fn about(me: &Identity, action: &str, user_id: Uuid) -> AuditEvent {
    AuditEvent::new(me.actor(), action, "user", Some(user_id.to_string()))
}

/// The end of a change that signs the user out everywhere: every session of theirs ends
/// (`why`), the change's audit row (`action`, `severity`) says how many, and it all commits.
async fn sign_out_and_commit(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    me: &Identity,
    user: &users::Target,
    (action, severity): (&str, Severity),
    why: &str,
) -> Result<(), AppError> {
    let ended = sessions::revoke_all_of(&mut tx, user.id, None, why).await?;
    audit::record(
        &mut tx,
        about(me, action, user.id)
            .severity(severity)
            .metadata(json!({ "username": user.username, "sessions_revoked": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The start of a change to another user's account that an admin's takes re-authentication
/// for (after `not_self`): the caller's password and code when the user is an admin, then the
/// user's row locked in a new transaction (refused if they became an admin meanwhile).
async fn begin_reauthenticated(
    state: &AppState,
    me: &Identity,
    user_id: Uuid,
    own: (Option<String>, Option<String>),
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, users::Target), AppError> {
    let asked = reauthenticate_for(state, me, user_id, own.0, own.1).await?;
    let mut tx = state.db.begin().await?;
    let user = users::lock(&mut tx, user_id).await?;
    reauthenticated(&user, asked)?;
    Ok((tx, user))
}

fn not_self(me: &Identity, user_id: uuid::Uuid, what: &str) -> Result<(), AppError> {
    if me.user_id == user_id {
        return Err(AppError::Conflict(format!(
            "You cannot {what} your own account."
        )));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), AppError> {
    passwords::check_strength(password).map_err(|m| AppError::field("password", m))
}

/// The console keeps an active admin: refuses to demote or deactivate `user` when no other
/// active admin is left. `admins` are the active admins, locked
/// (`users::lock_active_admins`) before `user` was.
fn keeps_an_admin(admins: &[uuid::Uuid], user: &users::Target) -> Result<(), AppError> {
    if user.role == Role::Admin && user.is_active && admins.iter().all(|id| *id == user.id) {
        return Err(AppError::Conflict(
            "The last active admin keeps the admin role and stays active.".into(),
        ));
    }
    Ok(())
}

/// A change to another admin's account (password, two-factor, reactivation) needs the
/// caller's own password and one-time code again, checked and counted like a sign-in:
/// neither one admin nor one stolen session can take over a second admin (and with it the
/// second pair of eyes). Returns whether it was asked, i.e. whether the user is an admin.
async fn reauthenticate_for(
    state: &AppState,
    me: &Identity,
    user_id: uuid::Uuid,
    own_password: Option<String>,
    own_code: Option<String>,
) -> Result<bool, AppError> {
    if users::role_of(&state.db, user_id).await? != Role::Admin {
        return Ok(false);
    }
    let password = own_password.unwrap_or_default();
    let code = own_code.unwrap_or_default();
    let mut field_errors = std::collections::BTreeMap::new();
    if password.is_empty() {
        field_errors.insert(
            "own_password".to_string(),
            "This user is an admin: enter your own password.".to_string(),
        );
    }
    if code.trim().is_empty() {
        field_errors.insert(
            "own_code".to_string(),
            "This user is an admin: enter a one-time code from your authenticator app.".to_string(),
        );
    }
    if !field_errors.is_empty() {
        return Err(AppError::Validation { field_errors });
    }
    if !auth::own_password_ok(state, me, &password).await? {
        return Err(AppError::field(
            "own_password",
            "This is not your password.",
        ));
    }
    if !auth::own_code_ok(state, me, &code).await? {
        return Err(AppError::field(
            "own_code",
            "That code is not right, or was used already.",
        ));
    }
    Ok(true)
}

/// Once the user's row is locked: refuses if they became an admin after
/// `reauthenticate_for` looked (`asked` false).
fn reauthenticated(user: &users::Target, asked: bool) -> Result<(), AppError> {
    if user.role == Role::Admin && !asked {
        return Err(AppError::Conflict(format!(
            "{} is an admin now: try again with your password and a one-time code.",
            user.username
        )));
    }
    Ok(())
}
