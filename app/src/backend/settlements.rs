//! The settlements area: a batch's netting, checked against what the batch stores, and a
//! netting day's positions. SQL is `db::settlements`'.

use chrono::NaiveDate;
use sqlx::PgPool;
use uuid::Uuid;

use super::db::settlements;
use crate::{
    error::AppError,
    settlements::{BatchDetail, Netting, NettingDay, Position},
};

/// A batch with every participating bank's position, its netting and what disagrees with
/// its payments; `NotFound` for an id that names none.
pub async fn detail(db: &PgPool, id: Uuid) -> Result<BatchDetail, AppError> {
    let one = [id];
    let (batch, positions) =
        futures::try_join!(settlements::get(db, id), settlements::positions(db, &one))?;
    let batch = batch.ok_or(AppError::NotFound)?;
    let netting = Netting::of(batch.currency, &positions.iter().collect::<Vec<_>>());
    let discrepancies = BatchDetail::discrepancies(&batch, &netting);
    Ok(BatchDetail {
        batch,
        positions,
        netting,
        discrepancies,
    })
}

/// Every bank's net position per currency over the batches created on `day`.
pub async fn day(db: &PgPool, day: NaiveDate) -> Result<NettingDay, AppError> {
    let batches = settlements::of_day(db, day).await?;
    let positions = settlements::positions(db, &batches).await?;
    let mut netting = Vec::new();
    for chunk in positions.chunk_by(|a, b| a.currency == b.currency) {
        let of: Vec<&Position> = chunk.iter().collect();
        netting.push(Netting::of(chunk[0].currency, &of));
    }
    Ok(NettingDay {
        day,
        batches: batches.len() as i64,
        positions,
        netting,
    })
}
