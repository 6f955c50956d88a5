//! Banks and their settlement accounts: the list (filters by country, KYC status, risk rating
//! and activity, a search on name or BIC, three orders, keyset pages, the CSV) and a bank's
//! page: its KYC and contact fields, its accounts with the balance invariant checked, totals
//! per currency, the last 30 days' volume, its active controls and links to its payments and
//! batches. Shared by the pages, the server functions and the REST API; the SQL lives in
//! `backend::db::banks`.

pub mod api;
pub mod page;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{components::list::Page, domain::Currency};

/// A row of the Banks list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BankRow {
    pub id: Uuid,
    pub bic_code: String,
    pub name: String,
    pub country_code: String,
    pub is_active: bool,
    /// low, medium, high or critical.
    pub risk_rating: String,
    /// pending, verified, rejected or expired.
    pub kyc_status: String,
    pub kyc_verified_at: Option<DateTime<Utc>>,
}

/// The risk ratings a bank can have, lowest first.
pub const RISK_RATINGS: [&str; 4] = ["low", "medium", "high", "critical"];
/// The KYC statuses a bank can have.
pub const KYC_STATUSES: [&str; 4] = ["pending", "verified", "rejected", "expired"];

/// The orders the Banks list offers; each ends with the id, so it is total.
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
pub enum BankSort {
    /// `name, id`.
    #[default]
    Name,
    /// `bic_code, id`.
    Bic,
    /// `country_code, name, id`.
    Country,
}

impl BankSort {
    pub const ALL: [BankSort; 3] = [BankSort::Name, BankSort::Bic, BankSort::Country];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn label(self) -> &'static str {
        match self {
            BankSort::Name => "Name",
            BankSort::Bic => "BIC",
            BankSort::Country => "Country, then name",
        }
    }
}

/// The Banks list's filters, sort and page as the URL holds them (and `GET /api/v1/banks`
/// and the CSV take them); checked only by the server (`backend::db::banks::BankList`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankQuery {
    /// Part of the name or of the BIC, any case.
    pub q: Option<String>,
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
    pub kyc: Option<String>,
    pub risk: Option<String>,
    /// `true` or `false`.
    pub active: Option<String>,
    /// `name` (the default), `bic` or `country` (`BankSort`).
    pub sort: Option<String>,
    pub after: Option<String>,
}

crate::list_query!(BankQuery, "/banks");

/// One page of the Banks list.
pub type BankPage = Page<BankRow>;

/// A bank, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Bank {
    pub id: Uuid,
    pub bic_code: String,
    pub name: String,
    pub country_code: String,
    pub is_active: bool,
    pub risk_rating: String,
    pub kyc_status: String,
    pub kyc_verified_at: Option<DateTime<Utc>>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    /// `jsonb` in its text form.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A settlement account of a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Account {
    pub id: Uuid,
    pub account_number: String,
    pub currency: Currency,
    pub balance: Decimal,
    pub available_balance: Decimal,
    pub reserved_balance: Decimal,
    pub is_active: bool,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Account {
    /// Whether balance = available + reserved holds (the database refuses a row where it does
    /// not; the page shows it checked all the same).
    pub fn balanced(&self) -> bool {
        self.balance == self.available_balance + self.reserved_balance
    }
}

/// A bank's accounts in one currency, summed (the `v_bank_balances` view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct CurrencyTotal {
    pub currency: Currency,
    pub account_count: i64,
    pub total_balance: Decimal,
    pub total_available: Decimal,
    pub total_reserved: Decimal,
}

/// What a bank sent and received in one currency: payments created in the last 30 days that
/// settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Volume {
    pub currency: Currency,
    pub sent_count: i64,
    pub sent: Decimal,
    pub received_count: i64,
    pub received: Decimal,
}

/// A control in force on a bank or one of its accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ActiveControl {
    pub id: Uuid,
    /// `bank` or `account`.
    pub entity_type: String,
    /// The account's number, for a control on an account.
    pub account_number: Option<String>,
    /// freeze, unfreeze, throttle or block.
    pub action: String,
    pub limit_value: i64,
    pub window_seconds: i32,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A bank's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankDetail {
    pub bank: Bank,
    pub accounts: Vec<Account>,
    pub totals: Vec<CurrencyTotal>,
    pub volume: Vec<Volume>,
    pub controls: Vec<ActiveControl>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_round_trip_by_name() {
        for s in BankSort::ALL {
            assert_eq!(s.as_str().parse::<BankSort>(), Ok(s));
        }
    }
}
