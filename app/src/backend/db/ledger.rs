//! What the ledger's consistency check reads of Postgres: every payment's status and batch,
//! and every batch's totals.

use futures::Stream;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// A payment as the check compares it.
pub struct PaymentRow {
    pub id: Uuid,
    pub status: String,
    pub batch_id: Option<Uuid>,
}

/// Every payment, streamed (a million rows need not sit in memory at once).
pub fn payments(db: &PgPool) -> impl Stream<Item = sqlx::Result<PaymentRow>> + Send + Unpin + '_ {
    sqlx::query_as!(
        PaymentRow,
        r#"SELECT id, status::text AS "status!", batch_id FROM deltran.payments"#
    )
    .fetch(db)
}

/// Every batch's id, reference, payment count and gross amount.
pub async fn batches(db: &PgPool) -> sqlx::Result<Vec<(Uuid, String, i32, Decimal)>> {
    Ok(sqlx::query!(
        "SELECT id, batch_reference, total_payments, gross_amount FROM deltran.settlement_batches"
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.id, r.batch_reference, r.total_payments, r.gross_amount))
    .collect())
}
