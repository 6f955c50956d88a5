//! Two-factor state: the encrypted TOTP secret and last used step on `deltran.users`, and the
//! hashed recovery codes in `deltran.recovery_codes`. No audit rows are written here: the
//! sign-in and profile code that calls these records them in the same transaction.
//!
//! Replay protection is in the database, not in memory: [`record_step`] and
//! [`use_recovery_code`] each succeed at most once per step or code, whatever runs
//! concurrently, because the condition is part of the `UPDATE`. The SQL is checked at compile
//! time (`query!`, data in `.sqlx/`).

use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::{
    backend::{error::internal, recovery},
    error::AppError,
};

/// What verifying a TOTP code needs: the secret as stored (decrypt it with
/// `crypto::decrypt(…, crypto::TOTP_PURPOSE, …)`) and the last step accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub encrypted_secret: Vec<u8>,
    pub last_used_step: Option<i64>,
}

/// Turns two-factor sign-in on with `encrypted_secret` (the output of `crypto::encrypt`),
/// replacing any previous secret. The last used step is kept, so that a code already
/// accepted cannot be accepted again. `NotFound` if there is no such user.
pub async fn enrol(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    encrypted_secret: &[u8],
) -> Result<(), AppError> {
    let updated = sqlx::query!(
        "UPDATE deltran.users SET totp_secret = $2, is_2fa_enabled = true WHERE id = $1",
        user_id,
        encrypted_secret,
    )
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Turns two-factor sign-in off: forgets the secret and deletes the recovery codes.
/// `NotFound` if there is no such user.
pub async fn disable(tx: &mut Transaction<'_, Postgres>, user_id: Uuid) -> Result<(), AppError> {
    let updated = sqlx::query!(
        "UPDATE deltran.users SET totp_secret = NULL, is_2fa_enabled = false WHERE id = $1",
        user_id,
    )
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    sqlx::query!(
        "DELETE FROM deltran.recovery_codes WHERE user_id = $1",
        user_id
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The user's stored secret, or `None` when two-factor sign-in is off. `NotFound` if there is
/// no such user.
pub async fn load_secret<'e>(
    db: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<Option<StoredSecret>, AppError> {
    let row = sqlx::query!(
        "SELECT is_2fa_enabled, totp_secret, totp_last_used_step FROM deltran.users WHERE id = $1",
        user_id,
    )
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(match (row.is_2fa_enabled, row.totp_secret) {
        (true, Some(encrypted_secret)) => Some(StoredSecret {
            encrypted_secret,
            last_used_step: row.totp_last_used_step,
        }),
        _ => None,
    })
}

/// Records `step` (from `totp::verify`) as used. `false`, and nothing changes, when that step
/// or a later one was already recorded, even by a concurrent sign-in: the caller must then
/// refuse the code. Also `false` if there is no such user.
pub async fn record_step(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    step: i64,
) -> Result<bool, AppError> {
    let updated = sqlx::query!(
        "UPDATE deltran.users SET totp_last_used_step = $2 \
         WHERE id = $1 AND (totp_last_used_step IS NULL OR totp_last_used_step < $2)",
        user_id,
        step,
    )
    .execute(&mut **tx)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Replaces all of the user's recovery codes (used or not) with `codes`, as made by
/// `recovery::recovery_codes`. Only their hashes are stored.
pub async fn store_recovery_codes(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    codes: &[String],
) -> Result<(), AppError> {
    let hashes = codes
        .iter()
        .map(|code| recovery::hash(user_id, code))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| internal("store_recovery_codes: a code is not in the recovery-code form"))?;
    sqlx::query!(
        "DELETE FROM deltran.recovery_codes WHERE user_id = $1",
        user_id
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "INSERT INTO deltran.recovery_codes (user_id, code_hash) \
         SELECT $1, h FROM unnest($2::text[]) AS h",
        user_id,
        &hashes,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Spends one of the user's recovery codes. `true` exactly once per stored code, even under
/// concurrent attempts; `false` for a used, unknown or malformed code.
pub async fn use_recovery_code(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    code: &str,
) -> Result<bool, AppError> {
    let Some(hash) = recovery::hash(user_id, code) else {
        return Ok(false);
    };
    let used = sqlx::query_scalar!(
        "UPDATE deltran.recovery_codes SET used_at = now() \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING id",
        user_id,
        hash,
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(used.is_some())
}

/// How many of the user's recovery codes are still unused, for the profile page.
pub async fn unused_recovery_codes<'e>(
    db: impl PgExecutor<'e>,
    user_id: Uuid,
) -> Result<i64, AppError> {
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM deltran.recovery_codes
           WHERE user_id = $1 AND used_at IS NULL"#,
        user_id,
    )
    .fetch_one(db)
    .await?;
    Ok(count)
}
