//! The dashboard: today's payments, 30 days of volume per currency, open compliance work.

pub mod api;
pub mod page;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::{Currency, PaymentStatus};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCount {
    pub status: PaymentStatus,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayVolume {
    pub day: NaiveDate,
    pub count: i64,
    pub amount: Decimal,
}

/// One currency's daily volume, a point for every day of the window (zero where none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrencyVolume {
    pub currency: Currency,
    pub total: Decimal,
    pub days: Vec<DayVolume>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardSummary {
    /// Every status, in lifecycle order, zero where there were none today (UTC).
    pub today: Vec<StatusCount>,
    /// Currencies with volume in the window, largest first.
    pub volume: Vec<CurrencyVolume>,
    pub volume_days: i64,
    pub open_reviews: i64,
    pub active_banks: i64,
    pub as_of: DateTime<Utc>,
}

impl DashboardSummary {
    pub fn today_total(&self) -> i64 {
        self.today.iter().map(|s| s.count).sum()
    }
}
