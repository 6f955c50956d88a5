//! The dashboard's figures (SQL checked at compile time: `query!`, data in `.sqlx/`).

use chrono::{Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;

use crate::{
    dashboard::{CurrencyVolume, DashboardSummary, DayVolume, StatusCount},
    domain::{Currency, PaymentStatus},
};

/// Today's payments by status, `days` days of volume per currency (failed and cancelled
/// payments are not volume), open compliance reviews and active banks. Days are UTC.
pub async fn summary(db: &PgPool, days: i64) -> sqlx::Result<DashboardSummary> {
    let as_of = Utc::now();
    let today = as_of.date_naive();
    let first_day = today - Duration::days(days - 1);

    let by_status: Vec<(PaymentStatus, i64)> = sqlx::query!(
        r#"SELECT status AS "status: PaymentStatus", count(*) AS "count!" FROM deltran.payments
           WHERE created_at >= $1::date::timestamp AT TIME ZONE 'UTC' GROUP BY status"#,
        today,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.status, r.count))
    .collect();
    let today_counts = PaymentStatus::ALL
        .into_iter()
        .map(|status| StatusCount {
            status,
            count: by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, c)| *c),
        })
        .collect();

    let rows: Vec<(NaiveDate, Currency, i64, Decimal)> = sqlx::query!(
        r#"SELECT (created_at AT TIME ZONE 'UTC')::date AS "day!", currency AS "currency: Currency",
                count(*) AS "count!", sum(amount) AS "amount!"
           FROM deltran.payments
           WHERE created_at >= $1::date::timestamp AT TIME ZONE 'UTC'
             AND status NOT IN ('failed', 'cancelled')
           GROUP BY 1, 2"#,
        first_day,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.day, r.currency, r.count, r.amount))
    .collect();
    let volume = volume_series(&rows, first_day, days);

    let counts = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM deltran.compliance_checks
                   WHERE requires_review AND reviewed_at IS NULL) AS "open_reviews!",
                  (SELECT count(*) FROM deltran.banks WHERE is_active) AS "active_banks!""#,
    )
    .fetch_one(db)
    .await?;
    let (open_reviews, active_banks) = (counts.open_reviews, counts.active_banks);

    Ok(DashboardSummary {
        today: today_counts,
        volume,
        volume_days: days,
        open_reviews,
        active_banks,
        as_of,
    })
}

/// Turns (day, currency, count, amount) rows into one zero-filled series per currency,
/// the currency with the largest total first.
fn volume_series(
    rows: &[(NaiveDate, Currency, i64, Decimal)],
    first_day: NaiveDate,
    days: i64,
) -> Vec<CurrencyVolume> {
    let mut out: Vec<CurrencyVolume> = Currency::ALL
        .into_iter()
        .filter(|c| rows.iter().any(|r| r.1 == *c))
        .map(|currency| {
            let days: Vec<DayVolume> = (0..days)
                .map(|i| {
                    let day = first_day + Duration::days(i);
                    let hit = rows.iter().find(|r| r.0 == day && r.1 == currency);
                    DayVolume {
                        day,
                        count: hit.map_or(0, |r| r.2),
                        amount: hit.map_or(Decimal::ZERO, |r| r.3),
                    }
                })
                .collect();
            CurrencyVolume {
                currency,
                total: days.iter().map(|d| d.amount).sum(),
                days,
            }
        })
        .collect();
    out.sort_by_key(|v| std::cmp::Reverse(v.total));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_zero_filled_and_sorted_by_total() {
        let d0 = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let rows = vec![
            (d0, Currency::EUR, 2, Decimal::from(10)),
            (d0 + Duration::days(2), Currency::USD, 1, Decimal::from(50)),
        ];
        let s = volume_series(&rows, d0, 3);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].currency, Currency::USD);
        assert_eq!(s[0].days.len(), 3);
        assert_eq!(s[0].days[0].amount, Decimal::ZERO);
        assert_eq!(s[0].days[2].amount, Decimal::from(50));
        assert_eq!(s[1].total, Decimal::from(10));
    }
}
