//! Console users: the list (filtered, sorted, keyset-paged, exported as CSV), creation, role
//! changes (raising to admin takes a second admin), deactivation, unlocking and resets of
//! password and 2FA.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;

/// A row of the Users table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn status(&self) -> UserStatus {
        if !self.is_active {
            UserStatus::Inactive
        } else if self.locked_until.is_some() {
            UserStatus::Locked
        } else {
            UserStatus::Active
        }
    }
}

/// Where a user stands: each user is in exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserStatus {
    /// Active and not locked out.
    Active,
    /// Deactivated (whether or not also locked out).
    Inactive,
    /// Active, but locked out after failed sign-ins.
    Locked,
}

impl UserStatus {
    pub const ALL: [UserStatus; 3] = [UserStatus::Active, UserStatus::Inactive, UserStatus::Locked];

    /// The name in URLs and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Inactive => "inactive",
            UserStatus::Locked => "locked",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        UserStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The orders the Users list offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserSort {
    /// Username, A to Z.
    #[default]
    Username,
    /// Most recent sign-in first; users who never signed in last.
    LastSignIn,
    /// Newest user first.
    Created,
}

impl UserSort {
    pub const ALL: [UserSort; 3] = [UserSort::Username, UserSort::LastSignIn, UserSort::Created];

    /// The name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::Username => "username",
            UserSort::LastSignIn => "last_sign_in",
            UserSort::Created => "created",
        }
    }

    /// What the sort selector shows.
    pub fn label(self) -> &'static str {
        match self {
            UserSort::Username => "Username (A–Z)",
            UserSort::LastSignIn => "Last sign-in (newest first)",
            UserSort::Created => "Created (newest first)",
        }
    }

    pub fn parse(s: &str) -> Option<UserSort> {
        UserSort::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The Users list's filters, sort and page as the page's URL holds them (and the CSV link,
/// and `list_users`' arguments): text as given, checked only by the server. Blank values count
/// as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserQuery {
    /// Part of the username or e-mail, any case.
    pub q: Option<String>,
    /// admin, operator, auditor or viewer.
    pub role: Option<String>,
    /// active, inactive or locked (`UserStatus`).
    pub status: Option<String>,
    /// Two-factor sign-in: on or off.
    pub tfa: Option<String>,
    /// username (the default), last_sign_in or created (`UserSort`).
    pub sort: Option<String>,
    /// The cursor of the page to show; none for the first page.
    pub after: Option<String>,
}

crate::list_query!(UserQuery, "/users");

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
    /// One page of the filtered list (at most `components::list::PAGE_SIZE` users).
    pub users: Vec<UserRow>,
    /// The cursor (`UserQuery::after`) of the next page; `None` on the last page.
    pub next: Option<String>,
    /// Every pending role change, whatever the filters.
    pub pending: Vec<RoleChangeRequest>,
}

/// What a role change came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RoleChangeOutcome {
    /// The new role is in effect (and the user's sessions have ended).
    Changed,
    /// Raising to admin: a request now waits for another admin's approval.
    Pending,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in UserSort::ALL {
            assert_eq!(UserSort::parse(s.as_str()), Some(s));
        }
        for s in UserStatus::ALL {
            assert_eq!(UserStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(UserSort::parse("Username"), None);
    }
}
