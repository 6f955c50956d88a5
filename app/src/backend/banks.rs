//! The banks area: a bank's page, read side by side from its sources. SQL is `db::banks`'.

use sqlx::PgPool;
use uuid::Uuid;

use super::db::banks;
use crate::{banks::BankDetail, error::AppError};

/// A bank with its accounts, totals, volume and active controls; `NotFound` for an id that
/// names none.
pub async fn detail(db: &PgPool, id: Uuid) -> Result<BankDetail, AppError> {
    let (bank, accounts, totals, volume, controls) = futures::try_join!(
        banks::get(db, id),
        banks::accounts(db, id),
        banks::totals(db, id),
        banks::volume(db, id),
        banks::controls(db, id),
    )?;
    Ok(BankDetail {
        bank: bank.ok_or(AppError::NotFound)?,
        accounts,
        totals,
        volume,
        controls,
    })
}
