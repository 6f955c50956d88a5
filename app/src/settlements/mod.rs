//! Settlement batches and their netting: the list (filters by status, currency, corridor,
//! batch type, bank and creation time; three orders; keyset pages; the CSV), a batch's page
//! with each participating bank's sends, receives and net position, and a netting day's net
//! positions per bank and currency over all its batches. Shared by the pages, the server
//! functions and the REST API; the SQL lives in `backend::db::settlements`.

pub mod api;
pub mod page;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    components::list::Page,
    domain::{Currency, SettlementStatus},
};

/// A row of the Settlements list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BatchRow {
    pub id: Uuid,
    pub batch_reference: String,
    pub corridor_id: Option<String>,
    pub netting_window_id: Option<String>,
    pub batch_type: String,
    pub status: SettlementStatus,
    pub currency: Currency,
    pub total_payments: i32,
    pub gross_amount: Decimal,
    pub net_amount: Decimal,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

/// The orders the Settlements list offers (largest: by gross amount).
pub type BatchSort = crate::components::list::TimeOrAmount;

/// The Settlements list's filters, sort and page as the URL holds them (and
/// `GET /api/v1/settlements` and the CSV take them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchQuery {
    /// One or more statuses, comma-separated.
    pub status: Option<String>,
    pub currency: Option<String>,
    /// The corridor's identifier, exactly (`USD-MULTI`).
    pub corridor: Option<String>,
    /// The batch type, exactly (`multilateral_net`).
    pub batch_type: Option<String>,
    /// Batches with a payment of this bank (its id).
    pub bank: Option<String>,
    /// Created at or after (UTC).
    pub from: Option<String>,
    /// Created before (UTC).
    pub to: Option<String>,
    /// `newest` (the default), `oldest` or `largest`.
    pub sort: Option<String>,
    pub after: Option<String>,
}

crate::list_query!(BatchQuery, "/settlements");

pub type BatchPage = Page<BatchRow>;

/// A bank's part in a batch (or a netting day, per currency).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Position {
    pub bank_id: Uuid,
    pub bic_code: String,
    pub name: String,
    pub currency: Currency,
    pub payments_sent: i64,
    pub sent: Decimal,
    pub payments_received: i64,
    pub received: Decimal,
}

impl Position {
    /// Receives − sends: what the bank is owed (positive) or owes (negative).
    pub fn net(&self) -> Decimal {
        self.received - self.sent
    }
}

/// What the positions of one currency add up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Netting {
    pub currency: Currency,
    /// Every payment once.
    pub gross: Decimal,
    /// What moves after netting: the sum of the positive net positions.
    pub net_settled: Decimal,
    /// The sum of every net position: zero when the netting is consistent.
    pub net_sum: Decimal,
    /// 1 − net settled / gross, in percent (none for a batch without payments).
    pub saving_percent: Option<Decimal>,
}

impl Netting {
    /// The netting of `positions` (all of one currency).
    pub fn of(currency: Currency, positions: &[&Position]) -> Netting {
        let gross: Decimal = positions.iter().map(|p| p.sent).sum();
        let nets = positions.iter().map(|p| p.net());
        let net_settled: Decimal = nets.clone().filter(|n| n.is_sign_positive()).sum();
        let saving_percent = (!gross.is_zero())
            .then(|| ((Decimal::ONE - net_settled / gross) * Decimal::ONE_HUNDRED).round_dp(1));
        Netting {
            currency,
            gross,
            net_settled,
            net_sum: nets.sum(),
            saving_percent,
        }
    }

    pub fn balanced(&self) -> bool {
        self.net_sum.is_zero()
    }
}

/// A batch, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Batch {
    pub id: Uuid,
    pub batch_reference: String,
    pub corridor_id: Option<String>,
    pub netting_window_id: Option<String>,
    pub batch_type: String,
    pub status: SettlementStatus,
    pub currency: Currency,
    pub total_payments: i32,
    pub gross_amount: Decimal,
    pub net_amount: Decimal,
    /// `jsonb` in its text form.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finalized_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    /// The payments that name the batch, counted.
    pub payment_count: i64,
}

/// What a batch's page flags: where the stored figures disagree with its payments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Discrepancy {
    /// The net positions do not sum to zero (by this much).
    Unbalanced(Decimal),
    /// The stored net amount is not what the positions give.
    NetAmount { stored: Decimal, computed: Decimal },
    /// The stored gross amount is not the sum of the payments.
    GrossAmount { stored: Decimal, computed: Decimal },
    /// The stored payment count is not the number of payments.
    PaymentCount { stored: i32, computed: i64 },
}

impl Discrepancy {
    pub fn describe(&self) -> String {
        match self {
            Discrepancy::Unbalanced(by) => {
                format!("The net positions do not sum to zero: they sum to {by}.")
            }
            Discrepancy::NetAmount { stored, computed } => {
                format!("The stored net amount is {stored}; the positions give {computed}.")
            }
            Discrepancy::GrossAmount { stored, computed } => {
                format!("The stored gross amount is {stored}; the payments sum to {computed}.")
            }
            Discrepancy::PaymentCount { stored, computed } => {
                format!("The stored payment count is {stored}; {computed} payments name the batch.")
            }
        }
    }
}

/// A batch's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BatchDetail {
    pub batch: Batch,
    /// Every participating bank, largest net position first.
    pub positions: Vec<Position>,
    pub netting: Netting,
    /// Empty when the batch is consistent.
    pub discrepancies: Vec<Discrepancy>,
}

impl BatchDetail {
    /// The checks of a batch against its payments.
    pub fn discrepancies(batch: &Batch, netting: &Netting) -> Vec<Discrepancy> {
        let mut found = Vec::new();
        if !netting.balanced() {
            found.push(Discrepancy::Unbalanced(netting.net_sum));
        }
        if batch.net_amount != netting.net_settled {
            found.push(Discrepancy::NetAmount {
                stored: batch.net_amount,
                computed: netting.net_settled,
            });
        }
        if batch.gross_amount != netting.gross {
            found.push(Discrepancy::GrossAmount {
                stored: batch.gross_amount,
                computed: netting.gross,
            });
        }
        if i64::from(batch.total_payments) != batch.payment_count {
            found.push(Discrepancy::PaymentCount {
                stored: batch.total_payments,
                computed: batch.payment_count,
            });
        }
        found
    }
}

/// A netting day: every bank's net position per currency over all batches created that day
/// (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NettingDay {
    pub day: NaiveDate,
    pub batches: i64,
    /// By currency, then largest net position first.
    pub positions: Vec<Position>,
    /// One per currency.
    pub netting: Vec<Netting>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(bank: u8, sent: i64, received: i64) -> Position {
        Position {
            bank_id: Uuid::from_bytes([bank; 16]),
            bic_code: format!("BANK{bank}XX"),
            name: format!("Bank {bank}"),
            currency: Currency::USD,
            payments_sent: 1,
            sent: Decimal::from(sent),
            payments_received: 1,
            received: Decimal::from(received),
        }
    }

    #[test]
    fn netting_settles_the_positive_positions_and_sums_to_zero() {
        // A sends 100 to B, B sends 60 to C, C sends 10 to A.
        let ps = [
            position(1, 100, 10),
            position(2, 60, 100),
            position(3, 10, 60),
        ];
        let n = Netting::of(Currency::USD, &ps.iter().collect::<Vec<_>>());
        assert_eq!(n.gross, Decimal::from(170));
        assert_eq!(n.net_settled, Decimal::from(90), "B +40 and C +50");
        assert!(n.balanced());
        assert_eq!(n.saving_percent, Some("47.1".parse().unwrap()));
        let lopsided = [position(1, 100, 0)];
        assert!(!Netting::of(Currency::USD, &lopsided.iter().collect::<Vec<_>>()).balanced());
        assert_eq!(Netting::of(Currency::USD, &[]).saving_percent, None);
    }
}
