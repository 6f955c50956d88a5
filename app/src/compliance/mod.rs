//! Compliance review: the queue of checks awaiting a reviewer's decision (filters, three
//! orders, keyset pages, the CSV), a check's case page (the check, its payment and parties,
//! the payment's other checks, the sender bank's earlier checks), claiming a case, deciding
//! it, and the second reviewer a pass of a sanctions or PEP hit waits for. The types here are
//! shared by the pages, the server functions and the REST API; the rules and SQL live in
//! `backend::compliance` and `backend::db::compliance`.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    components::list::{Page, Total},
    domain::{format_money, ComplianceStatus, Currency, PaymentStatus},
    payments::{Check, Payment},
};

/// The kinds of check (`compliance_checks.check_type`).
pub const CHECK_TYPES: [&str; 5] = ["sanctions", "aml", "kyc", "pep", "travel_rule"];

/// The kinds whose pass takes a second reviewer.
pub const FOUR_EYES_TYPES: [&str; 2] = ["sanctions", "pep"];

/// How long a claim holds a case unless renewed, in minutes.
pub const CLAIM_MINUTES: i64 = 15;

/// The shortest and longest review note taken (characters, trimmed).
pub const MIN_NOTE: usize = 10;
pub const MAX_NOTE: usize = 2000;

/// "Sanctions", "AML", "Travel rule"…
pub fn check_name(check_type: &str) -> &'static str {
    match check_type {
        "sanctions" => "Sanctions",
        "aml" => "AML",
        "kyc" => "KYC",
        "pep" => "PEP",
        "travel_rule" => "Travel rule",
        _ => "Other",
    }
}

/// A row of the compliance list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ComplianceRow {
    pub id: Uuid,
    /// sanctions, aml, kyc, pep or travel_rule.
    pub check_type: String,
    pub status: ComplianceStatus,
    pub risk_score: Option<i16>,
    pub matched_lists: Vec<String>,
    pub requires_review: bool,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    /// Seconds since the check started, when the page was read.
    pub age_seconds: i64,
    pub payment_id: Uuid,
    pub payment_reference: String,
    pub payment_status: PaymentStatus,
    pub amount: Decimal,
    pub currency: Currency,
    pub sender_bank_id: Uuid,
    pub sender_bic: String,
    pub receiver_bank_id: Uuid,
    pub receiver_bic: String,
    /// A pass waits for a second reviewer.
    pub pending_approval: bool,
    /// Who holds a live claim on it, if anyone.
    pub claimed_by: Option<String>,
}

impl ComplianceRow {
    /// `1,234.50 USD`.
    pub fn money(&self) -> String {
        format!(
            "{} {}",
            format_money(self.amount, self.currency),
            self.currency
        )
    }
}

/// "3 d 4 h", "2 h 5 min", "12 min".
pub fn age(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, h) => format!("{h} h {mins} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// The orders the compliance list offers; each ends with the id, so it is total.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[strum(serialize_all = "snake_case")]
pub enum ComplianceSort {
    /// Started longest ago first: the queue's order.
    #[default]
    Oldest,
    /// Started most recently first.
    Newest,
    /// Highest risk score first (no score counts as the lowest).
    Riskiest,
}

impl ComplianceSort {
    pub const ALL: [ComplianceSort; 3] = [
        ComplianceSort::Oldest,
        ComplianceSort::Newest,
        ComplianceSort::Riskiest,
    ];

    /// The name in URLs.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What the sort selector shows.
    pub fn label(self) -> &'static str {
        match self {
            ComplianceSort::Oldest => "Oldest first",
            ComplianceSort::Newest => "Newest first",
            ComplianceSort::Riskiest => "Highest risk first",
        }
    }

    /// Reads a URL's `sort` (refused: a field error naming the three).
    pub fn parse(s: &str) -> Result<ComplianceSort, String> {
        s.parse()
            .map_err(|_| format!("unknown sort {s:?} (oldest, newest or riskiest)"))
    }
}

/// The compliance list's filters, sort and page as the page's URL holds them, and as
/// `GET /api/v1/compliance` and the CSV download take them (the same keys everywhere): text
/// as given, checked only by the server (`backend::db::compliance::ComplianceList`). Blank
/// values count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceQuery {
    /// `true`: awaiting a decision (needs a review and has none yet: the queue); `false`: the
    /// others; `any` or blank: every check. The page reads a missing value as `true`.
    pub requires_review: Option<String>,
    /// One or more check types, comma-separated (`sanctions,pep`).
    pub check_type: Option<String>,
    /// One or more statuses, comma-separated (`review,pending`).
    pub status: Option<String>,
    /// The lowest risk score shown (0–100).
    pub min_risk: Option<String>,
    /// A list the check matched, exactly (`OFAC-SDN`).
    pub matched_list: Option<String>,
    /// The payment's sender or receiver bank: its id, its BIC, or part of its name.
    pub bank: Option<String>,
    /// Started at or after (UTC).
    pub from: Option<String>,
    /// Started before (UTC).
    pub to: Option<String>,
    /// `oldest` (the default), `newest` or `riskiest` (`ComplianceSort`).
    pub sort: Option<String>,
    /// The cursor of the page to show; none for the first page.
    pub after: Option<String>,
}

crate::list_query!(ComplianceQuery, "/compliance");

impl ComplianceQuery {
    /// The view the Compliance page shows: a missing `requires_review` is the queue.
    pub fn queue_by_default(mut self) -> Self {
        if self.requires_review.is_none() {
            self.requires_review = Some("true".into());
        }
        self
    }
}

/// One page of the compliance list, with what the filters match in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComplianceList {
    pub page: Page<ComplianceRow>,
    pub total: Total,
}

/// The check a case is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CaseCheck {
    pub id: Uuid,
    pub payment_id: Uuid,
    pub check_type: String,
    pub status: ComplianceStatus,
    pub risk_score: Option<i16>,
    /// The screening hits (`jsonb`, in its text form).
    pub flags: String,
    pub matched_lists: Vec<String>,
    pub requires_review: bool,
    /// The username of the reviewer.
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_notes: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl CaseCheck {
    /// Needs a review and has no decision yet.
    pub fn awaiting(&self) -> bool {
        self.requires_review && self.reviewed_at.is_none()
    }
}

/// A live claim on a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Claim {
    /// The username of who holds it.
    pub claimed_by: String,
    pub claimed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether the caller holds it.
    pub mine: bool,
}

/// A pass waiting for a second reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PendingApproval {
    pub id: Uuid,
    /// The username of the first reviewer.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// The first reviewer's note.
    pub note: String,
    /// Whether the caller is the first reviewer (who may not approve or reject it).
    pub mine: bool,
}

/// An earlier check of a payment of the same sender bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EarlierCheck {
    pub id: Uuid,
    pub check_type: String,
    pub status: ComplianceStatus,
    pub risk_score: Option<i16>,
    pub matched_lists: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub payment_id: Uuid,
    pub payment_reference: String,
}

/// A case: the check, its payment with its parties, the payment's other checks, the sender
/// bank's last 20 earlier checks, who holds the case and the pass waiting for approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Case {
    pub check: CaseCheck,
    pub payment: Payment,
    pub other_checks: Vec<Check>,
    pub sender_history: Vec<EarlierCheck>,
    pub claim: Option<Claim>,
    pub pending_approval: Option<PendingApproval>,
}

/// What a review came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum ReviewResult {
    /// The check passed or failed; the payment moved on.
    Decided,
    /// A pass of a sanctions or PEP check waits for a second reviewer.
    PendingApproval,
}

/// The answer to a review: what it came to, the check's and the payment's status after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReviewOutcome {
    pub outcome: ReviewResult,
    pub check_status: ComplianceStatus,
    pub payment_status: PaymentStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::list::ListQuery;

    #[test]
    fn the_page_shows_the_queue_unless_told_otherwise() {
        let q = ComplianceQuery::from_query("check_type=sanctions&check_type=pep");
        assert_eq!(q.check_type.as_deref(), Some("sanctions,pep"));
        let q = q.queue_by_default();
        assert_eq!(q.requires_review.as_deref(), Some("true"));
        let all = ComplianceQuery::from_query("requires_review=any").queue_by_default();
        assert_eq!(all.requires_review.as_deref(), Some("any"));
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(age(59), "0 min");
        assert_eq!(age(3_900), "1 h 5 min");
        assert_eq!(age(2 * 86_400 + 3 * 3_600), "2 d 3 h");
    }

    #[test]
    fn sorts_round_trip() {
        for s in ComplianceSort::ALL {
            assert_eq!(ComplianceSort::parse(s.as_str()), Ok(s));
        }
        assert!(ComplianceSort::parse("largest").is_err());
    }
}
