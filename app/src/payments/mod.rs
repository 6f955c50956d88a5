//! Payments: the list operators, auditors and viewers search all day (filters, three orders,
//! keyset pages, an estimate of the count, the CSV), a payment's page with its whole story in
//! one timeline, and cancelling a pending payment. The types here are shared by the pages,
//! the server functions and the REST API; the rules and SQL live in `backend::payments` and
//! `backend::db::payments`.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    components::list::{Page, Total},
    domain::{format_money, ComplianceStatus, Currency, PaymentStatus},
};

/// A row of the Payments list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentRow {
    pub id: Uuid,
    pub payment_reference: String,
    pub created_at: DateTime<Utc>,
    pub status: PaymentStatus,
    pub amount: Decimal,
    pub currency: Currency,
    pub sender_bank_id: Uuid,
    pub sender_bic: String,
    pub receiver_bank_id: Uuid,
    pub receiver_bic: String,
    pub risk_score: Option<i16>,
    /// The deciding compliance check's status, if there is one.
    pub compliance_status: Option<ComplianceStatus>,
}

impl PaymentRow {
    /// `1,234.50 USD`.
    pub fn money(&self) -> String {
        format!(
            "{} {}",
            format_money(self.amount, self.currency),
            self.currency
        )
    }
}

/// The orders the Payments list offers.
pub type PaymentSort = crate::components::list::TimeOrAmount;

/// The Payments list's filters, sort and page as the page's URL holds them, and as
/// `GET /api/v1/payments` and the CSV download take them (the same keys everywhere): text as
/// given, checked only by the server (`backend::db::payments::PaymentList`). Blank values
/// count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentQuery {
    /// A payment reference, idempotency key or SWIFT message id: the whole of it or its start.
    pub q: Option<String>,
    /// One or more statuses, comma-separated (`pending,processing`).
    pub status: Option<String>,
    pub currency: Option<String>,
    /// The sender or the receiver bank: its id, its BIC, or part of its name.
    pub bank: Option<String>,
    /// The sender or the receiver account (its id).
    pub account: Option<String>,
    /// The settlement batch: its id or its reference.
    pub batch: Option<String>,
    /// Created at or after (UTC).
    pub from: Option<String>,
    /// Created before (UTC).
    pub to: Option<String>,
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    /// The lowest risk score shown (0–100).
    pub min_risk: Option<String>,
    /// The deciding compliance check's status.
    pub compliance: Option<String>,
    /// `newest` (the default), `oldest` or `largest` (`PaymentSort`).
    pub sort: Option<String>,
    /// The cursor of the page to show; none for the first page.
    pub after: Option<String>,
}

crate::list_query!(PaymentQuery, "/payments");

/// One page of the Payments list, with what the filters match in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentList {
    pub page: Page<PaymentRow>,
    pub total: Total,
}

/// A payment with everything it names, for its page and `GET /api/v1/payments/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Payment {
    pub id: Uuid,
    pub payment_reference: String,
    pub status: PaymentStatus,
    pub amount: Decimal,
    pub currency: Currency,
    pub sender_bank_id: Uuid,
    pub sender_bic: String,
    pub sender_name: String,
    pub receiver_bank_id: Uuid,
    pub receiver_bic: String,
    pub receiver_name: String,
    pub sender_account_id: Option<Uuid>,
    pub sender_account_number: Option<String>,
    pub receiver_account_id: Option<Uuid>,
    pub receiver_account_number: Option<String>,
    pub batch_id: Option<Uuid>,
    pub batch_reference: Option<String>,
    pub compliance_check_id: Option<Uuid>,
    pub risk_score: Option<i16>,
    pub swift_message_type: Option<String>,
    pub swift_message_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub remittance_info: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The username of who cancelled it.
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub failure_reason: Option<String>,
    /// `jsonb` in its text form.
    pub metadata: String,
}

impl Payment {
    /// `1,234.50 USD`.
    pub fn money(&self) -> String {
        format!(
            "{} {}",
            format_money(self.amount, self.currency),
            self.currency
        )
    }
}

/// A compliance check of a payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Check {
    pub id: Uuid,
    /// sanctions, aml, kyc, pep or travel_rule.
    pub check_type: String,
    pub status: ComplianceStatus,
    pub risk_score: Option<i16>,
    pub matched_lists: Vec<String>,
    pub requires_review: bool,
    /// The username of the reviewer.
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_notes: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Where a timeline entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Source {
    /// The payment row's own times: created, processed, settled, cancelled, failed.
    Payment,
    /// `transaction_log`: a movement on an account.
    Transactions,
    /// `compliance_checks`: a check and its review.
    Compliance,
    /// `rate_limits`: a control on one of its banks or accounts while it was in flight.
    Controls,
    /// `audit_log`: what people and the console did to it.
    Audit,
    /// The RocksDB ledger: its events, each provable.
    Ledger,
}

impl Source {
    /// The name the timeline shows.
    pub fn label(self) -> &'static str {
        match self {
            Source::Payment => "payment",
            Source::Transactions => "transaction log",
            Source::Compliance => "compliance",
            Source::Controls => "controls",
            Source::Audit => "audit log",
            Source::Ledger => "ledger",
        }
    }
}

/// One thing that happened to a payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub source: Source,
    /// One line: "Settled", "Debit 1,000.00 USD on 0012-USD".
    pub what: String,
    /// More, when there is more: a reason, a balance after, a note.
    pub detail: Option<String>,
    /// A page with more (a ledger event's, with its proof).
    pub link: Option<String>,
}

/// A payment's page: the payment, its checks and its timeline, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PaymentDetail {
    pub payment: Payment,
    pub checks: Vec<Check>,
    pub timeline: Vec<TimelineEntry>,
    /// Its state in the ledger, when the ledger knows it (the timeline has its events).
    pub ledger_state: Option<crate::ledger::PaymentState>,
    /// False when the ledger could not be read: the timeline lacks its events.
    pub ledger_available: bool,
}

/// The longest cancellation reason taken.
pub const MAX_REASON: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::list::ListQuery;

    #[test]
    fn a_status_group_reads_as_one_list_parameter() {
        let q = PaymentQuery::from_query("status=pending&status=failed&q=DT1&currency=");
        assert_eq!(q.status.as_deref(), Some("pending,failed"));
        assert_eq!(q.currency, None);
        assert_eq!(q.to_query_string(), "q=DT1&status=pending%2Cfailed");
    }
}
