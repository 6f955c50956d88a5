//! Console users: the list, creation, role changes (raising to admin takes a second admin),
//! deactivation, unlocking and resets of password and 2FA.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;

/// A row of the Users table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    pub is_2fa_enabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    /// Set only while the lockout lasts.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A role change waiting for a second admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct RoleChangeRequest {
    pub id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub from_role: Role,
    pub to_role: Role,
    pub reason: String,
    /// The requesting admin's username.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

/// What the Users page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersOverview {
    pub users: Vec<UserRow>,
    pub pending: Vec<RoleChangeRequest>,
}

/// What a role change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleChangeOutcome {
    /// The new role is in effect (and the user's sessions have ended).
    Changed,
    /// Raising to admin: a request now waits for another admin's approval.
    Pending,
}

/// A time as the tables show it: UTC, to the minute.
pub fn format_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}
