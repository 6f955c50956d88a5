//! The profile page: one's own password, two-factor sign-in and sessions.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnSession {
    pub id: Uuid,
    pub kind: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The session this page is being viewed in.
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub username: String,
    pub email: String,
    pub role: Role,
    pub two_factor: bool,
    pub recovery_codes_left: i64,
    pub sessions: Vec<OwnSession>,
}

/// What the authenticator app needs to enrol: the QR code (SVG) and the secret in base32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoFactorSetup {
    pub qr_svg: String,
    pub secret: String,
}
