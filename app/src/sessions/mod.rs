//! Everyone's live sessions, browser and API, for admins to see and revoke: the list
//! (filtered, sorted, keyset-paged, exported as CSV) and revocation.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A row of the Sessions table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    /// `browser` or `api` (`SessionKind`).
    pub kind: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Where a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionKind {
    /// A console sign-in (cookie).
    Browser,
    /// A REST API refresh-token session.
    Api,
}

impl SessionKind {
    pub const ALL: [SessionKind; 2] = [SessionKind::Browser, SessionKind::Api];

    /// The name in the database, URLs and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<SessionKind> {
        SessionKind::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The orders the Sessions list offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionSort {
    /// Most recently active first.
    #[default]
    LastActivity,
    /// Newest session first.
    Created,
}

impl SessionSort {
    pub const ALL: [SessionSort; 2] = [SessionSort::LastActivity, SessionSort::Created];

    /// The name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionSort::LastActivity => "last_activity",
            SessionSort::Created => "created",
        }
    }

    /// What the sort selector shows.
    pub fn label(self) -> &'static str {
        match self {
            SessionSort::LastActivity => "Last activity (newest first)",
            SessionSort::Created => "Created (newest first)",
        }
    }

    pub fn parse(s: &str) -> Option<SessionSort> {
        SessionSort::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The Sessions list's filters, sort and page as the page's URL holds them (and the CSV link,
/// and `list_sessions`' arguments): text as given, checked only by the server. Blank values
/// count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionQuery {
    /// Part of the username, any case.
    pub user: Option<String>,
    /// browser or api (`SessionKind`).
    pub kind: Option<String>,
    /// last_activity (the default) or created (`SessionSort`).
    pub sort: Option<String>,
    /// The cursor of the page to show; none for the first page.
    pub after: Option<String>,
}

crate::list_query!(SessionQuery, "/sessions");

/// One page of the Sessions list (at most `components::list::PAGE_SIZE` live sessions).
pub type SessionList = crate::components::list::Page<SessionRow>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in SessionSort::ALL {
            assert_eq!(SessionSort::parse(s.as_str()), Some(s));
        }
        for k in SessionKind::ALL {
            assert_eq!(SessionKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(SessionKind::parse("API"), None);
    }
}
